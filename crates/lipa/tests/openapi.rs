//! Keeps `/openapi.json` honest: every documented operation is served by the real router (and no other
//! method on its path), and real answers of the running gateway — a payment, a list, an error, an event — match the
//! schemas the document gives for that path, method and status.

mod common;

use common::*;
use serde_json::{json, Value};

fn document() -> Value {
    lipa::routes::openapi::generate()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The real router against the document: every documented operation is answered by a handler of the
/// running gateway (a JSON answer, never the router's 404 or 405), every other method on a documented path
/// is 405, and the served document is the generated one. The `/v1` routes and their documentation come
/// from one `OpenApiRouter`, so a route added there without `#[utoipa::path]` does not compile, and one
/// documented without being served fails here.
#[tokio::test]
async fn the_router_serves_exactly_the_documented_operations() {
    let app = spawn(&Backend::Sqlite).await;
    let doc = document();
    let served: Value = app.http.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, doc, "the served document is the generated one");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/v1/payments") && paths.contains_key("/v1/events/{id}/redeliver"), "{paths:?}");
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", "x_missing");
        for method in METHODS {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .http
                .request(m, format!("{}{concrete}", app.url))
                .bearer_auth(&app.key)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            if item.get(method).is_some() {
                assert_ne!(status, 405, "{method} {path} is documented but the router does not route it");
                if status == 404 {
                    // The handler's own 404 (no such payment/event), not the router's.
                    let v: Value = serde_json::from_str(&body).unwrap_or_default();
                    assert_eq!(v["error"]["code"], "not_found", "{method} {path}: {body}");
                }
                checked += 1;
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented: {body}");
            }
        }
    }
    assert!(checked >= 10, "{checked}");
    // Every /v1 route template the router matched during this test is a documented path.
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    for line in metrics.lines().filter(|l| l.starts_with("lipa_http_requests_total{route=\"/v1")) {
        let route = line.split('"').nth(1).unwrap();
        assert!(paths.contains_key(route), "the router matched {route}, which is not documented");
    }
    app.stop().await;
}

#[test]
fn the_document_names_the_api_types() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["Payment", "PaymentList", "CreatePayment", "Event", "EventList", "Delivery", "Error", "FailureReason"]
    {
        assert!(schemas.contains_key(name), "{name}");
    }
    assert_eq!(
        doc["components"]["schemas"]["Payment"]["properties"]["channel"]["$ref"],
        "#/components/schemas/Channel"
    );
    assert_eq!(doc["components"]["schemas"]["Channel"]["enum"], json!(["stk", "c2b"]));
    // C2B (issue 13): the payer's name and the amount received, and the channel filter.
    let props = &doc["components"]["schemas"]["Payment"]["properties"];
    assert!(props["payer_name"].is_object() && props["paid_amount"].is_object(), "{props}");
    let list = doc["paths"]["/v1/payments"]["get"]["parameters"].as_array().unwrap();
    assert!(list.iter().any(|p| p["name"] == "channel"), "{list:?}");
    let required = doc["components"]["schemas"]["CreatePayment"]["required"].clone();
    assert_eq!(required, json!(["amount", "reference"]));
    assert!(doc["webhooks"]["payment.needs_review"]["post"].is_object());
    // The money-traps fields: account_reference, resolution, resolved_failed, the account_reference filter.
    let payment = &doc["components"]["schemas"]["Payment"];
    for field in ["account_reference", "resolution"] {
        assert!(payment["properties"][field].is_object(), "{field}");
        assert!(payment["required"].as_array().unwrap().contains(&json!(field)), "{field}");
    }
    assert_eq!(schemas["Resolution"]["properties"]["outcome"]["$ref"], "#/components/schemas/ResolutionOutcome");
    assert_eq!(schemas["ResolutionOutcome"]["enum"], json!(["succeeded", "failed"]));
    let reasons = schemas["FailureReason"]["enum"].as_array().unwrap();
    assert!(reasons.contains(&json!("resolved_failed")) && reasons.contains(&json!("cancelled")), "{reasons:?}");
    assert_eq!(schemas["CreatePayment"]["properties"]["reference"]["maxLength"], 64);
    let params = doc["paths"]["/v1/payments"]["get"]["parameters"].as_array().unwrap();
    assert!(params.iter().any(|p| p["name"] == "account_reference" && p["in"] == "query"), "{params:?}");
}

/// A small checker for the parts of JSON Schema the document uses: $ref, type (one or several), enum,
/// required, properties, items, anyOf, minimum/maximum. Returns every problem with its JSON path.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, problems: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
        return check(doc, target, v, at, problems);
    }
    if let Some(any) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
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

async fn real_answers_match_the_document(backend: Backend) {
    let app = spawn(&backend).await;
    let doc = document();

    let resp = app.http.get(format!("{}/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(resp.json::<Value>().await.unwrap(), doc, "the served document is the generated one");

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
    let (status, err) = app.post("/v1/payments", &json!({"amount": 800, "phone": "12345", "reference": "OA-4"})).await;
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
each_backend!(real_answers_match_the_document);

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

/// Payouts, refunds and the balance answer as the document says.
async fn money_out_answers_match_the_document(backend: Backend) {
    let app = spawn(&backend).await;
    let doc = document();
    let (status, p) = app.post("/v1/payouts", &json!({"amount": 150, "phone": "0712345678"})).await;
    assert_eq!(status, 201);
    assert_fits(&doc, "/v1/payouts", "post", 201, &p);
    let id = p["id"].as_str().unwrap();
    let done = poll(std::time::Duration::from_secs(20), || async {
        let (_, v) = app.get(&format!("/v1/payouts/{id}")).await;
        (v["status"] != "pending").then_some(v)
    })
    .await
    .unwrap();
    assert_fits(&doc, "/v1/payouts/{id}", "get", 200, &done);
    let (_, list) = app.get("/v1/payouts").await;
    assert_fits(&doc, "/v1/payouts", "get", 200, &list);
    let (status, err) = app.post("/v1/payouts", &json!({"amount": 5, "phone": "0712345678"})).await;
    assert_eq!(status, 400);
    assert_fits(&doc, "/v1/payouts", "post", 400, &err);
    let pay = app.create(json!({"amount": 100, "phone": "0708374149", "reference": "OA-R"})).await;
    let pay = app.settled(pay["id"].as_str().unwrap()).await;
    assert_fits(&doc, "/v1/payments/{id}", "get", 200, &pay);
    let path = format!("/v1/payments/{}/refunds", pay["id"].as_str().unwrap());
    let (status, r) = app.post(&path, &json!({"amount": 40})).await;
    assert_eq!(status, 201);
    assert_fits(&doc, "/v1/payments/{id}/refunds", "post", 201, &r);
    let (status, err) = app.post(&path, &json!({"amount": 100})).await;
    assert_eq!(status, 409);
    assert_fits(&doc, "/v1/payments/{id}/refunds", "post", 409, &err);
    let (_, list) = app.get(&path).await;
    assert_fits(&doc, "/v1/payments/{id}/refunds", "get", 200, &list);
    let (_, got) = app.get(&format!("/v1/refunds/{}", r["id"].as_str().unwrap())).await;
    assert_fits(&doc, "/v1/refunds/{id}", "get", 200, &got);
    let (status, b) = app.get("/v1/balance").await;
    assert_eq!(status, 200);
    assert_fits(&doc, "/v1/balance", "get", 200, &b);
    app.stop().await;
}
each_backend!(money_out_answers_match_the_document);
