//! `tokmon attach --interval 1s`: the example server (`examples/stall_server.rs`) in a child
//! process, attached asking for one reading a second; the probe gives it that, and its stalls
//! are found as at the probe's own interval.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The example app, built by `cargo test` with the tests.
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("the test's path");
    let dir = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join("stall_server");
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds it (or `cargo build --example stall_server`)",
        path.display()
    );
    path
}

/// The example app running, and the address it serves on; killed when dropped.
struct App {
    child: Child,
    addr: String,
}

impl App {
    fn start() -> App {
        let mut child = Command::new(example_binary())
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        // It says where it listens, then where its probe does, once that is bound.
        let mut addr = None;
        loop {
            let line = lines
                .next()
                .expect("the example prints where it listens")
                .expect("a line");
            if let Some(at) = line.strip_prefix("listening on ") {
                addr = Some(at.trim().to_string());
            } else if line.starts_with("probe ") {
                assert!(!line.contains("not serving"), "{line}");
                break;
            }
        }
        let addr = addr.expect("the example printed its address first");
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        App { child, addr }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the app sending `requests` in turn until stopped; counts the answers.
fn client(addr: &str, requests: &'static [&'static str], stop: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let answers = Arc::new(AtomicU64::new(0));
    let counted = answers.clone();
    let stream = TcpStream::connect(addr).expect("the example accepts");
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        for request in requests.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut answer = String::new();
            if writeln!(writer, "{request}").is_err() || reader.read_line(&mut answer).is_err() {
                return;
            }
            if !answer.is_empty() {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    answers
}

fn text(value: &serde_json::Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[test]
fn attached_at_one_reading_a_second_a_stall_is_still_found() {
    let app = App::start();
    let stop = Arc::new(AtomicBool::new(false));
    let blocking = client(&app.addr, &["sleep 300", "echo between"], stop.clone());
    let out = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["attach", &app.child.id().to_string(), "--interval", "1s"])
        .args([
            "--headless",
            "--duration",
            "6s",
            "--format",
            "json",
            "--quiet",
        ])
        .output()
        .expect("tokmon runs");
    stop.store(true, Ordering::Relaxed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tokmon attach failed: {stderr}");
    assert!(
        blocking.load(Ordering::Relaxed) >= 2,
        "the blocking requests were served"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a JSON report on standard output");
    assert_eq!(
        report["interval_ms"], 1000,
        "the probe gave the interval asked for"
    );
    let stalls: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .collect();
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
