//! Identifiers and secrets. Everything random comes from the OS-seeded thread RNG and is spelled in
//! lowercase hex, which can never contain a word Daraja forbids in callback URLs.

use rand::RngCore;
use sha2::{Digest, Sha256};

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// `pay_` + 24 hex characters.
pub fn payment_id() -> String {
    format!("pay_{}", random_hex(12))
}

/// `evt_` + 24 hex characters.
pub fn event_id() -> String {
    format!("evt_{}", random_hex(12))
}

/// The per-payment secret in the callback URL: 128 bits, lowercase hex.
pub fn callback_secret() -> String {
    random_hex(16)
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
        assert!(api_key().starts_with("lipa_sk_"));
    }
}
