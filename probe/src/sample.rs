//! The plain data the probe's monitor thread reads from the runtime and its hooks: cumulative
//! counters (a lost reading loses resolution, never totals), the polls running long now and
//! those that finished long, with raw stacks for a client to name.

use serde::{Deserialize, Serialize};

use crate::ProbeWorker;

/// One reading of the measured runtime by the probe's monitor thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Counts the readings taken, delivered or not; a gap means drops.
    pub seq: u64,
    /// Nanoseconds since the monitor started, on a monotonic clock.
    pub elapsed_ns: u64,
    pub workers: Vec<WorkerCounters>,
    pub runtime: RuntimeCounters,
    /// What the poll hooks saw; `None` only from scripted sources in tests.
    pub probe: Option<ProbeSample>,
    /// Readings dropped so far because the consumer's channel was full.
    pub dropped_before: u64,
}

/// The poll hooks' view: live per-worker counters, the polls running now, and the long polls
/// that finished since the previous delivered sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeSample {
    /// Cumulative; busy time includes the elapsed part of a poll still running, which the
    /// next sample may take back (the poll ends timed shorter), so busy time can go down a
    /// little: it is no reset.
    pub workers: Vec<ProbeWorker>,
    /// Polls running at least the long-poll threshold at sampling time.
    pub in_flight: Vec<PollRecord>,
    /// Polls that finished after at least the long-poll threshold since the previous
    /// delivered sample.
    pub long_polls: Vec<PollRecord>,
    /// Long polls lost because the probe's queue was full (cumulative).
    pub long_polls_dropped: u64,
    /// The latest any canary timer fired in this interval, or is overdue now (nanoseconds).
    pub lag_max_ns: u64,
    /// Per spawn site, cumulative: only sites with a count, at most
    /// [`crate::locations::MAX_SITES`] of them and one `other` row.
    #[serde(default)]
    pub sites: Vec<SiteCounters>,
    /// How many spawn sites past the first [`crate::locations::MAX_SITES`] share the `other`
    /// row (their polls and spawns are counted there; this count of sites stops at
    /// [`crate::locations::MAX_KNOWN`] minus those).
    #[serde(default)]
    pub sites_other: u64,
}

/// One spawn site's counters, cumulative. Spawns are exact; polls and the histogram come from
/// the one-in-`PRECISE_EVERY` sample (long polls counted exactly); busy time from the coarse
/// clock: estimates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteCounters {
    /// `file:line:col`, or `other`.
    pub site: String,
    /// The label the app's first labelled spawn there carried.
    pub label: Option<String>,
    pub spawns: u64,
    /// Estimated polls: the sum of `buckets`.
    pub polls: u64,
    /// Estimated time polling the site's tasks.
    pub busy_ns: u64,
    /// Weighted polls per [`crate::buckets`] bucket, trailing empty buckets left out.
    pub buckets: Vec<u64>,
}

/// Whether a thread spent a poll on the CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuUse {
    On,
    Off,
    #[default]
    Unknown,
    /// Runnable but not running for most of the poll: the machine's other work kept it from
    /// a CPU, and what the poll itself computed would not have made it this long.
    Starved,
}

impl CpuUse {
    /// On the CPU for at least half the window, else off.
    pub fn from_ratio(ratio: Option<f64>) -> CpuUse {
        match ratio {
            Some(r) if r >= 0.5 => CpuUse::On,
            Some(_) => CpuUse::Off,
            None => CpuUse::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CpuUse::On => "on",
            CpuUse::Off => "off",
            CpuUse::Unknown => "unknown",
            CpuUse::Starved => "starved",
        }
    }
}

/// One long poll, running or finished, with everything known about who and why. The default
/// is a record of nothing known (tests fill in what they need).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollRecord {
    pub worker: Option<usize>,
    pub task_id: u64,
    /// The workload that spawned the task, if tokmon spawned it.
    pub workload: Option<String>,
    /// `file:line:col` of the spawn.
    pub spawned_at: Option<String>,
    /// Kernel thread id of the polling thread; with `seq`, identifies the poll.
    pub tid: Option<i32>,
    pub seq: u64,
    /// When the poll started, on the run's clock (ns since the run started).
    pub started_ns: u64,
    /// How long it ran (finished) or has run so far (running).
    pub duration_ns: u64,
    pub running: bool,
    /// Share of the watched window the thread spent on a CPU.
    pub cpu_ratio: Option<f64>,
    pub cpu: CpuUse,
    /// Time of the watched window the thread spent runnable, waiting for a CPU (schedstat).
    #[serde(default)]
    pub cpu_wait_ns: Option<u64>,
    /// Kernel run state of the thread when last looked at (`R`, `S`, `D`, ...).
    pub thread_state: Option<char>,
    /// The syscall the thread was blocked in when last looked at.
    pub syscall: Option<String>,
    /// The worker's run queue moved to another thread (`block_in_place`): the runtime is not
    /// blocked by this poll.
    pub worker_moved: bool,
    /// The stuck thread's stack as captured, raw (stalls only, where supported): the client
    /// names it and fills [`stack`](Self::stack). Always written, even when `None`: the wire's
    /// encoding is not self-describing, so no field may be left out.
    #[serde(default)]
    pub captured: Option<CapturedStack>,
    /// The same stack, symbolized by the client.
    #[serde(default)]
    pub stack: Option<StackInfo>,
}

/// A stuck thread's stack as the probe captured it: return addresses, innermost first, to be
/// located in the module map and named by the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedStack {
    pub addresses: Vec<u64>,
    /// How long the capture took, in microseconds.
    pub capture_us: u64,
}

/// A stuck thread's stack, symbolized, with the line of the application that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInfo {
    /// Innermost first.
    pub frames: Vec<StackFrame>,
    /// `file:line` of the first frame of the application (not std, tokio, libc or a
    /// dependency): the blocking site.
    pub site: Option<String>,
    /// How long the capture took, in microseconds.
    pub capture_us: u64,
}

/// One frame of a captured stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFrame {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Inlined into the frame below it.
    pub inlined: bool,
    /// Belongs to the application rather than to std, tokio, libc or a dependency.
    pub app: bool,
}

/// One worker's counters, cumulative since the runtime started (gauges say so).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCounters {
    /// Time spent polling tasks, as tokio publishes it (frozen while a poll runs).
    pub busy_ns: u64,
    pub polls: u64,
    pub parks: u64,
    pub steals: u64,
    /// Gauge: tasks in the worker's local queue now.
    pub local_queue_depth: u64,
}

/// Runtime-wide counters and gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeCounters {
    /// Gauge.
    pub alive_tasks: u64,
    /// Gauge.
    pub global_queue_depth: u64,
    /// Gauge: threads in the blocking pool (workers not counted).
    pub blocking_threads: u64,
    /// Gauge.
    pub idle_blocking_threads: u64,
    /// Gauge: `spawn_blocking` jobs waiting for a thread.
    pub blocking_queue_depth: u64,
    /// Cumulative.
    pub spawned_tasks: u64,
    /// Cumulative nanoseconds on the CPU of every thread the measured runtime has started
    /// (workers and blocking pool); `None` where the platform cannot tell.
    pub threads_cpu_ns: Option<u64>,
    /// Cumulative CPU nanoseconds of tokmon's monitor thread (watchdog + sampler): what
    /// watching costs; `None` where unknown.
    #[serde(default)]
    pub monitor_cpu_ns: Option<u64>,
}
