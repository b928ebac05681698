//! The probe on a real runtime: poll counts of known futures, and a stall seen while the poll
//! is still running, through the real monitor and detector.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use tokmon::detect::{Detector, FindingKind};
use tokmon::probe::{LabelGuard, LabelRelease, Probe, task_id_u64};
use tokmon::scenario::DetectorSpec;
use tokmon::source::{Monitor, MonitorOptions};

fn runtime(probe: &Arc<Probe>, workers: usize) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_all();
    probe.install(&mut builder).build().expect("runtime")
}

/// Keeps the coarse clock moving, as the monitor thread does in a real run.
fn tick_clock(probe: &Arc<Probe>, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let (probe, stop) = (probe.clone(), stop.clone());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            probe.clock.tick();
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

fn total_polls_and_busy(probe: &Probe) -> (u64, u64) {
    probe
        .threads
        .snapshot()
        .iter()
        .map(|slot| slot.view())
        .fold((0, 0), |(p, b), v| (p + v.polls, b + v.busy_ns))
}

/// The join handle can resolve before the worker has run the after-poll hook of the task's
/// last poll: wait (capped) until the count settles at `expected`.
fn settled_polls_and_busy(probe: &Probe, expected: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (polls, busy) = total_polls_and_busy(probe);
        if polls >= expected || Instant::now() > deadline {
            return (polls, busy);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn counts_every_poll_of_a_yielding_task_and_the_time_of_a_spinning_one() {
    let probe = Probe::builder().serve(false).build();
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tick_clock(&probe, &stop);
    let rt = runtime(&probe, 2);
    rt.block_on(async {
        tokio::spawn(async {
            for _ in 0..1000 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("yielder")
    });
    let (polls, _) = settled_polls_and_busy(&probe, 1001);
    assert_eq!(polls, 1001, "1000 yields are 1001 polls");

    rt.block_on(async {
        tokio::spawn(async {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(200) {
                std::hint::spin_loop();
            }
        })
        .await
        .expect("spinner")
    });
    let (polls, busy) = settled_polls_and_busy(&probe, 1002);
    assert_eq!(polls, 1002);
    // One 200 ms poll; the coarse clock may lag a few ticks on a loaded machine.
    assert!(busy >= 150_000_000, "busy {busy} ns");
    // A loaded machine may preempt a yield's poll for over the 10 ms threshold, never for
    // anything near the spinner's 200 ms.
    let long: Vec<_> = probe
        .drain_long_polls()
        .into_iter()
        .filter(|poll| poll.duration_ns >= 100_000_000)
        .collect();
    assert_eq!(long.len(), 1, "{long:?}");
    assert!(long[0].duration_ns >= 150_000_000);
    stop.store(true, Ordering::Relaxed);
    ticker.join().expect("ticker");
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn a_stall_is_reported_while_the_poll_is_still_running() {
    let thresholds = DetectorSpec {
        stall_threshold: Duration::from_millis(100),
        ..DetectorSpec::default()
    };
    let probe = Probe::builder()
        .serve(false)
        .long_poll_threshold(thresholds.long_poll_threshold)
        .stall_threshold(thresholds.stall_threshold)
        .build();
    let rt = runtime(&probe, 2);
    let release = Arc::new(AtomicBool::new(false));
    let (info_tx, info_rx) = sync_channel(1);
    {
        let label: Arc<str> = "stuck-test".into();
        let _label = LabelGuard::set(&label);
        let release = release.clone();
        rt.spawn(async move {
            let id = task_id_u64(tokio::task::id());
            let worker = tokio::runtime::worker_index();
            let _ = info_tx.send((id, worker));
            // Hold the worker on the CPU until the test has seen the finding (capped).
            let start = Instant::now();
            while !release.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop();
            }
        });
    }
    let (task_id, worker) = info_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("task started");

    let options = MonitorOptions {
        interval: Duration::from_millis(100),
        stacks: true,
    };
    let monitor =
        Monitor::start(probe.clone(), rt.handle().clone(), Vec::new(), options).expect("starts");
    let rx = monitor.samples();

    let mut detector = Detector::new(thresholds, 512);
    let deadline = Instant::now() + Duration::from_secs(10);
    let seen_running = loop {
        assert!(Instant::now() < deadline, "no stall finding within 10 s");
        let sample = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("samples keep coming");
        detector.observe(&sample);
        if let Some(f) = detector
            .findings()
            .iter()
            .find(|f| f.kind == FindingKind::Stall)
        {
            break f.clone();
        }
    };
    // The finding exists while the poll still runs: the test has not released it yet.
    assert!(seen_running.ongoing);
    assert!(!release.load(Ordering::Acquire));
    assert_eq!(seen_running.task_id, Some(task_id));
    assert_eq!(seen_running.worker, worker);
    assert_eq!(seen_running.workload.as_deref(), Some("stuck-test"));
    let at = seen_running.spawned_at.clone().expect("spawn location");
    assert!(at.starts_with("tests/probe.rs:"), "{at}");
    assert!(seen_running.duration_ms >= 100.0);
    if cfg!(target_os = "linux") {
        assert_eq!(seen_running.thread_state, Some('R'), "{seen_running:?}");
    }

    // Hold it a while longer, then release: the finding closes with the full duration.
    std::thread::sleep(Duration::from_millis(300));
    release.store(true, Ordering::Release);
    let closed = loop {
        assert!(
            Instant::now() < deadline + Duration::from_secs(5),
            "stall never closed"
        );
        let sample = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("samples keep coming");
        detector.observe(&sample);
        let f = detector
            .findings()
            .iter()
            .find(|f| f.kind == FindingKind::Stall)
            .expect("still there");
        if !f.ongoing {
            break f.clone();
        }
    };
    assert!(closed.duration_ms >= 300.0, "{closed:?}");
    assert_eq!(
        detector
            .findings()
            .iter()
            .filter(|f| f.kind == FindingKind::Stall)
            .count(),
        1
    );
    if cfg!(target_os = "linux") {
        assert_eq!(closed.cpu, tokmon::sample::CpuUse::On, "{closed:?}");
    }
    monitor.finish(|_| {}).expect("the monitor stops");
    rt.shutdown_timeout(Duration::from_secs(1));
}

#[test]
fn a_label_lives_as_long_as_its_task_whether_it_completes_or_is_aborted() {
    let probe = Probe::builder().serve(false).build();
    let rt = runtime(&probe, 2);
    let label: Arc<str> = "worker-pool".into();
    let spawn_labelled = |future: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
        let _label = LabelGuard::set(&label);
        let release = LabelRelease::new(&probe);
        rt.spawn(async move {
            let _release = release;
            future.await;
        })
    };
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let finishing = spawn_labelled(Box::pin(async move {
        let _ = wait.await;
    }));
    let aborted = spawn_labelled(Box::pin(std::future::pending()));
    let finishing_id = task_id_u64(finishing.id());
    assert_eq!(
        probe.labels.get(finishing_id).as_deref(),
        Some("worker-pool")
    );
    assert_eq!(probe.labels.len(), 2);
    aborted.abort();
    let _ = go.send(());
    rt.block_on(async {
        finishing.await.expect("the task completes");
        assert!(aborted.await.expect_err("aborted").is_cancelled());
    });
    assert_eq!(probe.labels.get(finishing_id), None);
    assert!(
        probe.labels.is_empty(),
        "{} labels left",
        probe.labels.len()
    );
}
