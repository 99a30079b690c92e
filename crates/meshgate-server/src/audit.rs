//! Reading the audit log: `GET /audit`, for those who may read it (admins and auditors),
//! events oldest first with the actor's name. Writing it is every operation's own work, in
//! the same store call as its change (docs/design/ARCHITECTURE.md §Invariants); the store
//! links each event into the tamper-evident chain as it commits.
//!
//! - `chain`: what verification and export read (the chain, events outside it, digests, keys);
//! - `digests`: the signer of digests;
//! - `stream`: the whole stream to SIEM sinks, with its cursors and replays
//!   (docs/design/AUDIT.md);
//! - `alerts`: unusual-read alerts, suspensions and the detector's settings.

pub mod alerts;
pub mod chain;
pub mod digests;
pub mod stream;

use std::collections::HashMap;

use meshgate_authz::{Action, Resource};
use meshgate_core::model::AuditEvent;
use meshgate_store::AuditFilter;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::lookup::{authorize, principal_by_name};
use crate::state::AppState;

/// The filters of `GET /audit`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events after this sequence number (for paging and tailing).
    pub after: Option<i64>,
    /// Only this principal's acts (by name).
    pub actor: Option<String>,
    /// Only actions starting with this, e.g. `share.` or `query.run`.
    pub action: Option<String>,
    /// Only events about this object id.
    pub object: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. `2026-12-01T00:00:00Z`).
    #[param(value_type = Option<String>)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events before this time (RFC 3339).
    #[param(value_type = Option<String>)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `json` (the default) or `csv` (a file to download: seq, at, actor, action,
    /// object_type, object_id, outcome, request_id, detail as JSON).
    pub format: Option<String>,
    /// At most this many (capped at 1000).
    pub limit: Option<u32>,
}

/// An audit event with its actor's name (`system` for the server's own acts).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    #[serde(flatten)]
    pub event: AuditEvent,
    pub actor: Option<String>,
}

/// `GET /audit`: JSON, or with `format=csv` a CSV file.
pub async fn respond(
    state: &AppState,
    caller: &Caller,
    q: AuditQuery,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(crate::error::ApiError::bad_request(format!(
                "unknown format `{other}`; use `json` or `csv`"
            )));
        }
    };
    let events = list(state, caller, q).await?;
    if csv {
        return Ok((
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"meshgate-audit.csv\"",
                ),
            ],
            to_csv(&events)?,
        )
            .into_response());
    }
    Ok(axum::Json(events).into_response())
}

/// Whether `caller` may read the audit log and what follows it (the chain, digests, keys,
/// sinks): every `/audit` route asks here.
pub(crate) fn may_read(state: &AppState, caller: &Caller) -> ApiResult<()> {
    authorize(
        state,
        caller,
        Action::ReadAudit,
        &Resource::Mesh,
        "read the audit log",
    )
}

/// `GET /audit`.
pub async fn list(state: &AppState, caller: &Caller, q: AuditQuery) -> ApiResult<Vec<AuditView>> {
    may_read(state, caller)?;
    let actor_id = match &q.actor {
        Some(name) => Some(principal_by_name(state, name).await?.id),
        None => None,
    };
    let filter = AuditFilter {
        after_seq: q.after,
        actor_id,
        action_prefix: q.action,
        object_id: q.object,
        from: q.from,
        to: q.to,
        limit: q.limit,
    };
    let mut names: HashMap<uuid::Uuid, String> = HashMap::new();
    let mut out = Vec::new();
    for event in state.store.list_audit(&filter).await? {
        let actor = match event.actor_id {
            Some(id) => match names.get(&id) {
                Some(name) => Some(name.clone()),
                None => {
                    let name = crate::views::name_of_principal(state, id).await?;
                    names.insert(id, name.clone());
                    Some(name)
                }
            },
            None => Some("system".to_string()),
        };
        out.push(AuditView { event, actor });
    }
    Ok(out)
}

/// The events as CSV, one line each, the detail as compact JSON.
pub fn to_csv(events: &[AuditView]) -> ApiResult<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| crate::error::ApiError::internal(e);
    w.write_record([
        "seq",
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "outcome",
        "request_id",
        "detail",
    ])
    .map_err(csv_error)?;
    for v in events {
        let e = &v.event;
        w.write_record([
            e.seq.to_string(),
            e.at.to_rfc3339(),
            v.actor.clone().unwrap_or_default(),
            e.action.clone(),
            e.object_type.clone(),
            e.object_id.clone().unwrap_or_default(),
            e.outcome.to_string(),
            e.request_id.clone().unwrap_or_default(),
            e.detail.to_string(),
        ])
        .map_err(csv_error)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| crate::error::ApiError::internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(crate::error::ApiError::internal)
}
