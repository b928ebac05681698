//! The measured runtime's threads, registered as they start: who they are to the kernel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

/// One thread the measured runtime started (a worker or a blocking-pool thread).
#[derive(Debug)]
pub struct RuntimeThread {
    pub thread_id: ThreadId,
    /// Kernel thread id; `None` off Linux.
    pub tid: Option<i32>,
    /// Set when the thread stops; its last CPU reading then stays in the totals.
    pub stopped: AtomicBool,
    /// The sampler's last reading of this thread's CPU time, in nanoseconds.
    pub last_cpu_ns: AtomicU64,
}

/// Every thread the measured runtime has started. Written once per thread start (a lock is
/// fine there), read by the sampler.
#[derive(Debug, Default)]
pub struct ThreadRegistry {
    threads: Mutex<Vec<Arc<RuntimeThread>>>,
}

impl ThreadRegistry {
    /// Called on the new thread itself, from the runtime's `on_thread_start`.
    pub fn register_current(&self) {
        let thread = Arc::new(RuntimeThread {
            thread_id: std::thread::current().id(),
            tid: current_tid(),
            stopped: AtomicBool::new(false),
            last_cpu_ns: AtomicU64::new(0),
        });
        self.lock().push(thread);
    }

    /// Called on the stopping thread, from the runtime's `on_thread_stop`.
    pub fn unregister_current(&self) {
        let id = std::thread::current().id();
        for thread in self.lock().iter().filter(|t| t.thread_id == id) {
            thread.stopped.store(true, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Vec<Arc<RuntimeThread>> {
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
                if let Some(ns) = thread_cpu_ns(tid) {
                    thread.last_cpu_ns.store(ns, Ordering::Relaxed);
                }
            }
            total = total.saturating_add(thread.last_cpu_ns.load(Ordering::Relaxed));
        }
        Some(total)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<RuntimeThread>>> {
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

/// Nanoseconds the thread has run on a CPU, from `/proc/self/task/<tid>/schedstat`.
#[cfg(target_os = "linux")]
pub fn thread_cpu_ns(tid: i32) -> Option<u64> {
    let me = procfs::process::Process::myself().ok()?;
    let task = me.task_from_tid(tid).ok()?;
    task.schedstat().ok().map(|s| s.sum_exec_runtime)
}

#[cfg(not(target_os = "linux"))]
pub fn thread_cpu_ns(_tid: i32) -> Option<u64> {
    None
}

/// Shared handle the runtime builder's thread hooks capture.
pub type SharedRegistry = Arc<ThreadRegistry>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_threads_and_reads_their_cpu() {
        let registry = Arc::new(ThreadRegistry::default());
        let r = registry.clone();
        std::thread::spawn(move || {
            r.register_current();
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
