//! Where a run's data comes from: one seam for a scenario run in this process, a recording,
//! and (next) another process. Every source yields the same stream of [`Update`]s (the run's
//! configuration, then samples and effects) and takes the same [`Command`]s back; the headless
//! report, the dashboard and the recorder consume that stream and never ask which source it is.

pub mod attach;
pub mod local;
pub mod monitor;
pub mod naming;
pub mod recording;

use std::path::PathBuf;
use std::time::Duration;

use crate::run::{Command, ReplayStatus, ScenarioChoice, Update};

pub use attach::{AttachSource, Target};
pub use local::{LocalSource, Switcher};
pub use monitor::{Monitor, MonitorOptions};
pub use recording::RecordingSource;

/// Where the data comes from, for the header and the messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A scenario run in this process.
    Scenario,
    /// A recording read from a file.
    Recording(PathBuf),
    /// Another process, through its probe.
    Process { pid: u32, program: String },
}

/// Whether more is coming.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Live,
    /// A recording played back, paced: where it is and how it goes.
    Replaying(ReplayStatus),
    /// Nothing more will come: the run's duration passed, or a recording was read to its end.
    Ended,
    /// The other side went away (the app exited or was killed); what came before stays.
    Disconnected(String),
}

/// What a source can do besides yielding data: the commands it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Abilities {
    /// Knobs, the next phase and the scenario switcher act on it.
    pub knobs: bool,
    /// Seek, pause and speed.
    pub seek: bool,
}

/// A source of a run's data.
pub trait Source {
    fn origin(&self) -> Origin;
    fn abilities(&self) -> Abilities;
    fn state(&self) -> State;
    /// What came since the last call, waiting at most `wait` when nothing has.
    fn next(&mut self, wait: Duration) -> anyhow::Result<Vec<Update>>;
    /// A command back to the source; what it changes comes through [`Source::next`]. A source
    /// without the ability a command needs ignores it.
    fn command(&mut self, command: Command) -> anyhow::Result<()>;
    /// Stops the source: what it still had to give (a live run's last sample) comes back.
    fn finish(&mut self) -> anyhow::Result<Vec<Update>>;
    /// The scenarios [`Command::SwitchScenario`] can go to (none: no switcher).
    fn scenarios(&self) -> Vec<ScenarioChoice> {
        Vec::new()
    }
}
