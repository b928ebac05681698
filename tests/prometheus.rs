//! The probe's OpenMetrics exporter scraped by a real Prometheus: a runtime in this process
//! carries the probe with its exporter on, one of its tasks holds a worker on a latch, and a
//! Prometheus on a free loopback port (scraping every second, with the alert rules of
//! `assets/prometheus/`) must show the stuck worker, the stall under the task's spawn site and
//! the alert, and answer every panel of `assets/grafana/` with data. `promtool` checks the
//! exposition and the rules.
//!
//! Needs `prometheus` and `promtool` on the PATH (Debian's `prometheus` package): without them
//! the test says it was skipped and passes, unless `TOKMON_REQUIRE_PROMETHEUS=1` (which
//! `.ci/run` sets after installing the package) makes them required.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;
use tokmon::probe::Probe;

const REQUIRE: &str = "TOKMON_REQUIRE_PROMETHEUS";

/// Generous for a loaded two-core machine: Prometheus starts in about a second when idle.
const PATIENCE: Duration = Duration::from_secs(90);

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The two binaries, or `None` when the test is to be skipped (after saying so).
fn tools() -> Option<(PathBuf, PathBuf)> {
    match (on_path("prometheus"), on_path("promtool")) {
        (Some(prometheus), Some(promtool)) => Some((prometheus, promtool)),
        _ if std::env::var(REQUIRE).is_ok_and(|v| v == "1") => panic!(
            "{REQUIRE}=1 but prometheus or promtool is not on the PATH (apt-get install prometheus)"
        ),
        _ => {
            // Straight to standard error: the test harness would hide an `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "tests/prometheus.rs: skipped: prometheus and promtool are not on the PATH \
                 (Debian's `prometheus` package; .ci/run installs it and sets {REQUIRE}=1)"
            );
            None
        }
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Prometheus running, killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(binary: &Path, dir: &Path, target: SocketAddr) -> Prometheus {
        let rules = repo("assets/prometheus/tokmon-alerts.yml");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n",
                rules.display()
            ),
        )
        .expect("writes the config");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, addr };
        wait_for("Prometheus to be ready", || {
            http_get(prometheus.addr, "/-/ready").is_some_and(|(status, _)| status == 200)
        });
        prometheus
    }

    fn api(&self, path_and_query: &str) -> Value {
        let (status, body) = http_get(self.addr, path_and_query)
            .unwrap_or_else(|| panic!("Prometheus answers {path_and_query}"));
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{path_and_query}: {body}");
        assert_eq!(value["status"], "success", "{path_and_query}: {body}");
        value["data"].clone()
    }

    /// An instant query's samples: each series' labels and value.
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)));
        data["result"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .map(|s| {
                        let value = s["value"][1].as_str().unwrap_or("NaN");
                        (s["metric"].clone(), value.parse().unwrap_or(f64::NAN))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The most any series of `promql` reads now, if any series does.
    fn max(&self, promql: &str) -> Option<f64> {
        self.query(promql)
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| !v.is_nan())
            .reduce(f64::max)
    }
}

/// Polls `done` every 200 ms until it holds, or fails the test after [`PATIENCE`].
fn wait_for(what: &str, done: impl FnMut() -> bool) {
    assert!(waited(done), "gave up waiting for {what}");
}

/// Polls `done` every 200 ms until it holds (true) or [`PATIENCE`] has passed (false).
fn waited(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

/// Spawns `task` on `runtime`, and names the spawn site as the exporter labels it: the
/// caller's `file:line` (tokio's spawn takes its caller's location through this function's).
#[track_caller]
fn spawn_here<F>(runtime: &Runtime, task: F) -> (String, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let at = std::panic::Location::caller();
    (format!("{}:{}", at.file(), at.line()), runtime.spawn(task))
}

/// A plain HTTP/1.0 GET: the status and the body, `None` if nothing answered.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `promtool ARGS` with `input` on its standard input; fails the test unless it passes.
fn promtool(binary: &Path, args: &[&str], input: &str) {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .expect("promtool reads its input");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The panel expressions of the Grafana dashboard, its variables given the values a user
/// picking every instance would give them.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("assets/grafana/tokmon-dashboard.json"))
        .expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expression");
            let expr = expr
                .replace("$__rate_interval", "30s")
                .replace("$instance", ".+");
            queries.push((panel["title"].as_str().unwrap_or("?").to_owned(), expr));
        }
    }
    assert!(queries.len() >= 8, "the dashboard's panels: {queries:?}");
    queries
}

#[test]
fn prometheus_sees_a_stuck_worker_its_stall_site_and_the_alert() {
    let Some((prometheus_bin, promtool_bin)) = tools() else {
        return;
    };
    promtool(
        &promtool_bin,
        &[
            "check",
            "rules",
            repo("assets/prometheus/tokmon-alerts.yml")
                .to_str()
                .expect("UTF-8"),
        ],
        "",
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let probe = Probe::builder()
        .metrics_addr("127.0.0.1:0".parse().expect("an address"))
        .socket_dir(dir.path().join("sock"))
        .stacks(false)
        .build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()
        .expect("a runtime");
    // Some ordinary work beside the stall, so rates and the histogram have polls to show.
    runtime.spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    probe
        .wait_for_endpoint(Duration::from_secs(30))
        .expect("the probe serves");
    let metrics = probe.metrics_addr().expect("the exporter listens");

    let prometheus = Prometheus::start(&prometheus_bin, dir.path(), metrics);
    wait_for("the probe's target to be up", || {
        prometheus.max("up{job=\"app\"}") == Some(1.0)
    });

    // The stall: a task holds its worker until the latch opens.
    let (open, latch) = mpsc::channel::<()>();
    let (site, stuck) = spawn_here(&runtime, async move { latch.recv() });
    wait_for("tokmon_poll_running_seconds above one second", || {
        prometheus
            .max("max(tokmon_poll_running_seconds)")
            .is_some_and(|s| s > 1.0)
    });
    wait_for("the alert TokioWorkerStuck", || {
        let alerts = prometheus.api("/api/v1/alerts");
        alerts["alerts"].as_array().is_some_and(|alerts| {
            alerts.iter().any(|a| {
                a["labels"]["alertname"] == "TokioWorkerStuck"
                    && (a["state"] == "pending" || a["state"] == "firing")
            })
        })
    });
    // Still stuck: the stall is counted under the task's spawn site, its time so far with it.
    let stalls = format!("tokmon_stalls_total{{site=\"{site}\"}}");
    let stalled = format!("tokmon_stalled_seconds_total{{site=\"{site}\"}}");
    wait_for("the stall counted under its site", || {
        prometheus.max(&stalls) == Some(1.0) && prometheus.max(&stalled).is_some_and(|s| s > 1.0)
    });
    open.send(()).expect("the stuck task waits");
    runtime
        .block_on(stuck)
        .expect("the stuck task ends")
        .expect("its latch opened");
    wait_for("the worker to be free again", || {
        prometheus
            .max("max(tokmon_poll_running_seconds)")
            .is_some_and(|s| s < 0.5)
    });
    assert_eq!(
        prometheus.max(&stalls),
        Some(1.0),
        "one stall, counted once"
    );

    for (title, expr) in dashboard_queries() {
        let answer = prometheus.query(&expr);
        assert!(!answer.is_empty(), "panel {title:?}: no data for {expr}");
    }

    let (status, exposition) = http_get(metrics, "/metrics").expect("the exporter answers");
    assert_eq!(status, 200);
    promtool(&promtool_bin, &["check", "metrics"], &exposition);

    let scrape = prometheus.query("max_over_time(scrape_duration_seconds{job=\"app\"}[5m])");
    let average = prometheus.query("avg_over_time(scrape_duration_seconds{job=\"app\"}[5m])");
    let _ = writeln!(
        std::io::stderr(),
        "scrape_duration_seconds of the probe's exporter: max {:?}, mean {:?}",
        scrape.first().map(|s| s.1),
        average.first().map(|s| s.1)
    );
    drop(prometheus);
    runtime.shutdown_timeout(Duration::from_secs(5));
}
