//! What tokmon costs the runtime it measures, next to the other ways of looking inside tokio.
//!
//! `cargo bench --bench overhead [-- [--quick] [--json] [--runs N] [--variant A,B] [--verbose]
//! [WORKLOAD...]]`
//!
//! `--quick` makes fewer, shorter runs (a smoke check well under a minute); `--json` prints the
//! table as JSON on stdout and nothing else; `--variant` measures only the named variants (bare
//! always); `--verbose` prints every run on stderr; a `WORKLOAD` argument runs only the
//! workloads whose name contains it (a workload left out of the default set runs when named in
//! full). Progress, notes and warnings go to stderr.
//!
//! Variants ([`VARIANTS`]), each on the same 2-worker multi-thread runtime:
//!
//! - `bare`: nothing installed; every ratio is to its median.
//! - `empty-hooks`: the hooks the probe installs, doing nothing: the floor of any hook-based probe.
//! - `tokmon-probe`: the probe as shipped, its coarse clock ticked every [`COARSE_TICK`].
//! - `tokmon`: everything `tokmon run` puts beside a runtime at default settings: the probe, the
//!   lag canary task on the runtime, the monitor thread (sampler and watchdog, which also ticks
//!   the clock) and a consumer thread folding the samples into a `Model` and a `Detector`.
//! - `tokio-histogram`: tokio's own poll-time histogram, read for every worker and bucket by a
//!   thread every 100 ms.
//! - `console`: console-subscriber with its defaults (`console_subscriber::init()`), no client
//!   attached; needs the `console` feature (on by default) and is skipped with a note without.
//!
//! Workloads ([`WORKLOADS`]): `yield` (1000 tasks that only yield: nothing but polls), `spawn`
//! (a storm of tiny tasks) and `echo` (32 loopback TCP connections doing request/response round
//! trips as fast as they can). `yield-taskmonitor` (the yield storm with every task in a
//! tokio-metrics `TaskMonitor`, as tokmon wraps its own workloads' tasks) is not in the default
//! set: it measures what tokmon's demo workloads cost themselves, which no variant changes, and
//! six variants of it would add a slow workload's runs for no new fact; name it to run it.
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
//! For the same reason the console's runs are sized down where its memory or its slowness
//! would not fit (the note under the table says which and how much).
//!
//! The variants are interleaved (bare, empty-hooks, tokmon-probe, ..., bare, ...) so that drift
//! of the machine (frequency, neighbours) hits them alike; one warm-up run per variant is
//! discarded. On Linux each run also reads how much of the CPU other processes took meanwhile
//! (`/proc`): a run they took over 5% of is made again (3 attempts at most, 2 with `--quick`;
//! the least disturbed counts), and a warning says when the numbers stayed noisy. Per workload
//! it prints each variant's median throughput, its ratio to bare's median, the spread of the
//! runs and the largest peak RSS of its child processes.
//!
//! `cargo test` runs this too (`test = true`; cargo then passes no `--bench`): without `--bench`
//! (or `--quick`) it makes one small run of each variant on each workload, no warm-up and no
//! retries, prints the table, and fails only when a variant cannot run, never on a ratio. It
//! takes libtest's arguments harmlessly: options are ignored, a filter that names neither
//! `overhead` nor a workload runs nothing (as libtest would run no test), `--list` lists
//! nothing.

use std::fmt::Write as _;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Handle, Runtime, RuntimeMetrics};
use tokio::sync::Notify;

use tokmon::detect::Detector;
use tokmon::model::Model;
use tokmon::probe::Probe;
use tokmon::probe::clock::COARSE_TICK;
use tokmon::sampler::{DEFAULT_INTERVAL, LiveSource, Sampler};
use tokmon::scenario::{
    DEFAULT_LONG_POLL_THRESHOLD, DEFAULT_MAX_BLOCKING_THREADS, DEFAULT_STALL_THRESHOLD,
    DetectorSpec,
};

/// Worker threads of every measured runtime: the 2 cores of the machine the budget is set on.
const WORKERS: usize = 2;

/// The variant every ratio is relative to; first in [`VARIANTS`], so first in every round.
const BASELINE: &str = "bare";

/// The name libtest filters would match: this benchmark's one "test".
const TEST_NAME: &str = "overhead";

// ---------------------------------------------------------------------------------------------
// Variants: what is installed on the measured runtime.

/// One way of building the measured runtime.
struct Variant {
    name: &'static str,
    /// Configures one run's runtime builder. What it returns lives beside the runtime for the
    /// run (e.g. a thread ticking the probe's clock) and is stopped after it.
    install: fn(&mut Builder) -> Result<Box<dyn Sidecar>>,
    /// Why this build cannot run the variant, if it cannot.
    missing: Option<&'static str>,
    /// Workloads this variant runs at another size than the workload's own, and why.
    resized: &'static [(&'static str, Sizes)],
    why_resized: &'static str,
}

impl Variant {
    fn size(&self, workload: &Workload, mode: Mode) -> u64 {
        self.resized
            .iter()
            .find(|(name, _)| *name == workload.name)
            .map_or(workload.sizes, |(_, sizes)| *sizes)
            .get(mode)
    }
}

/// What a variant runs beside the measured runtime during one run.
trait Sidecar {
    /// Called once the runtime is built, before the workload starts (a monitor reading the
    /// runtime's metrics starts here).
    fn attach(&mut self, _handle: &Handle) -> Result<()> {
        Ok(())
    }

    /// Called after the workload finished, before the runtime is dropped; may say what the
    /// sidecar saw (for `--verbose`).
    fn stop(self: Box<Self>) -> Result<Option<String>> {
        Ok(None)
    }
}

/// Nothing beside the runtime.
struct NoSidecar;

impl Sidecar for NoSidecar {}

const VARIANTS: &[Variant] = &[
    Variant {
        name: BASELINE,
        install: bare,
        missing: None,
        resized: &[],
        why_resized: "",
    },
    Variant {
        name: "empty-hooks",
        install: empty_hooks,
        missing: None,
        resized: &[],
        why_resized: "",
    },
    Variant {
        name: "tokmon-probe",
        install: tokmon_probe,
        missing: None,
        resized: &[],
        why_resized: "",
    },
    Variant {
        name: "tokmon",
        install: tokmon_full,
        missing: None,
        resized: &[],
        why_resized: "",
    },
    Variant {
        name: "tokio-histogram",
        install: tokio_histogram,
        missing: None,
        resized: &[],
        why_resized: "",
    },
    Variant {
        name: "console",
        install: console,
        missing: CONSOLE_MISSING,
        resized: &[
            // Every task is kept for the hour, ~50 KB each: 500,000 tasks took 8.2 GB of RSS
            // (and 46 s) here, 4,096 took 200 MB; 10,240 take about 450 MB. (Whole batches of
            // `SPAWNERS * SPAWN_BATCH` tasks.)
            (
                "spawn",
                Sizes {
                    full: 10_240,
                    quick: 4_096,
                    test: 1_024,
                },
            ),
            // About 1 µs a poll: the workload's own size would take 20 s a run.
            (
                "yield",
                Sizes {
                    full: 3_000_000,
                    quick: 300_000,
                    test: 30_000,
                },
            ),
        ],
        why_resized: "console-subscriber keeps every task for an hour, ~50 KB each, and costs \
                      about a microsecond a poll",
    },
];

fn bare(_builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    Ok(Box::new(NoSidecar))
}

/// The same hooks the probe installs (keep in step with `src/probe/hooks.rs`), doing nothing:
/// what tokio's hook calls cost by themselves.
fn empty_hooks(builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    builder
        .on_thread_start(|| {})
        .on_thread_stop(|| {})
        .on_task_spawn(|_meta| {})
        .on_before_task_poll(|_meta| {})
        .on_after_task_poll(|_meta| {});
    Ok(Box::new(NoSidecar))
}

/// The probe as tokmon installs it, with its coarse clock ticked every [`COARSE_TICK`] the way
/// the monitor thread does (the monitor's other work is not included: see [`tokmon_full`]).
fn tokmon_probe(builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    let probe = Probe::new(DEFAULT_LONG_POLL_THRESHOLD);
    probe.install(builder);
    let ticker = Ticker::start("probe-clock", COARSE_TICK, move || {
        probe.clock.tick();
        // Keeps the long-poll queue from filling, as the monitor does.
        drop(probe.drain_long_polls());
    })?;
    Ok(Box::new(ticker))
}

/// Samples the monitor thread may queue before it drops them (as tokmon's runner).
const SAMPLE_CHANNEL_CAPACITY: usize = 64;

/// tokmon at default settings, as `tokmon run` wires it: the probe on the runtime, the lag
/// canary task on it, the monitor thread (the sampler at [`DEFAULT_INTERVAL`] with the watchdog
/// at [`DEFAULT_STALL_THRESHOLD`] every tick) and a consumer thread that folds every sample
/// into a `Model` and a `Detector` as the headless runner does. No workload statistics: the
/// measured tasks are a user's, not tokmon's workloads, so none is wrapped in a `TaskMonitor`.
fn tokmon_full(builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    let probe = Probe::new(DEFAULT_LONG_POLL_THRESHOLD);
    probe.install(builder);
    Ok(Box::new(Monitor {
        probe,
        stop: Arc::new(AtomicBool::new(false)),
        monitor: None,
        consumer: None,
    }))
}

/// What the consumer thread saw: samples, and each finding in a few words.
type Consumed = (u64, Vec<String>);

struct Monitor {
    probe: Arc<Probe>,
    stop: Arc<AtomicBool>,
    monitor: Option<JoinHandle<()>>,
    consumer: Option<JoinHandle<Consumed>>,
}

impl Sidecar for Monitor {
    fn attach(&mut self, handle: &Handle) -> Result<()> {
        // The lag canary, spawned as tokmon's engine spawns it.
        let canary = self.probe.clone();
        drop(handle.spawn(async move { canary.canary.run(&canary.clock).await }));
        let stall_ns = u64::try_from(DEFAULT_STALL_THRESHOLD.as_nanos()).unwrap_or(u64::MAX);
        let source = LiveSource::new(handle.clone(), vec![], self.probe.clone(), stall_ns, true);
        let (tx, samples) = sync_channel(SAMPLE_CHANNEL_CAPACITY);
        let started = self.probe.clock.base();
        let stop = self.stop.clone();
        self.monitor = Some(
            std::thread::Builder::new()
                .name("tokmon-monitor".into())
                .spawn(move || Sampler::new(source).run(started, DEFAULT_INTERVAL, &tx, &stop))
                .context("starting the monitor thread")?,
        );
        self.consumer = Some(
            std::thread::Builder::new()
                .name("tokmon-consumer".into())
                .spawn(move || {
                    let mut model = Model::new();
                    let mut detector =
                        Detector::new(DetectorSpec::default(), DEFAULT_MAX_BLOCKING_THREADS);
                    let mut seen = 0;
                    // Ends when the monitor thread stops and drops its sender.
                    for sample in samples {
                        detector.observe(&sample);
                        model.ingest(sample);
                        seen += 1;
                    }
                    let findings = detector
                        .findings()
                        .iter()
                        .map(|f| {
                            format!(
                                "{} {:.1} ms x{}{}{}{}",
                                f.kind.name(),
                                f.duration_ms,
                                f.count,
                                f.spawned_at
                                    .as_ref()
                                    .map_or(String::new(), |at| format!(" at {at}")),
                                // Low: the thread was off the CPU (preempted), not polling.
                                f.cpu_ratio
                                    .map_or(String::new(), |r| format!(" on CPU {r:.2}")),
                                // R: runnable (preempted, if off the CPU); S: asleep.
                                f.thread_state
                                    .map_or(String::new(), |s| format!(" state {s}"))
                            )
                        })
                        .collect();
                    (seen, findings)
                })
                .context("starting the consumer thread")?,
        );
        Ok(())
    }

    fn stop(mut self: Box<Self>) -> Result<Option<String>> {
        self.stop.store(true, Ordering::Release);
        if let Some(monitor) = self.monitor.take()
            && monitor.join().is_err()
        {
            bail!("the monitor thread panicked");
        }
        let Some(consumer) = self.consumer.take() else {
            return Ok(None);
        };
        let (samples, findings) = consumer
            .join()
            .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))?;
        if samples == 0 {
            bail!("the consumer received no sample");
        }
        Ok(Some(format!(
            "{samples} samples, {} findings{}",
            findings.len(),
            if findings.is_empty() {
                String::new()
            } else {
                format!(" ({})", findings.join(", "))
            }
        )))
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Only on an error path (stop was not called): the threads end with the flag.
        self.stop.store(true, Ordering::Release);
    }
}

/// How often the `tokio-histogram` variant reads the histogram, as a monitor would.
const HISTOGRAM_READ_EVERY: Duration = Duration::from_millis(100);

/// tokio's poll-time histogram (its default buckets), read by a thread every
/// [`HISTOGRAM_READ_EVERY`] for every worker and bucket.
fn tokio_histogram(builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    builder.enable_metrics_poll_time_histogram();
    Ok(Box::new(HistogramReader {
        ticker: None,
        polls: Arc::new(AtomicU64::new(0)),
    }))
}

struct HistogramReader {
    ticker: Option<Ticker>,
    /// Polls the histogram held at the last read.
    polls: Arc<AtomicU64>,
}

fn histogram_total(metrics: &RuntimeMetrics) -> u64 {
    let buckets = metrics.poll_time_histogram_num_buckets();
    let mut total = 0;
    for worker in 0..metrics.num_workers() {
        for bucket in 0..buckets {
            total += metrics.poll_time_histogram_bucket_count(worker, bucket);
        }
    }
    total
}

impl Sidecar for HistogramReader {
    fn attach(&mut self, handle: &Handle) -> Result<()> {
        let handle = handle.clone();
        let polls = self.polls.clone();
        self.ticker = Some(Ticker::start(
            "histogram-reader",
            HISTOGRAM_READ_EVERY,
            move || polls.store(histogram_total(&handle.metrics()), Ordering::Relaxed),
        )?);
        Ok(())
    }

    fn stop(mut self: Box<Self>) -> Result<Option<String>> {
        if let Some(mut ticker) = self.ticker.take() {
            ticker.halt()?;
        }
        let polls = self.polls.load(Ordering::Relaxed);
        Ok(Some(format!(
            "{polls} polls in the histogram at its last read"
        )))
    }
}

#[cfg(feature = "console")]
const CONSOLE_MISSING: Option<&str> = None;
#[cfg(not(feature = "console"))]
const CONSOLE_MISSING: Option<&str> = Some("built without the `console` feature");

/// console-subscriber with its defaults: the global subscriber, its layer and its gRPC server
/// thread, for good (the reason every run is a process of its own). The parent points its
/// server at an ephemeral port (`TOKIO_CONSOLE_BIND`, unless set) so that a run never fails
/// because something else holds the default port; no client connects.
#[cfg(feature = "console")]
fn console(_builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    console_subscriber::init();
    Ok(Box::new(NoSidecar))
}

#[cfg(not(feature = "console"))]
fn console(_builder: &mut Builder) -> Result<Box<dyn Sidecar>> {
    bail!("built without the `console` feature")
}

/// A thread that calls `tick` every `period` until halted.
struct Ticker {
    name: &'static str,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(
        name: &'static str,
        period: Duration,
        mut tick: impl FnMut() + Send + 'static,
    ) -> Result<Ticker> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Acquire) {
                        tick();
                        std::thread::park_timeout(period);
                    }
                }
            })
            .with_context(|| format!("starting the {name} thread"))?;
        Ok(Ticker {
            name,
            stop,
            thread: Some(thread),
        })
    }

    fn halt(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                bail!("the {} thread panicked", self.name);
            }
        }
        Ok(())
    }
}

impl Sidecar for Ticker {
    fn stop(mut self: Box<Self>) -> Result<Option<String>> {
        self.halt()?;
        Ok(None)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Only on an error path (stop was not called); a panic there was already reported.
        let _ = self.halt();
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads: what runs on the measured runtime.

/// A workload's or a variant's run size in each mode.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Sized so that a bare run lasts roughly 0.5-1 s on a 2-core machine.
    full: u64,
    /// About a tenth of a second.
    quick: u64,
    /// `cargo test`: unoptimized, once; only that it runs matters.
    test: u64,
}

impl Sizes {
    fn get(&self, mode: Mode) -> u64 {
        match mode {
            Mode::Full => self.full,
            Mode::Quick => self.quick,
            Mode::Test => self.test,
        }
    }
}

/// One workload: `run` does `size` units of work on the runtime and times itself (runtime
/// start-up and shutdown are not timed).
struct Workload {
    name: &'static str,
    /// What the throughput counts, per second.
    unit: &'static str,
    /// Runs unless workloads are named on the command line.
    default: bool,
    sizes: Sizes,
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
        default: true,
        sizes: Sizes {
            full: 22_000_000,
            quick: 3_000_000,
            test: 200_000,
        },
        run: yield_storm,
    },
    Workload {
        name: "yield-taskmonitor",
        unit: "polls/s",
        default: false,
        sizes: Sizes {
            full: 6_000_000,
            quick: 1_000_000,
            test: 100_000,
        },
        run: yield_storm_monitored,
    },
    Workload {
        name: "spawn",
        unit: "tasks/s",
        default: true,
        sizes: Sizes {
            full: 3_600_000,
            quick: 500_000,
            test: 50_000,
        },
        run: spawn_storm,
    },
    Workload {
        name: "echo",
        unit: "round trips/s",
        default: true,
        sizes: Sizes {
            full: 100_000,
            quick: 15_000,
            test: 2_000,
        },
        run: echo,
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

/// Connections of the echo workload.
const ECHO_CONNECTIONS: u64 = 32;

/// Bytes of one echo request (and of its response).
const ECHO_PAYLOAD: usize = 64;

/// A loopback TCP echo server on the measured runtime and [`ECHO_CONNECTIONS`] clients that
/// each send a request of [`ECHO_PAYLOAD`] bytes and wait for all of it back, `size` round
/// trips between them, as fast as they can (closed loop). Units: round trips.
///
/// The clients run on the measured runtime too: on a 2-core machine a client runtime of its
/// own would compete for the same cores anyway, and this way every thread that works is one
/// the variant instruments (each round trip is a poll of a client task and of a server task,
/// plus the socket syscalls that dominate). Connecting is not timed.
fn echo(rt: &Runtime, size: u64) -> Result<Measured> {
    let per_connection = (size / ECHO_CONNECTIONS).max(1);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                if socket.set_nodelay(true).is_ok() {
                    drop(tokio::spawn(echo_connection(socket)));
                }
            }
        });
        let mut streams = Vec::new();
        for _ in 0..ECHO_CONNECTIONS {
            let stream = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to the echo server at {addr}"))?;
            stream.set_nodelay(true)?;
            streams.push(stream);
        }
        let start = Instant::now();
        let clients: Vec<_> = streams
            .into_iter()
            .map(|stream| tokio::spawn(echo_client(stream, per_connection)))
            .collect();
        for client in clients {
            client.await.context("an echo client task failed")??;
        }
        let elapsed = start.elapsed();
        server.abort();
        Ok(Measured {
            units: ECHO_CONNECTIONS * per_connection,
            elapsed,
        })
    })
}

/// Sends back whatever arrives until the client closes.
async fn echo_connection(mut socket: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if socket.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn echo_client(mut stream: TcpStream, round_trips: u64) -> Result<()> {
    let request = [0x5a; ECHO_PAYLOAD];
    let mut response = [0u8; ECHO_PAYLOAD];
    for _ in 0..round_trips {
        stream.write_all(&request).await.context("sending")?;
        stream
            .read_exact(&mut response)
            .await
            .context("receiving")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The child: one measured run in a process of its own.

/// The hidden argument that makes the benchmark run one measured run and print its result.
const CHILD_FLAG: &str = "--child";

/// Marks the child's result line on its stdout (console-subscriber's log layer may print too).
const RESULT_PREFIX: &str = "overhead-result: ";

/// What a child prints: one run's result.
#[derive(Debug, Serialize, Deserialize)]
struct ChildReport {
    throughput: f64,
    /// The share of the machine's CPU the child used during the timed part, where known.
    own: Option<f64>,
    /// The share of the machine's CPU other processes used meanwhile, where known.
    foreign: Option<f64>,
    /// The child's peak resident set, where known (`VmHWM`).
    peak_rss_kb: Option<u64>,
    /// What the variant's sidecar saw, and how start-up went.
    note: String,
}

/// One run in this process: build the runtime with the variant, wait for start-up to settle,
/// time the workload, print the result line.
fn child(variant: &str, workload: &str, size: &str) -> Result<()> {
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
    let mut sidecar = (variant.install)(&mut builder)?;
    let rt = builder.build().context("building the measured runtime")?;
    sidecar.attach(rt.handle())?;
    let settled = settle();
    let cpu_before = CpuTicks::now();
    let measured = (workload.run)(&rt, size)?;
    let ticks = cpu_before.zip(CpuTicks::now());
    let seen = sidecar.stop()?;
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

/// CPU time of all this process's threads in nanoseconds (Linux: `/proc/self/task/*/schedstat`).
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread that ended meanwhile is skipped.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// This process's peak resident set in KiB (Linux: `VmHWM` in `/proc/self/status`).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// The harness.

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `cargo bench`: full-size runs.
    Full,
    /// `--quick`: fewer, shorter runs.
    Quick,
    /// `cargo test` (no `--bench`): one small run each, no warm-up, no retries.
    Test,
}

struct Options {
    mode: Mode,
    json: bool,
    /// Prints every run's throughput to stderr.
    verbose: bool,
    runs: usize,
    /// `--variant`: only these (and the baseline).
    variants: Option<Vec<String>>,
    /// Positional arguments: workload filters (libtest's filters under `cargo test`).
    filters: Vec<String>,
    /// libtest's `--skip`.
    skips: Vec<String>,
    /// libtest's `--exact`: filters match whole names.
    exact: bool,
    /// libtest's `--list` or `--ignored`: run nothing.
    nothing: bool,
}

/// libtest options that take a value, which `cargo test` may pass (ignored, value and all).
const LIBTEST_VALUED: &[&str] = &[
    "--test-threads",
    "--logfile",
    "--format",
    "--color",
    "--shuffle-seed",
    "-Z",
];

impl Options {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let mut options = Options {
            mode: Mode::Test,
            json: false,
            verbose: false,
            runs: 0,
            variants: None,
            filters: Vec::new(),
            skips: Vec::new(),
            exact: false,
            nothing: false,
        };
        let (mut bench, mut quick) = (false, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |what: &str| match inline.clone() {
                Some(value) => Ok(value),
                None => args.next().with_context(|| format!("{flag} needs {what}")),
            };
            match flag {
                "--bench" => bench = true,
                "--quick" => quick = true,
                "--json" => options.json = true,
                "--verbose" | "-v" => options.verbose = true,
                "--runs" => {
                    let runs = value("a number")?;
                    options.runs = runs
                        .parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .with_context(|| format!("--runs wants a positive number, not {runs:?}"))?;
                }
                "--variant" => {
                    let names = value("variant names")?;
                    for name in names.split(',').filter(|n| !n.is_empty()) {
                        if !VARIANTS.iter().any(|v| v.name == name) {
                            bail!(
                                "no variant {name:?}; there are {}",
                                VARIANTS
                                    .iter()
                                    .map(|v| v.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            );
                        }
                        options
                            .variants
                            .get_or_insert_with(Vec::new)
                            .push(name.to_string());
                    }
                }
                // libtest's arguments, as `cargo test` passes them.
                "--skip" => options.skips.push(value("a name")?),
                "--exact" => options.exact = true,
                "--list" | "--ignored" => options.nothing = true,
                flag if LIBTEST_VALUED.contains(&flag) => {
                    value("a value")?;
                }
                flag if flag.starts_with('-') => {
                    // `--nocapture`, `--include-ignored`, `-q` and the like: nothing to do here.
                }
                _ => options.filters.push(arg),
            }
        }
        options.mode = if bench && !quick {
            Mode::Full
        } else if quick {
            Mode::Quick
        } else {
            Mode::Test
        };
        if options.runs == 0 {
            options.runs = match options.mode {
                Mode::Full => 7,
                Mode::Quick => 3,
                Mode::Test => 1,
            };
        }
        Ok(options)
    }

    /// Whether `filter` selects `name` (libtest's rule: a substring, or the whole name with
    /// `--exact`).
    fn matches(&self, filter: &str, name: &str) -> bool {
        if self.exact {
            filter == name
        } else {
            name.contains(filter)
        }
    }

    /// The workloads the filters select: all default ones without a filter or with one that
    /// matches this benchmark's name; else those a filter matches (a workload outside the
    /// default set only when named in full).
    fn workloads(&self) -> Vec<&'static Workload> {
        if self.nothing || self.skips.iter().any(|s| self.matches(s, TEST_NAME)) {
            return Vec::new();
        }
        let all =
            self.filters.is_empty() || self.filters.iter().any(|f| self.matches(f, TEST_NAME));
        WORKLOADS
            .iter()
            .filter(|w| {
                if all {
                    w.default
                } else {
                    self.filters
                        .iter()
                        .any(|f| f == w.name || (w.default && self.matches(f, w.name)))
                }
            })
            .filter(|w| !self.skips.iter().any(|s| self.matches(s, w.name)))
            .collect()
    }

    /// The variants to measure, the baseline first.
    fn variants(&self) -> Vec<&'static Variant> {
        VARIANTS
            .iter()
            .filter(|v| {
                v.name == BASELINE
                    || self
                        .variants
                        .as_ref()
                        .is_none_or(|names| names.iter().any(|n| n == v.name))
            })
            .collect()
    }

    fn warm_ups(&self) -> usize {
        match self.mode {
            Mode::Full | Mode::Quick => 1,
            Mode::Test => 0,
        }
    }

    /// Attempts at a measured run while other processes take the CPU: a busy machine would
    /// make every quick run three, past a minute in all.
    fn attempts(&self) -> usize {
        match self.mode {
            Mode::Full => ATTEMPTS,
            Mode::Quick => QUICK_ATTEMPTS,
            Mode::Test => 1,
        }
    }
}

/// One variant's runs of one workload.
struct Row {
    workload: &'static str,
    unit: &'static str,
    variant: &'static str,
    size: u64,
    /// Throughputs of the measured runs (warm-up excluded), sorted.
    throughputs: Vec<f64>,
    median: f64,
    ratio: f64,
    /// The largest peak RSS of the measured runs' processes, where known.
    peak_rss_kb: Option<u64>,
    /// Why the variant could not run this workload.
    error: Option<String>,
}

/// How long a child run may take before it is killed and counted as failed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(180);

/// How often the parent looks whether its child has exited.
const CHILD_POLL: Duration = Duration::from_millis(10);

/// One run: a child process that runs `workload` at `size` with `variant` installed.
fn run_child(variant: &Variant, workload: &Workload, size: u64) -> Result<ChildReport> {
    // On Linux the running binary itself, even if a rebuild replaced the file meanwhile.
    let exe = match std::path::Path::new("/proc/self/exe") {
        linux if linux.exists() => linux.to_path_buf(),
        _ => std::env::current_exe().context("finding the benchmark's own executable")?,
    };
    let mut stdout = tempfile::tempfile().context("creating a file for the child's stdout")?;
    let mut stderr = tempfile::tempfile().context("creating a file for the child's stderr")?;
    let mut command = Command::new(exe);
    command
        .args([CHILD_FLAG, variant.name, workload.name, &size.to_string()])
        .stdin(Stdio::null())
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?);
    if std::env::var_os("TOKIO_CONSOLE_BIND").is_none() {
        command.env("TOKIO_CONSOLE_BIND", "127.0.0.1:0");
    }
    let mut process = command.spawn().context("starting the child run")?;
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = process.try_wait().context("waiting for the child run")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = process.kill();
            let _ = process.wait();
            bail!("no result after {} s: killed", CHILD_TIMEOUT.as_secs());
        }
        std::thread::sleep(CHILD_POLL);
    };
    let read = |file: &mut std::fs::File| -> Result<String> {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_string(&mut text)?;
        Ok(text)
    };
    let (out, err) = (read(&mut stdout)?, read(&mut stderr)?);
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

/// Unknown counts as none.
fn foreign_share(run: &ChildReport) -> f64 {
    run.foreign.unwrap_or(0.0)
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

/// One variant's results so far on the workload being measured.
struct Tally {
    variant: &'static Variant,
    size: u64,
    throughputs: Vec<f64>,
    peak_rss_kb: Option<u64>,
    error: Option<String>,
}

fn measure(workload: &Workload, variants: &[&'static Variant], options: &Options) -> Vec<Row> {
    let started = Instant::now();
    let mut tallies: Vec<Tally> = variants
        .iter()
        .map(|&variant| Tally {
            variant,
            size: variant.size(workload, options.mode),
            throughputs: Vec::with_capacity(options.runs),
            peak_rss_kb: None,
            error: None,
        })
        .collect();
    // Measured runs other processes shared the CPU with, and the largest share they took;
    // runs made again for that reason.
    let (mut noisy, mut worst, mut retried) = (0, 0.0f64, 0);
    let warm_ups = options.warm_ups();
    for round in 0..warm_ups + options.runs {
        let warm_up = round < warm_ups;
        for tally in tallies.iter_mut().filter(|t| t.error.is_none()) {
            let variant = tally.variant;
            // A measured run that shared the CPU is run again, up to `attempts` times in all;
            // the least disturbed attempt counts.
            let attempts = if warm_up { 1 } else { options.attempts() };
            let mut kept: Option<ChildReport> = None;
            for attempt in 1..=attempts {
                let run = match run_child(variant, workload, tally.size) {
                    Ok(run) => run,
                    Err(error) => {
                        let error = format!("{error:#}");
                        eprintln!(
                            "error: {} on {} (size {}): {error}",
                            variant.name, workload.name, tally.size
                        );
                        tally.error = Some(error);
                        break;
                    }
                };
                if options.verbose {
                    eprintln!(
                        "  {} {} run {}{}: {} {}{}{}; {}",
                        workload.name,
                        variant.name,
                        round + 1 - warm_ups,
                        match (warm_up, attempt) {
                            (true, _) => " (warm-up)".to_string(),
                            (_, 1) => String::new(),
                            (_, n) => format!(" (attempt {n})"),
                        },
                        si(run.throughput),
                        workload.unit,
                        run.foreign
                            .zip(run.own)
                            .map_or(String::new(), |(foreign, own)| format!(
                                "; CPU: {:.0}% this run, {:.0}% others",
                                own * 100.0,
                                foreign * 100.0
                            )),
                        run.peak_rss_kb
                            .map_or(String::new(), |kb| format!("; peak RSS {}", mib(kb))),
                        run.note,
                    );
                }
                let quiet = foreign_share(&run) <= NOISY_SHARE;
                if kept
                    .as_ref()
                    .is_none_or(|k| foreign_share(&run) < foreign_share(k))
                {
                    kept = Some(run);
                }
                if quiet {
                    break;
                }
                retried += usize::from(attempt < attempts);
            }
            let Some(run) = kept else {
                continue;
            };
            if !warm_up {
                tally.throughputs.push(run.throughput);
                tally.peak_rss_kb = tally.peak_rss_kb.max(run.peak_rss_kb);
                if foreign_share(&run) > NOISY_SHARE {
                    noisy += 1;
                }
                worst = worst.max(foreign_share(&run));
            }
        }
    }
    eprintln!(
        "{}: {} variants x ({} runs{}) in {:.1} s{}",
        workload.name,
        variants.len(),
        options.runs,
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
    if noisy > 0 && options.mode != Mode::Test {
        eprintln!(
            "warning: other processes used up to {:.0}% of the CPU during {noisy} of the {} \
             measured {} runs{}: the numbers are noisy, rerun on a quiet machine",
            worst * 100.0,
            options.runs * variants.len(),
            workload.name,
            match options.attempts() {
                1 => String::new(),
                n => format!(" (after {n} attempts)"),
            },
        );
    }
    let mut rows: Vec<Row> = tallies
        .into_iter()
        .map(|mut tally| {
            tally.throughputs.sort_by(f64::total_cmp);
            Row {
                workload: workload.name,
                unit: workload.unit,
                variant: tally.variant.name,
                size: tally.size,
                median: median(&tally.throughputs),
                throughputs: tally.throughputs,
                ratio: f64::NAN,
                peak_rss_kb: tally.peak_rss_kb,
                error: tally.error,
            }
        })
        .collect();
    let baseline = rows
        .iter()
        .find(|row| row.variant == BASELINE)
        .map_or(f64::NAN, |row| row.median);
    for row in &mut rows {
        row.ratio = row.median / baseline;
    }
    rows
}

/// Share of the machine's CPU other processes may use during a run before it is made again.
const NOISY_SHARE: f64 = 0.05;

/// Attempts at a measured run while other processes take more than [`NOISY_SHARE`].
const ATTEMPTS: usize = 3;

/// [`ATTEMPTS`] under `--quick`.
const QUICK_ATTEMPTS: usize = 2;

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

/// A size in KiB as MiB: `12.3 MiB`.
fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn text(rows: &[Row]) -> String {
    let header = [
        "workload", "variant", "median", "unit", "ratio", "runs", "min..max", "peak RSS",
    ];
    let lines: Vec<[String; 8]> = rows
        .iter()
        .map(|row| {
            let (min, max) = spread(row);
            let failed = row.error.is_some();
            [
                row.workload.to_string(),
                row.variant.to_string(),
                if failed {
                    "failed".to_string()
                } else {
                    si(row.median)
                },
                row.unit.to_string(),
                format!("{:.3}", row.ratio),
                row.throughputs.len().to_string(),
                if row.throughputs.is_empty() {
                    "-".to_string()
                } else {
                    format!("{}..{}", si(min), si(max))
                },
                row.peak_rss_kb.map_or("-".to_string(), mib),
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
    let numeric = [false, false, true, false, true, true, false, true];
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

/// Notes for under the table: variants run at another size than their workload's (and why),
/// variants that could not run.
fn notes(rows: &[Row], options: &Options) -> Vec<String> {
    let mut notes = Vec::new();
    for row in rows {
        let Some(variant) = VARIANTS.iter().find(|v| v.name == row.variant) else {
            continue;
        };
        let Some(workload) = WORKLOADS.iter().find(|w| w.name == row.workload) else {
            continue;
        };
        let own = workload.sizes.get(options.mode);
        if row.size != own {
            notes.push(format!(
                "{} on {}: {} {} a run, not {} ({}); peak RSS {}",
                row.variant,
                row.workload,
                row.size,
                row.unit.split('/').next().unwrap_or(row.unit),
                own,
                variant.why_resized,
                row.peak_rss_kb.map_or("unknown".to_string(), mib),
            ));
        }
        if let Some(error) = &row.error {
            notes.push(format!(
                "{} on {} failed: {}",
                row.variant,
                row.workload,
                error.lines().next().unwrap_or_default()
            ));
        }
    }
    notes
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
            let mut value = serde_json::json!({
                "workload": row.workload,
                "variant": row.variant,
                "runs": row.throughputs.len(),
                "median": row.median,
                "min": min,
                "max": max,
                "ratio": row.ratio,
                "size": row.size,
                "peak_rss_bytes": row.peak_rss_kb.map(|kb| kb * 1024),
            });
            if let (Some(error), Some(object)) = (&row.error, value.as_object_mut()) {
                object.insert("error".into(), error.clone().into());
            }
            value
        })
        .collect();
    serde_json::to_string_pretty(&rows).context("serializing the results")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, variant, workload, size] = args.as_slice()
        && flag == CHILD_FLAG
    {
        return child(variant, workload, size);
    }
    let options = Options::parse(args)?;
    let workloads = options.workloads();
    if workloads.is_empty() {
        if !options.nothing {
            eprintln!("overhead: no workload matches the arguments; nothing to run");
        }
        return Ok(());
    }
    let mut variants = options.variants();
    for variant in &variants {
        if let Some(why) = variant.missing {
            eprintln!("note: skipping the {} variant: {why}", variant.name);
        }
    }
    variants.retain(|v| v.missing.is_none());
    if options.mode == Mode::Test {
        eprintln!(
            "overhead: test mode (no --bench): one small run of each variant on each workload, \
             to see that they run; the numbers mean nothing (`cargo bench --bench overhead` \
             measures)"
        );
    }
    let mut rows = Vec::new();
    for workload in workloads {
        rows.extend(measure(workload, &variants, &options));
    }
    if options.json {
        println!("{}", json(&rows)?);
    } else {
        print!("{}", text(&rows));
        let notes = notes(&rows, &options);
        if !notes.is_empty() {
            println!();
            for note in notes {
                println!("note: {note}");
            }
        }
    }
    let failed = rows.iter().filter(|row| row.error.is_some()).count();
    if failed > 0 {
        bail!("{failed} variant(s) could not run a workload (see above)");
    }
    Ok(())
}
