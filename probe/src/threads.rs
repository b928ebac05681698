//! The measured runtime's threads, registered as they start, each with the slot its poll
//! hooks write: which task it is polling, since when, and its completed polls.
//!
//! Every slot field is written by its own thread only (plain load + store, no read-modify-write
//! on the poll path) and read by the monitor thread.
//!
//! Slots live as long as the process (a hook reaches its own through a plain thread-local
//! reference), so a stopped thread's slot is given to the next thread that starts: the blocking
//! pool starts and stops threads all run long, and the registry holds no more slots than the
//! most threads ever alive at once.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::buckets::BUCKETS;
use super::sites::SiteCells;

/// The address range of a thread's stack, from `/proc/self/maps` (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackBounds {
    pub low: usize,
    pub high: usize,
}

/// Which thread holds a slot now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub thread_id: ThreadId,
    /// Kernel thread id; `None` off Linux.
    pub tid: Option<i32>,
    pub stack: Option<StackBounds>,
}

impl Identity {
    fn of_current_thread() -> Identity {
        Identity {
            thread_id: std::thread::current().id(),
            tid: current_tid(),
            stack: current_stack_bounds(),
        }
    }
}

/// A stopped thread's slot is given to a new thread once the monitor has read its last counters
/// ([`ThreadSlot::release`]), or after this long when no monitor reads them.
pub(crate) const REUSE_AFTER: Duration = Duration::from_secs(2);

/// One thread the measured runtime started (a worker or a blocking-pool thread).
#[derive(Debug)]
#[repr(align(128))]
pub struct ThreadSlot {
    /// Written when a thread takes the slot; read off the poll path only.
    identity: Mutex<Identity>,
    /// The identity's kernel thread id (0: none), for the poll hooks, which take no lock.
    tid: AtomicI32,
    /// Bumped each time another thread takes the slot: counters of two generations never mix.
    generation: AtomicU64,
    /// Set when the thread stops; its last CPU reading then stays in the totals.
    pub stopped: AtomicBool,
    /// Set by the monitor once it has read a stopped slot's last counters.
    released: AtomicBool,
    /// The monitor's last reading of this thread's CPU time, in nanoseconds.
    pub last_cpu_ns: AtomicU64,
    /// The same reading's time runnable but waiting for a CPU, in nanoseconds.
    pub last_wait_ns: AtomicU64,

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
    /// Per spawn site: spawns from this thread, and its timed polls (see `hooks`).
    pub(crate) sites: SiteCells,
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
            tid: AtomicI32::new(current_tid().unwrap_or(0)),
            identity: Mutex::new(Identity::of_current_thread()),
            generation: AtomicU64::new(0),
            released: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            last_cpu_ns: AtomicU64::new(0),
            last_wait_ns: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            task_id: AtomicU64::new(0),
            spawned_at: AtomicUsize::new(0),
            worker: AtomicUsize::new(0),
            started_ns: AtomicU64::new(0),
            precise_start_ns: AtomicU64::new(0),
            moved_polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sites: SiteCells::default(),
        }
    }

    /// Which thread holds the slot now.
    pub fn identity(&self) -> Identity {
        *self.identity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn thread_id(&self) -> ThreadId {
        self.identity().thread_id
    }

    /// Kernel thread id; `None` off Linux. Lock-free: the after-poll hook reads it for every
    /// long poll.
    pub fn tid(&self) -> Option<i32> {
        Some(self.tid.load(Ordering::Relaxed)).filter(|&tid| tid != 0)
    }

    pub fn stack(&self) -> Option<StackBounds> {
        self.identity().stack
    }

    /// Says that a stopped thread's last counters have been read: its slot may go to the next
    /// thread that starts.
    pub fn release(&self) {
        if self.stopped.load(Ordering::Acquire) {
            self.released.store(true, Ordering::Release);
        }
    }

    /// How many threads held the slot before the one that holds it now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Gives a stopped thread's slot to the calling thread, its counters from zero but its
    /// site cells: those count on from the stopped thread's figures, so that the monitor's
    /// sum over the slots keeps every count, even one it has not read yet (a starved monitor,
    /// or a thread that stopped after the reading's sum). The registry's lock orders the
    /// stopped thread's last writes before the new thread's first.
    fn take_for_current_thread(&self) {
        let identity = Identity::of_current_thread();
        self.tid.store(identity.tid.unwrap_or(0), Ordering::Relaxed);
        *self.identity.lock().unwrap_or_else(PoisonError::into_inner) = identity;
        for counter in [
            &self.last_cpu_ns,
            &self.last_wait_ns,
            &self.seq,
            &self.task_id,
            &self.started_ns,
            &self.precise_start_ns,
            &self.moved_polls,
            &self.busy_ns,
        ]
        .into_iter()
        .chain(&self.buckets)
        {
            counter.store(0, Ordering::Relaxed);
        }
        self.spawned_at.store(0, Ordering::Relaxed);
        self.worker.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.released.store(false, Ordering::Relaxed);
        self.stopped.store(false, Ordering::Release);
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
/// A stopped thread's slot is taken by the next thread to start once the monitor has read it
/// (or 2 s after it stopped), keeping its per-site counts, so the slots (about 1.5 KB each, plus
/// 12 KB per 64 spawn sites its threads spawned or timed a poll of) number the runtime's
/// threads alive at once, and those stopped less than a reading (or 2 s) ago: the workers, and
/// the blocking-pool threads, which come and go with the pool's keep-alive.
#[derive(Debug, Default)]
pub struct ThreadRegistry {
    threads: Mutex<Vec<Entry>>,
    /// Bumped when a thread starts or stops: a reader's copy of the slots is stale.
    changes: AtomicU64,
    /// The last CPU time of the threads whose slots went to other threads since.
    retired_cpu_ns: AtomicU64,
}

/// A slot and, once its thread stopped, when.
#[derive(Debug, Clone, Copy)]
struct Entry {
    slot: &'static ThreadSlot,
    stopped_at: Option<Instant>,
}

impl ThreadRegistry {
    /// Registers the calling thread; called on the new thread itself from `on_thread_start`.
    /// Takes the slot of a thread stopped long enough ago, or a new one.
    pub fn register_current(&self) -> &'static ThreadSlot {
        let mut threads = self.lock();
        let reusable = threads.iter_mut().find(|e| {
            e.stopped_at.is_some_and(|at| {
                e.slot.released.load(Ordering::Acquire) || at.elapsed() >= REUSE_AFTER
            })
        });
        let slot = match reusable {
            Some(entry) => {
                self.retired_cpu_ns.fetch_add(
                    entry.slot.last_cpu_ns.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                entry.slot.take_for_current_thread();
                entry.stopped_at = None;
                entry.slot
            }
            None => {
                let slot: &'static ThreadSlot =
                    Box::leak(Box::new(ThreadSlot::for_current_thread()));
                threads.push(Entry {
                    slot,
                    stopped_at: None,
                });
                slot
            }
        };
        self.changes.fetch_add(1, Ordering::Release);
        slot
    }

    /// Called on the stopping thread, from the runtime's `on_thread_stop`.
    pub fn unregister_current(&self) {
        let id = std::thread::current().id();
        let mut threads = self.lock();
        for entry in threads
            .iter_mut()
            .filter(|e| e.stopped_at.is_none() && e.slot.thread_id() == id)
        {
            entry.slot.stopped.store(true, Ordering::Relaxed);
            entry.stopped_at = Some(Instant::now());
        }
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// Threads registered and not stopped.
    pub fn running(&self) -> usize {
        self.lock()
            .iter()
            .filter(|e| e.stopped_at.is_none())
            .count()
    }

    /// Every slot: those of the running threads and of threads stopped recently.
    pub fn snapshot(&self) -> Vec<&'static ThreadSlot> {
        self.lock().iter().map(|e| e.slot).collect()
    }

    /// Brings `slots` up to date when a thread started or stopped since `seen` was taken: a
    /// reader that looks every millisecond copies the list only when it changed.
    pub fn refresh(&self, slots: &mut Vec<&'static ThreadSlot>, seen: &mut Option<u64>) {
        let now = self.changes.load(Ordering::Acquire);
        if *seen == Some(now) {
            return;
        }
        let threads = self.lock();
        slots.clear();
        slots.extend(threads.iter().map(|e| e.slot));
        *seen = Some(now);
    }

    /// Refreshes each live thread's CPU time and returns the sum over every thread ever
    /// registered; `None` where per-thread CPU time cannot be read.
    pub fn total_cpu_ns(&self) -> Option<u64> {
        let threads = self.snapshot();
        let mut total = self.retired_cpu_ns.load(Ordering::Relaxed);
        for thread in &threads {
            if !thread.stopped.load(Ordering::Relaxed) {
                let tid = thread.tid()?;
                if let Some(sched) = super::thread_state::sched_of(tid) {
                    thread.last_cpu_ns.store(sched.cpu_ns, Ordering::Relaxed);
                    thread.last_wait_ns.store(sched.wait_ns, Ordering::Relaxed);
                }
            }
            total = total.saturating_add(thread.last_cpu_ns.load(Ordering::Relaxed));
        }
        Some(total)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
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
                let stack = slot.stack().expect("a thread's stack is a mapping");
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
