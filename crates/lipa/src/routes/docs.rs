//! `GET /openapi.json` (the OpenAPI document generated in `routes::openapi`) and
//! `GET /docs`, the same document as one self-contained HTML page (no scripts, fonts or CDNs).

use std::fmt::Write;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::app::AppState;

/// The OpenAPI 3.1 document of the merchant API.
/// The generated OpenAPI document (`routes::openapi`).
pub fn openapi_document() -> &'static str {
    super::openapi::document()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi)).route("/docs", get(docs))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_document())
}

async fn docs() -> Html<&'static str> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(
        PAGE.get_or_init(|| render(&serde_json::from_str(openapi_document()).expect("openapi.json is valid JSON")))
            .as_str(),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `#/components/schemas/Payment` → `Payment`.
fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

/// A schema in one line: `Payment`, `string | null`, `"pending" | "succeeded"`, `array of Event`.
fn type_of(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = ref_name(r);
        return format!("<a href=\"#schema-{name}\">{name}</a>");
    }
    if let Some(any) = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array) {
        return any.iter().map(type_of).collect::<Vec<_>>().join(" | ");
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e.iter().map(|v| esc(&v.to_string())).collect::<Vec<_>>().join(" | ");
    }
    let base = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".into(),
    };
    match (base.as_str(), s.get("items")) {
        ("array", Some(items)) => format!("array of {}", type_of(items)),
        _ => match s.get("format").and_then(Value::as_str) {
            Some(f) => format!("{base} ({f})"),
            None => base,
        },
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).map(esc).unwrap_or_default()
}

/// Resolve `{"$ref": "#/components/parameters/X"}` (and responses) against the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(v),
        None => v,
    }
}

fn properties_table(out: &mut String, schema: &Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
    for (name, p) in props {
        let req = if required.contains(&name.as_str()) { " <span class=req>required</span>" } else { "" };
        let _ = write!(
            out,
            "<tr><td><code>{}</code>{req}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            type_of(p),
            text(p, "description")
        );
    }
    out.push_str("</table>");
}

pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("API");
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>\
         body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}}\
         code,pre{{font-family:ui-monospace,monospace;font-size:13px}}h2{{border-bottom:1px solid #ddd;margin-top:2.5rem}}\
         .op{{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}}\
         .m{{display:inline-block;min-width:3.5rem;font-weight:700;color:#fff;border-radius:4px;text-align:center;margin-right:.5rem}}\
         .get{{background:#2f6fb3}}.post{{background:#2e8540}}table{{border-collapse:collapse;width:100%;margin:.5rem 0}}\
         td,th{{border:1px solid #e3e3e3;padding:.25rem .5rem;text-align:left;vertical-align:top}}.req{{color:#b3261e;font-size:12px}}\
         </style></head><body><h1>{t}</h1><p>{d}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a>.</p>",
        t = esc(title),
        d = text(&doc["info"], "description"),
    );
    out.push_str("<h2>Endpoints</h2>");
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            let Some(methods) = item.as_object() else {
                continue;
            };
            for (method, op) in methods {
                let public = op.get("security").and_then(Value::as_array).is_some_and(|s| s.is_empty());
                let _ = write!(
                    out,
                    "<div class=op id=\"op-{id}\"><h3><span class=\"m {method}\">{M}</span><code>{p}</code></h3><p><b>{s}</b>{auth}</p><p>{d}</p>",
                    id = text(op, "operationId"),
                    M = method.to_uppercase(),
                    p = esc(path),
                    s = text(op, "summary"),
                    auth = if public { " (no API key)" } else { "" },
                    d = text(op, "description"),
                );
                if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                    out.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>");
                    for p in params.iter().map(|p| resolve(doc, p)) {
                        let _ = write!(
                            out,
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            text(p, "name"),
                            text(p, "in"),
                            type_of(&p["schema"]),
                            text(p, "description")
                        );
                    }
                    out.push_str("</table>");
                }
                if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
                    let _ = write!(out, "<p>Request body: {}</p>", type_of(body));
                }
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    out.push_str("<table><tr><th>status</th><th>description</th><th>body</th></tr>");
                    for (status, r) in responses {
                        let r = resolve(doc, r);
                        let body = r.pointer("/content/application~1json/schema").map(type_of).unwrap_or_default();
                        let _ = write!(
                            out,
                            "<tr><td>{}</td><td>{}</td><td>{body}</td></tr>",
                            esc(status),
                            text(r, "description")
                        );
                    }
                    out.push_str("</table>");
                }
                out.push_str("</div>");
            }
        }
    }
    if let Some(hooks) = doc["webhooks"].as_object() {
        out.push_str("<h2>Webhooks</h2>");
        for (name, item) in hooks {
            let op = &item["post"];
            let _ = write!(
                out,
                "<div class=op><h3><code>{}</code></h3><p>{}</p></div>",
                esc(name),
                text(op, "description")
            );
        }
    }
    out.push_str("<h2>Objects</h2>");
    if let Some(schemas) = doc.pointer("/components/schemas").and_then(Value::as_object) {
        for (name, s) in schemas {
            let _ = write!(out, "<h3 id=\"schema-{n}\">{n}</h3><p>{}</p>", text(s, "description"), n = esc(name));
            if s.get("properties").is_some() {
                properties_table(&mut out, s);
                if let Some(inner) = s.pointer("/properties/error") {
                    properties_table(&mut out, inner);
                }
            } else {
                let _ = write!(out, "<p>{}</p>", type_of(s));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}
