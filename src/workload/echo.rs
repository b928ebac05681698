//! `echo`: a TCP echo server on the measured runtime, and an open-loop load generator on its
//! own runtime that measures the server from outside.
//!
//! The client never waits for a response before sending the next request, and a request sent
//! late counts its latency from the moment it was due, so a stalled server cannot hide its
//! delay by slowing the client (no coordinated omission).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use super::TaskContext;
use crate::scenario::EchoSpec;

/// A request sent this late or less counts from when it was sent: the load generator's own
/// timer fires up to a millisecond late, and that is not the server's delay. Sent later than
/// this (the client was held up), it counts from when it was due.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Pause before a client reconnects after an error.
const RECONNECT_DELAY: Duration = Duration::from_millis(100);

pub(super) fn start(
    measured: &Handle,
    load_generator: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<EchoSpec>,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let listener = {
        let _guard = measured.enter();
        TcpListener::from_std(listener)?
    };
    let server_ctx = ctx.clone();
    ctx.spawn(measured, serve(listener, server_ctx, measured.clone()));

    let connections = settings.borrow().connections;
    for index in 0..connections {
        let client = client(addr, index, ctx.clone(), settings.clone());
        drop(load_generator.spawn(client));
    }
    Ok(())
}

async fn serve(listener: TcpListener, ctx: TaskContext, handle: Handle) {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                let _ = socket.set_nodelay(true);
                ctx.spawn(&handle, echo_connection(socket));
            }
            Err(_) => tokio::time::sleep(RECONNECT_DELAY).await,
        }
    }
}

async fn echo_connection(mut socket: TcpStream) {
    let (mut reader, mut writer) = socket.split();
    let _ = tokio::io::copy(&mut reader, &mut writer).await;
}

/// One client connection: a writer that sends on schedule and a reader that matches responses
/// to the times their requests were due, in order.
async fn client(
    addr: SocketAddr,
    index: u32,
    mut ctx: TaskContext,
    settings: watch::Receiver<EchoSpec>,
) {
    loop {
        ctx.unpaused().await;
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(_) => {
                ctx.stats.error();
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let (due_tx, due_rx) = mpsc::unbounded_channel();
        let reading = tokio::spawn(read_responses(
            reader,
            due_rx,
            ctx.clone(),
            settings.clone(),
        ));
        let _ = write_requests(writer, due_tx, index, &mut ctx, &settings).await;
        reading.abort();
        ctx.stats.error();
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn write_requests(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    due_tx: mpsc::UnboundedSender<(Instant, usize)>,
    index: u32,
    ctx: &mut TaskContext,
    settings: &watch::Receiver<EchoSpec>,
) -> std::io::Result<()> {
    let first = *settings.borrow();
    let payload = vec![b'x'; 1 << 20];
    // Spread the connections' send times over one period so they do not fire in lockstep.
    let mut due = Instant::now()
        + period(&first).mul_f64(f64::from(index) / f64::from(first.connections.max(1)));
    loop {
        if *ctx.paused.borrow() {
            ctx.unpaused().await;
            due = Instant::now();
        }
        let spec = *settings.borrow();
        tokio::time::sleep_until(due.into()).await;
        let size = usize::try_from(spec.payload)
            .unwrap_or(usize::MAX)
            .min(payload.len());
        let now = Instant::now();
        let counted_from = if now.duration_since(due) <= TIMER_SLACK {
            now
        } else {
            due
        };
        if due_tx.send((counted_from, size)).is_err() {
            return Ok(());
        }
        writer.write_all(&payload[..size]).await?;
        due += period(&spec);
    }
}

/// Time between two requests on one connection.
fn period(spec: &EchoSpec) -> Duration {
    Duration::from_secs_f64(f64::from(spec.connections.max(1)) / f64::from(spec.rate.max(1)))
}

async fn read_responses(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut due_rx: mpsc::UnboundedReceiver<(Instant, usize)>,
    ctx: TaskContext,
    settings: watch::Receiver<EchoSpec>,
) {
    let mut buffer = vec![0u8; 1 << 20];
    while let Some((due, size)) = due_rx.recv().await {
        if reader.read_exact(&mut buffer[..size]).await.is_err() {
            return;
        }
        let latency = due.elapsed();
        ctx.stats.op_done(latency, size as u64);
        if latency > settings.borrow().timeout {
            ctx.stats.timeout();
        }
    }
}
