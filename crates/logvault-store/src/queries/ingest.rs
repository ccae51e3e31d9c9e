//! Ingest: keeping blocks (chain, dedupe, measurements, rollups) and reading the chain back for verification.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Ingest: keeping blocks (chain, dedupe, measurements, rollups) and reading the chain back for verification.
#[async_trait::async_trait]
pub trait IngestStore: Send + Sync {
    /// The device with this serial and its sealed keys; `None` for an unknown serial.
    async fn ingest_device(&self, serial: &str) -> Result<Option<IngestDevice>, StoreError>;

    /// Keeps a block, serialised per device: the raw block as a new link of the device's chain, and each of its
    /// samples not already stored. An identical block, a reused counter and a changed channel layout change nothing
    /// (see [`IngestOutcome`]). Durable when it returns. How it commits is the engine's choice: SQLite shares one
    /// commit among the blocks that queue up meanwhile (group commit, each block under its own savepoint, so one
    /// block's failure is its own); PostgreSQL gives each block its own transaction.
    async fn store_block(&self, block: IncomingBlock) -> Result<IngestOutcome, StoreError>;

    /// Keeps several blocks in one transaction — one commit, one fsync — each under its own savepoint, so one block's
    /// failure undoes that block only (its error is in its place in the result). Group commit of concurrent uploads.
    async fn store_blocks(
        &self,
        blocks: Vec<IncomingBlock>,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError>;

    /// Whether the device keeps exactly these bytes as its block under `counter` (a kept block sent again). Found by
    /// the block's identity, one index lookup, without reading the chain.
    async fn block_is_kept(&self, device_id: i64, counter: i64, raw: &[u8]) -> Result<bool, StoreError>;

    /// A device's retained chain, in order, with its head and (after a purge) its anchor, for verification
    /// (operator only: no scope).
    async fn device_chain(&self, device_id: i64) -> Result<DeviceChain, StoreError>;

    /// Every measurement row of a device with the chain position of its block, ordered by time, ordinal and
    /// channel, for verification (operator only: no scope).
    async fn device_measurements(&self, device_id: i64) -> Result<Vec<ingest::KeptRow>, StoreError>;

    /// The chain head of one of the scope's devices and how many of its blocks carry samples in `[from_s, to_s)`.
    async fn chain_summary(
        &self,
        scope: &OrgScope,
        device_id: i64,
        from_s: i64,
        to_s: i64,
    ) -> Result<ChainSummary, StoreError>;
}

/// Implements [`IngestStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! ingest_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::ingest::IngestStore for $S {
            async fn ingest_device(&self, serial: &str) -> Result<Option<IngestDevice>, StoreError> {
                let Some(row) = sqlx::query(
                    "SELECT d.id, d.org_id, d.serial, d.model, k.wrapped FROM devices d \
                     LEFT JOIN org_data_keys k ON k.org_id = d.org_id WHERE d.serial = $1",
                )
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let device_id: i64 = row.try_get("id")?;
                let keys =
                    sqlx::query("SELECT generation, key_sealed FROM device_keys WHERE device_id = $1 ORDER BY generation")
                        .bind(device_id)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|row| sealed_key(row.try_get("generation")?, row.try_get("key_sealed")?))
                        .collect::<Result<Vec<_>, StoreError>>()?;
                Ok(Some(IngestDevice {
                    device_id,
                    org_id: row.try_get("org_id")?,
                    serial: row.try_get("serial")?,
                    model: row.try_get("model")?,
                    wrapped_data_key: row.try_get("wrapped")?,
                    keys,
                }))
            }

            async fn store_block(&self, block: IncomingBlock) -> Result<IngestOutcome, StoreError> {
                self.commit_block(block).await
            }

            async fn store_blocks(
                &self,
                blocks: Vec<IncomingBlock>,
            ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut results = Vec::with_capacity(blocks.len());
                for block in &blocks {
                    // A savepoint per block: one block's failure undoes that block only.
                    let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
                    match keep_block(&mut savepoint, block).await {
                        Ok(outcome) => {
                            savepoint.commit().await?;
                            results.push(Ok(outcome));
                        }
                        Err(err) => {
                            savepoint.rollback().await?;
                            results.push(Err(err));
                        }
                    }
                }
                tx.commit().await?;
                Ok(results)
            }

            async fn block_is_kept(&self, device_id: i64, counter: i64, raw: &[u8]) -> Result<bool, StoreError> {
                let kept: Option<Vec<u8>> = sqlx::query_scalar(ingest::KEPT_BLOCK_SQL)
                    .bind(device_id)
                    .bind(counter)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(kept.is_some_and(|kept| kept == raw))
            }

            async fn device_chain(&self, device_id: i64) -> Result<DeviceChain, StoreError> {
                // One read snapshot, so a purge cannot move the anchor between reading it and the blocks.
                let mut tx = self.begin_snapshot().await?;
                let rows = sqlx::query(
                    "SELECT d.serial, b.seq, b.counter, b.key_generation, b.received_at_us, b.source, b.raw, b.prev_hash, \
                     b.block_hash FROM blocks b JOIN devices d ON d.id = b.device_id WHERE b.device_id = $1 ORDER BY b.id",
                )
                .bind(device_id)
                .fetch_all(&mut *tx)
                .await?;
                let blocks = rows.iter().map(chained_block_from_row).collect::<Result<Vec<_>, _>>()?;
                let head = sqlx::query("SELECT seq, block_hash FROM device_chain_heads WHERE device_id = $1")
                    .bind(device_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let head = match head {
                    Some(row) => Some((row.try_get::<i64, _>("seq")?, hash32(row.try_get("block_hash")?)?)),
                    None => None,
                };
                let anchor =
                    sqlx::query("SELECT seq, prev_hash, purged_through_s FROM device_chain_anchors WHERE device_id = $1")
                        .bind(device_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let anchor = match anchor {
                    Some(row) => Some(ChainAnchor {
                        seq: row.try_get("seq")?,
                        prev_hash: hash32(row.try_get("prev_hash")?)?,
                        purged_through_s: row.try_get("purged_through_s")?,
                    }),
                    None => None,
                };
                tx.commit().await?;
                Ok(DeviceChain { blocks, head, anchor })
            }

            async fn device_measurements(&self, device_id: i64) -> Result<Vec<ingest::KeptRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT b.seq, m.t_s, m.ordinal, m.channel, m.value FROM measurements m JOIN blocks b ON b.id = m.block_id \
                     WHERE m.device_id = $1 ORDER BY m.t_s, m.ordinal, m.channel",
                )
                .bind(device_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(ingest::KeptRow {
                            seq: row.try_get("seq")?,
                            t_s: row.try_get("t_s")?,
                            ordinal: row.try_get("ordinal")?,
                            channel: row.try_get("channel")?,
                            value: row.try_get("value")?,
                        })
                    })
                    .collect()
            }

            async fn chain_summary(
                &self,
                scope: &OrgScope,
                device_id: i64,
                from_s: i64,
                to_s: i64,
            ) -> Result<ChainSummary, StoreError> {
                let row = sqlx::query(
                    "SELECT h.seq, h.block_hash, (SELECT COUNT(*) FROM blocks b WHERE b.device_id = d.id \
                     AND b.first_sample_s < $1 AND b.last_sample_s >= $2) AS n_blocks \
                     FROM devices d LEFT JOIN device_chain_heads h ON h.device_id = d.id \
                     WHERE d.id = $3 AND d.org_id = $4 AND ($5 IS NULL OR d.site_id = $6)",
                )
                .bind(to_s)
                .bind(from_s)
                .bind(device_id)
                .bind_scope(scope)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("device", err))?;
                let seq: Option<i64> = row.try_get("seq")?;
                let hash: Option<Vec<u8>> = row.try_get("block_hash")?;
                let head = match (seq, hash) {
                    (Some(seq), Some(hash)) => Some((seq, hash32(hash)?)),
                    _ => None,
                };
                Ok(ChainSummary { head, n_blocks_in_period: row.try_get("n_blocks")? })
            }
        }

        /// Keeps one block on `conn`, inside the caller's transaction (see [`Store::store_block`]).
        async fn keep_block(conn: &mut <$DB as sqlx::Database>::Connection, block: &IncomingBlock) -> Result<IngestOutcome, StoreError> {
            <$S>::lock(&mut *conn, Lock::Device(block.device_id)).await?;
            let counter_taken: Option<Vec<u8>> =
                sqlx::query_scalar(ingest::KEPT_BLOCK_SQL)
                    .bind(block.device_id)
                    .bind(block.counter)
                    .fetch_optional(&mut *conn)
                    .await?;
            if let Some(raw) = counter_taken {
                return Ok(ingest::repeated(&raw, block));
            }
            // The nearest kept blocks with samples on either side of the counter (see `ingest::counter_plausible`).
            let (lower_last, higher_last): (Option<i64>, Option<i64>) = sqlx::query_as(
                "SELECT (SELECT last_sample_s FROM blocks WHERE device_id = $1 AND counter < $2 \
                 AND last_sample_s IS NOT NULL ORDER BY counter DESC LIMIT 1), \
                 (SELECT last_sample_s FROM blocks WHERE device_id = $1 AND counter > $2 \
                 AND last_sample_s IS NOT NULL ORDER BY counter LIMIT 1)",
            )
            .bind(block.device_id)
            .bind(block.counter)
            .fetch_one(&mut *conn)
            .await?;
            if !ingest::counter_plausible(block, lower_last, higher_last) {
                return Ok(IngestOutcome::CounterImplausible);
            }
            let layout: Option<String> = sqlx::query_scalar("SELECT channel_layout FROM devices WHERE id = $1")
                .bind(block.device_id)
                .fetch_one(&mut *conn)
                .await?;
            match layout {
                Some(layout) if layout != block.channel_layout => return Ok(IngestOutcome::LayoutChanged),
                Some(_) => {}
                None => {
                    sqlx::query("UPDATE devices SET channel_layout = $1 WHERE id = $2")
                        .bind(&block.channel_layout)
                        .bind(block.device_id)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            // The stored rows of the block's window, for dedupe: the layout check above makes the block's channels the
            // device's, so naming them reads the window through the primary key.
            let n_channels = ingest::n_channels(block);
            let stored = match (ingest::time_range(block), ingest::stored_samples_sql(n_channels)) {
                (Some((first, last)), Some(sql)) => {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(block.device_id).bind(first).bind(last);
                    for channel in 0..n_channels {
                        query = query.bind(i32::try_from(channel).unwrap_or(i32::MAX));
                    }
                    query
                        .fetch_all(&mut *conn)
                        .await?
                        .iter()
                        .map(|row| Ok((row.try_get("t_s")?, row.try_get("ordinal")?, row.try_get("channel")?, row.try_get("value")?)))
                        .collect::<Result<Vec<(i64, i32, i32, i32)>, StoreError>>()?
                }
                _ => Vec::new(),
            };
            let plan = ingest::plan(block, &stored);
            let head = sqlx::query("SELECT seq, block_hash FROM device_chain_heads WHERE device_id = $1")
                .bind(block.device_id)
                .fetch_optional(&mut *conn)
                .await?;
            let head = match head {
                Some(row) => Some((row.try_get::<i64, _>("seq")?, hash32(row.try_get("block_hash")?)?)),
                None => None,
            };
            let link = ingest::link(block, head);
            let block_id: i64 = sqlx::query_scalar(
                "INSERT INTO blocks (device_id, seq, counter, key_generation, raw, received_at_us, source, \
                 first_sample_s, last_sample_s, n_samples, n_new, prev_hash, block_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            )
            .bind(block.device_id)
            .bind(link.seq)
            .bind(block.counter)
            .bind(i32::from(block.key_generation))
            .bind(&block.raw)
            .bind(block.received_at_us)
            .bind(block.source.as_str())
            .bind(ingest::time_range(block).map(|r| r.0))
            .bind(ingest::time_range(block).map(|r| r.1))
            .bind(ingest::count(block.samples.len()))
            .bind(ingest::count(plan.new.len()))
            .bind(link.prev_hash.as_slice())
            .bind(link.block_hash.as_slice())
            .fetch_one(&mut *conn)
            .await?;
            if head.is_some() {
                sqlx::query("UPDATE device_chain_heads SET seq = $1, block_hash = $2 WHERE device_id = $3")
                    .bind(link.seq)
                    .bind(link.block_hash.as_slice())
                    .bind(block.device_id)
                    .execute(&mut *conn)
                    .await?;
            } else {
                sqlx::query("INSERT INTO device_chain_heads (device_id, seq, block_hash) VALUES ($1, $2, $3)")
                    .bind(block.device_id)
                    .bind(link.seq)
                    .bind(link.block_hash.as_slice())
                    .execute(&mut *conn)
                    .await?;
            }
            for chunk in plan.rows().collect::<Vec<_>>().chunks(ingest::ROWS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::<$DB>::new(
                    "INSERT INTO measurements (device_id, t_s, ordinal, channel, value, block_id) ",
                );
                insert.push_values(chunk, |mut row, (t_s, ordinal, channel, value)| {
                    row.push_bind(block.device_id)
                        .push_bind(*t_s)
                        .push_bind(*ordinal)
                        .push_bind(*channel)
                        .push_bind(*value)
                        .push_bind(block_id);
                });
                insert.build().execute(&mut *conn).await?;
            }
            upsert_rollups(conn, block.device_id, &rollups::rollups(plan.rows())).await?;
            Ok(IngestOutcome::Stored { new: ingest::count_u64(plan.new.len()), duplicates: plan.duplicates })
        }

        /// Adds a block's new rows, aggregated per bucket, to the device's rollups: one upsert row per touched bucket, inside
        /// the caller's transaction.
        async fn upsert_rollups(
            conn: &mut <$DB as sqlx::Database>::Connection,
            device_id: i64,
            rollups: &[rollups::Rollup],
        ) -> Result<(), StoreError> {
            for chunk in rollups.chunks(rollups::ROLLUPS_PER_UPSERT) {
                let mut upsert = sqlx::QueryBuilder::<$DB>::new(
                    "INSERT INTO measurement_rollups \
                     (device_id, channel, level_s, bucket_start_s, min_value, max_value, sum_value, n_values) ",
                );
                upsert.push_values(chunk, |mut row, rollup| {
                    row.push_bind(device_id)
                        .push_bind(rollup.channel)
                        .push_bind(rollup.level_s)
                        .push_bind(rollup.bucket_start_s)
                        .push_bind(rollup.min)
                        .push_bind(rollup.max)
                        .push_bind(rollup.sum)
                        .push_bind(rollup.count);
                });
                upsert.push(
                    " ON CONFLICT (device_id, channel, level_s, bucket_start_s) DO UPDATE SET \
                     min_value = CASE WHEN excluded.min_value < measurement_rollups.min_value \
                     THEN excluded.min_value ELSE measurement_rollups.min_value END, \
                     max_value = CASE WHEN excluded.max_value > measurement_rollups.max_value \
                     THEN excluded.max_value ELSE measurement_rollups.max_value END, \
                     sum_value = measurement_rollups.sum_value + excluded.sum_value, \
                     n_values = measurement_rollups.n_values + excluded.n_values",
                );
                upsert.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        fn chained_block_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<logvault_core::blockchain::ChainedBlock, StoreError> {
            let decode = |what: &'static str| StoreError::Database(sqlx::Error::Decode(what.into()));
            let source: String = row.try_get("source")?;
            Ok(logvault_core::blockchain::ChainedBlock {
                serial: row.try_get("serial")?,
                seq: row.try_get("seq")?,
                counter: row.try_get("counter")?,
                key_generation: u8::try_from(row.try_get::<i32, _>("key_generation")?).map_err(|_| decode("key generation"))?,
                received_at_us: row.try_get("received_at_us")?,
                source: logvault_core::blockchain::Source::parse(&source).ok_or_else(|| decode("block source"))?,
                raw: row.try_get("raw")?,
                prev_hash: hash32(row.try_get("prev_hash")?)?,
                block_hash: hash32(row.try_get("block_hash")?)?,
            })
        }
    };
}
pub(crate) use ingest_store;
