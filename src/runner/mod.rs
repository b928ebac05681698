//! Wires a source of samples to its consumers: the only place that starts a run, and the loops
//! that feed a source's [`Update`]s to the headless report, the dashboard and the recorder.
//!
//! source ([`LocalSource`], [`RecordingSource`], later another process) -> updates -> the
//! headless fold ([`headless`]) or the dashboard's app ([`dashboard`]), and the recorder.
//! Commands go the other way, from the dashboard's keys to [`crate::source::Source::command`].

pub mod dashboard;
pub mod headless;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::detect::Detector;
use crate::model::Model;
use crate::record::{Recorder, Recording};
use crate::report::Report;
use crate::source::{LocalSource, RecordingSource};

use crate::run::{Effect, RunConfig, Update};
pub use dashboard::{Dashboard, DashboardOptions, frame_period};
pub use headless::consume_headless;

/// How often a consumer wakes to check for a stop without a sample.
const CONSUMER_TICK: Duration = Duration::from_millis(20);
/// Default dashboard frame rate cap.
pub const DEFAULT_FPS: u32 = 15;

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
            model: Model::with_stall_threshold(config.detector.stall_threshold),
            detector: Detector::new(
                config.detector,
                config.scenario.runtime.max_blocking_threads,
            ),
        }
    }

    /// Consumes one sample.
    pub fn sample(&mut self, sample: crate::sample::Sample) {
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
            Effect::Reset => self.model = self.model.fresh(),
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

/// The recorder's side of the stream: everything after the run's first update (which the
/// recording's header already holds) is written as it comes.
pub struct Tape<'r> {
    recorder: Option<&'r mut Recorder>,
    begun: bool,
}

impl<'r> Tape<'r> {
    pub fn new(recorder: Option<&'r mut Recorder>) -> Tape<'r> {
        Tape {
            recorder,
            begun: false,
        }
    }

    pub fn write(&mut self, update: &Update) {
        let Some(recorder) = self.recorder.as_deref_mut() else {
            return;
        };
        match update {
            Update::Begin(config) if self.begun => recorder.session(config),
            Update::Begin(_) => self.begun = true,
            // A replay is not recorded again: nothing rewinds a live run.
            Update::Rewind(_) => {}
            Update::Sample(sample) => recorder.sample(sample),
            Update::Effect(effect) => recorder.effect(effect),
            Update::UiCpu(share) => recorder.ui_cpu(*share),
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
    recorder: Option<&mut Recorder>,
    stop: &AtomicBool,
    on_sample: impl FnMut(&Model, &Detector),
) -> anyhow::Result<Report> {
    let mut source = LocalSource::start(config.clone(), None, None)?;
    consume_headless(&mut source, recorder, stop, on_sample)
}

/// The report a live run would have printed, from its recording: every sample and effect
/// folded as [`run_headless`] does (of the last scenario, when the dashboard switched).
pub fn replay_headless(recording: &Recording) -> Report {
    let mut source = RecordingSource::unpaced(recording);
    consume_headless(&mut source, None, &AtomicBool::new(false), |_, _| {})
        .expect("a recording begins its run, and reading it back cannot fail")
}
