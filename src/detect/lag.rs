//! `lag`: the canary's timer fired (or is overdue) by more than the lag threshold: everything
//! on the runtime is waiting. One finding per episode, closed when timers are on time again.

use super::fold::{Findings, Slot};
use super::stall::fmt_duration;
use super::{Finding, FindingKind, Severity, hints, ms};
use crate::sample::ProbeSample;
use crate::scenario::DetectorSpec;

#[derive(Debug, Clone, Default)]
pub(super) struct LagRule {
    open: Option<Slot>,
}

impl LagRule {
    pub(super) fn observe(
        &mut self,
        probe: &ProbeSample,
        now_ms: u64,
        t: &DetectorSpec,
        findings: &mut Findings,
    ) {
        let threshold_ns = u64::try_from(t.lag_threshold.as_nanos()).unwrap_or(u64::MAX);
        if probe.lag_max_ns < threshold_ns {
            if let Some(mut slot) = self.open.take() {
                findings.finding_mut(&mut slot).ongoing = false;
                findings.close(slot);
            }
            return;
        }
        let slot = self.open.get_or_insert_with(|| {
            findings.open(Finding {
                ongoing: true,
                hint: hints::for_lag(),
                ..Finding::new(FindingKind::Lag, Severity::Warning, now_ms)
            })
        });
        let f = findings.finding_mut(slot);
        f.last_seen_ms = now_ms;
        f.duration_ms = f.duration_ms.max(ms(probe.lag_max_ns));
        f.summary = format!(
            "timers fired up to {} late (threshold {})",
            fmt_duration(f.duration_ms),
            fmt_duration(t.lag_threshold.as_secs_f64() * 1e3)
        );
        findings.refresh(slot);
    }
}
