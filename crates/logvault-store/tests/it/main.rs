//! The storage conformance suite: every test runs on SQLite always and on PostgreSQL when configured.

#![allow(clippy::unwrap_used, reason = "in a test, a failing unwrap is a failing assertion")]

mod access;
mod audit;
mod devices;
mod encryption;
mod identity;
mod ingest;
mod migrations;
mod organisations;
mod plans;
mod privileges;
mod retention;
mod rollups;
mod tidy;
