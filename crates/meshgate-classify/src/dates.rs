//! Dates of birth: a date column whose name says birth, or whose dates are spread like ages
//! (decades apart, mostly well before the latest one, no time of day) rather than like
//! activity (orders, events: recent, within a few years, often with a time).

use crate::names::Hint;
use crate::{Detection, Kind, Prepared, TypeClass, from_ratio, share_evidence};

/// A parsed calendar date, with whether a time of day other than midnight came with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub timed: bool,
}

fn num(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn valid(year: u32, month: u32, day: u32, timed: bool) -> Option<Date> {
    let year = i32::try_from(year).ok()?;
    ((1000..=2999).contains(&year) && day >= 1 && day <= days_in_month(year, month)).then_some(
        Date {
            year,
            month,
            day,
            timed,
        },
    )
}

/// Parses `YYYY-MM-DD`, `YYYY/MM/DD`, `DD/MM/YYYY` or `MM/DD/YYYY`, `DD.MM.YYYY`,
/// `DD-MM-YYYY`, optionally followed by a time (`T` or a space); a time of `00:00[:00]`
/// counts as no time.
pub fn parse(s: &str) -> Option<Date> {
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let timed = match time {
        None => false,
        Some(t) => {
            let t = t.trim();
            if !t.starts_with(|c: char| c.is_ascii_digit()) || !t.contains(':') {
                return None;
            }
            let clock: String = t.chars().filter(|c| c.is_ascii_digit()).take(6).collect();
            !clock.bytes().all(|b| b == b'0')
        }
    };
    let sep = date.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = date.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (na, nb, nc) = (num(a)?, num(b)?, num(c)?);
    if a.len() == 4 && b.len() <= 2 && c.len() <= 2 {
        valid(na, nb, nc, timed)
    } else if c.len() == 4 && a.len() <= 2 && b.len() <= 2 {
        // Day first unless that cannot be (the year is all that matters here).
        valid(nc, nb, na, timed).or_else(|| valid(nc, na, nb, timed))
    } else {
        None
    }
}

/// Without a birth-like name, the median year must lie this far before the latest date. An
/// adult population's youngest member is 18 or so and its median 40–55: a gap of 25+ years.
/// Activity dates (hires, sign-ups, orders) crowd towards the latest one: over 40 years of
/// hires the gap is about 20 (B12's first run flagged such a column at 18).
const MEDIAN_GAP_YEARS: i32 = 25;

fn percentile(sorted: &[i32], p: f64) -> i32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn detect(col: &Prepared, hint: Hint) -> Option<Detection> {
    if hint == Hint::Contradicts
        || !matches!(
            col.type_class,
            TypeClass::Text | TypeClass::Date | TypeClass::Timestamp
        )
    {
        return None;
    }
    let dates: Vec<Date> = col.values.iter().filter_map(|v| parse(v)).collect();
    let m = dates.len();
    if m == 0 {
        return None;
    }
    let untimed = dates.iter().filter(|d| !d.timed).count();
    let r = m as f64 / col.n() as f64;
    if hint == Hint::Supports {
        // Births are in the past few centuries; a "birth" column of future dates is not.
        let plausible = dates
            .iter()
            .filter(|d| (1880..=2100).contains(&d.year))
            .count();
        let confidence = (from_ratio(plausible as f64 / col.n() as f64, 0.3) + 0.05).min(1.0);
        let evidence = share_evidence(Kind::DateOfBirth, m, col, hint);
        return Some(Detection {
            kind: Kind::DateOfBirth,
            confidence,
            evidence: evidence.finish(),
        });
    }
    // No birth-like name: the dates must be spread like ages.
    if r < 0.9 || untimed * 10 < m * 9 {
        return None;
    }
    let mut years: Vec<i32> = dates.iter().map(|d| d.year).collect();
    years.sort_unstable();
    let (p10, p50, p90) = (
        percentile(&years, 0.1),
        percentile(&years, 0.5),
        percentile(&years, 0.9),
    );
    let latest = years.last().copied().unwrap_or(0);
    // Year-only data written as dates (all on 1 January) are not birth dates.
    let distinct_days: std::collections::HashSet<(u32, u32)> =
        dates.iter().map(|d| (d.month, d.day)).collect();
    let spread = p90 - p10;
    let age = latest - p50;
    if spread < 20 || age < MEDIAN_GAP_YEARS || p10 < 1880 || distinct_days.len() < 12.min(m) {
        return None;
    }
    let evidence = share_evidence(Kind::DateOfBirth, m, col, hint)
        .text(" without a time of day; the 10th and 90th percentile years are ")
        .num(usize::try_from(spread).unwrap_or(0))
        .text(" years apart and the median year is ")
        .num(usize::try_from(age).unwrap_or(0))
        .text(" years before the latest date (ages, not recent activity)");
    Some(Detection {
        kind: Kind::DateOfBirth,
        confidence: from_ratio(r, 0.5).min(0.8),
        evidence: evidence.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates() {
        let d = |s: &str| parse(s).map(|d| (d.year, d.month, d.day, d.timed));
        assert_eq!(d("1984-02-29"), Some((1984, 2, 29, false)));
        assert_eq!(d("1985-02-29"), None);
        assert_eq!(d("31/12/1970"), Some((1970, 12, 31, false)));
        assert_eq!(d("12/31/1970"), Some((1970, 12, 31, false)));
        assert_eq!(d("07.05.1990"), Some((1990, 5, 7, false)));
        assert_eq!(d("2024-03-01T10:15:00Z"), Some((2024, 3, 1, true)));
        assert_eq!(d("2024-03-01 00:00:00"), Some((2024, 3, 1, false)));
        assert_eq!(d("2024-13-01"), None);
        assert_eq!(d("415-555-2671"), None);
        assert_eq!(d("hello world"), None);
    }
}
