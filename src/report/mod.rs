//! Headless output: the run's [`Report`] built from the model, printed as text or JSON.

mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::detect::{Finding, FindingKind};
use crate::model::sites::{SiteFigures, SiteSort};
use crate::model::{Model, WorkloadModel};
use crate::probe::buckets::{bucket_ceiling_ns, bucket_floor_ns};
use crate::scenario::{DetectorSpec, Scenario, WorkloadKind};

pub use text::{fmt_clock, fmt_ms, fmt_ms_brief, render_text, render_text_with};

/// Bumped when a field of the JSON report changes meaning.
/// 2: past the first 128 findings, like ones fold into one entry whose `count` says how many.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

/// The output format of a headless run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tokmon_version: &'static str,
    pub scenario: ScenarioInfo,
    pub duration_ms: u64,
    pub interval_ms: u64,
    pub runtime: RuntimeInfo,
    pub thresholds: Thresholds,
    pub workers: Vec<WorkerReport>,
    pub blocking_pool: BlockingPoolReport,
    pub workloads: Vec<WorkloadReport>,
    /// Past the first `detect::fold::KEPT`, like findings are folded into one entry with
    /// their `count`.
    pub findings: Vec<Finding>,
    /// Findings per kind, folded ones counted one by one.
    pub finding_counts: BTreeMap<FindingKind, u64>,
    /// Poll durations over every worker, from tokmon's poll hooks.
    pub poll_histogram: PollHistogram,
    pub samples_dropped: u64,
    /// Long polls the probe could not queue (their findings are missing).
    pub long_polls_dropped: u64,
    /// Each scripted phase's figures (empty without phases).
    pub phases: Vec<PhaseReport>,
    /// Per spawn site, busiest first.
    pub sites: SitesReport,
}

/// The spawn sites of the run, from the probe's site table and its long-poll records.
#[derive(Debug, Clone, Serialize)]
pub struct SitesReport {
    /// The fields that are estimates: polls from one poll in 256 timed (long ones counted one by
    /// one), busy time from the coarse clock; the others are exact.
    pub estimated: [&'static str; 3],
    /// Spawn sites past the probe's bound, whose figures are in the `other` row.
    pub other_sites: u64,
    pub sites: Vec<SiteReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteReport {
    /// `file:line:col`, or `other`.
    pub site: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub spawns: u64,
    pub spawns_per_sec: f64,
    pub polls: u64,
    pub polls_per_sec: f64,
    /// Share of the workers' time (run x workers) spent polling the site's tasks.
    pub busy_ratio: f64,
    /// The longest poll of the run: exact from the long-poll threshold up, else the floor of
    /// its histogram bucket.
    pub max_poll_ms: f64,
    pub long_polls: u64,
    pub stalls: u64,
}

/// What the workloads did during one phase, so "p99 fell from X to Y" is a number.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// 1-based, as the dashboard shows it.
    pub phase: usize,
    pub note: String,
    pub started_ms: u64,
    pub duration_ms: u64,
    pub workloads: Vec<PhaseWorkloadReport>,
    /// Findings first seen during the phase, per kind (events not counted).
    pub findings: BTreeMap<FindingKind, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseWorkloadReport {
    pub id: String,
    pub kind: &'static str,
    pub setting: String,
    pub ops: u64,
    pub ops_per_sec: f64,
    /// Megabytes (10^6) per second processed, for hash and fs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mb_per_sec: Option<f64>,
    pub latency_ms: Option<LatencySummary>,
}

/// Poll durations in power-of-two buckets of a microsecond. Counts of short polls are
/// estimated from one poll in 256 timed precisely; polls of 2 ms or more are counted one by one.
#[derive(Debug, Clone, Serialize)]
pub struct PollHistogram {
    pub buckets: Vec<PollBucket>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PollBucket {
    pub from_us: u64,
    /// `None` for the last, open-ended bucket.
    pub to_us: Option<u64>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub title: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuntimeInfo {
    pub workers: usize,
    pub max_blocking_threads: usize,
    /// Tasks alive when the run ended, and the most seen at once.
    pub alive_tasks: u64,
    pub max_alive_tasks: u64,
    pub max_global_queue_depth: u64,
    pub spawned_tasks: u64,
    /// CPU cores the runtime's threads (workers and blocking pool) used on average; absent
    /// where per-thread CPU time cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_cores_used: Option<f64>,
    /// tokmon's own cost: CPU time of its monitor thread (watchdog and sampler) as a share of
    /// one core over the run.
    pub monitor_cpu_ratio: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    pub stall_ms: f64,
    pub long_poll_ms: f64,
    pub lag_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    pub index: usize,
    /// Share of the run the worker spent polling tasks, from tokmon's poll hooks.
    pub busy_ratio: f64,
    /// The same as tokio's own counters publish it, as a cross-check.
    pub tokio_busy_ratio: f64,
    /// Share of the run the worker's threads spent on a CPU (the kernel's schedstat): far
    /// below `busy_ratio`, the worker was blocked off the CPU (a lock, a sleep, I/O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ratio: Option<f64>,
    /// Share of the run the worker's threads were runnable but waiting for a CPU (schedstat):
    /// busy beyond `cpu_ratio` is this wait or a blocking call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_wait_ratio: Option<f64>,
    /// Task polls, from tokmon's poll hooks.
    pub polls: u64,
    /// Scheduler polls as tokio counts them (a chain of LIFO-slot polls counts once).
    pub tokio_polls: u64,
    /// The longest poll seen on this worker (exact from the long-poll threshold up, else the
    /// lower bound of its histogram bucket).
    pub max_poll_ms: f64,
    pub parks: u64,
    pub steals: u64,
    pub max_local_queue_depth: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockingPoolReport {
    /// Most blocking-pool threads seen at once (workers not counted).
    pub max_threads: u64,
    pub max_queue_depth: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub id: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// The live setting at the end of the run, e.g. `placement=worker`.
    pub setting: String,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub errors: u64,
    pub timeouts: u64,
    pub bytes: u64,
    /// What one op's latency means for this kind.
    pub latency_of: &'static str,
    pub latency_ms: Option<LatencySummary>,
    pub sched_delay_ms: SchedDelay,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The workload's tasks' scheduling delay (woken to polled), from tokio-metrics. tokio-metrics
/// keeps totals, not each delay, so the worst figure is the highest one-interval mean.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SchedDelay {
    pub mean: f64,
    pub worst_interval_mean: f64,
    /// Delays of at least `long_threshold_ms`.
    pub long: u64,
    pub long_threshold_ms: f64,
    pub count: u64,
}

fn ms(ns: u64) -> f64 {
    round3(ns as f64 / 1e6)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    /// Builds the report of a run from what the model and the detector hold.
    pub fn build(
        scenario: &Scenario,
        model: &Model,
        findings: &[Finding],
        detector: DetectorSpec,
        interval_ms: u64,
    ) -> Report {
        let elapsed = model.elapsed_ns;
        let seconds = elapsed as f64 / 1e9;
        let ratio = |ns: u64| {
            if elapsed > 0 {
                round3(ns as f64 / elapsed as f64)
            } else {
                0.0
            }
        };
        let workers = model
            .workers
            .iter()
            .enumerate()
            .map(|(index, w)| WorkerReport {
                index,
                busy_ratio: ratio(w.probe_busy_ns),
                tokio_busy_ratio: ratio(w.busy_ns),
                cpu_ratio: w.cpu_ns.map(ratio),
                cpu_wait_ratio: w.cpu_wait_ns.map(ratio),
                polls: w.probe_polls,
                tokio_polls: w.polls,
                max_poll_ms: ms(w.max_poll_ns),
                parks: w.parks,
                steals: w.steals,
                max_local_queue_depth: w.max_local_queue_depth,
            })
            .collect();
        let workloads = scenario
            .workloads
            .iter()
            .map(|spec| {
                let fallback;
                let model_w = match model.workloads.iter().find(|w| w.id == spec.id) {
                    Some(w) => w,
                    None => {
                        fallback = WorkloadModel::empty(&spec.id);
                        &fallback
                    }
                };
                workload_report(&spec.kind, model_w, seconds)
            })
            .collect();
        let mut finding_counts = BTreeMap::new();
        for f in findings {
            *finding_counts.entry(f.kind).or_insert(0) += f.stands_for();
        }
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            tokmon_version: env!("CARGO_PKG_VERSION"),
            scenario: ScenarioInfo {
                name: scenario.name.clone(),
                title: scenario.title.clone(),
                source: scenario.source.to_string(),
            },
            duration_ms: elapsed / 1_000_000,
            interval_ms,
            runtime: RuntimeInfo {
                workers: scenario.runtime.workers,
                max_blocking_threads: scenario.runtime.max_blocking_threads,
                alive_tasks: model.runtime.alive_tasks,
                max_alive_tasks: model.runtime.max_alive_tasks,
                max_global_queue_depth: model.runtime.max_global_queue_depth,
                spawned_tasks: model.runtime.spawned_tasks,
                cpu_cores_used: model
                    .runtime
                    .threads_cpu_ns
                    .filter(|_| elapsed > 0)
                    .map(|ns| round3(ns as f64 / elapsed as f64)),
                monitor_cpu_ratio: if elapsed > 0 {
                    (model.runtime.monitor_cpu_ns as f64 / elapsed as f64 * 1e4).round() / 1e4
                } else {
                    0.0
                },
            },
            thresholds: Thresholds {
                stall_ms: detector.stall_threshold.as_secs_f64() * 1e3,
                long_poll_ms: detector.long_poll_threshold.as_secs_f64() * 1e3,
                lag_ms: detector.lag_threshold.as_secs_f64() * 1e3,
            },
            workers,
            blocking_pool: BlockingPoolReport {
                max_threads: model.runtime.max_blocking_threads,
                max_queue_depth: model.runtime.max_blocking_queue_depth,
            },
            workloads,
            findings: findings.to_vec(),
            finding_counts,
            poll_histogram: poll_histogram(&model.poll_buckets),
            samples_dropped: model.samples_dropped,
            long_polls_dropped: model.long_polls_dropped,
            phases: phase_reports(scenario, model, findings),
            sites: sites_report(model),
        }
    }

    /// Pretty JSON, one trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("a report is plain data and always serializes");
        text.push('\n');
        text
    }
}

fn sites_report(model: &Model) -> SitesReport {
    let elapsed = model.elapsed_ns;
    let seconds = elapsed as f64 / 1e9;
    let per_sec = |n: u64| {
        if seconds > 0.0 {
            round3(n as f64 / seconds)
        } else {
            0.0
        }
    };
    let capacity = elapsed as f64 * model.workers.len().max(1) as f64;
    let mut sites: Vec<SiteReport> = model
        .sites
        .sites
        .iter()
        .map(|s| SiteReport {
            site: s.site.clone(),
            label: s.label.clone(),
            spawns: s.spawns,
            spawns_per_sec: per_sec(s.spawns),
            polls: s.polls,
            polls_per_sec: per_sec(s.polls),
            busy_ratio: if capacity > 0.0 {
                round3((s.busy_ns as f64 / capacity).min(1.0))
            } else {
                0.0
            },
            max_poll_ms: ms(s.longest_ns),
            long_polls: s.long_polls,
            stalls: s.stalls,
        })
        .collect();
    sites.sort_by(|a, b| SiteSort::Busy.compare(a, b));
    SitesReport {
        estimated: ["polls", "polls_per_sec", "busy_ratio"],
        other_sites: model.sites.other_sites,
        sites,
    }
}

/// The run's figures, sorted as the view sorts its last second's.
impl SiteFigures for SiteReport {
    fn name(&self) -> &str {
        &self.site
    }
    fn busy(&self) -> f64 {
        self.busy_ratio
    }
    fn polls_per_sec(&self) -> f64 {
        self.polls_per_sec
    }
    fn spawns_per_sec(&self) -> f64 {
        self.spawns_per_sec
    }
    fn max_poll_ns(&self) -> u64 {
        (self.max_poll_ms * 1e6) as u64
    }
    fn long_polls(&self) -> u64 {
        self.long_polls
    }
    fn stalls(&self) -> u64 {
        self.stalls
    }
}

fn phase_reports(scenario: &Scenario, model: &Model, findings: &[Finding]) -> Vec<PhaseReport> {
    model
        .phases
        .iter()
        .enumerate()
        .map(|(i, phase)| {
            let from_ms = phase.started_ns / 1_000_000;
            let to_ms = model
                .phases
                .get(i + 1)
                .map_or(u64::MAX, |next| next.started_ns / 1_000_000);
            let mut counts = BTreeMap::new();
            for f in findings.iter().filter(|f| f.kind != FindingKind::Event) {
                // A folded entry's findings all fall in the phase it began in (see
                // `detect::fold`).
                if (from_ms..to_ms).contains(&f.first_seen_ms) {
                    *counts.entry(f.kind).or_insert(0) += f.stands_for();
                }
            }
            let seconds = phase.elapsed_ns as f64 / 1e9;
            let per_sec = |n: u64| {
                if seconds > 0.0 {
                    round3(n as f64 / seconds)
                } else {
                    0.0
                }
            };
            let workloads = phase
                .workloads
                .iter()
                .map(|w| {
                    let kind = scenario
                        .workloads
                        .iter()
                        .find(|s| s.id == w.id)
                        .map_or("?", |s| s.kind.name());
                    PhaseWorkloadReport {
                        id: w.id.clone(),
                        kind,
                        setting: w.setting.clone(),
                        ops: w.ops,
                        ops_per_sec: per_sec(w.ops),
                        mb_per_sec: matches!(kind, "hash" | "fs")
                            .then(|| round3(per_sec(w.bytes) / 1e6)),
                        latency_ms: summary(&w.latency),
                    }
                })
                .collect();
            PhaseReport {
                phase: phase.index + 1,
                note: phase.note.clone(),
                started_ms: from_ms,
                duration_ms: phase.elapsed_ns / 1_000_000,
                workloads,
                findings: counts,
            }
        })
        .collect()
}

fn summary(latency: &hdrhistogram::Histogram<u64>) -> Option<LatencySummary> {
    (!latency.is_empty()).then(|| LatencySummary {
        count: latency.len(),
        p50: round3(latency.value_at_quantile(0.50) as f64 / 1e3),
        p90: round3(latency.value_at_quantile(0.90) as f64 / 1e3),
        p99: round3(latency.value_at_quantile(0.99) as f64 / 1e3),
        max: round3(latency.max() as f64 / 1e3),
    })
}

fn poll_histogram(counts: &[u64]) -> PollHistogram {
    let buckets: Vec<PollBucket> = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| PollBucket {
            from_us: bucket_floor_ns(i) / 1000,
            to_us: bucket_ceiling_ns(i).map(|ns| ns / 1000),
            count,
        })
        .collect();
    let total: u64 = counts.iter().sum();
    // A quantile is reported as the upper bound of the bucket it falls in.
    let quantile = |q: f64| {
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank.max(1) {
                return Some(ms(bucket_ceiling_ns(i).unwrap_or(bucket_floor_ns(i))));
            }
        }
        None
    };
    PollHistogram {
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
        buckets,
    }
}

fn workload_report(kind: &WorkloadKind, w: &WorkloadModel, seconds: f64) -> WorkloadReport {
    let (placement, lock, mode, latency_of) = match kind {
        WorkloadKind::Echo(_) => (None, None, None, "round trip"),
        WorkloadKind::Hash(s) => (Some(s.placement.name()), None, None, "hash job"),
        WorkloadKind::Mutex(s) => (None, Some(s.lock.name()), None, "lock wait"),
        WorkloadKind::Sleep(s) => (None, None, Some(s.mode.name()), "one sleep"),
        WorkloadKind::Spawn(_) => (None, None, None, "spawn to end"),
        WorkloadKind::Fs(s) => (None, None, Some(s.mode.name()), "write + fsync + read"),
    };
    let latency_ms = summary(&w.latency);
    WorkloadReport {
        id: w.id.clone(),
        kind: kind.name(),
        placement,
        lock,
        mode,
        setting: w.setting.clone(),
        ops: w.ops,
        ops_per_sec: if seconds > 0.0 {
            round3(w.ops as f64 / seconds)
        } else {
            0.0
        },
        errors: w.errors,
        timeouts: w.timeouts,
        bytes: w.bytes,
        latency_of,
        latency_ms,
        sched_delay_ms: SchedDelay {
            mean: ms(w.sched_mean_ns()),
            worst_interval_mean: ms(w.sched_worst_interval_mean_ns),
            long: w.sched_long,
            long_threshold_ms: crate::sample::LONG_SCHED_DELAY.as_secs_f64() * 1e3,
            count: w.sched_count,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::detect::{Detector, FindingKind, Severity, event};
    use crate::sample::{ProbeSample, RuntimeCounters, SAMPLE_FORMAT_VERSION, Sample};

    fn sample(at_ms: u64) -> Sample {
        Sample {
            format_version: SAMPLE_FORMAT_VERSION,
            seq: at_ms,
            elapsed_ns: at_ms * 1_000_000,
            workers: vec![],
            runtime: RuntimeCounters::default(),
            workloads: vec![],
            probe: Some(ProbeSample::default()),
            dropped_before: 0,
        }
    }

    #[test]
    fn counts_stay_exact_per_kind_and_per_phase_when_findings_fold() {
        let scenario = crate::scenario::catalog::built_in("spawn-storm")
            .expect("built in")
            .expect("valid");
        let detector_spec = DetectorSpec {
            stall_threshold: Duration::from_millis(100),
            long_poll_threshold: Duration::from_millis(10),
            lag_threshold: Duration::from_millis(50),
        };
        let mut model = Model::new();
        let mut detector = Detector::new(detector_spec, 512);
        let panic = |at_ms: u64| Finding {
            summary: "a task panicked".into(),
            ..Finding::new(FindingKind::Panic, Severity::Critical, at_ms)
        };
        // Phase 1 from 0 ms: 1,000 panics; phase 2 from 100,000 ms: 500, of which the
        // first 20 were seen in the sample at the phase's start, before it began.
        model.ingest(sample(0));
        model.begin_phase(0, "one");
        detector.record(event(0, "phase 1 of 2".into(), String::new()));
        for i in 0..1_000 {
            detector.record(panic(10 + i * 10));
        }
        model.ingest(sample(100_000));
        for _ in 0..20 {
            detector.record(panic(100_000));
        }
        model.begin_phase(1, "two");
        detector.record(event(100_000, "phase 2 of 2".into(), String::new()));
        for i in 0..480 {
            detector.record(panic(100_010 + i));
        }
        model.ingest(sample(200_000));
        let report = Report::build(&scenario, &model, detector.findings(), detector_spec, 100);
        assert!(report.findings.len() < 200, "{}", report.findings.len());
        assert_eq!(report.finding_counts.get(&FindingKind::Panic), Some(&1_500));
        let per_phase: Vec<_> = report
            .phases
            .iter()
            .map(|p| p.findings.get(&FindingKind::Panic).copied())
            .collect();
        assert_eq!(per_phase, [Some(1_000), Some(500)]);
        // The text says the same counts, in words.
        let text = render_text(&report);
        assert!(text.contains("Findings: 1500 panics\n"), "{text}");
        assert!(text.contains("   findings: 1000 panics\n"), "{text}");
        assert!(text.contains("   findings: 500 panics\n"), "{text}");
        assert!(text.contains("CRITICAL panic ×1500 "), "{text}");
    }
}
