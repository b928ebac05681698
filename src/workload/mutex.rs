//! `mutex`: contenders on one lock, std or tokio, each holding it by sleeping or spinning.

use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{LoopSpawner, TaskContext, spin_for};
use crate::scenario::{HoldBy, LockKind, MutexSpec};

/// The one lock of each flavour the contenders share; `lock` picks which one they use.
#[derive(Debug, Default)]
struct Locks {
    std: std::sync::Mutex<u64>,
    tokio: tokio::sync::Mutex<u64>,
}

/// Starts contenders `from..to` on demand; all of them share one pair of locks.
pub(super) fn spawner(
    handle: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<MutexSpec>,
) -> LoopSpawner {
    let locks = Arc::new(Locks::default());
    let handle = handle.clone();
    Box::new(move |from, to| {
        for index in from..to {
            let task_ctx = ctx.clone();
            ctx.spawn(
                &handle,
                contend(index, task_ctx, settings.clone(), locks.clone()),
            );
        }
    })
}

async fn contend(
    index: u32,
    mut ctx: TaskContext,
    mut settings: watch::Receiver<MutexSpec>,
    locks: Arc<Locks>,
) {
    loop {
        ctx.unpaused().await;
        ctx.active(&mut settings, index, |s| s.tasks).await;
        let spec = *settings.borrow();
        let asked = Instant::now();
        match spec.lock {
            LockKind::Std => {
                // The mistake: waiting for a std lock blocks the worker thread in futex.
                let mut guard = locks
                    .std
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                ctx.stats.op_done(asked.elapsed(), 0);
                match spec.hold_by {
                    HoldBy::Sleep => std::thread::sleep(spec.hold),
                    HoldBy::Spin => spin_for(spec.hold),
                }
                *guard += 1;
            }
            LockKind::Tokio => {
                let mut guard = locks.tokio.lock().await;
                ctx.stats.op_done(asked.elapsed(), 0);
                match spec.hold_by {
                    HoldBy::Sleep => tokio::time::sleep(spec.hold).await,
                    HoldBy::Spin => spin_for(spec.hold),
                }
                *guard += 1;
            }
        }
        if ctx.stopping() {
            return;
        }
        if !spec.every.is_zero() {
            tokio::time::sleep(spec.every).await;
        }
    }
}
