//! The lines of a recording as serde types: [`LineOut`] borrows what the runner writes,
//! [`LineIn`] owns what a reader gets back; both carry the same `"type"` tags and fields.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::settings::SettingsRecord;
use crate::detect::Finding;
use crate::run::RunConfig;
use crate::scenario::{DetectorSpec, Scenario, ScenarioErrors, ScenarioSource, catalog};

/// The version of the recording format; bumped whenever a line changes shape or meaning.
///
/// - 1: plain JSON lines; floats the reader could get one bit off written as `{"~f":TEXT}`.
/// - 2: gzip-compressed JSON lines (plain ones still read); floats always plain numbers.
pub const FORMAT_VERSION: u32 = 2;

/// The first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    /// The tokmon that wrote the recording.
    pub tokmon_version: String,
    /// [`crate::sample::SAMPLE_FORMAT_VERSION`] of the samples in the file.
    pub sample_format_version: u32,
    /// Seconds since the Unix epoch when the recording started.
    pub recorded_at_unix_s: u64,
    /// Time between two samples.
    pub interval_ns: u64,
    /// What runs first (a `session` line later means the dashboard switched scenario).
    pub session: SessionRecord,
}

/// A scenario and the thresholds in force: enough to rebuild the run's [`RunConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub scenario: ScenarioRecord,
    pub thresholds: ThresholdsRecord,
}

/// The scenario as its TOML text, so a reader parses it again into the identical scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// Where it came from, as the report shows it: a path, or `built-in:NAME`.
    pub source: String,
    /// `--time-scale`, applied after parsing.
    pub time_scale: Option<f64>,
    /// The TOML text.
    pub text: String,
}

/// The detector thresholds in force (the scenario's with command-line overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdsRecord {
    pub stall_ns: u64,
    pub long_poll_ns: u64,
    pub lag_ns: u64,
}

/// The prefix of a built-in scenario's source string.
const BUILT_IN_PREFIX: &str = "built-in:";

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl From<DetectorSpec> for ThresholdsRecord {
    fn from(d: DetectorSpec) -> Self {
        ThresholdsRecord {
            stall_ns: ns(d.stall_threshold),
            long_poll_ns: ns(d.long_poll_threshold),
            lag_ns: ns(d.lag_threshold),
        }
    }
}

impl From<ThresholdsRecord> for DetectorSpec {
    fn from(t: ThresholdsRecord) -> Self {
        DetectorSpec {
            stall_threshold: Duration::from_nanos(t.stall_ns),
            long_poll_threshold: Duration::from_nanos(t.long_poll_ns),
            lag_threshold: Duration::from_nanos(t.lag_ns),
        }
    }
}

impl ScenarioRecord {
    /// The scenario's source back from its string.
    pub fn source(&self) -> ScenarioSource {
        match self.source.strip_prefix(BUILT_IN_PREFIX) {
            Some(name) => ScenarioSource::BuiltIn(name.to_string()),
            None => ScenarioSource::File(PathBuf::from(&self.source)),
        }
    }

    /// Parses the text again, as the run did, and applies the time scale.
    pub fn scenario(&self) -> Result<Scenario, ScenarioErrors> {
        let scenario = crate::scenario::parse_str(&self.text, self.source())?;
        Ok(match self.time_scale {
            Some(factor) => scenario.time_scaled(factor),
            None => scenario,
        })
    }
}

impl SessionRecord {
    /// What to write for a run of `config`: the scenario's text is read again from its source
    /// (the binary for a built-in, the file otherwise) and checked to give exactly the
    /// scenario that runs, so a replay rebuilds it.
    pub fn of(config: &RunConfig, time_scale: Option<f64>) -> anyhow::Result<SessionRecord> {
        let source = &config.scenario.source;
        let text = match source {
            ScenarioSource::BuiltIn(name) => catalog::BUILT_IN
                .iter()
                .find(|(built_in, _)| built_in == name)
                .map(|(_, text)| (*text).to_string())
                .ok_or_else(|| anyhow::anyhow!("no built-in scenario named `{name}`"))?,
            ScenarioSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {} to record it: {e}", path.display()))?,
        };
        let record = ScenarioRecord {
            source: source.to_string(),
            time_scale,
            text,
        };
        match record.scenario() {
            Ok(again) if again == config.scenario => {}
            _ => anyhow::bail!(
                "{source} changed since it was loaded: the recording could not be replayed; run \
                 again"
            ),
        }
        Ok(SessionRecord {
            scenario: record,
            thresholds: config.detector.into(),
        })
    }

    /// The run's configuration back (without a duration: a replay has the samples' own).
    pub fn config(&self, interval: Duration) -> Result<RunConfig, ScenarioErrors> {
        Ok(RunConfig {
            stacks: true,
            console: None,
            scenario: self.scenario.scenario()?,
            detector: self.thresholds.into(),
            duration: None,
            interval,
        })
    }
}

/// One line as the runner writes it.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LineOut<'a> {
    Header(&'a Header),
    /// A sample, its fields compacted by [`super::compact`].
    #[serde(rename = "s")]
    Sample(&'a serde_json::Map<String, serde_json::Value>),
    Phase {
        index: usize,
        note: &'a str,
        next_at_ms: Option<u64>,
    },
    Event {
        finding: &'a Finding,
    },
    Applied {
        workload: &'a str,
        settings: SettingsRecord,
    },
    Panic {
        thread: &'a str,
        message: &'a str,
        location: Option<&'a str>,
        /// The finding the dashboard logged for it (a headless replay records it as is).
        finding: &'a Finding,
    },
    Clear,
    Reset,
    UiCpu {
        share: f64,
    },
    Session(&'a SessionRecord),
    End,
}

/// One line as a reader gets it back.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LineIn {
    Header(Box<Header>),
    #[serde(rename = "s")]
    Sample(serde_json::Map<String, serde_json::Value>),
    Phase {
        index: usize,
        note: String,
        next_at_ms: Option<u64>,
    },
    Event {
        finding: Box<Finding>,
    },
    Applied {
        workload: String,
        settings: SettingsRecord,
    },
    Panic {
        thread: String,
        message: String,
        location: Option<String>,
        finding: Box<Finding>,
    },
    Clear,
    Reset,
    UiCpu {
        share: f64,
    },
    Session(Box<SessionRecord>),
    End,
}
