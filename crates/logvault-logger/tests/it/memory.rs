//! Memory modes: a full memory behaves as its mode says, with no off-by-one.

use logvault_logger::{Memory, MemoryError, MemoryMode, Stored};
use logvault_protocol::Sample;

fn sample(time: i64) -> Sample {
    Sample { time, values: vec![0] }
}

fn times(memory: &Memory) -> Vec<i64> {
    memory.iter().map(|s| s.time).collect()
}

#[test]
fn overwrite_oldest_keeps_exactly_the_newest_capacity_samples() {
    let mut memory = Memory::new(3, MemoryMode::OverwriteOldest).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(memory.push(sample(1)), Stored::Appended);
    assert_eq!(memory.push(sample(2)), Stored::Appended);
    assert!(!memory.is_full());
    assert_eq!(memory.push(sample(3)), Stored::Appended, "the third of three still fits");
    assert!(memory.is_full());
    assert_eq!(memory.push(sample(4)), Stored::OverwroteOldest);
    assert_eq!(times(&memory), [2, 3, 4]);
    for t in 5..=10 {
        assert_eq!(memory.push(sample(t)), Stored::OverwroteOldest);
    }
    assert_eq!(times(&memory), [8, 9, 10]);
    assert_eq!(memory.len(), 3);
}

#[test]
fn stop_when_full_keeps_the_first_capacity_samples_and_refuses_the_rest() {
    let mut memory = Memory::new(3, MemoryMode::StopWhenFull).unwrap_or_else(|err| panic!("{err}"));
    for t in 1..=3 {
        assert_eq!(memory.push(sample(t)), Stored::Appended, "sample {t} fits");
    }
    assert_eq!(memory.push(sample(4)), Stored::RejectedFull);
    assert_eq!(memory.push(sample(5)), Stored::RejectedFull);
    assert_eq!(times(&memory), [1, 2, 3]);
}

#[test]
fn clearing_empties_the_memory_and_makes_room_again_in_both_modes() {
    for mode in [MemoryMode::OverwriteOldest, MemoryMode::StopWhenFull] {
        let mut memory = Memory::new(2, mode).unwrap_or_else(|err| panic!("{err}"));
        for t in 1..=3 {
            memory.push(sample(t));
        }
        memory.clear();
        assert!(memory.is_empty());
        assert_eq!(memory.push(sample(9)), Stored::Appended, "{mode:?}");
        assert_eq!(times(&memory), [9]);
    }
}

#[test]
fn a_memory_of_one_sample_works_in_both_modes_and_zero_is_refused() {
    let mut overwrite = Memory::new(1, MemoryMode::OverwriteOldest).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(overwrite.push(sample(1)), Stored::Appended);
    assert_eq!(overwrite.push(sample(2)), Stored::OverwroteOldest);
    assert_eq!(times(&overwrite), [2]);
    let mut stop = Memory::new(1, MemoryMode::StopWhenFull).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(stop.push(sample(1)), Stored::Appended);
    assert_eq!(stop.push(sample(2)), Stored::RejectedFull);
    assert_eq!(times(&stop), [1]);
    assert_eq!(Memory::new(0, MemoryMode::OverwriteOldest).err(), Some(MemoryError));
}

#[test]
fn overwrite_oldest_is_the_default_mode() {
    assert_eq!(MemoryMode::default(), MemoryMode::OverwriteOldest);
}
