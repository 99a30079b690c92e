//! Person names and postal addresses: the least structured kinds, so the most conservative.
//! A name-shaped value (capitalised words, no digits) is also a product, a city or a
//! company; without a person-like column name, a column counts as names only when many of
//! its values start with a common given name.

use crate::given_names::GIVEN_NAMES;
use crate::names::Hint;
use crate::{Detection, Kind, Prepared, SUGGEST, TypeClass, by_share, from_ratio, share_evidence};

/// Lowercase particles inside names (`Ludwig van Beethoven`, `Ahmed bin Said`).
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "di", "del", "della", "dos", "das", "du", "la", "le",
    "bin", "binti", "ibn", "al", "el", "ter", "ten", "y", "zu", "mac",
];

fn fold(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            'ł' => 'l',
            'š' => 's',
            'ž' => 'z',
            'ř' => 'r',
            'ý' => 'y',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

/// A capitalised name word: `Anna`, `O'Brien`, `Jean-Luc`, `McDonald`, `J.`; not `ACME`.
fn name_word(w: &str) -> bool {
    let mut chars = w.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !first.is_uppercase() {
        return false;
    }
    let rest: Vec<char> = chars.collect();
    if rest == ['.'] {
        return true; // an initial
    }
    if rest.is_empty()
        || !rest
            .iter()
            .all(|c| c.is_alphabetic() || matches!(c, '\'' | '-' | '’'))
    {
        return false;
    }
    let upper = rest.iter().filter(|c| c.is_uppercase()).count();
    let lower = rest.iter().filter(|c| c.is_lowercase()).count();
    lower > 0 && upper * 2 <= lower
}

/// Whether a value is shaped like a person's name, and whether it starts with a known given
/// name.
pub fn name_shape(s: &str) -> Option<bool> {
    // `Last, First` puts the given name after the comma.
    let words: Vec<&str> = match s.split_once(',') {
        Some((last, first)) => first
            .split_whitespace()
            .chain(last.split_whitespace())
            .collect(),
        None => s.split_whitespace().collect(),
    };
    if words.is_empty() || words.len() > 5 {
        return None;
    }
    let mut capitalised = 0;
    for (i, w) in words.iter().enumerate() {
        if name_word(w) {
            capitalised += 1;
        } else if i == 0 || !PARTICLES.contains(w) {
            return None;
        }
    }
    if capitalised == 0 {
        return None;
    }
    let first = fold(words.first().copied().unwrap_or_default());
    Some(GIVEN_NAMES.contains(&first.as_str()))
}

pub fn detect_name(col: &Prepared, hint: Hint) -> Option<Detection> {
    if hint == Hint::Contradicts || col.type_class != TypeClass::Text {
        return None;
    }
    let shapes: Vec<bool> = col.values.iter().filter_map(|v| name_shape(v)).collect();
    let m = shapes.len();
    let given = shapes.iter().filter(|g| **g).count();
    let n = col.n() as f64;
    let (r, g) = (m as f64 / n, given as f64 / n);
    let confidence = match hint {
        Hint::Supports => (from_ratio(r, 0.3) + 0.05).min(1.0),
        Hint::Weak if r >= 0.85 && g >= 0.2 => from_ratio(r, 0.5).min(0.85),
        Hint::Neutral if r >= 0.85 && g >= 0.3 => from_ratio(r, 0.5).min(0.85),
        _ => return None,
    };
    if confidence < SUGGEST {
        return None;
    }
    let mut evidence = share_evidence(Kind::PersonName, m, col, hint);
    if hint != Hint::Supports {
        evidence = evidence
            .text("; ")
            .num(given)
            .text(" start with a common given name");
    }
    Some(Detection {
        kind: Kind::PersonName,
        confidence,
        evidence: evidence.finish(),
    })
}

/// Street words written after the name (`Main Street`, `rue`-style words come first).
const STREET_WORDS: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "av",
    "road",
    "rd",
    "lane",
    "ln",
    "drive",
    "dr",
    "boulevard",
    "blvd",
    "way",
    "court",
    "ct",
    "place",
    "pl",
    "terrace",
    "close",
    "crescent",
    "parkway",
    "pkwy",
    "highway",
    "hwy",
    "square",
    "sq",
    "circle",
    "cir",
    "row",
    "gardens",
    "mews",
    "grove",
    "walk",
    "trail",
    "alley",
    "plaza",
    "pike",
    "rue",
    "allée",
    "chemin",
    "impasse",
    "quai",
    "cours",
    "calle",
    "avenida",
    "paseo",
    "camino",
    "carrer",
    "plaza",
    "rua",
    "travessa",
    "via",
    "viale",
    "piazza",
    "corso",
    "vicolo",
    "largo",
    "straße",
    "strasse",
    "str",
    "weg",
    "gasse",
    "platz",
    "allee",
    "ring",
    "damm",
    "ufer",
    "straat",
    "laan",
    "gracht",
    "plein",
    "kade",
    "singel",
    "vej",
    "gade",
    "gata",
    "gatan",
    "vägen",
    "veien",
    "ulica",
    "ul",
];

/// Street words written before the name, the number after (`Calle Mayor 12`).
const LEADING_STREET_WORDS: &[&str] = &[
    "calle", "avenida", "paseo", "camino", "carrer", "avinguda", "plaza", "rua", "travessa",
    "praça", "via", "viale", "piazza", "corso", "vicolo", "largo", "ulica", "ul.",
];

/// Compound street names (`Hauptstraße`, `Keizersgracht`, `Storgatan`).
const STREET_SUFFIXES: &[&str] = &[
    "straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "straat", "laan", "gracht",
    "plein", "vej", "gade", "gatan", "vägen", "veien", "ring", "damm",
];

fn house_number(w: &str) -> bool {
    let w = w.trim_end_matches(',');
    let digits = w.chars().take_while(char::is_ascii_digit).count();
    let rest = &w[digits..];
    (1..=5).contains(&digits)
        && (rest.is_empty()
            || (rest.chars().count() == 1 && rest.chars().all(char::is_alphabetic))
            || rest.starts_with('-') && rest[1..].chars().all(|c| c.is_ascii_digit()))
}

fn street_word(w: &str) -> bool {
    let w = w.trim_end_matches([',', '.']).to_lowercase();
    STREET_WORDS.contains(&w.as_str())
}

fn street_compound(w: &str) -> bool {
    let w = w.trim_end_matches(',').to_lowercase();
    STREET_SUFFIXES
        .iter()
        .any(|s| w.len() > s.len() + 2 && w.ends_with(s))
}

/// A postcode of a common shape: `12345`, `12345-6789`, `1234 AB`, `SW1A 1AA`, `K1A 0B1`.
fn postcode(words: &[&str]) -> bool {
    let clean = |w: &str| w.trim_end_matches(',').to_string();
    words.iter().enumerate().any(|(i, w)| {
        let w = clean(w);
        let next = words.get(i + 1).map(|n| clean(n)).unwrap_or_default();
        let digits5 = w.len() == 5 && w.bytes().all(|b| b.is_ascii_digit());
        let zip9 = w.len() == 10
            && w.as_bytes().get(5) == Some(&b'-')
            && w.bytes().filter(u8::is_ascii_digit).count() == 9;
        let nl = w.len() == 4
            && w.bytes().all(|b| b.is_ascii_digit())
            && next.len() == 2
            && next.bytes().all(|b| b.is_ascii_uppercase());
        let uk_ca = (2..=4).contains(&w.len())
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && w.bytes().any(|b| b.is_ascii_digit())
            && w.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && next.len() == 3
            && next.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && next
                .bytes()
                .skip(1)
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        digits5 || zip9 || nl || uk_ca
    })
}

/// Whether a value is written like a postal address (or its street line).
pub fn is_address(s: &str) -> bool {
    if s.len() > 200 {
        return false;
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() < 2 {
        return false;
    }
    // `12 Main Street`, `Flat 3, 12 rue de la Paix`: a number first (or first after a
    // comma), then a street word within 5 words.
    let number_first = words.iter().enumerate().any(|(i, w)| {
        (i == 0 || words[i - 1].ends_with(','))
            && house_number(w)
            && words.iter().skip(i + 1).take(5).any(|w| street_word(w))
    });
    // `Hauptstraße 5`, `Calle Mayor 12`, `Via Roma 3`: a street, then a number.
    let leading = LEADING_STREET_WORDS.contains(&words[0].to_lowercase().as_str())
        && words[0].chars().next().is_some_and(char::is_uppercase);
    let number_after = words.iter().enumerate().skip(1).take(6).any(|(i, w)| {
        house_number(w) && (leading || words[..i].iter().any(|s| street_compound(s)))
    });
    let letters = words
        .iter()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    let with_postcode = s.contains(',') && letters >= 2 && postcode(&words);
    number_first || number_after || with_postcode
}

pub fn detect_address(col: &Prepared, hint: Hint) -> Option<Detection> {
    if hint == Hint::Contradicts || col.type_class != TypeClass::Text {
        return None;
    }
    let m = col.count(is_address);
    by_share(Kind::PostalAddress, m, col, hint, 0.6, 0.95)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_shape("Anna Müller"), Some(true));
        assert_eq!(name_shape("Jean-Luc Picard"), Some(false));
        assert_eq!(name_shape("Ludwig van Beethoven"), Some(false));
        assert_eq!(name_shape("O'Brien, Patrick"), Some(true));
        assert_eq!(name_shape("José"), Some(true));
        assert_eq!(name_shape("ACME GmbH"), None);
        assert_eq!(name_shape("Widget 3000"), None);
        assert_eq!(name_shape("the quick fox"), None);
        assert_eq!(name_shape("van Gogh"), None);
    }

    #[test]
    fn addresses() {
        for ok in [
            "1600 Pennsylvania Avenue NW, Washington, DC 20500",
            "221B Baker Street, London NW1 6XE",
            "12 rue de la Paix, 75002 Paris",
            "Hauptstraße 5, 10115 Berlin",
            "Calle Mayor 12, 28013 Madrid",
            "Via Roma 3, 00184 Roma",
            "Keizersgracht 123, 1015 CJ Amsterdam",
            "42 Elm St",
            "Flat 3, 10 Downing Street",
            "Springfield, IL 62704, USA",
        ] {
            assert!(is_address(ok), "{ok}");
        }
        for bad in [
            "New York",
            "São Paulo",
            "Road Bike 29er",
            "Trail Runner 2 Road Shoe",
            "order 12345 shipped",
            "Anna Müller",
            "12345",
        ] {
            assert!(!is_address(bad), "{bad}");
        }
    }
}
