//! The scenarios tokmon knows: those built into the binary and the `*.toml` files in a folder.

use std::path::{Path, PathBuf};

use super::error::ScenarioErrors;
use super::parse::{load_file, parse_str};
use super::spec::{Scenario, ScenarioSource};

/// Scenarios embedded in the binary: (name, TOML text). The first is the default; the rest
/// are the files of `scenarios/`, so an installed binary runs them by name from anywhere (a
/// test checks that every file there is listed here).
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("builtin/default.toml")),
    (
        "async-sleep",
        include_str!("../../scenarios/async-sleep.toml"),
    ),
    (
        "blocking-pool-too-small",
        include_str!("../../scenarios/blocking-pool-too-small.toml"),
    ),
    (
        "blocking-sleep",
        include_str!("../../scenarios/blocking-sleep.toml"),
    ),
    ("fs-async", include_str!("../../scenarios/fs-async.toml")),
    (
        "fs-blocking",
        include_str!("../../scenarios/fs-blocking.toml"),
    ),
    (
        "hash-block-in-place",
        include_str!("../../scenarios/hash-block-in-place.toml"),
    ),
    (
        "hash-on-worker",
        include_str!("../../scenarios/hash-on-worker.toml"),
    ),
    (
        "hash-spawn-blocking",
        include_str!("../../scenarios/hash-spawn-blocking.toml"),
    ),
    (
        "hash-yield",
        include_str!("../../scenarios/hash-yield.toml"),
    ),
    (
        "single-worker",
        include_str!("../../scenarios/single-worker.toml"),
    ),
    (
        "spawn-storm",
        include_str!("../../scenarios/spawn-storm.toml"),
    ),
    (
        "std-mutex-blocking",
        include_str!("../../scenarios/std-mutex-blocking.toml"),
    ),
    (
        "tokio-mutex",
        include_str!("../../scenarios/tokio-mutex.toml"),
    ),
];

/// The name of the scenario run when none is given.
pub const DEFAULT_NAME: &str = "default";

/// The built-in scenario `name`, parsed; `None` if there is no such built-in.
pub fn built_in(name: &str) -> Option<Result<Scenario, ScenarioErrors>> {
    BUILT_IN
        .iter()
        .find(|(built_in, _)| *built_in == name)
        .map(|(name, text)| parse_str(text, ScenarioSource::BuiltIn((*name).to_string())))
}

/// Why a scenario argument did not give a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The scenario was found but is invalid (or its file could not be read).
    #[error("{0}")]
    Invalid(#[from] ScenarioErrors),
    /// Nothing matched the argument.
    #[error(
        "no scenario named \"{name}\": it is not a file, not a built-in scenario and there is no {}\n\
         built-in scenarios: {}\n\
         scenarios in {}/: {}\n\
         pass a built-in name, a name from {}/, or the path of a .toml file",
        .dir.join(format!("{name}.toml")).display(),
        list_or_none(.built_in),
        .dir.display(),
        list_or_none(.in_dir),
        .dir.display()
    )]
    NotFound {
        /// The argument as given.
        name: String,
        /// The folder searched for `NAME.toml`.
        dir: PathBuf,
        /// Names of the built-in scenarios.
        built_in: Vec<String>,
        /// Names (file stems) of the `*.toml` files in `dir`.
        in_dir: Vec<String>,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// Finds the scenario a command-line argument names.
///
/// - no argument: the built-in default;
/// - an existing file, or an argument ending in `.toml` or containing a path separator: that file;
/// - `scenarios_dir/ARG.toml` if it exists (a local file wins over a built-in of that name);
/// - a built-in name: that built-in;
/// - otherwise [`ResolveError::NotFound`], listing what there is.
pub fn resolve(arg: Option<&str>, scenarios_dir: &Path) -> Result<Scenario, ResolveError> {
    let Some(arg) = arg else {
        return match built_in(DEFAULT_NAME) {
            Some(result) => Ok(result?),
            None => Err(not_found(DEFAULT_NAME, scenarios_dir)),
        };
    };
    let as_path = Path::new(arg);
    if as_path.is_file() || arg.ends_with(".toml") || arg.contains(['/', std::path::MAIN_SEPARATOR])
    {
        return Ok(load_file(as_path)?);
    }
    let in_dir = scenarios_dir.join(format!("{arg}.toml"));
    if in_dir.is_file() {
        return Ok(load_file(&in_dir)?);
    }
    if let Some(result) = built_in(arg) {
        return Ok(result?);
    }
    Err(not_found(arg, scenarios_dir))
}

fn not_found(name: &str, dir: &Path) -> ResolveError {
    ResolveError::NotFound {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        built_in: BUILT_IN
            .iter()
            .map(|(name, _)| (*name).to_string())
            .collect(),
        in_dir: toml_files(dir)
            .iter()
            .filter_map(|path| stem(path))
            .collect(),
    }
}

/// One scenario in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// What to pass on the command line: the built-in name or the file stem.
    pub name: String,
    /// The scenario's title; empty when it failed to parse.
    pub title: String,
    pub source: ScenarioSource,
    /// The first line of the first error, when the scenario is invalid.
    pub error: Option<String>,
    /// A file in the scenarios folder that takes the place of the built-in of the same name.
    pub overrides_built_in: bool,
}

/// Every scenario once by name: the built-ins first (a file of the same name in
/// `scenarios_dir` takes a built-in's place and says so), then the other `*.toml` files there,
/// sorted by file name.
///
/// An invalid file is listed with its error; a missing folder lists only the built-ins.
pub fn list(scenarios_dir: &Path) -> Vec<CatalogEntry> {
    let files = toml_files(scenarios_dir);
    let file_named = |name: &str| {
        files
            .iter()
            .find(|path| stem(path).as_deref() == Some(name))
    };
    let built_ins = BUILT_IN.iter().map(|(name, text)| match file_named(name) {
        Some(path) => {
            let mut e = entry(
                (*name).to_string(),
                ScenarioSource::File(path.clone()),
                load_file(path),
            );
            // A copy of the built-in (as in this repository) replaces nothing worth saying.
            e.overrides_built_in = std::fs::read_to_string(path).map_or(true, |t| t != *text);
            e
        }
        None => {
            let source = ScenarioSource::BuiltIn((*name).to_string());
            entry((*name).to_string(), source.clone(), parse_str(text, source))
        }
    });
    let others = files
        .iter()
        .filter(|path| {
            !BUILT_IN
                .iter()
                .any(|(name, _)| stem(path).as_deref() == Some(*name))
        })
        .map(|path| {
            let name = stem(path).unwrap_or_default();
            entry(name, ScenarioSource::File(path.clone()), load_file(path))
        });
    built_ins.chain(others).collect()
}

fn entry(
    name: String,
    source: ScenarioSource,
    result: Result<Scenario, ScenarioErrors>,
) -> CatalogEntry {
    match result {
        Ok(scenario) => CatalogEntry {
            name,
            title: scenario.title,
            source,
            error: None,
            overrides_built_in: false,
        },
        Err(errors) => CatalogEntry {
            name,
            title: String::new(),
            source,
            error: Some(errors.summary()),
            overrides_built_in: false,
        },
    }
}

/// The `*.toml` files in `dir`, sorted by file name; none if `dir` cannot be read.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml") && path.is_file())
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_parses_and_the_default_exists() {
        for (name, _) in BUILT_IN {
            let scenario = built_in(name)
                .expect("listed")
                .unwrap_or_else(|e| panic!("built-in {name}:\n{e}"));
            assert_eq!(scenario.name, *name);
            assert_eq!(
                scenario.source,
                ScenarioSource::BuiltIn((*name).to_string())
            );
        }
        assert!(built_in(DEFAULT_NAME).is_some());
        assert!(built_in("no-such-scenario").is_none());
    }

    #[test]
    fn resolve_none_gives_the_default() {
        let scenario = resolve(None, Path::new("/nonexistent")).expect("default resolves");
        assert_eq!(scenario.name, DEFAULT_NAME);
    }

    #[test]
    fn resolve_unknown_lists_the_built_ins() {
        let error = resolve(Some("nope"), Path::new("/nonexistent")).expect_err("not found");
        assert!(matches!(error, ResolveError::NotFound { .. }));
        let shown = error.to_string();
        assert!(shown.contains("\"nope\""), "{shown}");
        assert!(shown.contains("built-in scenarios: default, "), "{shown}");
    }

    #[test]
    fn every_shipped_file_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for path in toml_files(&dir) {
            let name = stem(&path).expect("a file name");
            let (_, text) = BUILT_IN
                .iter()
                .find(|(built_in, _)| *built_in == name)
                .unwrap_or_else(|| panic!("scenarios/{name}.toml is not in BUILT_IN"));
            let on_disk = std::fs::read_to_string(&path).expect("readable");
            assert_eq!(*text, on_disk, "{name}");
        }
    }

    #[test]
    fn a_local_file_wins_over_the_built_in_and_says_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = BUILT_IN[1]
            .1
            .replace("title = ", "title = \"local copy\"\n# was: ");
        std::fs::write(dir.path().join(format!("{}.toml", BUILT_IN[1].0)), text).expect("write");
        let scenario = resolve(Some(BUILT_IN[1].0), dir.path()).expect("resolves");
        assert_eq!(scenario.title, "local copy");
        let entries = list(dir.path());
        assert_eq!(entries.len(), BUILT_IN.len());
        let entry = entries
            .iter()
            .find(|e| e.name == BUILT_IN[1].0)
            .expect("listed");
        assert!(entry.overrides_built_in);
        assert_eq!(entry.title, "local copy");
    }

    #[test]
    fn list_of_a_missing_folder_is_the_built_ins() {
        let entries = list(Path::new("/nonexistent/scenarios"));
        assert_eq!(entries.len(), BUILT_IN.len());
        assert!(
            entries
                .iter()
                .all(|e| e.error.is_none() && !e.title.is_empty())
        );
    }
}
