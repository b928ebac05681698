//! tokmon names an attached app's frames only from files that are its images (same GNU build
//! id): the example server (`examples/stall_server.rs`) run from a copy in a temporary
//! directory, whose file is then replaced or deleted, attached by pid and over TCP with and
//! without `--binary`. libc's frames are named from its symbol table, with its name.

mod example_app;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use example_app::{App, built, client};

/// Stacks are captured and named on Linux x86-64 only.
const NAMED: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

/// `tokmon attach TARGET --headless --duration 4s --format json` with `more`: the report and
/// standard error.
fn attach(target: &str, more: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["attach", target, "--headless", "--duration", "4s"])
        .args(["--format", "json", "--quiet"])
        .args(more)
        .output()
        .expect("tokmon runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tokmon attach failed: {stderr}");
    let report = serde_json::from_slice(&out.stdout).expect("a JSON report");
    (report, stderr)
}

fn stalls(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .collect()
}

/// The functions of a stall's frames.
fn functions(stall: &serde_json::Value) -> Vec<&str> {
    stall["stack"]
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .filter_map(|frame| frame["function"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The example copied into a temporary directory, to run from there.
fn copied_app(dir: &Path) -> PathBuf {
    let exe = dir.join("stall_server");
    std::fs::copy(built("stall_server"), &exe).expect("a copy of the example");
    exe
}

#[test]
fn an_app_whose_executable_was_replaced_keeps_raw_frames_and_says_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = copied_app(dir.path());
    let app = App::start_from(&exe, &[]);
    // A deploy's way: another program written beside it, renamed over it (the running file
    // cannot be written in place).
    let next = dir.path().join("stall_server.next");
    std::fs::copy(built("redis_server"), &next).expect("another program");
    std::fs::rename(&next, &exe).expect("replaced");
    let stop = Arc::new(AtomicBool::new(false));
    let _blocking = client(&app.addr, &["sleep 300"], stop.clone());
    let (report, stderr) = attach(&app.pid().to_string(), &[]);
    stop.store(true, Ordering::Relaxed);
    let said = format!(
        "{} was replaced since the app started (build id",
        exe.display()
    );
    let title = report["scenario"]["title"].as_str().expect("a title");
    assert!(title.contains(&said), "the report says it: {title}");
    assert!(stderr.contains(&said), "{stderr}");
    let stalls = stalls(&report);
    assert!(!stalls.is_empty(), "{report:#}");
    if NAMED {
        assert!(
            stalls.iter().all(|f| f.get("site").is_none()
                && !f["summary"].as_str().unwrap_or("").contains("line tables")
                && !f["hint"].as_str().unwrap_or("").contains("line tables")),
            "no line named from the wrong file, and no advice about line tables: {stalls:#?}"
        );
        let all: Vec<&str> = stalls.iter().flat_map(|f| functions(f)).collect();
        assert!(
            all.iter()
                .any(|f| f.starts_with("?? (0x") && f.contains("replaced since the app started")),
            "a raw frame says why: {all:#?}"
        );
        assert!(
            !all.iter().any(|f| f.contains("stall_server::")),
            "no function of the example named from another file: {all:#?}"
        );
        // libc was not replaced: its frames are named, with the library's name.
        assert!(
            all.iter()
                .any(|f| f.ends_with("(libc.so.6)") && !f.starts_with("??")),
            "{all:#?}"
        );
    }
}

#[test]
fn over_tcp_binary_names_frames_only_with_the_apps_build_id() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = copied_app(dir.path());
    let app = App::start_from(&exe, &[("TOKMON_PROBE_ADDR", "127.0.0.1:0")]);
    // Its file is gone: as for an app on another machine, nothing here at its path is it.
    std::fs::remove_file(&exe).expect("deleted");
    let probe = app
        .probe
        .strip_prefix("probe on ")
        .and_then(|rest| rest.strip_suffix(" (TCP)"))
        .unwrap_or_else(|| panic!("the probe serves TCP: {}", app.probe));
    let target = format!("tcp://{probe}");
    let token =
        tokmon_probe::serve::token_path(&tokmon_probe::wire::unix::default_dir(), app.pid());
    let token = token.display().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let _blocking = client(&app.addr, &["sleep 300"], stop.clone());

    // The same build, elsewhere on disk: the blocking line is named from it.
    let right = built("stall_server");
    let right = right.to_str().expect("a UTF-8 path");
    let (report, stderr) = attach(&target, &["--token-file", &token, "--binary", right]);
    let stalls_right = stalls(&report);
    assert!(!stalls_right.is_empty(), "{report:#}");
    if NAMED {
        assert!(
            stalls_right.iter().any(|f| f["site"]
                .as_str()
                .is_some_and(|s| s.contains("stall_server.rs:"))),
            "the blocking line, from --binary: {stalls_right:#?}\n{stderr}"
        );
    }

    // Another program: not used, said, and the example's frames stay raw.
    let wrong = built("redis_server");
    let wrong = wrong.to_str().expect("a UTF-8 path");
    let (report, stderr) = attach(&target, &["--token-file", &token, "--binary", wrong]);
    stop.store(true, Ordering::Relaxed);
    assert!(
        stderr.contains(&format!("--binary {wrong} (build id"))
            && stderr.contains("is none of the app's images"),
        "{stderr}"
    );
    let title = report["scenario"]["title"].as_str().expect("a title");
    assert!(title.contains("is none of the app's images"), "{title}");
    let stalls_wrong = stalls(&report);
    assert!(!stalls_wrong.is_empty(), "{report:#}");
    if NAMED {
        assert!(
            stalls_wrong.iter().all(|f| f.get("site").is_none()),
            "no line named from another program: {stalls_wrong:#?}"
        );
        let all: Vec<&str> = stalls_wrong.iter().flat_map(|f| functions(f)).collect();
        assert!(
            all.iter().any(|f| f.starts_with("?? (0x"))
                && !all.iter().any(|f| f.contains("stall_server::")),
            "{all:#?}"
        );
    }
}
