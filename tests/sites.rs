//! The spawn-site table against the kernel: in `hash-on-worker`, the hash workload's site holds
//! the workers, and its busy share (poll hooks, coarse clock, the running part of polls still
//! running counted as they run) is within 10 points, both ways, of the share of the worker
//! threads' time spent on a CPU or runnable and waiting for one (schedstat's first two fields)
//! over the same window. A CPU-bound poll's time is one or the other, so the comparison holds
//! however loaded the machine is: what a busy machine takes from the CPU time shows as wait.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tokmon::model::Model;
use tokmon::run::RunConfig;
use tokmon::runner::run_headless;

/// The window compared: from this far into the run (the hash loops under way) ...
const FROM_NS: u64 = 1_000_000_000;
/// ... to this far, while the runtime's threads are alive.
const TO_NS: u64 = 5_000_000_000;

/// One end of the window: the model's figures and the runtime threads' scheduler clocks.
struct Mark {
    at: Instant,
    elapsed_ns: u64,
    hash_busy_ns: u64,
    /// Per thread id: (on-CPU, run-queue wait) nanoseconds.
    sched: BTreeMap<i32, (u64, u64)>,
}

/// The two ends, and the worker threads seen between them.
#[derive(Default)]
struct Window {
    from: Option<Mark>,
    to: Option<Mark>,
    /// Threads seen polling as a worker (running or long polls).
    worker_tids: BTreeSet<i32>,
    workers: usize,
}

fn hash_busy_ns(model: &Model) -> Option<u64> {
    model
        .sites
        .sites
        .iter()
        .find(|s| s.label.as_deref() == Some("hasher"))
        .map(|s| s.busy_ns)
}

/// Every runtime thread's (on-CPU, wait) nanoseconds, from `/proc/self/task/*/schedstat`.
fn runtime_threads_sched() -> BTreeMap<i32, (u64, u64)> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "tokmon-rt" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
        if let (Some(Some(cpu)), Some(Some(wait))) = (fields.next(), fields.next()) {
            out.insert(tid, (cpu, wait));
        }
    }
    out
}

impl Window {
    fn observe(&mut self, model: &Model) {
        self.workers = model.workers.len();
        // Every site, at every sample: never busier than the workers could be.
        let capacity = model.elapsed_ns * self.workers as u64;
        for site in &model.sites.sites {
            assert!(
                site.busy_ns <= capacity,
                "{} busy {} ns in {} ns of {} workers",
                site.site,
                site.busy_ns,
                model.elapsed_ns,
                self.workers
            );
        }
        let now = model.now_ns();
        if self.from.is_some()
            && self.to.is_none()
            && let Some(probe) = model.last().and_then(|s| s.probe.as_ref())
        {
            for poll in probe.in_flight.iter().chain(&probe.long_polls) {
                if poll.worker.is_some() && !poll.worker_moved {
                    self.worker_tids.extend(poll.tid);
                }
            }
        }
        let due = match (&self.from, &self.to) {
            (None, _) => now >= FROM_NS,
            (Some(_), None) => now >= TO_NS,
            _ => false,
        };
        if !due {
            return;
        }
        let Some(hash_busy_ns) = hash_busy_ns(model) else {
            return;
        };
        let mark = Mark {
            at: Instant::now(),
            elapsed_ns: model.elapsed_ns,
            hash_busy_ns,
            sched: runtime_threads_sched(),
        };
        if self.from.is_none() {
            self.from = Some(mark);
        } else {
            self.to = Some(mark);
        }
    }

    /// The hash site's busy share and the worker threads' (on-CPU, wait) shares of the window.
    fn shares(&self) -> (f64, f64, f64) {
        let (Some(from), Some(to)) = (&self.from, &self.to) else {
            panic!("the run never reached {TO_NS} ns with the hash site in the table");
        };
        assert_eq!(
            self.worker_tids.len(),
            self.workers,
            "each worker's thread seen polling the hash: {:?}",
            self.worker_tids
        );
        let workers = self.workers as f64;
        let site = (to.hash_busy_ns - from.hash_busy_ns) as f64
            / ((to.elapsed_ns - from.elapsed_ns) as f64 * workers);
        let wall = to.at.duration_since(from.at).as_nanos() as f64 * workers;
        let (mut cpu, mut wait) = (0u64, 0u64);
        for tid in &self.worker_tids {
            let (Some(a), Some(b)) = (from.sched.get(tid), to.sched.get(tid)) else {
                panic!("worker thread {tid} alive through the window");
            };
            cpu += b.0 - a.0;
            wait += b.1 - a.1;
        }
        (site, cpu as f64 / wall, wait as f64 / wall)
    }
}

#[test]
fn the_hash_site_holds_the_workers_as_the_kernel_says() {
    let scenario = tokmon::scenario::load_file(Path::new("scenarios/hash-on-worker.toml"))
        .expect("shipped scenario parses");
    let config = RunConfig::new(scenario, Some(Duration::from_secs(6)));
    let stop = AtomicBool::new(false);
    let mut window = Window::default();
    let report =
        run_headless(&config, &stop, |model, _| window.observe(model)).expect("run completes");
    let sites = &report.sites.sites;
    let hash = sites
        .iter()
        .find(|s| s.label.as_deref() == Some("hasher"))
        .unwrap_or_else(|| panic!("the hasher's site: {sites:#?}"));
    assert!(hash.site.starts_with("src/workload/"), "{hash:?}");
    // Its two tasks are spawned before the first sample: counted all the same.
    assert!(
        hash.spawns >= 2 && hash.polls >= 1 && hash.stalls >= 1,
        "{hash:?}"
    );
    assert_eq!(
        sites[0].label.as_deref(),
        Some("hasher"),
        "the busiest site: {sites:#?}"
    );
    let api = sites.iter().find(|s| s.label.as_deref() == Some("api"));
    assert!(
        api.is_some_and(|a| a.busy_ratio < hash.busy_ratio),
        "{sites:#?}"
    );
    if cfg!(target_os = "linux") {
        let (site, cpu, wait) = window.shares();
        let kernel = cpu + wait;
        println!(
            "hash site busy {:.1}% of the workers' time; worker threads on a CPU {:.1}% + \
             waiting for one {:.1}% = {:.1}% (from {:.1} s to {:.1} s)",
            site * 100.0,
            cpu * 100.0,
            wait * 100.0,
            kernel * 100.0,
            FROM_NS as f64 / 1e9,
            TO_NS as f64 / 1e9,
        );
        assert!(
            (site - kernel).abs() <= 0.10,
            "hash site busy {site:.3}, workers on a CPU or waiting for one {kernel:.3} \
             ({cpu:.3} + {wait:.3})"
        );
    }
}
