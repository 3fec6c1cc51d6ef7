//! The admin password, kept only as a salted PBKDF2-HMAC-SHA256 hash (RustCrypto's `pbkdf2`), and
//! constant-time comparison of secrets (`subtle`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
        let iterations = iterations.max(1);
        Self { salt, iterations, hash: pbkdf2_sha256(password.as_bytes(), &salt, iterations) }
    }

    /// Constant time in the content of the password.
    pub fn verify(&self, candidate: &str) -> bool {
        let got = pbkdf2_sha256(candidate.as_bytes(), &self.salt, self.iterations);
        bool::from(got.ct_eq(&self.hash))
    }
}

/// PBKDF2 (RFC 8018) with HMAC-SHA256 and a 32-byte output.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

/// Equal byte strings, compared in constant time (the length is not secret: tokens have a fixed one).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Equal secrets of any length: their digests are compared in constant time, so the timing tells nothing
/// about the secret, not even its length.
pub fn same_secret(a: &str, b: &str) -> bool {
    same_bytes(&Sha256::digest(a.as_bytes()), &Sha256::digest(b.as_bytes()))
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
    }

    #[test]
    fn verify_and_no_leaks() {
        let a = AdminAuth::from_password("correct horse", 10);
        assert!(a.verify("correct horse"));
        assert!(!a.verify("correct hors"));
        assert!(!a.verify(""));
        assert_eq!(format!("{a:?}"), "AdminAuth([redacted])");
    }

    #[test]
    fn comparisons() {
        assert!(same_secret("token", "token"));
        assert!(!same_secret("token", "token2"));
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
    }
}
