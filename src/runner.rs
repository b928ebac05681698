//! Wires a run together: the only place that starts threads, runtimes and channels.
//!
//! measured runtime (workloads + probe) -> monitor thread (watchdog + sampler) -> bounded
//! channel -> this thread (model, detector) -> report. Controls go the other way through
//! [`crate::workload::Engine::apply`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::detect::Detector;
use crate::model::Model;
use crate::probe::Probe;
use crate::report::Report;
use crate::sampler::{LiveSource, Sampler};
use crate::scenario::{DetectorSpec, Scenario};
use crate::workload::Engine;

/// Samples the channel holds before the sampler starts dropping them.
const SAMPLE_CHANNEL_CAPACITY: usize = 64;
/// How long shutdown waits for a worker stuck in a blocking poll before leaving it behind.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the consumer wakes to check for a stop without a sample.
const CONSUMER_TICK: Duration = Duration::from_millis(20);

/// What to run and for how long.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub scenario: Scenario,
    /// Thresholds in force: the scenario's, with command-line overrides applied.
    pub detector: DetectorSpec,
    /// `None` runs until `stop` is set.
    pub duration: Option<Duration>,
    pub interval: Duration,
}

/// Runs the scenario headless until its duration passes or `stop` is set, calling `on_sample`
/// with the model and the detector after each sample, and returns the report.
pub fn run_headless(
    config: &RunConfig,
    stop: &AtomicBool,
    mut on_sample: impl FnMut(&Model, &Detector),
) -> anyhow::Result<Report> {
    let probe = Probe::new(config.detector.long_poll_threshold);
    let engine = Engine::start(&config.scenario, probe.clone())?;
    let handle = engine.handle().context("the measured runtime is running")?;
    let stall_ns = u64::try_from(config.detector.stall_threshold.as_nanos()).unwrap_or(u64::MAX);
    let source = LiveSource::new(handle, engine.stats(), probe.clone(), stall_ns);
    let (tx, rx) = sync_channel(SAMPLE_CHANNEL_CAPACITY);
    let sampler_stop = Arc::new(AtomicBool::new(false));
    // Samples, polls and findings all count time on the probe's clock.
    let started = probe.clock.base();
    let sampler = {
        let stop = sampler_stop.clone();
        let interval = config.interval;
        std::thread::Builder::new()
            .name("tokmon-monitor".into())
            .spawn(move || Sampler::new(source).run(started, interval, &tx, &stop))
            .context("starting the monitor thread")?
    };

    let mut model = Model::new();
    let mut detector = Detector::new(
        config.detector,
        config.scenario.runtime.max_blocking_threads,
    );
    let deadline = config.duration.map(|d| Instant::now() + d);
    loop {
        if stop.load(Ordering::Acquire) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match rx.recv_timeout(CONSUMER_TICK) {
            Ok(sample) => {
                detector.observe(&sample);
                model.ingest(sample);
                on_sample(&model, &detector);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // The monitor takes one last sample when it sees the stop, so the totals cover the run.
    sampler_stop.store(true, Ordering::Release);
    for sample in rx.iter() {
        detector.observe(&sample);
        model.ingest(sample);
    }
    if sampler.join().is_err() {
        anyhow::bail!("the monitor thread panicked");
    }
    engine.shutdown(SHUTDOWN_TIMEOUT);
    let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
    Ok(Report::build(
        &config.scenario,
        &model,
        detector.findings(),
        config.detector,
        interval_ms,
    ))
}
