//! Identifiers, East Africa Time and phone numbers.

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::{self, TimeZone};
use jiff::Timestamp;
use rand::Rng;

/// East Africa Time: UTC+3 all year (no daylight saving), which is what Daraja expects.
pub(crate) fn eat() -> TimeZone {
    TimeZone::fixed(tz::offset(3))
}

pub(crate) fn now_eat() -> DateTime {
    Timestamp::now().to_zoned_datetime(eat()).datetime()
}

pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// `YYYYMMDDHHmmss` in EAT.
pub(crate) fn eat_compact(dt: DateTime) -> String {
    dt.strftime("%Y%m%d%H%M%S").to_string()
}

/// Human-readable EAT time of a Unix millisecond instant, for logs and pages.
pub(crate) fn eat_display(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned_datetime(eat()).datetime().strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Parses a Daraja `YYYYMMDDHHmmss` timestamp into a civil date-time.
pub(crate) fn parse_compact(s: &str) -> Option<DateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i16>().ok();
    DateTime::new(n(0..4)?, n(4..6)? as i8, n(6..8)? as i8, n(8..10)? as i8, n(10..12)? as i8, n(12..14)? as i8, 0).ok()
}

/// Like "3 h", "3 h 5 min", "7 min".
pub(crate) fn human_span(secs: i64) -> String {
    let mins = (secs.abs() + 30) / 60;
    let (h, m) = (mins / 60, mins % 60);
    match (h, m) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn hex(rng: &mut impl Rng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect()
}

fn digits(rng: &mut impl Rng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.gen_range(0..10), 10).unwrap_or('0')).collect()
}

/// Daraja-looking request id: `1c5b-4ba8-815c-ac45c57a3db01495926`.
pub(crate) fn request_id(rng: &mut impl Rng) -> String {
    format!("{}-{}-{}-{}{}", hex(rng, 4), hex(rng, 4), hex(rng, 4), hex(rng, 12), digits(rng, 7))
}

/// `ws_CO_` + DDMMYYYYHHMMSSmmm (EAT) + digits, like `ws_CO_1007202409152617172396192`.
pub(crate) fn checkout_request_id(rng: &mut impl Rng) -> String {
    let ts = Timestamp::now().to_zoned_datetime(eat()).datetime();
    format!("ws_CO_{}{:03}{}", ts.strftime("%d%m%Y%H%M%S"), ts.subsec_nanosecond() / 1_000_000, digits(rng, 8))
}

/// Access tokens look like `c9SQxWWhmdVRlyh0zh8gZDTkubVF`.
pub(crate) fn access_token(rng: &mut impl Rng) -> String {
    rng.sample_iter(rand::distributions::Alphanumeric).take(28).map(char::from).collect()
}

/// Receipts are 10 uppercase alphanumerics starting with a letter, like `NLJ7RT61SV`.
pub(crate) fn receipt(rng: &mut impl Rng) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = String::with_capacity(10);
    s.push(LETTERS[rng.gen_range(0..LETTERS.len())] as char);
    for _ in 0..9 {
        s.push(ALNUM[rng.gen_range(0..ALNUM.len())] as char);
    }
    s
}

/// Daraja's own check on PartyA / PhoneNumber: 12 digits, `2547…` or `2541…`.
pub(crate) fn is_daraja_msisdn(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) && (s.starts_with("2547") || s.starts_with("2541"))
}

/// Normalizes the common Kenyan phone formats (`0712 345 678`, `+254712345678`, `712345678`)
/// to `2547XXXXXXXX` / `2541XXXXXXXX`; `None` if it is not one.
pub fn normalize_msisdn(input: &str) -> Option<String> {
    let cleaned: String = input.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '+' | '.')).collect();
    if !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match cleaned.len() {
        12 if cleaned.starts_with("254") => cleaned,
        10 if cleaned.starts_with('0') => format!("254{}", &cleaned[1..]),
        9 => format!("254{cleaned}"),
        _ => return None,
    };
    is_daraja_msisdn(&full).then_some(full)
}

/// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 250ms, 1s, 2m"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_phones() {
        assert_eq!(normalize_msisdn("0712 345 678").as_deref(), Some("254712345678"));
        assert_eq!(normalize_msisdn("+254712345678").as_deref(), Some("254712345678"));
        assert_eq!(normalize_msisdn("110345678").as_deref(), Some("254110345678"));
        assert_eq!(normalize_msisdn("0812345678"), None);
        assert_eq!(normalize_msisdn("hello"), None);
    }

    #[test]
    fn ids_have_daraja_shapes() {
        let mut rng = rand::thread_rng();
        let id = checkout_request_id(&mut rng);
        assert!(id.starts_with("ws_CO_") && id.len() == 6 + 17 + 8, "{id}");
        let r = receipt(&mut rng);
        assert!(r.len() == 10 && r.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_eq!(access_token(&mut rng).len(), 28);
    }

    #[test]
    fn parses_compact_timestamps() {
        assert!(parse_compact("20210628092408").is_some());
        assert!(parse_compact("20211328092408").is_none());
        assert!(parse_compact("2021062809240").is_none());
        assert_eq!(human_span(3 * 3600 + 10), "3 h");
        assert_eq!(human_span(-(7 * 60)), "7 min");
    }
}
