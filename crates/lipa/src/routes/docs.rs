//! `GET /openapi.json` (the OpenAPI document generated in `routes::openapi`) and `GET /docs`, one
//! self-contained HTML page (no scripts, fonts or CDNs): first a guide to the merchant endpoints in the
//! order of a payment's life with example requests and answers (`templates/docs/guide.md`), then the
//! reference generated from the OpenAPI document — merchant endpoints first, in the same order — with its
//! Markdown descriptions rendered.

use std::sync::OnceLock;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::pages::{html_response, PageError};
use crate::app::AppState;

/// The OpenAPI 3.1 document of the merchant API.
pub fn openapi_text() -> &'static str {
    super::openapi::document()
}

/// The guide at the top of `/docs`.
const GUIDE: &str = include_str!("../../templates/docs/guide.md");

/// The merchant operations in the order of a payment's life; the rest follow in document order.
const LIFE_ORDER: [&str; 6] =
    ["createPayment", "getPayment", "listPayments", "listEvents", "getEvent", "redeliverEvent"];

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi)).route("/docs", get(docs))
}

/// The document `/docs` is made from: the one place this page reads the API description.
fn openapi_document() -> Value {
    serde_json::from_str(openapi_text()).expect("the generated OpenAPI document is JSON")
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_text())
}

async fn docs() -> Response {
    static PAGE: OnceLock<Result<String, String>> = OnceLock::new();
    match PAGE.get_or_init(|| DocsPage::from_document(&openapi_document()).render().map_err(|e| e.to_string())) {
        Ok(html) => html_response(StatusCode::OK, html.clone()),
        Err(e) => PageError::Internal(format!("docs template: {e}")).into_response(),
    }
}

/// CommonMark to HTML. Raw HTML in the source is shown as text, never passed through.
fn markdown(source: &str) -> String {
    use pulldown_cmark::{html, Event, Options, Parser};
    let events = Parser::new_ext(source, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        e => e,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// A schema in one line: `Payment`, `string | null`, `"pending" | "succeeded"`, `array of Event`.
enum TypePart {
    Text(String),
    /// A named schema, linked to its section.
    Schema(String),
}

fn type_of(s: &Value, out: &mut Vec<TypePart>) {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        out.push(TypePart::Schema(r.rsplit('/').next().unwrap_or(r).to_string()));
        return;
    }
    let alternatives = |items: &Vec<Value>, out: &mut Vec<TypePart>, each: &dyn Fn(&Value, &mut Vec<TypePart>)| {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(TypePart::Text(" | ".into()));
            }
            each(item, out);
        }
    };
    if let Some(any) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
        alternatives(any, out, &type_of);
        return;
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        alternatives(e, out, &|v, out| out.push(TypePart::Text(v.to_string())));
        return;
    }
    let base = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".into(),
    };
    match (base.as_str(), s.get("items")) {
        ("array", Some(items)) => {
            out.push(TypePart::Text("array of ".into()));
            type_of(items, out);
        }
        _ => out.push(TypePart::Text(match s.get("format").and_then(Value::as_str) {
            Some(f) => format!("{base} ({f})"),
            None => base,
        })),
    }
}

fn type_parts(s: &Value) -> Vec<TypePart> {
    let mut out = Vec::new();
    type_of(s, &mut out);
    out
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Resolve `{"$ref": "#/components/parameters/X"}` (and responses) against the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(v),
        None => v,
    }
}

struct Field {
    name: String,
    required: bool,
    ty: Vec<TypePart>,
    description: String,
}

fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| Field {
            name: name.clone(),
            required: required.contains(&name.as_str()),
            ty: type_parts(p),
            description: markdown(&text(p, "description")),
        })
        .collect()
}

struct Param {
    name: String,
    location: String,
    ty: Vec<TypePart>,
    description: String,
}

struct Answer {
    status: String,
    description: String,
    body: Vec<TypePart>,
}

struct Operation {
    id: String,
    method: String,
    path: String,
    summary: String,
    public: bool,
    description: String,
    params: Vec<Param>,
    body: Option<Vec<TypePart>>,
    answers: Vec<Answer>,
}

struct Group {
    title: &'static str,
    ops: Vec<Operation>,
}

struct Hook {
    name: String,
    description: String,
}

struct Schema {
    name: String,
    description: String,
    fields: Vec<Field>,
    /// The `error` object inside `Error`.
    inner: Vec<Field>,
    ty: Vec<TypePart>,
}

#[derive(Template)]
#[template(path = "docs/page.html")]
struct DocsPage {
    title: String,
    intro: String,
    guide: String,
    groups: Vec<Group>,
    hooks: Vec<Hook>,
    schemas: Vec<Schema>,
}

fn operation(doc: &Value, path: &str, method: &str, op: &Value) -> Operation {
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| resolve(doc, p))
                .map(|p| Param {
                    name: text(p, "name"),
                    location: text(p, "in"),
                    ty: type_parts(&p["schema"]),
                    description: markdown(&text(p, "description")),
                })
                .collect()
        })
        .unwrap_or_default();
    let answers = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|rs| {
            rs.iter()
                .map(|(status, r)| {
                    let r = resolve(doc, r);
                    Answer {
                        status: status.clone(),
                        description: markdown(&text(r, "description")),
                        body: r.pointer("/content/application~1json/schema").map(type_parts).unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        id: text(op, "operationId"),
        method: method.to_string(),
        path: path.to_string(),
        summary: text(op, "summary"),
        public: op.get("security").and_then(Value::as_array).is_some_and(|s| s.is_empty()),
        description: markdown(&text(op, "description")),
        params,
        body: op.pointer("/requestBody/content/application~1json/schema").map(type_parts),
        answers,
    }
}

impl DocsPage {
    fn from_document(doc: &Value) -> DocsPage {
        let mut all = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, item) in paths {
                for (method, op) in item.as_object().into_iter().flatten() {
                    all.push(operation(doc, path, method, op));
                }
            }
        }
        let mut merchant: Vec<Operation> = Vec::new();
        for id in LIFE_ORDER {
            if let Some(i) = all.iter().position(|o| o.id == id) {
                merchant.push(all.remove(i));
            }
        }
        // Any other /v1 operation is the merchant's too; what is left is for operators.
        let (more, operations): (Vec<_>, Vec<_>) = all.into_iter().partition(|o| o.path.starts_with("/v1"));
        merchant.extend(more);
        let hooks = doc["webhooks"]
            .as_object()
            .map(|hs| {
                hs.iter()
                    .map(|(name, item)| Hook {
                        name: name.clone(),
                        description: markdown(&text(&item["post"], "description")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let schemas = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|ss| {
                ss.iter()
                    .map(|(name, s)| Schema {
                        name: name.clone(),
                        description: markdown(&text(s, "description")),
                        fields: fields(s),
                        inner: s.pointer("/properties/error").map(fields).unwrap_or_default(),
                        ty: type_parts(s),
                    })
                    .collect()
            })
            .unwrap_or_default();
        DocsPage {
            title: doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("API").to_string(),
            intro: markdown(&text(&doc["info"], "description")),
            guide: markdown(GUIDE),
            groups: vec![
                Group { title: "Merchant API, in the order of a payment's life", ops: merchant },
                Group { title: "Operations", ops: operations },
            ],
            hooks,
            schemas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_raw_html_is_not_passed_through() {
        let html = markdown("Use `Idempotency-Key` **always**. <script>alert(1)</script>");
        assert!(html.contains("<code>Idempotency-Key</code>") && html.contains("<strong>always</strong>"), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn merchant_endpoints_come_first_in_the_order_of_a_payment() {
        let page = DocsPage::from_document(&openapi_document());
        let ids: Vec<&str> = page.groups[0].ops.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(&ids[..LIFE_ORDER.len()], LIFE_ORDER);
        assert!(page.groups[1].ops.iter().all(|o| !o.path.starts_with("/v1")));
    }
}
