//! The binary as a user runs it: `check`, `list` and a short headless JSON run.

use std::process::Command;

fn tokmon() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokmon"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

#[test]
fn check_accepts_the_shipped_scenarios() {
    let files: Vec<_> = std::fs::read_dir("scenarios")
        .expect("scenarios folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(files.len() >= 7);
    let output = tokmon().arg("check").args(&files).output().expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        files.len()
    );
}

#[test]
fn check_reports_every_bad_file_and_fails() {
    let output = tokmon()
        .args([
            "check",
            "scenarios/async-sleep.toml",
            "tests/invalid_scenarios/zero-rate.toml",
            "tests/invalid_scenarios/unknown-kind.toml",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tests/invalid_scenarios/zero-rate.toml:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/invalid_scenarios/unknown-kind.toml:"),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 3 scenario files are bad"), "{stderr}");
}

#[test]
fn list_shows_the_built_in_and_the_shipped_scenarios() {
    let output = tokmon().arg("list").output().expect("runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("default")),
        "{stdout}"
    );
    for name in [
        "hash-on-worker",
        "hash-spawn-blocking",
        "std-mutex-blocking",
        "blocking-sleep",
    ] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }
}

#[test]
fn an_unknown_scenario_name_says_what_exists() {
    let output = tokmon()
        .args(["run", "no-such-scenario", "--duration", "1s"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-scenario"), "{stderr}");
    assert!(stderr.contains("hash-on-worker"), "{stderr}");
}

#[test]
fn a_headless_run_prints_the_json_report() {
    let output = tokmon()
        .args([
            "run",
            "async-sleep",
            "--headless",
            "--duration",
            "1500ms",
            "--format",
            "json",
            "--quiet",
        ])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(report["schema_version"], 2);
    assert_eq!(report["scenario"]["name"], "async-sleep");
    assert_eq!(report["scenario"]["source"], "scenarios/async-sleep.toml");
    assert_eq!(report["runtime"]["workers"], 2);
    assert_eq!(report["workers"].as_array().map(Vec::len), Some(2));
    assert!(report["findings"].as_array().is_some());
    let duration = report["duration_ms"].as_u64().expect("duration");
    assert!((1000..5000).contains(&duration), "duration {duration}");
    let workloads = report["workloads"].as_array().expect("workloads");
    assert_eq!(workloads[0]["id"], "api");
    assert!(workloads[0]["ops"].as_u64().expect("ops") > 100);
    assert!(workloads[0]["latency_ms"]["p99"].as_f64().is_some());
    assert!(workloads[0]["sched_delay_ms"]["mean"].as_f64().is_some());
    assert_eq!(workloads[1]["mode"], "async");
}

#[test]
fn no_stacks_leaves_findings_without_a_site() {
    let output = tokmon()
        .args([
            "run",
            "blocking-sleep",
            "--headless",
            "--duration",
            "1500ms",
            "--format",
            "json",
            "--quiet",
            "--no-stacks",
        ])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["kind"] == "stall"),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .all(|f| f.get("site").is_none() && f.get("stack").is_none()),
        "{findings:#?}"
    );
}
