//! Pure: what a stream of samples adds up to. Per-worker series, runtime gauges, and each
//! workload's totals, rates and latency histogram. Reads no clock and starts no thread.

mod series;
pub mod sites;

use std::collections::VecDeque;

use hdrhistogram::Histogram;

pub use series::Series;
pub use sites::{SiteModel, SitesModel};

use crate::probe::buckets::bucket_floor_ns;
use crate::sample::new_histogram;
use crate::sample::{LatencyBuckets, ProbeSample, Sample, WorkerCounters};

/// How many intervals the series keep: a minute at the default 100 ms.
pub const SERIES_LEN: usize = 600;

/// The difference between two readings of a cumulative counter; a counter that went backwards
/// was reset, so everything it holds now is new.
pub fn delta(previous: u64, current: u64) -> u64 {
    if current >= previous {
        current - previous
    } else {
        current
    }
}

/// The window a workload's latency figures cover: the last second of intervals, as the rates
/// beside them (more when one interval is longer).
const LATENCY_WINDOW_S: f64 = 1.0;

/// The operations that finished in a window: how many, and their latencies in milliseconds.
/// Percentiles are bucket values capped at the longest, so none exceeds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// The figures of `buckets` merged, read through `scratch` (emptied first).
    fn of<'a>(
        scratch: &mut Histogram<u64>,
        buckets: impl IntoIterator<Item = &'a LatencyBuckets>,
    ) -> Option<Latency> {
        scratch.reset();
        for b in buckets {
            record_buckets(scratch, b);
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        let max_ms = ms(scratch.max());
        (!scratch.is_empty()).then(|| Latency {
            count: scratch.len(),
            p50_ms: ms(scratch.value_at_quantile(0.50)).min(max_ms),
            p99_ms: ms(scratch.value_at_quantile(0.99)).min(max_ms),
            max_ms,
        })
    }
}

/// One worker, as the samples show it.
#[derive(Debug, Clone, Default)]
pub struct WorkerModel {
    /// Busy time and polls as tokio publishes them (frozen while a poll runs).
    pub busy_ns: u64,
    pub polls: u64,
    /// Busy time and polls from tokmon's poll hooks: live, including a poll still running.
    pub probe_busy_ns: u64,
    pub probe_polls: u64,
    /// Live busy share of each interval, from the probe, 0..=1.
    pub live_busy_ratio: Series,
    /// Longest poll seen on this worker (running or finished) at or above the long-poll
    /// threshold, else the floor of the highest histogram bucket reached.
    pub max_poll_ns: u64,
    pub parks: u64,
    pub steals: u64,
    pub max_local_queue_depth: u64,
    /// Busy share of each interval, 0..=1.
    pub busy_ratio: Series,
    pub polls_per_sec: Series,
    /// Task polls per second, from the probe.
    pub probe_polls_per_sec: Series,
    /// The longest poll of each interval (running or finished), milliseconds; from the probe.
    pub max_poll_ms: Series,
    /// Tasks in the worker's local queue at the latest sample.
    pub local_queue_depth: u64,
    /// The worker threads' CPU time while they ran this worker, in total and as a share of
    /// each interval (from the probe, where the kernel gives per-thread CPU time).
    pub cpu_ns: Option<u64>,
    pub cpu_ratio: Series,
    /// Time the worker's threads were runnable but waiting for a CPU, in total and as a share
    /// of each interval: busy beyond on-CPU time is this wait or a blocking call.
    pub cpu_wait_ns: Option<u64>,
    pub cpu_wait_ratio: Series,
    /// The time of the long polls that ended in each interval, as a share of it (a long poll
    /// counts whole in the interval it ended in); from the probe.
    pub long_poll_share: Series,
}

/// Runtime-wide gauges and their extremes.
#[derive(Debug, Clone, Default)]
pub struct RuntimeModel {
    pub alive_tasks: u64,
    pub max_alive_tasks: u64,
    pub global_queue_depth: u64,
    pub max_global_queue_depth: u64,
    pub blocking_threads: u64,
    pub max_blocking_threads: u64,
    pub idle_blocking_threads: u64,
    pub blocking_queue_depth: u64,
    pub max_blocking_queue_depth: u64,
    pub spawned_tasks: u64,
    /// CPU time of the runtime's threads over the run; `None` where unknown.
    pub threads_cpu_ns: Option<u64>,
    /// How late the canary's timers fired in each interval, milliseconds.
    pub lag_ms: Series,
    /// Share of one core tokmon's monitor thread used in each interval.
    pub monitor_cpu: Series,
    /// CPU time of tokmon's monitor thread over the run.
    pub monitor_cpu_ns: u64,
}

/// One workload, as the samples show it.
#[derive(Debug, Clone)]
pub struct WorkloadModel {
    pub id: String,
    pub setting: String,
    pub ops: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub bytes: u64,
    /// Every latency recorded over the run, microseconds.
    pub latency: Histogram<u64>,
    pub ops_per_sec: Series,
    pub bytes_per_sec: Series,
    /// The latencies of each interval of the last second (empty where none finished), oldest
    /// first, aligned with the newest [`Model::intervals_s`].
    pub last_second_buckets: VecDeque<LatencyBuckets>,
    /// What finished in the last second, from those buckets merged: `None` when nothing did.
    pub last_second: Option<Latency>,
    /// At each interval, the p99 of the second ending there (0 when nothing finished), in
    /// milliseconds: pushed every interval, so its window is the other series' window.
    pub p99_ms: Series,
    pub sched_count: u64,
    pub sched_total_ns: u64,
    pub sched_long: u64,
    /// The highest mean scheduling delay of one interval, nanoseconds.
    pub sched_worst_interval_mean_ns: u64,
}

impl WorkloadModel {
    /// A workload no sample has mentioned yet.
    pub fn empty(id: &str) -> Self {
        WorkloadModel {
            id: id.to_string(),
            setting: String::new(),
            ops: 0,
            errors: 0,
            timeouts: 0,
            bytes: 0,
            latency: new_histogram(),
            ops_per_sec: Series::default(),
            bytes_per_sec: Series::default(),
            last_second_buckets: VecDeque::new(),
            last_second: None,
            p99_ms: Series::default(),
            sched_count: 0,
            sched_total_ns: 0,
            sched_long: 0,
            sched_worst_interval_mean_ns: 0,
        }
    }

    /// Mean scheduling delay over the run, nanoseconds.
    pub fn sched_mean_ns(&self) -> u64 {
        self.sched_total_ns
            .checked_div(self.sched_count)
            .unwrap_or(0)
    }
}

/// What the samples add up to. The first sample is the baseline; totals count from it.
#[derive(Debug, Clone, Default)]
pub struct Model {
    last: Option<Sample>,
    /// Nanoseconds covered by the samples since the baseline.
    pub elapsed_ns: u64,
    pub samples_seen: u64,
    /// Samples the sampler reported dropped.
    pub samples_dropped: u64,
    pub workers: Vec<WorkerModel>,
    pub runtime: RuntimeModel,
    pub workloads: Vec<WorkloadModel>,
    /// Poll-duration histogram over every worker since the baseline, per probe bucket
    /// (empty without a probe).
    pub poll_buckets: Vec<u64>,
    /// Long polls the probe could not queue (cumulative).
    pub long_polls_dropped: u64,
    /// Each scripted phase's figures, in the order they started (empty without phases).
    pub phases: Vec<PhaseStats>,
    /// Per spawn site (empty without a probe).
    pub sites: SitesModel,
    /// Each interval's length in seconds, pushed with the per-interval series: intervals
    /// differ (a poll crossing the stall threshold sends a sample early), so a window of the
    /// series is weighed by time, not by count (see [`Model::recent_mean`]).
    pub intervals_s: Series,
    /// The histogram a workload's last second is merged in, reused from sample to sample: one
    /// of the full range is some 190 KB, and one allocated per workload per sample churned the
    /// allocator.
    scratch: Option<Histogram<u64>>,
    /// Per worker, the highest probe busy figure seen: busy time counts from there on (see
    /// [`Model::fold_probe`]).
    probe_busy_peak: Vec<u64>,
}

/// What the workloads did during one phase of a scripted demo.
#[derive(Debug, Clone)]
pub struct PhaseStats {
    pub index: usize,
    pub note: String,
    /// When the phase started, on the run's clock.
    pub started_ns: u64,
    /// Time covered by samples since then.
    pub elapsed_ns: u64,
    pub workloads: Vec<PhaseWorkload>,
}

/// One workload during one phase.
#[derive(Debug, Clone)]
pub struct PhaseWorkload {
    pub id: String,
    /// The setting at the end of the phase.
    pub setting: String,
    pub ops: u64,
    pub bytes: u64,
    pub latency: Histogram<u64>,
}

impl Model {
    pub fn new() -> Self {
        Model::default()
    }

    /// A model that counts a poll running `stall_threshold` as a stall (the default: the
    /// probe's default threshold).
    pub fn with_stall_threshold(stall_threshold: std::time::Duration) -> Self {
        Model {
            sites: SitesModel::new(u64::try_from(stall_threshold.as_nanos()).unwrap_or(u64::MAX)),
            ..Model::default()
        }
    }

    /// An empty model with this one's settings (statistics reset).
    pub fn fresh(&self) -> Self {
        Model {
            sites: SitesModel::new(self.sites.stall_threshold_ns),
            ..Model::default()
        }
    }

    /// The newest values of `series` covering `window_s` seconds of intervals (less early in
    /// a run), newest first, each with its interval's length. `series` must be one pushed
    /// every interval since it began, so that its values and [`Model::intervals_s`] align from
    /// the newest.
    fn window<'a>(
        &'a self,
        series: &'a Series,
        window_s: f64,
    ) -> impl Iterator<Item = (f64, f64)> + 'a {
        let mut covered = 0.0;
        series
            .iter()
            .rev()
            .zip(self.intervals_s.iter().rev())
            .take_while(move |(_, dt)| {
                let before = covered;
                covered += dt;
                // Ten 100 ms intervals are a second, though their float sum falls short of 1.0.
                before < window_s - 1e-9
            })
    }

    /// The time-weighted mean of a per-interval rate or share over the last `window_s`
    /// seconds: a 5 ms interval that finished one job says 200 jobs/s, and counts for 5 ms.
    pub fn recent_mean(&self, series: &Series, window_s: f64) -> Option<f64> {
        let (sum, time) = self
            .window(series, window_s)
            .fold((0.0, 0.0), |(sum, time), (value, dt)| {
                (sum + value * dt, time + dt)
            });
        (time > 0.0).then(|| sum / time)
    }

    /// The seconds the last `window_s` seconds of intervals really cover: more when one
    /// interval is longer (an attachment asking for a reading every 5 s).
    pub fn recent_span(&self, window_s: f64) -> f64 {
        self.window(&self.intervals_s, window_s)
            .map(|(_, dt)| dt)
            .sum()
    }

    /// The largest value of `series` over the last `window_s` seconds.
    pub fn recent_max(&self, series: &Series, window_s: f64) -> Option<f64> {
        self.window(series, window_s)
            .map(|(value, _)| value)
            .reduce(f64::max)
    }

    /// Starts counting a new phase from the latest sample on.
    pub fn begin_phase(&mut self, index: usize, note: &str) {
        let workloads = self
            .workloads
            .iter()
            .map(|w| PhaseWorkload {
                id: w.id.clone(),
                setting: w.setting.clone(),
                ops: 0,
                bytes: 0,
                latency: new_histogram(),
            })
            .collect();
        self.phases.push(PhaseStats {
            index,
            note: note.to_string(),
            started_ns: self.now_ns(),
            elapsed_ns: 0,
            workloads,
        });
    }

    /// The latest sample, for what is happening now (polls in flight, gauges).
    pub fn last(&self) -> Option<&Sample> {
        self.last.as_ref()
    }

    /// Nanoseconds since the run started, as of the latest sample.
    pub fn now_ns(&self) -> u64 {
        self.last.as_ref().map_or(0, |s| s.elapsed_ns)
    }

    /// Folds one sample in. Samples must arrive in order; gaps (dropped samples) are fine.
    pub fn ingest(&mut self, sample: Sample) {
        self.samples_seen += 1;
        self.samples_dropped = self.samples_dropped.max(sample.dropped_before);
        self.observe_gauges(&sample);
        let Some(previous) = self.last.take() else {
            // The baseline: remember it, count nothing yet except latencies already recorded.
            self.ensure_shapes(&sample);
            for (model, counters) in self.workloads.iter_mut().zip(&sample.workloads) {
                record_buckets(&mut model.latency, &counters.latency);
                model.setting = counters.setting.clone();
            }
            if let Some(probe) = &sample.probe {
                // The probe's first reading: its counts began with the run.
                self.sites
                    .baseline(probe, (sample.seq == 0).then_some(sample.elapsed_ns));
            }
            self.last = Some(sample);
            return;
        };
        self.ensure_shapes(&sample);
        let interval_ns = delta(previous.elapsed_ns, sample.elapsed_ns);
        self.elapsed_ns += interval_ns;
        if let Some(phase) = self.phases.last_mut() {
            phase.elapsed_ns += interval_ns;
        }
        let seconds = interval_ns as f64 / 1e9;
        if interval_ns > 0 {
            self.intervals_s.push(seconds);
        }
        let zero = WorkerCounters::default();
        for (i, worker) in self.workers.iter_mut().enumerate() {
            let now = sample.workers.get(i).unwrap_or(&zero);
            let before = previous.workers.get(i).unwrap_or(&zero);
            let busy = delta(before.busy_ns, now.busy_ns);
            let polls = delta(before.polls, now.polls);
            worker.busy_ns += busy;
            worker.polls += polls;
            worker.parks += delta(before.parks, now.parks);
            worker.steals += delta(before.steals, now.steals);
            if interval_ns > 0 {
                worker
                    .busy_ratio
                    .push((busy as f64 / interval_ns as f64).clamp(0.0, 1.0));
                worker.polls_per_sec.push(polls as f64 / seconds);
            }
        }
        if let (Some(before), Some(now), true) = (
            previous.runtime.monitor_cpu_ns,
            sample.runtime.monitor_cpu_ns,
            interval_ns > 0,
        ) {
            self.runtime.monitor_cpu_ns += delta(before, now);
            self.runtime
                .monitor_cpu
                .push(delta(before, now) as f64 / interval_ns as f64);
        }
        if let (Some(before), Some(now)) = (
            previous.runtime.threads_cpu_ns,
            sample.runtime.threads_cpu_ns,
        ) {
            let total = self.runtime.threads_cpu_ns.unwrap_or(0);
            self.runtime.threads_cpu_ns = Some(total + delta(before, now));
        }
        self.runtime.spawned_tasks +=
            delta(previous.runtime.spawned_tasks, sample.runtime.spawned_tasks);
        // The intervals a workload's latency window holds.
        let keep = self.window(&self.intervals_s, LATENCY_WINDOW_S).count();
        if let (Some(before), Some(now)) = (&previous.probe, &sample.probe) {
            self.fold_probe(before, now, interval_ns);
        }
        for (model, now) in self.workloads.iter_mut().zip(&sample.workloads) {
            let Some(before) = previous.workloads.iter().find(|w| w.id == now.id) else {
                continue;
            };
            let ops = delta(before.ops, now.ops);
            model.ops += ops;
            model.errors += delta(before.errors, now.errors);
            model.timeouts += delta(before.timeouts, now.timeouts);
            let bytes = delta(before.bytes, now.bytes);
            model.bytes += bytes;
            model.setting = now.setting.clone();
            record_buckets(&mut model.latency, &now.latency);
            if interval_ns > 0 {
                model.ops_per_sec.push(ops as f64 / seconds);
                model.bytes_per_sec.push(bytes as f64 / seconds);
            }
            // The last second's latencies, one entry an interval, merged for its figures.
            let recent = &mut model.last_second_buckets;
            match recent.back_mut() {
                Some(newest) if interval_ns == 0 => newest.merge(&now.latency),
                _ => recent.push_back(now.latency.clone()),
            }
            while recent.len() > keep.max(1) {
                recent.pop_front();
            }
            let scratch = self.scratch.get_or_insert_with(new_histogram);
            model.last_second = Latency::of(scratch, recent.iter());
            if interval_ns > 0 {
                model
                    .p99_ms
                    .push(model.last_second.map_or(0.0, |l| l.p99_ms));
            }
            if let Some(phase) = self.phases.last_mut() {
                match phase.workloads.iter_mut().find(|p| p.id == now.id) {
                    Some(p) => {
                        p.ops += ops;
                        p.bytes += bytes;
                        p.setting = now.setting.clone();
                        record_buckets(&mut p.latency, &now.latency);
                    }
                    None => {
                        let mut latency = new_histogram();
                        record_buckets(&mut latency, &now.latency);
                        phase.workloads.push(PhaseWorkload {
                            id: now.id.clone(),
                            setting: now.setting.clone(),
                            ops,
                            bytes,
                            latency,
                        });
                    }
                }
            }
            let sched_count = delta(before.sched.count, now.sched.count);
            let sched_ns = delta(before.sched.total_ns, now.sched.total_ns);
            model.sched_count += sched_count;
            model.sched_total_ns += sched_ns;
            model.sched_long += delta(before.sched.long_count, now.sched.long_count);
            if let Some(mean) = sched_ns.checked_div(sched_count) {
                model.sched_worst_interval_mean_ns = model.sched_worst_interval_mean_ns.max(mean);
            }
        }
        self.last = Some(sample);
    }

    fn fold_probe(&mut self, before: &ProbeSample, now: &ProbeSample, interval_ns: u64) {
        self.long_polls_dropped = now.long_polls_dropped;
        if interval_ns > 0 {
            // Pushed with the interval lengths, so a window of it is weighed right.
            self.runtime.lag_ms.push(now.lag_max_ns as f64 / 1e6);
        }
        let mut interval_max = vec![0u64; self.workers.len()];
        for (i, worker) in self.workers.iter_mut().enumerate() {
            let (Some(b), Some(n)) = (before.workers.get(i), now.workers.get(i)) else {
                continue;
            };
            // The probe's figure holds a running poll's elapsed part, which the next sample
            // takes back when the poll ends timed shorter (coarse clock) or not as this
            // worker's (block_in_place). Such a drop is no reset: only time past the highest
            // figure yet is new, so the run's total is the sum of its intervals.
            if self.probe_busy_peak.len() <= i {
                self.probe_busy_peak.resize(i + 1, 0);
            }
            let peak = self.probe_busy_peak[i].max(b.busy_ns);
            let busy = n.busy_ns.saturating_sub(peak);
            self.probe_busy_peak[i] = peak.max(n.busy_ns);
            worker.probe_busy_ns += busy;
            worker.probe_polls += delta(b.polls, n.polls);
            if let (Some(before), Some(now)) = (b.cpu_ns, n.cpu_ns) {
                let cpu = delta(before, now);
                worker.cpu_ns = Some(worker.cpu_ns.unwrap_or(0) + cpu);
                if interval_ns > 0 {
                    worker
                        .cpu_ratio
                        .push((cpu as f64 / interval_ns as f64).clamp(0.0, 1.0));
                }
            }
            if let (Some(before), Some(now), true) = (b.cpu_wait_ns, n.cpu_wait_ns, interval_ns > 0)
            {
                let wait = delta(before, now);
                worker.cpu_wait_ns = Some(worker.cpu_wait_ns.unwrap_or(0) + wait);
                worker
                    .cpu_wait_ratio
                    .push((wait as f64 / interval_ns as f64).clamp(0.0, 1.0));
            }
            if interval_ns > 0 {
                worker
                    .live_busy_ratio
                    .push((busy as f64 / interval_ns as f64).clamp(0.0, 1.0));
            }
            if self.poll_buckets.len() < n.buckets.len() {
                self.poll_buckets.resize(n.buckets.len(), 0);
            }
            for (bucket, (nb, bb)) in n.buckets.iter().zip(&b.buckets).enumerate() {
                let added = delta(*bb, *nb);
                self.poll_buckets[bucket] += added;
                if added > 0 {
                    worker.max_poll_ns = worker.max_poll_ns.max(bucket_floor_ns(bucket));
                    interval_max[i] = interval_max[i].max(bucket_floor_ns(bucket));
                }
            }
        }
        let mut long_ns = vec![0u64; self.workers.len()];
        for poll in now.long_polls.iter().filter(|p| !p.worker_moved) {
            if let Some(w) = poll.worker.filter(|&w| w < long_ns.len()) {
                long_ns[w] = long_ns[w].saturating_add(poll.duration_ns);
            }
        }
        if interval_ns > 0 {
            for (worker, ns) in self.workers.iter_mut().zip(long_ns) {
                worker
                    .long_poll_share
                    .push((ns as f64 / interval_ns as f64).min(1.0));
            }
        }
        for poll in now.in_flight.iter().chain(&now.long_polls) {
            if poll.worker_moved {
                continue;
            }
            if let Some(w) = poll.worker.filter(|&w| w < self.workers.len()) {
                self.workers[w].max_poll_ns = self.workers[w].max_poll_ns.max(poll.duration_ns);
                interval_max[w] = interval_max[w].max(poll.duration_ns);
            }
        }
        if interval_ns > 0 {
            for (worker, max) in self.workers.iter_mut().zip(interval_max) {
                worker.max_poll_ms.push(max as f64 / 1e6);
            }
        }
        self.sites.fold(now, interval_ns, self.workers.len());
    }

    fn ensure_shapes(&mut self, sample: &Sample) {
        if self.workers.len() < sample.workers.len() {
            self.workers
                .resize_with(sample.workers.len(), WorkerModel::default);
        }
        for counters in &sample.workloads {
            if !self.workloads.iter().any(|w| w.id == counters.id) {
                self.workloads.push(WorkloadModel::empty(&counters.id));
            }
        }
    }

    fn observe_gauges(&mut self, sample: &Sample) {
        let r = &mut self.runtime;
        let now = &sample.runtime;
        r.alive_tasks = now.alive_tasks;
        r.max_alive_tasks = r.max_alive_tasks.max(now.alive_tasks);
        r.global_queue_depth = now.global_queue_depth;
        r.max_global_queue_depth = r.max_global_queue_depth.max(now.global_queue_depth);
        r.blocking_threads = now.blocking_threads;
        r.max_blocking_threads = r.max_blocking_threads.max(now.blocking_threads);
        r.idle_blocking_threads = now.idle_blocking_threads;
        r.blocking_queue_depth = now.blocking_queue_depth;
        r.max_blocking_queue_depth = r.max_blocking_queue_depth.max(now.blocking_queue_depth);
        for (i, w) in sample.workers.iter().enumerate() {
            if let Some(model) = self.workers.get_mut(i) {
                model.local_queue_depth = w.local_queue_depth;
                model.max_local_queue_depth = model.max_local_queue_depth.max(w.local_queue_depth);
            }
        }
    }
}

fn record_buckets(histogram: &mut Histogram<u64>, buckets: &crate::sample::LatencyBuckets) {
    for &(value, count) in &buckets.micros {
        // Values come from a histogram with the same bounds; saturate rather than fail.
        histogram.saturating_record_n(value, count);
    }
}

#[cfg(test)]
mod tests;
