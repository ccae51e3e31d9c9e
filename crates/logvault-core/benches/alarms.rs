//! Alarm evaluation benchmark: the per-block work ingest does before storing (open a sealed block of 1,440 samples,
//! turn it into per-channel readings) with 10 alarm rules evaluated on it against the same work with no rules, in
//! the same run.
//!
//! Run: `cargo bench -p logvault-core --bench alarms` (prints Markdown for docs/PERFORMANCE.md). Plain `std::time`:
//! each figure is the best of five rounds of at least 0.3 s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use logvault_core::alarm::evaluate::{EvalState, Reading, evaluate};
use logvault_core::alarm::rule::{ChannelRule, Limit};
use logvault_protocol::{
    Block, Channel, DeviceKey, KeyGeneration, Quantity, ResolutionTable, Sample, Serial, open, seal,
};

const N_SAMPLES: usize = 1_440;
const N_RULES: usize = 10;

fn main() {
    let key = DeviceKey::from_bytes([0x42; 16]);
    let sealed = seal(&day_block(), &key, KeyGeneration(0));
    let rules = rules();
    // The states as the store would hand them over: persisted JSON after the previous day's block, whose readings
    // all come before this block's (so every reading of this block is evaluated).
    let states: Vec<String> = rules
        .iter()
        .map(|(channel, rule)| {
            let mut state = EvalState::default();
            let previous_day: Vec<Reading> = readings_of(&opened(&sealed, &key), *channel)
                .into_iter()
                .map(|reading| Reading { t_s: reading.t_s - 86_400, ..reading })
                .collect();
            let mut events = Vec::new();
            evaluate(rule, &mut state, &previous_day, &mut events).unwrap_or_else(|err| panic!("{err}"));
            serde_json::to_string(&state).unwrap_or_else(|err| panic!("{err}"))
        })
        .collect();

    let no_rules = per_block(|| {
        let block = opened(&sealed, &key);
        (0..2).map(|channel| readings_of(&block, channel).len()).sum()
    });
    let mut n_events = 0;
    let with_rules = per_block(|| {
        let block = opened(&sealed, &key);
        let per_channel: Vec<Vec<Reading>> = (0..2).map(|channel| readings_of(&block, channel)).collect();
        let mut events = Vec::new();
        let mut kept = 0;
        for ((channel, rule), json) in rules.iter().zip(&states) {
            let mut state: EvalState = serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}"));
            let done = evaluate(rule, &mut state, &per_channel[*channel], &mut events);
            assert_eq!(done.map(|done| done.live), Ok(N_SAMPLES));
            kept += serde_json::to_string(&state).map_or(0, |json| json.len());
        }
        n_events = events.len();
        kept + events.len()
    });
    let block = opened(&sealed, &key);
    let per_channel: Vec<Vec<Reading>> = (0..2).map(|channel| readings_of(&block, channel)).collect();
    let evaluation_only = per_block(|| {
        let mut events = Vec::new();
        for (channel, rule) in &rules {
            let mut state = EvalState::default();
            black_box(
                evaluate(rule, &mut state, black_box(&per_channel[*channel]), &mut events).map_or(0, |done| done.live),
            );
        }
        events.len()
    });

    println!("| per block of {N_SAMPLES} samples × 2 channels | time | blocks/s |");
    println!("|---|--:|--:|");
    println!("| open + readings, no rules (baseline) | {} | {:.0} |", micros(no_rules), 1.0 / no_rules.as_secs_f64());
    println!(
        "| open + readings + {N_RULES} rules (state from and to JSON) | {} | {:.0} |",
        micros(with_rules),
        1.0 / with_rules.as_secs_f64()
    );
    println!(
        "| {N_RULES} rules alone (fresh state) | {} | {:.0} |",
        micros(evaluation_only),
        1.0 / evaluation_only.as_secs_f64()
    );
    println!();
    println!(
        "with rules ÷ no rules: {:.2}× the time; {:.0} M rule-readings/s; {n_events} events per block",
        with_rules.as_secs_f64() / no_rules.as_secs_f64(),
        (N_RULES * N_SAMPLES) as f64 / evaluation_only.as_secs_f64() / 1e6,
    );
}

/// A day of one-minute samples, temperature and humidity on the default grids, with excursions both ways.
fn day_block() -> Block {
    let temperature = ResolutionTable::new(-40_000, &[(500, -30_000), (100, 50_000), (500, 125_000)]);
    let humidity = ResolutionTable::uniform(0, 100, 100_000);
    let channels = vec![
        Channel { quantity: Quantity::Temperature, resolution: temperature.unwrap_or_else(|err| panic!("{err}")) },
        Channel { quantity: Quantity::RelativeHumidity, resolution: humidity.unwrap_or_else(|err| panic!("{err}")) },
    ];
    let samples = (0..N_SAMPLES)
        .map(|idx| {
            // A 4-hour triangle between 1 °C and 9.5 °C, and humidity between 40 and 70 %RH.
            let phase = (idx % 240) as i32;
            let triangle = if phase < 120 { phase } else { 240 - phase };
            Sample {
                time: 1_796_000_000 + idx as i64 * 60,
                values: vec![1_000 + triangle * 70 / 100 * 100, 40_000 + triangle / 4 * 1_000],
            }
        })
        .collect();
    let serial = Serial::parse("LV-000042").unwrap_or_else(|err| panic!("{err}"));
    Block::new(serial, 1, channels, samples).unwrap_or_else(|err| panic!("{err}"))
}

/// Ten rules over the two channels: upper/lower fridge limits with warnings, delays and hysteresis of several sizes.
fn rules() -> Vec<(usize, ChannelRule)> {
    (0..N_RULES)
        .map(|idx| {
            let offset = idx as i64 * 100;
            let (channel, upper, lower) =
                if idx < 6 { (0, 8_000 + offset, 2_000 - offset) } else { (1, 65_000 + offset, 45_000 - offset) };
            let upper = Limit {
                alarm_milli: upper,
                warning_milli: Some(upper - 500),
                delay_s: 300 * idx as u32,
                hysteresis_milli: 200,
            };
            let lower = Limit {
                alarm_milli: lower,
                warning_milli: Some(lower + 500),
                delay_s: 300 * idx as u32,
                hysteresis_milli: 200,
            };
            (channel, ChannelRule::new(Some(upper), Some(lower)).unwrap_or_else(|err| panic!("{err}")))
        })
        .collect()
}

fn opened(sealed: &[u8], key: &DeviceKey) -> Block {
    open(black_box(sealed), key).unwrap_or_else(|err| panic!("{err}"))
}

/// One channel's readings, numbered within their second as the store numbers them.
fn readings_of(block: &Block, channel: usize) -> Vec<Reading> {
    let mut previous = i64::MIN;
    let mut ordinal = 0;
    block
        .samples()
        .iter()
        .map(|sample| {
            ordinal = if sample.time == previous { ordinal + 1 } else { 0 };
            previous = sample.time;
            Reading { t_s: sample.time, ordinal, value_milli: sample.values[channel] }
        })
        .collect()
}

/// Time per call of `op`: best of five rounds of at least 0.3 s.
fn per_block(mut op: impl FnMut() -> usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let mut runs = 0u32;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            black_box(op());
            runs += 1;
        }
        best = best.min(start.elapsed() / runs);
    }
    best
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
