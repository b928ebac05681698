//! What the kernel says about a thread right now: run state, the syscall it waits in, and its
//! CPU time. Linux only; elsewhere every answer is "unknown".

use serde::{Deserialize, Serialize};

/// A thread's state as `/proc/self/task/<tid>/{stat,syscall,schedstat}` show it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ThreadState {
    /// `R` running, `S` sleeping, `D` disk wait, ...
    pub state: Option<char>,
    /// The syscall the thread is blocked in, by name (`futex`, `clock_nanosleep`, ...); `None`
    /// while it runs in user space or when unknown.
    pub syscall: Option<String>,
    /// Nanoseconds on a CPU since the thread started.
    pub cpu_ns: Option<u64>,
}

/// Nanoseconds the thread has run on a CPU, from `/proc/self/task/<tid>/schedstat`.
#[cfg(target_os = "linux")]
pub fn cpu_ns(tid: i32) -> Option<u64> {
    let task = procfs::process::Process::myself()
        .ok()?
        .task_from_tid(tid)
        .ok()?;
    task.schedstat().ok().map(|s| s.sum_exec_runtime)
}

#[cfg(not(target_os = "linux"))]
pub fn cpu_ns(_tid: i32) -> Option<u64> {
    None
}

/// CPU nanoseconds of the calling thread.
#[cfg(target_os = "linux")]
pub fn current_thread_cpu_ns() -> Option<u64> {
    cpu_ns(rustix::thread::gettid().as_raw_nonzero().get())
}

#[cfg(not(target_os = "linux"))]
pub fn current_thread_cpu_ns() -> Option<u64> {
    None
}

/// Reads state, syscall and CPU time of one thread of this process.
#[cfg(target_os = "linux")]
pub fn read(tid: i32) -> ThreadState {
    let Some(task) = procfs::process::Process::myself()
        .ok()
        .and_then(|me| me.task_from_tid(tid).ok())
    else {
        return ThreadState::default();
    };
    let state = task.stat().ok().map(|s| s.state);
    let syscall = match task.syscall() {
        Ok(procfs::process::Syscall::Blocked { syscall_number, .. }) => {
            syscall_name(syscall_number)
        }
        _ => None,
    };
    let cpu_ns = task.schedstat().ok().map(|s| s.sum_exec_runtime);
    ThreadState {
        state,
        syscall,
        cpu_ns,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn read(_tid: i32) -> ThreadState {
    ThreadState::default()
}

/// The syscall the thread is blocked in now (`None` while it runs in user space or when
/// unknown); cheaper than [`read`]: one file.
#[cfg(target_os = "linux")]
pub fn syscall(tid: i32) -> Option<String> {
    let task = procfs::process::Process::myself()
        .ok()?
        .task_from_tid(tid)
        .ok()?;
    match task.syscall().ok()? {
        procfs::process::Syscall::Blocked { syscall_number, .. } => syscall_name(syscall_number),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
pub fn syscall(_tid: i32) -> Option<String> {
    None
}

/// The name of a syscall number on this architecture, or `syscall N` if unknown.
#[cfg(target_os = "linux")]
fn syscall_name(number: i64) -> Option<String> {
    let n = usize::try_from(number).ok()?;
    Some(match syscalls::Sysno::new(n) {
        Some(sysno) => sysno.name().to_string(),
        None => format!("syscall {n}"),
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_sleeping_thread_is_off_cpu_in_a_sleep_syscall() {
        let (tx, rx) = mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get())
                .expect("send tid");
            std::thread::sleep(Duration::from_millis(600));
        });
        let tid = rx.recv().expect("tid");
        // Give the thread time to enter the sleep, on a loaded machine too.
        std::thread::sleep(Duration::from_millis(200));
        let state = read(tid);
        sleeper.join().expect("sleeper");
        assert_eq!(state.state, Some('S'), "{state:?}");
        assert_eq!(
            state.syscall.as_deref(),
            Some("clock_nanosleep"),
            "{state:?}"
        );
        assert!(state.cpu_ns.is_some());
    }
}
