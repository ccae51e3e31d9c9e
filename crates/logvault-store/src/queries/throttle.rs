//! Brute-force protection: per-account failure counters and per-client token buckets.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Brute-force protection: per-account failure counters and per-client token buckets.
#[async_trait::async_trait]
pub trait ThrottleStore: Send + Sync {
    async fn account_counters(&self, user_id: i64) -> Result<AccountCounters, StoreError>;

    /// Starts a sign-in attempt: atomically refuses it if the account is locked (`None`, nothing changed), or
    /// counts it as a failure until [`Store::reset_sign_in_failures`] clears it on success. Checking and counting in
    /// one step means concurrent attempts cannot all slip past the lock.
    async fn begin_sign_in_attempt(
        &self,
        user_id: i64,
        now_us: i64,
    ) -> Result<Option<(AccountCounters, FailureEffect)>, StoreError>;

    /// Clears an account's failure counters (a successful sign-in, or an operator's unlock).
    async fn reset_sign_in_failures(&self, user_id: i64) -> Result<(), StoreError>;

    async fn client_bucket(&self, client_key: &[u8; 32], now_us: i64) -> Result<IpBucket, StoreError>;

    /// Starts a sign-in attempt from a client address: atomically refuses it with the seconds to wait if the bucket is
    /// empty (nothing changed), or takes one failure from it, to be given back by
    /// [`Store::refund_client_attempt`] if the attempt succeeds.
    async fn begin_client_attempt(
        &self,
        client_key: &[u8; 32],
        now_us: i64,
    ) -> Result<Result<IpBucket, u64>, StoreError>;

    /// Gives back the failure taken by a successful attempt.
    async fn refund_client_attempt(&self, client_key: &[u8; 32]) -> Result<(), StoreError>;
}

/// Implements [`ThrottleStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! throttle_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::throttle::ThrottleStore for $S {
            async fn account_counters(&self, user_id: i64) -> Result<AccountCounters, StoreError> {
                let row = sqlx::query(
                    "SELECT window_start_us, window_failures, consecutive_failures, locked_until_us FROM sign_in_failures WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map_or(Ok(AccountCounters::default()), counters_from_row)
            }

            async fn begin_sign_in_attempt(
                &self,
                user_id: i64,
                now_us: i64,
            ) -> Result<Option<(AccountCounters, FailureEffect)>, StoreError> {
                let mut tx = self.begin_write().await?;
                <$S>::lock(&mut tx, Lock::SignIn(user_id)).await?;
                let row = sqlx::query(concat!("SELECT window_start_us, window_failures, consecutive_failures, locked_until_us FROM sign_in_failures WHERE user_id = $1", $for_update))
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let current = row.as_ref().map_or(Ok(AccountCounters::default()), counters_from_row)?;
                if current.is_locked(now_us) {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let (next, effect) = current.after_failure(now_us);
                sqlx::query(
                    "INSERT INTO sign_in_failures (user_id, window_start_us, window_failures, consecutive_failures, locked_until_us) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET window_start_us = excluded.window_start_us, window_failures = excluded.window_failures, consecutive_failures = excluded.consecutive_failures, locked_until_us = excluded.locked_until_us",
                )
                .bind(user_id)
                .bind(next.window_start_us)
                .bind(next.window_failures)
                .bind(next.consecutive_failures)
                .bind(next.locked_until_us)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some((next, effect)))
            }

            async fn reset_sign_in_failures(&self, user_id: i64) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sign_in_failures WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn client_bucket(&self, client_key: &[u8; 32], now_us: i64) -> Result<IpBucket, StoreError> {
                let row = sqlx::query("SELECT milli_tokens, updated_at_us FROM client_throttle WHERE client_key = $1")
                    .bind(client_key.as_slice())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => Ok(IpBucket {
                        milli_tokens: row.try_get("milli_tokens")?,
                        updated_at_us: row.try_get("updated_at_us")?,
                    }),
                    None => Ok(IpBucket::full(now_us)),
                }
            }

            async fn begin_client_attempt(
                &self,
                client_key: &[u8; 32],
                now_us: i64,
            ) -> Result<Result<IpBucket, u64>, StoreError> {
                let mut tx = self.begin_write().await?;
                <$S>::lock(&mut tx, Lock::Client(client_key)).await?;
                let row =
                    sqlx::query(concat!("SELECT milli_tokens, updated_at_us FROM client_throttle WHERE client_key = $1", $for_update))
                        .bind(client_key.as_slice())
                        .fetch_optional(&mut *tx)
                        .await?;
                let current = match row {
                    Some(row) => {
                        IpBucket { milli_tokens: row.try_get("milli_tokens")?, updated_at_us: row.try_get("updated_at_us")? }
                    }
                    None => IpBucket::full(now_us),
                };
                if let Some(retry_after_secs) = current.retry_after_secs(now_us) {
                    tx.rollback().await?;
                    return Ok(Err(retry_after_secs));
                }
                let next = current.after_failure(now_us);
                sqlx::query(
                    "INSERT INTO client_throttle (client_key, milli_tokens, updated_at_us) VALUES ($1, $2, $3) ON CONFLICT (client_key) DO UPDATE SET milli_tokens = excluded.milli_tokens, updated_at_us = excluded.updated_at_us",
                )
                .bind(client_key.as_slice())
                .bind(next.milli_tokens)
                .bind(next.updated_at_us)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(next))
            }

            async fn refund_client_attempt(&self, client_key: &[u8; 32]) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE client_throttle SET milli_tokens = CASE WHEN milli_tokens + 1000 < 100000 THEN milli_tokens + 1000 ELSE 100000 END \
                     WHERE client_key = $1",
                )
                .bind(client_key.as_slice())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }

        fn counters_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<AccountCounters, StoreError> {
            Ok(AccountCounters {
                window_start_us: row.try_get("window_start_us")?,
                window_failures: row.try_get("window_failures")?,
                consecutive_failures: row.try_get("consecutive_failures")?,
                locked_until_us: row.try_get("locked_until_us")?,
            })
        }
    };
}
pub(crate) use throttle_store;
