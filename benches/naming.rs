//! Stack naming latency: from a stuck thread's captured stack to its blocking site, the way
//! tokmon names a stall's stack (`stack::symbolize`, then `stack::blocking_site`), for the
//! first stall (nothing read yet: the symbolizer loads then) and for later ones, with this
//! process's memory before and after.
//!
//! `cargo bench --bench naming [-- --rounds N]` prints the first stall's time, a second site's
//! first time (new code to parse), and p50 / max of N later stalls (default 50) against the
//! budgets (300 ms first, 10 ms later). It reports; it asserts nothing, so a noisy machine
//! cannot make it fail. It names stacks of its own binary, smaller than tokmon's: a first stall
//! in `tokmon run` costs more (one large unit holds all of tokmon's code).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokmon::stack::{self, RawStack};

const TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(50usize);
    if !stack::supported() {
        println!("stack naming: not supported on this platform");
        return Ok(());
    }
    stack::prepare().map_err(|err| anyhow::anyhow!("stack capture: {err}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let sleeper = stuck(&stop, naming_bench_sleep_in_a_task);
    let spinner = stuck(&stop, naming_bench_hash);
    println!("stack naming: captured stack -> blocking site, {rounds} later stalls");
    println!("RSS before the first stall: {}", rss());

    let first = name(sleeper)?;
    let second = name(spinner)?;
    let mut later = Vec::new();
    for round in 0..rounds {
        let target = if round % 2 == 0 { sleeper } else { spinner };
        later.push(name(target)?.0);
    }
    stop.store(true, Ordering::Relaxed);
    later.sort_by(f64::total_cmp);
    let p50 = later.get(later.len() / 2).copied().unwrap_or(0.0);
    let max = later.last().copied().unwrap_or(0.0);
    println!("{:<36} {:>9} {:>9}  site", "", "ms", "budget");
    println!(
        "{:<36} {:>9.1} {:>9}  {}",
        "first stall (sleep in a tokio task)", first.0, 300, first.1
    );
    println!(
        "{:<36} {:>9.1} {:>9}  {}",
        "first stall at a 2nd site (sha2)", second.0, 300, second.1
    );
    println!("{:<36} {:>9.1} {:>9}", "later stalls, p50", p50, 10);
    println!("{:<36} {:>9.1} {:>9}", "later stalls, max", max, 10);
    println!("RSS after: {}", rss());
    Ok(())
}

/// Captures `tid`'s stack and names it: the milliseconds from the captured stack to its
/// blocking site, and the site.
fn name(tid: i32) -> anyhow::Result<(f64, String)> {
    let raw: RawStack = stack::capture(tid, None, TIMEOUT)
        .map_err(|err| anyhow::anyhow!("capturing thread {tid}: {err}"))?;
    let start = Instant::now();
    let frames = stack::symbolize(&raw);
    let site = stack::blocking_site(&frames).and_then(stack::Frame::site);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    Ok((ms, site.unwrap_or_else(|| "(none)".to_string())))
}

/// A thread stuck in `work` until `stop`; its kernel thread id.
fn stuck(stop: &Arc<AtomicBool>, work: fn(&AtomicBool)) -> i32 {
    let tid = Arc::new(AtomicI32::new(0));
    let (stop, seen) = (Arc::clone(stop), Arc::clone(&tid));
    thread::spawn(move || {
        seen.store(
            rustix::thread::gettid().as_raw_nonzero().get(),
            Ordering::Release,
        );
        work(&stop);
    });
    loop {
        let tid = tid.load(Ordering::Acquire);
        if tid != 0 {
            return tid;
        }
        thread::yield_now();
    }
}

/// Blocks a Tokio worker in `std::thread::sleep`: the stack runs through tokio's runtime.
fn naming_bench_sleep_in_a_task(stop: &AtomicBool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async {
        while !stop.load(Ordering::Relaxed) {
            naming_bench_sleep();
            tokio::task::yield_now().await;
        }
    });
}

#[inline(never)]
fn naming_bench_sleep() {
    thread::sleep(Duration::from_millis(20));
}

/// Hashes on and on, as the `hash-on-worker` scenario does: the stack runs through sha2.
#[inline(never)]
fn naming_bench_hash(stop: &AtomicBool) {
    let block = vec![7u8; 1 << 20];
    while !stop.load(Ordering::Relaxed) {
        let mut hasher = Sha256::new();
        hasher.update(&block);
        black_box(hasher.finalize());
    }
}

/// `VmRSS (anon + file)` of this process.
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    format!(
        "{:.1} MB (anon {:.1}, file {:.1})",
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:")
    )
}
