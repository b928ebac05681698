//! A real Tokio server no one here wrote: mini-redis (the tokio project's Redis example, as
//! published, unchanged) on a runtime with `tokmon-probe`, driven by real Redis clients and
//! watched by `tokmon attach` (stopped with SIGINT once the test is done). While it is healthy no stall is put on its code; then a task of
//! this test holds the runtime's only worker on a latch, released only once the probe has seen
//! the stall: tokmon names this file's line, and a request that was in flight waited it out.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::runtime::{Builder, Runtime};
use tokmon_probe::Probe;
use tokmon_probe::wire::Endpoint;

/// The server on its own runtime, one worker so that holding it holds every request.
struct Server {
    runtime: Runtime,
    probe: Arc<Probe>,
    addr: std::net::SocketAddr,
    socket: std::path::PathBuf,
}

fn start_server(socket_dir: &Path) -> Server {
    let probe = Probe::builder().serve(true).socket_dir(socket_dir).build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(1).enable_all())
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("a port on loopback");
    let addr = listener.local_addr().expect("its address");
    runtime.spawn(mini_redis::server::run(
        listener,
        std::future::pending::<()>(),
    ));
    let socket = match probe.wait_for_endpoint(Duration::from_secs(20)) {
        Some(Endpoint::Unix(path)) => path,
        other => panic!("the probe serves on a Unix socket, not {other:?}"),
    };
    Server {
        runtime,
        probe,
        addr,
        socket,
    }
}

/// Real Redis traffic from a thread and a runtime of its own: SET then GET, again and again,
/// until stopped. Counts the answers.
fn traffic(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let answers = Arc::new(AtomicU64::new(0));
    let counted = answers.clone();
    std::thread::spawn(move || {
        let client_runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the client's runtime");
        client_runtime.block_on(async move {
            let mut client = mini_redis::client::connect(addr)
                .await
                .expect("mini-redis accepts");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let value = format!("value {n}");
                client
                    .set("key", value.clone().into())
                    .await
                    .expect("SET answered");
                let got = client.get("key").await.expect("GET answered");
                assert_eq!(got.as_deref(), Some(value.as_bytes()));
                counted.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    });
    answers
}

/// One GET on a fresh connection, from a thread of its own: when it started (sent once the
/// thread is running) and how long it took.
fn request_in_flight(addr: std::net::SocketAddr) -> (Instant, std::thread::JoinHandle<Duration>) {
    let (started_tx, started_rx) = mpsc::channel();
    let request = std::thread::spawn(move || {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let started = Instant::now();
        let _ = started_tx.send(started);
        runtime.block_on(async move {
            let mut client = mini_redis::client::connect(addr)
                .await
                .expect("mini-redis accepts");
            client.get("key").await.expect("GET answered");
        });
        started.elapsed()
    });
    let started = started_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the request's thread runs");
    (started, request)
}

fn attach(socket: &Path, duration: &str, recording: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .arg("attach")
        .arg(socket)
        .args(["--headless", "--duration", duration, "--format", "json"])
        .args(["--quiet", "--record"])
        .arg(recording)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tokmon runs")
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long the probe has counted polls stalled at spawn sites in this file, the running one's
/// time so far included.
fn stalled_here(probe: &Probe) -> Duration {
    let ns = probe
        .metrics_snapshot()
        .sites
        .iter()
        .filter(|(site, _)| site.contains("real_server.rs"))
        .map(|(_, totals)| totals.stalled_ns)
        .sum();
    Duration::from_nanos(ns)
}

fn text(value: &serde_json::Value) -> &str {
    value.as_str().unwrap_or_default()
}

#[test]
fn a_third_party_server_is_watched_and_a_stall_beside_it_is_named_at_this_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = start_server(&dir.path().join("probe"));
    let recording = dir.path().join("attach.rec");
    // Long enough for a loaded machine; interrupted (as Ctrl-C would) once the test is done.
    let attached = attach(&server.socket, "600s", &recording);
    wait_until(
        "tokmon attached and recording",
        Duration::from_secs(30),
        || std::fs::metadata(&recording).is_ok_and(|m| m.len() > 0),
    );

    // Healthy: real clients, the server's own tasks only.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = traffic(server.addr, stop.clone());
    std::thread::sleep(Duration::from_secs(3));
    let healthy_answers = answers.load(Ordering::Relaxed);

    // The mistake, beside the server: a task of this test blocks the only worker.
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    server.runtime.spawn(async move {
        let _ = held_tx.send(());
        let _ = release_rx.recv(); // the blocking line: a std channel on an async worker
    });
    held_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the holding task runs");
    let (sent, in_flight) = request_in_flight(server.addr);
    // Seen, and its stack caught: the probe's monitor captures it when the poll crosses the
    // stall threshold and counts the stall's time on only after that.
    let seen = server.probe.stall_threshold() + Duration::from_millis(300);
    wait_until("the probe saw the stall", Duration::from_secs(30), || {
        stalled_here(&server.probe) >= seen
    });
    // The request has waited this long already, and cannot be answered before the release.
    let held = sent.elapsed();
    release_tx.send(()).expect("the task waits");
    let waited = in_flight.join().expect("the request finished");

    // Healthy again for a while, then the attachment is stopped and reports.
    std::thread::sleep(Duration::from_secs(2));
    let pid = rustix::process::Pid::from_child(&attached);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT");
    let out = attached.wait_with_output().expect("tokmon attach ends");
    stop.store(true, Ordering::Relaxed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tokmon attach failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    // For a person who wants to read it (the note quotes one).
    if let Some(path) = std::env::var_os("TOKMON_REAL_SERVER_REPORT") {
        std::fs::write(&path, &out.stdout).expect("the report is written");
    }

    assert!(healthy_answers > 0, "mini-redis answered while healthy");
    assert!(
        answers.load(Ordering::Relaxed) > healthy_answers,
        "and again after the stall"
    );
    assert!(
        waited >= held,
        "a request in flight during the stall waited it out: {waited:?} < {held:?}"
    );
    let stalls: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .collect();
    assert!(
        !stalls
            .iter()
            .any(|f| text(&f["spawned_at"]).contains("mini-redis")),
        "no stall is put on mini-redis's code: {stalls:#?}"
    );
    let ours: Vec<_> = stalls
        .iter()
        .filter(|f| text(&f["spawned_at"]).contains("tests/real_server.rs"))
        .collect();
    assert!(!ours.is_empty(), "the held worker is a stall: {stalls:#?}");
    for f in &ours {
        eprintln!(
            "{} | site {} | {}",
            text(&f["summary"]),
            text(&f["site"]),
            text(&f["hint"])
        );
    }
    eprintln!("in flight {waited:?}, held {held:?}, {healthy_answers} answers while healthy");
    // The server's own spawn sites, in its own source files, crate and version shown.
    let sites: Vec<&str> = report["sites"]["sites"]
        .as_array()
        .expect("the report's sites")
        .iter()
        .map(|s| text(&s["site"]))
        .collect();
    eprintln!("sites: {sites:?}");
    assert!(
        sites
            .iter()
            .any(|s| s.starts_with("mini-redis-0.4.1/src/server.rs:")),
        "mini-redis's connection tasks, at its server.rs: {sites:?}"
    );
    assert!(
        sites.iter().any(|s| s.starts_with("tests/real_server.rs:")),
        "the test's own task: {sites:?}"
    );
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert!(
            ours.iter()
                .any(|f| text(&f["site"]).starts_with("tests/real_server.rs:")),
            "its blocking line is in this file: {ours:#?}"
        );
    }
}
