//! `mutex`: contenders on one lock, std or tokio, each holding it by sleeping or spinning.

use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{TaskContext, spin_for};
use crate::scenario::{HoldBy, LockKind, MutexSpec};

/// The one lock of each flavour the contenders share; `lock` picks which one they use.
#[derive(Debug, Default)]
struct Locks {
    std: std::sync::Mutex<u64>,
    tokio: tokio::sync::Mutex<u64>,
}

pub(super) fn start(
    handle: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<MutexSpec>,
    tasks: u32,
) {
    let locks = Arc::new(Locks::default());
    for _ in 0..tasks {
        let task_ctx = ctx.clone();
        ctx.spawn(handle, contend(task_ctx, settings.clone(), locks.clone()));
    }
}

async fn contend(mut ctx: TaskContext, settings: watch::Receiver<MutexSpec>, locks: Arc<Locks>) {
    loop {
        ctx.unpaused().await;
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
