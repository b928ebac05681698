//! The variants: what is installed beside the measured runtime, each on the same runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::runtime::{Builder, Handle, RuntimeMetrics};

use tokmon::detect::Detector;
use tokmon::model::Model;
use tokmon::probe::clock::COARSE_TICK;
use tokmon::probe::{Probe, wire};
use tokmon::run::DEFAULT_INTERVAL;
use tokmon::runner::Tally;
use tokmon::scenario::{DEFAULT_MAX_BLOCKING_THREADS, DetectorSpec};
use tokmon::source::{Monitor, MonitorOptions};

use crate::harness::Mode;
use crate::workloads::{Sizes, Workload};

/// The variant every ratio is relative to; first in [`VARIANTS`], so first in every round.
pub const BASELINE: &str = "bare";

/// tokio's hooks doing nothing: the floor any hook-based probe pays, the second ratio's base.
pub const HOOKS_FLOOR: &str = "empty-hooks";

/// One way of building the measured runtime.
pub struct Variant {
    pub name: &'static str,
    /// Configures one run's runtime builder, and says what to start beside the runtime.
    pub install: fn(&mut Builder) -> Result<Attach>,
    /// Why this build cannot run the variant, if it cannot.
    pub missing: Option<&'static str>,
    /// Workloads this variant runs at another size than the workload's own, and why.
    resized: &'static [(&'static str, Sizes)],
    pub why_resized: &'static str,
}

impl Variant {
    pub fn size(&self, workload: &Workload, mode: Mode) -> u64 {
        self.resized
            .iter()
            .find(|(name, _)| *name == workload.name)
            .map_or(workload.sizes, |(_, sizes)| *sizes)
            .get(mode)
    }
}

/// Starts what a variant runs beside the measured runtime (a monitor reading the runtime's
/// metrics, say), once the runtime is built and before the workload starts.
pub type Attach = Box<dyn FnOnce(&Handle) -> Result<Stop>>;

/// Stops it after the workload, before the runtime is dropped; may say what it saw (for
/// `--verbose`). On an error path it is dropped uncalled, and the child process ends.
pub type Stop = Box<dyn FnOnce() -> Result<Option<String>>>;

/// Nothing beside the runtime.
fn nothing() -> Result<Attach> {
    Ok(Box::new(|_| Ok(Box::new(|| Ok(None)))))
}

/// A variant that runs every workload at its own size on every build.
const fn variant(name: &'static str, install: fn(&mut Builder) -> Result<Attach>) -> Variant {
    Variant {
        name,
        install,
        missing: None,
        resized: &[],
        why_resized: "",
    }
}

/// - `bare`: nothing installed; every ratio is to its median.
/// - `empty-hooks`: the hooks the probe installs, doing nothing: the floor of any hook-based
///   probe.
/// - `ticked-hooks`: the empty hooks and a thread that wakes every [`COARSE_TICK`] doing
///   nothing: the floor of a probe with a coarse clock, what the wake-ups alone cost the
///   runtime on this machine.
/// - `tokmon-probe`: the probe as shipped, its coarse clock ticked every [`COARSE_TICK`].
/// - `tokmon`: everything `tokmon run` puts beside a runtime at default settings.
/// - `probe-serving`: the probe library as an app carries it (`Probe::builder().build()`):
///   its monitor and server on threads of their own, no client attached.
/// - `probe-client`: the same with one client attached, reading every reading (10 a second).
/// - `probe-scraped`: `probe-serving` with its OpenMetrics exporter on, scraped every second
///   over HTTP as Prometheus would.
/// - `tokio-histogram`: tokio's own poll-time histogram, read by a thread every 100 ms.
/// - `console`: console-subscriber with its defaults (`console_subscriber::init()`), no client
///   attached; needs the `console` feature (on by default) and is skipped with a note without.
pub const VARIANTS: &[Variant] = &[
    variant(BASELINE, |_| nothing()),
    variant(HOOKS_FLOOR, empty_hooks),
    variant("ticked-hooks", ticked_hooks),
    variant("tokmon-probe", tokmon_probe),
    variant("tokmon", tokmon_full),
    variant("probe-serving", |builder| probe_serving(builder, false)),
    variant("probe-client", |builder| probe_serving(builder, true)),
    variant("probe-scraped", probe_scraped),
    variant("tokio-histogram", tokio_histogram),
    Variant {
        name: "console",
        install: console,
        missing: CONSOLE_MISSING,
        resized: &[
            // Every task is kept for the hour, ~50 KB each: 500,000 tasks took 8.2 GB of RSS
            // (and 46 s) here, 4,096 took 200 MB; 10,240 take about 450 MB. (Whole batches of
            // `SPAWNERS * SPAWN_BATCH` tasks.)
            ("spawn", Sizes::new(10_240, 4_096, 1_024)),
            // About 1 µs a poll: the workload's own size would take 20 s a run.
            ("yield", Sizes::new(3_000_000, 300_000, 30_000)),
        ],
        why_resized: "console-subscriber keeps every task for an hour, ~50 KB each, and costs \
                      about a microsecond a poll",
    },
];

/// The same hooks the probe installs (keep in step with `probe/src/hooks.rs`), doing nothing:
/// what tokio's hook calls cost by themselves.
fn empty_hooks(builder: &mut Builder) -> Result<Attach> {
    builder
        .on_thread_start(|| {})
        .on_thread_stop(|| {})
        .on_task_spawn(|_meta| {})
        .on_before_task_poll(|_meta| {})
        .on_after_task_poll(|_meta| {});
    nothing()
}

/// The empty hooks and a thread that only wakes every [`COARSE_TICK`], as the monitor does.
fn ticked_hooks(builder: &mut Builder) -> Result<Attach> {
    drop(empty_hooks(builder)?); // starts nothing beside the runtime
    let mut ticker = Ticker::start("empty-tick", COARSE_TICK, || {})?;
    Ok(Box::new(|_| {
        Ok(Box::new(move || ticker.halt().map(|()| None)))
    }))
}

/// The probe as tokmon installs it, with its coarse clock ticked every [`COARSE_TICK`] the way
/// the monitor thread does (the monitor's other work is not included: see [`tokmon_full`]).
fn tokmon_probe(builder: &mut Builder) -> Result<Attach> {
    let probe = Probe::builder().serve(false).build();
    probe.install(builder);
    let mut ticker = Ticker::start("probe-clock", COARSE_TICK, move || {
        probe.clock.tick();
        // Keeps the long-poll queue from filling, as the monitor does.
        drop(probe.drain_long_polls());
    })?;
    Ok(Box::new(|_| {
        Ok(Box::new(move || ticker.halt().map(|()| None)))
    }))
}

/// How often the consumer looks for the stop between samples (as tokmon's runner).
const CONSUMER_TICK: Duration = Duration::from_millis(20);

/// tokmon at default settings, as `tokmon run` starts it: the probe on the runtime, the
/// library's monitor (the lag canary task on the runtime, and its thread with the sampler at
/// [`DEFAULT_INTERVAL`] and the watchdog at the probe's default stall threshold every tick) and a
/// consumer thread that folds
/// every sample into a [`Tally`] as the headless runner does. No workload statistics: the
/// measured tasks are a user's, not tokmon's workloads, so none is wrapped in a `TaskMonitor`.
fn tokmon_full(builder: &mut Builder) -> Result<Attach> {
    let probe = Probe::builder().serve(false).build();
    probe.install(builder);
    Ok(Box::new(move |handle| {
        let options = MonitorOptions {
            interval: DEFAULT_INTERVAL,
            // As without `--no-stacks`.
            stacks: true,
        };
        let monitor = Monitor::start(probe, handle.clone(), vec![], options)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let consumer = std::thread::Builder::new()
            .name("tokmon-consumer".into())
            .spawn(move || -> Result<_> {
                let mut tally = Tally {
                    model: Model::new(),
                    detector: Detector::new(DetectorSpec::default(), DEFAULT_MAX_BLOCKING_THREADS),
                };
                let mut count = 0u64;
                let mut fold = |sample| {
                    tally.sample(sample);
                    count += 1;
                };
                while !stopped.load(Ordering::Acquire) {
                    match monitor.samples().recv_timeout(CONSUMER_TICK) {
                        Ok(sample) => fold(sample),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                monitor.finish(&mut fold)?;
                Ok((count, findings(&tally.detector)))
            })
            .context("starting the consumer thread")?;
        Ok(Box::new(move || {
            stop.store(true, Ordering::Release);
            let (samples, findings) = consumer
                .join()
                .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))??;
            seen(samples, &findings).map(Some)
        }))
    }))
}

/// The probe library as an app installs it, serving on its own threads; with `client`, one
/// client attached on the socket, reading everything the app sends until stopped.
fn probe_serving(builder: &mut Builder, client: bool) -> Result<Attach> {
    let probe = Probe::builder().build();
    probe.install(builder);
    Ok(Box::new(move |_| {
        // The runtime's first thread started serving; the socket is bound soon after.
        let endpoint = probe.wait_for_endpoint(Duration::from_secs(10));
        let Some(wire::Endpoint::Unix(path)) = endpoint else {
            bail!("the probe does not serve on a Unix socket: {endpoint:?}");
        };
        if !client {
            return Ok(Box::new(move || {
                drop(probe);
                Ok(None)
            }));
        }
        let mut reader = wire::Client::connect_unix(&path, &wire::ClientOptions::default())
            .context("attaching a client")?;
        reader.set_read_timeout(Some(CONSUMER_TICK))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("probe-client".into())
            .spawn(move || {
                let mut messages = 0u64;
                while !stopped.load(Ordering::Acquire) {
                    match reader.recv() {
                        Ok(Some(_)) => messages += 1,
                        Ok(None) => break,
                        Err(_) => {} // a read timeout: look at the stop flag again
                    }
                }
                messages
            })
            .context("starting the client thread")?;
        Ok(Box::new(move || {
            stop.store(true, Ordering::Release);
            let messages = thread
                .join()
                .map_err(|_| anyhow::anyhow!("the client thread panicked"))?;
            if messages == 0 {
                bail!("the client received nothing");
            }
            Ok(Some(format!("{messages} messages to the client")))
        }))
    }))
}

/// How often the `probe-scraped` variant scrapes, as a Prometheus at a 1 s interval.
const SCRAPE_EVERY: Duration = Duration::from_secs(1);

/// The probe as an app carries it with its exporter on, and a thread that GETs `/metrics` every
/// [`SCRAPE_EVERY`] (at once first, so even a short run is scraped).
fn probe_scraped(builder: &mut Builder) -> Result<Attach> {
    let probe = Probe::builder()
        .metrics_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    probe.install(builder);
    Ok(Box::new(move |_| {
        probe
            .wait_for_endpoint(Duration::from_secs(10))
            .context("the probe serves")?;
        let addr = probe.metrics_addr().context("the exporter listens")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("scraper".into())
            .spawn(move || {
                let mut scrapes = 0u64;
                let mut next = std::time::Instant::now();
                while !stopped.load(Ordering::Acquire) {
                    if std::time::Instant::now() >= next {
                        if scrape(addr) {
                            scrapes += 1;
                        }
                        next += SCRAPE_EVERY;
                    }
                    std::thread::sleep(CONSUMER_TICK);
                }
                scrapes
            })
            .context("starting the scraper")?;
        Ok(Box::new(move || {
            stop.store(true, Ordering::Release);
            let scrapes = thread
                .join()
                .map_err(|_| anyhow::anyhow!("the scraper panicked"))?;
            drop(probe);
            if scrapes == 0 {
                bail!("no scrape was answered");
            }
            Ok(Some(format!("{scrapes} scrapes")))
        }))
    }))
}

/// One scrape of `/metrics`; true when it was answered with 200.
fn scrape(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let mut answer = Vec::new();
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").is_ok()
        && stream.read_to_end(&mut answer).is_ok()
        && answer.starts_with(b"HTTP/1.1 200")
}

/// What the `tokmon` variant saw, for `--verbose`; an error if it saw no sample.
fn seen(samples: u64, findings: &[String]) -> Result<String> {
    if samples == 0 {
        bail!("the consumer received no sample");
    }
    let listed = if findings.is_empty() {
        String::new()
    } else {
        format!(" ({})", findings.join(", "))
    };
    Ok(format!(
        "{samples} samples, {} findings{listed}",
        findings.len()
    ))
}

/// Each finding in a few words, for `--verbose`.
fn findings(detector: &Detector) -> Vec<String> {
    let opt = |value: Option<String>| value.unwrap_or_default();
    detector
        .findings()
        .iter()
        .map(|f| {
            format!(
                "{} {:.1} ms x{}{}{}{}",
                f.kind.name(),
                f.duration_ms,
                f.count,
                opt(f.spawned_at.as_ref().map(|at| format!(" at {at}"))),
                // Low: the thread was off the CPU (preempted), not polling.
                opt(f.cpu_ratio.map(|r| format!(" on CPU {r:.2}"))),
                // R: runnable (preempted, if off the CPU); S: asleep.
                opt(f.thread_state.map(|s| format!(" state {s}"))),
            )
        })
        .collect()
}

/// How often the `tokio-histogram` variant reads the histogram, as a monitor would.
const HISTOGRAM_READ_EVERY: Duration = Duration::from_millis(100);

/// tokio's poll-time histogram (its default buckets), read by a thread every
/// [`HISTOGRAM_READ_EVERY`] for every worker and bucket.
fn tokio_histogram(builder: &mut Builder) -> Result<Attach> {
    builder.enable_metrics_poll_time_histogram();
    Ok(Box::new(|handle| {
        let metrics = handle.metrics();
        // Polls the histogram held at the last read.
        let polls = Arc::new(AtomicU64::new(0));
        let read = polls.clone();
        let mut ticker = Ticker::start("histogram-reader", HISTOGRAM_READ_EVERY, move || {
            read.store(histogram_total(&metrics), Ordering::Relaxed);
        })?;
        Ok(Box::new(move || {
            ticker.halt()?;
            let polls = polls.load(Ordering::Relaxed);
            Ok(Some(format!(
                "{polls} polls in the histogram at its last read"
            )))
        }))
    }))
}

fn histogram_total(metrics: &RuntimeMetrics) -> u64 {
    let buckets = metrics.poll_time_histogram_num_buckets();
    (0..metrics.num_workers())
        .flat_map(|worker| (0..buckets).map(move |bucket| (worker, bucket)))
        .map(|(worker, bucket)| metrics.poll_time_histogram_bucket_count(worker, bucket))
        .sum()
}

#[cfg(feature = "console")]
const CONSOLE_MISSING: Option<&str> = None;
#[cfg(not(feature = "console"))]
const CONSOLE_MISSING: Option<&str> = Some("built without the `console` feature");

/// console-subscriber with its defaults: the global subscriber, its layer and its gRPC server
/// thread, for good (the reason every run is a process of its own). The parent points its
/// server at an ephemeral port (`TOKIO_CONSOLE_BIND`, unless set) so that a run never fails
/// because something else holds the default port; no client connects.
fn console(_builder: &mut Builder) -> Result<Attach> {
    #[cfg(not(feature = "console"))]
    bail!("built without the `console` feature");
    #[cfg(feature = "console")]
    {
        console_subscriber::init();
        nothing()
    }
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

impl Drop for Ticker {
    fn drop(&mut self) {
        // Only on an error path (stop was not called); a panic there was already reported.
        let _ = self.halt();
    }
}
