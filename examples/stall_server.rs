//! A small TCP line server with the tokmon probe installed, for `tokmon attach PID` to watch.
//!
//! ```text
//! cargo run --example stall_server [PORT]
//! ```
//!
//! Requests, one a line: `echo TEXT` answers TEXT; `hash MS` hashes on the async worker for
//! about MS milliseconds (a stall on the CPU) and answers `hashed`; `sleep MS` blocks the worker
//! in `std::thread::sleep` (a stall off the CPU) and answers `slept`.

use std::io::Write;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokmon_probe::Probe;
use tokmon_probe::wire::Endpoint;

fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(port) => port.parse()?,
        None => 0,
    };
    // In place of #[tokio::main]: the probe's hooks on the runtime, configured from TOKMON_PROBE_*.
    let probe = Probe::from_env();
    let runtime = probe
        .install(Builder::new_multi_thread().worker_threads(2).enable_all())
        .build()?;
    let listener = runtime.block_on(TcpListener::bind(("127.0.0.1", port)))?;
    println!("listening on {}", listener.local_addr()?);
    match probe.wait_for_endpoint(Duration::from_secs(5)) {
        Some(Endpoint::Unix(path)) => println!("probe socket {}", path.display()),
        Some(Endpoint::Tcp(addr)) => println!("probe on {addr} (TCP)"),
        None => println!("probe not serving"),
    }
    std::io::stdout().flush()?;
    runtime.block_on(async {
        loop {
            tokio::select! {
                accepted = listener.accept() => spawn_connection(accepted?.0),
                // Returning drops the runtime, and with it the probe's socket.
                stop = tokio::signal::ctrl_c() => return Ok(stop?),
            }
        }
    })
}

/// Each connection is a task of its own, spawned here: the spawn site tokmon names.
fn spawn_connection(stream: TcpStream) {
    tokio::spawn(async move {
        if let Err(e) = serve_connection(stream).await {
            eprintln!("connection: {e}");
        }
    });
}

async fn serve_connection(stream: TcpStream) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let mut reply = answer(&line);
        reply.push('\n');
        writer.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// The reply to one request, computed right in the task's poll: `hash` and `sleep` block the
/// worker that runs it.
fn answer(line: &str) -> String {
    let (verb, arg) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
    let millis = || arg.trim().parse().map(Duration::from_millis);
    match (verb, millis()) {
        ("echo", _) => arg.to_owned(),
        ("hash", Ok(time)) => {
            std::hint::black_box(hash_for(time));
            "hashed".to_owned()
        }
        ("sleep", Ok(time)) => {
            std::thread::sleep(time);
            "slept".to_owned()
        }
        _ => "unknown request; try echo TEXT, hash MS or sleep MS".to_owned(),
    }
}

/// Hashes its own digest over and over for about `time`, on the CPU.
fn hash_for(time: Duration) -> [u8; 32] {
    let start = Instant::now();
    let mut digest = [0u8; 32];
    while start.elapsed() < time {
        for _ in 0..1000 {
            digest = Sha256::digest(digest).into();
        }
    }
    digest
}
