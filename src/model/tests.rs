use super::*;
use crate::sample::{
    LatencyBuckets, RuntimeCounters, SAMPLE_FORMAT_VERSION, SchedCounters, WorkloadCounters,
};

fn sample(
    seq: u64,
    ms: u64,
    busy_ms: u64,
    polls: u64,
    ops: u64,
    latency: Vec<(u64, u64)>,
) -> Sample {
    Sample {
        format_version: SAMPLE_FORMAT_VERSION,
        seq,
        elapsed_ns: ms * 1_000_000,
        workers: vec![
            WorkerCounters {
                busy_ns: busy_ms * 1_000_000,
                polls,
                ..Default::default()
            },
            WorkerCounters::default(),
        ],
        runtime: RuntimeCounters {
            blocking_threads: seq,
            threads_cpu_ns: Some(ms * 500_000),
            ..Default::default()
        },
        workloads: vec![WorkloadCounters {
            id: "api".into(),
            ops,
            errors: 0,
            timeouts: 0,
            bytes: ops * 64,
            latency: LatencyBuckets { micros: latency },
            sched: SchedCounters {
                count: ops,
                total_ns: ops * 1000,
                long_count: 0,
            },
            setting: "rate=10/s".into(),
        }],
        probe: None,
        dropped_before: 0,
    }
}

#[test]
fn totals_count_from_the_baseline() {
    let mut model = Model::new();
    // The runtime had already done work before the first sample: none of it counts.
    model.ingest(sample(0, 0, 500, 1000, 7, vec![]));
    model.ingest(sample(1, 100, 550, 1100, 17, vec![(1000, 10)]));
    model.ingest(sample(2, 200, 650, 1300, 27, vec![(2000, 10)]));
    assert_eq!(model.elapsed_ns, 200_000_000);
    assert_eq!(model.workers[0].busy_ns, 150_000_000);
    assert_eq!(model.workers[0].polls, 300);
    assert_eq!(model.workloads[0].ops, 20);
    assert_eq!(model.workloads[0].bytes, 1280);
    assert_eq!(model.workloads[0].latency.len(), 20);
    let ratios: Vec<f64> = model.workers[0].busy_ratio.iter().collect();
    assert_eq!(ratios, vec![0.5, 1.0]);
    assert_eq!(model.workers[0].polls_per_sec.last(), Some(2000.0));
    assert_eq!(model.workers[1].busy_ratio.last(), Some(0.0));
    assert_eq!(model.runtime.max_blocking_threads, 2);
    assert_eq!(model.runtime.threads_cpu_ns, Some(100_000_000));
}

#[test]
fn a_gap_from_dropped_samples_keeps_totals() {
    let mut a = Model::new();
    let mut b = Model::new();
    let s0 = sample(0, 0, 0, 0, 0, vec![]);
    let s1 = sample(1, 100, 40, 10, 5, vec![(500, 5)]);
    let mut s2 = sample(2, 200, 90, 30, 12, vec![(700, 7)]);
    for s in [s0.clone(), s1.clone(), s2.clone()] {
        a.ingest(s);
    }
    // b never saw s1; the sampler merged its latencies into s2.
    s2.latency_merge_for_test(&s1);
    s2.dropped_before = 1;
    b.ingest(s0);
    b.ingest(s2);
    assert_eq!(a.workers[0].busy_ns, b.workers[0].busy_ns);
    assert_eq!(a.workloads[0].ops, b.workloads[0].ops);
    assert_eq!(a.workloads[0].latency.len(), b.workloads[0].latency.len());
    assert_eq!(b.samples_dropped, 1);
}

#[test]
fn a_counter_reset_counts_the_new_value_not_a_wrap() {
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 1000, 100, vec![]));
    model.ingest(sample(1, 100, 0, 50, 3, vec![]));
    assert_eq!(model.workers[0].polls, 50);
    assert_eq!(model.workloads[0].ops, 3);
}

#[test]
fn interval_p99_and_sched_worst_interval() {
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 0, 0, vec![]));
    let mut s = sample(1, 100, 0, 0, 100, vec![(1000, 99), (200_000, 1)]);
    s.workloads[0].sched = SchedCounters {
        count: 4,
        total_ns: 40_000_000,
        long_count: 1,
    };
    model.ingest(s);
    let w = &model.workloads[0];
    assert!(w.p99_ms.last().expect("one interval") < 2.0);
    let last = w.last_second.expect("a hundred finished");
    assert_eq!(last.count, 100);
    assert!(last.max_ms >= 200.0 && last.p50_ms < 1.1, "{last:?}");
    assert_eq!(w.sched_worst_interval_mean_ns, 10_000_000);
    assert_eq!(w.sched_mean_ns(), 10_000_000);
    assert_eq!(w.sched_long, 1);
}

#[test]
fn latency_figures_cover_the_last_second_only() {
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 0, 0, vec![]));
    // A 316 ms job ends, then a second and a half of 1 ms jobs, one an interval but a few.
    model.ingest(sample(1, 100, 0, 0, 1, vec![(316_000, 1)]));
    let mut ops = 1;
    for seq in 2..=16 {
        let latency = if seq % 4 == 0 {
            vec![]
        } else {
            vec![(1000, 2)]
        };
        ops += latency.len() as u64 * 2;
        model.ingest(sample(seq, seq * 100, 0, 0, ops, latency));
    }
    let w = &model.workloads[0];
    let last = w.last_second.expect("jobs in the last second");
    // Intervals 7..=16: seven with two jobs each, three (8, 12, 16) with none.
    assert_eq!(last.count, 14, "{last:?}");
    assert!(last.max_ms < 1.1, "the slow job left the window: {last:?}");
    assert!(last.p50_ms <= last.max_ms && last.p99_ms <= last.max_ms);
    // The sparkline's p99 is pushed every interval: the slow job's second, then the fast ones.
    assert_eq!(w.p99_ms.len(), 16);
    assert!(w.p99_ms.iter().next().expect("first") >= 300.0);
    assert!(w.p99_ms.last().expect("newest") < 1.1);
    assert_eq!(
        w.latency.len(),
        1 + 11 * 2,
        "the run's histogram keeps them all"
    );
}

#[test]
fn a_quiet_second_has_no_latency_figures() {
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 0, 0, vec![]));
    model.ingest(sample(1, 100, 0, 0, 1, vec![(5000, 1)]));
    assert_eq!(model.workloads[0].last_second.map(|l| l.count), Some(1));
    for seq in 2..=11 {
        model.ingest(sample(seq, seq * 100, 0, 0, 1, vec![]));
    }
    let w = &model.workloads[0];
    assert_eq!(w.last_second, None);
    assert_eq!(w.p99_ms.last(), Some(0.0));
}

#[test]
fn a_long_interval_is_its_own_window() {
    // Attached with a reading every 5 s: the last interval is the window, not the last ten.
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 0, 0, vec![]));
    model.ingest(sample(1, 5000, 0, 0, 1, vec![(200_000, 1)]));
    model.ingest(sample(2, 10_000, 0, 0, 11, vec![(2000, 10)]));
    let last = model.workloads[0].last_second.expect("ten jobs");
    assert_eq!(last.count, 10);
    assert!(last.max_ms < 2.1, "{last:?}");
}

impl Sample {
    fn latency_merge_for_test(&mut self, other: &Sample) {
        for (w, o) in self.workloads.iter_mut().zip(&other.workloads) {
            w.latency.merge(&o.latency);
        }
    }
}

/// A sample whose probe says worker 0 has been busy `busy_ms` in all, the elapsed part of a
/// poll still running included.
fn probed(seq: u64, ms: u64, busy_ms: u64) -> Sample {
    let mut s = sample(seq, ms, 0, 0, 0, vec![]);
    s.probe = Some(ProbeSample {
        workers: vec![crate::probe::ProbeWorker {
            polls: seq,
            busy_ns: busy_ms * 1_000_000,
            buckets: vec![],
            cpu_ns: None,
            cpu_wait_ns: None,
        }],
        ..ProbeSample::default()
    });
    s
}

#[test]
fn a_running_polls_live_part_taken_back_is_not_counted_twice() {
    let mut model = Model::new();
    // A poll runs across the sample at 1000 ms (its 50 ms so far count live) and ends timed
    // 5 ms shorter (on the coarse clock): the cumulative figure goes down. Then 20 ms more.
    let samples = [
        probed(0, 0, 0),
        probed(1, 500, 400),
        probed(2, 1000, 850),
        probed(3, 1100, 845),
        probed(4, 1200, 865),
    ];
    for s in samples {
        model.ingest(s);
    }
    let w = &model.workers[0];
    assert!(
        w.probe_busy_ns <= model.elapsed_ns,
        "busy {} ms over a run of {} ms",
        w.probe_busy_ns / 1_000_000,
        model.elapsed_ns / 1_000_000
    );
    // What was counted live stays counted once: the total is the highest figure seen.
    assert_eq!(w.probe_busy_ns, 865_000_000);
    // And the run's total is the sum of its intervals.
    let intervals_ms = [500.0, 500.0, 100.0, 100.0];
    let sum: f64 = w
        .live_busy_ratio
        .iter()
        .zip(intervals_ms)
        .map(|(ratio, ms)| ratio * ms)
        .sum();
    assert!((sum - 865.0).abs() < 1e-6, "intervals add up to {sum} ms");
}

fn site(name: &str, spawns: u64, polls: u64, busy_ms: u64) -> crate::sample::SiteCounters {
    crate::sample::SiteCounters {
        site: name.into(),
        label: Some(format!("label of {name}")),
        spawns,
        polls,
        busy_ns: busy_ms * 1_000_000,
        buckets: vec![polls],
    }
}

fn stall(running: bool, duration_ms: u64) -> crate::sample::PollRecord {
    crate::sample::PollRecord {
        worker: Some(1),
        task_id: 9,
        workload: None,
        spawned_at: Some("src/hash.rs:40:9".into()),
        tid: Some(77),
        seq: 3,
        started_ns: 150_000_000,
        duration_ns: duration_ms * 1_000_000,
        running,
        cpu_ratio: None,
        cpu: crate::sample::CpuUse::On,
        cpu_wait_ns: None,
        thread_state: None,
        syscall: None,
        worker_moved: false,
        captured: None,
        stack: None,
    }
}

fn with_sites(
    seq: u64,
    ms: u64,
    sites: Vec<crate::sample::SiteCounters>,
    in_flight: Vec<crate::sample::PollRecord>,
    long_polls: Vec<crate::sample::PollRecord>,
) -> Sample {
    let mut s = sample(seq, ms, 0, 0, 0, vec![]);
    s.probe = Some(ProbeSample {
        workers: vec![
            crate::probe::ProbeWorker::default(),
            crate::probe::ProbeWorker::default(),
        ],
        in_flight,
        long_polls,
        sites,
        ..ProbeSample::default()
    });
    s
}

#[test]
fn sites_count_from_the_baseline_and_a_stall_once() {
    let mut model = Model::with_stall_threshold(std::time::Duration::from_millis(100));
    let (hash, echo) = ("src/hash.rs:40:9", "src/echo.rs:12:5");
    model.ingest(with_sites(
        0,
        0,
        vec![site(echo, 100, 1000, 10)],
        vec![],
        vec![],
    ));
    // 100 ms on two workers: the hash site busy 150 ms of 200, the echo site 20 ms.
    model.ingest(with_sites(
        1,
        100,
        vec![site(echo, 110, 3560, 30), site(hash, 1, 256, 150)],
        vec![],
        vec![],
    ));
    // The hash task stalls: seen running, then finished, in two samples.
    model.ingest(with_sites(
        2,
        200,
        vec![site(echo, 120, 6120, 50), site(hash, 1, 256, 150)],
        vec![stall(true, 120)],
        vec![],
    ));
    model.ingest(with_sites(
        3,
        300,
        vec![site(echo, 130, 8680, 70), site(hash, 1, 257, 400)],
        vec![],
        vec![stall(false, 250)],
    ));
    let sites = &model.sites;
    let by_name = |n: &str| sites.sites.iter().find(|s| s.site == n).expect("a site");
    let (h, e) = (by_name(hash), by_name(echo));
    // The probe's first reading (seq 0): the spawns it counted are the run's.
    assert_eq!((e.spawns, e.polls, e.busy_ns), (130, 7680, 60_000_000));
    assert_eq!(e.label.as_deref(), Some("label of src/echo.rs:12:5"));
    assert_eq!((h.spawns, h.stalls, h.long_polls), (1, 1, 1));
    assert_eq!(h.longest_ns, 250_000_000);
    assert!(h.longest_exact);
    assert_eq!(
        h.recent.len(),
        1,
        "the running entry became the finished one"
    );
    assert!(h.recent[0].stall && !h.recent[0].running);
    // 150 ms of 200 ms of worker time in the first interval.
    assert_eq!(h.busy.iter().next(), Some(0.75));
    assert!(
        (e.spawns_per_sec() - 130.0 / 0.3).abs() < 1e-6,
        "{}",
        e.spawns_per_sec()
    );
    assert_eq!(model.sites.by_busy()[0].site, hash);
    // A reset keeps the threshold and forgets the sites.
    let fresh = model.fresh();
    assert!(fresh.sites.sites.is_empty());
    assert_eq!(fresh.sites.stall_threshold_ns, 100_000_000);
}

#[test]
fn sites_past_the_bound_share_the_other_row() {
    let mut model = Model::new();
    let many = |n: u64| -> Vec<crate::sample::SiteCounters> {
        (0..n)
            .map(|i| site(&format!("src/gen.rs:{i}:1"), 1, 0, 0))
            .collect()
    };
    let count = sites::MAX_MODEL_SITES as u64 + 10;
    model.ingest(with_sites(0, 0, vec![], vec![], vec![]));
    model.ingest(with_sites(1, 100, many(count), vec![], vec![]));
    assert_eq!(model.sites.sites.len(), sites::MAX_MODEL_SITES + 1);
    let other = model
        .sites
        .sites
        .iter()
        .find(|s| s.site == sites::OTHER)
        .expect("the other row");
    assert_eq!(other.spawns, 10);
}

#[test]
fn the_last_second_is_weighed_by_time_when_a_stall_sends_a_sample_early() {
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 0, 0, vec![]));
    // Nine intervals of 100 ms with one answer each, then one of 5 ms (a sample sent early, at
    // a stall) with one more: 10 answers in 0.905 s, not the 29/s a mean of the ten rates says.
    let mut at = 0;
    for i in 1..=9 {
        at += 100;
        model.ingest(sample(i, at, 0, 0, i, vec![]));
    }
    model.ingest(sample(10, at + 5, 0, 0, 10, vec![]));
    let ops = &model.workloads[0].ops_per_sec;
    assert!((ops.recent_mean(10).unwrap_or(0.0) - 29.0).abs() < 0.01);
    let rate = model.recent_mean(ops, 1.0).unwrap_or(0.0);
    assert!((rate - 10.0 / 0.905).abs() < 0.01, "{rate}");
    // A window of 0.2 s covers the 5 ms interval and the two before it.
    let rate = model.recent_mean(ops, 0.2).unwrap_or(0.0);
    assert!((rate - 3.0 / 0.205).abs() < 0.01, "{rate}");
    assert_eq!(model.recent_max(ops, 0.2), Some(200.0));
}

#[test]
fn the_last_second_covers_one_whole_interval_when_readings_come_seldom() {
    let mut model = Model::new();
    model.ingest(sample(0, 0, 0, 0, 0, vec![]));
    for i in 1..=20 {
        model.ingest(sample(i, i * 100, 0, 0, i, vec![]));
    }
    assert!(
        (model.recent_span(1.0) - 1.0).abs() < 1e-9,
        "ten intervals of 100 ms"
    );
    // `tokmon attach --interval 5s`: one reading covers five seconds, and says so.
    model.ingest(sample(21, 2_000 + 5_000, 0, 0, 30, vec![]));
    assert!((model.recent_span(1.0) - 5.0).abs() < 1e-9);
}
