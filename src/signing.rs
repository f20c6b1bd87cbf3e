//! Standard Webhooks signing (<https://www.standardwebhooks.com/>):
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
//! keyed by the bytes of a `whsec_<base64>` secret.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::endpoint::Secret;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    #[error("secret is not valid base64 after the `whsec_` prefix")]
    SecretNotBase64,
    #[error("secret is empty")]
    EmptySecret,
    #[error("a Standard Webhooks secret starts with `whsec_` (generate one with `herald secret generate`)")]
    MissingPrefix,
    #[error("a Standard Webhooks secret holds 24 to 64 bytes; this one holds {0}")]
    WrongLength(usize),
}

/// Check that `secret` is a Standard Webhooks secret: `whsec_` + base64 of
/// 24–64 random bytes, so that the official libraries can verify what
/// herald signs with it.
pub fn check_standard_secret(secret: &Secret) -> Result<(), SigningError> {
    let encoded = secret
        .expose()
        .strip_prefix(SECRET_PREFIX)
        .ok_or(SigningError::MissingPrefix)?;
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| SigningError::SecretNotBase64)?;
    if !(24..=64).contains(&bytes.len()) {
        return Err(SigningError::WrongLength(bytes.len()));
    }
    Ok(())
}

/// A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> Secret {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", BASE64.encode(bytes)))
}

/// The HMAC key decoded from a secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// `whsec_<base64>` decodes to its bytes; any other text is used as is.
    pub fn from_secret(secret: &Secret) -> Result<SigningKey, SigningError> {
        let text = secret.expose();
        let bytes = match text.strip_prefix(SECRET_PREFIX) {
            Some(encoded) => BASE64
                .decode(encoded)
                .map_err(|_| SigningError::SecretNotBase64)?,
            None => text.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err(SigningError::EmptySecret);
        }
        Ok(SigningKey(bytes))
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", BASE64.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        self.hmac(id, &timestamp.to_string(), body)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// The HMAC state after `id.timestamp.body` (timestamp as sent).
    fn hmac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// Whether one of the `v1,<sig>` entries of `signature_header` is this
    /// key's signature of the message (constant-time comparison).
    fn matches(&self, id: &str, timestamp: &str, signature_header: &str, body: &[u8]) -> bool {
        signature_header
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|sig| BASE64.decode(sig).ok())
            .any(|sig| self.hmac(id, timestamp, body).verify_slice(&sig).is_ok())
    }
}

/// How far a `webhook-timestamp` may be from now, either way, by default
/// (the Standard Webhooks reference libraries use 5 minutes).
pub const DEFAULT_TOLERANCE: Duration = Duration::minutes(5);

/// Why a received webhook was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("verifier secret is unusable: {0}")]
    Secret(#[from] SigningError),
    #[error("webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is too old (more than {tolerance_seconds}s ago)")]
    TimestampTooOld { tolerance_seconds: i64 },
    #[error("webhook-timestamp is too far in the future (more than {tolerance_seconds}s ahead)")]
    TimestampTooNew { tolerance_seconds: i64 },
    #[error("no `v1` signature in webhook-signature matches")]
    NoMatchingSignature,
}

/// Verify a received Standard Webhooks message: the timestamp must be within
/// `tolerance` of `now` either way, and one of the space-separated `v1,<sig>`
/// entries of `signature_header` must be the HMAC of `id.timestamp.body`.
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let key = SigningKey::from_secret(secret)?;
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let tolerance_seconds = tolerance.num_seconds();
    let now = now.timestamp();
    if seconds < now.saturating_sub(tolerance_seconds) {
        return Err(VerifyError::TimestampTooOld { tolerance_seconds });
    }
    if seconds > now.saturating_add(tolerance_seconds) {
        return Err(VerifyError::TimestampTooNew { tolerance_seconds });
    }
    if key.matches(id, timestamp.trim(), signature_header, body) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_standard_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(check_standard_secret(&a), Ok(()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(
            check_standard_secret(&Secret::new("hunter2")),
            Err(SigningError::MissingPrefix)
        );
        assert_eq!(
            check_standard_secret(&Secret::new("whsec_!!!")),
            Err(SigningError::SecretNotBase64)
        );
        assert_eq!(
            check_standard_secret(&Secret::new("whsec_c2VjcmV0")),
            Err(SigningError::WrongLength(6))
        );
    }

    // The published Standard Webhooks test vector (standard-webhooks spec
    // and reference libraries).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(ts: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(ts, 0).expect("valid timestamp")
    }

    fn secret() -> Secret {
        Secret::new(SECRET)
    }

    #[test]
    fn signs_the_published_test_vector() {
        let key = SigningKey::from_secret(&secret()).expect("valid secret");
        assert_eq!(key.sign(ID, TS, BODY), EXPECTED);
    }

    #[test]
    fn verifies_the_published_test_vector() {
        let ts = TS.to_string();
        assert_eq!(
            verify(
                &secret(),
                ID,
                &ts,
                EXPECTED,
                BODY,
                at(TS),
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
    }

    #[test]
    fn accepts_any_of_several_signatures() {
        let ts = TS.to_string();
        let header = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz {EXPECTED}");
        assert_eq!(
            verify(
                &secret(),
                ID,
                &ts,
                &header,
                BODY,
                at(TS + 60),
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_a_tampered_body() {
        let ts = TS.to_string();
        let tampered = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify(
                &secret(),
                ID,
                &ts,
                EXPECTED,
                tampered,
                at(TS),
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn rejects_another_id_or_secret() {
        let ts = TS.to_string();
        assert_eq!(
            verify(
                &secret(),
                "msg_other",
                &ts,
                EXPECTED,
                BODY,
                at(TS),
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::NoMatchingSignature)
        );
        let other = Secret::new("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE=");
        assert_eq!(
            verify(&other, ID, &ts, EXPECTED, BODY, at(TS), DEFAULT_TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn rejects_timestamps_outside_the_tolerance() {
        let ts = TS.to_string();
        let old = verify(
            &secret(),
            ID,
            &ts,
            EXPECTED,
            BODY,
            at(TS + 301),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(
            old,
            Err(VerifyError::TimestampTooOld {
                tolerance_seconds: 300
            })
        );
        let new = verify(
            &secret(),
            ID,
            &ts,
            EXPECTED,
            BODY,
            at(TS - 301),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(
            new,
            Err(VerifyError::TimestampTooNew {
                tolerance_seconds: 300
            })
        );
        // The edges are inside.
        for now in [TS - 300, TS + 300] {
            assert_eq!(
                verify(
                    &secret(),
                    ID,
                    &ts,
                    EXPECTED,
                    BODY,
                    at(now),
                    DEFAULT_TOLERANCE
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(
            verify(
                &secret(),
                ID,
                "soon",
                EXPECTED,
                BODY,
                at(TS),
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::BadTimestamp)
        );
        let ts = TS.to_string();
        for header in [
            "",
            "v1,",
            "v1,not base64!",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert_eq!(
                verify(&secret(), ID, &ts, header, BODY, at(TS), DEFAULT_TOLERANCE),
                Err(VerifyError::NoMatchingSignature),
                "{header:?}"
            );
        }
    }
}
