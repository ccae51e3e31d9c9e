//! Group commit for ingest: concurrent uploads share transactions, so durability (one fsync per commit) does not
//! cost throughput.
//!
//! Handlers hand verified blocks to one writer task and await its answer. The writer takes whatever has queued up
//! while the previous commit was being made — one block when uploads are rare (no added latency), many under load —
//! and keeps them in one transaction with a savepoint per block (`Store::store_blocks`). Every handler answers only
//! after the commit that holds its block. Blocks are kept in device order, so two instances' batches lock devices in
//! the same order on PostgreSQL and cannot deadlock each other.

use std::sync::Arc;

use logvault_store::{IncomingBlock, IngestOutcome, Store};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// Most blocks in one transaction.
pub const MAX_BLOCKS_PER_COMMIT: usize = 64;

type Reply = oneshot::Sender<Result<IngestOutcome, ApiError>>;

/// The handle handlers use; cheap to clone.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<(IncomingBlock, Reply)>,
}

impl GroupCommit {
    /// Starts the writer task on `store`. It ends when the last handle is dropped.
    pub fn spawn(store: Arc<dyn Store>) -> GroupCommit {
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
                // Stable: blocks of one device keep their arrival order.
                jobs.sort_by_key(|(block, _)| block.device_id);
                let (blocks, replies): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
                match store.store_blocks(blocks).await {
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
        GroupCommit { queue }
    }

    /// Keeps `block` and returns once the transaction holding it is committed.
    pub async fn keep(&self, block: IncomingBlock) -> Result<IngestOutcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::Internal(anyhow::anyhow!("the ingest writer has stopped"));
        self.queue.send((block, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
