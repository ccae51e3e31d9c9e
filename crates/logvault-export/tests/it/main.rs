//! Integration tests of logvault-export: every format checked with a real reader.
// Helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, reason = "in a test, a failing unwrap is a failing assertion")]

mod pdf;
