//! The life of one alarm: active → acknowledged (by whom, when, with a mandatory comment) → cleared → closed.
//!
//! Acknowledging and clearing are independent facts, so an alarm whose condition clears before anyone acknowledged
//! it is `ClearedUnacknowledged`: it stays on the dashboard until someone acknowledges it. Closing is a separate,
//! deliberate step after both. Every other move is an error naming the state, so the API can answer 409 instead of
//! silently rewriting history (the store keeps each transition as an append-only record).

use std::fmt;

/// The longest acknowledgement comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// Where an alarm stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// The condition holds; nobody has acknowledged.
    Active,
    /// The condition holds; someone has acknowledged.
    Acknowledged,
    /// The condition is gone; nobody has acknowledged yet (still shown as needing attention).
    ClearedUnacknowledged,
    /// The condition is gone and the alarm was acknowledged; it can be closed.
    Cleared,
    /// Done: nothing more can happen to it.
    Closed,
}

/// What can happen to an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    Acknowledge,
    Clear,
    Close,
}

/// Why an acknowledgement comment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    #[error("an acknowledgement needs a comment saying what was done")]
    Empty,
    #[error("a comment is at most 2,000 characters")]
    TooLong,
    #[error("a comment may not contain control or text-direction characters other than line breaks and tabs")]
    Control,
}

/// A transition that the alarm's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an alarm that is {from} cannot be {}", .transition.past_participle())]
pub struct IllegalTransition {
    pub from: AlarmState,
    pub transition: Transition,
}

/// An acknowledgement's reason: trimmed, non-empty, at most [`MAX_COMMENT_CHARS`] characters, no control or
/// text-direction characters but line breaks and tabs (so it prints safely in a PDF, an email and a log).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Comment(String);

impl Comment {
    pub fn parse(raw: &str) -> Result<Comment, CommentError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(CommentError::Empty);
        }
        if trimmed.chars().count() > MAX_COMMENT_CHARS {
            return Err(CommentError::TooLong);
        }
        // Text-direction overrides are refused too: they make a printed comment read differently from what it is.
        let refused = |c: char| {
            (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        };
        if trimmed.chars().any(refused) {
            return Err(CommentError::Control);
        }
        Ok(Comment(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Comment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Comment, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Comment::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Who acknowledged, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Acknowledgement {
    pub user_id: i64,
    pub at_s: i64,
    pub comment: Comment,
}

impl AlarmState {
    /// The state after `transition`, or the error if this state does not allow it.
    pub fn apply(self, transition: Transition) -> Result<AlarmState, IllegalTransition> {
        use AlarmState::*;
        match (self, transition) {
            (Active, Transition::Acknowledge) => Ok(Acknowledged),
            (Active, Transition::Clear) => Ok(ClearedUnacknowledged),
            (Acknowledged, Transition::Clear) => Ok(Cleared),
            (ClearedUnacknowledged, Transition::Acknowledge) => Ok(Cleared),
            (Cleared, Transition::Close) => Ok(Closed),
            (from, transition) => Err(IllegalTransition { from, transition }),
        }
    }

    /// Whether the alarm still asks for someone's attention (shown as active, notified while unacknowledged).
    pub fn needs_attention(self) -> bool {
        matches!(self, AlarmState::Active | AlarmState::Acknowledged | AlarmState::ClearedUnacknowledged)
    }

    /// Whether nobody has acknowledged it yet (escalation continues).
    pub fn unacknowledged(self) -> bool {
        matches!(self, AlarmState::Active | AlarmState::ClearedUnacknowledged)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            AlarmState::Active => "active",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::ClearedUnacknowledged => "cleared_unacknowledged",
            AlarmState::Cleared => "cleared",
            AlarmState::Closed => "closed",
        }
    }
}

impl Transition {
    fn past_participle(self) -> &'static str {
        match self {
            Transition::Acknowledge => "acknowledged",
            Transition::Clear => "cleared",
            Transition::Close => "closed",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_transition_pair_is_allowed_or_an_error() {
        use AlarmState::*;
        use Transition::*;
        let table = [
            (Active, Acknowledge, Some(Acknowledged)),
            (Active, Clear, Some(ClearedUnacknowledged)),
            (Active, Close, None),
            (Acknowledged, Acknowledge, None),
            (Acknowledged, Clear, Some(Cleared)),
            (Acknowledged, Close, None),
            (ClearedUnacknowledged, Acknowledge, Some(Cleared)),
            (ClearedUnacknowledged, Clear, None),
            (ClearedUnacknowledged, Close, None),
            (Cleared, Acknowledge, None),
            (Cleared, Clear, None),
            (Cleared, Close, Some(Closed)),
            (Closed, Acknowledge, None),
            (Closed, Clear, None),
            (Closed, Close, None),
        ];
        for (from, transition, expected) in table {
            let got = from.apply(transition);
            match expected {
                Some(to) => assert_eq!(got, Ok(to), "{from} {transition:?}"),
                None => assert_eq!(got, Err(IllegalTransition { from, transition }), "{from} {transition:?}"),
            }
        }
        let err = Closed.apply(Acknowledge).err().map(|err| err.to_string());
        assert_eq!(err.as_deref(), Some("an alarm that is closed cannot be acknowledged"));
    }

    #[test]
    fn an_alarm_cleared_before_anyone_acknowledged_stays_visible_until_acknowledged() {
        let cleared = AlarmState::Active.apply(Transition::Clear).unwrap();
        assert!(cleared.needs_attention() && cleared.unacknowledged());
        assert!(cleared.apply(Transition::Close).is_err());
        let acknowledged = cleared.apply(Transition::Acknowledge).unwrap();
        assert!(!acknowledged.unacknowledged());
        assert!(!acknowledged.needs_attention());
        assert_eq!(acknowledged.apply(Transition::Close), Ok(AlarmState::Closed));
    }

    #[test]
    fn a_comment_is_mandatory_bounded_and_printable() {
        let cases = [
            ("", Err(CommentError::Empty)),
            (" \n\t ", Err(CommentError::Empty)),
            ("door left open\u{7}", Err(CommentError::Control)),
            ("door left open\u{202e}", Err(CommentError::Control)),
            ("Tür offen – Ware umgelagert", Ok("Tür offen – Ware umgelagert")),
            ("  moved stock to fridge 2\nchecked at 14:05  ", Ok("moved stock to fridge 2\nchecked at 14:05")),
        ];
        for (raw, expected) in cases {
            assert_eq!(Comment::parse(raw).as_ref().map(Comment::as_str), expected.as_ref().copied(), "{raw:?}");
        }
        assert!(Comment::parse(&"é".repeat(MAX_COMMENT_CHARS)).is_ok());
        assert_eq!(Comment::parse(&"é".repeat(MAX_COMMENT_CHARS + 1)), Err(CommentError::TooLong));
        let ack: Result<Acknowledgement, _> = serde_json::from_str(r#"{"user_id":1,"at_s":5,"comment":"  "}"#);
        assert!(ack.is_err_and(|err| err.to_string().contains("needs a comment")));
    }
}
