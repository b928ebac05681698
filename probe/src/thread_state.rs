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

#[cfg(not(target_os = "linux"))]
pub fn syscall_name(_number: i64) -> Option<String> {
    None
}

/// One look at a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// On a CPU, in user code.
    Running,
    /// Neither running nor in a syscall: preempted, waiting for a CPU.
    Runnable,
    /// Blocked in the syscall of this number.
    Syscall(i64),
    Unknown,
}

/// One thread's `/proc` files, opened once and read again in place: the watchdog looks at a
/// stuck thread every millisecond, and opening the files each time was most of its cost.
#[derive(Debug, Default)]
pub struct ThreadFiles {
    #[cfg(target_os = "linux")]
    syscall: Option<std::fs::File>,
    #[cfg(target_os = "linux")]
    schedstat: Option<std::fs::File>,
}

#[cfg(target_os = "linux")]
impl ThreadFiles {
    pub fn open(tid: i32) -> ThreadFiles {
        let open = |name: &str| std::fs::File::open(format!("/proc/self/task/{tid}/{name}")).ok();
        ThreadFiles {
            syscall: open("syscall"),
            schedstat: open("schedstat"),
        }
    }

    /// What the thread is doing now, as its `syscall` file says.
    pub fn look(&self) -> Look {
        // "running", "-1 sp pc" (stopped outside a syscall: preempted, waiting for a CPU), or
        // "NR args... sp pc" (blocked in syscall NR).
        let mut buf = [0u8; 160];
        let first = self
            .syscall
            .as_ref()
            .and_then(|file| read_again(file, &mut buf))
            .and_then(|text| text.split_ascii_whitespace().next());
        match first {
            Some("running") => Look::Running,
            Some(word) => match word.parse::<i64>() {
                Ok(n) if n >= 0 => Look::Syscall(n),
                Ok(_) => Look::Runnable,
                Err(_) => Look::Unknown,
            },
            None => Look::Unknown,
        }
    }

    /// Nanoseconds the thread has run on a CPU.
    pub fn cpu_ns(&self) -> Option<u64> {
        self.sched().map(|s| s.cpu_ns)
    }

    /// The thread's time on a CPU and waiting for one, from its `schedstat`.
    pub fn sched(&self) -> Option<Sched> {
        let mut buf = [0u8; 96];
        let text = read_again(self.schedstat.as_ref()?, &mut buf)?;
        let mut fields = text.split_ascii_whitespace();
        Some(Sched {
            cpu_ns: fields.next()?.parse().ok()?,
            wait_ns: fields.next()?.parse().ok()?,
        })
    }
}

/// A thread's scheduler clocks: `schedstat`'s first two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sched {
    /// Nanoseconds run on a CPU.
    pub cpu_ns: u64,
    /// Nanoseconds spent runnable, waiting in a run queue for a CPU.
    pub wait_ns: u64,
}

#[cfg(not(target_os = "linux"))]
impl ThreadFiles {
    pub fn open(_tid: i32) -> ThreadFiles {
        ThreadFiles::default()
    }

    pub fn look(&self) -> Look {
        Look::Unknown
    }

    pub fn cpu_ns(&self) -> Option<u64> {
        None
    }

    pub fn sched(&self) -> Option<Sched> {
        None
    }
}

/// Reads a `/proc` file from its start again, into `buf`.
#[cfg(target_os = "linux")]
fn read_again<'b>(file: &std::fs::File, buf: &'b mut [u8]) -> Option<&'b str> {
    use std::os::unix::fs::FileExt;
    let n = file.read_at(buf, 0).ok()?;
    std::str::from_utf8(buf.get(..n)?).ok()
}

/// The name of a syscall number on this architecture, or `syscall N` if unknown.
#[cfg(target_os = "linux")]
pub fn syscall_name(number: i64) -> Option<String> {
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

    /// A thread asleep in `std::thread::sleep` for 600 ms, 200 ms into its sleep (time to
    /// enter it, on a loaded machine too): its kernel thread id, and the handle to join.
    fn sleeping_thread() -> (i32, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get())
                .expect("send tid");
            std::thread::sleep(Duration::from_millis(600));
        });
        let tid = rx.recv().expect("tid");
        std::thread::sleep(Duration::from_millis(200));
        (tid, sleeper)
    }

    #[test]
    fn a_sleeping_thread_is_off_cpu_in_a_sleep_syscall() {
        let (tid, sleeper) = sleeping_thread();
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

    #[test]
    fn open_files_read_again_agree_with_a_fresh_read() {
        let (tid, sleeper) = sleeping_thread();
        let files = ThreadFiles::open(tid);
        let looks: Vec<_> = (0..3).map(|_| files.look()).collect();
        let cpu = files.cpu_ns();
        let fresh = read(tid);
        sleeper.join().expect("sleeper");
        let names: Vec<_> = looks
            .into_iter()
            .map(|look| match look {
                Look::Syscall(n) => syscall_name(n),
                _ => None,
            })
            .collect();
        assert_eq!(names, vec![Some("clock_nanosleep".to_string()); 3]);
        assert!(
            cpu.is_some_and(|ns| ns <= fresh.cpu_ns.unwrap_or(0)),
            "{cpu:?} {fresh:?}"
        );
    }
}
