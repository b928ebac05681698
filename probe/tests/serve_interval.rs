//! A client that asks for a longer interval than the probe's: it gets about one reading per its
//! interval, with every long poll of the period exactly once, while a client at the probe's
//! interval still gets every reading.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokmon_probe::Probe;
use tokmon_probe::protocol::{self, Info, TAG_INFO, TAG_READING};
use tokmon_probe::sample::Reading;
use tokmon_probe::wire::{Client, ClientOptions, Endpoint, Incoming};

/// Wide enough for a loaded two-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// The probe's own interval, and ten times it, which the slow client asks for.
const INTERVAL: Duration = Duration::from_millis(50);
const TEN_TIMES: Duration = Duration::from_millis(500);

/// Polls that spin this long are long polls (the threshold is 10 ms); none is a stall.
const SPIN: Duration = Duration::from_millis(15);
const SPINS: usize = 12;

fn socket_of(probe: &Probe) -> PathBuf {
    match probe.wait_for_endpoint(PATIENCE) {
        Some(Endpoint::Unix(path)) => path,
        other => panic!("expected a Unix socket, got {other:?}"),
    }
}

/// Attaches, asking for `interval`, and reads the info; returns the interval it says.
fn attach(path: &Path, interval: Option<Duration>) -> (Client, u64) {
    let mut options = ClientOptions::default();
    if let Some(interval) = interval {
        options = options.sample_interval(interval);
    }
    let mut client = Client::connect_unix(path, &options).expect("client attaches");
    client
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    match client.recv().expect("the info in time") {
        Some(Incoming::Message {
            tag: TAG_INFO,
            bytes,
        }) => {
            let info: Info = protocol::decode(&bytes).expect("info decodes");
            (client, info.interval_ns)
        }
        other => panic!("expected the info first, got {other:?}"),
    }
}

/// The next reading, skipping module maps; `None` when the read timed out.
fn next_reading(client: &mut Client, dropped: &mut u64) -> Option<Reading> {
    loop {
        match client.recv() {
            Ok(Some(Incoming::Message {
                tag: TAG_READING,
                bytes,
            })) => return Some(protocol::decode(&bytes).expect("reading decodes")),
            Ok(Some(Incoming::Dropped { total })) => *dropped = total,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the probe closed the connection"),
            Err(_) => return None,
        }
    }
}

/// The spinning task's long polls in `readings` (by thread and poll number), with how often each
/// came.
fn spins_in(readings: &[Reading]) -> HashMap<(Option<i32>, u64), usize> {
    let mut seen = HashMap::new();
    for reading in readings {
        let polls = reading.probe.iter().flat_map(|p| &p.long_polls);
        for poll in polls.filter(|p| {
            p.spawned_at
                .as_deref()
                .is_some_and(|s| s.contains("serve_interval.rs"))
        }) {
            *seen.entry((poll.tid, poll.seq)).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn a_client_at_ten_times_the_interval_gets_a_tenth_of_the_readings_and_every_long_poll_once() {
    let base = tempfile::tempdir().expect("temp dir");
    let probe = Probe::builder()
        .socket_dir(base.path().join("tokmon"))
        .interval(INTERVAL)
        .stall_threshold(Duration::from_secs(10))
        .build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()
        .expect("runtime");
    let path = socket_of(&probe);

    let (mut every, every_ns) = attach(&path, None);
    let (mut slow, slow_ns) = attach(&path, Some(TEN_TIMES + Duration::from_millis(20)));
    assert_eq!(
        every_ns, 50_000_000,
        "a client that asks nothing: the probe's"
    );
    assert_eq!(slow_ns, 500_000_000, "rounded to a multiple of the probe's");

    // The client at the probe's interval reads on its own thread, as fast as readings come.
    let stop = Arc::new(AtomicBool::new(false));
    let every_readings = Arc::new(Mutex::new(Vec::new()));
    let every_thread = std::thread::spawn({
        let (stop, readings) = (stop.clone(), every_readings.clone());
        move || {
            every
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("read timeout");
            let mut dropped = 0;
            while !stop.load(Ordering::Acquire) {
                if let Some(reading) = next_reading(&mut every, &mut dropped) {
                    readings.lock().expect("lock").push(reading);
                }
            }
            dropped
        }
    });

    drop(runtime.spawn(async {
        for _ in 0..SPINS {
            let until = Instant::now() + SPIN;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }));

    // The slow client reads until it has seen every spin and a few readings more.
    let start = Instant::now();
    let mut slow_readings = Vec::new();
    let mut slow_dropped = 0;
    let mut spun_at = None;
    loop {
        assert!(
            start.elapsed() < PATIENCE,
            "after 30 s the slow client saw {} of {SPINS} spins",
            spins_in(&slow_readings).len()
        );
        let reading = next_reading(&mut slow, &mut slow_dropped).expect("a reading in time");
        slow_readings.push(reading);
        if spun_at.is_none() && spins_in(&slow_readings).len() >= SPINS {
            spun_at = Some(slow_readings.len());
        }
        if spun_at.is_some_and(|at| slow_readings.len() >= at + 2) {
            break;
        }
    }
    let last_seq = slow_readings.last().map_or(0, |r| r.seq);
    let first_seq = slow_readings.first().map_or(0, |r| r.seq);
    let deadline = Instant::now() + PATIENCE;
    while every_readings
        .lock()
        .expect("lock")
        .last()
        .is_none_or(|r| r.seq < last_seq)
    {
        assert!(Instant::now() < deadline, "the fast client fell behind");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Release);
    let every_dropped = every_thread.join().expect("reader thread");
    let every_readings = std::mem::take(&mut *every_readings.lock().expect("lock"));
    drop(runtime);

    // The client at the probe's interval got every reading: consecutive numbers, but for
    // readings the monitor itself dropped (which no client gets).
    assert_eq!(every_dropped, 0, "its queue never overflowed");
    for pair in every_readings.windows(2) {
        let gap = pair[1].seq - pair[0].seq;
        let lost_by_monitor = pair[1].dropped_before - pair[0].dropped_before;
        assert_eq!(
            gap,
            1 + lost_by_monitor,
            "{} then {}",
            pair[0].seq,
            pair[1].seq
        );
    }
    let every_in_span = every_readings
        .iter()
        .filter(|r| (first_seq..=last_seq).contains(&r.seq))
        .count();
    println!(
        "the slow client got {} readings (seq {first_seq}..={last_seq}); the other {every_in_span} \
         over the same span",
        slow_readings.len()
    );
    assert!(every_in_span >= 20, "a span of at least 20 intervals");
    // About a tenth: the first at once, then one per ten; at most a third, with a wide margin.
    assert!(
        slow_readings.len() >= 3 && slow_readings.len() <= every_in_span / 3 + 2,
        "{} readings against {every_in_span}",
        slow_readings.len()
    );
    assert_eq!(slow_dropped, 0, "its queue never overflowed");

    // Every spin once for both, and the same ones.
    let slow_spins = spins_in(&slow_readings);
    let every_spins = spins_in(&every_readings);
    assert_eq!(slow_spins.len(), SPINS, "{slow_spins:?}");
    assert!(slow_spins.values().all(|&n| n == 1), "{slow_spins:?}");
    assert_eq!(
        slow_spins, every_spins,
        "the same long polls, each once, at either interval"
    );
    let dropped_polls = |r: &Reading| r.probe.as_ref().map_or(0, |p| p.long_polls_dropped);
    let every_last = every_readings
        .iter()
        .find(|r| r.seq == last_seq)
        .expect("the fast client got the slow one's last reading too");
    let slow_last = slow_readings.last().expect("readings");
    assert_eq!(
        dropped_polls(slow_last),
        dropped_polls(every_last),
        "the fold left no long poll out"
    );
}
