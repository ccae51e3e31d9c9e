//! The logger's bounded sample memory, with its two behaviours when full.

use std::collections::VecDeque;

use logvault_protocol::Sample;

/// What the memory does with a new sample once it holds `capacity` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryMode {
    /// Drop the oldest sample to make room (a ring buffer). The default.
    #[default]
    OverwriteOldest,
    /// Keep what is stored and refuse new samples until the memory is cleared.
    StopWhenFull,
}

/// Outcome of storing one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored; nothing was lost.
    Appended,
    /// Stored after dropping the oldest sample.
    OverwroteOldest,
    /// Not stored: the memory is full and in [`MemoryMode::StopWhenFull`].
    RejectedFull,
}

/// A memory of zero samples cannot hold anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the memory capacity must be at least one sample")]
pub struct MemoryError;

/// At most `capacity` samples, oldest first.
#[derive(Debug, Clone)]
pub struct Memory {
    capacity: usize,
    mode: MemoryMode,
    samples: VecDeque<Sample>,
}

impl Memory {
    pub fn new(capacity: usize, mode: MemoryMode) -> Result<Self, MemoryError> {
        if capacity == 0 {
            return Err(MemoryError);
        }
        // Reserve lazily: a large configured capacity should not cost memory up front.
        Ok(Self { capacity, mode, samples: VecDeque::new() })
    }

    pub fn push(&mut self, sample: Sample) -> Stored {
        if self.samples.len() < self.capacity {
            self.samples.push_back(sample);
            return Stored::Appended;
        }
        match self.mode {
            MemoryMode::OverwriteOldest => {
                self.samples.pop_front();
                self.samples.push_back(sample);
                Stored::OverwroteOldest
            }
            MemoryMode::StopWhenFull => Stored::RejectedFull,
        }
    }

    /// Forgets every sample (the counter of the logger is not affected).
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.samples.len() == self.capacity
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn mode(&self) -> MemoryMode {
        self.mode
    }

    /// The stored samples, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Sample> {
        self.samples.iter()
    }

    pub fn newest(&self) -> Option<&Sample> {
        self.samples.back()
    }
}
