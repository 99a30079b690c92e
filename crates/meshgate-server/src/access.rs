//! Fine-grained access (docs/design/ACCESS.md) on the control plane: [`filters`] (data
//! filters), [`row_rules`] (QuickSight row rules), [`tags`] (column tags), [`masks`] (tag
//! masks and the mask key), [`scopes`] (what approvers attach to share items) and
//! [`who_sees`] (how many rows a principal reads of each table); the
//! checks they share against a table's schema are in [`schema`].
//!
//! Every write is checked against the table's current schema when it is saved (a filter that
//! does not compile is refused with its position), bumps the policy version (so it takes
//! effect on everyone's next query) and is audited.

pub mod filters;
pub mod masks;
pub mod row_rules;
pub mod schema;
pub mod scopes;
pub mod tags;
pub mod who_sees;

pub use row_rules::{rules_from_csv, rules_to_csv};
pub use scopes::{ItemScopeRequest, scope_for};

use crate::state::AppState;

/// The routes of this module, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    filters::routes()
        .merge(tags::routes())
        .merge(row_rules::routes())
        .merge(masks::routes())
        .merge(who_sees::routes())
}
