//! `/openapi.json`, generated: the `/v1` routes are registered together with their documentation
//! (utoipa-axum's `OpenApiRouter`), and their schemas are the `api` types the handlers answer with, so the
//! document and the router cannot drift apart. `tests/openapi.rs` checks real answers against it.

use std::sync::OnceLock;

use axum::Router;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::api;
use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lipa merchant API",
        description = "A self-hosted M-Pesa gateway: create STK push payments, read them, and follow their events. \
JSON over HTTP; every /v1 request needs `Authorization: Bearer <api key>` (from `lipa keys create`, or the banner \
in simulator mode). Errors are `{\"error\": {\"code\", \"message\", \"field\"}}` with a 4xx status. Times are RFC 3339 \
UTC; money is whole KES."
    ),
    servers((url = "/")),
    security(("bearerAuth" = [])),
    tags((name = "payments"), (name = "money out"), (name = "events"), (name = "operations")),
    paths(openapi_json, docs_page),
    components(schemas(api::FailureReason, api::EventType, api::Channel)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("An API key: lipa_sk_…"));
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(scheme.build()));
    }
}

/// This document (served by `routes::docs`).
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")))]
#[allow(dead_code)]
fn openapi_json() {}

/// The API reference as a page (served by `routes::docs`).
#[utoipa::path(get, path = "/docs", tag = "operations", operation_id = "docs", security(()),
    responses((status = 200, description = "HTML.", content_type = "text/html")))]
#[allow(dead_code)]
fn docs_page() {}

/// Every documented route of the gateway with its documentation.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(super::payments::router())
        .merge(super::events::router())
        .merge(super::money_out::router())
        .merge(super::health::router())
}

/// The documented routes, to serve.
pub fn router() -> Router<AppState> {
    documented().split_for_parts().0
}

/// The document as generated, plus what utoipa does not model: the webhooks lipa sends.
pub fn generate() -> Value {
    let doc = documented().split_for_parts().1;
    let mut v = serde_json::to_value(&doc).expect("the OpenAPI document is JSON");
    let mut hooks = serde_json::Map::new();
    for t in api::EventType::ALL {
        hooks.insert(
            t.as_str().to_string(),
            json!({"post": {
                "summary": format!("{}: sent to LIPA_WEBHOOK_URL", t.as_str()),
                "description": "Signed with `Lipa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(LIPA_WEBHOOK_SECRET, \
\"<t>.<raw body>\")>`. Answer 2xx within 10 s; otherwise it is retried after about 10 s, then with doubling delays \
for 3 days. Delivery is at least once: dedupe on the event id. See docs/webhooks.md.",
                "parameters": [{"name": "Lipa-Signature", "in": "header", "required": true,
                    "description": "t=<unix seconds>,v1=<hex>", "schema": {"type": "string"}}],
                "requestBody": {"required": true,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
                "responses": {"2XX": {"description": "Delivered."}}
            }}),
        );
    }
    v["webhooks"] = Value::Object(hooks);
    v
}

/// The served text of `/openapi.json`, made once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| generate().to_string())
}
