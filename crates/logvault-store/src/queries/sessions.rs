//! Sign-in sessions, stored by the SHA-256 of their token.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Sign-in sessions, stored by the SHA-256 of their token.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: NewSession) -> Result<i64, StoreError>;

    async fn session_by_token_hash(&self, token_hash: &[u8; 32]) -> Result<Session, StoreError>;

    async fn touch_session(&self, session_id: i64, now_us: i64) -> Result<(), StoreError>;

    async fn revoke_session(&self, session_id: i64) -> Result<(), StoreError>;

    /// The user's sessions that are neither revoked nor past their absolute expiry.
    async fn user_sessions(&self, user_id: i64, now_us: i64) -> Result<Vec<Session>, StoreError>;

    /// Revokes one of the user's own sessions; `false` if there is no such session of theirs.
    async fn revoke_user_session(&self, user_id: i64, session_id: i64) -> Result<bool, StoreError>;

    /// Revokes all of the user's sessions except `keep`; returns how many.
    async fn revoke_other_sessions(&self, user_id: i64, keep: Option<i64>) -> Result<u64, StoreError>;
}

/// Implements [`SessionStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! session_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::sessions::SessionStore for $S {
            async fn create_session(&self, session: NewSession) -> Result<i64, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sessions (token_hash, user_id, created_at_us, last_seen_us, expires_at_us, mfa_pending) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(session.token_hash.as_slice())
                .bind(session.user_id)
                .bind(session.now_us)
                .bind(session.now_us)
                .bind(session.expires_at_us)
                .bind(session.mfa_pending)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("session", err))?;
                Ok(id)
            }

            async fn session_by_token_hash(&self, token_hash: &[u8; 32]) -> Result<Session, StoreError> {
                let row = sqlx::query(
                    "SELECT id, user_id, created_at_us, last_seen_us, expires_at_us, revoked, mfa_pending \
                     FROM sessions WHERE token_hash = $1",
                )
                .bind(token_hash.as_slice())
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("session", err))?;
                session_from_row(&row)
            }

            async fn touch_session(&self, session_id: i64, now_us: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE sessions SET last_seen_us = CASE WHEN last_seen_us > $1 THEN last_seen_us ELSE $1 END WHERE id = $2")
                    .bind(now_us)
                    .bind(session_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn revoke_session(&self, session_id: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE sessions SET revoked = TRUE WHERE id = $1").bind(session_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn user_sessions(&self, user_id: i64, now_us: i64) -> Result<Vec<Session>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, user_id, created_at_us, last_seen_us, expires_at_us, revoked, mfa_pending \
                     FROM sessions WHERE user_id = $1 AND revoked = FALSE AND expires_at_us > $2 ORDER BY id",
                )
                .bind(user_id)
                .bind(now_us)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(session_from_row).collect()
            }

            async fn revoke_user_session(&self, user_id: i64, session_id: i64) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE sessions SET revoked = TRUE WHERE id = $1 AND user_id = $2 AND revoked = FALSE")
                    .bind(session_id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_other_sessions(&self, user_id: i64, keep: Option<i64>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET revoked = TRUE WHERE user_id = $1 AND revoked = FALSE AND id IS DISTINCT FROM $2",
                )
                .bind(user_id)
                .bind(keep)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }

        fn session_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<Session, StoreError> {
            Ok(Session {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                created_at_us: row.try_get("created_at_us")?,
                last_seen_us: row.try_get("last_seen_us")?,
                expires_at_us: row.try_get("expires_at_us")?,
                revoked: row.try_get("revoked")?,
                mfa_pending: row.try_get("mfa_pending")?,
            })
        }
    };
}
pub(crate) use session_store;
