//! Integration tests of logvault-export: every format checked with a real reader.

mod pdf;
