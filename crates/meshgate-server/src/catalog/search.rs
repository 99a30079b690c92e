//! The catalog's search index: one tantivy document per data product, holding the product's
//! metadata (never its data) as full-text fields and facets.
//!
//! The index lives in memory and is rebuilt from the store when the server starts; every
//! catalog change is written to it before the API call that made it returns (see
//! `catalog::reindex`), so a search right after a write sees the write. It is a derived
//! structure, so losing it loses nothing: it is never the source of truth.
//!
//! **Visibility is part of the query.** A search runs with a [`Viewer`]: anyone sees
//! published products, a team's members also their team's drafts and unpublished products,
//! admins everything. The restriction is a required clause of the tantivy query, so counts,
//! facets and ranking only ever consider what the caller may see.
//!
//! **Ranking** is BM25 over the text fields with per-field boosts: a product's name counts
//! most, then its glossary terms, tags and table names, then column names, then
//! descriptions and form values. Terms are stemmed (English), so `order` finds `orders`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use meshgate_core::catalog::{Classification, ListingState};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, FacetCollector, MultiCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use uuid::Uuid;

/// Results per page by default, and at most.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// Facet values reported per facet, most frequent first.
pub const FACET_VALUES: usize = 20;
/// Memory the index writer may use before it flushes a segment (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 32 * 1024 * 1024;

/// Why the index failed. Only ever an internal error: the index is ours, and the query
/// parser is lenient, so no user input can produce one.
#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct IndexError(String);

impl From<tantivy::TantivyError> for IndexError {
    fn from(e: tantivy::TantivyError) -> Self {
        IndexError(e.to_string())
    }
}

/// Everything the index knows about one product: its searchable text, its facets, and the
/// summary a search result shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub product_id: Uuid,
    /// The owning team's id (drafts are visible to its members).
    pub team_id: Uuid,
    /// `domain.product`
    pub product: String,
    pub name: String,
    pub description: String,
    /// The product's domain.
    pub domain: String,
    /// The domain's path from its top-level domain down to it, e.g. `["sales", "emea"]`.
    pub domain_path: Vec<String>,
    /// `domain.team`
    pub team: String,
    pub listing: ListingState,
    pub revision: i64,
    pub updated_at: DateTime<Utc>,
    /// Names and descriptions of tables.
    pub tables: Vec<String>,
    /// Names and descriptions of columns.
    pub columns: Vec<String>,
    /// Tags of the product's tables and columns (classifications included).
    pub tags: Vec<String>,
    pub classification: Option<Classification>,
    /// Glossary terms attached to the product or its columns, `glossary.term`.
    pub terms: Vec<String>,
    /// Text about those terms: their descriptions and broader (`is_a`) terms.
    pub term_text: Vec<String>,
    /// Form type names and the values of the forms filled for the product and its tables.
    pub forms: Vec<String>,
}

/// Who is searching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Sees every product.
    Admin,
    /// Sees published products and every product of these teams.
    Member { teams: Vec<Uuid> },
}

/// A search: text (empty = everything visible) and filters, each narrowing the results.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// A domain's path (root first): products of it and of its units.
    pub domain_path: Option<Vec<String>>,
    /// `domain.team`
    pub team: Option<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    pub classification: Option<Classification>,
    /// Any of these terms (`glossary.term`): the caller passes a term with its narrower
    /// terms, so a search for a broad term finds products carrying a narrower one.
    pub terms: Vec<String>,
    pub listing: Option<ListingState>,
    pub limit: usize,
    pub offset: usize,
}

/// What a search result shows about a product (never its data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub product: String,
    pub domain: String,
    pub team: String,
    pub name: String,
    pub description: String,
    pub listing: ListingState,
    pub revision: i64,
    pub classification: Option<Classification>,
    pub tags: Vec<String>,
    pub terms: Vec<String>,
    pub updated_at: DateTime<Utc>,
    pub score: f32,
}

/// One value of a facet and how many matching products have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// How many products match (the results are one page of them).
    pub total: usize,
    pub results: Vec<Hit>,
    /// Facet → values with counts over all matching products, most frequent first.
    pub facets: BTreeMap<String, Vec<FacetValue>>,
}

/// The facets a search reports, by the name the API uses.
const FACETS: [&str; 5] = ["domain", "team", "tag", "classification", "term"];

struct Fields {
    id: Field,
    team_id: Field,
    listing: Field,
    name: Field,
    description: Field,
    tables: Field,
    columns: Field,
    terms_text: Field,
    tags_text: Field,
    forms: Field,
    domain_tree: Field,
    domain: Field,
    team: Field,
    tag: Field,
    classification: Field,
    term: Field,
    summary: Field,
}

/// The in-memory search index of the catalog. Cheap to search from many threads at once;
/// writes are serialised by the writer's lock.
pub struct SearchIndex {
    index: Index,
    fields: Fields,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    parser: QueryParser,
}

fn text_options(stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("en_stem")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> Result<SearchIndex, IndexError> {
        let mut b = Schema::builder();
        let facet = || FacetOptions::default();
        let fields = Fields {
            id: b.add_text_field("id", STRING | STORED),
            team_id: b.add_text_field("team_id", STRING),
            listing: b.add_text_field("listing", STRING),
            name: b.add_text_field("name", text_options(false)),
            description: b.add_text_field("description", text_options(false)),
            tables: b.add_text_field("tables", text_options(false)),
            columns: b.add_text_field("columns", text_options(false)),
            terms_text: b.add_text_field("terms", text_options(false)),
            tags_text: b.add_text_field("tags", text_options(false)),
            forms: b.add_text_field("forms", text_options(false)),
            domain_tree: b.add_facet_field("domain_tree", facet()),
            domain: b.add_facet_field("domain_facet", facet()),
            team: b.add_facet_field("team_facet", facet()),
            tag: b.add_facet_field("tag_facet", facet()),
            classification: b.add_facet_field("classification_facet", facet()),
            term: b.add_facet_field("term_facet", facet()),
            summary: b.add_text_field("summary", STORED),
        };
        let index = Index::create_in_ram(b.build());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let mut parser = QueryParser::for_index(
            &index,
            vec![
                fields.name,
                fields.description,
                fields.tables,
                fields.columns,
                fields.terms_text,
                fields.tags_text,
                fields.forms,
            ],
        );
        for (field, boost) in [
            (fields.name, 4.0),
            (fields.terms_text, 2.0),
            (fields.tags_text, 2.0),
            (fields.tables, 2.0),
            (fields.columns, 1.5),
        ] {
            parser.set_field_boost(field, boost);
        }
        Ok(SearchIndex {
            index,
            fields,
            writer: Mutex::new(writer),
            reader,
            parser,
        })
    }

    fn document(&self, e: &CatalogEntry) -> Result<TantivyDocument, IndexError> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, e.product_id.to_string());
        doc.add_text(f.team_id, e.team_id.to_string());
        doc.add_text(f.listing, e.listing.as_str());
        // The name both as written (`customer_orders`) and as words.
        doc.add_text(f.name, &e.name);
        doc.add_text(f.name, e.name.replace('_', " "));
        doc.add_text(f.description, &e.description);
        for (field, texts) in [
            (f.tables, &e.tables),
            (f.columns, &e.columns),
            (f.terms_text, &e.terms),
            (f.terms_text, &e.term_text),
            (f.tags_text, &e.tags),
            (f.forms, &e.forms),
        ] {
            for t in texts {
                doc.add_text(field, t);
            }
        }
        doc.add_facet(
            f.domain_tree,
            tantivy::schema::Facet::from_path(&e.domain_path),
        );
        doc.add_facet(f.domain, facet_of(&e.domain));
        doc.add_facet(f.team, facet_of(&e.team));
        for t in &e.tags {
            doc.add_facet(f.tag, facet_of(t));
        }
        if let Some(c) = e.classification {
            doc.add_facet(f.classification, facet_of(c.as_str()));
        }
        for t in &e.terms {
            doc.add_facet(f.term, facet_of(t));
        }
        let summary = Summary {
            product: e.product.clone(),
            domain: e.domain.clone(),
            team: e.team.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            listing: e.listing,
            revision: e.revision,
            classification: e.classification,
            tags: e.tags.clone(),
            terms: e.terms.clone(),
            updated_at: e.updated_at,
        };
        let json = serde_json::to_string(&summary).map_err(|e| IndexError(e.to_string()))?;
        doc.add_text(f.summary, json);
        Ok(doc)
    }

    /// Replaces the documents of `remove` (products changed or gone) with `entries`, and
    /// makes the change visible to searches before returning.
    pub fn apply(&self, remove: &[Uuid], entries: &[CatalogEntry]) -> Result<(), IndexError> {
        let docs = entries
            .iter()
            .map(|e| self.document(e))
            .collect::<Result<Vec<_>, _>>()?;
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| IndexError("the index writer lock is poisoned".into()))?;
        for id in remove.iter().chain(entries.iter().map(|e| &e.product_id)) {
            writer.delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
        }
        for doc in docs {
            writer.add_document(doc)?;
        }
        writer.commit()?;
        // Reload under the writer's lock: a search after this call returns sees the commit.
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the whole index with `entries`.
    pub fn replace_all(&self, entries: &[CatalogEntry]) -> Result<(), IndexError> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| IndexError("the index writer lock is poisoned".into()))?;
        writer.delete_all_documents()?;
        for e in entries {
            writer.add_document(self.document(e)?)?;
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// How many products the index holds.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn visibility(&self, viewer: &Viewer) -> Option<Box<dyn Query>> {
        let Viewer::Member { teams } = viewer else {
            return None;
        };
        let f = &self.fields;
        let mut any: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Should,
            Box::new(TermQuery::new(
                Term::from_field_text(f.listing, ListingState::Published.as_str()),
                IndexRecordOption::Basic,
            )),
        )];
        for t in teams {
            any.push((
                Occur::Should,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.team_id, &t.to_string()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        Some(Box::new(BooleanQuery::new(any)))
    }

    fn facet_query(field: Field, path: &[String]) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_facet(field, &tantivy::schema::Facet::from_path(path)),
            IndexRecordOption::Basic,
        ))
    }

    fn query(&self, viewer: &Viewer, q: &SearchQuery) -> Box<dyn Query> {
        let f = &self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let text = q.text.trim();
        if !text.is_empty() {
            // Lenient: a stray quote or colon is searched for, not an error.
            let (parsed, _errors) = self.parser.parse_query_lenient(text);
            must.push((Occur::Must, parsed));
        }
        if let Some(v) = self.visibility(viewer) {
            must.push((Occur::Must, v));
        }
        if let Some(path) = &q.domain_path {
            must.push((Occur::Must, Self::facet_query(f.domain_tree, path)));
        }
        if let Some(team) = &q.team {
            must.push((
                Occur::Must,
                Self::facet_query(f.team, std::slice::from_ref(team)),
            ));
        }
        for tag in &q.tags {
            must.push((
                Occur::Must,
                Self::facet_query(f.tag, std::slice::from_ref(tag)),
            ));
        }
        if let Some(c) = q.classification {
            must.push((
                Occur::Must,
                Self::facet_query(f.classification, &[c.as_str().to_string()]),
            ));
        }
        if !q.terms.is_empty() {
            let any = q
                .terms
                .iter()
                .map(|t| {
                    (
                        Occur::Should,
                        Self::facet_query(f.term, std::slice::from_ref(t)),
                    )
                })
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if let Some(l) = q.listing {
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.listing, l.as_str()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if must.is_empty() {
            Box::new(AllQuery)
        } else {
            if text.is_empty() {
                // Filters only: every match scores alike, so results come in index order.
                must.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(must))
        }
    }

    /// Runs a search as `viewer`.
    pub fn search(&self, viewer: &Viewer, q: &SearchQuery) -> Result<SearchResults, IndexError> {
        let f = &self.fields;
        let query = self.query(viewer, q);
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let searcher = self.reader.searcher();
        let mut collectors = MultiCollector::new();
        let top = collectors.add_collector(
            TopDocs::with_limit(limit)
                .and_offset(q.offset)
                .order_by_score(),
        );
        let count = collectors.add_collector(Count);
        let facet_fields = [
            ("domain_facet", FACETS[0]),
            ("team_facet", FACETS[1]),
            ("tag_facet", FACETS[2]),
            ("classification_facet", FACETS[3]),
            ("term_facet", FACETS[4]),
        ];
        let mut facet_handles = Vec::new();
        for (field, name) in facet_fields {
            let mut c = FacetCollector::for_field(field);
            c.add_facet("/");
            facet_handles.push((name, collectors.add_collector(c)));
        }
        let mut fruits = searcher.search(&query, &collectors)?;
        let top = top.extract(&mut fruits);
        let total = count.extract(&mut fruits);
        let mut facets = BTreeMap::new();
        for (name, handle) in facet_handles {
            let counts = handle.extract(&mut fruits);
            let mut values: Vec<FacetValue> = counts
                .top_k("/", FACET_VALUES)
                .into_iter()
                .map(|(facet, count)| FacetValue {
                    value: facet
                        .to_path()
                        .last()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    count,
                })
                .collect();
            values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            facets.insert(name.to_string(), values);
        }
        let mut results = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(json) = doc.get_first(f.summary).and_then(|v| v.as_str()) else {
                return Err(IndexError("a document has no summary".into()));
            };
            let s: Summary = serde_json::from_str(json).map_err(|e| IndexError(e.to_string()))?;
            results.push(Hit {
                product: s.product,
                domain: s.domain,
                team: s.team,
                name: s.name,
                description: s.description,
                listing: s.listing,
                revision: s.revision,
                classification: s.classification,
                tags: s.tags,
                terms: s.terms,
                updated_at: s.updated_at,
                score,
            });
        }
        Ok(SearchResults {
            total,
            results,
            facets,
        })
    }

    /// The index's schema, for tests of the index itself.
    pub fn schema(&self) -> Schema {
        self.index.schema()
    }
}

/// A one-level facet whose only segment is `value` (which may contain `.` and `/`).
fn facet_of(value: &str) -> tantivy::schema::Facet {
    tantivy::schema::Facet::from_path([value])
}

/// The stored part of a document.
#[derive(Serialize, Deserialize)]
struct Summary {
    product: String,
    domain: String,
    team: String,
    name: String,
    description: String,
    listing: ListingState,
    revision: i64,
    classification: Option<Classification>,
    tags: Vec<String>,
    terms: Vec<String>,
    updated_at: DateTime<Utc>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn entry(n: u128, name: &str, team: u128, listing: ListingState) -> CatalogEntry {
        CatalogEntry {
            product_id: Uuid::from_u128(n),
            team_id: Uuid::from_u128(team),
            product: format!("sales.{name}"),
            name: name.into(),
            description: format!("all about {name}"),
            domain: "emea".into(),
            domain_path: vec!["sales".into(), "emea".into()],
            team: "sales.core".into(),
            listing,
            revision: 1,
            updated_at: Utc::now(),
            ..Default::default()
        }
    }

    fn names(r: &SearchResults) -> Vec<String> {
        r.results.iter().map(|h| h.name.clone()).collect()
    }

    fn q(text: &str) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn drafts_are_visible_to_their_team_only() {
        let index = SearchIndex::new().unwrap();
        let mut orders = entry(1, "orders", 7, ListingState::Published);
        orders.tags = vec!["pii".into()];
        let draft = entry(2, "order_drafts", 7, ListingState::Draft);
        index.apply(&[], &[orders, draft]).unwrap();
        let outsider = Viewer::Member { teams: vec![] };
        let member = Viewer::Member {
            teams: vec![Uuid::from_u128(7)],
        };
        assert_eq!(
            names(&index.search(&outsider, &q("order")).unwrap()),
            ["orders"]
        );
        let r = index.search(&member, &q("order")).unwrap();
        assert_eq!(r.total, 2);
        assert_eq!(index.search(&Viewer::Admin, &q("")).unwrap().total, 2);
        // Facets count only what the viewer sees.
        let r = index.search(&outsider, &q("")).unwrap();
        assert_eq!(
            r.facets["tag"],
            vec![FacetValue {
                value: "pii".into(),
                count: 1
            }]
        );
    }

    #[test]
    fn updates_replace_and_removals_delete() {
        let index = SearchIndex::new().unwrap();
        let mut e = entry(1, "orders", 7, ListingState::Published);
        index.apply(&[], std::slice::from_ref(&e)).unwrap();
        e.description = "returns and refunds".into();
        index.apply(&[], std::slice::from_ref(&e)).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(
            index.search(&Viewer::Admin, &q("refunds")).unwrap().total,
            1
        );
        index.apply(&[e.product_id], &[]).unwrap();
        assert!(index.is_empty());
    }

    #[test]
    fn names_rank_above_descriptions_and_filters_narrow() {
        let index = SearchIndex::new().unwrap();
        let mut a = entry(1, "customers", 7, ListingState::Published);
        a.classification = Some(Classification::Confidential);
        let mut b = entry(2, "orders", 7, ListingState::Published);
        b.description = "orders, one row per customer".into();
        b.domain_path = vec!["sales".into()];
        b.domain = "sales".into();
        index.apply(&[], &[b, a]).unwrap();
        let r = index.search(&Viewer::Admin, &q("customer")).unwrap();
        assert_eq!(names(&r), ["customers", "orders"]);
        let mut emea = q("customer");
        emea.domain_path = Some(vec!["sales".into(), "emea".into()]);
        assert_eq!(
            names(&index.search(&Viewer::Admin, &emea).unwrap()),
            ["customers"]
        );
        let mut sales = q("");
        sales.domain_path = Some(vec!["sales".into()]);
        assert_eq!(index.search(&Viewer::Admin, &sales).unwrap().total, 2);
        let mut conf = q("");
        conf.classification = Some(Classification::Confidential);
        assert_eq!(
            names(&index.search(&Viewer::Admin, &conf).unwrap()),
            ["customers"]
        );
        // Odd input is searched for, never an error.
        assert!(
            index
                .search(&Viewer::Admin, &q("\"unbalanced AND ("))
                .is_ok()
        );
    }
}
