//! Safaricom's public certificates for the `SecurityCredential`, shipped as data.
//!
//! The sandbox certificate is the one Daraja's sandbox accepts (`apicrypt.safaricom.co.ke`, the one
//! Safaricom's own Node library ships), not the `sandbox.safaricom.co.ke` TLS certificate some SDKs
//! ship. Where they came from: `certs/README.md` in this crate.
//!
//! ```
//! use daraja::{certificates, Environment};
//! let cert = certificates::for_environment(&Environment::Production).unwrap();
//! assert_eq!(cert.spki_sha256_hex(), certificates::PRODUCTION_SPKI_SHA256);
//! ```

use crate::config::Environment;
use crate::security_credential::Certificate;

/// Safaricom's sandbox certificate (PEM).
pub const SANDBOX_PEM: &str = include_str!("../certs/sandbox.pem");
/// Safaricom's production certificate (PEM).
pub const PRODUCTION_PEM: &str = include_str!("../certs/production.pem");
/// SHA-256 of the sandbox certificate's DER SubjectPublicKeyInfo.
pub const SANDBOX_SPKI_SHA256: &str = "bc1aba1eb634213496663c5e5b69dcda742acc8d5c2bd25eccb16e1caf66e8dc";
/// SHA-256 of the production certificate's DER SubjectPublicKeyInfo.
pub const PRODUCTION_SPKI_SHA256: &str = "085bf508c873dd7d69361796925d10f87b59d3f0147d148f46103c1df6464c45";

/// The Daraja sandbox's public test initiator (its password is `Safaricom999!*!`); a production
/// gateway configured with it is misconfigured.
pub const SANDBOX_INITIATOR_NAME: &str = "testapi";

/// Safaricom's certificate for `environment`; `None` for a custom base URL (a simulator), whose
/// certificate the caller must supply (the simulator serves its own at `/sim/certificate.pem`).
pub fn for_environment(environment: &Environment) -> Option<Certificate> {
    let pem = match environment {
        Environment::Sandbox => SANDBOX_PEM,
        Environment::Production => PRODUCTION_PEM,
        _ => return None,
    };
    Certificate::from_pem(pem).ok()
}

/// `true` when `cert` carries the key of Safaricom's sandbox certificate (a production gateway must
/// refuse to start with it).
pub fn is_sandbox(cert: &Certificate) -> bool {
    cert.spki_sha256_hex() == SANDBOX_SPKI_SHA256
}
