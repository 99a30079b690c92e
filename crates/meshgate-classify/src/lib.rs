//! Automatic PII classification of one column from a sample of its values and its name
//! (issue 17, part 4). Pure functions, no I/O, std only: the server samples up to N values
//! per column on create and append and turns [`Detection`]s into suggested (or, with
//! `classification.mode = apply` and a [`CONFIDENT`] detection, applied) column tags.
//!
//! # What is detected
//!
//! | kind | a value counts when | the column name helps with |
//! |---|---|---|
//! | [`Kind::Email`] | the whole value is `local@domain.tld` (RFC 5322 dot-atom local part, DNS labels, alphabetic TLD) | `email`, `e_mail`, `mail` |
//! | [`Kind::Phone`] | `+` and 8–15 digits (E.164, separators allowed), or 7–15 digits in ≥ 2 groups with `-`, `.`, space or `( )`; dates, SSNs, IPs and amounts are not phones. Bare digit strings count only under a phone-like name | `phone`, `tel`, `mobile`, `cell`, `fax`, `msisdn` |
//! | [`Kind::PaymentCard`] | 13–19 digits (optionally in groups), Luhn check, a known IIN range with a length that range issues | `card`, `cc`, `pan`; names of order/invoice/id/reference/tracking numbers **veto** |
//! | [`Kind::Iban`] | country code, length for that country (ISO 13616 registry), mod-97 = 1 | `iban` |
//! | [`Kind::UsSsn`] | `AAA-GG-SSSS` with area ∉ {000, 666, 900–999}, group ≠ 00, serial ≠ 0000; bare 9 digits only under an SSN-like name | `ssn`, `social_security` |
//! | [`Kind::Ipv4`], [`Kind::Ipv6`] | std's parsers accept it (IPv6 also in brackets or with a zone) | `ip`, `ip_address`, `client_ip`, `remote_addr` |
//! | [`Kind::DateOfBirth`] | a valid calendar date (ISO, `D/M/Y`, `M/D/Y`, `D.M.Y`, or a timestamp at midnight) | `birth`, `dob`, `born`; names of order, event, creation, shipping, hire … dates **veto** |
//! | [`Kind::PersonName`] | 1–4 capitalised words without digits (particles such as `van`, `de`, `bin` allowed; `Last, First` too) | `first_name`, `last_name`, `full_name`, `customer_name`, `contact_name` …; `product_name`, `city`, `company_name` … **veto** |
//! | [`Kind::PostalAddress`] | a house number next to a street word (`12 Main St`, `Hauptstraße 5`, `Calle Mayor 3`, `12 rue …`), or a postcode pattern among words | `address`, `street`, `addr`; `email_address`, `ip_address` **veto** |
//!
//! # How values and names combine
//!
//! Every decision is made over the **non-empty** sampled values (`n`); a column with fewer
//! than [`MIN_VALUES`] of them is judged by its name alone, at [`SUGGEST`] confidence. With
//! enough values, the share `r` of values that match a kind decides: `r` from its floor
//! (0.5 for most kinds) up to 1 maps to a confidence from 0.5 to 0.95, a supporting name adds
//! 0.05 and lowers the floor to 0.3. A name alone never outweighs the values: a column named
//! `email` whose values are not e-mail addresses is not e-mail. So free text with an
//! occasional e-mail address (`r` ≈ 0.02) is never e-mail.
//!
//! The kinds whose values are ambiguous on their own need more:
//! - **payment card** without a card-like name: ≥ 80 % valid, and the values look issued
//!   rather than numbered — printed in groups, or of ≥ 2 card brands, and spread over many
//!   6-digit IINs (a run of order numbers with a Luhn check digit shares a prefix). A name
//!   of an order/invoice/id number vetoes it; 13–19-digit numbers in an `Int64` column count
//!   as cards only under a card-like name.
//! - **date of birth** without a birth-like name: ≥ 90 % dates without a time of day, the
//!   10th–90th percentile of years ≥ 20 years apart, the 10th percentile after 1880 and the
//!   median year ≥ 25 years before the latest date (ages, not recent activity); then at most 0.8 (suggested, never
//!   applied).
//! - **person name** without a person-like name: ≥ 85 % name-shaped and ≥ 30 % starting
//!   with a common given name (a built-in list of a few hundred, several cultures); then at
//!   most 0.85. Under a bare `name` column, at most [`CONFIDENT`] − 0.05 too.
//! - **phone** without a phone-like name: at most 0.9 (bare digit strings never count).
//!
//! [`classify`] returns every detection at or above [`SUGGEST`], best first; a detection at
//! or above [`CONFIDENT`] may be applied without a human.
//!
//! # Evidence never holds a value
//!
//! [`Detection::evidence`] says why in counts, fixed phrases and the column's own name
//! (`412 of 420 non-empty values are e-mail addresses; the column name `email` suggests
//! e-mail`). It is built by [`evidence::Evidence`], which accepts only `&'static str`
//! phrases, numbers and the column name, so no sampled value can reach it; a property test
//! checks that no sampled value appears in it.

mod dates;
mod evidence;
mod finance;
mod formats;
mod given_names;
mod names;
mod people;

pub use evidence::VOCABULARY;

/// A detection at or above this confidence may be applied without a human
/// (`classification.mode = apply`).
pub const CONFIDENT: f64 = 0.9;
/// Detections below this confidence are not returned.
pub const SUGGEST: f64 = 0.5;
/// Fewer non-empty sampled values than this and a column is judged by its name alone.
pub const MIN_VALUES: usize = 10;
/// The tag every detected kind implies (with [`Kind::tag`], e.g. `pii_email`).
pub const PII_TAG: &str = "pii";
/// The classification every detected kind implies (`docs/design/ACCESS.md §Resolution`,
/// tags): personal data is `confidential`; `restricted` is left for owners to choose.
pub const CLASSIFICATION: &str = "confidential";

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    PaymentCard,
    Iban,
    UsSsn,
    Ipv4,
    Ipv6,
    DateOfBirth,
    PersonName,
    PostalAddress,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 10] = [
        Kind::Email,
        Kind::Phone,
        Kind::PaymentCard,
        Kind::Iban,
        Kind::UsSsn,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::DateOfBirth,
        Kind::PersonName,
        Kind::PostalAddress,
    ];

    /// The snake_case name (`payment_card`), as in tags and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::PaymentCard => "payment_card",
            Kind::Iban => "iban",
            Kind::UsSsn => "us_ssn",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::DateOfBirth => "date_of_birth",
            Kind::PersonName => "person_name",
            Kind::PostalAddress => "postal_address",
        }
    }

    /// Parses [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind-specific tag, `pii_<kind>` (a valid tag name: tag masks and searches name it).
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Email => "pii_email",
            Kind::Phone => "pii_phone",
            Kind::PaymentCard => "pii_payment_card",
            Kind::Iban => "pii_iban",
            Kind::UsSsn => "pii_us_ssn",
            Kind::Ipv4 => "pii_ipv4",
            Kind::Ipv6 => "pii_ipv6",
            Kind::DateOfBirth => "pii_date_of_birth",
            Kind::PersonName => "pii_person_name",
            Kind::PostalAddress => "pii_postal_address",
        }
    }

    /// The tags a detection of this kind puts on a column: [`PII_TAG`], the kind's own tag
    /// and the [`CLASSIFICATION`].
    pub fn tags(self) -> [&'static str; 3] {
        [PII_TAG, self.tag(), CLASSIFICATION]
    }

    /// Words for evidence text (`e-mail address`).
    fn noun(self) -> &'static str {
        match self {
            Kind::Email => "e-mail addresses",
            Kind::Phone => "phone numbers",
            Kind::PaymentCard => "payment card numbers",
            Kind::Iban => "IBANs",
            Kind::UsSsn => "US social security numbers",
            Kind::Ipv4 => "IPv4 addresses",
            Kind::Ipv6 => "IPv6 addresses",
            Kind::DateOfBirth => "dates",
            Kind::PersonName => "person names",
            Kind::PostalAddress => "postal addresses",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One column as sampled: its name, its type as text — Arrow's (`Utf8`, `Date32`, `Int64`,
/// `Timestamp(Microsecond, None)` …) or the catalog's (`string`, `date`, `bigint`, `double`,
/// `timestamp` …) — and up to N sampled values as text (`None` for null).
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    pub name: &'a str,
    pub data_type: &'a str,
    pub values: &'a [Option<&'a str>],
}

/// What was found in a column.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub kind: Kind,
    /// 0 to 1; at or above [`CONFIDENT`] it may be applied without a human.
    pub confidence: f64,
    /// Why, in counts, fixed phrases and the column's name; never a sampled value.
    pub evidence: String,
}

impl Detection {
    /// Whether this detection may be applied without a human.
    pub fn is_confident(&self) -> bool {
        self.confidence >= CONFIDENT
    }
}

/// The broad type of a column, from its Arrow type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeClass {
    Text,
    Integer,
    Float,
    Date,
    Timestamp,
    /// Booleans, binaries, nested types: nothing is detected.
    Other,
}

impl TypeClass {
    fn of(data_type: &str) -> TypeClass {
        let t = data_type.trim().to_ascii_lowercase();
        if t.contains("utf8") || t.contains("string") || t == "text" || t.is_empty() {
            TypeClass::Text
        } else if t.starts_with("int")
            || t.starts_with("uint")
            || matches!(
                t.as_str(),
                "bigint" | "smallint" | "tinyint" | "long" | "short"
            )
        {
            TypeClass::Integer
        } else if t.starts_with("float") || t.starts_with("decimal") || t == "double" {
            TypeClass::Float
        } else if t.starts_with("date") {
            TypeClass::Date
        } else if t.starts_with("timestamp") {
            TypeClass::Timestamp
        } else {
            TypeClass::Other
        }
    }
}

/// A column prepared once for every detector: trimmed non-empty values and the name's hints.
pub(crate) struct Prepared<'a> {
    pub name: &'a str,
    pub hints: names::Hints,
    pub type_class: TypeClass,
    pub values: Vec<&'a str>,
}

impl Prepared<'_> {
    pub fn n(&self) -> usize {
        self.values.len()
    }

    /// How many values satisfy `f`.
    pub fn count(&self, f: impl Fn(&str) -> bool) -> usize {
        self.values.iter().filter(|v| f(v)).count()
    }
}

/// Confidence from the share `r` of matching values: `floor` maps to 0.5, 1 to 0.95.
pub(crate) fn from_ratio(r: f64, floor: f64) -> f64 {
    if r < floor || floor >= 1.0 {
        return 0.0;
    }
    0.5 + 0.45 * ((r - floor) / (1.0 - floor)).clamp(0.0, 1.0)
}

/// Every detection at or above [`SUGGEST`], best first (ties in [`Kind::ALL`] order).
pub fn classify(column: &Column) -> Vec<Detection> {
    let type_class = TypeClass::of(column.data_type);
    if type_class == TypeClass::Other {
        return Vec::new();
    }
    let prepared = Prepared {
        name: column.name,
        hints: names::Hints::of(column.name),
        type_class,
        values: column
            .values
            .iter()
            .flatten()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect(),
    };
    let mut found: Vec<Detection> = Kind::ALL
        .into_iter()
        .filter_map(|kind| detect(kind, &prepared))
        .filter(|d| d.confidence >= SUGGEST)
        .map(|mut d| {
            d.confidence = (d.confidence.clamp(0.0, 1.0) * 1000.0).round() / 1000.0;
            d
        })
        .collect();
    found.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    found
}

fn detect(kind: Kind, col: &Prepared) -> Option<Detection> {
    let hint = col.hints.get(kind);
    if col.n() < MIN_VALUES {
        if hint != names::Hint::Supports {
            return None;
        }
        let evidence = evidence::Evidence::new()
            .text("the column name ")
            .name(col.name)
            .text(" suggests ")
            .text(kind.noun())
            .text("; only ")
            .num(col.n())
            .text(" non-empty values were sampled, too few to check");
        return Some(Detection {
            kind,
            confidence: SUGGEST,
            evidence: evidence.finish(),
        });
    }
    match kind {
        Kind::Email | Kind::Phone | Kind::UsSsn | Kind::Ipv4 | Kind::Ipv6 => {
            formats::detect(kind, col, hint)
        }
        Kind::PaymentCard => finance::detect_card(col, hint),
        Kind::Iban => finance::detect_iban(col, hint),
        Kind::DateOfBirth => dates::detect(col, hint),
        Kind::PersonName => people::detect_name(col, hint),
        Kind::PostalAddress => people::detect_address(col, hint),
    }
}

/// The common evidence: "`m` of `n` non-empty values are <kind>" and what the name says.
pub(crate) fn share_evidence(
    kind: Kind,
    matched: usize,
    col: &Prepared,
    hint: names::Hint,
) -> evidence::Evidence {
    let e = evidence::Evidence::new()
        .num(matched)
        .text(" of ")
        .num(col.n())
        .text(" non-empty values are ")
        .text(kind.noun());
    match hint {
        names::Hint::Supports => e.text("; the column name ").name(col.name).text(" matches"),
        names::Hint::Weak => e
            .text("; the column name ")
            .name(col.name)
            .text(" is compatible"),
        names::Hint::Contradicts => e
            .text("; the column name ")
            .name(col.name)
            .text(" suggests something else"),
        names::Hint::Neutral => e,
    }
}

/// A detection from the share of matching values and the name, for kinds whose values
/// speak for themselves (`floor` is the share needed without a supporting name).
pub(crate) fn by_share(
    kind: Kind,
    matched: usize,
    col: &Prepared,
    hint: names::Hint,
    floor: f64,
    cap: f64,
) -> Option<Detection> {
    let n = col.n();
    if n == 0 || matched == 0 {
        return None;
    }
    let r = matched as f64 / n as f64;
    let confidence = match hint {
        names::Hint::Supports => (from_ratio(r, 0.3) + 0.05).min(1.0),
        names::Hint::Weak | names::Hint::Neutral => from_ratio(r, floor).min(cap),
        names::Hint::Contradicts => from_ratio(r, floor).min(cap) * 0.85,
    };
    if confidence < SUGGEST {
        return None;
    }
    Some(Detection {
        kind,
        confidence,
        evidence: share_evidence(kind, matched, col, hint).finish(),
    })
}

#[cfg(test)]
mod tests;
