//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed here, evaluated on the
//! JSON form of a resource (`resource.rs` renders it), so every attribute a resource shows can
//! be filtered on. Attribute names are case-insensitive; string comparisons follow the
//! attribute's `caseExact` (`schema.rs`).
//!
//! Bounded: a filter is at most [`MAX_FILTER_BYTES`] long and nests at most [`MAX_DEPTH`]
//! levels, so no filter can take the stack or much time.

use std::cmp::Ordering;

use serde_json::Value;

use super::error::ScimError;
use super::schema::{self, Attr, Ty};

/// The longest filter (or PATCH path) accepted.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The deepest nesting of parentheses, `not` and value filters.
const MAX_DEPTH: usize = 32;

/// An attribute path: `name`, `name.givenName`, optionally URN-qualified.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN it was qualified with, if any (lowercase).
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A PATCH path: an attribute path, or `attr[filter]` optionally followed by `.sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub urn: Option<String>,
    pub attr: String,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, Op, Value),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter` (whose paths
    /// name its sub-attributes).
    Values(AttrPath, Box<Filter>),
}

fn invalid(message: impl Into<String>) -> ScimError {
    ScimError::bad("invalidFilter", message)
}

fn invalid_path(message: impl Into<String>) -> ScimError {
    ScimError::bad("invalidPath", message)
}

// ----- tokens -----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    LBracket,
    RBracket,
    /// A word: an attribute path, an operator, `and`/`or`/`not`, `true`/`false`/`null`, a
    /// number.
    Word(String),
    Str(String),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, ScimError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            '[' => out.push(Tok::LBracket),
            ']' => out.push(Tok::RBracket),
            '"' => {
                // A JSON string: find its end, then let serde_json unescape it.
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    }
                }
                let end = end.ok_or_else(|| invalid("a string in the filter is not closed"))?;
                let literal = text.get(at..=end).unwrap_or_default();
                let s: String = serde_json::from_str(literal)
                    .map_err(|e| invalid(format!("bad string {literal} in the filter: {e}")))?;
                out.push(Tok::Str(s));
            }
            _ => {
                let mut end = at + c.len_utf8();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                out.push(Tok::Word(text.get(at..end).unwrap_or_default().to_string()));
            }
        }
    }
    Ok(out)
}

/// Splits `urn:…:User:name.givenName` into its URN and its path; a path without a URN is
/// returned as is.
fn split_urn(word: &str) -> (Option<String>, &str) {
    let lower = word.to_ascii_lowercase();
    if !lower.starts_with("urn:") {
        return (None, word);
    }
    // The URN is everything up to the last ':' (attribute names contain no ':').
    match word.rfind(':') {
        Some(i) => (
            Some(lower.get(..i).unwrap_or_default().to_string()),
            word.get(i + 1..).unwrap_or_default(),
        ),
        None => (None, word),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn attr_path(word: &str, make: fn(String) -> ScimError) -> Result<AttrPath, ScimError> {
    let (urn, rest) = split_urn(word);
    let mut parts = rest.splitn(2, '.');
    let attr = parts.next().unwrap_or_default();
    let sub = parts.next();
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(make(format!("`{word}` is not an attribute path")));
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    })
}

fn op_of(word: &str) -> Option<Op> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "co" => Op::Co,
        "sw" => Op::Sw,
        "ew" => Op::Ew,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        _ => return None,
    })
}

// ----- parsing -----

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "the filter nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.next();
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            self.next();
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if self.keyword("not") {
            self.next();
            if self.next() != Some(Tok::Open) {
                return Err(invalid("`not` must be followed by a parenthesised filter"));
            }
            let inner = self.or(depth + 1)?;
            if self.next() != Some(Tok::Close) {
                return Err(invalid("a `(` of the filter is not closed"));
            }
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Tok::Open) => {
                let inner = self.or(depth + 1)?;
                if self.next() != Some(Tok::Close) {
                    return Err(invalid("a `(` of the filter is not closed"));
                }
                Ok(inner)
            }
            Some(Tok::Word(word)) => self.comparison(&word, depth),
            Some(other) => Err(invalid(format!(
                "expected an attribute path, found {}",
                describe(&other)
            ))),
            None => Err(invalid("the filter ends where an expression was expected")),
        }
    }

    fn comparison(&mut self, word: &str, depth: usize) -> Result<Filter, ScimError> {
        let path = attr_path(word, invalid)?;
        if self.peek() == Some(&Tok::LBracket) {
            self.next();
            if path.sub.is_some() {
                return Err(invalid(format!(
                    "`{word}[…]`: a value filter follows an attribute, not a sub-attribute"
                )));
            }
            let inner = self.or(depth + 1)?;
            if self.next() != Some(Tok::RBracket) {
                return Err(invalid("a `[` of the filter is not closed"));
            }
            return Ok(Filter::Values(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Some(Tok::Word(w)) => op_of(&w).ok_or_else(|| {
                invalid(format!(
                    "`{w}` is not an operator: use eq, ne, co, sw, ew, gt, ge, lt, le or pr"
                ))
            })?,
            Some(other) => {
                return Err(invalid(format!(
                    "expected an operator after `{word}`, found {}",
                    describe(&other)
                )));
            }
            None => return Err(invalid(format!("`{word}` has no operator"))),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| {
                        invalid(format!(
                            "`{w}` is not a value: quote strings (\"…\"), or use a number, true, false or null"
                        ))
                    })?,
            },
            Some(other) => {
                return Err(invalid(format!(
                    "expected a value, found {}",
                    describe(&other)
                )));
            }
            None => return Err(invalid(format!("`{word}` has no value to compare with"))),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("the string {s:?}"),
    }
}

/// Parses a filter (`filter=` of a query, a value filter of a PATCH path).
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(invalid(format!(
            "the filter is longer than {MAX_FILTER_BYTES} bytes"
        )));
    }
    if text.trim().is_empty() {
        return Err(invalid("the filter is empty"));
    }
    let mut p = Parser {
        toks: tokenize(text)?,
        at: 0,
    };
    let filter = p.or(0)?;
    if let Some(extra) = p.peek() {
        return Err(invalid(format!(
            "unexpected {} after a complete filter (join expressions with `and` or `or`)",
            describe(extra)
        )));
    }
    Ok(filter)
}

/// Parses an attribute path (of `attributes=`, `sortBy=`).
pub fn parse_attr_path(text: &str) -> Result<AttrPath, ScimError> {
    attr_path(text.trim(), |m| ScimError::bad("invalidValue", m))
}

/// Parses a PATCH path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, optionally
/// URN-qualified.
pub fn parse_patch_path(text: &str) -> Result<PatchPath, ScimError> {
    let text = text.trim();
    if text.len() > MAX_FILTER_BYTES {
        return Err(invalid_path(format!(
            "the path is longer than {MAX_FILTER_BYTES} bytes"
        )));
    }
    let Some(open) = text.find('[') else {
        let p = attr_path(text, invalid_path)?;
        return Ok(PatchPath {
            urn: p.urn,
            attr: p.attr,
            filter: None,
            sub: p.sub,
        });
    };
    let close = text
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or_else(|| invalid_path(format!("`{text}`: a `[` is not closed")))?;
    let head = attr_path(text.get(..open).unwrap_or_default(), invalid_path)?;
    if head.sub.is_some() {
        return Err(invalid_path(format!(
            "`{text}`: a value filter follows an attribute, not a sub-attribute"
        )));
    }
    let filter = parse(text.get(open + 1..close).unwrap_or_default())?;
    let tail = text.get(close + 1..).unwrap_or_default();
    let sub = if tail.is_empty() {
        None
    } else {
        let sub = tail.strip_prefix('.').unwrap_or_default();
        if !valid_name(sub) {
            return Err(invalid_path(format!(
                "`{text}`: `{tail}` after the value filter is not `.subAttribute`"
            )));
        }
        Some(sub.to_string())
    };
    Ok(PatchPath {
        urn: head.urn,
        attr: head.attr,
        filter: Some(filter),
        sub,
    })
}

// ----- evaluation -----

/// The value of `name` in a JSON object, whatever the letter case of the key.
pub fn get_ci<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Whether `resource` (rendered, with the attributes `attrs` describe) matches `filter`.
pub fn matches(filter: &Filter, resource: &Value, attrs: &'static [Attr]) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource, attrs) && matches(b, resource, attrs),
        Filter::Or(a, b) => matches(a, resource, attrs) || matches(b, resource, attrs),
        Filter::Not(f) => !matches(f, resource, attrs),
        Filter::Present(path) => values_at(resource, path, attrs)
            .iter()
            .any(|(v, _)| present(v)),
        Filter::Compare(path, op, expected) => {
            let found = values_at(resource, path, attrs);
            if *op == Op::Ne {
                return !found
                    .iter()
                    .any(|(v, def)| compare(v, Op::Eq, expected, *def));
            }
            found.iter().any(|(v, def)| compare(v, *op, expected, *def))
        }
        Filter::Values(path, inner) => {
            let Some(def) = schema::find(attrs, &path.attr) else {
                return false;
            };
            let Some(value) = get_ci(resource, def.name) else {
                return false;
            };
            let subs = def.sub;
            match value {
                Value::Array(items) => items.iter().any(|item| matches(inner, item, subs)),
                other => matches(inner, other, subs),
            }
        }
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The values `path` names in `resource`, each with its attribute's definition (a
/// multi-valued attribute gives each of its values; a complex multi-valued attribute named
/// without a sub-attribute gives its `value` sub-attributes, as RFC 7644 §3.4.2.2 says).
fn values_at<'v>(
    resource: &'v Value,
    path: &AttrPath,
    attrs: &'static [Attr],
) -> Vec<(&'v Value, Option<&'static Attr>)> {
    let Some(def) = schema::find(attrs, &path.attr) else {
        // `id`, `externalId`, `meta`… are found by name even if the schema lists them apart.
        return get_ci(resource, &path.attr)
            .map(|v| match &path.sub {
                Some(sub) => get_ci(v, sub).map(|s| vec![(s, None)]).unwrap_or_default(),
                None => vec![(v, None)],
            })
            .unwrap_or_default();
    };
    let Some(value) = get_ci(resource, def.name) else {
        return Vec::new();
    };
    let sub_name = match (&path.sub, def.ty) {
        (Some(sub), _) => Some(sub.as_str()),
        (None, Ty::Complex) if def.multi => Some("value"),
        _ => None,
    };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match sub_name {
        None => items.into_iter().map(|v| (v, Some(def))).collect(),
        Some(sub) => {
            let sub_def = schema::find(def.sub, sub);
            items
                .into_iter()
                .filter_map(|item| get_ci(item, sub).map(|v| (v, sub_def)))
                .collect()
        }
    }
}

/// Compares a resource's value with a filter's, by the attribute's type and case rule.
pub fn compare(actual: &Value, op: Op, expected: &Value, def: Option<&Attr>) -> bool {
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            if def.is_some_and(|d| d.ty == Ty::DateTime)
                && let (Ok(a), Ok(b)) = (
                    chrono::DateTime::parse_from_rfc3339(a),
                    chrono::DateTime::parse_from_rfc3339(b),
                )
            {
                return ordered(a.cmp(&b), op);
            }
            let (a, b) = if case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Co => a.contains(&b),
                Op::Sw => a.starts_with(&b),
                Op::Ew => a.ends_with(&b),
                _ => ordered(a.cmp(&b), op),
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                    a.partial_cmp(&b).is_some_and(|o| ordered(o, op))
                }
                _ => false,
            },
            _ => false,
        },
        (Value::Null, Value::Null) => op == Op::Eq,
        _ => false,
    }
}

fn ordered(o: Ordering, op: Op) -> bool {
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        _ => false,
    }
}

/// The value `path` sorts a resource by: its first value, lowercased unless case-exact.
pub fn sort_key(resource: &Value, path: &AttrPath, attrs: &'static [Attr]) -> Option<String> {
    let (v, def) = values_at(resource, path, attrs).into_iter().next()?;
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    Some(if def.is_some_and(|d| d.case_exact) {
        text
    } else {
        text.to_lowercase()
    })
}

/// When `filter` is `attr eq "value"` (the lookup identity providers make before a create),
/// the value.
pub fn equality_on<'f>(filter: &'f Filter, attr: &str) -> Option<&'f str> {
    match filter {
        Filter::Compare(path, Op::Eq, Value::String(v))
            if path.sub.is_none() && path.attr.eq_ignore_ascii_case(attr) =>
        {
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "2819c223", "userName": "Bjensen@Example.com", "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": "2024-05-01T00:00:00Z"}
        })
    }

    fn m(filter: &str) -> bool {
        matches(&parse(filter).unwrap(), &user(), schema::USER.attrs)
    }

    #[test]
    fn filters_match_as_rfc_7644_says() {
        assert!(
            m(r#"userName eq "bjensen@example.com""#),
            "case-insensitive"
        );
        assert!(m(r#"USERNAME Eq "BJENSEN@EXAMPLE.COM""#));
        assert!(!m(r#"userName eq "bjensen""#));
        assert!(m(r#"userName sw "bj" and name.familyName co "ens""#));
        assert!(
            m(r#"emails co "jensen.org""#),
            "a complex multi-valued attribute compares its values"
        );
        assert!(m(r#"emails[type eq "work" and value ew "example.com"]"#));
        assert!(!m(r#"emails[type eq "work" and value ew "jensen.org"]"#));
        assert!(m(r#"not (active eq false) or userName eq "x""#));
        assert!(m("name.givenName pr"));
        assert!(!m("title pr"));
        assert!(m(r#"title ne "boss""#));
        assert!(m(r#"meta.lastModified gt "2024-02-01T00:00:00+01:00""#));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com""#
        ));
        assert!(m(r#"id eq "2819c223""#));
        assert!(m(r#"(userName eq "a\"b") or (active eq true)"#));
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        for (filter, needle) in [
            ("userName", "no operator"),
            (r#"userName is "x""#, "not an operator"),
            (r#"userName eq x"#, "not a value"),
            (r#"(userName eq "x""#, "not closed"),
            (r#"userName eq "x"#, "not closed"),
            (
                r#"userName eq "x" active eq true"#,
                "after a complete filter",
            ),
            ("", "empty"),
            (r#"emails[type eq "work""#, "not closed"),
            ("1abc eq 1", "not an attribute path"),
        ] {
            let err = parse(filter).unwrap_err();
            assert_eq!(err.scim_type, Some("invalidFilter"), "{filter}");
            assert!(err.detail.contains(needle), "{filter}: {}", err.detail);
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().detail.contains("deeper"));
        let long = format!("userName eq \"{}\"", "x".repeat(5000));
        assert!(parse(&long).unwrap_err().detail.contains("longer"));
    }

    #[test]
    fn patch_paths_parse() {
        let p = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(p.attr, "members");
        assert!(p.filter.is_some() && p.sub.is_none());
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));
        let p =
            parse_patch_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert_eq!(
            (p.urn.as_deref(), p.attr.as_str(), p.sub.as_deref()),
            (
                Some("urn:ietf:params:scim:schemas:core:2.0:user"),
                "name",
                Some("givenName")
            )
        );
        assert!(parse_patch_path("emails[type eq \"work\"]x").is_err());
        assert!(parse_patch_path("a b").is_err());
    }
}
