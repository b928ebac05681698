//! Stuck threads' stacks for the watchdog: the capture runs on the monitor thread (tens of
//! microseconds, once per stall, again only if the same poll is still stuck at ten times the
//! threshold), the symbolization on a thread of its own, so its slow first call (tens of
//! milliseconds) never delays stall detection.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::probe::StackBounds;
use crate::sample::{StackFrame, StackInfo};
use crate::stack;

/// How long a capture waits for the stuck thread to answer the signal.
const CAPTURE_TIMEOUT: Duration = Duration::from_millis(100);
/// Captures waiting for the symbolizer before new ones are dropped.
const QUEUE: usize = 16;

/// The poll a stack belongs to: (thread id, poll sequence number).
pub type PollKey = (Option<i32>, u64);

/// Captures stacks and hands them to the symbolizer thread; results come back by key.
#[derive(Debug)]
pub struct StackService {
    to_symbolize: SyncSender<(PollKey, stack::RawStack)>,
    symbolized: Receiver<(PollKey, StackInfo)>,
}

impl StackService {
    /// Starts the symbolizer thread (which warms the symbolizer up first), or `None` where
    /// stacks are unsupported.
    pub fn start() -> Option<StackService> {
        if !stack::supported() || stack::prepare().is_err() {
            return None;
        }
        let (to_symbolize, requests) = sync_channel::<(PollKey, stack::RawStack)>(QUEUE);
        let (results, symbolized) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("tokmon-symbolizer".into())
            .spawn(move || {
                stack::warm_up();
                for (key, raw) in requests {
                    let frames = stack::symbolize(&raw);
                    let site = stack::blocking_site(&frames).and_then(stack::Frame::site);
                    let info = StackInfo {
                        frames: frames.iter().map(frame_of).collect(),
                        site,
                        capture_us: u64::try_from(raw.elapsed.as_micros()).unwrap_or(u64::MAX),
                    };
                    if results.send((key, info)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(StackService {
            to_symbolize,
            symbolized,
        })
    }

    /// Captures the stack of thread `tid` now and queues it for symbolizing. A thread that
    /// does not answer in time, or a full queue, just means no stack for this stall.
    pub fn capture(&self, key: PollKey, tid: i32, bounds: Option<StackBounds>) {
        if let Ok(raw) = stack::capture(tid, bounds, CAPTURE_TIMEOUT) {
            match self.to_symbolize.try_send((key, raw)) {
                Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Stacks symbolized since the last call.
    pub fn ready(&self) -> Vec<(PollKey, StackInfo)> {
        self.symbolized.try_iter().collect()
    }
}

fn frame_of(frame: &stack::Frame) -> StackFrame {
    StackFrame {
        function: frame.function.clone(),
        file: frame.file.clone(),
        line: frame.line,
        inlined: frame.inlined,
        app: frame.app,
    }
}
