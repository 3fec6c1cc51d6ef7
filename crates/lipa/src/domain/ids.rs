//! Identifiers and secrets. Everything random comes from the OS-seeded thread RNG and is spelled in
//! lowercase hex, which can never contain a word Daraja forbids in callback URLs.

use rand::RngCore;
use sha2::{Digest, Sha256};

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// 24 hex characters that sort by creation time: 12 of milliseconds since the epoch, then 12 random.
/// Indexes keyed by such ids (events by id, callbacks and events by payment) grow at one end, so a commit
/// writes a few index pages instead of one page per row scattered over the whole index.
fn time_ordered_hex() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    format!("{:012x}{}", ms & 0xffff_ffff_ffff, random_hex(6))
}

/// `pay_` + 24 hex characters, in creation order.
pub fn payment_id() -> String {
    format!("pay_{}", time_ordered_hex())
}

/// `po_` + 24 hex characters, in creation order: a payout's id and its B2C OriginatorConversationID.
pub fn payout_id() -> String {
    format!("po_{}", time_ordered_hex())
}

/// `re_` + 24 hex characters, in creation order.
pub fn refund_id() -> String {
    format!("re_{}", time_ordered_hex())
}

/// `evt_` + 24 hex characters, in creation order.
pub fn event_id() -> String {
    format!("evt_{}", time_ordered_hex())
}

/// The per-payment secret in the callback URL: 128 bits, lowercase hex.
pub fn callback_secret() -> String {
    random_hex(16)
}

/// The secret in a payment's, payout's or refund's callback URLs: whoever posts there proves it knows it.
/// Its `Debug` hides it, so a payment or payout written with `{:?}` never shows it; [`Secret::as_str`] gives
/// it where it belongs (the URL sent to Daraja, the database).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new one ([`callback_secret`]).
    pub fn random() -> Secret {
        Secret(callback_secret())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One read back from the database, or from the path of a URL.
impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Secret {
        Secret(secret.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// A merchant API key, shown once.
pub fn api_key() -> String {
    format!("lipa_sk_{}", random_hex(24))
}

/// What the store keeps of an API key: its SHA-256, hex.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A short, stable id for a key (its hash prefix) that may appear in logs.
pub fn key_id(hash: &str) -> String {
    format!("key_{}", &hash[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_lowercase_hex_and_unique() {
        let a = callback_secret();
        let b = callback_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(payment_id().starts_with("pay_"));
        let (first, second) = (event_id(), event_id());
        assert_eq!(first.len(), 28);
        assert_ne!(first, second);
        assert!(first[4..16] <= second[4..16], "the time part comes first and never goes back");
        assert!(api_key().starts_with("lipa_sk_"));
    }
}
