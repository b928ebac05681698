//! The monitor thread for a runtime that carries the probe: the sampler and watchdog on a
//! plain std thread (never a task on the measured runtime), sending samples through a bounded
//! channel. A run of tokmon's scenarios starts it, and so does any caller that built a runtime
//! with the probe installed itself (the overhead benchmark).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::runtime::Handle;

use crate::probe::Probe;
use crate::sample::Sample;
use crate::sampler::{LiveSource, Sampler};
use crate::workload::WorkloadStats;

/// Samples the channel holds before the sampler starts dropping them.
const SAMPLE_CHANNEL_CAPACITY: usize = 64;

/// What the monitor watches for and how often it samples.
#[derive(Debug, Clone, Copy)]
pub struct MonitorOptions {
    pub interval: Duration,
    /// Capture a stalled thread's stack (`--no-stacks` turns it off).
    pub stacks: bool,
}

/// A running monitor thread and the samples it sends.
#[derive(Debug)]
pub struct Monitor {
    samples: Receiver<Sample>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Monitor {
    /// Starts sampling the runtime behind `handle`, whose threads carry `probe`'s hooks, and
    /// the counters of `workloads`; spawns the lag canary on that runtime. Samples, polls and findings count time on the probe's clock.
    pub fn start(
        probe: Arc<Probe>,
        handle: Handle,
        workloads: Vec<Arc<WorkloadStats>>,
        options: MonitorOptions,
    ) -> anyhow::Result<Monitor> {
        // The lag canary: the one tiny task of tokmon's on the measured runtime.
        let canary = probe.clone();
        canary.canary.arm(&canary.clock);
        drop(handle.spawn(async move { canary.canary.run(&canary.clock).await }));
        // A poll running the probe's stall threshold is a stall: its stack is captured then.
        let stall_ns = u64::try_from(probe.stall_threshold().as_nanos()).unwrap_or(u64::MAX);
        let started = probe.clock.base();
        let source = LiveSource::new(handle, workloads, probe, stall_ns, options.stacks);
        let (tx, samples) = sync_channel(SAMPLE_CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tokmon-monitor".into())
                .spawn(move || Sampler::new(source).run(started, options.interval, &tx, &stop))
                .context("starting the monitor thread")?
        };
        Ok(Monitor {
            samples,
            stop,
            thread,
        })
    }

    /// The samples sent so far and to come.
    pub fn samples(&self) -> &Receiver<Sample> {
        &self.samples
    }

    /// Stops the monitor; it sends one last sample so totals cover the run, and every sample
    /// still queued goes to `last`.
    pub fn finish(self, mut last: impl FnMut(Sample)) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Release);
        for sample in self.samples.iter() {
            last(sample);
        }
        if self.thread.join().is_err() {
            anyhow::bail!("the monitor thread panicked");
        }
        Ok(())
    }
}
