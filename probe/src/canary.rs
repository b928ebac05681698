//! The lag canary: a task on the measured runtime that asks for a short timer again and again
//! and records how late it fires. Late timers mean every task on the runtime is waiting.
//!
//! It is the one piece of tokmon that runs on the measured runtime, on purpose: it must wait
//! in the same queues as the workloads. It costs one timer wake-up per period.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;

use super::{CoarseClock, LabelGuard};

/// How often the canary asks for a timer.
pub const CANARY_PERIOD: Duration = Duration::from_millis(10);

/// The label of the canary's spawn site: the app's developer, reading the site table, sees the
/// probe's one task on their runtime named as such, not as one of theirs.
pub const CANARY_LABEL: &str = "tokmon-probe canary";

/// Spawns the canary's `task` on `handle`, labelled [`CANARY_LABEL`] through the naming API the
/// app uses for its own tasks. The task should hold a [`crate::LabelRelease`], so that the
/// task's label is forgotten with it.
pub fn spawn_labelled(handle: &Handle, task: impl Future<Output = ()> + Send + 'static) {
    let label: Arc<str> = Arc::from(CANARY_LABEL);
    let _label = LabelGuard::set(&label);
    drop(handle.spawn(task));
}

/// What the canary has seen; written by the canary task, read by the monitor.
#[derive(Debug, Default)]
pub struct Canary {
    /// Precise-clock time the pending timer is due; 0 before the canary starts.
    due_ns: AtomicU64,
    /// Highest lateness since the monitor last took it.
    max_late_ns: AtomicU64,
    /// Timers fired.
    fired: AtomicU64,
}

impl Canary {
    /// Counts the canary's first timer as pending from now, before its task is spawned: on a
    /// runtime whose workers are all taken from the start, the task's first poll waits too,
    /// and that wait is lag.
    pub fn arm(&self, clock: &CoarseClock) {
        self.due_ns
            .store(clock.precise_ns() + period_ns(), Ordering::Relaxed);
    }

    /// The canary task. Runs until the runtime shuts down.
    pub async fn run(&self, clock: &CoarseClock) {
        loop {
            let due = clock.precise_ns() + period_ns();
            self.due_ns.store(due, Ordering::Relaxed);
            tokio::time::sleep(CANARY_PERIOD).await;
            let late = clock.precise_ns().saturating_sub(due);
            self.max_late_ns.fetch_max(late, Ordering::Relaxed);
            self.fired.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The worst lateness since the last call, including the timer pending now if it is
    /// already overdue at `now_ns` (a runtime stuck so hard the canary cannot run at all).
    pub fn take_max_late_ns(&self, now_ns: u64) -> u64 {
        let fired = self.max_late_ns.swap(0, Ordering::Relaxed);
        let due = self.due_ns.load(Ordering::Relaxed);
        let pending = if due == 0 {
            0
        } else {
            now_ns.saturating_sub(due)
        };
        fired.max(pending)
    }

    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }
}

fn period_ns() -> u64 {
    u64::try_from(CANARY_PERIOD.as_nanos()).unwrap_or(u64::MAX)
}
