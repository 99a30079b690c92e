//! Reading the audit log: `GET /audit`, for those who may read it (admins and auditors),
//! events oldest first with the actor's name. Writing it is every operation's own work, in
//! the same store call as its change (docs/design/ARCHITECTURE.md §Invariants).

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

/// `GET /audit`.
pub async fn list(state: &AppState, caller: &Caller, q: AuditQuery) -> ApiResult<Vec<AuditView>> {
    authorize(
        state,
        caller,
        Action::ReadAudit,
        &Resource::Mesh,
        "read the audit log",
    )?;
    let actor_id = match &q.actor {
        Some(name) => Some(principal_by_name(state, name).await?.id),
        None => None,
    };
    let filter = AuditFilter {
        after_seq: q.after,
        actor_id,
        action_prefix: q.action,
        object_id: q.object,
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
