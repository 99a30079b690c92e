//! Metadata forms: [`types`] (form types, typed and versioned), [`targets`] (the forms
//! filled from them for products, tables and share requests) and [`rules`] (the enforcement
//! rules that require forms for publishing a product or requesting access to one).

pub mod rules;
pub mod targets;
pub mod types;

pub use rules::{domain_parents, missing_for, required};
pub use targets::{FormView, fill, views};

use crate::state::AppState;

/// The routes of metadata forms, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    types::routes()
        .merge(targets::routes())
        .merge(rules::routes())
}
