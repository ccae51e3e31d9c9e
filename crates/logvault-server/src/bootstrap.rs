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

/// The master key derivation label of the key sealing TOTP secrets.
pub const TOTP_KEY_PURPOSE: &str = "logvault/totp/v1";

/// The master key derivation label of the key under which recovery codes are hashed.
pub const RECOVERY_KEY_PURPOSE: &str = "logvault/recovery-codes/v1";

/// The master key derivation label of the key under which email sign-in codes are hashed.
pub const OTP_KEY_PURPOSE: &str = "logvault/email-codes/v1";

/// The master key derivation label of the key binding CSRF tokens to sessions.
pub const CSRF_KEY_PURPOSE: &str = "logvault/csrf/v1";

/// The master key derivation label of the value that tells whether a master key belongs to a database.
pub const KEY_CHECK_PURPOSE: &str = "logvault/key-check/v1";

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

/// Loads the master key and opens the store, checking that the key belongs to the database; then, with
/// [`Migrations::Apply`], migrates.
///
/// Order matters: a malformed database URL fails before anything is written; a wrong master key fails before
/// anything is written (SQLCipher refuses it on SQLite; the stored key check catches it on PostgreSQL); a missing
/// key file beside existing data is an error, never a reason to make a new key.
pub async fn open(config: &Config, migrations: Migrations) -> anyhow::Result<Opened> {
    let key_source = match &config.master_key_file {
        Some(path) => MasterKeySource::ExplicitFile(path.clone()),
        None => MasterKeySource::DataDirFile(config.data_dir.join("master.key")),
    };
    let (store, master_key) = match &config.database_url {
        Some(url) => {
            // Connecting needs no key; whether the database already has data decides whether a key may be created.
            let store = logvault_store::open(Location::Postgres { url: url.clone() }).await?;
            let existing_data = store.key_check().await?.is_some();
            create_private_dir(&config.data_dir)
                .with_context(|| format!("could not create the data directory {}", config.data_dir.display()))?;
            let master_key = MasterKey::load_or_create(&key_source, existing_data)?;
            (store, master_key)
        }
        None => {
            create_private_dir(&config.data_dir)
                .with_context(|| format!("could not create the data directory {}", config.data_dir.display()))?;
            let sqlite_path = config.sqlite_path();
            let master_key = MasterKey::load_or_create(&key_source, sqlite_path.exists())?;
            let key = master_key.derive(logvault_store::sqlite::SQLCIPHER_KEY_PURPOSE);
            let store = logvault_store::open(Location::Sqlite { path: sqlite_path, key }).await?;
            (store, master_key)
        }
    };
    if let Some(stored) = store.key_check().await?
        && !bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_slice(), key_check(&master_key).as_slice()))
    {
        store.close().await;
        anyhow::bail!(
            "the master key does not belong to this database (wrong LOGVAULT_MASTER_KEY_FILE, or a new key was \
             made for an existing database)"
        );
    }
    let opened = Opened { store, master_key };
    if migrations == Migrations::Apply {
        opened.migrate().await?;
    }
    Ok(opened)
}

impl Opened {
    /// Applies pending migrations (refusing a database written by a newer binary) and records the key check.
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        let status = self.store.migration_status().await?;
        anyhow::ensure!(
            status.unknown.is_empty(),
            "the database has migrations {:?} that this binary does not know; run a newer logvault",
            status.unknown
        );
        let applied = self.store.migrate().await?;
        self.store.set_key_check(&key_check(&self.master_key)).await?;
        Ok(applied)
    }
}

/// SHA-256 of a purpose-derived key: identifies the master key without revealing anything about it.
fn key_check(master_key: &MasterKey) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(master_key.derive(KEY_CHECK_PURPOSE).expose()).into()
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
