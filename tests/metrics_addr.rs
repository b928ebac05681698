//! `tokmon run --metrics-addr`: a shipped scenario's probe counters served as OpenMetrics while
//! it runs, its stalls under the spawn sites the report names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exposition, in the Prometheus text format; `None` once the run has ended.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer.split_once("\r\n\r\n")?.1.to_owned())
}

/// Each `tokmon_stalls_total` series: its site and count.
fn stalls(exposition: &str) -> Vec<(String, f64)> {
    exposition
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("tokmon_stalls_total{site=\"")?;
            let (site, value) = rest.split_once("\"} ")?;
            Some((site.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn a_scenarios_stalls_are_served_under_the_sites_its_report_names() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokmon"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "blocking-sleep", "--headless", "--duration", "8s"])
        .args(["--format", "json", "--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tokmon runs");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("tokmon says where it serves metrics")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("tokmon: metrics: serving OpenMetrics at http://") {
            let addr = rest.split('/').next().expect("an address");
            break addr.parse().expect("a socket address");
        }
    };
    // Keep reading its status lines so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let deadline = Instant::now() + Duration::from_secs(60);
    let served = loop {
        let exposition = scrape(addr).expect("the exporter answers while the run lasts");
        let stalled: Vec<_> = stalls(&exposition)
            .into_iter()
            .filter(|(_, n)| *n >= 1.0)
            .collect();
        if !stalled.is_empty() {
            assert!(
                exposition.contains("tokio_worker_busy_seconds_total{worker=\"1\"}"),
                "both workers: {exposition}"
            );
            break stalled;
        }
        assert!(Instant::now() < deadline, "no stall served: {exposition}");
        std::thread::sleep(Duration::from_millis(200));
    };

    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("the report");
    let status = child.wait().expect("tokmon ends");
    assert!(status.success(), "{status}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    let reported: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "stall")
        .filter_map(|f| f["spawned_at"].as_str())
        .collect();
    for (site, _) in &served {
        assert!(
            reported
                .iter()
                .any(|at| at.starts_with(&format!("{site}:"))),
            "{site} is a spawn site of a reported stall: {reported:?}"
        );
    }
    assert!(scrape(addr).is_none(), "the exporter stops with the run");
}
