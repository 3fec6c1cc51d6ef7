//! The simulator's HTTP surface: Daraja's paths (`api`) and `/sim/…` (`control`) over one [`Simulator`].

use crate::sim::Simulator;

/// Daraja's bodies are small; a flood of large ones must not cost memory.
const MAX_BODY: usize = 64 * 1024;

impl Simulator {
    /// The axum router with Daraja's paths and `/sim/…`, state applied.
    pub fn router(&self) -> axum::Router {
        crate::api::routes()
            .merge(crate::control::routes())
            .merge(crate::c2b::api_routes())
            .merge(crate::c2b::control_routes())
            .merge(crate::qr::routes())
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
            .with_state(self.clone())
    }
}
