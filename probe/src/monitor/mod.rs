//! The probe's monitor thread: the sampler and the watchdog on a plain std thread (never a task
//! on the measured runtime), sending [`Reading`]s through a bounded channel that never makes
//! it wait. It starts the lag canary, the one tiny task of the probe's on the app's runtime.

mod attribution;
mod live;
mod sampler;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::Probe;
use crate::sample::Reading;

pub use sampler::{Delivery, MetricsSource, Sampler};

/// Readings the channel holds before the sampler starts dropping them.
const READING_CHANNEL_CAPACITY: usize = 64;

/// What the monitor watches for and how often it samples.
#[derive(Debug, Clone, Copy)]
pub struct MonitorOptions {
    pub interval: Duration,
    /// Capture a stalled thread's stack (the signal it takes can interrupt a blocking call
    /// with EINTR: see [`crate::stack::capture`]).
    pub stacks: bool,
}

/// A running monitor thread and the readings it sends.
#[derive(Debug)]
pub struct Monitor {
    readings: Receiver<Reading>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// Set when the canary's task is dropped.
    runtime_gone: Arc<AtomicBool>,
}

/// Sets its flag when dropped: moved into the canary's task, it says when the runtime dropped
/// the task (even one never polled).
#[derive(Debug)]
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Monitor {
    /// Starts watching the runtime behind `handle`, whose threads carry `probe`'s hooks, and
    /// spawns the lag canary on it. Readings, polls and findings count time on the probe's
    /// clock; a poll running the probe's stall threshold is a stall, and its stack is captured
    /// just before (at 90 % of the threshold).
    pub fn start(
        probe: Arc<Probe>,
        handle: Handle,
        options: MonitorOptions,
    ) -> std::io::Result<Monitor> {
        let canary = probe.clone();
        canary.canary.arm(&canary.clock);
        let runtime_gone = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(runtime_gone.clone());
        let release = crate::LabelRelease::new(&probe);
        crate::canary::spawn_labelled(&handle, async move {
            let (_guard, _release) = (guard, release);
            canary.canary.run(&canary.clock).await
        });
        let stall_ns = u64::try_from(probe.stall_threshold().as_nanos()).unwrap_or(u64::MAX);
        let started = probe.clock.base();
        let source = live::LiveSource::new(handle, probe, stall_ns, options.stacks);
        let (tx, readings) = sync_channel(READING_CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tokmon-probe".into())
                .spawn(move || Sampler::new(source).run(started, options.interval, &tx, &stop))?
        };
        Ok(Monitor {
            readings,
            stop,
            thread,
            runtime_gone,
        })
    }

    /// Whether the runtime has shut down: it dropped the canary's task, which never ends by
    /// itself (a task is dropped when it completes or when its runtime shuts down).
    pub fn runtime_shut_down(&self) -> bool {
        self.runtime_gone.load(Ordering::Acquire)
    }

    /// The flag behind [`runtime_shut_down`](Self::runtime_shut_down), to read elsewhere.
    pub(crate) fn shut_down_flag(&self) -> Arc<AtomicBool> {
        self.runtime_gone.clone()
    }

    /// The readings sent so far and to come.
    pub fn readings(&self) -> &Receiver<Reading> {
        &self.readings
    }

    /// Asks the monitor to stop from another thread: it takes one last reading, then closes
    /// the channel, so a consumer iterating [`readings`](Self::readings) ends.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// Stops the monitor; it takes one last reading so totals cover the run, and every
    /// reading still queued goes to `last`. Errs when the monitor thread panicked.
    pub fn finish(self, mut last: impl FnMut(Reading)) -> Result<(), MonitorPanicked> {
        self.stop.store(true, Ordering::Release);
        for reading in self.readings.iter() {
            last(reading);
        }
        self.thread.join().map_err(|_| MonitorPanicked)
    }
}

/// Stops a [`Monitor`] from another thread.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The monitor thread panicked: its readings stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the probe's monitor thread panicked")]
pub struct MonitorPanicked;
