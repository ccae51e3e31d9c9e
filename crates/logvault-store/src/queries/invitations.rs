//! Invitations: single use, expiring; the token is stored as its SHA-256.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Invitations: single use, expiring; the token is stored as its SHA-256.
#[async_trait::async_trait]
pub trait InvitationStore: Send + Sync {
    async fn create_invitation(&self, scope: &OrgScope, invitation: NewInvitation) -> Result<Invitation, StoreError>;

    /// Invitations neither accepted, revoked nor expired at `now_us`.
    async fn invitations(&self, scope: &OrgScope, now_us: i64) -> Result<Vec<Invitation>, StoreError>;

    async fn revoke_invitation(&self, scope: &OrgScope, invitation_id: i64) -> Result<Invitation, StoreError>;

    /// The live invitation with this token hash and its organisation; `NotFound` if it is unknown, used, revoked or
    /// expired. The token is the authority here, so no scope is needed.
    async fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
        now_us: i64,
    ) -> Result<(Invitation, Organisation), StoreError>;

    /// Uses the invitation, in one transaction: marks it accepted (once only), creates the account or checks that
    /// `acceptance` names the invited address's account (`Conflict` otherwise, nothing changed), sets a password
    /// only as [`Acceptance`] allows, and adds the membership (an existing membership is left as it is).
    async fn accept_invitation(
        &self,
        token_hash: &[u8; 32],
        now_us: i64,
        acceptance: Acceptance<'_>,
    ) -> Result<AcceptedInvitation, StoreError>;
}

/// Implements [`InvitationStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! invitation_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::invitations::InvitationStore for $S {
            async fn create_invitation(&self, scope: &OrgScope, invitation: NewInvitation) -> Result<Invitation, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO invitations (org_id, email, role, token_hash, invited_by, purpose, created_at_us, expires_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(scope.org_id())
                .bind(invitation.email.as_str())
                .bind(invitation.role.as_str())
                .bind(invitation.token_hash.as_slice())
                .bind(invitation.invited_by)
                .bind(invitation.purpose.as_str())
                .bind(invitation.now_us)
                .bind(invitation.expires_at_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("invitation", err))?;
                Ok(Invitation {
                    id,
                    org_id: scope.org_id(),
                    email: invitation.email,
                    role: invitation.role,
                    invited_by: invitation.invited_by,
                    purpose: invitation.purpose,
                    created_at_us: invitation.now_us,
                    expires_at_us: invitation.expires_at_us,
                })
            }

            async fn invitations(&self, scope: &OrgScope, now_us: i64) -> Result<Vec<Invitation>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, org_id, email, role, invited_by, purpose, created_at_us, expires_at_us FROM invitations \
                     WHERE org_id = $1 AND accepted_at_us IS NULL AND revoked = FALSE AND expires_at_us > $2 ORDER BY id",
                )
                .bind(scope.org_id())
                .bind(now_us)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(invitation_from_row).collect()
            }

            async fn revoke_invitation(&self, scope: &OrgScope, invitation_id: i64) -> Result<Invitation, StoreError> {
                let row = sqlx::query(
                    "UPDATE invitations SET revoked = TRUE WHERE id = $1 AND org_id = $2 AND accepted_at_us IS NULL AND revoked = FALSE \
                     RETURNING id, org_id, email, role, invited_by, purpose, created_at_us, expires_at_us",
                )
                .bind(invitation_id)
                .bind(scope.org_id())
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("invitation", err))?;
                invitation_from_row(&row)
            }

            async fn invitation_by_token(
                &self,
                token_hash: &[u8; 32],
                now_us: i64,
            ) -> Result<(Invitation, Organisation), StoreError> {
                let row = sqlx::query(
                    "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, i.purpose, i.created_at_us, i.expires_at_us, \
                     o.name, o.created_at FROM invitations i JOIN organisations o ON o.id = i.org_id \
                     WHERE i.token_hash = $1 AND i.accepted_at_us IS NULL AND i.revoked = FALSE AND i.expires_at_us > $2",
                )
                .bind(token_hash.as_slice())
                .bind(now_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("invitation", err))?;
                let invitation = invitation_from_row(&row)?;
                let name: String = row.try_get("name")?;
                let organisation = Organisation {
                    id: invitation.org_id,
                    name: OrgName::parse(&name).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
                    created_at: row.try_get("created_at")?,
                };
                Ok((invitation, organisation))
            }

            async fn accept_invitation(
                &self,
                token_hash: &[u8; 32],
                now_us: i64,
                acceptance: Acceptance<'_>,
            ) -> Result<AcceptedInvitation, StoreError> {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "UPDATE invitations SET accepted_at_us = $1 \
                     WHERE token_hash = $2 AND accepted_at_us IS NULL AND revoked = FALSE AND expires_at_us > $3 \
                     RETURNING org_id, email, role, purpose",
                )
                .bind(now_us)
                .bind(token_hash.as_slice())
                .bind(now_us)
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| StoreError::from_sqlx("invitation", err))?;
                let org_id: i64 = row.try_get("org_id")?;
                let email: String = row.try_get("email")?;
                let invited_role = parse_role(&row.try_get::<String, _>("role")?)?;
                let purpose = InvitationPurpose::parse(&row.try_get::<String, _>("purpose")?)?;
                let existing = sqlx::query("SELECT id, email, name, disabled, created_at_us FROM users WHERE email = $1")
                    .bind(&email)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (user, created_user) = match (acceptance, existing) {
                    (Acceptance::NewAccount { name, password_hash }, None) => {
                        let row = sqlx::query(
                            "INSERT INTO users (email, name, password_hash, created_at_us) VALUES ($1, $2, $3, $4) \
                             RETURNING id, email, name, disabled, created_at_us",
                        )
                        .bind(&email)
                        .bind(name)
                        .bind(password_hash)
                        .bind(now_us)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::from_sqlx("user", err))?;
                        (user_from_row(&row)?, true)
                    }
                    (Acceptance::Existing { user_id, password_hash }, Some(row)) => {
                        let user = user_from_row(&row)?;
                        if user.id != user_id {
                            return Err(StoreError::Conflict { entity: "invitation" });
                        }
                        if let (InvitationPurpose::Setup, Some(hash)) = (purpose, password_hash) {
                            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash IS NULL")
                                .bind(hash)
                                .bind(user.id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        (user, false)
                    }
                    _ => return Err(StoreError::Conflict { entity: "invitation" }),
                };
                let inserted = sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at_us) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, user_id) DO NOTHING",
                )
                .bind(org_id)
                .bind(user.id)
                .bind(invited_role.as_str())
                .bind(now_us)
                .execute(&mut *tx)
                .await?;
                let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                    .bind(org_id)
                    .bind(user.id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(AcceptedInvitation {
                    user,
                    org_id,
                    role: parse_role(&role)?,
                    created_user,
                    new_membership: inserted.rows_affected() == 1,
                })
            }
        }

        fn invitation_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<Invitation, StoreError> {
            let email: String = row.try_get("email")?;
            Ok(Invitation {
                id: row.try_get("id")?,
                org_id: row.try_get("org_id")?,
                email: Email::parse(&email).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
                role: parse_role(&row.try_get::<String, _>("role")?)?,
                invited_by: row.try_get("invited_by")?,
                purpose: InvitationPurpose::parse(&row.try_get::<String, _>("purpose")?)?,
                created_at_us: row.try_get("created_at_us")?,
                expires_at_us: row.try_get("expires_at_us")?,
            })
        }
    };
}
pub(crate) use invitation_store;
