//! TOML text -> validated [`Scenario`], collecting every error with its position and key path.
//!
//! The text is parsed into toml's spanned document tree ([`DeTable`]), never through serde
//! derives: every key and value keeps its byte span, so each rule is checked by hand and every
//! broken rule in a file is reported, each at its own line and column.
//!
//! The work follows the document down, one file per step:
//!
//! - [`checker`]: the [`Checker`] that walks the tree, turns byte spans into line and column, and
//!   collects the errors, with "did you mean" suggestions for near misses.
//! - [`document`]: the top level, `[runtime]` and `[detector]`.
//! - [`workloads`]: the `[[workload]]` array: each entry's id, kind and allowed keys.
//! - [`kinds`]: the rules of each workload kind: its keys, limits and allowed values, and which
//!   keys are knobs that can change while it runs. The names of kinds, knobs and modes, and each
//!   kind's defaults, come from the types in [`crate::scenario::spec`].
//! - [`phases`]: the `[[phase]]` array: times in order, and the knobs each phase sets, read by the
//!   rules of the workload keys of the same name.
//! - [`values`]: readers for one value: strings, ids, integers in a range, durations, sizes and
//!   one of an enum's names.

mod checker;
mod document;
mod kinds;
mod phases;
mod values;
mod workloads;

use std::path::Path;

use toml::de::DeTable;

use super::error::{ScenarioError, ScenarioErrors};
use super::spec::{Scenario, ScenarioSource};
use checker::Checker;

/// Parses and validates scenario text. `source` names the text in errors and gives the default name.
///
/// On failure, returns every error found, in file order (a TOML syntax error is reported alone).
pub fn parse_str(text: &str, source: ScenarioSource) -> Result<Scenario, ScenarioErrors> {
    let mut checker = Checker::new(source.to_string(), text);
    let scenario = match DeTable::parse(text) {
        Ok(root) => checker.scenario(root.get_ref(), &source),
        Err(error) => {
            checker.syntax_error(&error);
            None
        }
    };
    checker.finish(scenario)
}

/// Reads and validates a scenario file; an unreadable file gives one error naming it.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ScenarioError::whole_file(path.display().to_string(), format!("cannot read: {error}"))
    })?;
    parse_str(&text, ScenarioSource::File(path.to_path_buf()))
}

/// Shorthands the unit tests of every step share: they parse whole documents.
#[cfg(test)]
mod testing {
    use std::path::PathBuf;

    use super::parse_str;
    use crate::scenario::error::{ScenarioError, ScenarioErrors};
    use crate::scenario::spec::{Scenario, ScenarioSource, WorkloadKind};

    /// Parses `text` as the file `dir/test.toml`.
    pub(super) fn parse(text: &str) -> Result<Scenario, ScenarioErrors> {
        parse_str(text, ScenarioSource::File(PathBuf::from("dir/test.toml")))
    }

    /// A valid document with one workload of `kind`, plus the `extra` lines in its table.
    pub(super) fn with_workload(kind: &str, extra: &str) -> String {
        format!("title = \"t\"\n[[workload]]\nid = \"w\"\nkind = \"{kind}\"\n{extra}\n")
    }

    /// The kind of the one workload of [`with_workload`]; panics when it does not parse.
    pub(super) fn kind_of(kind: &str, extra: &str) -> WorkloadKind {
        let text = with_workload(kind, extra);
        let mut scenario = parse(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        scenario.workloads.remove(0).kind
    }

    /// The errors of `text`; panics when it parses.
    pub(super) fn errors(text: &str) -> Vec<ScenarioError> {
        match parse(text) {
            Ok(scenario) => panic!("expected errors for\n{text}\ngot {scenario:#?}"),
            Err(errors) => errors.0,
        }
    }

    /// The one error of `text`; panics when there is not exactly one.
    pub(super) fn one_error(text: &str) -> ScenarioError {
        let mut errors = errors(text);
        assert_eq!(errors.len(), 1, "{}", ScenarioErrors(errors.clone()));
        errors.remove(0)
    }
}
