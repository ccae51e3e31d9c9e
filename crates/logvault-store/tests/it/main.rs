//! The storage conformance suite: every test runs on SQLite always and on PostgreSQL when configured.

mod encryption;
mod migrations;
mod organisations;
