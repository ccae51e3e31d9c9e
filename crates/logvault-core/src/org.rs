//! Organisation names: the human key by which operators address a tenant on the command line.

use std::fmt;

/// A trimmed organisation name of 1 to 100 characters with no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct OrgName(String);

/// Why a string is not an organisation name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgNameError {
    #[error("organisation name is empty")]
    Empty,
    #[error("organisation name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("organisation name contains a control character")]
    ControlCharacter,
}

impl OrgName {
    /// Longest accepted name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses and normalises (trims) an organisation name.
    pub fn parse(raw: &str) -> Result<OrgName, OrgNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(OrgNameError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(OrgNameError::TooLong { max: Self::MAX_CHARS });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(OrgNameError::ControlCharacter);
        }
        Ok(OrgName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for OrgName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<OrgName, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        OrgName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(OrgName::parse("  Acme Cold Chain ").unwrap().as_str(), "Acme Cold Chain");
        assert_eq!(OrgName::parse("   "), Err(OrgNameError::Empty));
        assert_eq!(OrgName::parse(&"x".repeat(101)), Err(OrgNameError::TooLong { max: 100 }));
        assert!(OrgName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(OrgName::parse("a\u{7}b"), Err(OrgNameError::ControlCharacter));
    }
}
