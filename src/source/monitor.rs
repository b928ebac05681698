//! The probe's monitor, as tokmon consumes it in its own process: the probe's readings, with
//! the stalled threads' stacks named here (the probe sends raw addresses) and the counters of
//! tokmon's workloads added, become [`Sample`]s. The same data an attached app sends, without
//! a socket. A run of tokmon's scenarios starts it, and so does any caller that built a runtime
//! with the probe installed itself (the overhead benchmark).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::runtime::Handle;
pub use tokmon_probe::monitor::MonitorOptions;
use tokmon_probe::monitor::{self, StopHandle};

use super::naming::StackNames;
use crate::probe::Probe;
use crate::sample::Sample;
use crate::workload::WorkloadStats;

/// Samples the channel holds before the stage waits for the consumer (the probe's own channel
/// then fills, and the probe drops and counts readings, never waiting).
const SAMPLE_CHANNEL_CAPACITY: usize = 64;

/// A running monitor: the probe's thread and the stage that turns its readings into samples.
#[derive(Debug)]
pub struct Monitor {
    samples: Receiver<Sample>,
    stop: StopHandle,
    stage: JoinHandle<anyhow::Result<()>>,
}

impl Monitor {
    /// Starts the probe's monitor on the runtime behind `handle`, whose threads carry `probe`'s
    /// hooks (it spawns the lag canary there), and the stage that adds the counters of
    /// `workloads` to each reading.
    pub fn start(
        probe: Arc<Probe>,
        handle: Handle,
        workloads: Vec<Arc<WorkloadStats>>,
        options: MonitorOptions,
    ) -> anyhow::Result<Monitor> {
        let probe_monitor = monitor::Monitor::start(probe, handle, options)
            .context("starting the probe's monitor thread")?;
        let stop = probe_monitor.stop_handle();
        let (tx, samples) = sync_channel(SAMPLE_CHANNEL_CAPACITY);
        let stage = std::thread::Builder::new()
            .name("tokmon-monitor".into())
            .spawn(move || run_stage(probe_monitor, &workloads, &tx))
            .context("starting the monitor thread")?;
        Ok(Monitor {
            samples,
            stop,
            stage,
        })
    }

    /// The samples sent so far and to come.
    pub fn samples(&self) -> &Receiver<Sample> {
        &self.samples
    }

    /// Stops the monitor; it sends one last sample so totals cover the run, and every sample
    /// still queued goes to `last`.
    pub fn finish(self, mut last: impl FnMut(Sample)) -> anyhow::Result<()> {
        self.stop.stop();
        for sample in self.samples.iter() {
            last(sample);
        }
        match self.stage.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("the monitor thread panicked"),
        }
    }
}

/// Turns readings into samples until the probe's monitor stops or the consumer goes away.
fn run_stage(
    probe_monitor: monitor::Monitor,
    workloads: &[Arc<WorkloadStats>],
    tx: &SyncSender<Sample>,
) -> anyhow::Result<()> {
    let mut names = StackNames::of_this_process();
    for reading in probe_monitor.readings().iter() {
        let counters = workloads.iter().map(|w| w.counters()).collect();
        if tx.send(names.sample_of(reading, counters)).is_err() {
            // The consumer is gone: stop the probe too, and let its last readings go.
            probe_monitor.stop_handle().stop();
        }
    }
    probe_monitor.finish(|_| {})?;
    Ok(())
}
