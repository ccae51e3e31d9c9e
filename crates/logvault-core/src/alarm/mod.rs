//! Alarms on a device's measurements: the rule model, the incremental evaluator, the no-data and data-gap rules, the
//! alarm lifecycle and the escalation schedule — all pure, so storage, API and pages only move their values.
//!
//! Values are integers in thousandths of the channel's unit (milli-°C, milli-%RH), exactly as the protocol and the
//! store keep them; times are Unix seconds. A value on a limit is inside it, as in the exports' excursions.

pub mod escalation;
pub mod evaluate;
pub mod gaps;
pub mod lifecycle;
pub mod rule;

pub use evaluate::{AlarmEvent, EvalState, EventKind, Reading};
pub use lifecycle::{AlarmState, Comment};
pub use rule::{ChannelRule, Limit, RuleError, RuleSetting, Severity, Side};
