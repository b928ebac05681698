//! The probe of tokmon (htop for the Tokio runtime): what it installs on a measured runtime.
//! A registry of the runtime's threads, the poll hooks that fill each thread's slot, task
//! labels and the lag canary.
//!
//! Everything on the poll path is a few relaxed loads and stores on the polling thread's own
//! slot: no lock, no allocation, no message, and no precise clock read except for one poll in
//! [`clock::PRECISE_EVERY`]. A monitor thread of the caller's reads the slots, advances the
//! [`CoarseClock`] and drains the [`LongPoll`]s.
//!
//! ```no_run
//! use tokio::runtime::Builder;
//!
//! let probe = tokmon_probe::Probe::from_env(); // or Probe::builder()...build()
//! let runtime = probe
//!     .install(Builder::new_multi_thread().enable_all())
//!     .build()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! tokio keeps one callback per runtime hook: an app's own `on_thread_start` and the like go
//! through [`ProbeBuilder`], whose docs say why.
//!
//! It needs `--cfg tokio_unstable` (tokio's task hooks and runtime metrics are unstable): in
//! `.cargo/config.toml`, `[build] rustflags = ["--cfg", "tokio_unstable"]`.

#[cfg(not(tokio_unstable))]
compile_error!(
    "tokmon-probe needs `--cfg tokio_unstable`: add `[build] rustflags = [\"--cfg\", \
     \"tokio_unstable\"]` to `.cargo/config.toml`, or build with RUSTFLAGS=\"--cfg \
     tokio_unstable\" (a RUSTFLAGS variable replaces the config's rustflags, so include the cfg \
     in it)."
);

pub mod buckets;
mod builder;
pub mod canary;
pub mod clock;
#[cfg(feature = "test")]
pub mod guard;
pub mod hints;
mod hooks;
pub mod labels;
pub mod locations;
#[cfg(feature = "openmetrics")]
pub mod metrics;
pub mod monitor;
pub mod protocol;
pub mod sample;
#[cfg(target_os = "linux")]
pub mod serve;
pub mod sites;
pub mod stack;
#[cfg(feature = "symbolize")]
pub mod symbolize;
pub mod thread_state;
pub mod threads;
#[cfg(target_os = "linux")]
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use serde::{Deserialize, Serialize};
use tokio::runtime::Builder;

use builder::{Callbacks, ServeSettings};

pub use builder::{
    DEFAULT_INTERVAL, DEFAULT_LONG_POLL_THRESHOLD, DEFAULT_STALL_THRESHOLD, MIN_INTERVAL,
    ProbeBuilder,
};
pub use canary::Canary;
pub use clock::CoarseClock;
pub use labels::{LabelGuard, TaskLabels, task_id_u64};
pub use threads::{Identity, SlotView, StackBounds, ThreadRegistry, ThreadSlot};
/// `#[tokmon_probe::test]`: an async test that fails when one of its polls blocks a worker
/// (see [`guard`]).
#[cfg(feature = "test")]
pub use tokmon_probe_macros::test;

/// Completed long polls the queue holds between two samples before it drops and counts.
const LONG_POLL_QUEUE: usize = 4096;

/// A poll that finished after at least the long-poll threshold, as its thread recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongPoll {
    pub worker: Option<usize>,
    pub task_id: u64,
    pub spawned_at: usize,
    /// Kernel thread id of the thread that ran it.
    pub tid: Option<i32>,
    /// The slot's sequence number during the poll: with `tid`, names the poll.
    pub seq: u64,
    pub started_ns: u64,
    pub duration_ns: u64,
    /// Timed with the precise clock (one poll in `PRECISE_EVERY`); else with the coarse one.
    pub precise: bool,
    /// The worker went on on another thread meanwhile (`block_in_place`).
    pub worker_moved: bool,
}

/// Per-worker poll counters derived from the slots, cumulative.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeWorker {
    pub polls: u64,
    /// Completed polls' time plus the elapsed part of a poll still running.
    pub busy_ns: u64,
    /// Weighted poll counts per [`buckets`] bucket.
    pub buckets: Vec<u64>,
    /// CPU time of the threads while they ran this worker (the kernel's schedstat): set
    /// beside `busy_ns`, it tells a worker computing from one blocked off the CPU. `None`
    /// where per-thread CPU time cannot be read.
    #[serde(default)]
    pub cpu_ns: Option<u64>,
    /// Time the same threads were runnable but waiting for a CPU (schedstat's run-queue
    /// delay): busy beyond on-CPU time is this wait or a blocking call.
    #[serde(default)]
    pub cpu_wait_ns: Option<u64>,
}

/// Everything the hooks share: one per measured runtime.
#[derive(Debug)]
pub struct Probe {
    pub clock: CoarseClock,
    pub threads: ThreadRegistry,
    pub labels: TaskLabels,
    pub canary: Canary,
    enabled: bool,
    stall_threshold: Duration,
    long_poll_threshold_ns: AtomicU64,
    long_polls: ArrayQueue<LongPoll>,
    long_polls_dropped: AtomicU64,
    /// Set by the thread-start hook only, so nothing on the poll path.
    hooks_fired: AtomicBool,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    serve: ServeSettings,
    /// The serving thread's state, touched only at thread start and by that thread.
    #[cfg(target_os = "linux")]
    serving: serve::Serving,
    callbacks: Callbacks,
    /// Spawns per site from threads with no slot.
    pub(crate) fallback_spawns: sites::FallbackSpawns,
    /// What the OpenMetrics exporter serves, kept by the monitor.
    #[cfg(feature = "openmetrics")]
    pub(crate) fleet: metrics::Fleet,
}

impl Probe {
    /// A probe to configure; [`ProbeBuilder::build`] makes it.
    pub fn builder() -> ProbeBuilder {
        ProbeBuilder::default()
    }

    /// A probe configured from the environment: see [`ProbeBuilder::with_env`].
    pub fn from_env() -> Arc<Probe> {
        Probe::builder().with_env().build()
    }

    /// Installs the probe's thread and task hooks on a runtime builder, and through them the
    /// app's own callbacks given to the [`ProbeBuilder`]; a disabled probe installs only the
    /// app's callbacks. A thread or task callback set on `builder` before this call is replaced
    /// (by a disabled probe, only those the app gave it); one set after it replaces the probe's
    /// hook and blinds the probe.
    pub fn install<'b>(self: &Arc<Self>, builder: &'b mut Builder) -> &'b mut Builder {
        hooks::install(self, builder)
    }

    /// False when the probe was built disabled (`TOKMON_PROBE=off`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the probe's hooks have run: a runtime it was installed on has started a thread.
    /// False on a running runtime means they were replaced, most likely by a callback set on
    /// the runtime's builder after [`install`](Self::install) (or that the probe is disabled,
    /// or the runtime is a current-thread one that has started no blocking thread).
    pub fn hooks_fired(&self) -> bool {
        self.hooks_fired.load(Ordering::Relaxed)
    }

    /// Where the probe serves its readings (see [`ProbeBuilder::serve`]): `None` until the
    /// runtime has started a thread and the server is listening, and again once it stopped
    /// (the runtime shut down) or if it could not start.
    #[cfg(target_os = "linux")]
    pub fn endpoint(&self) -> Option<wire::Endpoint> {
        self.serving.endpoint()
    }

    /// [`endpoint`](Self::endpoint), waiting up to `timeout` for a server that is starting:
    /// the probe starts serving on a thread of its own, so right after the runtime is built the
    /// socket may not be bound yet. `None` at once when serving is off, failed or stopped.
    #[cfg(target_os = "linux")]
    pub fn wait_for_endpoint(&self, timeout: Duration) -> Option<wire::Endpoint> {
        self.serving.wait_for_endpoint(self.serve.on, timeout)
    }

    /// Errors met while serving (a message that could not be encoded or queued, a module map
    /// that could not be read), counted; the first is also reported on standard error. A
    /// client that is slow or leaves is no error: the wire drops and counts for it.
    #[cfg(target_os = "linux")]
    pub fn serve_errors(&self) -> u64 {
        self.serving.errors()
    }

    /// Where the probe serves its OpenMetrics (see [`ProbeBuilder::metrics_addr`]): `None`
    /// until the serving thread has bound it, or when it is off or could not bind.
    #[cfg(feature = "openmetrics")]
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.fleet.addr()
    }

    /// The counters the OpenMetrics exporter serves, as of the monitor's latest reading.
    #[cfg(feature = "openmetrics")]
    pub fn metrics_snapshot(&self) -> metrics::Snapshot {
        self.fleet.snapshot()
    }

    pub fn stall_threshold(&self) -> Duration {
        self.stall_threshold
    }

    pub fn long_poll_threshold_ns(&self) -> u64 {
        self.long_poll_threshold_ns.load(Ordering::Relaxed)
    }

    /// Takes the long polls recorded since the last call.
    pub fn drain_long_polls(&self) -> Vec<LongPoll> {
        std::iter::from_fn(|| self.long_polls.pop()).collect()
    }

    /// Long polls lost because the queue was full.
    pub fn long_polls_dropped(&self) -> u64 {
        self.long_polls_dropped.load(Ordering::Relaxed)
    }

    fn push_long_poll(&self, poll: LongPoll) {
        if self.long_polls.push(poll).is_err() {
            self.long_polls_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Forgets the label of the task whose future holds it, when that future is dropped: the task
/// completed, was aborted, or its runtime shut down (tokio drops a task's future inside the
/// task's context, so the task id is known there). tokmon's spawn helper moves one into each
/// labelled task, so the probe needs no `on_task_terminate` hook: with one installed, tokio
/// clones the hook's `Arc` for every task spawned, a shared counter that every spawn and every
/// task's end would bump.
#[derive(Debug)]
pub struct LabelRelease(Arc<Probe>);

impl LabelRelease {
    pub fn new(probe: &Arc<Probe>) -> LabelRelease {
        LabelRelease(probe.clone())
    }
}

impl Drop for LabelRelease {
    fn drop(&mut self) {
        if let Some(id) = tokio::task::try_id() {
            self.0.labels.remove(task_id_u64(id));
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
