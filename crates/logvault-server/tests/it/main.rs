//! Integration tests of the server, started in-process on 127.0.0.1:0 with a fresh database per test, on both
//! engines.

#![allow(clippy::unwrap_used, reason = "in a test, a failing unwrap is a failing assertion")]

mod access;
mod browser;
mod cross_site_ingest;
mod devices;
mod errors;
mod exports;
mod health;
mod helpers;
mod identity;
mod ingest;
mod ingest_rules;
mod mail;
mod members;
mod metrics;
mod mfa;
mod openapi;
mod otp;
mod protocol_errors;
mod retention;
mod serials;
mod smtp_sink;
mod throttle;
mod tidy;
mod tls;
mod web;
