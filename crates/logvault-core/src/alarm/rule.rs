//! Alarm rules of one channel: an upper and/or a lower limit, each with its alarm limit, an optional warning limit
//! inside it, an alarm delay and a hysteresis for clearing; and which rule applies (device > site > organisation).
//!
//! A rule is checked once when it is made ([`ChannelRule::new`], or deserialised through [`ChannelRuleSpec`]), so the
//! evaluator can rely on its shape: the normal band (between the inner limits) is never empty, a warning limit lies
//! strictly inside its alarm limit, and a clearing level never reaches into the other side's excursion.

use std::fmt;

/// The longest alarm delay: a day. A longer one would hide an excursion that matters for any product.
pub const MAX_DELAY_S: u32 = 86_400;
/// The widest hysteresis, in thousandths (100 units: far beyond any fridge's or humidity sensor's noise).
pub const MAX_HYSTERESIS_MILLI: i64 = 100_000;

/// How serious an excursion is: beyond the warning limit only, or beyond the alarm limit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Alarm,
}

/// Which limit an excursion crosses: above the upper or below the lower.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Upper,
    Lower,
}

/// One side's limits, in thousandths of the channel's unit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Beyond this (strictly) is an alarm.
    pub alarm_milli: i64,
    /// Beyond this (strictly), but not beyond the alarm limit, is a warning; `None`: this side only alarms.
    #[serde(default)]
    pub warning_milli: Option<i64>,
    /// How long an excursion must last, between the times of its first and its latest reading beyond a limit,
    /// before it is raised; 0 raises it at its first reading.
    #[serde(default)]
    pub delay_s: u32,
    /// A raised excursion clears only once a reading is this far back inside the inner limit (on the clearing level
    /// counts as back).
    #[serde(default)]
    pub hysteresis_milli: i64,
}

/// The unchecked form of a channel rule, as the API and the store carry it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRuleSpec {
    #[serde(default)]
    pub upper: Option<Limit>,
    #[serde(default)]
    pub lower: Option<Limit>,
}

/// A checked channel rule: at least one side, consistent limits (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ChannelRuleSpec", into = "ChannelRuleSpec")]
pub struct ChannelRule {
    upper: Option<Limit>,
    lower: Option<Limit>,
}

/// What one level (device, site or organisation) says about a channel: a rule, or explicitly none — so a device can
/// opt out of its site's or organisation's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSetting {
    Rule(ChannelRule),
    Off,
}

/// Where the rule that applies to a channel was set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    Device,
    Site,
    Organisation,
}

/// Why a rule was refused; each message names what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a rule needs an upper or a lower limit")]
    NoLimit,
    #[error("the {0} limits must be finite and within ±2,147,483.647")]
    OutOfRange(Side),
    #[error("the lower alarm limit must be below the upper alarm limit")]
    LowerNotBelowUpper,
    #[error("the {0} warning limit must lie strictly inside its alarm limit")]
    WarningOutsideAlarm(Side),
    #[error("the limits leave no normal band: the lower inner limit must be below the upper inner limit")]
    NoNormalBand,
    #[error("the {0} hysteresis must be between 0 and 100,000 thousandths")]
    Hysteresis(Side),
    #[error("the {0} hysteresis is too wide: its clearing level must stay inside the normal band")]
    HysteresisTooWide(Side),
    #[error("the {0} alarm delay must be at most 86,400 s (24 h)")]
    DelayTooLong(Side),
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Upper => "upper",
            Side::Lower => "lower",
        })
    }
}

impl Limit {
    /// The limit nearest the normal band: the warning limit if there is one, else the alarm limit.
    pub fn inner_milli(&self) -> i64 {
        self.warning_milli.unwrap_or(self.alarm_milli)
    }

    /// How serious `value_milli` is on `side`: `None` inside (on a limit is inside).
    pub fn severity_of(&self, side: Side, value_milli: i64) -> Option<Severity> {
        let beyond = |limit: i64| match side {
            Side::Upper => value_milli > limit,
            Side::Lower => value_milli < limit,
        };
        if beyond(self.alarm_milli) {
            Some(Severity::Alarm)
        } else if self.warning_milli.is_some_and(beyond) {
            Some(Severity::Warning)
        } else {
            None
        }
    }

    /// The level at or inside which a raised excursion on `side` clears: the inner limit moved inwards by the
    /// hysteresis.
    pub fn clearing_milli(&self, side: Side) -> i64 {
        match side {
            Side::Upper => self.inner_milli() - self.hysteresis_milli,
            Side::Lower => self.inner_milli() + self.hysteresis_milli,
        }
    }

    /// Whether `value_milli` clears a raised excursion on `side`.
    pub fn clears(&self, side: Side, value_milli: i64) -> bool {
        match side {
            Side::Upper => value_milli <= self.clearing_milli(side),
            Side::Lower => value_milli >= self.clearing_milli(side),
        }
    }

    fn check(&self, side: Side) -> Result<(), RuleError> {
        let in_range = |value: i64| (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&value);
        if !in_range(self.alarm_milli) || self.warning_milli.is_some_and(|warning| !in_range(warning)) {
            return Err(RuleError::OutOfRange(side));
        }
        if let Some(warning) = self.warning_milli {
            let inside = match side {
                Side::Upper => warning < self.alarm_milli,
                Side::Lower => warning > self.alarm_milli,
            };
            if !inside {
                return Err(RuleError::WarningOutsideAlarm(side));
            }
        }
        if !(0..=MAX_HYSTERESIS_MILLI).contains(&self.hysteresis_milli) {
            return Err(RuleError::Hysteresis(side));
        }
        if self.delay_s > MAX_DELAY_S {
            return Err(RuleError::DelayTooLong(side));
        }
        Ok(())
    }
}

impl ChannelRule {
    /// Checks and makes a rule (see [`RuleError`] for what is refused).
    pub fn new(upper: Option<Limit>, lower: Option<Limit>) -> Result<ChannelRule, RuleError> {
        if upper.is_none() && lower.is_none() {
            return Err(RuleError::NoLimit);
        }
        if let Some(upper) = &upper {
            upper.check(Side::Upper)?;
        }
        if let Some(lower) = &lower {
            lower.check(Side::Lower)?;
        }
        if let (Some(upper), Some(lower)) = (&upper, &lower) {
            if lower.alarm_milli >= upper.alarm_milli {
                return Err(RuleError::LowerNotBelowUpper);
            }
            if lower.inner_milli() >= upper.inner_milli() {
                return Err(RuleError::NoNormalBand);
            }
            // A clearing level at or beyond the other side's inner limit would let one reading be both "not yet
            // cleared above" and "beyond the lower limit".
            if upper.clearing_milli(Side::Upper) <= lower.inner_milli() {
                return Err(RuleError::HysteresisTooWide(Side::Upper));
            }
            if lower.clearing_milli(Side::Lower) >= upper.inner_milli() {
                return Err(RuleError::HysteresisTooWide(Side::Lower));
            }
        }
        Ok(ChannelRule { upper, lower })
    }

    /// The rule the existing device settings imply: alarm limits in the channel's unit (as `DeviceSettings` keeps
    /// them), at once (no delay), no hysteresis, no warning band — the same excursions the exports report. `None`
    /// when the channel has no limit.
    pub fn from_unit_limits(lower: Option<f64>, upper: Option<f64>) -> Result<Option<ChannelRule>, RuleError> {
        let limit = |value: Option<f64>, side: Side| -> Result<Option<Limit>, RuleError> {
            value
                .map(|value| {
                    let alarm_milli = milli_from_unit(value).ok_or(RuleError::OutOfRange(side))?;
                    Ok(Limit { alarm_milli, warning_milli: None, delay_s: 0, hysteresis_milli: 0 })
                })
                .transpose()
        };
        let (upper, lower) = (limit(upper, Side::Upper)?, limit(lower, Side::Lower)?);
        if upper.is_none() && lower.is_none() {
            return Ok(None);
        }
        ChannelRule::new(upper, lower).map(Some)
    }

    pub fn upper(&self) -> Option<&Limit> {
        self.upper.as_ref()
    }

    pub fn lower(&self) -> Option<&Limit> {
        self.lower.as_ref()
    }

    /// The limits of `side`, if the rule has that side.
    pub fn side(&self, side: Side) -> Option<&Limit> {
        match side {
            Side::Upper => self.upper.as_ref(),
            Side::Lower => self.lower.as_ref(),
        }
    }
}

impl TryFrom<ChannelRuleSpec> for ChannelRule {
    type Error = RuleError;

    fn try_from(spec: ChannelRuleSpec) -> Result<ChannelRule, RuleError> {
        ChannelRule::new(spec.upper, spec.lower)
    }
}

impl From<ChannelRule> for ChannelRuleSpec {
    fn from(rule: ChannelRule) -> ChannelRuleSpec {
        ChannelRuleSpec { upper: rule.upper, lower: rule.lower }
    }
}

/// The rule that applies to a channel: the most specific level that says anything decides, device over site over
/// organisation, and it decides wholly — a device rule replaces the default, it is not merged field by field (a
/// merge would make a combination of limits nobody wrote and nobody's validation saw). `RuleSetting::Off` at the
/// deciding level means no rule.
pub fn resolve<'a>(
    device: Option<&'a RuleSetting>,
    site: Option<&'a RuleSetting>,
    organisation: Option<&'a RuleSetting>,
) -> Option<(&'a ChannelRule, RuleSource)> {
    let (setting, source) = device
        .map(|setting| (setting, RuleSource::Device))
        .or(site.map(|setting| (setting, RuleSource::Site)))
        .or(organisation.map(|setting| (setting, RuleSource::Organisation)))?;
    match setting {
        RuleSetting::Rule(rule) => Some((rule, source)),
        RuleSetting::Off => None,
    }
}

/// A value in the channel's unit as thousandths, rounded to the nearest; `None` for a non-finite value or one outside
/// the range a stored measurement can take.
pub fn milli_from_unit(value: f64) -> Option<i64> {
    let milli = (value * 1000.0).round();
    (milli.is_finite() && milli >= f64::from(i32::MIN) && milli <= f64::from(i32::MAX)).then_some(milli as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(alarm_milli: i64, warning_milli: Option<i64>, delay_s: u32, hysteresis_milli: i64) -> Limit {
        Limit { alarm_milli, warning_milli, delay_s, hysteresis_milli }
    }

    /// A 2–8 °C fridge with warnings at 3 and 7 °C and 0.5 °C hysteresis.
    fn fridge() -> ChannelRule {
        ChannelRule::new(Some(limit(8_000, Some(7_000), 900, 500)), Some(limit(2_000, Some(3_000), 900, 500)))
            .unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn invalid_rules_are_refused_with_the_reason() {
        let ok = limit(8_000, Some(7_000), 0, 0);
        let cases: &[(Option<Limit>, Option<Limit>, RuleError)] = &[
            (None, None, RuleError::NoLimit),
            (Some(limit(2_000, None, 0, 0)), Some(limit(2_000, None, 0, 0)), RuleError::LowerNotBelowUpper),
            (Some(limit(2_000, None, 0, 0)), Some(limit(8_000, None, 0, 0)), RuleError::LowerNotBelowUpper),
            (Some(limit(8_000, Some(8_000), 0, 0)), None, RuleError::WarningOutsideAlarm(Side::Upper)),
            (Some(limit(8_000, Some(9_000), 0, 0)), None, RuleError::WarningOutsideAlarm(Side::Upper)),
            (None, Some(limit(2_000, Some(1_000), 0, 0)), RuleError::WarningOutsideAlarm(Side::Lower)),
            (Some(ok), Some(limit(2_000, Some(7_000), 0, 0)), RuleError::NoNormalBand),
            (Some(limit(8_000, None, 0, -1)), None, RuleError::Hysteresis(Side::Upper)),
            (None, Some(limit(2_000, None, 0, MAX_HYSTERESIS_MILLI + 1)), RuleError::Hysteresis(Side::Lower)),
            (Some(limit(8_000, Some(7_000), 0, 4_000)), Some(limit(2_000, Some(3_000), 0, 0)), {
                RuleError::HysteresisTooWide(Side::Upper)
            }),
            (Some(ok), Some(limit(2_000, Some(3_000), 0, 4_000)), RuleError::HysteresisTooWide(Side::Lower)),
            (Some(limit(8_000, None, MAX_DELAY_S + 1, 0)), None, RuleError::DelayTooLong(Side::Upper)),
            (Some(limit(i64::from(i32::MAX) + 1, None, 0, 0)), None, RuleError::OutOfRange(Side::Upper)),
        ];
        for (upper, lower, expected) in cases {
            assert_eq!(ChannelRule::new(*upper, *lower), Err(expected.clone()), "{upper:?} {lower:?}");
        }
    }

    #[test]
    fn rules_at_the_edges_of_validity_are_accepted() {
        // One-sided rules, the longest delay, the widest hysteresis a one-sided rule allows, a 1-thousandth band.
        assert!(ChannelRule::new(Some(limit(8_000, None, MAX_DELAY_S, MAX_HYSTERESIS_MILLI)), None).is_ok());
        assert!(ChannelRule::new(None, Some(limit(-20_000, Some(-18_000), 0, 0))).is_ok());
        assert!(ChannelRule::new(Some(limit(1, None, 0, 0)), Some(limit(0, None, 0, 0))).is_ok());
        // The upper clearing level may come down to one thousandth above the lower inner limit.
        assert!(
            ChannelRule::new(Some(limit(8_000, Some(7_000), 0, 3_999)), Some(limit(2_000, Some(3_000), 0, 0))).is_ok()
        );
    }

    #[test]
    fn a_value_on_a_limit_is_inside_and_the_hysteresis_moves_the_clearing_level_inwards() {
        let rule = fridge();
        let (upper, lower) = (rule.upper().copied().unwrap_or_else(|| panic!()), *rule.side(Side::Lower).unwrap());
        let cases = [
            (Side::Upper, 7_000, None),
            (Side::Upper, 7_001, Some(Severity::Warning)),
            (Side::Upper, 8_000, Some(Severity::Warning)),
            (Side::Upper, 8_001, Some(Severity::Alarm)),
            (Side::Lower, 3_000, None),
            (Side::Lower, 2_999, Some(Severity::Warning)),
            (Side::Lower, 1_999, Some(Severity::Alarm)),
        ];
        for (side, value, expected) in cases {
            let limit = if side == Side::Upper { upper } else { lower };
            assert_eq!(limit.severity_of(side, value), expected, "{side} {value}");
        }
        assert!(upper.clears(Side::Upper, 6_500) && !upper.clears(Side::Upper, 6_501));
        assert!(lower.clears(Side::Lower, 3_500) && !lower.clears(Side::Lower, 3_499));
    }

    #[test]
    fn the_most_specific_level_decides_wholly_and_off_opts_a_device_out() {
        let org = RuleSetting::Rule(fridge());
        let site_rule = ChannelRule::new(Some(limit(25_000, None, 0, 0)), None).unwrap_or_else(|err| panic!("{err}"));
        let site = RuleSetting::Rule(site_rule);
        let device_rule =
            ChannelRule::new(None, Some(limit(-5_000, None, 60, 0))).unwrap_or_else(|err| panic!("{err}"));
        let device = RuleSetting::Rule(device_rule);
        assert_eq!(resolve(None, None, Some(&org)), Some((&fridge(), RuleSource::Organisation)));
        assert_eq!(resolve(None, Some(&site), Some(&org)), Some((&site_rule, RuleSource::Site)));
        // The device's rule replaces the defaults: no upper limit is inherited.
        let (rule, source) = resolve(Some(&device), Some(&site), Some(&org)).unwrap_or_else(|| panic!());
        assert_eq!((rule.upper(), source), (None, RuleSource::Device));
        assert_eq!(resolve(Some(&RuleSetting::Off), Some(&site), Some(&org)), None);
        assert_eq!(resolve(None, Some(&RuleSetting::Off), Some(&org)), None);
        assert_eq!(resolve(None, None, None), None);
    }

    #[test]
    fn device_settings_limits_become_an_at_once_rule_in_thousandths() {
        let rule = ChannelRule::from_unit_limits(Some(2.0), Some(8.25)).unwrap_or_else(|err| panic!("{err}"));
        let rule = rule.unwrap_or_else(|| panic!("limits give a rule"));
        assert_eq!(rule.upper(), Some(&limit(8_250, None, 0, 0)));
        assert_eq!(rule.lower(), Some(&limit(2_000, None, 0, 0)));
        assert_eq!(ChannelRule::from_unit_limits(None, None), Ok(None));
        assert_eq!(ChannelRule::from_unit_limits(None, Some(f64::NAN)), Err(RuleError::OutOfRange(Side::Upper)));
        assert_eq!(ChannelRule::from_unit_limits(Some(9.0), Some(8.0)), Err(RuleError::LowerNotBelowUpper));
        assert_eq!(milli_from_unit(-0.0005), Some(-1));
        assert_eq!(milli_from_unit(1e12), None);
    }

    #[test]
    fn a_rule_deserialises_only_when_valid() {
        let json = r#"{"upper":{"alarm_milli":8000,"warning_milli":7000,"delay_s":900,"hysteresis_milli":500}}"#;
        let rule: ChannelRule = serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            serde_json::to_string(&rule).ok().as_deref(),
            Some(&*format!("{},\"lower\":null}}", &json[..json.len() - 1]))
        );
        let invalid = r#"{"upper":{"alarm_milli":8000,"warning_milli":9000}}"#;
        let err = serde_json::from_str::<ChannelRule>(invalid).err().map(|err| err.to_string());
        assert!(err.is_some_and(|err| err.contains("warning limit must lie strictly inside")));
        assert!(serde_json::from_str::<ChannelRule>(r#"{"upper":{"alarm_milli":1,"extra":2}}"#).is_err());
    }
}
