//! `sleep`: loops that sleep with `std::thread::sleep` (the mistake) or `tokio::time::sleep`.

use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::TaskContext;
use crate::scenario::{SleepMode, SleepSpec};

pub(super) fn start(
    handle: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<SleepSpec>,
    tasks: u32,
) {
    for _ in 0..tasks {
        let task_ctx = ctx.clone();
        ctx.spawn(handle, sleep_loop(task_ctx, settings.clone()));
    }
}

async fn sleep_loop(mut ctx: TaskContext, settings: watch::Receiver<SleepSpec>) {
    loop {
        ctx.unpaused().await;
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
