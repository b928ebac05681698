//! Canned runs for tests of the app and the screens: deterministic samples of a healthy run
//! and of a run with a stuck worker, fed to an [`App`].

use std::time::Duration;

use crate::probe::ProbeWorker;
use crate::probe::buckets::BUCKETS;
use crate::sample::{
    CpuUse, LatencyBuckets, PollRecord, ProbeSample, RuntimeCounters, SAMPLE_FORMAT_VERSION,
    Sample, SchedCounters, StackFrame, StackInfo, WorkerCounters, WorkloadCounters,
};
use crate::scenario::DetectorSpec;

use super::{App, Msg, RunInfo};

const MS: u64 = 1_000_000;

pub fn info() -> RunInfo {
    RunInfo {
        name: "hash-on-worker".into(),
        workloads: vec![("api".into(), "echo"), ("hasher".into(), "hash")],
        title: "CPU hashing on the async workers (the mistake)".into(),
        source: "scenarios/hash-on-worker.toml".into(),
        workers: 2,
        max_blocking_threads: 512,
        thresholds: DetectorSpec {
            stall_threshold: Duration::from_millis(100),
            long_poll_threshold: Duration::from_millis(10),
            lag_threshold: Duration::from_millis(50),
        },
        phase_count: 0,
        console: None,
    }
}

/// One frame of a captured stack, not inlined.
pub fn frame(function: &str, file: Option<&str>, line: Option<u32>, app: bool) -> StackFrame {
    StackFrame {
        function: function.into(),
        file: file.map(Into::into),
        line,
        inlined: false,
        app,
    }
}

/// A finished long poll of `ms` on worker 0, in the api's task, on the CPU.
pub fn long_poll(ms: u64) -> PollRecord {
    PollRecord {
        worker: Some(0),
        task_id: 9,
        workload: Some("api".into()),
        spawned_at: Some("src/workload/echo.rs:40:9".into()),
        tid: Some(4241),
        seq: 1,
        duration_ns: ms * 1_000_000,
        cpu_ratio: Some(0.9),
        cpu: CpuUse::On,
        ..PollRecord::default()
    }
}

/// The stack of a worker stuck hashing, as the capture shows it (innermost first).
fn stack() -> StackInfo {
    let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
    StackInfo {
        frames: vec![
            frame(
                "compress",
                Some(&format!("{registry}/sha2-0.11.1/src/sha256/x86_sha.rs")),
                Some(96),
                false,
            ),
            frame(
                "update<sha2::Sha256, &[u8]>",
                Some(&format!("{registry}/digest-0.11.3/src/digest.rs")),
                Some(77),
                false,
            ),
            frame(
                "tokmon::workload::hash::feed",
                Some("src/workload/hash.rs"),
                Some(106),
                true,
            ),
            frame(
                "tokmon::workload::hash::hash_bytes",
                Some("src/workload/hash.rs"),
                Some(83),
                true,
            ),
            frame("{async_fn#0}", Some("src/workload/hash.rs"), Some(49), true),
            frame(
                "tokio::runtime::task::core::Core<T,S>::poll",
                Some(&format!("{registry}/tokio-1.54.1/src/runtime/task/core.rs")),
                Some(380),
                false,
            ),
        ],
        site: Some("src/workload/hash.rs:106".into()),
        capture_us: 41,
    }
}

/// Sample `i` (every 100 ms) of a run whose workers are `busy` (0..=1) and, when `stuck_ms`
/// is set, whose worker 1 is in one poll of the hasher for that long.
pub fn sample(i: u64, busy: f64, stuck_ms: Option<u64>) -> Sample {
    let at = i * 100 * MS;
    let busy_ns = (busy * (i * 100 * MS) as f64) as u64;
    let mut buckets = vec![0u64; BUCKETS];
    buckets[0] = i * 900;
    buckets[3] = i * 90;
    buckets[14] = i / 5;
    let worker = |k: u64| ProbeWorker {
        polls: i * (1000 + k),
        busy_ns,
        buckets: buckets.clone(),
        // The hasher computes: nine tenths of the busy time on a CPU.
        cpu_ns: Some(busy_ns / 10 * 9),
        // and a fiftieth runnable, waiting for a CPU.
        cpu_wait_ns: Some(busy_ns / 50),
    };
    let in_flight = stuck_ms
        .map(|ms| PollRecord {
            worker: Some(1),
            task_id: 22,
            workload: Some("hasher".into()),
            spawned_at: Some("src/workload/hash.rs:27:13".into()),
            tid: Some(4242),
            seq: 77,
            started_ns: at.saturating_sub(ms * MS),
            duration_ns: ms * MS,
            running: true,
            cpu_ratio: Some(0.99),
            cpu: CpuUse::On,
            cpu_wait_ns: None,
            thread_state: Some('R'),
            syscall: None,
            worker_moved: false,
            captured: None,
            stack: Some(stack()),
        })
        .into_iter()
        .collect();
    let latency = |base_us: u64| LatencyBuckets {
        micros: vec![(base_us, 90), (base_us * 3, 9), (base_us * 40, 1)],
    };
    Sample {
        format_version: SAMPLE_FORMAT_VERSION,
        seq: i,
        elapsed_ns: at,
        workers: (0..2)
            .map(|k| WorkerCounters {
                busy_ns,
                polls: i * (1000 + k),
                parks: i * 3,
                steals: i,
                local_queue_depth: k * 2,
            })
            .collect(),
        runtime: RuntimeCounters {
            alive_tasks: 21,
            global_queue_depth: 1,
            blocking_threads: 0,
            idle_blocking_threads: 0,
            blocking_queue_depth: 0,
            spawned_tasks: 21,
            threads_cpu_ns: Some(busy_ns * 2),
            monitor_cpu_ns: Some(i * 2 * MS),
        },
        workloads: vec![
            WorkloadCounters {
                id: "api".into(),
                ops: i * 100,
                errors: 0,
                timeouts: 0,
                bytes: i * 6400,
                latency: latency(if stuck_ms.is_some() { 3000 } else { 900 }),
                sched: SchedCounters {
                    count: i * 100,
                    total_ns: i * 100 * 20_000,
                    long_count: 0,
                },
                setting: "rate=1000/s".into(),
            },
            WorkloadCounters {
                id: "hasher".into(),
                ops: i / 2,
                errors: 0,
                timeouts: 0,
                bytes: (i / 2) * 256 * 1024 * 1024,
                latency: latency(130_000),
                sched: SchedCounters::default(),
                setting: "placement=worker".into(),
            },
        ],
        probe: Some(ProbeSample {
            workers: (0..2).map(worker).collect(),
            in_flight,
            long_polls: Vec::new(),
            long_polls_dropped: 0,
            lag_max_ns: if stuck_ms.is_some() { 120 * MS } else { MS },
            sites: sites(i, busy_ns),
            ..ProbeSample::default()
        }),
        dropped_before: 0,
    }
}

/// The site table of sample `i`: the hasher's site takes most of the busy time, the echo
/// server's spawns most, a site with no label spawns once.
fn sites(i: u64, busy_ns: u64) -> Vec<crate::sample::SiteCounters> {
    let site = |site: &str, label: Option<&str>, spawns, busy_ns, buckets: Vec<u64>| {
        crate::sample::SiteCounters {
            site: site.into(),
            label: label.map(Into::into),
            spawns,
            polls: buckets.iter().sum(),
            busy_ns,
            buckets,
        }
    };
    vec![
        site(
            "src/workload/hash.rs:27:13",
            Some("hasher"),
            i / 2,
            busy_ns * 3 / 2,
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i / 5, i / 2],
        ),
        site(
            "src/workload/echo.rs:51:9",
            Some("api"),
            i * 100,
            busy_ns / 3,
            vec![i * 20_480, i * 5_120],
        ),
        site("src/main.rs:40:5", None, 1, i * 100_000, vec![i * 256]),
    ]
}

/// An app fed `n` samples of a healthy run.
pub fn healthy_app(n: u64) -> App {
    let mut app = App::new(info());
    for i in 0..n {
        app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
    }
    app
}

/// An app whose worker 1 has been stuck in the hasher for `ms` at the last sample.
pub fn stuck_app(ms: u64) -> App {
    let mut app = healthy_app(30);
    let steps = ms / 100;
    for k in 0..=steps {
        let i = 30 + k;
        app.update(Msg::Sample(Box::new(sample(
            i,
            0.95,
            Some(k * 100 + ms % 100),
        ))));
    }
    app
}
