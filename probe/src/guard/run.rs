//! A guarded test from start to end, as `#[tokmon_probe::test]` expands: a multi-thread runtime
//! with the probe installed, the body run as a task on it (so a worker polls it and the probe
//! sees it), a timeout that ends a test stuck on a blocked worker, and the verdict.

use std::future::Future;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use tokio::runtime::Builder;

use super::{GuardBuilder, Report};
use crate::Probe;

/// A poll running this long fails a guarded test unless given otherwise.
pub const DEFAULT_STALL: Duration = Duration::from_millis(50);

/// A guarded test whose body has not finished after this long fails with the findings so far.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How [`run_test`] runs a test: its runtime, its threshold, its timeout and allow-lists.
#[derive(Debug, Clone)]
pub struct TestOptions {
    stall: Duration,
    timeout: Duration,
    worker_threads: Option<usize>,
    guard: GuardBuilder,
}

impl TestOptions {
    /// Defaults ([`DEFAULT_STALL`], [`DEFAULT_TIMEOUT`], tokio's worker count); file names
    /// relative to `root`, the test crate's directory.
    pub fn new(root: &str) -> TestOptions {
        TestOptions {
            stall: DEFAULT_STALL,
            timeout: DEFAULT_TIMEOUT,
            worker_threads: None,
            guard: GuardBuilder::default().root(root),
        }
    }

    pub fn stall(mut self, threshold: Duration) -> TestOptions {
        self.stall = threshold;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> TestOptions {
        self.timeout = timeout;
        self
    }

    pub fn worker_threads(mut self, workers: usize) -> TestOptions {
        self.worker_threads = Some(workers);
        self
    }

    /// See [`GuardBuilder::allow_spawn_site`].
    pub fn allow_spawn_site(mut self, prefix: &str) -> TestOptions {
        self.guard = self.guard.allow_spawn_site(prefix);
        self
    }

    /// See [`GuardBuilder::allow_frame`].
    pub fn allow_frame(mut self, prefix: &str) -> TestOptions {
        self.guard = self.guard.allow_frame(prefix);
        self
    }
}

/// Runs `body` as a task on a fresh multi-thread runtime watched by a guard, and returns its
/// output; panics (failing the test) when a poll blocked a worker past the stall threshold,
/// when the body has not finished within the timeout (with the findings so far), or with the
/// body's own panic. The body's task is spawned at the caller's location.
#[track_caller]
pub fn run_test<F>(options: TestOptions, body: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let probe = Probe::builder()
        .stall_threshold(options.stall)
        .long_poll_threshold(options.stall.min(crate::DEFAULT_LONG_POLL_THRESHOLD))
        .serve(false)
        .build();
    let mut builder = Builder::new_multi_thread();
    builder.enable_all();
    if let Some(workers) = options.worker_threads {
        builder.worker_threads(workers);
    }
    let runtime = match probe.install(&mut builder).build() {
        Ok(runtime) => runtime,
        Err(err) => panic!("tokmon-probe: cannot build the test's runtime: {err}"),
    };
    let guard = match options.guard.start(&probe, runtime.handle()) {
        Ok(guard) => guard,
        Err(err) => panic!("tokmon-probe: {err}"),
    };
    let (done, finished) = channel::<()>();
    // Spawned, not `block_on`: a worker polls the body, and the probe watches workers.
    let task = runtime.spawn(async move {
        let output = body.await;
        let _ = done.send(());
        output
    });
    match finished.recv_timeout(options.timeout) {
        // Disconnected: the body panicked (its task dropped the sender).
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
        Err(RecvTimeoutError::Timeout) => {
            let report = guard.finish();
            // A worker may never come back: do not wait for it.
            runtime.shutdown_background();
            panic!(
                "tokmon-probe: the test did not finish within {:?} (a worker blocked for good?)\n{}",
                options.timeout,
                timed_out(&report)
            );
        }
    }
    let output = runtime.block_on(task);
    let report = guard.finish();
    // A task the test left blocked would hold a plain drop forever.
    runtime.shutdown_timeout(options.timeout);
    match output {
        Ok(output) => {
            if !report.is_clean() {
                panic!("{report}");
            }
            output
        }
        Err(err) => {
            if !report.is_clean() {
                eprintln!("{report}");
            }
            match err.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(err) => panic!("tokmon-probe: the test's task ended without output: {err}"),
            }
        }
    }
}

fn timed_out(report: &Report) -> String {
    if report.is_clean() {
        "tokmon-probe: no poll was seen blocking a worker".into()
    } else {
        report.to_string()
    }
}
