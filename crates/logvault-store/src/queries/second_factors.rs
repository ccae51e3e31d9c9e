//! Second factors: TOTP, recovery codes, email sign-in codes and their attempt counters.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Second factors: TOTP, recovery codes, email sign-in codes and their attempt counters.
#[async_trait::async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>, StoreError>;

    /// Stores a new, unconfirmed TOTP secret; `Conflict` if the user already has a confirmed one.
    async fn put_unconfirmed_totp(&self, user_id: i64, secret_sealed: &[u8], now_us: i64) -> Result<(), StoreError>;

    /// Confirms the TOTP enrolment at `step` and replaces the user's recovery codes, in one transaction — only if
    /// the unconfirmed secret is still `secret_sealed` (the one the code was checked against); else `Conflict`.
    async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        recovery_hashes: &[[u8; 32]],
        secret_sealed: &[u8],
    ) -> Result<(), StoreError>;

    /// Marks `step` used if it is later than the last used one; `false` means the code was already used (replay).
    /// Atomic, so two instances cannot both accept one code.
    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError>;

    /// The hashes of the user's unused recovery codes, with their index.
    async fn unused_recovery_codes(&self, user_id: i64) -> Result<Vec<RecoveryCodeRecord>, StoreError>;

    /// Marks one recovery code used; `false` if it already was.
    async fn use_recovery_code(&self, user_id: i64, idx: i64) -> Result<bool, StoreError>;

    /// Wrong second-factor codes of the user in time step `step`.
    async fn mfa_failures(&self, user_id: i64, step: i64) -> Result<i64, StoreError>;

    /// Counts one second-factor attempt in `step` before the code is checked (so concurrent guesses are counted
    /// too); returns the count in the newest step seen. The stored step never moves backwards.
    async fn record_mfa_attempt(&self, user_id: i64, step: i64) -> Result<i64, StoreError>;

    /// Removes the user's TOTP and recovery codes; `false` if there was none.
    async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError>;

    /// Stores a new code for the user, replacing the previous one — unless the previous one was issued less than
    /// `min_interval_us` ago (`false`, nothing changed).
    async fn put_email_code(
        &self,
        user_id: i64,
        code_hash: &[u8; 32],
        now_us: i64,
        expires_at_us: i64,
        min_interval_us: i64,
    ) -> Result<bool, StoreError>;

    async fn email_code(&self, user_id: i64) -> Result<Option<EmailCode>, StoreError>;

    /// Counts one email-code attempt for an address (a keyed hash of it, known account or not) in `step`, before the
    /// code is checked; returns the count in the newest step seen.
    async fn record_email_code_attempt(&self, email_key: &[u8; 32], step: i64) -> Result<i64, StoreError>;

    /// Marks the code used if it is still `code_hash` and unused; `false` otherwise (used already, or replaced).
    async fn use_email_code(&self, user_id: i64, code_hash: &[u8; 32]) -> Result<bool, StoreError>;
}

/// Implements [`SecondFactorStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! second_factor_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::second_factors::SecondFactorStore for $S {
            async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>, StoreError> {
                let row = sqlx::query("SELECT secret_sealed, confirmed, last_used_step FROM user_totp WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => Ok(Some(TotpRecord {
                        secret_sealed: row.try_get("secret_sealed")?,
                        confirmed: row.try_get("confirmed")?,
                        last_used_step: row.try_get("last_used_step")?,
                    })),
                    None => Ok(None),
                }
            }

            async fn put_unconfirmed_totp(&self, user_id: i64, secret_sealed: &[u8], now_us: i64) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "INSERT INTO user_totp (user_id, secret_sealed, confirmed, created_at_us) VALUES ($1, $2, FALSE, $3) ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at_us = excluded.created_at_us, last_used_step = NULL WHERE user_totp.confirmed = FALSE",
                )
                .bind(user_id)
                .bind(secret_sealed)
                .bind(now_us)
                .execute(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("totp", err))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict { entity: "totp" });
                }
                Ok(())
            }

            async fn confirm_totp(
                &self,
                user_id: i64,
                step: i64,
                recovery_hashes: &[[u8; 32]],
                secret_sealed: &[u8],
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE user_totp SET confirmed = TRUE, last_used_step = $1 WHERE user_id = $2 AND confirmed = FALSE AND secret_sealed = $3",
                )
                .bind(step)
                .bind(user_id)
                .bind(secret_sealed)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict { entity: "totp" });
                }
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                for (idx, hash) in recovery_hashes.iter().enumerate() {
                    sqlx::query("INSERT INTO recovery_codes (user_id, idx, code_hash) VALUES ($1, $2, $3)")
                        .bind(user_id)
                        .bind(i64::try_from(idx).unwrap_or(i64::MAX))
                        .bind(hash.as_slice())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE user_totp SET last_used_step = $1 WHERE user_id = $2 AND confirmed = TRUE AND (last_used_step IS NULL OR last_used_step < $3)",
                )
                .bind(step)
                .bind(user_id)
                .bind(step)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn unused_recovery_codes(&self, user_id: i64) -> Result<Vec<RecoveryCodeRecord>, StoreError> {
                let rows =
                    sqlx::query("SELECT idx, code_hash FROM recovery_codes WHERE user_id = $1 AND used = FALSE ORDER BY idx")
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter()
                    .map(|row| {
                        Ok(RecoveryCodeRecord { idx: row.try_get("idx")?, code_hash: hash32(row.try_get("code_hash")?)? })
                    })
                    .collect()
            }

            async fn use_recovery_code(&self, user_id: i64, idx: i64) -> Result<bool, StoreError> {
                let done =
                    sqlx::query("UPDATE recovery_codes SET used = TRUE WHERE user_id = $1 AND idx = $2 AND used = FALSE")
                        .bind(user_id)
                        .bind(idx)
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn mfa_failures(&self, user_id: i64, step: i64) -> Result<i64, StoreError> {
                let failures: Option<i64> =
                    sqlx::query_scalar("SELECT failures FROM mfa_failures WHERE user_id = $1 AND step = $2")
                        .bind(user_id)
                        .bind(step)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(failures.unwrap_or(0))
            }

            async fn record_mfa_attempt(&self, user_id: i64, step: i64) -> Result<i64, StoreError> {
                let failures: i64 = sqlx::query_scalar(
                    "INSERT INTO mfa_failures (user_id, step, failures) VALUES ($1, $2, 1) ON CONFLICT (user_id) DO UPDATE SET failures = CASE WHEN excluded.step > mfa_failures.step THEN 1 ELSE mfa_failures.failures + 1 END, step = CASE WHEN excluded.step > mfa_failures.step THEN excluded.step ELSE mfa_failures.step END RETURNING failures",
                )
                .bind(user_id)
                .bind(step)
                .fetch_one(&self.pool)
                .await?;
                Ok(failures)
            }

            async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let done = sqlx::query("DELETE FROM user_totp WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn put_email_code(
                &self,
                user_id: i64,
                code_hash: &[u8; 32],
                now_us: i64,
                expires_at_us: i64,
                min_interval_us: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO email_codes (user_id, code_hash, created_at_us, expires_at_us) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash, \
                     created_at_us = excluded.created_at_us, expires_at_us = excluded.expires_at_us, used = FALSE \
                     WHERE email_codes.created_at_us <= excluded.created_at_us - $5",
                )
                .bind(user_id)
                .bind(code_hash.as_slice())
                .bind(now_us)
                .bind(expires_at_us)
                .bind(min_interval_us)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn email_code(&self, user_id: i64) -> Result<Option<EmailCode>, StoreError> {
                let row =
                    sqlx::query("SELECT code_hash, created_at_us, expires_at_us, used FROM email_codes WHERE user_id = $1")
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|row| {
                    Ok(EmailCode {
                        code_hash: hash32(row.try_get("code_hash")?)?,
                        created_at_us: row.try_get("created_at_us")?,
                        expires_at_us: row.try_get("expires_at_us")?,
                        used: row.try_get("used")?,
                    })
                })
                .transpose()
            }

            async fn record_email_code_attempt(&self, email_key: &[u8; 32], step: i64) -> Result<i64, StoreError> {
                let failures: i64 = sqlx::query_scalar(
                    "INSERT INTO email_code_attempts (email_key, step, failures) VALUES ($1, $2, 1) ON CONFLICT (email_key) DO UPDATE SET failures = CASE WHEN excluded.step > email_code_attempts.step THEN 1 ELSE email_code_attempts.failures + 1 END, step = CASE WHEN excluded.step > email_code_attempts.step THEN excluded.step ELSE email_code_attempts.step END RETURNING failures",
                )
                .bind(email_key.as_slice())
                .bind(step)
                .fetch_one(&self.pool)
                .await?;
                Ok(failures)
            }

            async fn use_email_code(&self, user_id: i64, code_hash: &[u8; 32]) -> Result<bool, StoreError> {
                let done =
                    sqlx::query("UPDATE email_codes SET used = TRUE WHERE user_id = $1 AND code_hash = $2 AND used = FALSE")
                        .bind(user_id)
                        .bind(code_hash.as_slice())
                        .execute(&self.pool)
                        .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use second_factor_store;
