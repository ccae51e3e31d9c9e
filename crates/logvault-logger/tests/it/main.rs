//! Integration tests of the logger model, the simulator and the `sim` command logic.

mod cli;
mod counter;
mod logger;
mod memory;
mod simulator;
