//! The OpenMetrics exporter of a serving probe, scraped over HTTP as Prometheus would: a task
//! held on a latch shows as a running poll on its worker while it is stuck, then as one stall
//! (and one long poll) under its spawn site, with its whole time.

#![cfg(all(feature = "openmetrics", target_os = "linux"))]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;
use tokmon_probe::Probe;

/// The exposition, in the Prometheus text format.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("the exporter accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample named exactly `series` (name and labels), if present.
fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (name, v) = line.rsplit_once(' ')?;
        (name == series).then(|| v.parse().ok()).flatten()
    })
}

/// Scrapes until `done` holds of the exposition; fails after a wide margin.
fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exposition = scrape(addr);
        if done(&exposition) {
            return exposition;
        }
        assert!(Instant::now() < deadline, "no {what} in\n{exposition}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn spawn_here<F>(runtime: &Runtime, task: F) -> (String, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let at = std::panic::Location::caller();
    (format!("{}:{}", at.file(), at.line()), runtime.spawn(task))
}

#[test]
fn a_held_task_is_a_running_poll_then_one_stall_under_its_site() {
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
    probe
        .wait_for_endpoint(Duration::from_secs(30))
        .expect("the probe serves");
    let addr = probe.metrics_addr().expect("the exporter listens");
    let idle = scrape(addr);
    assert!(
        idle.contains("# TYPE tokmon_poll_running_seconds gauge"),
        "{idle}"
    );

    let (open, latch) = mpsc::channel::<()>();
    let (site, held) = spawn_here(&runtime, async move { latch.recv() });
    let running = |e: &str| {
        (0..2).any(|w| {
            value(e, &format!("tokmon_poll_running_seconds{{worker=\"{w}\"}}"))
                .is_some_and(|s| s >= 0.3)
        })
    };
    let stuck = scrape_until(addr, "running poll of 0.3 s", running);
    // Counted while it still runs, its time so far with it.
    let stalls = format!("tokmon_stalls_total{{site=\"{site}\"}}");
    let stalled = format!("tokmon_stalled_seconds_total{{site=\"{site}\"}}");
    assert_eq!(value(&stuck, &stalls), Some(1.0), "{stuck}");
    open.send(()).expect("the held task waits");
    runtime
        .block_on(held)
        .expect("the held task ends")
        .expect("its latch opened");
    let after = scrape_until(addr, "the finished stall", |e| {
        value(e, &format!("tokmon_long_polls_total{{site=\"{site}\"}}")) == Some(1.0)
    });
    assert_eq!(value(&after, &stalls), Some(1.0), "counted once: {after}");
    assert!(
        value(&after, &stalled).is_some_and(|s| s >= 0.3),
        "its whole time: {after}"
    );
    assert!(!running(&after), "the worker is free: {after}");
    let busy: f64 = (0..2)
        .filter_map(|w| {
            value(
                &after,
                &format!("tokio_worker_busy_seconds_total{{worker=\"{w}\"}}"),
            )
        })
        .sum();
    assert!(busy >= 0.3, "the stuck poll's time is busy time: {after}");
    runtime.shutdown_timeout(Duration::from_secs(5));
}
