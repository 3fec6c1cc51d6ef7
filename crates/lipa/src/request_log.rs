//! Request tracing: every request gets an id (`x-request-id`: the client's when it sent a sensible one,
//! else a new one), answered in the response's `x-request-id`, and runs in a `request` span carrying that id,
//! the method and the route template, so every log line a request causes names it (tower-http's
//! `TraceLayer`). Neither the raw path (callback URLs hold secrets) nor an unknown method is logged.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::Router;
use tower::util::MapRequest;
use tower_http::request_id::{MakeRequestId, PropagateRequestId, RequestId, SetRequestId};
use tower_http::trace::TraceLayer;

pub const HEADER: &str = "x-request-id";

/// A new id: 16 random hex digits.
#[derive(Clone, Copy, Default)]
pub struct NewId;

impl MakeRequestId for NewId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&hex::encode(rand::random::<[u8; 8]>())).ok().map(RequestId::new)
    }
}

/// A client's id is kept only when it is short and plain (it goes into every log line of the request);
/// anything else is dropped, and a new one is made.
fn sensible(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    (1..=64).contains(&b.len()) && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// Forget a client's request id that is not [`sensible`], or given more than once (a new one is made).
fn drop_odd_id(mut req: Request) -> Request {
    let headers = req.headers_mut();
    let odd = {
        let mut values = headers.get_all(HEADER).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => !sensible(v),
            (None, _) => false,
            _ => true,
        }
    };
    if odd {
        headers.remove(HEADER);
    }
    req
}

fn span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    let method = crate::metrics::method_label(req.method());
    tracing::info_span!("request", request_id = %id, method, route)
}

/// The request span around each of a router's routes (its own: add it before merging others in). It sits at
/// route level because it names the route template, which only routing finds.
pub fn trace(router: Router) -> Router {
    router.layer(TraceLayer::new_for_http().make_span_with(span))
}

/// An app inside [`ids`].
pub type WithIds<S> = MapRequest<SetRequestId<PropagateRequestId<S>, NewId>, fn(Request) -> Request>;

/// The request id around a whole app, once: an odd client id is dropped ([`drop_odd_id`]), a request without
/// a (kept) id gets a new one, and the answer carries it back. Put it outside the routing and the input checks
/// (a refusal carries it too), so that no route pays for it twice.
pub fn ids<S>(app: S) -> WithIds<S> {
    let name = HeaderName::from_static(HEADER);
    MapRequest::new(SetRequestId::new(PropagateRequestId::new(app, name.clone()), name, NewId), drop_odd_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert!(sensible(&HeaderValue::from_static("req-42_a.b:c")));
        assert!(!sensible(&HeaderValue::from_static("")));
        assert!(!sensible(&HeaderValue::from_static("has space")));
        assert!(!sensible(&HeaderValue::from_str(&"a".repeat(65)).unwrap()));
    }
}
