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
//! **Ranking** is BM25 over three text fields with boosts: a product's name counts most (×4),
//! then its keywords — glossary terms, tags, table names (×2) — then everything else:
//! descriptions, column names, what its terms mean, form values. Terms are stemmed (English),
//! so `order` finds `orders`.
//!
//! **Facets are counted from decoded arrays**, not from tantivy's facet columns: each
//! segment's facet values are decoded once when it appears, so counting five facets over
//! every match of a broad search costs a few array reads per document (B8).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use meshgate_core::catalog::{Classification, ListingState};
use serde::{Deserialize, Serialize};
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByString};
use tantivy::collector::{Collector, Count, MultiCollector, SegmentCollector, TopDocs};
use tantivy::index::SegmentId;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Score, Searcher, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hit {
    pub product: String,
    pub domain: String,
    pub team: String,
    pub name: String,
    pub description: String,
    pub listing: ListingState,
    pub revision: i64,
    #[schema(required)]
    pub classification: Option<Classification>,
    pub tags: Vec<String>,
    pub terms: Vec<String>,
    pub updated_at: DateTime<Utc>,
    pub score: f32,
}

/// One value of a facet and how many matching products have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResults {
    /// How many products match (the results are one page of them).
    pub total: usize,
    pub results: Vec<Hit>,
    /// Facet → values with counts over all matching products, most frequent first.
    pub facets: BTreeMap<String, Vec<FacetValue>>,
}

/// The facets a search reports: the API's name and the tantivy field holding it.
const FACETS: [(&str, &str); 5] = [
    ("domain", "domain_facet"),
    ("team", "team_facet"),
    ("tag", "tag_facet"),
    ("classification", "classification_facet"),
    ("term", "term_facet"),
];

struct Fields {
    id: Field,
    team_id: Field,
    listing: Field,
    /// The product's name, as written and as words.
    name: Field,
    /// Glossary terms, tags and table names.
    keywords: Field,
    /// Descriptions, column names, what the terms mean, form values.
    body: Field,
    domain_tree: Field,
    /// `domain.product`, a fast column: equal scores are ordered by it, so that every replica
    /// (whose index holds the same documents in another order) answers a search alike, and
    /// paging through tied results neither skips nor repeats one.
    sort_name: Field,
    /// In [`FACETS`] order.
    facets: [Field; 5],
    summary: Field,
}

/// One segment's facet values, decoded once when the segment appears: per facet (in
/// [`FACETS`] order), each document's value ids, as offsets into a flat list. Counting a
/// facet is then two array reads per document rather than a column decode, which keeps
/// searches that match most of the catalog (browsing, common words) within budget.
struct SegmentFacets {
    facets: Vec<(Vec<u32>, Vec<u32>)>,
}

/// Facet values ↔ ids, per facet, for the life of the index.
#[derive(Default, Clone)]
struct Interner {
    ids: std::collections::HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(value.to_string());
        self.ids.insert(value.to_string(), id);
        id
    }
}

/// What searches read: a searcher and the decoded facets of each of its segments, swapped
/// in as a whole after each commit so the two always match.
struct Snapshot {
    searcher: Searcher,
    segments: HashMap<SegmentId, Arc<SegmentFacets>>,
    /// Per facet: value id → value.
    names: Vec<Vec<String>>,
}

/// The writer and what only writes touch.
struct Writer {
    writer: IndexWriter,
    interners: Vec<Interner>,
    segments: HashMap<SegmentId, Arc<SegmentFacets>>,
}

/// The in-memory search index of the catalog. Searches run concurrently on the current
/// snapshot; writes are serialised by the writer's lock.
pub struct SearchIndex {
    fields: Fields,
    writer: Mutex<Writer>,
    reader: IndexReader,
    parser: QueryParser,
    snapshot: RwLock<Arc<Snapshot>>,
}

fn text_options() -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("en_stem")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    TextOptions::default().set_indexing_options(indexing)
}

fn poisoned() -> IndexError {
    IndexError("a search index lock is poisoned".into())
}

impl SearchIndex {
    /// An empty index.
    pub fn new() -> Result<SearchIndex, IndexError> {
        let mut b = Schema::builder();
        let facet = FacetOptions::default;
        let fields = Fields {
            id: b.add_text_field("id", STRING | STORED),
            team_id: b.add_text_field("team_id", STRING),
            listing: b.add_text_field("listing", STRING),
            name: b.add_text_field("name", text_options()),
            keywords: b.add_text_field("keywords", text_options()),
            body: b.add_text_field("body", text_options()),
            domain_tree: b.add_facet_field("domain_tree", facet()),
            sort_name: b.add_text_field("sort_name", STRING | FAST),
            facets: FACETS.map(|(_, field)| b.add_facet_field(field, facet())),
            summary: b.add_text_field("summary", STORED),
        };
        let index = Index::create_in_ram(b.build());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let mut parser =
            QueryParser::for_index(&index, vec![fields.name, fields.keywords, fields.body]);
        parser.set_field_boost(fields.name, 4.0);
        parser.set_field_boost(fields.keywords, 2.0);
        let snapshot = Snapshot {
            searcher: reader.searcher(),
            segments: HashMap::new(),
            names: vec![Vec::new(); FACETS.len()],
        };
        Ok(SearchIndex {
            fields,
            writer: Mutex::new(Writer {
                writer,
                interners: vec![Interner::default(); FACETS.len()],
                segments: HashMap::new(),
            }),
            reader,
            parser,
            snapshot: RwLock::new(Arc::new(snapshot)),
        })
    }

    fn document(&self, e: &CatalogEntry) -> Result<TantivyDocument, IndexError> {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, e.product_id.to_string());
        doc.add_text(f.team_id, e.team_id.to_string());
        doc.add_text(f.sort_name, &e.product);
        doc.add_text(f.listing, e.listing.as_str());
        // The name both as written (`customer_orders`, a phrase) and as words.
        doc.add_text(f.name, &e.name);
        doc.add_text(f.name, e.name.replace('_', " "));
        for (field, texts) in [
            (f.keywords, &e.terms),
            (f.keywords, &e.tags),
            (f.body, &e.term_text),
            (f.body, &e.columns),
            (f.body, &e.forms),
        ] {
            for t in texts {
                doc.add_text(field, t);
            }
        }
        // Tables come as name, description, name, description, …
        for (i, t) in e.tables.iter().enumerate() {
            doc.add_text(if i % 2 == 0 { f.keywords } else { f.body }, t);
        }
        doc.add_text(f.body, &e.description);
        doc.add_facet(
            f.domain_tree,
            tantivy::schema::Facet::from_path(&e.domain_path),
        );
        let [domain, team, tag, classification, term] = f.facets;
        doc.add_facet(domain, facet_of(&e.domain));
        doc.add_facet(team, facet_of(&e.team));
        for t in &e.tags {
            doc.add_facet(tag, facet_of(t));
        }
        if let Some(c) = e.classification {
            doc.add_facet(classification, facet_of(c.as_str()));
        }
        for t in &e.terms {
            doc.add_facet(term, facet_of(t));
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
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        for id in remove.iter().chain(entries.iter().map(|e| &e.product_id)) {
            w.writer
                .delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
        }
        for doc in docs {
            w.writer.add_document(doc)?;
        }
        self.commit(&mut w)
    }

    /// Replaces the whole index with `entries`.
    pub fn replace_all(&self, entries: &[CatalogEntry]) -> Result<(), IndexError> {
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        w.writer.delete_all_documents()?;
        for e in entries {
            w.writer.add_document(self.document(e)?)?;
        }
        self.commit(&mut w)
    }

    /// Commits, reloads, decodes the facets of new segments and publishes the snapshot,
    /// all under the writer's lock: a search after a write returns sees the write.
    fn commit(&self, w: &mut Writer) -> Result<(), IndexError> {
        w.writer.commit()?;
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        let mut segments = HashMap::new();
        for reader in searcher.segment_readers() {
            let id = reader.segment_id();
            let decoded = match w.segments.get(&id) {
                Some(d) => d.clone(),
                None => Arc::new(decode_facets(reader, &mut w.interners)?),
            };
            segments.insert(id, decoded);
        }
        w.segments = segments.clone();
        let snapshot = Snapshot {
            searcher,
            segments,
            names: w.interners.iter().map(|i| i.names.clone()).collect(),
        };
        *self.snapshot.write().map_err(|_| poisoned())? = Arc::new(snapshot);
        Ok(())
    }

    fn current(&self) -> Result<Arc<Snapshot>, IndexError> {
        Ok(self.snapshot.read().map_err(|_| poisoned())?.clone())
    }

    /// How many products the index holds.
    pub fn len(&self) -> u64 {
        self.current().map_or(0, |s| s.searcher.num_docs())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn term_query(field: Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        ))
    }

    fn facet_query(field: Field, path: &[String]) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_facet(field, &tantivy::schema::Facet::from_path(path)),
            IndexRecordOption::Basic,
        ))
    }

    fn query(&self, viewer: &Viewer, q: &SearchQuery) -> Box<dyn Query> {
        let f = &self.fields;
        let [_, team, tag, classification, term] = f.facets;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let text = q.text.trim();
        if !text.is_empty() {
            // Lenient: a stray quote or colon is searched for, not an error.
            let (parsed, _errors) = self.parser.parse_query_lenient(text);
            must.push((Occur::Must, parsed));
        }
        if let Viewer::Member { teams } = viewer {
            let mut visible = vec![(
                Occur::Should,
                Self::term_query(f.listing, ListingState::Published.as_str()),
            )];
            for t in teams {
                visible.push((Occur::Should, Self::term_query(f.team_id, &t.to_string())));
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(visible))));
        }
        if let Some(path) = &q.domain_path {
            must.push((Occur::Must, Self::facet_query(f.domain_tree, path)));
        }
        if let Some(t) = &q.team {
            must.push((
                Occur::Must,
                Self::facet_query(team, std::slice::from_ref(t)),
            ));
        }
        for t in &q.tags {
            must.push((Occur::Must, Self::facet_query(tag, std::slice::from_ref(t))));
        }
        if let Some(c) = q.classification {
            must.push((
                Occur::Must,
                Self::facet_query(classification, &[c.as_str().to_string()]),
            ));
        }
        if !q.terms.is_empty() {
            let any = q
                .terms
                .iter()
                .map(|t| {
                    (
                        Occur::Should,
                        Self::facet_query(term, std::slice::from_ref(t)),
                    )
                })
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if let Some(l) = q.listing {
            must.push((Occur::Must, Self::term_query(f.listing, l.as_str())));
        }
        match must.len() {
            0 => Box::new(AllQuery),
            _ => {
                if text.is_empty() {
                    // Filters only: every match scores alike, so results come by name.
                    must.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(must))
            }
        }
    }

    /// Runs a search as `viewer`.
    pub fn search(&self, viewer: &Viewer, q: &SearchQuery) -> Result<SearchResults, IndexError> {
        let snapshot = self.current()?;
        let query = self.query(viewer, q);
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let mut collectors = MultiCollector::new();
        let top =
            collectors.add_collector(TopDocs::with_limit(limit).and_offset(q.offset).order_by((
                SortBySimilarityScore,
                (SortByString::for_field("sort_name"), Order::Asc),
            )));
        let count = collectors.add_collector(Count);
        let counts = collectors.add_collector(FacetCounter {
            snapshot: &snapshot,
        });
        let mut fruits = snapshot.searcher.search(&query, &collectors)?;
        let top = top.extract(&mut fruits);
        let total = count.extract(&mut fruits);
        let counts = counts.extract(&mut fruits);
        let mut facets = BTreeMap::new();
        for (i, (name, _)) in FACETS.iter().enumerate() {
            let names = snapshot.names.get(i).map(Vec::as_slice).unwrap_or_default();
            let mut values: Vec<FacetValue> = counts
                .get(i)
                .into_iter()
                .flatten()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .filter_map(|(id, n)| {
                    names.get(id).map(|v| FacetValue {
                        value: v.clone(),
                        count: *n,
                    })
                })
                .collect();
            values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            values.truncate(FACET_VALUES);
            facets.insert(name.to_string(), values);
        }
        let mut results = Vec::with_capacity(top.len());
        for ((score, _), address) in top {
            let doc: TantivyDocument = snapshot.searcher.doc(address)?;
            let Some(json) = doc.get_first(self.fields.summary).and_then(|v| v.as_str()) else {
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
}

/// Decodes the facets of one segment (see [`SegmentFacets`]).
fn decode_facets(
    segment: &SegmentReader,
    interners: &mut [Interner],
) -> Result<SegmentFacets, IndexError> {
    let mut facets = Vec::with_capacity(FACETS.len());
    for ((_, field), interner) in FACETS.iter().zip(interners.iter_mut()) {
        let reader = segment.facet_reader(field)?;
        let mut ids = Vec::with_capacity(reader.num_facets());
        let mut facet = tantivy::schema::Facet::root();
        for ord in 0..reader.num_facets() {
            reader.facet_from_ord(ord as u64, &mut facet)?;
            ids.push(interner.id(facet.to_path().last().copied().unwrap_or_default()));
        }
        let docs = segment.max_doc() as usize;
        let mut offsets = Vec::with_capacity(docs + 1);
        let mut values = Vec::with_capacity(docs);
        offsets.push(0);
        for doc in 0..segment.max_doc() {
            for ord in reader.facet_ords(doc) {
                values.push(ids.get(ord as usize).copied().unwrap_or(u32::MAX));
            }
            offsets.push(u32::try_from(values.len()).unwrap_or(u32::MAX));
        }
        facets.push((offsets, values));
    }
    Ok(SegmentFacets { facets })
}

/// Counts the facet values of the matching documents from the decoded segments.
struct FacetCounter<'a> {
    snapshot: &'a Snapshot,
}

struct SegmentFacetCounter {
    facets: Arc<SegmentFacets>,
    counts: Vec<Vec<u64>>,
}

impl Collector for FacetCounter<'_> {
    type Fruit = Vec<Vec<u64>>;
    type Child = SegmentFacetCounter;

    fn for_segment(
        &self,
        _ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<SegmentFacetCounter> {
        let facets = self
            .snapshot
            .segments
            .get(&segment.segment_id())
            .cloned()
            .ok_or_else(|| {
                tantivy::TantivyError::InternalError("a segment's facets are not decoded".into())
            })?;
        Ok(SegmentFacetCounter {
            facets,
            counts: self
                .snapshot
                .names
                .iter()
                .map(|n| vec![0; n.len()])
                .collect(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Vec<u64>>>) -> tantivy::Result<Vec<Vec<u64>>> {
        let mut total: Vec<Vec<u64>> = self
            .snapshot
            .names
            .iter()
            .map(|n| vec![0; n.len()])
            .collect();
        for fruit in fruits {
            for (sum, part) in total.iter_mut().zip(fruit) {
                for (s, p) in sum.iter_mut().zip(part) {
                    *s += p;
                }
            }
        }
        Ok(total)
    }
}

impl SegmentCollector for SegmentFacetCounter {
    type Fruit = Vec<Vec<u64>>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let doc = doc as usize;
        for ((offsets, values), counts) in self.facets.facets.iter().zip(self.counts.iter_mut()) {
            let (Some(&start), Some(&end)) = (offsets.get(doc), offsets.get(doc + 1)) else {
                continue;
            };
            for v in values
                .get(start as usize..end as usize)
                .into_iter()
                .flatten()
            {
                if let Some(c) = counts.get_mut(*v as usize) {
                    *c += 1;
                }
            }
        }
    }

    fn harvest(self) -> Vec<Vec<u64>> {
        self.counts
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

    /// Replicas build their indexes in different orders; equal scores must still come back in
    /// one order (by `domain.product`), page after page.
    #[test]
    fn ties_come_back_by_name_whatever_order_the_index_was_built_in() {
        let build = |order: &[u64]| {
            let index = SearchIndex::new().unwrap();
            for n in order {
                let e = entry(*n as u128, &format!("p{n}"), 7, ListingState::Published);
                index.apply(&[], &[e]).unwrap();
            }
            index
        };
        let forward = build(&[1, 2, 3, 4, 5, 6]);
        let backward = build(&[6, 5, 4, 3, 2, 1]);
        for offset in 0..6 {
            let page = SearchQuery {
                limit: 2,
                offset,
                ..q("")
            };
            let a = names(&forward.search(&Viewer::Admin, &page).unwrap());
            let b = names(&backward.search(&Viewer::Admin, &page).unwrap());
            assert_eq!(a, b, "offset {offset}");
        }
        let all = SearchQuery { limit: 10, ..q("") };
        assert_eq!(
            names(&backward.search(&Viewer::Admin, &all).unwrap()),
            ["p1", "p2", "p3", "p4", "p5", "p6"]
        );
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
