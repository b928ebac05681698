//! The spawn-site table: what a reading says per site of a real runtime's spawns and polls, and
//! a table of 5,000 sites through the wire.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokmon_probe::monitor::{Monitor, MonitorOptions};
use tokmon_probe::protocol::{self, TAG_READING};
use tokmon_probe::sample::{ProbeSample, Reading, SiteCounters};
use tokmon_probe::wire::{Client, ClientOptions, Endpoint, Incoming, Server, ServerConfig};
use tokmon_probe::{LabelGuard, Probe};

const OPTIONS: MonitorOptions = MonitorOptions {
    interval: Duration::from_millis(10),
    stacks: false,
};

fn site<'a>(reading: &'a Reading, label: &str) -> &'a SiteCounters {
    let probe = reading.probe.as_ref().expect("a probe part");
    probe
        .sites
        .iter()
        .find(|s| s.label.as_deref() == Some(label))
        .unwrap_or_else(|| panic!("no site labelled {label}: {:#?}", probe.sites))
}

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn each_site_counts_its_spawns_polls_and_busy_time() {
    let probe = Probe::builder().serve(false).build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()
        .expect("runtime");
    let monitor =
        Monitor::start(probe.clone(), runtime.handle().clone(), OPTIONS).expect("monitor starts");
    let (light, busy, hog, spawner): (Arc<str>, Arc<str>, Arc<str>, Arc<str>) = (
        "light".into(),
        "busy".into(),
        "hog".into(),
        "spawner".into(),
    );

    // From the main thread, which has no slot: the fallback counts these spawns.
    let mut handles = Vec::new();
    {
        let _label = LabelGuard::set(&light);
        for _ in 0..50 {
            handles.push(runtime.spawn(async { tokio::task::yield_now().await }));
        }
    }
    let yields = {
        let _label = LabelGuard::set(&busy);
        runtime.spawn(async {
            for _ in 0..100_000 {
                tokio::task::yield_now().await;
            }
        })
    };
    let hogging = {
        let _label = LabelGuard::set(&hog);
        runtime.spawn(async { spin(Duration::from_millis(300)) })
    };
    // From a worker: its own slot counts them.
    let inner = {
        let _label = LabelGuard::set(&spawner);
        runtime.spawn(async move {
            let _label = LabelGuard::set(&light);
            for _ in 0..20 {
                drop(tokio::spawn(async {}));
            }
        })
    };
    runtime.block_on(async {
        for h in handles {
            h.await.expect("light task");
        }
        yields.await.expect("busy task");
        hogging.await.expect("hog task");
        inner.await.expect("spawner task");
        // A few readings after the last poll, so the last one holds every count.
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
    let mut last = None;
    monitor.finish(|r| last = Some(r)).expect("monitor stops");
    let reading = last.expect("a last reading");

    let light_site = site(&reading, "light");
    let (busy_site, hog_site) = (site(&reading, "busy"), site(&reading, "hog"));
    assert!(
        light_site.site.starts_with("probe/tests/sites.rs:"),
        "{light_site:?}"
    );
    // Spawns are exact, wherever they came from: the 50 from the main thread (the site's) and
    // the 20 from the worker are two sites, both labelled "light".
    let light_spawns: Vec<u64> = reading
        .probe
        .as_ref()
        .expect("probe")
        .sites
        .iter()
        .filter(|s| s.label.as_deref() == Some("light"))
        .map(|s| s.spawns)
        .collect();
    let mut sorted = light_spawns.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![20, 50], "{light_spawns:?}");
    assert_eq!((busy_site.spawns, hog_site.spawns), (1, 1));
    // Polls are estimated from the one-in-N sample: about 100,000, within a wide margin.
    assert!(
        (20_000..=500_000).contains(&busy_site.polls),
        "busy polls {}",
        busy_site.polls
    );
    assert_eq!(busy_site.polls, busy_site.buckets.iter().sum::<u64>());
    // The hog's one long poll is counted exactly, and its time from the coarse clock.
    assert!(
        hog_site.busy_ns >= 200_000_000,
        "hog busy {}",
        hog_site.busy_ns
    );
    assert!(hog_site.polls >= 1);
    assert!(
        hog_site.buckets.len() > 15,
        "a bucket of 100 ms or more: {:?}",
        hog_site.buckets
    );
    assert!(hog_site.busy_ns > light_site.busy_ns);
    drop(runtime);
}

fn socket_of(server: &Server) -> PathBuf {
    match server.endpoint() {
        Endpoint::Unix(path) => path.clone(),
        Endpoint::Tcp(addr) => panic!("expected a Unix socket, got {addr}"),
    }
}

#[test]
fn a_reading_with_five_thousand_sites_crosses_the_wire_in_pieces() {
    let sites: Vec<SiteCounters> = (0..5000u64)
        .map(|i| SiteCounters {
            site: format!(
                "src/handlers/orders/module_{:03}.rs:{}:{}",
                i % 400,
                10 + i % 900,
                5 + i % 40
            ),
            label: (i % 3 == 0).then(|| format!("handler-{}", i % 17)),
            spawns: 1_000 + i,
            polls: 25_600 * (i % 7),
            busy_ns: 1_234_567 * i,
            buckets: vec![256 * (i % 5), 0, 3, i % 2],
        })
        .collect();
    let reading = Reading {
        seq: 12,
        elapsed_ns: 1_200_000_000,
        workers: Vec::new(),
        runtime: Default::default(),
        probe: Some(ProbeSample {
            sites,
            sites_other: 904,
            ..ProbeSample::default()
        }),
        dropped_before: 0,
    };
    let bytes = protocol::encode(&reading).expect("encodes");
    println!("a reading with 5,000 sites: {} bytes", bytes.len());
    assert!(
        bytes.len() > tokmon_probe::wire::MAX_FRAME_TO_CLIENT,
        "needs pieces"
    );

    let base = tempfile::tempdir().expect("temp dir");
    let server =
        Server::start(ServerConfig::unix().socket_dir(base.path().join("tokmon"))).expect("starts");
    let mut client =
        Client::connect_unix(socket_of(&server), &ClientOptions::default()).expect("attaches");
    let start = Instant::now();
    while !server.has_clients() {
        assert!(start.elapsed() < Duration::from_secs(30), "never attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.broadcast(TAG_READING, &bytes).expect("fits a queue");
    match client.recv().expect("a message") {
        Some(Incoming::Message { tag, bytes }) => {
            assert_eq!(tag, TAG_READING);
            let back: Reading = protocol::decode(&bytes).expect("decodes");
            assert_eq!(back, reading);
        }
        other => panic!("expected the reading, got {other:?}"),
    }
}
