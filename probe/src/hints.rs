//! What to do about a poll that held a worker: one line, in the voice of a colleague, from what
//! the kernel said about the stuck thread. tokmon's findings and the test guard's failures say
//! the same words.

use crate::sample::CpuUse;

/// Why a poll held its worker, as far as the kernel's view of the thread tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause<'a> {
    Starved,
    Lock,
    Sleep,
    FileIo(&'a str),
    Syscall(&'a str),
    Computing,
    Waiting,
    Unknown,
}

/// The cause, from the syscall the thread waited in most (when one was seen often enough to be
/// the cause) and else its CPU use.
fn cause(cpu: CpuUse, syscall: Option<&str>) -> Cause<'_> {
    match (syscall, cpu) {
        (_, CpuUse::Starved) => Cause::Starved,
        // A thread that computed most of the poll is CPU-bound even if a look caught it in a
        // lock or a sleep now and then; file I/O names the cause either way (copying is CPU).
        (Some("futex" | "clock_nanosleep" | "nanosleep"), CpuUse::On) => Cause::Computing,
        (Some("futex"), _) => Cause::Lock,
        (Some("clock_nanosleep" | "nanosleep"), _) => Cause::Sleep,
        (
            Some(
                call @ ("read" | "write" | "pread64" | "pwrite64" | "readv" | "writev" | "openat"
                | "fsync" | "fdatasync" | "statx" | "newfstatat" | "unlink" | "rename"),
            ),
            _,
        ) => Cause::FileIo(call),
        (Some(call), _) => Cause::Syscall(call),
        (None, CpuUse::On) => Cause::Computing,
        (None, CpuUse::Off) => Cause::Waiting,
        (None, CpuUse::Unknown) => Cause::Unknown,
    }
}

/// The hint for a poll that ran too long: the cause and what to do, one sentence.
pub fn for_poll(cpu: CpuUse, syscall: Option<&str>) -> String {
    match cause(cpu, syscall) {
        Cause::Starved => "the thread waited for a CPU most of the poll: the machine is \
             overloaded (other processes, or more busy threads than cores), and this poll's own \
             work was short; look at the machine's load before at this code"
            .into(),
        Cause::Lock => "blocked on a lock (futex): a std::sync::Mutex (or another blocking \
             wait) on an async worker; use tokio::sync::Mutex, or never block or hold a std lock \
             across slow work"
            .into(),
        Cause::Sleep => {
            "std::thread::sleep in async code holds the worker: use tokio::time::sleep(..).await"
                .into()
        }
        Cause::FileIo(call) => format!(
            "blocking I/O ({call}) on an async worker: use tokio::fs / tokio::net, or move it to \
             tokio::task::spawn_blocking"
        ),
        Cause::Syscall(call) => format!(
            "the worker waits in {call}: move the blocking call to tokio::task::spawn_blocking"
        ),
        Cause::Computing => "CPU-bound work on an async worker: move it to \
             tokio::task::spawn_blocking (or a CPU pool), or split it with \
             tokio::task::yield_now between chunks"
            .into(),
        Cause::Waiting => "the worker waits off the CPU: move the blocking call to \
             tokio::task::spawn_blocking"
            .into(),
        Cause::Unknown => "a poll ran without yielding: find the work it does without an \
             .await and move it to tokio::task::spawn_blocking"
            .into(),
    }
}

/// The fix alone, a few words that a narrow status line keeps: `use tokio::sync::Mutex`.
pub fn fix_for_poll(cpu: CpuUse, syscall: Option<&str>) -> &'static str {
    match cause(cpu, syscall) {
        Cause::Starved => "check the machine's load",
        Cause::Lock => "use tokio::sync::Mutex",
        Cause::Sleep => "use tokio::time::sleep",
        Cause::FileIo(_) => "use tokio::fs or spawn_blocking",
        Cause::Syscall(_) | Cause::Computing | Cause::Waiting | Cause::Unknown => {
            "use spawn_blocking"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_cause() {
        assert!(for_poll(CpuUse::On, None).contains("spawn_blocking"));
        assert!(for_poll(CpuUse::Off, Some("futex")).contains("tokio::sync::Mutex"));
        assert!(for_poll(CpuUse::Off, Some("clock_nanosleep")).contains("tokio::time::sleep"));
        assert!(for_poll(CpuUse::Off, Some("read")).contains("tokio::fs"));
        assert!(for_poll(CpuUse::Off, Some("wait4")).contains("wait4"));
        // A file syscall names the cause even when the thread was busy copying on the CPU.
        assert!(for_poll(CpuUse::On, Some("fsync")).contains("tokio::fs"));
        // Starved of CPU: the load, not the code.
        assert!(for_poll(CpuUse::Starved, None).contains("overloaded"));
        // Computing most of the poll: a lock or a sleep caught now and then is not the cause.
        assert!(for_poll(CpuUse::On, Some("futex")).contains("CPU-bound"));
        assert!(for_poll(CpuUse::On, Some("clock_nanosleep")).contains("CPU-bound"));
        assert!(for_poll(CpuUse::Unknown, Some("futex")).contains("tokio::sync::Mutex"));
        assert!(!for_poll(CpuUse::Starved, None).contains("spawn_blocking"));
    }

    #[test]
    fn the_short_fix_says_what_the_hint_says() {
        let causes = [
            (CpuUse::On, None),
            (CpuUse::Off, Some("futex")),
            (CpuUse::Off, Some("clock_nanosleep")),
            (CpuUse::Off, Some("read")),
            (CpuUse::Off, Some("wait4")),
            (CpuUse::On, Some("futex")),
            (CpuUse::Off, None),
            (CpuUse::Unknown, None),
        ];
        for (cpu, syscall) in causes {
            let fix = fix_for_poll(cpu, syscall);
            let named = fix.rsplit(' ').next().unwrap_or(fix);
            assert!(
                for_poll(cpu, syscall).contains(named),
                "{fix:?} is not in the hint for {cpu:?} {syscall:?}"
            );
        }
        assert_eq!(
            fix_for_poll(CpuUse::Off, Some("futex")),
            "use tokio::sync::Mutex"
        );
        assert_eq!(
            fix_for_poll(CpuUse::Starved, None),
            "check the machine's load"
        );
    }
}
