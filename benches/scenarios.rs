//! Mistake against fix: each shipped pair's echo p99, worker busy share and CPU side by side,
//! and the phased demo's echo p99 before and after its fix.
//!
//! `cargo bench --bench scenarios [-- --secs N]` runs each scenario headless for N seconds
//! (default 4) and prints the figures with the ratio each pair promises. These are claims of a
//! quiet machine (on a loaded one, scheduling delays swamp the fixes' latencies), so it reports
//! and asserts nothing; `cargo test` checks the facts that hold under load.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokmon::report::Report;
use tokmon::run::RunConfig;
use tokmon::runner::run_headless;
use tokmon::scenario::catalog::built_in;

/// The fix, the mistake it fixes, and how many times the fix's echo p99 the mistake's is at
/// least on a quiet machine.
const PAIRS: &[(&str, &str, f64)] = &[
    ("hash-spawn-blocking", "hash-on-worker", 3.0),
    ("hash-yield", "hash-on-worker", 1.0),
    ("hash-block-in-place", "hash-on-worker", 1.0),
    ("tokio-mutex", "std-mutex-blocking", 1.0),
    ("async-sleep", "blocking-sleep", 2.0),
    ("fs-async", "fs-blocking", 1.0),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(4u64);
    let mut reports: HashMap<&str, Report> = HashMap::new();
    for name in PAIRS.iter().flat_map(|(fix, mistake, _)| [*mistake, *fix]) {
        if !reports.contains_key(name) {
            reports.insert(name, run(name, secs)?);
        }
    }
    println!("echo p99 (ms), mean worker busy share, runtime CPU cores; {secs} s a scenario");
    println!(
        "{:<20} {:<20} {:>9} {:>9} {:>7} {:>8} {:>11} {:>11}  claim",
        "mistake", "fix", "p99", "fix p99", "ratio", "promised", "busy", "cpu"
    );
    for (fix, mistake, promised) in PAIRS {
        let (bad, good) = (&reports[mistake], &reports[fix]);
        let (bad_p99, good_p99) = (
            echo_p99(bad).unwrap_or(f64::NAN),
            echo_p99(good).unwrap_or(f64::NAN),
        );
        let ratio = bad_p99 / good_p99;
        let cpu = |r: &Report| r.runtime.cpu_cores_used.unwrap_or(f64::NAN);
        println!(
            "{mistake:<20} {fix:<20} {bad_p99:>9.1} {good_p99:>9.1} {ratio:>6.1}x {promised:>7.0}x \
             {:>5.2}/{:<5.2} {:>5.2}/{:<5.2}  {}",
            mean_busy(bad),
            mean_busy(good),
            cpu(bad),
            cpu(good),
            if ratio > *promised {
                "held"
            } else {
                "NOT HELD"
            }
        );
    }
    // The demo ten times faster: the mistake from 0.5 s, the fix from 2 s.
    let demo = run("default", secs)?;
    let phase_p99 = |i: usize| {
        demo.phases
            .get(i)
            .and_then(|p| p.workloads.iter().find(|w| w.id == "api"))
            .and_then(|w| w.latency_ms)
            .map_or(f64::NAN, |l| l.p99)
    };
    let (bad, good) = (phase_p99(1), phase_p99(2));
    println!(
        "default demo: echo p99 {bad:.1} ms in the mistake's phase, {good:.1} ms in the fix's: {}",
        if good < bad { "held" } else { "NOT HELD" }
    );
    Ok(())
}

fn run(name: &str, secs: u64) -> anyhow::Result<Report> {
    let scenario = built_in(name).ok_or_else(|| anyhow::anyhow!("no scenario {name}"))??;
    let scenario = if scenario.phases.is_empty() {
        scenario
    } else {
        scenario.time_scaled(10.0)
    };
    let config = RunConfig::new(scenario, Some(Duration::from_secs(secs)));
    run_headless(&config, &AtomicBool::new(false), |_, _| {})
}

fn echo_p99(report: &Report) -> Option<f64> {
    report
        .workloads
        .iter()
        .find(|w| w.kind == "echo")?
        .latency_ms
        .map(|l| l.p99)
}

fn mean_busy(report: &Report) -> f64 {
    report.workers.iter().map(|w| w.busy_ratio).sum::<f64>() / report.workers.len() as f64
}
