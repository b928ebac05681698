//! Which workload a task belongs to: a label set by tokmon's spawn helper, recorded against the
//! task id when the task is spawned and forgotten when it ends (see
//! [`super::LabelRelease`]). Off the poll path.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

thread_local! {
    /// The label the next task spawned on this thread gets, while a [`LabelGuard`] lives.
    static SPAWN_LABEL: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
    /// Whether `SPAWN_LABEL` holds a label: one plain load for the spawn hook of an app that
    /// labels nothing, where the label's own cell costs a borrow, a clone and a drop.
    static LABELLED: Cell<bool> = const { Cell::new(false) };
}

/// Labels the tasks spawned on this thread while it lives. `on_task_spawn` runs on the spawning
/// thread, so it sees the label. Not `Send`: dropped on another thread (held across an
/// `.await`), it would leave its label set on the first one for good.
#[derive(Debug)]
pub struct LabelGuard {
    previous: Option<Arc<str>>,
    _this_thread: std::marker::PhantomData<*const ()>,
}

impl LabelGuard {
    pub fn set(label: &Arc<str>) -> LabelGuard {
        let previous = SPAWN_LABEL.with(|l| l.borrow_mut().replace(label.clone()));
        LABELLED.set(true);
        LabelGuard {
            previous,
            _this_thread: std::marker::PhantomData,
        }
    }
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        LABELLED.set(previous.is_some());
        SPAWN_LABEL.with(|l| *l.borrow_mut() = previous);
    }
}

/// The label set on this thread now, if any.
#[inline]
pub fn current_label() -> Option<Arc<str>> {
    if !LABELLED.get() {
        return None;
    }
    SPAWN_LABEL.with(|l| l.borrow().clone())
}

/// The label map keeps room for this many tasks however few are alive.
const MIN_CAPACITY: usize = 1024;

/// Task id -> label, for labelled tasks only. Holds the labelled tasks alive now: its room
/// follows them down after a burst (a queue that built up during a stall), so what it keeps
/// does not grow with the most tasks ever alive at once.
#[derive(Debug, Default)]
pub struct TaskLabels {
    labels: Mutex<HashMap<u64, Arc<str>>>,
    /// Lets a release skip the lock when no labelled task is alive.
    count: AtomicUsize,
}

impl TaskLabels {
    pub fn insert(&self, task_id: u64, label: Arc<str>) {
        let mut labels = self.lock();
        labels.insert(task_id, label);
        self.count.store(labels.len(), Ordering::Relaxed);
    }

    pub fn remove(&self, task_id: u64) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut labels = self.lock();
        labels.remove(&task_id);
        // Most of the room empty: give it back, keeping twice what is alive so that the next
        // shrink or growth is far away (each costs one pass over the labels still alive).
        if labels.capacity() > 2 * MIN_CAPACITY && labels.len() * 8 < labels.capacity() {
            let keep = (labels.len() * 2).max(MIN_CAPACITY);
            labels.shrink_to(keep);
        }
        self.count.store(labels.len(), Ordering::Relaxed);
    }

    pub fn get(&self, task_id: u64) -> Option<Arc<str>> {
        self.lock().get(&task_id).cloned()
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Labels the map has room for.
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<str>>> {
        self.labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The integer behind a `tokio::task::Id`, the number its `Display` prints. `Id` has no public
/// accessor, but hashes its `NonZeroU64` with one `write_u64`; this hasher keeps that value.
#[inline]
pub fn task_id_u64(id: tokio::task::Id) -> u64 {
    #[derive(Default)]
    struct KeepU64(u64);
    impl Hasher for KeepU64 {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, _bytes: &[u8]) {}
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    let mut hasher = KeepU64::default();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_match_their_display() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let handle = rt.spawn(async { tokio::task::id() });
        let id = rt.block_on(handle).expect("task ran");
        assert_eq!(task_id_u64(id).to_string(), id.to_string());
    }

    #[test]
    fn guard_sets_and_restores_the_label() {
        assert_eq!(current_label(), None);
        let outer: Arc<str> = "outer".into();
        let inner: Arc<str> = "inner".into();
        {
            let _a = LabelGuard::set(&outer);
            {
                let _b = LabelGuard::set(&inner);
                assert_eq!(current_label().as_deref(), Some("inner"));
            }
            assert_eq!(current_label().as_deref(), Some("outer"));
        }
        assert_eq!(current_label(), None);
    }

    #[test]
    fn labels_are_forgotten_on_remove() {
        let labels = TaskLabels::default();
        labels.insert(7, "hasher".into());
        assert_eq!(labels.get(7).as_deref(), Some("hasher"));
        labels.remove(7);
        assert_eq!(labels.get(7), None);
        assert!(labels.is_empty());
    }

    #[test]
    fn the_room_follows_the_tasks_alive_down_after_a_burst() {
        let labels = TaskLabels::default();
        let label: Arc<str> = "churn".into();
        // A burst: 100,000 tasks queued at once, then all but ten end.
        for id in 0..100_000 {
            labels.insert(id, label.clone());
        }
        assert!(labels.capacity() >= 100_000);
        for id in 10..100_000 {
            labels.remove(id);
        }
        assert_eq!(labels.len(), 10);
        assert!(
            labels.capacity() <= 2 * MIN_CAPACITY,
            "{}",
            labels.capacity()
        );
        for id in 0..10 {
            assert_eq!(labels.get(id).as_deref(), Some("churn"));
        }
        // Steady churn around the floor never shrinks below it.
        for id in 200_000..201_000 {
            labels.insert(id, label.clone());
            labels.remove(id);
        }
        assert!(labels.capacity() >= MIN_CAPACITY);
    }
}
