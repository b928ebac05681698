use std::time::Duration;

use super::*;
use crate::sample::{PollRecord, ProbeSample, RuntimeCounters, SAMPLE_FORMAT_VERSION};

const MS: u64 = 1_000_000;

fn thresholds() -> DetectorSpec {
    DetectorSpec {
        stall_threshold: Duration::from_millis(100),
        long_poll_threshold: Duration::from_millis(10),
        lag_threshold: Duration::from_millis(50),
    }
}

fn poll(seq: u64, duration_ms: u64, running: bool) -> PollRecord {
    PollRecord {
        worker: Some(1),
        task_id: 17,
        workload: Some("hasher".into()),
        spawned_at: Some("src/workload/hash.rs:27:13".into()),
        tid: Some(4242),
        seq,
        started_ns: 1000 * MS,
        duration_ns: duration_ms * MS,
        running,
        cpu_ratio: Some(0.98),
        cpu: CpuUse::On,
        cpu_wait_ns: None,
        thread_state: running.then_some('R'),
        syscall: None,
        worker_moved: false,
        captured: None,
        stack: None,
    }
}

fn sample(at_ms: u64, probe: ProbeSample) -> Sample {
    Sample {
        format_version: SAMPLE_FORMAT_VERSION,
        seq: at_ms,
        elapsed_ns: at_ms * MS,
        workers: vec![],
        runtime: RuntimeCounters::default(),
        workloads: vec![],
        probe: Some(probe),
        dropped_before: 0,
    }
}

fn in_flight(polls: Vec<PollRecord>) -> ProbeSample {
    ProbeSample {
        in_flight: polls,
        ..ProbeSample::default()
    }
}

fn finished(polls: Vec<PollRecord>) -> ProbeSample {
    ProbeSample {
        long_polls: polls,
        ..ProbeSample::default()
    }
}

#[test]
fn a_running_stall_is_one_finding_that_grows_and_closes_with_its_final_duration() {
    let mut d = Detector::new(thresholds(), 512);
    d.observe(&sample(1099, in_flight(vec![poll(7, 99, true)])));
    assert!(d.findings().is_empty(), "99 ms is below the threshold");
    d.observe(&sample(1100, in_flight(vec![poll(7, 100, true)])));
    assert_eq!(d.findings().len(), 1, "100 ms is a stall");
    let f = &d.findings()[0];
    assert_eq!(
        (f.kind, f.severity),
        (FindingKind::Stall, Severity::Critical)
    );
    assert_eq!((f.worker, f.task_id), (Some(1), Some(17)));
    assert_eq!(f.workload.as_deref(), Some("hasher"));
    assert!(f.ongoing);
    assert_eq!(f.first_seen_ms, 1100);
    assert!(
        f.summary
            .contains("worker 1 stuck 100 ms in task 17 (hasher"),
        "{}",
        f.summary
    );
    assert!(f.hint.contains("spawn_blocking"), "{}", f.hint);

    d.observe(&sample(1300, in_flight(vec![poll(7, 300, true)])));
    assert_eq!(
        d.findings().len(),
        1,
        "one finding per poll, not per sample"
    );
    assert_eq!(d.findings()[0].duration_ms, 300.0);

    d.observe(&sample(1400, finished(vec![poll(7, 412, false)])));
    assert_eq!(d.findings().len(), 1);
    let f = &d.findings()[0];
    assert!(!f.ongoing);
    assert_eq!(f.duration_ms, 412.0);
    assert_eq!(f.last_seen_ms, 1400);
    assert!(f.summary.contains("was stuck 412 ms"), "{}", f.summary);
}

#[test]
fn a_stall_never_seen_running_is_still_reported() {
    let mut d = Detector::new(thresholds(), 512);
    d.observe(&sample(500, finished(vec![poll(9, 150, false)])));
    assert_eq!(d.findings().len(), 1);
    assert_eq!(d.findings()[0].kind, FindingKind::Stall);
    assert!(!d.findings()[0].ongoing);
}

#[test]
fn long_polls_fold_per_workload_and_site_with_the_worst() {
    let mut d = Detector::new(thresholds(), 512);
    d.observe(&sample(
        100,
        finished(vec![
            poll(1, 9, false),
            poll(3, 10, false),
            poll(5, 40, false),
        ]),
    ));
    d.observe(&sample(200, finished(vec![poll(7, 99, false)])));
    assert_eq!(d.findings().len(), 1);
    let f = &d.findings()[0];
    assert_eq!(f.kind, FindingKind::LongPoll);
    assert_eq!(
        f.count, 3,
        "9 ms is below the threshold; 10, 40 and 99 ms are long polls"
    );
    assert_eq!(f.duration_ms, 99.0);
    assert!(f.summary.starts_with("3 polls of hasher"), "{}", f.summary);
    let mut other = poll(9, 20, false);
    other.workload = Some("api".into());
    d.observe(&sample(300, finished(vec![other])));
    assert_eq!(d.findings().len(), 2);
}

#[test]
fn a_long_poll_caught_near_the_stall_threshold_names_its_line() {
    use crate::app::fixtures::frame;
    use crate::sample::StackInfo;
    let caught_at = |line: u32| StackInfo {
        frames: vec![
            frame(
                "lock",
                Some("library/std/src/sync/mutex.rs"),
                Some(1),
                false,
            ),
            frame("contend", Some("src/workload/mutex.rs"), Some(line), true),
        ],
        site: Some(format!("src/workload/mutex.rs:{line}")),
        capture_us: 30,
    };
    let mut d = Detector::new(thresholds(), 512);
    // Short of 90 ms, no stack: the finding has no line yet.
    d.observe(&sample(100, finished(vec![poll(1, 40, false)])));
    assert_eq!(d.findings()[0].site, None);
    let mut near = poll(3, 95, false);
    near.stack = Some(caught_at(54));
    near.cpu = CpuUse::Off;
    near.syscall = Some("futex".into());
    d.observe(&sample(200, finished(vec![near])));
    let f = &d.findings()[0];
    assert_eq!(f.site.as_deref(), Some("src/workload/mutex.rs:54"));
    assert_eq!(f.blocking_call().as_deref(), Some("lock"));
    assert!(f.fix().contains("tokio::sync::Mutex"), "{}", f.fix());
    // A shorter poll caught elsewhere does not take the worst's line; a worse one does, and
    // one without a stack leaves it.
    let mut shorter = poll(5, 91, false);
    shorter.stack = Some(caught_at(58));
    let mut worse = poll(7, 98, false);
    worse.stack = Some(caught_at(60));
    d.observe(&sample(300, finished(vec![shorter, worse])));
    assert_eq!(
        d.findings()[0].site.as_deref(),
        Some("src/workload/mutex.rs:60")
    );
    d.observe(&sample(400, finished(vec![poll(9, 99, false)])));
    let f = &d.findings()[0];
    assert_eq!((f.count, f.duration_ms), (5, 99.0));
    assert_eq!(f.site.as_deref(), Some("src/workload/mutex.rs:60"));
}

#[test]
fn off_cpu_in_futex_or_sleep_gets_the_matching_hint() {
    let mut d = Detector::new(thresholds(), 512);
    let mut lock = poll(1, 150, true);
    lock.cpu = CpuUse::Off;
    lock.cpu_ratio = Some(0.01);
    lock.thread_state = Some('S');
    lock.syscall = Some("futex".into());
    let mut sleep = lock.clone();
    sleep.tid = Some(99);
    sleep.syscall = Some("clock_nanosleep".into());
    d.observe(&sample(150, in_flight(vec![lock, sleep])));
    let f = d.findings();
    assert_eq!(f.len(), 2);
    assert!(f[0].hint.contains("tokio::sync::Mutex"), "{}", f[0].hint);
    assert!(
        f[0].summary.ends_with("off CPU in futex"),
        "{}",
        f[0].summary
    );
    assert!(f[1].hint.contains("tokio::time::sleep"), "{}", f[1].hint);
}

#[test]
fn block_in_place_is_info_not_a_stall() {
    let mut d = Detector::new(thresholds(), 512);
    let mut moved = poll(1, 400, true);
    moved.worker_moved = true;
    d.observe(&sample(400, in_flight(vec![moved.clone()])));
    let mut done = moved;
    done.running = false;
    d.observe(&sample(500, finished(vec![done.clone()])));
    assert_eq!(d.findings().len(), 1);
    assert_eq!(d.findings()[0].kind, FindingKind::BlockInPlace);
    assert_eq!(d.findings()[0].severity, Severity::Info);
    // A finished one never seen running, and a shorter one, are not stalls or long polls.
    done.seq = 3;
    let mut short = done.clone();
    short.seq = 5;
    short.duration_ns = 50 * MS;
    d.observe(&sample(600, finished(vec![done, short])));
    assert!(
        d.findings()
            .iter()
            .all(|f| f.kind == FindingKind::BlockInPlace)
    );
}

#[test]
fn lag_opens_over_the_threshold_and_closes_when_timers_are_on_time() {
    let mut d = Detector::new(thresholds(), 512);
    let lag = |ms: u64| ProbeSample {
        lag_max_ns: ms * MS,
        ..ProbeSample::default()
    };
    d.observe(&sample(100, lag(49)));
    assert!(d.findings().is_empty());
    d.observe(&sample(200, lag(50)));
    d.observe(&sample(300, lag(180)));
    assert_eq!(d.findings().len(), 1);
    assert!(d.findings()[0].ongoing);
    assert_eq!(d.findings()[0].duration_ms, 180.0);
    d.observe(&sample(400, lag(2)));
    assert!(!d.findings()[0].ongoing);
    d.observe(&sample(500, lag(70)));
    assert_eq!(d.findings().len(), 2, "a new episode");
}

#[test]
fn a_full_blocking_pool_with_a_queue_is_a_finding() {
    let mut d = Detector::new(thresholds(), 4);
    let mut s = sample(100, ProbeSample::default());
    s.runtime = RuntimeCounters {
        blocking_threads: 4,
        blocking_queue_depth: 0,
        ..Default::default()
    };
    d.observe(&s);
    assert!(d.findings().is_empty(), "full but nothing waits");
    s.runtime.blocking_queue_depth = 3;
    s.elapsed_ns = 200 * MS;
    d.observe(&s);
    s.elapsed_ns = 700 * MS;
    d.observe(&s);
    assert_eq!(d.findings().len(), 1);
    let f = &d.findings()[0];
    assert_eq!(f.kind, FindingKind::BlockingQueue);
    assert_eq!(f.duration_ms, 500.0);
    assert!(f.hint.contains("max_blocking_threads (4)"), "{}", f.hint);
}

#[test]
fn a_run_of_stalls_holds_a_bounded_list_and_counts_every_one() {
    let mut d = Detector::new(thresholds(), 512);
    let lag = |ms: u64| ProbeSample {
        lag_max_ns: ms * MS,
        ..ProbeSample::default()
    };
    // 10,000 stalls, each seen running then ending, and as many lag episodes.
    for i in 0..10_000u64 {
        let at = 1_000 + i * 200;
        let mut running = in_flight(vec![poll(2 * i + 1, 150, true)]);
        running.lag_max_ns = 80 * MS;
        d.observe(&sample(at, running));
        let mut ended = finished(vec![poll(2 * i + 1, 170, false)]);
        ended.lag_max_ns = lag(0).lag_max_ns;
        d.observe(&sample(at + 100, ended));
    }
    assert!(
        d.findings().len() <= fold::KEPT + 2,
        "{}",
        d.findings().len()
    );
    assert_eq!(d.count(FindingKind::Stall), 10_000);
    assert_eq!(d.count(FindingKind::Lag), 10_000);
    assert!(d.findings().iter().all(|f| !f.ongoing));
    let stalls = d
        .findings()
        .iter()
        .rfind(|f| f.kind == FindingKind::Stall)
        .expect("a stall entry");
    assert_eq!(stalls.duration_ms, 170.0, "the final duration of the worst");
    assert!(stalls.summary.contains("like this"), "{}", stalls.summary);
}

#[test]
fn a_starved_stall_says_so_and_points_at_the_load_not_the_code() {
    let mut d = Detector::new(thresholds(), 512);
    let mut starved = poll(1, 240, false);
    starved.cpu = CpuUse::Starved;
    starved.cpu_ratio = Some(0.1);
    starved.cpu_wait_ns = Some(210 * MS);
    let mut computing = poll(2, 400, false);
    computing.cpu_wait_ns = Some(150 * MS);
    d.observe(&sample(1_500, finished(vec![starved, computing])));
    let stalls: Vec<&Finding> = d
        .findings()
        .iter()
        .filter(|f| f.kind == FindingKind::Stall)
        .collect();
    assert_eq!(stalls.len(), 2, "{:#?}", d.findings());
    assert!(
        stalls[0]
            .summary
            .contains("starved of CPU (waited 210 ms for one)"),
        "{}",
        stalls[0].summary
    );
    assert!(stalls[0].hint.contains("overloaded"), "{}", stalls[0].hint);
    assert!(
        stalls[1]
            .summary
            .contains("on CPU, also waited 150 ms for a CPU"),
        "{}",
        stalls[1].summary
    );
    assert!(
        stalls[1].hint.contains("spawn_blocking"),
        "{}",
        stalls[1].hint
    );
}

#[test]
fn a_stall_seen_running_takes_the_verdict_of_the_whole_poll_when_it_ends() {
    let mut d = Detector::new(thresholds(), 512);
    // While it ran the probe could not yet tell; once it ended it was starved of CPU.
    d.observe(&sample(1_200, in_flight(vec![poll(1, 150, true)])));
    let mut ended = poll(1, 240, false);
    ended.cpu = CpuUse::Starved;
    ended.cpu_wait_ns = Some(210 * MS);
    d.observe(&sample(1_300, finished(vec![ended])));
    let stall = d
        .findings()
        .iter()
        .find(|f| f.kind == FindingKind::Stall)
        .expect("the stall");
    assert_eq!(stall.cpu, CpuUse::Starved, "{stall:#?}");
    assert!(stall.hint.contains("overloaded"), "{}", stall.hint);
}

#[test]
fn the_blocking_call_is_the_frame_inside_the_line_shortened() {
    use crate::app::fixtures::frame;
    let mut f = Finding::new(FindingKind::Stall, Severity::Critical, 0);
    f.stack = vec![
        frame("syscall (libc.so.6)", None, None, false),
        frame(
            "<std::sys::sync::mutex::futex::Mutex>::lock_contended",
            Some("/rustc/x/library/std/src/sys/sync/mutex/futex.rs"),
            Some(61),
            false,
        ),
        frame(
            "lock<u64>",
            Some("/rustc/x/library/std/src/sync/poison/mutex.rs"),
            Some(492),
            false,
        ),
        frame(
            "{async_fn#0}",
            Some("src/workload/mutex.rs"),
            Some(54),
            true,
        ),
    ];
    assert_eq!(f.blocking_call(), None, "no blocking line, no call");
    f.site = Some("src/workload/mutex.rs:54".into());
    assert_eq!(f.blocking_call().as_deref(), Some("lock"));
    assert_eq!(
        f.site_and_call().as_deref(),
        Some("src/workload/mutex.rs:54 in lock()")
    );
    // The line itself running (a loop in the app's code): nothing inside it to name.
    f.stack.drain(..3);
    assert_eq!(f.blocking_call(), None);
    assert_eq!(
        f.site_and_call().as_deref(),
        Some("src/workload/mutex.rs:54")
    );
    for (name, short) in [
        ("std::thread::sleep", "sleep"),
        (
            "<std::sys::sync::mutex::futex::Mutex>::lock_contended",
            "lock_contended",
        ),
        ("<sha2::Sha256 as digest::Update>::update", "update"),
        ("clock_nanosleep (libc.so.6)", "clock_nanosleep"),
        ("call_once<fn(core::pin::Pin<&mut u8>)>", "call_once"),
    ] {
        assert_eq!(super::short_function(name), short);
    }
}

#[test]
fn the_fix_adds_the_lines_own_when_the_line_calls_another_blocking_function() {
    use crate::app::fixtures::frame;
    let caught = |syscall: &str, cpu: CpuUse, call: &str| {
        let mut f = Finding::new(FindingKind::Stall, Severity::Critical, 0);
        f.cpu = cpu;
        f.syscall = Some(syscall.into());
        f.site = Some("src/workload/mutex.rs:58".into());
        f.stack = vec![
            frame(
                call,
                Some("/rustc/x/library/std/src/thread/functions.rs"),
                Some(1),
                false,
            ),
            frame(
                "{async_fn#0}",
                Some("src/workload/mutex.rs"),
                Some(58),
                true,
            ),
        ];
        f.fix()
    };
    for (syscall, cpu, call, fix) in [
        // Waited for a std lock most of the poll, caught sleeping while holding it: both.
        (
            "futex",
            CpuUse::Off,
            "sleep",
            "use tokio::sync::Mutex and tokio::time::sleep",
        ),
        // Caught waiting at the lock: one.
        ("futex", CpuUse::Off, "lock<u64>", "use tokio::sync::Mutex"),
        (
            "clock_nanosleep",
            CpuUse::Off,
            "sleep",
            "use tokio::time::sleep",
        ),
        // Computing: the line's call has no fix of its own, and a lock caught now and then in
        // a computing poll is not its cause.
        (
            "futex",
            CpuUse::On,
            "update<sha2::Sha256>",
            "use spawn_blocking",
        ),
        ("futex", CpuUse::On, "lock<u64>", "use spawn_blocking"),
        // A file's fix does not take a sleep's.
        (
            "fsync",
            CpuUse::Off,
            "sleep",
            "use tokio::fs or spawn_blocking",
        ),
        // Starved of CPU: the machine, not the code.
        (
            "futex",
            CpuUse::Starved,
            "sleep",
            "check the machine's load",
        ),
    ] {
        assert_eq!(caught(syscall, cpu, call), fix, "{syscall} {cpu:?} {call}");
    }
}
