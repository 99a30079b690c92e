//! The dispatcher: tails the audit log from a durable cursor and turns the share events in
//! it into inbox entries, email jobs and webhook deliveries (see [`crate::notify`]).

use std::time::Duration;

use chrono::Utc;
use meshgate_core::model::{AuditEvent, JobKind, Outcome, PrincipalKind, Share, new_id};
use meshgate_core::notify::{
    DeliveryStatus, GAP_GRACE, MessageFacts, Notification, NotifyEvent, SYSTEM_ACTOR, Trigger,
    WebhookDelivery, audience, compose, compose_alert, dispatchable, trigger_of,
};
use meshgate_store::{AuditFilter, NewJob, NotificationBatch};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Config;
use crate::replicas::leases::Singleton;
use crate::state::AppState;

/// How many audit events the dispatcher reads at once.
const BATCH: u32 = 500;

/// Runs the dispatcher until `stop` is cancelled: while this replica holds the dispatcher's
/// lease (`replicas::singletons`), dispatches what the log holds, then polls every
/// `notifications.dispatch_poll_ms`. Another replica dispatching the same events could not
/// send them twice: the cursor moves by compare-and-set with what they produce.
pub async fn run_dispatcher(state: AppState, stop: CancellationToken) {
    let poll = Duration::from_millis(state.config.notifications.dispatch_poll_ms.max(10));
    loop {
        let full = match dispatch_once_if_leader(&state).await {
            Ok(n) => n >= BATCH as usize,
            Err(e) => {
                tracing::error!(error = %e, "cannot dispatch notifications; will retry");
                false
            }
        };
        if stop.is_cancelled() {
            return;
        }
        if !full {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

async fn dispatch_once_if_leader(state: &AppState) -> meshgate_core::Result<usize> {
    if !state.leases.holds(Singleton::Dispatcher) {
        return Ok(0);
    }
    dispatch_once(state).await
}

/// Dispatches the audit events after the cursor (at most one batch): writes their
/// notifications, deliveries and jobs together with the cursor's move, and wakes the worker.
/// Returns how many events it consumed; 0 when there was nothing to do or another replica
/// dispatched them first.
pub async fn dispatch_once(state: &AppState) -> meshgate_core::Result<usize> {
    let cursor = state.store.notify_cursor().await?;
    let events = state
        .store
        .list_audit(&AuditFilter {
            after_seq: Some(cursor),
            limit: Some(BATCH),
            ..Default::default()
        })
        .await?;
    let (ready, up_to) = dispatchable(cursor, &events, Utc::now(), GAP_GRACE);
    if ready.is_empty() {
        return Ok(0);
    }
    let mut batch = NotificationBatch {
        after_seq: cursor,
        up_to_seq: up_to,
        ..Default::default()
    };
    for event in ready {
        if let Some(trigger) = trigger_of(event) {
            derive(state, &trigger, &mut batch).await?;
        } else if event.action == "alert.raised" && event.outcome == Outcome::Success {
            derive_alert(state, event, &mut batch).await?;
        }
    }
    let wake = !batch.jobs.is_empty();
    if !state.store.record_notifications(batch).await? {
        tracing::debug!(cursor, "another replica dispatched these events first");
        return Ok(0);
    }
    if wake {
        state.wake_worker.notify_one();
    }
    Ok(ready.len())
}

/// The principals a team membership stands for: the member, or a group's members.
async fn people(state: &AppState, principal_id: Uuid) -> meshgate_core::Result<Vec<Uuid>> {
    match state.store.get_principal(principal_id).await? {
        Some(p) if p.kind == PrincipalKind::Group => {
            let mut out = Vec::new();
            for member in state.store.group_members(p.id).await? {
                if let Some(m) = state.store.get_principal(member).await?
                    && m.kind != PrincipalKind::Group
                {
                    out.push(m.id);
                }
            }
            Ok(out)
        }
        Some(p) => Ok(vec![p.id]),
        None => Ok(Vec::new()),
    }
}

async fn add_people(
    state: &AppState,
    members: Vec<Uuid>,
    into: &mut Vec<Uuid>,
) -> meshgate_core::Result<()> {
    for member in members {
        for p in people(state, member).await? {
            if !into.contains(&p) {
                into.push(p);
            }
        }
    }
    Ok(())
}

/// The share's requesters (the requesting team's members, or the requesting principal) and
/// approvers (owners and stewards of the product's team), as `audience` asks.
async fn recipients(
    state: &AppState,
    share: &Share,
    product_team: Option<Uuid>,
    trigger: &Trigger,
) -> meshgate_core::Result<Vec<Uuid>> {
    let who = audience(trigger.event);
    let mut out = Vec::new();
    if who.approvers
        && let Some(team) = product_team
    {
        let approvers = state
            .store
            .list_team_members(team)
            .await?
            .into_iter()
            .filter(|m| m.role.is_approver())
            .map(|m| m.principal_id)
            .collect();
        add_people(state, approvers, &mut out).await?;
    }
    if who.requesters {
        match (share.requester_team_id, share.requester_principal_id) {
            (Some(team), _) => {
                let members = state
                    .store
                    .list_team_members(team)
                    .await?
                    .into_iter()
                    .map(|m| m.principal_id)
                    .collect();
                add_people(state, members, &mut out).await?;
            }
            (None, Some(p)) => add_people(state, vec![p], &mut out).await?,
            (None, None) => {}
        }
    }
    // Nobody is told of their own act.
    out.retain(|p| Some(*p) != trigger.actor_id);
    Ok(out)
}

async fn team_name(state: &AppState, team_id: Uuid) -> meshgate_core::Result<String> {
    let Some(team) = state.store.get_team(team_id).await? else {
        return Ok(format!("team {team_id}"));
    };
    let domain = match state.store.get_domain(team.domain_id).await? {
        Some(d) => d.name,
        None => team.domain_id.to_string(),
    };
    Ok(format!("{domain}.{}", team.name))
}

pub(super) async fn principal_name(state: &AppState, id: Uuid) -> meshgate_core::Result<String> {
    Ok(match state.store.get_principal(id).await? {
        Some(p) => p.name,
        None => format!("principal {id}"),
    })
}

/// The link in messages to an object of the API, e.g. `shares/{id}`, `audit/alerts/{id}`.
pub fn api_link(config: &Config, path: &str) -> String {
    format!(
        "{}/api/v1/{path}",
        config.public_url().trim_end_matches('/')
    )
}

/// Adds what one triggering event produces to `batch`: a notification per recipient, an
/// email job for recipients with an address, a delivery and its job per matching webhook.
async fn derive(
    state: &AppState,
    trigger: &Trigger,
    batch: &mut NotificationBatch,
) -> meshgate_core::Result<()> {
    let Some(detail) = state.store.get_share(trigger.share_id).await? else {
        tracing::warn!(share = %trigger.share_id, seq = trigger.seq, "an audit event names a share that does not exist; nobody is notified");
        return Ok(());
    };
    let share = &detail.share;
    let product = state.store.get_product(share.product_id).await?;
    let product_name = match &product {
        Some(p) => match state.store.get_domain(p.domain_id).await? {
            Some(d) => format!("{}.{}", d.name, p.name),
            None => p.name.clone(),
        },
        None => format!("product {}", share.product_id),
    };
    let requester = match (share.requester_team_id, share.requester_principal_id) {
        (Some(t), _) => team_name(state, t).await?,
        (None, Some(p)) => principal_name(state, p).await?,
        (None, None) => "nobody".to_string(),
    };
    let actor = match trigger.actor_id {
        Some(a) => principal_name(state, a).await?,
        None => SYSTEM_ACTOR.to_string(),
    };
    let facts = MessageFacts {
        actor: actor.clone(),
        product: product_name.clone(),
        requester: requester.clone(),
        reason: share.reason.clone(),
        link: api_link(&state.config, &format!("shares/{}", share.id)),
    };
    let (title, body) = compose(trigger, &facts);
    let now = Utc::now();
    let email = state.config.notifications.smtp_url.is_some();
    for principal_id in
        recipients(state, share, product.as_ref().map(|p| p.team_id), trigger).await?
    {
        let notification = Notification {
            id: new_id(),
            principal_id,
            share_id: Some(share.id),
            alert_id: None,
            event: trigger.event,
            actor_id: trigger.actor_id,
            audit_seq: trigger.seq,
            title: title.clone(),
            body: body.clone(),
            link: facts.link.clone(),
            created_at: now,
            read_at: None,
            emailed_at: None,
        };
        let payload = json!({
            "event": trigger.event,
            "share_id": share.id,
            "product": product_name,
            "requester": requester,
            "actor": actor,
            "message": title,
            "body": body,
            "link": facts.link,
            "at": trigger.at,
        });
        add(state, batch, notification, payload, email).await?;
    }
    Ok(())
}

/// The owners and stewards of the products of `tables` (`domain.product.table` or
/// `domain.product`), and the mesh admins: who hears of an unusual read.
async fn alert_recipients(state: &AppState, tables: &[String]) -> meshgate_core::Result<Vec<Uuid>> {
    let mut out = Vec::new();
    let mut teams: Vec<Uuid> = Vec::new();
    for name in tables {
        let mut parts = name.splitn(3, '.');
        let (Some(domain), Some(product)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(d) = state.store.get_domain_by_name(domain).await? else {
            continue;
        };
        if let Some(p) = state.store.get_product_by_name(d.id, product).await?
            && !teams.contains(&p.team_id)
        {
            teams.push(p.team_id);
        }
    }
    for team in teams {
        let approvers = state
            .store
            .list_team_members(team)
            .await?
            .into_iter()
            .filter(|m| m.role.is_approver())
            .map(|m| m.principal_id)
            .collect();
        add_people(state, approvers, &mut out).await?;
    }
    let admins = state
        .store
        .list_principals()
        .await?
        .into_iter()
        .filter(|p| p.is_admin && p.active)
        .map(|p| p.id)
        .collect();
    add_people(state, admins, &mut out).await?;
    Ok(out)
}

/// Adds what an `alert.raised` event produces to `batch`, as [`derive`] does for a share's:
/// a notification per owner, steward and admin (never the reader), email jobs, webhook
/// deliveries of `unusual_read`.
async fn derive_alert(
    state: &AppState,
    event: &AuditEvent,
    batch: &mut NotificationBatch,
) -> meshgate_core::Result<()> {
    let Some(alert_id) = event
        .object_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
    else {
        return Ok(());
    };
    let Some(alert) = state.store.get_alert(alert_id).await? else {
        tracing::warn!(alert = %alert_id, seq = event.seq, "an audit event names an alert that does not exist; nobody is notified");
        return Ok(());
    };
    let reader = principal_name(state, alert.principal_id).await?;
    let link = api_link(&state.config, &format!("audit/alerts/{}", alert.id));
    let (title, body) = compose_alert(&alert, &reader, &link);
    let now = Utc::now();
    let email = state.config.notifications.smtp_url.is_some();
    let kind = NotifyEvent::UnusualRead;
    let mut recipients = alert_recipients(state, &alert.tables).await?;
    recipients.retain(|p| *p != alert.principal_id);
    for principal_id in recipients {
        let notification = Notification {
            id: new_id(),
            principal_id,
            share_id: None,
            alert_id: Some(alert.id),
            event: kind,
            actor_id: None,
            audit_seq: event.seq,
            title: title.clone(),
            body: body.clone(),
            link: link.clone(),
            created_at: now,
            read_at: None,
            emailed_at: None,
        };
        let payload = json!({
            "event": kind,
            "alert_id": alert.id,
            "principal": reader,
            "tables": alert.tables,
            "findings": alert.findings,
            "response": alert.response,
            "actor": SYSTEM_ACTOR,
            "message": title,
            "body": body,
            "link": link,
            "at": event.at,
        });
        add(state, batch, notification, payload, email).await?;
    }
    Ok(())
}

/// Adds one notification to `batch` with what carries it: an email job when email is on and
/// the recipient has an address, and a delivery (with its job) to each of the recipient's
/// webhooks that wants the event, whose body is `payload` with the delivery's `id`.
async fn add(
    state: &AppState,
    batch: &mut NotificationBatch,
    notification: Notification,
    payload: serde_json::Value,
    email: bool,
) -> meshgate_core::Result<()> {
    let now = notification.created_at;
    if email
        && state
            .store
            .get_contact(notification.principal_id)
            .await?
            .is_some()
    {
        batch.jobs.push(NewJob {
            kind: JobKind::SendEmail,
            subject_id: notification.id,
            lock_product: None,
            lock_grantee: None,
        });
    }
    for hook in state.store.list_webhooks(notification.principal_id).await? {
        if !hook.wants(notification.event) {
            continue;
        }
        let id = new_id();
        let mut body = payload.clone();
        if let Some(fields) = body.as_object_mut() {
            fields.insert("id".into(), json!(id));
        }
        batch.deliveries.push(WebhookDelivery {
            id,
            webhook_id: hook.id,
            notification_id: notification.id,
            event: notification.event,
            payload: body.to_string(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_error: None,
            created_at: now,
            finished_at: None,
        });
        batch.jobs.push(NewJob {
            kind: JobKind::DeliverWebhook,
            subject_id: id,
            lock_product: None,
            lock_grantee: None,
        });
    }
    batch.notifications.push(notification);
    Ok(())
}
