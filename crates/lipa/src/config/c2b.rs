//! The C2B settings: `MPESA_C2B_VERSION`, `LIPA_C2B_VALIDATION`, `LIPA_C2B_DEFAULT_ACTION`.

use std::fmt;

use daraja::c2b::{C2bVersion, ResponseType};

use crate::domain::c2b::ValidationRule;
use crate::source::{ConfigError, Source};

/// The C2B settings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct C2bSettings {
    /// `MPESA_C2B_VERSION` (`v2` default): the C2B product the Daraja app has.
    pub version: C2bVersion,
    /// `LIPA_C2B_VALIDATION` (`off` default).
    pub validation: ValidationRule,
    /// `LIPA_C2B_DEFAULT_ACTION` (`Completed` default): what Safaricom does when a validation gets no answer
    /// in time (sent at registration).
    pub default_action: ResponseType,
}

impl fmt::Debug for C2bSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("C2bSettings")
            .field("version", &self.version.as_str())
            .field("validation", &self.validation.as_str())
            .field("default_action", &self.default_action.as_str())
            .finish()
    }
}

impl Default for C2bSettings {
    fn default() -> Self {
        C2bSettings {
            version: C2bVersion::V2,
            validation: ValidationRule::Off,
            default_action: ResponseType::Completed,
        }
    }
}

impl C2bSettings {
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let mut s = C2bSettings::default();
        if let Some(v) = src.get("MPESA_C2B_VERSION") {
            s.version = v.parse().map_err(|_| ConfigError(format!("MPESA_C2B_VERSION={v:?}: use v1 or v2")))?;
        }
        if let Some(v) = src.get("LIPA_C2B_VALIDATION") {
            s.validation = ValidationRule::parse(&v)
                .ok_or_else(|| ConfigError(format!("LIPA_C2B_VALIDATION={v:?}: use off, reference or exact")))?;
        }
        if let Some(v) = src.get("LIPA_C2B_DEFAULT_ACTION") {
            s.default_action = v
                .parse()
                .map_err(|_| ConfigError(format!("LIPA_C2B_DEFAULT_ACTION={v:?}: use Completed or Cancelled")))?;
        }
        Ok(s)
    }
}
