//! `fs`: loops that write a file, fsync it and read it back, in a temporary directory, with
//! `std::fs` inside async code (the mistake) or `tokio::fs`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{LoopSpawner, TaskContext};
use crate::scenario::{FsMode, FsSpec};

/// Bytes written or read per call: a job of `size` bytes is many calls of this size.
const CHUNK: usize = 256 * 1024;

/// Starts fs loops `from..to` on demand, each with its own file in `dir`.
pub(super) fn spawner(
    handle: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<FsSpec>,
    dir: PathBuf,
) -> LoopSpawner {
    let handle = handle.clone();
    Box::new(move |from, to| {
        for index in from..to {
            let task_ctx = ctx.clone();
            let path = dir.join(format!("{}-{index}", task_ctx.label));
            ctx.spawn(&handle, fs_loop(index, task_ctx, settings.clone(), path));
        }
    })
}

async fn fs_loop(
    index: u32,
    mut ctx: TaskContext,
    mut settings: watch::Receiver<FsSpec>,
    path: PathBuf,
) {
    let chunk = vec![0xA5u8; CHUNK];
    loop {
        ctx.unpaused().await;
        ctx.active(&mut settings, index, |s| s.tasks).await;
        let spec = *settings.borrow();
        let started = Instant::now();
        let done = match spec.mode {
            // The mistake: every call blocks the worker thread in the kernel.
            FsMode::Blocking => write_and_read_blocking(&path, &chunk, spec.size),
            FsMode::Async => write_and_read_async(&path, &chunk, spec.size).await,
        };
        match done {
            Ok(()) => ctx.stats.op_done(started.elapsed(), 2 * spec.size),
            Err(_) => ctx.stats.error(),
        }
        if ctx.stopping() {
            return;
        }
        if !spec.every.is_zero() {
            tokio::time::sleep(spec.every).await;
        }
    }
}

fn write_and_read_blocking(path: &Path, chunk: &[u8], size: u64) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; chunk.len()];
    while file.read(&mut buffer)? > 0 {}
    Ok(())
}

async fn write_and_read_async(path: &Path, chunk: &[u8], size: u64) -> std::io::Result<()> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
        file.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    file.sync_all().await?;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buffer = vec![0u8; chunk.len()];
    while file.read(&mut buffer).await? > 0 {}
    Ok(())
}
