//! Turns a probe's readings into tokmon's samples, naming the stacks it captured (raw return
//! addresses) before anything downstream sees them: with this process's images for a run of tokmon's own, with another process's module
//! map when attached to it.

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;

use object::read::ReadCache;
use object::{Object, ObjectSection};

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
    Of {
        binaries: stack::Binaries,
        modules: ModuleMap,
    },
}

impl StackNames {
    pub fn of_this_process() -> StackNames {
        StackNames {
            images: Images::ThisProcess,
            named: VecDeque::new(),
        }
    }

    /// Names stacks captured in another process, whose images `modules` lists, from the files
    /// `binaries` finds.
    pub fn of_process(binaries: stack::Binaries, modules: ModuleMap) -> StackNames {
        StackNames {
            images: Images::Of { binaries, modules },
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
            Images::Of { binaries, modules } => stack::symbolize_remote(&raw, binaries, modules),
        };
        info_of(&frames, captured.capture_us)
    }
}

/// Whether the executable at `path` has line tables: a `.debug_line` section with content
/// (or a `.gnu_debuglink` to a separate debug file, which may hold them). Without them a
/// stack names functions (from the symbol table) but no `file:line`, so no blocking line.
/// `None` when the file cannot be read or parsed: nothing to say then.
pub fn has_line_tables(path: &Path) -> Option<bool> {
    let file = File::open(path).ok()?;
    let cache = ReadCache::new(file);
    let image = object::File::parse(&cache).ok()?;
    let lines = image
        .section_by_name(".debug_line")
        .or_else(|| image.section_by_name(".zdebug_line"))
        .is_some_and(|section| section.size() > 0);
    Some(lines || image.section_by_name(".gnu_debuglink").is_some())
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

#[cfg(test)]
mod tests {
    use super::has_line_tables;

    #[test]
    fn line_tables_are_found_in_a_build_with_debug_info_and_not_elsewhere() {
        // A test binary is built with the dev profile's debug info.
        let this = std::env::current_exe().expect("the test binary");
        assert_eq!(has_line_tables(&this), Some(true));
        // The same program with its debug info stripped, as `strip = "debuginfo"` leaves it
        // (objcopy comes with binutils, beside the linker rustc uses).
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stripped = dir.path().join("stripped");
        let ran = std::process::Command::new("objcopy")
            .arg("--strip-debug")
            .arg(&this)
            .arg(&stripped)
            .status()
            .expect("objcopy runs");
        assert!(ran.success(), "objcopy strips a copy");
        assert_eq!(has_line_tables(&stripped), Some(false));
        // Not an executable: nothing to say.
        let text = dir.path().join("text");
        std::fs::write(&text, "not an image").expect("a file");
        assert_eq!(has_line_tables(&text), None);
        assert_eq!(has_line_tables(&dir.path().join("missing")), None);
    }
}
