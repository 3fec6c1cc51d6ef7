//! The gateway's merchant API as the clients of a chaos run use it: a POST is sent again, with the same
//! Idempotency-Key, until the gateway answers it (the gateway may be down, killed mid-run).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// The API of the gateway at `addr`, with the API key `key`.
    pub fn new(addr: SocketAddr, key: String) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(45)).build()?;
        Ok(Api { http, base: format!("http://{addr}"), key })
    }

    /// POST with an Idempotency-Key, again and again until the gateway answers (it may be down): the
    /// status and body of a success or a refusal (4xx); None when no answer came within 120 s. Every
    /// attempt sent again counts in `retries`.
    pub async fn post(&self, path: &str, body: &Value, idem: &str, retries: &AtomicU64) -> Option<(StatusCode, Value)> {
        let give_up = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.key)
                .header("idempotency-key", idem)
                .json(body)
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() || r.status().is_client_error() => {
                    let status = r.status();
                    return Some((status, r.json().await.unwrap_or_default()));
                }
                _ if Instant::now() > give_up => return None,
                _ => {
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await?.json().await?)
    }

    /// Every page of a list.
    pub async fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = self.get(&format!("{path}{sep}limit=100{after}")).await?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            if let Some(last) = data.last() {
                after = format!("&starting_after={}", last["id"].as_str().unwrap_or_default());
            }
            out.extend(data);
            if page["has_more"] != true {
                return Ok(out);
            }
        }
    }
}
