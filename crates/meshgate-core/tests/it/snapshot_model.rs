//! A model-based property test of the access snapshot's resolution
//! (`meshgate_core::snapshot::resolve`, docs/design/ACCESS.md §Resolution).
//!
//! Random meshes of domains, teams, products, tables, grants (with column lists, masks and
//! data filters, some of them deleted), file grants, local names, row rules, column tags and
//! tag masks are resolved, and the result is checked against a **reference model** written
//! independently: table by table, by linear search over the raw rows, it says what the
//! principal must see. Besides agreeing with the model, the snapshot must deny by default
//! (nothing without ownership or a grant), give owners everything unmasked, list every table
//! once under its domain, and give each local name of a share at most one alias per table.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use meshgate_core::access::{
    ColumnTags, DataFilter, GrantRule, GrantScope, Mask, RowRule, TagMask,
};
use meshgate_core::credential::TableTenancy;
use meshgate_core::model::{DataProduct, FileGrant, Grant, Grantee, Permission, ProductTable};
use meshgate_core::snapshot::{AccessRows, FileAccess, LOCAL_CATALOG, resolve};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

const COLUMNS: [&str; 3] = ["a", "b", "c"];
const TAGS: [&str; 2] = ["pii", "fin"];

fn id(rng: &mut StdRng) -> Uuid {
    Uuid::from_u128(rng.r#gen())
}

fn mask(rng: &mut StdRng) -> Mask {
    [
        Mask::Redact,
        Mask::Null,
        Mask::Hash,
        Mask::ShowLast4,
        Mask::None,
    ][rng.gen_range(0..5)]
    .clone()
}

fn some_columns(rng: &mut StdRng) -> Option<Vec<String>> {
    if rng.gen_bool(0.5) {
        return None;
    }
    Some(
        COLUMNS
            .iter()
            .filter(|_| rng.gen_bool(0.6))
            .map(|c| c.to_string())
            .collect(),
    )
}

/// A random mesh as the store would return it for one principal.
fn mesh(seed: u64) -> AccessRows {
    let rng = &mut StdRng::seed_from_u64(seed);
    let now = Utc::now();
    let domains: Vec<Uuid> = (0..2).map(|_| id(rng)).collect();
    let all_teams: Vec<Uuid> = (0..4).map(|_| id(rng)).collect();
    // The caller's memberships: a few teams, possibly one twice (two roles).
    let mut teams: Vec<Uuid> = all_teams[..3]
        .iter()
        .copied()
        .filter(|_| rng.gen_bool(0.4))
        .collect();
    if let Some(&t) = teams.first()
        && rng.gen_bool(0.2)
    {
        teams.push(t);
    }
    let products: Vec<DataProduct> = (0..rng.gen_range(1..6))
        .map(|i| DataProduct {
            id: id(rng),
            domain_id: *domains.choose(rng).unwrap(),
            team_id: *all_teams.choose(rng).unwrap(),
            name: format!("p{}", i % 3),
            description: String::new(),
            created_at: now,
            updated_at: now,
            listing: Default::default(),
            revision: 1,
        })
        .collect();
    let mut tables = Vec::new();
    for p in &products {
        for i in 0..rng.gen_range(0..4) {
            tables.push(ProductTable {
                id: id(rng),
                product_id: p.id,
                name: format!("t{i}"),
                description: String::new(),
                location: format!("file:///data/{}/{i}", p.id),
                managed: true,
                columns: Vec::new(),
                created_at: now,
            });
        }
    }
    let mut data_filters = Vec::new();
    let mut filter_ids = Vec::new();
    for _ in 0..3 {
        let fid = id(rng);
        filter_ids.push(fid);
        // Some filters were deleted: named by grants, absent from the rows.
        if rng.gen_bool(0.7)
            && let Some(t) = tables.choose(rng)
        {
            data_filters.push(DataFilter {
                id: fid,
                product_id: t.product_id,
                table_id: t.id,
                name: format!("f{}", data_filters.len()),
                description: String::new(),
                row_filter: if rng.gen_bool(0.7) {
                    Some(format!("a = '{}'", rng.gen_range(0..9)))
                } else {
                    None
                },
                columns: some_columns(rng),
                created_by: id(rng),
                created_at: now,
                updated_at: now,
            });
        }
    }
    let principal = id(rng);
    let grantee = |rng: &mut StdRng| {
        if rng.gen_bool(0.5) || teams.is_empty() {
            Grantee::Principal(principal)
        } else {
            Grantee::Team(*teams.choose(rng).unwrap())
        }
    };
    let mut grants = Vec::new();
    let mut local_names = BTreeMap::new();
    for _ in 0..rng.gen_range(0..7) {
        let Some(t) = tables.choose(rng) else { break };
        let item = id(rng);
        if rng.gen_bool(0.4) {
            local_names.insert(item, ["x", "y"][rng.gen_range(0..2)].to_string());
        }
        let mut masks = BTreeMap::new();
        for c in COLUMNS {
            if rng.gen_bool(0.25) {
                masks.insert(c.to_string(), mask(rng));
            }
        }
        grants.push(Grant {
            id: id(rng),
            share_item_id: item,
            grantee: grantee(rng),
            table_id: t.id,
            permission: Permission::Read,
            scope: GrantScope {
                data_filters: filter_ids
                    .iter()
                    .copied()
                    .filter(|_| rng.gen_bool(0.3))
                    .collect(),
                columns: some_columns(rng),
                masks,
            },
            created_at: now,
        });
    }
    let file_grants: Vec<FileGrant> = (0..rng.gen_range(0..3))
        .map(|_| FileGrant {
            id: id(rng),
            share_item_id: id(rng),
            grantee: grantee(rng),
            product_id: products.choose(rng).unwrap().id,
            prefix: "docs/".into(),
            created_at: now,
        })
        .collect();
    let mut row_rules = BTreeMap::new();
    for p in &products {
        if rng.gen_bool(0.3) {
            row_rules.insert(
                p.id,
                vec![RowRule {
                    user_name: Some("u".into()),
                    group_name: None,
                    values: BTreeMap::from([("a".to_string(), vec!["1".to_string()])]),
                }],
            );
        }
    }
    let mut column_tags = Vec::new();
    for t in &tables {
        for c in COLUMNS {
            if rng.gen_bool(0.3) {
                column_tags.push(ColumnTags {
                    table_id: t.id,
                    column: c.to_string(),
                    tags: TAGS
                        .iter()
                        .filter(|_| rng.gen_bool(0.6))
                        .map(|s| s.to_string())
                        .collect(),
                });
            }
        }
    }
    let mut tag_masks = Vec::new();
    for tag in TAGS {
        for d in [None, Some(domains[0]), Some(domains[1])] {
            if rng.gen_bool(0.4) {
                tag_masks.push(TagMask {
                    id: id(rng),
                    domain_id: d,
                    tag: tag.to_string(),
                    mask: mask(rng),
                    created_at: now,
                });
            }
        }
    }
    let tenancies = tables
        .iter()
        .filter(|_| rng.gen_bool(0.3))
        .map(|t| TableTenancy {
            table_id: t.id,
            key_column: "a".into(),
            separator: Some("/".into()),
        })
        .collect();
    AccessRows {
        policy_version: rng.gen_range(1..100),
        teams,
        group_names: vec!["g".into()],
        domains: domains
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, format!("d{i}")))
            .collect(),
        products,
        tables,
        grants,
        file_grants,
        local_names,
        data_filters,
        row_rules,
        column_tags,
        tag_masks,
        tenancies,
    }
}

// ----- the reference model -----

/// What the principal must see of one table under its domain, or `None`.
#[derive(Debug, PartialEq)]
struct Expected {
    catalog: String,
    schema: String,
    owner: bool,
    grants: Vec<GrantRule>,
    row_rules: Vec<RowRule>,
    tag_masks: BTreeMap<String, Mask>,
    tenancy: Option<TableTenancy>,
}

fn model(rows: &AccessRows, table: &ProductTable) -> Option<Expected> {
    let product = rows.products.iter().find(|p| p.id == table.product_id)?;
    let catalog = rows.domains.get(&product.domain_id).cloned()?;
    let tenancy = rows
        .tenancies
        .iter()
        .find(|t| t.table_id == table.id)
        .cloned();
    if rows.teams.contains(&product.team_id) {
        return Some(Expected {
            catalog,
            schema: product.name.clone(),
            owner: true,
            grants: vec![],
            row_rules: vec![],
            tag_masks: BTreeMap::new(),
            tenancy,
        });
    }
    let mine: Vec<&Grant> = rows
        .grants
        .iter()
        .filter(|g| g.table_id == table.id)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut grants = Vec::new();
    for g in mine {
        if g.scope.data_filters.is_empty() {
            grants.push(GrantRule {
                columns: g.scope.columns.clone(),
                row_filter: None,
                masks: g.scope.masks.clone(),
            });
        }
        for fid in &g.scope.data_filters {
            let Some(f) = rows.data_filters.iter().find(|f| f.id == *fid) else {
                continue;
            };
            let columns = match (&f.columns, &g.scope.columns) {
                (Some(a), Some(b)) => Some(a.iter().filter(|c| b.contains(c)).cloned().collect()),
                (Some(a), None) => Some(a.clone()),
                (None, b) => b.clone(),
            };
            grants.push(GrantRule {
                columns,
                row_filter: f.row_filter.clone(),
                masks: g.scope.masks.clone(),
            });
        }
    }
    let mut tag_masks = BTreeMap::new();
    for c in rows.column_tags.iter().filter(|c| c.table_id == table.id) {
        let mut found = BTreeSet::new();
        for tag in &c.tags {
            let domain = rows
                .tag_masks
                .iter()
                .find(|m| &m.tag == tag && m.domain_id == Some(product.domain_id));
            let mesh = rows
                .tag_masks
                .iter()
                .find(|m| &m.tag == tag && m.domain_id.is_none());
            if let Some(m) = domain.or(mesh) {
                found.insert(m.mask.clone());
            }
        }
        match found.len() {
            0 => {}
            1 => {
                tag_masks.insert(c.column.clone(), found.into_iter().next().unwrap());
            }
            _ => {
                tag_masks.insert(c.column.clone(), Mask::Null);
            }
        }
    }
    Some(Expected {
        catalog,
        schema: product.name.clone(),
        owner: false,
        grants,
        row_rules: rows.row_rules.get(&product.id).cloned().unwrap_or_default(),
        tag_masks,
        tenancy,
    })
}

fn check(seed: u64) {
    let rows = mesh(seed);
    let snap = resolve(&rows);
    assert_eq!(snap.policy_version, rows.policy_version);
    assert_eq!(snap.group_names, rows.group_names);

    // Every table: exactly what the model says, once, under its domain.
    for t in &rows.tables {
        let got: Vec<_> = snap
            .tables
            .iter()
            .filter(|r| !r.alias && r.table.id == t.id)
            .collect();
        match model(&rows, t) {
            None => assert!(
                got.is_empty(),
                "seed {seed}: {} visible without a grant",
                t.name
            ),
            Some(want) => {
                assert_eq!(
                    got.len(),
                    1,
                    "seed {seed}: {} listed {} times",
                    t.name,
                    got.len()
                );
                let r = got[0];
                let have = Expected {
                    catalog: r.catalog.clone(),
                    schema: r.schema.clone(),
                    owner: r.access.owner,
                    grants: r.access.grants.clone(),
                    row_rules: r.access.row_rules.clone(),
                    tag_masks: r.access.tag_masks.clone(),
                    tenancy: r.tenancy.clone(),
                };
                assert_eq!(have, want, "seed {seed}: table {}", t.name);
                assert_eq!(r.domain, r.catalog);
                assert_eq!(r.product, r.schema);
            }
        }
    }
    // Nothing that is not a table of the rows.
    for r in &snap.tables {
        assert!(
            rows.tables.iter().any(|t| t.id == r.table.id),
            "seed {seed}"
        );
    }

    // Local names: exactly one alias per (local name, table name) among the granted tables
    // that carry it, with that table's access.
    let mut expected_aliases: BTreeSet<(String, String)> = BTreeSet::new();
    for g in &rows.grants {
        let Some(local) = rows.local_names.get(&g.share_item_id) else {
            continue;
        };
        let Some(t) = rows.tables.iter().find(|t| t.id == g.table_id) else {
            continue;
        };
        if model(&rows, t).is_some_and(|e| !e.owner) {
            expected_aliases.insert((local.clone(), t.name.clone()));
        }
    }
    let aliases: Vec<_> = snap.tables.iter().filter(|r| r.alias).collect();
    let got: BTreeSet<(String, String)> = aliases
        .iter()
        .map(|r| (r.schema.clone(), r.table.name.clone()))
        .collect();
    assert_eq!(got.len(), aliases.len(), "seed {seed}: duplicate alias");
    assert_eq!(got, expected_aliases, "seed {seed}");
    for a in &aliases {
        assert_eq!(a.catalog, LOCAL_CATALOG);
        let original = model(&rows, &a.table).unwrap();
        assert!(!original.owner);
        assert_eq!(
            a.access.grants, original.grants,
            "seed {seed}: alias access"
        );
        assert!(
            rows.grants.iter().any(|g| g.table_id == a.table.id
                && rows.local_names.get(&g.share_item_id) == Some(&a.schema)),
            "seed {seed}: alias without a grant carrying its name"
        );
    }

    // Files: everything of an owned product, else exactly the file grants on it.
    for p in &rows.products {
        let owned = rows.teams.contains(&p.team_id);
        assert_eq!(snap.owns(p.id), owned);
        match snap.files(p.id) {
            FileAccess::All => assert!(owned, "seed {seed}"),
            FileAccess::Granted(gs) => {
                assert!(!owned);
                let want: Vec<&FileGrant> = rows
                    .file_grants
                    .iter()
                    .filter(|g| g.product_id == p.id)
                    .collect();
                assert_eq!(gs.iter().collect::<Vec<_>>(), want);
            }
        }
    }

    // The mask key is asked for exactly where a hash can apply.
    let hashes = snap.tables.iter().any(|r| {
        r.access
            .grants
            .iter()
            .flat_map(|g| g.masks.values())
            .chain(r.access.tag_masks.values())
            .any(|m| *m == Mask::Hash)
    });
    assert_eq!(snap.hashes(), hashes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn resolution_agrees_with_the_reference_model(seed in any::<u64>()) {
        check(seed);
    }
}

#[test]
fn nothing_is_visible_without_ownership_or_a_grant() {
    let mut rows = mesh(7);
    rows.teams.clear();
    rows.grants.clear();
    let snap = resolve(&rows);
    assert!(snap.tables.is_empty());
    for p in &rows.products {
        assert!(!snap.owns(p.id));
    }
}

#[test]
fn an_owner_reads_in_full_whatever_it_was_also_granted() {
    for seed in 0..200 {
        let mut rows = mesh(seed);
        let Some(p) = rows.products.first().cloned() else {
            continue;
        };
        rows.teams = vec![p.team_id];
        let snap = resolve(&rows);
        for r in snap.tables.iter().filter(|r| r.table.product_id == p.id) {
            assert!(
                !r.alias,
                "an owned table is never listed under a local name"
            );
            assert!(r.access.owner);
            assert!(r.access.grants.is_empty() && r.access.tag_masks.is_empty());
        }
    }
}
