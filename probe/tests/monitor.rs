//! The probe's monitor in the app's process: what it puts on the app's runtime (the canary
//! alone), what it holds when the blocking pool churns through thousands of threads, and the
//! stack it catches of a poll that nearly stalls.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokmon_probe::Probe;
use tokmon_probe::monitor::{Monitor, MonitorOptions};

const OPTIONS: MonitorOptions = MonitorOptions {
    interval: Duration::from_millis(10),
    stacks: true,
};

/// A 2-worker runtime carrying `probe`, and its monitor.
fn watched(probe: &Arc<Probe>) -> (Runtime, Monitor) {
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()
        .expect("runtime");
    let monitor =
        Monitor::start(probe.clone(), runtime.handle().clone(), OPTIONS).expect("monitor starts");
    (runtime, monitor)
}

#[test]
fn nothing_of_the_probe_runs_on_the_apps_runtime_but_the_canary() {
    let (runtime, monitor) = watched(&Probe::builder().serve(false).build());
    // A few readings' worth of watching, with no task of the app's on the runtime.
    let mut readings = 0;
    while readings < 20 {
        monitor
            .readings()
            .recv_timeout(Duration::from_secs(30))
            .expect("a reading arrives");
        readings += 1;
    }
    let spawned = runtime.handle().metrics().spawned_tasks_count();
    monitor.finish(|_| {}).expect("monitor stops");
    assert_eq!(
        spawned, 1,
        "the lag canary is the probe's one task on the runtime"
    );
}

#[test]
fn ten_thousand_blocking_threads_leave_the_registry_bounded() {
    const STARTS: usize = 10_000;
    const AT_ONCE: usize = 50;
    let probe = Probe::builder().serve(false).build();
    let runtime = probe
        .install(
            Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(AT_ONCE)
                .thread_keep_alive(Duration::from_millis(1))
                .enable_all(),
        )
        .build()
        .expect("runtime");
    let monitor =
        Monitor::start(probe.clone(), runtime.handle().clone(), OPTIONS).expect("monitor starts");
    let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    runtime.block_on(async {
        while started.load(std::sync::atomic::Ordering::Relaxed) < STARTS {
            // AT_ONCE jobs that all wait for each other need AT_ONCE threads at once; the
            // pool's threads then idle out before the next wave.
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(AT_ONCE));
            let jobs: Vec<_> = (0..AT_ONCE)
                .map(|_| {
                    let barrier = barrier.clone();
                    tokio::task::spawn_blocking(move || {
                        barrier.wait();
                    })
                })
                .collect();
            for job in jobs {
                job.await.expect("job");
            }
            while runtime_blocking_threads() > 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            started.fetch_add(AT_ONCE, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let slots = probe.threads.snapshot().len();
    let readings = monitor.readings().try_iter().count();
    monitor.finish(|_| {}).expect("monitor stops");
    println!(
        "{STARTS} blocking thread starts, {AT_ONCE} at once: {slots} slots, {readings} readings queued"
    );
    // Without reuse there would be a slot per thread ever started (10,001). Reuse waits until
    // the monitor has read a stopped thread, so a few waves may be pending: stay far below.
    assert!(
        slots < STARTS / 4,
        "{slots} slots after {STARTS} thread starts"
    );
}

/// Blocking-pool threads alive now, as tokio counts them.
fn runtime_blocking_threads() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_blocking_threads()
}

#[test]
fn a_poll_that_nearly_stalls_brings_its_stack_in_its_long_poll_record() {
    // A wide stall threshold, so that the window between the capture (at 90 % of it, 2.7 s)
    // and the poll's end (150 ms later), and the margin below the threshold (150 ms, for a
    // sleep that wakes late on a loaded machine), both hold.
    const STALL: Duration = Duration::from_secs(3);
    const POLL: Duration = Duration::from_millis(2850);
    let (runtime, monitor) = watched(&Probe::builder().serve(false).stall_threshold(STALL).build());
    drop(runtime.spawn(async { std::thread::sleep(POLL) }));
    // The poll's record: the one poll of this runtime that long (the canary's polls are short,
    // a few milliseconds at worst on a loaded machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let record = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no long poll's record in 30 s"
        );
        let reading = monitor
            .readings()
            .recv_timeout(Duration::from_secs(30))
            .expect("a reading arrives");
        let long = reading.probe.as_ref().and_then(|p| {
            p.long_polls
                .iter()
                .find(|poll| poll.duration_ns >= 500_000_000)
                .cloned()
        });
        if let Some(record) = long {
            break record;
        }
    };
    monitor.finish(|_| {}).expect("monitor stops");
    assert!(
        record.duration_ns < 3_000_000_000,
        "a long poll, not a stall: {record:?}"
    );
    if tokmon_probe::stack::supported() {
        let captured = record
            .captured
            .expect("the stack caught at 90 % of the threshold");
        assert!(!captured.addresses.is_empty(), "{captured:?}");
    }
}
