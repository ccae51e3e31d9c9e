//! Domain rules and key custody shared by every Logvault crate.
//!
//! Nothing here knows about HTTP or SQL: the types parse untrusted input once (parse, don't validate) and the rest
//! of the code relies on the invariants they carry.

pub mod alarm;
pub mod audit;
pub mod authz;
pub mod blockchain;
pub mod custody;
pub mod email;
pub mod envelope;
pub mod master_key;
pub mod org;
pub mod password;
pub mod recovery;
pub mod redact;
pub mod retention;
pub mod segment;
pub mod stats;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod webhook;

pub use email::{Email, EmailError};
pub use master_key::{MasterKey, MasterKeyError, MasterKeySource, SubKey};
pub use org::{OrgName, OrgNameError};
