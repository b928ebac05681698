//! Builds the measured runtime from the scenario's `[runtime]` table.

use std::sync::Arc;

use tokio::runtime::{Builder, Runtime};

use crate::probe::ThreadRegistry;
use crate::scenario::RuntimeSpec;

/// A multi-threaded runtime shaped by `spec`, registering every thread it starts.
pub fn build_measured_runtime(
    spec: &RuntimeSpec,
    threads: Arc<ThreadRegistry>,
) -> std::io::Result<Runtime> {
    let on_start = threads.clone();
    let on_stop = threads;
    Builder::new_multi_thread()
        .worker_threads(spec.workers)
        .max_blocking_threads(spec.max_blocking_threads)
        .thread_name("tokmon-rt")
        .enable_all()
        .on_thread_start(move || on_start.register_current())
        .on_thread_stop(move || on_stop.unregister_current())
        .build()
}
