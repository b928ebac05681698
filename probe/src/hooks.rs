//! The runtime hooks: the hot path. Each poll costs a few thread-local reads and plain stores
//! into the polling thread's own slot.
//!
//! Durations come from the coarse clock (one atomic load). Its resolution is the monitor's
//! tick, so a short poll reads 0 or one tick; summed over many polls that is unbiased, which
//! is what busy time needs. The histogram needs real short durations: one poll in
//! `PRECISE_EVERY` is timed precisely and counts `PRECISE_EVERY` times if it was short; every
//! poll the coarse clock sees as long (at least `EXACT_FROM_NS`) counts once, whether sampled
//! or not, so long polls are counted exactly and short ones by a fair sample.
//!
//! Per spawn site the same: spawns counted in the spawn hook, busy time and the histogram only
//! in the cold after-poll path (coarse clock moved, or sampled), into the thread's own cells.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::{Builder, TaskMeta};

use super::buckets::bucket_of;
use super::clock::{EXACT_FROM_NS, PRECISE_EVERY};
use super::threads::ThreadSlot;
use super::{LongPoll, Probe, labels, locations, task_id_u64};

thread_local! {
    /// This thread's slot, set when the measured runtime starts the thread.
    /// A plain reference with no destructor: reading it is one thread-local load.
    static SLOT: Cell<Option<&'static ThreadSlot>> = const { Cell::new(None) };
}

pub(super) fn install<'b>(probe: &Arc<Probe>, builder: &'b mut Builder) -> &'b mut Builder {
    if !probe.enabled {
        return install_callbacks_only(probe, builder);
    }
    let on_start = probe.clone();
    let on_stop = probe.clone();
    install_spawn_hook(probe, builder);
    install_poll_hooks(probe, builder);
    builder
        .on_thread_start(move || {
            on_start.hooks_fired.store(true, Ordering::Relaxed);
            let slot = on_start.threads.register_current();
            SLOT.set(Some(slot));
            #[cfg(target_os = "linux")]
            if on_start.serve.on {
                crate::serve::start_once(&on_start);
            }
            if let Some(f) = &on_start.callbacks.thread_start {
                f();
            }
        })
        .on_thread_stop(move || {
            if let Some(f) = &on_stop.callbacks.thread_stop {
                f();
            }
            on_stop.threads.unregister_current();
            SLOT.set(None);
            #[cfg(target_os = "linux")]
            if on_stop.serve.on {
                crate::serve::on_thread_stop(&on_stop);
            }
        })
}

/// The spawn hook, with the app's own spawn callback only where it gave one, as the poll hooks.
fn install_spawn_hook(probe: &Arc<Probe>, builder: &mut Builder) {
    let on_spawn = probe.clone();
    match probe.callbacks.task_spawn.clone() {
        Some(f) => builder.on_task_spawn(move |meta| {
            spawned(&on_spawn, meta);
            f(meta);
        }),
        None => builder.on_task_spawn(move |meta| spawned(&on_spawn, meta)),
    };
}

/// A spawn: counted at its site; a labelled one's label kept for its task, out of line so that
/// an app that labels nothing pays a lookup and a count.
#[inline]
fn spawned(probe: &Probe, meta: &TaskMeta<'_>) {
    match labels::current_label() {
        None => count_spawn(probe, locations::record(meta.spawned_at(), None)),
        Some(label) => spawned_labelled(probe, meta, label),
    }
}

#[inline(never)]
fn spawned_labelled(probe: &Probe, meta: &TaskMeta<'_>, label: Arc<str>) {
    count_spawn(probe, locations::record(meta.spawned_at(), Some(&label)));
    probe.labels.insert(task_id_u64(meta.id()), label);
}

/// The poll hooks, with the app's own poll callbacks only where it gave them: an app without
/// them pays no check for them on every poll. Its callbacks run outside the probe's timing, so
/// their time is not the task's.
fn install_poll_hooks(probe: &Arc<Probe>, builder: &mut Builder) {
    let (before, after) = (probe.clone(), probe.clone());
    match probe.callbacks.before_task_poll.clone() {
        Some(f) => builder.on_before_task_poll(move |meta| {
            f(meta);
            before_poll(&before, meta);
        }),
        None => builder.on_before_task_poll(move |meta| before_poll(&before, meta)),
    };
    match probe.callbacks.after_task_poll.clone() {
        Some(f) => builder.on_after_task_poll(move |meta| {
            after_poll(&after);
            f(meta);
        }),
        None => builder.on_after_task_poll(move |_meta| after_poll(&after)),
    };
}

/// A disabled probe: the app's own callbacks, each installed only if given, so the app runs as
/// it would with the probe on and no more hooks than it asked for.
fn install_callbacks_only<'b>(probe: &Probe, builder: &'b mut Builder) -> &'b mut Builder {
    let callbacks = &probe.callbacks;
    if let Some(f) = callbacks.thread_start.clone() {
        builder.on_thread_start(move || f());
    }
    if let Some(f) = callbacks.thread_stop.clone() {
        builder.on_thread_stop(move || f());
    }
    if let Some(f) = callbacks.task_spawn.clone() {
        builder.on_task_spawn(move |meta| f(meta));
    }
    if let Some(f) = callbacks.before_task_poll.clone() {
        builder.on_before_task_poll(move |meta| f(meta));
    }
    if let Some(f) = callbacks.after_task_poll.clone() {
        builder.on_after_task_poll(move |meta| f(meta));
    }
    builder
}

#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    // Only this thread writes its slot: a load and a store, no locked instruction.
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// One spawn at counter index `site`: in the spawning thread's own slot when it has one, else
/// in the probe's shared fallback.
#[inline]
fn count_spawn(probe: &Probe, site: usize) {
    match SLOT.get() {
        Some(slot) => bump(&slot.sites.cell(site).spawns, 1),
        None => probe.fallback_spawns.count(site),
    }
}

#[inline]
fn before_poll(probe: &Probe, meta: &TaskMeta<'_>) {
    let Some(slot) = SLOT.get() else { return };
    let seq = slot.seq.load(Ordering::Relaxed);
    // Marking "writing" is not needed: readers check seq before and after (see `view`), and
    // the fields below are only trusted while seq is odd.
    slot.task_id
        .store(task_id_u64(meta.id()), Ordering::Relaxed);
    slot.spawned_at
        .store(locations::key_of(meta.spawned_at()), Ordering::Relaxed);
    slot.started_ns
        .store(probe.clock.now_ns(), Ordering::Relaxed);
    if sampled(seq) {
        // A tail call: the common path saves no register and calls nothing.
        return start_precise(probe, slot, seq);
    }
    slot.seq.store(seq | 1, Ordering::Release);
}

/// The start of the one poll in `PRECISE_EVERY` timed with the precise clock; then the poll is
/// marked running. Out of line, as [`finish_timed_poll`].
#[cold]
#[inline(never)]
fn start_precise(probe: &Probe, slot: &ThreadSlot, seq: u64) {
    slot.precise_start_ns
        .store(probe.clock.precise_ns(), Ordering::Relaxed);
    slot.seq.store(seq | 1, Ordering::Release);
}

/// The one poll in `PRECISE_EVERY` timed with the precise clock, decided by the poll's
/// sequence number so that both hooks agree without storing the decision.
#[inline]
fn sampled(seq: u64) -> bool {
    (seq / 2).is_multiple_of(PRECISE_EVERY)
}

#[inline]
fn after_poll(probe: &Probe) {
    let Some(slot) = SLOT.get() else { return };
    let seq = slot.seq.load(Ordering::Relaxed);
    if seq % 2 == 0 {
        return; // the thread registered in the middle of a poll
    }
    let started = slot.started_ns.load(Ordering::Relaxed);
    let coarse = probe.clock.now_ns().saturating_sub(started);
    // Most polls start and end within one tick of the coarse clock: they add nothing. The
    // others are a tail call, so that the common path saves no register and calls nothing.
    if sampled(seq) || coarse != 0 {
        return finish_timed_poll(probe, slot, seq, started, coarse);
    }
    slot.seq.store(seq.wrapping_add(1), Ordering::Release);
}

/// The after-poll work of a poll that was sampled or saw the coarse clock move: its time, its
/// histogram bucket, and for a long one the record with the worker it ran on; then the poll is
/// marked ended. Kept out of line so the common path stays a few loads and stores.
#[cold]
#[inline(never)]
fn finish_timed_poll(probe: &Probe, slot: &ThreadSlot, seq: u64, started: u64, coarse: u64) {
    let precise = sampled(seq);
    let duration = if precise {
        let start = slot.precise_start_ns.load(Ordering::Relaxed);
        probe.clock.precise_ns().saturating_sub(start)
    } else {
        coarse
    };
    let long = duration >= EXACT_FROM_NS;
    let worker = if long {
        tokio::runtime::worker_index()
    } else {
        None
    };
    // A long poll may have been a `block_in_place`: its worker went on on another thread, so
    // this time did not block it. Checking costs a runtime handle: long polls only.
    let moved = long && worker_moved_away(worker);
    if !moved {
        // Short sampled polls stand for `PRECISE_EVERY` polls; long ones count one by one,
        // sampled or not; other short ones are not in the histogram.
        let weight = if long {
            1
        } else if precise {
            PRECISE_EVERY
        } else {
            0
        };
        let bucket = bucket_of(duration);
        if weight != 0 {
            bump(&slot.buckets[bucket], weight);
        }
        bump(&slot.busy_ns, duration);
        // The same for the task's spawn site: a lock-free table lookup, then this thread's
        // own cell for the site.
        let site = locations::counter_of(locations::id_of(slot.spawned_at.load(Ordering::Relaxed)));
        let cell = slot.sites.cell(site);
        if weight != 0 {
            bump(&cell.buckets[bucket], weight);
        }
        bump(&cell.busy_ns, duration);
    } else {
        bump(&slot.moved_polls, 1);
    }
    if duration >= probe.long_poll_threshold_ns() {
        probe.push_long_poll(LongPoll {
            worker,
            task_id: slot.task_id.load(Ordering::Relaxed),
            spawned_at: slot.spawned_at.load(Ordering::Relaxed),
            tid: slot.tid(),
            seq,
            started_ns: started,
            duration_ns: duration,
            precise,
            worker_moved: moved,
        });
    }
    slot.seq.store(seq.wrapping_add(1), Ordering::Release);
}

/// True when worker `worker` now runs on another thread than this one.
fn worker_moved_away(worker: Option<usize>) -> bool {
    let (Some(w), Ok(handle)) = (worker, tokio::runtime::Handle::try_current()) else {
        return false;
    };
    let metrics = handle.metrics();
    w < metrics.num_workers() && metrics.worker_thread_id(w) != Some(std::thread::current().id())
}
