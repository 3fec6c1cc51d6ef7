//! C2B: customers paying a paybill or till. Daraja's `registerurl` and `simulate` (v1 and v2), the
//! validation then confirmation requests POSTed to the registered URLs, the default action when
//! validation does not answer in time, and the handset's SIM menu (`/sim/api/c2b/pay`).

mod api;
mod control;
mod flow;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use crate::config::{C2bSimConfig, C2bVersion};
pub use crate::sim::c2b::{C2bPaymentView, C2bRegistration, C2bStatus};

pub(crate) use api::routes as api_routes;
pub(crate) use control::routes as control_routes;

/// Command-line options for C2B (flattened into [`SimArgs`](crate::SimArgs)).
#[derive(clap::Args, Clone, Debug)]
pub struct C2bArgs {
    /// C2B registerurl follows production rules: a shortcode registers once, then "Urls are already
    /// registered" (500.003.1001). Without it, registering again replaces the URLs, as in the sandbox.
    #[arg(long)]
    pub production_rules: bool,

    /// The C2B product version the app has; calls to the other version answer 401.003.01 (default: both).
    #[arg(long, value_enum, value_name = "VERSION")]
    pub c2b_product: Option<C2bVersion>,

    /// Send C2B confirmations only: external validation is not enabled for the shortcodes.
    #[arg(long)]
    pub no_c2b_validation: bool,

    /// How long a C2B validation URL has to answer before the registered ResponseType applies.
    #[arg(long, default_value = "8s", value_parser = crate::util::parse_duration)]
    pub c2b_validation_timeout: Duration,
}

impl C2bArgs {
    /// The C2B configuration these options describe.
    pub fn to_config(&self) -> C2bSimConfig {
        C2bSimConfig {
            production_rules: self.production_rules,
            product: self.c2b_product,
            external_validation: !self.no_c2b_validation,
            validation_timeout: self.c2b_validation_timeout,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl crate::sim::Simulator {
    /// The C2B URLs registered, by shortcode.
    pub fn c2b_registrations(&self) -> Vec<C2bRegistration> {
        let mut list: Vec<_> = lock(&self.inner.c2b.registrations).values().cloned().collect();
        list.sort_by(|a, b| a.short_code.cmp(&b.short_code));
        list
    }

    /// Forgets the C2B URLs of a shortcode (the portal's URL Management); `true` if there were any.
    pub fn c2b_unregister(&self, short_code: &str) -> bool {
        lock(&self.inner.c2b.registrations).remove(short_code).is_some()
    }

    /// Every C2B payment remembered, newest first.
    pub fn c2b_payments(&self) -> Vec<C2bPaymentView> {
        lock(&self.inner.c2b.payments).iter().rev().cloned().collect()
    }

    /// One C2B payment by `TransID`.
    pub fn c2b_payment(&self, trans_id: &str) -> Option<C2bPaymentView> {
        lock(&self.inner.c2b.payments).iter().rev().find(|p| p.trans_id == trans_id).cloned()
    }
}
