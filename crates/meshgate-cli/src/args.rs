//! The shapes of names and values on the command line, checked before any request: the
//! two-part `DOMAIN.PRODUCT` and `DOMAIN.TEAM`, `DOMAIN.PRODUCT.TABLE` and
//! `DOMAIN.PRODUCT.TABLE.COLUMN`, `NAME=PATH` and `NAME=DELTA_URL` assignments, and
//! durations such as `1h30m`. What names are valid is the server's to decide.

use std::path::PathBuf;

/// A two-part name such as `domain.product` or `domain.team`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualified {
    pub outer: String,
    pub inner: String,
}

impl std::fmt::Display for Qualified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.outer, self.inner)
    }
}

fn parse_qualified(shape: &str, example: &str, s: &str) -> Result<Qualified, String> {
    match s.split_once('.') {
        Some((outer, inner)) if !outer.is_empty() && !inner.is_empty() && !inner.contains('.') => {
            Ok(Qualified {
                outer: outer.to_string(),
                inner: inner.to_string(),
            })
        }
        _ => Err(format!("expected `{shape}`, for example `{example}`")),
    }
}

/// Parses `DOMAIN.PRODUCT`.
pub fn parse_product(s: &str) -> Result<Qualified, String> {
    parse_qualified("DOMAIN.PRODUCT", "sales.orders", s)
}

/// Parses `DOMAIN.TEAM`.
pub fn parse_team(s: &str) -> Result<Qualified, String> {
    parse_qualified("DOMAIN.TEAM", "sales.analytics", s)
}

fn split_assignment<'a>(shape: &str, s: &'a str) -> Result<(&'a str, &'a str), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => Ok((name, value)),
        _ => Err(format!("expected `{shape}`")),
    }
}

/// Parses `NAME=PATH` of `--table`.
pub fn parse_table_file(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = split_assignment("NAME=PATH, for example `orders=./orders.csv`", s)?;
    Ok((name.to_string(), PathBuf::from(path)))
}

/// Parses `NAME=DELTA_URL` of `--register`.
pub fn parse_table_location(s: &str) -> Result<(String, String), String> {
    let (name, url) =
        split_assignment("NAME=DELTA_URL, for example `orders=s3://bucket/orders`", s)?;
    Ok((name.to_string(), url.to_string()))
}

/// `DOMAIN.PRODUCT.TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub domain: String,
    pub product: String,
    pub table: String,
}

pub fn parse_table(s: &str) -> Result<TableName, String> {
    let parts: Vec<&str> = s.split('.').collect();
    match parts.as_slice() {
        [d, p, t] if !d.is_empty() && !p.is_empty() && !t.is_empty() => Ok(TableName {
            domain: d.to_string(),
            product: p.to_string(),
            table: t.to_string(),
        }),
        _ => Err("expected `DOMAIN.PRODUCT.TABLE`, for example `sales.orders.orders`".into()),
    }
}

pub fn qualified(t: &TableName) -> String {
    format!("{}.{}.{}", t.domain, t.product, t.table)
}

/// `DOMAIN.PRODUCT.TABLE.COLUMN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnName {
    pub table: TableName,
    pub column: String,
}

pub fn parse_column(s: &str) -> Result<ColumnName, String> {
    match s.rsplit_once('.') {
        Some((table, column)) if !column.is_empty() => {
            let table = parse_table(table).map_err(|_| {
                "expected `DOMAIN.PRODUCT.TABLE.COLUMN`, for example `sales.customers.customers.email`"
                    .to_string()
            })?;
            Ok(ColumnName {
                table,
                column: column.to_string(),
            })
        }
        _ => Err(
            "expected `DOMAIN.PRODUCT.TABLE.COLUMN`, for example `sales.customers.customers.email`"
                .into(),
        ),
    }
}

/// Parses a lifetime such as `1h`, `30m`, `3600s`, `1h30m` or `3600` (seconds) into seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("expected a duration such as `1h`, `30m` or `3600s`, got `{s}`");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut add = |digits: &mut String, unit: u64| -> Result<(), String> {
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
        Ok(())
    };
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            's' => add(&mut digits, 1)?,
            'm' => add(&mut digits, 60)?,
            'h' => add(&mut digits, 3600)?,
            'd' => add(&mut digits, 86_400)?,
            _ => return Err(bad()),
        }
    }
    if !digits.is_empty() {
        add(&mut digits, 1)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_product_and_team_refs() {
        assert_eq!(
            parse_product("sales.orders"),
            Ok(Qualified {
                outer: "sales".into(),
                inner: "orders".into()
            })
        );
        assert_eq!(parse_team("a.b").unwrap().to_string(), "a.b");
        for bad in ["sales", ".orders", "sales.", "a.b.c", ""] {
            let err = parse_product(bad).unwrap_err();
            assert!(err.contains("DOMAIN.PRODUCT"), "{bad}: {err}");
        }
    }

    #[test]
    fn parses_name_assignments() {
        assert_eq!(
            parse_table_file("orders=data/orders.csv").unwrap(),
            ("orders".to_string(), PathBuf::from("data/orders.csv"))
        );
        // Only the first `=` splits: paths and URLs may contain more.
        assert_eq!(
            parse_table_location("t=s3://b/p?x=1").unwrap(),
            ("t".to_string(), "s3://b/p?x=1".to_string())
        );
        for bad in ["orders", "=x.csv", "orders="] {
            assert!(parse_table_file(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_are_three_part_names() {
        let t = parse_table("sales.orders.orders").unwrap();
        assert_eq!((t.domain.as_str(), t.table.as_str()), ("sales", "orders"));
        assert!(parse_table("sales.orders").is_err());
        assert!(parse_table("a..b").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("3600s"), Ok(3600));
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        for bad in ["", "h", "1x", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
