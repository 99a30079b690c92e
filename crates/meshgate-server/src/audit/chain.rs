//! What `meshgate audit verify` and `meshgate audit export` read (docs/design/AUDIT.md): the
//! chain in position order with its head, the events outside it, the signed digests and the
//! public keys. The verifying is the client's: it trusts what it checks, not the server.

use meshgate_core::audit_chain::{AuditDigest, AuditKey, ChainHead};
use meshgate_core::model::AuditEvent;
use serde::{Deserialize, Serialize};

use super::may_read;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// How many events or digests one page holds at most.
pub const PAGE_MAX: u32 = 1000;

/// The paging of `GET /audit/chain` and `GET /audit/digests`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChainQuery {
    /// The first position (default 1).
    pub from: Option<i64>,
    /// At most this many (default and cap 1000).
    pub limit: Option<u32>,
}

/// The paging of `GET /audit/outside`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutsideQuery {
    /// Only events after this sequence number.
    pub after: Option<i64>,
    /// At most this many (default and cap 1000).
    pub limit: Option<u32>,
}

/// One page of the chain, and where the chain ends now.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainPage {
    pub head: ChainHead,
    /// Events from `from` on, in position order, each with its `chain` link.
    pub events: Vec<AuditEvent>,
}

fn limit(asked: Option<u32>) -> u32 {
    asked.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX)
}

/// `GET /audit/chain`.
pub async fn chain(state: &AppState, caller: &Caller, q: ChainQuery) -> ApiResult<ChainPage> {
    may_read(state, caller)?;
    // The head first: every event up to it is committed, so a page read after it never
    // ends short of it because of a commit in between.
    let head = state.store.audit_head().await?;
    let events = state
        .store
        .audit_chain(q.from.unwrap_or(1).max(1), limit(q.limit))
        .await?;
    Ok(ChainPage { head, events })
}

/// `GET /audit/outside`.
pub async fn outside(
    state: &AppState,
    caller: &Caller,
    q: OutsideQuery,
) -> ApiResult<Vec<AuditEvent>> {
    may_read(state, caller)?;
    Ok(state
        .store
        .audit_outside_chain(q.after.unwrap_or(0), limit(q.limit))
        .await?)
}

/// `GET /audit/digests`.
pub async fn digests(
    state: &AppState,
    caller: &Caller,
    q: ChainQuery,
) -> ApiResult<Vec<AuditDigest>> {
    may_read(state, caller)?;
    Ok(state
        .store
        .audit_digests(q.from.unwrap_or(1), limit(q.limit))
        .await?)
}

/// `GET /audit/keys`.
pub async fn keys(state: &AppState, caller: &Caller) -> ApiResult<Vec<AuditKey>> {
    may_read(state, caller)?;
    Ok(state.store.audit_keys().await?)
}
