//! What the exporter serves: cumulative counters the probe's monitor brings up to date at each
//! reading, whether or not anything scrapes them or a client is attached, and a scrape reads
//! whole under one short lock. The poll hooks do no work for it.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use super::sites::{SiteCounts, SiteTotals};
use crate::buckets::BUCKETS;
use crate::sample::{ProbeSample, RuntimeCounters, WorkerCounters};

/// One worker's counters and its running poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerTotals {
    /// From the poll hooks, so it grows while a poll is stuck (tokio's own freezes); never
    /// lower than a value served before.
    pub busy_ns: u64,
    /// The worker's threads' time on a CPU (schedstat): far below `busy_ns`, the worker is
    /// blocked off the CPU. 0 where per-thread CPU time cannot be read.
    pub cpu_ns: u64,
    pub polls: u64,
    /// tokio's count of the worker's parks.
    pub parks: u64,
    /// How long the poll now on the worker has run, as of the latest reading: 0 when it is
    /// idle or its poll is shorter than the long-poll threshold.
    pub running_ns: u64,
}

/// Everything one scrape serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub workers: Vec<WorkerTotals>,
    /// Weighted poll counts per [`crate::buckets`] bucket, every worker's together.
    pub buckets: [u64; BUCKETS],
    pub global_queue_depth: u64,
    pub blocking_threads: u64,
    pub blocking_queue_depth: u64,
    pub alive_tasks: u64,
    /// The latest the lag canary's timer fired in the latest reading's interval.
    pub timer_lag_ns: u64,
    pub long_polls_dropped: u64,
    pub stall_threshold_ns: u64,
    pub readings: u64,
    pub sites: Vec<(String, SiteTotals)>,
}

/// The shared state: written by the monitor thread, read by the exporter's.
#[derive(Debug)]
pub struct Fleet {
    inner: Mutex<State>,
    /// Where the probe's own exporter listens, once bound.
    addr: OnceLock<SocketAddr>,
}

#[derive(Debug)]
struct State {
    workers: Vec<WorkerTotals>,
    buckets: [u64; BUCKETS],
    runtime: RuntimeCounters,
    timer_lag_ns: u64,
    long_polls_dropped: u64,
    stall_threshold_ns: u64,
    readings: u64,
    sites: SiteCounts,
}

impl Fleet {
    /// Counts polls of at least `stall_threshold_ns` as stalls.
    pub fn new(stall_threshold_ns: u64) -> Fleet {
        Fleet {
            inner: Mutex::new(State {
                workers: Vec::new(),
                buckets: [0; BUCKETS],
                runtime: RuntimeCounters::default(),
                timer_lag_ns: 0,
                long_polls_dropped: 0,
                stall_threshold_ns,
                readings: 0,
                sites: SiteCounts::new(stall_threshold_ns),
            }),
            addr: OnceLock::new(),
        }
    }

    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        // Set once: serving starts once per probe.
        let _ = self.addr.set(addr);
    }

    pub(crate) fn addr(&self) -> Option<SocketAddr> {
        self.addr.get().copied()
    }

    /// Takes in one reading, fresh from its source: its long polls are its own, none carried
    /// over from a reading that was not delivered (each is counted once).
    pub fn observe(
        &self,
        workers: &[WorkerCounters],
        runtime: &RuntimeCounters,
        probe: Option<&ProbeSample>,
    ) {
        let mut state = self.lock();
        let state = &mut *state;
        state.readings += 1;
        state.runtime = *runtime;
        let count = workers.len().max(probe.map_or(0, |p| p.workers.len()));
        if state.workers.len() < count {
            state.workers.resize(count, WorkerTotals::default());
        }
        for (total, tokio) in state.workers.iter_mut().zip(workers) {
            total.parks = total.parks.max(tokio.parks);
        }
        let Some(probe) = probe else {
            state.sites.end_update();
            return;
        };
        let mut buckets = [0u64; BUCKETS];
        for (total, hooks) in state.workers.iter_mut().zip(&probe.workers) {
            // Busy time counts a running poll's elapsed part, which the next reading may take
            // back a little: a counter served never goes down.
            total.busy_ns = total.busy_ns.max(hooks.busy_ns);
            total.polls = total.polls.max(hooks.polls);
            total.cpu_ns = total.cpu_ns.max(hooks.cpu_ns.unwrap_or(0));
            for (sum, count) in buckets.iter_mut().zip(&hooks.buckets) {
                *sum += count;
            }
            total.running_ns = 0;
        }
        for (kept, now) in state.buckets.iter_mut().zip(buckets) {
            *kept = (*kept).max(now);
        }
        state.timer_lag_ns = probe.lag_max_ns;
        state.long_polls_dropped = probe.long_polls_dropped;
        for poll in probe.in_flight.iter().filter(|p| !p.worker_moved) {
            let key = (poll.tid, poll.seq, poll.started_ns);
            state
                .sites
                .running(key, poll.spawned_at.as_deref(), poll.duration_ns);
            if let Some(worker) = poll.worker.and_then(|w| state.workers.get_mut(w)) {
                worker.running_ns = worker.running_ns.max(poll.duration_ns);
            }
        }
        for poll in &probe.long_polls {
            let key = (poll.tid, poll.seq, poll.started_ns);
            if poll.worker_moved {
                continue;
            }
            state
                .sites
                .finished(key, poll.spawned_at.as_deref(), poll.duration_ns);
        }
        state.sites.end_update();
    }

    /// A copy of everything, for one scrape.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            workers: state.workers.clone(),
            buckets: state.buckets,
            global_queue_depth: state.runtime.global_queue_depth,
            blocking_threads: state.runtime.blocking_threads,
            blocking_queue_depth: state.runtime.blocking_queue_depth,
            alive_tasks: state.runtime.alive_tasks,
            timer_lag_ns: state.timer_lag_ns,
            long_polls_dropped: state.long_polls_dropped,
            stall_threshold_ns: state.stall_threshold_ns,
            readings: state.readings,
            sites: state
                .sites
                .totals()
                .map(|(label, totals)| (label.to_owned(), totals))
                .collect(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each update leaves the counters whole; a panic midway loses at most that reading.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProbeWorker;
    use crate::sample::PollRecord;

    const MS: u64 = 1_000_000;

    pub(crate) fn poll(seq: u64, worker: usize, duration_ns: u64, running: bool) -> PollRecord {
        PollRecord {
            worker: Some(worker),
            task_id: 1,
            spawned_at: Some("src/main.rs:42:5".into()),
            tid: Some(100 + worker as i32),
            seq,
            started_ns: 5,
            duration_ns,
            running,
            ..PollRecord::default()
        }
    }

    fn sample(busy: [u64; 2], in_flight: Vec<PollRecord>, done: Vec<PollRecord>) -> ProbeSample {
        let mut buckets = vec![0; BUCKETS];
        buckets[3] = 10;
        ProbeSample {
            workers: busy
                .iter()
                .map(|&busy_ns| ProbeWorker {
                    polls: 10,
                    busy_ns,
                    buckets: buckets.clone(),
                    cpu_ns: None,
                    cpu_wait_ns: None,
                })
                .collect(),
            in_flight,
            long_polls: done,
            long_polls_dropped: 0,
            lag_max_ns: 3 * MS,
            ..ProbeSample::default()
        }
    }

    fn tokio_workers() -> Vec<WorkerCounters> {
        vec![
            WorkerCounters {
                parks: 4,
                ..WorkerCounters::default()
            };
            2
        ]
    }

    #[test]
    fn a_stuck_worker_shows_its_running_poll_and_busy_time_that_never_goes_down() {
        let fleet = Fleet::new(100 * MS);
        let runtime = RuntimeCounters {
            global_queue_depth: 3,
            ..RuntimeCounters::default()
        };
        let stuck = sample([900 * MS, 5 * MS], vec![poll(1, 0, 800 * MS, true)], vec![]);
        fleet.observe(&tokio_workers(), &runtime, Some(&stuck));
        let snap = fleet.snapshot();
        assert_eq!(snap.workers[0].running_ns, 800 * MS);
        assert_eq!(snap.workers[1].running_ns, 0);
        assert_eq!(snap.workers[0].parks, 4);
        assert_eq!(snap.global_queue_depth, 3);
        assert_eq!(snap.buckets[3], 20, "both workers' polls");
        assert_eq!(snap.sites[0].1.stalls, 1);
        // The poll ends timed a little shorter than its live estimate.
        let after = sample(
            [850 * MS, 5 * MS],
            vec![],
            vec![poll(1, 0, 820 * MS, false)],
        );
        fleet.observe(&tokio_workers(), &runtime, Some(&after));
        let snap = fleet.snapshot();
        assert_eq!(snap.workers[0].busy_ns, 900 * MS);
        assert_eq!(snap.workers[0].running_ns, 0);
        assert_eq!(
            snap.sites,
            vec![(
                "src/main.rs:42".to_owned(),
                SiteTotals {
                    stalls: 1,
                    stalled_ns: 820 * MS,
                    long_polls: 1
                }
            )]
        );
    }

    #[test]
    fn a_poll_whose_worker_went_on_is_no_stall() {
        let fleet = Fleet::new(100 * MS);
        let mut moved = poll(2, 1, 500 * MS, true);
        moved.worker_moved = true;
        let reading = sample([0, 0], vec![moved.clone()], vec![]);
        fleet.observe(
            &tokio_workers(),
            &RuntimeCounters::default(),
            Some(&reading),
        );
        let snap = fleet.snapshot();
        assert!(snap.sites.is_empty());
        assert_eq!(snap.workers[1].running_ns, 0);
    }
}
