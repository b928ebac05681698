//! The measured runtime and the workloads that run on it. Nothing of tokmon's own runs there.
//!
//! Each workload reads its settings from a `watch` channel, so a control message changes a
//! running workload without restarting anything; its counters live in [`WorkloadStats`].

mod echo;
mod fs;
mod hash;
mod mutex;
mod runtime;
mod sleep;
mod spawn;
mod stats;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;

use crate::probe::{LabelGuard, LabelRelease, Probe};
use crate::run::Control;
use crate::scenario::{Scenario, WorkloadKind};

pub use runtime::build_measured_runtime;
pub use stats::{LatencyRecorder, WorkloadStats, to_buckets};

/// Why a control message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("no workload with id `{0}`")]
    UnknownWorkload(String),
    #[error("workload `{id}` ({kind}) has no live setting `{knob}`")]
    NoSuchKnob {
        id: String,
        kind: &'static str,
        knob: &'static str,
    },
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
    /// Where the labels are kept (forgotten as each labelled task ends).
    probe: Arc<Probe>,
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

    /// Waits while loop `index` is beyond the workload's current `tasks` (read by `tasks_of`);
    /// true when the loop may run.
    async fn active<T>(
        &mut self,
        settings: &mut watch::Receiver<T>,
        index: u32,
        tasks_of: fn(&T) -> u32,
    ) {
        if index < tasks_of(&settings.borrow()) {
            return;
        }
        // An error means the engine is gone; the runtime is shutting down.
        let _ = settings.wait_for(|s| index < tasks_of(s)).await;
    }

    /// Spawns a task of this workload on the measured runtime, instrumented for scheduling
    /// delay. `#[track_caller]` keeps the task's spawn location at the workload's own code.
    #[track_caller]
    fn spawn<F>(&self, handle: &Handle, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _label = LabelGuard::set(&self.label);
        let release = LabelRelease::new(&self.probe);
        drop(handle.spawn(self.stats.monitor.instrument(async move {
            let _release = release;
            future.await;
        })));
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
    Fs(watch::Sender<crate::scenario::FsSpec>),
}

/// Starts loops `from..to` of a workload whose loops are numbered; loops whose number is not
/// below the current `tasks` wait, so `tasks` can go down and up again without restarting.
type LoopSpawner = Box<dyn Fn(u32, u32) + Send + Sync>;

struct RunningWorkload {
    id: String,
    stats: Arc<WorkloadStats>,
    settings: SettingsTx,
    /// The settings in force now.
    current: Mutex<WorkloadKind>,
    /// Loops started so far, and how to start more (kinds with `tasks`).
    loops: Option<(Mutex<u32>, LoopSpawner)>,
}

impl std::fmt::Debug for RunningWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningWorkload")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One applied change, for the event log: `hasher placement: worker -> spawn_blocking`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub workload: String,
    pub key: &'static str,
    pub from: String,
    pub to: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} → {}",
            self.workload, self.key, self.from, self.to
        )
    }
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
    /// Where fs workloads keep their files; removed with the engine.
    scratch: Option<tempfile::TempDir>,
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
        let has = |f: fn(&WorkloadKind) -> bool| scenario.workloads.iter().any(|w| f(&w.kind));
        let load_generator = if has(|k| matches!(k, WorkloadKind::Echo(_))) {
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
        let scratch = if has(|k| matches!(k, WorkloadKind::Fs(_))) {
            Some(
                tempfile::Builder::new()
                    .prefix("tokmon-fs-")
                    .tempdir()
                    .context("creating a temporary directory for the fs workload")?,
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
            scratch,
        };
        let handle = runtime.handle().clone();
        engine.runtime = Some(runtime);
        for workload in &scenario.workloads {
            let stats = Arc::new(WorkloadStats::new(&workload.id, setting_of(&workload.kind)));
            let ctx = TaskContext {
                stats: stats.clone(),
                label: Arc::from(workload.id.as_str()),
                probe: probe.clone(),
                paused: engine.paused.subscribe(),
                stopping: engine.stopping.clone(),
            };
            let (settings, spawner, tasks): (SettingsTx, Option<LoopSpawner>, u32) =
                match &workload.kind {
                    WorkloadKind::Echo(spec) => {
                        let (tx, rx) = watch::channel(*spec);
                        let load_generator = engine
                            .load_generator
                            .as_ref()
                            .map(|rt| rt.handle().clone())
                            .context("echo needs the load generator")?;
                        echo::start(&handle, &load_generator, ctx, rx)
                            .with_context(|| format!("starting echo workload `{}`", workload.id))?;
                        (SettingsTx::Echo(tx), None, 0)
                    }
                    WorkloadKind::Hash(spec) => {
                        let (tx, rx) = watch::channel(*spec);
                        (
                            SettingsTx::Hash(tx),
                            Some(hash::spawner(&handle, ctx, rx)),
                            spec.tasks,
                        )
                    }
                    WorkloadKind::Mutex(spec) => {
                        let (tx, rx) = watch::channel(*spec);
                        (
                            SettingsTx::Mutex(tx),
                            Some(mutex::spawner(&handle, ctx, rx)),
                            spec.tasks,
                        )
                    }
                    WorkloadKind::Sleep(spec) => {
                        let (tx, rx) = watch::channel(*spec);
                        (
                            SettingsTx::Sleep(tx),
                            Some(sleep::spawner(&handle, ctx, rx)),
                            spec.tasks,
                        )
                    }
                    WorkloadKind::Spawn(spec) => {
                        let (tx, rx) = watch::channel(*spec);
                        spawn::start(&handle, ctx, rx);
                        (SettingsTx::Spawn(tx), None, 0)
                    }
                    WorkloadKind::Fs(spec) => {
                        let (tx, rx) = watch::channel(*spec);
                        let dir = engine
                            .scratch
                            .as_ref()
                            .map(|d| d.path().to_path_buf())
                            .context("fs needs its directory")?;
                        (
                            SettingsTx::Fs(tx),
                            Some(fs::spawner(&handle, ctx, rx, dir)),
                            spec.tasks,
                        )
                    }
                };
            let loops = spawner.map(|spawn| {
                spawn(0, tasks);
                (Mutex::new(tasks), spawn)
            });
            engine.workloads.push(RunningWorkload {
                id: workload.id.clone(),
                stats,
                settings,
                current: Mutex::new(workload.kind.clone()),
                loops,
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

    /// Applies one control message to the running workloads; a settings change comes back
    /// as a [`Change`] for the event log (`None` when nothing changed).
    pub fn apply(&self, control: Control) -> Result<Option<Change>, ControlError> {
        match control {
            Control::Pause => {
                self.paused.send_replace(true);
                Ok(None)
            }
            Control::Resume => {
                self.paused.send_replace(false);
                Ok(None)
            }
            Control::Set(setting) => {
                let running = self.find(&setting.workload)?;
                let current = lock(&running.current).clone();
                let kind = current
                    .with(setting.knob)
                    .ok_or_else(|| ControlError::NoSuchKnob {
                        id: setting.workload.clone(),
                        kind: current.name(),
                        knob: setting.knob.key(),
                    })?;
                let change = Change {
                    workload: setting.workload.clone(),
                    key: setting.knob.key(),
                    from: knob_value(&current, setting.knob.key()),
                    to: knob_value(&kind, setting.knob.key()),
                };
                self.update(running, kind)?;
                Ok((change.from != change.to).then_some(change))
            }
        }
    }

    /// The settings a workload runs with now.
    pub fn current(&self, workload: &str) -> Option<WorkloadKind> {
        self.workloads
            .iter()
            .find(|w| w.id == workload)
            .map(|w| lock(&w.current).clone())
    }

    fn find(&self, id: &str) -> Result<&RunningWorkload, ControlError> {
        self.workloads
            .iter()
            .find(|w| w.id == id)
            .ok_or_else(|| ControlError::UnknownWorkload(id.to_string()))
    }

    fn update(&self, running: &RunningWorkload, kind: WorkloadKind) -> Result<(), ControlError> {
        let mismatch = |is: &'static str| ControlError::KindMismatch {
            id: running.id.clone(),
            is,
            to: kind.name(),
        };
        let tasks = match (&running.settings, &kind) {
            (SettingsTx::Echo(tx), WorkloadKind::Echo(s)) => send(tx, *s, 0),
            (SettingsTx::Hash(tx), WorkloadKind::Hash(s)) => send(tx, *s, s.tasks),
            (SettingsTx::Mutex(tx), WorkloadKind::Mutex(s)) => send(tx, *s, s.tasks),
            (SettingsTx::Sleep(tx), WorkloadKind::Sleep(s)) => send(tx, *s, s.tasks),
            (SettingsTx::Spawn(tx), WorkloadKind::Spawn(s)) => send(tx, *s, 0),
            (SettingsTx::Fs(tx), WorkloadKind::Fs(s)) => send(tx, *s, s.tasks),
            (SettingsTx::Echo(_), _) => return Err(mismatch("echo")),
            (SettingsTx::Hash(_), _) => return Err(mismatch("hash")),
            (SettingsTx::Mutex(_), _) => return Err(mismatch("mutex")),
            (SettingsTx::Sleep(_), _) => return Err(mismatch("sleep")),
            (SettingsTx::Spawn(_), _) => return Err(mismatch("spawn")),
            (SettingsTx::Fs(_), _) => return Err(mismatch("fs")),
        };
        // More loops than ever started: start the missing ones (the others wake by themselves).
        if let Some((started, spawn)) = &running.loops {
            let mut started = lock(started);
            if tasks > *started {
                spawn(*started, tasks);
                *started = tasks;
            }
        }
        running.stats.set_setting(setting_of(&kind));
        *lock(&running.current) = kind;
        Ok(())
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends new settings; returns the loop count they ask for.
fn send<T>(tx: &watch::Sender<T>, spec: T, tasks: u32) -> u32 {
    drop(tx.send_replace(spec));
    tasks
}

/// A knob's value in words, for the event log.
fn knob_value(kind: &WorkloadKind, key: &str) -> String {
    let d = |d: Duration| humantime::format_duration(d).to_string();
    match (kind, key) {
        (WorkloadKind::Hash(s), "placement") => s.placement.name().into(),
        (WorkloadKind::Hash(s), "size") => bytesize::ByteSize(s.size).display().iec().to_string(),
        (WorkloadKind::Fs(s), "size") => bytesize::ByteSize(s.size).display().iec().to_string(),
        (WorkloadKind::Hash(s), "tasks") => s.tasks.to_string(),
        (WorkloadKind::Hash(s), "every") => d(s.every),
        (WorkloadKind::Mutex(s), "lock") => s.lock.name().into(),
        (WorkloadKind::Mutex(s), "hold_by") => s.hold_by.name().into(),
        (WorkloadKind::Mutex(s), "tasks") => s.tasks.to_string(),
        (WorkloadKind::Mutex(s), "every") => d(s.every),
        (WorkloadKind::Mutex(s), "hold") => d(s.hold),
        (WorkloadKind::Sleep(s), "mode") => s.mode.name().into(),
        (WorkloadKind::Sleep(s), "tasks") => s.tasks.to_string(),
        (WorkloadKind::Sleep(s), "every") => d(s.every),
        (WorkloadKind::Sleep(s), "duration") => d(s.duration),
        (WorkloadKind::Fs(s), "mode") => s.mode.name().into(),
        (WorkloadKind::Fs(s), "tasks") => s.tasks.to_string(),
        (WorkloadKind::Fs(s), "every") => d(s.every),
        (WorkloadKind::Echo(s), "rate") => format!("{}/s", s.rate),
        (WorkloadKind::Spawn(s), "rate") => format!("{}/s", s.rate),
        _ => "?".into(),
    }
}

/// The live setting that matters most for a kind, shown next to its numbers (the echo's rate is
/// read back by its panel, `answered` in `src/app/view.rs`).
fn setting_of(kind: &WorkloadKind) -> String {
    match kind {
        WorkloadKind::Echo(s) => format!("rate={}/s", s.rate),
        WorkloadKind::Hash(s) => format!("placement={}", s.placement.name()),
        WorkloadKind::Mutex(s) => format!("lock={}", s.lock.name()),
        WorkloadKind::Sleep(s) => format!("mode={}", s.mode.name()),
        WorkloadKind::Spawn(s) => format!("rate={}/s", s.rate),
        WorkloadKind::Fs(s) => format!("mode={}", s.mode.name()),
    }
}

/// Busy-waits on the CPU for `duration`: work that never yields.
fn spin_for(duration: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}
