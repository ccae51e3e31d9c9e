//! Shared builders for the protocol tests: keys, tables and a reproducible fridge series.

use logvault_protocol::{Block, Channel, DeviceKey, Quantity, ResolutionTable, Sample, Serial};

pub fn key() -> DeviceKey {
    DeviceKey::from_bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
}

pub fn serial(text: &str) -> Serial {
    Serial::parse(text).unwrap_or_else(|err| panic!("test serial {text:?}: {err}"))
}

/// 0.5 °C below −30 °C, 0.1 °C from −30 °C to +50 °C, 0.5 °C above (to +125 °C).
pub fn temperature_table() -> ResolutionTable {
    ResolutionTable::new(-40_000, &[(500, -30_000), (100, 50_000), (500, 125_000)])
        .unwrap_or_else(|err| panic!("temperature table: {err}"))
}

/// 0.1 %RH from 0 to 100 %RH.
pub fn humidity_table() -> ResolutionTable {
    ResolutionTable::uniform(0, 100, 100_000).unwrap_or_else(|err| panic!("humidity table: {err}"))
}

pub fn temperature_channel() -> Channel {
    Channel { quantity: Quantity::Temperature, resolution: temperature_table() }
}

pub fn humidity_channel() -> Channel {
    Channel { quantity: Quantity::RelativeHumidity, resolution: humidity_table() }
}

/// A small deterministic generator (SplitMix64) so the tests need no RNG crate.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `-spread..=spread`.
    pub fn symmetric(&mut self, spread: i64) -> i64 {
        (self.next_u64() % (2 * spread as u64 + 1)) as i64 - spread
    }
}

/// A fridge: about 5 °C and 60 %RH, slow drift and sensor noise, sampled every `interval`
/// seconds.
pub fn fridge_block(n_samples: usize, interval: i64, with_humidity: bool, seed: u64) -> Block {
    let mut rng = SplitMix(seed);
    let mut temperature: i64 = 5_000;
    let mut humidity: i64 = 60_000;
    let mut channels = vec![temperature_channel()];
    if with_humidity {
        channels.push(humidity_channel());
    }
    let start = 1_767_225_600; // 2026-01-01T00:00:00Z
    let samples = (0..n_samples)
        .map(|idx| {
            temperature += (5_000 - temperature) / 32 + rng.symmetric(60);
            humidity += (60_000 - humidity) / 32 + rng.symmetric(150);
            let mut values = vec![temperature_table().scale(temperature as i32)];
            if with_humidity {
                values.push(humidity_table().scale(humidity as i32));
            }
            Sample { time: start + idx as i64 * interval, values }
        })
        .collect();
    Block::new(serial("LV-000042"), 7, channels, samples).unwrap_or_else(|err| panic!("fridge block: {err}"))
}
