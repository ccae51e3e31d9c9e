//! The Logvault server: configuration, start-up, TLS, and the HTTP API.
//!
//! `main` stays thin: the binary parses flags into [`config::Overrides`], loads a [`config::Config`] and calls
//! [`server::start`]. Tests start the very same server in-process on `127.0.0.1:0`.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod devices;
pub mod error;
pub mod http;
pub mod mail;
pub mod server;
pub mod signing;
mod state;
pub mod telemetry;
pub mod tls;

pub use server::{RunningServer, start};
