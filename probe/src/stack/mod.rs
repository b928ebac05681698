//! Capture the user-space stack of another thread of this process while it is stuck: the raw
//! return addresses and the module map that locates them. Naming them (functions, files,
//! lines) is the client's job, off the app's process: the app pays nothing for debug info.
//!
//! [`capture`] interrupts the thread with a reserved real-time signal (SIGRTMIN+5); the handler
//! unwinds the interrupted stack with `framehop` (DWARF CFI from `.eh_frame`, frame pointers
//! where there is none) into a static buffer, without allocating or locking, and returns raw
//! addresses.
//!
//! The unsafe code lives in `signal` alone. Only Linux x86-64 is supported, and only with the
//! crate's `stack-capture` feature (off by default: the unwinder brings framehop, gimli and
//! object into the app); elsewhere every call returns [`CaptureError::Unsupported`].

use std::time::Duration;

pub use crate::threads::StackBounds;

#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture"))]
mod modules;
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture"))]
mod signal;

#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture"))]
pub use modules::{ModuleInfo, ModuleList};

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

#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture"))]
mod imp {
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use super::modules::{self, ModuleList};
    use super::{CaptureError, RawStack, StackBounds, signal};

    /// A stale module list is reloaded when an address misses it, at most this often.
    pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
    /// How long a module refresh waits for a late handler before giving up.
    const QUIESCE_WAIT: Duration = Duration::from_millis(100);

    static MODULES: Mutex<Option<Arc<ModuleList>>> = Mutex::new(None);
    static CAPTURE: Mutex<()> = Mutex::new(());

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The module list; reloaded (with the unwinder) when `refresh` and it is old enough.
    pub fn module_list(refresh: bool) -> Result<Arc<ModuleList>, CaptureError> {
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

    pub fn set_capture_blocked(blocked: bool) -> Result<(), CaptureError> {
        signal::set_blocked_on_current_thread(blocked)
    }

    pub fn handler_active_on() -> Option<i32> {
        signal::handler_active_on()
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture")))]
mod imp {
    use std::time::Duration;

    use super::{CaptureError, RawStack, StackBounds};

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

    pub fn set_capture_blocked(_blocked: bool) -> Result<(), CaptureError> {
        Err(CaptureError::Unsupported)
    }

    pub fn handler_active_on() -> Option<i32> {
        None
    }
}

/// Whether stack capture works here: Linux x86-64, with the crate's `stack-capture` feature.
pub fn supported() -> bool {
    cfg!(all(
        target_os = "linux",
        target_arch = "x86_64",
        feature = "stack-capture"
    ))
}

/// Installs the signal handler and reads the module list (a few ms, once); [`capture`] does
/// it on first use. Fails with [`CaptureError::SignalInUse`] when another handler owns the
/// signal.
pub fn prepare() -> Result<(), CaptureError> {
    imp::prepare()
}

/// The images mapped into this process, as last read. With `refresh`, read again when the
/// list is more than two seconds old: an address that no image holds belongs to a library
/// loaded since.
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture"))]
pub fn module_list(refresh: bool) -> Result<std::sync::Arc<ModuleList>, CaptureError> {
    imp::module_list(refresh)
}

/// How old a module list must be before an unknown address reloads it.
#[cfg(all(target_os = "linux", target_arch = "x86_64", feature = "stack-capture"))]
pub const MODULES_REFRESH_EVERY: Duration = imp::REFRESH_EVERY;

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
/// `epoll_wait`, `nanosleep`, `clock_nanosleep` without a retry loop) return EINTR, whatever
/// `SA_RESTART` says: capture threads that are really stuck, once per stall, not at profiler
/// rates; an app whose own code cannot take an EINTR turns capture off.
pub fn capture(
    tid: i32,
    bounds: Option<StackBounds>,
    timeout: Duration,
) -> Result<RawStack, CaptureError> {
    imp::capture(tid, bounds, timeout)
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
