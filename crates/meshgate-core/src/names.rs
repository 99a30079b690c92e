//! Names chosen by users (domains, teams, products, tables, principals) become SQL identifiers
//! and URL path segments, so they are restricted to a safe, unambiguous alphabet.

use crate::{Error, Result};

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 63;

/// Checks a principal's name: like [`validate`], and `-` is allowed too (principal names are
/// never SQL identifiers; service names such as `item-service` are common).
pub fn validate_principal(value: &str) -> Result<()> {
    let underscored = value.replace('-', "_");
    if value.starts_with('-') || value.ends_with('-') {
        return Err(Error::InvalidName {
            what: "principal name",
            value: value.chars().take(80).collect(),
            reason: "it may not start or end with `-`".into(),
        });
    }
    validate("principal name", &underscored).map_err(|e| match e {
        Error::InvalidName { what, reason, .. } => Error::InvalidName {
            what,
            value: value.chars().take(80).collect(),
            reason: reason.replace("letters, digits and `_`", "letters, digits, `_` and `-`"),
        },
        other => other,
    })
}

/// Checks `value` is a valid name for `what`: lowercase ASCII letters, digits and `_`,
/// starting with a letter, at most [`MAX_NAME_LEN`] bytes.
pub fn validate(what: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("it is empty; use lowercase letters, digits and `_`, starting with a letter".into())
    } else if value.len() > MAX_NAME_LEN {
        Some(format!(
            "it is {} bytes long; use at most {MAX_NAME_LEN}",
            value.len()
        ))
    } else if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("it must start with a lowercase letter `a`-`z`".into())
    } else {
        value
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
            .map(|bad| {
                format!(
                    "it contains `{}`; use only lowercase letters, digits and `_` (for example `{}`)",
                    bad.escape_default(),
                    suggest(value)
                )
            })
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            value: value.chars().take(80).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A valid name close to `value`, offered in error messages.
fn suggest(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert(0, 'x');
    }
    out.truncate(MAX_NAME_LEN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_identifiers() {
        for ok in ["sales", "orders_2024", "a", "x1_y2"] {
            assert!(validate("product", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names_with_a_fix() {
        let err = validate("product", "my orders").unwrap_err().to_string();
        assert!(err.contains("`my_orders`"), "{err}");
        for bad in [
            "",
            "1abc",
            "Orders",
            "a;drop",
            "a\"b",
            "a-b",
            &"a".repeat(64),
        ] {
            assert!(validate("product", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn principal_names_may_have_dashes() {
        assert!(validate_principal("item-service").is_ok());
        assert!(validate_principal("item_service2").is_ok());
        assert!(validate_principal("-x").is_err());
        assert!(validate_principal("x-").is_err());
        assert!(validate_principal("Item-service").is_err());
        let err = validate_principal("a b").unwrap_err().to_string();
        assert!(err.contains("`-`"), "{err}");
    }
}
