//! Group commit of the SQLite engine: concurrent `IngestStore::store_block` calls share transactions, so
//! durability (one fsync per commit) does not cost throughput.
//!
//! Callers hand blocks to one writer task and await its answer. The writer takes whatever has queued up while the
//! previous commit was being made — one block when uploads are rare (no added latency), many under load — and keeps
//! them in one transaction with a savepoint per block (`IngestStore::store_blocks`). Every caller is answered only
//! after the commit that holds its block.
//!
//! SQLite only: it has one writer at a time, so each block's own transaction would queue for the lock and pay its
//! own fsync. PostgreSQL keeps one transaction per block on its connection pool — blocks of different devices go in
//! parallel, and PostgreSQL already flushes the WAL of concurrent commits together — which measured several times
//! faster than funnelling them through one writer (docs/PERFORMANCE.md). Living here, the choice is the engine's
//! own: no caller asks which engine it has.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use crate::sqlite::SqliteStore;
use crate::{IncomingBlock, IngestOutcome, IngestStore, StoreError};

/// Most blocks in one transaction.
pub const MAX_BLOCKS_PER_COMMIT: usize = 64;

type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

/// The queue to the writer task, started by the first block (so it runs on the caller's runtime). The task ends when
/// the last clone of the store that owns this is dropped.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    queue: OnceLock<mpsc::Sender<(IncomingBlock, Reply)>>,
}

impl GroupCommit {
    /// Keeps `block` and returns once the transaction holding it is committed. `writer` makes the store the writer
    /// task keeps blocks with, if this is the first block.
    pub(crate) async fn keep(
        &self,
        writer: impl FnOnce() -> SqliteStore,
        block: IncomingBlock,
    ) -> Result<IngestOutcome, StoreError> {
        let queue = self.queue.get_or_init(|| spawn_writer(writer()));
        let (reply, answer) = oneshot::channel();
        queue.send((block, reply)).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// Starts the writer task on `writer`, a store whose own group commit is never used (so the task holds no sender of
/// its own queue and ends with its last caller).
fn spawn_writer(writer: SqliteStore) -> mpsc::Sender<(IncomingBlock, Reply)> {
    let (queue, mut incoming) = mpsc::channel::<(IncomingBlock, Reply)>(4 * MAX_BLOCKS_PER_COMMIT);
    tokio::spawn(async move {
        while let Some(first) = incoming.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BLOCKS_PER_COMMIT {
                match incoming.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let (blocks, replies): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
            match writer.store_blocks(blocks).await {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                }
                Err(err) => {
                    let cause = Arc::new(err);
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::GroupCommit(Arc::clone(&cause))));
                    }
                }
            }
        }
    });
    queue
}
