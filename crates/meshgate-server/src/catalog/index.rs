//! Keeping the catalog's search index in step with the store: the [`Catalog`] (the index and
//! the lock that orders its updates), turning store rows into index entries, and the full
//! and per-product refreshes. It reads the store only, so the server state can hold and
//! build it without depending on the catalog's routes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use meshgate_core::catalog::{self as model, Classification, MetadataForm, RelationKind};
use meshgate_core::model::{AuditEvent, Domain, Outcome, ProductTable};
use meshgate_store::Store;
use uuid::Uuid;

use super::search::{CatalogEntry, SearchIndex};
use crate::error::{ApiError, ApiResult};

/// The catalog's search index and the lock that orders its updates: each update reads the
/// store and writes the index under it, so an older read never overwrites a newer one.
pub struct Catalog {
    pub index: SearchIndex,
    pub(crate) updates: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub fn new() -> Result<Catalog, String> {
        Ok(Catalog {
            index: SearchIndex::new().map_err(|e| e.to_string())?,
            updates: tokio::sync::Mutex::new(()),
        })
    }
}

/// The kinds of object whose changes can change a catalog entry: what the change feed reads
/// for the index (`replicas::feed`).
pub const CATALOG_OBJECTS: &[&str] = &[
    "data_product",
    "product",
    "table",
    "glossary_term",
    "domain",
];

/// What one audit event asks of the index.
enum Change {
    Product(Uuid),
    Table(Uuid),
    Term(Uuid),
    Everything,
}

/// The change an event names, if it can change a catalog entry: product and table metadata,
/// listing, tags, classification, tenancy, appends, forms, glossary terms and their links,
/// and the domain hierarchy (domain paths are in every entry below a domain). Denied and
/// failed acts change nothing.
fn change_of(event: &AuditEvent) -> Option<Change> {
    if event.outcome != Outcome::Success {
        return None;
    }
    let action = event.action.as_str();
    let catalog_action = ["product.", "table.", "column.", "term.", "form."]
        .iter()
        .any(|prefix| action.starts_with(prefix));
    let id = || {
        event
            .object_id
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
    };
    match event.object_type.as_str() {
        "domain" if action == "domain.set_parent" => Some(Change::Everything),
        "data_product" | "product" if catalog_action => id().map(Change::Product),
        "table" if catalog_action => id().map(Change::Table),
        "glossary_term" if catalog_action => id().map(Change::Term),
        _ => None,
    }
}

/// Brings the index up to date with `events` (new audit events, in order, each given once by
/// the change feed, `replicas::feed`): works out which products they touch and reindexes
/// those, or rebuilds after a change to the domain hierarchy. Events of other kinds are
/// ignored.
pub async fn apply(
    store: &dyn Store,
    catalog: &Arc<Catalog>,
    events: &[&AuditEvent],
) -> ApiResult<()> {
    let mut everything = false;
    let mut products = BTreeSet::new();
    let mut tables = BTreeSet::new();
    let mut terms = BTreeSet::new();
    for event in events {
        match change_of(event) {
            Some(Change::Everything) => everything = true,
            Some(Change::Product(id)) => {
                products.insert(id);
            }
            Some(Change::Table(id)) => {
                tables.insert(id);
            }
            Some(Change::Term(id)) => {
                terms.insert(id);
            }
            None => {}
        }
    }
    if everything {
        return rebuild(store, catalog).await;
    }
    for table in tables {
        if let Some(t) = store.get_table(table).await? {
            products.insert(t.product_id);
        }
    }
    if !terms.is_empty() {
        products.extend(term_users(store, &terms).await?);
    }
    let products: Vec<Uuid> = products.into_iter().collect();
    reindex_many(store, catalog, &products).await;
    Ok(())
}

/// The products carrying one of `terms` or a term narrower than it (their entries hold the
/// term's description and its broader terms).
async fn term_users(store: &dyn Store, terms: &BTreeSet<Uuid>) -> ApiResult<BTreeSet<Uuid>> {
    let relations = store.term_relations().await?;
    let mut all: BTreeSet<Uuid> = terms.clone();
    for term in terms {
        all.extend(model::narrower_closure(&relations, *term));
    }
    Ok(store
        .term_links(None)
        .await?
        .into_iter()
        .filter(|l| all.contains(&l.term_id))
        .map(|l| l.product_id)
        .collect())
}

/// Names by id, for turning store rows into catalog entries.
pub(crate) struct Names {
    domains: HashMap<Uuid, Domain>,
    teams: HashMap<Uuid, String>,
    terms: HashMap<Uuid, (String, String)>,
    /// Term → its broader terms (`is_a`).
    broader: HashMap<Uuid, Vec<Uuid>>,
    form_types: HashMap<Uuid, String>,
}

impl Names {
    pub(crate) async fn load(store: &dyn Store) -> ApiResult<Names> {
        let domains: HashMap<Uuid, Domain> = store
            .list_domains()
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let teams = store
            .list_teams(None)
            .await?
            .into_iter()
            .map(|t| {
                let domain = domains
                    .get(&t.domain_id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                (t.id, format!("{domain}.{}", t.name))
            })
            .collect();
        let glossaries: HashMap<Uuid, String> = store
            .list_glossaries()
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();
        let terms = store
            .list_terms(None)
            .await?
            .into_iter()
            .map(|t| {
                let g = glossaries.get(&t.glossary_id).cloned().unwrap_or_default();
                (t.id, (format!("{g}.{}", t.name), t.description))
            })
            .collect();
        let mut broader: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for r in store.term_relations().await? {
            if r.kind == RelationKind::IsA {
                broader.entry(r.term_id).or_default().push(r.target_id);
            }
        }
        let form_types = store
            .list_form_types()
            .await?
            .into_iter()
            .map(|f| (f.id, f.name))
            .collect();
        Ok(Names {
            domains,
            teams,
            terms,
            broader,
            form_types,
        })
    }

    pub(crate) fn term(&self, id: Uuid) -> String {
        self.terms
            .get(&id)
            .map(|t| t.0.clone())
            .unwrap_or_else(|| id.to_string())
    }

    pub(crate) fn team(&self, id: Uuid) -> String {
        self.teams
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    pub(crate) fn domain_path(&self, id: Uuid) -> Vec<String> {
        let parents: HashMap<Uuid, Option<Uuid>> =
            self.domains.values().map(|d| (d.id, d.parent_id)).collect();
        let mut path: Vec<String> = model::ancestors(&parents, id)
            .iter()
            .filter_map(|d| self.domains.get(d).map(|d| d.name.clone()))
            .collect();
        path.reverse();
        path
    }

    /// The catalog entries of the products in `rows`.
    fn entries(&self, rows: &meshgate_store::CatalogRows) -> Vec<CatalogEntry> {
        let mut tables: HashMap<Uuid, Vec<&ProductTable>> = HashMap::new();
        for t in &rows.tables {
            tables.entry(t.product_id).or_default().push(t);
        }
        let table_product: HashMap<Uuid, Uuid> =
            rows.tables.iter().map(|t| (t.id, t.product_id)).collect();
        let mut tags: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for t in &rows.table_tags {
            if let Some(p) = table_product.get(&t.table_id) {
                tags.entry(*p).or_default().extend(t.tags.iter().cloned());
            }
        }
        for c in &rows.column_tags {
            if let Some(p) = table_product.get(&c.table_id) {
                tags.entry(*p).or_default().extend(c.tags.iter().cloned());
            }
        }
        let mut links: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
        for l in &rows.term_links {
            links.entry(l.product_id).or_default().insert(l.term_id);
        }
        let mut forms: HashMap<Uuid, Vec<&MetadataForm>> = HashMap::new();
        for f in &rows.forms {
            if let Some(p) = f.product_id {
                forms.entry(p).or_default().push(f);
            }
        }
        rows.products
            .iter()
            .map(|p| {
                let domain = self
                    .domains
                    .get(&p.domain_id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                let product_tables = tables.get(&p.id).map(Vec::as_slice).unwrap_or_default();
                let tags: Vec<String> = tags
                    .get(&p.id)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default();
                let term_ids: Vec<Uuid> = links
                    .get(&p.id)
                    .map(|t| t.iter().copied().collect())
                    .unwrap_or_default();
                let mut term_text = Vec::new();
                let mut seen = HashSet::new();
                let mut stack = term_ids.clone();
                while let Some(t) = stack.pop() {
                    if !seen.insert(t) {
                        continue;
                    }
                    if let Some((name, description)) = self.terms.get(&t) {
                        if !term_ids.contains(&t) {
                            term_text.push(name.clone());
                        }
                        term_text.push(description.clone());
                    }
                    stack.extend(self.broader.get(&t).into_iter().flatten().copied());
                }
                let mut form_text = Vec::new();
                for f in forms.get(&p.id).map(Vec::as_slice).unwrap_or_default() {
                    if let Some(name) = self.form_types.get(&f.form_type_id) {
                        form_text.push(name.clone());
                    }
                    form_text.extend(model::values_text(&f.values));
                }
                CatalogEntry {
                    product_id: p.id,
                    team_id: p.team_id,
                    product: format!("{domain}.{}", p.name),
                    name: p.name.clone(),
                    description: p.description.clone(),
                    domain_path: self.domain_path(p.domain_id),
                    domain,
                    team: self.team(p.team_id),
                    listing: p.listing,
                    revision: p.revision,
                    updated_at: p.updated_at,
                    tables: product_tables
                        .iter()
                        .flat_map(|t| [t.name.clone(), t.description.clone()])
                        .collect(),
                    columns: product_tables
                        .iter()
                        .flat_map(|t| t.columns.iter())
                        .flat_map(|c| [c.name.clone(), c.description.clone()])
                        .collect(),
                    classification: Classification::of_tags(&tags),
                    tags,
                    terms: term_ids.iter().map(|t| self.term(*t)).collect(),
                    term_text,
                    forms: form_text,
                }
            })
            .collect()
    }
}

/// Rebuilds the whole search index from the store (at start-up, after the demo seed, after a
/// change to the domain hierarchy, when an update fails).
pub async fn rebuild(store: &dyn Store, catalog: &Arc<Catalog>) -> ApiResult<()> {
    let _updating = catalog.updates.lock().await;
    let rows = store.catalog_rows(None).await?;
    let entries = Names::load(store).await?.entries(&rows);
    let catalog = catalog.clone();
    tokio::task::spawn_blocking(move || catalog.index.replace_all(&entries))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    tracing::debug!(products = rows.products.len(), "search index rebuilt");
    Ok(())
}

/// Brings the index entries of `products` up to date with the store (a product that is gone
/// is removed). A failure is logged and repaired by a full rebuild: the store write it
/// follows has been committed, so the API call still succeeds.
pub async fn reindex_many(store: &dyn Store, catalog: &Arc<Catalog>, products: &[Uuid]) {
    if products.is_empty() {
        return;
    }
    let result: ApiResult<()> = async {
        let _updating = catalog.updates.lock().await;
        let names = Names::load(store).await?;
        let mut entries = Vec::new();
        for id in products {
            let rows = store.catalog_rows(Some(*id)).await?;
            entries.extend(names.entries(&rows));
        }
        let catalog = catalog.clone();
        let remove = products.to_vec();
        tokio::task::spawn_blocking(move || catalog.index.apply(&remove, &entries))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e.message, "cannot update the search index; rebuilding it");
        if let Err(e) = rebuild(store, catalog).await {
            tracing::error!(error = %e.message, "cannot rebuild the search index");
        }
    }
}
