//! User accounts and the memberships they hold.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// User accounts and the memberships they hold.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    async fn create_user(
        &self,
        email: &Email,
        name: &str,
        password_hash: Option<&str>,
        now_us: i64,
    ) -> Result<User, StoreError>;

    /// The user with this address and their password hash; `NotFound` for an unknown address.
    async fn user_credentials(&self, email: &Email) -> Result<Credentials, StoreError>;

    async fn user_by_id(&self, user_id: i64) -> Result<User, StoreError>;

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError>;

    /// The scope of `org_id` and the user's role there; `NotFound` unless the user is a member right now.
    async fn scope_for_member(&self, user_id: i64, org_id: i64) -> Result<(OrgScope, Role), StoreError>;

    async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError>;

    /// Whether any organisation the user belongs to requires a second factor.
    async fn user_requires_mfa(&self, user_id: i64) -> Result<bool, StoreError>;

    /// Disables or re-enables an account. Disabling revokes its sessions and API tokens in the same transaction.
    async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> Result<(), StoreError>;

    async fn count_users(&self) -> Result<i64, StoreError>;
}

/// Implements [`IdentityStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! identity_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::identity::IdentityStore for $S {
            async fn create_user(
                &self,
                email: &Email,
                name: &str,
                password_hash: Option<&str>,
                now_us: i64,
            ) -> Result<User, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (email, name, password_hash, created_at_us) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(email.as_str())
                .bind(name)
                .bind(password_hash)
                .bind(now_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("user", err))?;
                Ok(User { id, email: email.clone(), name: name.to_owned(), disabled: false, created_at_us: now_us })
            }

            async fn user_credentials(&self, email: &Email) -> Result<Credentials, StoreError> {
                let row =
                    sqlx::query("SELECT id, email, name, disabled, created_at_us, password_hash FROM users WHERE email = $1")
                        .bind(email.as_str())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|err| StoreError::from_sqlx("user", err))?;
                Ok(Credentials { user: user_from_row(&row)?, password_hash: row.try_get("password_hash")? })
            }

            async fn user_by_id(&self, user_id: i64) -> Result<User, StoreError> {
                let row = sqlx::query("SELECT id, email, name, disabled, created_at_us FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("user", err))?;
                user_from_row(&row)
            }

            async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { entity: "user" });
                }
                Ok(())
            }

            async fn scope_for_member(&self, user_id: i64, org_id: i64) -> Result<(OrgScope, Role), StoreError> {
                let row = sqlx::query(
                    "SELECT m.role, m.site_id FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.user_id = $1 AND m.org_id = $2 AND u.disabled = FALSE",
                )
                .bind(user_id)
                .bind(org_id)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("membership", err))?;
                let role: String = row.try_get("role")?;
                Ok((OrgScope::new(org_id, row.try_get("site_id")?), parse_role(&role)?))
            }

            async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError> {
                let rows = sqlx::query(
                    "SELECT o.id, o.name, o.created_at, m.role, m.site_id FROM memberships m \
                     JOIN organisations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let role: String = row.try_get("role")?;
                        Ok(Membership {
                            organisation: organisation_from_row(row)?,
                            role: parse_role(&role)?,
                            site_id: row.try_get("site_id")?,
                        })
                    })
                    .collect()
            }

            async fn user_requires_mfa(&self, user_id: i64) -> Result<bool, StoreError> {
                let require: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM memberships m JOIN organisations o ON o.id = m.org_id \
                     WHERE m.user_id = $1 AND o.require_mfa)",
                )
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(require)
            }

            async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                    .bind(disabled)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { entity: "user" });
                }
                if disabled {
                    sqlx::query("UPDATE sessions SET revoked = TRUE WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE api_tokens SET revoked = TRUE WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn count_users(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&self.pool).await?)
            }
        }

        fn user_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<User, StoreError> {
            let email: String = row.try_get("email")?;
            Ok(User {
                id: row.try_get("id")?,
                email: Email::parse(&email).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
                name: row.try_get("name")?,
                disabled: row.try_get("disabled")?,
                created_at_us: row.try_get("created_at_us")?,
            })
        }
    };
}
pub(crate) use identity_store;
