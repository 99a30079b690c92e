//! Payment card numbers (Luhn and issuer ranges) and IBANs (per-country length and mod-97).
//!
//! A Luhn check digit alone proves little: any numbering scheme may add one, and a tenth of
//! random numbers pass. Without a card-like column name a column is a card column only when
//! its numbers look issued rather than numbered (see the crate docs).

use std::collections::HashSet;

use crate::names::Hint;
use crate::{Detection, Kind, Prepared, SUGGEST, TypeClass, from_ratio, share_evidence};

/// Card brands by issuer identification number range, for the evidence's brand count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Maestro,
}

/// A value that is a valid card number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Card {
    pub brand: Brand,
    /// Printed in groups (`4111 1111 1111 1111`, `3782-822463-10005`).
    pub grouped: bool,
    /// The first six digits (the IIN), for the spread of issuers.
    pub iin: u32,
}

/// The Luhn check over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn prefix(digits: &[u8], len: usize) -> u32 {
    digits
        .iter()
        .take(len)
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// The brand whose IIN range holds this number, with a length that brand issues.
pub fn brand(digits: &[u8]) -> Option<Brand> {
    let len = digits.len();
    let (p1, p2, p3, p4, p6) = (
        prefix(digits, 1),
        prefix(digits, 2),
        prefix(digits, 3),
        prefix(digits, 4),
        prefix(digits, 6),
    );
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        Some(Brand::Visa)
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        Some(Brand::Mastercard)
    } else if (p2 == 34 || p2 == 37) && len == 15 {
        Some(Brand::Amex)
    } else if (p4 == 6011
        || p2 == 65
        || (644..=649).contains(&p3)
        || (622126..=622925).contains(&p6))
        && (16..=19).contains(&len)
    {
        Some(Brand::Discover)
    } else if (3528..=3589).contains(&p4) && (16..=19).contains(&len) {
        Some(Brand::Jcb)
    } else if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
        && (14..=19).contains(&len)
    {
        Some(Brand::Diners)
    } else if p2 == 62 && (16..=19).contains(&len) {
        Some(Brand::UnionPay)
    } else if (p2 == 50 || (56..=58).contains(&p2) || p4 == 6759 || p4 == 6304)
        && (12..=19).contains(&len)
    {
        Some(Brand::Maestro)
    } else {
        None
    }
}

/// A card number: 13–19 digits, alone or in groups of ≥ 4 separated by one space or `-`.
pub fn card(s: &str) -> Option<Card> {
    let grouped = s.contains([' ', '-']);
    if grouped {
        let sep = if s.contains(' ') { ' ' } else { '-' };
        if s.contains(if sep == ' ' { '-' } else { ' ' }) {
            return None;
        }
        let groups: Vec<&str> = s.split(sep).collect();
        if groups.len() < 3 || groups.iter().any(|g| g.len() < 4 || g.len() > 6) {
            return None;
        }
    }
    let digits: Vec<u8> = s.bytes().filter(|b| *b != b' ' && *b != b'-').collect();
    if !(13..=19).contains(&digits.len()) || !luhn(&digits) {
        return None;
    }
    let brand = brand(&digits)?;
    Some(Card {
        brand,
        grouped,
        iin: prefix(&digits, 6),
    })
}

pub fn detect_card(col: &Prepared, hint: Hint) -> Option<Detection> {
    if hint == Hint::Contradicts {
        return None;
    }
    let integer = col.type_class == TypeClass::Integer;
    if !(col.type_class == TypeClass::Text || integer) {
        return None;
    }
    let cards: Vec<Card> = col.values.iter().filter_map(|v| card(v)).collect();
    let m = cards.len();
    if m == 0 {
        return None;
    }
    let r = m as f64 / col.n() as f64;
    if hint == Hint::Supports {
        let confidence = (from_ratio(r, 0.3) + 0.05).min(1.0);
        return (confidence >= SUGGEST).then(|| Detection {
            kind: Kind::PaymentCard,
            confidence,
            evidence: share_evidence(Kind::PaymentCard, m, col, hint).finish(),
        });
    }
    // No card-like name: the numbers must look issued, not numbered.
    if integer || r < 0.8 {
        return None;
    }
    let grouped = cards.iter().filter(|c| c.grouped).count();
    let brands: HashSet<Brand> = cards.iter().map(|c| c.brand).collect();
    let iins: HashSet<u32> = cards.iter().map(|c| c.iin).collect();
    let spread = iins.len() >= 5.max(m / 20);
    let issued = grouped * 2 >= m || brands.len() >= 2;
    if !(spread && issued) {
        return None;
    }
    let evidence = share_evidence(Kind::PaymentCard, m, col, hint)
        .text(" (Luhn check and issuer range); ")
        .num(grouped)
        .text(" printed in groups, ")
        .num(brands.len())
        .text(" card brands, ")
        .num(iins.len())
        .text(" distinct 6-digit issuer prefixes");
    Some(Detection {
        kind: Kind::PaymentCard,
        confidence: from_ratio(r, 0.5).min(0.95),
        evidence: evidence.finish(),
    })
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// A valid IBAN, printed compactly or in groups of four.
pub fn is_iban(s: &str) -> bool {
    let compact: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if compact.len() < 15 || !compact.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (country, check) = (&compact[0..2], &compact[2..4]);
    if !country.iter().all(u8::is_ascii_uppercase) || !check.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let Some((_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| c.as_bytes() == country) else {
        return false;
    };
    if compact.len() != *len {
        return false;
    }
    mod97(compact[4..].iter().chain(&compact[0..4])) == 1
}

/// The remainder mod 97 of the number the characters spell (`A` = 10 … `Z` = 35).
fn mod97<'a>(chars: impl Iterator<Item = &'a u8>) -> u32 {
    chars.fold(0u32, |acc, c| {
        if c.is_ascii_digit() {
            (acc * 10 + u32::from(c - b'0')) % 97
        } else {
            (acc * 100 + u32::from(c - b'A') + 10) % 97
        }
    })
}

pub fn detect_iban(col: &Prepared, hint: Hint) -> Option<Detection> {
    if col.type_class != TypeClass::Text {
        return None;
    }
    crate::by_share(Kind::Iban, col.count(is_iban), col, hint, 0.5, 0.95)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_checks() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b""));
        assert!(!luhn(b"41a1"));
    }

    #[test]
    fn cards() {
        let brand_of = |s: &str| card(s).map(|c| c.brand);
        assert_eq!(brand_of("4111111111111111"), Some(Brand::Visa));
        assert_eq!(brand_of("4111 1111 1111 1111"), Some(Brand::Visa));
        assert_eq!(brand_of("5555555555554444"), Some(Brand::Mastercard));
        assert_eq!(brand_of("2223003122003222"), Some(Brand::Mastercard));
        assert_eq!(brand_of("378282246310005"), Some(Brand::Amex));
        assert_eq!(brand_of("3782-822463-10005"), Some(Brand::Amex));
        assert_eq!(brand_of("6011111111111117"), Some(Brand::Discover));
        assert_eq!(brand_of("3530111333300000"), Some(Brand::Jcb));
        assert_eq!(brand_of("36259600000004"), Some(Brand::Diners));
        // Luhn passes, but no issuer starts with 1 / a Visa is not 15 digits long.
        assert_eq!(card("1234567812345670"), None);
        assert_eq!(card("411111111111116"), None);
        // Fails Luhn.
        assert_eq!(card("4111111111111112"), None);
        // Odd grouping, mixed separators.
        assert_eq!(card("41 11111111111111"), None);
        assert_eq!(card("4111-1111 1111-1111"), None);
    }

    #[test]
    fn ibans() {
        for ok in [
            "DE89370400440532013000",
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "BE68539007547034",
            "NO9386011117947",
            "CH9300762011623852957",
        ] {
            assert!(is_iban(ok), "{ok}");
        }
        for bad in [
            "DE89370400440532013001", // check digits
            "DE8937040044053201300",  // length for DE
            "XX89370400440532013000", // no such country
            "GB82WEST1234569876543!",
            "DE89-3704-0044-0532-0130-00",
            "1234567890123456",
        ] {
            assert!(!is_iban(bad), "{bad}");
        }
    }
}
