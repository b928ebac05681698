//! The measured runtime's threads, registered as they start, each with the slot its poll
//! hooks write: which task it is polling, since when, and its completed polls.
//!
//! Every slot field is written by its own thread only (plain load + store, no read-modify-write
//! on the poll path) and read by the monitor thread.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::ThreadId;

use super::buckets::BUCKETS;

/// The address range of a thread's stack, from `/proc/self/maps` (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackBounds {
    pub low: usize,
    pub high: usize,
}

/// One thread the measured runtime started (a worker or a blocking-pool thread).
#[derive(Debug)]
#[repr(align(128))]
pub struct ThreadSlot {
    pub thread_id: ThreadId,
    /// Kernel thread id; `None` off Linux.
    pub tid: Option<i32>,
    pub stack: Option<StackBounds>,
    /// Set when the thread stops; its last CPU reading then stays in the totals.
    pub stopped: AtomicBool,
    /// The monitor's last reading of this thread's CPU time, in nanoseconds.
    pub last_cpu_ns: AtomicU64,

    /// Odd while a poll runs; each poll adds 2, so half of it counts the polls.
    pub(crate) seq: AtomicU64,
    pub(crate) task_id: AtomicU64,
    /// [`super::locations::key_of`] the task's spawn location.
    pub(crate) spawned_at: AtomicUsize,
    /// Index + 1 of the worker this thread was last seen running, 0 if never: written by the
    /// watchdog from the runtime's `worker_thread_id` every few passes, not on the poll path.
    /// Only a poll still running after its worker moved away needs it (which worker it was);
    /// everything else asks the runtime which thread runs each worker now.
    pub(crate) worker: AtomicUsize,
    /// Coarse clock at poll start.
    pub(crate) started_ns: AtomicU64,
    /// Precise clock at poll start, for the one poll in `PRECISE_EVERY` (stale otherwise).
    pub(crate) precise_start_ns: AtomicU64,
    /// Completed polls whose worker went on on another thread meanwhile (`block_in_place`):
    /// not the worker's polls, so not in `polls` or `busy_ns`.
    pub(crate) moved_polls: AtomicU64,
    /// Total time of the completed polls.
    pub(crate) busy_ns: AtomicU64,
    /// Completed polls per duration bucket, weighted (see `hooks`).
    pub(crate) buckets: [AtomicU64; BUCKETS],
}

/// What the monitor sees of a slot at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotView {
    pub seq: u64,
    pub task_id: u64,
    pub spawned_at: usize,
    pub worker: Option<usize>,
    pub started_ns: u64,
    pub polls: u64,
    pub busy_ns: u64,
}

impl SlotView {
    pub fn polling(&self) -> bool {
        self.seq % 2 == 1
    }
}

impl ThreadSlot {
    fn for_current_thread() -> ThreadSlot {
        ThreadSlot {
            thread_id: std::thread::current().id(),
            tid: current_tid(),
            stack: current_stack_bounds(),
            stopped: AtomicBool::new(false),
            last_cpu_ns: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            task_id: AtomicU64::new(0),
            spawned_at: AtomicUsize::new(0),
            worker: AtomicUsize::new(0),
            started_ns: AtomicU64::new(0),
            precise_start_ns: AtomicU64::new(0),
            moved_polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// A consistent view: the poll fields are re-read until the sequence number is the same
    /// before and after, so they belong to one poll.
    pub fn view(&self) -> SlotView {
        loop {
            let seq = self.seq.load(Ordering::Acquire);
            let view = SlotView {
                seq,
                task_id: self.task_id.load(Ordering::Relaxed),
                spawned_at: self.spawned_at.load(Ordering::Relaxed),
                worker: self.worker.load(Ordering::Relaxed).checked_sub(1),
                started_ns: self.started_ns.load(Ordering::Relaxed),
                polls: (seq / 2).saturating_sub(self.moved_polls.load(Ordering::Relaxed)),
                busy_ns: self.busy_ns.load(Ordering::Relaxed),
            };
            std::sync::atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == seq {
                return view;
            }
        }
    }

    /// Notes the worker this thread runs now, if any (the watchdog, from the runtime's
    /// metrics); a thread no longer running one keeps the last it ran, so that a poll still
    /// running after a `block_in_place` hand-off can be told apart.
    pub fn note_worker(&self, worker: Option<usize>) {
        // Stored only on a change: the slot's cache line is the polling thread's.
        if let Some(w) = worker
            && self.worker.load(Ordering::Relaxed) != w + 1
        {
            self.worker.store(w + 1, Ordering::Relaxed);
        }
    }

    /// Completed polls per bucket (weighted counts).
    pub fn buckets(&self) -> [u64; BUCKETS] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }
}

/// Every thread the measured runtime has started. Written once per thread start (a lock is
/// fine there), read by the monitor.
///
/// Slots live for the rest of the process (`&'static`): the poll hooks reach theirs through a
/// thread-local plain reference, with no reference count or borrow flag on the poll path.
/// That is one slot (about 500 bytes) per runtime thread ever started: the workers, and the
/// blocking-pool threads, which come and go with the pool's keep-alive.
#[derive(Debug, Default)]
pub struct ThreadRegistry {
    threads: Mutex<Vec<&'static ThreadSlot>>,
}

impl ThreadRegistry {
    /// Registers the calling thread; called on the new thread itself from `on_thread_start`.
    pub fn register_current(&self) -> &'static ThreadSlot {
        let slot: &'static ThreadSlot = Box::leak(Box::new(ThreadSlot::for_current_thread()));
        self.lock().push(slot);
        slot
    }

    /// Called on the stopping thread, from the runtime's `on_thread_stop`.
    pub fn unregister_current(&self) {
        let id = std::thread::current().id();
        for thread in self.lock().iter().filter(|t| t.thread_id == id) {
            thread.stopped.store(true, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Vec<&'static ThreadSlot> {
        self.lock().clone()
    }

    /// Refreshes each live thread's CPU time and returns the sum over every thread ever
    /// registered; `None` where per-thread CPU time cannot be read.
    pub fn total_cpu_ns(&self) -> Option<u64> {
        let threads = self.snapshot();
        let mut total = 0u64;
        for thread in &threads {
            if !thread.stopped.load(Ordering::Relaxed) {
                let tid = thread.tid?;
                if let Some(ns) = super::thread_state::cpu_ns(tid) {
                    thread.last_cpu_ns.store(ns, Ordering::Relaxed);
                }
            }
            total = total.saturating_add(thread.last_cpu_ns.load(Ordering::Relaxed));
        }
        Some(total)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<&'static ThreadSlot>> {
        self.threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(target_os = "linux")]
fn current_tid() -> Option<i32> {
    Some(rustix::thread::gettid().as_raw_nonzero().get())
}

#[cfg(not(target_os = "linux"))]
fn current_tid() -> Option<i32> {
    None
}

/// The mapping in `/proc/self/maps` that holds a local variable of this thread: its stack.
#[cfg(target_os = "linux")]
fn current_stack_bounds() -> Option<StackBounds> {
    let marker = 0u8;
    let here = std::ptr::from_ref(&marker) as usize;
    let maps = procfs::process::Process::myself().ok()?.maps().ok()?;
    maps.iter().find_map(|map| {
        let (low, high) = (
            usize::try_from(map.address.0).ok()?,
            usize::try_from(map.address.1).ok()?,
        );
        (low <= here && here < high).then_some(StackBounds { low, high })
    })
}

#[cfg(not(target_os = "linux"))]
fn current_stack_bounds() -> Option<StackBounds> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn registers_threads_with_their_stack_and_cpu() {
        let registry = Arc::new(ThreadRegistry::default());
        let r = registry.clone();
        std::thread::spawn(move || {
            let slot = r.register_current();
            if cfg!(target_os = "linux") {
                let stack = slot.stack.expect("a thread's stack is a mapping");
                let local = 0u8;
                let at = std::ptr::from_ref(&local) as usize;
                assert!(stack.low <= at && at < stack.high);
            }
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(30) {
                std::hint::spin_loop();
            }
            // Read while alive: a stopped thread keeps its last reading.
            let _ = r.total_cpu_ns();
            r.unregister_current();
        })
        .join()
        .expect("thread ran");
        let threads = registry.snapshot();
        assert_eq!(threads.len(), 1);
        assert!(threads[0].stopped.load(Ordering::Relaxed));
        if cfg!(target_os = "linux") {
            // 30 ms of spinning; allow a loaded machine to give it far less CPU.
            let ns = registry.total_cpu_ns().expect("linux reads schedstat");
            assert!(ns > 1_000_000, "cpu ns {ns}");
        }
    }
}
