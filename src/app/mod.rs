//! Pure UI state of the dashboard: messages in (keys, samples, panics), state out. No
//! terminal, no clock, no thread: the UI loop feeds it and `ui` draws it.

#[cfg(test)]
pub(crate) mod fixtures;
mod keys;
pub mod knobs;
pub mod sites;
pub mod view;

use std::net::SocketAddr;

use crossterm::event::KeyEvent;

use crate::detect::groups::{self, Entry};
use crate::detect::{Detector, Finding};
use crate::model::Model;
use crate::run::{Command, Control, PhaseView, ReplayStatus, RunConfig, ScenarioChoice};
use crate::sample::Sample;
use crate::scenario::{DetectorSpec, Knob, KnobSetting, Scenario, WorkloadKind};

/// What the header says about the run; fixed for its length.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub name: String,
    /// Each workload's id and kind, in scenario order.
    pub workloads: Vec<(String, &'static str)>,
    pub title: String,
    pub source: String,
    pub workers: usize,
    pub max_blocking_threads: usize,
    pub thresholds: DetectorSpec,
    /// How many scripted phases the scenario has.
    pub phase_count: usize,
    /// Where console-subscriber serves tokio-console (`--console`), if it does.
    pub console: Option<SocketAddr>,
}

impl RunInfo {
    pub fn of(scenario: &Scenario, thresholds: DetectorSpec) -> RunInfo {
        RunInfo {
            name: scenario.name.clone(),
            workloads: scenario
                .workloads
                .iter()
                .map(|w| (w.id.clone(), w.kind.name()))
                .collect(),
            title: scenario.title.clone(),
            source: scenario.source.to_string(),
            workers: scenario.runtime.workers,
            max_blocking_threads: scenario.runtime.max_blocking_threads,
            thresholds,
            phase_count: scenario.phases.len(),
            console: None,
        }
    }
}

/// Which panel the arrow keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Workers,
    Findings,
}

/// Everything the UI loop tells the app.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Sample(Box<Sample>),
    /// The share of one core the UI thread used lately.
    UiCpu(f64),
    /// A change made to the run (a knob turned, a phase begun), for the log.
    Event(Finding),
    /// A workload now runs with these settings.
    Applied {
        workload: String,
        kind: WorkloadKind,
    },
    /// A scripted phase began (the model starts counting it).
    Phase(PhaseView),
    /// Clear the findings: the run's answer to the `c` key's [`Command::Clear`] (a replay
    /// tells it where the run did).
    Clear,
    /// Reset the statistics: the answer to the `r` key's [`Command::Reset`].
    Reset,
}

/// The model and the findings: live, or frozen while the display is paused.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub model: Model,
    pub detector: Detector,
}

/// Change marks kept for the sparklines (older ones have scrolled away).
const MAX_MARKS: usize = 64;

/// What the run made so far: rebuilt from the start when a replay seeks back.
#[derive(Debug, Clone)]
pub struct RunState {
    pub info: RunInfo,
    live: Snapshot,
    frozen: Option<Snapshot>,
    pub ui_cpu: Option<f64>,
    /// Each workload's settings in force, in scenario order.
    pub workloads: Vec<(String, WorkloadKind)>,
    pub phase: Option<PhaseView>,
    /// Moments a workload's settings changed: (workload id, how many values its p99 series
    /// had then), so its sparkline can mark the moment.
    pub marks: Vec<(String, u64)>,
}

impl RunState {
    fn new(info: RunInfo) -> RunState {
        let detector = Detector::new(info.thresholds, info.max_blocking_threads);
        let model = Model::with_stall_threshold(info.thresholds.stall_threshold);
        RunState {
            info,
            live: Snapshot { model, detector },
            frozen: None,
            ui_cpu: None,
            workloads: Vec::new(),
            phase: None,
            marks: Vec::new(),
        }
    }

    fn of(scenario: &Scenario, thresholds: DetectorSpec) -> RunState {
        RunState {
            workloads: scenario
                .workloads
                .iter()
                .map(|w| (w.id.clone(), w.kind.clone()))
                .collect(),
            ..RunState::new(RunInfo::of(scenario, thresholds))
        }
    }
}

/// What the viewer chose to look at: kept when a replay seeks back.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    pub help_open: bool,
    pub detail_open: bool,
    pub focus: Focus,
    pub selected_worker: usize,
    /// Index into the findings panel's rows ([`App::finding_entries`]).
    pub selected_finding: usize,
    /// Index into the run's workloads: the one the knob keys act on.
    pub selected_workload: usize,
    /// The scenario switcher: open with its choices and the highlighted one.
    pub switcher: Option<(Vec<ScenarioChoice>, usize)>,
    /// Scenarios the switcher offers (empty: no switcher).
    pub choices: Vec<ScenarioChoice>,
    /// This is a replay of a recording: where it is and how it goes. The keys that act on a
    /// live run (knobs, next phase, switcher) do nothing then, and the replay keys move it.
    /// Set with [`App::set_replay`].
    pub replay: Option<ReplayStatus>,
    /// The source takes no knobs (a recording, another process): the keys that turn them, the
    /// next phase and the switcher do nothing. Set from [`crate::source::Abilities`].
    pub no_knobs: bool,
    /// The other process went away (why): the screen keeps its last data under a badge.
    pub disconnected: Option<String>,
    pub should_quit: bool,
    /// The spawn-sites view, when open (`t`).
    pub sites: Option<sites::SitesView>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub run: RunState,
    pub view: ViewState,
    commands: Vec<Command>,
    dirty: bool,
}

impl App {
    pub fn new(info: RunInfo) -> App {
        App {
            run: RunState::new(info),
            view: ViewState::default(),
            commands: Vec::new(),
            dirty: true,
        }
    }

    /// An app for a scenario: knows its workloads' settings, so the knob keys work.
    pub fn for_scenario(
        scenario: &Scenario,
        thresholds: DetectorSpec,
        choices: Vec<ScenarioChoice>,
    ) -> App {
        let run = RunState::of(scenario, thresholds);
        // The knob keys start on the first workload that has a mistake to flip (the hasher,
        // not the echo service that suffers from it).
        let selected_workload = run
            .workloads
            .iter()
            .position(|(_, kind)| knobs::flip(kind).is_some())
            .unwrap_or(0);
        App {
            run,
            view: ViewState {
                selected_workload,
                choices,
                ..ViewState::default()
            },
            commands: Vec::new(),
            dirty: true,
        }
    }

    /// An app for a run: its scenario and thresholds, and where tokio-console attaches.
    pub fn for_run(config: &RunConfig, choices: Vec<ScenarioChoice>) -> App {
        let mut app = App::for_scenario(&config.scenario, config.detector, choices);
        app.run.info.console = config.console;
        app
    }

    /// Starts the run over (a replay went back): the run's state as [`App::for_scenario`]
    /// makes it, the view's as it was, its selections kept within the new run.
    pub fn rebuild(&mut self, scenario: &Scenario, thresholds: DetectorSpec) {
        self.run = RunState::of(scenario, thresholds);
        let view = &mut self.view;
        view.selected_worker = view
            .selected_worker
            .min(self.run.info.workers.saturating_sub(1));
        view.selected_workload = view
            .selected_workload
            .min(self.run.workloads.len().saturating_sub(1));
        self.dirty = true;
    }

    /// What the app asks of the run since the last call.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// The workload the knob keys act on.
    pub fn selected_workload(&self) -> Option<&(String, WorkloadKind)> {
        self.run.workloads.get(self.view.selected_workload)
    }

    /// The workload the knob keys turn: the selected one, in a live run (a replay has no knobs).
    pub fn knob_workload(&self) -> Option<&(String, WorkloadKind)> {
        if self.view.no_knobs || self.view.replay.is_some() {
            return None;
        }
        self.selected_workload()
    }

    /// Makes this app a replay's (or not, with `None`), at the replay's current state; asks
    /// for a redraw when what the screen shows of it changed. The dashboard calls it on every
    /// turn.
    pub fn set_replay(&mut self, replay: Option<ReplayStatus>) {
        if self.view.replay.map(|r| r.shown()) != replay.map(|r| r.shown()) {
            self.dirty = true;
        }
        self.view.replay = replay;
    }

    fn turn(&mut self, knob: impl Fn(&WorkloadKind) -> Option<Knob>) {
        if let Some((id, kind)) = self.knob_workload()
            && let Some(knob) = knob(kind)
        {
            let setting = KnobSetting {
                workload: id.clone(),
                knob,
            };
            self.commands.push(Command::Control(Control::Set(setting)));
        }
    }

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(key) => {
                if keys::handle(self, key) {
                    self.dirty = true;
                }
            }
            Msg::Sample(sample) => {
                self.run.live.detector.observe(&sample);
                self.run.live.model.ingest(*sample);
                if self.run.frozen.is_none() {
                    self.dirty = true;
                }
            }
            Msg::UiCpu(share) => self.run.ui_cpu = Some(share),
            Msg::Event(finding) => {
                self.run.live.detector.record(finding);
                self.dirty = true;
            }
            Msg::Applied { workload, kind } => {
                let pushed = self
                    .run
                    .live
                    .model
                    .workloads
                    .iter()
                    .find(|w| w.id == workload)
                    .map_or(0, |w| w.p99_ms.pushed());
                if self.run.marks.len() == MAX_MARKS {
                    self.run.marks.remove(0);
                }
                self.run.marks.push((workload.clone(), pushed));
                if let Some(entry) = self
                    .run
                    .workloads
                    .iter_mut()
                    .find(|(id, _)| *id == workload)
                {
                    entry.1 = kind;
                }
                self.dirty = true;
            }
            Msg::Phase(phase) => {
                self.run.live.model.begin_phase(phase.index, &phase.note);
                self.run.phase = Some(phase);
                self.dirty = true;
            }
            Msg::Clear => {
                self.clear_findings();
                self.dirty = true;
            }
            Msg::Reset => {
                self.reset_statistics();
                self.dirty = true;
            }
        }
    }

    /// Asks for a redraw (the terminal was resized).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// True once after anything visible changed: the loop redraws then.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// What the screen shows: the frozen snapshot while paused, else the live one.
    pub fn shown(&self) -> &Snapshot {
        self.run.frozen.as_ref().unwrap_or(&self.run.live)
    }

    /// The live snapshot, whatever the screen shows.
    pub fn live(&self) -> &Snapshot {
        &self.run.live
    }

    pub fn model(&self) -> &Model {
        &self.shown().model
    }

    pub fn detector(&self) -> &Detector {
        &self.shown().detector
    }

    pub fn paused(&self) -> bool {
        self.run.frozen.is_some()
    }

    /// The findings panel's rows: findings grouped by culprit, and events, newest first.
    pub fn finding_entries(&self) -> Vec<Entry<'_>> {
        groups::entries(self.detector().findings())
    }

    pub fn selected_entry(&self) -> Option<Entry<'_>> {
        self.finding_entries()
            .into_iter()
            .nth(self.view.selected_finding)
    }

    fn toggle_pause(&mut self) {
        self.run.frozen = match self.run.frozen.take() {
            Some(_) => None,
            None => Some(self.run.live.clone()),
        };
    }

    fn clear_findings(&mut self) {
        self.run.live.detector.clear();
        if let Some(frozen) = self.run.frozen.as_mut() {
            frozen.detector.clear();
        }
        self.view.selected_finding = 0;
        self.view.detail_open = false;
    }

    fn reset_statistics(&mut self) {
        self.run.live.model = self.run.live.model.fresh();
        if let Some(frozen) = self.run.frozen.as_mut() {
            frozen.model = frozen.model.fresh();
        }
    }

    /// (workload id, kind) pairs.
    pub fn info_kinds(&self) -> Vec<(&str, &'static str)> {
        self.run
            .info
            .workloads
            .iter()
            .map(|(id, kind)| (id.as_str(), *kind))
            .collect()
    }

    fn finding_count(&self) -> usize {
        self.finding_entries().len()
    }
}

#[cfg(test)]
mod tests;
