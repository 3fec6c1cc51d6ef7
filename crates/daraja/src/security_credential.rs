//! The `SecurityCredential` of B2C, Reversal, Transaction Status and Account Balance requests:
//! `base64(RSA PKCS#1 v1.5 encryption of the initiator password with the certificate's public key)`,
//! in pure Rust (RustCrypto `rsa`, no OpenSSL).

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// Why a certificate (or public key) could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable certificate: {0}")]
pub struct CertificateError(String);

/// A certificate whose RSA public key encrypts initiator passwords.
///
/// Accepts an X.509 certificate in PEM (`-----BEGIN CERTIFICATE-----`) or DER form, as Safaricom
/// publishes it, or a bare `PUBLIC KEY` (SubjectPublicKeyInfo) in PEM or DER. Only the public key is
/// used; expiry dates are ignored, as Daraja ignores them.
///
/// ```
/// use daraja::Certificate;
/// let cert = Certificate::parse(daraja::certificates::SANDBOX_PEM.as_bytes()).unwrap();
/// let credential = cert.security_credential(&"Safaricom999!*!".into()).unwrap();
/// assert_eq!(credential.len(), 344); // 2048-bit key → 256 bytes → 344 base64 characters
/// ```
#[derive(Clone)]
pub struct Certificate {
    key: RsaPublicKey,
    spki: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("bits", &(self.key.size() * 8))
            .field("spki_sha256", &self.spki_sha256_hex())
            .finish()
    }
}

impl Certificate {
    /// Parses PEM or DER, whichever `bytes` holds.
    pub fn parse(bytes: &[u8]) -> Result<Certificate, CertificateError> {
        if bytes.first() == Some(&0x30) {
            return Certificate::from_der(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CertificateError("neither DER nor PEM".into()))?;
        Certificate::from_pem(text)
    }

    /// Parses the first `CERTIFICATE` or `PUBLIC KEY` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Certificate, CertificateError> {
        let mut inside = false;
        let mut b64 = String::new();
        for line in pem.lines().map(str::trim) {
            if line.starts_with("-----BEGIN ") {
                inside = line.contains("CERTIFICATE") || line.contains("PUBLIC KEY");
                b64.clear();
            } else if line.starts_with("-----END ") {
                if inside {
                    let der = BASE64
                        .decode(b64.as_bytes())
                        .map_err(|_| CertificateError("PEM body is not valid base64".into()))?;
                    return Certificate::from_der(&der);
                }
            } else if inside {
                b64.push_str(line);
            }
        }
        Err(CertificateError("no CERTIFICATE or PUBLIC KEY block in the PEM text".into()))
    }

    /// Parses a DER X.509 certificate or a DER SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertificateError> {
        let spki = find_spki(der).ok_or_else(|| CertificateError("not an X.509 certificate or public key".into()))?;
        let key = RsaPublicKey::from_public_key_der(spki)
            .map_err(|e| CertificateError(format!("public key is not RSA: {e}")))?;
        Ok(Certificate { key, spki: spki.to_vec() })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex: identifies the key whatever wraps it.
    pub fn spki_sha256_hex(&self) -> String {
        Sha256::digest(&self.spki).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key size in bits (2048 for Safaricom's certificates).
    pub fn bits(&self) -> usize {
        self.key.size() * 8
    }

    /// Encrypts `password` (its raw UTF-8 bytes) with RSA PKCS#1 v1.5 and base64-encodes the result.
    ///
    /// PKCS#1 v1.5 padding is random: every call gives a different credential, each valid.
    pub fn security_credential(&self, password: &SecretString) -> Result<String, CertificateError> {
        let cipher = self
            .key
            .encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, password.expose_secret().as_bytes())
            .map_err(|_| CertificateError("the initiator password is too long for this key".into()))?;
        Ok(BASE64.encode(cipher))
    }
}

/// One DER element: (tag, content, the whole element, what follows it).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let content = input.get(header..end)?;
    Some((tag, content, &input[..end], &input[end..]))
}

/// The SubjectPublicKeyInfo inside a certificate, or `der` itself when it is one.
fn find_spki(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let (tag, outer, whole, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, first, _, rest) = tlv(outer)?;
    if tag != SEQUENCE {
        return None;
    }
    // SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier SEQUENCE, BIT STRING }.
    if tlv(rest).is_some_and(|(t, ..)| t == 0x03) && first.first() == Some(&0x06) {
        return Some(whole);
    }
    // Certificate: SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial, signature, issuer,
    // validity, subject, subjectPublicKeyInfo, … }, … }.
    let mut tbs = first;
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.3;
    }
    for _ in 0..5 {
        tbs = tlv(tbs)?.3;
    }
    let (tag, _, spki, _) = tlv(tbs)?;
    (tag == SEQUENCE).then_some(spki)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(&[0x02, 0x01, 0x05, 0xff]), Some((0x02, &[5u8][..], &[2u8, 1, 5][..], &[0xffu8][..])));
        assert!(tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(tlv(&[0x30, 0x05, 0x00]).is_none());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(Certificate::parse(b"hello").is_err());
        assert!(Certificate::parse(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(Certificate::from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----").is_err());
    }
}
