//! The storage error type, mapped from sqlx errors in one place.

/// What went wrong in the storage layer. The HTTP layer maps `NotFound` and `Conflict` to 404 and 409 and treats the
/// rest as internal errors whose detail goes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    #[error("{entity} already exists")]
    Conflict { entity: &'static str },
    /// The change would leave an organisation without an owner.
    #[error("an organisation must keep at least one owner")]
    LastOwner,
    #[error(
        "cannot decrypt the database {path}: wrong master key, or not an encrypted Logvault database \
         (check LOGVAULT_MASTER_KEY_FILE)"
    )]
    WrongKey { path: String },
    #[error("the database schema has migrations {unknown:?} that this binary does not know; run a newer logvault")]
    SchemaTooNew { unknown: Vec<i64> },
    #[error("the database URL is not a valid postgres:// URL")]
    InvalidUrl,
    #[error("could not apply database migrations")]
    Migration(#[source] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("could not prepare the database location")]
    Io(#[source] std::io::Error),
    /// SQLite group commit: the transaction this block shared with others failed as a whole.
    #[error("the commit holding this block failed")]
    GroupCommit(#[source] std::sync::Arc<StoreError>),
    /// SQLite group commit: the writer task is gone (its runtime shut down).
    #[error("the ingest writer has stopped")]
    WriterStopped,
}

impl StoreError {
    /// Maps a sqlx error, turning unique violations into conflicts on `entity`.
    pub(crate) fn from_sqlx(entity: &'static str, err: sqlx::Error) -> StoreError {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound { entity },
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { entity },
            _ => StoreError::Database(err),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> StoreError {
        StoreError::Database(err)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migration(err)
    }
}
