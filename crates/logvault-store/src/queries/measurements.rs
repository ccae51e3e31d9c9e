//! Reading measurements: raw rows and rollup buckets.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Reading measurements: raw rows and rollup buckets.
#[async_trait::async_trait]
pub trait MeasurementStore: Send + Sync {
    /// Measurements of one of the scope's devices.
    async fn measurements(
        &self,
        scope: &OrgScope,
        device_id: i64,
        query: MeasurementQuery,
    ) -> Result<Vec<Measurement>, StoreError>;

    /// Minimum, maximum, sum and count of one channel of one of the scope's devices per time bucket of
    /// `[from_s, to_s)`, in order, empty buckets left out; nothing for another organisation's or site's device.
    /// Answered from the rollups kept at ingest (raw rows only for sub-minute edges), and exactly equal to the
    /// aggregate of the raw rows between each bucket's `start_s` and `end_s`. The grid: at most `n_buckets` buckets
    /// of one width, a multiple of the coarsest rollup level that fits, aligned to that level; the first and last
    /// bucket are cut at `from_s` and `to_s` (the algorithm is documented in the `rollups` module).
    async fn measurement_buckets(
        &self,
        scope: &OrgScope,
        device_id: i64,
        query: BucketQuery,
    ) -> Result<Vec<Bucket>, StoreError>;

    /// One bucket over all of `[from_s, to_s)` of one channel of one of the scope's devices, from the rollups;
    /// `None` if it holds no values (or the device is not the scope's).
    async fn measurement_summary(
        &self,
        scope: &OrgScope,
        device_id: i64,
        channel: i32,
        from_s: i64,
        to_s: i64,
    ) -> Result<Option<Bucket>, StoreError> {
        let query = BucketQuery { channel, from_s, to_s, n_buckets: 1 };
        Ok(self.measurement_buckets(scope, device_id, query).await?.into_iter().next())
    }
}

/// Implements [`MeasurementStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! measurement_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::measurements::MeasurementStore for $S {
            async fn measurements(
                &self,
                scope: &OrgScope,
                device_id: i64,
                query: MeasurementQuery,
            ) -> Result<Vec<Measurement>, StoreError> {
                let (after_t, after_ordinal) = query.after.unwrap_or((i64::MIN, i32::MIN));
                let rows = sqlx::query(
                    "SELECT m.t_s, m.ordinal, m.channel, m.value FROM measurements m JOIN devices d ON d.id = m.device_id \
                     WHERE m.device_id = $1 AND d.org_id = $2 AND ($3 IS NULL OR d.site_id = $4) AND m.channel = $5 \
                     AND m.t_s >= $6 AND m.t_s < $7 AND (m.t_s > $8 OR (m.t_s = $9 AND m.ordinal > $10)) \
                     ORDER BY m.t_s, m.ordinal LIMIT $11",
                )
                .bind(device_id)
                .bind_scope(scope)
                .bind(query.channel)
                .bind(query.from_s)
                .bind(query.to_s)
                .bind(after_t)
                .bind(after_t)
                .bind(after_ordinal)
                .bind(query.limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(measurement_from_row).collect()
            }

            async fn measurement_buckets(
                &self,
                scope: &OrgScope,
                device_id: i64,
                query: BucketQuery,
            ) -> Result<Vec<Bucket>, StoreError> {
                match rollups::plan(&query) {
                    Some(plan) => buckets(&self.pool, scope, device_id, query.channel, &plan).await,
                    None => Ok(Vec::new()),
                }
            }
        }

        /// The buckets of `plan` for one of the scope's devices, in one statement: every piece of the plan read from its
        /// source and mapped to its bucket index, then grouped (see the `rollups` module).
        async fn buckets(
            pool: &sqlx::Pool<$DB>,
            scope: &OrgScope,
            device_id: i64,
            channel: i32,
            plan: &rollups::Plan,
        ) -> Result<Vec<Bucket>, StoreError> {
            let mut query = sqlx::QueryBuilder::<$DB>::new(
                "SELECT idx, MIN(lo) AS min_value, MAX(hi) AS max_value, CAST(SUM(total) AS BIGINT) AS sum_value, CAST(SUM(n) AS BIGINT) AS n_values FROM (",
            );
            for (i, piece) in plan.pieces.iter().enumerate() {
                if i > 0 {
                    query.push(" UNION ALL ");
                }
                // One piece: the rollups of one level, or the raw rows, in `[start_s, end_s)`, each with its bucket.
                let (time, values, from) = match piece.source {
                    Source::Rollups(_) => (
                        "bucket_start_s",
                        "min_value AS lo, max_value AS hi, sum_value AS total, n_values AS n",
                        "measurement_rollups",
                    ),
                    Source::Raw => (
                        "t_s",
                        "value AS lo, value AS hi, CAST(value AS BIGINT) AS total, CAST(1 AS BIGINT) AS n",
                        "measurements",
                    ),
                };
                query.push(format_args!("SELECT ({time} - "));
                query.push_bind(plan.origin_s);
                query.push(") / ");
                query.push_bind(plan.width_s);
                query.push(format_args!(" AS idx, {values} FROM {from} WHERE device_id = "));
                query.push_bind(device_id);
                query.push(" AND channel = ");
                query.push_bind(channel);
                if let Source::Rollups(level_s) = piece.source {
                    query.push(" AND level_s = ");
                    query.push_bind(level_s);
                }
                query.push(format_args!(" AND {time} >= "));
                query.push_bind(piece.start_s);
                query.push(format_args!(" AND {time} < "));
                query.push_bind(piece.end_s);
            }
            // The scope check: the device must be the scope's (and its site's, for a site-scoped scope).
            query.push(") pieces WHERE EXISTS (SELECT 1 FROM devices d WHERE d.id = ");
            query.push_bind(device_id);
            query.push(" AND d.org_id = ");
            query.push_bind(scope.org_id());
            query.push(" AND (");
            query.push_bind(scope.site_id());
            query.push(" IS NULL OR d.site_id = ");
            query.push_bind(scope.site_id());
            query.push(")) GROUP BY idx ORDER BY idx");
            let rows = query.build().fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(plan.bucket(
                        row.try_get("idx")?,
                        row.try_get("min_value")?,
                        row.try_get("max_value")?,
                        row.try_get("sum_value")?,
                        row.try_get("n_values")?,
                    ))
                })
                .collect()
        }

        fn measurement_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<Measurement, StoreError> {
            Ok(Measurement {
                t_s: row.try_get("t_s")?,
                ordinal: row.try_get("ordinal")?,
                channel: row.try_get("channel")?,
                value: row.try_get("value")?,
            })
        }
    };
}
pub(crate) use measurement_store;
