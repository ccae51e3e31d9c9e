//! Organisations, their policy, members, sites and data keys.
//!
//! The trait, then the one body of each query, expanded for each engine by [`{mac}`] (see [`crate::queries`]).

use super::imports::*;

/// Organisations, their policy, members, sites and data keys.
#[async_trait::async_trait]
pub trait OrgStore: Send + Sync {
    async fn create_organisation(&self, name: &OrgName) -> Result<Organisation, StoreError>;

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Organisation, StoreError>;

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError>;

    async fn organisation(&self, scope: &OrgScope) -> Result<Organisation, StoreError>;

    /// Whether the organisation requires a second factor of its members.
    async fn require_mfa(&self, scope: &OrgScope) -> Result<bool, StoreError>;

    async fn set_require_mfa(&self, scope: &OrgScope, require: bool) -> Result<(), StoreError>;

    async fn member(&self, scope: &OrgScope, user_id: i64) -> Result<Member, StoreError>;

    async fn members(&self, scope: &OrgScope) -> Result<Vec<Member>, StoreError>;

    async fn add_member(&self, scope: &OrgScope, user_id: i64, role: Role, now_us: i64) -> Result<(), StoreError>;

    async fn change_role(&self, scope: &OrgScope, user_id: i64, expected: Role, role: Role) -> Result<(), StoreError>;

    /// Removes the membership and revokes the member's API tokens of this organisation.
    async fn remove_member(&self, scope: &OrgScope, user_id: i64, expected: Role) -> Result<(), StoreError>;

    /// Scopes a membership to one of the organisation's sites, or (with `None`) to the whole organisation again.
    /// `NotFound` if the member or the site is not the organisation's; `Conflict` for an owner or admin, who are
    /// never scoped.
    async fn set_member_site(&self, scope: &OrgScope, user_id: i64, site_id: Option<i64>) -> Result<(), StoreError>;

    /// Creates a site; `Conflict` if the organisation has one of that name.
    async fn create_site(&self, scope: &OrgScope, name: &str, now_us: i64) -> Result<Site, StoreError>;

    /// The organisation's sites — only the scope's own site for a site-scoped scope.
    async fn sites(&self, scope: &OrgScope) -> Result<Vec<Site>, StoreError>;

    /// The organisation's wrapped data key, if it has one yet.
    async fn org_data_key(&self, scope: &OrgScope) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the organisation's wrapped data key unless it has one; returns the one stored (the first writer's, if
    /// two raced), which the caller must use.
    async fn put_org_data_key(&self, scope: &OrgScope, wrapped: &[u8], now_us: i64) -> Result<Vec<u8>, StoreError>;
}

/// Implements [`OrgStore`] for one engine's store; the engine supplies its hooks (see [`crate::queries`]).
macro_rules! org_store {
    ($S:ty, $DB:ty, $for_update:literal) => {
        #[async_trait::async_trait]
        impl $crate::queries::orgs::OrgStore for $S {
            async fn create_organisation(&self, name: &OrgName) -> Result<Organisation, StoreError> {
                let created_at = now();
                let id: i64 =
                    sqlx::query_scalar("INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id")
                        .bind(name.as_str())
                        .bind(created_at)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|err| StoreError::from_sqlx("organisation", err))?;
                Ok(Organisation { id, name: name.clone(), created_at })
            }

            async fn organisation_by_name(&self, name: &OrgName) -> Result<Organisation, StoreError> {
                let query = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = $1");
                one_organisation(&self.pool, query.bind(name.as_str())).await
            }

            async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
                let rows = sqlx::query("SELECT id, name, created_at FROM organisations ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(organisation_from_row).collect()
            }

            async fn organisation(&self, scope: &OrgScope) -> Result<Organisation, StoreError> {
                let query = sqlx::query("SELECT id, name, created_at FROM organisations WHERE id = $1");
                one_organisation(&self.pool, query.bind(scope.org_id())).await
            }

            async fn require_mfa(&self, scope: &OrgScope) -> Result<bool, StoreError> {
                let require: bool = sqlx::query_scalar("SELECT require_mfa FROM organisations WHERE id = $1")
                    .bind(scope.org_id())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("organisation", err))?;
                Ok(require)
            }

            async fn set_require_mfa(&self, scope: &OrgScope, require: bool) -> Result<(), StoreError> {
                sqlx::query("UPDATE organisations SET require_mfa = $1 WHERE id = $2")
                    .bind(require)
                    .bind(scope.org_id())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn member(&self, scope: &OrgScope, user_id: i64) -> Result<Member, StoreError> {
                let row = sqlx::query(
                    "SELECT u.id, u.email, u.name, u.disabled, u.created_at_us, m.role, m.site_id FROM memberships m \
                     JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2",
                )
                .bind(scope.org_id())
                .bind(user_id)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("member", err))?;
                let role: String = row.try_get("role")?;
                Ok(Member { user: user_from_row(&row)?, role: parse_role(&role)?, site_id: row.try_get("site_id")? })
            }

            async fn members(&self, scope: &OrgScope) -> Result<Vec<Member>, StoreError> {
                let rows = sqlx::query(
                    "SELECT u.id, u.email, u.name, u.disabled, u.created_at_us, m.role, m.site_id FROM memberships m \
                     JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
                )
                .bind(scope.org_id())
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let role: String = row.try_get("role")?;
                        Ok(Member {
                            user: user_from_row(row)?,
                            role: parse_role(&role)?,
                            site_id: row.try_get("site_id")?,
                        })
                    })
                    .collect()
            }

            async fn add_member(
                &self,
                scope: &OrgScope,
                user_id: i64,
                role: Role,
                now_us: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at_us) VALUES ($1, $2, $3, $4)")
                    .bind(scope.org_id())
                    .bind(user_id)
                    .bind(role.as_str())
                    .bind(now_us)
                    .execute(&self.pool)
                    .await
                    .map_err(|err| StoreError::from_sqlx("membership", err))?;
                Ok(())
            }

            async fn change_role(
                &self,
                scope: &OrgScope,
                user_id: i64,
                expected: Role,
                role: Role,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                if expected == Role::Owner && role != Role::Owner {
                    keep_an_owner(&mut tx, scope.org_id()).await?;
                }
                let update = "UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3 AND role = $4";
                let update = sqlx::query(update).bind(role.as_str());
                change_membership(&mut tx, update.bind(scope.org_id()).bind(user_id).bind(expected.as_str())).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(&self, scope: &OrgScope, user_id: i64, expected: Role) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                if expected == Role::Owner {
                    keep_an_owner(&mut tx, scope.org_id()).await?;
                }
                let delete = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2 AND role = $3");
                change_membership(&mut tx, delete.bind(scope.org_id()).bind(user_id).bind(expected.as_str())).await?;
                sqlx::query("UPDATE api_tokens SET revoked = TRUE WHERE org_id = $1 AND user_id = $2")
                    .bind(scope.org_id())
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_member_site(
                &self,
                scope: &OrgScope,
                user_id: i64,
                site_id: Option<i64>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                if let Some(site_id) = site_id {
                    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM sites WHERE id = $1 AND org_id = $2")
                        .bind(site_id)
                        .bind(scope.org_id())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if found.is_none() {
                        return Err(StoreError::NotFound { entity: "site" });
                    }
                }
                let role: String =
                    sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                        .bind(scope.org_id())
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|err| StoreError::from_sqlx("member", err))?;
                if site_id.is_some() && matches!(parse_role(&role)?, Role::Owner | Role::Admin) {
                    return Err(StoreError::Conflict { entity: "site scope of an owner or admin" });
                }
                sqlx::query("UPDATE memberships SET site_id = $1 WHERE org_id = $2 AND user_id = $3")
                    .bind(site_id)
                    .bind(scope.org_id())
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_site(&self, scope: &OrgScope, name: &str, now_us: i64) -> Result<Site, StoreError> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sites (org_id, name, created_at_us) VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(scope.org_id())
                .bind(name)
                .bind(now_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("site", err))?;
                Ok(Site { id, org_id: scope.org_id(), name: name.to_owned(), created_at_us: now_us })
            }

            async fn sites(&self, scope: &OrgScope) -> Result<Vec<Site>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, org_id, name, created_at_us FROM sites \
                     WHERE org_id = $1 AND ($2 IS NULL OR id = $3) ORDER BY name",
                )
                .bind_scope(scope)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Site {
                            id: row.try_get("id")?,
                            org_id: row.try_get("org_id")?,
                            name: row.try_get("name")?,
                            created_at_us: row.try_get("created_at_us")?,
                        })
                    })
                    .collect()
            }

            async fn org_data_key(&self, scope: &OrgScope) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(sqlx::query_scalar("SELECT wrapped FROM org_data_keys WHERE org_id = $1")
                    .bind(scope.org_id())
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn put_org_data_key(
                &self,
                scope: &OrgScope,
                wrapped: &[u8],
                now_us: i64,
            ) -> Result<Vec<u8>, StoreError> {
                sqlx::query(
                    "INSERT INTO org_data_keys (org_id, wrapped, created_at_us) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_id) DO NOTHING",
                )
                .bind(scope.org_id())
                .bind(wrapped)
                .bind(now_us)
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT wrapped FROM org_data_keys WHERE org_id = $1")
                    .bind(scope.org_id())
                    .fetch_one(&self.pool)
                    .await?)
            }
        }

        /// Runs `change` on a membership, which changes it only if it still has the role the caller saw:
        /// `Conflict` otherwise (someone changed it meanwhile).
        async fn change_membership(
            conn: &mut <$DB as sqlx::Database>::Connection,
            change: sqlx::query::Query<'_, $DB, <$DB as sqlx::Database>::Arguments>,
        ) -> Result<(), StoreError> {
            match change.execute(&mut *conn).await?.rows_affected() {
                0 => Err(StoreError::Conflict { entity: "membership" }),
                _ => Ok(()),
            }
        }

        /// The one organisation `query` selects; `NotFound` if none.
        async fn one_organisation(
            pool: &sqlx::Pool<$DB>,
            query: sqlx::query::Query<'_, $DB, <$DB as sqlx::Database>::Arguments>,
        ) -> Result<Organisation, StoreError> {
            let row = query.fetch_one(pool).await.map_err(|err| StoreError::from_sqlx("organisation", err))?;
            organisation_from_row(&row)
        }

        fn organisation_from_row(row: &<$DB as sqlx::Database>::Row) -> Result<Organisation, StoreError> {
            let name: String = row.try_get("name")?;
            Ok(Organisation {
                id: row.try_get("id")?,
                name: OrgName::parse(&name).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
                created_at: row.try_get("created_at")?,
            })
        }

        /// Refuses (`LastOwner`) if the organisation has no owner other than the one about to be demoted or removed. The
        /// owners' rows are locked (`FOR UPDATE` on PostgreSQL; SQLite's write transaction holds the whole database), so
        /// two owners demoting each other at once cannot both succeed.
        async fn keep_an_owner(tx: &mut <$DB as sqlx::Database>::Connection, org_id: i64) -> Result<(), StoreError> {
            let owners: Vec<i64> = sqlx::query_scalar(concat!(
                "SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'owner'",
                $for_update
            ))
            .bind(org_id)
            .fetch_all(&mut *tx)
            .await?;
            if owners.len() <= 1 {
                return Err(StoreError::LastOwner);
            }
            Ok(())
        }
    };
}
pub(crate) use org_store;
