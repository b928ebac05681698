//! mini-redis (the tokio project's Redis example server, as published, unchanged) on a runtime
//! with the tokmon probe, for `tokmon attach PID` to watch; with a mistake beside it on demand.
//!
//! ```text
//! cargo run --release --example redis_server -- [--port P] [--clients N] [--hold-ms MS]
//! ```
//!
//! `--clients N` starts N Redis clients (mini-redis's own client, on a runtime of their own, not
//! watched) that SET and GET in a loop, so there is traffic to see. `--hold-ms MS` adds the
//! mistake: a cache refresher task that, once a second, blocks its worker in
//! `std::thread::sleep` for MS milliseconds, as a blocking call hidden in async code would.

use std::io::Write;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::runtime::Builder;
use tokmon_probe::Probe;
use tokmon_probe::wire::Endpoint;

struct Options {
    port: u16,
    clients: usize,
    hold: Option<Duration>,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        port: 6379,
        clients: 0,
        hold: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => o.port = value()?.parse()?,
            "--clients" => o.clients = value()?.parse()?,
            "--hold-ms" => o.hold = Some(Duration::from_millis(value()?.parse()?)),
            other => anyhow::bail!("unknown argument {other}: see the file's first lines"),
        }
    }
    Ok(o)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    // In place of #[tokio::main]: the probe's hooks on the runtime, configured from TOKMON_PROBE_*.
    let probe = Probe::from_env();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()?;
    let listener = runtime.block_on(TcpListener::bind(("127.0.0.1", o.port)))?;
    let addr = listener.local_addr()?;
    println!("mini-redis listening on {addr}");
    match probe.wait_for_endpoint(Duration::from_secs(5)) {
        Some(Endpoint::Unix(path)) => println!("probe socket {}", path.display()),
        Some(Endpoint::Tcp(addr)) => println!("probe on {addr} (TCP)"),
        None => println!("probe not serving"),
    }
    std::io::stdout().flush()?;
    if let Some(hold) = o.hold {
        runtime.spawn(refresh_cache(hold));
    }
    for _ in 0..o.clients {
        std::thread::spawn(move || client(addr));
    }
    runtime
        .block_on(mini_redis::server::run(listener, tokio::signal::ctrl_c()))
        .map_err(|e| anyhow::anyhow!("mini-redis: {e}"))
}

/// The mistake: a blocking call in async code, holding a worker (and every connection queued
/// behind it) for `hold` once a second.
async fn refresh_cache(hold: Duration) {
    loop {
        std::thread::sleep(hold);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A Redis client that SETs and GETs until the server goes away.
fn client(addr: std::net::SocketAddr) {
    let Ok(runtime) = Builder::new_current_thread().enable_all().build() else {
        return;
    };
    runtime.block_on(async move {
        let Ok(mut client) = mini_redis::client::connect(addr).await else {
            return;
        };
        for n in 0u64.. {
            let set = client.set("counter", n.to_string().into()).await;
            if set.is_err() || client.get("counter").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}
