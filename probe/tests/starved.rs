//! Starved of CPU is not CPU-bound: the runtime's worker and eight CPU hogs share one CPU
//! (affinity), so the worker gets about a ninth of it whatever the machine's load. A poll that
//! computes 30 ms then lasts some 270 ms, waiting for the CPU most of it: starved. One that
//! computes 150 ms stays CPU-bound (it would have stalled on an idle machine too), and says how
//! long it waited for a CPU. Neither is called starved while it still runs.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
use tokio::runtime::Builder;
use tokmon_probe::Probe;
use tokmon_probe::monitor::{Monitor, MonitorOptions};
use tokmon_probe::sample::{CpuUse, PollRecord};
use tokmon_probe::thread_state::current_thread_cpu_ns;

const HOGS: usize = 8;

/// The first CPU this process may run on.
fn one_cpu() -> usize {
    let allowed = sched_getaffinity(None).expect("affinity");
    (0..CpuSet::MAX_CPU)
        .find(|&cpu| allowed.is_set(cpu))
        .expect("a CPU")
}

fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).expect("pinned");
}

/// Spins on this thread until it has run `ms` on a CPU.
fn compute(ms: u64) {
    let start = current_thread_cpu_ns().expect("thread CPU time");
    let mut x = 0u64;
    while current_thread_cpu_ns().expect("thread CPU time") - start < ms * 1_000_000 {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}

#[test]
fn a_poll_kept_from_the_cpu_is_starved_and_one_that_computed_stays_cpu_bound() {
    let cpu = one_cpu();
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..HOGS)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                pin(cpu);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let probe = Probe::builder()
        .serve(false)
        .stall_threshold(Duration::from_millis(100))
        .on_thread_start(move || pin(cpu))
        .build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(1).enable_all())
        .build()
        .expect("runtime");
    let options = MonitorOptions {
        interval: Duration::from_millis(50),
        stacks: false,
    };
    let monitor =
        Monitor::start(probe.clone(), runtime.handle().clone(), options).expect("monitor starts");
    runtime.block_on(async {
        tokio::spawn(async { compute(30) })
            .await
            .expect("short task");
        tokio::spawn(async { compute(150) })
            .await
            .expect("long task");
    });
    // The two polls' records, in the order they ended.
    let mut polls: Vec<PollRecord> = Vec::new();
    // What the readings said of the polls while they ran.
    let mut running: Vec<CpuUse> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while polls.len() < 2 && Instant::now() < deadline {
        if let Ok(reading) = monitor.readings().recv_timeout(Duration::from_secs(5))
            && let Some(probe) = reading.probe
        {
            running.extend(
                probe
                    .in_flight
                    .iter()
                    .filter(|p| p.duration_ns >= 50_000_000)
                    .map(|p| p.cpu),
            );
            polls.extend(
                probe
                    .long_polls
                    .into_iter()
                    .filter(|p| p.duration_ns >= 100_000_000),
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        hog.join().expect("hog");
    }
    monitor.finish(|_| {}).expect("monitor stops");
    drop(runtime);
    for p in &polls {
        eprintln!(
            "poll of {} ms: {:?}, on CPU {:?}, waited {:?} ms",
            p.duration_ns / 1_000_000,
            p.cpu,
            p.cpu_ratio,
            p.cpu_wait_ns.map(|w| w / 1_000_000)
        );
    }
    assert_eq!(
        polls.len(),
        2,
        "both polls ran past the stall threshold: {polls:#?}"
    );
    let waited = |p: &PollRecord| p.cpu_wait_ns.expect("schedstat's wait") / 1_000_000;
    assert_eq!(polls[0].cpu, CpuUse::Starved, "{:#?}", polls[0]);
    assert!(waited(&polls[0]) >= 50, "{:#?}", polls[0]);
    assert_eq!(polls[1].cpu, CpuUse::On, "{:#?}", polls[1]);
    assert!(waited(&polls[1]) >= 100, "{:#?}", polls[1]); // Starved is a verdict on a poll that ended: while running, the one kept from the CPU
    // might still compute past the threshold.
    assert!(!running.is_empty(), "the readings saw the polls running");
    assert!(!running.contains(&CpuUse::Starved), "{running:?}");
}
