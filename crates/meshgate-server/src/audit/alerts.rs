//! Unusual-read alerts (docs/design/AUDIT.md §Unusual reads): the follower that feeds every
//! read of the audit chain to the detector (`meshgate_core::anomaly`), records what it finds
//! as alerts (audit events the notification dispatcher turns into messages to the owners of
//! what was read and to the mesh admins), and suspends the reader when the mesh's response is
//! `suspend`; the suspended principals this replica refuses; and the API to list and
//! acknowledge alerts, tune the detector and lift suspensions.
//!
//! The replica holding the `audit-alerts` lease follows the chain by position from the
//! cursor `alerts` in `audit_cursors`, like a SIEM sink: a batch's alerts, suspensions and
//! events are written with the cursor's move (compare-and-set), so a read is judged once. The
//! baselines live in memory: when the follower starts (or takes the lease over, or the
//! settings change) it re-reads the reads of the last `max_age` buckets up to its cursor
//! without alerting, then goes on from the cursor.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use meshgate_core::alerts::{Alert, AlertResponse, AlertSettings, AlertStatus, Suspension};
use meshgate_core::anomaly::{Detector, Read};
use meshgate_core::model::{AuditEvent, NewAuditEvent, Outcome, new_id};
use meshgate_store::{AlertBatch, AlertFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::principal_by_name;
use crate::replicas::leases::Singleton;
use crate::state::AppState;

/// The detector's cursor in `audit_cursors`.
pub const CURSOR: &str = "alerts";
/// How many chain events one pass reads.
const BATCH: u32 = 500;
/// How often the names of tables and which of them hold sensitive columns are read again.
const NAMES_EVERY: Duration = Duration::from_secs(30);
/// How often closed buckets are pruned from the baselines.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// The tags that make a column sensitive: a read of its table counts as a read of sensitive
/// columns (docs/design/AUDIT.md §Unusual reads says why the table, not the column).
pub const SENSITIVE_TAGS: [&str; 3] = ["pii", "confidential", "restricted"];

// ----- suspended principals, as this replica knows them -----

/// The principals refused on every surface, kept in step with the store by the change feed
/// (`principal.suspend` and `principal.unsuspend` are events on principals).
#[derive(Debug, Default)]
pub struct Suspended {
    ids: RwLock<HashSet<Uuid>>,
}

impl Suspended {
    pub fn contains(&self, id: Uuid) -> bool {
        self.ids.read().is_ok_and(|ids| ids.contains(&id))
    }

    fn replace(&self, ids: HashSet<Uuid>) {
        if let Ok(mut held) = self.ids.write() {
            *held = ids;
        }
    }
}

/// Replaces this replica's suspended principals with the store's.
pub async fn refresh_suspended(state: &AppState) -> ApiResult<()> {
    let ids = state
        .store
        .suspensions()
        .await?
        .into_iter()
        .map(|s| s.principal_id)
        .collect();
    state.suspended.replace(ids);
    Ok(())
}

// ----- reads in the audit log -----

/// Names of tables and file products, and which tables hold sensitive columns.
#[derive(Debug, Default)]
struct Names {
    /// Table id → `domain.product.table`.
    tables: HashMap<Uuid, String>,
    /// `domain.product.table` of the tables with a column (or the table) tagged sensitive.
    sensitive: HashSet<String>,
}

impl Names {
    async fn load(state: &AppState) -> ApiResult<Names> {
        let domains: HashMap<Uuid, String> = state
            .store
            .list_domains()
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let rows = state.store.catalog_rows(None).await?;
        let products: HashMap<Uuid, String> = rows
            .products
            .iter()
            .map(|p| {
                let domain = domains.get(&p.domain_id).cloned().unwrap_or_default();
                (p.id, format!("{domain}.{}", p.name))
            })
            .collect();
        let sensitive_tag = |tags: &[String]| {
            tags.iter()
                .any(|t| SENSITIVE_TAGS.contains(&t.to_ascii_lowercase().as_str()))
        };
        let mut sensitive_ids: HashSet<Uuid> = rows
            .column_tags
            .iter()
            .filter(|c| sensitive_tag(&c.tags))
            .map(|c| c.table_id)
            .collect();
        sensitive_ids.extend(
            rows.table_tags
                .iter()
                .filter(|t| sensitive_tag(&t.tags))
                .map(|t| t.table_id),
        );
        let mut names = Names::default();
        for t in &rows.tables {
            let Some(product) = products.get(&t.product_id) else {
                continue;
            };
            let name = format!("{product}.{}", t.name);
            if sensitive_ids.contains(&t.id) {
                names.sensitive.insert(name.clone());
            }
            names.tables.insert(t.id, name);
        }
        Ok(names)
    }
}

/// A read the detector judges, and the tables it touched.
struct Seen {
    read: Read,
    tables: Vec<String>,
}

fn count(detail: &Value, key: &str) -> u64 {
    detail.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn text(detail: &Value, key: &str) -> Option<String> {
    detail.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The read `event` records, if it is one that succeeded: a SQL query, a rows API read, a Delta
/// Sharing download or a file download.
fn read_of(event: &AuditEvent, names: &Names) -> Option<Seen> {
    if event.outcome != Outcome::Success {
        return None;
    }
    let principal = event.actor_id?;
    let d = &event.detail;
    let (tables, rows, bytes) = match event.action.as_str() {
        "query.run" => {
            let tables: Vec<String> = d
                .get("tables")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            (tables, count(d, "rows"), count(d, "bytes"))
        }
        "rows.get" | "rows.list" => (text(d, "table").into_iter().collect(), count(d, "rows"), 0),
        "sharing.download" => {
            let table = event
                .object_id
                .as_deref()
                .and_then(|id| Uuid::parse_str(id).ok())
                .and_then(|id| names.tables.get(&id).cloned())
                .or_else(|| text(d, "table"));
            (table.into_iter().collect(), 0, count(d, "bytes"))
        }
        "file.download" => (
            text(d, "product").into_iter().collect(),
            0,
            count(d, "bytes"),
        ),
        _ => return None,
    };
    let sensitive = tables.iter().any(|t| names.sensitive.contains(t));
    Some(Seen {
        read: Read {
            at: event.at,
            principal,
            // A read of several tables (a join) counts for the principal, not for one table.
            table: match tables.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            },
            rows,
            bytes,
            sensitive,
        },
        tables,
    })
}

// ----- the follower -----

/// The detector with the settings it was built for.
struct Built {
    detector: Detector,
    settings_at: DateTime<Utc>,
    pruned: Instant,
}

/// Follows the chain until `stop` while this replica holds the `audit-alerts` lease.
pub async fn run(state: AppState, stop: CancellationToken) {
    let mut built: Option<Built> = None;
    let mut names: Option<(Names, Instant)> = None;
    let mut changes = state.store.changes();
    loop {
        let mut busy = false;
        if state.leases.holds(Singleton::AuditAlerts) {
            match pass(&state, &mut built, &mut names).await {
                Ok(moved) => busy = moved >= BATCH as usize,
                Err(e) => {
                    built = None;
                    tracing::warn!(error = %e.message, "the unusual-read detector cannot follow the audit log; will retry");
                }
            }
        } else {
            // Another replica judges reads: the baselines here go stale, and are rebuilt
            // from the log if this one takes over.
            built = None;
        }
        if busy {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = changes.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One pass: (re)builds the detector if needed, then judges the next batch of the chain.
/// Returns how many events it consumed.
async fn pass(
    state: &AppState,
    built: &mut Option<Built>,
    names: &mut Option<(Names, Instant)>,
) -> ApiResult<usize> {
    let (settings, settings_at) = state.store.alert_settings().await?;
    let cursor = state.store.audit_cursor(CURSOR).await?;
    if !settings.enabled {
        // Off: reads go by unjudged; the baselines are rebuilt from the log when it is on.
        *built = None;
        let head = state.store.audit_head().await?.pos;
        if head > cursor.pos {
            state
                .store
                .advance_audit_cursor(CURSOR, cursor.pos, head)
                .await?;
        }
        return Ok(0);
    }
    if names
        .as_ref()
        .is_none_or(|(_, at)| at.elapsed() >= NAMES_EVERY)
    {
        *names = Some((Names::load(state).await?, Instant::now()));
    }
    let Some((names, _)) = names.as_ref() else {
        return Ok(0);
    };
    if built.as_ref().is_none_or(|b| b.settings_at != settings_at) {
        *built = Some(rebuild(state, &settings, settings_at, cursor.pos, names).await?);
    }
    let Some(b) = built.as_mut() else {
        return Ok(0);
    };
    if b.pruned.elapsed() >= PRUNE_EVERY {
        b.detector.prune(Utc::now());
        b.pruned = Instant::now();
    }
    let events = state.store.audit_chain(cursor.pos + 1, BATCH).await?;
    let Some(last) = events.last().and_then(|e| e.chain.as_ref()).map(|l| l.pos) else {
        return Ok(0);
    };
    let mut batch = AlertBatch {
        cursor: CURSOR.to_string(),
        from_pos: cursor.pos,
        to_pos: last,
        ..Default::default()
    };
    let mut suspending: HashSet<Uuid> = HashSet::new();
    for event in &events {
        let Some(seen) = read_of(event, names) else {
            continue;
        };
        let findings = b.detector.observe(&seen.read);
        if findings.is_empty() {
            continue;
        }
        let principal_id = seen.read.principal;
        let suspend = settings.response == AlertResponse::Suspend
            && !state.suspended.contains(principal_id)
            && !suspending.contains(&principal_id)
            && !is_admin(state, principal_id).await?;
        let summary = findings
            .iter()
            .map(|f| f.summary())
            .collect::<Vec<_>>()
            .join("\n");
        let alert = Alert {
            id: new_id(),
            principal_id,
            read_action: event.action.clone(),
            read_pos: event.chain.as_ref().map_or(0, |l| l.pos),
            tables: seen.tables,
            findings,
            summary,
            response: if suspend {
                AlertResponse::Suspend
            } else {
                AlertResponse::Alert
            },
            status: AlertStatus::Open,
            acknowledged_by: None,
            acknowledged_at: None,
            note: None,
            created_at: Utc::now(),
        };
        let raised = NewAuditEvent::new(None, "alert.raised", "alert", Some(alert.id.to_string()))
            .with_detail(json!({
                "principal_id": principal_id,
                "read": {"action": alert.read_action, "pos": alert.read_pos},
                "tables": alert.tables,
                "findings": alert.findings,
                "summary": alert.summary,
                "response": alert.response,
            }));
        if suspend {
            suspending.insert(principal_id);
            let reason = format!("unusual read: {}", alert.summary.replace('\n', "; "));
            let event = NewAuditEvent::new(
                None,
                "principal.suspend",
                "principal",
                Some(principal_id.to_string()),
            )
            .with_detail(json!({"alert": alert.id, "reason": reason}));
            batch.suspensions.push((
                Suspension {
                    principal_id,
                    alert_id: Some(alert.id),
                    reason,
                    at: Utc::now(),
                },
                event,
            ));
        }
        tracing::warn!(principal = %principal_id, alert = %alert.id, summary = %alert.summary, "unusual read");
        batch.alerts.push((alert, raised));
    }
    let suspended = !batch.suspensions.is_empty();
    if !state.store.record_alerts(batch).await? {
        // The cursor moved under us (another replica): judge again from where it is now.
        *built = None;
        return Ok(0);
    }
    if suspended {
        refresh_suspended(state).await?;
    }
    Ok(events.len())
}

async fn is_admin(state: &AppState, id: Uuid) -> ApiResult<bool> {
    Ok(state
        .store
        .get_principal(id)
        .await?
        .is_some_and(|p| p.is_admin))
}

/// A detector fed with the reads of the last `max_age` buckets up to position `up_to` (what
/// was judged already), its findings dropped.
async fn rebuild(
    state: &AppState,
    settings: &AlertSettings,
    settings_at: DateTime<Utc>,
    up_to: i64,
    names: &Names,
) -> ApiResult<Built> {
    let started = std::time::Instant::now();
    let mut detector = Detector::new(settings.sensitivity());
    let since = Utc::now() - settings.horizon();
    // The first chained event at or after `since`: events before the chain began have no
    // position, and the chain starts at 1 then.
    let first = state
        .store
        .list_audit(&meshgate_store::AuditFilter {
            from: Some(since),
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    let mut pos = first
        .first()
        .and_then(|e| e.chain.as_ref())
        .map_or(1, |l| l.pos);
    let mut reads = 0usize;
    while pos <= up_to {
        let events = state.store.audit_chain(pos, 1000).await?;
        let Some(last) = events.last().and_then(|e| e.chain.as_ref()).map(|l| l.pos) else {
            break;
        };
        for event in &events {
            if event.chain.as_ref().is_some_and(|l| l.pos > up_to) || event.at < since {
                continue;
            }
            if let Some(seen) = read_of(event, names) {
                detector.observe(&seen.read);
                reads += 1;
            }
        }
        pos = last + 1;
    }
    detector.prune(Utc::now());
    tracing::info!(
        reads,
        principals = detector.principals(),
        up_to,
        took_ms = started.elapsed().as_millis() as u64,
        "the unusual-read detector has its baselines"
    );
    Ok(Built {
        detector,
        settings_at,
        pruned: Instant::now(),
    })
}

// ----- the API (every route asks `audit::may_read`: mesh admins) -----

/// The filters of `GET /audit/alerts`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open` or `acknowledged`.
    pub status: Option<String>,
    /// Only this principal's reads (by name).
    pub principal: Option<String>,
    /// Only alerts raised at or after this time (RFC 3339).
    #[param(value_type = Option<String>)]
    pub from: Option<DateTime<Utc>>,
    /// At most this many (capped at 1000), newest first.
    pub limit: Option<u32>,
}

/// An alert with the reader's name.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    pub principal: String,
    /// Whether the reader is suspended now.
    pub suspended: bool,
}

/// `POST /audit/alerts/{id}/acknowledge`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// What was found when looking into it.
    pub note: Option<String>,
}

/// A suspended principal, by name.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuspensionView {
    #[serde(flatten)]
    pub suspension: Suspension,
    pub principal: String,
}

/// The settings in force and when they last changed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub settings: AlertSettings,
    #[schema(value_type = String)]
    pub updated_at: DateTime<Utc>,
    /// How far the detector has judged the chain, and how many events it is behind.
    pub pos: i64,
    pub behind: i64,
}

async fn view(state: &AppState, alert: Alert) -> ApiResult<AlertView> {
    let principal = crate::views::name_of_principal(state, alert.principal_id).await?;
    let suspended = state.suspended.contains(alert.principal_id);
    Ok(AlertView {
        alert,
        principal,
        suspended,
    })
}

fn alert_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("alert", id))
}

/// `GET /audit/alerts`.
pub async fn list(state: &AppState, caller: &Caller, q: AlertQuery) -> ApiResult<Vec<AlertView>> {
    super::may_read(state, caller)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<AlertStatus>()?),
    };
    let principal_id = match &q.principal {
        Some(name) => Some(principal_by_name(state, name).await?.id),
        None => None,
    };
    let filter = AlertFilter {
        status,
        principal_id,
        from: q.from,
        limit: q.limit,
    };
    let mut out = Vec::new();
    for alert in state.store.list_alerts(&filter).await? {
        out.push(view(state, alert).await?);
    }
    Ok(out)
}

/// `GET /audit/alerts/{id}`.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> ApiResult<AlertView> {
    super::may_read(state, caller)?;
    let alert = state
        .store
        .get_alert(alert_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("alert", id))?;
    view(state, alert).await
}

/// `POST /audit/alerts/{id}/acknowledge`.
pub async fn acknowledge(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: AcknowledgeRequest,
) -> ApiResult<AlertView> {
    super::may_read(state, caller)?;
    let id = alert_id(id)?;
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.len() > 4096) {
        return Err(ApiError::bad_request("`note` is longer than 4096 bytes"));
    }
    let event = NewAuditEvent::new(
        Some(caller.id()),
        "alert.acknowledge",
        "alert",
        Some(id.to_string()),
    )
    .with_detail(json!({"note": note}));
    let alert = state
        .store
        .acknowledge_alert(id, caller.id(), note, event)
        .await?;
    view(state, alert).await
}

/// `GET /audit/alert-settings`.
pub async fn settings(state: &AppState, caller: &Caller) -> ApiResult<SettingsView> {
    super::may_read(state, caller)?;
    let (settings, updated_at) = state.store.alert_settings().await?;
    let pos = state.store.audit_cursor(CURSOR).await?.pos;
    let head = state.store.audit_head().await?.pos;
    Ok(SettingsView {
        settings,
        updated_at,
        pos,
        behind: (head - pos).max(0),
    })
}

/// `PATCH /audit/alert-settings`: the fields given change, the others keep their values.
pub async fn tune(state: &AppState, caller: &Caller, changes: Value) -> ApiResult<SettingsView> {
    super::may_read(state, caller)?;
    let Value::Object(changes) = changes else {
        return Err(ApiError::bad_request(
            "the body is an object of the settings to change, e.g. {\"response\": \"suspend\"}",
        ));
    };
    let (current, _) = state.store.alert_settings().await?;
    let Value::Object(mut merged) = serde_json::to_value(&current).map_err(ApiError::internal)?
    else {
        return Err(ApiError::internal("the settings are not an object"));
    };
    for (key, value) in &changes {
        merged.insert(key.clone(), value.clone());
    }
    let settings: AlertSettings = serde_json::from_value(Value::Object(merged))
        .map_err(|e| ApiError::bad_request(format!("invalid alert settings: {e}")))?;
    settings.check()?;
    let event = NewAuditEvent::new(Some(caller.id()), "alert.settings", "alert_settings", None)
        .with_detail(json!({"changed": changes, "settings": settings}));
    state.store.set_alert_settings(&settings, event).await?;
    self::settings(state, caller).await
}

/// `GET /audit/suspensions`.
pub async fn suspensions(state: &AppState, caller: &Caller) -> ApiResult<Vec<SuspensionView>> {
    super::may_read(state, caller)?;
    let mut out = Vec::new();
    for suspension in state.store.suspensions().await? {
        let principal = crate::views::name_of_principal(state, suspension.principal_id).await?;
        out.push(SuspensionView {
            suspension,
            principal,
        });
    }
    Ok(out)
}

/// `DELETE /audit/suspensions/{principal}`: the principal's tokens and credentials work
/// again.
pub async fn lift(state: &AppState, caller: &Caller, principal: &str) -> ApiResult<()> {
    super::may_read(state, caller)?;
    let p = principal_by_name(state, principal).await?;
    let event = NewAuditEvent::new(
        Some(caller.id()),
        "principal.unsuspend",
        "principal",
        Some(p.id.to_string()),
    )
    .with_detail(json!({"principal": p.name}));
    state
        .store
        .lift_suspension(p.id, event)
        .await
        .map_err(|e| match e {
            meshgate_core::Error::NotFound { .. } => {
                ApiError::not_found("suspension of principal", &p.name)
            }
            other => other.into(),
        })?;
    refresh_suspended(state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, detail: Value) -> AuditEvent {
        AuditEvent {
            seq: 1,
            at: Utc::now(),
            actor_id: Some(Uuid::nil()),
            action: action.into(),
            object_type: "x".into(),
            object_id: None,
            outcome: Outcome::Success,
            request_id: None,
            detail,
            chain: None,
        }
    }

    #[test]
    fn reads_are_found_in_every_surface_and_nothing_else() {
        let mut names = Names::default();
        names.sensitive.insert("sales.crm.customers".into());
        let q = read_of(
            &event(
                "query.run",
                json!({"tables": ["sales.crm.customers"], "rows": 7, "bytes": 70}),
            ),
            &names,
        )
        .unwrap();
        assert_eq!(q.read.rows, 7);
        assert_eq!(q.read.bytes, 70);
        assert!(q.read.sensitive);
        assert_eq!(q.read.table.as_deref(), Some("sales.crm.customers"));
        let join = read_of(
            &event(
                "query.run",
                json!({"tables": ["a.b.c", "a.b.d"], "rows": 1, "bytes": 1}),
            ),
            &names,
        )
        .unwrap();
        assert_eq!(join.read.table, None);
        assert!(!join.read.sensitive);
        let rows = read_of(
            &event("rows.list", json!({"table": "a.b.c", "rows": 100})),
            &names,
        )
        .unwrap();
        assert_eq!(rows.read.rows, 100);
        let file = read_of(
            &event("file.download", json!({"product": "a.b", "bytes": 5})),
            &names,
        )
        .unwrap();
        assert_eq!(file.read.bytes, 5);
        assert_eq!(file.tables, ["a.b"]);
        assert!(read_of(&event("share.approve", json!({})), &names).is_none());
        let mut denied = event("query.run", json!({"tables": [], "rows": 0}));
        denied.outcome = Outcome::Denied;
        assert!(read_of(&denied, &names).is_none());
    }
}
