//! The runs: one child process per measured run, interleaved variants, retries of disturbed
//! runs, and what `/proc` says about each.
//!
//! Every run is a fresh child process (the benchmark runs itself with a hidden `--child VARIANT
//! WORKLOAD SIZE` argument) that builds the runtime with the variant installed, waits until its
//! threads are idle (start-up is not timed, e.g. tokmon's symbolizer warming up or the console's
//! server starting), times the workload, and prints one JSON line: throughput, the CPU shares
//! of itself and of other processes meanwhile, and its peak RSS. console-subscriber forces this:
//! it installs a global tracing subscriber that cannot be removed, keeps every task's data
//! (~49 KB) for an hour and runs a server thread that never stops, so nothing measured after
//! it in the same process would be clean. Every variant runs that way, not only the console,
//! so that all are measured alike (a fresh heap, no threads left over from an earlier run).
//!
//! The variants are interleaved (bare, empty-hooks, tokmon-probe, ..., bare, ...) so that drift
//! of the machine (frequency, neighbours) hits them alike; one warm-up run per variant is
//! discarded. On Linux each run also reads how much of the CPU other processes took meanwhile
//! (`/proc`): a run they took over [`NOISY_SHARE`] of is made again (3 attempts at most, 2 with
//! `--quick`; the least disturbed counts), and a warning says when the numbers stayed noisy.

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::runtime::Builder;

use crate::report::{Row, median, mib, si};
use crate::variants::{BASELINE, HOOKS_FLOOR, VARIANTS, Variant};
use crate::workloads::{WORKLOADS, Workload};

/// Worker threads of every measured runtime: the 2 cores of the machine the budget is set on.
pub const WORKERS: usize = 2;

/// The hidden argument that makes the benchmark run one measured run and print its result
/// (`Cli::child`).
const CHILD_FLAG: &str = "--child";

/// Marks the child's result line on its stdout (console-subscriber's log layer may print too).
const RESULT_PREFIX: &str = "overhead-result: ";

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `cargo bench`: full-size runs.
    Full,
    /// `--quick`: fewer, shorter runs.
    Quick,
    /// `cargo test` (no `--bench`): one small run each, no warm-up, no retries.
    Test,
}

/// How the runs of every workload are made.
pub struct Plan {
    pub mode: Mode,
    /// Measured runs per variant.
    pub runs: usize,
    /// Prints every run on stderr.
    pub verbose: bool,
}

impl Plan {
    fn warm_ups(&self) -> usize {
        usize::from(self.mode != Mode::Test)
    }

    /// Attempts at a measured run while other processes take the CPU: a busy machine would
    /// make every quick run three, past a minute in all.
    fn attempts(&self) -> usize {
        match self.mode {
            Mode::Full => 3,
            Mode::Quick => 2,
            Mode::Test => 1,
        }
    }
}

/// Share of the machine's CPU other processes may use during a run before it is made again.
const NOISY_SHARE: f64 = 0.05;

/// What a child prints: one run's result.
#[derive(Debug, Serialize, Deserialize)]
struct ChildReport {
    throughput: f64,
    /// Units of work per second of the child's CPU time over the workload's run (its set-up,
    /// such as the echo's connections, included), where known: what the work costs in CPU,
    /// the variant's own threads included. The kernel leaves out the time a virtual machine's
    /// host took (steal) where it accounts it, which wall-clock throughput cannot.
    per_cpu_s: Option<f64>,
    /// The share of the machine's CPU the child used during the timed part, where known.
    own: Option<f64>,
    /// The share of the machine's CPU other processes used meanwhile, where known.
    foreign: Option<f64>,
    /// The child's peak resident set, where known (`VmHWM`).
    peak_rss_kb: Option<u64>,
    /// What the variant's threads saw, and how start-up went.
    note: String,
}

impl ChildReport {
    /// Unknown counts as none.
    fn foreign(&self) -> f64 {
        self.foreign.unwrap_or(0.0)
    }
}

/// One run in this process: build the runtime with the variant, wait for start-up to settle,
/// time the workload, print the result line.
pub fn child(variant: &str, workload: &str, size: &str) -> Result<()> {
    // A run that hangs ends itself, so that the parent only has to wait for it.
    std::thread::Builder::new()
        .name("child-timeout".into())
        .spawn(|| {
            std::thread::sleep(CHILD_TIMEOUT);
            eprintln!("no result after {} s: gave up", CHILD_TIMEOUT.as_secs());
            std::process::abort();
        })
        .context("starting the timeout thread")?;
    let variant = VARIANTS
        .iter()
        .find(|v| v.name == variant)
        .with_context(|| format!("no variant {variant:?}"))?;
    let workload = WORKLOADS
        .iter()
        .find(|w| w.name == workload)
        .with_context(|| format!("no workload {workload:?}"))?;
    let size: u64 = size
        .parse()
        .with_context(|| format!("the size {size:?} is not a number"))?;
    if let Some(why) = variant.missing {
        bail!("the {} variant cannot run: {why}", variant.name);
    }
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(WORKERS).enable_all();
    let attach = (variant.install)(&mut builder)?;
    let rt = builder.build().context("building the measured runtime")?;
    let stop = attach(rt.handle())?;
    let settled = settle();
    let cpu_before = CpuTicks::now();
    let cpu_ns_before = process_cpu_ns();
    let measured = (workload.run)(&rt, size)?;
    let cpu_ns = cpu_ns_before.zip(process_cpu_ns());
    let ticks = cpu_before.zip(CpuTicks::now());
    let seen = stop()?;
    drop(rt);
    let mut note = match settled {
        Some(took) => format!("idle after {} ms", took.as_millis()),
        None => format!("not idle after {} s", SETTLE_MAX.as_secs()),
    };
    if let Some(seen) = seen {
        let _ = write!(note, "; {seen}");
    }
    let report = ChildReport {
        throughput: measured.units as f64 / measured.elapsed.as_secs_f64(),
        per_cpu_s: cpu_ns
            .map(|(before, after)| after.saturating_sub(before))
            .filter(|&ns| ns > 0)
            .map(|ns| measured.units as f64 / (ns as f64 / 1e9)),
        own: ticks.map(|(before, after)| after.own_share_since(&before)),
        foreign: ticks.map(|(before, after)| after.foreign_share_since(&before)),
        peak_rss_kb: peak_rss_kb(),
        note,
    };
    println!(
        "{RESULT_PREFIX}{}",
        serde_json::to_string(&report).context("serializing the result")?
    );
    Ok(())
}

/// Longest wait for the child's threads to go idle before the timed part.
const SETTLE_MAX: Duration = Duration::from_secs(5);
/// The window over which the child's CPU use is judged...
const SETTLE_WINDOW: Duration = Duration::from_millis(50);
/// ...and the CPU time in it that counts as idle: 5% of a core (tokmon's monitor thread uses
/// under 1% at rest).
const SETTLE_IDLE_NS: u64 = 2_500_000;

/// Waits until this process's threads together use at most [`SETTLE_IDLE_NS`] of CPU in a
/// [`SETTLE_WINDOW`] (so a variant's start-up, such as a symbolizer warming up or a server
/// binding, is not timed), at most [`SETTLE_MAX`]. Returns how long that took; `None` when
/// they never went idle. Where the threads' CPU time cannot be read, does not wait.
fn settle() -> Option<Duration> {
    let start = Instant::now();
    let Some(mut last) = process_cpu_ns() else {
        return Some(Duration::ZERO);
    };
    while start.elapsed() < SETTLE_MAX {
        std::thread::sleep(SETTLE_WINDOW);
        let now = process_cpu_ns()?;
        if now.saturating_sub(last) <= SETTLE_IDLE_NS {
            return Some(start.elapsed());
        }
        last = now;
    }
    None
}

/// CPU time of this process in nanoseconds, threads that ended included (Linux:
/// `CLOCK_PROCESS_CPUTIME_ID`, the scheduler's run time, which leaves out a virtual machine's
/// steal where the kernel accounts it, as `CONFIG_PARAVIRT_TIME_ACCOUNTING` does).
fn process_cpu_ns() -> Option<u64> {
    #[cfg(not(target_os = "linux"))]
    return None;
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u64::try_from(t.tv_nsec).ok()?;
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)
    }
}

/// This process's peak resident set in KiB (Linux: `VmHWM`).
fn peak_rss_kb() -> Option<u64> {
    #[cfg(not(target_os = "linux"))]
    return None;
    #[cfg(target_os = "linux")]
    procfs::process::Process::myself()
        .ok()?
        .status()
        .ok()?
        .vmhwm
}

/// CPU time in clock ticks (Linux): the machine's busy and total time over all CPUs, and this
/// process's own.
#[derive(Debug, Clone, Copy)]
struct CpuTicks {
    busy: u64,
    total: u64,
    own: u64,
}

impl CpuTicks {
    /// `None` where `/proc` cannot be read.
    fn now() -> Option<CpuTicks> {
        #[cfg(not(target_os = "linux"))]
        return None;
        #[cfg(target_os = "linux")]
        {
            use procfs::CurrentSI as _;
            let cpu = procfs::KernelStats::current().ok()?.total;
            let or0 = |ticks: Option<u64>| ticks.unwrap_or(0);
            // Guest time is inside user time.
            let busy =
                cpu.user + cpu.nice + cpu.system + or0(cpu.irq) + or0(cpu.softirq) + or0(cpu.steal);
            let own = procfs::process::Process::myself().ok()?.stat().ok()?;
            Some(CpuTicks {
                busy,
                total: busy + cpu.idle + or0(cpu.iowait),
                own: own.utime + own.stime,
            })
        }
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

/// How long a child run may take before it gives up and counts as failed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// One run: a child process that runs `workload` at `size` with `variant` installed.
fn run_child(variant: &Variant, workload: &Workload, size: u64) -> Result<ChildReport> {
    // On Linux the running binary itself, even if a rebuild replaced the file meanwhile.
    let exe = match std::path::Path::new("/proc/self/exe") {
        linux if linux.exists() => linux.to_path_buf(),
        _ => std::env::current_exe().context("finding the benchmark's own executable")?,
    };
    let mut command = Command::new(exe);
    command
        .args([CHILD_FLAG, variant.name, workload.name, &size.to_string()])
        .stdin(Stdio::null());
    if std::env::var_os("TOKIO_CONSOLE_BIND").is_none() {
        command.env("TOKIO_CONSOLE_BIND", "127.0.0.1:0");
    }
    let output = command.output().context("running the child run")?;
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let status = output.status;
    if !status.success() {
        let tail: Vec<&str> = err.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("the child run failed ({status}):\n{}", tail.join("\n"));
    }
    let line = out
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(RESULT_PREFIX))
        .with_context(|| format!("the child run printed no result; its stdout: {out:?}"))?;
    serde_json::from_str(line).with_context(|| format!("reading the child's result {line:?}"))
}

/// Runs `workload` with every variant, interleaved, and returns a row per variant.
pub fn measure(
    workload: &'static Workload,
    variants: &[&'static Variant],
    plan: &Plan,
) -> Vec<Row> {
    let started = Instant::now();
    let mut rows: Vec<Row> = variants
        .iter()
        .map(|&variant| Row::new(workload, variant, variant.size(workload, plan.mode)))
        .collect();
    // Measured runs other processes shared the CPU with, and the largest share they took;
    // runs made again for that reason.
    let (mut noisy, mut worst, mut retried) = (0, 0.0f64, 0);
    let warm_ups = plan.warm_ups();
    for round in 0..warm_ups + plan.runs {
        let warm_up = round < warm_ups;
        for row in rows.iter_mut().filter(|r| r.error.is_none()) {
            let variant = row.variant;
            // A measured run that shared the CPU is run again, up to `attempts` times in all;
            // the least disturbed attempt counts.
            let attempts = if warm_up { 1 } else { plan.attempts() };
            let mut kept: Option<ChildReport> = None;
            for attempt in 1..=attempts {
                let run = match run_child(variant, workload, row.size) {
                    Ok(run) => run,
                    Err(error) => {
                        let error = format!("{error:#}");
                        eprintln!(
                            "error: {} on {} (size {}): {error}",
                            variant.name, workload.name, row.size
                        );
                        row.error = Some(error);
                        break;
                    }
                };
                if plan.verbose {
                    let which = match (warm_up, attempt) {
                        (true, _) => " (warm-up)".to_string(),
                        (_, 1) => String::new(),
                        (_, n) => format!(" (attempt {n})"),
                    };
                    let cpu = run.foreign.zip(run.own).map_or(String::new(), |(f, o)| {
                        format!(
                            "; CPU: {:.0}% this run, {:.0}% others",
                            o * 100.0,
                            f * 100.0
                        )
                    });
                    let rss = run
                        .peak_rss_kb
                        .map_or(String::new(), |kb| format!("; peak RSS {}", mib(kb)));
                    eprintln!(
                        "  {} {} run {}{which}: {} {}{cpu}{rss}; {}",
                        workload.name,
                        variant.name,
                        round + 1 - warm_ups,
                        si(run.throughput),
                        workload.unit,
                        run.note,
                    );
                }
                let quiet = run.foreign() <= NOISY_SHARE;
                if kept.as_ref().is_none_or(|k| run.foreign() < k.foreign()) {
                    kept = Some(run);
                }
                if quiet {
                    break;
                }
                retried += usize::from(attempt < attempts);
            }
            let Some(run) = kept.filter(|_| !warm_up) else {
                continue;
            };
            row.throughputs.push(run.throughput);
            row.per_cpu_s.extend(run.per_cpu_s);
            row.peak_rss_kb = row.peak_rss_kb.max(run.peak_rss_kb);
            noisy += usize::from(run.foreign() > NOISY_SHARE);
            worst = worst.max(run.foreign());
        }
    }
    eprintln!(
        "{}: {} variants x ({} runs{}) in {:.1} s{}",
        workload.name,
        variants.len(),
        plan.runs,
        match warm_ups {
            0 => String::new(),
            n => format!(" + {n} warm-up"),
        },
        started.elapsed().as_secs_f64(),
        match retried {
            0 => String::new(),
            n => format!(" ({n} runs made again: other processes used the CPU)"),
        },
    );
    // Test mode's numbers mean nothing anyway.
    if noisy > 0 && plan.mode != Mode::Test {
        eprintln!(
            "warning: other processes used up to {:.0}% of the CPU during {noisy} of the {} \
             measured {} runs{}: the numbers are noisy, rerun on a quiet machine",
            worst * 100.0,
            plan.runs * variants.len(),
            workload.name,
            match plan.attempts() {
                1 => String::new(),
                n => format!(" (after {n} attempts)"),
            },
        );
    }
    for row in &mut rows {
        row.throughputs.sort_by(f64::total_cmp);
        row.median = median(&row.throughputs);
        row.per_cpu_s.sort_by(f64::total_cmp);
    }
    let row_of = |name: &str| rows.iter().find(|row| row.variant.name == name);
    let (baseline, floor) = (
        row_of(BASELINE).map_or(f64::NAN, |row| row.median),
        row_of(HOOKS_FLOOR).map_or(f64::NAN, |row| row.median),
    );
    let floor_per_cpu = row_of(HOOKS_FLOOR).map_or(f64::NAN, |row| median(&row.per_cpu_s));
    for row in &mut rows {
        row.ratio = row.median / baseline;
        row.to_hooks = row.median / floor;
        row.per_cpu_to_hooks = median(&row.per_cpu_s) / floor_per_cpu;
    }
    rows
}
