//! Every shipped scenario, run headless for a short time: its description's claim holds.
//! The mistakes produce findings that name their workload; the fixes do not; each fix's echo
//! p99 is lower than its mistake's. Runs one at a time (they take the whole machine), with
//! margins wide enough for a loaded 2-core machine.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokmon::detect::FindingKind;
use tokmon::report::Report;
use tokmon::runner::{RunConfig, run_headless};
use tokmon::sampler::DEFAULT_INTERVAL;
use tokmon::scenario::catalog::{BUILT_IN, built_in};

/// What a scenario's description promises.
#[derive(Debug, Clone, Copy)]
enum Claim {
    /// Stall or long-poll findings, all naming this workload.
    Blocks(&'static str),
    /// No stall and no long-poll finding.
    NoBlocking,
    /// The blocking pool queues.
    PoolQueues,
    /// The phased default demo: healthy, the mistake, the fix.
    PhasedDemo,
}

fn claim(name: &str) -> Option<Claim> {
    Some(match name {
        "default" => Claim::PhasedDemo,
        "hash-on-worker" | "single-worker" => Claim::Blocks("hasher"),
        "std-mutex-blocking" => Claim::Blocks("locker"),
        "blocking-sleep" => Claim::Blocks("sleeper"),
        "fs-blocking" => Claim::Blocks("files"),
        "hash-spawn-blocking"
        | "hash-block-in-place"
        | "hash-yield"
        | "tokio-mutex"
        | "async-sleep"
        | "fs-async"
        | "spawn-storm" => Claim::NoBlocking,
        "blocking-pool-too-small" => Claim::PoolQueues,
        _ => return None,
    })
}

/// The fix and the mistake it fixes, compared on echo p99.
const PAIRS: &[(&str, &str)] = &[
    ("hash-spawn-blocking", "hash-on-worker"),
    ("hash-yield", "hash-on-worker"),
    ("hash-block-in-place", "hash-on-worker"),
    ("tokio-mutex", "std-mutex-blocking"),
    ("async-sleep", "blocking-sleep"),
    ("fs-async", "fs-blocking"),
];

fn run(name: &str) -> Report {
    let scenario = built_in(name).expect("listed").expect("parses");
    // The phased demo runs ten times faster: its phases start at 0, 0.5 and 2 s.
    let (scenario, secs) = if scenario.phases.is_empty() {
        (scenario, 3)
    } else {
        (scenario.time_scaled(10.0), 4)
    };
    let config = RunConfig {
        detector: scenario.detector,
        scenario,
        duration: Some(Duration::from_secs(secs)),
        interval: DEFAULT_INTERVAL,
        stacks: true,
        console: None,
    };
    run_headless(&config, &AtomicBool::new(false), |_, _| {}).expect("runs")
}

fn blocking(report: &Report) -> Vec<&tokmon::detect::Finding> {
    report
        .findings
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::Stall | FindingKind::LongPoll))
        .collect()
}

fn echo_p99(report: &Report) -> Option<f64> {
    report
        .workloads
        .iter()
        .find(|w| w.kind == "echo")?
        .latency_ms
        .map(|l| l.p99)
}

#[test]
fn every_shipped_scenario_keeps_its_promise() {
    let mut reports: HashMap<&str, Report> = HashMap::new();
    let mut failures = Vec::new();
    for (name, _) in BUILT_IN {
        let claim =
            claim(name).unwrap_or_else(|| panic!("scenario {name} has no claim in this test"));
        let report = run(name);
        let found = blocking(&report);
        let ok = match claim {
            Claim::Blocks(workload) => {
                !found.is_empty()
                    && found
                        .iter()
                        .all(|f| f.workload.as_deref() == Some(workload))
            }
            Claim::NoBlocking => found.iter().all(|f| f.kind != FindingKind::Stall),
            Claim::PoolQueues => report
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::BlockingQueue),
            Claim::PhasedDemo => {
                let phases = &report.phases;
                let stalls = |i: usize| {
                    phases
                        .get(i)
                        .and_then(|p| p.findings.get(&FindingKind::Stall))
                        .copied()
                        .unwrap_or(0)
                };
                let echo_p99 = |i: usize| {
                    phases
                        .get(i)?
                        .workloads
                        .iter()
                        .find(|w| w.id == "api")?
                        .latency_ms
                        .map(|l| l.p99)
                };
                let recovered =
                    matches!((echo_p99(1), echo_p99(2)), (Some(bad), Some(good)) if good < bad);
                phases.len() == 3 && stalls(0) == 0 && stalls(1) > 0 && recovered
            }
        };
        if !ok {
            failures.push(format!(
                "{name}: {claim:?} does not hold; findings:\n{:#?}\nphases: {:#?}",
                report.findings, report.phases
            ));
        }
        reports.insert(name, report);
    }
    for (fix, mistake) in PAIRS {
        let (Some(good), Some(bad)) = (echo_p99(&reports[fix]), echo_p99(&reports[mistake])) else {
            failures.push(format!("{fix} / {mistake}: no echo latency"));
            continue;
        };
        if good >= bad {
            failures.push(format!(
                "echo p99 of {fix} ({good} ms) is not below {mistake}'s ({bad} ms)"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
