//! The plain data a sampler emits: cumulative counters, so a dropped sample loses resolution,
//! never totals.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Scheduling delays (woken -> polled) of at least this count as long in a workload's counters.
pub const LONG_SCHED_DELAY: Duration = Duration::from_millis(10);

/// The largest latency a histogram holds: an hour, in microseconds.
pub const MAX_LATENCY_MICROS: u64 = 3_600_000_000;

/// An empty microsecond histogram with the range tokmon uses everywhere.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
        .expect("static bounds 1..1h with 3 significant figures are valid")
}

/// Bumped whenever a field of [`Sample`] changes meaning, so recordings can be checked.
pub const SAMPLE_FORMAT_VERSION: u32 = 2;

/// One reading of the measured runtime and its workloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub format_version: u32,
    /// Counts samples the sampler produced, delivered or not; a gap means drops.
    pub seq: u64,
    /// Nanoseconds since the run started, on a monotonic clock.
    pub elapsed_ns: u64,
    pub workers: Vec<WorkerCounters>,
    pub runtime: RuntimeCounters,
    pub workloads: Vec<WorkloadCounters>,
    /// What tokmon's poll hooks saw; `None` when the probe is off (and in some tests).
    pub probe: Option<ProbeSample>,
    /// Samples dropped so far because the consumer's channel was full.
    pub dropped_before: u64,
}

/// The poll hooks' view: live per-worker counters, the polls running now, and the long polls
/// that finished since the previous delivered sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeSample {
    /// Cumulative; busy time includes the elapsed part of a poll still running, which the
    /// next sample may take back (the poll ends timed shorter), so busy time can go down a
    /// little: it is no reset.
    pub workers: Vec<crate::probe::ProbeWorker>,
    /// Polls running at least the long-poll threshold at sampling time.
    pub in_flight: Vec<PollRecord>,
    /// Polls that finished after at least the long-poll threshold since the previous
    /// delivered sample.
    pub long_polls: Vec<PollRecord>,
    /// Long polls lost because the probe's queue was full (cumulative).
    pub long_polls_dropped: u64,
    /// The latest any canary timer fired in this interval, or is overdue now (nanoseconds).
    pub lag_max_ns: u64,
}

/// Whether a thread spent a poll on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuUse {
    On,
    Off,
    Unknown,
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
        }
    }
}

/// One long poll, running or finished, with everything known about who and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Kernel run state of the thread when last looked at (`R`, `S`, `D`, ...).
    pub thread_state: Option<char>,
    /// The syscall the thread was blocked in when last looked at.
    pub syscall: Option<String>,
    /// The worker's run queue moved to another thread (`block_in_place`): the runtime is not
    /// blocked by this poll.
    pub worker_moved: bool,
    /// The stuck thread's stack, captured while it was stuck (stalls only, where supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackInfo>,
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

/// One workload's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadCounters {
    pub id: String,
    /// Cumulative operations completed (echo round trips, hash jobs, lock acquisitions, ...).
    pub ops: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Cumulative bytes processed (hashed or echoed).
    pub bytes: u64,
    /// The latency of the operations completed since the previous delivered sample.
    pub latency: LatencyBuckets,
    /// Cumulative scheduling delay of the workload's tasks (woken -> polled).
    pub sched: SchedCounters,
    /// The live setting that matters most for this kind, e.g. `placement=worker`.
    pub setting: String,
}

/// Scheduling delay counters from tokio-metrics' `TaskMonitor`, cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedCounters {
    pub count: u64,
    pub total_ns: u64,
    /// Delays of at least [`LONG_SCHED_DELAY`].
    pub long_count: u64,
}

/// A sparse latency histogram in microseconds: `(value, count)` pairs, each value the highest
/// of its HDR bucket. Plain data, so it serializes and merges without the histogram type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyBuckets {
    pub micros: Vec<(u64, u64)>,
}

impl LatencyBuckets {
    pub fn count(&self) -> u64 {
        self.micros.iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// Adds another interval's buckets to these (used when a sample could not be delivered).
    pub fn merge(&mut self, other: &LatencyBuckets) {
        if other.micros.is_empty() {
            return;
        }
        let mut all: Vec<(u64, u64)> = self
            .micros
            .drain(..)
            .chain(other.micros.iter().copied())
            .collect();
        all.sort_unstable_by_key(|(v, _)| *v);
        for (value, count) in all {
            match self.micros.last_mut() {
                Some((last, n)) if *last == value => *n += count,
                _ => self.micros.push((value, count)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_keeps_values_sorted() {
        let mut a = LatencyBuckets {
            micros: vec![(10, 1), (30, 2)],
        };
        let b = LatencyBuckets {
            micros: vec![(5, 1), (30, 3), (40, 1)],
        };
        a.merge(&b);
        assert_eq!(a.micros, vec![(5, 1), (10, 1), (30, 5), (40, 1)]);
        assert_eq!(a.count(), 8);
    }
}
