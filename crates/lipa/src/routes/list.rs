//! What the `/v1` lists share: the paging parameters and the filters more than one list takes.

use super::page_limit;
use crate::app::AppState;
use crate::domain::PaymentStatus;
use crate::error::ApiError;

/// The paging parameters of every `/v1` list (read beside the list's own filters, from the same query).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 1 to 100 (default 10).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The last id of the previous page.
    starting_after: Option<String>,
}

/// What a `starting_after` must name.
pub enum Cursor {
    Payment,
    Event,
}

impl Paging {
    /// `limit`: 1–100, default 10.
    pub fn limit(&self) -> Result<i64, ApiError> {
        page_limit(self.limit.as_deref())
    }

    /// `starting_after` as given (empty: the first page).
    pub fn after(&self) -> Option<String> {
        self.starting_after.clone().filter(|s| !s.is_empty())
    }

    /// `starting_after`, which must name an existing payment or event (empty: the first page).
    pub async fn checked_after(&self, state: &AppState, of: Cursor) -> Result<Option<String>, ApiError> {
        let Some(after) = self.after() else { return Ok(None) };
        let (exists, message) = match of {
            Cursor::Payment => (state.store.get_payment(&after).await?.is_some(), "starting_after names no payment"),
            Cursor::Event => (state.store.get_event(&after).await?.is_some(), "starting_after names no event"),
        };
        if !exists {
            return Err(ApiError::invalid("invalid_cursor", "starting_after", message));
        }
        Ok(Some(after))
    }
}

/// A filter parameter: absent or empty filters nothing; otherwise `canonical` gives the form the store
/// compares, or the error.
pub fn filter(
    value: Option<&str>,
    canonical: impl FnOnce(&str) -> Result<String, ApiError>,
) -> Result<Option<String>, ApiError> {
    value.filter(|s| !s.is_empty()).map(canonical).transpose()
}

/// `status`: pending, succeeded, failed or needs_review.
pub fn status(value: Option<&str>) -> Result<Option<String>, ApiError> {
    filter(value, |s| {
        PaymentStatus::parse(s).map(|s| s.as_str().to_string()).ok_or_else(|| {
            ApiError::invalid("invalid_status", "status", "status must be pending, succeeded, failed or needs_review")
        })
    })
}

/// `phone`: any common Kenyan format, compared as 2547…/2541….
pub fn phone(value: Option<&str>) -> Result<Option<String>, ApiError> {
    filter(value, |s| {
        daraja::Msisdn::parse(s)
            .map(|m| m.as_str().to_string())
            .map_err(|e| ApiError::invalid("invalid_phone", "phone", format!("phone: {e}")))
    })
}
