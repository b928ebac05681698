//! The guard's thread: reads the monitor's readings, keeps the polls that held a worker past
//! the stall threshold, names their stacks and folds them into culprits, one per spawn site and
//! blocking line. Bounded: a few dozen culprits, a few dozen named stacks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::report::{Culprit, Report};
use crate::monitor::Monitor;
use crate::sample::{CapturedStack, CpuUse, PollRecord, Reading};
use crate::stack::RawStack;
use crate::symbolize::{self, Frame};

/// Culprits kept; blocking polls past them are only counted.
const CULPRITS_KEPT: usize = 32;
/// Named stacks kept, so a poll seen running in many readings is named once.
const NAMES_KEPT: usize = 64;
/// Polls seen running past the threshold and not yet seen finished.
const RUNNING_KEPT: usize = 256;

pub(super) struct Collector {
    stall: Duration,
    allow_spawn_sites: Vec<String>,
    allow_frames: Vec<String>,
    root: String,
    /// By (thread id, poll sequence number): the latest view of a poll still running.
    running: HashMap<(Option<i32>, u64), PollRecord>,
    names: HashMap<Vec<u64>, Arc<Vec<Frame>>>,
    report: Report,
}

impl Collector {
    pub(super) fn new(
        stall: Duration,
        allow_spawn_sites: Vec<String>,
        allow_frames: Vec<String>,
        root: String,
    ) -> Collector {
        Collector {
            stall,
            allow_spawn_sites,
            allow_frames,
            root,
            running: HashMap::new(),
            names: HashMap::new(),
            report: Report::new(stall, crate::stack::supported()),
        }
    }

    /// Reads until the monitor is stopped, then settles the polls still running.
    pub(super) fn run(mut self, monitor: Monitor) -> Report {
        for reading in monitor.readings().iter() {
            self.take(reading);
        }
        if monitor.finish(|reading| self.take(reading)).is_err() {
            self.report.error = Some("the probe's monitor thread panicked".into());
        }
        let running: Vec<PollRecord> = self.running.drain().map(|(_, poll)| poll).collect();
        for poll in running {
            self.add(poll);
        }
        self.report
    }

    fn blocked_a_worker(&self, poll: &PollRecord) -> bool {
        // A poll that handed its worker on (`block_in_place`) let the runtime go on; one on a
        // blocking-pool thread is where blocking belongs; one starved of CPU was long because
        // the machine was loaded, not because of the code (its own work was under the stall
        // threshold): a busy CI machine must not fail the test.
        Duration::from_nanos(poll.duration_ns) >= self.stall
            && poll.worker.is_some()
            && !poll.worker_moved
            && poll.cpu != CpuUse::Starved
    }

    fn take(&mut self, reading: Reading) {
        let Some(probe) = reading.probe else { return };
        self.report.long_polls_dropped = probe.long_polls_dropped;
        // Running polls first: one that ended between the two lists is in both, and its
        // finished record must settle it.
        for poll in probe.in_flight {
            if !self.blocked_a_worker(&poll) {
                continue;
            }
            let key = (poll.tid, poll.seq);
            if self.running.len() < RUNNING_KEPT || self.running.contains_key(&key) {
                self.running.insert(key, poll);
            }
        }
        for mut poll in probe.long_polls {
            let seen = self.running.remove(&(poll.tid, poll.seq));
            if !self.blocked_a_worker(&poll) {
                continue;
            }
            if let Some(seen) = seen {
                if poll.captured.is_none() {
                    poll.captured = seen.captured;
                }
                if poll.cpu == CpuUse::Unknown {
                    poll.cpu = seen.cpu;
                }
                if poll.syscall.is_none() {
                    poll.syscall = seen.syscall;
                }
            }
            self.add(poll);
        }
    }

    fn frames(&mut self, captured: &CapturedStack, tid: i32) -> Arc<Vec<Frame>> {
        if let Some(frames) = self.names.get(&captured.addresses) {
            return frames.clone();
        }
        let raw = RawStack {
            tid,
            addresses: captured.addresses.clone(),
            elapsed: Duration::from_micros(captured.capture_us),
            complete: false,
            truncated: false,
        };
        let frames = Arc::new(symbolize::symbolize(&raw, &self.root));
        if self.names.len() >= NAMES_KEPT {
            self.names.clear();
        }
        self.names
            .insert(captured.addresses.clone(), frames.clone());
        frames
    }

    fn allowed(&self, poll: &PollRecord, frames: &[Frame]) -> bool {
        let spawn = poll.spawned_at.as_deref().is_some_and(|site| {
            self.allow_spawn_sites
                .iter()
                .any(|prefix| site.starts_with(prefix.as_str()))
        });
        let frame = frames.iter().any(|frame| {
            let function = frame.function.trim_start_matches('<');
            self.allow_frames
                .iter()
                .any(|prefix| function.starts_with(prefix.as_str()))
        });
        spawn || frame
    }

    /// Folds one blocking poll into its culprit.
    fn add(&mut self, poll: PollRecord) {
        let frames = match &poll.captured {
            Some(captured) => self.frames(captured, poll.tid.unwrap_or(0)),
            None => Arc::new(Vec::new()),
        };
        if self.allowed(&poll, &frames) {
            self.report.allowed += 1;
            return;
        }
        let site = symbolize::blocking_site(&frames, &[]).and_then(Frame::site);
        let culprits = &mut self.report.culprits;
        let index = culprits
            .iter()
            .position(|c| c.spawned_at == poll.spawned_at && c.site == site);
        let index = match index {
            Some(index) => index,
            None if culprits.len() < CULPRITS_KEPT => {
                culprits.push(Culprit::new(poll.spawned_at.clone(), site));
                culprits.len() - 1
            }
            None => {
                self.report.more += 1;
                return;
            }
        };
        culprits[index].add(&poll, &frames);
    }
}
