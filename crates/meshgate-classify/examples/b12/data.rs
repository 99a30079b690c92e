//! The B12 generator's value makers: realistic variety of every kind and of the decoys.
//! Word lists here are written for the generator, not copied from the detectors.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub use crate::people::{FIRST, LAST};

pub type R = ChaCha8Rng;

fn pick<'a>(r: &mut R, xs: &[&'a str]) -> &'a str {
    xs.choose(r).copied().unwrap_or("")
}

fn digits(r: &mut R, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + r.gen_range(0..10u8)))
        .collect()
}

const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.co.uk",
    "web.de",
    "gmx.net",
    "orange.fr",
    "libero.it",
    "uol.com.br",
    "qq.com",
    "naver.com",
    "mail.ru",
    "icloud.com",
    "proton.me",
    "example.org",
    "acme-corp.com",
    "uni-heidelberg.de",
    "cs.stanford.edu",
    "company.io",
];

fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'é' | 'è' | 'ë' => Some('e'),
            'á' | 'à' => Some('a'),
            'í' => Some('i'),
            'ó' | 'ö' => Some('o'),
            'ú' | 'ü' => Some('u'),
            'ç' => Some('c'),
            'ê' => Some('e'),
            'ä' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

pub fn email(r: &mut R) -> String {
    let (f, l) = (ascii(pick(r, FIRST)), ascii(pick(r, LAST)));
    let local = match r.gen_range(0..7) {
        0 => format!("{f}.{l}"),
        1 => format!("{}{l}{}", &f[..1], r.gen_range(1..99)),
        2 => format!("{f}_{l}"),
        3 => format!("{f}{}", r.gen_range(1970..2010)),
        4 => format!("{f}.{l}+{}", pick(r, &["news", "shop", "work"])),
        5 => format!("{l}.{f}"),
        _ => f.clone(),
    };
    let e = format!("{local}@{}", pick(r, DOMAINS));
    if r.gen_bool(0.03) {
        e.to_uppercase()
    } else {
        e
    }
}

pub fn phone(r: &mut R, style: usize) -> String {
    let style = if style == 99 {
        r.gen_range(0..12)
    } else {
        style
    };
    let a = r.gen_range(201..989);
    match style {
        0 => format!("({a}) {}-{}", r.gen_range(200..999), digits(r, 4)),
        1 => format!("{a}-{}-{}", r.gen_range(200..999), digits(r, 4)),
        2 => format!("+1 {a} {} {}", r.gen_range(200..999), digits(r, 4)),
        3 => format!(
            "+44 {} {} {}",
            pick(r, &["20", "7700", "161"]),
            digits(r, 4),
            digits(r, 4)
        ),
        4 => format!("0{} {}", pick(r, &["20", "161", "7700"]), digits(r, 7)),
        5 => format!(
            "+49 {} {}",
            pick(r, &["30", "89", "151", "170"]),
            digits(r, 8)
        ),
        6 => format!("0{} {}", pick(r, &["30", "89", "151"]), digits(r, 7)),
        7 => {
            let p: Vec<String> = (0..4).map(|_| digits(r, 2)).collect();
            format!("0{} {}", r.gen_range(1..8), p.join(" "))
        }
        8 => format!("+91 {} {}", r.gen_range(70000..99999), digits(r, 5)),
        9 => format!("+55 11 9{}-{}", digits(r, 4), digits(r, 4)),
        10 => format!("+81 3-{}-{}", digits(r, 4), digits(r, 4)),
        11 => format!("+{}{}", pick(r, &["1", "44", "33", "61"]), digits(r, 10)),
        // Bare national digits, as some systems store them.
        _ => format!("{a}{}{}", r.gen_range(200..999), digits(r, 4)),
    }
}

/// Digits with a Luhn check digit appended.
pub fn luhn_complete(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

pub fn card(r: &mut R, grouped: bool) -> String {
    let (prefix, len) = match r.gen_range(0..20) {
        0..=9 => ("4".to_string(), 16),
        10..=14 => (format!("{}", r.gen_range(51..56)), 16),
        15 => (format!("{}", r.gen_range(2221..2721)), 16),
        16 | 17 => (pick(r, &["34", "37"]).to_string(), 15),
        18 => ("6011".to_string(), 16),
        _ => (format!("{}", r.gen_range(3528..3590)), 16),
    };
    let body = format!("{prefix}{}", digits(r, len - 1 - prefix.len()));
    let n = luhn_complete(&body);
    if !grouped {
        return n;
    }
    let sep = if r.gen_bool(0.8) { " " } else { "-" };
    if len == 15 {
        format!("{}{sep}{}{sep}{}", &n[..4], &n[4..10], &n[10..])
    } else {
        format!(
            "{}{sep}{}{sep}{}{sep}{}",
            &n[..4],
            &n[4..8],
            &n[8..12],
            &n[12..]
        )
    }
}

pub fn iban(r: &mut R, grouped: bool) -> String {
    let (cc, bban) = match r.gen_range(0..10) {
        0 => ("DE", digits(r, 18)),
        1 => ("FR", format!("{}{}", digits(r, 20), digits(r, 3))),
        2 => (
            "GB",
            format!(
                "{}{}",
                pick(r, &["NWBK", "BARC", "HBUK", "LOYD"]),
                digits(r, 14)
            ),
        ),
        3 => (
            "NL",
            format!("{}{}", pick(r, &["ABNA", "INGB", "RABO"]), digits(r, 10)),
        ),
        4 => ("ES", digits(r, 20)),
        5 => ("IT", format!("X{}", digits(r, 22))),
        6 => ("BE", digits(r, 12)),
        7 => ("CH", digits(r, 17)),
        8 => ("AT", digits(r, 16)),
        _ => ("PL", digits(r, 24)),
    };
    // Check digits: 98 − (BBAN + country + "00") mod 97.
    let rearranged = format!("{bban}{cc}00");
    let rem = rearranged.bytes().fold(0u32, |acc, c| {
        if c.is_ascii_digit() {
            (acc * 10 + u32::from(c - b'0')) % 97
        } else {
            (acc * 100 + u32::from(c - b'A') + 10) % 97
        }
    });
    let s = format!("{cc}{:02}{bban}", 98 - rem);
    if !grouped {
        return s;
    }
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn ssn(r: &mut R, dashed: bool) -> String {
    let area = loop {
        let a = r.gen_range(1..900);
        if a != 666 {
            break a;
        }
    };
    let (g, s) = (r.gen_range(1..100), r.gen_range(1..10000));
    if dashed {
        format!("{area:03}-{g:02}-{s:04}")
    } else {
        format!("{area:03}{g:02}{s:04}")
    }
}

pub fn ipv4(r: &mut R) -> String {
    match r.gen_range(0..4) {
        0 => format!(
            "10.{}.{}.{}",
            r.gen_range(0..256),
            r.gen_range(0..256),
            r.gen_range(1..255)
        ),
        1 => format!("192.168.{}.{}", r.gen_range(0..256), r.gen_range(1..255)),
        _ => format!(
            "{}.{}.{}.{}",
            r.gen_range(1..224),
            r.gen_range(0..256),
            r.gen_range(0..256),
            r.gen_range(1..255)
        ),
    }
}

pub fn ipv6(r: &mut R) -> String {
    let g: Vec<u16> = (0..8).map(|_| r.r#gen()).collect();
    match r.gen_range(0..5) {
        0 => g
            .iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":"),
        1 => g
            .iter()
            .map(|x| format!("{x:04X}"))
            .collect::<Vec<_>>()
            .join(":"),
        2 => format!("2001:db8:{:x}::{:x}", g[0], g[1]),
        3 => format!("fe80::{:x}:{:x}:{:x}:{:x}", g[0], g[1], g[2], g[3]),
        _ => format!("::ffff:{}", ipv4(r)),
    }
}

/// `(year, month, day)` with `year` in `years`.
pub fn ymd(r: &mut R, years: std::ops::Range<i32>) -> (i32, u32, u32) {
    (r.gen_range(years), r.gen_range(1..13), r.gen_range(1..29))
}

pub fn date_text(r: &mut R, (y, m, d): (i32, u32, u32), style: usize) -> String {
    let _ = r;
    match style {
        0 => format!("{y}-{m:02}-{d:02}"),
        1 => format!("{d:02}/{m:02}/{y}"),
        2 => format!("{m}/{d}/{y}"),
        _ => format!("{d:02}.{m:02}.{y}"),
    }
}

/// An adult population's birth year: ages 18–90, more of them middle-aged.
pub fn birth_year(r: &mut R) -> i32 {
    let age: i32 = 18 + r.gen_range(0..37) + r.gen_range(0..37);
    2025 - age
}

pub fn person(r: &mut R, style: usize) -> String {
    let (f, l) = (pick(r, FIRST), pick(r, LAST));
    match style {
        0 => format!("{f} {l}"),
        1 => format!("{l}, {f}"),
        2 => format!("{f} {}. {l}", char::from(b'A' + r.gen_range(0..26u8))),
        3 => f.to_string(),
        4 => l.to_string(),
        _ => format!("{f} {l}-{}", pick(r, LAST)),
    }
}

const STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Sunset",
    "Highland",
    "Church",
    "Mill",
    "King",
    "Queen",
    "Victoria",
    "Station",
    "Green",
    "Riverside",
];

pub fn address(r: &mut R, style: usize) -> String {
    let style = if style == 99 {
        r.gen_range(0..8)
    } else {
        style
    };
    let n = r.gen_range(1..3000);
    match style {
        0 => format!(
            "{n} {} {}, {}, {} {:05}",
            pick(r, STREETS),
            pick(
                r,
                &[
                    "Street", "St", "Avenue", "Ave", "Road", "Rd", "Drive", "Lane", "Blvd", "Way",
                    "Court"
                ]
            ),
            pick(
                r,
                &[
                    "Springfield",
                    "Austin",
                    "Portland",
                    "Denver",
                    "Columbus",
                    "Madison"
                ]
            ),
            pick(r, &["IL", "TX", "OR", "CO", "OH", "WI"]),
            r.gen_range(10000..99999)
        ),
        1 => format!(
            "{} {} {}, {} {}{} {}{}{}",
            r.gen_range(1..300),
            pick(r, STREETS),
            pick(
                r,
                &["Road", "Street", "Lane", "Close", "Crescent", "Gardens"]
            ),
            pick(r, &["London", "Leeds", "Bristol", "Manchester"]),
            pick(r, &["SW", "N", "LS", "BS", "M"]),
            r.gen_range(1..20),
            r.gen_range(1..10),
            char::from(b'A' + r.gen_range(0..26u8)),
            char::from(b'A' + r.gen_range(0..26u8)),
        ),
        2 => format!(
            "{}{} {}, {:05} {}",
            pick(
                r,
                &[
                    "Haupt",
                    "Bahnhof",
                    "Schiller",
                    "Goethe",
                    "Linden",
                    "Berliner "
                ]
            ),
            pick(r, &["straße", "str.", "weg", "allee", "platz"]),
            r.gen_range(1..200),
            r.gen_range(10000..99999),
            pick(r, &["Berlin", "München", "Hamburg", "Köln"])
        ),
        3 => format!(
            "{} {} {}, {:05} {}",
            r.gen_range(1..150),
            pick(r, &["rue", "avenue", "boulevard", "place", "chemin"]),
            pick(
                r,
                &[
                    "de la Paix",
                    "Victor Hugo",
                    "des Lilas",
                    "du Moulin",
                    "Gambetta"
                ]
            ),
            r.gen_range(10000..95999),
            pick(r, &["Paris", "Lyon", "Marseille", "Lille"])
        ),
        4 => format!(
            "{} {} {}, {:05} {}",
            pick(r, &["Calle", "Avenida", "Via", "Viale", "Rua", "Paseo"]),
            pick(
                r,
                &[
                    "Mayor",
                    "Roma",
                    "Garibaldi",
                    "de la Constitución",
                    "Augusta",
                    "Dante"
                ]
            ),
            r.gen_range(1..250),
            r.gen_range(10000..99999),
            pick(r, &["Madrid", "Roma", "Milano", "Lisboa", "Sevilla"])
        ),
        5 => format!(
            "{}{} {}, {} {}{} {}",
            pick(r, &["Keizers", "Heren", "Prinsen", "Kerk", "Dorps"]),
            pick(r, &["gracht", "straat", "laan", "weg"]),
            r.gen_range(1..400),
            r.gen_range(1000..9999),
            char::from(b'A' + r.gen_range(0..26u8)),
            char::from(b'A' + r.gen_range(0..26u8)),
            pick(r, &["Amsterdam", "Utrecht", "Rotterdam"])
        ),
        6 => format!("Apt {}, {n} {} Ave", r.gen_range(1..40), pick(r, STREETS)),
        _ => format!("{n} {} St", pick(r, STREETS)),
    }
}
