//! Webhook signatures, the scheme Stripe made familiar.
//!
//! Every webhook lipa sends carries
//!
//! ```text
//! Lipa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//! ```
//!
//! The timestamp is signed with the body, so a captured request cannot be replayed later than the
//! receiver's tolerance. A header may carry several `v1=` values (one per secret while a secret is being
//! rotated); a receiver accepts the request when any of them matches.
//!
//! ```
//! use std::time::Duration;
//! use lipa::webhook::{sign, verify, VerifyError, DEFAULT_TOLERANCE};
//!
//! let body = br#"{"id":"evt_1","type":"payment.succeeded","created":1764314100,"data":{}}"#;
//! let header = sign("whsec_test", 1_764_314_100, body);
//! assert!(header.starts_with("t=1764314100,v1="));
//!
//! // The receiver, a few seconds later:
//! assert_eq!(verify("whsec_test", &header, body, 1_764_314_103, DEFAULT_TOLERANCE), Ok(()));
//! // Another secret, another body or an old timestamp fail:
//! assert_eq!(verify("whsec_other", &header, body, 1_764_314_103, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
//! assert_eq!(verify("whsec_test", &header, b"{}", 1_764_314_103, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
//! assert_eq!(
//!     verify("whsec_test", &header, body, 1_764_314_100 + 3600, Duration::from_secs(300)),
//!     Err(VerifyError::Expired)
//! );
//! ```

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HTTP header that carries the signature.
pub const HEADER: &str = "Lipa-Signature";

/// How far a signature's timestamp may be from the receiver's clock: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a signature was refused. The variants say nothing about the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=<digits>,v1=<hex>[,v1=<hex>…]`.
    #[error("the Lipa-Signature header is malformed")]
    Malformed,
    /// The header has a timestamp but no `v1=` signature.
    #[error("the Lipa-Signature header has no v1 signature")]
    NoSignature,
    /// The timestamp is further from now than the tolerance (a replay, or a badly wrong clock).
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
    /// No `v1=` value matches the body and the secret.
    #[error("no signature matches the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn signature(secret: impl AsRef<[u8]>, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret.as_ref(), timestamp, body).finalize().into_bytes())
}

/// The `Lipa-Signature` header value for a body sent at `timestamp` (Unix seconds).
pub fn sign(secret: impl AsRef<[u8]>, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// Check a `Lipa-Signature` header against the raw body as received (before any JSON parsing), at `now`
/// (Unix seconds). Comparison is constant-time; any one of several `v1=` values may match.
pub fn verify(
    secret: impl AsRef<[u8]>,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
        match key {
            "t" => {
                if timestamp.is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VerifyError::Malformed);
                }
                timestamp = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?);
            }
            // A wrongly spelled value is not a match; other values may still be.
            "v1" => signatures.push(hex::decode(value).ok()),
            // Other schemes (a future v2) are ignored, as Stripe's receivers do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::NoSignature);
    }
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(VerifyError::Expired);
    }
    let expected = mac(secret.as_ref(), timestamp, body);
    // verify_slice compares in constant time; every candidate is checked so timing says nothing about which.
    let mut ok = false;
    for candidate in signatures.iter().flatten() {
        ok |= expected.clone().verify_slice(candidate).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// [`verify`] at the current time with the default tolerance.
pub fn verify_now(secret: impl AsRef<[u8]>, header: &str, body: &[u8]) -> Result<(), VerifyError> {
    let now = jiff::Timestamp::now().as_second();
    verify(secret, header, body, now, DEFAULT_TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_0123","type":"payment.failed"}"#;

    #[test]
    fn known_vector() {
        // Computed independently with Python: hmac.new(b"whsec_abc", b"1700000000." + BODY, sha256).hexdigest()
        let sig = signature("whsec_abc", 1_700_000_000, BODY);
        assert_eq!(sig, "a7fe5be3254f456f20bad8d002b9be061ccfa4ec1ebab469b13a62ae18beb6f3");
        assert_eq!(sign("whsec_abc", 1_700_000_000, BODY), format!("t=1700000000,v1={sig}"));
        let again = signature("whsec_abc", 1_700_000_000, BODY);
        assert_eq!(sig, again);
        assert_ne!(sig, signature("whsec_abc", 1_700_000_001, BODY));
    }

    #[test]
    fn verifies_and_refuses() {
        let h = sign("s1", 1000, BODY);
        assert_eq!(verify("s1", &h, BODY, 1000, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify("s1", &h, BODY, 1300, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify("s1", &h, BODY, 700, DEFAULT_TOLERANCE), Ok(()), "a receiver's clock may be behind");
        assert_eq!(verify("s1", &h, BODY, 1301, DEFAULT_TOLERANCE), Err(VerifyError::Expired));
        assert_eq!(verify("s2", &h, BODY, 1000, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(verify("s1", &h, &tampered, 1000, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
        // The timestamp is signed: moving it breaks the signature.
        let moved = h.replace("t=1000", "t=1001");
        assert_eq!(verify("s1", &moved, BODY, 1000, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
    }

    #[test]
    fn several_signatures_for_rotation() {
        let old = signature("old", 1000, BODY);
        let new = signature("new", 1000, BODY);
        let h = format!("t=1000,v1={old},v1={new}");
        assert_eq!(verify("old", &h, BODY, 1000, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify("new", &h, BODY, 1000, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify("other", &h, BODY, 1000, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
        // A garbled value next to a good one does not hide the good one.
        let h = format!("t=1000, v1=zz, v0=abc, v1={new}");
        assert_eq!(verify("new", &h, BODY, 1000, DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn malformed_headers() {
        let sig = signature("s", 1000, BODY);
        for h in ["", "t=", "v1=abcd", "t=abc,v1=00", "t=1000;v1=00", "t=-5,v1=00", &format!("t=1,t=1000,v1={sig}")] {
            assert_eq!(verify("s", h, BODY, 1000, DEFAULT_TOLERANCE), Err(VerifyError::Malformed), "{h:?}");
        }
        assert_eq!(verify("s", "t=1000", BODY, 1000, DEFAULT_TOLERANCE), Err(VerifyError::NoSignature));
        assert_eq!(verify("s", "t=1000,v1=", BODY, 1000, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
    }

    #[test]
    fn errors_do_not_show_the_secret() {
        let err = verify("supersecret", "t=1,v1=00", BODY, 1, DEFAULT_TOLERANCE).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("supersecret"));
    }
}
