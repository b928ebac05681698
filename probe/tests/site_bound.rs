//! The site table's bound: spawns from more distinct places than the probe names (4,096 have
//! counters of their own, 6,144 are remembered) share one `other` row, which says how many
//! sites it holds; spawning from all of them again and again grows no memory.
// The counting allocator is necessarily an `unsafe impl GlobalAlloc`; it only counts and
// forwards every call to `System` unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokmon_probe::Probe;
use tokmon_probe::canary::CANARY_LABEL;
use tokmon_probe::locations::{MAX_KNOWN, MAX_SITES};
use tokmon_probe::monitor::{Monitor, MonitorOptions};
use tokmon_probe::sample::{ProbeSample, Reading};
use tokmon_probe::sites::OTHER_NAME;

/// Bytes allocated and not freed, by anyone in this process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

fn bytes(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(bytes(layout), Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(bytes(layout), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            isize::try_from(new_size).unwrap_or(isize::MAX) - bytes(layout),
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(bytes(layout), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const OPTIONS: MonitorOptions = MonitorOptions {
    interval: Duration::from_millis(20),
    stacks: false,
};

/// Distinct spawn sites in [`spawn_from_every_site`].
const SITES: usize = 6400;

/// Rounds of spawns from every site: the first names the sites and fills the table, the others
/// must add nothing.
const ROUNDS: u64 = 10;

/// The live bytes allowed to grow from the second round to the last: a leak of 3 bytes per
/// task spawned (51,200 between them) would not pass. Bounded buffers that fill slowly (the monitor's
/// record of its late ticks, at most 64 KiB) would.
const SLACK: isize = 128 * 1024;

/// Spawns an empty task, whose spawn site is the caller's line and column.
#[track_caller]
fn s() {
    drop(tokio::spawn(async {}));
}

fn probe_part(reading: &Reading) -> &ProbeSample {
    reading.probe.as_ref().expect("a probe part")
}

/// The live bytes when nothing is being built: the least of a few looks between readings,
/// each taken just after the readings queued so far were taken (the latest kept in `last`).
fn settled_live_bytes(monitor: &Monitor, last: &mut Option<Reading>) -> isize {
    (0..25)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(7));
            if let Some(reading) = monitor.readings().try_iter().last() {
                *last = Some(reading);
            }
            LIVE.load(Ordering::Relaxed)
        })
        .min()
        .expect("looks")
}

#[test]
fn sites_past_the_bound_share_the_other_row_and_nothing_grows() {
    let probe = Probe::builder().serve(false).build();
    let runtime = probe
        // One worker: its thread's cells are all the table's (a second thread would add its
        // own, once, whenever it first ran the spawner).
        .install(Builder::new_multi_thread().worker_threads(1).enable_all())
        .build()
        .expect("runtime");
    // The canary's site is the first, the spawner's (below) the second, then this test's.
    let monitor =
        Monitor::start(probe.clone(), runtime.handle().clone(), OPTIONS).expect("monitor starts");
    let mut last = None;
    let mut live = Vec::new();
    for _ in 0..ROUNDS {
        runtime.block_on(async {
            tokio::spawn(async { spawn_from_every_site() })
                .await
                .expect("the spawner");
        });
        let start = Instant::now();
        // Every task ended but the canary.
        while runtime.metrics().num_alive_tasks() > 1 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "tasks never ended"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        live.push(settled_live_bytes(&monitor, &mut last));
    }
    monitor.finish(|r| last = Some(r)).expect("monitor stops");
    let reading = last.expect("a last reading");
    let probe = probe_part(&reading);

    // Every site with counters of its own has spawned, and one row holds the rest.
    assert_eq!(probe.sites.len(), MAX_SITES + 1);
    let other = probe.sites.last().expect("rows");
    assert_eq!(other.site, OTHER_NAME, "the `other` row comes last");
    assert_eq!(
        probe.sites.iter().filter(|s| s.site == OTHER_NAME).count(),
        1
    );
    // The probe's own task is named as such, not left for the app's developer to guess at.
    let canary = &probe.sites[0];
    assert!(
        canary.site.starts_with("probe/src/canary.rs:")
            && canary.label.as_deref() == Some(CANARY_LABEL),
        "{canary:?}"
    );
    // The sites it holds, counted as far as they are remembered.
    assert_eq!(probe.sites_other, (MAX_KNOWN - MAX_SITES) as u64);
    // The spawns of every site past the first 4,096 (the canary and the spawner came first),
    // remembered or not: 2,306 sites, each spawned once a round.
    let past = (SITES + 2 - MAX_SITES) as u64;
    assert_eq!(other.spawns, past * ROUNDS, "{other:?}");
    let named: u64 = probe.sites[..MAX_SITES].iter().map(|s| s.spawns).sum();
    assert_eq!(named, 1 + ROUNDS + (MAX_SITES as u64 - 2) * ROUNDS);

    let growth = live[live.len() - 1] - live[1];
    println!(
        "live bytes after each round of {SITES} spawns: {live:?}: {growth} bytes more after \
         the last than after the second"
    );
    assert!(
        growth < SLACK,
        "live bytes grew {growth} from the second round of spawns to the last: {live:?}"
    );
    drop(runtime);
}

/// [`SITES`] calls of [`s`], each its own spawn site (a macro's repetitions would all share
/// the macro's call site).
#[rustfmt::skip]
fn spawn_from_every_site() {
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
    s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s(); s();
}
