//! The runtime hooks: the hot path. Each poll costs a few thread-local reads and plain stores
//! into the polling thread's own slot.
//!
//! Durations come from the coarse clock (one atomic load). Its resolution is the monitor's
//! tick, so a short poll reads 0 or one tick; summed over many polls that is unbiased, which
//! is what busy time needs. The histogram needs real short durations: one poll in
//! `PRECISE_EVERY` is timed precisely and counts `PRECISE_EVERY` times if it was short; every
//! poll the coarse clock sees as long (at least `EXACT_FROM_NS`) counts once, whether sampled
//! or not, so long polls are counted exactly and short ones by a fair sample.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::{Builder, TaskMeta};

use super::buckets::bucket_of;
use super::clock::PRECISE_EVERY;
use super::threads::ThreadSlot;
use super::{LongPoll, Probe, labels, locations, task_id_u64};

/// Polls at least this long by the coarse clock are counted one by one in the histogram.
const EXACT_FROM_NS: u64 = 2_000_000;

thread_local! {
    /// This thread's slot, set when the measured runtime starts the thread.
    static SLOT: RefCell<Option<Arc<ThreadSlot>>> = const { RefCell::new(None) };
}

pub(super) fn install(probe: &Arc<Probe>, builder: &mut Builder) {
    let on_start = probe.clone();
    let on_stop = probe.clone();
    let on_spawn = probe.clone();
    let on_terminate = probe.clone();
    let before = probe.clone();
    let after = probe.clone();
    builder
        .on_thread_start(move || {
            let slot = on_start.threads.register_current();
            SLOT.with(|s| *s.borrow_mut() = Some(slot));
        })
        .on_thread_stop(move || {
            on_stop.threads.unregister_current();
            SLOT.with(|s| *s.borrow_mut() = None);
        })
        .on_task_spawn(move |meta| {
            locations::record(meta.spawned_at());
            if let Some(label) = labels::current_label() {
                on_spawn.labels.insert(task_id_u64(meta.id()), label);
            }
        })
        .on_task_terminate(move |meta| on_terminate.labels.remove(task_id_u64(meta.id())))
        .on_before_task_poll(move |meta| before_poll(&before, meta))
        .on_after_task_poll(move |_meta| after_poll(&after));
}

#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    // Only this thread writes its slot: a load and a store, no locked instruction.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

#[inline]
fn before_poll(probe: &Probe, meta: &TaskMeta<'_>) {
    SLOT.with(|slot| {
        let slot = slot.borrow();
        let Some(slot) = slot.as_ref() else { return };
        let seq = slot.seq.load(Ordering::Relaxed);
        // Mark "writing" is not needed: readers check seq before and after (see `view`), and
        // the fields below are only trusted while seq is odd.
        slot.task_id
            .store(task_id_u64(meta.id()), Ordering::Relaxed);
        slot.spawned_at
            .store(locations::key_of(meta.spawned_at()), Ordering::Relaxed);
        slot.worker.store(
            tokio::runtime::worker_index().map_or(0, |w| w + 1),
            Ordering::Relaxed,
        );
        slot.started_ns
            .store(probe.clock.now_ns(), Ordering::Relaxed);
        let precise = if (seq / 2) % PRECISE_EVERY == 0 {
            probe.clock.precise_ns().max(1)
        } else {
            0
        };
        slot.precise_start_ns.store(precise, Ordering::Relaxed);
        slot.seq.store(seq | 1, Ordering::Release);
    });
}

/// True when worker `worker` now runs on another thread than this one.
fn worker_moved_away(worker: Option<usize>) -> bool {
    let (Some(w), Ok(handle)) = (worker, tokio::runtime::Handle::try_current()) else {
        return false;
    };
    let metrics = handle.metrics();
    w < metrics.num_workers() && metrics.worker_thread_id(w) != Some(std::thread::current().id())
}

#[inline]
fn after_poll(probe: &Probe) {
    SLOT.with(|slot| {
        let slot = slot.borrow();
        let Some(slot) = slot.as_ref() else { return };
        let seq = slot.seq.load(Ordering::Relaxed);
        if seq % 2 == 0 {
            return; // the thread registered in the middle of a poll
        }
        let started = slot.started_ns.load(Ordering::Relaxed);
        let coarse = probe.clock.now_ns().saturating_sub(started);
        let precise_start = slot.precise_start_ns.load(Ordering::Relaxed);
        let duration = if precise_start != 0 {
            probe.clock.precise_ns().saturating_sub(precise_start)
        } else {
            coarse
        };
        let worker = slot.worker.load(Ordering::Relaxed).checked_sub(1);
        // A long poll may have been a `block_in_place`: its worker went on on another thread,
        // so this time did not block it. Checking costs a runtime handle: long polls only.
        let moved = duration >= EXACT_FROM_NS && worker_moved_away(worker);
        if !moved {
            if precise_start != 0 {
                let weight = if duration < EXACT_FROM_NS {
                    PRECISE_EVERY
                } else {
                    1
                };
                bump(&slot.buckets[bucket_of(duration)], weight);
            } else if duration >= EXACT_FROM_NS {
                bump(&slot.buckets[bucket_of(duration)], 1);
            }
            bump(&slot.polls, 1);
            bump(&slot.busy_ns, duration);
        }
        if duration >= probe.long_poll_threshold_ns() {
            probe.push_long_poll(LongPoll {
                worker,
                task_id: slot.task_id.load(Ordering::Relaxed),
                spawned_at: slot.spawned_at.load(Ordering::Relaxed),
                tid: slot.tid,
                seq,
                started_ns: started,
                duration_ns: duration,
                precise: precise_start != 0,
                worker_moved: moved,
            });
        }
        slot.seq.store(seq.wrapping_add(1), Ordering::Release);
    });
}
