//! The probe serving its own readings: what a client attached to an app's socket receives, a
//! stall it sees while the app keeps running, and the socket gone with the runtime.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokmon_probe::protocol::{self, Info, ModuleMap, TAG_INFO, TAG_MODULES, TAG_READING};
use tokmon_probe::sample::{PollRecord, Reading};
use tokmon_probe::wire::{Client, ClientOptions, Endpoint, Incoming, unix};
use tokmon_probe::{DEFAULT_STALL_THRESHOLD, Probe, ProbeBuilder};

/// Wide enough for a loaded two-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// How long the stalling task blocks its worker: four stall thresholds.
const STALL: Duration = Duration::from_millis(400);

fn runtime(probe: &Arc<Probe>) -> Runtime {
    probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()
        .expect("runtime")
}

fn serving_in(dir: &Path) -> ProbeBuilder {
    Probe::builder()
        .socket_dir(dir)
        .interval(Duration::from_millis(50))
}

fn socket_of(probe: &Probe) -> PathBuf {
    match probe.wait_for_endpoint(PATIENCE) {
        Some(Endpoint::Unix(path)) => path,
        other => panic!("expected a Unix socket, got {other:?}"),
    }
}

fn connect(path: &Path) -> Client {
    let client = Client::connect_unix(path, &ClientOptions::default()).expect("client attaches");
    client
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    client
}

fn next_message(client: &mut Client) -> (u8, Vec<u8>) {
    loop {
        match client.recv().expect("a message in time") {
            Some(Incoming::Message { tag, bytes }) => return (tag, bytes),
            Some(Incoming::Dropped { .. }) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Waits (generously) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "still not {what} after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A task that blocks its worker in a poll, spawned here so that its spawn site is this file.
fn stall_a_worker(runtime: &Runtime) {
    drop(runtime.spawn(async { std::thread::sleep(STALL) }));
}

/// The stalled poll in a reading, if it shows one: running past the stall threshold.
fn stalled(reading: &Reading) -> Option<&PollRecord> {
    let threshold = u64::try_from(DEFAULT_STALL_THRESHOLD.as_nanos()).expect("fits");
    reading.probe.as_ref()?.in_flight.iter().find(|poll| {
        poll.running
            && poll.duration_ns >= threshold
            && (!tokmon_probe::stack::supported() || poll.captured.is_some())
    })
}

#[test]
fn an_attached_client_gets_info_modules_then_readings_that_show_a_stall() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    let probe = serving_in(&dir).build();
    let runtime = runtime(&probe);
    let path = socket_of(&probe);
    assert_eq!(path, unix::socket_path(&dir, std::process::id()));

    let mut client = connect(&path);
    let (tag, bytes) = next_message(&mut client);
    assert_eq!(tag, TAG_INFO, "the info comes first");
    let info: Info = protocol::decode(&bytes).expect("info decodes");
    assert_eq!(info.workers, 2);
    assert_eq!(info.interval_ns, 50_000_000);
    assert!(info.stacks && info.hooks_fired, "{info:?}");
    let (tag, bytes) = next_message(&mut client);
    assert_eq!(tag, TAG_MODULES, "the module map comes second");
    let modules: ModuleMap = protocol::decode(&bytes).expect("module map decodes");
    if tokmon_probe::stack::supported() {
        assert!(
            modules.modules.iter().any(|m| m.file.is_some()),
            "the executable's image is in the map: {} modules",
            modules.modules.len()
        );
    }

    assert_eq!(
        runtime.metrics().spawned_tasks_count(),
        1,
        "serving puts nothing on the app's runtime but the monitor's lag canary"
    );

    // A ticking task on the other worker shows that the app goes on during the stall.
    let ticks = Arc::new(AtomicU64::new(0));
    drop(runtime.spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }));
    let start = Instant::now();
    let mut readings = 0;
    let mut next_stall = Instant::now();
    let (seen, ticks_before) = loop {
        assert!(
            start.elapsed() < PATIENCE,
            "no stall seen in {readings} readings"
        );
        if Instant::now() >= next_stall {
            stall_a_worker(&runtime);
            next_stall = Instant::now() + STALL * 2;
        }
        let (tag, bytes) = next_message(&mut client);
        if tag == TAG_MODULES {
            continue; // the capture loaded a library since: a fresh map
        }
        assert_eq!(tag, TAG_READING);
        let reading: Reading = protocol::decode(&bytes).expect("reading decodes");
        readings += 1;
        if let Some(poll) = stalled(&reading) {
            break (poll.clone(), ticks.load(Ordering::Relaxed));
        }
    };
    println!(
        "after {readings} readings: {:?} stalled {} ms on worker {:?}, {} addresses captured",
        seen.spawned_at,
        seen.duration_ns / 1_000_000,
        seen.worker,
        seen.captured.as_ref().map_or(0, |c| c.addresses.len())
    );
    let site = seen.spawned_at.as_deref().unwrap_or_default();
    assert!(site.contains("serve.rs"), "spawned at {site:?}");
    if let Some(captured) = &seen.captured {
        assert!(captured.addresses.len() >= 3, "{captured:?}");
    }
    // The stall ends, the other worker ticks on, and readings keep coming.
    eventually("ticking after the stall", || {
        ticks.load(Ordering::Relaxed) > ticks_before + 5
    });
    for _ in 0..3 {
        next_message(&mut client);
    }
    assert_eq!(probe.serve_errors(), 0);

    let dropping = Instant::now();
    drop(runtime);
    let dropped = dropping.elapsed();
    eventually("without a socket file", || !path.exists());
    println!(
        "runtime dropped in {dropped:?}, socket gone after {:?}",
        dropping.elapsed()
    );
    assert_eq!(probe.endpoint(), None);
    assert_eq!(probe.wait_for_endpoint(Duration::ZERO), None);
    // The connection ends with the server: the client reads to its close.
    let closed = (0..10_000).any(|_| !matches!(client.recv(), Ok(Some(_))));
    assert!(closed, "the connection closed with the server");
}

#[test]
fn a_probe_with_serving_off_opens_no_socket() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    let probe = serving_in(&dir).serve(false).build();
    let runtime = runtime(&probe);
    runtime.block_on(async { tokio::spawn(async {}).await.expect("task") });
    assert!(probe.hooks_fired());
    assert_eq!(probe.wait_for_endpoint(PATIENCE), None);
    assert!(!dir.exists());
}

#[test]
fn a_server_that_cannot_start_leaves_the_app_running_unmonitored() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("open");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("mode");
    let probe = serving_in(&dir).build();
    let runtime = runtime(&probe);
    assert_eq!(
        probe.wait_for_endpoint(PATIENCE),
        None,
        "a socket directory others may enter is refused"
    );
    let answer = runtime.block_on(async { tokio::spawn(async { 42 }).await.expect("task") });
    assert_eq!(answer, 42);
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0);
}

#[test]
fn over_tcp_the_token_is_in_the_socket_directory() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let probe = serving_in(&dir).tcp(loopback).build();
    let runtime = runtime(&probe);
    let addr = match probe.wait_for_endpoint(PATIENCE) {
        Some(Endpoint::Tcp(addr)) => addr,
        other => panic!("expected TCP, got {other:?}"),
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let token_file = tokmon_probe::serve::token_path(&dir, std::process::id());
    let mode = std::fs::metadata(&token_file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).expect("token");
    let mut client = Client::connect_tcp(addr, token.trim(), &ClientOptions::default())
        .expect("client attaches with the token");
    client
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    assert_eq!(next_message(&mut client).0, TAG_INFO);
    assert_eq!(next_message(&mut client).0, TAG_MODULES);
    assert_eq!(next_message(&mut client).0, TAG_READING);
    drop(runtime);
    eventually("without a token file", || !token_file.exists());
}
