//! How a multi-tenant table's rows map to tenants (docs/design/ACCESS.md §Tenant isolation):
//! the tenant key column, the tenant of a key, and the restrictive filters that scope a read
//! to the keys under a prefix.

/// The partition column of multi-tenant tables.
pub const TENANT_COLUMN: &str = "tenant";

/// How a table's rows map to tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    /// The column holding each row's key, e.g. `item_id` with values `tenant1-17`.
    pub key_column: String,
    /// The tenant is the key's part before this separator; `None` = the whole key.
    pub separator: Option<String>,
}

impl Tenancy {
    /// The tenant of a key.
    pub fn tenant_of<'a>(&self, key: &'a str) -> &'a str {
        match &self.separator {
            Some(sep) => key.split_once(sep.as_str()).map_or(key, |(t, _)| t),
            None => key,
        }
    }

    /// Whether `key` lies inside a credential's key prefix. The prefix is compared at the
    /// tenant separator, never as a bare string prefix (docs/design/MASKS_AND_WEBHOOKS.md
    /// §Key prefixes stop at the tenant separator): a prefix that ends with the separator (`tenant1-`) covers the keys that
    /// start with it; any other prefix names a whole tenant or key (`tenant1`, `tenant1-17`)
    /// and covers that key and the keys that continue it after a separator (`tenant1-…`,
    /// `tenant1-17-…`). Where the whole key is the tenant (no separator), a prefix covers
    /// exactly the key it names. So `tenant1` never covers `tenant10-3`.
    pub fn key_in_prefix(&self, key: &str, prefix: &str) -> bool {
        match self.separator.as_deref() {
            Some(sep) if !sep.is_empty() && prefix.ends_with(sep) => key.starts_with(prefix),
            Some(sep) if !sep.is_empty() => {
                key == prefix || key.strip_prefix(prefix).is_some_and(|r| r.starts_with(sep))
            }
            _ => key == prefix,
        }
    }

    /// The tenant every key inside `prefix` belongs to (`tenant1-` and `tenant1-17` →
    /// `tenant1`; `tenant1` → `tenant1`); used to prune a prefix-scoped read to its files.
    pub fn tenant_of_prefix<'a>(&self, prefix: &'a str) -> &'a str {
        self.tenant_of(prefix)
    }

    /// The restrictive filters (policy expressions) that scope a read to the keys inside
    /// `prefix`, exactly as [`Tenancy::key_in_prefix`] decides, plus the tenant's partition so
    /// the scan reads only its files.
    pub fn prefix_filters(&self, prefix: &str) -> Vec<String> {
        let key = ident(&self.key_column);
        let condition = match self.separator.as_deref() {
            Some(sep) if !sep.is_empty() && prefix.ends_with(sep) => {
                format!("starts_with({key}, {})", literal(prefix))
            }
            Some(sep) if !sep.is_empty() => format!(
                "({key} = {} OR starts_with({key}, {}))",
                literal(prefix),
                literal(&format!("{prefix}{sep}"))
            ),
            _ => format!("{key} = {}", literal(prefix)),
        };
        vec![
            condition,
            format!(
                "{} = {}",
                ident(TENANT_COLUMN),
                literal(self.tenant_of_prefix(prefix))
            ),
        ]
    }
}

/// A column name quoted for a policy expression.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A text literal for a policy expression.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
