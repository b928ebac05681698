//! What the test guard costs a test that spawns thousands of short tasks: the same test body on
//! a plain multi-thread runtime (as `#[tokio::test(flavor = "multi_thread")]` builds it), on one
//! with the probe installed, and under `run_test` (what `#[tokmon_probe::test]` expands to:
//! probe, monitor and guard threads, the verdict). Prints the median wall time of each.
//!
//! `cargo run --release -p tokmon-probe --features test --example guard_cost [TASKS] [RUNS]`

use std::time::{Duration, Instant};

use tokio::runtime::Builder;

/// The test body: spawn `tasks` tasks that each yield once, and await them all.
async fn body(tasks: u64) -> u64 {
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                i
            })
        })
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.expect("a task");
    }
    sum
}

fn plain(tasks: u64) -> u64 {
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(body(tasks))
}

fn with_probe(tasks: u64) -> u64 {
    let probe = tokmon_probe::Probe::builder().serve(false).build();
    let runtime = probe
        .install(Builder::new_multi_thread().enable_all())
        .build()
        .expect("a runtime");
    runtime.block_on(body(tasks))
}

fn guarded(tasks: u64) -> u64 {
    let options = tokmon_probe::guard::TestOptions::new(env!("CARGO_MANIFEST_DIR"));
    tokmon_probe::guard::run_test(options, body(tasks))
}

fn median(runs: usize, f: impl Fn() -> u64) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let tasks: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    // Warm both paths once (the first stack-capture setup reads the module map).
    guarded(tasks);
    plain(tasks);
    let plain = median(runs, || plain(tasks));
    let probe = median(runs, || with_probe(tasks));
    let guard = median(runs, || guarded(tasks));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{tasks} short tasks, median of {runs} runs:");
    println!("  plain runtime      {:8.2} ms", ms(plain));
    println!("  probe installed    {:8.2} ms", ms(probe));
    println!(
        "  guarded (run_test) {:8.2} ms  ({:+.2} ms over plain)",
        ms(guard),
        ms(guard) - ms(plain)
    );
}
