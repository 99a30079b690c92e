//! The dispatcher: tails the audit log from a durable cursor and turns the share events in
//! it into inbox entries, email jobs and webhook deliveries (see [`crate::notify`]).

use std::time::Duration;

use chrono::Utc;
use meshgate_core::model::{JobKind, PrincipalKind, Share, new_id};
use meshgate_core::notify::{
    DeliveryStatus, GAP_GRACE, MessageFacts, Notification, SYSTEM_ACTOR, Trigger, WebhookDelivery,
    audience, compose, dispatchable, trigger_of,
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

/// The link to a share in messages.
pub fn share_link(config: &Config, share_id: Uuid) -> String {
    format!(
        "{}/api/v1/shares/{share_id}",
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
        link: share_link(&state.config, share.id),
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
            share_id: share.id,
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
        if email && state.store.get_contact(principal_id).await?.is_some() {
            batch.jobs.push(NewJob {
                kind: JobKind::SendEmail,
                subject_id: notification.id,
                lock_product: None,
                lock_grantee: None,
            });
        }
        for hook in state.store.list_webhooks(principal_id).await? {
            if !hook.wants(trigger.event) {
                continue;
            }
            let id = new_id();
            let payload = json!({
                "id": id,
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
            batch.deliveries.push(WebhookDelivery {
                id,
                webhook_id: hook.id,
                notification_id: notification.id,
                event: trigger.event,
                payload: payload.to_string(),
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
    }
    Ok(())
}
