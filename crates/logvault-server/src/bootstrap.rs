//! Opening what a running instance stands on: the data directory, the master key and the store.
//!
//! Used by `serve` and by every admin command, so all of them honour `--data-dir`, `--database-url` and
//! `LOGVAULT_MASTER_KEY_FILE` the same way and can run beside a live server.

use std::sync::Arc;

use anyhow::Context;
use logvault_core::{MasterKey, MasterKeySource};
use logvault_store::{Location, Store};

use crate::config::Config;

/// The master key derivation label of the salt used to hash client addresses in logs.
pub const IP_LOG_SALT_PURPOSE: &str = "logvault/log-ip-salt/v1";

/// The master key derivation label of the key binding CSRF tokens to sessions.
pub const CSRF_KEY_PURPOSE: &str = "logvault/csrf/v1";

/// What an instance has opened.
#[derive(Debug)]
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
}

/// Whether to apply pending migrations while opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Apply,
    Leave,
}

/// Creates the data directory (0700) if needed, loads or creates the master key, and opens the store.
///
/// Nothing is created when the store cannot be opened with an existing key: a wrong key leaves the data
/// directory as it was.
pub async fn open(config: &Config, migrations: Migrations) -> anyhow::Result<Opened> {
    create_private_dir(&config.data_dir)
        .with_context(|| format!("could not create the data directory {}", config.data_dir.display()))?;
    let sqlite_path = config.sqlite_path();
    let key_source = match &config.master_key_file {
        Some(path) => MasterKeySource::ExplicitFile(path.clone()),
        None => MasterKeySource::DataDirFile(config.data_dir.join("master.key")),
    };
    let existing_data = config.database_url.is_none() && sqlite_path.exists();
    let master_key = MasterKey::load_or_create(&key_source, existing_data)?;
    let location = match &config.database_url {
        Some(url) => Location::Postgres { url: url.clone() },
        None => Location::Sqlite {
            path: sqlite_path,
            key: master_key.derive(logvault_store::sqlite::SQLCIPHER_KEY_PURPOSE),
        },
    };
    let store = match migrations {
        Migrations::Apply => logvault_store::open_and_migrate(location).await?,
        Migrations::Leave => logvault_store::open(location).await?,
    };
    Ok(Opened { store, master_key })
}

/// Creates `dir` and its parents; a newly created directory is readable by its owner only.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
