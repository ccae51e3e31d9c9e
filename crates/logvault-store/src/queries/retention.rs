//! Retention: the one path allowed past the immutability guards of blocks and measurements.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Retention: the one path allowed past the immutability guards of blocks and measurements.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// The organisation's retention; `None` (the default) keeps everything.
    async fn retention(&self, scope: &OrgScope) -> Result<Option<Retention>, StoreError>;

    async fn set_retention(&self, scope: &OrgScope, retention: Option<Retention>) -> Result<(), StoreError>;

    /// Removes, per device of the scope, the oldest blocks whose last sample is before the retention's cutoff at
    /// `now_s` (the longest such prefix of the chain, so it still verifies from its new anchor) with their measurement
    /// rows; one transaction per device, each recorded first in `retention_purges`. Nothing for an organisation
    /// without a retention. The database refuses a cutoff its own clock says is within the retention, so `now_s` must
    /// be the present. Audit entries are never purged.
    async fn purge_expired(&self, scope: &OrgScope, now_s: i64) -> Result<PurgeReport, StoreError>;
}

/// Implements [`RetentionStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! retention_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::retention::RetentionStore for $S {
            async fn retention(&self, scope: &OrgScope) -> Result<Option<Retention>, StoreError> {
                let days: Option<i32> = sqlx::query_scalar("SELECT retention_days FROM organisations WHERE id = $1")
                    .bind(scope.org_id())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("organisation", err))?;
                days.map(|days| retention_from_days(i64::from(days))).transpose()
            }

            async fn set_retention(&self, scope: &OrgScope, retention: Option<Retention>) -> Result<(), StoreError> {
                let days = retention
                    .map(|r| i32::try_from(r.days()))
                    .transpose()
                    .map_err(|_| StoreError::Database(sqlx::Error::Encode("retention out of range".into())))?;
                let updated = sqlx::query("UPDATE organisations SET retention_days = $1 WHERE id = $2")
                    .bind(days)
                    .bind(scope.org_id())
                    .execute(&self.pool)
                    .await?;
                match updated.rows_affected() {
                    0 => Err(StoreError::NotFound { entity: "organisation" }),
                    _ => Ok(()),
                }
            }

            async fn purge_expired(&self, scope: &OrgScope, now_s: i64) -> Result<PurgeReport, StoreError> {
                let Some(retention) = self.retention(scope).await? else { return Ok(PurgeReport::default()) };
                let cutoff_s = retention.cutoff_s(now_s);
                let devices = sqlx::query(
                    "SELECT id, serial FROM devices WHERE org_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR site_id = $2) ORDER BY serial",
                )
                .bind(scope.org_id())
                .bind(scope.site_id())
                .fetch_all(&self.pool)
                .await?;
                let mut report = PurgeReport { cutoff_s: Some(cutoff_s), devices: Vec::new() };
                for row in &devices {
                    let (device_id, serial): (i64, String) = (row.try_get("id")?, row.try_get("serial")?);
                    let mut tx = self.begin_purge().await?;
                    let purged = purge_device(&mut tx, scope.org_id(), device_id, cutoff_s).await?;
                    tx.commit().await?;
                    if let Some(purged) = purged {
                        report.devices.push(DevicePurge { device_id, serial, ..purged });
                    }
                }
                Ok(report)
            }
        }

        /// Purges one device inside `conn` (a transaction): the device locked against ingest, its purge record first (which
        /// authorises this transaction only, by its id), then the anchor, the measurement rows and the blocks. `None` if
        /// nothing before `cutoff_s` can go.
        async fn purge_device(
            conn: &mut <$DB as sqlx::Database>::Connection,
            org_id: i64,
            device_id: i64,
            cutoff_s: i64,
        ) -> Result<Option<DevicePurge>, StoreError> {
            <$S>::lock(&mut *conn, Lock::Device(device_id)).await?;
            let first_young: Option<i64> =
                sqlx::query_scalar("SELECT MIN(seq) FROM blocks WHERE device_id = $1 AND last_sample_s >= $2")
                    .bind(device_id)
                    .bind(cutoff_s)
                    .fetch_one(&mut *conn)
                    .await?;
            let through_seq: Option<i64> = match first_young {
                Some(seq) => Some(seq.saturating_sub(1)),
                None => {
                    sqlx::query_scalar("SELECT MAX(seq) FROM blocks WHERE device_id = $1")
                        .bind(device_id)
                        .fetch_one(&mut *conn)
                        .await?
                }
            };
            let Some(through_seq) = through_seq else { return Ok(None) };
            let expiring = sqlx::query(
                "SELECT COUNT(*) AS n, MAX(last_sample_s) AS last_s FROM blocks WHERE device_id = $1 AND seq <= $2",
            )
            .bind(device_id)
            .bind(through_seq)
            .fetch_one(&mut *conn)
            .await?;
            let (n_blocks, last_s): (i64, Option<i64>) = (expiring.try_get("n")?, expiring.try_get("last_s")?);
            if n_blocks == 0 {
                return Ok(None);
            }
            // The purge record comes first: it is what the guard triggers check before they let a delete through.
            let purge: i64 = sqlx::query_scalar(<$S>::INSERT_PURGE)
                .bind(org_id)
                .bind(device_id)
                .bind(cutoff_s)
                .bind(through_seq)
                .bind(retention::now_us())
                .fetch_one(&mut *conn)
                .await?;
            <$S>::open_purge(&mut *conn, purge).await?;
            let prev_hash: Vec<u8> = sqlx::query_scalar("SELECT block_hash FROM blocks WHERE device_id = $1 AND seq = $2")
                .bind(device_id)
                .bind(through_seq)
                .fetch_one(&mut *conn)
                .await?;
            let previous: Option<i64> =
                sqlx::query_scalar("SELECT purged_through_s FROM device_chain_anchors WHERE device_id = $1")
                    .bind(device_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let purged_through_s = retention::purged_through_s(previous, last_s, cutoff_s);
            let anchor_sql = match previous {
                Some(_) => {
                    "UPDATE device_chain_anchors SET seq = $1, prev_hash = $2, purged_through_s = $3 WHERE device_id = $4"
                }
                None => {
                    "INSERT INTO device_chain_anchors (seq, prev_hash, purged_through_s, device_id) VALUES ($1, $2, $3, $4)"
                }
            };
            sqlx::query(anchor_sql)
                .bind(through_seq.saturating_add(1))
                .bind(&prev_hash)
                .bind(purged_through_s)
                .bind(device_id)
                .execute(&mut *conn)
                .await?;
            let purged_times = sqlx::query(
                "SELECT MIN(t_s) AS min_t_s, MAX(t_s) AS max_t_s FROM measurements \
                 WHERE block_id IN (SELECT id FROM blocks WHERE device_id = $1 AND seq <= $2)",
            )
            .bind(device_id)
            .bind(through_seq)
            .fetch_one(&mut *conn)
            .await?;
            let purged_times: (Option<i64>, Option<i64>) = (purged_times.try_get("min_t_s")?, purged_times.try_get("max_t_s")?);
            let measurements = sqlx::query(
                "DELETE FROM measurements WHERE block_id IN (SELECT id FROM blocks WHERE device_id = $1 AND seq <= $2)",
            )
            .bind(device_id)
            .bind(through_seq)
            .execute(&mut *conn)
            .await?;
            let blocks = sqlx::query("DELETE FROM blocks WHERE device_id = $1 AND seq <= $2")
                .bind(device_id)
                .bind(through_seq)
                .execute(&mut *conn)
                .await?;
            if let (Some(min_t_s), Some(max_t_s)) = purged_times {
                recompute_rollups(&mut *conn, device_id, min_t_s, max_t_s).await?;
            }
            <$S>::close_purge(&mut *conn, purge).await?;
            Ok(Some(DevicePurge {
                device_id,
                serial: String::new(),
                blocks_removed: blocks.rows_affected(),
                measurements_removed: measurements.rows_affected(),
                first_retained_seq: through_seq.saturating_add(1),
            }))
        }

        /// Recomputes, inside a purge of the device, its rollups of every bucket that held one of the purged rows (times
        /// `min_t_s..=max_t_s`) from the rows retained: the buckets are removed and, where retained rows remain, written
        /// again, so the rollups keep describing exactly the measurements kept.
        async fn recompute_rollups(
            conn: &mut <$DB as sqlx::Database>::Connection,
            device_id: i64,
            min_t_s: i64,
            max_t_s: i64,
        ) -> Result<(), StoreError> {
            for level_s in rollups::LEVELS_S {
                let Some((from_s, to_s)) = rollups::covering(level_s, min_t_s, max_t_s) else { continue };
                sqlx::query(
                    "DELETE FROM measurement_rollups \
                     WHERE device_id = $1 AND level_s = $2 AND bucket_start_s >= $3 AND bucket_start_s < $4",
                )
                .bind(device_id)
                .bind(level_s)
                .bind(from_s)
                .bind(to_s)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO measurement_rollups \
                     (device_id, channel, level_s, bucket_start_s, min_value, max_value, sum_value, n_values) \
                     SELECT device_id, channel, $1, t_s - ((t_s % $2) + $3) % $4 AS bucket_start, \
                     MIN(value), MAX(value), SUM(value), COUNT(*) FROM measurements \
                     WHERE device_id = $5 AND t_s >= $6 AND t_s < $7 GROUP BY device_id, channel, bucket_start",
                )
                .bind(level_s)
                .bind(i64::from(level_s))
                .bind(i64::from(level_s))
                .bind(i64::from(level_s))
                .bind(device_id)
                .bind(from_s)
                .bind(to_s)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        }
    };
}
pub(crate) use retention_store;
