//! Persistence of the block counter: it must increase strictly over the life of a device,
//! across restarts and power loss, because it also fixes the IV of each block.
//!
//! The rule: a counter is written to stable storage *before* the block carrying it is
//! released. A crash between the write and the release only skips a number; it can never make
//! the device reuse one.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why the counter could not be read or advanced.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("cannot read the block counter from {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the block counter file {path} does not hold a number")]
    Corrupt { path: PathBuf },
    #[error("cannot write the block counter to {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the block counter is exhausted")]
    Exhausted,
    #[error("the counter store refused the write")]
    Refused,
}

/// Durable storage of the last block counter a device issued.
pub trait CounterStore {
    /// The last counter issued, or 0 if none was ever issued.
    fn load(&mut self) -> Result<u64, CounterError>;
    /// Durably records `counter` as issued. Must not return before the value would survive a
    /// power loss.
    fn persist(&mut self, counter: u64) -> Result<(), CounterError>;

    /// Reserves the next counter: loads, increments, persists, and only then returns it.
    fn reserve_next(&mut self) -> Result<u64, CounterError> {
        let next = self.load()?.checked_add(1).ok_or(CounterError::Exhausted)?;
        self.persist(next)?;
        Ok(next)
    }
}

/// Counter in a small text file, replaced atomically (write to a temporary file, fsync,
/// rename, fsync the directory) so that a crash leaves either the old or the new value.
#[derive(Debug, Clone)]
pub struct FileCounterStore {
    path: PathBuf,
}

impl FileCounterStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn temporary_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".tmp");
        self.path.with_file_name(name)
    }
}

impl CounterStore for FileCounterStore {
    fn load(&mut self) -> Result<u64, CounterError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| CounterError::Corrupt { path: self.path.clone() }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(CounterError::Read { path: self.path.clone(), source }),
        }
    }

    fn persist(&mut self, counter: u64) -> Result<(), CounterError> {
        let write_error = |source| CounterError::Write { path: self.path.clone(), source };
        let temporary = self.temporary_path();
        let mut file = fs::File::create(&temporary).map_err(write_error)?;
        file.write_all(format!("{counter}\n").as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        drop(file);
        fs::rename(&temporary, &self.path).map_err(write_error)?;
        // Make the rename itself durable.
        let directory = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::File::open(directory).and_then(|dir| dir.sync_all()).map_err(write_error)?;
        Ok(())
    }
}

/// Counter held in memory: for simulations and tests. `fail_writes` simulates a storage
/// failure.
#[derive(Debug, Clone, Default)]
pub struct MemoryCounterStore {
    pub last_issued: u64,
    pub fail_writes: bool,
}

impl CounterStore for MemoryCounterStore {
    fn load(&mut self) -> Result<u64, CounterError> {
        Ok(self.last_issued)
    }

    fn persist(&mut self, counter: u64) -> Result<(), CounterError> {
        if self.fail_writes {
            return Err(CounterError::Refused);
        }
        self.last_issued = counter;
        Ok(())
    }
}
