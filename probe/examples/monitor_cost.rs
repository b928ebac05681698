//! What the probe's monitor thread costs, next to its floor: for runtimes of 2 and 8 workers,
//! idle, healthy (short polls), and with every worker stuck on the CPU (a spin), off it in a
//! sleep, or off it on a std mutex, it prints the monitor thread's share of a core (from its
//! `schedstat`), the share of a bare thread that only sleeps the same 1 ms tick (what any
//! thread waking every millisecond costs here), and, for the stuck cases, the stall detection
//! latency (from a poll's start to a reading that shows it running past the stall threshold)
//! and the verdicts of the finished long polls (on/off CPU, the syscall).
//!
//! `cargo run --release -p tokmon-probe --features stack-capture --example monitor_cost
//! [SECONDS_PER_CASE [WORKERS [CASE]]]` (Linux; default 5 s, every case). It reports; it
//! asserts nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokmon_probe::clock::COARSE_TICK;
use tokmon_probe::monitor::{Monitor, MonitorOptions};
use tokmon_probe::sample::Reading;
use tokmon_probe::{Probe, task_id_u64};

/// The stall threshold of every run: the detection latency budget is this plus 5 ms at p99.
const STALL: Duration = Duration::from_millis(50);
/// How long each stuck poll lasts; the workers are stuck back to back for the whole case.
const STUCK_FOR: Duration = Duration::from_millis(300);
/// Time for the runtime and the monitor to settle before the measured window opens.
const WARMUP: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// No task at all.
    Idle,
    /// Four tasks per worker, each waking every 2 ms for a short poll.
    Healthy,
    /// Every worker in a poll that spins.
    Spin,
    /// Every worker in a poll that sleeps (`std::thread::sleep`).
    Sleep,
    /// Every worker in a poll waiting for a std mutex held elsewhere.
    Mutex,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Idle => "idle",
            Case::Healthy => "healthy",
            Case::Spin => "stuck-spin",
            Case::Sleep => "stuck-sleep",
            Case::Mutex => "stuck-mutex",
        }
    }

    fn stuck(self) -> bool {
        matches!(self, Case::Spin | Case::Sleep | Case::Mutex)
    }
}

/// One case's figures.
struct Outcome {
    monitor_share: Option<f64>,
    floor_share: Option<f64>,
    latencies_ms: Vec<f64>,
    /// The shortest and longest of the stuck polls as the probe measured them (each lasts
    /// `STUCK_FOR`): how far the coarse clock strayed at a poll's start and end.
    measured_ms: Option<(f64, f64)>,
    verdicts: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    // Optional filters, to profile one case: a worker count, a case name.
    let only_workers: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let only_case = args.get(3);
    let window = Duration::from_secs(seconds);
    println!(
        "monitor thread CPU, % of one core, over {seconds} s per case; floor: a bare thread \
         sleeping {COARSE_TICK:?} per loop; stall threshold {STALL:?}, budget p99 <= {} ms",
        STALL.as_millis() + 5
    );
    println!(
        "{:>7} {:>12} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>15}  verdicts",
        "workers",
        "case",
        "monitor%",
        "floor%",
        "ratio",
        "stalls",
        "p50 ms",
        "p99 ms",
        format!("{} ms as", STUCK_FOR.as_millis())
    );
    let all = [
        Case::Idle,
        Case::Healthy,
        Case::Spin,
        Case::Sleep,
        Case::Mutex,
    ];
    let workers = [2usize, 8].into_iter();
    for workers in workers.filter(|w| only_workers.is_none_or(|o| o == *w)) {
        for case in all
            .into_iter()
            .filter(|c| only_case.is_none_or(|o| o == c.name()))
        {
            let out = run_case(workers, case, window)?;
            let pct = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{:.2}", s * 100.0));
            let ratio = match (out.monitor_share, out.floor_share) {
                (Some(m), Some(f)) if f > 0.0 => format!("{:.2}", m / f),
                _ => "-".to_string(),
            };
            let mut lat = out.latencies_ms;
            lat.sort_by(f64::total_cmp);
            let at = |q: f64| {
                if lat.is_empty() {
                    return "-".to_string();
                }
                let i = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
                format!("{:.1}", lat[i])
            };
            let measured = out
                .measured_ms
                .map_or("-".to_string(), |(lo, hi)| format!("{lo:.1}..{hi:.1}"));
            println!(
                "{:>7} {:>12} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>15}  {}",
                workers,
                case.name(),
                pct(out.monitor_share),
                pct(out.floor_share),
                ratio,
                lat.len(),
                at(0.5),
                at(0.99),
                measured,
                out.verdicts
            );
        }
    }
    Ok(())
}

fn run_case(
    workers: usize,
    case: Case,
    window: Duration,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let probe = Probe::builder()
        .serve(false)
        .long_poll_threshold(STALL / 2)
        .stall_threshold(STALL)
        .build();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_time();
    let rt = probe.install(&mut builder).build()?;
    let options = MonitorOptions {
        interval: Duration::from_millis(100),
        stacks: true,
    };
    let monitor = Monitor::start(probe.clone(), rt.handle().clone(), options)?;
    // The thread names itself once it runs.
    let monitor_tid = (0..1000).find_map(|_| {
        tid_named("tokmon-probe").or_else(|| {
            std::thread::sleep(Duration::from_millis(1));
            None
        })
    });

    let stop = Arc::new(AtomicBool::new(false));
    let (floor_tx, floor_rx) = mpsc::channel();
    let floor = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let _ = floor_tx.send(gettid());
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(COARSE_TICK);
            }
        }
    });
    let floor_tid = floor_rx.recv()?;

    let starts: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let driver = std::thread::spawn({
        let stop = stop.clone();
        let starts = starts.clone();
        let handle = rt.handle().clone();
        move || drive(&handle, workers, case, &stop, &starts)
    });

    // The consumer: the first reading that shows a poll past the threshold detects it.
    let mut detected: HashMap<u64, Instant> = HashMap::new();
    let mut verdicts: HashMap<String, u32> = HashMap::new();
    let mut measured: Option<(f64, f64)> = None;
    let mut consume = |reading: &Reading, window_open: bool| {
        let Some(probe) = &reading.probe else { return };
        let now = Instant::now();
        for poll in &probe.in_flight {
            if poll.duration_ns >= STALL.as_nanos() as u64 {
                detected.entry(poll.task_id).or_insert(now);
            }
        }
        if window_open {
            for poll in &probe.long_polls {
                let key = format!(
                    "{:?}{}",
                    poll.cpu,
                    poll.syscall
                        .as_deref()
                        .map(|s| format!(" {s}"))
                        .unwrap_or_default()
                );
                *verdicts.entry(key).or_default() += 1;
                if poll.duration_ns >= STALL.as_nanos() as u64 {
                    let ms = poll.duration_ns as f64 / 1e6;
                    let (lo, hi) = measured.unwrap_or((ms, ms));
                    measured = Some((lo.min(ms), hi.max(ms)));
                }
            }
        }
    };
    let until = Instant::now() + WARMUP;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Ok(reading) = monitor.readings().recv_timeout(left) {
            consume(&reading, false);
        }
    }
    let opened = Instant::now();
    let (monitor_before, floor_before) = (cpu_ns(monitor_tid), cpu_ns(Some(floor_tid)));
    let until = opened + window;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Ok(reading) = monitor.readings().recv_timeout(left) {
            consume(&reading, true);
        }
    }
    let (monitor_after, floor_after) = (cpu_ns(monitor_tid), cpu_ns(Some(floor_tid)));
    let wall = opened.elapsed().as_nanos() as f64;
    stop.store(true, Ordering::Relaxed);
    let _ = driver.join();
    let _ = floor.join();
    monitor
        .finish(|reading| consume(&reading, true))
        .map_err(|e| e.to_string())?;
    rt.shutdown_timeout(Duration::from_secs(2));

    let share = |a: Option<u64>, b: Option<u64>| Some((b? - a?) as f64 / wall);
    let starts = starts.lock().map_err(|e| e.to_string())?;
    let latencies_ms = detected
        .iter()
        .filter_map(|(id, seen)| {
            let start = starts.get(id)?;
            // Only stalls begun inside the window.
            (*start >= opened && *start < until)
                .then(|| seen.duration_since(*start).as_secs_f64() * 1e3)
        })
        .collect();
    let mut verdicts: Vec<_> = verdicts.into_iter().collect();
    verdicts.sort_by_key(|v| std::cmp::Reverse(v.1));
    let verdicts = verdicts
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Outcome {
        monitor_share: share(monitor_before, monitor_after),
        floor_share: share(floor_before, floor_after),
        latencies_ms,
        measured_ms: measured,
        verdicts: if case.stuck() {
            verdicts
        } else {
            String::new()
        },
    })
}

/// Keeps the runtime in `case`'s state until `stop`.
fn drive(
    handle: &tokio::runtime::Handle,
    workers: usize,
    case: Case,
    stop: &AtomicBool,
    starts: &Mutex<HashMap<u64, Instant>>,
) {
    match case {
        Case::Idle => {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Case::Healthy => {
            let tasks: Vec<_> = (0..workers * 4)
                .map(|_| {
                    handle.spawn(async {
                        let mut sum = 0u64;
                        loop {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            for i in 0..1000u64 {
                                sum = std::hint::black_box(sum.wrapping_add(i));
                            }
                        }
                    })
                })
                .collect();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
            tasks.iter().for_each(tokio::task::JoinHandle::abort);
        }
        Case::Spin | Case::Sleep | Case::Mutex => {
            let lock = Arc::new(Mutex::new(()));
            while !stop.load(Ordering::Relaxed) {
                let held = (case == Case::Mutex).then(|| lock.lock());
                let (done_tx, done_rx) = mpsc::channel();
                for _ in 0..workers {
                    let done_tx = done_tx.clone();
                    let lock = lock.clone();
                    let record = |id: u64, at: Instant| {
                        if let Ok(mut starts) = starts.lock() {
                            starts.insert(id, at);
                        }
                    };
                    let (start_tx, start_rx) = mpsc::channel();
                    handle.spawn(async move {
                        let start = Instant::now();
                        let _ = start_tx.send((task_id_u64(tokio::task::id()), start));
                        match case {
                            Case::Spin => {
                                while start.elapsed() < STUCK_FOR {
                                    std::hint::spin_loop();
                                }
                            }
                            Case::Sleep => std::thread::sleep(STUCK_FOR),
                            _ => drop(lock.lock()),
                        }
                        let _ = done_tx.send(());
                    });
                    if let Ok((id, at)) = start_rx.recv_timeout(Duration::from_secs(5)) {
                        record(id, at);
                    }
                }
                drop(done_tx);
                if held.is_some() {
                    std::thread::sleep(STUCK_FOR);
                    drop(held);
                }
                // Every task done (or gone with the runtime).
                while done_rx.recv_timeout(Duration::from_secs(5)).is_ok() {}
            }
        }
    }
}

/// The kernel thread id of this process's thread named `name`.
fn tid_named(name: &str) -> Option<i32> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .find_map(|entry| {
            let entry = entry.ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (comm.trim() == name)
                .then(|| entry.file_name().to_str()?.parse().ok())
                .flatten()
        })
}

fn gettid() -> i32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// A thread's CPU time from its `schedstat`.
fn cpu_ns(tid: Option<i32>) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", tid?)).ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}
