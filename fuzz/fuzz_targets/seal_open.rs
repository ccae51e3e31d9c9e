//! Fuzz target, structure-aware: build an arbitrary valid block, seal it, open it, and
//! require exactly the same block back.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use logvault_protocol::{
    Block, Channel, DeviceKey, KeyGeneration, Quantity, ResolutionTable, Sample, Serial, open, seal,
};

fn table(u: &mut Unstructured<'_>) -> Result<Option<ResolutionTable>> {
    let lowest: i32 = u.arbitrary()?;
    let n_ranges = u.int_in_range(1..=4)?;
    let mut ranges = Vec::new();
    let mut upper = i64::from(lowest);
    for _ in 0..n_ranges {
        let step = u.int_in_range(1u32..=100_000)?;
        let n_steps = u.int_in_range(1u32..=5_000)?;
        upper += i64::from(step) * i64::from(n_steps);
        let Ok(upper) = i32::try_from(upper) else { return Ok(None) };
        ranges.push((step, upper));
    }
    Ok(ResolutionTable::new(lowest, &ranges).ok())
}

fn block(u: &mut Unstructured<'_>) -> Result<Option<Block>> {
    let serial_len = u.int_in_range(1usize..=32)?;
    let serial: String =
        (0..serial_len).map(|_| u.choose(b"ABCXYZabc0189-").map(|&b| char::from(b))).collect::<Result<_>>()?;
    let Ok(serial) = Serial::parse(&serial) else { return Ok(None) };
    let n_channels = u.int_in_range(1usize..=4)?;
    let mut channels = Vec::new();
    for _ in 0..n_channels {
        let quantity = if u.arbitrary()? { Quantity::Temperature } else { Quantity::RelativeHumidity };
        let Some(resolution) = table(u)? else { return Ok(None) };
        channels.push(Channel { quantity, resolution });
    }
    let mut time: i64 = u.arbitrary()?;
    let n_samples = u.int_in_range(0usize..=600)?;
    let interval = u.int_in_range(0u64..=3600)?;
    let mut samples = Vec::new();
    let mut codes: Vec<i64> = channels.iter().map(|c| i64::from(c.resolution.n_codes() / 2)).collect();
    for idx in 0..n_samples {
        if idx > 0 {
            let delta = if u.ratio(1u8, 8u8)? { u.arbitrary::<u64>()? >> u.int_in_range(0u32..=63)? } else { interval };
            let Some(next) = time.checked_add_unsigned(delta) else { break };
            time = next;
        }
        let mut values = Vec::new();
        for (code, channel) in codes.iter_mut().zip(&channels) {
            let n_codes = i64::from(channel.resolution.n_codes());
            let step: i64 = if u.ratio(1u8, 16u8)? { u.arbitrary::<i32>()?.into() } else { u.int_in_range(-2i64..=2)? };
            *code = (*code + step).clamp(0, n_codes - 1);
            let Some(value) = channel.resolution.value_of(*code as u32) else { return Ok(None) };
            values.push(value);
        }
        samples.push(Sample { time, values });
    }
    Ok(Block::new(serial, u.arbitrary()?, channels, samples).ok())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(Some(block)) = block(&mut u) else { return };
    let key = DeviceKey::from_bytes([0x42; 16]);
    let Ok(generation) = u.arbitrary::<u8>() else { return };
    let sealed = seal(&block, &key, KeyGeneration(generation));
    assert_eq!(open(&sealed, &key).as_ref(), Ok(&block));
});
