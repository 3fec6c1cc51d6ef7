//! The admin password: stretched with PBKDF2-HMAC-SHA256 at startup (salted, [`PBKDF2_ITERATIONS`]), the
//! plain text dropped from the configuration, logins checked against the hash in constant time.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::{Config, Mode};

/// PBKDF2-HMAC-SHA256 rounds for a configured password (OWASP's 2023 advice is 600,000).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The admin password, kept only as a salted PBKDF2 hash.
pub struct AdminAuth {
    salt: [u8; 16],
    iterations: u32,
    hash: [u8; 32],
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminAuth([redacted])")
    }
}

impl AdminAuth {
    pub fn from_password(password: &str, iterations: u32) -> Self {
        let salt: [u8; 16] = rand::random();
        let hash = pbkdf2_sha256(password.as_bytes(), &salt, iterations.max(1));
        Self { salt, iterations: iterations.max(1), hash }
    }

    /// Constant time in the content of the password (its length only changes the HMAC key block).
    pub fn verify(&self, candidate: &str) -> bool {
        let got = pbkdf2_sha256(candidate.as_bytes(), &self.salt, self.iterations);
        ct_eq(&got, &self.hash)
    }
}

/// The admin login for a configuration, taking the plain password out of it (it is not kept). Returns the
/// hash and, when one was generated (simulator mode without `LIPA_ADMIN_PASSWORD`), the password to print.
pub fn setup(cfg: &mut Config) -> (Option<Arc<AdminAuth>>, Option<String>) {
    match cfg.admin_password.take() {
        Some(pw) => (Some(Arc::new(AdminAuth::from_password(pw.expose_secret(), PBKDF2_ITERATIONS))), None),
        None if cfg.mode == Mode::Simulator => {
            let pw = hex::encode(rand::random::<[u8; 12]>());
            // 96 random bits need no stretching; a person's password does.
            (Some(Arc::new(AdminAuth::from_password(&pw, 1))), Some(pw))
        }
        None => (None, None),
    }
}

/// PBKDF2 (RFC 8018) with HMAC-SHA256 and a 32-byte output: one block.
///
/// The first round uses the `hmac` crate; the others, where all the time goes, feed SHA-256's compression
/// function directly from the precomputed inner and outer key states (each round is then exactly two
/// compressions). Besides being the usual PBKDF2 speed-up, it keeps a login fast in debug builds, where
/// generic code compiled into this crate is unoptimised.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    const IV: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let prf = Hmac::<Sha256>::new_from_slice(password).expect("HMAC takes keys of any length");
    let mut u: [u8; 32] = prf.chain_update(salt).chain_update(1u32.to_be_bytes()).finalize().into_bytes().into();
    let mut out = u;
    if iterations <= 1 {
        return out;
    }
    let mut key = [0u8; 64];
    if password.len() > 64 {
        key[..32].copy_from_slice(&Sha256::digest(password));
    } else {
        key[..password.len()].copy_from_slice(password);
    }
    let keyed = |pad: u8| {
        let mut state = IV;
        let block = key.map(|b| b ^ pad);
        sha2::compress256(&mut state, &[block.into()]);
        state
    };
    let (inner, outer) = (keyed(0x36), keyed(0x5c));
    // One block: 32 bytes of message, the 0x80 terminator, zeros, and the length of key block + message
    // (96 bytes = 768 bits) in the last 8 bytes.
    let mut block = [0u8; 64];
    block[32] = 0x80;
    block[56..].copy_from_slice(&768u64.to_be_bytes());
    let digest = |mut state: [u32; 8], block: &[u8; 64], into: &mut [u8; 32]| {
        sha2::compress256(&mut state, &[(*block).into()]);
        for (chunk, word) in into.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    };
    for _ in 1..iterations {
        block[..32].copy_from_slice(&u);
        let mut mid = [0u8; 32];
        digest(inner, &block, &mut mid);
        block[..32].copy_from_slice(&mid);
        digest(outer, &block, &mut u);
        out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
    }
    out
}

pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_published_vectors() {
        // RFC 7914 section 11 (PBKDF2-HMAC-SHA256, first 32 bytes) and the widely used "password"/"salt" ones.
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex::encode(pbkdf2_sha256(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        // A key longer than the 64-byte block is hashed first (RFC 2104).
        let long = [b'k'; 100];
        let slow = {
            let prf = Hmac::<Sha256>::new_from_slice(&long).unwrap();
            let mut u: [u8; 32] =
                prf.clone().chain_update(b"salt").chain_update(1u32.to_be_bytes()).finalize().into_bytes().into();
            let mut out = u;
            for _ in 1..3 {
                u = prf.clone().chain_update(u).finalize().into_bytes().into();
                out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
            }
            out
        };
        assert_eq!(pbkdf2_sha256(&long, b"salt", 3), slow);
    }

    #[test]
    fn verify_and_no_leaks() {
        let a = AdminAuth::from_password("correct horse", 10);
        assert!(a.verify("correct horse"));
        assert!(!a.verify("correct hors"));
        assert!(!a.verify(""));
        assert_eq!(format!("{a:?}"), "AdminAuth([redacted])");
    }
}
