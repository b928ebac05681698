//! `--console`: the tokmon binary serves console-subscriber, and the client tokio-console
//! itself uses (console-api's `InstrumentClient`) sees the workload's tasks. Without the flag,
//! nothing tracing-related is installed.
//!
//! Every wait is generous: the runs share a loaded 2-core machine with the rest of the suite.

#![cfg(feature = "console")]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

mod common;

use console_api::instrument::InstrumentRequest;
use console_api::instrument::instrument_client::InstrumentClient;

/// How long a test waits for the binary to start serving, and then for the tasks to show.
const PATIENCE: Duration = Duration::from_secs(60);
/// Where the hash workload spawns its tasks.
const HASHER_FILE: &str = "src/workload/hash.rs";

/// The child process, killed and reaped however the test ends.
struct Tokmon {
    child: Child,
    /// Its standard error, line by line (drained by a thread so the pipe never fills).
    stderr: Receiver<String>,
}

impl Tokmon {
    fn start(args: &[&str]) -> Tokmon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokmon"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tokmon starts");
        let (tx, stderr) = channel();
        let pipe = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Tokmon { child, stderr }
    }

    /// Waits for a line of standard error that `pick` accepts; panics with what was seen.
    fn wait_for_line<T>(&self, within: Duration, pick: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                    seen.push(line);
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no such line within {within:?}; standard error: {seen:#?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("tokmon exited; standard error: {seen:#?}")
                }
            }
        }
    }

    /// Names of the process's threads (Linux).
    #[cfg(target_os = "linux")]
    fn threads(&self) -> Vec<String> {
        let dir = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(dir)
            .expect("the process's threads")
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect()
    }
}

impl Drop for Tokmon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in `tokmon: tokio-console: serving at ADDR; ...`.
fn serving_at(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix("tokmon: tokio-console: serving at ")?;
    rest.split(';').next()?.parse().ok()
}

/// What the console told about the tasks it has seen.
#[derive(Debug, Default)]
struct Seen {
    updates: usize,
    tasks: usize,
    /// `file:line` of every task spawned from the workload's code, once each.
    workload_sites: Vec<String>,
}

async fn watch_tasks(addr: SocketAddr, deadline: Instant) -> Seen {
    // The server may still be coming up: try again until the deadline.
    let mut client = loop {
        match InstrumentClient::connect(format!("http://{addr}")).await {
            Ok(client) => break client,
            Err(error) if Instant::now() < deadline => {
                eprintln!("connect to {addr}: {error}; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => panic!("could not connect to the console at {addr}: {error}"),
        }
    };
    let mut updates = client
        .watch_updates(InstrumentRequest {})
        .await
        .expect("watch_updates")
        .into_inner();
    let mut seen = Seen::default();
    // The first update carries every task alive, later ones the new tasks (one a second). The
    // client may connect before the runtime starts: read on until the hasher's tasks showed,
    // and a few updates for the rest.
    let hasher = |seen: &Seen| seen.workload_sites.iter().any(|s| s.contains(HASHER_FILE));
    while !hasher(&seen) || seen.updates < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let update = match tokio::time::timeout(left, updates.message()).await {
            Ok(Ok(Some(update))) => update,
            Ok(Ok(None)) => panic!("the console closed the stream; saw {seen:?}"),
            Ok(Err(status)) => panic!("the console's stream failed: {status}; saw {seen:?}"),
            Err(_) => panic!("the workload's tasks did not show within {PATIENCE:?}; saw {seen:?}"),
        };
        seen.updates += 1;
        for task in update.task_update.iter().flat_map(|u| &u.new_tasks) {
            seen.tasks += 1;
            if let Some(location) = &task.location
                && let Some(file) = &location.file
                && file.contains("src/workload/")
            {
                let site = format!("{file}:{}", location.line.unwrap_or(0));
                if !seen.workload_sites.contains(&site) {
                    seen.workload_sites.push(site);
                }
            }
        }
    }
    seen
}

#[test]
fn tokio_console_sees_the_workloads_tasks() {
    let tokmon = Tokmon::start(&[
        "run",
        "hash-spawn-blocking",
        "--headless",
        "--duration",
        "120s",
        "--console",
        "--console-addr",
        "127.0.0.1:0",
    ]);
    let addr = tokmon.wait_for_line(PATIENCE, serving_at);
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_ne!(
        addr.port(),
        0,
        "the status names the port the system picked"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the client's runtime");
    let seen = runtime.block_on(watch_tasks(addr, Instant::now() + PATIENCE));
    println!(
        "console at {addr}: {} updates, {} tasks, spawned from the workload at {:?}",
        seen.updates, seen.tasks, seen.workload_sites
    );
    assert!(
        seen.workload_sites
            .iter()
            .any(|site| site.contains(HASHER_FILE)),
        "the hasher's tasks: {seen:?}"
    );
    #[cfg(target_os = "linux")]
    {
        let threads = tokmon.threads();
        println!("threads: {threads:?}");
        assert!(threads.iter().any(|t| t == "tokmon-console"), "{threads:?}");
    }
}

#[test]
fn a_console_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to take");
    let addr = taken.local_addr().expect("its address");
    let output = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["run", "--headless", "--duration", "30s", "--console"])
        .args(["--console-addr", &addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("tokmon runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{}", stderr.trim());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("--console-addr {addr}: cannot listen there")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_bad_console_address_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .args(["run", "--headless", "--console", "--console-addr", "6669"])
        .stdin(Stdio::null())
        .output()
        .expect("tokmon runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--console-addr"), "{stderr}");
    assert!(stderr.contains("e.g. 127.0.0.1:6669"), "{stderr}");
}

/// Without `--console` the binary runs no console thread and says nothing about it, and a run
/// in this process installs no tracing subscriber.
#[test]
fn without_the_flag_nothing_is_installed() {
    let tokmon = Tokmon::start(&["run", "--headless", "--duration", "60s"]);
    // The first status line: the run is going.
    tokmon.wait_for_line(PATIENCE, |line| {
        assert!(!line.contains("tokio-console"), "{line}");
        line.contains("busy").then_some(())
    });
    #[cfg(target_os = "linux")]
    {
        let threads = tokmon.threads();
        assert!(
            !threads.iter().any(|t| t == "tokmon-console"),
            "{threads:?}"
        );
    }
    drop(tokmon);

    let scenario = tokmon::scenario::catalog::resolve(None, std::path::Path::new("scenarios"))
        .expect("the default scenario");
    let config = tokmon::run::RunConfig::new(scenario, Some(Duration::from_secs(2)));
    let stop = AtomicBool::new(false);
    tokmon::runner::run_headless(&config, &stop, |_, _| {}).expect("run completes");
    assert!(!tokmon::console::subscriber_installed());
}

/// The dashboard's header says where the console is (160 columns: the wide header).
#[cfg(target_os = "linux")]
#[test]
fn the_dashboard_header_says_where_the_console_is() {
    let mut run = common::PtyRun::start(
        &[
            "run",
            "hash-spawn-blocking",
            "--duration",
            "120s",
            "--console",
            "--console-addr",
            "127.0.0.1:0",
        ],
        48,
        160,
    );
    let deadline = Instant::now() + PATIENCE;
    let header = loop {
        let contents = run.contents();
        if let Some(line) = contents
            .lines()
            .find(|l| l.contains("tokio-console at 127.0.0.1:"))
        {
            break Ok(line.trim().to_string());
        }
        if Instant::now() >= deadline {
            break Err(contents);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = run.child.kill();
    let _ = run.child.wait();
    match header {
        Ok(line) => println!("header: {line}"),
        Err(screen) => panic!("no console address in the header; the screen:\n{screen}"),
    }
}
