//! Property tests for phone number parsing.

use daraja::Msisdn;
use proptest::prelude::*;

/// A valid 9-digit national number per `(?:1(?:0[0-8]|[18]\d|2[014]|30|4[0-5])|7\d\d)\d{6}`.
fn national() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        (0u8..=8).prop_map(|d| format!("10{d}")),
        (0u8..=9).prop_map(|d| format!("11{d}")),
        (0u8..=9).prop_map(|d| format!("18{d}")),
        prop_oneof![Just("120"), Just("121"), Just("124")].prop_map(str::to_owned),
        Just("130".to_owned()),
        (0u8..=5).prop_map(|d| format!("14{d}")),
        (0u8..=99).prop_map(|d| format!("7{d:02}")),
    ];
    (prefix, 0u32..1_000_000).prop_map(|(p, rest)| format!("{p}{rest:06}"))
}

/// Inserts separators people type between digits.
fn sprinkle(digits: &str, seps: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        out.push(c);
        match seps.get(i).copied().unwrap_or(0) % 8 {
            1 => out.push(' '),
            2 => out.push('-'),
            3 => out.push('.'),
            4 => out.push_str("  "),
            _ => {}
        }
    }
    out
}

proptest! {
    #[test]
    fn every_format_normalizes_to_the_same_msisdn(
        n in national(),
        form in 0usize..7,
        seps in proptest::collection::vec(any::<u8>(), 16),
        pad in "[ ]{0,2}",
    ) {
        let body = match form {
            0 => format!("0{n}"),
            1 => n.clone(),
            2 => format!("254{n}"),
            3 => format!("+254{n}"),
            4 => format!("00254{n}"),
            5 => format!("+254 (0){n}"),
            _ => format!("({}) {}", &format!("0{n}")[..4], &n[3..]),
        };
        let input = format!("{pad}{}{pad}", sprinkle(&body, &seps));
        let m = Msisdn::parse(&input).map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
        prop_assert_eq!(m.as_str(), format!("254{n}"));
        prop_assert_eq!(m.national(), n.as_str());
        // Normalizing again is a no-op.
        prop_assert_eq!(Msisdn::parse(m.as_str()).unwrap(), m.clone());
    }

    #[test]
    fn arbitrary_input_never_panics_and_only_valid_numbers_pass(s in "\\PC{0,40}") {
        if let Ok(m) = Msisdn::parse(&s) {
            prop_assert_eq!(m.as_str().len(), 12);
            prop_assert!(m.as_str().starts_with("254"));
            prop_assert!(m.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn digit_garbage_is_rejected_or_valid(s in "[0-9+() .-]{0,30}") {
        if let Ok(m) = Msisdn::parse(&s) {
            let nat = m.national();
            prop_assert!(nat.starts_with('7') || nat.starts_with('1'));
            // Every digit of the result came from the input, in order.
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(digits.ends_with(nat));
        }
    }

    #[test]
    fn wrong_leading_digit_is_rejected(first in prop_oneof![Just('0'), Just('2'), Just('3'), Just('4'), Just('5'), Just('6'), Just('8'), Just('9')], rest in 0u64..100_000_000) {
        let n = format!("{first}{rest:08}");
        let local = format!("0{n}");
        let intl = format!("+254{n}");
        prop_assert!(Msisdn::parse(&local).is_err());
        prop_assert!(Msisdn::parse(&intl).is_err());
    }

    #[test]
    fn wrong_lengths_are_rejected(n in national(), cut in 1usize..8, extra in "[0-9]{1,3}") {
        let short = format!("0{}", &n[..9 - cut]);
        let long = format!("0{n}{extra}");
        let long_intl = format!("+254{n}{extra}");
        prop_assert!(Msisdn::parse(&short).is_err());
        prop_assert!(Msisdn::parse(&long).is_err());
        prop_assert!(Msisdn::parse(&long_intl).is_err());
    }
}
