//! Kinds with a syntax of their own: e-mail addresses, phone numbers, US social security
//! numbers, IPv4 and IPv6 addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::names::Hint;
use crate::{Detection, Kind, Prepared, TypeClass, by_share};

pub fn detect(kind: Kind, col: &Prepared, hint: Hint) -> Option<Detection> {
    let text = col.type_class == TypeClass::Text;
    match kind {
        Kind::Email if text => by_share(kind, col.count(is_email), col, hint, 0.5, 0.95),
        Kind::Phone if text || col.type_class == TypeClass::Integer => {
            let named = hint == Hint::Supports;
            let m = col.count(|v| match phone_shape(v) {
                Some(PhoneShape::Formatted) => text,
                Some(PhoneShape::BareDigits) => named,
                None => false,
            });
            // Without a phone-like name, formatted numbers alone stay just at CONFIDENT.
            by_share(kind, m, col, hint, 0.5, 0.9)
        }
        Kind::UsSsn if text || col.type_class == TypeClass::Integer => {
            let named = hint == Hint::Supports;
            let m = col.count(|v| match ssn_shape(v) {
                Some(SsnShape::Dashed) => true,
                Some(SsnShape::Bare) => named,
                None => false,
            });
            by_share(kind, m, col, hint, 0.5, 0.95)
        }
        Kind::Ipv4 if text => by_share(kind, col.count(is_ipv4), col, hint, 0.5, 0.95),
        Kind::Ipv6 if text => by_share(kind, col.count(is_ipv6), col, hint, 0.5, 0.95),
        _ => None,
    }
}

/// `local@domain.tld`: a dot-atom local part, DNS labels, an alphabetic TLD of ≥ 2 letters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.len() > 253 || domain.contains('@') {
        return false;
    }
    const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";
    if !local
        .chars()
        .all(|c| c.is_alphanumeric() || LOCAL_SPECIALS.contains(c))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    labels
        .last()
        .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneShape {
    /// `+` and digits, or digits in groups with separators: a phone on its own.
    Formatted,
    /// 7–15 digits and nothing else: a phone only under a phone-like name.
    BareDigits,
}

/// Whether a value is written like a phone number.
pub fn phone_shape(s: &str) -> Option<PhoneShape> {
    let mut rest = s;
    // An extension at the end (`x123`, `ext. 12`) does not change what the rest is.
    if let Some(i) = s
        .to_ascii_lowercase()
        .rfind("ext")
        .or_else(|| s.rfind(['x', 'X']))
    {
        let (head, tail) = s.split_at(i);
        let tail_digits = tail.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '.');
        if tail_digits.trim().chars().all(|c| c.is_ascii_digit()) && !tail_digits.trim().is_empty()
        {
            rest = head.trim_end();
        }
    }
    let plus = rest.starts_with('+');
    let body = rest.strip_prefix('+').unwrap_or(rest);
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
    {
        return None;
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if body.chars().filter(|c| *c == '(').count() > 1 || body.starts_with(['-', '.', '/']) {
        return None;
    }
    let groups: Vec<usize> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect();
    if plus {
        let first = body.trim_start_matches(|c: char| !c.is_ascii_digit());
        return ((8..=15).contains(&digits) && !first.starts_with('0'))
            .then_some(PhoneShape::Formatted);
    }
    if !(7..=15).contains(&digits) {
        return None;
    }
    if groups.len() == 1 {
        return (body.len() == digits).then_some(PhoneShape::BareDigits);
    }
    // Things written in groups that are not phones.
    if is_ipv4(s) || ssn_shape(s).is_some() || looks_like_date(&groups, body) {
        return None;
    }
    let dots = body.contains('.');
    if dots && groups.len() < 3 {
        return None; // an amount or a decimal
    }
    if body.contains('/') && groups.len() > 2 {
        return None;
    }
    if groups.iter().any(|g| *g > 10) || groups.len() > 6 {
        return None;
    }
    Some(PhoneShape::Formatted)
}

fn looks_like_date(groups: &[usize], body: &str) -> bool {
    let date_groups = matches!(groups, [4, 2, 2] | [2, 2, 4] | [4, 1, 1] | [1, 1, 4])
        || matches!(groups, [4, 2, 2, 2, 2, ..]);
    date_groups && !body.contains('(') && !body.contains(' ')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsnShape {
    /// `AAA-GG-SSSS`.
    Dashed,
    /// Nine digits: an SSN only under an SSN-like name.
    Bare,
}

/// A valid US SSN: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn ssn_shape(s: &str) -> Option<SsnShape> {
    let b = s.as_bytes();
    let (shape, digits): (SsnShape, Vec<u8>) = if b.len() == 11 && b[3] == b'-' && b[6] == b'-' {
        (SsnShape::Dashed, [&b[0..3], &b[4..6], &b[7..11]].concat())
    } else if b.len() == 9 {
        (SsnShape::Bare, b.to_vec())
    } else {
        return None;
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let area = &digits[0..3];
    if area == b"000" || area == b"666" || area[0] == b'9' {
        return None;
    }
    if &digits[3..5] == b"00" || &digits[5..9] == b"0000" {
        return None;
    }
    Some(shape)
}

pub fn is_ipv4(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok()
}

/// An IPv6 address, also in brackets (`[::1]`) or with a zone (`fe80::1%eth0`).
pub fn is_ipv6(s: &str) -> bool {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    let s = match s.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() && zone.chars().all(|c| c.is_alphanumeric()) => addr,
        Some(_) => return false,
        None => s,
    };
    s.contains(':') && s.parse::<Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "jane.doe+news@mail.example.org",
            "o'brien@example.ie",
            "müller@beispiel.de",
            "x_y-z@sub-domain.example.com",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "a@b",
            "a@b.c",
            "@b.com",
            "a@@b.com",
            "a b@c.com",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b.123",
            "write to a@b.com",
            "a@b.com.",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn phones() {
        use PhoneShape::*;
        for (s, want) in [
            ("+14155552671", Some(Formatted)),
            ("+44 20 7946 0958", Some(Formatted)),
            ("+49 (0)30 1234567", Some(Formatted)),
            ("(415) 555-2671", Some(Formatted)),
            ("415-555-2671", Some(Formatted)),
            ("415.555.2671", Some(Formatted)),
            ("030 1234567", Some(Formatted)),
            ("06 12 34 56 78", Some(Formatted)),
            ("555-2671 x123", Some(Formatted)),
            ("4155552671", Some(BareDigits)),
            ("12345", None),
            ("2023-04-05", None),
            ("05/04/2023", None),
            ("123-45-6789", None),
            ("192.168.1.1", None),
            ("12345.67", None),
            ("+0123456789", None),
            ("4111 1111 1111 1111 1111", None),
            ("ORD-1234567", None),
        ] {
            assert_eq!(phone_shape(s), want, "{s}");
        }
    }

    #[test]
    fn ssns() {
        assert_eq!(ssn_shape("123-45-6789"), Some(SsnShape::Dashed));
        assert_eq!(ssn_shape("123456789"), Some(SsnShape::Bare));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123-456-789",
            "12a-45-6789",
        ] {
            assert_eq!(ssn_shape(bad), None, "{bad}");
        }
    }

    #[test]
    fn ip_addresses() {
        assert!(is_ipv4("10.0.0.1"));
        assert!(!is_ipv4("256.1.1.1"));
        assert!(!is_ipv4("1.2.3"));
        for ok in [
            "::1",
            "::",
            "2001:db8::8a2e:370:7334",
            "2001:0db8:0000:0000:0000:ff00:0042:8329",
            "::ffff:192.0.2.128",
            "fe80::1%eth0",
            "[2001:db8::1]",
        ] {
            assert!(is_ipv6(ok), "{ok}");
        }
        for bad in ["2001:db8:::1", "1.2.3.4", "gggg::1", "fe80::1%", "12:30"] {
            assert!(!is_ipv6(bad), "{bad}");
        }
    }
}
