//! The only unsafe code of tokmon: a real-time signal handler that unwinds the thread it
//! interrupts, and the request protocol around it.
#![allow(unsafe_code)]
// Why unsafe is needed here and nowhere else: installing a signal handler (`sigaction`),
// reading the interrupted registers from the kernel's `ucontext_t`, sending the signal to one
// thread (`tgkill`), copying stack memory with `process_vm_readv`, and sharing one static
// request buffer between the waiting thread and the handler. Each use below states the
// invariant it relies on. The rest of `stack` only sees the safe functions of this file.
//
// Protocol (one request at a time; every caller holds `ENGINE`'s lock for the whole request):
//
// ```text
//            caller                                   handler (on the target thread)
// IDLE/DONE/ABANDONED --(caller fills JOB)--> REQUESTED --(CAS, tid matches)--> IN_PROGRESS
// REQUESTED --(caller times out, CAS)--> ABANDONED          IN_PROGRESS --(handler)--> DONE
// ```
//
// `SLOT` packs a generation counter with the state, so a handler that runs late (after its
// request was abandoned) loses its compare-and-swap and touches nothing. `JOB` (and the
// unwinder and cache it points to) is written by the caller only while the slot is
// quiescent (IDLE, DONE or ABANDONED), and by the handler only while it holds IN_PROGRESS.

use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{MustNotAllocateDuringUnwind, Unwinder};
use rustix::thread::futex;

use super::CaptureError;

/// The unwinder the handler uses: modules with owned `.eh_frame_hdr` / `.eh_frame` copies.
pub(super) type StackUnwinder = UnwinderX86_64<Vec<u8>, MustNotAllocateDuringUnwind>;
type StackCache = CacheX86_64<MustNotAllocateDuringUnwind>;

/// Frames kept per capture; deeper stacks are truncated.
pub(super) const MAX_FRAMES: usize = 256;
/// Stack bytes copied in one `process_vm_readv` from the interrupted stack pointer up; reads
/// above it (still within bounds) are copied one word at a time.
const WINDOW: usize = 64 * 1024;
const PAGE: u64 = 4096;
const WINDOW_PAGES: usize = WINDOW / PAGE as usize + 1;

const IDLE: u32 = 0;
const REQUESTED: u32 = 1;
const IN_PROGRESS: u32 = 2;
const DONE: u32 = 3;
const ABANDONED: u32 = 4;
const STATE_BITS: u32 = 3;
const STATE_MASK: u32 = (1 << STATE_BITS) - 1;

fn state(word: u32) -> u32 {
    word & STATE_MASK
}

fn with_state(word: u32, state: u32) -> u32 {
    (word & !STATE_MASK) | state
}

/// Generation (high bits) and state (low bits) of the one request slot; also the futex word
/// the caller sleeps on.
static SLOT: AtomicU32 = AtomicU32::new(IDLE);
/// The kernel thread id the current request is for; written before the slot becomes
/// REQUESTED.
static TARGET: AtomicI32 = AtomicI32::new(0);
/// The thread whose handler is unwinding right now (0: none). For tests that check that the
/// handler does not allocate.
static ACTIVE_TID: AtomicI32 = AtomicI32::new(0);

/// How an unwind ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The unwinder reached the root of the stack.
    Complete,
    /// The unwinder stopped on an error (unreadable stack, no unwind info...).
    Stopped,
    /// The frame buffer is full.
    Truncated,
}

/// The request and its result, shared between the caller and the handler (see the protocol).
struct Job {
    unwinder: *const StackUnwinder,
    cache: *mut StackCache,
    pid: i32,
    /// Stack bounds `low..high`; `high == 0` when unknown.
    low: u64,
    high: u64,
    frames: [u64; MAX_FRAMES],
    len: usize,
    outcome: Outcome,
    window_start: u64,
    window_len: usize,
    window: [u8; WINDOW],
    remote: [libc::iovec; WINDOW_PAGES],
}

struct JobCell(UnsafeCell<Job>);

// SAFETY: access to the `Job` is serialized by the protocol above: the caller touches it only
// while it holds `ENGINE`'s lock and the slot is quiescent; the handler only after winning the
// REQUESTED -> IN_PROGRESS compare-and-swap, until it stores DONE. The Release store that
// publishes a request and the Acquire CAS / loads that observe it order these accesses.
unsafe impl Sync for JobCell {}

const EMPTY_IOVEC: libc::iovec = libc::iovec {
    iov_base: ptr::null_mut(),
    iov_len: 0,
};

static JOB: JobCell = JobCell(UnsafeCell::new(Job {
    unwinder: ptr::null(),
    cache: ptr::null_mut(),
    pid: 0,
    low: 0,
    high: 0,
    frames: [0; MAX_FRAMES],
    len: 0,
    outcome: Outcome::Stopped,
    window_start: 0,
    window_len: 0,
    window: [0; WINDOW],
    remote: [EMPTY_IOVEC; WINDOW_PAGES],
}));

/// The unwinder and its cache, owned here so that nothing can change or free them while a
/// handler may use them.
struct Engine {
    unwinder: NonNull<StackUnwinder>,
    cache: NonNull<StackCache>,
}

// SAFETY: the two pointers come from `Box::leak` and are owned by this `Engine` alone; they
// are used by the thread that holds `ENGINE`'s lock, or by a handler under the protocol. An
// `Engine` lives in the `ENGINE` static and is never dropped; `set_unwinder` frees a replaced
// unwinder only while the slot is quiescent.
unsafe impl Send for Engine {}

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

fn lock_engine() -> MutexGuard<'static, Option<Engine>> {
    ENGINE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The real-time signal reserved for stack capture: SIGRTMIN+5.
pub(super) fn signal_number() -> i32 {
    libc::SIGRTMIN() + 5
}

/// Installs the handler once per process. Refuses when another handler owns the signal.
pub(super) fn install() -> Result<(), CaptureError> {
    static INSTALLED: OnceLock<Result<(), CaptureError>> = OnceLock::new();
    INSTALLED.get_or_init(install_once).clone()
}

fn install_once() -> Result<(), CaptureError> {
    let signal = signal_number();
    if signal > libc::SIGRTMAX() {
        return Err(CaptureError::Install("SIGRTMIN+5 is above SIGRTMAX".into()));
    }
    let ours = handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
        as libc::sighandler_t;
    // SAFETY: `sigaction` is plain data for which all zeroes is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`, a valid out pointer.
    if unsafe { libc::sigaction(signal, ptr::null(), &mut old) } != 0 {
        return Err(CaptureError::Install(last_os_error()));
    }
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != ours {
        return Err(CaptureError::SignalInUse { signal });
    }
    // SAFETY: as above, zeroed is a valid `sigaction`.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = ours;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `sa_mask` is a valid, owned `sigset_t`.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialized; `handler` is async-signal-safe (see there).
    if unsafe { libc::sigaction(signal, &action, ptr::null_mut()) } != 0 {
        return Err(CaptureError::Install(last_os_error()));
    }
    Ok(())
}

fn last_os_error() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Blocks (or unblocks) the capture signal on the calling thread. A thread that blocks it can
/// never be interrupted by a capture; capturing it times out.
pub(super) fn set_blocked_on_current_thread(blocked: bool) -> Result<(), CaptureError> {
    // SAFETY: zeroed is a valid `sigset_t`, initialized by `sigemptyset` right after.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, owned `sigset_t`; the signal number is valid.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal_number());
    }
    let how = if blocked {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: `set` is initialized; a null old set is allowed.
    let rc = unsafe { libc::pthread_sigmask(how, &set, ptr::null_mut()) };
    if rc != 0 {
        return Err(CaptureError::Install(
            std::io::Error::from_raw_os_error(rc).to_string(),
        ));
    }
    Ok(())
}

/// Replaces the unwinder (the module list). Waits up to `wait` for a late handler to finish.
pub(super) fn set_unwinder(unwinder: StackUnwinder, wait: Duration) -> Result<(), CaptureError> {
    let mut engine = lock_engine();
    wait_quiescent(Instant::now() + wait)?;
    let cache = match engine.take() {
        // Keep the cache: its rules are keyed by the unwinder's module generation.
        Some(old) => {
            // SAFETY: the slot is quiescent, so no handler uses `old.unwinder`, and the engine
            // is gone from `ENGINE`, so nothing else will; it came from `Box::leak` and is
            // freed once, here.
            unsafe { drop(Box::from_raw(old.unwinder.as_ptr())) };
            old.cache
        }
        None => NonNull::from(Box::leak(Box::new(StackCache::new_in()))),
    };
    *engine = Some(Engine {
        unwinder: NonNull::from(Box::leak(Box::new(unwinder))),
        cache,
    });
    Ok(())
}

/// Whether an unwinder has been set.
pub(super) fn has_unwinder() -> bool {
    lock_engine().is_some()
}

/// The result of one capture.
pub(super) struct Captured {
    pub addresses: Vec<u64>,
    pub outcome: Outcome,
}

/// Waits until no handler holds the slot (IDLE, DONE or ABANDONED), up to `deadline`.
fn wait_quiescent(deadline: Instant) -> Result<(), CaptureError> {
    loop {
        let word = SLOT.load(Ordering::Acquire);
        match state(word) {
            IN_PROGRESS => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(CaptureError::Busy);
                }
                futex_wait(word, deadline - now);
            }
            // Only a caller holding `ENGINE` can leave REQUESTED behind, and it never does.
            _ => return Ok(()),
        }
    }
}

fn futex_wait(word: u32, timeout: Duration) {
    let timeout = futex::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // EAGAIN (the word already changed), EINTR and ETIMEDOUT all mean: look again.
    let _ = futex::wait(&SLOT, futex::Flags::PRIVATE, word, Some(&timeout));
}

/// Interrupts thread `tid` of this process and unwinds its stack from the interrupted
/// registers. `bounds` is the thread's stack `low..high` when known: no word outside it is
/// read. Every read goes through `process_vm_readv`, so wrong bounds or a bad stack yield a
/// short stack, never a fault.
pub(super) fn capture(
    tid: i32,
    bounds: Option<(u64, u64)>,
    timeout: Duration,
) -> Result<Captured, CaptureError> {
    install()?;
    if tid <= 0 {
        return Err(CaptureError::NoSuchThread { tid });
    }
    let start = Instant::now();
    let deadline = start + timeout;
    let guard = lock_engine();
    let Some(engine) = guard.as_ref() else {
        return Err(CaptureError::Install("no module list loaded".into()));
    };
    wait_quiescent(deadline)?;

    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let (low, high) = bounds.unwrap_or((0, 0));
    {
        // SAFETY: we hold `ENGINE`'s lock and the slot is quiescent: no handler touches JOB
        // (protocol), and no other caller can (the lock). This borrow ends before the request
        // is published.
        let job = unsafe { &mut *JOB.0.get() };
        job.unwinder = engine.unwinder.as_ptr();
        job.cache = engine.cache.as_ptr();
        job.pid = pid;
        job.low = low;
        job.high = if low < high { high } else { 0 };
        job.len = 0;
        job.outcome = Outcome::Stopped;
        job.window_len = 0;
    }
    let previous = SLOT.load(Ordering::Relaxed);
    let generation = (previous >> STATE_BITS).wrapping_add(1);
    let requested = (generation << STATE_BITS) | REQUESTED;
    TARGET.store(tid, Ordering::Relaxed);
    // Release: publishes JOB and TARGET to the handler that wins the CAS (Acquire).
    SLOT.store(requested, Ordering::Release);

    // SAFETY: plain syscall with integer arguments; `tgkill` only targets threads of `pid`
    // (this process), so a recycled tid of another process is never signalled.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::c_long::from(pid),
            libc::c_long::from(tid),
            libc::c_long::from(signal_number()),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // No handler can have claimed it when the thread does not exist; for other errors a
        // signal left pending by an earlier request may still serve this one: wait for it.
        if SLOT
            .compare_exchange(
                requested,
                with_state(requested, ABANDONED),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return Err(if err.raw_os_error() == Some(libc::ESRCH) {
                CaptureError::NoSuchThread { tid }
            } else {
                CaptureError::Signal(err.to_string())
            });
        }
    }

    let done = with_state(requested, DONE);
    let mut grace_given = false;
    let mut deadline = deadline;
    loop {
        let word = SLOT.load(Ordering::Acquire);
        if word == done {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            if word == requested
                && SLOT
                    .compare_exchange(
                        requested,
                        with_state(requested, ABANDONED),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
            {
                // Abandoned: a late handler loses its CAS and ignores the request.
                return Err(CaptureError::Timeout {
                    tid,
                    waited: start.elapsed(),
                });
            }
            // The handler has claimed the request (IN_PROGRESS): it is unwinding and will
            // finish soon; allow it one more timeout before giving up. The slot then stays
            // IN_PROGRESS and the next caller waits for it (see `wait_quiescent`).
            if grace_given {
                if SLOT.load(Ordering::Acquire) == done {
                    break;
                }
                return Err(CaptureError::Timeout {
                    tid,
                    waited: start.elapsed(),
                });
            }
            grace_given = true;
            deadline = now + timeout;
            continue;
        }
        futex_wait(word, deadline - now);
    }

    // SAFETY: the slot is DONE (observed with Acquire, synchronizing with the handler's
    // Release store), so the handler no longer touches JOB; we still hold `ENGINE`'s lock.
    let job = unsafe { &*JOB.0.get() };
    let len = job.len.min(MAX_FRAMES);
    Ok(Captured {
        addresses: job.frames[..len].to_vec(),
        outcome: job.outcome,
    })
}

/// The thread whose handler is unwinding right now, if any. Test aid: a counting allocator
/// checks that this thread allocates nothing meanwhile.
pub(super) fn handler_active_on() -> Option<i32> {
    match ACTIVE_TID.load(Ordering::Relaxed) {
        0 => None,
        tid => Some(tid),
    }
}

/// Copies memory of this process at `addr` into `buf` with `process_vm_readv`, which fails
/// cleanly on unmapped memory. Returns the number of bytes copied.
pub(super) fn read_own_memory(addr: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let n = read_memory(pid, addr, buf);
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// `process_vm_readv` of one range; returns bytes read or -1 (errno set).
fn read_memory(pid: i32, addr: u64, buf: &mut [u8]) -> isize {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is valid for writes of its length; the remote
    // address is only read by the kernel, which reports unmapped memory as an error.
    unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) }
}

/// The signal handler. Async-signal-safe: no allocation, no lock, no panic path in our code;
/// only atomics, raw syscalls and framehop's allocation-free unwinder on static data.
extern "C" fn handler(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: `errno` points to this thread's errno (see above).
    let saved = unsafe { *errno };
    handle(context);
    // SAFETY: as above; restores what the interrupted code saw.
    unsafe { *errno = saved };
}

fn handle(context: *mut libc::c_void) {
    if context.is_null() {
        return;
    }
    let word = SLOT.load(Ordering::Acquire);
    if state(word) != REQUESTED {
        return;
    }
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    if TARGET.load(Ordering::Relaxed) != tid {
        return;
    }
    // The CAS fails if the request was abandoned or replaced since we read the slot.
    if SLOT
        .compare_exchange(
            word,
            with_state(word, IN_PROGRESS),
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .is_err()
    {
        return;
    }
    ACTIVE_TID.store(tid, Ordering::Relaxed);
    // SAFETY: we won REQUESTED -> IN_PROGRESS, so by the protocol we alone access JOB until we
    // store DONE; the Acquire CAS makes the caller's writes to it visible.
    let job = unsafe { &mut *JOB.0.get() };
    // SAFETY: the kernel passes a valid `ucontext_t` as the third argument of an
    // SA_SIGINFO handler; it lives on this thread's stack for the handler's duration.
    let registers = unsafe { &(*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let register = |index: libc::c_int| {
        usize::try_from(index)
            .ok()
            .and_then(|i| registers.get(i))
            .map_or(0, |&value| value as u64)
    };
    let (pc, sp, bp) = (
        register(libc::REG_RIP),
        register(libc::REG_RSP),
        register(libc::REG_RBP),
    );
    unwind(job, pc, sp, bp);
    ACTIVE_TID.store(0, Ordering::Relaxed);
    // Release: the caller's Acquire load of DONE sees the frames.
    SLOT.store(with_state(word, DONE), Ordering::Release);
    let _ = futex::wake(&SLOT, futex::Flags::PRIVATE, i32::MAX.unsigned_abs());
}

fn unwind(job: &mut Job, pc: u64, sp: u64, bp: u64) {
    // Bounds that do not hold the stack pointer are not this thread's current stack (stale
    // bounds, or the thread runs on an alternate signal stack): read above `sp` only.
    if job.high == 0 || sp < job.low || sp >= job.high {
        job.low = sp;
        job.high = u64::MAX;
    }
    snapshot_window(job, sp);
    // SAFETY: the caller set both pointers from the live `Engine` it holds locked; an Engine
    // is replaced or freed only while the slot is quiescent, never while we hold IN_PROGRESS.
    let (unwinder, cache) = unsafe { (&*job.unwinder, &mut *job.cache) };
    let stack = StackReader {
        pid: job.pid,
        low: job.low,
        high: job.high,
        window_start: job.window_start,
        window: &job.window[..job.window_len],
    };
    let mut read = |addr: u64| stack.read(addr);
    let mut frames = unwinder.iter_frames(pc, UnwindRegsX86_64::new(pc, sp, bp), cache, &mut read);
    let mut len = 0;
    job.outcome = loop {
        match frames.next() {
            Ok(Some(frame)) => {
                let Some(slot) = job.frames.get_mut(len) else {
                    break Outcome::Truncated;
                };
                *slot = frame.address();
                len += 1;
            }
            Ok(None) => break Outcome::Complete,
            Err(_) => break Outcome::Stopped,
        }
    };
    job.len = len;
}

/// Copies the stack from `sp` up, to at most WINDOW bytes or the bounds, page by page so that
/// the copy stops cleanly at the end of the mapping when the bounds are unknown.
fn snapshot_window(job: &mut Job, sp: u64) {
    let end = job.high.min(sp.saturating_add(WINDOW as u64));
    let mut count = 0;
    let mut at = sp;
    while at < end && count < WINDOW_PAGES {
        let next_page = (at / PAGE + 1).saturating_mul(PAGE).min(end);
        job.remote[count] = libc::iovec {
            iov_base: at as usize as *mut libc::c_void,
            iov_len: (next_page - at) as usize,
        };
        count += 1;
        at = next_page;
    }
    let wanted = (at - sp) as usize;
    let local = libc::iovec {
        iov_base: job.window.as_mut_ptr().cast(),
        iov_len: wanted.min(WINDOW),
    };
    // SAFETY: `local` covers the first `wanted` (<= WINDOW) bytes of the static window, which
    // we alone access (protocol); the remote ranges are only read by the kernel, which stops
    // at the first unreadable page and reports how much it copied. `count` <= the array size.
    let copied = unsafe {
        libc::process_vm_readv(
            job.pid,
            &local,
            1,
            job.remote.as_ptr(),
            count as libc::c_ulong,
            0,
        )
    };
    job.window_start = sp;
    job.window_len = usize::try_from(copied).unwrap_or(0).min(WINDOW);
}

/// Reads stack words for the unwinder: from the window copy, else one `process_vm_readv`;
/// never outside `low..high`.
struct StackReader<'a> {
    pid: i32,
    low: u64,
    high: u64,
    window_start: u64,
    window: &'a [u8],
}

impl StackReader<'_> {
    fn read(&self, addr: u64) -> Result<u64, ()> {
        let end = addr.checked_add(8).ok_or(())?;
        if addr < self.low || end > self.high {
            return Err(());
        }
        if let Some(offset) = addr.checked_sub(self.window_start)
            && let Ok(offset) = usize::try_from(offset)
            && let Some(bytes) = offset
                .checked_add(8)
                .and_then(|end| self.window.get(offset..end))
            && let Ok(word) = <[u8; 8]>::try_from(bytes)
        {
            return Ok(u64::from_ne_bytes(word));
        }
        let mut word = [0u8; 8];
        if read_memory(self.pid, addr, &mut word) == 8 {
            Ok(u64::from_ne_bytes(word))
        } else {
            Err(())
        }
    }
}
