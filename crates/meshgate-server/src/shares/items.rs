//! What a share covers: building items from a request (tables, folders, the whole product),
//! adding and removing items, and changing a processed item's grant (`modify-subscription`).

use chrono::Utc;
use meshgate_authz::Action;
use meshgate_core::access::GrantScope;
use meshgate_core::lifecycle::{
    ItemAction, ItemStatus, ItemTarget, ShareAction, ShareStatus, Step, item_step, share_step,
};
use meshgate_core::model::{Health, ItemKind, JobKind, Permission, ShareItem, new_id};
use meshgate_store::{ItemHealth, ShareChange};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::change::{
    enqueue_and_wait, grantee_of, load_for, repeated, share_job, transition_event,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::ShareView;

/// The longest folder prefix.
const MAX_PATH: usize = 1024;

/// Which items a request or an `add-items` asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ItemSelection {
    /// Table names. In a request, leaving out tables, folders and `whole_product` asks for
    /// every table.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    #[serde(default)]
    pub folders: Vec<String>,
    #[serde(default)]
    pub whole_product: bool,
}

impl ItemSelection {
    fn is_empty(&self) -> bool {
        self.tables.as_ref().is_none_or(|t| t.is_empty())
            && self.folders.is_empty()
            && !self.whole_product
    }
}

/// A folder prefix as stored: relative, `/`-separated, no `.`/`..`/empty segments; the empty
/// prefix is refused (that is the whole product's files: ask for `whole_product`).
pub fn normalize_folder(raw: &str) -> ApiResult<String> {
    let bad = |why: &str| ApiError::bad_request(format!("folder `{raw}`: {why}"));
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "/" {
        return Err(bad("is empty; ask for `whole_product` to share every file"));
    }
    if trimmed.len() > MAX_PATH {
        return Err(bad("is longer than 1024 bytes"));
    }
    if trimmed.starts_with('/') {
        return Err(bad("must be relative to the product (no leading `/`)"));
    }
    if trimmed.chars().any(|c| c.is_control() || c == '\\') {
        return Err(bad("contains a control character or a backslash"));
    }
    let body = trimmed.trim_end_matches('/');
    if body
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(bad("has an empty, `.` or `..` segment"));
    }
    Ok(format!("{body}/"))
}

/// The items `selection` asks for, new and pending approval; refuses what `existing` items
/// (not yet removed) already cover.
pub async fn new_items(
    state: &AppState,
    product_name: &str,
    product_id: Uuid,
    share_id: Uuid,
    selection: &ItemSelection,
    existing: &[ShareItem],
) -> ApiResult<Vec<ShareItem>> {
    let tables = state.store.list_tables(product_id).await?;
    let now = Utc::now();
    let item = |kind, table_id, path| ShareItem {
        id: new_id(),
        share_id,
        kind,
        table_id,
        path,
        permission: Permission::Read,
        scope: GrantScope::default(),
        status: ItemStatus::PendingApproval,
        health: None,
        health_message: None,
        last_verified_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut out: Vec<ShareItem> = Vec::new();
    let names: Vec<String> = match &selection.tables {
        Some(names)
            if names.is_empty() && selection.folders.is_empty() && !selection.whole_product =>
        {
            return Err(ApiError::bad_request(
                "`tables` is empty; leave it out to ask for every table",
            ));
        }
        Some(names) => names.clone(),
        None if existing.is_empty() && selection.is_empty() => {
            tables.iter().map(|t| t.name.clone()).collect()
        }
        None => Vec::new(),
    };
    for n in &names {
        let Some(t) = tables.iter().find(|t| &t.name == n) else {
            return Err(ApiError::bad_request(format!(
                "`{product_name}` has no table `{n}`; its tables are: {}",
                tables
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if out.iter().any(|o| o.table_id == Some(t.id)) {
            continue;
        }
        if existing.iter().any(|e| e.table_id == Some(t.id)) {
            return Err(ApiError::conflict(format!(
                "table `{n}` is already an item of this share"
            )));
        }
        out.push(item(ItemKind::Table, Some(t.id), None));
    }
    for raw in &selection.folders {
        let path = normalize_folder(raw)?;
        if out.iter().any(|o| o.path.as_deref() == Some(path.as_str())) {
            continue;
        }
        if existing
            .iter()
            .any(|e| e.path.as_deref() == Some(path.as_str()))
        {
            return Err(ApiError::conflict(format!(
                "folder `{path}` is already an item of this share"
            )));
        }
        out.push(item(ItemKind::Folder, None, Some(path)));
    }
    if selection.whole_product {
        if existing.iter().any(|e| e.kind == ItemKind::Product) {
            return Err(ApiError::conflict(
                "the whole product is already an item of this share",
            ));
        }
        out.push(item(ItemKind::Product, None, None));
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(format!(
            "`{product_name}` has nothing to share: name tables, folders or `whole_product`"
        )));
    }
    Ok(out)
}

/// How an item reads in logs and audit details: `table orders`, `folder reports/`, `product`.
pub fn describe_item_plain(item: &ShareItem) -> String {
    match item.kind {
        ItemKind::Table => format!(
            "table {}",
            item.table_id.map(|t| t.to_string()).unwrap_or_default()
        ),
        ItemKind::Folder => format!("folder {}", item.path.as_deref().unwrap_or("")),
        ItemKind::Product => "product".to_string(),
    }
}

/// `POST /shares/{id}/items`: adds items, pending approval. A draft stays a draft; a share in
/// `submitted`, `rejected`, `processed` or `extension_rejected` goes back to `draft`
/// (`add_item` in docs/design/LIFECYCLE.md §Share status), to be submitted again.
pub async fn add_items(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    selection: ItemSelection,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::AddShareItem, "add items to").await?;
    if selection.is_empty() {
        return Err(ApiError::bad_request(
            "name the items to add: `tables`, `folders` or `whole_product`",
        ));
    }
    let to = match detail.share.status {
        ShareStatus::Draft => ShareStatus::Draft,
        from => match share_step(&id.to_string(), from, ShareAction::AddItem)? {
            Step::Moved(to) => to,
            Step::Unchanged => from,
        },
    };
    let product = state
        .store
        .get_product(detail.share.product_id)
        .await?
        .ok_or_else(|| ApiError::conflict("the share's product no longer exists"))?;
    let items = new_items(
        state,
        &product.name,
        product.id,
        id,
        &selection,
        &detail.items,
    )
    .await?;
    let described: Vec<String> = items.iter().map(describe_item_plain).collect();
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        status: Some(to),
        audit: vec![transition_event(
            caller,
            "add_items",
            &detail,
            to,
            json!({"items": described}),
        )],
        new_items: items,
        ..Default::default()
    };
    let after = state.store.apply_share_change(change).await?;
    ShareView::load(state, after).await
}

/// `DELETE /shares/{id}/items/{item}`: takes an item that gives nothing out of the share
/// (pending approval, rejected, failed or revoked).
pub async fn remove_item(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    item_id: Uuid,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(
        state,
        caller,
        id,
        Action::RemoveShareItem,
        "remove items from",
    )
    .await?;
    if detail.share.status == ShareStatus::Deleted {
        return Err(ApiError::conflict(format!(
            "share `{id}` is deleted (archived); its items stay as they were"
        )));
    }
    let Some(item) = detail.items.iter().find(|i| i.id == item_id) else {
        return Err(ApiError::not_found("share item", &item_id.to_string()));
    };
    match item_step(&item_id.to_string(), item.status, ItemAction::RemoveItem)? {
        ItemTarget::Removed => {}
        ItemTarget::Status(_) => return Err(ApiError::internal("remove_item kept the item")),
    }
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        removed_items: vec![item_id],
        audit: vec![transition_event(
            caller,
            "remove_item",
            &detail,
            detail.share.status,
            json!({"item": item_id, "was": item.status, "what": describe_item_plain(item)}),
        )],
        ..Default::default()
    };
    let after = state.store.apply_share_change(change).await?;
    ShareView::load(state, after).await
}

/// The body of `modify-subscription`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct ModifyRequest {
    #[serde(default)]
    pub data_filters: Vec<String>,
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    pub masks: std::collections::BTreeMap<String, meshgate_core::access::Mask>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub wait: Option<bool>,
}

/// `POST /shares/{id}/items/{item}/modify`: approvers change what a processed table item
/// gives (data filters, columns, masks). The item's grant is re-made by the worker (a
/// `reapply` run), audited as `share.modify`.
pub async fn modify(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    item_id: Uuid,
    req: ModifyRequest,
) -> ApiResult<ShareView> {
    let (detail, _) = load_for(state, caller, id, Action::ModifyShare, "modify").await?;
    let item = detail
        .items
        .iter()
        .find(|i| i.id == item_id)
        .ok_or_else(|| ApiError::not_found("share item", &item_id.to_string()))?;
    if item.status != ItemStatus::ShareSucceeded {
        return Err(ApiError::conflict(format!(
            "item `{item_id}` is `{}`; only a processed item (`share_succeeded`) can be modified \
             — narrow a pending item when approving it instead",
            item.status
        )));
    }
    let Some(table_id) = item.table_id.filter(|_| item.kind == ItemKind::Table) else {
        return Err(ApiError::bad_request(
            "only table items carry data filters, columns and masks",
        ));
    };
    let table = state
        .store
        .get_table(table_id)
        .await?
        .ok_or_else(|| ApiError::conflict("the item's table no longer exists"))?;
    let grantee = grantee_of(&detail.share)?;
    let scope = crate::access::scope_for(
        state,
        &table,
        grantee,
        &crate::access::ItemScopeRequest {
            table: table.name.clone(),
            data_filters: req.data_filters.clone(),
            columns: req.columns.clone(),
            masks: req.masks.clone(),
        },
    )
    .await?;
    if scope == item.scope {
        return repeated(state, detail, req.wait.unwrap_or(true)).await;
    }
    let change = ShareChange {
        share_id: id,
        expected_version: detail.share.version,
        item_scopes: vec![(item_id, scope.clone())],
        item_health: vec![ItemHealth {
            item_id,
            health: Health::PendingReapply,
            message: Some("modified; the grant is being re-made".into()),
            verified_at: Utc::now(),
        }],
        audit: vec![transition_event(
            caller,
            "modify",
            &detail,
            detail.share.status,
            json!({"item": item_id, "table": table.name, "from": item.scope, "to": scope, "notes": req.notes}),
        )],
        jobs: vec![share_job(JobKind::ReapplyShare, &detail.share)],
        ..Default::default()
    };
    let after = enqueue_and_wait(state, change, req.wait.unwrap_or(true)).await?;
    ShareView::load(state, after).await
}
