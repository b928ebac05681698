//! The real metrics source: the measured runtime's `RuntimeMetrics` and the probe's hooks on it.

use std::sync::Arc;

use tokio::runtime::Handle;

use super::attribution::WorkerAttribution;
use super::sampler::MetricsSource;
use super::watch::{PollWatch, worker_of};
use crate::sample::{ProbeSample, RuntimeCounters, WorkerCounters};
use crate::{Probe, ThreadSlot, thread_state};

/// Reads a live runtime. Holds a `Handle`, which does not keep the runtime's threads alive.
#[derive(Debug)]
pub struct LiveSource {
    handle: Handle,
    probe: Arc<Probe>,
    watch: PollWatch,
    attribution: WorkerAttribution,
    sites: crate::sites::SiteCollector,
    /// Watchdog passes so far.
    scans: u64,
    /// The thread running each worker, refilled every few passes without allocating.
    worker_threads: Vec<Option<std::thread::ThreadId>>,
}

/// Every this many watchdog passes, each thread's slot is told which worker it runs (only a
/// poll still running after its worker moved away needs it: which worker that was).
const NOTE_WORKERS_EVERY: u64 = 8;

impl LiveSource {
    pub fn new(handle: Handle, probe: Arc<Probe>, stall_threshold_ns: u64, stacks: bool) -> Self {
        LiveSource {
            handle,
            watch: PollWatch::new(probe.clone(), stall_threshold_ns, stacks),
            probe,
            attribution: WorkerAttribution::default(),
            sites: crate::sites::SiteCollector::default(),
            scans: 0,
            worker_threads: Vec::new(),
        }
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl MetricsSource for LiveSource {
    fn scan(&mut self) -> bool {
        let now = self.probe.clock.tick();
        let urgent = self.watch.scan(now);
        if self.scans.is_multiple_of(NOTE_WORKERS_EVERY) {
            fill_worker_threads(&mut self.worker_threads, &self.handle);
            note_workers(self.watch.slots(), &self.worker_threads);
        }
        self.scans += 1;
        urgent
    }

    fn workers(&mut self) -> Vec<WorkerCounters> {
        let metrics = self.handle.metrics();
        (0..metrics.num_workers())
            .map(|i| WorkerCounters {
                busy_ns: nanos(metrics.worker_total_busy_duration(i)),
                polls: metrics.worker_poll_count(i),
                parks: metrics.worker_park_count(i),
                steals: metrics.worker_steal_count(i),
                local_queue_depth: metrics.worker_local_queue_depth(i) as u64,
            })
            .collect()
    }

    fn runtime(&mut self) -> RuntimeCounters {
        let metrics = self.handle.metrics();
        RuntimeCounters {
            alive_tasks: metrics.num_alive_tasks() as u64,
            global_queue_depth: metrics.global_queue_depth() as u64,
            blocking_threads: metrics.num_blocking_threads() as u64,
            idle_blocking_threads: metrics.num_idle_blocking_threads() as u64,
            blocking_queue_depth: metrics.blocking_queue_depth() as u64,
            spawned_tasks: metrics.spawned_tasks_count(),
            threads_cpu_ns: self.probe.threads.total_cpu_ns(),
            monitor_cpu_ns: thread_state::current_thread_cpu_ns(),
        }
    }

    fn probe(&mut self) -> Option<ProbeSample> {
        let now = self.probe.clock.precise_ns();
        let worker_threads = worker_threads(&self.handle);
        // The long polls first: the hooks count a poll before they queue its record, so every
        // poll drained here is in the counts read below, and its recount applies to them.
        let (long_polls, recounts) = self.watch.finished_long_polls();
        // Any time: a stopped thread's site counts stay in its slot's cells, whoever takes
        // the slot next, so the attribution releasing slots cannot lose them.
        let (sites, sites_other) = self
            .sites
            .collect(self.watch.slots(), &self.probe.fallback_spawns);
        Some(ProbeSample {
            workers: self
                .attribution
                .update(self.watch.slots(), &worker_threads, now, &recounts),
            in_flight: self.watch.in_flight(now, &worker_threads),
            long_polls,
            long_polls_dropped: self.probe.long_polls_dropped(),
            lag_max_ns: self.probe.canary.take_max_late_ns(now),
            sites,
            sites_other,
        })
    }

    #[cfg(feature = "openmetrics")]
    fn observe(
        &mut self,
        workers: &[WorkerCounters],
        runtime: &RuntimeCounters,
        probe: Option<&ProbeSample>,
    ) {
        self.probe.fleet.observe(workers, runtime, probe);
    }
}

/// Tells each thread's slot which worker it runs now: the poll hooks do not look it up
/// (it would cost every poll), the runtime knows.
fn note_workers(slots: &[&'static ThreadSlot], worker_threads: &[Option<std::thread::ThreadId>]) {
    for slot in slots {
        slot.note_worker(worker_of(worker_threads, slot.thread_id()));
    }
}

/// The thread running each worker now.
fn worker_threads(handle: &Handle) -> Vec<Option<std::thread::ThreadId>> {
    let mut threads = Vec::new();
    fill_worker_threads(&mut threads, handle);
    threads
}

/// Refills `threads` with the thread running each worker now.
fn fill_worker_threads(threads: &mut Vec<Option<std::thread::ThreadId>>, handle: &Handle) {
    let metrics = handle.metrics();
    threads.clear();
    threads.extend((0..metrics.num_workers()).map(|w| metrics.worker_thread_id(w)));
}
