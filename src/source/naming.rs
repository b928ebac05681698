//! Turns a probe's readings into tokmon's samples, naming the stacks it captured (raw return
//! addresses) before anything downstream sees them: with this process's images for a run of tokmon's own, with another process's module
//! map when attached to it.

use std::collections::VecDeque;

use tokmon_probe::sample::{CapturedStack, PollRecord, ProbeSample, Reading};

use crate::sample::{SAMPLE_FORMAT_VERSION, Sample, StackFrame, StackInfo, WorkloadCounters};
use crate::stack::{self, ModuleMap};

/// Named stacks kept, so a poll still stuck is not symbolized again at every sample.
const NAMED_STACKS_KEPT: usize = 64;

/// The stacks named so far, by poll: a stuck poll's stack rides along with every sample.
#[derive(Debug)]
pub struct StackNames {
    images: Images,
    named: VecDeque<((Option<i32>, u64), CapturedStack, StackInfo)>,
}

/// Whose images the addresses are in.
#[derive(Debug)]
enum Images {
    ThisProcess,
    Of { pid: u32, modules: ModuleMap },
}

impl StackNames {
    pub fn of_this_process() -> StackNames {
        StackNames {
            images: Images::ThisProcess,
            named: VecDeque::new(),
        }
    }

    /// Names stacks captured in process `pid`, whose images `modules` lists.
    pub fn of_process(pid: u32, modules: ModuleMap) -> StackNames {
        StackNames {
            images: Images::Of { pid, modules },
            named: VecDeque::new(),
        }
    }

    /// The process mapped other images: name its later stacks with these.
    pub fn set_modules(&mut self, map: ModuleMap) {
        if let Images::Of { modules, .. } = &mut self.images {
            *modules = map;
        }
    }

    /// A probe's reading as tokmon's sample: its stacks named, and `workloads` added.
    pub fn sample_of(&mut self, reading: Reading, workloads: Vec<WorkloadCounters>) -> Sample {
        let mut probe = reading.probe;
        if let Some(probe) = probe.as_mut() {
            self.name_all(probe);
        }
        Sample {
            format_version: SAMPLE_FORMAT_VERSION,
            seq: reading.seq,
            elapsed_ns: reading.elapsed_ns,
            workers: reading.workers,
            runtime: reading.runtime,
            workloads,
            probe,
            dropped_before: reading.dropped_before,
        }
    }

    /// Names every captured stack of a reading's polls.
    fn name_all(&mut self, probe: &mut ProbeSample) {
        for poll in probe.in_flight.iter_mut().chain(&mut probe.long_polls) {
            self.name(poll);
        }
    }

    /// Names the poll's captured stack, and takes the raw one off: a sample holds names.
    fn name(&mut self, poll: &mut PollRecord) {
        let Some(captured) = poll.captured.take() else {
            return;
        };
        let key = (poll.tid, poll.seq);
        if let Some((_, _, info)) = self
            .named
            .iter()
            .find(|(k, raw, _)| *k == key && *raw == captured)
        {
            poll.stack = Some(info.clone());
            return;
        }
        let info = self.symbolize(&captured, poll.tid.unwrap_or(0));
        if self.named.len() == NAMED_STACKS_KEPT {
            self.named.pop_front();
        }
        self.named.push_back((key, captured, info.clone()));
        poll.stack = Some(info);
    }

    fn symbolize(&self, captured: &CapturedStack, tid: i32) -> StackInfo {
        let raw = stack::RawStack {
            tid,
            addresses: captured.addresses.clone(),
            elapsed: std::time::Duration::from_micros(captured.capture_us),
            complete: false,
            truncated: false,
        };
        let frames = match &self.images {
            Images::ThisProcess => stack::symbolize(&raw),
            Images::Of { pid, modules } => stack::symbolize_remote(&raw, *pid, modules),
        };
        info_of(&frames, captured.capture_us)
    }
}

fn info_of(frames: &[stack::Frame], capture_us: u64) -> StackInfo {
    StackInfo {
        site: stack::blocking_site(frames).and_then(stack::Frame::site),
        frames: frames
            .iter()
            .map(|frame| StackFrame {
                function: frame.function.clone(),
                file: frame.file.clone(),
                line: frame.line,
                inlined: frame.inlined,
                app: frame.app,
            })
            .collect(),
        capture_us,
    }
}
