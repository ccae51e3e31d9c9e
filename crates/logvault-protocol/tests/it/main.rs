//! Integration tests of the protocol crate: one binary, one module per concern.

mod fixtures;
mod keys;
mod resolution;
mod round_trip;
mod tamper;
mod text_forms;
mod vectors;
