//! `stall`: a poll still running after the stall threshold. Reported while it runs (its
//! duration grows with each sample) and closed with its final duration when it returns. One
//! finding per poll. A poll whose worker moved to another thread (`block_in_place`) is not a
//! stall: it becomes an `block_in_place` info finding.

use std::collections::HashMap;

use super::fold::{Findings, Slot};
use super::{Finding, FindingKind, Severity, hints, ms};
use crate::sample::{CpuUse, PollRecord, ProbeSample};
use crate::scenario::DetectorSpec;

/// Open findings by poll: (thread id, poll sequence number) -> where the finding is.
#[derive(Debug, Clone, Default)]
pub(super) struct StallRule {
    open: HashMap<(Option<i32>, u64), Slot>,
    /// Final records of open stalls that ended, kept until the stall is closed.
    done: HashMap<(Option<i32>, u64), PollRecord>,
}

impl StallRule {
    pub(super) fn observe(
        &mut self,
        probe: &ProbeSample,
        now_ms: u64,
        t: &DetectorSpec,
        findings: &mut Findings,
    ) {
        let stall_ns = u64::try_from(t.stall_threshold.as_nanos()).unwrap_or(u64::MAX);
        // Finished stalls: the end of one seen running, or one that started and ended between
        // two samples and was never seen running.
        for poll in probe
            .long_polls
            .iter()
            .filter(|p| p.duration_ns >= stall_ns)
        {
            let key = (poll.tid, poll.seq);
            if self.open.contains_key(&key) {
                self.done.insert(key, poll.clone());
            } else {
                findings.add(new_finding(poll, now_ms));
            }
        }
        for poll in probe.in_flight.iter().filter(|p| p.duration_ns >= stall_ns) {
            let key = (poll.tid, poll.seq);
            match self.open.get_mut(&key) {
                Some(slot) => {
                    update(findings.finding_mut(slot), poll, now_ms);
                    findings.refresh(slot);
                }
                None => {
                    let slot = findings.open(new_finding(poll, now_ms));
                    self.open.insert(key, slot);
                }
            }
        }
        // Open findings whose poll is no longer running have ended.
        let running: Vec<_> = probe.in_flight.iter().map(|p| (p.tid, p.seq)).collect();
        let ended: Vec<_> = self
            .open
            .keys()
            .filter(|k| !running.contains(k))
            .copied()
            .collect();
        for key in ended {
            let Some(mut slot) = self.open.remove(&key) else {
                continue;
            };
            let finding = findings.finding_mut(&mut slot);
            if let Some(done) = self.done.remove(&key) {
                finding.duration_ms = finding.duration_ms.max(ms(done.duration_ns));
                // The verdict on the whole poll, settled once it ended (starved is only said
                // then), outranks what was seen while it ran.
                if done.cpu != CpuUse::Unknown {
                    finding.cpu = done.cpu;
                }
                if done.cpu_ratio.is_some() {
                    finding.cpu_ratio = done.cpu_ratio;
                }
                if let Some(wait) = done.cpu_wait_ns {
                    finding.cpu_wait_ms = Some(ms(wait));
                }
                if let Some(stack) = done.stack.as_ref().filter(|_| finding.stack.is_empty()) {
                    finding.take_stack(stack);
                }
            }
            finding.ongoing = false;
            finding.last_seen_ms = now_ms;
            if finding.kind == FindingKind::Stall {
                finding.hint = stall_hint(finding);
            }
            finding.summary = summary(finding);
            findings.close(slot);
        }
    }
}

fn new_finding(poll: &PollRecord, now_ms: u64) -> Finding {
    let mut finding = Finding {
        worker: poll.worker,
        task_id: Some(poll.task_id),
        workload: poll.workload.clone(),
        spawned_at: poll.spawned_at.clone(),
        ongoing: poll.running,
        cpu: poll.cpu,
        cpu_ratio: poll.cpu_ratio,
        thread_state: poll.thread_state,
        syscall: poll.syscall.clone(),
        ..Finding::new(FindingKind::Stall, Severity::Critical, now_ms)
    };
    update(&mut finding, poll, now_ms);
    finding
}

fn update(finding: &mut Finding, poll: &PollRecord, now_ms: u64) {
    finding.duration_ms = ms(poll.duration_ns);
    finding.last_seen_ms = now_ms;
    finding.ongoing = poll.running;
    if poll.cpu != CpuUse::Unknown {
        finding.cpu = poll.cpu;
    }
    if poll.cpu_ratio.is_some() {
        finding.cpu_ratio = poll.cpu_ratio;
    }
    if let Some(wait) = poll.cpu_wait_ns {
        finding.cpu_wait_ms = Some(ms(wait));
    }
    if poll.thread_state.is_some() {
        finding.thread_state = poll.thread_state;
        finding.syscall = poll.syscall.clone();
    }
    if let Some(stack) = &poll.stack {
        finding.take_stack(stack);
    }
    if poll.worker_moved {
        finding.kind = FindingKind::BlockInPlace;
        finding.severity = Severity::Info;
        finding.hint = hints::for_block_in_place();
    } else if finding.kind == FindingKind::Stall {
        finding.hint = stall_hint(finding);
    }
    finding.summary = summary(finding);
}

/// What to do about a stall: the probe's hint for its cause, and how to get the blocking line
/// when the build had none to give.
fn stall_hint(f: &Finding) -> String {
    let hint = hints::for_poll(f.cpu, f.syscall.as_deref());
    if named_without_lines(f) {
        format!("{hint}; {}", hints::NO_LINE_TABLES)
    } else {
        hint
    }
}

/// A stack named by functions but without one `file:line`: the images had no line tables (a
/// release build without `debug = "line-tables-only"`), so no frame could be the blocking line.
/// A stack of unknown addresses says nothing about line tables, nor one whose image's file was
/// not used (replaced since the app started: its libc frames may still be named).
pub(super) fn named_without_lines(f: &Finding) -> bool {
    f.site.is_none()
        && f.stack
            .iter()
            .any(|frame| !frame.function.starts_with("??"))
        && f.stack.iter().all(|frame| frame.file.is_none())
        && !f
            .stack
            .iter()
            .any(|frame| tokmon_probe::symbolize::is_withheld(&frame.function))
}

/// "worker 1 stuck 412 ms in task 17 (hasher, spawned at src/workload/hash.rs:24:13), on CPU"
pub(super) fn summary(f: &Finding) -> String {
    let worker = f
        .worker
        .map_or("a runtime thread".to_string(), |w| format!("worker {w}"));
    let verb = match (f.kind, f.ongoing) {
        (FindingKind::BlockInPlace, true) => "in block_in_place for",
        (FindingKind::BlockInPlace, false) => "ran block_in_place for",
        (_, true) => "stuck",
        (_, false) => "was stuck",
    };
    let site = match f.site_and_call() {
        Some(s) => format!(", at {s}"),
        None if f.kind == FindingKind::Stall && named_without_lines(f) => {
            ", no blocking line: built without line tables".into()
        }
        None => String::new(),
    };
    format!(
        "{worker} {verb} {} in task {}{}{}{site}",
        fmt_duration(f.duration_ms),
        f.task_id.unwrap_or(0),
        origin(f),
        cpu_text(f)
    )
}

pub(super) fn origin(f: &Finding) -> String {
    match (&f.workload, &f.spawned_at) {
        (Some(w), Some(at)) => format!(" ({w}, spawned at {at})"),
        (Some(w), None) => format!(" ({w})"),
        (None, Some(at)) => format!(" (spawned at {at})"),
        (None, None) => String::new(),
    }
}

/// A wait for a CPU worth saying beside a CPU-bound verdict: at least this long.
const WAIT_WORTH_SAYING_MS: f64 = 10.0;

pub(super) fn cpu_text(f: &Finding) -> String {
    let waited = f.cpu_wait_ms.unwrap_or(0.0);
    let also = if waited >= WAIT_WORTH_SAYING_MS {
        format!(", also waited {} for a CPU", fmt_duration(waited))
    } else {
        String::new()
    };
    match (f.cpu, &f.syscall) {
        (CpuUse::On, Some(call)) => format!(", on CPU, in {call}{also}"),
        (CpuUse::On, None) => format!(", on CPU{also}"),
        (CpuUse::Off, Some(call)) => format!(", off CPU in {call}"),
        (CpuUse::Off, None) => ", off CPU".into(),
        (CpuUse::Starved, _) => {
            format!(", starved of CPU (waited {} for one)", fmt_duration(waited))
        }
        (CpuUse::Unknown, _) => String::new(),
    }
}

pub(super) fn fmt_duration(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{StackFrame, StackInfo};

    fn frame(function: &str, file: Option<&str>) -> StackFrame {
        StackFrame {
            function: function.into(),
            file: file.map(Into::into),
            line: file.map(|_| 30),
            inlined: false,
            app: file.is_some_and(|f| f.starts_with("src/")),
        }
    }

    fn stalled(frames: Vec<StackFrame>) -> Finding {
        let site = frames
            .iter()
            .any(|f| f.app)
            .then(|| "src/main.rs:30".to_string());
        let poll = PollRecord {
            worker: Some(0),
            task_id: 3,
            workload: None,
            spawned_at: Some("src/main.rs:18:13".into()),
            tid: Some(7),
            seq: 1,
            started_ns: 0,
            duration_ns: 300_000_000,
            running: true,
            cpu_ratio: Some(0.0),
            cpu: CpuUse::Off,
            cpu_wait_ns: None,
            thread_state: Some('S'),
            syscall: Some("clock_nanosleep".into()),
            worker_moved: false,
            captured: None,
            stack: Some(StackInfo {
                frames,
                site,
                capture_us: 40,
            }),
        };
        new_finding(&poll, 300)
    }

    #[test]
    fn a_stack_named_without_lines_says_what_to_add_to_the_release_profile() {
        let bare = stalled(vec![
            frame("clock_nanosleep", None),
            frame("std::thread::sleep", None),
            frame("outside_app::blocker::{{closure}}", None),
            frame("tokio::runtime::task::raw::poll", None),
        ]);
        assert!(
            bare.summary
                .ends_with(", no blocking line: built without line tables"),
            "{}",
            bare.summary
        );
        assert!(bare.hint.contains("tokio::time::sleep"), "{}", bare.hint);
        assert!(
            bare.hint
                .contains("add `debug = \"line-tables-only\"` to [profile.release]"),
            "{}",
            bare.hint
        );

        let lined = stalled(vec![
            frame(
                "std::thread::sleep",
                Some("/rustc/abc/library/std/src/thread/mod.rs"),
            ),
            frame("outside_app::blocker::{{closure}}", Some("src/main.rs")),
        ]);
        assert!(
            lined.summary.ends_with(", at src/main.rs:30 in sleep()"),
            "{}",
            lined.summary
        );
        assert!(!lined.hint.contains("line tables"), "{}", lined.hint);

        // Unknown addresses: the module map failed, not the build.
        let unknown = stalled(vec![frame("?? (0x5555)", None)]);
        assert!(
            !unknown.summary.contains("line tables"),
            "{}",
            unknown.summary
        );
        assert!(!unknown.hint.contains("line tables"), "{}", unknown.hint);
    }
}
