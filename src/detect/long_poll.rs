//! `long_poll`: polls that finished after at least the long-poll threshold but before the
//! stall threshold, folded into one finding per workload and spawn site (count and worst).

use std::collections::HashMap;

use super::fold::Findings;
use super::stall::{cpu_text, fmt_duration};
use super::{Finding, FindingKind, Severity, hints, ms};
use crate::sample::ProbeSample;
use crate::scenario::DetectorSpec;

#[derive(Debug, Clone, Default)]
pub(super) struct LongPollRule {
    /// (workload, spawn site) -> index into the findings. One entry each, bounded by the call
    /// sites, so they are kept past the cap on findings.
    groups: HashMap<(Option<String>, Option<String>), usize>,
}

impl LongPollRule {
    pub(super) fn observe(
        &mut self,
        probe: &ProbeSample,
        now_ms: u64,
        t: &DetectorSpec,
        findings: &mut Findings,
    ) {
        let long_ns = u64::try_from(t.long_poll_threshold.as_nanos()).unwrap_or(u64::MAX);
        let stall_ns = u64::try_from(t.stall_threshold.as_nanos()).unwrap_or(u64::MAX);
        for poll in probe
            .long_polls
            .iter()
            .filter(|p| !p.worker_moved && (long_ns..stall_ns).contains(&p.duration_ns))
        {
            let key = (poll.workload.clone(), poll.spawned_at.clone());
            let i = *self.groups.entry(key).or_insert_with(|| {
                findings.push_kept(Finding {
                    worker: poll.worker,
                    task_id: Some(poll.task_id),
                    workload: poll.workload.clone(),
                    spawned_at: poll.spawned_at.clone(),
                    count: 0,
                    cpu: poll.cpu,
                    cpu_ratio: poll.cpu_ratio,
                    ..Finding::new(FindingKind::LongPoll, Severity::Warning, now_ms)
                })
            });
            let f = findings.entry_mut(i);
            f.count += 1;
            f.last_seen_ms = now_ms;
            let d = ms(poll.duration_ns);
            // The line where a poll was caught (the probe captures a poll that nears the stall
            // threshold): the worst such poll's, else the first.
            if let Some(stack) = poll
                .stack
                .as_ref()
                .filter(|s| (d > f.duration_ms && s.site.is_some()) || f.stack.is_empty())
            {
                f.take_stack(stack);
            }
            if d > f.duration_ms {
                f.duration_ms = d;
                f.worker = poll.worker;
                f.task_id = Some(poll.task_id);
                if poll.cpu != crate::sample::CpuUse::Unknown || f.cpu_ratio.is_none() {
                    f.cpu = poll.cpu;
                    f.cpu_ratio = poll.cpu_ratio;
                    f.cpu_wait_ms = poll.cpu_wait_ns.map(ms);
                    f.syscall = poll.syscall.clone();
                }
            }
            f.hint = hints::for_poll(f.cpu, f.syscall.as_deref());
            let who = f
                .workload
                .clone()
                .unwrap_or_else(|| "an unlabelled task".into());
            let at = f
                .spawned_at
                .as_ref()
                .map(|a| format!(" spawned at {a}"))
                .unwrap_or_default();
            f.summary = format!(
                "{} {} of {who}{at} ran over {} (worst {} in task {} on worker {}{})",
                f.count,
                if f.count == 1 { "poll" } else { "polls" },
                fmt_duration(t.long_poll_threshold.as_secs_f64() * 1e3),
                fmt_duration(f.duration_ms),
                f.task_id.unwrap_or(0),
                f.worker.map_or("?".to_string(), |w| w.to_string()),
                cpu_text(f)
            );
        }
    }
}
