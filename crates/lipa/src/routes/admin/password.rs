//! The admin password: stretched with PBKDF2-HMAC-SHA256 at startup (salted, [`PBKDF2_ITERATIONS`],
//! `crate::password`), the plain text dropped from the configuration, logins checked against the hash in
//! constant time.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::config::{Config, Mode};
// The hash itself lives in `crate::password` (RustCrypto's pbkdf2); these names stay here for callers.
pub use crate::password::{pbkdf2_sha256, AdminAuth, PBKDF2_ITERATIONS};

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

/// Equal tokens, compared in constant time (`subtle`).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    crate::password::same_bytes(a, b)
}
