//! The escalation schedule of one alarm as a pure function: which notifications are due at `now`, given when
//! Logvault recorded the alarm, whether anyone acknowledged it, and which notifications were already sent.
//!
//! The rules:
//! - Step *i* notifies its group `after_s` after the alarm was **recorded** (not after the excursion began: an
//!   excursion uploaded three days late could not have been acted on earlier, and counting from its start would
//!   send every step at once).
//! - With a repeat interval, each group reached is notified again every `repeat_every_s` until someone
//!   acknowledges. Rounds missed while the server was down collapse into one: the latest due round is sent, never a
//!   backlog.
//! - Each `(step, round)` is sent at most once (the store keeps the sent keys with the alarm), and an alarm sends
//!   at most `max_notifications` in all. An acknowledged (or closed) alarm sends nothing more.
//! - A flapping sensor makes a new alarm per excursion; while an earlier alarm of the same rule side is still
//!   unacknowledged the new one is not notified separately ([`notify_new_alarm`]): the people already being told
//!   about the first will see the rest on the dashboard.

use crate::alarm::lifecycle::AlarmState;

/// The most steps a policy may have.
pub const MAX_STEPS: usize = 8;
/// The latest a step may start, and the longest repeat interval: a week.
pub const MAX_DELAY_S: u32 = 7 * 86_400;
/// The shortest repeat interval: five minutes (a shorter one is a flood, not a reminder).
pub const MIN_REPEAT_S: u32 = 300;
/// The most notifications one alarm may send, whatever the policy says.
pub const MAX_NOTIFICATIONS: u32 = 100;

/// One step: notify `group_id` this long after the alarm was recorded.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub group_id: i64,
    pub after_s: u32,
}

/// The unchecked form of an [`EscalationPolicy`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicySpec {
    pub steps: Vec<Step>,
    #[serde(default)]
    pub repeat_every_s: Option<u32>,
    pub max_notifications: u32,
}

/// A checked policy: 1–8 steps in order of their delay, each group once, bounded delays and repeats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "EscalationPolicySpec", into = "EscalationPolicySpec")]
pub struct EscalationPolicy {
    steps: Vec<Step>,
    repeat_every_s: Option<u32>,
    max_notifications: u32,
}

/// Identifies one notification of one alarm: the step and the repeat round (0 for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NoticeKey {
    pub step: u8,
    pub round: u32,
}

/// A notification due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub key: NoticeKey,
    pub group_id: i64,
    /// When it became due.
    pub due_s: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("an escalation policy has 1 to 8 steps")]
    Steps,
    #[error("escalation steps must be in order of their delay, each at most 7 days")]
    StepOrder,
    #[error("each notification group may appear in one step only")]
    DuplicateGroup,
    #[error("the repeat interval must be between 300 s and 7 days")]
    Repeat,
    #[error("an alarm may send 1 to 100 notifications")]
    MaxNotifications,
}

impl EscalationPolicy {
    pub fn new(spec: EscalationPolicySpec) -> Result<EscalationPolicy, PolicyError> {
        if spec.steps.is_empty() || spec.steps.len() > MAX_STEPS {
            return Err(PolicyError::Steps);
        }
        if spec.steps.windows(2).any(|pair| pair[0].after_s > pair[1].after_s)
            || spec.steps.iter().any(|step| step.after_s > MAX_DELAY_S)
        {
            return Err(PolicyError::StepOrder);
        }
        let mut groups: Vec<i64> = spec.steps.iter().map(|step| step.group_id).collect();
        groups.sort_unstable();
        if groups.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(PolicyError::DuplicateGroup);
        }
        if spec.repeat_every_s.is_some_and(|repeat| !(MIN_REPEAT_S..=MAX_DELAY_S).contains(&repeat)) {
            return Err(PolicyError::Repeat);
        }
        if !(1..=MAX_NOTIFICATIONS).contains(&spec.max_notifications) {
            return Err(PolicyError::MaxNotifications);
        }
        Ok(EscalationPolicy {
            steps: spec.steps,
            repeat_every_s: spec.repeat_every_s,
            max_notifications: spec.max_notifications,
        })
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The notifications due at `now_s` for an alarm recorded at `recorded_s`, in step order, none already `sent`.
    pub fn due(&self, recorded_s: i64, state: AlarmState, sent: &[NoticeKey], now_s: i64) -> Vec<Notice> {
        let remaining = usize::try_from(self.max_notifications).unwrap_or(usize::MAX).saturating_sub(sent.len());
        if !state.unacknowledged() || remaining == 0 {
            return Vec::new();
        }
        let mut due = Vec::new();
        for (step, (first_due_s, group_id)) in self.first_dues(recorded_s).enumerate() {
            if now_s < first_due_s {
                continue;
            }
            let round = self
                .repeat_every_s
                .map_or(0, |repeat| u32::try_from((now_s - first_due_s) / i64::from(repeat)).unwrap_or(u32::MAX));
            let step = u8::try_from(step).unwrap_or(u8::MAX);
            if sent.iter().any(|key| key.step == step && key.round >= round) {
                continue;
            }
            let due_s = first_due_s + i64::from(round) * i64::from(self.repeat_every_s.unwrap_or(0));
            due.push(Notice { key: NoticeKey { step, round }, group_id, due_s });
        }
        due.truncate(remaining);
        due
    }

    /// When the next notification falls due after those `sent` (for the timer), or `None` if none ever will.
    pub fn next_due_s(&self, recorded_s: i64, state: AlarmState, sent: &[NoticeKey]) -> Option<i64> {
        let bound = usize::try_from(self.max_notifications).unwrap_or(usize::MAX);
        if !state.unacknowledged() || sent.len() >= bound {
            return None;
        }
        self.first_dues(recorded_s)
            .enumerate()
            .filter_map(|(step, (first_due_s, _))| {
                let step = u8::try_from(step).unwrap_or(u8::MAX);
                let last_round = sent.iter().filter(|key| key.step == step).map(|key| key.round).max();
                match (last_round, self.repeat_every_s) {
                    (None, _) => Some(first_due_s),
                    (Some(_), None) => None,
                    (Some(round), Some(repeat)) => Some(first_due_s + (i64::from(round) + 1) * i64::from(repeat)),
                }
            })
            .min()
    }

    fn first_dues(&self, recorded_s: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.steps.iter().map(move |step| (recorded_s.saturating_add(i64::from(step.after_s)), step.group_id))
    }
}

impl TryFrom<EscalationPolicySpec> for EscalationPolicy {
    type Error = PolicyError;

    fn try_from(spec: EscalationPolicySpec) -> Result<EscalationPolicy, PolicyError> {
        EscalationPolicy::new(spec)
    }
}

impl From<EscalationPolicy> for EscalationPolicySpec {
    fn from(policy: EscalationPolicy) -> EscalationPolicySpec {
        EscalationPolicySpec {
            steps: policy.steps,
            repeat_every_s: policy.repeat_every_s,
            max_notifications: policy.max_notifications,
        }
    }
}

/// Whether a new alarm is notified on its own, given the state of the latest earlier alarm of the same device,
/// channel, rule and side (if any): not while that one is still unacknowledged.
pub fn notify_new_alarm(earlier: Option<AlarmState>) -> bool {
    !earlier.is_some_and(AlarmState::unacknowledged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QA: i64 = 1;
    const MANAGER: i64 = 2;

    /// QA at once, the manager after 30 minutes, reminders every hour, at most 10 notifications.
    fn policy(repeat_every_s: Option<u32>, max_notifications: u32) -> EscalationPolicy {
        let steps = vec![Step { group_id: QA, after_s: 0 }, Step { group_id: MANAGER, after_s: 1_800 }];
        EscalationPolicy::new(EscalationPolicySpec { steps, repeat_every_s, max_notifications }).unwrap()
    }

    fn keys(notices: &[Notice]) -> Vec<(u8, u32, i64)> {
        notices.iter().map(|n| (n.key.step, n.key.round, n.group_id)).collect()
    }

    #[test]
    fn the_second_group_is_due_after_its_delay_only_while_unacknowledged() {
        let policy = policy(None, 10);
        let recorded = 1_000;
        let active = AlarmState::Active;
        assert_eq!(keys(&policy.due(recorded, active, &[], recorded)), vec![(0, 0, QA)]);
        let sent = [NoticeKey { step: 0, round: 0 }];
        assert_eq!(policy.due(recorded, active, &sent, recorded + 1_799), vec![]);
        assert_eq!(policy.next_due_s(recorded, active, &sent), Some(recorded + 1_800));
        let due = policy.due(recorded, active, &sent, recorded + 1_800);
        assert_eq!((keys(&due), due[0].due_s), (vec![(1, 0, MANAGER)], recorded + 1_800));
        // Cleared but not acknowledged still escalates; acknowledged or closed does not.
        assert_eq!(keys(&policy.due(recorded, AlarmState::ClearedUnacknowledged, &sent, recorded + 1_800)).len(), 1);
        for state in [AlarmState::Acknowledged, AlarmState::Cleared, AlarmState::Closed] {
            assert_eq!(policy.due(recorded, state, &sent, recorded + 1_800), vec![], "{state}");
            assert_eq!(policy.next_due_s(recorded, state, &sent), None, "{state}");
        }
        // Without repeats, once both were sent nothing is ever due again.
        let both = [NoticeKey { step: 0, round: 0 }, NoticeKey { step: 1, round: 0 }];
        assert_eq!(
            (policy.due(recorded, active, &both, recorded + 99_999), policy.next_due_s(recorded, active, &both)),
            (vec![], None)
        );
    }

    #[test]
    fn repeats_come_every_interval_and_missed_rounds_collapse_into_one() {
        let policy = policy(Some(3_600), 100);
        let sent = [NoticeKey { step: 0, round: 0 }, NoticeKey { step: 1, round: 0 }];
        assert_eq!(policy.due(0, AlarmState::Active, &sent, 3_599), vec![]);
        assert_eq!(keys(&policy.due(0, AlarmState::Active, &sent, 3_600)), vec![(0, 1, QA)]);
        assert_eq!(policy.next_due_s(0, AlarmState::Active, &sent), Some(3_600));
        // The server was down for ten hours: one reminder per group, for the latest round.
        let due = policy.due(0, AlarmState::Active, &sent, 36_000);
        assert_eq!(keys(&due), vec![(0, 10, QA), (1, 9, MANAGER)]);
        assert_eq!(due[1].due_s, 1_800 + 9 * 3_600);
        // Asking again at the same moment, after sending, gives nothing: each key goes once.
        let sent: Vec<NoticeKey> = sent.iter().copied().chain(due.iter().map(|n| n.key)).collect();
        assert_eq!(policy.due(0, AlarmState::Active, &sent, 36_000), vec![]);
    }

    #[test]
    fn an_alarm_never_sends_more_than_its_bound_however_often_the_timer_runs() {
        let policy = policy(Some(MIN_REPEAT_S), 5);
        let mut sent = Vec::new();
        for now_s in (0..200_000).step_by(60) {
            sent.extend(policy.due(0, AlarmState::Active, &sent, now_s).iter().map(|notice| notice.key));
        }
        assert_eq!(sent.len(), 5);
        assert_eq!(policy.next_due_s(0, AlarmState::Active, &sent), None);
    }

    #[test]
    fn invalid_policies_are_refused() {
        let step = |group_id, after_s| Step { group_id, after_s };
        let spec = |steps: Vec<Step>, repeat_every_s, max_notifications| EscalationPolicySpec {
            steps,
            repeat_every_s,
            max_notifications,
        };
        let cases = [
            (spec(vec![], None, 1), PolicyError::Steps),
            (spec((0..9).map(|g| step(g, 0)).collect(), None, 1), PolicyError::Steps),
            (spec(vec![step(1, 600), step(2, 0)], None, 1), PolicyError::StepOrder),
            (spec(vec![step(1, MAX_DELAY_S + 1)], None, 1), PolicyError::StepOrder),
            (spec(vec![step(1, 0), step(1, 60)], None, 1), PolicyError::DuplicateGroup),
            (spec(vec![step(1, 0)], Some(MIN_REPEAT_S - 1), 1), PolicyError::Repeat),
            (spec(vec![step(1, 0)], Some(MAX_DELAY_S + 1), 1), PolicyError::Repeat),
            (spec(vec![step(1, 0)], None, 0), PolicyError::MaxNotifications),
            (spec(vec![step(1, 0)], None, MAX_NOTIFICATIONS + 1), PolicyError::MaxNotifications),
        ];
        for (spec, expected) in cases {
            assert_eq!(EscalationPolicy::new(spec.clone()), Err(expected), "{spec:?}");
        }
    }

    #[test]
    fn a_flapping_sensor_is_notified_once_until_someone_acknowledges() {
        assert!(notify_new_alarm(None));
        assert!(!notify_new_alarm(Some(AlarmState::Active)));
        assert!(!notify_new_alarm(Some(AlarmState::ClearedUnacknowledged)));
        assert!(notify_new_alarm(Some(AlarmState::Cleared)));
        assert!(notify_new_alarm(Some(AlarmState::Closed)));
    }
}
