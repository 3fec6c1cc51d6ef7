//! Why a payment failed, in the API's words: one of Daraja's reasons, or an operator's decision.

use std::fmt;
use std::str::FromStr;

/// A payment's `failure_reason`. Daraja's reasons ([`daraja::FailureReason`]) keep their names; a payment
/// an operator resolved as failed says `resolved_failed` (no M-Pesa code decided it, a person did). Stored
/// and served as [`FailureReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// What M-Pesa's answer said.
    Daraja(daraja::FailureReason),
    /// An operator resolved a `needs_review` payment as failed.
    ResolvedFailed,
}

impl FailureReason {
    /// Every value, Daraja's first (in their order), then `resolved_failed`.
    pub const ALL: [FailureReason; 8] = [
        FailureReason::Daraja(daraja::FailureReason::ALL[0]),
        FailureReason::Daraja(daraja::FailureReason::ALL[1]),
        FailureReason::Daraja(daraja::FailureReason::ALL[2]),
        FailureReason::Daraja(daraja::FailureReason::ALL[3]),
        FailureReason::Daraja(daraja::FailureReason::ALL[4]),
        FailureReason::Daraja(daraja::FailureReason::ALL[5]),
        FailureReason::Daraja(daraja::FailureReason::ALL[6]),
        FailureReason::ResolvedFailed,
    ];

    /// The name in the API, the database and webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Daraja(r) => r.as_str(),
            FailureReason::ResolvedFailed => "resolved_failed",
        }
    }
}

impl From<daraja::FailureReason> for FailureReason {
    fn from(r: daraja::FailureReason) -> Self {
        FailureReason::Daraja(r)
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureReason {
    type Err = daraja::UnknownFailureReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| daraja::UnknownFailureReason(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_name() {
        // Daraja's reasons are all here (a new one there must be added to ALL).
        assert_eq!(FailureReason::ALL.len(), daraja::FailureReason::ALL.len() + 1);
        for r in daraja::FailureReason::ALL {
            assert!(FailureReason::ALL.contains(&FailureReason::Daraja(r)), "{r:?}");
        }
        for r in FailureReason::ALL {
            assert_eq!(r.as_str().parse::<FailureReason>(), Ok(r));
        }
        assert_eq!("resolved_failed".parse::<FailureReason>(), Ok(FailureReason::ResolvedFailed));
        assert_eq!(FailureReason::from(daraja::FailureReason::Cancelled).as_str(), "cancelled");
        assert!("paid".parse::<FailureReason>().is_err());
    }
}
