//! The logger itself: configuration, observation, memory and block issuing.

use logvault_protocol::{Block, BlockError, Channel, DeviceKey, KeyGeneration, Sample, Serial, seal};

use crate::counter::{CounterError, CounterStore};
use crate::memory::{Memory, MemoryError, MemoryMode, Stored};
use crate::sampling::SamplingRule;

/// How a device is set up.
#[derive(Debug, Clone)]
pub struct LoggerConfig {
    pub serial: Serial,
    /// Channel layout and per-channel resolution tables.
    pub channels: Vec<Channel>,
    pub rule: SamplingRule,
    /// Memory capacity in samples (≥ 1).
    pub capacity: usize,
    pub mode: MemoryMode,
    /// Generation of `key` (rises when the key is rotated).
    pub key_generation: KeyGeneration,
}

/// What the logger did with an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The sampling rule took the observation; how the memory stored it.
    Recorded(Stored),
    /// The sampling rule skipped it.
    Skipped,
}

#[derive(Debug, thiserror::Error)]
pub enum LoggerError {
    #[error("a logger needs 1 to 16 channels")]
    ChannelCount,
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("{given} readings for {expected} channels")]
    WrongNumberOfReadings { given: usize, expected: usize },
    #[error("the clock went backwards: {time} is before the last sample at {last}")]
    ClockWentBackwards { time: i64, last: i64 },
    #[error(transparent)]
    Counter(#[from] CounterError),
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// A data logger with its secret key, memory and counter store.
#[derive(Debug)]
pub struct Logger<S> {
    config: LoggerConfig,
    key: DeviceKey,
    memory: Memory,
    counter_store: S,
    /// The last recorded sample, kept apart from the memory so that the sampling rule and
    /// the clock check survive a cleared or full memory.
    last_recorded: Option<Sample>,
}

impl<S: CounterStore> Logger<S> {
    pub fn new(config: LoggerConfig, key: DeviceKey, counter_store: S) -> Result<Self, LoggerError> {
        if config.channels.is_empty() || config.channels.len() > logvault_protocol::MAX_CHANNELS {
            return Err(LoggerError::ChannelCount);
        }
        let memory = Memory::new(config.capacity, config.mode)?;
        Ok(Self { config, key, memory, counter_store, last_recorded: None })
    }

    pub fn config(&self) -> &LoggerConfig {
        &self.config
    }

    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    pub fn counter_store(&self) -> &S {
        &self.counter_store
    }

    /// Scales raw readings (thousandths of each channel's unit) to the channels' grids;
    /// readings beyond a table are stored as its nearest end.
    pub fn scale(&self, readings: &[i32]) -> Result<Vec<i32>, LoggerError> {
        if readings.len() != self.config.channels.len() {
            return Err(LoggerError::WrongNumberOfReadings {
                given: readings.len(),
                expected: self.config.channels.len(),
            });
        }
        Ok(self.config.channels.iter().zip(readings).map(|(channel, &raw)| channel.resolution.scale(raw)).collect())
    }

    /// Offers a reading to the sampling rule; records it if the rule says so.
    pub fn observe(&mut self, time: i64, readings: &[i32]) -> Result<Observation, LoggerError> {
        let values = self.scale(readings)?;
        self.check_clock(time)?;
        let last = self.last_recorded.as_ref().map(|sample| (sample.time, sample.values.as_slice()));
        if !self.config.rule.should_record(last, time, &values) {
            return Ok(Observation::Skipped);
        }
        Ok(Observation::Recorded(self.store(Sample { time, values })))
    }

    /// Records a reading regardless of the sampling rule (e.g. a button press).
    pub fn record(&mut self, time: i64, readings: &[i32]) -> Result<Stored, LoggerError> {
        let values = self.scale(readings)?;
        self.check_clock(time)?;
        Ok(self.store(Sample { time, values }))
    }

    /// Empties the memory. The block counter and the sampling state are kept.
    pub fn clear_memory(&mut self) {
        self.memory.clear();
    }

    /// The block of the current memory window, with a given counter (no counter is
    /// consumed; see [`issue_block`](Self::issue_block) for that).
    pub fn to_block(&self, counter: u64) -> Result<Block, LoggerError> {
        let samples = self.memory.iter().cloned().collect();
        Ok(Block::new(self.config.serial.clone(), counter, self.config.channels.clone(), samples)?)
    }

    /// Reserves the next counter (persisted before anything is returned) and seals the memory
    /// window with it. Returns the block and its sealed bytes.
    pub fn issue_block(&mut self) -> Result<(Block, Vec<u8>), LoggerError> {
        // Build first so that an invalid window does not burn a counter.
        let unsealed = self.to_block(0)?;
        let counter = self.counter_store.reserve_next()?;
        let block =
            Block::new(unsealed.serial().clone(), counter, unsealed.channels().to_vec(), unsealed.into_samples())?;
        let sealed = seal(&block, &self.key, self.config.key_generation);
        Ok((block, sealed))
    }

    fn check_clock(&self, time: i64) -> Result<(), LoggerError> {
        match &self.last_recorded {
            Some(last) if time < last.time => Err(LoggerError::ClockWentBackwards { time, last: last.time }),
            _ => Ok(()),
        }
    }

    fn store(&mut self, sample: Sample) -> Stored {
        let stored = self.memory.push(sample.clone());
        if stored != Stored::RejectedFull {
            self.last_recorded = Some(sample);
        }
        stored
    }
}
