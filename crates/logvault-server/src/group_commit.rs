//! Group commit for ingest: concurrent uploads share transactions, so durability (one fsync per commit) does not
//! cost throughput.
//!
//! Handlers hand verified blocks to one writer task and await its answer. The writer takes whatever has queued up
//! while the previous commit was being made — one block when uploads are rare (no added latency), many under load —
//! and keeps them in one transaction with a savepoint per block (`Store::store_blocks`). Every handler answers only
//! after the commit that holds its block.
//!
//! SQLite only: it has one writer at a time, so each block's own transaction would queue for the lock and pay its
//! own fsync. PostgreSQL keeps one transaction per block on its connection pool — blocks of different devices go in
//! parallel, and PostgreSQL already flushes the WAL of concurrent commits together — which measured several times
//! faster than funnelling them through one writer (docs/PERFORMANCE.md).

use std::sync::Arc;

use logvault_store::{Engine, IncomingBlock, IngestOutcome, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// Most blocks in one transaction.
pub const MAX_BLOCKS_PER_COMMIT: usize = 64;

type Reply = oneshot::Sender<Result<IngestOutcome, ApiError>>;

/// The handle handlers use; cheap to clone.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    /// The SQLite writer's queue; `None` on PostgreSQL.
    queue: Option<mpsc::Sender<(IncomingBlock, Reply)>>,
    store: Arc<dyn Store>,
}

impl GroupCommit {
    /// Starts the writer task on `store`. It ends when the last handle is dropped.
    pub fn spawn(store: Arc<dyn Store>) -> GroupCommit {
        if store.engine() == Engine::Postgres {
            return GroupCommit { queue: None, store };
        }
        let writer = Arc::clone(&store);
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
                            let _ = reply.send(result.map_err(ApiError::from));
                        }
                    }
                    Err(err) => {
                        let cause = format!("{err:#}");
                        for reply in replies {
                            let failed = ApiError::Internal(anyhow::anyhow!("group commit failed: {cause}"));
                            let _ = reply.send(Err(failed));
                        }
                    }
                }
            }
        });
        GroupCommit { queue: Some(queue), store }
    }

    /// Keeps `block` and returns once the transaction holding it is committed.
    pub async fn keep(&self, block: IncomingBlock) -> Result<IngestOutcome, ApiError> {
        let Some(queue) = &self.queue else { return Ok(self.store.store_block(block).await?) };
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::Internal(anyhow::anyhow!("the ingest writer has stopped"));
        queue.send((block, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
