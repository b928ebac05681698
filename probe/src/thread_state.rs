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

/// `schedstat` files a thread that reads others' CPU time keeps open (the monitor thread reads
/// every runtime thread's in every reading, urgent ones too: an open, read and close took
/// three times a read again).
#[cfg(target_os = "linux")]
const SCHEDSTAT_KEPT: usize = 64;

#[cfg(target_os = "linux")]
thread_local! {
    static SCHEDSTAT: std::cell::RefCell<Vec<(i32, std::fs::File)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Nanoseconds the thread has run on a CPU, from `/proc/self/task/<tid>/schedstat`.
pub fn cpu_ns(tid: i32) -> Option<u64> {
    sched_of(tid).map(|sched| sched.cpu_ns)
}

/// The thread's time on a CPU and waiting for one, from `/proc/self/task/<tid>/schedstat`.
#[cfg(target_os = "linux")]
pub fn sched_of(tid: i32) -> Option<Sched> {
    let mut buf = [0u8; 96];
    let kept = SCHEDSTAT.try_with(|files| {
        let mut files = files.try_borrow_mut().ok()?;
        let i = files.iter().position(|(t, _)| *t == tid)?;
        match read_again(&files[i].1, &mut buf).and_then(parse_sched) {
            Some(sched) => Some(sched),
            None => {
                // The thread is gone: a file stays bound to the thread it was opened for, so
                // a new thread with the same id needs it opened again.
                files.swap_remove(i);
                None
            }
        }
    });
    if let Ok(Some(sched)) = kept {
        return Some(sched);
    }
    let file = std::fs::File::open(task_path(tid, "schedstat")).ok()?;
    let sched = parse_sched(read_again(&file, &mut buf)?)?;
    let _ = SCHEDSTAT.try_with(|files| {
        if let Ok(mut files) = files.try_borrow_mut() {
            if files.len() >= SCHEDSTAT_KEPT {
                files.remove(0);
            }
            files.push((tid, file));
        }
    });
    Some(sched)
}

#[cfg(not(target_os = "linux"))]
pub fn sched_of(_tid: i32) -> Option<Sched> {
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
    let mut buf = [0u8; STAT_BUF];
    let state = read_once(tid, "stat", &mut buf).and_then(parse_state);
    ThreadState {
        state,
        syscall: syscall(tid),
        cpu_ns: cpu_ns(tid),
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
    let mut buf = [0u8; SYSCALL_BUF];
    match parse_look(read_once(tid, "syscall", &mut buf)) {
        Look::Syscall(number) => syscall_name(number),
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
    #[cfg(target_os = "linux")]
    stat: Option<std::fs::File>,
    /// The last look that found the thread off a CPU, and its `schedstat` slice count then.
    #[cfg(target_os = "linux")]
    last_off: Option<(u64, Look)>,
}

#[cfg(target_os = "linux")]
impl ThreadFiles {
    pub fn open(tid: i32) -> ThreadFiles {
        let open = |name: &str| std::fs::File::open(task_path(tid, name)).ok();
        ThreadFiles {
            syscall: open("syscall"),
            schedstat: open("schedstat"),
            stat: open("stat"),
            last_off: None,
        }
    }

    /// What the thread is doing now, as its `syscall` file says. A thread found off a CPU
    /// (blocked in a syscall, or preempted) that has not been put on one since (its slice
    /// count in `schedstat` is the same) is still where it was: the answer is the last one,
    /// for a read of `schedstat` (about 1 us) instead of `syscall` (about 4.5 us, most of
    /// the watchdog's cost while every worker is stuck).
    pub fn look(&mut self) -> Look {
        let slices = self.sched().map(|s| s.slices).filter(|&n| n > 0);
        if let (Some(now), Some((then, look))) = (slices, self.last_off)
            && now == then
        {
            return look;
        }
        let look = self.look_again();
        // Slices were counted before the read: a thread put on a CPU after the count and
        // found off it again changes the count by the next look, so it is read again.
        self.last_off = match (slices, look) {
            (Some(n), Look::Syscall(_) | Look::Runnable) => Some((n, look)),
            _ => None,
        };
        look
    }

    /// A fresh read of the thread's `syscall` file.
    pub fn look_again(&self) -> Look {
        let mut buf = [0u8; SYSCALL_BUF];
        parse_look(
            self.syscall
                .as_ref()
                .and_then(|file| read_again(file, &mut buf)),
        )
    }

    /// The syscall the thread is blocked in now, by name.
    pub fn syscall(&self) -> Option<String> {
        match self.look_again() {
            Look::Syscall(number) => syscall_name(number),
            _ => None,
        }
    }

    /// Nanoseconds the thread has run on a CPU.
    pub fn cpu_ns(&self) -> Option<u64> {
        self.sched().map(|s| s.cpu_ns)
    }

    /// The thread's time on a CPU and waiting for one, from its `schedstat`.
    pub fn sched(&self) -> Option<Sched> {
        let mut buf = [0u8; 96];
        parse_sched(read_again(self.schedstat.as_ref()?, &mut buf)?)
    }

    /// The thread's run state (`R`, `S`, `D`, ...), from its `stat`.
    pub fn state(&self) -> Option<char> {
        let mut buf = [0u8; STAT_BUF];
        parse_state(read_again(self.stat.as_ref()?, &mut buf)?)
    }
}

/// A thread's scheduler clocks: `schedstat`'s first two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sched {
    /// Nanoseconds run on a CPU.
    pub cpu_ns: u64,
    /// Nanoseconds spent runnable, waiting in a run queue for a CPU.
    pub wait_ns: u64,
    /// Times the thread was put on a CPU (0 where the kernel keeps no scheduler statistics).
    pub slices: u64,
}

#[cfg(not(target_os = "linux"))]
impl ThreadFiles {
    pub fn open(_tid: i32) -> ThreadFiles {
        ThreadFiles::default()
    }

    pub fn look(&mut self) -> Look {
        Look::Unknown
    }

    pub fn look_again(&self) -> Look {
        Look::Unknown
    }

    pub fn syscall(&self) -> Option<String> {
        None
    }

    pub fn cpu_ns(&self) -> Option<u64> {
        None
    }

    pub fn sched(&self) -> Option<Sched> {
        None
    }

    pub fn state(&self) -> Option<char> {
        None
    }
}

/// Enough of `syscall` for its first word (the whole line is about 130 bytes).
#[cfg(target_os = "linux")]
const SYSCALL_BUF: usize = 160;

/// Enough of `stat` for the state after the command name (at most 16 bytes in parentheses).
#[cfg(target_os = "linux")]
const STAT_BUF: usize = 64;

/// `/proc/self/task/<tid>/<name>`.
#[cfg(target_os = "linux")]
fn task_path(tid: i32, name: &str) -> String {
    format!("/proc/self/task/{tid}/{name}")
}

/// Reads the start of one of a thread's `/proc` files: one open, one read, one close (the
/// `procfs` crate also resolves `/proc/self` and opens the task's directory each time).
#[cfg(target_os = "linux")]
fn read_once<'b>(tid: i32, name: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    use std::io::Read;
    let n = std::fs::File::open(task_path(tid, name))
        .ok()?
        .read(buf)
        .ok()?;
    buf.get(..n)
}

/// Reads a `/proc` file from its start again, into `buf`.
#[cfg(target_os = "linux")]
fn read_again<'b>(file: &std::fs::File, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    use std::os::unix::fs::FileExt;
    let n = file.read_at(buf, 0).ok()?;
    buf.get(..n)
}

/// The look a `syscall` file's text says: "running", "-1 sp pc" (stopped outside a syscall:
/// preempted, waiting for a CPU), or "NR args... sp pc" (blocked in syscall NR).
#[cfg(target_os = "linux")]
fn parse_look(text: Option<&[u8]>) -> Look {
    let first = text
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.split_ascii_whitespace().next());
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

/// `schedstat`'s first two fields.
#[cfg(target_os = "linux")]
fn parse_sched(text: &[u8]) -> Option<Sched> {
    let mut fields = std::str::from_utf8(text).ok()?.split_ascii_whitespace();
    Some(Sched {
        cpu_ns: fields.next()?.parse().ok()?,
        wait_ns: fields.next()?.parse().ok()?,
        slices: fields.next().and_then(|n| n.parse().ok()).unwrap_or(0),
    })
}

/// The state in `stat`: the first field after the command name, which ends at the last `)` (the
/// name itself may hold one; the numeric fields after it never do).
#[cfg(target_os = "linux")]
fn parse_state(text: &[u8]) -> Option<char> {
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 1..)?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .filter(|b| b.is_ascii_alphabetic())
        .map(|&b| char::from(b))
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
        let mut files = ThreadFiles::open(tid);
        let looks: Vec<_> = (0..3).map(|_| files.look()).collect();
        let again = files.look_again();
        let first = looks[0];
        let cpu = files.cpu_ns();
        let state = files.state();
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
        assert_eq!(state, Some('S'));
        assert_eq!(again, first);
        assert!(
            cpu.is_some_and(|ns| ns <= fresh.cpu_ns.unwrap_or(0)),
            "{cpu:?} {fresh:?}"
        );
    }

    #[test]
    fn the_state_follows_the_last_parenthesis_of_the_command_name() {
        assert_eq!(parse_state(b"42 (tokio-w) S 1 2"), Some('S'));
        assert_eq!(parse_state(b"42 (a) b) (R) D 1 2"), Some('D'));
        assert_eq!(parse_state(b"42 (cut"), None);
        assert_eq!(parse_look(Some(b"running\n")), Look::Running);
        assert_eq!(parse_look(Some(b"-1 0x7ff 0x55\n")), Look::Runnable);
        assert_eq!(
            parse_look(Some(b"202 0x1 0x2 0x3 0x4 0x5 0x6 0x7ff 0x55\n")),
            Look::Syscall(202)
        );
        assert_eq!(parse_look(None), Look::Unknown);
    }

    #[test]
    fn a_thread_woken_since_the_last_look_is_read_again() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let spinning = std::sync::Arc::new(AtomicBool::new(false));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (tid_tx, tid_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let waiter = std::thread::spawn({
            let (spinning, stop) = (spinning.clone(), stop.clone());
            move || {
                tid_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .expect("send tid");
                go_rx.recv().expect("go");
                spinning.store(true, Ordering::Release);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }
        });
        let tid = tid_rx.recv().expect("tid");
        let mut files = ThreadFiles::open(tid);
        // Wait, however loaded the machine, until the waiter is parked in its futex; the next
        // look is the one that may reuse the answer.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let parked = loop {
            let look = files.look();
            let in_futex =
                matches!(look, Look::Syscall(n) if syscall_name(n).as_deref() == Some("futex"));
            if in_futex || std::time::Instant::now() > deadline {
                break look;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let blocked = [parked, files.look()];
        go_tx.send(()).expect("go");
        while !spinning.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let woken = files.look();
        stop.store(true, Ordering::Relaxed);
        waiter.join().expect("waiter");
        let futex = blocked.map(|look| match look {
            Look::Syscall(n) => syscall_name(n),
            _ => None,
        });
        assert_eq!(
            futex,
            [Some("futex".to_string()), Some("futex".to_string())]
        );
        // Running, or preempted on a loaded machine: no longer in the futex.
        assert!(matches!(woken, Look::Running | Look::Runnable), "{woken:?}");
    }

    #[test]
    fn a_kept_schedstat_file_answers_only_while_its_thread_lives() {
        let (tid, sleeper) = sleeping_thread();
        let first = cpu_ns(tid);
        let again = cpu_ns(tid);
        sleeper.join().expect("sleeper");
        assert!(first.is_some() && again >= first, "{first:?} {again:?}");
        // join() returns when the thread clears its tid, a moment before the kernel reaps it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while cpu_ns(tid).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(cpu_ns(tid), None);
    }
}
