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

use crate::app::{App, Command, Msg, ScenarioChoice};
use crate::detect::{Detector, event};
use crate::model::Model;
use crate::phase::PhasePlan;
use crate::probe::{Probe, thread_state};
use crate::record::{Item, KeyOutcome, Player, Recorder, Recording, Timeline};
use crate::report::Report;
pub use crate::run::{Control, Effect, PanicReport, PhaseView, RunConfig};
use crate::sample::Sample;
use crate::sampler::{LiveSource, Sampler};
use crate::scenario::{PhaseSpec, Scenario};
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

/// A running scenario: the measured runtime with its workloads and probe, and the monitor
/// thread sending samples.
struct Session {
    engine: Engine,
    plan: PhasePlan,
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
            plan: PhasePlan::new(config.scenario.phases.clone()),
            samples,
            monitor_stop,
            monitor,
        })
    }

    /// Starts the phases due at `elapsed_ns`.
    fn due_phases(&mut self, elapsed_ns: u64) -> Vec<Effect> {
        let due = self.plan.due(Duration::from_nanos(elapsed_ns));
        due.into_iter()
            .flat_map(|(index, phase)| self.start_phase(index, &phase, elapsed_ns))
            .collect()
    }

    /// The presenter's "next phase" key.
    fn skip_phase(&mut self, elapsed_ns: u64) -> Vec<Effect> {
        match self.plan.skip(Duration::from_nanos(elapsed_ns)) {
            Some((index, phase)) => self.start_phase(index, &phase, elapsed_ns),
            None => Vec::new(),
        }
    }

    /// A phase begins: it is told as an event, and its settings are applied to the running
    /// workloads (each change told as an event too).
    fn start_phase(&self, index: usize, phase: &PhaseSpec, elapsed_ns: u64) -> Vec<Effect> {
        let at_ms = elapsed_ns / 1_000_000;
        let next_at_ms = self
            .plan
            .next_in(Duration::from_nanos(elapsed_ns))
            .map(|d| at_ms + u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut effects = vec![
            Effect::PhaseBegun(PhaseView {
                index,
                note: phase.note.clone(),
                next_at_ms,
            }),
            Effect::Event(event(
                at_ms,
                format!("phase {} of {}", index + 1, self.plan.phases().len()),
                phase.note.clone(),
            )),
        ];
        for setting in &phase.set {
            effects.extend(self.apply(Control::Set(setting.clone()), at_ms));
        }
        effects
    }

    /// Applies a control; a resulting change is told as an event.
    fn apply(&self, control: Control, at_ms: u64) -> Vec<Effect> {
        let workload = match &control {
            Control::Set(setting) => Some(setting.workload.clone()),
            Control::Pause | Control::Resume => None,
        };
        let mut effects = Vec::new();
        match self.engine.apply(control) {
            Ok(Some(change)) => effects.push(Effect::Event(event(
                at_ms,
                change.to_string(),
                String::new(),
            ))),
            Ok(None) => {}
            Err(error) => effects.push(Effect::Event(event(
                at_ms,
                format!("not applied: {error}"),
                String::new(),
            ))),
        }
        if let Some(workload) = workload
            && let Some(kind) = self.engine.current(&workload)
        {
            effects.push(Effect::Applied { workload, kind });
        }
        effects
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

/// What a headless run folds its samples and effects into; a headless replay of a recording
/// folds the same through the same two calls, so its report is the live one.
#[derive(Debug, Clone)]
pub struct Tally {
    pub model: Model,
    pub detector: Detector,
}

impl Tally {
    pub fn new(config: &RunConfig) -> Tally {
        Tally {
            model: Model::new(),
            detector: Detector::new(
                config.detector,
                config.scenario.runtime.max_blocking_threads,
            ),
        }
    }

    /// Consumes one sample.
    pub fn sample(&mut self, sample: Sample) {
        self.detector.observe(&sample);
        self.model.ingest(sample);
    }

    /// Consumes one effect, as the dashboard's app does.
    pub fn effect(&mut self, effect: Effect) {
        match effect {
            Effect::PhaseBegun(phase) => self.model.begin_phase(phase.index, &phase.note),
            Effect::Event(finding) | Effect::Panic { finding, .. } => self.detector.record(finding),
            Effect::Applied { .. } => {}
            Effect::Clear => self.detector.clear(),
            Effect::Reset => self.model = Model::new(),
        }
    }

    /// The report of a run of `config` that came to this.
    pub fn report(&self, config: &RunConfig) -> Report {
        Report::build(
            &config.scenario,
            &self.model,
            self.detector.findings(),
            config.detector,
            config.interval_ms(),
        )
    }
}

/// Hands an effect to the dashboard's app.
fn effect_in_app(effect: Effect, app: &mut App) {
    let msg = match effect {
        Effect::PhaseBegun(phase) => Msg::Phase(phase),
        Effect::Event(finding) => Msg::Event(finding),
        Effect::Applied { workload, kind } => Msg::Applied { workload, kind },
        Effect::Panic { report, .. } => Msg::Panic(report),
        Effect::Clear => Msg::Clear,
        Effect::Reset => Msg::Reset,
    };
    app.update(msg);
}

/// Writes effects to the recording, if there is one.
fn record_effects(recorder: &mut Option<&mut Recorder>, effects: &[Effect]) {
    if let Some(recorder) = recorder {
        for effect in effects {
            recorder.effect(effect);
        }
    }
}

/// Runs the scenario headless until its duration passes or `stop` is set, calling `on_sample`
/// with the model and the detector after each sample, and returns the report.
pub fn run_headless(
    config: &RunConfig,
    stop: &AtomicBool,
    on_sample: impl FnMut(&Model, &Detector),
) -> anyhow::Result<Report> {
    run_headless_recorded(config, None, stop, on_sample)
}

/// [`run_headless`], writing everything the report is built from to `recorder` as it comes.
pub fn run_headless_recorded(
    config: &RunConfig,
    mut recorder: Option<&mut Recorder>,
    stop: &AtomicBool,
    mut on_sample: impl FnMut(&Model, &Detector),
) -> anyhow::Result<Report> {
    let mut session = Session::start(config)?;
    let mut tally = Tally::new(config);
    let deadline = config.duration.map(|d| Instant::now() + d);
    loop {
        if stop.load(Ordering::Acquire) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match session.samples.recv_timeout(CONSUMER_TICK) {
            Ok(sample) => {
                let elapsed = sample.elapsed_ns;
                if let Some(recorder) = recorder.as_deref_mut() {
                    recorder.sample(&sample);
                }
                tally.sample(sample);
                let effects = session.due_phases(elapsed);
                record_effects(&mut recorder, &effects);
                for effect in effects {
                    tally.effect(effect);
                }
                on_sample(&tally.model, &tally.detector);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    session.finish(|sample| {
        if let Some(recorder) = recorder.as_deref_mut() {
            recorder.sample(&sample);
        }
        tally.sample(sample);
    })?;
    Ok(tally.report(config))
}

/// The report a live run would have printed, from its recording: every sample and effect
/// folded as [`run_headless`] does (of the last scenario, when the dashboard switched).
pub fn replay_headless(recording: &Recording) -> Report {
    let mut config = recording.config.clone();
    let mut tally = Tally::new(&config);
    for item in &recording.items {
        match item {
            Item::Sample(sample) => tally.sample((**sample).clone()),
            Item::Effect(effect) => tally.effect((**effect).clone()),
            Item::UiCpu(_) => {}
            Item::Session(next) => {
                config = (**next).clone();
                tally = Tally::new(&config);
            }
        }
    }
    tally.report(&config)
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

/// The scenarios the dashboard's switcher offers, and how to load one by name.
pub struct Switcher<'a> {
    pub choices: Vec<ScenarioChoice>,
    pub load: &'a dyn Fn(&str) -> anyhow::Result<Scenario>,
}

/// How one dashboard session ended.
enum Ending {
    Done(Box<Report>),
    SwitchTo(String),
}

/// Runs the scenario with the live dashboard drawn on `terminal` until the user quits, the
/// duration passes or `stop` is set; returns the report of the run (of the last scenario, when
/// the switcher changed it). Redraws when something changed, at most `fps` times a second.
/// Never runs on the measured runtime.
#[allow(clippy::too_many_arguments)]
pub fn run_dashboard<B: Backend>(
    config: &RunConfig,
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    panics: &Receiver<PanicReport>,
    stop: &AtomicBool,
    options: DashboardOptions,
    switcher: Option<&Switcher<'_>>,
    on_frame: impl FnMut(&App),
) -> anyhow::Result<Report>
where
    B::Error: Send + Sync + 'static,
{
    run_dashboard_recorded(
        config, None, terminal, events, panics, stop, options, switcher, on_frame,
    )
}

/// [`run_dashboard`], writing everything the dashboard and the report are drawn from to
/// `recorder` as it comes (a switch of scenario included).
#[allow(clippy::too_many_arguments)]
pub fn run_dashboard_recorded<B: Backend>(
    config: &RunConfig,
    mut recorder: Option<&mut Recorder>,
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    panics: &Receiver<PanicReport>,
    stop: &AtomicBool,
    options: DashboardOptions,
    switcher: Option<&Switcher<'_>>,
    mut on_frame: impl FnMut(&App),
) -> anyhow::Result<Report>
where
    B::Error: Send + Sync + 'static,
{
    let mut config = config.clone();
    loop {
        match dashboard_session(
            &config,
            recorder.as_deref_mut(),
            terminal,
            events,
            panics,
            stop,
            options,
            switcher,
            &mut on_frame,
        )? {
            Ending::Done(report) => return Ok(*report),
            Ending::SwitchTo(name) => {
                let Some(switcher) = switcher else {
                    anyhow::bail!("no scenario switcher");
                };
                let scenario = (switcher.load)(&name)?;
                config.detector = scenario.detector;
                config.scenario = scenario;
                if let Some(recorder) = recorder.as_deref_mut() {
                    recorder.session(&config);
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn dashboard_session<B: Backend>(
    config: &RunConfig,
    mut recorder: Option<&mut Recorder>,
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    panics: &Receiver<PanicReport>,
    stop: &AtomicBool,
    options: DashboardOptions,
    switcher: Option<&Switcher<'_>>,
    on_frame: &mut impl FnMut(&App),
) -> anyhow::Result<Ending>
where
    B::Error: Send + Sync + 'static,
{
    let mut session = Session::start(config)?;
    let choices = switcher.map(|s| s.choices.clone()).unwrap_or_default();
    let mut app = App::for_scenario(&config.scenario, config.detector, choices);
    let period = frame_period(options.fps);
    let deadline = config.duration.map(|d| Instant::now() + d);
    let mut next_frame = Instant::now();
    let mut cpu_mark = (Instant::now(), thread_state::current_thread_cpu_ns());
    let mut switch_to = None;
    let result = loop {
        if stop.load(Ordering::Acquire)
            || app.view.should_quit
            || switch_to.is_some()
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break Ok(());
        }
        while let Ok(sample) = session.samples.try_recv() {
            let elapsed = sample.elapsed_ns;
            if let Some(recorder) = recorder.as_deref_mut() {
                recorder.sample(&sample);
            }
            app.update(Msg::Sample(Box::new(sample)));
            let effects = session.due_phases(elapsed);
            record_effects(&mut recorder, &effects);
            for effect in effects {
                effect_in_app(effect, &mut app);
            }
        }
        while let Ok(report) = panics.try_recv() {
            // Built here rather than read back from the detector, whose last entry need not be
            // this panic once findings fold.
            let at_ms = app.live().model.now_ns() / 1_000_000;
            let finding = crate::app::panic_finding(report.clone(), at_ms);
            app.update(Msg::Panic(report.clone()));
            if let Some(recorder) = recorder.as_deref_mut() {
                recorder.effect(&Effect::Panic { report, finding });
            }
        }
        for command in app.take_commands() {
            let now_ns = app.live().model.now_ns();
            let effects = match command {
                Command::Control(control) => session.apply(control, now_ns / 1_000_000),
                Command::NextPhase => session.skip_phase(now_ns),
                Command::SwitchScenario(name) => {
                    switch_to = Some(name);
                    Vec::new()
                }
                // Clearing the findings and resetting the statistics change what the report
                // is built from: the recording says so where it happened.
                Command::Clear => vec![Effect::Clear],
                Command::Reset => vec![Effect::Reset],
                Command::Replay(_) => Vec::new(),
            };
            record_effects(&mut recorder, &effects);
            for effect in effects {
                effect_in_app(effect, &mut app);
            }
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
                if let Some(recorder) = recorder.as_deref_mut() {
                    recorder.ui_cpu(share);
                }
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
    let mut tally = Tally {
        model: app.live().model.clone(),
        detector: app.live().detector.clone(),
    };
    let finished = session.finish(|sample| {
        if let Some(recorder) = recorder.as_deref_mut() {
            recorder.sample(&sample);
        }
        tally.sample(sample);
    });
    result?;
    finished?;
    if let Some(name) = switch_to {
        return Ok(Ending::SwitchTo(name));
    }
    Ok(Ending::Done(Box::new(tally.report(config))))
}

/// A recording on the dashboard: the app fed the recorded items up to the player's position.
struct Replayed<'a> {
    recording: &'a Recording,
    app: App,
    /// Items fed to `app` so far.
    applied: usize,
}

impl<'a> Replayed<'a> {
    fn new(recording: &'a Recording) -> Replayed<'a> {
        let config = &recording.config;
        Replayed {
            recording,
            app: App::for_scenario(&config.scenario, config.detector, Vec::new()),
            applied: 0,
        }
    }

    /// Feeds the app the first `due` items: the next ones, or all of them again from the
    /// start when the position went back (the screen's selection and overlays are kept).
    fn seek(&mut self, due: usize) {
        if due < self.applied {
            let config = &self.recording.config;
            self.app.rebuild(&config.scenario, config.detector);
            self.applied = 0;
        }
        let items = self
            .recording
            .items
            .get(self.applied..due)
            .unwrap_or_default();
        for item in items {
            match item {
                Item::Sample(sample) => self.app.update(Msg::Sample(sample.clone())),
                Item::Effect(effect) => effect_in_app((**effect).clone(), &mut self.app),
                Item::UiCpu(share) => self.app.update(Msg::UiCpu(*share)),
                Item::Session(config) => {
                    self.app = App::for_scenario(&config.scenario, config.detector, Vec::new());
                }
            }
        }
        self.applied = self.applied.max(due);
    }
}

/// Replays a recording on the dashboard drawn on `terminal`, paced by the samples' own clock
/// at `speed`, until the user quits or `stop` is set. The replay keys (see
/// [`crate::record::Player`]) move, pause and speed it; the dashboard's own keys (selection,
/// help, detail) act as in a live run; the keys that act on a live run do nothing.
#[allow(clippy::too_many_arguments)]
pub fn replay_dashboard<B: Backend>(
    recording: &Recording,
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    stop: &AtomicBool,
    options: DashboardOptions,
    speed: f64,
    mut on_frame: impl FnMut(&App, &Player),
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let timeline = Timeline::of(&recording.items);
    let mut player = Player::new(&timeline, speed);
    let mut replayed = Replayed::new(recording);
    let period = frame_period(options.fps);
    let mut next_frame = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        if stop.load(Ordering::Acquire) || replayed.app.view.should_quit {
            return Ok(());
        }
        let now = Instant::now();
        player.advance(now.duration_since(last_tick));
        last_tick = now;
        replayed.seek(timeline.due(player.clock_ns()));
        replayed.app.set_replay(Some(player.status()));
        // Commands of the knob keys act on a live run: a replay has none. It clears and resets
        // its own screen.
        for command in replayed.app.take_commands() {
            match command {
                Command::Clear => replayed.app.update(Msg::Clear),
                Command::Reset => replayed.app.update(Msg::Reset),
                _ => {}
            }
        }
        if now >= next_frame && replayed.app.take_dirty() {
            terminal
                .draw(|frame| ui::draw(frame, &replayed.app, &options.look))
                .map_err(|e| anyhow::Error::new(e).context("drawing the dashboard"))?;
            on_frame(&replayed.app, &player);
            next_frame = now + period;
        }
        let wait = next_frame
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(5), CONSUMER_TICK);
        match events.next(wait) {
            Ok(Some(Event::Key(key))) => match player.key(&key, &timeline) {
                KeyOutcome::Quit => return Ok(()),
                KeyOutcome::Changed => replayed.app.mark_dirty(),
                KeyOutcome::Ignored => {}
                KeyOutcome::Dashboard => replayed.app.update(Msg::Key(key)),
            },
            Ok(Some(Event::Resize(_, _))) => {
                next_frame = Instant::now();
                replayed.app.mark_dirty();
            }
            Ok(Some(_)) | Ok(None) => {}
            Err(e) => return Err(anyhow::Error::new(e).context("reading terminal input")),
        }
    }
}
