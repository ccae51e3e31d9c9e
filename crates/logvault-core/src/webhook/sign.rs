//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA-256>` over `"{id}.{timestamp}.{body}"`
//! with the endpoint's `whsec_<base64>` secret, and their verification (timestamp tolerance, every listed
//! signature tried, constant-time comparison).
//!
//! docs/webhooks.md states the algorithm and the test vectors the tests reproduce.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// What every secret starts with, as the specification writes it.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from the verifier's clock, either way: five minutes, the specification's advice.
pub const DEFAULT_TOLERANCE_S: i64 = 300;
/// Secret sizes the specification allows (24 to 64 bytes); Logvault makes 32.
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;
const NEW_SECRET_BYTES: usize = 32;
/// The longest message id accepted.
pub const MAX_ID_LEN: usize = 256;

/// An endpoint's signing key. `Debug` shows nothing of it; it is zeroed on drop.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

/// The three headers of one signed delivery (the same id and signature on every retry of one message, a fresh
/// timestamp and signature per attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`
    pub id: String,
    /// `webhook-timestamp`: Unix seconds.
    pub timestamp: String,
    /// `webhook-signature`
    pub signature: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret is whsec_ followed by the base64 of 24 to 64 bytes")]
    Invalid,
    #[error("the system's random source failed")]
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("a webhook id is 1 to 256 printable ASCII characters")]
    Id,
    #[error("the webhook timestamp is not a whole number of seconds")]
    Timestamp,
    #[error("the webhook timestamp is outside the tolerance")]
    Stale,
    #[error("no v1 signature matches")]
    Mismatch,
}

impl WebhookSecret {
    /// A fresh random 32-byte secret.
    pub fn generate() -> Result<WebhookSecret, SecretError> {
        let mut key = Zeroizing::new(vec![0u8; NEW_SECRET_BYTES]);
        getrandom::fill(key.as_mut_slice()).map_err(|_| SecretError::Random)?;
        Ok(WebhookSecret(key))
    }

    /// Parses `whsec_<base64>` (the prefix may be left off, as receivers' libraries allow).
    pub fn parse(raw: &str) -> Result<WebhookSecret, SecretError> {
        let encoded = raw.trim().strip_prefix(SECRET_PREFIX).unwrap_or(raw.trim());
        let key = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| SecretError::Invalid)?);
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()) {
            return Err(SecretError::Invalid);
        }
        Ok(WebhookSecret(key))
    }

    /// The secret as the endpoint's owner copies it: shown once, when it is made.
    pub fn to_whsec(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0.as_slice())))
    }

    /// The `webhook-signature` value for one message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp_s: i64, body: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, &signed_content(id, &timestamp_s.to_string(), body));
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// The headers of one delivery attempt of message `id` at `timestamp_s`.
    pub fn headers(&self, id: &str, timestamp_s: i64, body: &[u8]) -> Result<SignedHeaders, VerifyError> {
        check_id(id)?;
        Ok(SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp_s.to_string(),
            signature: self.sign(id, timestamp_s, body),
        })
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// A fresh message id: `msg_` and 128 random bits, base64url.
pub fn new_message_id() -> Result<String, SecretError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| SecretError::Random)?;
    Ok(format!("msg_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Verifies a delivery as a receiver would: `timestamp` within `tolerance_s` of `now_s`, and at least one `v1`
/// entry of the space-separated `signature` header made by one of `secrets` (several during a key rotation) over
/// exactly these body bytes. Each comparison is constant-time; entries of other versions are ignored.
pub fn verify(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), VerifyError> {
    check_id(id)?;
    let timestamp_s: i64 = timestamp.parse().map_err(|_| VerifyError::Timestamp)?;
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Timestamp);
    }
    if now_s.abs_diff(timestamp_s) > tolerance_s.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    let content = signed_content(id, timestamp, body);
    let tags = signature
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok());
    for tag in tags {
        for secret in secrets {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret.0);
            if aws_lc_rs::hmac::verify(&key, &content, &tag).is_ok() {
                return Ok(());
            }
        }
    }
    Err(VerifyError::Mismatch)
}

fn check_id(id: &str) -> Result<(), VerifyError> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_ID_LEN || !printable {
        return Err(VerifyError::Id);
    }
    Ok(())
}

fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector the Standard Webhooks specification's reference libraries publish (docs/webhooks.md).
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn vector_secret() -> WebhookSecret {
        WebhookSecret::parse(VECTOR_SECRET).unwrap()
    }

    #[test]
    fn signing_reproduces_the_published_standard_webhooks_vector() {
        let headers = vector_secret().headers(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY).unwrap();
        assert_eq!(headers.signature, VECTOR_SIGNATURE);
        assert_eq!((headers.id.as_str(), headers.timestamp.as_str()), (VECTOR_ID, "1614265330"));
        // Without its prefix the secret is the same key.
        let bare = WebhookSecret::parse(&VECTOR_SECRET[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(bare.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY), VECTOR_SIGNATURE);
    }

    #[test]
    fn signing_reproduces_the_logvault_shaped_vector_of_the_docs() {
        let secret = WebhookSecret::parse("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let body = br#"{"type":"alarm.raised","timestamp":"2026-11-30T00:53:20Z","data":{"alarm_id":17,"device":"LV-000042","channel":0,"side":"upper","severity":"alarm","start":"2026-11-27T09:20:00Z","value":9.7,"limit":8.0}}"#;
        let signature = secret.sign("msg_2vT9bQeZ3kYcJ1mR8wLx0A", 1_796_000_000, body);
        assert_eq!(signature, "v1,dN9lfLzN3+2uXvtgS4THKzsqvt2uI4E4m+Vzf/o9KhA=");
        assert_eq!(&*secret.to_whsec(), "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    }

    #[test]
    fn verification_accepts_the_vector_and_refuses_every_alteration() {
        let secret = vector_secret();
        let other = WebhookSecret::generate().unwrap();
        let ts = "1614265330";
        let now = VECTOR_TIMESTAMP;
        let ok = |sig: &str, body: &[u8], now_s: i64| {
            verify(&[&secret], VECTOR_ID, ts, sig, body, now_s, DEFAULT_TOLERANCE_S)
        };
        assert_eq!(ok(VECTOR_SIGNATURE, VECTOR_BODY, now), Ok(()));
        type Case<'a> = (&'a str, &'a str, &'a [u8], &'a str, i64, Result<(), VerifyError>);
        let cases: &[Case<'_>] = &[
            (
                "several signatures, one valid",
                VECTOR_ID,
                VECTOR_BODY,
                "v1,bm9wZQ== v2,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                now,
                Ok(()),
            ),
            ("five minutes late is on time", VECTOR_ID, VECTOR_BODY, VECTOR_SIGNATURE, now + 300, Ok(())),
            ("five minutes early is on time", VECTOR_ID, VECTOR_BODY, VECTOR_SIGNATURE, now - 300, Ok(())),
            ("one second more is stale", VECTOR_ID, VECTOR_BODY, VECTOR_SIGNATURE, now + 301, Err(VerifyError::Stale)),
            (
                "a changed body",
                VECTOR_ID,
                br#"{"test": 2432232315}"#,
                VECTOR_SIGNATURE,
                now,
                Err(VerifyError::Mismatch),
            ),
            ("another id", "msg_other", VECTOR_BODY, VECTOR_SIGNATURE, now, Err(VerifyError::Mismatch)),
            (
                "a v2 entry with the right bytes",
                VECTOR_ID,
                VECTOR_BODY,
                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                now,
                Err(VerifyError::Mismatch),
            ),
            (
                "a truncated tag",
                VECTOR_ID,
                VECTOR_BODY,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJE",
                now,
                Err(VerifyError::Mismatch),
            ),
            ("no signature", VECTOR_ID, VECTOR_BODY, "", now, Err(VerifyError::Mismatch)),
            ("an empty id", "", VECTOR_BODY, VECTOR_SIGNATURE, now, Err(VerifyError::Id)),
        ];
        for (name, id, body, signature, now_s, expected) in cases {
            assert_eq!(verify(&[&secret], id, ts, signature, body, *now_s, DEFAULT_TOLERANCE_S), *expected, "{name}");
        }
        assert_eq!(
            verify(&[&other], VECTOR_ID, ts, VECTOR_SIGNATURE, VECTOR_BODY, now, 300),
            Err(VerifyError::Mismatch)
        );
        // During a rotation either key verifies.
        assert_eq!(verify(&[&other, &secret], VECTOR_ID, ts, VECTOR_SIGNATURE, VECTOR_BODY, now, 300), Ok(()));
        for timestamp in ["+1614265330", "1614265330.0", "", "-5", "99999999999999999999"] {
            let got = verify(&[&secret], VECTOR_ID, timestamp, VECTOR_SIGNATURE, VECTOR_BODY, now, 300);
            assert_eq!(got, Err(VerifyError::Timestamp), "{timestamp:?}");
        }
    }

    #[test]
    fn secrets_are_random_bounded_and_never_printed() {
        let secret = WebhookSecret::generate().unwrap();
        let shown = secret.to_whsec();
        assert!(shown.starts_with(SECRET_PREFIX) && shown.len() == SECRET_PREFIX.len() + 44);
        let parsed = WebhookSecret::parse(&shown).unwrap();
        assert_eq!(parsed.sign("msg_1", 1, b"{}"), secret.sign("msg_1", 1, b"{}"));
        assert_ne!(WebhookSecret::generate().unwrap().sign("msg_1", 1, b"{}"), secret.sign("msg_1", 1, b"{}"));
        assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
        let short = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; MIN_SECRET_BYTES - 1]));
        let long = format!("{SECRET_PREFIX}{}", STANDARD.encode([7u8; MAX_SECRET_BYTES + 1]));
        for raw in [short.as_str(), long.as_str(), "whsec_not base64!", ""] {
            assert_eq!(WebhookSecret::parse(raw).err(), Some(SecretError::Invalid), "{raw}");
        }
        let id = new_message_id().unwrap();
        assert!(id.starts_with("msg_") && id.len() == 26 && id != new_message_id().unwrap());
        assert_eq!(secret.headers("msg with space", 1, b"").err(), Some(VerifyError::Id));
    }
}
