//! The lines of a recording as serde types: one [`Line`] per line, tagged by its `"type"`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::Finding;
use crate::run::{Effect, PanicReport, PhaseView, RunConfig};
use crate::scenario::{
    DetectorSpec, Scenario, ScenarioErrors, ScenarioSource, WorkloadKind, catalog,
};

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
    #[serde(rename = "interval_ns", with = "crate::scenario::ns")]
    pub interval: Duration,
    /// What runs first (a `session` line later means the dashboard switched scenario).
    pub session: SessionRecord,
}

/// A scenario and the thresholds in force: enough to rebuild the run's [`RunConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub scenario: ScenarioRecord,
    /// The detector thresholds in force (the scenario's with command-line overrides).
    pub thresholds: DetectorSpec,
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
    /// An attachment to another process has no TOML text: what it ran as instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<AttachedRecord>,
}

/// The process an attachment watched, enough to rebuild its [`Scenario::attached`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachedRecord {
    pub pid: u32,
    pub program: String,
    pub workers: usize,
    /// The thresholds of the app's probe.
    pub detector: DetectorSpec,
    /// The title and description as the attachment said them (with what it found of the
    /// app's binary: no line tables, replaced since the app started); older recordings have
    /// none and get the plain ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The prefix of a built-in scenario's source string.
const BUILT_IN_PREFIX: &str = "built-in:";

impl ScenarioRecord {
    /// The scenario's source back from its string.
    pub fn source(&self) -> ScenarioSource {
        if let Some(app) = &self.attached {
            return ScenarioSource::Process {
                pid: app.pid,
                program: app.program.clone(),
            };
        }
        match self.source.strip_prefix(BUILT_IN_PREFIX) {
            Some(name) => ScenarioSource::BuiltIn(name.to_string()),
            None => ScenarioSource::File(PathBuf::from(&self.source)),
        }
    }

    /// Parses the text again, as the run did, and applies the time scale.
    pub fn scenario(&self) -> Result<Scenario, ScenarioErrors> {
        if let Some(app) = &self.attached {
            let mut scenario = Scenario::attached(app.pid, &app.program, app.workers, app.detector);
            if let Some(title) = &app.title {
                scenario.title.clone_from(title);
            }
            if let Some(description) = &app.description {
                scenario.description.clone_from(description);
            }
            return Ok(scenario);
        }
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
            ScenarioSource::Process { pid, program } => {
                // No text to read again: what it ran as.
                let attached = AttachedRecord {
                    pid: *pid,
                    program: program.clone(),
                    workers: config.scenario.runtime.workers,
                    detector: config.scenario.detector,
                    title: Some(config.scenario.title.clone()),
                    description: Some(config.scenario.description.clone()),
                };
                return Ok(SessionRecord {
                    scenario: ScenarioRecord {
                        source: source.to_string(),
                        time_scale: None,
                        text: String::new(),
                        attached: Some(attached),
                    },
                    thresholds: config.detector,
                });
            }
        };
        let record = ScenarioRecord {
            source: source.to_string(),
            time_scale,
            text,
            attached: None,
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
            thresholds: config.detector,
        })
    }

    /// The run's configuration back (without a duration: a replay has the samples' own).
    pub fn config(&self, interval: Duration) -> Result<RunConfig, ScenarioErrors> {
        Ok(RunConfig {
            stacks: true,
            console: None,
            scenario: self.scenario.scenario()?,
            detector: self.thresholds,
            duration: None,
            interval,
        })
    }
}

/// One line, as the runner writes it and a reader gets it back. The effect lines are
/// [`Effect`]'s variants under the names and fields a recording gives them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header(Box<Header>),
    /// A sample, its fields compacted by [`super::compact`].
    #[serde(rename = "s")]
    Sample(serde_json::Map<String, serde_json::Value>),
    Phase(PhaseView),
    Event {
        finding: Box<Finding>,
    },
    Applied {
        workload: String,
        #[serde(rename = "settings")]
        kind: WorkloadKind,
    },
    Panic {
        #[serde(flatten)]
        report: PanicReport,
        /// The finding the dashboard logged for it (a headless replay records it as is).
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

impl From<Effect> for Line {
    fn from(effect: Effect) -> Line {
        match effect {
            Effect::PhaseBegun(phase) => Line::Phase(phase),
            Effect::Event(finding) => Line::Event {
                finding: Box::new(finding),
            },
            Effect::Applied { workload, kind } => Line::Applied { workload, kind },
            Effect::Panic { report, finding } => Line::Panic {
                report,
                finding: Box::new(finding),
            },
            Effect::Clear => Line::Clear,
            Effect::Reset => Line::Reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as tokmon has always written them (the dashboard's and every workload kind's
    /// included) read and write back to the same text.
    #[test]
    fn lines_keep_their_spelling() {
        let finding = serde_json::to_string(&Finding::new(
            crate::detect::FindingKind::Panic,
            crate::detect::Severity::Critical,
            7,
        ))
        .expect("serializes");
        let applied = |settings: &str| {
            format!(r#"{{"type":"applied","workload":"w","settings":{{{settings}}}}}"#)
        };
        let lines = [
            format!(
                r#"{{"type":"panic","thread":"t","message":"boom","location":"a.rs:1:2","finding":{finding}}}"#
            ),
            format!(r#"{{"type":"event","finding":{finding}}}"#),
            r#"{"type":"phase","index":1,"note":"n","next_at_ms":null}"#.into(),
            r#"{"type":"clear"}"#.into(),
            r#"{"type":"reset"}"#.into(),
            r#"{"type":"ui_cpu","share":0.25}"#.into(),
            applied(r#""kind":"echo","connections":1,"rate":2,"payload":3,"timeout_ns":4"#),
            applied(
                r#""kind":"hash","placement":"block_in_place","tasks":1,"size":2,"every_ns":3,"chunk":4"#,
            ),
            applied(
                r#""kind":"mutex","tasks":1,"lock":"tokio","hold_ns":2,"hold_by":"spin","every_ns":3"#,
            ),
            applied(r#""kind":"sleep","tasks":1,"duration_ns":2,"mode":"async","every_ns":3"#),
            applied(r#""kind":"spawn","rate":1,"work_ns":2"#),
            applied(r#""kind":"fs","tasks":1,"mode":"blocking","size":2,"every_ns":3"#),
        ];
        for text in lines {
            let line: Line = serde_json::from_str(&text).expect("reads");
            assert_eq!(serde_json::to_string(&line).expect("writes"), text);
        }
    }

    #[test]
    fn an_attachments_notices_replay_with_it() {
        let mut scenario = Scenario::attached(7, "server", 2, DetectorSpec::default());
        scenario.title.push_str(", built without line tables");
        scenario
            .description
            .push_str(" Add debug = \"line-tables-only\".");
        let config = RunConfig::new(scenario.clone(), None);
        let record = SessionRecord::of(&config, None).expect("recorded");
        let text = serde_json::to_string(&record).expect("writes");
        let back: SessionRecord = serde_json::from_str(&text).expect("reads");
        assert_eq!(back.scenario.scenario().expect("rebuilt"), scenario);
        // A recording from before the notices were kept gets the plain title.
        let mut old: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        if let Some(app) = old["scenario"]["attached"].as_object_mut() {
            app.remove("title");
            app.remove("description");
        }
        let plain: SessionRecord = serde_json::from_value(old).expect("an older recording reads");
        assert_eq!(
            plain.scenario.scenario().expect("rebuilt").title,
            "server (pid 7), attached"
        );
    }
}
