//! The exposition: a snapshot of the probe's counters as OpenMetrics (or Prometheus text)
//! through `prometheus-client`, with Prometheus's naming conventions (base units, `_total` on
//! counters) and bounded labels (`worker`: one per worker; `site`: see [`super::sites`]).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::state::Snapshot;
use crate::Probe;
use crate::buckets::{BUCKETS, bucket_ceiling_ns};

/// The probe whose counters a scrape reads; another one can take its place (tokmon switching
/// scenario starts a new runtime with a new probe).
#[derive(Debug, Clone)]
pub(crate) struct Target(Arc<Mutex<Arc<Probe>>>);

impl Target {
    pub(crate) fn new(probe: Arc<Probe>) -> Target {
        Target(Arc::new(Mutex::new(probe)))
    }

    pub(crate) fn set(&self, probe: Arc<Probe>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = probe;
    }

    fn snapshot(&self) -> Snapshot {
        let probe = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        probe.fleet.snapshot()
    }
}

impl Collector for Target {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        encode_snapshot(&self.snapshot(), encoder)
    }
}

/// A registry holding only `target`'s counters, read afresh at every encoding.
pub(crate) fn registry(target: Target) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(target));
    registry
}

/// Which text the scraper gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, what Prometheus asks for first.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for a scraper (or `curl`) that does not ask for
    /// OpenMetrics.
    Text,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// `registry` as text in `format`.
pub(crate) fn expose(registry: &Registry, format: Format) -> Result<String, fmt::Error> {
    let mut out = String::with_capacity(8 * 1024);
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, registry)?,
        Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?,
    }
    Ok(out)
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// One metric whose series differ by one label.
fn family<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    series: impl IntoIterator<Item = (impl EncodeLabelSet, V)>,
    mut value: impl FnMut(&mut prometheus_client::encoding::MetricEncoder, &V) -> fmt::Result,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, v) in series {
        value(&mut metric.encode_family(&labels)?, &v)?;
    }
    Ok(())
}

fn counter(m: &mut prometheus_client::encoding::MetricEncoder, v: &f64) -> fmt::Result {
    m.encode_counter::<NoLabelSet, f64, f64>(v, None)
}

fn counter_u64(m: &mut prometheus_client::encoding::MetricEncoder, v: &u64) -> fmt::Result {
    m.encode_counter::<NoLabelSet, u64, f64>(v, None)
}

fn gauge(m: &mut prometheus_client::encoding::MetricEncoder, v: &f64) -> fmt::Result {
    m.encode_gauge(v)
}

fn gauge_u64(m: &mut prometheus_client::encoding::MetricEncoder, v: &u64) -> fmt::Result {
    m.encode_gauge(v)
}

fn encode_snapshot(s: &Snapshot, mut encoder: DescriptorEncoder) -> fmt::Result {
    let e = &mut encoder;
    let per_worker = |f: fn(&super::state::WorkerTotals) -> u64| {
        s.workers
            .iter()
            .enumerate()
            .map(move |(i, w)| ([("worker", i.to_string())], f(w)))
    };
    family(
        e,
        "tokio_worker_busy",
        "Time each worker spent polling tasks, from the probe's poll hooks (it grows while a poll is stuck, unlike tokio's own)",
        Some(Unit::Seconds),
        MetricType::Counter,
        per_worker(|w| w.busy_ns).map(|(l, ns)| (l, seconds(ns))),
        counter,
    )?;
    family(
        e,
        "tokio_worker_cpu",
        "Time each worker's threads spent on a CPU (the kernel's schedstat): busy time far above it means a worker blocked off the CPU (a lock, a sleep, blocking I/O)",
        Some(Unit::Seconds),
        MetricType::Counter,
        per_worker(|w| w.cpu_ns).map(|(l, ns)| (l, seconds(ns))),
        counter,
    )?;
    family(
        e,
        "tokio_worker_polls",
        "Task polls each worker ran",
        None,
        MetricType::Counter,
        per_worker(|w| w.polls),
        counter_u64,
    )?;
    family(
        e,
        "tokio_worker_parks",
        "Times each worker parked (went idle), as tokio counts them",
        None,
        MetricType::Counter,
        per_worker(|w| w.parks),
        counter_u64,
    )?;
    family(
        e,
        "tokmon_poll_running",
        "How long the poll now on each worker has run, as of the probe's latest reading (0: idle, or a poll shorter than the long-poll threshold)",
        Some(Unit::Seconds),
        MetricType::Gauge,
        per_worker(|w| w.running_ns).map(|(l, ns)| (l, seconds(ns))),
        gauge,
    )?;
    let sites = |f: fn(&super::sites::SiteTotals) -> u64| {
        s.sites
            .iter()
            .map(move |(site, t)| ([("site", site.as_str())], f(t)))
    };
    family(
        e,
        "tokmon_stalls",
        "Polls that ran at least the stall threshold, by spawn site (file:line; the first 50 sites, the rest as other), counted once each, when first seen past the threshold",
        None,
        MetricType::Counter,
        sites(|t| t.stalls),
        counter_u64,
    )?;
    family(
        e,
        "tokmon_stalled",
        "Whole durations of the stalled polls by spawn site, a running stall's time so far included",
        Some(Unit::Seconds),
        MetricType::Counter,
        sites(|t| t.stalled_ns).map(|(l, ns)| (l, seconds(ns))),
        counter,
    )?;
    family(
        e,
        "tokmon_long_polls",
        "Finished polls of at least the long-poll threshold (stalls included), by spawn site",
        None,
        MetricType::Counter,
        sites(|t| t.long_polls),
        counter_u64,
    )?;
    let single = |e: &mut DescriptorEncoder, name: &str, help: &str, v: f64| {
        let mut metric =
            e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Gauge)?;
        gauge(&mut metric, &v)
    };
    let mut dropped = e.encode_descriptor(
        "tokmon_long_polls_dropped",
        "Long polls the probe could not record because its queue was full",
        None,
        MetricType::Counter,
    )?;
    counter_u64(&mut dropped, &s.long_polls_dropped)?;
    single(
        e,
        "tokmon_stall_threshold",
        "The probe's stall threshold",
        seconds(s.stall_threshold_ns),
    )?;
    for (name, help, v) in [
        (
            "tokio_global_queue_depth",
            "Tasks in the runtime's global queue",
            s.global_queue_depth,
        ),
        (
            "tokio_blocking_threads",
            "Threads in the blocking pool",
            s.blocking_threads,
        ),
        (
            "tokio_blocking_queue_depth",
            "spawn_blocking jobs waiting for a thread",
            s.blocking_queue_depth,
        ),
        ("tokio_alive_tasks", "Tasks alive", s.alive_tasks),
    ] {
        let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
        gauge_u64(&mut metric, &v)?;
    }
    single(
        e,
        "tokio_timer_lag",
        "How late the probe's canary timer fired at worst in the latest reading's interval",
        seconds(s.timer_lag_ns),
    )?;
    let mut buckets = Vec::with_capacity(BUCKETS);
    for (i, &count) in s.buckets.iter().enumerate() {
        let upper = bucket_ceiling_ns(i).map_or(f64::INFINITY, seconds);
        buckets.push((upper, count));
    }
    let count = s.buckets.iter().sum();
    let sum = s.workers.iter().map(|w| seconds(w.busy_ns)).sum();
    let mut metric = e.encode_descriptor(
        "tokio_poll_duration",
        "Poll durations, from the probe's hooks (short polls by a fair sample, long ones each); the sum is the workers' busy time",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    metric.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sites::SiteTotals;
    use crate::metrics::state::WorkerTotals;

    fn stalled() -> Snapshot {
        let mut buckets = [0; BUCKETS];
        buckets[2] = 90;
        buckets[20] = 1;
        Snapshot {
            workers: vec![
                WorkerTotals {
                    busy_ns: 1_500_000_000,
                    cpu_ns: 20_000_000,
                    polls: 91,
                    parks: 7,
                    running_ns: 1_250_000_000,
                },
                WorkerTotals::default(),
            ],
            buckets,
            global_queue_depth: 2,
            blocking_threads: 1,
            blocking_queue_depth: 0,
            alive_tasks: 5,
            timer_lag_ns: 1_200_000_000,
            long_polls_dropped: 0,
            stall_threshold_ns: 100_000_000,
            readings: 12,
            sites: vec![(
                "examples/app.rs:12".into(),
                SiteTotals {
                    stalls: 1,
                    stalled_ns: 1_250_000_000,
                    long_polls: 0,
                },
            )],
        }
    }

    fn text(snapshot: &Snapshot, format: Format) -> String {
        let mut out = String::new();
        let mut registry = Registry::default();
        #[derive(Debug)]
        struct Fixed(Snapshot);
        impl Collector for Fixed {
            fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
                encode_snapshot(&self.0, encoder)
            }
        }
        registry.register_collector(Box::new(Fixed(snapshot.clone())));
        out.push_str(&expose(&registry, format).expect("encodes"));
        out
    }

    #[test]
    fn a_stalled_app_exposes_prometheus_names_with_their_values() {
        let om = text(&stalled(), Format::OpenMetrics);
        for line in [
            "tokio_worker_busy_seconds_total{worker=\"0\"} 1.5",
            "tokio_worker_cpu_seconds_total{worker=\"0\"} 0.02",
            "tokio_worker_polls_total{worker=\"0\"} 91",
            "tokio_worker_parks_total{worker=\"0\"} 7",
            "tokmon_poll_running_seconds{worker=\"0\"} 1.25",
            "tokmon_poll_running_seconds{worker=\"1\"} 0.0",
            "tokmon_stalls_total{site=\"examples/app.rs:12\"} 1",
            "tokmon_stalled_seconds_total{site=\"examples/app.rs:12\"} 1.25",
            "tokmon_long_polls_total{site=\"examples/app.rs:12\"} 0",
            "tokio_global_queue_depth 2",
            "tokio_timer_lag_seconds 1.2",
            "tokio_poll_duration_seconds_bucket{le=\"0.000008\"} 90",
            "tokio_poll_duration_seconds_bucket{le=\"+Inf\"} 91",
            "tokio_poll_duration_seconds_count 91",
            "# TYPE tokmon_stalls counter",
            "# UNIT tokmon_poll_running_seconds seconds",
            "# EOF",
        ] {
            assert!(om.lines().any(|l| l == line), "no {line:?} in\n{om}");
        }
        let plain = text(&stalled(), Format::Text);
        assert!(
            plain.contains("# TYPE tokmon_stalls_total counter"),
            "{plain}"
        );
        assert!(!plain.contains("# EOF"), "{plain}");
    }

    #[test]
    fn the_format_follows_the_accept_header() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
        assert_eq!(Format::from_accept(None), Format::Text);
    }
}
