//! The checkout page's live status: `GET /pay/{id}/status` (JSON, for polling) and `GET /pay/{id}/events`
//! (server-sent events), each carrying the status panel rendered by the same template as the page.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::strings::Lang;
use super::view::{view_state, PanelAlone, PanelView};
use super::{load, Visit};
use crate::app::AppState;
use crate::domain::Payment;
use crate::routes::pages::{secure_headers, PageError};

/// How long one event stream lives; the browser reconnects (or polls) after that.
const STREAM_MAX: Duration = Duration::from_secs(15 * 60);
/// How often an event stream looks at the store. The store, not this process, is the truth: the callback
/// may land on another instance.
const STREAM_TICK: Duration = Duration::from_millis(500);

fn update_json(state: &AppState, p: &Payment, lang: Lang) -> Result<Value, PageError> {
    let v = PanelView::new(state, p, lang, None);
    let html = PanelAlone { v: &v }.render().map_err(|e| PageError::Internal(format!("template: {e}")))?;
    Ok(json!({ "state": view_state(p), "html": html }))
}

pub(super) async fn status(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    let p = load(&state, &visit.id).await?;
    let mut r = Json(update_json(&state, &p, visit.lang)?).into_response();
    secure_headers(r.headers_mut());
    Ok(r)
}

pub(super) async fn events(State(state): State<AppState>, visit: Visit) -> Result<Response, PageError> {
    let p = load(&state, &visit.id).await?;
    let (id, lang) = (visit.id, visit.lang);
    let started = Instant::now();
    // (state, id, what was last sent, the first payment already read, finished)
    let seed = (state, id, None::<&'static str>, Some(p), false);
    let stream = futures::stream::unfold(seed, move |(state, id, last, mut first, done)| async move {
        if done {
            return None;
        }
        loop {
            let p = match first.take() {
                Some(p) => Some(p),
                None => {
                    tokio::time::sleep(STREAM_TICK).await;
                    if started.elapsed() > STREAM_MAX {
                        return None;
                    }
                    match state.store.get_payment(&id).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(payment_id = %id, error = %e, "checkout stream cannot read the payment");
                            continue;
                        }
                    }
                }
            };
            let p = p?;
            let view = view_state(&p);
            if Some(view) != last {
                let update = match update_json(&state, &p, lang) {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::error!(payment_id = %id, error = ?e, "checkout stream cannot render");
                        return None;
                    }
                };
                let event = Event::default().event("status").data(update.to_string());
                let finished = p.status.is_terminal();
                return Some((Ok::<_, Infallible>(event), (state, id, Some(view), None, finished)));
            }
        }
    });
    let mut r = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    secure_headers(r.headers_mut());
    // Proxies such as nginx would otherwise hold the events back.
    r.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}
