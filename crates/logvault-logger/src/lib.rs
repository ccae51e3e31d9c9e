//! Model of a Logvault data logger, and a deterministic simulator of loggers and their series.
//!
//! A [`Logger`] samples its channels by a [`SamplingRule`], scales every reading to the
//! channel's [`ResolutionTable`](logvault_protocol::ResolutionTable), keeps the samples in a
//! bounded [`Memory`] (overwrite oldest, or stop when full), and issues sealed blocks whose
//! counter comes from a [`CounterStore`] that persists it *before* the block leaves the
//! device. [`sim`] generates reproducible synthetic series and fleets; [`cli`] holds the logic
//! behind `logvault sim`.

mod counter;
mod logger;
mod memory;
mod sampling;

pub mod cli;
pub mod sim;

pub use counter::{CounterError, CounterStore, FileCounterStore, MemoryCounterStore};
pub use logger::{Logger, LoggerConfig, LoggerError, Observation};
pub use memory::{Memory, MemoryError, MemoryMode, Stored};
pub use sampling::SamplingRule;
