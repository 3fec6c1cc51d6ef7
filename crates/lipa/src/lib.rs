//! lipa: a self-hosted M-Pesa payment gateway.
//!
//! The binary is in `main.rs`; this library is what it and the integration tests share.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod boundary;
pub mod c2b;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod error;
pub mod hardening;
pub mod ingest;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod money_out;
pub mod outbound;
pub mod payments;
pub mod request_log;
pub mod routes;
pub mod security;
pub mod serve;
pub mod source;
pub mod startup;
pub mod store;
pub mod token;
pub mod webhook;

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
