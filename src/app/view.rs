//! Plain display data derived from the app: what each panel shows, computed without a terminal
//! so it can be tested with numbers, and drawn by `ui` without any arithmetic of its own.

use crate::detect::groups::{Group, by_culprit, counts_in_words};
use crate::detect::{Finding, FindingKind};
use crate::model::{Model, Series, WorkloadModel};
use crate::probe::buckets::{bucket_ceiling_ns, bucket_floor_ns, bucket_of};
use crate::probe::clock::{EXACT_FROM_NS, PRECISE_EVERY};
use crate::report::fmt_ms_brief;
use crate::sample::PollRecord;

use super::App;

/// The window of the "now" figures, in seconds of samples (weighed by time: see
/// [`Model::recent_mean`]).
const LAST_SECOND: f64 = 1.0;

/// What a worker is doing at the latest sample.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerState {
    Idle,
    Polling,
    /// Not stuck now, but a poll of the last second took the stall threshold or longer (and
    /// the worker was not blocked off the CPU): the state agrees with the row's longest poll.
    Stalled,
    /// Busy most of the last second but mostly off the CPU: waiting in a blocking call.
    Blocked,
    /// In one poll for at least the stall threshold.
    Stuck {
        ms: f64,
        task_id: u64,
        workload: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub index: usize,
    pub state: WorkerState,
    /// Busy share over the last second, 0..=1 (live, from the probe): the window of the state,
    /// the polls per second and the longest poll too.
    pub busy: f64,
    /// Busy % of each interval, oldest first, over [`WorkerRow::history_window`].
    pub busy_history: Vec<u64>,
    pub history_window: String,
    /// On-CPU share over the last second, 0..=1: busy 100 % with CPU 2 % is a worker blocked
    /// off the CPU (a lock, a sleep, blocking I/O); `None` without per-thread CPU time.
    pub cpu: Option<f64>,
    /// Share of the last second runnable but waiting for a CPU, 0..=1: what busy holds beyond
    /// on-CPU time besides a blocking call.
    pub cpu_wait: Option<f64>,
    pub polls_per_sec: f64,
    /// Longest poll of the last second, ms.
    pub max_poll_ms: f64,
    pub local_queue: u64,
}

/// The longest running poll on each worker, not in `block_in_place`.
fn running_on(model: &Model, worker: usize) -> Option<&PollRecord> {
    model
        .last()?
        .probe
        .as_ref()?
        .in_flight
        .iter()
        .filter(|p| p.worker == Some(worker) && !p.worker_moved)
        .max_by_key(|p| p.duration_ns)
}

pub fn worker_rows(app: &App) -> Vec<WorkerRow> {
    let model = app.model();
    let stall_ns =
        u64::try_from(app.run.info.thresholds.stall_threshold.as_nanos()).unwrap_or(u64::MAX);
    model
        .workers
        .iter()
        .enumerate()
        .map(|(index, w)| {
            let series = if w.live_busy_ratio.is_empty() {
                &w.busy_ratio
            } else {
                &w.live_busy_ratio
            };
            let busy = model.recent_mean(series, LAST_SECOND).unwrap_or(0.0);
            let cpu = model.recent_mean(&w.cpu_ratio, LAST_SECOND);
            let cpu_wait = model.recent_mean(&w.cpu_wait_ratio, LAST_SECOND);
            let max_poll_ms = model.recent_max(&w.max_poll_ms, LAST_SECOND);
            let state = match running_on(model, index) {
                Some(p) if p.duration_ns >= stall_ns => WorkerState::Stuck {
                    ms: p.duration_ns as f64 / 1e6,
                    task_id: p.task_id,
                    workload: p.workload.clone(),
                },
                // Blocked says more than "was stuck" (off the CPU), and the row's max poll
                // shows the stall anyway.
                _ if blocked_off_cpu(busy, cpu, cpu_wait) => WorkerState::Blocked,
                _ if max_poll_ms.is_some_and(|ms| ms * 1e6 >= stall_ns as f64) => {
                    WorkerState::Stalled
                }
                _ if busy >= 0.05 => WorkerState::Polling,
                _ => WorkerState::Idle,
            };
            let polls = if w.probe_polls_per_sec.is_empty() {
                &w.polls_per_sec
            } else {
                &w.probe_polls_per_sec
            };
            WorkerRow {
                index,
                state,
                busy,
                busy_history: series.iter().map(|r| (r * 100.0).round() as u64).collect(),
                history_window: window(series, model),
                cpu,
                cpu_wait,
                polls_per_sec: model.recent_mean(polls, LAST_SECOND).unwrap_or(0.0),
                max_poll_ms: max_poll_ms.unwrap_or(0.0),
                local_queue: w.local_queue_depth,
            }
        })
        .collect()
}

/// What the "now" figures cover, in words: "last second", or "last 5 s" when a reading comes
/// every 5 s (`tokmon attach --interval 5s`).
pub fn now_window(app: &App) -> String {
    now_window_of(app.model())
}

fn now_window_of(model: &Model) -> String {
    match model.recent_span(LAST_SECOND) {
        s if s <= 1.5 => "last second".into(),
        s => format!("last {s:.0} s"),
    }
}

/// Busy half the second or more, and most of it neither on a CPU nor waiting for one: held in
/// a blocking call (a lock, a sleep, I/O). A worker waiting for a CPU (an overloaded machine) is
/// not blocked by its own code. `None` without the thread's CPU time: no verdict.
pub fn blocked_off_cpu(busy: f64, cpu: Option<f64>, cpu_wait: Option<f64>) -> bool {
    cpu.is_some_and(|cpu| busy >= 0.5 && busy - cpu - cpu_wait.unwrap_or(0.0) > busy / 2.0)
}

/// The one line the header shows in the loudest colour.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Waiting,
    Healthy,
    /// No worker is stuck at this instant, but stalls ended within [`RECENT_STALLS_MS`]: a
    /// service stalling every second is not healthy between two stalls.
    Stalling {
        /// Stalls in the window, and those of them at `at`.
        count: u64,
        here: u64,
        worst_ms: f64,
        /// When the first stall of the window was seen.
        since_ms: u64,
        /// How long ago the latest stall there was last seen: the status speaks of the last
        /// seconds while the worker rows speak of this one.
        ago_ms: u64,
        /// `at LINE`, the blocking line with the most stalls in the window (else `(spawned
        /// at SITE)`), and its workload or task; `worst_ms` is the worst there.
        at: Option<String>,
        who: String,
        /// The worker the same culprit holds in long polls for most of its time now, if one:
        /// "stalled 3s ago" alone would read as over.
        holds: Option<usize>,
        /// What to change, in a few words.
        fix: String,
    },
    Stuck {
        worker: usize,
        ms: f64,
        workload: Option<String>,
        task_id: u64,
        /// Other workers stuck at the same time.
        others: usize,
        /// `at LINE`, the blocking line of this stall, else of the task's latest one, else
        /// `(spawned at SITE)`; and the fix, once a stall of the task was looked at.
        at: Option<String>,
        fix: Option<String>,
    },
    /// No stall, but long polls took at least [`SLOW_SHARE`] of a worker's time lately.
    SlowPolls {
        worker: usize,
        /// Of the worker's time over `window_ms`, 0..=1.
        share: f64,
        /// The last [`SLOW_WINDOW_MS`], or less early in a run.
        window_ms: u64,
        /// The workload (else the spawn site) with the most long polls lately, and the fix
        /// for its polls.
        who: Option<String>,
        fix: Option<String>,
    },
    /// Timers fire late now (an ongoing lag finding).
    Lagging {
        ms: f64,
    },
    /// spawn_blocking jobs wait for a thread now (an ongoing blocking-queue finding).
    QueueFull {
        summary: String,
    },
}

/// Long polls taking this share of a worker's time make the status line speak: a lone 11 ms
/// poll in a second is 1 % and no alarm.
pub const SLOW_SHARE: f64 = 0.05;
/// A share of a worker's time in long polls that makes a culprit of recent stalls hold it now.
pub const HOLDS_SHARE: f64 = 0.5;
/// The window of [`SLOW_SHARE`].
pub const SLOW_WINDOW_MS: u64 = 5_000;

pub fn status(app: &App) -> Status {
    let rows = worker_rows(app);
    if app.model().samples_seen == 0 {
        return Status::Waiting;
    }
    let mut stuck: Vec<(usize, f64, Option<String>, u64)> = rows
        .iter()
        .filter_map(|r| match &r.state {
            WorkerState::Stuck {
                ms,
                task_id,
                workload,
            } => Some((r.index, *ms, workload.clone(), *task_id)),
            _ => None,
        })
        .collect();
    stuck.sort_by(|a, b| b.1.total_cmp(&a.1));
    match stuck.first() {
        None => match recent_stalls(app) {
            Status::Healthy => quieter_signals(app),
            stalling => stalling,
        },
        Some((worker, ms, workload, task_id)) => {
            let seen = stall_of(app, *worker, *task_id, workload.as_deref());
            Status::Stuck {
                worker: *worker,
                ms: *ms,
                workload: workload.clone(),
                task_id: *task_id,
                others: stuck.len() - 1,
                at: seen.and_then(place_of),
                fix: seen.map(fix_of),
            }
        }
    }
}

/// The stall finding that tells where a stuck worker is stuck: the ongoing one on that worker
/// once its blocking line is known, else the latest of the same task or workload with a line
/// (its stack is caught at the threshold and named a moment later), else the ongoing one.
fn stall_of<'a>(
    app: &'a App,
    worker: usize,
    task_id: u64,
    workload: Option<&str>,
) -> Option<&'a Finding> {
    let stalls = || {
        app.detector()
            .findings()
            .iter()
            .rev()
            .filter(|f| f.kind == FindingKind::Stall)
    };
    let this = |f: &&Finding| f.ongoing && f.worker == Some(worker) && f.task_id == Some(task_id);
    let same_culprit = |f: &&Finding| {
        f.task_id == Some(task_id) || workload.is_some_and(|w| f.workload.as_deref() == Some(w))
    };
    stalls()
        .find(|f| this(f) && f.site.is_some())
        .or_else(|| stalls().find(|f| f.site.is_some() && same_culprit(f)))
        .or_else(|| stalls().find(this))
}

/// Where to look, said as what it is: `at LINE` for the blocking line, else `(spawned at
/// SITE)`: a spawn site is where the task was created, not the code that held the worker.
fn place_of(f: &Finding) -> Option<String> {
    match (&f.site, &f.spawned_at) {
        (Some(site), _) => Some(format!("at {site}")),
        (None, Some(spawned)) => Some(format!("(spawned at {spawned})")),
        (None, None) => None,
    }
}

fn fix_of(f: &Finding) -> String {
    f.fix()
}

/// How far back a stall keeps the status line from saying healthy.
pub const RECENT_STALLS_MS: u64 = 10_000;

/// The stalls that ended within [`RECENT_STALLS_MS`], or healthy. They are grouped with the
/// run's others, as the findings panel groups them, so that a recent stall whose stack was not
/// caught is placed at the line its culprit's other stalls were caught at.
fn recent_stalls(app: &App) -> Status {
    let now_ms = app.model().now_ns() / 1_000_000;
    let is_recent = |f: &Finding| now_ms.saturating_sub(f.last_seen_ms) <= RECENT_STALLS_MS;
    let stalls: Vec<&Finding> = app
        .detector()
        .findings()
        .iter()
        .filter(|f| f.kind == FindingKind::Stall)
        .collect();
    let Some(group) = where_to_look(&stalls, is_recent) else {
        return Status::Healthy;
    };
    let recent: Vec<&Finding> = stalls.iter().copied().filter(|f| is_recent(f)).collect();
    let here: Vec<&Finding> = group
        .members
        .iter()
        .copied()
        .filter(|f| is_recent(f))
        .collect();
    let lead = group.lead();
    let who = match (&lead.workload, lead.task_id) {
        (Some(workload), _) => workload.clone(),
        (None, Some(task)) => format!("task {task}"),
        (None, None) => "a task".into(),
    };
    Status::Stalling {
        holds: held_by(app, &who),
        since_ms: recent.iter().map(|f| f.first_seen_ms).min().unwrap_or(0),
        ago_ms: now_ms.saturating_sub(group.last_ms),
        fix: fix_of(lead),
        count: recent.iter().map(|f| f.stands_for()).sum(),
        here: here.iter().map(|f| f.stands_for()).sum(),
        worst_ms: here.iter().map(|f| f.duration_ms).fold(0.0, f64::max),
        at: place_of(lead),
        who,
    }
}

/// The culprit to lead with: of the groups of `stalls` (as the findings panel groups them: by
/// culprit and blocking line, a stall whose stack was not caught joining its culprit's line),
/// the one with the most stalls that are `recent`, the worst first on a tie; so the status
/// and the rows below agree.
pub fn where_to_look<'a>(
    stalls: &[&'a Finding],
    recent: impl Fn(&Finding) -> bool,
) -> Option<Group<'a>> {
    let recent_of = |g: &Group<'_>| -> (u64, f64) {
        g.members
            .iter()
            .filter(|f| recent(f))
            .fold((0, 0.0), |(n, worst), f| {
                (n + f.stands_for(), f64::max(worst, f.duration_ms))
            })
    };
    by_culprit(stalls.iter().copied())
        .into_iter()
        .map(|g| (recent_of(&g), g))
        .filter(|((n, _), _)| *n > 0)
        .max_by(|((a, a_worst), _), ((b, b_worst), _)| a.cmp(b).then(a_worst.total_cmp(b_worst)))
        .map(|(_, g)| g)
}

/// Without a stall: long polls taking a noticeable share of a worker, then timer lag, then a
/// blocking pool at its cap; else healthy.
fn quieter_signals(app: &App) -> Status {
    let findings = app.detector().findings();
    let ongoing = |kind: FindingKind| findings.iter().rev().find(|f| f.kind == kind && f.ongoing);
    if let Some(slow) = slow_polls(app) {
        return slow;
    }
    if let Some(lag) = ongoing(FindingKind::Lag) {
        return Status::Lagging {
            ms: lag.duration_ms,
        };
    }
    if let Some(queue) = ongoing(FindingKind::BlockingQueue) {
        return Status::QueueFull {
            summary: queue.summary.clone(),
        };
    }
    Status::Healthy
}

/// The worker that `who`'s long polls hold for at least [`HOLDS_SHARE`] of its time over the
/// last [`SLOW_WINDOW_MS`], if one does.
fn held_by(app: &App, who: &str) -> Option<usize> {
    match slow_polls(app)? {
        Status::SlowPolls {
            worker,
            share,
            who: Some(culprit),
            ..
        } if culprit == who && share >= HOLDS_SHARE => Some(worker),
        _ => None,
    }
}

/// The worker whose long polls took the largest share of its time over the last
/// [`SLOW_WINDOW_MS`], if that share is at least [`SLOW_SHARE`].
fn slow_polls(app: &App) -> Option<Status> {
    let model = app.model();
    let intervals = model.workers.first()?.long_poll_share.pushed();
    if intervals == 0 {
        return None;
    }
    let interval_ms = (model.elapsed_ns / 1_000_000 / intervals).max(1);
    let n = usize::try_from(SLOW_WINDOW_MS.div_ceil(interval_ms)).unwrap_or(usize::MAX);
    let (worker, share, len) = model
        .workers
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let len = w.long_poll_share.len().min(n);
            Some((i, w.long_poll_share.recent_mean(n)?, len))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if share < SLOW_SHARE {
        return None;
    }
    let now_ms = model.now_ns() / 1_000_000;
    let window_ms = interval_ms * len as u64;
    let most = app
        .detector()
        .findings()
        .iter()
        .filter(|f| f.kind == FindingKind::LongPoll)
        .filter(|f| now_ms.saturating_sub(f.last_seen_ms) <= window_ms)
        .max_by_key(|f| f.count);
    Some(Status::SlowPolls {
        worker,
        share,
        window_ms,
        who: most.and_then(|f| f.workload.clone().or_else(|| f.spawned_at.clone())),
        fix: most.map(fix_of),
    })
}

/// One workload's panel: a few labelled figures and a sparkline.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadPanel {
    pub id: String,
    pub kind: &'static str,
    pub setting: String,
    pub lines: Vec<(String, String)>,
    /// What the sparkline shows and over which window, and its values (oldest first).
    pub spark_label: String,
    pub spark: Vec<u64>,
    /// Where the workload's settings changed, as offsets back from the newest spark value
    /// (0 = the newest): the before and after of a flip, side by side.
    pub marks: Vec<usize>,
}

pub fn workload_panels(app: &App) -> Vec<WorkloadPanel> {
    let model = app.model();
    let kinds: Vec<(&str, &'static str)> = app.info_kinds();
    model
        .workloads
        .iter()
        .map(|w| {
            let kind = kinds
                .iter()
                .find(|(id, _)| *id == w.id)
                .map_or("?", |(_, k)| *k);
            let mut panel = panel(kind, w, model);
            panel.marks = app
                .run
                .marks
                .iter()
                .filter(|(id, _)| *id == w.id)
                .filter_map(|(_, at)| usize::try_from(w.p99_ms.pushed().checked_sub(*at)?).ok())
                .filter(|offset| *offset < panel.spark.len())
                .collect();
            panel
        })
        .collect()
}

/// Completed operations in the last second below which a workload's latency is given as a
/// count and the longest, not as percentiles.
const FEW: u64 = 5;

fn panel(kind: &'static str, w: &WorkloadModel, model: &Model) -> WorkloadPanel {
    let rate = model
        .recent_mean(&w.ops_per_sec, LAST_SECOND)
        .unwrap_or(0.0);
    // Percentiles of a handful are the handful: say how many, and the longest.
    let now = now_window_of(model);
    let latency = match w.last_second {
        None => format!("none finished in the {now}"),
        Some(l) if l.count < FEW => format!(
            "{} finished in the {now} · longest {}",
            l.count,
            fmt_ms_brief(l.max_ms)
        ),
        Some(l) => format!(
            "p50 {} · p99 {} · max {}, {now}",
            fmt_ms_brief(l.p50_ms),
            fmt_ms_brief(l.p99_ms),
            fmt_ms_brief(l.max_ms)
        ),
    };
    let spark: Vec<u64> = w
        .p99_ms
        .iter()
        .map(|ms| (ms * 1000.0).round() as u64)
        .collect();
    let mut lines = match kind {
        "echo" => vec![
            ("answered/s".into(), answered(rate, &w.setting)),
            (latency_of(kind).into(), latency),
        ],
        "hash" => {
            // In MiB, as the job sizes are.
            let mib = model
                .recent_mean(&w.bytes_per_sec, LAST_SECOND)
                .unwrap_or(0.0)
                / 1_048_576.0;
            vec![
                (
                    "throughput".into(),
                    format!("{mib:.0} MiB/s · {rate:.1} jobs/s"),
                ),
                (latency_of(kind).into(), latency),
            ]
        }
        "mutex" => vec![
            ("acquired/s".into(), format!("{rate:.0}")),
            (latency_of(kind).into(), latency),
        ],
        "sleep" => vec![
            ("sleeps/s".into(), format!("{rate:.1}")),
            (latency_of(kind).into(), latency),
        ],
        _ => vec![
            ("ops/s".into(), format!("{rate:.0}")),
            (latency_of(kind).into(), latency),
        ],
    };
    if w.errors > 0 || w.timeouts > 0 {
        lines.push((
            "errors".into(),
            format!("{} · timeouts {}", w.errors, w.timeouts),
        ));
    }
    WorkloadPanel {
        id: w.id.clone(),
        kind,
        setting: w.setting.clone(),
        lines,
        spark_label: format!("p99 {}, {}", latency_of(kind), window(&w.p99_ms, model)),
        spark,
        marks: Vec::new(),
    }
}

/// Echo answers a second: answers, not requests sent, so after a stall the late ones arrive
/// together above the rate the client sends at (`rate=1000/s`), and the line says why (readers
/// took `1092` under `rate=1000/s` for a contradiction).
fn answered(rate: f64, setting: &str) -> String {
    // The setting as the workload writes it (`setting_of` in `src/workload/mod.rs`): a
    // recording or an attached app brings only its text.
    let sent = setting
        .strip_prefix("rate=")
        .and_then(|s| s.strip_suffix("/s"))
        .and_then(|s| s.parse::<f64>().ok());
    match sent {
        // Two points over, not a rounding: a second's answers straddle sample boundaries.
        Some(sent) if rate > sent * 1.02 => format!("{rate:.0} · late ones catching up"),
        _ => format!("{rate:.0}"),
    }
}

/// The window a sparkline of `series` covers: "since start" until it is full, then the time its
/// values span (a minute of 100 ms samples; ten of 1 s samples when attached with `--interval
/// 1s`; less where stalls sent samples early).
pub fn window(series: &Series, model: &Model) -> String {
    if !series.is_full() {
        return "since start".into();
    }
    let span = model.intervals_s.iter().sum::<f64>().round() as u64;
    match span {
        57..=63 => "last minute".into(),
        0..120 => format!("last {span} s"),
        _ => format!("last {} min", (span as f64 / 60.0).round()),
    }
}

/// What a workload's latency measures, in a word or two.
fn latency_of(kind: &str) -> &'static str {
    match kind {
        "echo" => "round trip",
        "hash" => "job",
        "mutex" => "lock wait",
        "sleep" => "sleep",
        _ => "latency",
    }
}

/// The runtime-wide figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeView {
    pub alive_tasks: u64,
    pub global_queue: u64,
    pub lag_ms: f64,
    pub blocking_threads: u64,
    pub blocking_idle: u64,
    pub blocking_queue: u64,
    pub blocking_cap: usize,
    /// Share of one core used by tokmon's monitor thread, and by the UI thread.
    pub monitor_cpu: Option<f64>,
    pub ui_cpu: Option<f64>,
}

pub fn runtime_view(app: &App) -> RuntimeView {
    let r = &app.model().runtime;
    RuntimeView {
        alive_tasks: r.alive_tasks,
        global_queue: r.global_queue_depth,
        lag_ms: app
            .model()
            .recent_max(&r.lag_ms, LAST_SECOND)
            .unwrap_or(0.0),
        blocking_threads: r.blocking_threads,
        blocking_idle: r.idle_blocking_threads,
        blocking_queue: r.blocking_queue_depth,
        blocking_cap: app.run.info.max_blocking_threads,
        monitor_cpu: app.model().recent_mean(&r.monitor_cpu, LAST_SECOND),
        ui_cpu: app.run.ui_cpu,
    }
}

/// The poll-duration histogram with the thresholds marked.
#[derive(Debug, Clone, PartialEq)]
pub struct PollHistogramView {
    /// (label of the bucket's lower bound, count), from the shortest polls up, trimmed to the
    /// range that has counts (and the thresholds).
    pub buckets: Vec<(String, u64)>,
    /// Index into `buckets` of the long-poll and the stall threshold's bucket.
    pub long_poll_at: Option<usize>,
    pub stall_at: Option<usize>,
    /// Where in its bucket each threshold falls, 0..1 on the bucket's log scale: 10 ms is a
    /// third of the way into 8-16 ms, so its marker stands there, not at 8 ms.
    pub long_poll_offset: f64,
    pub stall_offset: f64,
    /// Polls still running past the stall threshold, counted in `buckets` at their duration so
    /// far: the findings count them as stalls already, and the histogram agrees.
    pub running_stalls: u64,
    /// Buckets below this index hold sampled polls (one in [`PRECISE_EVERY`], counted that many
    /// times): their counts are estimates.
    pub sampled_below: usize,
    /// `None` while [`PollHistogramView::warming`].
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Sampled short polls so far, while fewer than [`SAMPLED_FOR_PERCENTILES`]: until then
    /// the long polls (counted one by one) outweigh the short ones (one in
    /// [`PRECISE_EVERY`] timed) and a percentile would mislead.
    pub warming: Option<u64>,
}

/// Sampled short polls the histogram needs before it shows percentiles: 32 of them stand for
/// 8,192 polls, a few seconds of a busy service.
pub const SAMPLED_FOR_PERCENTILES: u64 = 32;

pub fn poll_histogram(app: &App) -> PollHistogramView {
    let model = app.model();
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let long_ns = ns(app.run.info.thresholds.long_poll_threshold);
    let stall_ns = ns(app.run.info.thresholds.stall_threshold);
    let (long, stall) = (bucket_of(long_ns), bucket_of(stall_ns));
    let running: Vec<u64> = model
        .last()
        .and_then(|s| s.probe.as_ref())
        .map(|p| {
            p.in_flight
                .iter()
                .filter(|poll| !poll.worker_moved && poll.duration_ns >= stall_ns)
                .map(|poll| poll.duration_ns)
                .collect()
        })
        .unwrap_or_default();
    let mut counts = model.poll_buckets.clone();
    for &d in &running {
        if let Some(count) = counts.get_mut(bucket_of(d)) {
            *count += 1;
        }
    }
    let highest = counts.iter().rposition(|&c| c > 0).unwrap_or(0).max(stall);
    let buckets: Vec<(String, u64)> = (0..=highest)
        .map(|i| {
            (
                bucket_label(bucket_floor_ns(i)),
                counts.get(i).copied().unwrap_or(0),
            )
        })
        .collect();
    let total: u64 = counts.iter().sum();
    let sampled = counts.iter().take(bucket_of(EXACT_FROM_NS)).sum::<u64>() / PRECISE_EVERY;
    let warming = (sampled < SAMPLED_FOR_PERCENTILES).then_some(sampled);
    let quantile = |q: f64| -> Option<f64> {
        if total == 0 || warming.is_some() {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        counts.iter().enumerate().find_map(|(i, &c)| {
            seen += c;
            (seen >= rank).then(|| bucket_ceiling_ns(i).unwrap_or(bucket_floor_ns(i)) as f64 / 1e6)
        })
    };
    let max_ms = model
        .workers
        .iter()
        .map(|w| w.max_poll_ns)
        .chain(running.iter().copied())
        .max()
        .filter(|m| *m > 0)
        .map(|m| m as f64 / 1e6);
    // A bucket's percentile is its ceiling, an upper bound; the poll it stands for was no
    // longer than the longest seen, so no percentile is shown above the maximum.
    let at_most_max = |p: Option<f64>| p.map(|p| max_ms.map_or(p, |max| p.min(max)));
    PollHistogramView {
        buckets,
        long_poll_at: Some(long),
        stall_at: Some(stall),
        long_poll_offset: offset_in_bucket(long_ns),
        stall_offset: offset_in_bucket(stall_ns),
        running_stalls: running.len() as u64,
        sampled_below: bucket_of(EXACT_FROM_NS),
        p50_ms: at_most_max(quantile(0.5)),
        p99_ms: at_most_max(quantile(0.99)),
        max_ms,
        warming,
    }
}

/// Where `ns` falls inside its bucket, 0..1 on the log scale the buckets follow.
fn offset_in_bucket(ns: u64) -> f64 {
    let i = bucket_of(ns);
    match (bucket_floor_ns(i), bucket_ceiling_ns(i)) {
        (floor, Some(ceiling)) if floor > 0 && ns > floor => {
            ((ns as f64 / floor as f64).ln() / (ceiling as f64 / floor as f64).ln()).clamp(0.0, 1.0)
        }
        _ => 0.0,
    }
}

/// "1µs", "64µs", "1ms", "131ms", "1s".
pub fn bucket_label(ns: u64) -> String {
    if ns < 1_000 {
        "0".into()
    } else if ns < 1_000_000 {
        format!("{}µs", ns / 1_000)
    } else if ns < 1_000_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}s", ns / 1_000_000_000)
    }
}

/// What the findings hold, per kind, for the findings panel's title (see
/// [`counts_in_words`]).
pub fn finding_counts(app: &App) -> Vec<String> {
    let t = &app.run.info.thresholds;
    counts_in_words(
        app.detector().findings(),
        t.long_poll_threshold.as_secs_f64() * 1e3,
        t.stall_threshold.as_secs_f64() * 1e3,
    )
}
