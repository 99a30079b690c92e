//! An approval's preview (docs/design/CONSOLE.md §API endpoints added for the console):
//! what the requester would read of each table of a request if it were approved as given —
//! the narrowing an approver has in mind (data filters, kept columns, masks) assumed as
//! grants beside what the requester holds, resolved and read through the same path as the
//! requester's own queries. Nothing is granted or written but the audit event.

use chrono::Utc;
use meshgate_authz::Action;
use meshgate_core::lifecycle::ItemStatus;
use meshgate_core::model::{Grant, ItemKind, new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::change::{grantee_of, load_for};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::audit;
use crate::sample::{self, Sample};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The narrowing to preview, as `approve` takes it; tables not named are previewed as
    /// requested.
    #[serde(default)]
    pub items: Vec<crate::access::ItemScopeRequest>,
    /// Rows per table (default 5, at most 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The principal the preview reads as: the one who asked.
    pub principal: String,
    /// Who the grants would go to: `domain.team` or a principal's name.
    pub grantee: String,
    pub tables: Vec<Sample>,
}

/// `POST /shares/{id}/preview`: for approvers (the same check as approving, separation of
/// duties included: a requester cannot read through a preview what it asked for) who read
/// the product in full themselves (`sample::reads_all_of`: not a mesh admin outside its team).
pub async fn preview(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    req: PreviewRequest,
) -> ApiResult<Preview> {
    let (detail, _) = load_for(state, caller, id, Action::ApproveShare, "preview").await?;
    sample::reads_all_of(state, caller, detail.share.product_id, "preview this share").await?;
    let pending: Vec<_> = detail
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::PendingApproval)
        .collect();
    if pending.is_empty() {
        return Err(ApiError::conflict(format!(
            "share `{id}` has no item pending approval: there is nothing to preview"
        )));
    }
    let scopes = super::scopes_of(state, &detail, &req.items).await?;
    let grantee = grantee_of(&detail.share)?;
    let tables = state.store.list_tables(detail.share.product_id).await?;
    let now = Utc::now();
    let mut assumed: Vec<Grant> = Vec::new();
    for item in pending {
        let scope = scopes
            .iter()
            .find(|(i, _)| *i == item.id)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| item.scope.clone());
        let targets = tables.iter().filter(|t| match item.kind {
            ItemKind::Table => item.table_id == Some(t.id),
            ItemKind::Product => true,
            ItemKind::Folder => false,
        });
        for t in targets {
            if assumed.iter().any(|g| g.table_id == t.id) {
                continue;
            }
            assumed.push(Grant {
                id: new_id(),
                share_item_id: item.id,
                grantee,
                table_id: t.id,
                permission: item.permission,
                scope: scope.clone(),
                created_at: now,
            });
        }
    }
    let consumer_id = detail
        .share
        .requester_principal_id
        .unwrap_or(detail.share.created_by);
    let consumer = state
        .store
        .get_principal(consumer_id)
        .await?
        .ok_or_else(|| ApiError::conflict("the requester of this share no longer exists"))?;
    let (actor, _) = crate::auth::view_of(state, &consumer).await?;
    let access = crate::snapshot::assuming(state, &consumer, &actor, &assumed).await?;
    let product = state
        .store
        .get_product(detail.share.product_id)
        .await?
        .ok_or_else(|| ApiError::conflict("the product of this share no longer exists"))?;
    let domain = crate::views::name_of_domain(state, product.domain_id).await?;
    let limit = req.limit.unwrap_or(5);
    let mut out = Vec::new();
    for g in &assumed {
        let Some(t) = tables.iter().find(|t| t.id == g.table_id) else {
            continue;
        };
        let Some((_, visible)) = access.find(&domain, &product.name, &t.name) else {
            continue;
        };
        out.push(sample::read(state, visible, limit).await?);
    }
    let grantee_name = match detail.share.requester_team_id {
        Some(team) => crate::views::qualified_team(state, team).await?,
        None => consumer.name.clone(),
    };
    let event = audit(caller, "share.preview", "share", id).with_detail(json!({
        "as": consumer.name,
        "scopes": assumed.iter().map(|g| json!({"table_id": g.table_id, "scope": g.scope})).collect::<Vec<_>>(),
    }));
    state.store.append_audit(event).await?;
    Ok(Preview {
        principal: consumer.name,
        grantee: grantee_name,
        tables: out,
    })
}
