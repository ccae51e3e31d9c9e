//! The decoded content of a block: serial, counter, channel layout and samples.

use alloc::vec::Vec;

use crate::error::BlockError;
use crate::resolution::ResolutionTable;
use crate::serial::Serial;

/// Most channels in one block.
pub const MAX_CHANNELS: usize = 16;
/// Most samples in one block.
pub const MAX_SAMPLES: usize = 1 << 20;

/// What a channel measures, and so the unit of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Quantity {
    /// Values in milli-degrees Celsius.
    Temperature,
    /// Values in milli-percent relative humidity.
    RelativeHumidity,
}

impl Quantity {
    /// Display unit of the physical value (the stored integers are thousandths of it).
    pub fn unit(self) -> &'static str {
        match self {
            Self::Temperature => "°C",
            Self::RelativeHumidity => "%RH",
        }
    }

    pub(crate) fn wire_id(self) -> u8 {
        match self {
            Self::Temperature => 1,
            Self::RelativeHumidity => 2,
        }
    }

    pub(crate) fn from_wire_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Self::Temperature),
            2 => Some(Self::RelativeHumidity),
            _ => None,
        }
    }
}

/// One channel of a logger: what it measures and the grid its values are stored on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Channel {
    pub quantity: Quantity,
    pub resolution: ResolutionTable,
}

/// One sample: the device time and one value per channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sample {
    /// Device time, UTC seconds since 1970-01-01.
    pub time: i64,
    /// One value per channel, in thousandths of the channel's unit (milli-°C, milli-%RH).
    pub values: Vec<i32>,
}

/// A block: what a logger sends in one go. Built with [`Block::new`], which enforces the
/// invariants every sealed block satisfies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Block {
    serial: Serial,
    counter: u64,
    channels: Vec<Channel>,
    samples: Vec<Sample>,
}

impl Block {
    /// Checks that there are 1–16 channels, at most [`MAX_SAMPLES`] samples, one value per
    /// channel in every sample, values on their channel's grid, and times that never go
    /// backwards (equal times are allowed: a rule-triggered sample can share a second with an
    /// interval sample).
    pub fn new(serial: Serial, counter: u64, channels: Vec<Channel>, samples: Vec<Sample>) -> Result<Self, BlockError> {
        if channels.is_empty() || channels.len() > MAX_CHANNELS {
            return Err(BlockError::ChannelCount);
        }
        if samples.len() > MAX_SAMPLES {
            return Err(BlockError::TooManySamples);
        }
        let mut previous_time = i64::MIN;
        for (sample_idx, sample) in samples.iter().enumerate() {
            if sample.values.len() != channels.len() {
                return Err(BlockError::WrongNumberOfValues {
                    sample_idx,
                    n_values: sample.values.len(),
                    n_channels: channels.len(),
                });
            }
            if sample.time < previous_time {
                return Err(BlockError::TimeGoesBackwards { sample_idx });
            }
            previous_time = sample.time;
            for (channel_idx, (channel, &value)) in channels.iter().zip(&sample.values).enumerate() {
                if channel.resolution.code_of(value).is_none() {
                    return Err(BlockError::ValueNotOnGrid { sample_idx, channel_idx });
                }
            }
        }
        Ok(Self { serial, counter, channels, samples })
    }

    pub fn serial(&self) -> &Serial {
        &self.serial
    }

    /// The logger's block counter: strictly increasing over the device's life.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Samples, oldest first.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }

    /// The same block restricted to its newest `n_samples` samples (all if there are fewer).
    pub fn newest(&self, n_samples: usize) -> Self {
        let skip = self.samples.len().saturating_sub(n_samples);
        Self {
            serial: self.serial.clone(),
            counter: self.counter,
            channels: self.channels.clone(),
            samples: self.samples.get(skip..).unwrap_or_default().to_vec(),
        }
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    //! Serde forms: a resolution table as its lowest value and `(step, upper)` ranges; a block
    //! re-validated through [`Block::new`] when deserialised.

    use alloc::vec::Vec;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Block, Channel, Quantity, Sample};
    use crate::resolution::{ResolutionRange, ResolutionTable};
    use crate::serial::Serial;

    #[derive(Serialize, Deserialize)]
    struct TableForm {
        lowest: i32,
        ranges: Vec<RangeForm>,
    }

    #[derive(Serialize, Deserialize)]
    struct RangeForm {
        step: u32,
        upper: i32,
    }

    impl Serialize for ResolutionTable {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let ranges = self.ranges().map(|ResolutionRange { step, upper, .. }| RangeForm { step, upper }).collect();
            TableForm { lowest: self.lowest(), ranges }.serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for ResolutionTable {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let form = TableForm::deserialize(deserializer)?;
            let ranges: Vec<(u32, i32)> = form.ranges.iter().map(|r| (r.step, r.upper)).collect();
            ResolutionTable::new(form.lowest, &ranges).map_err(serde::de::Error::custom)
        }
    }

    #[derive(Deserialize)]
    struct ChannelForm {
        quantity: Quantity,
        resolution: ResolutionTable,
    }

    #[derive(Serialize)]
    struct ChannelRef<'a> {
        quantity: Quantity,
        unit: &'static str,
        resolution: &'a ResolutionTable,
    }

    impl Serialize for Channel {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            ChannelRef { quantity: self.quantity, unit: self.quantity.unit(), resolution: &self.resolution }
                .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for Channel {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let form = ChannelForm::deserialize(deserializer)?;
            Ok(Channel { quantity: form.quantity, resolution: form.resolution })
        }
    }

    #[derive(Deserialize)]
    struct BlockForm {
        serial: Serial,
        counter: u64,
        channels: Vec<Channel>,
        samples: Vec<Sample>,
    }

    #[derive(Serialize)]
    struct BlockRef<'a> {
        serial: &'a Serial,
        counter: u64,
        channels: &'a [Channel],
        samples: &'a [Sample],
    }

    impl Serialize for Block {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            BlockRef { serial: &self.serial, counter: self.counter, channels: &self.channels, samples: &self.samples }
                .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for Block {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let form = BlockForm::deserialize(deserializer)?;
            Block::new(form.serial, form.counter, form.channels, form.samples).map_err(serde::de::Error::custom)
        }
    }
}
