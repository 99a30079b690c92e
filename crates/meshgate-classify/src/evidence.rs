//! Evidence text that cannot hold a sampled value: the builder takes only `&'static str`
//! phrases (from this crate's source), numbers and the column's name.

/// Every word the fixed phrases of evidence use (the property test checks evidence against
/// it: outside the column name, evidence is these words, numbers and punctuation).
pub const VOCABULARY: &[&str] = &[
    "of",
    "non",
    "empty",
    "values",
    "are",
    "e",
    "mail",
    "addresses",
    "phone",
    "numbers",
    "payment",
    "card",
    "iban",
    "ibans",
    "us",
    "social",
    "security",
    "ipv4",
    "ipv6",
    "dates",
    "person",
    "names",
    "postal",
    "the",
    "column",
    "name",
    "matches",
    "is",
    "compatible",
    "suggests",
    "something",
    "else",
    "only",
    "were",
    "sampled",
    "too",
    "few",
    "to",
    "check",
    "printed",
    "in",
    "groups",
    "brands",
    "distinct",
    "digit",
    "issuer",
    "prefixes",
    "without",
    "a",
    "time",
    "day",
    "percentile",
    "years",
    "apart",
    "median",
    "year",
    "before",
    "latest",
    "date",
    "start",
    "with",
    "common",
    "given",
    "ages",
    "not",
    "recent",
    "activity",
    "street",
    "number",
    "postcode",
    "and",
    "or",
    "at",
    "least",
    "bare",
    "digits",
    "under",
    "them",
    "10th",
    "90th",
    "luhn",
    "range",
    "type",
    "e164",
];

/// Evidence under construction.
#[derive(Debug, Default)]
pub struct Evidence(String);

impl Evidence {
    pub fn new() -> Evidence {
        Evidence(String::new())
    }

    /// A fixed phrase from this crate's source.
    pub fn text(mut self, phrase: &'static str) -> Evidence {
        self.0.push_str(phrase);
        self
    }

    /// A count or another number derived from the sample (never a value itself).
    pub fn num(mut self, n: usize) -> Evidence {
        self.0.push_str(&n.to_string());
        self
    }

    /// The column's name, in backticks.
    pub fn name(mut self, column_name: &str) -> Evidence {
        self.0.push('`');
        self.0.push_str(column_name);
        self.0.push('`');
        self
    }

    pub fn finish(self) -> String {
        self.0
    }
}
