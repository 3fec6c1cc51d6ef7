//! Reading and writing Daraja's wire format: numbers that arrive as strings, its two error envelopes,
//! error chains for messages.

use serde_json::Value;

use crate::error::Error;

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

pub(super) use crate::wire::{digits_as_number, string_or_number};

/// `expires_in` of a token answer: whole seconds, as a number or a string.
pub(super) fn parse_expires_in(v: &Value) -> Option<u64> {
    crate::wire::whole_number(v, 1e12)
}

/// A field that may be missing, as [`crate::wire::text`].
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    crate::wire::text(v?)
}

/// Either of Daraja's error envelopes, normalized.
pub(super) struct ErrorEnvelope {
    pub(super) code: String,
    pub(super) message: String,
    pub(super) request_id: Option<String>,
}

impl ErrorEnvelope {
    pub(super) fn parse(bytes: &[u8]) -> Option<ErrorEnvelope> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        if let Some(code) = text(v.get("errorCode")).filter(|c| !c.is_empty()) {
            return Some(ErrorEnvelope {
                code,
                message: text(v.get("errorMessage")).unwrap_or_default(),
                request_id: text(v.get("requestId")).filter(|s| !s.is_empty()),
            });
        }
        // The API gateway's own envelope, e.g. on rate limits:
        // {"fault":{"faultstring":"…","detail":{"errorcode":"policies.ratelimit.SpikeArrestViolation"}}}
        let fault = v.get("fault")?;
        let message = text(fault.get("faultstring")).unwrap_or_default();
        let code = text(fault.get("detail").and_then(|d| d.get("errorcode")))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "fault".to_owned());
        Some(ErrorEnvelope { code, message, request_id: None })
    }

    pub(super) fn is_invalid_token(&self) -> bool {
        // "Invalid Access Token - Invalid API call as no apiproduct match found" is about the app's
        // products (e.g. C2B v1 vs v2), not the token: a new token would be refused the same way.
        if self.code == "401.003.01" || self.message.to_ascii_lowercase().contains("apiproduct") {
            return false;
        }
        matches!(self.code.as_str(), "404.001.03" | "400.003.01")
            || self.code.to_ascii_lowercase().contains("invalidaccesstoken")
            || self.message.to_ascii_lowercase().contains("invalid access token")
    }

    pub(super) fn rate_limited(&self, status: u16) -> Option<Error> {
        let code = self.code.to_ascii_lowercase();
        let limited = matches!(self.code.as_str(), "500.003.02" | "500.003.03")
            || code.contains("ratelimit")
            || code.contains("spikearrest")
            || code.contains("quota")
            || status == 429;
        limited.then(|| Error::RateLimited { error_code: self.code.clone(), message: self.message.clone() })
    }
}

pub(super) fn is_invalid_token(status: u16, bytes: &[u8]) -> bool {
    if (200..300).contains(&status) {
        return false;
    }
    match ErrorEnvelope::parse(bytes) {
        Some(env) => env.is_invalid_token(),
        // The gateway has been seen to answer a bad bearer token with a bare 401.
        None => status == 401,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn envelopes() {
        let e = ErrorEnvelope::parse(
            br#"{"requestId":"r","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}"#,
        )
        .unwrap();
        assert!(e.is_invalid_token());
        let f = ErrorEnvelope::parse(br#"{"fault":{"faultstring":"Spike arrest violation. Allowed rate : 5ps","detail":{"errorcode":"policies.ratelimit.SpikeArrestViolation"}}}"#).unwrap();
        assert!(f.rate_limited(500).is_some());
        assert!(!f.is_invalid_token());
        let f = ErrorEnvelope::parse(br#"{"fault":{"faultstring":"Invalid Access Token","detail":{"errorcode":"keymanagement.service.invalid_access_token"}}}"#).unwrap();
        assert!(f.is_invalid_token());
        assert!(ErrorEnvelope::parse(b"<html>").is_none());
        assert!(is_invalid_token(401, b""));
        assert!(!is_invalid_token(500, b""));
    }

    #[test]
    fn expires_in_forms() {
        assert_eq!(parse_expires_in(&json!("3599")), Some(3599));
        assert_eq!(parse_expires_in(&json!(3599)), Some(3599));
        assert_eq!(parse_expires_in(&json!(3599.0)), Some(3599));
        assert_eq!(parse_expires_in(&json!(-1)), None);
        assert_eq!(parse_expires_in(&json!("soon")), None);
    }
}
