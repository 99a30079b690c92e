//! Notifications (docs/design/LIFECYCLE.md §Notifications): which audit events notify whom, what the
//! message says, and the webhook signature.
//!
//! Notifications are derived from the audit log rather than sent by the lifecycle code: every
//! share change already commits its audit event in the same transaction, so a dispatcher that
//! tails the log by `seq` can never miss a change nor announce one that was rolled back. This
//! module is the pure half of that dispatcher: [`trigger_of`] reads one event, [`audience`]
//! says who hears of it, [`compose`] writes the message, and [`dispatchable`] decides how far
//! the log may be read without skipping an event that is still being committed.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::lifecycle::string_enum;
use crate::model::{AuditEvent, Outcome};
use crate::{Error, Result};

string_enum!(
    /// What a notification is about.
    NotifyEvent {
        Submitted => "submitted",
        Approved => "approved",
        Rejected => "rejected",
        Revoked => "revoked",
        Failed => "failed",
        Unhealthy => "unhealthy",
        Expiring => "expiring",
        Pending => "pending",
        UnusualRead => "unusual_read",
    }
);

/// Who hears of an event on a share: the product team's owners and stewards (approvers), the
/// requesting team's members or the requesting principal (requesters), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audience {
    pub approvers: bool,
    pub requesters: bool,
}

/// The audience of each event: decisions go to the requesters, requests and reminders to
/// the approvers, and what changes access that is in force to both sides.
pub fn audience(event: NotifyEvent) -> Audience {
    let (approvers, requesters) = match event {
        // An unusual read (an alert, not a share) goes to the owners and stewards of what was
        // read, and to the mesh admins (`meshgate_server::notify::dispatch`).
        NotifyEvent::Submitted | NotifyEvent::Pending | NotifyEvent::UnusualRead => (true, false),
        NotifyEvent::Approved | NotifyEvent::Rejected => (false, true),
        NotifyEvent::Revoked
        | NotifyEvent::Failed
        | NotifyEvent::Unhealthy
        | NotifyEvent::Expiring => (true, true),
    };
    Audience {
        approvers,
        requesters,
    }
}

/// An audit event that notifies: what happened, to which share, by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub event: NotifyEvent,
    /// The audit action it came from (`share.revoke` and `share.expire` are both `revoked`).
    pub action: String,
    pub share_id: Uuid,
    /// `None` for the system (the worker, the scheduler).
    pub actor_id: Option<Uuid>,
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The approver's notes (approve, reject) or the health message (unhealthy).
    pub notes: Option<String>,
    /// How many items failed (failed).
    pub failed_items: usize,
    /// When the share expires (expiring), as the event gives it.
    pub expires_at: Option<String>,
    /// How long the request has waited (pending).
    pub pending_days: Option<i64>,
}

fn text_at<'a>(value: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// What `event` means for notifications, if anything. Only successful events on shares
/// notify; `share.finish` only when items failed.
pub fn trigger_of(event: &AuditEvent) -> Option<Trigger> {
    if event.object_type != "share" || event.outcome != Outcome::Success {
        return None;
    }
    let share_id = Uuid::parse_str(event.object_id.as_deref()?).ok()?;
    let detail = &event.detail;
    let extra = detail.get("extra").unwrap_or(&serde_json::Value::Null);
    let failed_items = extra
        .get("failed_items")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    let kind = match event.action.as_str() {
        "share.request" if text_at(detail, &["to"]) == Some("submitted") => NotifyEvent::Submitted,
        "share.submit" => NotifyEvent::Submitted,
        "share.approve" => NotifyEvent::Approved,
        "share.reject" => NotifyEvent::Rejected,
        "share.revoke" | "share.expire" => NotifyEvent::Revoked,
        "share.finish" if failed_items > 0 => NotifyEvent::Failed,
        "share.unhealthy" => NotifyEvent::Unhealthy,
        "share.expiring" => NotifyEvent::Expiring,
        "share.pending_reminder" => NotifyEvent::Pending,
        _ => return None,
    };
    let notes = match kind {
        NotifyEvent::Approved | NotifyEvent::Rejected => text_at(extra, &["notes"]),
        NotifyEvent::Unhealthy => text_at(extra, &["message"])
            .or_else(|| text_at(extra, &["health_message"]))
            .or_else(|| text_at(extra, &["reason"])),
        _ => None,
    };
    let expires_at = match extra.get("expires_at") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v) if !v.is_null() => Some(v.to_string()),
        _ => None,
    };
    Some(Trigger {
        event: kind,
        action: event.action.clone(),
        share_id,
        actor_id: event.actor_id,
        seq: event.seq,
        at: event.at,
        notes: notes.map(str::to_string),
        failed_items,
        expires_at,
        pending_days: extra
            .get("pending_days")
            .and_then(serde_json::Value::as_i64),
    })
}

/// Everything a message names besides the trigger: who, which share, the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts {
    /// The actor's principal name, or `meshgate` for the system.
    pub actor: String,
    /// `domain.product`.
    pub product: String,
    /// `domain.team` or the requesting principal's name.
    pub requester: String,
    /// The requester's reason for the share.
    pub reason: String,
    pub link: String,
}

/// The name messages give the system as an actor.
pub const SYSTEM_ACTOR: &str = "meshgate";

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The title (one line: who did what to which share) and the plain-text body of a message.
pub fn compose(trigger: &Trigger, facts: &MessageFacts) -> (String, String) {
    let MessageFacts {
        actor,
        product,
        requester,
        ..
    } = facts;
    let title = match trigger.event {
        NotifyEvent::Submitted => {
            format!("{actor} requested access to {product} for {requester}")
        }
        NotifyEvent::Approved => format!("{actor} approved {requester}'s request for {product}"),
        NotifyEvent::Rejected => format!("{actor} rejected {requester}'s request for {product}"),
        NotifyEvent::Revoked if trigger.action == "share.expire" => {
            format!("{actor} revoked {requester}'s access to {product}: the share expired")
        }
        NotifyEvent::Revoked => format!("{actor} revoked {requester}'s access to {product}"),
        NotifyEvent::Failed => format!(
            "{actor} failed to grant {} of {requester}'s share of {product}",
            plural(trigger.failed_items, "item", "items")
        ),
        NotifyEvent::Unhealthy => {
            format!("{actor} found {requester}'s share of {product} unhealthy")
        }
        NotifyEvent::Expiring => match &trigger.expires_at {
            Some(at) => format!("{actor}: {requester}'s access to {product} expires at {at}"),
            None => format!("{actor}: {requester}'s access to {product} expires soon"),
        },
        NotifyEvent::Pending => match trigger.pending_days {
            Some(days) => format!(
                "{actor}: {requester}'s request for {product} has waited {} for a decision",
                plural(usize::try_from(days).unwrap_or(0), "day", "days")
            ),
            None => format!("{actor}: {requester}'s request for {product} awaits a decision"),
        },
        // Alerts are composed by [`compose_alert`]; a share event never carries this.
        NotifyEvent::UnusualRead => format!("{actor}: an unusual read of {product}"),
    };
    let mut body = format!(
        "{title}.\n\nShare: {} ({product}, requested by {requester})\n",
        trigger.share_id
    );
    if matches!(trigger.event, NotifyEvent::Submitted | NotifyEvent::Pending)
        && !facts.reason.is_empty()
    {
        body += &format!("Reason: {}\n", facts.reason);
    }
    if let Some(notes) = &trigger.notes {
        let label = match trigger.event {
            NotifyEvent::Unhealthy => "Health",
            _ => "Notes",
        };
        body += &format!("{label}: {notes}\n");
    }
    body += &format!("Link: {}\n", facts.link);
    (title, body)
}

/// The title and body of an unusual-read alert's message: who read what, every finding
/// with its numbers, and what was done. `principal` is the reader's name, `link` the alert's.
pub fn compose_alert(
    alert: &crate::alerts::Alert,
    principal: &str,
    link: &str,
) -> (String, String) {
    let what = match alert.tables.as_slice() {
        [] => String::from("data"),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {}", plural(rest.len(), "other", "others")),
    };
    let title = format!("Unusual read: {principal} read {what} far above its usual volume");
    let mut body = format!(
        "{title}.\n\nRead: {} at chain position {}\n",
        alert.read_action, alert.read_pos
    );
    for finding in &alert.findings {
        body += &format!("- {}\n", finding.summary());
    }
    if alert.response == crate::alerts::AlertResponse::Suspend {
        body += &format!(
            "{principal} is suspended: its tokens, credentials and signed URLs are refused until an admin lifts it (`meshgate alerts lift {principal}`).\n"
        );
    }
    body += &format!("Alert: {}\nLink: {link}\n", alert.id);
    (title, body)
}

/// How long a gap in the audit log's sequence is waited for before it is taken for a rolled
/// back transaction rather than one still committing.
pub const GAP_GRACE: Duration = Duration::seconds(10);

/// The prefix of `events` (read in `seq` order after `cursor`) that can be dispatched now, and
/// the cursor after it.
///
/// On PostgreSQL sequence numbers are taken when a row is inserted but become visible when
/// its transaction commits, so `seq` 7 may be visible while 6 is still committing — or was
/// rolled back and will never appear. Reading past such a gap at once could skip 6 for good,
/// so a gap stops the batch until the event after it is older than `grace`; by then any
/// transaction that took the missing number has long committed or rolled back (the store's
/// transactions last milliseconds). SQLite has no such gaps: its writes are serialised.
pub fn dispatchable(
    cursor: i64,
    events: &[AuditEvent],
    now: DateTime<Utc>,
    grace: Duration,
) -> (&[AuditEvent], i64) {
    let mut last = cursor;
    let mut taken = 0;
    for event in events {
        if event.seq <= last {
            // Not after the cursor (a caller's mistake): never dispatch it again.
            break;
        }
        if event.seq != last + 1 && event.at + grace > now {
            break;
        }
        last = event.seq;
        taken += 1;
    }
    (&events[..taken], last)
}

/// Prefix that makes webhook secrets recognisable (secret scanners, logs).
pub const WEBHOOK_SECRET_PREFIX: &str = "mgw_";

/// A fresh random webhook secret (256 bits).
pub fn generate_webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{WEBHOOK_SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The `X-Meshgate-Signature` of a webhook body: `sha256=` and the hex HMAC-SHA-256 of the
/// exact body bytes under the webhook's secret.
pub fn webhook_signature(secret: &str, body: &[u8]) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| Error::internal("cannot key the webhook signature"))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Parses a webhook's event list (names, comma- or list-separated); empty means every event.
/// Duplicates are dropped and the order made canonical.
pub fn parse_events<S: AsRef<str>>(names: &[S]) -> Result<Vec<NotifyEvent>> {
    let mut events = Vec::new();
    for name in names
        .iter()
        .flat_map(|n| n.as_ref().split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let event: NotifyEvent = name.parse().map_err(|_| {
            Error::invalid(format!(
                "events: unknown event `{name}`; expected some of: {}",
                NotifyEvent::ALL
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        events.push(event);
    }
    events.sort();
    events.dedup();
    Ok(events)
}

/// A message in a principal's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    /// Whose inbox it is in.
    pub principal_id: Uuid,
    /// The share it is about; `None` for an alert's.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub share_id: Option<Uuid>,
    /// The alert it is about (`unusual_read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<Uuid>,
    pub event: NotifyEvent,
    /// Who acted (`None` for the system).
    #[cfg_attr(feature = "openapi", schema(required))]
    pub actor_id: Option<Uuid>,
    /// The audit event it was derived from.
    pub audit_seq: i64,
    pub title: String,
    pub body: String,
    pub link: String,
    pub created_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub read_at: Option<DateTime<Utc>>,
    /// When it was handed to the SMTP server (`None`: not emailed, or not yet).
    #[cfg_attr(feature = "openapi", schema(required))]
    pub emailed_at: Option<DateTime<Utc>>,
}

/// Where a principal wants email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub principal_id: Uuid,
    pub email: String,
    pub updated_at: DateTime<Utc>,
}

/// A URL that receives its owner's notifications as signed JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: Uuid,
    /// The principal whose notifications it receives.
    pub principal_id: Uuid,
    pub url: String,
    /// The HMAC key of its signatures: shown once, when the webhook is created.
    #[serde(skip_serializing, default)]
    pub secret: String,
    /// The events it receives; empty means all.
    pub events: Vec<NotifyEvent>,
    pub created_at: DateTime<Utc>,
    /// Set when it was deleted: it receives nothing more.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub disabled_at: Option<DateTime<Utc>>,
}

impl Webhook {
    /// Whether the webhook receives `event` now.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.disabled_at.is_none() && (self.events.is_empty() || self.events.contains(&event))
    }
}

string_enum!(
    /// How a webhook delivery stands.
    DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
);

/// One notification sent to one webhook. The payload is fixed when the delivery is created,
/// so every retry sends the same bytes under the same signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub notification_id: Uuid,
    pub event: NotifyEvent,
    /// The JSON body, exactly as sent.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: i64, action: &str, detail: serde_json::Value) -> AuditEvent {
        AuditEvent {
            seq,
            at: Utc::now(),
            actor_id: Some(Uuid::now_v7()),
            action: action.into(),
            object_type: "share".into(),
            object_id: Some(Uuid::now_v7().to_string()),
            outcome: Outcome::Success,
            request_id: None,
            detail,
            chain: None,
        }
    }

    #[test]
    fn share_events_map_to_notifications() {
        let cases = [
            (
                "share.request",
                json!({"to": "submitted"}),
                Some(NotifyEvent::Submitted),
            ),
            ("share.request", json!({"to": "draft"}), None),
            (
                "share.submit",
                json!({"from": "draft", "to": "submitted"}),
                Some(NotifyEvent::Submitted),
            ),
            (
                "share.approve",
                json!({"extra": {"notes": "ok"}}),
                Some(NotifyEvent::Approved),
            ),
            ("share.reject", json!({}), Some(NotifyEvent::Rejected)),
            ("share.revoke", json!({}), Some(NotifyEvent::Revoked)),
            ("share.expire", json!({}), Some(NotifyEvent::Revoked)),
            ("share.finish", json!({"extra": {"failed_items": []}}), None),
            (
                "share.finish",
                json!({"extra": {"failed_items": ["x"]}}),
                Some(NotifyEvent::Failed),
            ),
            (
                "share.finish",
                json!({"extra": {"revoked_items": ["x"]}}),
                None,
            ),
            ("share.unhealthy", json!({}), Some(NotifyEvent::Unhealthy)),
            (
                "share.expiring",
                json!({"extra": {"expires_at": "2030-01-01T00:00:00Z"}}),
                Some(NotifyEvent::Expiring),
            ),
            (
                "share.pending_reminder",
                json!({"extra": {"pending_days": 4}}),
                Some(NotifyEvent::Pending),
            ),
            ("share.start", json!({}), None),
            ("share.delete", json!({}), None),
        ];
        for (action, detail, want) in cases {
            let got = trigger_of(&event(1, action, detail.clone())).map(|t| t.event);
            assert_eq!(got, want, "{action} {detail}");
        }
        let t = trigger_of(&event(
            1,
            "share.approve",
            json!({"extra": {"notes": "ok"}}),
        ))
        .unwrap();
        assert_eq!(t.notes.as_deref(), Some("ok"));
        let t = trigger_of(&event(
            1,
            "share.pending_reminder",
            json!({"extra": {"pending_days": 4}}),
        ))
        .unwrap();
        assert_eq!(t.pending_days, Some(4));

        // Denied or failed acts, other objects and bad ids notify nobody.
        let mut denied = event(1, "share.approve", json!({}));
        denied.outcome = Outcome::Denied;
        assert!(trigger_of(&denied).is_none());
        let mut other = event(1, "share.approve", json!({}));
        other.object_type = "data_product".into();
        assert!(trigger_of(&other).is_none());
        let mut bad = event(1, "share.approve", json!({}));
        bad.object_id = Some("nope".into());
        assert!(trigger_of(&bad).is_none());
    }

    #[test]
    fn audiences() {
        assert_eq!(
            audience(NotifyEvent::Submitted),
            Audience {
                approvers: true,
                requesters: false
            }
        );
        assert_eq!(
            audience(NotifyEvent::Approved),
            Audience {
                approvers: false,
                requesters: true
            }
        );
        for e in [
            NotifyEvent::Revoked,
            NotifyEvent::Failed,
            NotifyEvent::Unhealthy,
            NotifyEvent::Expiring,
        ] {
            assert_eq!(
                audience(e),
                Audience {
                    approvers: true,
                    requesters: true
                },
                "{e}"
            );
        }
        assert_eq!(
            audience(NotifyEvent::Pending),
            Audience {
                approvers: true,
                requesters: false
            }
        );
    }

    #[test]
    fn messages_say_who_did_what_to_which_share() {
        let mut e = event(
            9,
            "share.reject",
            json!({"extra": {"notes": "not for marketing"}}),
        );
        let share = e.object_id.clone().unwrap();
        let facts = MessageFacts {
            actor: "alice".into(),
            product: "sales.orders".into(),
            requester: "marketing.analytics".into(),
            reason: "campaign analysis".into(),
            link: format!("http://h/api/v1/shares/{share}"),
        };
        let (title, body) = compose(&trigger_of(&e).unwrap(), &facts);
        assert_eq!(
            title,
            "alice rejected marketing.analytics's request for sales.orders"
        );
        for needle in [
            title.as_str(),
            share.as_str(),
            "Notes: not for marketing",
            &facts.link,
        ] {
            assert!(body.contains(needle), "{needle} in {body}");
        }
        assert!(!body.contains("Reason"), "{body}");

        e.action = "share.request".into();
        e.detail = json!({"to": "submitted"});
        let (title, body) = compose(&trigger_of(&e).unwrap(), &facts);
        assert_eq!(
            title,
            "alice requested access to sales.orders for marketing.analytics"
        );
        assert!(body.contains("Reason: campaign analysis"), "{body}");

        e.action = "share.finish".into();
        e.actor_id = None;
        e.detail = json!({"extra": {"failed_items": ["a", "b"]}});
        let system = MessageFacts {
            actor: SYSTEM_ACTOR.into(),
            ..facts.clone()
        };
        let (title, _) = compose(&trigger_of(&e).unwrap(), &system);
        assert_eq!(
            title,
            "meshgate failed to grant 2 items of marketing.analytics's share of sales.orders"
        );

        e.action = "share.expire".into();
        let (title, _) = compose(&trigger_of(&e).unwrap(), &system);
        assert!(title.ends_with("the share expired"), "{title}");

        e.action = "share.pending_reminder".into();
        e.detail = json!({"extra": {"pending_days": 1}});
        let (title, _) = compose(&trigger_of(&e).unwrap(), &system);
        assert!(title.contains("has waited 1 day for a decision"), "{title}");
    }

    #[test]
    fn gaps_in_the_log_are_waited_for_then_passed() {
        let now = Utc::now();
        let at = |seq: i64, age: i64| {
            let mut e = event(seq, "share.submit", json!({}));
            e.at = now - Duration::seconds(age);
            e
        };
        // Contiguous: all of it.
        let events = [at(6, 0), at(7, 0)];
        let (ready, cursor) = dispatchable(5, &events, now, GAP_GRACE);
        assert_eq!((ready.len(), cursor), (2, 7));
        // A fresh gap (6 missing): stop before it.
        let events = [at(7, 1), at(8, 1)];
        let (ready, cursor) = dispatchable(5, &events, now, GAP_GRACE);
        assert_eq!((ready.len(), cursor), (0, 5));
        // An old gap: 6 was rolled back; pass it.
        let events = [at(7, 60), at(8, 1)];
        let (ready, cursor) = dispatchable(5, &events, now, GAP_GRACE);
        assert_eq!((ready.len(), cursor), (2, 8));
        // A fresh gap later on: dispatch up to it.
        let events = [at(6, 1), at(9, 1)];
        let (ready, cursor) = dispatchable(5, &events, now, GAP_GRACE);
        assert_eq!((ready.len(), cursor), (1, 6));
        // Nothing new.
        let (ready, cursor) = dispatchable(5, &[], now, GAP_GRACE);
        assert_eq!((ready.len(), cursor), (0, 5));
    }

    #[test]
    fn signatures_and_secrets() {
        // RFC 4231 test case 2.
        assert_eq!(
            webhook_signature("Jefe", b"what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = generate_webhook_secret();
        assert!(a.starts_with(WEBHOOK_SECRET_PREFIX) && a.len() == 68, "{a}");
        assert_ne!(a, generate_webhook_secret());
    }

    #[test]
    fn event_lists() {
        assert_eq!(parse_events::<&str>(&[]).unwrap(), vec![]);
        assert_eq!(
            parse_events(&["rejected,approved", " approved "]).unwrap(),
            vec![NotifyEvent::Approved, NotifyEvent::Rejected]
        );
        let err = parse_events(&["approved", "bogus"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`bogus`") && err.contains("submitted"),
            "{err}"
        );
        let hook = Webhook {
            id: Uuid::now_v7(),
            principal_id: Uuid::now_v7(),
            url: "http://x".into(),
            secret: String::new(),
            events: vec![NotifyEvent::Approved],
            created_at: Utc::now(),
            disabled_at: None,
        };
        assert!(hook.wants(NotifyEvent::Approved) && !hook.wants(NotifyEvent::Rejected));
        let all = Webhook {
            events: vec![],
            ..hook.clone()
        };
        assert!(all.wants(NotifyEvent::Rejected));
        let off = Webhook {
            disabled_at: Some(Utc::now()),
            ..all
        };
        assert!(!off.wants(NotifyEvent::Rejected));
    }
}
