//! What to do about a poll that held a worker: one line, in the voice of a colleague, from what
//! the kernel said about the stuck thread. tokmon's findings and the test guard's failures say
//! the same words.

use crate::sample::CpuUse;

/// The hint for a poll that ran too long, from the syscall it waited in most (when one was
/// seen often enough to be the cause) and else its CPU use.
pub fn for_poll(cpu: CpuUse, syscall: Option<&str>) -> String {
    match (syscall, cpu) {
        (_, CpuUse::Starved) => "the thread waited for a CPU most of the poll: the machine is \
             overloaded (other processes, or more busy threads than cores), and this poll's own \
             work was short; look at the machine's load before at this code"
            .into(),
        // A thread that computed most of the poll is CPU-bound even if a look caught it in a
        // lock or a sleep now and then; file I/O names the cause either way (copying is CPU).
        (Some("futex" | "clock_nanosleep" | "nanosleep"), CpuUse::On) => for_poll(cpu, None),
        (Some("futex"), _) => "blocked on a lock (futex): a std::sync::Mutex (or another blocking \
             wait) on an async worker; use tokio::sync::Mutex, or never block or hold a std lock \
             across slow work"
            .into(),
        (Some("clock_nanosleep" | "nanosleep"), _) => {
            "std::thread::sleep in async code holds the worker: use tokio::time::sleep(..).await"
                .into()
        }
        (
            Some(
                call @ ("read" | "write" | "pread64" | "pwrite64" | "readv" | "writev" | "openat"
                | "fsync" | "fdatasync" | "statx" | "newfstatat" | "unlink" | "rename"),
            ),
            _,
        ) => format!(
            "blocking I/O ({call}) on an async worker: use tokio::fs / tokio::net, or move it to \
             tokio::task::spawn_blocking"
        ),
        (Some(call), _) => format!(
            "the worker waits in {call}: move the blocking call to tokio::task::spawn_blocking"
        ),
        (None, CpuUse::On) => "CPU-bound work on an async worker: move it to \
             tokio::task::spawn_blocking (or a CPU pool), or split it with \
             tokio::task::yield_now between chunks"
            .into(),
        (None, CpuUse::Off) => "the worker waits off the CPU: move the blocking call to \
             tokio::task::spawn_blocking"
            .into(),
        (None, CpuUse::Unknown) => "a poll ran without yielding: find the work it does without an \
             .await and move it to tokio::task::spawn_blocking"
            .into(),
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
}
