//! The access snapshot: what one principal may read, resolved from the rows the store reads
//! for it in one go (`Store::access_rows`). Pure: no I/O, so the rules live in one place and
//! are property-tested against a reference model (`tests/it/snapshot_model.rs`). The server
//! caches the result by policy version and hands it to every data surface (SQL, rows API,
//! Delta Sharing, credentials, files); the engine enforces it. See docs/design/ACCESS.md
//! §Resolution.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use crate::access::{ColumnTags, DataFilter, GrantRule, Mask, RowRule, TagMask};
use crate::credential::TableTenancy;
use crate::model::{DataProduct, FileGrant, Grant, ProductTable};

/// The SQL session's default catalog, where consumers' local names for their shares live.
pub const LOCAL_CATALOG: &str = "meshgate";

/// Everything that decides what one principal reads, as the store holds it. Read in a handful
/// of queries whatever the number of tables (see `Store::access_rows`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessRows {
    /// The policy version read before the rows: the snapshot is valid for it.
    pub policy_version: i64,
    /// The caller's teams, in the order its memberships list them.
    pub teams: Vec<Uuid>,
    /// Names of the groups the caller belongs to (`principal_in_group('g')`).
    pub group_names: Vec<String>,
    /// Products owned by the caller's teams, and the products of granted tables.
    pub products: Vec<DataProduct>,
    /// Every table of an owned product and every granted table.
    pub tables: Vec<ProductTable>,
    /// Domain id → name, for the products above.
    pub domains: BTreeMap<Uuid, String>,
    /// Table grants to the caller or its teams.
    pub grants: Vec<Grant>,
    /// File grants to the caller or its teams.
    pub file_grants: Vec<FileGrant>,
    /// Share item id → the local name the consumer gave its share.
    pub local_names: BTreeMap<Uuid, String>,
    /// The data filters the grants name (a deleted one is simply absent).
    pub data_filters: Vec<DataFilter>,
    /// Row rules by product (for granted products only).
    pub row_rules: BTreeMap<Uuid, Vec<RowRule>>,
    /// Column tags of granted tables.
    pub column_tags: Vec<ColumnTags>,
    /// Every tag mask of the mesh.
    pub tag_masks: Vec<TagMask>,
    /// Tenancies of the tables above.
    pub tenancies: Vec<TableTenancy>,
}

/// One table the principal may read, under one name.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTable {
    /// The catalog the name lives in: the domain, or [`LOCAL_CATALOG`] for a local name.
    pub catalog: String,
    /// The schema: the product, or the local name of the share.
    pub schema: String,
    pub table: ProductTable,
    pub domain_id: Uuid,
    /// The product's own name (also for a local name).
    pub product: String,
    /// The domain's own name (also for a local name).
    pub domain: String,
    /// A local-name entry (another name for a table also listed under its domain).
    pub alias: bool,
    pub access: ResolvedAccess,
    pub tenancy: Option<TableTenancy>,
}

/// What decides the rows, columns and values of one table (the engine's `TableAccess` without
/// the identity and the mask key, which the server adds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedAccess {
    /// The principal's team owns the product: all rows, all columns, no masks.
    pub owner: bool,
    /// Grant rules in force (each data filter is a rule of its own).
    pub grants: Vec<GrantRule>,
    /// The product's row rules; empty for owners.
    pub row_rules: Vec<RowRule>,
    /// Default masks by column from the columns' tags; empty for owners.
    pub tag_masks: BTreeMap<String, Mask>,
}

impl ResolvedAccess {
    /// Whether a `hash` mask can apply, so the mask key is needed.
    pub fn hashes(&self) -> bool {
        self.grants
            .iter()
            .flat_map(|r| r.masks.values())
            .chain(self.tag_masks.values())
            .any(|m| *m == Mask::Hash)
    }
}

/// What the principal may read of one product's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAccess {
    /// Everything (its team's product).
    All,
    /// What these grants cover (possibly nothing).
    Granted(Vec<FileGrant>),
}

/// The resolved snapshot: every readable table under each of its names, and file access.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub policy_version: i64,
    pub group_names: Vec<String>,
    /// Owned tables first (by team, product name, table name), then granted tables (by table
    /// id), then local names.
    pub tables: Vec<ResolvedTable>,
    owned_products: BTreeSet<Uuid>,
    file_grants: Vec<FileGrant>,
}

impl Snapshot {
    /// Whether one of the principal's teams owns the product.
    pub fn owns(&self, product_id: Uuid) -> bool {
        self.owned_products.contains(&product_id)
    }

    /// What the principal may read of `product_id`'s files (ownership or file grants; a
    /// writer's right is the caller's to add).
    pub fn files(&self, product_id: Uuid) -> FileAccess {
        if self.owns(product_id) {
            return FileAccess::All;
        }
        FileAccess::Granted(
            self.file_grants
                .iter()
                .filter(|g| g.product_id == product_id)
                .cloned()
                .collect(),
        )
    }

    /// Whether any entry needs the mesh's mask key.
    pub fn hashes(&self) -> bool {
        self.tables.iter().any(|t| t.access.hashes())
    }

    /// The entry for `domain.product.table` under its domain (not a local name).
    pub fn find(&self, domain: &str, product: &str, table: &str) -> Option<&ResolvedTable> {
        self.tables.iter().find(|t| {
            !t.alias && t.catalog == domain && t.schema == product && t.table.name == table
        })
    }
}

/// Resolves what the rows give. Owners read their products' tables in full whatever they
/// were also granted; all grants on one table resolve together (union of rules); each data
/// filter is a rule of its own and a deleted one gives nothing; a table's tagged columns get
/// their default masks (a domain's tag mask beats a mesh-wide one; different masks from
/// several tags → `null`, failing closed). Nothing is readable without ownership or a grant.
pub fn resolve(rows: &AccessRows) -> Snapshot {
    let products: HashMap<Uuid, &DataProduct> = rows.products.iter().map(|p| (p.id, p)).collect();
    let tables: HashMap<Uuid, &ProductTable> = rows.tables.iter().map(|t| (t.id, t)).collect();
    let tenancy = |table_id: Uuid| {
        rows.tenancies
            .iter()
            .find(|t| t.table_id == table_id)
            .cloned()
    };
    let domain_name = |id: Uuid| {
        rows.domains
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };

    let mut out = Vec::new();
    let mut owned: BTreeSet<Uuid> = BTreeSet::new();
    let mut seen_products: HashSet<Uuid> = HashSet::new();
    for team in &rows.teams {
        let mut mine: Vec<&DataProduct> = rows
            .products
            .iter()
            .filter(|p| p.team_id == *team)
            .collect();
        mine.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        for p in mine {
            if !seen_products.insert(p.id) {
                continue;
            }
            owned.insert(p.id);
            let domain = domain_name(p.domain_id);
            let mut its: Vec<&ProductTable> = rows
                .tables
                .iter()
                .filter(|t| t.product_id == p.id)
                .collect();
            its.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
            for t in its {
                out.push(ResolvedTable {
                    catalog: domain.clone(),
                    schema: p.name.clone(),
                    table: t.clone(),
                    domain_id: p.domain_id,
                    product: p.name.clone(),
                    domain: domain.clone(),
                    alias: false,
                    access: ResolvedAccess {
                        owner: true,
                        ..ResolvedAccess::default()
                    },
                    tenancy: tenancy(t.id),
                });
            }
        }
    }

    let mut by_table: BTreeMap<Uuid, Vec<&Grant>> = BTreeMap::new();
    for g in &rows.grants {
        by_table.entry(g.table_id).or_default().push(g);
    }
    let filters: HashMap<Uuid, &DataFilter> = rows.data_filters.iter().map(|f| (f.id, f)).collect();
    let mut aliases: Vec<ResolvedTable> = Vec::new();
    for (table_id, grants) in by_table {
        let Some(t) = tables.get(&table_id) else {
            continue;
        };
        if owned.contains(&t.product_id) {
            continue;
        }
        let Some(p) = products.get(&t.product_id) else {
            continue;
        };
        let domain = domain_name(p.domain_id);
        let grant_rules = rules_of(&grants, &filters);
        let entry = ResolvedTable {
            catalog: domain.clone(),
            schema: p.name.clone(),
            table: (*t).clone(),
            domain_id: p.domain_id,
            product: p.name.clone(),
            domain,
            alias: false,
            access: ResolvedAccess {
                owner: false,
                grants: grant_rules,
                row_rules: rows.row_rules.get(&p.id).cloned().unwrap_or_default(),
                tag_masks: tag_masks_of(p, table_id, &rows.column_tags, &rows.tag_masks),
            },
            tenancy: tenancy(table_id),
        };
        let mut names: Vec<&String> = grants
            .iter()
            .filter_map(|g| rows.local_names.get(&g.share_item_id))
            .collect();
        names.sort();
        names.dedup();
        for local in names {
            if aliases
                .iter()
                .any(|a| &a.schema == local && a.table.name == entry.table.name)
            {
                continue;
            }
            aliases.push(ResolvedTable {
                catalog: LOCAL_CATALOG.to_string(),
                schema: local.clone(),
                alias: true,
                ..entry.clone()
            });
        }
        out.push(entry);
    }
    out.extend(aliases);
    Snapshot {
        policy_version: rows.policy_version,
        group_names: rows.group_names.clone(),
        tables: out,
        owned_products: owned,
        file_grants: rows.file_grants.clone(),
    }
}

/// The rules of all grants on one table, in grant order: a grant without data filters is one
/// rule; a grant with data filters is one rule per filter that still exists, its columns the
/// intersection of the filter's and the grant's.
fn rules_of(grants: &[&Grant], filters: &HashMap<Uuid, &DataFilter>) -> Vec<GrantRule> {
    let mut rules = Vec::new();
    for g in grants {
        if g.scope.data_filters.is_empty() {
            rules.push(GrantRule {
                columns: g.scope.columns.clone(),
                row_filter: None,
                masks: g.scope.masks.clone(),
            });
            continue;
        }
        for id in &g.scope.data_filters {
            let Some(f) = filters.get(id) else { continue };
            let columns = match (&f.columns, &g.scope.columns) {
                (None, None) => None,
                (Some(a), None) => Some(a.clone()),
                (None, Some(b)) => Some(b.clone()),
                (Some(a), Some(b)) => Some(a.iter().filter(|c| b.contains(c)).cloned().collect()),
            };
            rules.push(GrantRule {
                columns,
                row_filter: f.row_filter.clone(),
                masks: g.scope.masks.clone(),
            });
        }
    }
    rules
}

/// Column → default mask from the table's column tags.
fn tag_masks_of(
    product: &DataProduct,
    table_id: Uuid,
    column_tags: &[ColumnTags],
    masks: &[TagMask],
) -> BTreeMap<String, Mask> {
    let lookup = |tag: &str| -> Option<Mask> {
        masks
            .iter()
            .find(|m| m.tag == tag && m.domain_id == Some(product.domain_id))
            .or_else(|| masks.iter().find(|m| m.tag == tag && m.domain_id.is_none()))
            .map(|m| m.mask.clone())
    };
    let mut out = BTreeMap::new();
    for c in column_tags.iter().filter(|c| c.table_id == table_id) {
        let found: BTreeSet<Mask> = c.tags.iter().filter_map(|t| lookup(t)).collect();
        let mut iter = found.into_iter();
        match (iter.next(), iter.next()) {
            (Some(only), None) => {
                out.insert(c.column.clone(), only);
            }
            (Some(_), Some(_)) => {
                out.insert(c.column.clone(), Mask::Null);
            }
            _ => {}
        }
    }
    out
}
