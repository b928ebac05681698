//! The workloads: what runs on the measured runtime, and how much of it in each mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio_metrics::TaskMonitor;

use crate::harness::{Mode, WORKERS};

/// A workload's or a variant's run size in each mode.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Sized so that a bare run lasts roughly 0.5-1 s on a 2-core machine.
    full: u64,
    /// About a tenth of a second.
    quick: u64,
    /// `cargo test`: unoptimized, once; only that it runs matters.
    test: u64,
}

impl Sizes {
    pub const fn new(full: u64, quick: u64, test: u64) -> Sizes {
        Sizes { full, quick, test }
    }

    pub fn get(&self, mode: Mode) -> u64 {
        match mode {
            Mode::Full => self.full,
            Mode::Quick => self.quick,
            Mode::Test => self.test,
        }
    }
}

/// One workload: `run` does `size` units of work on the runtime and times itself (runtime
/// start-up and shutdown are not timed).
pub struct Workload {
    pub name: &'static str,
    /// What the throughput counts, per second.
    pub unit: &'static str,
    /// Runs unless workloads are named on the command line.
    pub default: bool,
    pub sizes: Sizes,
    pub run: fn(&Runtime, u64) -> Result<Measured>,
}

pub struct Measured {
    pub units: u64,
    pub elapsed: Duration,
}

/// `yield-taskmonitor` is not in the default set: it measures what tokmon's demo workloads cost
/// themselves, which no variant changes, and six variants of it would add a slow workload's runs
/// for no new fact; name it to run it.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "yield",
        unit: "polls/s",
        default: true,
        sizes: Sizes::new(22_000_000, 3_000_000, 200_000),
        run: |rt, size| yield_storm(rt, size, None),
    },
    Workload {
        name: "yield-taskmonitor",
        unit: "polls/s",
        default: false,
        sizes: Sizes::new(6_000_000, 1_000_000, 100_000),
        run: |rt, size| yield_storm(rt, size, Some(TaskMonitor::new())),
    },
    Workload {
        name: "spawn",
        unit: "tasks/s",
        default: true,
        sizes: Sizes::new(3_600_000, 500_000, 50_000),
        run: spawn_storm,
    },
    Workload {
        name: "echo",
        unit: "round trips/s",
        default: true,
        sizes: Sizes::new(100_000, 15_000, 2_000),
        run: echo,
    },
];

/// Tasks of the yield storm.
const YIELD_TASKS: u64 = 1000;

/// `YIELD_TASKS` tasks that each yield `size / YIELD_TASKS` times: nothing but polls. Units:
/// yields (each one poll). With a `monitor`, every task is wrapped in that one tokio-metrics
/// `TaskMonitor`, as tokmon wraps each workload's tasks for their scheduling delay: its `bare`
/// median against the plain yield storm's is what the monitor costs per poll.
fn yield_storm(rt: &Runtime, size: u64, monitor: Option<TaskMonitor>) -> Result<Measured> {
    let per_task = (size / YIELD_TASKS).max(1);
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                let task = async move {
                    for _ in 0..per_task {
                        tokio::task::yield_now().await;
                    }
                };
                match &monitor {
                    Some(monitor) => tokio::spawn(monitor.instrument(task)),
                    None => tokio::spawn(task),
                }
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
