//! tokmon attached to an app it did not start: the example server (`examples/stall_server.rs`)
//! in a child process, found by its pid. Its stalls are named with the example's own lines,
//! on and off the CPU, while it keeps serving its clients; when it is killed, a headless attach
//! says so and still prints its report.

mod example_app;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use example_app::{App, client};

/// `tokmon attach TARGET --headless --duration D --format json` with `more` flags: the report
/// (null when there is none), standard error, and whether it exited 0.
fn attach(target: &str, duration: &str, more: &[&str]) -> (serde_json::Value, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["attach", target, "--headless", "--duration", duration])
        .args(["--format", "json", "--quiet"])
        .args(more)
        .output()
        .expect("tokmon runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (report, stderr, out.status.success())
}

fn stalls(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .collect()
}

fn text(value: &serde_json::Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[test]
fn a_stall_in_an_app_tokmon_did_not_start_is_named_with_the_apps_own_lines() {
    let app = App::start();
    let stop = Arc::new(AtomicBool::new(false));
    let blocking = client(
        &app.addr,
        &["sleep 300", "hash 300", "echo between"],
        stop.clone(),
    );
    let echoes = client(&app.addr, &["echo hello"], stop.clone());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let recording = dir.path().join("attach.rec");
    let record = ["--record", recording.to_str().expect("a UTF-8 path")];
    // The app has run a while before tokmon attaches: the attachment's times count from the
    // attach, not from the app's start.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (report, stderr, ok) = attach(&app.pid().to_string(), "6s", &record);
    let echoed = echoes.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    assert!(ok, "tokmon attach failed: {stderr}");
    assert!(
        blocking.load(Ordering::Relaxed) >= 2,
        "the blocking requests were served"
    );
    assert!(echoed > 0, "the app kept serving its other client");
    let stalls = stalls(&report);
    let ran_ms = report["duration_ms"]
        .as_u64()
        .expect("the report's duration");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().all(|f| f["last_seen_ms"]
            .as_u64()
            .is_some_and(|at| at <= ran_ms + 500)),
        "every finding within the {ran_ms} ms attached: {findings:#?}"
    );
    let in_example = |f: &&&serde_json::Value| text(&f["spawned_at"]).contains("stall_server.rs");
    assert!(
        !stalls.is_empty() && stalls.iter().all(|f| in_example(&f)),
        "every stall is in the example's tasks: {stalls:#?}"
    );
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        let named = stalls
            .iter()
            .filter(|f| text(&f["site"]).contains("stall_server.rs:"))
            .count();
        assert!(
            named > 0,
            "a blocking line in the example's file: {stalls:#?}"
        );
    }
    // The recording of the attachment replays to the same findings.
    let replayed = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["replay", recording.to_str().expect("UTF-8"), "--headless"])
        .args(["--format", "json"])
        .output()
        .expect("tokmon replays");
    let replayed: serde_json::Value =
        serde_json::from_slice(&replayed.stdout).expect("a JSON report of the replay");
    assert_eq!(replayed["findings"], report["findings"]);
    assert_eq!(replayed["finding_counts"], report["finding_counts"]);
    // The spawn-site table came over the wire: the example's sites, with their stalls and the
    // polls the probe's cells counted; the recording replays to the same table.
    let sites = report["sites"]["sites"]
        .as_array()
        .expect("the sites section");
    assert!(
        sites
            .iter()
            .any(|s| text(&s["site"]).contains("stall_server.rs")
                && s["stalls"].as_u64() >= Some(1)
                && s["polls"].as_u64() > Some(0)),
        "{sites:#?}"
    );
    assert_eq!(replayed["sites"], report["sites"]);
    if cfg!(target_os = "linux") {
        let asleep = stalls
            .iter()
            .any(|f| f["cpu"] == "off" && text(&f["syscall"]) == "clock_nanosleep");
        assert!(asleep, "the sleep, off the CPU: {stalls:#?}");
    }
}

#[test]
fn an_app_that_dies_while_attached_ends_the_report_in_plain_words() {
    let mut app = App::start();
    let pid = app.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let _blocking = client(&app.addr, &["sleep 200"], stop.clone());
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        app.child.kill().expect("kill");
        app.child.wait().expect("reaped");
    });
    let (report, stderr, ok) = attach(&pid.to_string(), "60s", &[]);
    killer.join().expect("killer");
    stop.store(true, Ordering::Relaxed);
    assert!(
        ok,
        "a headless attach exits 0 when the app goes away: {stderr}"
    );
    assert!(
        stderr.contains("the report covers what came before"),
        "{stderr}"
    );
    assert!(report["findings"].is_array(), "{report:#}");
}

#[test]
fn attaching_to_a_process_without_a_probe_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["attach", &std::process::id().to_string(), "--headless"])
        .output()
        .expect("tokmon runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("serves no tokmon probe"), "{stderr}");
}

#[test]
fn over_tcp_the_token_is_asked_for_and_a_wrong_one_refused() {
    let app = App::start_with(&[("TOKMON_PROBE_ADDR", "127.0.0.1:0")]);
    let probe = app
        .probe
        .strip_prefix("probe on ")
        .and_then(|rest| rest.strip_suffix(" (TCP)"))
        .unwrap_or_else(|| panic!("the probe serves TCP: {}", app.probe));
    let target = format!("tcp://{probe}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "0123456789abcdef").expect("a wrong token");
    let wrong = wrong.display().to_string();
    let (_, stderr, ok) = attach(&target, "2s", &["--token-file", &wrong]);
    assert!(
        !ok && stderr.contains("token"),
        "a wrong token is refused: {stderr}"
    );
    let (_, stderr, ok) = attach(&target, "2s", &[]);
    assert!(!ok && stderr.contains("--token-file"), "{stderr}");

    let stop = Arc::new(AtomicBool::new(false));
    let _blocking = client(&app.addr, &["sleep 300"], stop.clone());
    let token =
        tokmon_probe::serve::token_path(&tokmon_probe::wire::unix::default_dir(), app.pid());
    let token = token.display().to_string();
    let (report, stderr, ok) = attach(&target, "4s", &["--token-file", &token]);
    stop.store(true, Ordering::Relaxed);
    assert!(ok, "{stderr}");
    assert!(!stalls(&report).is_empty(), "{report:#}");
}

/// `tokmon attach --interval 1s`: the probe gives one reading a second, and the stalls are found
/// as at its own interval.
#[test]
fn attached_at_one_reading_a_second_a_stall_is_still_found() {
    let app = App::start();
    let stop = Arc::new(AtomicBool::new(false));
    let blocking = client(&app.addr, &["sleep 300", "echo between"], stop.clone());
    let (report, stderr, ok) = attach(&app.pid().to_string(), "6s", &["--interval", "1s"]);
    stop.store(true, Ordering::Relaxed);
    assert!(ok, "tokmon attach failed: {stderr}");
    assert!(
        blocking.load(Ordering::Relaxed) >= 2,
        "the blocking requests were served"
    );
    assert_eq!(
        report["interval_ms"], 1000,
        "the probe gave the interval asked for"
    );
    let stalls = stalls(&report);
    assert!(
        !stalls.is_empty()
            && stalls
                .iter()
                .all(|f| text(&f["spawned_at"]).contains("stall_server.rs")),
        "stalls in the example's tasks: {stalls:#?}"
    );
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert!(
            stalls
                .iter()
                .any(|f| text(&f["site"]).contains("stall_server.rs:")),
            "a blocking line in the example's file: {stalls:#?}"
        );
    }
}
