//! The validated scenario: plain data the engine runs, produced only by `scenario::parse`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;
use smart_default::SmartDefault;
use strum::{EnumDiscriminants, EnumIter, EnumString, IntoStaticStr, VariantArray, VariantNames};

use super::ns;

/// The probe's own defaults are a scenario's: a stall at 100 ms, a long poll at 10 ms.
pub use crate::probe::{DEFAULT_LONG_POLL_THRESHOLD, DEFAULT_STALL_THRESHOLD};
/// Default lag threshold: a canary timer firing this late means the runtime is starved.
pub const DEFAULT_LAG_THRESHOLD: Duration = Duration::from_millis(50);
/// Default blocking-pool cap, tokio's own.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Fewest workers a scenario gets by default: a single worker cannot show one blocking another.
pub const MIN_DEFAULT_WORKERS: usize = 2;

/// Where a scenario came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ScenarioSource {
    /// A file on disk.
    File(PathBuf),
    /// Embedded in the binary under this name.
    BuiltIn(String),
    /// Another process, attached to through its probe: its program and workers, no workloads.
    Process { pid: u32, program: String },
}

impl std::fmt::Display for ScenarioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScenarioSource::File(path) => write!(f, "{}", path.display()),
            ScenarioSource::BuiltIn(name) => write!(f, "built-in:{name}"),
            ScenarioSource::Process { pid, program } => write!(f, "{program}, pid {pid}"),
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name; defaults to the file stem.
    pub name: String,
    /// One line for a person.
    pub title: String,
    /// A paragraph for a newcomer: what runs and what it teaches.
    pub description: String,
    pub source: ScenarioSource,
    pub runtime: RuntimeSpec,
    pub detector: DetectorSpec,
    pub workloads: Vec<WorkloadSpec>,
    /// The scripted demo, in time order; empty when the scenario has no phases.
    pub phases: Vec<PhaseSpec>,
}

impl Scenario {
    /// What an attachment to another process runs as: the app's program and workers, the
    /// thresholds of its probe, and no workloads of tokmon's.
    pub fn attached(pid: u32, program: &str, workers: usize, detector: DetectorSpec) -> Scenario {
        Scenario {
            name: program.to_string(),
            title: format!("{program} (pid {pid}), attached"),
            description: format!(
                "tokmon is attached to process {pid} ({program}) through its probe: its \
                 runtime's workers, polls and stalls, with no workloads of tokmon's."
            ),
            source: ScenarioSource::Process {
                pid,
                program: program.to_string(),
            },
            runtime: RuntimeSpec {
                workers,
                // tokio does not say an app's cap; its default is the likely one.
                max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            },
            detector,
            workloads: Vec::new(),
            phases: Vec::new(),
        }
    }

    /// The same scenario with every phase start and every workload pause divided by `factor`
    /// (`--time-scale`), so a phased demo runs in seconds in tests.
    pub fn time_scaled(&self, factor: f64) -> Scenario {
        let scale = |d: Duration| d.div_f64(factor.max(f64::MIN_POSITIVE));
        let mut scaled = self.clone();
        for phase in &mut scaled.phases {
            phase.at = scale(phase.at);
            for setting in &mut phase.set {
                if let Knob::Every(d) = &mut setting.knob {
                    *d = scale(*d);
                }
            }
        }
        for workload in &mut scaled.workloads {
            match &mut workload.kind {
                WorkloadKind::Hash(s) => s.every = scale(s.every),
                WorkloadKind::Mutex(s) => s.every = scale(s.every),
                WorkloadKind::Sleep(s) => s.every = scale(s.every),
                WorkloadKind::Fs(s) => s.every = scale(s.every),
                WorkloadKind::Echo(_) | WorkloadKind::Spawn(_) => {}
            }
        }
        scaled
    }
}

/// One step of a scripted demo: from `at` on, `note` is shown and `set` has been applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSpec {
    /// Time since the run started.
    pub at: Duration,
    pub note: String,
    pub set: Vec<KnobSetting>,
}

/// One live setting of one workload, as a phase's `set` or a dashboard key changes it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnobSetting {
    pub workload: String,
    pub knob: Knob,
}

/// A setting that can change while a workload runs, named by the key that sets it.
///
/// The order of the variants is the order a kind's knobs are listed in messages.
#[derive(Debug, Clone, Copy, PartialEq, IntoStaticStr, EnumDiscriminants)]
#[strum(serialize_all = "snake_case")]
#[strum_discriminants(derive(PartialOrd, Ord))]
pub enum Knob {
    /// hash
    Placement(Placement),
    /// mutex
    Lock(LockKind),
    /// mutex
    HoldBy(HoldBy),
    /// sleep
    #[strum(serialize = "mode")]
    SleepMode(SleepMode),
    /// fs
    #[strum(serialize = "mode")]
    FsMode(FsMode),
    /// echo, spawn: per second
    Rate(u32),
    /// hash, fs: bytes per job
    Size(u64),
    /// hash, mutex, sleep, fs: concurrent loops
    Tasks(u32),
    /// hash, mutex, sleep, fs: pause between operations
    Every(Duration),
    /// sleep: length of one sleep
    Duration(Duration),
    /// mutex: how long a holder keeps the lock
    Hold(Duration),
}

impl Knob {
    /// The key that names this knob in a phase's `set` (`"hasher.placement"`).
    pub fn key(&self) -> &'static str {
        self.into()
    }
}

impl WorkloadKind {
    /// This workload with one knob changed, or `None` when the kind has no such knob.
    pub fn with(&self, knob: Knob) -> Option<WorkloadKind> {
        let mut kind = self.clone();
        match (&mut kind, knob) {
            (WorkloadKind::Hash(s), Knob::Placement(p)) => s.placement = p,
            (WorkloadKind::Hash(s), Knob::Size(n)) => s.size = n,
            (WorkloadKind::Hash(s), Knob::Tasks(n)) => s.tasks = n,
            (WorkloadKind::Hash(s), Knob::Every(d)) => s.every = d,
            (WorkloadKind::Mutex(s), Knob::Lock(l)) => s.lock = l,
            (WorkloadKind::Mutex(s), Knob::HoldBy(h)) => s.hold_by = h,
            (WorkloadKind::Mutex(s), Knob::Tasks(n)) => s.tasks = n,
            (WorkloadKind::Mutex(s), Knob::Every(d)) => s.every = d,
            (WorkloadKind::Mutex(s), Knob::Hold(d)) => s.hold = d,
            (WorkloadKind::Sleep(s), Knob::SleepMode(m)) => s.mode = m,
            (WorkloadKind::Sleep(s), Knob::Tasks(n)) => s.tasks = n,
            (WorkloadKind::Sleep(s), Knob::Every(d)) => s.every = d,
            (WorkloadKind::Sleep(s), Knob::Duration(d)) => s.duration = d,
            (WorkloadKind::Fs(s), Knob::FsMode(m)) => s.mode = m,
            (WorkloadKind::Fs(s), Knob::Size(n)) => s.size = n,
            (WorkloadKind::Fs(s), Knob::Tasks(n)) => s.tasks = n,
            (WorkloadKind::Fs(s), Knob::Every(d)) => s.every = d,
            (WorkloadKind::Echo(s), Knob::Rate(r)) => s.rate = r,
            (WorkloadKind::Spawn(s), Knob::Rate(r)) => s.rate = r,
            _ => return None,
        }
        Some(kind)
    }
}

/// The measured runtime's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeSpec {
    /// Worker threads; default: number of CPUs, at least [`MIN_DEFAULT_WORKERS`].
    pub workers: usize,
    /// Blocking-pool cap; default [`DEFAULT_MAX_BLOCKING_THREADS`].
    pub max_blocking_threads: usize,
}

/// Detector thresholds a scenario may set; command-line flags override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorSpec {
    #[serde(rename = "stall_ns", with = "ns")]
    pub stall_threshold: Duration,
    #[serde(rename = "long_poll_ns", with = "ns")]
    pub long_poll_threshold: Duration,
    #[serde(rename = "lag_ns", with = "ns")]
    pub lag_threshold: Duration,
}

impl Default for DetectorSpec {
    fn default() -> Self {
        DetectorSpec {
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            long_poll_threshold: DEFAULT_LONG_POLL_THRESHOLD,
            lag_threshold: DEFAULT_LAG_THRESHOLD,
        }
    }
}

/// One workload: a unique id and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// Unique within the scenario; names the workload in reports and findings.
    pub id: String,
    pub kind: WorkloadKind,
}

/// A choice a scenario file names in snake_case (`spawn_blocking`): strum parses and names it,
/// serde writes and reads a recording with the same names.
macro_rules! choice {
    ($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, EnumString, IntoStaticStr,
            VariantNames, VariantArray,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($body)* }

        impl $name {
            /// Its name in a scenario file.
            pub fn name(self) -> &'static str {
                self.into()
            }
        }
    };
}

/// What a workload does, with its settings; parsing a `kind` name gives the kind's defaults.
/// In serde, as a recording's `applied` line stores them: tagged by `kind`, durations in `_ns`.
///
/// The variants are in the order messages list the kinds.
#[derive(
    Debug,
    Clone,
    PartialEq,
    EnumString,
    IntoStaticStr,
    VariantNames,
    EnumIter,
    Serialize,
    Deserialize,
)]
#[strum(serialize_all = "lowercase")]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkloadKind {
    Echo(EchoSpec),
    Fs(FsSpec),
    Hash(HashSpec),
    Mutex(MutexSpec),
    Sleep(SleepSpec),
    Spawn(SpawnSpec),
}

impl WorkloadKind {
    /// The `kind` key's value.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// A TCP echo server on the measured runtime, loaded from outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SmartDefault, Serialize, Deserialize)]
pub struct EchoSpec {
    /// Client connections kept open.
    #[default(16)]
    pub connections: u32,
    /// Requests per second in total, open loop.
    #[default(1000)]
    pub rate: u32,
    /// Bytes per request (and per echoed response).
    #[default(64)]
    pub payload: u32,
    /// A response later than this counts as a timeout.
    #[default(Duration::from_secs(1))]
    #[serde(rename = "timeout_ns", with = "ns")]
    pub timeout: Duration,
}

choice! {
    /// Where a hash job runs.
    pub enum Placement {
        /// Inline in the async task: the mistake.
        Worker,
        /// On the blocking pool.
        SpawnBlocking,
        /// `block_in_place` on the worker thread, which hands its run queue away first.
        BlockInPlace,
        /// Inline, in chunks, with `yield_now` between them.
        Yield,
    }
}

/// sha2-256 over `size` bytes per job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SmartDefault, Serialize, Deserialize)]
pub struct HashSpec {
    #[default(Placement::Worker)]
    pub placement: Placement,
    /// Concurrent hashing loops.
    #[default(2)]
    pub tasks: u32,
    /// Bytes hashed per job.
    #[default(64 * 1024 * 1024)]
    pub size: u64,
    /// Pause between jobs in one loop.
    #[default(Duration::from_millis(100))]
    #[serde(rename = "every_ns", with = "ns")]
    pub every: Duration,
    /// Bytes hashed between `yield_now` calls when `placement = "yield"`.
    #[default(1024 * 1024)]
    pub chunk: u64,
}

choice! {
    /// Which lock the mutex workload contends on.
    pub enum LockKind {
        Std,
        Tokio,
    }
}

choice! {
    /// How a lock holder spends its `hold` time.
    pub enum HoldBy {
        /// `std::thread::sleep` under a std lock, `tokio::time::sleep` under a tokio lock.
        Sleep,
        /// A busy loop on the CPU.
        Spin,
    }
}

/// `tasks` contenders on one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SmartDefault, Serialize, Deserialize)]
pub struct MutexSpec {
    #[default(8)]
    pub tasks: u32,
    #[default(LockKind::Std)]
    pub lock: LockKind,
    #[default(Duration::from_millis(20))]
    #[serde(rename = "hold_ns", with = "ns")]
    pub hold: Duration,
    #[default(HoldBy::Sleep)]
    pub hold_by: HoldBy,
    #[default(Duration::from_millis(10))]
    #[serde(rename = "every_ns", with = "ns")]
    pub every: Duration,
}

choice! {
    /// How the sleep workload sleeps.
    pub enum SleepMode {
        /// `std::thread::sleep`: the classic mistake.
        Blocking,
        /// `tokio::time::sleep`.
        Async,
    }
}

/// `tasks` loops that sleep `duration`, pausing `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SmartDefault, Serialize, Deserialize)]
pub struct SleepSpec {
    #[default(2)]
    pub tasks: u32,
    #[default(Duration::from_millis(200))]
    #[serde(rename = "duration_ns", with = "ns")]
    pub duration: Duration,
    #[default(SleepMode::Blocking)]
    pub mode: SleepMode,
    #[default(Duration::from_millis(100))]
    #[serde(rename = "every_ns", with = "ns")]
    pub every: Duration,
}

/// Spawns short tasks at `rate` per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SmartDefault, Serialize, Deserialize)]
pub struct SpawnSpec {
    /// Tasks spawned per second.
    #[default(1000)]
    pub rate: u32,
    /// CPU work each spawned task does before it ends.
    #[default(Duration::from_micros(10))]
    #[serde(rename = "work_ns", with = "ns")]
    pub work: Duration,
}

choice! {
    /// How the fs workload does its file I/O.
    pub enum FsMode {
        /// `std::fs` inside async code: the mistake.
        Blocking,
        /// `tokio::fs`, which runs each call on the blocking pool.
        Async,
    }
}

/// `tasks` loops that each write `size` bytes to their own file in a temporary directory,
/// `fsync` it, read it back, and pause `every`. The directory is removed when the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, SmartDefault, Serialize, Deserialize)]
pub struct FsSpec {
    #[default(2)]
    pub tasks: u32,
    #[default(FsMode::Blocking)]
    pub mode: FsMode,
    /// Bytes written and read per operation.
    #[default(4 * 1024 * 1024)]
    pub size: u64,
    #[default(Duration::from_millis(20))]
    #[serde(rename = "every_ns", with = "ns")]
    pub every: Duration,
}
