//! `spawn`: spawns short tasks at `rate` per second (churn and scale).

use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{TaskContext, spin_for};
use crate::scenario::SpawnSpec;

/// How often the driver wakes to spawn the tasks it owes.
const TICK: Duration = Duration::from_millis(10);

pub(super) fn start(handle: &Handle, ctx: TaskContext, settings: watch::Receiver<SpawnSpec>) {
    let task_ctx = ctx.clone();
    ctx.spawn(handle, drive(task_ctx, settings, handle.clone()));
}

async fn drive(mut ctx: TaskContext, settings: watch::Receiver<SpawnSpec>, handle: Handle) {
    let mut owed = 0.0f64;
    let mut last = Instant::now();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if *ctx.paused.borrow() {
            ctx.unpaused().await;
            last = Instant::now();
            continue;
        }
        let spec = *settings.borrow();
        let now = Instant::now();
        owed += f64::from(spec.rate) * now.duration_since(last).as_secs_f64();
        last = now;
        while owed >= 1.0 {
            owed -= 1.0;
            let stats = ctx.stats.clone();
            let spawned = Instant::now();
            ctx.spawn(&handle, async move {
                spin_for(spec.work);
                tokio::task::yield_now().await;
                stats.op_done(spawned.elapsed(), 0);
            });
        }
    }
}
