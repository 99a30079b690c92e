//! Query-parameter values: timestamps, booleans, and the `/changes` (change data feed)
//! parameters.
//!
//! Traps handled here (docs/design/DELTA_SHARING.md §Change data feed):
//! - Timestamps come in two dialects: the current spec's ISO-8601 in UTC
//!   (`2022-01-01T00:00:00Z`, with an offset or fractional seconds too) and the older spec's
//!   `yyyy-[m]m-[d]d hh:mm:ss[.f...]`, which the reference server read in its local zone and
//!   meshgate reads in UTC. Both are accepted, and a bare date means its midnight (UTC).
//! - Booleans are compared case-insensitively: the Python client sends Python's `True`.
//! - `/changes` needs exactly one start (`startingVersion` or `startingTimestamp`) and at most
//!   one end; unknown parameters are ignored (clients add new ones over time).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::error::shown;
use crate::{Error, Result};

/// Parses a timestamp: RFC 3339 / ISO-8601 (`2022-01-01T00:00:00Z`, `…+02:00`,
/// `…T00:00:00.123Z`; without an offset it is UTC), `YYYY-MM-DD HH:MM:SS[.fff]` (UTC, the
/// older spec's format; one-digit months and days allowed) or a bare `YYYY-MM-DD` (midnight
/// UTC). Errors name the parameter `timestamp`; see [`parse_timestamp_param`] for others.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>> {
    parse_timestamp_param("timestamp", s)
}

/// [`parse_timestamp`] for the parameter `name` (`startingTimestamp`, …), which the error
/// message names.
pub fn parse_timestamp_param(name: &'static str, s: &str) -> Result<DateTime<Utc>> {
    lenient_timestamp(s).ok_or_else(|| {
        Error::invalid(
            name,
            format!(
                "`{}` is not a timestamp; use ISO-8601 in UTC such as `2022-01-01T00:00:00Z` \
                 or `2022-01-01 00:00:00`",
                shown(s)
            ),
        )
    })
}

/// The timestamp forms [`parse_timestamp`] accepts, as an instant; `None` if none fits.
pub(crate) fn lenient_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // With an offset but a space instead of `T`, or an offset without a colon.
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Parses a boolean parameter: `true` or `false` in any case (`True` is what the Python
/// client sends). Errors name the parameter `value`; see [`parse_bool_param`].
pub fn parse_bool(s: &str) -> Result<bool> {
    parse_bool_param("value", s)
}

/// [`parse_bool`] for the parameter `name`, which the error message names.
pub fn parse_bool_param(name: &'static str, s: &str) -> Result<bool> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Error::invalid(
            name,
            format!("`{}` is not a boolean; use `true` or `false`", shown(s)),
        ))
    }
}

/// Parses a table version parameter: a whole number, 0 or more.
pub fn parse_version_param(name: &'static str, s: &str) -> Result<i64> {
    let v: i64 = s.trim().parse().map_err(|_| {
        Error::invalid(
            name,
            format!("`{}` is not a table version; use a whole number", shown(s)),
        )
    })?;
    if v < 0 {
        return Err(Error::invalid(
            name,
            format!("`{v}` is negative; table versions start at 0"),
        ));
    }
    Ok(v)
}

/// The parameters of `GET …/tables/{table}/changes` (the change data feed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CdfParams {
    /// The first version, inclusive (exactly one of this and `starting_timestamp`).
    pub starting_version: Option<i64>,
    /// The first version committed at or after this time.
    pub starting_timestamp: Option<DateTime<Utc>>,
    /// The last version, inclusive (at most one of this and `ending_timestamp`; neither =
    /// the latest version).
    pub ending_version: Option<i64>,
    /// The last version committed at or before this time.
    pub ending_timestamp: Option<DateTime<Utc>>,
    /// Return historical `metaData` lines too (`includeHistoricalMetadata`).
    pub include_historical_metadata: bool,
}

impl CdfParams {
    /// Reads the `/changes` query parameters: `startingVersion`, `startingTimestamp`,
    /// `endingVersion`, `endingTimestamp`, `includeHistoricalMetadata`. Exactly one start is
    /// required; at most one end; versions are 0 or more; an end before the start (both
    /// versions, or both timestamps) is rejected. Other parameters are ignored.
    pub fn parse(query: &HashMap<String, String>) -> Result<CdfParams> {
        let get = |k: &str| query.get(k).map(String::as_str);
        let starting_version = get("startingVersion")
            .map(|s| parse_version_param("startingVersion", s))
            .transpose()?;
        let starting_timestamp = get("startingTimestamp")
            .map(|s| parse_timestamp_param("startingTimestamp", s))
            .transpose()?;
        let ending_version = get("endingVersion")
            .map(|s| parse_version_param("endingVersion", s))
            .transpose()?;
        let ending_timestamp = get("endingTimestamp")
            .map(|s| parse_timestamp_param("endingTimestamp", s))
            .transpose()?;
        let include_historical_metadata = get("includeHistoricalMetadata")
            .map(|s| parse_bool_param("includeHistoricalMetadata", s))
            .transpose()?
            .unwrap_or(false);

        match (starting_version, starting_timestamp) {
            (None, None) => {
                return Err(Error::conflict(
                    "the change data feed needs a start: give `startingVersion` or \
                     `startingTimestamp`",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Error::conflict(
                    "`startingVersion` and `startingTimestamp` cannot both be set; give one of them",
                ));
            }
            _ => {}
        }
        if ending_version.is_some() && ending_timestamp.is_some() {
            return Err(Error::conflict(
                "`endingVersion` and `endingTimestamp` cannot both be set; give one of them, or \
                 neither for the latest version",
            ));
        }
        if let (Some(start), Some(end)) = (starting_version, ending_version)
            && end < start
        {
            return Err(Error::conflict(format!(
                "`endingVersion` `{end}` is before `startingVersion` `{start}`; give an ending \
                 version at or after the starting one"
            )));
        }
        if let (Some(start), Some(end)) = (starting_timestamp, ending_timestamp)
            && end < start
        {
            return Err(Error::conflict(format!(
                "`endingTimestamp` `{}` is before `startingTimestamp` `{}`; give an ending time \
                 at or after the starting one",
                end.to_rfc3339(),
                start.to_rfc3339()
            )));
        }
        Ok(CdfParams {
            starting_version,
            starting_timestamp,
            ending_version,
            ending_timestamp,
            include_historical_metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let t = utc("2022-01-01T00:00:00Z");
        for s in [
            "2022-01-01T00:00:00Z",
            "2022-01-01T00:00:00.000Z",
            "2022-01-01T02:00:00+02:00",
            "2021-12-31T19:00:00-05:00",
            "2022-01-01T00:00:00",
            "2022-01-01 00:00:00",
            "2022-01-01 00:00:00.0",
            "2022-1-1 00:00:00",
            "2022-01-01 00:00:00Z",
            "2022-01-01 02:00:00+02:00",
            "2022-01-01T02:00:00+0200",
            "2022-01-01",
            " 2022-01-01T00:00:00Z ",
        ] {
            assert_eq!(parse_timestamp(s).unwrap(), t, "{s}");
        }
        assert_eq!(
            parse_timestamp("2022-01-01T00:00:00.123456Z").unwrap(),
            utc("2022-01-01T00:00:00.123456Z")
        );
        assert_eq!(
            parse_timestamp("2022-01-01 00:00:00.5").unwrap(),
            utc("2022-01-01T00:00:00.5Z")
        );
    }

    #[test]
    fn bad_timestamps_name_the_parameter() {
        for s in [
            "",
            "yesterday",
            "2022-13-01T00:00:00Z",
            "1652140800000",
            "2022-01-01T25:00:00Z",
        ] {
            let e = parse_timestamp(s).unwrap_err();
            assert!(e.to_string().starts_with("invalid `timestamp`"), "{e}");
        }
        let e = parse_timestamp_param("startingTimestamp", "x").unwrap_err();
        assert!(e.to_string().contains("`startingTimestamp`"));
    }

    #[test]
    fn booleans_ignore_case() {
        for s in ["true", "True", "TRUE", " true"] {
            assert!(parse_bool(s).unwrap());
        }
        for s in ["false", "False"] {
            assert!(!parse_bool(s).unwrap());
        }
        for s in ["", "1", "yes", "t"] {
            assert!(parse_bool(s).is_err());
        }
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cdf_params_accepts_a_start_and_an_optional_end() {
        let p = CdfParams::parse(&q(&[
            ("startingVersion", "1"),
            ("endingVersion", "3"),
            ("includeHistoricalMetadata", "True"),
            ("somethingNew", "x"),
        ]))
        .unwrap();
        assert_eq!(
            p,
            CdfParams {
                starting_version: Some(1),
                ending_version: Some(3),
                include_historical_metadata: true,
                ..CdfParams::default()
            }
        );
        let p = CdfParams::parse(&q(&[
            ("startingTimestamp", "2022-01-01 00:00:00"),
            ("endingTimestamp", "2022-01-02T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(p.starting_timestamp, Some(utc("2022-01-01T00:00:00Z")));
        assert_eq!(p.ending_timestamp, Some(utc("2022-01-02T00:00:00Z")));
        assert!(!p.include_historical_metadata);
        // Mixed start and end kinds are left to the server, which knows the versions' times.
        let p = CdfParams::parse(&q(&[
            ("startingVersion", "5"),
            ("endingTimestamp", "2020-01-01T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(p.starting_version, Some(5));
    }

    #[test]
    fn cdf_params_errors_name_the_parameter() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "`startingVersion` or `startingTimestamp`"),
            (
                &[
                    ("startingVersion", "1"),
                    ("startingTimestamp", "2022-01-01T00:00:00Z"),
                ],
                "cannot both be set",
            ),
            (
                &[
                    ("startingVersion", "1"),
                    ("endingVersion", "2"),
                    ("endingTimestamp", "2022-01-01T00:00:00Z"),
                ],
                "`endingVersion` and `endingTimestamp`",
            ),
            (&[("startingVersion", "-1")], "invalid `startingVersion`"),
            (&[("startingVersion", "one")], "invalid `startingVersion`"),
            (
                &[("startingVersion", "1"), ("endingVersion", "-2")],
                "invalid `endingVersion`",
            ),
            (
                &[("startingVersion", "3"), ("endingVersion", "2")],
                "is before `startingVersion`",
            ),
            (
                &[
                    ("startingTimestamp", "2022-01-02T00:00:00Z"),
                    ("endingTimestamp", "2022-01-01T00:00:00Z"),
                ],
                "is before `startingTimestamp`",
            ),
            (
                &[("startingTimestamp", "soon")],
                "invalid `startingTimestamp`",
            ),
            (
                &[("startingVersion", "1"), ("includeHistoricalMetadata", "1")],
                "invalid `includeHistoricalMetadata`",
            ),
        ];
        for (pairs, needle) in cases {
            let e = CdfParams::parse(&q(pairs)).unwrap_err();
            assert!(e.to_string().contains(needle), "{pairs:?}: {e}");
        }
    }
}
