//! The logger: scaling, sampling rules, clock checks and blocks of the memory window.

use logvault_logger::sim::default_channel;
use logvault_logger::{
    Logger, LoggerConfig, LoggerError, MemoryCounterStore, MemoryMode, Observation, SamplingRule, Stored,
};
use logvault_protocol::{DeviceKey, KeyGeneration, Quantity, Serial, open};

pub fn key() -> DeviceKey {
    DeviceKey::from_bytes([0x11; 16])
}

pub fn config(capacity: usize) -> LoggerConfig {
    LoggerConfig {
        serial: Serial::parse("LV-7").unwrap_or_else(|err| panic!("{err}")),
        channels: vec![default_channel(Quantity::Temperature)],
        rule: SamplingRule::Interval { seconds: 60 },
        capacity,
        mode: MemoryMode::OverwriteOldest,
        key_generation: KeyGeneration(0),
    }
}

fn logger(config: LoggerConfig) -> Logger<MemoryCounterStore> {
    Logger::new(config, key(), MemoryCounterStore::default()).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn readings_are_stored_scaled_to_the_range_they_fall_in() {
    let mut logger = logger(config(10));
    for (time, raw) in [(0, 4_960), (60, -30_260), (120, 50_260), (180, 200_000)] {
        logger.record(time, &[raw]).unwrap_or_else(|err| panic!("{err}"));
    }
    let values: Vec<i32> = logger.memory().iter().map(|s| s.values[0]).collect();
    assert_eq!(values, [5_000, -30_500, 50_500, 125_000]);
}

#[test]
fn the_interval_rule_records_once_per_interval() {
    let mut logger = logger(config(100));
    let outcomes: Vec<bool> =
        (0..7).map(|idx| matches!(logger.observe(idx * 30, &[5_000]), Ok(Observation::Recorded(_)))).collect();
    assert_eq!(outcomes, [true, false, true, false, true, false, true]);
}

#[test]
fn the_change_rule_records_on_a_large_enough_change_or_after_max_silence() {
    let mut config = config(100);
    config.rule = SamplingRule::OnChange { threshold: 500, max_silence: 3_600 };
    let mut logger = logger(config);
    let steps = [
        (0, 5_000, true),
        (60, 5_400, false),
        (120, 5_500, true),
        (180, 5_100, false),
        (240, 5_000, true),
        (3_839, 5_000, false),
        (3_840, 5_000, true),
    ];
    for (time, raw, recorded) in steps {
        let observation = logger.observe(time, &[raw]).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(matches!(observation, Observation::Recorded(_)), recorded, "t={time} value={raw}");
    }
}

#[test]
fn a_clock_going_backwards_is_refused_and_stores_nothing() {
    let mut logger = logger(config(10));
    logger.record(1_000, &[5_000]).unwrap_or_else(|err| panic!("{err}"));
    assert!(matches!(logger.record(999, &[5_000]), Err(LoggerError::ClockWentBackwards { time: 999, last: 1_000 })));
    assert_eq!(logger.memory().len(), 1);
    assert!(logger.record(1_000, &[5_100]).is_ok(), "equal times are allowed");
}

#[test]
fn the_wrong_number_of_readings_is_refused() {
    let mut logger = logger(config(10));
    assert!(matches!(logger.record(0, &[1, 2]), Err(LoggerError::WrongNumberOfReadings { given: 2, expected: 1 })));
}

#[test]
fn a_block_holds_the_memory_window_and_opens_with_the_device_key() {
    let mut logger = logger(config(5));
    for idx in 0..8 {
        logger.record(idx * 60, &[4_000 + idx as i32 * 100]).unwrap_or_else(|err| panic!("{err}"));
    }
    let (block, sealed) = logger.issue_block().unwrap_or_else(|err| panic!("{err}"));
    let times: Vec<i64> = block.samples().iter().map(|s| s.time).collect();
    assert_eq!(times, [180, 240, 300, 360, 420], "the five newest samples");
    assert_eq!(open(&sealed, &key()), Ok(block));
}

#[test]
fn a_stop_when_full_logger_keeps_its_first_samples_until_cleared() {
    let mut config = config(2);
    config.mode = MemoryMode::StopWhenFull;
    let mut logger = logger(config);
    let stored: Vec<Stored> = (0..3).filter_map(|idx| logger.record(idx * 60, &[5_000]).ok()).collect();
    assert_eq!(stored, [Stored::Appended, Stored::Appended, Stored::RejectedFull]);
    logger.clear_memory();
    assert_eq!(logger.record(300, &[5_000]).ok(), Some(Stored::Appended));
    let block = logger.to_block(1).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(block.samples().len(), 1);
}
