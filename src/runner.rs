//! Wires a run together: the only place that starts threads, runtimes and channels.
//!
//! measured runtime (workloads) -> sampler thread -> bounded channel -> this thread (model)
//! -> report. Controls go the other way through [`crate::workload::Engine::apply`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::model::Model;
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
/// with the model after each sample, and returns the report.
pub fn run_headless(
    config: &RunConfig,
    stop: &AtomicBool,
    mut on_sample: impl FnMut(&Model),
) -> anyhow::Result<Report> {
    let engine = Engine::start(&config.scenario)?;
    let handle = engine.handle().context("the measured runtime is running")?;
    let source = LiveSource::new(handle, engine.stats(), engine.threads());
    let (tx, rx) = sync_channel(SAMPLE_CHANNEL_CAPACITY);
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let sampler = {
        let stop = sampler_stop.clone();
        let interval = config.interval;
        std::thread::Builder::new()
            .name("tokmon-sampler".into())
            .spawn(move || Sampler::new(source).run(started, interval, &tx, &stop))
            .context("starting the sampler thread")?
    };

    let mut model = Model::new();
    let deadline = config.duration.map(|d| started + d);
    loop {
        if stop.load(Ordering::Acquire) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match rx.recv_timeout(CONSUMER_TICK) {
            Ok(sample) => {
                model.ingest(sample);
                on_sample(&model);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // The sampler takes one last sample when it sees the stop, so the totals cover the run.
    sampler_stop.store(true, Ordering::Release);
    for sample in rx.iter() {
        model.ingest(sample);
    }
    if sampler.join().is_err() {
        anyhow::bail!("the sampler thread panicked");
    }
    engine.shutdown(SHUTDOWN_TIMEOUT);
    let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
    Ok(Report::build(
        &config.scenario,
        &config.detector,
        &model,
        interval_ms,
    ))
}
