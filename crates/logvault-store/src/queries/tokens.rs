//! API tokens (stored as their SHA-256), the instance key check and the export-signing keys.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// API tokens (stored as their SHA-256), the instance key check and the export-signing keys.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    async fn create_api_token(&self, scope: &OrgScope, token: NewApiToken) -> Result<ApiToken, StoreError>;

    async fn api_tokens(&self, scope: &OrgScope) -> Result<Vec<ApiToken>, StoreError>;

    async fn revoke_api_token(&self, scope: &OrgScope, token_id: i64) -> Result<ApiToken, StoreError>;

    /// The token with this hash, whatever its state (the caller checks expiry and revocation).
    async fn api_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ApiToken, StoreError>;

    async fn touch_api_token(&self, token_id: i64, now_us: i64) -> Result<(), StoreError>;

    /// The master-key check value, if this database has one (`None` before the migration that adds it).
    async fn key_check(&self) -> Result<Option<[u8; 32]>, StoreError>;

    /// Records the master-key check value unless one is already there.
    async fn set_key_check(&self, key_check: &[u8; 32]) -> Result<(), StoreError>;

    /// The server's export-signing keys, oldest first (the newest signs). Instance-wide, not an organisation's.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Adds a signing key; `Conflict` for a public key already there.
    async fn add_signing_key(&self, public_key: &[u8], seed_sealed: &[u8], now_us: i64) -> Result<(), StoreError>;
}

/// Implements [`TokenStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! token_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::tokens::TokenStore for $S {
            async fn create_api_token(&self, scope: &OrgScope, token: NewApiToken) -> Result<ApiToken, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_tokens (org_id, user_id, name, role, token_hash, created_at_us, expires_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(scope.org_id())
                .bind(token.user_id)
                .bind(&token.name)
                .bind(token.role.as_str())
                .bind(token.token_hash.as_slice())
                .bind(token.now_us)
                .bind(token.expires_at_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("api token", err))?;
                Ok(ApiToken {
                    id,
                    org_id: scope.org_id(),
                    user_id: token.user_id,
                    name: token.name,
                    role: token.role,
                    created_at_us: token.now_us,
                    expires_at_us: token.expires_at_us,
                    last_used_us: None,
                    revoked: false,
                })
            }

            async fn api_tokens(&self, scope: &OrgScope) -> Result<Vec<ApiToken>, StoreError> {
                let rows =
                    sqlx::query(concat!("SELECT ", api_token_columns!(), " FROM api_tokens WHERE org_id = $1 ORDER BY id"))
                        .bind(scope.org_id())
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter().map(api_token_from_row).collect()
            }

            async fn revoke_api_token(&self, scope: &OrgScope, token_id: i64) -> Result<ApiToken, StoreError> {
                let row = sqlx::query(concat!(
                    "UPDATE api_tokens SET revoked = TRUE WHERE id = $1 AND org_id = $2 RETURNING ",
                    api_token_columns!()
                ))
                .bind(token_id)
                .bind(scope.org_id())
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("api token", err))?;
                api_token_from_row(&row)
            }

            async fn api_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ApiToken, StoreError> {
                let row = sqlx::query(concat!("SELECT ", api_token_columns!(), " FROM api_tokens WHERE token_hash = $1"))
                    .bind(token_hash.as_slice())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("api token", err))?;
                api_token_from_row(&row)
            }

            async fn touch_api_token(&self, token_id: i64, now_us: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE api_tokens SET last_used_us = CASE WHEN coalesce(last_used_us, 0) > $1 THEN last_used_us ELSE $1 END WHERE id = $2")
                    .bind(now_us)
                    .bind(token_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn key_check(&self) -> Result<Option<[u8; 32]>, StoreError> {
                if !self.has_table("instance_key_check").await? {
                    return Ok(None);
                }
                let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT key_check FROM instance_key_check WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?;
                stored.map(hash32).transpose()
            }

            async fn set_key_check(&self, key_check: &[u8; 32]) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO instance_key_check (id, key_check) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                    .bind(key_check.as_slice())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                let rows = sqlx::query("SELECT id, public_key, seed_sealed, created_at_us FROM signing_keys ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(SigningKeyRecord {
                            id: row.try_get("id")?,
                            public_key: row.try_get("public_key")?,
                            seed_sealed: row.try_get("seed_sealed")?,
                            created_at_us: row.try_get("created_at_us")?,
                        })
                    })
                    .collect()
            }

            async fn add_signing_key(&self, public_key: &[u8], seed_sealed: &[u8], now_us: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO signing_keys (public_key, seed_sealed, created_at_us) VALUES ($1, $2, $3)")
                    .bind(public_key)
                    .bind(seed_sealed)
                    .bind(now_us)
                    .execute(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("signing key", err))?;
                Ok(())
            }
        }

        fn api_token_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<ApiToken, StoreError> {
            Ok(ApiToken {
                id: row.try_get("id")?,
                org_id: row.try_get("org_id")?,
                user_id: row.try_get("user_id")?,
                name: row.try_get("name")?,
                role: parse_role(&row.try_get::<String, _>("role")?)?,
                created_at_us: row.try_get("created_at_us")?,
                expires_at_us: row.try_get("expires_at_us")?,
                last_used_us: row.try_get("last_used_us")?,
                revoked: row.try_get("revoked")?,
            })
        }
    };
}
pub(crate) use token_store;
