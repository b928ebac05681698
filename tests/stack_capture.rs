//! Capturing the stacks of threads stuck in different ways: spinning, sleeping, waiting on a
//! mutex, reading a pipe; then a stress run that checks those threads are not disturbed.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::hint::black_box;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokmon::stack::{self, CaptureError, Frame, RawStack, StackBounds};

/// Generous: a loaded 2-core machine may take a while to schedule the target.
const TIMEOUT: Duration = Duration::from_secs(2);
const SLEEP: Duration = Duration::from_millis(200);

/// Kernel thread id and stack mapping of the calling thread.
fn me() -> (i32, Option<StackBounds>) {
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    let marker = 0u8;
    let here = std::ptr::from_ref(&marker) as u64;
    let bounds = procfs::process::Process::myself()
        .and_then(|process| process.maps())
        .ok()
        .and_then(|maps| {
            maps.iter().find_map(|map| {
                (map.address.0 <= here && here < map.address.1).then_some(StackBounds {
                    low: map.address.0 as usize,
                    high: map.address.1 as usize,
                })
            })
        });
    (tid, bounds)
}

struct Target {
    name: &'static str,
    tid: i32,
    bounds: Option<StackBounds>,
}

#[inline(never)]
fn stack_test_spin(stop: &AtomicBool, spins: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1000 {
            std::hint::spin_loop();
        }
        spins.fetch_add(1, Ordering::Relaxed);
    }
}

#[inline(never)]
fn stack_test_sleep(stop: &AtomicBool, sleeps: &AtomicU64, short: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        thread::sleep(SLEEP);
        if start.elapsed() < SLEEP {
            short.fetch_add(1, Ordering::Relaxed);
        }
        sleeps.fetch_add(1, Ordering::Relaxed);
    }
}

#[inline(never)]
fn stack_test_lock(lock: &Mutex<u64>, rounds: u64) {
    for _ in 0..rounds {
        let mut count = lock.lock().expect("not poisoned");
        *count += 1;
        black_box(&mut *count);
    }
}

/// Increments the shared count under the lock (holding it a little, so that the other
/// locker waits in the kernel) until stopped; returns its own number of increments.
#[inline(never)]
fn stack_test_contend(lock: &Mutex<u64>, stop: &AtomicBool) -> u64 {
    let mut mine = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut count = lock.lock().expect("not poisoned");
        *count += 1;
        for _ in 0..200 {
            std::hint::spin_loop();
        }
        drop(count);
        mine += 1;
    }
    mine
}

/// Reads `u64` sequence numbers until the writer closes the pipe; returns how many arrived in
/// order and how many reads failed (EINTR included).
#[inline(never)]
fn stack_test_read(pipe: OwnedFd) -> (u64, u64) {
    let (mut next, mut errors) = (0u64, 0u64);
    let mut buf = [0u8; 8];
    let mut filled = 0;
    loop {
        match rustix::io::read(&pipe, &mut buf[filled..]) {
            Ok(0) => return (next, errors),
            Ok(n) => {
                filled += n;
                if filled == 8 {
                    assert_eq!(u64::from_ne_bytes(buf), next, "pipe data out of order");
                    next += 1;
                    filled = 0;
                }
            }
            Err(_) => errors += 1,
        }
    }
}

fn frames_text(frames: &[Frame]) -> String {
    frames.iter().map(|frame| format!("  {frame}\n")).collect()
}

fn check_site(target: &Target, raw: &RawStack, frames: &[Frame]) {
    let site = stack::blocking_site(frames)
        .and_then(Frame::site)
        .unwrap_or_default();
    assert!(
        site.starts_with("tests/stack_capture.rs:"),
        "{}: site {site:?} of {raw:?}\n{}",
        target.name,
        frames_text(frames)
    );
}

fn expect_function(target: &Target, frames: &[Frame], any_of: &[&str]) {
    assert!(
        frames
            .iter()
            .any(|frame| any_of.iter().any(|name| frame.function.contains(name))),
        "{}: none of {any_of:?} in\n{}",
        target.name,
        frames_text(frames)
    );
}

/// The four stuck threads, their stop switch and their counters.
struct Stuck {
    targets: Vec<Target>,
    expected: Vec<&'static [&'static str]>,
    stop: Arc<AtomicBool>,
    sleeps: Arc<AtomicU64>,
    short_sleeps: Arc<AtomicU64>,
    spins: Arc<AtomicU64>,
    held: Arc<Mutex<u64>>,
    release: mpsc::Sender<()>,
    handles: Vec<JoinHandle<()>>,
    reader: JoinHandle<(u64, u64)>,
    writer: OwnedFd,
}

fn start_stuck_threads() -> Stuck {
    let stop = Arc::new(AtomicBool::new(false));
    let sleeps = Arc::new(AtomicU64::new(0));
    let short_sleeps = Arc::new(AtomicU64::new(0));
    let spins = Arc::new(AtomicU64::new(0));
    let held = Arc::new(Mutex::new(0u64));
    let (tids_tx, tids_rx) = mpsc::channel::<(&'static str, i32, Option<StackBounds>)>();
    let mut handles = Vec::new();

    let (s, n, tx) = (stop.clone(), spins.clone(), tids_tx.clone());
    handles.push(thread::spawn(move || {
        let (tid, bounds) = me();
        tx.send(("spin", tid, bounds)).expect("main alive");
        stack_test_spin(&s, &n);
    }));
    let (s, n, short, tx) = (
        stop.clone(),
        sleeps.clone(),
        short_sleeps.clone(),
        tids_tx.clone(),
    );
    handles.push(thread::spawn(move || {
        let (tid, bounds) = me();
        tx.send(("sleep", tid, bounds)).expect("main alive");
        stack_test_sleep(&s, &n, &short);
    }));

    // The holder takes the lock first, then the waiter blocks on it until released.
    let (release, release_rx) = mpsc::channel::<()>();
    let locked = Arc::new(Barrier::new(2));
    let (lock, barrier) = (held.clone(), locked.clone());
    handles.push(thread::spawn(move || {
        let guard = lock.lock().expect("not poisoned");
        barrier.wait();
        let _ = release_rx.recv();
        drop(guard);
    }));
    locked.wait();
    let (lock, tx) = (held.clone(), tids_tx.clone());
    handles.push(thread::spawn(move || {
        let (tid, bounds) = me();
        tx.send(("mutex", tid, bounds)).expect("main alive");
        stack_test_lock(&lock, 1);
    }));

    let (read_end, writer) = rustix::pipe::pipe().expect("pipe");
    let tx = tids_tx;
    let reader = thread::spawn(move || {
        let (tid, bounds) = me();
        tx.send(("read", tid, bounds)).expect("main alive");
        stack_test_read(read_end)
    });

    let mut targets: Vec<Target> = (0..4)
        .map(|_| {
            let (name, tid, bounds) = tids_rx.recv().expect("thread started");
            assert!(bounds.is_some(), "{name}: no stack bounds");
            Target { name, tid, bounds }
        })
        .collect();
    targets.sort_by_key(|t| {
        ["spin", "sleep", "mutex", "read"]
            .iter()
            .position(|n| *n == t.name)
    });
    // Let each thread reach its blocking call: the spinner has spun and the kernel shows the
    // others asleep, however long a loaded machine takes to get them there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let asleep = |tid: i32| {
        procfs::process::Process::myself()
            .and_then(|process| process.task_from_tid(tid))
            .and_then(|task| task.stat())
            .is_ok_and(|stat| stat.state == 'S')
    };
    while spins.load(Ordering::Relaxed) == 0 || !targets[1..].iter().all(|t| asleep(t.tid)) {
        assert!(
            Instant::now() < deadline,
            "the stuck threads did not get stuck"
        );
        thread::sleep(Duration::from_millis(10));
    }
    Stuck {
        targets,
        expected: vec![
            &["stack_test_spin"],
            &[
                "std::thread::functions::sleep",
                "std::thread::sleep",
                "nanosleep",
            ],
            &["futex", "lock"],
            &["read"],
        ],
        stop,
        sleeps,
        short_sleeps,
        spins,
        held,
        release,
        handles,
        reader,
        writer,
    }
}

impl Stuck {
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.release.send(());
        drop(self.writer);
        for handle in self.handles {
            handle.join().expect("thread did not panic");
        }
        self.reader.join().expect("reader did not panic")
    }
}

#[test]
fn captures_spinning_sleeping_locked_and_reading_threads() {
    stack::prepare().expect("stack capture sets up");
    let stuck = start_stuck_threads();
    for (target, expected) in stuck.targets.iter().zip(&stuck.expected) {
        let raw = stack::capture(target.tid, target.bounds, TIMEOUT)
            .unwrap_or_else(|err| panic!("{}: {err}", target.name));
        assert!(raw.addresses.len() >= 3, "{}: {raw:?}", target.name);
        let frames = stack::symbolize(&raw);
        expect_function(target, &frames, expected);
        check_site(target, &raw, &frames);
        // Unknown bounds: reads go through process_vm_readv from the stack pointer up.
        let unbounded = stack::capture(target.tid, None, TIMEOUT)
            .unwrap_or_else(|err| panic!("{} unbounded: {err}", target.name));
        let frames = stack::symbolize(&unbounded);
        expect_function(target, &frames, expected);
        check_site(target, &unbounded, &frames);
    }
    // Wrong bounds (another thread's stack, or nothing mapped) give a short stack, not a crash.
    let (spin, sleep) = (&stuck.targets[0], &stuck.targets[1]);
    let wrong = stack::capture(sleep.tid, spin.bounds, TIMEOUT).expect("capture, wrong bounds");
    assert!(!wrong.addresses.is_empty());
    let unmapped = Some(StackBounds {
        low: 0x1000,
        high: 0x10_0000,
    });
    let raw = stack::capture(sleep.tid, unmapped, TIMEOUT).expect("capture, unmapped bounds");
    assert!(!raw.addresses.is_empty());
    let (read, errors) = stuck.finish();
    assert_eq!((read, errors), (0, 0));
}

#[test]
fn a_thread_that_blocks_the_signal_times_out_and_an_exited_one_is_an_error() {
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let blocked = thread::spawn(move || {
        stack::set_capture_blocked(true).expect("block the signal");
        tx.send(me()).expect("main alive");
        let _ = done_rx.recv();
    });
    let (tid, bounds) = rx.recv().expect("blocked thread started");
    let start = Instant::now();
    let err = capture_when_free(tid, bounds, Duration::from_millis(100)).expect_err("blocked");
    assert!(
        matches!(err, CaptureError::Timeout { tid: t, .. } if t == tid),
        "{err}"
    );
    // Given up on, not hung: the wait, and the tries while another test's capture held the slot.
    assert!(start.elapsed() < Duration::from_secs(40));
    done_tx.send(()).expect("blocked thread alive");
    blocked.join().expect("blocked thread");

    let exited = thread::spawn(|| me().0).join().expect("short thread");
    let err = capture_when_free(exited, None, Duration::from_millis(100)).expect_err("exited");
    assert_eq!(err, CaptureError::NoSuchThread { tid: exited });
}

/// A capture, tried again while another test's capture in this process still holds the one
/// capture slot (`Busy`, likely on a loaded machine): what the capture of `tid` itself gives.
fn capture_when_free(
    tid: i32,
    bounds: Option<StackBounds>,
    timeout: Duration,
) -> Result<RawStack, CaptureError> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        match stack::capture(tid, bounds, timeout) {
            Err(CaptureError::Busy) if Instant::now() < give_up => {}
            other => return other,
        }
    }
}

#[test]
fn stress_two_thousand_captures_leave_the_threads_undisturbed() {
    const CAPTURES: usize = 2000;
    stack::prepare().expect("stack capture sets up");
    let stuck = start_stuck_threads();
    // Contended mutex: two threads increment a shared count while their waits are captured.
    let shared = Arc::new(Mutex::new(0u64));
    let lockers_stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let lockers: Vec<_> = (0..2)
        .map(|_| {
            let (shared, stop, tx) = (shared.clone(), lockers_stop.clone(), tx.clone());
            thread::spawn(move || {
                tx.send(me()).expect("main alive");
                stack_test_contend(&shared, &stop)
            })
        })
        .collect();
    let lockers_ids: Vec<_> = (0..2).map(|_| rx.recv().expect("locker started")).collect();
    let locker_target = Target {
        name: "locker",
        tid: 0,
        bounds: None,
    };
    // A thread that blocks the signal: each capture of it must time out cleanly.
    let (btx, brx) = mpsc::channel();
    let (bdone_tx, bdone_rx) = mpsc::channel::<()>();
    let blocked = thread::spawn(move || {
        stack::set_capture_blocked(true).expect("block the signal");
        btx.send(me()).expect("main alive");
        let _ = bdone_rx.recv();
    });
    let (blocked_tid, blocked_bounds) = brx.recv().expect("blocked started");
    let exited = thread::spawn(|| me().0).join().expect("short thread");

    // The pipe writer: one sequence number every 200 µs or so.
    let writer_stop = Arc::new(AtomicBool::new(false));
    let stop = writer_stop.clone();
    let pipe = stuck.writer.try_clone().expect("dup pipe");
    let writer = thread::spawn(move || {
        let mut file = std::fs::File::from(pipe);
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            file.write_all(&sent.to_ne_bytes()).expect("pipe write");
            sent += 1;
            thread::sleep(Duration::from_micros(200));
        }
        sent
    });

    let started = Instant::now();
    let mut times = Vec::with_capacity(CAPTURES);
    let mut by_target: [Vec<Duration>; 6] = Default::default();
    let mut failures = Vec::new();
    let (mut timeouts, mut gone, mut symbolized) = (0, 0, 0);
    for i in 0..CAPTURES {
        let (tid, bounds, name) = match i % 6 {
            n @ 0..4 => {
                let t = &stuck.targets[n];
                (t.tid, t.bounds, t.name)
            }
            n => {
                let (tid, bounds) = lockers_ids[n - 4];
                (tid, bounds, "locker")
            }
        };
        match stack::capture(tid, bounds, TIMEOUT) {
            Ok(raw) => {
                times.push(raw.elapsed);
                by_target[i % 6].push(raw.elapsed);
                if i % 50 < 6 {
                    let frames = stack::symbolize(&raw);
                    let (target, expected): (&Target, &[&str]) = match stuck.targets.get(i % 6) {
                        Some(target) => (target, stuck.expected[i % 6]),
                        None => (&locker_target, &["stack_test_contend"]),
                    };
                    expect_function(target, &frames, expected);
                    check_site(target, &raw, &frames);
                    symbolized += 1;
                }
            }
            Err(err) => failures.push(format!("{name}: {err}")),
        }
        if i % 100 == 0 {
            match stack::capture(blocked_tid, blocked_bounds, Duration::from_millis(50)) {
                Err(CaptureError::Timeout { .. }) => timeouts += 1,
                other => panic!("blocked thread: {other:?}"),
            }
            match stack::capture(exited, None, Duration::from_millis(50)) {
                Err(CaptureError::NoSuchThread { .. }) => gone += 1,
                other => panic!("exited thread: {other:?}"),
            }
        }
    }
    let elapsed = started.elapsed();
    writer_stop.store(true, Ordering::Relaxed);
    let sent = writer.join().expect("writer");
    lockers_stop.store(true, Ordering::Relaxed);
    let increments: u64 = lockers
        .into_iter()
        .map(|locker| locker.join().expect("locker"))
        .sum();
    bdone_tx.send(()).expect("blocked alive");
    blocked.join().expect("blocked");
    let sleeps = stuck.sleeps.load(Ordering::Relaxed);
    let short = stuck.short_sleeps.load(Ordering::Relaxed);
    let spins = stuck.spins.load(Ordering::Relaxed);
    let held = stuck.held.clone();
    let (read, read_errors) = stuck.finish();

    let pick = |times: &mut Vec<Duration>, q: f64| {
        times.sort();
        times[((times.len() - 1) as f64 * q) as usize]
    };
    for (name, times) in ["spin", "sleep", "mutex", "read", "locker", "locker"]
        .iter()
        .zip(&mut by_target)
    {
        println!(
            "{name}: {} captures, p50 {:?} p95 {:?} max {:?}",
            times.len(),
            pick(times, 0.5),
            pick(times, 0.95),
            pick(times, 1.0)
        );
    }
    println!(
        "{} captures in {elapsed:?}: p50 {:?} p95 {:?} max {:?}; {timeouts} timeouts (blocked), \
         {gone} gone; {symbolized} symbolized; {sleeps} sleeps ({short} short), {spins} spin \
         rounds, {increments} mutex increments, {read}/{sent} pipe messages, {read_errors} read \
         errors",
        times.len(),
        pick(&mut times, 0.5),
        pick(&mut times, 0.95),
        pick(&mut times, 1.0),
    );
    assert!(
        failures.is_empty(),
        "{} failures: {failures:?}",
        failures.len()
    );
    assert_eq!(times.len(), CAPTURES);
    assert_eq!(timeouts, CAPTURES / 100);
    assert_eq!(gone, CAPTURES / 100);
    assert_eq!(short, 0, "a sleep returned early");
    assert!(sleeps >= 1);
    assert_eq!(*shared.lock().expect("not poisoned"), increments);
    assert_eq!(*held.lock().expect("not poisoned"), 1);
    assert_eq!(
        (read, read_errors),
        (sent, 0),
        "pipe data lost or EINTR seen"
    );
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}
