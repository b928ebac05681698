//! What tokmon's probe costs the runtime it measures.
//!
//! `cargo bench --bench overhead [-- [--quick] [--json] [--runs N] [--verbose]]`
//!
//! `--quick` makes fewer, shorter runs (a smoke check of a few seconds); `--json` prints the
//! table as JSON on stdout and nothing else; `--verbose` prints every run on stderr. Progress
//! and warnings go to stderr.
//!
//! On Linux each run also reads how much of the CPU other processes took meanwhile (`/proc`):
//! a run they took over 5% of is made again (3 attempts at most, the least disturbed counts),
//! and a warning says when the numbers stayed noisy.
//!
//! Every workload runs on a fresh 2-worker multi-thread runtime per run, once per variant, the
//! variants interleaved (bare, probe, bare, probe, ...) so that drift of the machine (frequency,
//! neighbours) hits them alike; one warm-up run per variant is discarded. Per workload it prints
//! each variant's median throughput, its ratio to bare's median and the spread of the runs.
//!
//! Variants and workloads are entries of [`VARIANTS`] and [`WORKLOADS`]: adding one (tokio's
//! poll-time histogram, console-subscriber, the probe with the full monitor, a TCP echo) is one
//! more entry and its function, nothing else.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::Notify;

use tokmon::probe::Probe;
use tokmon::probe::clock::COARSE_TICK;

/// Worker threads of every measured runtime: the 2 cores of the machine the budget is set on.
const WORKERS: usize = 2;

/// The variant every ratio is relative to; first in [`VARIANTS`], so first in every round.
const BASELINE: &str = "bare";

// ---------------------------------------------------------------------------------------------
// Variants: what is installed on the measured runtime.

/// One way of building the measured runtime.
struct Variant {
    name: &'static str,
    /// Configures one run's runtime builder. What it returns lives beside the runtime for the
    /// run (e.g. a thread ticking the probe's clock) and is stopped after it.
    install: fn(&mut Builder) -> Result<Box<dyn Sidecar>>,
}

/// What a variant runs beside the measured runtime during one run.
trait Sidecar {
    /// Called once the runtime is built, before the workload starts (a monitor reading the
    /// runtime's metrics would start here).
    fn attach(&mut self, _handle: &Handle) -> Result<()> {
        Ok(())
    }

    /// Called after the workload finished, before the runtime is dropped.
    fn stop(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Nothing beside the runtime.
struct NoSidecar;

impl Sidecar for NoSidecar {}

const VARIANTS: &[Variant] = &[
    Variant {
        name: BASELINE,
        install: bare,
    },
    Variant {
        name: "empty-hooks",
        install: empty_hooks,
    },
    Variant {
        name: "tokmon-probe",
        install: tokmon_probe,
    },
];

fn bare(_builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    Ok(Box::new(NoSidecar))
}

/// The same hooks the probe installs, doing nothing: what tokio's hook calls cost by themselves.
fn empty_hooks(builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    builder
        .on_thread_start(|| {})
        .on_thread_stop(|| {})
        .on_task_spawn(|_meta| {})
        .on_task_terminate(|_meta| {})
        .on_before_task_poll(|_meta| {})
        .on_after_task_poll(|_meta| {});
    Ok(Box::new(NoSidecar))
}

/// The probe as tokmon installs it, with its coarse clock ticked every [`COARSE_TICK`] the way
/// the monitor thread does (the monitor's other work is not included).
fn tokmon_probe(builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    let probe = Probe::new(Duration::from_millis(10));
    probe.install(builder);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("probe-clock".into())
        .spawn({
            let probe = probe.clone();
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    probe.clock.tick();
                    // Keeps the long-poll queue from filling, as the monitor does.
                    drop(probe.drain_long_polls());
                    std::thread::sleep(COARSE_TICK);
                }
            }
        })
        .context("starting the probe's clock thread")?;
    Ok(Box::new(ProbeClock {
        stop,
        thread: Some(thread),
    }))
}

struct ProbeClock {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProbeClock {
    fn halt(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            bail!("the probe's clock thread panicked");
        }
        Ok(())
    }
}

impl Sidecar for ProbeClock {
    fn stop(mut self: Box<Self>) -> Result<()> {
        self.halt()
    }
}

impl Drop for ProbeClock {
    fn drop(&mut self) {
        // Only on an error path (stop was not called); a panic there was already reported.
        let _ = self.halt();
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads: what runs on the measured runtime.

/// One workload: `run` does `size` units of work on the runtime and times itself (runtime
/// start-up and shutdown are not timed).
struct Workload {
    name: &'static str,
    /// What the throughput counts, per second.
    unit: &'static str,
    /// Sized so that a run lasts roughly 0.5-1 s on a 2-core machine.
    size: u64,
    quick_size: u64,
    run: fn(&Runtime, u64) -> Result<Measured>,
}

struct Measured {
    units: u64,
    elapsed: Duration,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "yield",
        unit: "polls/s",
        size: 22_000_000,
        quick_size: 4_000_000,
        run: yield_storm,
    },
    Workload {
        name: "yield-taskmonitor",
        unit: "polls/s",
        size: 6_000_000,
        quick_size: 1_000_000,
        run: yield_storm_monitored,
    },
    Workload {
        name: "spawn",
        unit: "tasks/s",
        size: 3_600_000,
        quick_size: 600_000,
        run: spawn_storm,
    },
];

/// Tasks of the yield storm.
const YIELD_TASKS: u64 = 1000;

/// `YIELD_TASKS` tasks that each yield `size / YIELD_TASKS` times: nothing but polls.
/// Units: yields (each one poll).
fn yield_storm(rt: &Runtime, size: u64) -> Result<Measured> {
    let per_task = (size / YIELD_TASKS).max(1);
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.context("a yield task failed")?;
        }
        Ok(Measured {
            units: YIELD_TASKS * per_task,
            elapsed: start.elapsed(),
        })
    })
}

/// The yield storm with every task wrapped in one tokio-metrics `TaskMonitor`, as tokmon wraps
/// each workload's tasks for their scheduling delay: its `bare` median against the plain yield
/// storm's is what the monitor costs per poll.
fn yield_storm_monitored(rt: &Runtime, size: u64) -> Result<Measured> {
    let per_task = (size / YIELD_TASKS).max(1);
    let monitor = tokio_metrics::TaskMonitor::new();
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                tokio::spawn(monitor.instrument(async move {
                    for _ in 0..per_task {
                        tokio::task::yield_now().await;
                    }
                }))
            })
            .collect();
        for task in tasks {
            task.await.context("a yield task failed")?;
        }
        Ok(Measured {
            units: YIELD_TASKS * per_task,
            elapsed: start.elapsed(),
        })
    })
}

/// Spawner tasks of the spawn storm: two per worker, so that one spawns while another waits.
const SPAWNERS: u64 = 2 * WORKERS as u64;

/// Tiny tasks a spawner spawns before it waits for them all: the most it has in flight.
const SPAWN_BATCH: u64 = 256;

/// `SPAWNERS` tasks that spawn `size` tiny tasks between them, in batches of `SPAWN_BATCH`;
/// each tiny task counts itself done, and the last one of a batch wakes its spawner. Units:
/// tiny tasks.
///
/// The batches keep the tasks in flight few. A spawner that only yielded now and then would
/// outrun the workers and queue up hundreds of thousands of tasks, and the run would measure
/// the allocator's page faults more than the runtime.
fn spawn_storm(rt: &Runtime, size: u64) -> Result<Measured> {
    let batches = (size / SPAWNERS / SPAWN_BATCH).max(1);
    rt.block_on(async {
        let start = Instant::now();
        let spawners: Vec<_> = (0..SPAWNERS)
            .map(|_| {
                tokio::spawn(async move {
                    let batch = Arc::new((AtomicU64::new(0), Notify::new()));
                    for _ in 0..batches {
                        // The previous batch is done: its last task decremented before waking us.
                        batch.0.store(SPAWN_BATCH, Ordering::Relaxed);
                        for _ in 0..SPAWN_BATCH {
                            let batch = batch.clone();
                            drop(tokio::spawn(async move {
                                let (left, done) = &*batch;
                                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                                    // Keeps a permit if the spawner is not waiting yet.
                                    done.notify_one();
                                }
                            }));
                        }
                        batch.1.notified().await;
                    }
                })
            })
            .collect();
        for spawner in spawners {
            spawner.await.context("a spawner task failed")?;
        }
        Ok(Measured {
            units: SPAWNERS * batches * SPAWN_BATCH,
            elapsed: start.elapsed(),
        })
    })
}

// ---------------------------------------------------------------------------------------------
// The harness.

struct Options {
    quick: bool,
    json: bool,
    /// Prints every run's throughput to stderr.
    verbose: bool,
    runs: usize,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut options = Options {
            quick: false,
            json: false,
            verbose: false,
            runs: 0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let runs = match arg.as_str() {
                "--quick" => {
                    options.quick = true;
                    continue;
                }
                "--json" => {
                    options.json = true;
                    continue;
                }
                "--verbose" | "-v" => {
                    options.verbose = true;
                    continue;
                }
                "--runs" => args.next().context("--runs needs a number")?,
                other => match other.strip_prefix("--runs=") {
                    Some(n) => n.to_string(),
                    None => {
                        // cargo passes `--bench`; anything else is ignored too, with a word.
                        if other != "--bench" {
                            eprintln!("overhead: ignoring argument {other:?}");
                        }
                        continue;
                    }
                },
            };
            options.runs = runs
                .parse()
                .ok()
                .filter(|&n: &usize| n > 0)
                .with_context(|| format!("--runs wants a positive number, not {runs:?}"))?;
        }
        if options.runs == 0 {
            options.runs = if options.quick { 3 } else { 7 };
        }
        Ok(options)
    }
}

/// One variant's runs of one workload.
struct Row {
    workload: &'static str,
    unit: &'static str,
    variant: &'static str,
    /// Throughputs of the measured runs (warm-up excluded), sorted.
    throughputs: Vec<f64>,
    median: f64,
    ratio: f64,
}

/// One run's result.
struct RunResult {
    throughput: f64,
    /// The share of the machine's CPU other processes used meanwhile, where known.
    foreign: Option<f64>,
    /// The share of the machine's CPU this process used meanwhile, where known.
    own: Option<f64>,
}

impl RunResult {
    /// Unknown counts as none.
    fn foreign_share(&self) -> f64 {
        self.foreign.unwrap_or(0.0)
    }
}

/// One run: a fresh runtime with the variant installed, the workload on it, then shutdown.
fn run_once(variant: &Variant, workload: &Workload, size: u64) -> Result<RunResult> {
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(WORKERS).enable_all();
    let mut sidecar = (variant.install)(&mut builder)?;
    let rt = builder.build().context("building the measured runtime")?;
    sidecar.attach(rt.handle())?;
    let cpu_before = CpuTicks::now();
    let measured = (workload.run)(&rt, size)?;
    let ticks = cpu_before.zip(CpuTicks::now());
    let foreign = ticks.map(|(before, after)| after.foreign_share_since(&before));
    let own = ticks.map(|(before, after)| after.own_share_since(&before));
    sidecar.stop()?;
    drop(rt);
    Ok(RunResult {
        throughput: measured.units as f64 / measured.elapsed.as_secs_f64(),
        foreign,
        own,
    })
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn measure(workload: &Workload, options: &Options) -> Result<Vec<Row>> {
    let size = if options.quick {
        workload.quick_size
    } else {
        workload.size
    };
    let started = Instant::now();
    let mut throughputs = vec![Vec::with_capacity(options.runs); VARIANTS.len()];
    // Measured runs other processes shared the CPU with, and the largest share they took;
    // runs made again for that reason.
    let (mut noisy, mut worst, mut retried) = (0, 0.0f64, 0);
    // Round 0 is the warm-up, discarded.
    for round in 0..=options.runs {
        for (variant, results) in VARIANTS.iter().zip(&mut throughputs) {
            // A measured run that shared the CPU is run again, up to `ATTEMPTS` times in all;
            // the least disturbed attempt counts.
            let attempts = if round == 0 { 1 } else { ATTEMPTS };
            let mut kept: Option<RunResult> = None;
            for attempt in 1..=attempts {
                let run = run_once(variant, workload, size)
                    .with_context(|| format!("{} on {}", workload.name, variant.name))?;
                if options.verbose {
                    eprintln!(
                        "  {} {} run {round}{}: {} {}{}",
                        workload.name,
                        variant.name,
                        match (round, attempt) {
                            (0, _) => " (warm-up)".to_string(),
                            (_, 1) => String::new(),
                            (_, n) => format!(" (attempt {n})"),
                        },
                        si(run.throughput),
                        workload.unit,
                        run.foreign
                            .zip(run.own)
                            .map_or(String::new(), |(foreign, own)| format!(
                                "; CPU: {:.0}% this process, {:.0}% others",
                                own * 100.0,
                                foreign * 100.0
                            )),
                    );
                }
                let quiet = run.foreign_share() <= NOISY_SHARE;
                if kept
                    .as_ref()
                    .is_none_or(|k| run.foreign_share() < k.foreign_share())
                {
                    kept = Some(run);
                }
                if quiet {
                    break;
                }
                retried += usize::from(attempt < attempts);
            }
            let run = kept.context("no attempt kept")?;
            if round > 0 {
                results.push(run.throughput);
                if run.foreign_share() > NOISY_SHARE {
                    noisy += 1;
                }
                worst = worst.max(run.foreign_share());
            }
        }
    }
    eprintln!(
        "{}: {} variants x ({} runs + 1 warm-up) of {size} units in {:.1} s{}",
        workload.name,
        VARIANTS.len(),
        options.runs,
        started.elapsed().as_secs_f64(),
        match retried {
            0 => String::new(),
            n => format!(" ({n} runs made again: other processes used the CPU)"),
        },
    );
    if noisy > 0 {
        eprintln!(
            "warning: other processes used up to {:.0}% of the CPU during {noisy} of the {} \
             measured {} runs (after {ATTEMPTS} attempts): the numbers are noisy, rerun on a \
             quiet machine",
            worst * 100.0,
            options.runs * VARIANTS.len(),
            workload.name,
        );
    }
    let mut rows: Vec<Row> = VARIANTS
        .iter()
        .zip(throughputs)
        .map(|(variant, mut throughputs)| {
            throughputs.sort_by(f64::total_cmp);
            Row {
                workload: workload.name,
                unit: workload.unit,
                variant: variant.name,
                median: median(&throughputs),
                throughputs,
                ratio: f64::NAN,
            }
        })
        .collect();
    let baseline = rows
        .iter()
        .find(|row| row.variant == BASELINE)
        .map(|row| row.median)
        .context("no baseline variant")?;
    for row in &mut rows {
        row.ratio = row.median / baseline;
    }
    Ok(rows)
}

/// Share of the machine's CPU other processes may use during a run before it is made again.
const NOISY_SHARE: f64 = 0.05;

/// Attempts at a measured run while other processes take more than [`NOISY_SHARE`].
const ATTEMPTS: usize = 3;

/// CPU time in clock ticks, from `/proc` (Linux): the machine's busy and total time over all
/// CPUs, and this process's own.
#[derive(Debug, Clone, Copy)]
struct CpuTicks {
    busy: u64,
    total: u64,
    own: u64,
}

impl CpuTicks {
    /// `None` where `/proc` cannot be read.
    fn now() -> Option<CpuTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let idle = field(3) + field(4);
        // Fields after the command name: state is field 3, utime and stime are 14 and 15.
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = own_stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(CpuTicks {
            busy,
            total: busy + idle,
            own: ticks(14 - 3)? + ticks(15 - 3)?,
        })
    }

    /// The share of the machine's CPU this process used since `earlier`.
    fn own_share_since(&self, earlier: &CpuTicks) -> f64 {
        let own = self.own.saturating_sub(earlier.own);
        let total = self.total.saturating_sub(earlier.total).max(1);
        own as f64 / total as f64
    }

    /// The share of the machine's CPU that other processes used since `earlier`, less the
    /// counters' granularity (a tick of each at either end).
    fn foreign_share_since(&self, earlier: &CpuTicks) -> f64 {
        const SLACK_TICKS: u64 = 2;
        let busy = self.busy.saturating_sub(earlier.busy);
        let own = self.own.saturating_sub(earlier.own);
        let total = self.total.saturating_sub(earlier.total).max(1);
        busy.saturating_sub(own).saturating_sub(SLACK_TICKS) as f64 / total as f64
    }
}

/// A throughput in a readable unit: `18.62M`.
fn si(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.2}k", v / 1e3),
        v => format!("{v:.1}"),
    }
}

fn text(rows: &[Row]) -> String {
    let header = [
        "workload", "variant", "median", "unit", "ratio", "runs", "min..max",
    ];
    let lines: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            let (min, max) = spread(row);
            [
                row.workload.to_string(),
                row.variant.to_string(),
                si(row.median),
                row.unit.to_string(),
                format!("{:.3}", row.ratio),
                row.throughputs.len().to_string(),
                format!("{}..{}", si(min), si(max)),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    // Text columns left-aligned, numbers right-aligned.
    let numeric = [false, false, true, false, true, true, false];
    let mut out = String::new();
    let header = header.map(str::to_string);
    for (i, line) in std::iter::once(&header).chain(&lines).enumerate() {
        // A blank line between workloads.
        if i > 1 && lines[i - 2][0] != line[0] {
            out.push('\n');
        }
        let mut cells = Vec::with_capacity(line.len());
        for ((cell, width), right) in line.iter().zip(widths).zip(numeric) {
            cells.push(if right {
                format!("{cell:>width$}")
            } else {
                format!("{cell:<width$}")
            });
        }
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

fn spread(row: &Row) -> (f64, f64) {
    (
        row.throughputs.first().copied().unwrap_or(f64::NAN),
        row.throughputs.last().copied().unwrap_or(f64::NAN),
    )
}

fn json(rows: &[Row]) -> Result<String> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let (min, max) = spread(row);
            serde_json::json!({
                "workload": row.workload,
                "variant": row.variant,
                "runs": row.throughputs.len(),
                "median": row.median,
                "min": min,
                "max": max,
                "ratio": row.ratio,
            })
        })
        .collect();
    serde_json::to_string_pretty(&rows).context("serializing the results")
}

fn main() -> Result<()> {
    let options = Options::parse()?;
    let mut rows = Vec::new();
    for workload in WORKLOADS {
        rows.extend(measure(workload, &options)?);
    }
    if options.json {
        println!("{}", json(&rows)?);
    } else {
        print!("{}", text(&rows));
    }
    Ok(())
}
