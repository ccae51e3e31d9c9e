//! Deterministic synthetic series and fleets, reproducible across platforms and releases.
//!
//! Randomness comes from ChaCha8 (`rand_chacha`, whose output for a given seed is part of
//! its stability promise) and every formula uses integer arithmetic only, so the same seed
//! gives the same series on every machine.

use logvault_protocol::{Channel, DeviceKey, Quantity, ResolutionTable, Serial};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng as _, SeedableRng as _};

use crate::counter::MemoryCounterStore;
use crate::logger::{Logger, LoggerConfig, LoggerError};
use crate::memory::MemoryMode;
use crate::sampling::SamplingRule;

/// The default grid of a quantity.
///
/// Temperature: 0.5 °C from −40 °C to −30 °C, 0.1 °C from −30 °C to +50 °C, 0.5 °C from
/// +50 °C to +125 °C. Relative humidity: 0.1 %RH from 0 to 100 %RH.
pub fn default_resolution(quantity: Quantity) -> ResolutionTable {
    let table = match quantity {
        Quantity::RelativeHumidity => ResolutionTable::uniform(0, 100, 100_000),
        _ => ResolutionTable::new(-40_000, &[(500, -30_000), (100, 50_000), (500, 125_000)]),
    };
    // Constants, not input: a test checks that both tables build.
    table.expect("the default resolution tables are valid")
}

pub fn default_channel(quantity: Quantity) -> Channel {
    Channel { quantity, resolution: default_resolution(quantity) }
}

/// A synthetic series: `samples` readings every `interval` seconds from `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSpec {
    pub samples: usize,
    /// Seconds between readings (≥ 1).
    pub interval: u32,
    /// UTC seconds of the first reading.
    pub start: i64,
    pub seed: u64,
    pub quantities: Vec<Quantity>,
}

/// One raw reading: time and one value per quantity, in thousandths (not yet scaled).
pub type Reading = (i64, Vec<i32>);

/// A pharmacy fridge seen through a buffered product probe: a slow daily swing of ±0.6 °C
/// around 5 °C, a mean-reverting drift with sensor noise of a few hundredths of a degree,
/// and now and then a door opening (+2 to +4 °C decaying over tens of minutes, humidity
/// rising with it). Relative humidity wanders around 45 %RH.
pub fn synthesize(spec: &SeriesSpec) -> Vec<Reading> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let interval = i64::from(spec.interval.max(1));
    let mut drift: i64 = 0;
    let mut door: i64 = 0;
    let mut humidity: i64 = 45_000;
    let mut readings = Vec::with_capacity(spec.samples);
    for idx in 0..spec.samples {
        let time = spec.start.saturating_add(interval.saturating_mul(idx as i64));
        // Triangle wave over the UTC day: −600..+600 milli-°C.
        let second_of_day = time.rem_euclid(86_400);
        let daily = (second_of_day - 43_200).abs() * 1_200 / 43_200 - 600;
        drift += -drift / 8 + symmetric(&mut rng, 40);
        // A door opening is likelier with longer intervals, about once every ten hours.
        if uniform(&mut rng, 36_000) < interval as u64 {
            door += 2_000 + uniform(&mut rng, 2_000) as i64;
        }
        // Decay with a time constant of about twenty minutes, whatever the interval.
        door -= door * interval.min(1_200) / 1_200;
        humidity += (45_000 - humidity) / 16 + symmetric(&mut rng, 200) + door / 8;
        let temperature = 5_000 + daily + drift + door + symmetric(&mut rng, 20);
        let values = spec
            .quantities
            .iter()
            .map(|quantity| match quantity {
                Quantity::RelativeHumidity => clamp_i32(humidity.clamp(0, 100_000)),
                _ => clamp_i32(temperature),
            })
            .collect();
        readings.push((time, values));
    }
    readings
}

/// A logger of the given quantities (default resolutions), with room for `capacity` samples
/// in overwrite-oldest mode, an interval rule and a counter kept in memory.
pub fn simulated_logger(
    serial: Serial,
    key: DeviceKey,
    quantities: &[Quantity],
    interval: u32,
    capacity: usize,
) -> Result<Logger<MemoryCounterStore>, LoggerError> {
    let config = LoggerConfig {
        serial,
        channels: quantities.iter().map(|&q| default_channel(q)).collect(),
        rule: SamplingRule::Interval { seconds: interval },
        capacity,
        mode: MemoryMode::OverwriteOldest,
        key_generation: logvault_protocol::KeyGeneration(0),
    };
    Logger::new(config, key, MemoryCounterStore::default())
}

/// One device of a simulated fleet.
#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    pub serial: Serial,
    pub key: DeviceKey,
    pub quantities: Vec<Quantity>,
    /// Seed of this device's series.
    pub seed: u64,
}

/// `n_devices` devices with serials `SIM-0001`…, random keys, a mix of temperature-only and
/// temperature + humidity loggers; the same seed always gives the same fleet.
pub fn fleet(seed: u64, n_devices: usize) -> Vec<SimulatedDevice> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n_devices)
        .filter_map(|idx| {
            let mut key = [0u8; 16];
            rng.fill_bytes(&mut key);
            let quantities = if rng.next_u32() % 3 == 0 {
                vec![Quantity::Temperature, Quantity::RelativeHumidity]
            } else {
                vec![Quantity::Temperature]
            };
            let serial = Serial::parse(&format!("SIM-{:04}", idx + 1)).ok()?;
            Some(SimulatedDevice { serial, key: DeviceKey::from_bytes(key), quantities, seed: rng.next_u64() })
        })
        .collect()
}

fn uniform(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    rng.next_u64() % bound.max(1)
}

fn symmetric(rng: &mut ChaCha8Rng, spread: i64) -> i64 {
    uniform(rng, 2 * spread.unsigned_abs() + 1) as i64 - spread
}

fn clamp_i32(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}
