//! Builds the measured runtime from the scenario's `[runtime]` table, with tokmon's probe on it.

use std::sync::Arc;

use tokio::runtime::{Builder, Runtime};

use crate::probe::Probe;
use crate::scenario::RuntimeSpec;

/// A multi-threaded runtime shaped by `spec`, its threads and polls observed by `probe`.
pub fn build_measured_runtime(spec: &RuntimeSpec, probe: &Arc<Probe>) -> std::io::Result<Runtime> {
    let mut builder = Builder::new_multi_thread();
    builder
        .worker_threads(spec.workers)
        .max_blocking_threads(spec.max_blocking_threads)
        .thread_name("tokmon-rt")
        .enable_all();
    probe.install(&mut builder).build()
}
