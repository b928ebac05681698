//! Capture and symbolize the user-space stack of another thread of this process while it is
//! stuck: the blocking detector's way to name the line that blocks a worker.
//!
//! [`capture`] interrupts the thread with a reserved real-time signal (SIGRTMIN+5); the handler
//! unwinds the interrupted stack with `framehop` (DWARF CFI from `.eh_frame`, frame pointers
//! where there is none) into a static buffer, without allocating or locking, and returns raw
//! addresses. [`symbolize`] turns them into functions and `file:line` with `addr2line`, off
//! the signal path and on the caller's own thread; its first call is slow, so call
//! [`warm_up`] early from a background thread. [`blocking_site`] picks the first frame of
//! the application, skipping std, core, alloc, tokio, libc and dependencies.
//!
//! The unsafe code lives in `signal` alone. Only Linux x86-64 is supported; elsewhere every
//! call returns [`CaptureError::Unsupported`] (or nothing).

use std::fmt;
use std::time::Duration;

pub use crate::probe::StackBounds;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod modules;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod signal;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod symbolize;

/// The raw stack of one thread, innermost first: `addresses[0]` is the instruction the thread
/// was interrupted at, the rest are return addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStack {
    pub tid: i32,
    pub addresses: Vec<u64>,
    /// From the request to the handler's answer (signal round trip and unwind).
    pub elapsed: Duration,
    /// The unwinder reached the root of the stack (thread start).
    pub complete: bool,
    /// The stack was deeper than the frame buffer.
    pub truncated: bool,
}

/// One symbolized frame, innermost first. An address with inlined calls gives several frames:
/// the inlined ones (`inlined: true`) first, then the function that holds the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub address: u64,
    /// Demangled, without the hash (`tokmon::workload::hash::run`); `?? (libfoo.so)` when
    /// unknown.
    pub function: String,
    /// Relative to the crate root when inside it (`src/workload/hash.rs`), absolute otherwise.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
    /// Belongs to the application: not std, core, alloc, tokio, libc, nor a dependency from
    /// the cargo registry or the toolchain.
    pub app: bool,
}

impl Frame {
    /// `file:line`, e.g. `src/workload/hash.rs:61`.
    pub fn site(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match self.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        })
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.function)?;
        if self.inlined {
            write!(f, " (inlined)")?;
        }
        if let Some(site) = self.site() {
            write!(f, " at {site}")?;
        }
        Ok(())
    }
}

/// Why a capture did not return a stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("stack capture is only supported on Linux x86-64")]
    Unsupported,
    #[error("signal {signal} (SIGRTMIN+5) already has another handler: stack capture stays off")]
    SignalInUse { signal: i32 },
    #[error("cannot set up stack capture: {0}")]
    Install(String),
    #[error("thread {tid} is not a thread of this process (it may have exited)")]
    NoSuchThread { tid: i32 },
    #[error("cannot signal the thread: {0}")]
    Signal(String),
    #[error("thread {tid} did not answer within {waited:?} (it blocks the signal or is stopped)")]
    Timeout { tid: i32, waited: Duration },
    #[error("an earlier capture's handler is still running")]
    Busy,
}

/// The crate root, to shorten file paths inside it.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
const CRATE_ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Path fragments of code that is not the application's.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
const NOT_APP_PATHS: &[&str] = &[
    "/rustc/",
    "/.rustup/",
    "/rustlib/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
    "/registry/src/",
    "/git/checkouts/",
];

/// Function prefixes of code that is not the application's.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
const NOT_APP_FUNCTIONS: &[&str] = &[
    "std::", "core::", "alloc::", "tokio::", "<std::", "<core::", "<alloc::", "<tokio::",
];

/// This module's own files, never a blocking site.
const OWN_FILES: &str = "src/stack/";

#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
fn shorten(file: String) -> String {
    match file
        .strip_prefix(CRATE_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(relative) => relative.to_string(),
        None => file,
    }
}

#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
fn is_app(file: Option<&str>, function: &str) -> bool {
    let Some(file) = file else {
        // No line info: libc, the vDSO, or stripped code.
        return false;
    };
    !NOT_APP_PATHS.iter().any(|marker| file.contains(marker))
        && !NOT_APP_FUNCTIONS
            .iter()
            .any(|prefix| function.starts_with(prefix))
}

/// The blocking site: the first (innermost) frame that belongs to the application, skipping
/// this module's own frames.
pub fn blocking_site(frames: &[Frame]) -> Option<&Frame> {
    frames.iter().find(|frame| {
        frame.app
            && !frame
                .file
                .as_deref()
                .is_some_and(|file| file.starts_with(OWN_FILES))
    })
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod imp {
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use super::modules::{self, ModuleList};
    use super::symbolize::Symbolizer;
    use super::{CaptureError, Frame, RawStack, StackBounds, is_app, shorten, signal};

    /// A stale module list is reloaded when an address misses it, at most this often.
    const REFRESH_EVERY: Duration = Duration::from_secs(2);
    /// How long a module refresh waits for a late handler before giving up.
    const QUIESCE_WAIT: Duration = Duration::from_millis(100);

    static MODULES: Mutex<Option<Arc<ModuleList>>> = Mutex::new(None);
    static CAPTURE: Mutex<()> = Mutex::new(());
    static SYMBOLIZER: Mutex<Option<Symbolizer>> = Mutex::new(None);

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The module list; reloaded (with the unwinder) when `refresh` and it is old enough.
    fn module_list(refresh: bool) -> Result<Arc<ModuleList>, CaptureError> {
        let mut current = lock(&MODULES);
        if let Some(list) = current.as_ref()
            && (!refresh || list.loaded_at.elapsed() < REFRESH_EVERY)
            && signal::has_unwinder()
        {
            return Ok(list.clone());
        }
        let (list, unwinder) = modules::load().map_err(CaptureError::Install)?;
        signal::set_unwinder(unwinder, QUIESCE_WAIT)?;
        let list = Arc::new(list);
        *current = Some(list.clone());
        Ok(list)
    }

    pub fn prepare() -> Result<(), CaptureError> {
        signal::install()?;
        module_list(false).map(drop)
    }

    pub fn capture(
        tid: i32,
        bounds: Option<StackBounds>,
        timeout: Duration,
    ) -> Result<RawStack, CaptureError> {
        let _one_at_a_time = lock(&CAPTURE);
        signal::install()?;
        let list = module_list(false)?;
        let bounds = bounds.map(|b| (b.low as u64, b.high as u64));
        let start = Instant::now();
        let mut captured = signal::capture(tid, bounds, timeout)?;
        let mut elapsed = start.elapsed();
        // An address outside every known image: a library loaded since the list was read.
        // Reload the list and capture once more if time allows.
        if captured.addresses.iter().any(|&a| list.find(a).is_none())
            && list.loaded_at.elapsed() >= REFRESH_EVERY
        {
            let fresh = module_list(true)?;
            let left = timeout.saturating_sub(start.elapsed());
            if !Arc::ptr_eq(&fresh, &list) && !left.is_zero() {
                let again = Instant::now();
                if let Ok(retry) = signal::capture(tid, bounds, left) {
                    captured = retry;
                    elapsed = again.elapsed();
                }
            }
        }
        Ok(RawStack {
            tid,
            addresses: captured.addresses,
            elapsed,
            complete: captured.outcome == signal::Outcome::Complete,
            truncated: captured.outcome == signal::Outcome::Truncated,
        })
    }

    pub fn symbolize(raw: &RawStack) -> Vec<Frame> {
        let Ok(mut list) = module_list(false) else {
            return raw.addresses.iter().map(|&a| unknown(a)).collect();
        };
        let mut symbolizer = lock(&SYMBOLIZER);
        let symbolizer = symbolizer.get_or_insert_with(Symbolizer::default);
        let mut frames = Vec::new();
        for (index, &address) in raw.addresses.iter().enumerate() {
            let exact = index == 0;
            let mut found = symbolizer.frames(&list, address, exact);
            if found.is_none()
                && list.loaded_at.elapsed() >= REFRESH_EVERY
                && let Ok(fresh) = module_list(true)
            {
                list = fresh;
                found = symbolizer.frames(&list, address, exact);
            }
            match found {
                Some(raw_frames) => frames.extend(raw_frames.into_iter().map(|raw| {
                    let file = raw.file.map(shorten);
                    let app = is_app(file.as_deref(), &raw.function);
                    Frame {
                        address: raw.address,
                        function: raw.function,
                        file,
                        line: raw.line,
                        inlined: raw.inlined,
                        app,
                    }
                })),
                None => frames.push(unknown(address)),
            }
        }
        frames
    }

    fn unknown(address: u64) -> Frame {
        Frame {
            address,
            function: format!("?? ({address:#x})"),
            file: None,
            line: None,
            inlined: false,
            app: false,
        }
    }

    pub fn warm_up() {
        if prepare().is_err() {
            return;
        }
        // Opens every image's debug info and indexes the executable's: the cold cost.
        let here = warm_up as fn() as usize as u64;
        let _ = symbolize(&RawStack {
            tid: 0,
            addresses: vec![here],
            elapsed: Duration::ZERO,
            complete: false,
            truncated: false,
        });
        if let Ok(list) = module_list(false) {
            let mut symbolizer = lock(&SYMBOLIZER);
            let symbolizer = symbolizer.get_or_insert_with(Symbolizer::default);
            for module in &list.modules {
                let _ = symbolizer.frames(&list, module.avma.start, true);
            }
        }
    }

    pub fn set_capture_blocked(blocked: bool) -> Result<(), CaptureError> {
        signal::set_blocked_on_current_thread(blocked)
    }

    pub fn handler_active_on() -> Option<i32> {
        signal::handler_active_on()
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod imp {
    use std::time::Duration;

    use super::{CaptureError, Frame, RawStack, StackBounds};

    pub fn prepare() -> Result<(), CaptureError> {
        Err(CaptureError::Unsupported)
    }

    pub fn capture(
        _tid: i32,
        _bounds: Option<StackBounds>,
        _timeout: Duration,
    ) -> Result<RawStack, CaptureError> {
        Err(CaptureError::Unsupported)
    }

    pub fn symbolize(raw: &RawStack) -> Vec<Frame> {
        raw.addresses
            .iter()
            .map(|&address| Frame {
                address,
                function: format!("?? ({address:#x})"),
                file: None,
                line: None,
                inlined: false,
                app: false,
            })
            .collect()
    }

    pub fn warm_up() {}

    pub fn set_capture_blocked(_blocked: bool) -> Result<(), CaptureError> {
        Err(CaptureError::Unsupported)
    }

    pub fn handler_active_on() -> Option<i32> {
        None
    }
}

/// Whether stack capture works on this platform (Linux x86-64).
pub fn supported() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

/// Installs the signal handler and reads the module list (a few ms, once); [`capture`] does
/// it on first use. Fails with [`CaptureError::SignalInUse`] when another handler owns the
/// signal.
pub fn prepare() -> Result<(), CaptureError> {
    imp::prepare()
}

/// Captures the user-space stack of thread `tid` (a kernel thread id of this process) once.
///
/// `bounds` is the thread's stack range, recorded when it started; no stack word outside it is
/// read. With `None`, reads start at the interrupted stack pointer and stop where memory is
/// unreadable. Either way every read is a `process_vm_readv` copy that fails cleanly.
///
/// Returns [`CaptureError::Timeout`] after `timeout` when the thread does not answer (it blocks
/// the signal, is stopped, or waits long for a CPU); a late answer is then ignored. When the
/// handler has already started unwinding at the deadline it gets one more `timeout`, so a call
/// returns within about twice `timeout` at worst. Captures are serialized: a second caller
/// waits for the first.
///
/// Interrupting a thread can make a blocking syscall that is never restarted (`poll`,
/// `epoll_wait`, `nanosleep` without a retry loop) return EINTR: capture threads that are
/// really stuck, once per stall, not at profiler rates.
pub fn capture(
    tid: i32,
    bounds: Option<StackBounds>,
    timeout: Duration,
) -> Result<RawStack, CaptureError> {
    imp::capture(tid, bounds, timeout)
}

/// Symbolizes a captured stack: functions, `file:line` and inlined frames, innermost first.
/// Slow on its first call (tens of ms, tens of MB): run it on a thread of its own.
pub fn symbolize(raw: &RawStack) -> Vec<Frame> {
    imp::symbolize(raw)
}

/// Pays the symbolizer's cold start (and [`prepare`]) now; call it from a background thread.
pub fn warm_up() {
    imp::warm_up()
}

/// Blocks (`true`) or unblocks the capture signal on the calling thread: a thread that must
/// never be interrupted can opt out; capturing it then times out.
pub fn set_capture_blocked(blocked: bool) -> Result<(), CaptureError> {
    imp::set_capture_blocked(blocked)
}

/// The thread whose capture handler is running at this instant, if any. Test aid: lets a
/// counting allocator check that the handler allocates nothing.
#[doc(hidden)]
pub fn handler_active_on() -> Option<i32> {
    imp::handler_active_on()
}

#[cfg(test)]
mod tests;
