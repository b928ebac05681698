//! Catch blocking in tests (feature `test`): a [`Guard`] watches a test's runtime with the
//! probe's monitor and, once the test's body is done, reports each poll that held a worker past
//! the probe's stall threshold: where its task was spawned, the line that blocked (symbolized
//! in the test process), how long and how often, on or off the CPU, the syscall, and the hint
//! tokmon's findings give. [`run_test`] is what `#[tokmon_probe::test]` expands to.
//!
//! ```no_run
//! use std::time::Duration;
//! use tokio::runtime::Builder;
//!
//! let probe = tokmon_probe::Probe::builder()
//!     .stall_threshold(Duration::from_millis(50))
//!     .serve(false)
//!     .build();
//! let runtime = probe.install(Builder::new_multi_thread().enable_all()).build()?;
//! let guard = tokmon_probe::guard::Guard::builder()
//!     .allow_frame("my_app::legacy::")
//!     .start(&probe, runtime.handle())?;
//! runtime.block_on(async { /* the test */ });
//! guard.assert_no_blocking(); // panics with one message per culprit
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A blocked poll cannot be interrupted safely, so a test fails after its body, not at the
//! blocking call. Only a multi-thread runtime can be watched: see [`GuardError::CurrentThread`].

mod collect;
mod report;
mod run;

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::Probe;
use crate::monitor::{Monitor, MonitorOptions, StopHandle};

pub use report::{Culprit, Report};
pub use run::{DEFAULT_STALL, DEFAULT_TIMEOUT, TestOptions, run_test};

use collect::Collector;

/// Frames shown around the blocking line of each culprit.
pub const FRAMES_SHOWN: usize = 6;

/// What a guard accepts and how it names files.
#[derive(Debug, Clone, Default)]
pub struct GuardBuilder {
    allow_spawn_sites: Vec<String>,
    allow_frames: Vec<String>,
    root: Option<String>,
}

impl GuardBuilder {
    /// Accepts blocking in tasks spawned at a site starting with `prefix` (`src/cache.rs`, or
    /// `src/cache.rs:42` for one line), as spawn sites read: relative to the crate that spawned.
    pub fn allow_spawn_site(mut self, prefix: impl Into<String>) -> GuardBuilder {
        self.allow_spawn_sites.push(prefix.into());
        self
    }

    /// Accepts blocking whose captured stack holds a function whose path starts with `prefix`
    /// (`my_app::legacy::`, `my_app::db::Pool::get`): code a team knows blocks and keeps.
    pub fn allow_frame(mut self, prefix: impl Into<String>) -> GuardBuilder {
        self.allow_frames.push(prefix.into());
        self
    }

    /// The crate directory that file names are given relative to; by default the
    /// `CARGO_MANIFEST_DIR` that `cargo test` sets for the test process.
    pub fn root(mut self, dir: impl Into<String>) -> GuardBuilder {
        self.root = Some(dir.into());
        self
    }

    /// Starts watching the multi-thread runtime behind `handle`, whose builder `probe` was
    /// installed on. A poll running `probe`'s stall threshold blocks its worker.
    pub fn start(self, probe: &Arc<Probe>, handle: &Handle) -> Result<Guard, GuardError> {
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Err(GuardError::CurrentThread);
        }
        if !probe.enabled() {
            return Err(GuardError::Disabled);
        }
        let monitor = Monitor::start(
            probe.clone(),
            handle.clone(),
            MonitorOptions {
                interval: crate::DEFAULT_INTERVAL,
                stacks: true,
            },
        )
        .map_err(GuardError::Monitor)?;
        let stop = monitor.stop_handle();
        let root = self
            .root
            .or_else(|| std::env::var("CARGO_MANIFEST_DIR").ok())
            .unwrap_or_default();
        let collector = Collector::new(
            probe.stall_threshold(),
            self.allow_spawn_sites,
            self.allow_frames,
            root,
        );
        let thread = std::thread::Builder::new()
            .name("tokmon-probe-guard".into())
            .spawn(move || collector.run(monitor))
            .map_err(GuardError::Monitor)?;
        Ok(Guard { stop, thread })
    }
}

/// Why a guard could not start.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(
        "tokmon-probe's guard watches a multi-thread runtime only: on a current-thread runtime \
         every poll runs on the test's own thread, which the probe's hooks do not register, so \
         no poll would be watched (the watchdog thread could still see the thread stuck, but \
         not which task holds it). Use a multi-thread runtime; `worker_threads = 1` keeps one \
         worker"
    )]
    CurrentThread,
    #[error("the probe is disabled (TOKMON_PROBE=off?): the guard would see nothing")]
    Disabled,
    #[error("cannot start the guard's monitor thread: {0}")]
    Monitor(std::io::Error),
}

/// Watches a runtime until [`finish`](Self::finish) or
/// [`assert_no_blocking`](Self::assert_no_blocking).
#[derive(Debug)]
pub struct Guard {
    stop: StopHandle,
    thread: JoinHandle<Report>,
}

impl Guard {
    pub fn builder() -> GuardBuilder {
        GuardBuilder::default()
    }

    /// [`GuardBuilder::start`] with no allow-list.
    pub fn start(probe: &Arc<Probe>, handle: &Handle) -> Result<Guard, GuardError> {
        GuardBuilder::default().start(probe, handle)
    }

    /// Stops watching and gives what was seen, polls still running included. Call it after
    /// the test's body: a blocked poll that has not been seen long enough is not in it.
    pub fn finish(self) -> Report {
        self.stop.stop();
        self.thread
            .join()
            .unwrap_or_else(|_| Report::monitor_panicked())
    }

    /// Stops watching and panics with one message per culprit if any poll blocked a worker.
    #[track_caller]
    pub fn assert_no_blocking(self) {
        let report = self.finish();
        if !report.is_clean() {
            panic!("{report}");
        }
    }
}

#[cfg(test)]
mod tests;
