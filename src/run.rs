//! The run's plain data: what to run, and what happens to a run besides its samples (phases,
//! knob changes, panics, the presenter's clear and reset). Plain values only: this module
//! imports no layer above it, so the runner, the recording and the dashboard all share it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::{Finding, FindingKind, Severity};
use crate::sample::Sample;
use crate::scenario::{DetectorSpec, KnobSetting, Scenario, WorkloadKind};

/// Default time between two samples.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

/// What to run and for how long.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub scenario: Scenario,
    /// Thresholds in force: the scenario's, with command-line overrides applied.
    pub detector: DetectorSpec,
    /// `None` runs until stopped.
    pub duration: Option<Duration>,
    pub interval: Duration,
    /// Capture a stalled thread's stack (`--no-stacks` turns it off).
    pub stacks: bool,
    /// Where console-subscriber serves tokio-console (`--console`), if it does.
    pub console: Option<SocketAddr>,
}

impl RunConfig {
    /// `scenario` with its own thresholds, sampled every [`DEFAULT_INTERVAL`], stacks captured
    /// and no console: a run as `tokmon run` starts it without flags.
    pub fn new(scenario: Scenario, duration: Option<Duration>) -> RunConfig {
        RunConfig {
            detector: scenario.detector,
            scenario,
            duration,
            interval: DEFAULT_INTERVAL,
            stacks: true,
            console: None,
        }
    }

    /// The interval between samples in whole milliseconds, as reports give it.
    pub fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)
    }
}

/// One thing a consumer receives from a source, in order; a recording is a run's updates in
/// a file.
#[derive(Debug, Clone)]
pub enum Update {
    /// A run begins: what follows belongs to it, and a consumer starts afresh. Every source's
    /// first update; a later one means the dashboard switched scenario.
    Begin(Box<RunConfig>),
    /// The same run again from its start (a replay went back): a consumer rebuilds the run's
    /// state and keeps its own (the screen's focus, selection and overlays).
    Rewind(Box<RunConfig>),
    Sample(Box<Sample>),
    Effect(Box<Effect>),
    /// The dashboard thread's CPU share lately (a dashboard tells it; a recording keeps it).
    UiCpu(f64),
}

/// What starting a phase, turning a knob or the presenter did: everything besides the samples
/// that a consumer folds in (and a recording stores).
#[derive(Debug, Clone)]
pub enum Effect {
    PhaseBegun(PhaseView),
    Event(Finding),
    Applied {
        workload: String,
        kind: WorkloadKind,
    },
    /// A workload task panicked (dashboard runs), and the finding the dashboard logged for it.
    Panic {
        report: PanicReport,
        finding: Finding,
    },
    /// The presenter cleared the findings.
    Clear,
    /// The presenter reset the statistics.
    Reset,
}

/// The scripted phase running now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseView {
    /// 0-based.
    pub index: usize,
    pub note: String,
    /// When the next phase starts, on the run's clock; `None` for the last.
    pub next_at_ms: Option<u64>,
}

/// A panic caught on a thread of the measured runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanicReport {
    pub thread: String,
    pub message: String,
    pub location: Option<String>,
}

/// A change asked of the running workloads (by a knob key or a phase).
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Every workload stops issuing new work until `Resume`.
    Pause,
    Resume,
    /// Change one live setting of one workload.
    Set(KnobSetting),
}

/// What a consumer asks of its source (or of itself, for clear and reset): the keys that act
/// on the run rather than on the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Control(Control),
    NextPhase,
    SwitchScenario(String),
    /// Moves a replay.
    Replay(ReplayCommand),
    /// Clear the findings (the consumer tells it as [`Effect::Clear`], so a recording has it).
    Clear,
    /// Reset the statistics (told as [`Effect::Reset`]).
    Reset,
}

/// How a replay moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayCommand {
    TogglePause,
    /// One sample on, paused.
    Step,
    Back,
    Forward,
    Slower,
    Faster,
}

/// Where a replay is and how it goes, on the recording's clock (which runs on across a switch
/// of scenario); the screen shows it in place of the demo's controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayStatus {
    /// Times the run's own pace.
    pub speed: f64,
    pub paused: bool,
    /// Where the replay is.
    pub position_ns: u64,
    /// The time of the recording's last item.
    pub length_ns: u64,
}

impl ReplayStatus {
    /// At the end of the recording.
    pub fn at_end(&self) -> bool {
        self.position_ns >= self.length_ns
    }

    /// The speed: `2x`, `0.5x`, `0.125x`.
    pub fn speed_text(&self) -> String {
        let text = format!("{:.4}", self.speed);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text}x")
    }

    /// The position and the length, `m:ss` each: `0:42 / 5:00`.
    pub fn position_text(&self) -> String {
        let clock = |ns: u64| {
            let s = ns / 1_000_000_000;
            format!("{}:{:02}", s / 60, s % 60)
        };
        format!("{} / {}", clock(self.position_ns), clock(self.length_ns))
    }

    /// What the screen shows of it: the speed, the pause, the end, and the position and
    /// length in whole seconds (a new position within the same second draws nothing new).
    pub(crate) fn shown(&self) -> (u64, bool, bool, u64, u64) {
        (
            self.speed.to_bits(),
            self.paused,
            self.at_end(),
            self.position_ns / 1_000_000_000,
            self.length_ns / 1_000_000_000,
        )
    }
}

impl PanicReport {
    /// The finding this panic makes, as the dashboard logs it.
    pub fn finding(&self, at_ms: u64) -> Finding {
        let location = self
            .location
            .as_ref()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        Finding {
            spawned_at: self.location.clone(),
            summary: format!(
                "a task panicked on {}{location}: {}",
                self.thread, self.message
            ),
            hint: "the runtime caught the panic and the run goes on; the task is gone".into(),
            ..Finding::new(FindingKind::Panic, Severity::Critical, at_ms)
        }
    }
}

/// A scenario the switcher offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioChoice {
    pub name: String,
    pub title: String,
}
