//! The Timestamp is East Africa Time whatever the process's time zone.
//!
//! `TZ` is read by whatever looks at the local zone first, so each zone runs in a fresh copy of
//! this test binary with `TZ` set before start-up.

mod common;

use std::process::Command;

use base64::Engine as _;
use common::{sample_push, Mock, PASSKEY, SHORTCODE};
use daraja::{Client, ExposeSecret};
use jiff::tz::{self, TimeZone};

const CHILD_ENV: &str = "DARAJA_TZ_CHILD";

#[test]
fn timestamp_is_eat_under_any_process_time_zone() {
    for zone in ["UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_in_zone", "--nocapture", "--test-threads=1"])
            .env("TZ", zone)
            .env(CHILD_ENV, zone)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{zone}:\n{stdout}\n{stderr}");
        assert!(stdout.contains(&format!("child checked {zone}")), "child did not run in {zone}:\n{stdout}");
    }
}

fn eat(t: jiff::Timestamp) -> String {
    t.to_zoned_datetime(TimeZone::fixed(tz::offset(3))).strftime("%Y%m%d%H%M%S").to_string()
}

/// Does nothing unless started by the test above.
#[test]
fn child_in_zone() {
    let Ok(zone) = std::env::var(CHILD_ENV) else {
        return;
    };
    // The process really runs in the requested zone: TZ is set, and a libc program started
    // from here (inheriting our environment) reports that zone's offset, not EAT's.
    assert_eq!(std::env::var("TZ").as_deref(), Ok(zone.as_str()));
    if let Ok(out) = Command::new("date").arg("+%z").output() {
        let local = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let now = jiff::Timestamp::now();
        let wanted = TimeZone::get(&zone).unwrap().to_offset(now);
        let secs = wanted.seconds();
        let expected =
            format!("{}{:02}{:02}", if secs < 0 { '-' } else { '+' }, secs.abs() / 3600, secs.abs() % 3600 / 60);
        assert_eq!(local, expected, "TZ={zone} not in effect");
        assert_ne!(local, "+0300");
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let mock = Mock::start().await;
        let client = Client::new(mock.config()).unwrap(); // SystemClock
        let before = jiff::Timestamp::now();
        let creds = client.stk_credentials();
        client.stk_push(&sample_push()).await.unwrap();
        let after = jiff::Timestamp::now();

        let allowed = [eat(before), eat(after)];
        assert!(allowed.contains(&creds.timestamp), "{} not in {allowed:?}", creds.timestamp);
        let decoded = base64::engine::general_purpose::STANDARD.decode(creds.password.expose_secret()).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), format!("{SHORTCODE}{PASSKEY}{}", creds.timestamp));

        // And what went over the wire: a matching pair, in EAT.
        let body = mock.state.pushes.lock().unwrap()[0].body.clone();
        let ts = body["Timestamp"].as_str().unwrap().to_owned();
        assert!(allowed.contains(&ts), "{ts} not in {allowed:?}");
        let decoded = base64::engine::general_purpose::STANDARD.decode(body["Password"].as_str().unwrap()).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), format!("{SHORTCODE}{PASSKEY}{ts}"));
    });
    println!("child checked {zone}");
}

#[test]
fn fixed_clock_timestamps() {
    let cases = [
        ("2021-06-28T06:24:08Z", "20210628092408"),
        ("2023-12-31T21:00:00Z", "20240101000000"),
        ("2024-02-28T22:59:59Z", "20240229015959"),
        ("2016-02-16T13:56:27Z", "20160216165627"),
    ];
    for (utc, want) in cases {
        assert_eq!(daraja::daraja_timestamp(utc.parse().unwrap()), want, "{utc}");
    }
}
