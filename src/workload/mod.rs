//! The measured runtime and the workloads that run on it. Nothing of tokmon's own runs there.
//!
//! Each workload reads its settings from a `watch` channel, so a control message changes a
//! running workload without restarting anything; its counters live in [`WorkloadStats`].

mod echo;
mod hash;
mod mutex;
mod runtime;
mod sleep;
mod spawn;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;

use crate::probe::{LabelGuard, Probe};
use crate::scenario::{Scenario, WorkloadKind};

pub use runtime::build_measured_runtime;
pub use stats::{LatencyRecorder, WorkloadStats, new_histogram, to_buckets};

/// Scheduling delays at least this long count as long in the workload's counters.
pub const LONG_SCHED_DELAY: Duration = Duration::from_millis(10);

/// A message from the consumer (report loop, later the dashboard) to the running workloads.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Every workload stops issuing new work until `Resume`.
    Pause,
    Resume,
    /// Replace one workload's settings; the kind must stay the same.
    Update {
        workload: String,
        kind: WorkloadKind,
    },
}

/// Why a control message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("no workload with id `{0}`")]
    UnknownWorkload(String),
    #[error("workload `{id}` is a {is} workload; cannot change it to {to}")]
    KindMismatch {
        id: String,
        is: &'static str,
        to: &'static str,
    },
}

/// What every task of a workload can see: its counters and whether the run is paused.
#[derive(Debug, Clone)]
struct TaskContext {
    stats: Arc<WorkloadStats>,
    /// The workload id, which labels every task the workload spawns.
    label: Arc<str>,
    paused: watch::Receiver<bool>,
    stopping: Arc<AtomicBool>,
}

impl TaskContext {
    /// True once the engine is shutting down. A loop checks it after each operation: a job
    /// that finishes during shutdown (say inside `block_in_place`) must not touch the timer,
    /// which is already gone.
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits while the run is paused.
    async fn unpaused(&mut self) {
        // An error means the engine is gone; the runtime is shutting down and so is this task.
        let _ = self.paused.wait_for(|paused| !*paused).await;
    }

    /// Spawns a task of this workload on the measured runtime, instrumented for scheduling
    /// delay. `#[track_caller]` keeps the task's spawn location at the workload's own code.
    #[track_caller]
    fn spawn<F>(&self, handle: &Handle, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _label = LabelGuard::set(&self.label);
        drop(handle.spawn(self.stats.monitor.instrument(future)));
    }
}

/// The settings channel of one running workload.
#[derive(Debug)]
enum SettingsTx {
    Echo(watch::Sender<crate::scenario::EchoSpec>),
    Hash(watch::Sender<crate::scenario::HashSpec>),
    Mutex(watch::Sender<crate::scenario::MutexSpec>),
    Sleep(watch::Sender<crate::scenario::SleepSpec>),
    Spawn(watch::Sender<crate::scenario::SpawnSpec>),
}

#[derive(Debug)]
struct RunningWorkload {
    id: String,
    stats: Arc<WorkloadStats>,
    settings: SettingsTx,
}

/// The measured runtime with the scenario's workloads running on it.
pub struct Engine {
    runtime: Option<Runtime>,
    /// Runs the echo clients, outside the measured runtime so they measure it from outside.
    load_generator: Option<Runtime>,
    workloads: Vec<RunningWorkload>,
    paused: watch::Sender<bool>,
    stopping: Arc<AtomicBool>,
    probe: Arc<Probe>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("workloads", &self.workloads)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds the measured runtime from the scenario and starts every workload on it.
    pub fn start(scenario: &Scenario, probe: Arc<Probe>) -> anyhow::Result<Engine> {
        let runtime = build_measured_runtime(&scenario.runtime, &probe)
            .context("building the measured runtime")?;
        let needs_load_generator = scenario
            .workloads
            .iter()
            .any(|w| matches!(w.kind, WorkloadKind::Echo(_)));
        let load_generator = if needs_load_generator {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("tokmon-loadgen")
                    .enable_all()
                    .build()
                    .context("building the load generator's runtime")?,
            )
        } else {
            None
        };
        let (paused, _) = watch::channel(false);
        let mut engine = Engine {
            runtime: None,
            load_generator,
            workloads: Vec::new(),
            paused,
            stopping: Arc::new(AtomicBool::new(false)),
            probe: probe.clone(),
        };
        let handle = runtime.handle().clone();
        let canary_probe = probe.clone();
        drop(handle.spawn(async move { canary_probe.canary.run(&canary_probe.clock).await }));
        engine.runtime = Some(runtime);
        for workload in &scenario.workloads {
            let stats = Arc::new(WorkloadStats::new(&workload.id, setting_of(&workload.kind)));
            let ctx = TaskContext {
                stats: stats.clone(),
                label: Arc::from(workload.id.as_str()),
                paused: engine.paused.subscribe(),
                stopping: engine.stopping.clone(),
            };
            let settings = match &workload.kind {
                WorkloadKind::Echo(spec) => {
                    let (tx, rx) = watch::channel(*spec);
                    let load_generator = engine
                        .load_generator
                        .as_ref()
                        .map(|rt| rt.handle().clone())
                        .context("echo needs the load generator")?;
                    echo::start(&handle, &load_generator, ctx, rx)
                        .with_context(|| format!("starting echo workload `{}`", workload.id))?;
                    SettingsTx::Echo(tx)
                }
                WorkloadKind::Hash(spec) => {
                    let (tx, rx) = watch::channel(*spec);
                    hash::start(&handle, ctx, rx, spec.tasks);
                    SettingsTx::Hash(tx)
                }
                WorkloadKind::Mutex(spec) => {
                    let (tx, rx) = watch::channel(*spec);
                    mutex::start(&handle, ctx, rx, spec.tasks);
                    SettingsTx::Mutex(tx)
                }
                WorkloadKind::Sleep(spec) => {
                    let (tx, rx) = watch::channel(*spec);
                    sleep::start(&handle, ctx, rx, spec.tasks);
                    SettingsTx::Sleep(tx)
                }
                WorkloadKind::Spawn(spec) => {
                    let (tx, rx) = watch::channel(*spec);
                    spawn::start(&handle, ctx, rx);
                    SettingsTx::Spawn(tx)
                }
            };
            engine.workloads.push(RunningWorkload {
                id: workload.id.clone(),
                stats,
                settings,
            });
        }
        Ok(engine)
    }

    /// The measured runtime, for reading its metrics.
    pub fn handle(&self) -> Option<Handle> {
        self.runtime.as_ref().map(|rt| rt.handle().clone())
    }

    /// Each workload's counters, in scenario order.
    pub fn stats(&self) -> Vec<Arc<WorkloadStats>> {
        self.workloads.iter().map(|w| w.stats.clone()).collect()
    }

    /// The probe installed on the measured runtime.
    pub fn probe(&self) -> Arc<Probe> {
        self.probe.clone()
    }

    /// Applies one control message to the running workloads.
    pub fn apply(&self, control: Control) -> Result<(), ControlError> {
        match control {
            Control::Pause => {
                self.paused.send_replace(true);
                Ok(())
            }
            Control::Resume => {
                self.paused.send_replace(false);
                Ok(())
            }
            Control::Update { workload, kind } => {
                let running = self
                    .workloads
                    .iter()
                    .find(|w| w.id == workload)
                    .ok_or_else(|| ControlError::UnknownWorkload(workload.clone()))?;
                let setting = setting_of(&kind);
                let mismatch = |is: &'static str| ControlError::KindMismatch {
                    id: workload.clone(),
                    is,
                    to: kind.name(),
                };
                match (&running.settings, &kind) {
                    (SettingsTx::Echo(tx), WorkloadKind::Echo(s)) => drop(tx.send_replace(*s)),
                    (SettingsTx::Hash(tx), WorkloadKind::Hash(s)) => drop(tx.send_replace(*s)),
                    (SettingsTx::Mutex(tx), WorkloadKind::Mutex(s)) => drop(tx.send_replace(*s)),
                    (SettingsTx::Sleep(tx), WorkloadKind::Sleep(s)) => drop(tx.send_replace(*s)),
                    (SettingsTx::Spawn(tx), WorkloadKind::Spawn(s)) => drop(tx.send_replace(*s)),
                    (SettingsTx::Echo(_), _) => return Err(mismatch("echo")),
                    (SettingsTx::Hash(_), _) => return Err(mismatch("hash")),
                    (SettingsTx::Mutex(_), _) => return Err(mismatch("mutex")),
                    (SettingsTx::Sleep(_), _) => return Err(mismatch("sleep")),
                    (SettingsTx::Spawn(_), _) => return Err(mismatch("spawn")),
                }
                running.stats.set_setting(setting);
                Ok(())
            }
        }
    }

    /// Stops the load generator, then the measured runtime, waiting at most `timeout` for a
    /// stuck worker (a blocked poll cannot be cancelled; its thread is left behind).
    pub fn shutdown(mut self, timeout: Duration) {
        self.stopping.store(true, Ordering::Release);
        if let Some(rt) = self.load_generator.take() {
            rt.shutdown_background();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(timeout);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Dropping a runtime whose worker is stuck blocks; never do that implicitly.
        if let Some(rt) = self.load_generator.take() {
            rt.shutdown_background();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The live setting that matters most for a kind, shown next to its numbers.
fn setting_of(kind: &WorkloadKind) -> String {
    match kind {
        WorkloadKind::Echo(s) => format!("rate={}/s", s.rate),
        WorkloadKind::Hash(s) => format!("placement={}", s.placement.name()),
        WorkloadKind::Mutex(s) => format!("lock={}", s.lock.name()),
        WorkloadKind::Sleep(s) => format!("mode={}", s.mode.name()),
        WorkloadKind::Spawn(s) => format!("rate={}/s", s.rate),
    }
}

/// Busy-waits on the CPU for `duration`: work that never yields.
fn spin_for(duration: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}
