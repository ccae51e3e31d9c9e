//! Outgoing webhooks, engine- and transport-independent: Standard Webhooks signing and verification (`sign`),
//! target validation against SSRF (`target`) and the retry schedule (here).

pub mod sign;
pub mod target;

pub use sign::{SignedHeaders, WebhookSecret, verify};
pub use target::{TargetError, TargetPolicy, WebhookUrl};

/// When to try a failed delivery again: exponential back-off from `base_s`, doubling per attempt up to `cap_s`,
/// at most `max_attempts` attempts in all (the first included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    pub base_s: u32,
    pub cap_s: u32,
    pub max_attempts: u32,
}

impl RetrySchedule {
    /// 30 s, 1 min, 2 min, … doubling to at most 4 h, ten attempts: about 9.5 hours from first try to giving up,
    /// long enough to ride out a receiver's maintenance window, short enough that the delivery log shows a failure
    /// the same working day.
    pub const DEFAULT: RetrySchedule = RetrySchedule { base_s: 30, cap_s: 4 * 3_600, max_attempts: 10 };

    /// The wait before the next attempt after `failed_attempts` failures (1 after the first), or `None` when the
    /// delivery is given up. The wait is jittered downwards by at most a quarter — `jitter` is any random number,
    /// injected so the schedule is testable — so receivers that failed together are not retried in lock-step, and a
    /// wait never exceeds its nominal value.
    pub fn next_delay_s(&self, failed_attempts: u32, jitter: u64) -> Option<u32> {
        if failed_attempts == 0 || failed_attempts >= self.max_attempts {
            return None;
        }
        let doublings = (failed_attempts - 1).min(31);
        let nominal = u64::from(self.base_s).saturating_mul(1u64 << doublings).min(u64::from(self.cap_s));
        let spread = nominal / 4;
        let delay = nominal - jitter % (spread + 1);
        u32::try_from(delay).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_to_its_cap_with_jitter_within_a_quarter_and_then_gives_up() {
        let schedule = RetrySchedule::DEFAULT;
        let nominal: Vec<Option<u32>> = (0..=10).map(|n| schedule.next_delay_s(n, 0)).collect();
        let expected = [
            None,
            Some(30),
            Some(60),
            Some(120),
            Some(240),
            Some(480),
            Some(960),
            Some(1_920),
            Some(3_840),
            Some(7_680),
            None,
        ];
        assert_eq!(nominal, expected);
        let capped = RetrySchedule { base_s: 30, cap_s: 600, max_attempts: 100 };
        assert_eq!(capped.next_delay_s(60, 0), Some(600));
        for failed in 1..10 {
            for jitter in [1, 7, 12_345, u64::MAX] {
                let base = schedule.next_delay_s(failed, 0).unwrap();
                let jittered = schedule.next_delay_s(failed, jitter).unwrap();
                assert!(jittered <= base && jittered >= base - base / 4, "{failed} {jitter}: {jittered} of {base}");
            }
        }
        // A receiver that failed twice gets its third try after 30 s + 60 s at most.
        let total: u32 = (1..=2).map(|n| schedule.next_delay_s(n, 99).unwrap()).sum();
        assert!((68..=90).contains(&total), "{total}");
    }
}
