//! The real metrics source: the measured runtime's `RuntimeMetrics` and the workloads' stats.

use std::sync::Arc;

use tokio::runtime::Handle;

use super::MetricsSource;
use crate::probe::ThreadRegistry;
use crate::sample::{RuntimeCounters, WorkerCounters, WorkloadCounters};
use crate::workload::WorkloadStats;

/// Reads a live runtime. Holds a `Handle`, which does not keep the runtime's threads alive.
#[derive(Debug)]
pub struct LiveSource {
    handle: Handle,
    workloads: Vec<Arc<WorkloadStats>>,
    threads: Arc<ThreadRegistry>,
}

impl LiveSource {
    pub fn new(
        handle: Handle,
        workloads: Vec<Arc<WorkloadStats>>,
        threads: Arc<ThreadRegistry>,
    ) -> Self {
        LiveSource {
            handle,
            workloads,
            threads,
        }
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl MetricsSource for LiveSource {
    fn workers(&mut self) -> Vec<WorkerCounters> {
        let metrics = self.handle.metrics();
        (0..metrics.num_workers())
            .map(|i| WorkerCounters {
                busy_ns: nanos(metrics.worker_total_busy_duration(i)),
                polls: metrics.worker_poll_count(i),
                parks: metrics.worker_park_count(i),
                steals: metrics.worker_steal_count(i),
                local_queue_depth: metrics.worker_local_queue_depth(i) as u64,
            })
            .collect()
    }

    fn runtime(&mut self) -> RuntimeCounters {
        let metrics = self.handle.metrics();
        RuntimeCounters {
            alive_tasks: metrics.num_alive_tasks() as u64,
            global_queue_depth: metrics.global_queue_depth() as u64,
            blocking_threads: metrics.num_blocking_threads() as u64,
            idle_blocking_threads: metrics.num_idle_blocking_threads() as u64,
            blocking_queue_depth: metrics.blocking_queue_depth() as u64,
            spawned_tasks: metrics.spawned_tasks_count(),
            threads_cpu_ns: self.threads.total_cpu_ns(),
        }
    }

    fn workloads(&mut self) -> Vec<WorkloadCounters> {
        use std::sync::atomic::Ordering::Relaxed;
        self.workloads
            .iter()
            .map(|w| WorkloadCounters {
                id: w.id.clone(),
                ops: w.ops.load(Relaxed),
                errors: w.errors.load(Relaxed),
                timeouts: w.timeouts.load(Relaxed),
                bytes: w.bytes.load(Relaxed),
                latency: w.latency.take(),
                sched: w.sched(),
                setting: w.setting(),
            })
            .collect()
    }
}
