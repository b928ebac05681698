//! What a guard saw: the culprits, one per spawn site and blocking line, and the message a
//! failing test prints.

use std::fmt;
use std::time::Duration;

use crate::hints;
use crate::sample::{CpuUse, PollRecord};
use crate::symbolize::{self, Frame};

use super::FRAMES_SHOWN;

/// Everything a guard saw blocking a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub stall_threshold: Duration,
    /// One per spawn site and blocking line, in the order first seen.
    pub culprits: Vec<Culprit>,
    /// Blocking polls the allow-lists accepted.
    pub allowed: u64,
    /// Blocking polls past the culprits kept, counted only.
    pub more: u64,
    /// Long polls the probe's queue dropped: some blocking may be missing.
    pub long_polls_dropped: u64,
    /// Stacks were captured (Linux x86-64): culprits can name their blocking line.
    pub stacks: bool,
    /// The guard itself failed; what it saw until then is above.
    pub error: Option<String>,
}

/// The polls of one spawn site that blocked a worker at one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Culprit {
    /// `file:line:col` where the task was spawned, as rustc names the file.
    pub spawned_at: Option<String>,
    /// `file:line` of the application's innermost frame in the captured stack.
    pub site: Option<String>,
    /// A few frames around the blocking line, innermost first, from the longest poll's stack.
    pub frames: Vec<Frame>,
    pub longest: Duration,
    pub polls: u64,
    /// Of the longest poll.
    pub cpu: CpuUse,
    /// The syscall the longest poll's thread waited in most.
    pub syscall: Option<String>,
    pub hint: String,
    /// The longest poll was still running when the guard finished.
    pub still_running: bool,
}

impl Report {
    pub(super) fn new(stall_threshold: Duration, stacks: bool) -> Report {
        Report {
            stall_threshold,
            culprits: Vec::new(),
            allowed: 0,
            more: 0,
            long_polls_dropped: 0,
            stacks,
            error: None,
        }
    }

    pub(super) fn monitor_panicked() -> Report {
        Report {
            error: Some("the guard's thread panicked".into()),
            ..Report::new(Duration::ZERO, false)
        }
    }

    /// No poll blocked a worker (past the allow-lists), and the guard worked.
    pub fn is_clean(&self) -> bool {
        self.culprits.is_empty() && self.more == 0 && self.error.is_none()
    }
}

impl Culprit {
    pub(super) fn new(spawned_at: Option<String>, site: Option<String>) -> Culprit {
        Culprit {
            spawned_at,
            site,
            frames: Vec::new(),
            longest: Duration::ZERO,
            polls: 0,
            cpu: CpuUse::Unknown,
            syscall: None,
            hint: String::new(),
            still_running: false,
        }
    }

    pub(super) fn add(&mut self, poll: &PollRecord, frames: &[Frame]) {
        self.polls += 1;
        let duration = Duration::from_nanos(poll.duration_ns);
        if duration >= self.longest {
            self.longest = duration;
            self.cpu = poll.cpu;
            self.syscall = poll.syscall.clone();
            self.still_running = poll.running;
            self.hint = hints::for_poll(poll.cpu, poll.syscall.as_deref());
            if !frames.is_empty() {
                self.frames = shown(frames);
            }
        }
    }
}

/// The frames worth reading: two before the blocking line, then the app's frames that called
/// it (the runtime's below them say nothing); without a blocking line, the innermost ones.
fn shown(frames: &[Frame]) -> Vec<Frame> {
    let site = symbolize::blocking_site(frames, &[])
        .and_then(|site| frames.iter().position(|f| std::ptr::eq(f, site)));
    let start = site.map_or(0, |site| site.saturating_sub(2));
    let mut shown = Vec::new();
    for (index, frame) in frames.iter().enumerate().skip(start) {
        if site.is_some_and(|site| index > site && !frame.app) || shown.len() == FRAMES_SHOWN {
            break;
        }
        if !frame.function.starts_with("??") {
            shown.push(frame.clone());
        }
    }
    shown
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.culprits.len() as u64 + self.more;
        if count > 0 {
            writeln!(
                f,
                "tokmon-probe: {count} {} blocked a worker for the stall threshold ({}) or longer",
                if count == 1 { "culprit" } else { "culprits" },
                ms(self.stall_threshold),
            )?;
        }
        for (index, culprit) in self.culprits.iter().enumerate() {
            writeln!(f)?;
            write!(f, "{}. ", index + 1)?;
            culprit.fmt_with(f, self.stacks)?;
        }
        if self.more > 0 {
            writeln!(f, "\n... and {} more blocking polls", self.more)?;
        }
        if self.allowed > 0 {
            writeln!(
                f,
                "({} blocking polls accepted by the allow-lists)",
                self.allowed
            )?;
        }
        if self.long_polls_dropped > 0 {
            writeln!(
                f,
                "({} long polls were dropped by the probe's queue: some may be missing)",
                self.long_polls_dropped
            )?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "tokmon-probe: {error}")?;
        }
        if self.is_clean() {
            writeln!(f, "tokmon-probe: no poll blocked a worker")?;
        }
        Ok(())
    }
}

impl Culprit {
    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, stacks: bool) -> fmt::Result {
        let polls = match self.polls {
            1 => "1 poll".to_string(),
            n => format!("longest of {n} polls"),
        };
        let running = if self.still_running {
            ", still running"
        } else {
            ""
        };
        let cpu = match (self.cpu, &self.syscall) {
            (CpuUse::On, _) => "on the CPU".to_string(),
            (CpuUse::Off, Some(call)) => format!("off the CPU, in {call}"),
            (CpuUse::Off, None) => "off the CPU".to_string(),
            (CpuUse::Unknown, Some(call)) => format!("in {call}"),
            (CpuUse::Unknown, None) => "CPU use unknown".to_string(),
            (CpuUse::Starved, _) => "starved of CPU".to_string(),
        };
        writeln!(
            f,
            "blocked a worker {} ({polls}{running}), {cpu}",
            ms(self.longest)
        )?;
        match &self.spawned_at {
            Some(at) => writeln!(f, "   task spawned at {at}")?,
            None => writeln!(f, "   task spawned at an unknown site")?,
        }
        match (&self.site, stacks) {
            (Some(site), _) => writeln!(f, "   blocking line: {site}")?,
            (None, true) if self.frames.is_empty() => {
                writeln!(f, "   blocking line: unknown (no stack was captured)")?
            }
            (None, true) => writeln!(f, "   blocking line: none of the app's frames")?,
            (None, false) => writeln!(
                f,
                "   blocking line: unknown (stack capture needs Linux x86-64)"
            )?,
        }
        for frame in &self.frames {
            if frame.app {
                writeln!(f, "     {frame}")?;
            } else {
                writeln!(f, "     {}", frame.function)?;
            }
        }
        writeln!(f, "   hint: {}", self.hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_culprit_reads_as_one_message() {
        let frame = |function: &str, file: Option<&str>, app: bool| Frame {
            address: 1,
            function: function.into(),
            file: file.map(Into::into),
            line: Some(24),
            inlined: false,
            app,
        };
        let mut report = Report::new(Duration::from_millis(50), true);
        let mut culprit = Culprit::new(
            Some("tests/blocking.rs:20:10".into()),
            Some("tests/blocking.rs:24".into()),
        );
        culprit.add(
            &PollRecord {
                worker: Some(0),
                task_id: 1,
                workload: None,
                spawned_at: Some("tests/blocking.rs:20:10".into()),
                tid: Some(7),
                seq: 3,
                started_ns: 0,
                duration_ns: 203_000_000,
                running: false,
                cpu_ratio: Some(0.0),
                cpu: CpuUse::Off,
                cpu_wait_ns: None,
                thread_state: None,
                syscall: Some("clock_nanosleep".into()),
                worker_moved: false,
                captured: None,
                stack: None,
            },
            &[
                frame("clock_nanosleep", None, false),
                frame(
                    "std::thread::sleep",
                    Some("/rustc/x/library/std/src/thread/mod.rs"),
                    false,
                ),
                frame(
                    "blocking::sleeps::{{closure}}",
                    Some("tests/blocking.rs"),
                    true,
                ),
            ],
        );
        report.culprits.push(culprit);
        let text = report.to_string();
        assert!(!report.is_clean());
        for expected in [
            "1 culprit blocked a worker for the stall threshold (50 ms)",
            "1. blocked a worker 203 ms (1 poll), off the CPU, in clock_nanosleep",
            "task spawned at tests/blocking.rs:20:10",
            "blocking line: tests/blocking.rs:24",
            "     std::thread::sleep\n",
            "blocking::sleeps::{{closure}} at tests/blocking.rs:24",
            "hint: std::thread::sleep in async code holds the worker",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        let clean = Report::new(Duration::from_millis(50), true);
        assert!(clean.is_clean());
        assert_eq!(
            clean.to_string(),
            "tokmon-probe: no poll blocked a worker\n"
        );
    }
}
