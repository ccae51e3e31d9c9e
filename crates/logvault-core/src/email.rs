//! Email addresses: the one piece of contact data Logvault keeps about a person (data minimisation).

use std::fmt;

/// A syntactically plausible email address, trimmed and lower-cased so that one mailbox is one account.
///
/// `Debug` does not print the address: it is personal data and must not reach technical logs by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address is empty")]
    Empty,
    #[error("email address is longer than {max} characters")]
    TooLong { max: usize },
    #[error("email address must have the form name@domain")]
    Malformed,
}

impl Email {
    /// Longest accepted address (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(EmailError::TooLong { max: Self::MAX_LEN });
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let plausible = !local.is_empty()
            && local.len() <= 64
            && !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !local.contains('@')
            && trimmed.chars().all(|c| !c.is_control() && !c.is_whitespace());
        if !plausible {
            return Err(EmailError::Malformed);
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, e.g. for checking that a password does not contain it.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or(self.0.as_str(), |(local, _)| local)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Email, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_lower_cased_and_checked() {
        assert_eq!(Email::parse("  Ana.Lima@Example.TEST ").unwrap().as_str(), "ana.lima@example.test");
        assert_eq!(Email::parse("ana@example.test").unwrap().local_part(), "ana");
        for bad in ["", "ana", "@example.test", "ana@", "ana@.test", "ana@test.", "a b@example.test", "ana@ex..test"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Email::parse(&format!("{}@example.test", "a".repeat(300))), Err(EmailError::TooLong { max: 254 }));
    }

    #[test]
    fn debug_does_not_reveal_the_address() {
        assert_eq!(format!("{:?}", Email::parse("ana@example.test").unwrap()), "Email(<redacted>)");
    }
}
