//! The plain data a sampler emits: cumulative counters, so a dropped sample loses resolution,
//! never totals.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use tokmon_probe::sample::{
    CapturedStack, CpuUse, PollRecord, ProbeSample, RuntimeCounters, SiteCounters, StackFrame,
    StackInfo, WorkerCounters,
};

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
