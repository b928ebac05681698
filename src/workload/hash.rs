//! `hash`: sha2-256 over `size` bytes per job, placed on a worker, the blocking pool,
//! `block_in_place`, or in chunks with `yield_now`.

use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{LoopSpawner, TaskContext};
use crate::scenario::{HashSpec, Placement};

/// The buffer each job hashes over and over until it has hashed `size` bytes: big enough to
/// amortise the call, small enough to stay in cache.
const BUFFER_LEN: usize = 1 << 20;

/// Starts hash loops `from..to` on demand.
pub(super) fn spawner(
    handle: &Handle,
    ctx: TaskContext,
    settings: watch::Receiver<HashSpec>,
) -> LoopSpawner {
    let buffer: Arc<[u8]> = (0..BUFFER_LEN).map(|i| (i % 251) as u8).collect();
    let handle = handle.clone();
    Box::new(move |from, to| {
        for index in from..to {
            let task_ctx = ctx.clone();
            ctx.spawn(
                &handle,
                hash_loop(index, task_ctx, settings.clone(), buffer.clone()),
            );
        }
    })
}

async fn hash_loop(
    index: u32,
    mut ctx: TaskContext,
    mut settings: watch::Receiver<HashSpec>,
    buffer: Arc<[u8]>,
) {
    loop {
        ctx.unpaused().await;
        ctx.active(&mut settings, index, |s| s.tasks).await;
        let spec = *settings.borrow();
        let started = Instant::now();
        let digest = match spec.placement {
            // The mistake: the worker thread is held for the whole job.
            Placement::Worker => hash_bytes(&buffer, spec.size),
            Placement::SpawnBlocking => {
                let buffer = buffer.clone();
                match tokio::task::spawn_blocking(move || hash_bytes(&buffer, spec.size)).await {
                    Ok(digest) => digest,
                    Err(_) => {
                        ctx.stats.error();
                        continue;
                    }
                }
            }
            Placement::BlockInPlace => {
                tokio::task::block_in_place(|| hash_bytes(&buffer, spec.size))
            }
            Placement::Yield => hash_yielding(&buffer, spec.size, spec.chunk).await,
        };
        std::hint::black_box(digest);
        ctx.stats.op_done(started.elapsed(), spec.size);
        if ctx.stopping() {
            return;
        }
        if !spec.every.is_zero() {
            tokio::time::sleep(spec.every).await;
        }
    }
}

/// sha2-256 of `size` bytes made of `buffer` repeated.
pub(crate) fn hash_bytes(buffer: &[u8], size: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    feed(&mut hasher, buffer, 0, size);
    hasher.finalize().into()
}

/// The same digest, hashed `chunk` bytes at a time with a `yield_now` between chunks.
async fn hash_yielding(buffer: &[u8], size: u64, chunk: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut left = size;
    let mut offset = 0;
    while left > 0 {
        let this = left.min(chunk.max(1));
        offset = feed(&mut hasher, buffer, offset, this);
        left -= this;
        tokio::task::yield_now().await;
    }
    hasher.finalize().into()
}

/// Feeds `size` bytes of the endless repetition of `buffer`, starting at `offset` into it;
/// returns the offset to continue from.
fn feed(hasher: &mut Sha256, buffer: &[u8], mut offset: usize, size: u64) -> usize {
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(buffer.len() - offset);
        hasher.update(&buffer[offset..offset + n]);
        left -= n as u64;
        offset = (offset + n) % buffer.len();
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunked_and_whole_digests_agree() {
        let buffer: Vec<u8> = (0..BUFFER_LEN).map(|i| (i % 251) as u8).collect();
        let size = 3 * BUFFER_LEN as u64 + 12345;
        assert_eq!(
            hash_bytes(&buffer, size),
            hash_yielding(&buffer, size, 100_000).await
        );
        assert_ne!(hash_bytes(&buffer, size), hash_bytes(&buffer, size - 1));
    }
}
