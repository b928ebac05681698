//! What the probe's server says to an attached client, after the wire's hello: tagged messages,
//! each a postcard-encoded value. A new client gets [`Info`] and the [`ModuleMap`] first, then a
//! [`Reading`](crate::sample::Reading) every interval, the same readings a monitor in the
//! client's own process would give it.

use serde::{Deserialize, Serialize};

/// An [`Info`]: sent to each new client first, and again when it changes.
pub const TAG_INFO: u8 = 1;
/// A [`ModuleMap`]: sent to each new client, and again when the app maps a new image.
pub const TAG_MODULES: u8 = 2;
/// A [`Reading`](crate::sample::Reading).
pub const TAG_READING: u8 = 3;

/// The runtime and the probe as they are configured, for the client's header and thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The runtime's worker threads.
    pub workers: usize,
    pub long_poll_threshold_ns: u64,
    pub stall_threshold_ns: u64,
    /// Time between two readings this client gets: the interval it asked for in its hello,
    /// rounded to a multiple of the probe's own (never below it), or the probe's own.
    pub interval_ns: u64,
    /// Stalled threads' stacks are captured.
    pub stacks: bool,
    /// The probe's hooks have run; false on a running runtime means the app replaced them (a
    /// callback set on tokio's builder after `install`).
    pub hooks_fired: bool,
}

/// The images mapped into the app: what a client needs to name captured return addresses
/// (it reads the files itself, through `/proc/<pid>/root` on the same machine, or copies of
/// them it is given, and uses a file only if its build id is the image's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleMap {
    pub modules: Vec<Module>,
}

/// One mapped image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// As `/proc/<pid>/maps` names it, or `[vdso]`.
    pub name: String,
    /// The file to read, as the app sees it; `None` for an image only in memory (the vDSO).
    pub file: Option<String>,
    /// Where the image is mapped: `start..end`.
    pub start: u64,
    pub end: u64,
    /// An address in memory minus the same address as stated in the file.
    pub bias: u64,
    /// `(address as stated in the image, name)`, sorted, for an image only in memory.
    pub symbols: Vec<(u64, String)>,
    /// The image's GNU build id, read from the file the app mapped when it listed its images:
    /// a file with another id is not this image (replaced since, or another build).
    pub build_id: Option<Vec<u8>>,
}

/// Encodes a message for the wire.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

/// Decodes a message from the wire; a malformed one is an error, never a panic.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{CapturedStack, CpuUse, PollRecord, ProbeSample, Reading};

    #[test]
    fn a_reading_with_a_captured_stack_comes_back_whole() {
        let poll = PollRecord {
            worker: Some(1),
            task_id: 7,
            workload: None,
            spawned_at: Some("src/main.rs:10:5".into()),
            tid: Some(1234),
            seq: 9,
            started_ns: 5,
            duration_ns: 150_000_000,
            running: true,
            cpu_ratio: Some(0.9),
            cpu: CpuUse::On,
            cpu_wait_ns: None,
            thread_state: Some('R'),
            syscall: None,
            worker_moved: false,
            captured: Some(CapturedStack {
                addresses: vec![0x1000, 0x2000],
                capture_us: 40,
            }),
            stack: None,
        };
        let reading = Reading {
            seq: 3,
            elapsed_ns: 300_000_000,
            workers: Vec::new(),
            runtime: Default::default(),
            probe: Some(ProbeSample {
                in_flight: vec![poll.clone()],
                long_polls: vec![PollRecord {
                    captured: None,
                    ..poll
                }],
                ..ProbeSample::default()
            }),
            dropped_before: 0,
        };
        let bytes = encode(&reading).expect("encodes");
        assert_eq!(decode::<Reading>(&bytes).expect("decodes"), reading);
        assert!(decode::<Reading>(&bytes[..bytes.len() / 2]).is_err());
    }
}
