//! `/admin`: totals, the chart, the needs-review alert, and the payments list with search, status and date
//! filters and pages; `/admin/payments.csv`: the same filtered list as a spreadsheet.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::chart::{chart, Chart};
use super::{reason_words, status_words, Session, TopBar, EAT_OFFSET_MS};
use crate::app::{now_ms, AppState};
use crate::domain::c2b::Channel;
use crate::domain::{Payment, PaymentStatus};
use crate::routes::pages::{eat, kes, render, secure_headers, url_component, PageError};
use crate::store::{PaymentFilter, StatsBucket};

const PAGE_SIZE: i64 = 25;
/// The most rows one CSV export holds.
const CSV_MAX_ROWS: usize = 10_000;

#[derive(serde::Deserialize, Default)]
pub(super) struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    /// `stk` or `c2b`.
    channel: Option<String>,
    after: Option<String>,
    range: Option<String>,
    /// Created on or after this day (`YYYY-MM-DD`, Nairobi time).
    from: Option<String>,
    /// Created on or before this day.
    to: Option<String>,
}

/// The list's filters, checked.
struct Criteria {
    query: Option<String>,
    status: Option<PaymentStatus>,
    channel: Option<Channel>,
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
}

fn day_start_ms(d: jiff::civil::Date) -> Option<i64> {
    // Nairobi is UTC+3 all year.
    Some(jiff::tz::offset(3).to_timestamp(d.at(0, 0, 0, 0)).ok()?.as_millisecond())
}

impl Criteria {
    fn from_query(q: &ListQuery) -> Criteria {
        let day = |s: &Option<String>| s.as_deref().map(str::trim).and_then(|s| s.parse::<jiff::civil::Date>().ok());
        Criteria {
            query: q
                .q
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(100).collect::<String>()),
            status: q.status.as_deref().and_then(PaymentStatus::parse),
            channel: q.channel.as_deref().and_then(Channel::parse),
            from: day(&q.from),
            to: day(&q.to),
        }
    }

    /// The query string of these filters (for links), without a leading `?`.
    fn query_string(&self) -> Vec<String> {
        let mut qs = Vec::new();
        if let Some(t) = &self.query {
            qs.push(format!("q={}", url_component(t)));
        }
        if let Some(s) = self.status {
            qs.push(format!("status={}", s.as_str()));
        }
        if let Some(c) = self.channel {
            qs.push(format!("channel={}", c.as_str()));
        }
        if let Some(d) = self.from {
            qs.push(format!("from={d}"));
        }
        if let Some(d) = self.to {
            qs.push(format!("to={d}"));
        }
        qs
    }

    fn in_dates(&self, p: &Payment) -> bool {
        self.from.and_then(day_start_ms).is_none_or(|f| p.created_at >= f)
            && self.to.and_then(|d| d.tomorrow().ok()).and_then(day_start_ms).is_none_or(|t| p.created_at < t)
    }

    /// One page of matching payments, newest first. Search: a payment id, else a phone number in any
    /// format, else a reference.
    async fn page(
        &self,
        state: &AppState,
        after: Option<String>,
        limit: i64,
    ) -> Result<(Vec<Payment>, bool), PageError> {
        let mut filter = PaymentFilter {
            status: self.status.map(|s| s.as_str().to_string()),
            channel: self.channel.map(|c| c.as_str().to_string()),
            starting_after: after,
            limit,
            created_from: self.from.and_then(day_start_ms),
            created_before: self.to.and_then(|d| d.tomorrow().ok()).and_then(day_start_ms),
            ..Default::default()
        };
        if let Some(text) = &self.query {
            if text.starts_with("pay_") {
                let one = state.store.get_payment(text).await?.into_iter();
                let rows = one
                    .filter(|p| {
                        self.status.is_none_or(|s| p.status == s) && self.channel.is_none_or(|c| p.channel == c)
                    })
                    .filter(|p| self.in_dates(p))
                    .collect();
                return Ok((rows, false));
            } else if text.chars().all(|c| c.is_ascii_digit() || " +-".contains(c))
                && daraja::Msisdn::parse(text).is_ok()
            {
                filter.phone = daraja::Msisdn::parse(text).ok().map(|m| m.as_str().to_string());
            } else {
                filter.reference = Some(text.clone());
            }
        }
        let page = state.store.list_payments(&filter).await?;
        Ok((page.data, page.has_more))
    }
}

/// One line of the list.
struct Row {
    id: String,
    created: String,
    reference: String,
    phone: String,
    amount: String,
    status: &'static str,
    status_label: String,
    detail: String,
}

/// What the list shows after the status: the receipt, else the failure reason in words, else why it
/// needs review.
fn detail_of(p: &Payment) -> String {
    p.mpesa_receipt
        .clone()
        .or_else(|| p.failure_reason.map(|r| reason_words(r.as_str())))
        .or_else(|| p.review_reason.clone())
        .unwrap_or_default()
}

impl Row {
    fn of(p: &Payment) -> Row {
        Row {
            id: p.id.clone(),
            created: eat(p.created_at),
            reference: p.reference.clone(),
            phone: p.phone.clone().unwrap_or_else(|| "—".into()),
            amount: kes(p.amount),
            status: p.status.as_str(),
            status_label: status_words(p.status),
            detail: detail_of(p),
        }
    }
}

struct Tile {
    name: String,
    value: String,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage<'a> {
    top: TopBar<'a>,
    needs_review: i64,
    tiles: Vec<Tile>,
    range_title: &'static str,
    other_range: (&'static str, &'static str),
    chart: Chart,
    q: String,
    statuses: Vec<(&'static str, String, bool)>,
    channels: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    rows: Vec<Row>,
    newest: Option<String>,
    older: Option<String>,
    csv: String,
}

pub(super) async fn dashboard(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let crit = Criteria::from_query(&q);
    let after = q.after.clone().filter(|a| a.starts_with("pay_") && a.len() <= 64);
    let (rows, has_more) = crit.page(&state, after.clone(), PAGE_SIZE).await?;

    let counts: HashMap<String, i64> = state.store.count_by_status().await?.into_iter().collect();
    let now = now_ms();
    let daily_series = series(&state, true, now).await?;
    // With an explicit range, that one; otherwise days, unless everything is from one day (a new install):
    // then hours, where the day's payments are spread out and readable.
    let daily = match q.range.as_deref() {
        Some("24h") => false,
        Some(_) => true,
        None => daily_series.iter().filter(|b| b.succeeded + b.failed + b.needs_review + b.pending > 0).count() > 1,
    };
    let series = if daily { daily_series } else { series(&state, false, now).await? };

    let c = |s: &str| counts.get(s).copied().unwrap_or(0);
    let (ok, bad): (i64, i64) = series.iter().fold((0, 0), |(a, b), s| (a + s.succeeded, b + s.failed));
    let collected: i64 = series.iter().map(|s| s.collected).sum();
    let period = if daily { "last 14 days" } else { "last 24 hours" };
    let rate = if ok + bad > 0 { format!("{:.0}%", 100.0 * ok as f64 / (ok + bad) as f64) } else { "—".into() };
    let tile = |name: &str, value: String| Tile { name: name.to_string(), value };
    let tiles = vec![
        tile("All", counts.values().sum::<i64>().to_string()),
        tile("Succeeded", c("succeeded").to_string()),
        tile("Failed", c("failed").to_string()),
        tile("Needs review", c("needs_review").to_string()),
        tile("Pending", c("pending").to_string()),
        tile(&format!("Collected, {period}"), kes(collected)),
        tile(&format!("Success rate, {period}"), rate),
    ];

    let link = |after: Option<&str>| {
        let mut qs = crit.query_string();
        if !daily {
            qs.push("range=24h".into());
        }
        if let Some(a) = after {
            qs.push(format!("after={}", url_component(a)));
        }
        format!("/admin?{}", qs.join("&"))
    };
    let page = DashboardPage {
        top: TopBar::new(&state, Some(&session)),
        needs_review: c("needs_review"),
        tiles,
        range_title: if daily { "Last 14 days" } else { "Last 24 hours" },
        other_range: if daily { ("24h", "Last 24 hours") } else { ("14d", "Last 14 days") },
        chart: chart(&series, daily),
        q: crit.query.clone().unwrap_or_default(),
        statuses: [PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed, PaymentStatus::NeedsReview]
            .into_iter()
            .map(|s| (s.as_str(), status_words(s), crit.status == Some(s)))
            .collect(),
        channels: [(Channel::Stk, "prompt (STK)"), (Channel::C2b, "paybill / till / QR (C2B)")]
            .into_iter()
            .map(|(c, label)| (c.as_str(), label, crit.channel == Some(c)))
            .collect(),
        from: crit.from.map(|d| d.to_string()).unwrap_or_default(),
        to: crit.to.map(|d| d.to_string()).unwrap_or_default(),
        rows: rows.iter().map(Row::of).collect(),
        newest: after.is_some().then(|| link(None)),
        older: if has_more { rows.last().map(|last| link(Some(&last.id))) } else { None },
        csv: format!("/admin/payments.csv?{}", crit.query_string().join("&")),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Buckets of the last 14 days (daily) or 24 hours, empty ones included.
async fn series(state: &AppState, daily: bool, now: i64) -> Result<Vec<StatsBucket>, PageError> {
    let (buckets, bucket_ms) = if daily { (14, 24 * 3600 * 1000) } else { (24, 3600 * 1000) };
    let first = (now + EAT_OFFSET_MS) / bucket_ms - (buckets - 1);
    let since = first * bucket_ms - EAT_OFFSET_MS;
    let stats = state.store.payment_stats(since, bucket_ms, EAT_OFFSET_MS).await?;
    Ok((0..buckets)
        .map(|i| {
            let start = (first + i) * bucket_ms - EAT_OFFSET_MS;
            stats.iter().find(|b| b.start == start).copied().unwrap_or(StatsBucket {
                start,
                succeeded: 0,
                failed: 0,
                needs_review: 0,
                pending: 0,
                collected: 0,
            })
        })
        .collect())
}

/// One CSV field: quoted when needed, and a leading `=`, `+`, `-` or `@` defused so a spreadsheet does not
/// run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `/admin/payments.csv`: every payment the list's filters match (up to [`CSV_MAX_ROWS`]), newest first.
pub(super) async fn export_csv(
    State(state): State<AppState>,
    _session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let crit = Criteria::from_query(&q);
    let mut out = String::from(
        "id,created_eat,reference,phone,amount_kes,status,mpesa_receipt,failure_reason,review_reason,completed_eat\r\n",
    );
    let (mut after, mut written) = (None, 0usize);
    loop {
        let (rows, more) = crit.page(&state, after.take(), 100).await?;
        for p in &rows {
            let fields = [
                p.id.clone(),
                eat(p.created_at),
                p.reference.clone(),
                p.phone.clone().unwrap_or_default(),
                p.amount.to_string(),
                p.status.as_str().to_string(),
                p.mpesa_receipt.clone().unwrap_or_default(),
                p.failure_reason.map(|r| reason_words(r.as_str())).unwrap_or_default(),
                p.review_reason.clone().unwrap_or_default(),
                p.completed_at.map(eat).unwrap_or_default(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
            written += 1;
        }
        match rows.last() {
            Some(last) if more && written < CSV_MAX_ROWS => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let mut r = out.into_response();
    let h = r.headers_mut();
    secure_headers(h);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let name = format!("attachment; filename=\"lipa-payments-{}.csv\"", eat(now_ms()).get(..10).unwrap_or("export"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("ORD-1"), "ORD-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
