//! The probe as an app adds it: its builder, the app's own callbacks called through the probe's
//! hooks, a disabled probe, whether the hooks fired, and what a current-thread runtime and a
//! `LocalSet` show it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::Builder;
use tokmon_probe::{Probe, ProbeBuilder};

/// How many times each of the app's five callbacks ran.
#[derive(Default)]
struct Counts {
    thread_start: AtomicU64,
    thread_stop: AtomicU64,
    task_spawn: AtomicU64,
    before_poll: AtomicU64,
    after_poll: AtomicU64,
}

fn n(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn counting(builder: ProbeBuilder, counts: &Arc<Counts>) -> ProbeBuilder {
    let bump = |field: fn(&Counts) -> &AtomicU64| {
        let counts = counts.clone();
        move || {
            field(&counts).fetch_add(1, Ordering::Relaxed);
        }
    };
    let (start, stop, spawn, before, after) = (
        bump(|c| &c.thread_start),
        bump(|c| &c.thread_stop),
        bump(|c| &c.task_spawn),
        bump(|c| &c.before_poll),
        bump(|c| &c.after_poll),
    );
    builder
        .on_thread_start(start)
        .on_thread_stop(stop)
        .on_task_spawn(move |_| spawn())
        .on_before_task_poll(move |_| before())
        .on_after_task_poll(move |_| after())
}

/// Spawns `tasks` tasks that each yield once (two polls each) and waits for them.
async fn yielding_tasks(tasks: u64) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| tokio::spawn(tokio::task::yield_now()))
        .collect();
    for handle in handles {
        handle.await.expect("the task completes");
    }
}

/// Runs 20 yielding tasks on a 2-worker runtime with `probe` installed, then shuts it down.
fn run_on_two_workers(probe: &Arc<Probe>) {
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2))
        .build()
        .expect("runtime");
    runtime.block_on(yielding_tasks(20));
    drop(runtime);
}

fn assert_the_apps_callbacks_ran(counts: &Counts) {
    let started = n(&counts.thread_start);
    assert!(started >= 2, "the two workers at least: {started}");
    assert_eq!(n(&counts.thread_stop), started, "every thread stopped");
    assert_eq!(n(&counts.task_spawn), 20);
    let polls = n(&counts.before_poll);
    assert!(polls >= 40, "each task polled at least twice: {polls}");
    assert_eq!(n(&counts.after_poll), polls);
}

#[test]
fn the_apps_callbacks_are_called_through_the_probes_hooks() {
    let counts = Arc::new(Counts::default());
    let probe = counting(Probe::builder().serve(false), &counts).build();
    assert!(probe.enabled());
    run_on_two_workers(&probe);
    assert_the_apps_callbacks_ran(&counts);
    assert!(probe.hooks_fired());
    let threads = probe.threads.snapshot();
    assert!(threads.len() >= 2, "{} threads", threads.len());
    let polls: u64 = threads.iter().map(|slot| slot.view().polls).sum();
    assert_eq!(polls, n(&counts.before_poll), "the probe saw every poll");
}

#[test]
fn a_disabled_probe_installs_only_the_apps_callbacks() {
    let counts = Arc::new(Counts::default());
    let probe = counting(Probe::builder().serve(false).enabled(false), &counts).build();
    assert!(!probe.enabled());
    run_on_two_workers(&probe);
    assert_the_apps_callbacks_ran(&counts);
    assert!(!probe.hooks_fired());
    assert!(probe.threads.snapshot().is_empty());
}

#[test]
fn hooks_fired_once_a_runtime_has_started_a_thread() {
    let probe = Probe::builder().serve(false).build();
    let mut builder = Builder::new_multi_thread();
    probe.install(builder.worker_threads(2));
    assert!(!probe.hooks_fired());
    let runtime = builder.build().expect("runtime");
    runtime.block_on(yielding_tasks(1));
    assert!(probe.hooks_fired());
}

#[test]
fn a_callback_set_on_the_runtimes_builder_after_install_blinds_the_probe() {
    let probe = Probe::builder().serve(false).build();
    let mut builder = Builder::new_multi_thread();
    probe.install(builder.worker_threads(2));
    builder.on_thread_start(|| {});
    let runtime = builder.build().expect("runtime");
    runtime.block_on(yielding_tasks(1));
    assert!(!probe.hooks_fired());
    assert!(probe.threads.snapshot().is_empty());
}

/// What the README says of a current-thread runtime: its tasks run on the thread that calls
/// `block_on`, which the runtime did not start, so the probe has no slot there and counts none
/// of their polls; the app's poll callbacks still run.
#[test]
fn a_current_thread_runtimes_polls_are_not_counted() {
    let counts = Arc::new(Counts::default());
    let probe = counting(Probe::builder().serve(false), &counts).build();
    let runtime = probe
        .install(&mut Builder::new_current_thread())
        .build()
        .expect("runtime");
    runtime.block_on(yielding_tasks(20));
    assert!(n(&counts.before_poll) >= 40);
    assert_eq!(n(&counts.thread_start), 0);
    assert!(!probe.hooks_fired());
    assert!(probe.threads.snapshot().is_empty());
}

/// What the README says of a `LocalSet`: the task hooks do not fire for its tasks.
#[test]
fn a_local_sets_tasks_are_not_seen() {
    let counts = Arc::new(Counts::default());
    let probe = counting(Probe::builder().serve(false), &counts).build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2))
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        for _ in 0..20 {
            tokio::task::spawn_local(tokio::task::yield_now())
                .await
                .expect("the local task completes");
        }
    });
    assert_eq!(n(&counts.task_spawn), 0);
    assert_eq!(n(&counts.before_poll), 0);
}
