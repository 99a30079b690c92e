//! The governed catalog (issue 7): listing states of products ([`listing`]), catalog metadata
//! (table and column classification and tags in [`tags`], glossary terms attached to products
//! and columns in [`terms`], a product's whole entry in [`entry`]), the domain hierarchy
//! ([`hierarchy`]), automatic classification's suggested tags ([`suggestions`]), and search
//! (the API in [`find`], the index in [`search`] and [`index`]);
//! metadata forms and enforcement rules are in [`forms`], the business glossary in
//! [`glossary`], the checks of share requests in [`requests`]. The quickstart's demo catalog
//! is the CLI's (`meshgate_cli::demo::catalog`).
//!
//! **Listing states.** A product is `draft`, `published` or `unpublished`. Published products
//! are visible to everyone (their metadata, never their data) and can be requested; drafts and
//! unpublished products only to their owning team's members and admins, and cannot be
//! requested. Products are created published, as before the catalog existed, unless created
//! with `draft: true` or in a domain where a publish rule applies (then they start as drafts).
//! Every change to a product's catalog metadata bumps its revision; what is published is
//! always the latest revision, and a published product must keep satisfying its publish rules
//! (removing a form one requires is refused until it is unpublished). Unpublishing keeps
//! existing shares: grants stay in force, only new requests are refused.
//!
//! **The search index follows the store.** It is rebuilt from the store at start-up, and each
//! write here (and each product create, append, tag or delete elsewhere) reindexes the
//! products it touched before the API call returns, so a search after a write sees it.

pub mod entry;
pub mod find;
pub mod forms;
pub mod glossary;
pub mod hierarchy;
pub mod index;
pub mod listing;
pub mod requests;
pub mod search;
pub mod suggestions;
pub mod tags;
pub mod terms;

pub use find::{SearchParams, search};
pub use index::Catalog;
pub use listing::initial_listing;

use crate::state::AppState;

/// The routes of the catalog, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    find::routes()
        .merge(listing::routes())
        .merge(entry::routes())
        .merge(terms::routes())
        .merge(tags::routes())
        .merge(suggestions::routes())
        .merge(hierarchy::routes())
        .merge(forms::routes())
        .merge(glossary::routes())
}
