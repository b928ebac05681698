//! mini-redis (the tokio project's Redis example, unchanged) on a runtime with `tokmon-probe`:
//! the latency of real Redis GETs while the server is healthy, and while a task beside it
//! blocks a worker now and then, side by side.
//!
//! `cargo bench --bench real_server [-- --secs N --clients N --hold-ms N --every-ms N]` prints,
//! for each phase, the requests answered, their p50, p99 and max round trip, and how many took
//! 10 ms or more. It reports;
//! it asserts nothing. Defaults: 5 s a phase, 4 clients, a 200 ms hold every 1000 ms, 2 workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::runtime::Builder;
use tokmon_probe::Probe;

/// A GET this slow waited for something: the column of them says how many the mistake hit.
const SLOW: Duration = Duration::from_millis(10);

struct Options {
    secs: u64,
    clients: usize,
    hold: Duration,
    every: Duration,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: u64| -> anyhow::Result<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => {
                let text = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow::anyhow!("{name} needs a number"))?;
                text.parse()
                    .map_err(|e| anyhow::anyhow!("{name} {text}: {e}"))
            }
            None => Ok(default),
        }
    };
    Ok(Options {
        secs: value("--secs", 5)?,
        clients: usize::try_from(value("--clients", 4)?)?,
        hold: Duration::from_millis(value("--hold-ms", 200)?),
        every: Duration::from_millis(value("--every-ms", 1000)?),
    })
}

/// Round trips of GETs by `clients` connections for `secs`, each on its own thread.
fn measure(addr: std::net::SocketAddr, clients: usize, secs: u64) -> Vec<Duration> {
    let until = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let runtime = Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(async move {
                    let mut client = mini_redis::client::connect(addr)
                        .await
                        .map_err(|e| anyhow::anyhow!("connect: {e}"))?;
                    let mut times = Vec::new();
                    while Instant::now() < until {
                        let started = Instant::now();
                        client
                            .get("key")
                            .await
                            .map_err(|e| anyhow::anyhow!("GET: {e}"))?;
                        times.push(started.elapsed());
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Ok(times)
                })
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Ok(times)) => all.extend(times),
            Ok(Err(e)) => eprintln!("a client failed: {e}"),
            Err(_) => eprintln!("a client panicked"),
        }
    }
    all.sort();
    all
}

fn row(phase: &str, times: &[Duration]) {
    let at = |q: f64| -> f64 {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    let slow = times.iter().filter(|t| **t >= SLOW).count();
    println!(
        "{phase:<38} {:>8} {:>10.3} {:>10.3} {:>10.3} {:>10}",
        times.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        slow
    );
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let probe = Probe::builder().serve(false).build();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()?;
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    runtime.spawn(mini_redis::server::run(
        listener,
        std::future::pending::<()>(),
    ));
    println!(
        "mini-redis 0.4.1 with tokmon-probe, 2 workers, {} clients, {} s a phase",
        o.clients, o.secs
    );
    println!(
        "{:<38} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "phase", "GETs", "p50 ms", "p99 ms", "max ms", "≥ 10 ms"
    );
    row("healthy", &measure(addr, o.clients, o.secs));

    // The mistake beside the server: a task that blocks its worker in std::thread::sleep.
    let stop = Arc::new(AtomicBool::new(false));
    let blocking = stop.clone();
    let (hold, every) = (o.hold, o.every);
    runtime.spawn(async move {
        while !blocking.load(Ordering::Relaxed) {
            std::thread::sleep(hold);
            tokio::time::sleep(every.saturating_sub(hold)).await;
        }
    });
    let phase = format!(
        "a worker blocked {} ms every {} ms",
        hold.as_millis(),
        every.as_millis()
    );
    row(&phase, &measure(addr, o.clients, o.secs));
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(o.every);
    row("healthy again", &measure(addr, o.clients, o.secs));
    Ok(())
}
