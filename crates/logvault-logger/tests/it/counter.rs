//! The block counter: strictly increasing, persisted before a block is released, surviving
//! restarts.

use logvault_logger::{CounterError, CounterStore, FileCounterStore, Logger, MemoryCounterStore};
use logvault_protocol::open;

use crate::logger::{config, key};

#[test]
fn a_file_counter_survives_a_restart_and_keeps_increasing() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let path = dir.path().join("counter");
    let mut first_life =
        Logger::new(config(10), key(), FileCounterStore::new(&path)).unwrap_or_else(|err| panic!("{err}"));
    first_life.record(100, &[5_000]).unwrap_or_else(|err| panic!("{err}"));
    let counters: Vec<u64> = (0..3).map(|_| first_life.issue_block().map(|(b, _)| b.counter()).unwrap_or(0)).collect();
    assert_eq!(counters, [1, 2, 3]);
    drop(first_life);

    // Power cycle: a new logger over the same file.
    let mut second_life =
        Logger::new(config(10), key(), FileCounterStore::new(&path)).unwrap_or_else(|err| panic!("{err}"));
    let (block, sealed) = second_life.issue_block().unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(block.counter(), 4);
    assert_eq!(open(&sealed, &key()), Ok(block));
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), "4\n");
}

#[test]
fn a_failed_counter_write_releases_no_block() {
    let store = MemoryCounterStore { last_issued: 41, fail_writes: true };
    let mut logger = Logger::new(config(10), key(), store).unwrap_or_else(|err| panic!("{err}"));
    assert!(matches!(logger.issue_block(), Err(logvault_logger::LoggerError::Counter(CounterError::Refused))));
    assert_eq!(logger.counter_store().last_issued, 41);
}

#[test]
fn the_counter_is_persisted_before_the_block_is_returned() {
    let mut logger =
        Logger::new(config(10), key(), MemoryCounterStore::default()).unwrap_or_else(|err| panic!("{err}"));
    let (block, _) = logger.issue_block().unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(logger.counter_store().last_issued, block.counter());
}

#[test]
fn a_corrupt_counter_file_is_an_error_not_a_reset_to_zero() {
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let path = dir.path().join("counter");
    std::fs::write(&path, "not a number").unwrap_or_else(|err| panic!("{err}"));
    let mut store = FileCounterStore::new(&path);
    assert!(matches!(store.load(), Err(CounterError::Corrupt { .. })));
    assert!(matches!(store.reserve_next(), Err(CounterError::Corrupt { .. })));
}

#[test]
fn an_exhausted_counter_is_refused() {
    let mut store = MemoryCounterStore { last_issued: u64::MAX, fail_writes: false };
    assert!(matches!(store.reserve_next(), Err(CounterError::Exhausted)));
}
