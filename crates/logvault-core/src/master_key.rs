//! The master key: the one secret that lives outside the database and from which every at-rest key is derived.
//!
//! The key is 32 random bytes from the OS CSPRNG, stored hex-encoded in a file with 0600 permissions. Sub-keys are
//! derived with HKDF-SHA-256 under a fixed purpose label, so the SQLCipher key, the data-key wrapping key and the
//! signing-key wrapping key are independent even though one file backs them all.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of the master key in bytes (256 bits).
pub const MASTER_KEY_LEN: usize = 32;

/// The master key. `Debug` never prints the key material.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

/// A 256-bit key derived from the master key for one purpose.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SubKey([u8; 32]);

/// Where the master key comes from and whether a new one may be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// A key file given explicitly (`LOGVAULT_MASTER_KEY_FILE`): it must exist, it is never created.
    ExplicitFile(PathBuf),
    /// The default key file in the data directory: created on first start if no data exists yet.
    DataDirFile(PathBuf),
}

/// Why the master key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key file {path} does not exist")]
    Missing { path: PathBuf },
    #[error(
        "master key file {path} does not exist but the data directory already holds a database; \
         refusing to create a new key that could not open it"
    )]
    MissingWithExistingData { path: PathBuf },
    #[error("master key file {path} is malformed: expected {expected} hex digits")]
    Malformed { path: PathBuf, expected: usize },
    #[error("master key file {path} is readable by group or others (mode {mode:o}); run: chmod 600 {path}")]
    TooPermissive { path: PathBuf, mode: u32 },
    #[error("could not read or write master key file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the operating system random number generator failed")]
    Random,
}

impl MasterKeySource {
    /// The path of the key file.
    pub fn path(&self) -> &Path {
        match self {
            MasterKeySource::ExplicitFile(path) | MasterKeySource::DataDirFile(path) => path,
        }
    }
}

impl MasterKey {
    /// Loads the master key, creating the data-directory key file when nothing depends on an older key yet.
    ///
    /// `existing_data` says whether the data directory already holds data that an earlier key encrypted; in that
    /// case a missing key file is an error rather than a reason to create a new key.
    pub fn load_or_create(source: &MasterKeySource, existing_data: bool) -> Result<MasterKey, MasterKeyError> {
        let path = source.path();
        match fs::metadata(path) {
            Ok(_) => MasterKey::load(path),
            Err(err) if err.kind() == io::ErrorKind::NotFound => match source {
                MasterKeySource::ExplicitFile(_) => Err(MasterKeyError::Missing { path: path.to_owned() }),
                MasterKeySource::DataDirFile(_) if existing_data => {
                    Err(MasterKeyError::MissingWithExistingData { path: path.to_owned() })
                }
                MasterKeySource::DataDirFile(_) => MasterKey::create(path),
            },
            Err(source) => Err(MasterKeyError::Io { path: path.to_owned(), source }),
        }
    }

    /// Loads an existing key file.
    pub fn load(path: &Path) -> Result<MasterKey, MasterKeyError> {
        use std::io::Read;
        let io_err = |source| MasterKeyError::Io { path: path.to_owned(), source };
        // Open once and check the handle itself, so the file checked is the file read.
        let mut file = fs::File::open(path).map_err(io_err)?;
        let metadata = file.metadata().map_err(io_err)?;
        if !metadata.is_file() {
            return Err(MasterKeyError::Io {
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        check_permissions(path, &metadata)?;
        let mut text = Zeroizing::new(String::new());
        file.read_to_string(&mut text).map_err(io_err)?;
        let mut key = [0u8; MASTER_KEY_LEN];
        hex::decode_to_slice(text.trim(), &mut key)
            .map_err(|_| MasterKeyError::Malformed { path: path.to_owned(), expected: MASTER_KEY_LEN * 2 })?;
        Ok(MasterKey(key))
    }

    /// Creates a new random key file with mode 0600; fails if the file appeared in the meantime.
    pub fn create(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let io_err = |source| MasterKeyError::Io { path: path.to_owned(), source };
        let mut key = [0u8; MASTER_KEY_LEN];
        getrandom::fill(&mut key).map_err(|_| MasterKeyError::Random)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_err)?;
        let text = Zeroizing::new(hex::encode(key));
        file.write_all(text.as_bytes()).map_err(io_err)?;
        file.write_all(b"\n").map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(MasterKey(key))
    }

    /// Derives the 256-bit key for one purpose. Labels are fixed strings such as `"logvault/sqlcipher/v1"`.
    pub fn derive(&self, purpose: &str) -> SubKey {
        let hkdf = Hkdf::<Sha256>::new(Some(b"logvault master key"), &self.0);
        let mut out = [0u8; 32];
        // HKDF-SHA-256 can produce up to 8160 bytes; 32 can never fail.
        if hkdf.expand(purpose.as_bytes(), &mut out).is_err() {
            unreachable!("HKDF-SHA-256 expand of 32 bytes cannot fail");
        }
        SubKey(out)
    }
}

impl SubKey {
    /// A fresh random 256-bit key from the operating system (a per-organisation data key).
    pub fn generate() -> Result<SubKey, crate::token::RandomError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|_| crate::token::RandomError)?;
        Ok(SubKey(key))
    }

    /// A key from its bytes (an unwrapped data key).
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> SubKey {
        SubKey(bytes)
    }

    /// The raw key bytes, for handing to a cipher.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for interfaces that take a textual key (SQLCipher's raw-key pragma).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl std::fmt::Debug for SubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubKey([redacted])")
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path, metadata: &fs::Metadata) -> Result<(), MasterKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::TooPermissive { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _metadata: &fs::Metadata) -> Result<(), MasterKeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_is_created_with_mode_0600_and_loads_back_to_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let source = MasterKeySource::DataDirFile(path.clone());
        let created = MasterKey::load_or_create(&source, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let loaded = MasterKey::load_or_create(&source, true).unwrap();
        assert_eq!(created.derive("x").expose(), loaded.derive("x").expose());
    }

    #[test]
    fn an_explicit_key_file_is_never_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let err = MasterKey::load_or_create(&MasterKeySource::ExplicitFile(path.clone()), false).unwrap_err();
        assert!(matches!(err, MasterKeyError::Missing { .. }));
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_key_beside_existing_data_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let err = MasterKey::load_or_create(&MasterKeySource::DataDirFile(path.clone()), true).unwrap_err();
        assert!(matches!(err, MasterKeyError::MissingWithExistingData { .. }));
        assert!(!path.exists());
    }

    #[test]
    fn a_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(MasterKey::load(&path), Err(MasterKeyError::TooPermissive { .. })));
        }
    }

    #[test]
    fn a_malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::create(&path).unwrap();
        fs::write(&path, "not hex").unwrap();
        assert!(matches!(MasterKey::load(&path), Err(MasterKeyError::Malformed { .. })));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_debug_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::create(&dir.path().join("k")).unwrap();
        assert_ne!(key.derive("a").expose(), key.derive("b").expose());
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
        assert_eq!(format!("{:?}", key.derive("a")), "SubKey([redacted])");
    }
}
