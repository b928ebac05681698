//! Pure: samples + thresholds -> findings. Each rule lives in its own file, keeps its own
//! state across samples and takes the time from the sample, never from a clock.
//!
//! Rules: [`stall`] (a poll still running past the stall threshold), [`long_poll`] (finished
//! polls past the long-poll threshold, aggregated per workload and spawn site), [`lag`] (the
//! canary timer fires late), [`blocking_queue`] (`spawn_blocking` jobs wait for a thread).
//! What they find is held bounded: see [`fold`].

mod blocking_queue;
pub mod fold;
pub mod groups;
pub mod hints;
mod lag;
mod long_poll;
mod stall;

use serde::{Deserialize, Serialize};

use crate::sample::{CpuUse, Sample, StackInfo};
use crate::scenario::DetectorSpec;

/// What a finding is about; stable names for JSON and `--fail-on`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum FindingKind {
    Stall,
    LongPoll,
    Lag,
    BlockingQueue,
    BlockInPlace,
    /// A task of a workload panicked (the runtime caught it; the run goes on).
    Panic,
    /// A change the presenter or a phase made: a knob turned, a phase begun.
    Event,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Stall => "stall",
            FindingKind::LongPoll => "long_poll",
            FindingKind::Lag => "lag",
            FindingKind::BlockingQueue => "blocking_queue",
            FindingKind::BlockInPlace => "block_in_place",
            FindingKind::Panic => "panic",
            FindingKind::Event => "event",
        }
    }

    /// The kind in words, for a reader: `long poll` where [`name`](Self::name), the reports'
    /// and the wire's identifier, says `long_poll`.
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::LongPoll => "long poll",
            FindingKind::BlockingQueue => "blocking queue",
            other => other.name(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One thing worth telling a person, with who, how long, why and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub worker: Option<usize>,
    pub task_id: Option<u64>,
    pub workload: Option<String>,
    pub spawned_at: Option<String>,
    /// How long: the poll (stall, long poll: the worst), the lateness (lag), or the episode
    /// (blocking queue).
    pub duration_ms: f64,
    /// When it was first seen, on the run's clock.
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// Still going on at the last sample.
    pub ongoing: bool,
    /// Occurrences folded into this finding: long polls per workload and site; past the first
    /// [`fold::KEPT`] findings, like findings; 1 otherwise.
    pub count: u64,
    pub cpu: CpuUse,
    pub cpu_ratio: Option<f64>,
    /// How long the thread waited for a CPU during the poll (runnable, not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_wait_ms: Option<f64>,
    pub thread_state: Option<char>,
    pub syscall: Option<String>,
    /// The blocking site: `file:line` of the first application frame of the stuck thread's
    /// stack (stalls, where stacks are captured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The stuck thread's stack, innermost frame first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<crate::sample::StackFrame>,
    /// One line: what happened.
    pub summary: String,
    /// One line: what to do about it.
    pub hint: String,
}

impl Finding {
    /// A finding of `kind` first seen at `at_ms`, about nothing in particular yet: the rules
    /// fill in who, how long and why.
    pub fn new(kind: FindingKind, severity: Severity, at_ms: u64) -> Finding {
        Finding {
            kind,
            severity,
            worker: None,
            task_id: None,
            workload: None,
            spawned_at: None,
            duration_ms: 0.0,
            first_seen_ms: at_ms,
            last_seen_ms: at_ms,
            ongoing: false,
            count: 1,
            cpu: CpuUse::Unknown,
            cpu_ratio: None,
            cpu_wait_ms: None,
            thread_state: None,
            syscall: None,
            site: None,
            stack: Vec::new(),
            summary: String::new(),
            hint: String::new(),
        }
    }

    /// The blocking line and the frames of the stack a poll was caught in.
    fn take_stack(&mut self, stack: &StackInfo) {
        self.site = stack.site.clone();
        self.stack = stack.frames.clone();
    }

    /// What the blocking line was calling when its stack was caught, as a short name: `lock`,
    /// `sleep`, `update` (the frame just inside the line's, its path and generics dropped).
    /// `None` without a stack, or where the line itself was running (a loop in the app's code).
    pub fn blocking_call(&self) -> Option<String> {
        let site = self.site.as_deref()?;
        let at = self.stack.iter().position(|frame| {
            frame.app
                && frame.file.as_deref().is_some_and(|file| {
                    site.strip_prefix(file)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
                })
        })?;
        let callee = short_function(&self.stack[at.checked_sub(1)?].function);
        (!callee.is_empty() && !callee.starts_with(['{', '?'])).then(|| callee.to_string())
    }

    /// The few words of a poll's fix: its cause's (the kernel's view of the whole poll), and
    /// where the line it was caught at calls something with a fix of its own, that too: a poll
    /// that waited for a std lock and was caught sleeping while holding it reads `use
    /// tokio::sync::Mutex and tokio::time::sleep`.
    pub fn fix(&self) -> String {
        let fix = hints::fix_for_poll(self.cpu, self.syscall.as_deref());
        match self
            .blocking_call()
            .and_then(|call| hints::fix_for_call(&call))
        {
            // Only a lock's or a sleep's fix takes the other's: a computing poll caught at a
            // lock is still computing, and a file's fix reads badly with a sleep's.
            Some(line) if line != fix && hints::fix_for_call_kinds().contains(&fix) => {
                format!("{fix} and {}", line.trim_start_matches("use "))
            }
            _ => fix.to_string(),
        }
    }

    /// The blocking line and what it was calling: `src/x.rs:58 in sleep()`.
    pub fn site_and_call(&self) -> Option<String> {
        let site = self.site.as_deref()?;
        Some(match self.blocking_call() {
            Some(call) => format!("{site} in {call}()"),
            None => site.to_string(),
        })
    }

    /// How many findings this entry stands for: 1, or past the first [`fold::KEPT`] findings
    /// the count of like ones folded into it. A long-poll finding is one finding however many
    /// polls it counts.
    pub fn stands_for(&self) -> u64 {
        match self.kind {
            FindingKind::LongPoll | FindingKind::Event => 1,
            _ => self.count.max(1),
        }
    }
}

/// Runs every rule over the samples it is shown.
#[derive(Debug, Clone)]
pub struct Detector {
    thresholds: DetectorSpec,
    findings: fold::Findings,
    stall: stall::StallRule,
    long_poll: long_poll::LongPollRule,
    lag: lag::LagRule,
    blocking_queue: blocking_queue::BlockingQueueRule,
}

impl Detector {
    /// `max_blocking_threads` is the runtime's blocking-pool cap.
    pub fn new(thresholds: DetectorSpec, max_blocking_threads: usize) -> Self {
        Detector {
            thresholds,
            findings: fold::Findings::default(),
            stall: stall::StallRule::default(),
            long_poll: long_poll::LongPollRule::default(),
            lag: lag::LagRule::default(),
            blocking_queue: blocking_queue::BlockingQueueRule::new(max_blocking_threads as u64),
        }
    }

    pub fn thresholds(&self) -> &DetectorSpec {
        &self.thresholds
    }

    /// Folds one sample in; its `elapsed_ns` is "now".
    pub fn observe(&mut self, sample: &Sample) {
        let now_ms = sample.elapsed_ns / 1_000_000;
        let t = &self.thresholds;
        let f = &mut self.findings;
        if let Some(probe) = &sample.probe {
            self.stall.observe(probe, now_ms, t, f);
            self.long_poll.observe(probe, now_ms, t, f);
            self.lag.observe(probe, now_ms, t, f);
        }
        self.blocking_queue.observe(&sample.runtime, now_ms, f);
    }

    /// Adds a finding that no rule over samples can see: a workload task's panic, or an event
    /// (a phase begun, a knob turned).
    pub fn record(&mut self, finding: Finding) {
        if finding.kind == FindingKind::Event {
            self.findings.event(finding);
        } else {
            self.findings.add(finding);
        }
    }

    /// Every finding so far, in the order they were first seen; past the first
    /// [`fold::KEPT`], like ones folded into one entry (see [`Finding::stands_for`]). Entries
    /// are only ever added at the end.
    pub fn findings(&self) -> &[Finding] {
        self.findings.list()
    }

    /// Findings of `kind` so far, folded ones counted one by one.
    pub fn count(&self, kind: FindingKind) -> u64 {
        self.findings()
            .iter()
            .filter(|f| f.kind == kind)
            .map(Finding::stands_for)
            .sum()
    }

    /// Forgets every finding (the dashboard's "clear").
    pub fn clear(&mut self) {
        self.findings = fold::Findings::default();
        self.stall = stall::StallRule::default();
        self.long_poll = long_poll::LongPollRule::default();
        self.lag = lag::LagRule::default();
        self.blocking_queue = blocking_queue::BlockingQueueRule::new(self.blocking_queue.cap());
    }
}

/// An event for the findings log: `12.4 s  hasher placement: worker → spawn_blocking`.
pub fn event(at_ms: u64, summary: String, hint: String) -> Finding {
    Finding {
        summary,
        hint,
        ..Finding::new(FindingKind::Event, Severity::Info, at_ms)
    }
}

pub(crate) fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

#[cfg(test)]
mod tests;

/// A function's last path segment without its generics or image: `lock` for `lock<u64>`,
/// `lock_contended` for `<std::sys::sync::mutex::futex::Mutex>::lock_contended`, `syscall` for
/// `syscall (libc.so.6)`.
fn short_function(name: &str) -> &str {
    let name = name.split(" (").next().unwrap_or(name);
    let (mut depth, mut start, mut end) = (0usize, 0, name.len());
    let bytes = name.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => {
                if depth == 0 && i > start {
                    end = i;
                    break;
                }
                depth += 1;
            }
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => start = i + 2,
            _ => {}
        }
    }
    name.get(start..end.max(start)).unwrap_or(name)
}
