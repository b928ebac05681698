//! Every shipped scenario parses, and every invalid fixture fails with exactly its expected errors.
//!
//! `tests/invalid_scenarios/NAME.toml` must fail to load, and `NAME.err` next to it holds the exact
//! text of the errors (their `Display`) when loaded by the relative path
//! `tests/invalid_scenarios/NAME.toml`; cargo runs integration tests from the package root.
//! After changing a message on purpose, rewrite the `.err` files with
//! `TOKMON_BLESS=1 cargo test --test scenario_files` and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use tokmon::scenario::catalog::{self, ResolveError};
use tokmon::scenario::{ScenarioSource, load_file};

const SCENARIOS: &str = "scenarios";
const INVALID: &str = "tests/invalid_scenarios";
/// When set (to anything), mismatching or missing `.err` files are rewritten instead of failing.
const BLESS: &str = "TOKMON_BLESS";

/// The stems of the files in `dir` ending in `.ext`, sorted; none if `dir` does not exist.
fn stems(dir: &str, ext: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut stems: Vec<String> = entries
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .filter_map(|path| Some(path.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    stems.sort();
    stems
}

#[test]
fn every_built_in_parses() {
    assert!(
        catalog::BUILT_IN
            .iter()
            .any(|(name, _)| *name == catalog::DEFAULT_NAME),
        "the default scenario must be built in"
    );
    for (name, _) in catalog::BUILT_IN {
        let scenario = catalog::built_in(name)
            .expect("a listed built-in")
            .unwrap_or_else(|errors| panic!("built-in {name} is invalid:\n{errors}"));
        assert_eq!(scenario.name, *name);
        assert!(!scenario.workloads.is_empty());
    }
}

#[test]
fn every_scenario_file_parses() {
    let mut failures = Vec::new();
    for stem in stems(SCENARIOS, "toml") {
        let path = PathBuf::from(format!("{SCENARIOS}/{stem}.toml"));
        match load_file(&path) {
            Ok(scenario) => assert_eq!(scenario.name, stem, "{}", path.display()),
            Err(errors) => failures.push(errors.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario file(s) are invalid:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_invalid_fixture_fails_with_exactly_its_expected_errors() {
    assert!(
        Path::new(INVALID).is_dir(),
        "{INVALID} not found: run the tests from the package root"
    );
    let bless = std::env::var_os(BLESS).is_some();
    let fixtures = stems(INVALID, "toml");
    assert!(
        fixtures.len() >= 15,
        "expected at least 15 fixtures, found {}",
        fixtures.len()
    );

    let mut problems = Vec::new();
    for stem in &fixtures {
        let toml = format!("{INVALID}/{stem}.toml");
        let err = format!("{INVALID}/{stem}.err");
        let actual = match load_file(Path::new(&toml)) {
            Ok(scenario) => {
                problems.push(format!("{toml}: loaded without error as {scenario:?}"));
                continue;
            }
            Err(errors) => errors.to_string(),
        };
        // Ignore a checkout's line endings and the file's final newline.
        let expected = fs::read_to_string(&err)
            .ok()
            .map(|text| text.replace("\r\n", "\n"))
            .map(|text| text.strip_suffix('\n').unwrap_or(&text).to_string());
        if expected.as_deref() == Some(actual.as_str()) {
            continue;
        }
        if bless {
            fs::write(&err, format!("{actual}\n")).expect("writable fixture folder");
            continue;
        }
        match expected {
            None => problems.push(format!("{err} is missing; {toml} gives:\n{actual}")),
            Some(expected) => problems.push(format!(
                "{err} does not match.\n--- expected\n{expected}\n--- actual\n{actual}"
            )),
        }
    }
    for stem in stems(INVALID, "err") {
        if !fixtures.contains(&stem) {
            problems.push(format!("{INVALID}/{stem}.err has no {stem}.toml"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} fixture problem(s) (rewrite with {BLESS}=1 if the change is intended):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let path = Path::new("tests/no-such-scenario.toml");
    let errors = load_file(path).expect_err("the file does not exist");
    assert_eq!(errors.0.len(), 1);
    let error = &errors.0[0];
    assert_eq!(error.file, "tests/no-such-scenario.toml");
    assert_eq!((error.line, error.column), (0, 0));
    let shown = errors.to_string();
    assert!(
        shown.starts_with("tests/no-such-scenario.toml: cannot read: "),
        "{shown}"
    );
}

#[test]
fn resolve_finds_the_default_built_ins_folder_names_and_paths() {
    let dir = Path::new(INVALID);

    let default = catalog::resolve(None, dir).expect("the default");
    assert_eq!(
        default.source,
        ScenarioSource::BuiltIn(catalog::DEFAULT_NAME.into())
    );
    let by_name = catalog::resolve(Some(catalog::DEFAULT_NAME), dir).expect("a built-in");
    assert_eq!(by_name, default);

    // A name found in the folder, and the same file by path: both invalid, both name the file.
    for arg in ["zero-rate", "tests/invalid_scenarios/zero-rate.toml"] {
        match catalog::resolve(Some(arg), dir) {
            Err(ResolveError::Invalid(errors)) => {
                assert_eq!(
                    errors.0[0].file, "tests/invalid_scenarios/zero-rate.toml",
                    "{arg}"
                );
            }
            other => panic!("{arg}: expected Invalid, got {other:?}"),
        }
    }

    // A .toml argument is always a path, even when it does not exist.
    match catalog::resolve(Some("nowhere.toml"), dir) {
        Err(ResolveError::Invalid(errors)) => {
            assert!(
                errors
                    .to_string()
                    .starts_with("nowhere.toml: cannot read: ")
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    let error = catalog::resolve(Some("nope"), dir).expect_err("no such scenario");
    assert!(matches!(error, ResolveError::NotFound { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(shown.contains("no scenario named \"nope\""), "{shown}");
    assert!(shown.contains("built-in scenarios: default"), "{shown}");
    assert!(shown.contains("zero-rate"), "{shown}");
}

#[test]
fn list_shows_built_ins_first_then_files_with_their_errors() {
    let entries = catalog::list(Path::new(INVALID));
    let built_ins = catalog::BUILT_IN.len();
    assert!(
        entries[..built_ins]
            .iter()
            .all(|e| matches!(e.source, ScenarioSource::BuiltIn(_)) && e.error.is_none())
    );
    let names: Vec<&str> = entries[built_ins..]
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, stems(INVALID, "toml"));
    for entry in &entries[built_ins..] {
        let error = entry.error.as_deref().expect("every fixture is invalid");
        assert!(!error.contains('\n'), "{error}");
        assert!(error.starts_with(INVALID), "{error}");
    }

    let missing = catalog::list(Path::new("tests/no-such-folder"));
    assert_eq!(missing.len(), built_ins);
}
