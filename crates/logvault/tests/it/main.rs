//! End-to-end tests of the `logvault` binary as an operator runs it: a real process, real files, real ports.

mod admin;
mod logs;
mod serve;
mod support;
