//! The shared state of a running gateway (its router is `routes::router`).

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

/// Everything a request or job needs. Cheap to clone: one reference count (axum clones the state for every
/// request, with the layers around each route).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub daraja: daraja::Client,
    pub cfg: Arc<Config>,
    /// The base that Daraja calls back and customers open: `LIPA_PUBLIC_URL` or the listen address.
    pub public_base: Arc<str>,
    /// The admin login (a hash of `LIPA_ADMIN_PASSWORD`); None: no admin login in this mode.
    pub admin: Option<Arc<crate::auth::password::AdminAuth>>,
    /// Abuse limits (in-memory token buckets of this instance).
    pub limits: Arc<crate::limits::Limits>,
    /// This instance's counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Group commit of callbacks (see `ingest`).
    pub ingest: crate::ingest::Ingest,
    /// Group commit of C2B confirmations (see `c2b`).
    pub c2b: crate::c2b::ConfirmationQueue,
    /// The installation's C2B callback secret (made once, kept in the database).
    pub c2b_secret: Arc<str>,
    /// API keys recently found valid (see `auth::keys`).
    pub keys: Arc<crate::auth::keys::KeyCache>,
    /// Payouts, refunds and the balance (see `money_out`).
    pub money_out: Arc<crate::outbound::Outbound>,
}

impl Shared {
    pub fn callback_url(&self, secret: &str) -> String {
        format!("{}/callbacks/stk/{secret}", self.public_base)
    }

    pub fn checkout_url(&self, payment_id: &str) -> String {
        format!("{}/pay/{payment_id}", self.public_base)
    }
}

/// Request bodies larger than this are refused with 413 before anything is parsed.
pub const MAX_BODY: usize = 64 * 1024;

pub use crate::now_ms;
