//! Turns per-thread poll counters into per-worker ones.
//!
//! The hooks count per OS thread (no shared counter on the poll path), but a worker can move
//! between threads: `block_in_place` hands worker *i* to a new thread while the old one
//! finishes its poll. So each sample attributes what a thread did since the previous sample to
//! the worker that thread runs now, and only while it really runs it (the runtime's
//! `worker_thread_id` agrees); the part of a poll still running counts live. A thread's CPU
//! time (refreshed by the sampler just before) is attributed the same way.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::thread::ThreadId;

use super::watch::worker_of;
use crate::buckets::{BUCKETS, bucket_of};
use crate::clock::EXACT_FROM_NS;
use crate::{ProbeWorker, ThreadSlot};

#[derive(Debug, Clone, Copy)]
struct Seen {
    polls: u64,
    busy_ns: u64,
    cpu_ns: u64,
    wait_ns: u64,
    buckets: [u64; BUCKETS],
}

/// A long poll the hooks counted in the histogram at its raw coarse duration, whose record
/// says less: a record counts from the latest the poll can have started (a tick after its
/// coarse start, and after the end of a gap in the monitor's ticks, when a starved monitor
/// left the clock standing). The count moves to the record's bucket, or out below
/// [`EXACT_FROM_NS`] where only sampled polls count, so that the histogram agrees with the
/// long polls and stalls reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recount {
    pub worker: usize,
    pub from: usize,
    pub to: Option<usize>,
}

impl Recount {
    pub fn of(worker: usize, raw_ns: u64, recorded_ns: u64) -> Option<Recount> {
        if raw_ns < EXACT_FROM_NS {
            return None; // counted as a sample, if at all: nothing exact to move
        }
        let from = bucket_of(raw_ns);
        let to = (recorded_ns >= EXACT_FROM_NS).then(|| bucket_of(recorded_ns));
        (to != Some(from)).then_some(Recount { worker, from, to })
    }
}

/// Recounts waiting for their bucket to gain a count, at most this many.
const PENDING_KEPT: usize = 4096;

/// Cumulative per-worker counters built from the threads' slots.
#[derive(Debug, Default)]
pub struct WorkerAttribution {
    /// Keyed by slot and generation: a slot taken by a new thread counts from zero again.
    last: HashMap<(usize, u64), Seen>,
    totals: Vec<ProbeWorker>,
    /// Recounts not applied yet: a bucket is only taken from in an update that added to it,
    /// so that no cumulative count ever goes down (a reader takes a drop for a reset).
    pending: Vec<Recount>,
}

impl WorkerAttribution {
    /// `worker_threads[i]` is the thread running worker `i` now. `now_ns` is on the probe's
    /// clock.
    pub fn update(
        &mut self,
        slots: &[&'static ThreadSlot],
        worker_threads: &[Option<ThreadId>],
        now_ns: u64,
        recounts: &[Recount],
    ) -> Vec<ProbeWorker> {
        if self.totals.len() < worker_threads.len() {
            self.totals
                .resize_with(worker_threads.len(), || ProbeWorker {
                    polls: 0,
                    busy_ns: 0,
                    buckets: vec![0; BUCKETS],
                    cpu_ns: None,
                    cpu_wait_ns: None,
                });
        }
        let mut live = vec![0u64; worker_threads.len()];
        let mut added = vec![[0u64; BUCKETS]; worker_threads.len()];
        let mut present = Vec::with_capacity(slots.len());
        for slot in slots {
            let key = (std::ptr::from_ref(*slot) as usize, slot.generation());
            if slot.stopped.load(Ordering::Relaxed) {
                // Runs no worker any more: nothing of it to attribute, nor to remember (the
                // blocking pool starts and stops threads all run long).
                self.last.remove(&key);
                slot.release();
                continue;
            }
            present.push(key);
            let view = slot.view();
            let buckets = slot.buckets();
            // Zero until the thread's CPU time was first read (never, where it cannot be).
            let cpu_ns = slot.last_cpu_ns.load(Ordering::Relaxed);
            let wait_ns = slot.last_wait_ns.load(Ordering::Relaxed);
            let before = self.last.insert(
                key,
                Seen {
                    polls: view.polls,
                    busy_ns: view.busy_ns,
                    cpu_ns,
                    wait_ns,
                    buckets,
                },
            );
            let Some(w) = worker_of(worker_threads, slot.thread_id()) else {
                continue;
            };
            let total = &mut self.totals[w];
            let before = before.unwrap_or(Seen {
                polls: 0,
                busy_ns: 0,
                cpu_ns: 0,
                wait_ns: 0,
                buckets: [0; BUCKETS],
            });
            total.polls += view.polls.saturating_sub(before.polls);
            total.busy_ns += view.busy_ns.saturating_sub(before.busy_ns);
            if cpu_ns > 0 {
                let cpu = total.cpu_ns.get_or_insert(0);
                *cpu += cpu_ns.saturating_sub(before.cpu_ns);
                let wait = total.cpu_wait_ns.get_or_insert(0);
                *wait += wait_ns.saturating_sub(before.wait_ns);
            }
            for (i, count) in total.buckets.iter_mut().enumerate() {
                let more = buckets[i].saturating_sub(before.buckets[i]);
                *count += more;
                added[w][i] += more;
            }
            if view.polling() {
                live[w] += now_ns.saturating_sub(view.started_ns);
            }
        }
        // A slot another thread took since: its old generation is gone for good.
        self.last.retain(|key, _| present.contains(key));
        let waiting = std::mem::take(&mut self.pending);
        for r in waiting.into_iter().chain(recounts.iter().copied()) {
            let (Some(total), Some(added)) =
                (self.totals.get_mut(r.worker), added.get_mut(r.worker))
            else {
                continue;
            };
            match added.get_mut(r.from).filter(|n| **n > 0) {
                Some(n) => {
                    *n -= 1;
                    if let Some(count) = total.buckets.get_mut(r.from) {
                        *count = count.saturating_sub(1);
                    }
                    if let Some(to) = r.to.and_then(|to| total.buckets.get_mut(to)) {
                        *to += 1;
                    }
                }
                // Its count came in an earlier update: wait for the bucket to gain another.
                None if self.pending.len() < PENDING_KEPT => self.pending.push(r),
                None => {}
            }
        }
        self.totals
            .iter()
            .zip(live)
            .map(|(total, running)| ProbeWorker {
                polls: total.polls,
                busy_ns: total.busy_ns + running,
                buckets: total.buckets.clone(),
                cpu_ns: total.cpu_ns,
                cpu_wait_ns: total.cpu_wait_ns,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ThreadRegistry;

    #[test]
    fn a_stopped_thread_is_forgotten() {
        let registry = ThreadRegistry::default();
        let mut attribution = WorkerAttribution::default();
        std::thread::scope(|s| {
            s.spawn(|| {
                registry.register_current();
            });
        });
        attribution.update(&registry.snapshot(), &[None], 0, &[]);
        assert_eq!(attribution.last.len(), 1);
        std::thread::scope(|s| {
            s.spawn(|| {
                registry.register_current();
                registry.unregister_current();
            });
        });
        let slots = registry.snapshot();
        slots[0].stopped.store(true, Ordering::Relaxed);
        attribution.update(&slots, &[None], 0, &[]);
        assert!(attribution.last.is_empty());
    }

    #[test]
    fn a_recount_moves_a_long_polls_count_to_its_records_bucket() {
        let registry = ThreadRegistry::default();
        let mut attribution = WorkerAttribution::default();
        let slot = registry.register_current();
        let me = [Some(std::thread::current().id())];
        // Two polls counted at 16-32 ms by the hooks; the record of one says 8-16 ms, of
        // another under 2 ms (counted only as sampled polls are): moved, then taken out.
        slot.buckets[14].store(2, Ordering::Relaxed);
        let recounts = [
            Recount::of(0, 20_000_000, 9_000_000).expect("another bucket"),
            Recount::of(0, 20_000_000, 1_500_000).expect("below exact counting"),
        ];
        assert_eq!(recounts[1].to, None);
        assert_eq!(
            Recount::of(0, 20_000_000, 19_000_000),
            None,
            "the same bucket"
        );
        let workers = attribution.update(&registry.snapshot(), &me, 0, &recounts);
        assert_eq!(
            (workers[0].buckets[14], workers[0].buckets[13]),
            (0, 1),
            "{:?}",
            workers[0].buckets
        );
        assert_eq!(workers[0].buckets.iter().sum::<u64>(), 1);
        registry.unregister_current();
    }

    #[test]
    fn a_recount_never_makes_a_count_go_down() {
        let registry = ThreadRegistry::default();
        let mut attribution = WorkerAttribution::default();
        let slot = registry.register_current();
        let me = [Some(std::thread::current().id())];
        // The poll is counted in one reading, its record arrives in the next.
        slot.buckets[14].store(1, Ordering::Relaxed);
        attribution.update(&registry.snapshot(), &me, 0, &[]);
        let late = Recount::of(0, 20_000_000, 9_000_000).expect("another bucket");
        let workers = attribution.update(&registry.snapshot(), &me, 0, &[late]);
        assert_eq!(
            (workers[0].buckets[14], workers[0].buckets[13]),
            (1, 0),
            "waits"
        );
        // Once the bucket gains a count, the waiting recount takes it.
        slot.buckets[14].store(2, Ordering::Relaxed);
        let workers = attribution.update(&registry.snapshot(), &me, 0, &[]);
        assert_eq!((workers[0].buckets[14], workers[0].buckets[13]), (1, 1));
        assert!(attribution.pending.is_empty());
        registry.unregister_current();
    }

    #[test]
    fn a_workers_cpu_time_and_its_wait_for_a_cpu_are_counted_from_its_threads_readings() {
        let registry = ThreadRegistry::default();
        let mut attribution = WorkerAttribution::default();
        let slot = registry.register_current();
        let me = [Some(std::thread::current().id())];
        slot.last_cpu_ns.store(1_000, Ordering::Relaxed);
        slot.last_wait_ns.store(100, Ordering::Relaxed);
        attribution.update(&registry.snapshot(), &me, 0, &[]);
        slot.last_cpu_ns.store(5_000, Ordering::Relaxed);
        slot.last_wait_ns.store(700, Ordering::Relaxed);
        let workers = attribution.update(&registry.snapshot(), &me, 0, &[]);
        assert_eq!(workers[0].cpu_ns, Some(5_000));
        assert_eq!(workers[0].cpu_wait_ns, Some(700));
        registry.unregister_current();
    }
}
