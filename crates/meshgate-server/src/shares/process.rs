//! The worker's side of the lifecycle: processing approvals and revocations into grants,
//! verifying what items give against what is in force (health), re-applying unhealthy items,
//! and cleaning up shares with nothing shared left.
//!
//! Every run is idempotent: it reloads the share, acts only on items in the state its step
//! applies to, and commits its outcome in one versioned store change, so a run repeated after
//! a crash resumes where the last one stopped and a run that lost a race is retried. Each run
//! keeps its log lines (`meshgate share-logs`).

use std::collections::HashMap;

use chrono::Utc;
use meshgate_core::access::GrantScope;
use meshgate_core::lifecycle::{
    ItemAction, ItemStatus, ItemTarget, ShareAction, ShareStatus, item_step, item_transition,
    share_step,
};
use meshgate_core::model::{
    FileGrant, Grant, Grantee, Health, ItemKind, JobKind, NewAuditEvent, ProductTable, ShareDetail,
    ShareItem, ShareLog, new_id,
};
use meshgate_engine::arrow::datatypes::SchemaRef;
use meshgate_store::{ItemHealth, ShareChange};
use serde_json::json;
use uuid::Uuid;

use super::change::{grantee_of, share_job};
use crate::state::AppState;

/// The log lines of one processor run, written when the run ends (whatever its outcome).
pub struct RunLog {
    share_id: Uuid,
    run_id: Uuid,
    job: &'static str,
    lines: Vec<ShareLog>,
}

impl RunLog {
    pub fn new(share_id: Uuid, job: &'static str) -> Self {
        RunLog {
            share_id,
            run_id: new_id(),
            job,
            lines: Vec::new(),
        }
    }

    fn line(&mut self, level: &str, message: String) {
        tracing::info!(share = %self.share_id, job = self.job, level, "{message}");
        self.lines.push(ShareLog {
            seq: 0,
            share_id: self.share_id,
            run_id: self.run_id,
            job: self.job.to_string(),
            at: Utc::now(),
            level: level.to_string(),
            message,
        });
    }

    pub fn info(&mut self, message: impl Into<String>) {
        self.line("info", message.into());
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.line("warn", message.into());
    }

    pub fn error(&mut self, message: impl Into<String>) {
        self.line("error", message.into());
    }

    /// Stores the lines; a failure to store them is logged, never fails the run.
    pub async fn flush(self, state: &AppState) {
        if let Err(e) = state.store.append_share_logs(&self.lines).await {
            tracing::error!(share = %self.share_id, error = %e, "cannot store share logs");
        }
    }
}

/// Runs `body` with a run log, records a failure in it, and stores the lines.
pub(super) async fn logged<F>(
    state: &AppState,
    id: Uuid,
    job: &'static str,
    body: F,
) -> meshgate_core::Result<()>
where
    F: AsyncFnOnce(&mut RunLog) -> meshgate_core::Result<()>,
{
    let mut log = RunLog::new(id, job);
    let result = body(&mut log).await;
    if let Err(e) = &result {
        log.error(format!("run failed: {e}; it will be retried"));
    }
    log.flush(state).await;
    result
}

fn system_event(
    verb: &str,
    detail: &ShareDetail,
    to: ShareStatus,
    extra: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent::new(
        None,
        format!("share.{verb}"),
        "share",
        Some(detail.share.id.to_string()),
    )
    .with_detail(json!({
        "from": detail.share.status, "to": to, "extra": extra,
    }))
}

/// The worker's `start`: moves the share into its `*_in_progress` state and every item that
/// `start` applies to (approved for sharing or for revocation) into its own, in one change.
async fn start(state: &AppState, detail: ShareDetail) -> meshgate_core::Result<ShareDetail> {
    let id = detail.share.id;
    let to = share_step(&id.to_string(), detail.share.status, ShareAction::Start)?
        .resulting(detail.share.status);
    let items = detail
        .items
        .iter()
        .filter_map(|i| match item_transition(i.status, ItemAction::Start) {
            Some(ItemTarget::Status(next)) => Some((i.id, next)),
            _ => None,
        })
        .collect();
    state
        .store
        .apply_share_change(ShareChange {
            share_id: id,
            expected_version: detail.share.version,
            status: Some(to),
            item_status: items,
            audit: vec![system_event("start", &detail, to, json!(null))],
            ..Default::default()
        })
        .await
}

/// What an item should give: table grants (table, scope) and file prefixes.
#[derive(Debug, Default)]
pub(super) struct Expected {
    tables: Vec<(Uuid, GrantScope)>,
    prefixes: Vec<String>,
    /// Why the item cannot give what it should (its table is gone, a filter no longer
    /// compiles, …); empty when it can.
    pub(super) problems: Vec<String>,
}

/// Reads tables (and, when checking, their live schemas) once per run.
pub(super) struct Targets<'a> {
    state: &'a AppState,
    tables: HashMap<Uuid, Option<ProductTable>>,
    product_tables: HashMap<Uuid, Vec<ProductTable>>,
    /// Per table: `Err(why)` if its Delta table cannot be opened.
    schemas: HashMap<Uuid, Result<SchemaRef, String>>,
}

impl<'a> Targets<'a> {
    pub(super) fn new(state: &'a AppState) -> Self {
        Targets {
            state,
            tables: HashMap::new(),
            product_tables: HashMap::new(),
            schemas: HashMap::new(),
        }
    }

    async fn table(&mut self, id: Uuid) -> meshgate_core::Result<Option<ProductTable>> {
        if let Some(t) = self.tables.get(&id) {
            return Ok(t.clone());
        }
        let t = self.state.store.get_table(id).await?;
        self.tables.insert(id, t.clone());
        Ok(t)
    }

    async fn of_product(&mut self, product: Uuid) -> meshgate_core::Result<Vec<ProductTable>> {
        if let Some(t) = self.product_tables.get(&product) {
            return Ok(t.clone());
        }
        let t = self.state.store.list_tables(product).await?;
        self.product_tables.insert(product, t.clone());
        Ok(t)
    }

    async fn schema(&mut self, table: &ProductTable) -> Result<SchemaRef, String> {
        if let Some(s) = self.schemas.get(&table.id) {
            return s.clone();
        }
        let opened = async {
            let location = url::Url::parse(&table.location).map_err(|e| e.to_string())?;
            let delta = meshgate_engine::ingest::open(&location)
                .await
                .map_err(|e| e.to_string())?;
            meshgate_engine::ingest::arrow_schema(&delta).map_err(|e| e.to_string())
        }
        .await
        .map_err(|e| {
            tracing::warn!(table = %table.id, error = %e, "cannot open a shared table");
            format!("table `{}` cannot be read at its location", table.name)
        });
        self.schemas.insert(table.id, opened.clone());
        opened
    }

    /// What `item` (of a share of `product_id`) should give. With `check`, also whether it
    /// still can: the table exists and opens, its data filters exist, name existing columns
    /// and compile, its kept and masked columns exist.
    pub(super) async fn expected(
        &mut self,
        product_id: Uuid,
        item: &ShareItem,
        check: bool,
    ) -> meshgate_core::Result<Expected> {
        let mut out = Expected::default();
        match item.kind {
            ItemKind::Table => {
                let table = match item.table_id {
                    Some(t) => self.table(t).await?,
                    None => None,
                };
                match table {
                    Some(t) if t.product_id == product_id => {
                        if check {
                            self.check_scope(&t, &item.scope, &mut out.problems).await?;
                        }
                        out.tables.push((t.id, item.scope.clone()));
                    }
                    _ => out
                        .problems
                        .push("its table no longer exists in the product".into()),
                }
            }
            ItemKind::Folder => match &item.path {
                Some(p) => out.prefixes.push(p.clone()),
                None => out.problems.push("the folder item has no path".into()),
            },
            ItemKind::Product => {
                for t in self.of_product(product_id).await? {
                    if check && let Err(why) = self.schema(&t).await {
                        out.problems.push(why);
                    }
                    out.tables.push((t.id, GrantScope::default()));
                }
                out.prefixes.push(String::new());
            }
        }
        Ok(out)
    }

    async fn check_scope(
        &mut self,
        table: &ProductTable,
        scope: &GrantScope,
        problems: &mut Vec<String>,
    ) -> meshgate_core::Result<()> {
        let schema = match self.schema(table).await {
            Ok(s) => s,
            Err(why) => {
                problems.push(why);
                return Ok(());
            }
        };
        let has = |c: &str| schema.field_with_name(c).is_ok();
        if !scope.data_filters.is_empty() {
            let filters = self
                .state
                .store
                .data_filters_by_ids(&scope.data_filters)
                .await?;
            for id in &scope.data_filters {
                let Some(f) = filters.iter().find(|f| f.id == *id) else {
                    problems.push(format!("data filter `{id}` no longer exists"));
                    continue;
                };
                if let Some(cols) = &f.columns {
                    for c in cols.iter().filter(|c| !has(c)) {
                        problems.push(format!(
                            "data filter `{}` keeps column `{c}`, which the table no longer has",
                            f.name
                        ));
                    }
                }
                if let Some(expr) = &f.row_filter
                    && let Err(e) = meshgate_engine::policy::validate_filter(expr, &schema)
                {
                    problems.push(format!(
                        "the row filter of data filter `{}` no longer compiles: {e}",
                        f.name
                    ));
                }
            }
        }
        if let Some(cols) = &scope.columns {
            for c in cols.iter().filter(|c| !has(c)) {
                problems.push(format!("kept column `{c}` no longer exists"));
            }
        }
        for c in scope.masks.keys().filter(|c| !has(c)) {
            problems.push(format!("masked column `{c}` no longer exists"));
        }
        Ok(())
    }
}

/// The grants that make `expected` real for `item`.
pub(super) fn grants_for(
    item: &ShareItem,
    grantee: Grantee,
    product_id: Uuid,
    expected: &Expected,
) -> (Vec<Grant>, Vec<FileGrant>) {
    let now = Utc::now();
    let grants = expected
        .tables
        .iter()
        .map(|(table_id, scope)| Grant {
            id: new_id(),
            share_item_id: item.id,
            grantee,
            table_id: *table_id,
            permission: item.permission,
            scope: scope.clone(),
            created_at: now,
        })
        .collect();
    let files = expected
        .prefixes
        .iter()
        .map(|prefix| FileGrant {
            id: new_id(),
            share_item_id: item.id,
            grantee,
            product_id,
            prefix: prefix.clone(),
            created_at: now,
        })
        .collect();
    (grants, files)
}

/// Differences between what `item` should give and the grants in force for it; empty when
/// they agree (one grant per expected table with the item's grantee, permission and scope;
/// one file grant per expected prefix; nothing else).
pub(super) fn compare(
    item: &ShareItem,
    grantee: Grantee,
    expected: &Expected,
    grants: &[&Grant],
    files: &[&FileGrant],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (table_id, scope) in &expected.tables {
        let matching: Vec<_> = grants.iter().filter(|g| g.table_id == *table_id).collect();
        match matching.as_slice() {
            [] => problems.push(format!("the grant on table `{table_id}` is missing")),
            [g] if g.grantee != grantee || g.permission != item.permission => problems.push(
                format!("the grant on table `{table_id}` is for another grantee or permission"),
            ),
            [g] if g.scope != *scope => problems.push(format!(
                "the grant on table `{table_id}` differs from the item's filters, columns or masks"
            )),
            [_] => {}
            more => problems.push(format!(
                "{} grants on table `{table_id}` instead of one",
                more.len()
            )),
        }
    }
    for g in grants
        .iter()
        .filter(|g| !expected.tables.iter().any(|(t, _)| *t == g.table_id))
    {
        problems.push(format!(
            "an unexpected grant on table `{}` is in force",
            g.table_id
        ));
    }
    for prefix in &expected.prefixes {
        let n = files.iter().filter(|f| f.prefix == *prefix).count();
        if n != 1 {
            problems.push(format!(
                "{n} file grants on prefix `{prefix}` instead of one"
            ));
        }
    }
    for f in files
        .iter()
        .filter(|f| !expected.prefixes.contains(&f.prefix))
    {
        problems.push(format!(
            "an unexpected file grant on prefix `{}` is in force",
            f.prefix
        ));
    }
    problems
}

/// Processes an approved share: grants every approved item. Safe to run again after a crash:
/// a share already in progress is resumed, one already processed is left alone.
pub async fn process_share(state: &AppState, id: Uuid) -> meshgate_core::Result<()> {
    logged(state, id, "process_share", async |log: &mut RunLog| {
        let Some(mut detail) = state.store.get_share(id).await? else {
            return Ok(());
        };
        if detail.share.status == ShareStatus::Approved {
            detail = start(state, detail).await?;
            log.info(format!(
                "started: {} item(s) to share",
                detail
                    .items
                    .iter()
                    .filter(|i| i.status == ItemStatus::ShareInProgress)
                    .count()
            ));
            state.config.step_delay().await;
        }
        if detail.share.status != ShareStatus::ShareInProgress {
            return Ok(());
        }
        let grantee = grantee_of(&detail.share)?;
        let product_id = detail.share.product_id;
        let mut targets = Targets::new(state);
        let mut change = ShareChange::default();
        let mut outcomes = Vec::new();
        let mut failed = Vec::new();
        let now = Utc::now();
        for item in detail
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::ShareInProgress)
        {
            let expected = targets.expected(product_id, item, false).await?;
            if expected.problems.is_empty() {
                let (grants, files) = grants_for(item, grantee, product_id, &expected);
                log.info(format!(
                    "{}: granted ({} table grant(s), {} file grant(s))",
                    super::items::describe_item_plain(item),
                    grants.len(),
                    files.len()
                ));
                change.grants_to_add.extend(grants);
                change.file_grants_to_add.extend(files);
                change.item_health.push(ItemHealth {
                    item_id: item.id,
                    health: Health::Healthy,
                    message: None,
                    verified_at: now,
                });
                outcomes.push((item.id, ItemAction::Success));
            } else {
                log.error(format!(
                    "{}: failed: {}",
                    super::items::describe_item_plain(item),
                    expected.problems.join("; ")
                ));
                outcomes.push((item.id, ItemAction::Failure));
                failed.push(json!({"item": item.id, "why": expected.problems}));
            }
        }
        state.config.step_delay().await;
        finish(
            state,
            detail,
            ShareAction::Finish,
            &outcomes,
            change,
            json!({"failed_items": failed}),
        )
        .await?;
        log.info("finished");
        Ok(())
    })
    .await
}

/// Processes a revocation: removes the grants of items approved for revocation. When nothing
/// is shared afterwards, a cleanup run follows.
pub async fn revoke_share(state: &AppState, id: Uuid) -> meshgate_core::Result<()> {
    logged(state, id, "revoke_share", async |log: &mut RunLog| {
        let Some(mut detail) = state.store.get_share(id).await? else {
            return Ok(());
        };
        if detail.share.status == ShareStatus::Revoked {
            detail = start(state, detail).await?;
            state.config.step_delay().await;
        }
        if detail.share.status != ShareStatus::RevokeInProgress {
            return Ok(());
        }
        let revoking: Vec<&ShareItem> = detail
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::RevokeInProgress)
            .collect();
        for item in &revoking {
            log.info(format!(
                "{}: grants removed",
                super::items::describe_item_plain(item)
            ));
        }
        let pending = detail
            .items
            .iter()
            .any(|i| i.status == ItemStatus::PendingApproval);
        let action = if pending {
            ShareAction::FinishPending
        } else {
            ShareAction::Finish
        };
        let ids: Vec<Uuid> = revoking.iter().map(|i| i.id).collect();
        let still_shared = detail
            .items
            .iter()
            .any(|i| i.status.is_shared() && !ids.contains(&i.id));
        let outcomes: Vec<_> = ids.iter().map(|i| (*i, ItemAction::Success)).collect();
        let mut change = ShareChange {
            grants_to_remove: ids.clone(),
            ..Default::default()
        };
        if !still_shared {
            log.info("nothing is shared any more; a cleanup run follows");
            change
                .jobs
                .push(share_job(JobKind::CleanupShare, &detail.share));
        }
        state.config.step_delay().await;
        finish(
            state,
            detail,
            action,
            &outcomes,
            change,
            json!({"revoked_items": ids}),
        )
        .await?;
        log.info("finished");
        Ok(())
    })
    .await
}

/// The worker's last step: the share takes `action` (`finish` or `finish_pending`) and each
/// item the outcome of its run (`success` or `failure`), resolved through the state tables,
/// together with the grant changes in `change`, in one store change.
async fn finish(
    state: &AppState,
    detail: ShareDetail,
    action: ShareAction,
    outcomes: &[(Uuid, ItemAction)],
    change: ShareChange,
    extra: serde_json::Value,
) -> meshgate_core::Result<()> {
    let id = detail.share.id;
    let to =
        share_step(&id.to_string(), detail.share.status, action)?.resulting(detail.share.status);
    let mut item_status = Vec::with_capacity(outcomes.len());
    for (item_id, outcome) in outcomes {
        let Some(item) = detail.items.iter().find(|i| i.id == *item_id) else {
            continue;
        };
        if let ItemTarget::Status(next) = item_step(&item_id.to_string(), item.status, *outcome)? {
            item_status.push((*item_id, next));
        }
    }
    state
        .store
        .apply_share_change(ShareChange {
            share_id: id,
            expected_version: detail.share.version,
            status: Some(to),
            item_status,
            audit: vec![system_event("finish", &detail, to, extra)],
            ..change
        })
        .await?;
    Ok(())
}

/// Removes what a share with nothing shared left may still hold: grants of items that are no
/// longer in a shared state (none should exist; this is the safety net), and the health of
/// items that give nothing.
pub async fn cleanup_share(state: &AppState, id: Uuid) -> meshgate_core::Result<()> {
    logged(state, id, "cleanup_share", async |log: &mut RunLog| {
        let Some(detail) = state.store.get_share(id).await? else {
            return Ok(());
        };
        if detail.items.iter().any(|i| i.status.is_shared()) {
            log.info("something is shared again; nothing to clean up");
            return Ok(());
        }
        let grants = state.store.grants_of_share(id).await?;
        let files = state.store.file_grants_of_share(id).await?;
        let mut stray: Vec<Uuid> = grants
            .iter()
            .map(|g| g.share_item_id)
            .chain(files.iter().map(|f| f.share_item_id))
            .collect();
        stray.sort_unstable();
        stray.dedup();
        for item in &stray {
            log.warn(format!("item `{item}`: stray grants removed"));
        }
        if stray.is_empty() {
            log.info("no grants left; clean");
            return Ok(());
        }
        state
            .store
            .apply_share_change(ShareChange {
                share_id: id,
                expected_version: detail.share.version,
                grants_to_remove: stray.clone(),
                audit: vec![system_event(
                    "cleanup",
                    &detail,
                    detail.share.status,
                    json!({"stray_grants_of": stray}),
                )],
                ..Default::default()
            })
            .await?;
        Ok(())
    })
    .await
}
