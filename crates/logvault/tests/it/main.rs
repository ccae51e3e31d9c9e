//! End-to-end tests of the `logvault` binary as an operator runs it: a real process, real files, real ports.

#![allow(clippy::unwrap_used, reason = "in a test, a failing unwrap is a failing assertion")]

mod access;
mod admin;
mod audit;
mod crash;
mod ingest;
mod logs;
mod serve;
mod sim;
mod support;
