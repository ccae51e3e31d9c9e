//! Brute-force protection rules, as pure functions over counters that the store keeps (so that several server
//! instances share them).
//!
//! - Per account: 10 failed sign-ins within 15 minutes lock the account for 15 minutes; after 100 consecutive
//!   failures (NIST SP 800-63B §5.2.2) it stays locked until an operator unlocks it.
//! - Per client address: a token bucket of 100 failures that refills over 24 hours; an empty bucket means 429.

/// Failures within one window that lock the account.
pub const MAX_FAILURES_PER_WINDOW: i64 = 10;
/// Length of the failure window and of the lock it triggers.
pub const WINDOW_US: i64 = 15 * 60 * 1_000_000;
/// Consecutive failures after which only an operator can unlock the account.
pub const MAX_CONSECUTIVE_FAILURES: i64 = 100;
/// `locked_until_us` of an account locked until an operator unlocks it.
pub const LOCKED_UNTIL_UNLOCKED: i64 = i64::MAX;

/// Failed sign-ins a client address may make before it is throttled.
pub const IP_BUCKET_CAPACITY: i64 = 100;
/// Time in which an empty address bucket refills completely.
pub const IP_REFILL_US: i64 = 24 * 60 * 60 * 1_000_000;

/// The failure counters of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountCounters {
    pub window_start_us: i64,
    pub window_failures: i64,
    pub consecutive_failures: i64,
    /// Sign-in is refused until this time (0: not locked).
    pub locked_until_us: i64,
}

/// What a failure did to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    Counted,
    /// This failure locked the account for a window.
    Locked,
    /// This failure reached the consecutive-failure limit: locked until an operator unlocks it.
    LockedUntilUnlocked,
}

impl AccountCounters {
    /// Whether sign-in is refused at `now_us`.
    pub fn is_locked(&self, now_us: i64) -> bool {
        now_us < self.locked_until_us
    }

    /// The counters after one more failed sign-in at `now_us`.
    pub fn after_failure(self, now_us: i64) -> (AccountCounters, FailureEffect) {
        let mut next = self;
        if now_us.saturating_sub(next.window_start_us) >= WINDOW_US {
            next.window_start_us = now_us;
            next.window_failures = 0;
        }
        next.window_failures += 1;
        next.consecutive_failures = (next.consecutive_failures + 1).min(MAX_CONSECUTIVE_FAILURES);
        let effect = if next.consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
            let effect = if self.locked_until_us == LOCKED_UNTIL_UNLOCKED {
                FailureEffect::Counted
            } else {
                FailureEffect::LockedUntilUnlocked
            };
            next.locked_until_us = LOCKED_UNTIL_UNLOCKED;
            effect
        } else if next.window_failures >= MAX_FAILURES_PER_WINDOW && !self.is_locked(now_us) {
            next.locked_until_us = now_us.saturating_add(WINDOW_US);
            // A fresh window starts with the lock, so the next lock needs ten new failures.
            next.window_start_us = now_us;
            next.window_failures = 0;
            FailureEffect::Locked
        } else {
            FailureEffect::Counted
        };
        (next, effect)
    }

    /// The counters after a successful sign-in: everything cleared.
    pub fn after_success() -> AccountCounters {
        AccountCounters::default()
    }
}

/// A client address's failure allowance, in thousandths of a failure so refill is exact in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBucket {
    pub milli_tokens: i64,
    pub updated_at_us: i64,
}

impl IpBucket {
    /// A full bucket.
    pub fn full(now_us: i64) -> IpBucket {
        IpBucket { milli_tokens: IP_BUCKET_CAPACITY * 1000, updated_at_us: now_us }
    }

    /// The bucket refilled up to `now_us`.
    pub fn refilled(self, now_us: i64) -> IpBucket {
        let elapsed = now_us.saturating_sub(self.updated_at_us).max(0);
        // capacity × 1000 milli-tokens per IP_REFILL_US.
        let gained = i128::from(elapsed) * i128::from(IP_BUCKET_CAPACITY * 1000) / i128::from(IP_REFILL_US);
        let milli_tokens = (i128::from(self.milli_tokens) + gained).min(i128::from(IP_BUCKET_CAPACITY * 1000));
        IpBucket {
            milli_tokens: i64::try_from(milli_tokens).unwrap_or(IP_BUCKET_CAPACITY * 1000),
            updated_at_us: now_us,
        }
    }

    /// Seconds until one failure is allowed again, or `None` if one is allowed now.
    pub fn retry_after_secs(self, now_us: i64) -> Option<u64> {
        let bucket = self.refilled(now_us);
        if bucket.milli_tokens >= 1000 {
            return None;
        }
        let missing = 1000 - bucket.milli_tokens;
        let wait_us = i128::from(missing) * i128::from(IP_REFILL_US) / i128::from(IP_BUCKET_CAPACITY * 1000);
        Some(u64::try_from(wait_us / 1_000_000 + 1).unwrap_or(u64::MAX))
    }

    /// The bucket after one failure at `now_us` (never below zero).
    pub fn after_failure(self, now_us: i64) -> IpBucket {
        let bucket = self.refilled(now_us);
        IpBucket { milli_tokens: (bucket.milli_tokens - 1000).max(0), updated_at_us: now_us }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60 * 1_000_000;

    #[test]
    fn ten_failures_within_fifteen_minutes_lock_for_fifteen_minutes() {
        let mut counters = AccountCounters::default();
        let start = 1_000 * MINUTE;
        for i in 0..9 {
            let (next, effect) = counters.after_failure(start + i * MINUTE);
            assert_eq!(effect, FailureEffect::Counted, "failure {}", i + 1);
            counters = next;
        }
        assert!(!counters.is_locked(start + 9 * MINUTE));
        let (locked, effect) = counters.after_failure(start + 9 * MINUTE);
        assert_eq!(effect, FailureEffect::Locked);
        assert!(locked.is_locked(start + 9 * MINUTE));
        assert!(locked.is_locked(start + 24 * MINUTE - 1));
        assert!(!locked.is_locked(start + 24 * MINUTE));
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_lock() {
        let mut counters = AccountCounters::default();
        for i in 0..30 {
            let (next, effect) = counters.after_failure(i * 2 * MINUTE);
            assert_eq!(effect, FailureEffect::Counted, "failure {}", i + 1);
            counters = next;
        }
    }

    #[test]
    fn the_hundredth_consecutive_failure_locks_until_an_operator_unlocks() {
        let mut counters = AccountCounters::default();
        let mut now = 0;
        let mut last = FailureEffect::Counted;
        for _ in 0..100 {
            now = now.max(counters.locked_until_us);
            let (next, effect) = counters.after_failure(now);
            counters = next;
            last = effect;
            now += MINUTE;
        }
        assert_eq!(last, FailureEffect::LockedUntilUnlocked);
        assert_eq!(counters.consecutive_failures, MAX_CONSECUTIVE_FAILURES);
        assert!(counters.is_locked(i64::MAX - 1));
        let (again, effect) = counters.after_failure(now);
        assert_eq!((again.consecutive_failures, effect), (MAX_CONSECUTIVE_FAILURES, FailureEffect::Counted));
        assert_eq!(AccountCounters::after_success(), AccountCounters::default());
    }

    #[test]
    fn an_address_gets_one_hundred_failures_then_waits_for_the_refill() {
        let now = 5 * MINUTE;
        let mut bucket = IpBucket::full(now);
        for _ in 0..100 {
            assert_eq!(bucket.retry_after_secs(now), None);
            bucket = bucket.after_failure(now);
        }
        let wait = bucket.retry_after_secs(now).unwrap();
        assert_eq!(wait, 865, "one failure refills in 24 h / 100 = 864 s");
        assert_eq!(bucket.retry_after_secs(now + 864 * 1_000_000), None);
        assert_eq!(bucket.refilled(now + IP_REFILL_US * 2).milli_tokens, IP_BUCKET_CAPACITY * 1000);
    }
}
