//! Per-workload counters the workload code bumps and the sampler reads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio_metrics::TaskMonitor;

use crate::sample::{
    LatencyBuckets, MAX_LATENCY_MICROS, SchedCounters, WorkloadCounters, new_histogram,
};

/// A latency histogram in microseconds that many threads record into and one thread drains.
///
/// A std mutex is fine here: the critical section is a few nanoseconds and it is taken once per
/// workload operation (a hash job, an echo round trip), never per poll.
#[derive(Debug)]
pub struct LatencyRecorder {
    histogram: Mutex<Histogram<u64>>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            histogram: Mutex::new(new_histogram()),
        }
    }
}

impl LatencyRecorder {
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LATENCY_MICROS);
        let mut histogram = self
            .histogram
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Clamped into the histogram's range above, so recording cannot fail.
        let _ = histogram.record(micros);
    }

    /// Takes what was recorded since the last call, leaving the recorder empty.
    pub fn take(&self) -> LatencyBuckets {
        let mut histogram = self
            .histogram
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let buckets = to_buckets(&histogram);
        histogram.reset();
        buckets
    }
}

/// The sparse form of a histogram.
pub fn to_buckets(histogram: &Histogram<u64>) -> LatencyBuckets {
    LatencyBuckets {
        micros: histogram
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect(),
    }
}

/// Everything one workload counts. Shared between its tasks, its load generator and the sampler.
#[derive(Debug)]
pub struct WorkloadStats {
    pub id: String,
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub bytes: AtomicU64,
    pub latency: LatencyRecorder,
    /// Instruments the workload's tasks for their scheduling delay.
    pub monitor: TaskMonitor,
    setting: Mutex<String>,
}

impl WorkloadStats {
    pub fn new(id: &str, setting: String) -> Self {
        let monitor = TaskMonitor::builder()
            .with_long_delay_threshold(crate::sample::LONG_SCHED_DELAY)
            .clone()
            .build();
        WorkloadStats {
            id: id.to_string(),
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            latency: LatencyRecorder::default(),
            monitor,
            setting: Mutex::new(setting),
        }
    }

    /// One operation done, with its latency and the bytes it moved.
    pub fn op_done(&self, latency: Duration, bytes: u64) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.latency.record(latency);
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_setting(&self, setting: String) {
        *self
            .setting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = setting;
    }

    pub fn setting(&self) -> String {
        self.setting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The counters now; the latency part is what was recorded since the last call.
    pub fn counters(&self) -> WorkloadCounters {
        WorkloadCounters {
            id: self.id.clone(),
            ops: self.ops.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            latency: self.latency.take(),
            sched: self.sched(),
            setting: self.setting(),
        }
    }

    pub fn sched(&self) -> SchedCounters {
        let m = self.monitor.cumulative();
        SchedCounters {
            count: m.total_scheduled_count,
            total_ns: u64::try_from(m.total_scheduled_duration.as_nanos()).unwrap_or(u64::MAX),
            long_count: m.total_long_delay_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_drains_the_interval() {
        let r = LatencyRecorder::default();
        r.record(Duration::from_millis(5));
        r.record(Duration::from_millis(5));
        r.record(Duration::from_secs(7200));
        let first = r.take();
        assert_eq!(first.count(), 3);
        assert!(first.micros.last().expect("recorded").0 >= MAX_LATENCY_MICROS);
        assert_eq!(r.take().count(), 0);
    }
}
