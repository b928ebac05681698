//! `sleep`: loops that sleep with `std::thread::sleep` (the mistake) or `tokio::time::sleep`.

use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{LoopSpawner, TaskContext};
use crate::scenario::{SleepMode, SleepSpec};

/// Starts sleep loops `from..to` on demand.
pub(super) fn spawner(
    handle: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<SleepSpec>,
) -> LoopSpawner {
    let handle = handle.clone();
    Box::new(move |from, to| {
        for index in from..to {
            let task_ctx = ctx.clone();
            ctx.spawn(&handle, sleep_loop(index, task_ctx, settings.clone()));
        }
    })
}

async fn sleep_loop(index: u32, mut ctx: TaskContext, mut settings: watch::Receiver<SleepSpec>) {
    loop {
        ctx.unpaused().await;
        ctx.active(&mut settings, index, |s| s.tasks).await;
        let spec = *settings.borrow();
        let started = Instant::now();
        match spec.mode {
            // Holds the worker thread off the CPU for the whole duration.
            SleepMode::Blocking => std::thread::sleep(spec.duration),
            SleepMode::Async => tokio::time::sleep(spec.duration).await,
        }
        ctx.stats.op_done(started.elapsed(), 0);
        if ctx.stopping() {
            return;
        }
        if !spec.every.is_zero() {
            tokio::time::sleep(spec.every).await;
        }
    }
}
