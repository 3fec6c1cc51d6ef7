//! The money-out configuration: the initiator and its password (a secret), the certificate that encrypts
//! it, the B2C shortcode and app, and how refunds go out.

use std::fmt;

use daraja::{Certificate, ExposeSecret, SecretString};

use super::{redacted, Mode};
use crate::source::{ConfigError, Source};

/// How refunds go out (`LIPA_REFUND_METHOD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundMethod {
    Reversal,
    B2c,
}

/// `MPESA_INITIATOR_*`, `MPESA_B2C_*`, `MPESA_CERTIFICATE`, `LIPA_REFUND_METHOD`.
#[derive(Clone)]
pub struct Settings {
    pub initiator_name: Option<String>,
    pub initiator_password: Option<SecretString>,
    /// Default: `MPESA_SHORTCODE`.
    pub b2c_shortcode: Option<String>,
    pub b2c_consumer_key: Option<SecretString>,
    pub b2c_consumer_secret: Option<SecretString>,
    /// A PEM or DER file; default: Safaricom's certificate for the mode (the simulator's in simulator mode).
    pub certificate_path: Option<String>,
    pub refund_method: RefundMethod,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("initiator_name", &self.initiator_name)
            .field("initiator_password", &redacted(&self.initiator_password))
            .field("b2c_shortcode", &self.b2c_shortcode)
            .field("b2c_consumer_key", &redacted(&self.b2c_consumer_key))
            .field("b2c_consumer_secret", &redacted(&self.b2c_consumer_secret))
            .field("certificate_path", &self.certificate_path)
            .field("refund_method", &self.refund_method)
            .finish()
    }
}

impl Settings {
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let text = |name: &str| src.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let secret = |name: &str| src.get(name).filter(|v| !v.is_empty()).map(SecretString::from);
        let refund_method = match text("LIPA_REFUND_METHOD").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("reversal") => RefundMethod::Reversal,
            Some("b2c") => RefundMethod::B2c,
            Some(other) => {
                return Err(ConfigError(format!("LIPA_REFUND_METHOD={other:?}: use reversal (the default) or b2c")))
            }
        };
        Ok(Settings {
            initiator_name: text("MPESA_INITIATOR_NAME"),
            initiator_password: secret("MPESA_INITIATOR_PASSWORD"),
            b2c_shortcode: text("MPESA_B2C_SHORTCODE"),
            b2c_consumer_key: secret("MPESA_B2C_CONSUMER_KEY"),
            b2c_consumer_secret: secret("MPESA_B2C_CONSUMER_SECRET"),
            certificate_path: text("MPESA_CERTIFICATE"),
            refund_method,
        })
    }

    /// The initiator and its password for `mode`: as configured, or the public sandbox initiator outside
    /// production (which the simulator and Daraja's sandbox both accept). None: money out is not set up.
    pub fn initiator(&self, mode: Mode) -> Option<(String, SecretString)> {
        match (&self.initiator_name, &self.initiator_password) {
            (Some(n), Some(p)) => Some((n.clone(), p.clone())),
            (None, None) if mode != Mode::Production => Some((
                daraja::certificates::SANDBOX_INITIATOR_NAME.to_string(),
                SecretString::from(SANDBOX_INITIATOR_PASSWORD),
            )),
            _ => None,
        }
    }

    /// The certificate that encrypts the initiator password: the file named, or the one for the mode.
    pub fn certificate(&self, mode: Mode) -> Result<Certificate, String> {
        if let Some(path) = &self.certificate_path {
            let bytes = std::fs::read(path).map_err(|e| format!("MPESA_CERTIFICATE ({path}) cannot be read: {e}"))?;
            return Certificate::parse(&bytes)
                .map_err(|e| format!("MPESA_CERTIFICATE ({path}) is not a certificate: {e}"));
        }
        let pem = match mode {
            Mode::Production => daraja::certificates::PRODUCTION_PEM,
            Mode::Sandbox => daraja::certificates::SANDBOX_PEM,
            Mode::Simulator => SIMULATOR_PEM,
        };
        Certificate::from_pem(pem).map_err(|e| format!("the shipped certificate cannot be read: {e}"))
    }

    /// What production refuses: the sandbox initiator, the sandbox certificate, half a configuration.
    pub fn problems(&self, mode: Mode) -> Vec<String> {
        let mut out = Vec::new();
        if self.initiator_name.is_some() != self.initiator_password.is_some() {
            out.push("set both MPESA_INITIATOR_NAME and MPESA_INITIATOR_PASSWORD (or neither)".to_string());
        }
        if self.b2c_consumer_key.is_some() != self.b2c_consumer_secret.is_some() {
            out.push("set both MPESA_B2C_CONSUMER_KEY and MPESA_B2C_CONSUMER_SECRET (or neither)".to_string());
        }
        if mode == Mode::Production {
            if self.initiator_name.as_deref() == Some(daraja::certificates::SANDBOX_INITIATOR_NAME) {
                out.push(
                    "MPESA_INITIATOR_NAME is the sandbox initiator testapi: create an API operator on the M-Pesa \
                     org portal and set its name"
                        .to_string(),
                );
            }
            match self.certificate(mode) {
                Ok(cert) if daraja::certificates::is_sandbox(&cert) => out.push(
                    "MPESA_CERTIFICATE is Safaricom's sandbox certificate: production needs the production one \
                     (unset MPESA_CERTIFICATE to use the one shipped with lipa)"
                        .to_string(),
                ),
                Ok(_) => {}
                Err(e) => out.push(e),
            }
        }
        out
    }
}

/// The sandbox initiator's public password (Daraja's test credentials page).
const SANDBOX_INITIATOR_PASSWORD: &str = "Safaricom999!*!";

#[cfg(feature = "sim")]
const SIMULATOR_PEM: &str = daraja_sim::SIM_CERTIFICATE_PEM;
#[cfg(not(feature = "sim"))]
const SIMULATOR_PEM: &str = daraja::certificates::SANDBOX_PEM;

/// The encrypted password is made once; never shown.
pub fn credential(cert: &Certificate, password: &SecretString) -> Result<String, String> {
    cert.security_credential(password).map_err(|e| format!("the initiator password cannot be encrypted: {e}"))
}

/// True when the password is the public sandbox one (for `lipa doctor`).
pub fn is_sandbox_password(password: &SecretString) -> bool {
    password.expose_secret() == SANDBOX_INITIATOR_PASSWORD
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_source(&Source::from_pairs(env))
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let s = settings(&[("MPESA_INITIATOR_NAME", "op"), ("MPESA_INITIATOR_PASSWORD", "pw-SECRET-1")]).unwrap();
        assert!(!format!("{s:?}").contains("pw-SECRET-1"));
        let cert = s.certificate(Mode::Simulator).unwrap();
        let (_, pw) = s.initiator(Mode::Production).unwrap();
        let cred = credential(&cert, &pw).unwrap();
        assert!(!cred.contains("pw-SECRET-1"));
    }

    #[test]
    fn production_refuses_the_sandbox_initiator_and_certificate() {
        let sandbox_cert = std::env::temp_dir().join(format!("lipa-sandbox-{}.pem", std::process::id()));
        std::fs::write(&sandbox_cert, daraja::certificates::SANDBOX_PEM).unwrap();
        let s = settings(&[
            ("MPESA_INITIATOR_NAME", "testapi"),
            ("MPESA_INITIATOR_PASSWORD", "x"),
            ("MPESA_CERTIFICATE", sandbox_cert.to_str().unwrap()),
        ])
        .unwrap();
        let problems = s.problems(Mode::Production).join("\n");
        assert!(problems.contains("testapi") && problems.contains("sandbox certificate"), "{problems}");
        assert!(s.problems(Mode::Sandbox).is_empty());
        // Production with nothing set: money out is off, not a refusal; outside it the sandbox initiator works.
        let none = settings(&[]).unwrap();
        assert!(none.problems(Mode::Production).is_empty() && none.initiator(Mode::Production).is_none());
        assert_eq!(none.initiator(Mode::Simulator).unwrap().0, "testapi");
        assert!(settings(&[("LIPA_REFUND_METHOD", "cash")]).is_err());
        assert_eq!(settings(&[("LIPA_REFUND_METHOD", "b2c")]).unwrap().refund_method, RefundMethod::B2c);
        std::fs::remove_file(sandbox_cert).ok();
    }
}
