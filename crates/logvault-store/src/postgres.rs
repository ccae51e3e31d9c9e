//! The PostgreSQL engine, chosen by a `postgres://` database URL.
//!
//! Encryption at rest is the operator's disk or tablespace encryption here; secrets inside rows are encrypted by the
//! application under the master key either way.

use std::time::Duration;

use logvault_core::OrgName;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

use crate::sqlite::now;
use crate::{Engine, MigrationStatus, Organisation, Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store. Cheap to clone (the pool is reference-counted).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url`. The URL is never logged or put into an error: it may carry a password.
    pub async fn open(url: &SecretString) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.expose_secret().parse().map_err(|_| StoreError::InvalidUrl)?;
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&self.pool).await?;
        let applied = if has_table {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        let embedded: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        Ok(MigrationStatus::compare(&embedded, applied))
    }

    async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let before = self.migration_status().await?;
        MIGRATOR.run(&self.pool).await?;
        Ok(before.pending)
    }

    async fn create_organisation(&self, name: &OrgName) -> Result<Organisation, StoreError> {
        let created_at = now();
        let id: i64 = sqlx::query_scalar("INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name.as_str())
            .bind(created_at)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        Ok(Organisation { id, name: name.clone(), created_at })
    }

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Organisation, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = $1")
            .bind(name.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        organisation_from_row(&row)
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, created_at FROM organisations ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(organisation_from_row).collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn organisation_from_row(row: &sqlx::postgres::PgRow) -> Result<Organisation, StoreError> {
    let name: String = row.try_get("name")?;
    Ok(Organisation {
        id: row.try_get("id")?,
        name: OrgName::parse(&name).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
        created_at: row.try_get("created_at")?,
    })
}
