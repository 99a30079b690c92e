//! The quickstart's demo mesh (`meshgate quickstart`), also the fixture the server's and
//! the CLI's tests build on.
//!
//! The demo mesh is deterministic: the same domains, teams, people and generated rows every
//! time (seeded generator). Seeding is idempotent — re-running it on an existing data dir
//! reuses what is there — and the demo tokens are kept in `quickstart-tokens.json` in the
//! data dir (readable only by its owner) so a second run can print them again.
//!
//! Besides the sales/marketing story it seeds the tenant-isolation demo of docs/design/ACCESS.md: a
//! service principal `item-service`, steward of `apps.platform`, and a multi-tenant product
//! `apps.items` whose table `items` is keyed by `item_id` (`tenant3-1`, …). Only tenant3 has
//! rows; the tour creates tenant1's and tenant2's through tenant-scoped credentials.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use meshgate_core::access::{DataFilter, Mask, TagMask};
use meshgate_core::credential::TableTenancy;
use meshgate_core::model::{
    DataProduct, Domain, NewAuditEvent, Principal, PrincipalKind, ProductTable, Team, TeamMember,
    TeamRole, new_id,
};
use meshgate_engine::arrow::array::{
    Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use meshgate_engine::arrow::datatypes::{DataType, Field, Schema};
use meshgate_engine::ingest;
use meshgate_engine::rows::{Tenancy, create_tenant_table};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use meshgate_server::AppState;
use meshgate_server::catalog::suggestions::{Writer, after_create};
use meshgate_server::error::ApiError;
use meshgate_server::identity::issue_token;
use meshgate_server::mesh::ensure_principal;

pub mod catalog;

async fn ensure_domain(
    state: &AppState,
    name: &str,
    description: &str,
) -> Result<Domain, ApiError> {
    if let Some(d) = state.store.get_domain_by_name(name).await? {
        return Ok(d);
    }
    let d = Domain {
        id: new_id(),
        name: name.to_string(),
        description: description.to_string(),
        producer: true,
        consumer: true,
        created_at: Utc::now(),
        parent_id: None,
    };
    let event = NewAuditEvent::new(None, "domain.create", "domain", Some(d.id.to_string()))
        .with_detail(json!({"name": name, "by": "seed"}));
    state.store.create_domain(&d, event).await?;
    Ok(d)
}

async fn ensure_team(
    state: &AppState,
    domain: &Domain,
    name: &str,
    members: &[(&Principal, TeamRole)],
) -> Result<Team, ApiError> {
    let team = match state.store.get_team_by_name(domain.id, name).await? {
        Some(t) => t,
        None => {
            let t = Team {
                id: new_id(),
                domain_id: domain.id,
                name: name.to_string(),
                description: format!("the {name} team of {}", domain.name),
                created_at: Utc::now(),
            };
            let event = NewAuditEvent::new(None, "team.create", "team", Some(t.id.to_string()))
                .with_detail(json!({"name": name, "by": "seed"}));
            state.store.create_team(&t, event).await?;
            t
        }
    };
    let existing = state.store.list_team_members(team.id).await?;
    for (p, role) in members {
        if existing.iter().any(|m| m.principal_id == p.id) {
            continue;
        }
        let event = NewAuditEvent::new(None, "team.put_member", "team", Some(team.id.to_string()))
            .with_detail(json!({"principal": p.name, "role": role, "by": "seed"}));
        state
            .store
            .put_team_member(
                &TeamMember {
                    team_id: team.id,
                    principal_id: p.id,
                    role: *role,
                },
                event,
            )
            .await?;
    }
    Ok(team)
}

/// Deterministic demo orders: id, customer email, region, amount, date.
pub fn generate_orders(rows: usize, seed: u64) -> Result<RecordBatch, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    const REGIONS: [&str; 4] = ["eu", "us", "apac", "latam"];
    let base = 20089; // 2025-01-01 in days since the epoch
    let mut ids = Vec::with_capacity(rows);
    let mut emails = Vec::with_capacity(rows);
    let mut regions = Vec::with_capacity(rows);
    let mut amounts = Vec::with_capacity(rows);
    let mut dates = Vec::with_capacity(rows);
    for i in 0..rows {
        let customer = rng.gen_range(1..=5000);
        ids.push(i as i64 + 1);
        emails.push(format!("customer{customer}@example.com"));
        regions.push(REGIONS[customer % REGIONS.len()]);
        amounts.push((rng.gen_range(500..50_000) as f64) / 100.0);
        dates.push(base + rng.gen_range(0..365));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_email", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("order_date", DataType::Date32, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(emails)),
            Arc::new(StringArray::from(regions)),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(Date32Array::from(dates)),
        ],
    )
    .map_err(|e| e.to_string())
}

/// Deterministic demo customers: id, email, name, region.
pub fn generate_customers(rows: usize) -> Result<RecordBatch, String> {
    const REGIONS: [&str; 4] = ["eu", "us", "apac", "latam"];
    const FIRST: [&str; 8] = [
        "ada", "alan", "grace", "linus", "margaret", "dennis", "barbara", "ken",
    ];
    let ids: Vec<i64> = (1..=rows as i64).collect();
    let emails: Vec<String> = (1..=rows)
        .map(|c| format!("customer{c}@example.com"))
        .collect();
    let names: Vec<String> = (1..=rows)
        .map(|c| format!("{} {}", FIRST[c % FIRST.len()], c))
        .collect();
    let regions: Vec<&str> = (1..=rows).map(|c| REGIONS[c % REGIONS.len()]).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(emails)),
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(regions)),
        ],
    )
    .map_err(|e| e.to_string())
}

/// Deterministic demo items of one tenant: key `<tenant>-<n>`, name, quantity, price.
pub fn generate_items(tenant: &str) -> Result<RecordBatch, String> {
    const ITEMS: [(&str, i64, f64); 3] = [
        ("anchor bolt", 120, 0.35),
        ("hex nut", 400, 0.05),
        ("hinge", 35, 2.4),
    ];
    let keys: Vec<String> = (1..=ITEMS.len()).map(|n| format!("{tenant}-{n}")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("qty", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(StringArray::from(
                ITEMS.iter().map(|i| i.0).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                ITEMS.iter().map(|i| i.1).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                ITEMS.iter().map(|i| i.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(|e| e.to_string())
}

/// The multi-tenant product `apps.items`: table `items` keyed by `item_id` (tenant = the part
/// before `-`), partitioned by tenant, seeded with tenant3's items. Its tenancy record is
/// (re)set when missing, so a seed interrupted between the two writes completes on re-run.
async fn ensure_items_product(
    state: &AppState,
    domain: &Domain,
    team: &Team,
) -> Result<(), String> {
    const NAME: &str = "items";
    let err = |e: meshgate_core::Error| e.to_string();
    let tenancy = Tenancy {
        key_column: "item_id".into(),
        separator: Some("-".into()),
    };
    let existing = state
        .store
        .get_product_by_name(domain.id, NAME)
        .await
        .map_err(err)?;
    let table = match existing {
        Some(product) => {
            let tables = state.store.list_tables(product.id).await.map_err(err)?;
            match tables.into_iter().find(|t| t.name == NAME) {
                Some(t) => t,
                None => return Ok(()),
            }
        }
        None => {
            let id = new_id();
            let url = state
                .data_root
                .table_url(id, NAME)
                .map_err(|e| e.to_string())?;
            let report =
                create_tenant_table(&url, NAME, vec![generate_items("tenant3")?], &tenancy)
                    .await
                    .map_err(|e| e.to_string())?;
            let now = Utc::now();
            let product = DataProduct {
                id,
                domain_id: domain.id,
                team_id: team.id,
                name: NAME.to_string(),
                description: "the item catalogue of every tenant of the apps platform".into(),
                created_at: now,
                updated_at: now,
                listing: Default::default(),
                revision: 1,
            };
            let table = ProductTable {
                id: new_id(),
                product_id: id,
                name: NAME.to_string(),
                description: "one row per item, keyed `<tenant>-<n>`, partitioned by tenant".into(),
                location: url.to_string(),
                managed: true,
                columns: report.columns,
                created_at: now,
            };
            let event =
                NewAuditEvent::new(None, "product.create", "data_product", Some(id.to_string()))
                    .with_detail(json!({"name": "apps.items", "rows": report.rows, "by": "seed"}));
            let tables = std::slice::from_ref(&table);
            if let Err(e) = state.store.create_product(&product, tables, event).await {
                meshgate_engine::storage::remove_location(&url);
                return Err(e.to_string());
            }
            after_create(state, Writer::Seed, domain, &product, tables).await;
            table
        }
    };
    if state.store.tenancy(table.id).await.map_err(err)?.is_none() {
        let record = TableTenancy {
            table_id: table.id,
            key_column: tenancy.key_column,
            separator: tenancy.separator,
        };
        let event = NewAuditEvent::new(None, "table.tenancy", "table", Some(table.id.to_string()))
            .with_detail(json!({"table": "apps.items.items", "key": record.key_column, "separator": record.separator, "by": "seed"}));
        state.store.set_tenancy(&record, event).await.map_err(err)?;
    }
    Ok(())
}

/// The fine-grained part of the demo: a data filter `eu_only` on `sales.customers` and a
/// mesh-wide default mask hashing `pii` columns. Nobody tags the customers' `email`: automatic
/// classification detects its e-mail addresses when the product is created and, in mode
/// `apply` (the quickstart's), tags it `pii` itself.
async fn ensure_access_demo(
    state: &AppState,
    sales: &Domain,
    owner: &Principal,
) -> Result<(), String> {
    let err = |e: meshgate_core::Error| e.to_string();
    let Some(product) = state
        .store
        .get_product_by_name(sales.id, "customers")
        .await
        .map_err(err)?
    else {
        return Ok(());
    };
    let tables = state.store.list_tables(product.id).await.map_err(err)?;
    let Some(table) = tables.iter().find(|t| t.name == "customers") else {
        return Ok(());
    };
    if state
        .store
        .get_data_filter_by_name(table.id, "eu_only")
        .await
        .map_err(err)?
        .is_none()
    {
        let now = Utc::now();
        let filter = DataFilter {
            id: new_id(),
            product_id: product.id,
            table_id: table.id,
            name: "eu_only".into(),
            description: "customers in the EU".into(),
            row_filter: Some("region = 'eu'".into()),
            columns: None,
            created_by: owner.id,
            created_at: now,
            updated_at: now,
        };
        let event = NewAuditEvent::new(
            None,
            "data_filter.create",
            "data_filter",
            Some(filter.id.to_string()),
        )
        .with_detail(
            json!({"table": "sales.customers.customers", "name": "eu_only", "by": "seed"}),
        );
        state
            .store
            .create_data_filter(&filter, event)
            .await
            .map_err(err)?;
    }
    let masks = state.store.list_tag_masks().await.map_err(err)?;
    if !masks
        .iter()
        .any(|m| m.tag == "pii" && m.domain_id.is_none())
    {
        let mask = TagMask {
            id: new_id(),
            domain_id: None,
            tag: "pii".into(),
            mask: Mask::Hash,
            created_at: Utc::now(),
        };
        let event = NewAuditEvent::new(None, "tag_mask.put", "tag_mask", Some(mask.id.to_string()))
            .with_detail(json!({"tag": "pii", "mask": "hash", "by": "seed"}));
        state.store.put_tag_mask(&mask, event).await.map_err(err)?;
    }
    Ok(())
}

async fn ensure_product(
    state: &AppState,
    domain: &Domain,
    team: &Team,
    name: &str,
    description: &str,
    table_description: &str,
    batch: impl FnOnce() -> Result<RecordBatch, String>,
) -> Result<(), String> {
    if state
        .store
        .get_product_by_name(domain.id, name)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    let id = new_id();
    let url = state
        .data_root
        .table_url(id, name)
        .map_err(|e| e.to_string())?;
    let report = ingest::write_batches(&url, name, vec![batch()?], true)
        .await
        .map_err(|e| e.to_string())?;
    let now = Utc::now();
    let product = DataProduct {
        id,
        domain_id: domain.id,
        team_id: team.id,
        name: name.to_string(),
        description: description.to_string(),
        created_at: now,
        updated_at: now,
        listing: Default::default(),
        revision: 1,
    };
    let table = ProductTable {
        id: new_id(),
        product_id: id,
        name: name.to_string(),
        description: table_description.to_string(),
        location: url.to_string(),
        managed: true,
        columns: report.columns,
        created_at: now,
    };
    let event = NewAuditEvent::new(None, "product.create", "data_product", Some(id.to_string()))
        .with_detail(
            json!({"name": format!("{}.{name}", domain.name), "rows": report.rows, "by": "seed"}),
        );
    let tables = [table];
    if let Err(e) = state.store.create_product(&product, &tables, event).await {
        meshgate_engine::storage::remove_location(&url);
        return Err(e.to_string());
    }
    after_create(state, Writer::Seed, domain, &product, &tables).await;
    Ok(())
}

/// The demo tokens by principal name.
pub type DemoTokens = BTreeMap<String, String>;

/// The people the console's sign-in page offers with one click in the quickstart
/// (`auth.demo_people`).
pub const CONSOLE_PEOPLE: &[&str] = &["alice", "carol", "bob", "admin"];

/// Seeds the demo mesh (idempotent) and returns the demo tokens.
pub async fn seed_demo(state: &AppState) -> Result<DemoTokens, String> {
    let err = |e: ApiError| e.message;
    let admin = ensure_principal(state, "admin", PrincipalKind::User, true)
        .await
        .map_err(err)?;
    let alice = ensure_principal(state, "alice", PrincipalKind::User, false)
        .await
        .map_err(err)?;
    let carol = ensure_principal(state, "carol", PrincipalKind::User, false)
        .await
        .map_err(err)?;
    let bob = ensure_principal(state, "bob", PrincipalKind::User, false)
        .await
        .map_err(err)?;
    let sales = ensure_domain(state, "sales", "orders, customers and revenue")
        .await
        .map_err(err)?;
    let marketing = ensure_domain(state, "marketing", "campaigns and attribution")
        .await
        .map_err(err)?;
    let sales_team = ensure_team(
        state,
        &sales,
        "core",
        &[(&alice, TeamRole::Owner), (&carol, TeamRole::Steward)],
    )
    .await
    .map_err(err)?;
    ensure_team(state, &marketing, "analytics", &[(&bob, TeamRole::Member)])
        .await
        .map_err(err)?;
    ensure_product(
        state,
        &sales,
        &sales_team,
        "orders",
        "every order placed in the web shop, one row per order",
        "orders with customer, region, amount and date",
        || generate_orders(100_000, 42),
    )
    .await?;
    ensure_product(
        state,
        &sales,
        &sales_team,
        "customers",
        "customer master data",
        "one row per customer",
        || generate_customers(5_000),
    )
    .await?;
    ensure_access_demo(state, &sales, &alice).await?;
    let item_service = ensure_principal(state, "item-service", PrincipalKind::Service, false)
        .await
        .map_err(err)?;
    let apps = ensure_domain(state, "apps", "the apps platform's operational data")
        .await
        .map_err(err)?;
    let platform = ensure_team(
        state,
        &apps,
        "platform",
        &[(&item_service, TeamRole::Steward)],
    )
    .await
    .map_err(err)?;
    ensure_items_product(state, &apps, &platform).await?;
    state.rebuild_index().await.map_err(err)?;

    let path = state.config.data_dir.join("quickstart-tokens.json");
    let mut tokens: DemoTokens = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let mut changed = false;
    for p in [&admin, &alice, &carol, &bob, &item_service] {
        let usable = match tokens.get(&p.name) {
            Some(t) => matches!(
                state.store.find_token(&meshgate_core::token::hash(t)).await.map_err(|e| e.to_string())?,
                Some((record, _)) if record.is_usable(Utc::now())
            ),
            None => false,
        };
        if !usable {
            let created = issue_token(state, None, p, "quickstart", 0)
                .await
                .map_err(err)?;
            tokens.insert(p.name.clone(), created.token);
            changed = true;
        }
    }
    if changed {
        write_private(
            &path,
            &serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())?,
        )?;
    }
    Ok(tokens)
}

fn write_private(path: &std::path::Path, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict `{}`: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_is_deterministic() -> Result<(), String> {
        let a = generate_orders(1000, 42)?;
        let b = generate_orders(1000, 42)?;
        assert_eq!(a, b);
        assert_eq!(a.num_rows(), 1000);
        assert_ne!(a, generate_orders(1000, 7)?);
        Ok(())
    }

    #[test]
    fn demo_items_belong_to_their_tenant() -> Result<(), String> {
        let items = generate_items("tenant3")?;
        assert_eq!(items, generate_items("tenant3")?);
        let keys = items
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("keys are text")?;
        assert!(keys.iter().flatten().all(|k| k.starts_with("tenant3-")));
        assert_eq!(items.num_rows(), 3);
        Ok(())
    }
}
