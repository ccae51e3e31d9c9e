//! The audit log: append-only, hash-chained per organisation.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// The audit log: append-only, hash-chained per organisation.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `entry` to its chain atomically (sequence, link and head move together).
    async fn append_audit(&self, entry: NewEntry) -> Result<Entry, StoreError>;

    /// Entries of one chain with `seq > after_seq`, in order, at most `limit`.
    async fn audit_entries(&self, chain_id: i64, after_seq: i64, limit: i64) -> Result<Vec<Entry>, StoreError>;

    /// The chain head: sequence number and hash of the last entry appended.
    async fn audit_head(&self, chain_id: i64) -> Result<Option<(i64, [u8; 32])>, StoreError>;

    /// Every chain that has entries or a head.
    async fn audit_chain_ids(&self) -> Result<Vec<i64>, StoreError>;
}

/// Implements [`AuditStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! audit_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::audit::AuditStore for $S {
            async fn append_audit(&self, entry: NewEntry) -> Result<Entry, StoreError> {
                // The write lock serialises appends to one chain, including the very first one (which has no head row
                // to lock yet).
                let mut tx = self.begin_write().await?;
                <$S>::lock(&mut tx, Lock::AuditChain(entry.chain_id)).await?;
                let head = sqlx::query("SELECT seq, entry_hash FROM audit_heads WHERE chain_id = $1")
                    .bind(entry.chain_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let prev = match head {
                    Some(row) => Some((row.try_get::<i64, _>("seq")?, hash32(row.try_get("entry_hash")?)?)),
                    None => None,
                };
                let entry = entry.chain_after(prev);
                sqlx::query(
                    "INSERT INTO audit_log (chain_id, seq, occurred_at_us, actor, action, target, outcome, request_id, \
                     detail, prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(entry.chain_id)
                .bind(entry.seq)
                .bind(entry.occurred_at_us)
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(entry.outcome.as_str())
                .bind(&entry.request_id)
                .bind(&entry.detail)
                .bind(entry.prev_hash.as_slice())
                .bind(entry.entry_hash.as_slice())
                .execute(&mut *tx)
                .await?;
                if prev.is_some() {
                    sqlx::query("UPDATE audit_heads SET seq = $1, entry_hash = $2 WHERE chain_id = $3")
                        .bind(entry.seq)
                        .bind(entry.entry_hash.as_slice())
                        .bind(entry.chain_id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query("INSERT INTO audit_heads (chain_id, seq, entry_hash) VALUES ($1, $2, $3)")
                        .bind(entry.chain_id)
                        .bind(entry.seq)
                        .bind(entry.entry_hash.as_slice())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(entry)
            }

            async fn audit_entries(&self, chain_id: i64, after_seq: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
                let rows = sqlx::query(
                    "SELECT chain_id, seq, occurred_at_us, actor, action, target, outcome, request_id, detail, prev_hash, \
                     entry_hash FROM audit_log WHERE chain_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(chain_id)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(entry_from_row).collect()
            }

            async fn audit_head(&self, chain_id: i64) -> Result<Option<(i64, [u8; 32])>, StoreError> {
                let row = sqlx::query("SELECT seq, entry_hash FROM audit_heads WHERE chain_id = $1")
                    .bind(chain_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => Ok(Some((row.try_get("seq")?, hash32(row.try_get("entry_hash")?)?))),
                    None => Ok(None),
                }
            }

            async fn audit_chain_ids(&self) -> Result<Vec<i64>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT chain_id FROM audit_heads UNION SELECT chain_id FROM audit_log ORDER BY chain_id",
                )
                .fetch_all(&self.pool)
                .await?)
            }
        }

        fn entry_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<Entry, StoreError> {
            let outcome: String = row.try_get("outcome")?;
            Ok(Entry {
                chain_id: row.try_get("chain_id")?,
                seq: row.try_get("seq")?,
                occurred_at_us: row.try_get("occurred_at_us")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                outcome: Outcome::parse(&outcome)
                    .ok_or_else(|| StoreError::Database(sqlx::Error::Decode("unknown audit outcome".into())))?,
                request_id: row.try_get("request_id")?,
                detail: row.try_get("detail")?,
                prev_hash: hash32(row.try_get("prev_hash")?)?,
                entry_hash: hash32(row.try_get("entry_hash")?)?,
            })
        }
    };
}
pub(crate) use audit_store;
