//! The guard on real runtimes: culprits, allow-lists, a clean run, the refusal of a
//! current-thread runtime, and run_test's verdict and timeout.

use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

use super::*;
use crate::sample::CpuUse;

fn watched(stall: Duration) -> (Arc<Probe>, Runtime) {
    let probe = Probe::builder()
        .stall_threshold(stall)
        .long_poll_threshold(Duration::from_millis(10))
        .serve(false)
        .build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()
        .expect("a runtime");
    (probe, runtime)
}

/// A task that holds its worker in `std::thread::sleep` for 300 ms (six thresholds).
fn sleep_on_a_worker(runtime: &Runtime) {
    runtime
        .block_on(runtime.spawn(async {
            std::thread::sleep(Duration::from_millis(300));
        }))
        .expect("the task ends");
}

#[test]
fn a_task_that_sleeps_on_a_worker_is_one_culprit_off_the_cpu() {
    let (probe, runtime) = watched(Duration::from_millis(50));
    let guard = Guard::start(&probe, runtime.handle()).expect("a guard");
    sleep_on_a_worker(&runtime);
    let report = guard.finish();
    println!("{report}");
    assert!(!report.is_clean(), "{report}");
    assert_eq!(report.culprits.len(), 1, "{report}");
    let culprit = &report.culprits[0];
    assert!(
        culprit
            .spawned_at
            .as_deref()
            .is_some_and(|at| at.contains("src/guard/tests.rs:")),
        "{report}"
    );
    assert!(culprit.longest >= Duration::from_millis(250), "{report}");
    assert_eq!(culprit.polls, 1);
    if crate::stack::supported() {
        assert_eq!(culprit.cpu, CpuUse::Off, "{report}");
        assert_eq!(
            culprit.syscall.as_deref(),
            Some("clock_nanosleep"),
            "{report}"
        );
        // The probe's own functions are never the app's, so no blocking line here; the frames
        // still show where it was.
        assert!(
            culprit
                .frames
                .iter()
                .any(|f| f.function.contains("sleep_on_a_worker")),
            "{report}"
        );
    }
    assert!(report.to_string().contains("hint: "), "{report}");
}

#[test]
fn an_allowed_frame_or_spawn_site_is_counted_not_blamed() {
    let (probe, runtime) = watched(Duration::from_millis(50));
    let guard = Guard::builder()
        .allow_frame("tokmon_probe::guard::tests::sleep_on_a_worker")
        .allow_spawn_site("no/such/file.rs")
        .start(&probe, runtime.handle())
        .expect("a guard");
    sleep_on_a_worker(&runtime);
    let report = guard.finish();
    if crate::stack::supported() {
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.allowed, 1, "{report}");
    }

    let (probe, runtime) = watched(Duration::from_millis(50));
    let guard = Guard::builder()
        .allow_spawn_site("probe/src/guard/tests.rs")
        .allow_spawn_site("src/guard/tests.rs")
        .start(&probe, runtime.handle())
        .expect("a guard");
    sleep_on_a_worker(&runtime);
    let report = guard.finish();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.allowed, 1, "{report}");
}

#[test]
fn thousands_of_short_tasks_are_clean() {
    let (probe, runtime) = watched(Duration::from_millis(50));
    let guard = Guard::start(&probe, runtime.handle()).expect("a guard");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..5_000u64)
            .map(|i| {
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    i
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a task");
        }
    });
    guard.assert_no_blocking();
}

#[test]
fn a_current_thread_runtime_is_refused_with_the_reason() {
    let probe = Probe::builder().serve(false).build();
    let runtime = probe
        .install(&mut Builder::new_current_thread())
        .build()
        .expect("a runtime");
    let err = Guard::start(&probe, runtime.handle()).expect_err("refused");
    assert!(matches!(err, GuardError::CurrentThread));
    assert!(
        err.to_string().contains("multi-thread runtime only"),
        "{err}"
    );
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn run_test_fails_a_blocking_body_after_it_ends_and_passes_a_healthy_one() {
    let options = TestOptions::new(env!("CARGO_MANIFEST_DIR"));
    let out = run_test(options.clone(), async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        7
    });
    assert_eq!(out, 7);
    let failed = std::panic::catch_unwind(|| {
        run_test(options, async {
            std::thread::sleep(Duration::from_millis(300));
        })
    })
    .expect_err("the blocking body fails");
    let text = panic_text(failed);
    assert!(text.contains("1 culprit blocked a worker"), "{text}");
    assert!(text.contains("task spawned at "), "{text}");
}

#[test]
fn a_body_stuck_past_the_timeout_fails_with_the_findings_so_far() {
    let options = TestOptions::new(env!("CARGO_MANIFEST_DIR"))
        .worker_threads(1)
        .timeout(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let failed = std::panic::catch_unwind(|| {
        run_test(options, async {
            // Holds the only worker well past the timeout.
            std::thread::sleep(Duration::from_secs(4));
        })
    })
    .expect_err("the stuck body fails");
    let text = panic_text(failed);
    assert!(text.contains("did not finish within 500ms"), "{text}");
    assert!(text.contains("still running"), "{text}");
    // It did not wait for the worker.
    assert!(started.elapsed() < Duration::from_secs(3), "{text}");
}
