//! The run's plain data: what to run, and what happens to a run besides its samples (phases,
//! knob changes, panics, the presenter's clear and reset). Plain values only: this module
//! imports no layer above it, so the runner, the recording and the dashboard all share it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::Finding;
use crate::scenario::{DetectorSpec, KnobSetting, Scenario, WorkloadKind};

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
    /// The interval between samples in whole milliseconds, as reports give it.
    pub fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)
    }
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
