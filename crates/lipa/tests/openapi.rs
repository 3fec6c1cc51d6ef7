//! Keeps `/openapi.json` honest: every `/v1` route the gateway serves is in it (and nothing else under
//! `/v1`), and real answers of the running gateway — a payment, a list, an error, an event — match the
//! schemas the document gives for that path, method and status.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

/// `(path, method)` of every `.route("…", get(…).post(…))` in the gateway's source.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                collect_routes(&std::fs::read_to_string(&path).unwrap(), &mut out);
            }
        }
    }
    out
}

fn collect_routes(src: &str, out: &mut BTreeSet<(String, String)>) {
    let mut rest = src;
    while let Some(i) = rest.find(".route(\"") {
        rest = &rest[i + ".route(\"".len()..];
        let end = rest.find('"').unwrap();
        let path = rest[..end].to_string();
        // Walk the handler argument; methods are the calls at the argument's own depth.
        let mut depth = 1;
        let mut ident = String::new();
        for c in rest[end + 1..].chars() {
            match c {
                '(' => {
                    if depth == 1 && ["get", "post", "put", "patch", "delete"].contains(&ident.as_str()) {
                        out.insert((path.clone(), ident.clone()));
                    }
                    depth += 1;
                }
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            if c.is_ascii_alphanumeric() || c == '_' {
                ident.push(c);
            } else {
                ident.clear();
            }
        }
    }
}

fn document() -> Value {
    serde_json::from_str(lipa::routes::docs::OPENAPI).expect("openapi.json is JSON")
}

#[test]
fn every_v1_route_is_documented_and_nothing_more() {
    let served: BTreeSet<_> = routes_in_source().into_iter().filter(|(p, _)| p.starts_with("/v1/")).collect();
    assert!(served.contains(&("/v1/payments".into(), "post".into())), "the route scan works: {served:?}");
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/v1/"))
        .flat_map(|(p, item)| item.as_object().unwrap().keys().map(move |m| (p.clone(), m.clone())))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not in openapi.json: {missing:?}");
    assert!(phantom.is_empty(), "in openapi.json but not served: {phantom:?}");
}

#[test]
fn the_route_scan_sees_methods() {
    let mut out = BTreeSet::new();
    collect_routes(
        r#".route("/v1/a", get(list).post(create)).route("/v1/b/{id}", get(|| async { x("/y") }))"#,
        &mut out,
    );
    let want: BTreeSet<(String, String)> = [("/v1/a", "get"), ("/v1/a", "post"), ("/v1/b/{id}", "get")]
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect();
    assert_eq!(out, want);
}

/// A small checker for the parts of JSON Schema the document uses: $ref, type (one or several), enum,
/// required, properties, items, anyOf, minimum/maximum. Returns every problem with its JSON path.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
        return check(doc, target, v, at, problems);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let fits = any.iter().any(|s| {
            let mut p = Vec::new();
            check(doc, s, v, at, &mut p);
            p.is_empty()
        });
        if !fits {
            problems.push(format!("{at}: {v} matches none of anyOf"));
        }
        return;
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "null" => v.is_null(),
            other => panic!("unknown type {other}"),
        });
        if !fits {
            problems.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            problems.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(n), Some(min)) = (v.as_f64(), schema.get("minimum").and_then(Value::as_f64)) {
        if n < min {
            problems.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let (Some(n), Some(max)) = (v.as_f64(), schema.get("maximum").and_then(Value::as_f64)) {
        if n > max {
            problems.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                problems.push(format!("{at}: required field {r} is missing"));
            }
        }
        for (k, s) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if let Some(x) = obj.get(k) {
                check(doc, s, x, &format!("{at}.{k}"), problems);
            }
        }
    }
    if let (Some(arr), Some(items)) = (v.as_array(), schema.get("items")) {
        for (i, x) in arr.iter().enumerate() {
            check(doc, items, x, &format!("{at}[{i}]"), problems);
        }
    }
}

/// The schema the document gives for a JSON answer of `method path` with `status`.
fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let key = path.replace('~', "~0").replace('/', "~1");
    let mut r = doc
        .pointer(&format!("/paths/{key}/{method}/responses/{status}"))
        .unwrap_or_else(|| panic!("openapi.json has no {status} answer for {method} {path}"));
    if let Some(reference) = r.get("$ref").and_then(Value::as_str) {
        r = doc.pointer(reference.trim_start_matches('#')).unwrap();
    }
    r.pointer("/content/application~1json/schema").unwrap_or_else(|| panic!("{method} {path} {status}: no JSON schema"))
}

fn assert_fits(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let mut problems = Vec::new();
    check(doc, response_schema(doc, path, method, status), body, "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} → {status} does not match openapi.json:\n{}\n{body}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_can_fail() {
    let doc = document();
    let schema = json!({"$ref": "#/components/schemas/Payment"});
    let mut p = Vec::new();
    check(&doc, &schema, &json!({"id": "pay_1", "amount": "800", "status": "paid"}), "$", &mut p);
    let all = p.join("\n");
    assert!(all.contains("$.amount"), "{all}");
    assert!(all.contains("$.status"), "{all}");
    assert!(all.contains("required field reference is missing"), "{all}");
}

#[tokio::test]
async fn real_answers_match_the_document() {
    for backend in backends() {
        let app = spawn(&backend).await;
        let doc = document();

        let resp = app.http.get(format!("{}/openapi.json", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        assert_eq!(resp.json::<Value>().await.unwrap(), doc, "the served document is the file");

        let (status, p) = app
            .post(
                "/v1/payments",
                &json!({"amount": 800, "phone": "0708374149", "reference": "OA-1", "metadata": {"cart": 7}}),
            )
            .await;
        assert_eq!(status, 201, "{p}");
        assert_fits(&doc, "/v1/payments", "post", 201, &p);
        let (status, no_phone) = app.post("/v1/payments", &json!({"amount": 50, "reference": "OA-2"})).await;
        assert_eq!(status, 201);
        assert_fits(&doc, "/v1/payments", "post", 201, &no_phone);
        let (status, failed) =
            app.post("/v1/payments", &json!({"amount": 5, "phone": "0700001032", "reference": "OA-3"})).await;
        assert_eq!(status, 201);

        let id = p["id"].as_str().unwrap();
        let settled = app.settled(id).await;
        assert_fits(&doc, "/v1/payments/{id}", "get", 200, &settled);
        let failed = app.settled(failed["id"].as_str().unwrap()).await;
        assert_fits(&doc, "/v1/payments/{id}", "get", 200, &failed);

        let (status, list) = app.get("/v1/payments?limit=2").await;
        assert_eq!(status, 200);
        assert_eq!(list["data"].as_array().unwrap().len(), 2);
        assert_fits(&doc, "/v1/payments", "get", 200, &list);

        let (status, events) = app.get("/v1/events").await;
        assert_eq!(status, 200);
        assert!(!events["data"].as_array().unwrap().is_empty(), "{events}");
        assert_fits(&doc, "/v1/events", "get", 200, &events);
        let event_id = events["data"][0]["id"].as_str().unwrap();
        let (status, e) = app.get(&format!("/v1/events/{event_id}")).await;
        assert_eq!(status, 200);
        assert_fits(&doc, "/v1/events/{id}", "get", 200, &e);
        let (status, e) = app.post(&format!("/v1/events/{event_id}/redeliver"), &json!({})).await;
        assert_eq!(status, 202);
        assert_fits(&doc, "/v1/events/{id}/redeliver", "post", 202, &e);

        // Errors.
        let (status, err) =
            app.post("/v1/payments", &json!({"amount": 800, "phone": "12345", "reference": "OA-4"})).await;
        assert_eq!(status, 400);
        assert_eq!(err["error"]["field"], "phone");
        assert_fits(&doc, "/v1/payments", "post", 400, &err);
        let (status, err) =
            app.post("/v1/payments", &json!({"amount": 10, "phone": "0712345678", "reference": "OA-2"})).await;
        assert_eq!(status, 409, "{err}");
        assert_fits(&doc, "/v1/payments", "post", 409, &err);
        let (status, err) = app.get("/v1/payments/pay_nope").await;
        assert_eq!(status, 404);
        assert_fits(&doc, "/v1/payments/{id}", "get", 404, &err);
        let (status, err) = app.get("/v1/events?limit=0").await;
        assert_eq!(status, 400);
        assert_fits(&doc, "/v1/events", "get", 400, &err);
        let resp = app.http.get(format!("{}/v1/payments", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_fits(&doc, "/v1/payments", "get", 401, &resp.json().await.unwrap());
        let resp = app.http.get(format!("{}/healthz", app.url)).send().await.unwrap();
        assert_fits(&doc, "/healthz", "get", 200, &resp.json().await.unwrap());
        app.stop().await;
    }
}

#[tokio::test]
async fn docs_page_renders_the_document_offline() {
    let app = spawn(&Backend::Sqlite).await;
    let resp = app.http.get(format!("{}/docs", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = resp.text().await.unwrap();
    let doc = document();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("<code>{path}</code>")), "{path} is on the page");
    }
    for name in
        ["Payment", "Event", "Error", "FailureReason", "insufficient_funds", "payment.needs_review", "Idempotency-Key"]
    {
        assert!(html.contains(name), "{name} is on the page");
    }
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "<script"] {
        assert!(!html.contains(external), "no external resources: {external}");
    }
    app.stop().await;
}
