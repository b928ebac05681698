//! `blocking_queue`: `spawn_blocking` jobs are waiting because the blocking pool has reached
//! `max_blocking_threads`. One finding per episode.

use super::fold::{Findings, Slot};
use super::stall::fmt_duration;
use super::{Finding, FindingKind, Severity, hints};
use crate::sample::RuntimeCounters;

#[derive(Debug, Clone)]
pub(super) struct BlockingQueueRule {
    cap: u64,
    open: Option<Slot>,
    max_depth: u64,
}

impl BlockingQueueRule {
    pub(super) fn new(cap: u64) -> Self {
        BlockingQueueRule {
            cap,
            open: None,
            max_depth: 0,
        }
    }

    pub(super) fn cap(&self) -> u64 {
        self.cap
    }

    pub(super) fn observe(
        &mut self,
        runtime: &RuntimeCounters,
        now_ms: u64,
        findings: &mut Findings,
    ) {
        let queued = runtime.blocking_queue_depth > 0 && runtime.blocking_threads >= self.cap;
        if !queued {
            if let Some(mut slot) = self.open.take() {
                findings.finding_mut(&mut slot).ongoing = false;
                findings.close(slot);
            }
            return;
        }
        let cap = self.cap;
        if self.open.is_none() {
            self.max_depth = 0;
        }
        let slot = self.open.get_or_insert_with(|| {
            findings.open(Finding {
                ongoing: true,
                hint: hints::for_blocking_queue(cap),
                ..Finding::new(FindingKind::BlockingQueue, Severity::Warning, now_ms)
            })
        });
        self.max_depth = self.max_depth.max(runtime.blocking_queue_depth);
        let f = findings.finding_mut(slot);
        f.last_seen_ms = now_ms;
        f.duration_ms = (now_ms - f.first_seen_ms) as f64;
        f.summary = format!(
            "{} spawn_blocking jobs queued (at most {}) with all {} blocking threads busy, for {}",
            runtime.blocking_queue_depth,
            self.max_depth,
            self.cap,
            fmt_duration(f.duration_ms)
        );
        findings.refresh(slot);
    }
}
