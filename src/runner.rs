//! Wires a run together: the only place that starts threads, runtimes and channels.
//!
//! measured runtime (workloads + probe) -> monitor thread (watchdog + sampler) -> bounded
//! channel -> the consumer (headless loop or dashboard) -> report. Controls go the other way
//! through [`crate::workload::Engine::apply`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::Event;
use ratatui::Terminal;
use ratatui::backend::Backend;

use crate::app::{App, Msg, PanicReport, RunInfo};
use crate::detect::Detector;
use crate::model::Model;
use crate::probe::{Probe, thread_state};
use crate::report::Report;
use crate::sample::Sample;
use crate::sampler::{LiveSource, Sampler};
use crate::scenario::{DetectorSpec, Scenario};
use crate::tui::EventSource;
use crate::ui::{self, Look};
use crate::workload::Engine;

/// Samples the channel holds before the sampler starts dropping them.
const SAMPLE_CHANNEL_CAPACITY: usize = 64;
/// How long shutdown waits for a worker stuck in a blocking poll before leaving it behind.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the consumer wakes to check for a stop without a sample.
const CONSUMER_TICK: Duration = Duration::from_millis(20);
/// Default dashboard frame rate cap.
pub const DEFAULT_FPS: u32 = 15;

/// What to run and for how long.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub scenario: Scenario,
    /// Thresholds in force: the scenario's, with command-line overrides applied.
    pub detector: DetectorSpec,
    /// `None` runs until stopped.
    pub duration: Option<Duration>,
    pub interval: Duration,
}

impl RunConfig {
    fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A running scenario: the measured runtime with its workloads and probe, and the monitor
/// thread sending samples.
struct Session {
    engine: Engine,
    samples: Receiver<Sample>,
    monitor_stop: Arc<AtomicBool>,
    monitor: JoinHandle<()>,
}

impl Session {
    fn start(config: &RunConfig) -> anyhow::Result<Session> {
        let probe = Probe::new(config.detector.long_poll_threshold);
        let engine = Engine::start(&config.scenario, probe.clone())?;
        let handle = engine.handle().context("the measured runtime is running")?;
        let stall_ns =
            u64::try_from(config.detector.stall_threshold.as_nanos()).unwrap_or(u64::MAX);
        let source = LiveSource::new(handle, engine.stats(), probe.clone(), stall_ns);
        let (tx, samples) = sync_channel(SAMPLE_CHANNEL_CAPACITY);
        let monitor_stop = Arc::new(AtomicBool::new(false));
        // Samples, polls and findings all count time on the probe's clock.
        let started = probe.clock.base();
        let monitor = {
            let stop = monitor_stop.clone();
            let interval = config.interval;
            std::thread::Builder::new()
                .name("tokmon-monitor".into())
                .spawn(move || Sampler::new(source).run(started, interval, &tx, &stop))
                .context("starting the monitor thread")?
        };
        Ok(Session {
            engine,
            samples,
            monitor_stop,
            monitor,
        })
    }

    /// Stops the monitor (it sends one last sample, so totals cover the run), hands the
    /// samples still queued to `last`, and shuts the measured runtime down.
    fn finish(self, mut last: impl FnMut(Sample)) -> anyhow::Result<()> {
        self.monitor_stop.store(true, Ordering::Release);
        for sample in self.samples.iter() {
            last(sample);
        }
        if self.monitor.join().is_err() {
            anyhow::bail!("the monitor thread panicked");
        }
        self.engine.shutdown(SHUTDOWN_TIMEOUT);
        Ok(())
    }
}

/// Runs the scenario headless until its duration passes or `stop` is set, calling `on_sample`
/// with the model and the detector after each sample, and returns the report.
pub fn run_headless(
    config: &RunConfig,
    stop: &AtomicBool,
    mut on_sample: impl FnMut(&Model, &Detector),
) -> anyhow::Result<Report> {
    let session = Session::start(config)?;
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
        match session.samples.recv_timeout(CONSUMER_TICK) {
            Ok(sample) => {
                detector.observe(&sample);
                model.ingest(sample);
                on_sample(&model, &detector);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    session.finish(|sample| {
        detector.observe(&sample);
        model.ingest(sample);
    })?;
    Ok(Report::build(
        &config.scenario,
        &model,
        detector.findings(),
        config.detector,
        config.interval_ms(),
    ))
}

/// How the dashboard looks and how often it may redraw.
#[derive(Debug, Clone, Copy)]
pub struct DashboardOptions {
    pub look: Look,
    /// Frame rate cap.
    pub fps: u32,
}

/// The time between two frames at `fps` frames a second (at least one frame a second).
pub fn frame_period(fps: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(fps.max(1)))
}

/// Runs the scenario with the live dashboard drawn on `terminal` until the user quits, the
/// duration passes or `stop` is set; returns the report of the run. Redraws when something
/// changed, at most `fps` times a second. Never runs on the measured runtime.
pub fn run_dashboard<B: Backend>(
    config: &RunConfig,
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    panics: &Receiver<PanicReport>,
    stop: &AtomicBool,
    options: DashboardOptions,
    mut on_frame: impl FnMut(&App),
) -> anyhow::Result<Report>
where
    B::Error: Send + Sync + 'static,
{
    let session = Session::start(config)?;
    let mut app = App::new(RunInfo::of(&config.scenario, config.detector));
    let period = frame_period(options.fps);
    let deadline = config.duration.map(|d| Instant::now() + d);
    let mut next_frame = Instant::now();
    let mut cpu_mark = (Instant::now(), thread_state::current_thread_cpu_ns());
    let result = loop {
        if stop.load(Ordering::Acquire)
            || app.should_quit
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break Ok(());
        }
        while let Ok(sample) = session.samples.try_recv() {
            app.update(Msg::Sample(Box::new(sample)));
        }
        while let Ok(report) = panics.try_recv() {
            app.update(Msg::Panic(report));
        }
        let now = Instant::now();
        if now >= next_frame && app.take_dirty() {
            if let Err(e) = terminal.draw(|frame| ui::draw(frame, &app, &options.look)) {
                break Err(anyhow::Error::new(e).context("drawing the dashboard"));
            }
            on_frame(&app);
            next_frame = now + period;
        }
        if now.duration_since(cpu_mark.0) >= Duration::from_secs(1) {
            let cpu = thread_state::current_thread_cpu_ns();
            if let (Some(before), Some(after)) = (cpu_mark.1, cpu) {
                let share = after.saturating_sub(before) as f64
                    / now.duration_since(cpu_mark.0).as_nanos() as f64;
                app.update(Msg::UiCpu(share));
            }
            cpu_mark = (now, cpu);
        }
        // Wait for input until the next frame is due (or a short tick for new samples).
        let wait = next_frame
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(5), CONSUMER_TICK);
        match events.next(wait) {
            Ok(Some(Event::Key(key))) => app.update(Msg::Key(key)),
            Ok(Some(Event::Resize(_, _))) => {
                // The next draw picks up the new size; draw it now.
                next_frame = Instant::now();
                app.mark_dirty();
            }
            Ok(Some(_)) | Ok(None) => {}
            Err(e) => break Err(anyhow::Error::new(e).context("reading terminal input")),
        }
    };
    // The live figures, not a paused screen's.
    let mut model = app.live().model.clone();
    let mut detector = app.live().detector.clone();
    let finished = session.finish(|sample| {
        detector.observe(&sample);
        model.ingest(sample);
    });
    result?;
    finished?;
    Ok(Report::build(
        &config.scenario,
        &model,
        detector.findings(),
        config.detector,
        config.interval_ms(),
    ))
}
