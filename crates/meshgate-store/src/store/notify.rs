//! [`NotifyStore`] for [`SqlStore`] (docs/design/LIFECYCLE.md §Notifications): the dispatcher's cursor
//! over the audit log, inboxes, contacts, webhooks and their deliveries.
//!
//! The dispatcher's batch is written with a compare-and-set on the cursor in the same
//! transaction, so replicas dispatching at once never write an event's notifications twice:
//! the loser's `UPDATE` matches no row (on PostgreSQL it waits for the winner's row lock, then
//! sees the moved cursor) and it writes nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::model::NewAuditEvent;
use meshgate_core::notify::{Contact, DeliveryStatus, Notification, Webhook, WebhookDelivery};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{Args, changed, exec, fetch_one, insert_audit, insert_job};
use crate::codec::{self, opt_id, opt_ts, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;
use crate::{NotificationBatch, NotifyStore};

/// The most notifications one listing returns.
const MAX_LIST: u32 = 1000;

async fn insert_notification(conn: &mut AnyConnection, n: &Notification) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, principal_id, share_id, event, actor_id, audit_seq, \
         title, body, link, created_at, read_at, emailed_at, alert_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(n.id.to_string())
    .bind(n.principal_id.to_string())
    .bind(opt_id(n.share_id))
    .bind(n.event.as_str())
    .bind(opt_id(n.actor_id))
    .bind(n.audit_seq)
    .bind(n.title.as_str())
    .bind(n.body.as_str())
    .bind(n.link.as_str())
    .bind(ts(n.created_at))
    .bind(opt_ts(n.read_at))
    .bind(opt_ts(n.emailed_at))
    .bind(opt_id(n.alert_id))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("notification", n.id.to_string()), e))?;
    Ok(())
}

async fn insert_delivery(conn: &mut AnyConnection, d: &WebhookDelivery) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, notification_id, event, payload, \
         status, attempts, last_error, created_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(d.id.to_string())
    .bind(d.webhook_id.to_string())
    .bind(d.notification_id.to_string())
    .bind(d.event.as_str())
    .bind(d.payload.as_str())
    .bind(d.status.as_str())
    .bind(d.attempts)
    .bind(d.last_error.as_deref())
    .bind(ts(d.created_at))
    .bind(opt_ts(d.finished_at))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("webhook delivery", d.id.to_string()), e))?;
    Ok(())
}

#[async_trait]
impl NotifyStore for SqlStore {
    async fn notify_cursor(&self) -> Result<i64> {
        let sql = "SELECT last_seq FROM notify_cursor WHERE id = 1";
        let found = self
            .row("read the notification cursor", sql, &[])
            .await?
            .ok_or_else(|| Error::internal("the store has no notification cursor"))?;
        codec::int(&found, "last_seq")
    }

    async fn record_notifications(&self, batch: NotificationBatch) -> Result<bool> {
        self.write(async |conn| {
            if batch.up_to_seq < batch.after_seq {
                return Err(Error::invalid(format!(
                    "the notification cursor cannot move back from {} to {}",
                    batch.after_seq, batch.up_to_seq
                )));
            }
            // The compare-and-set comes first, so a lost race writes nothing at all.
            let moved = sqlx::query(
                "UPDATE notify_cursor SET last_seq = $2 WHERE id = 1 AND last_seq = $1",
            )
            .bind(batch.after_seq)
            .bind(batch.up_to_seq)
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("move the notification cursor", e))?;
            if moved.rows_affected() == 0 {
                return Ok(false);
            }
            for n in &batch.notifications {
                insert_notification(conn, n).await?;
            }
            for d in &batch.deliveries {
                insert_delivery(conn, d).await?;
            }
            let now = ts(Utc::now());
            for job in &batch.jobs {
                insert_job(conn, job, now).await?;
            }
            Ok(true)
        })
        .await
    }

    async fn list_notifications(
        &self,
        principal_id: Uuid,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        let unread = if unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        let sql = Notification::select(&format!(
            "WHERE principal_id = $1{unread} ORDER BY created_at DESC, id DESC LIMIT {}",
            limit.clamp(1, MAX_LIST)
        ));
        self.list("read notifications", &sql, &[&principal_id])
            .await
    }

    async fn get_notification(&self, id: Uuid) -> Result<Option<Notification>> {
        let sql = Notification::select("WHERE id = $1");
        self.get("read a notification", &sql, &[&id]).await
    }

    async fn mark_notification_read(
        &self,
        principal_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification> {
        let not_found = || Error::not_found("notification", id.to_string());
        self.write(async |conn| {
            let sql = "UPDATE notifications SET read_at = COALESCE(read_at, $3) \
                       WHERE id = $1 AND principal_id = $2";
            let args = Args::of(&[&id, &principal_id, &ts(at)]);
            changed(
                exec(conn, "mark a notification read", sql, &args).await?,
                not_found,
            )?;
            let sql = Notification::select("WHERE id = $1");
            fetch_one(conn, "read a notification", &sql, &Args::of(&[&id]))
                .await?
                .ok_or_else(not_found)
        })
        .await
    }

    async fn mark_all_notifications_read(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let sql =
            "UPDATE notifications SET read_at = $2 WHERE principal_id = $1 AND read_at IS NULL";
        let args = Args::of(&[&principal_id, &ts(at)]);
        self.write(async |conn| exec(conn, "mark notifications read", sql, &args).await)
            .await
    }

    async fn mark_notification_emailed(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let sql = "UPDATE notifications SET emailed_at = $2 WHERE id = $1";
        let args = Args::of(&[&id, &ts(at)]);
        self.write(async |conn| {
            let done = exec(conn, "mark a notification emailed", sql, &args).await?;
            changed(done, || Error::not_found("notification", id.to_string()))
        })
        .await
    }

    async fn put_contact(&self, c: &Contact, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO contacts (principal_id, email, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (principal_id) DO UPDATE \
             SET email = excluded.email, updated_at = excluded.updated_at",
        )
        .bind(c.principal_id.to_string())
        .bind(c.email.as_str())
        .bind(ts(c.updated_at));
        self.write_one(
            query,
            |e| write_error(&subject("contact", c.principal_id.to_string()), e),
            None,
            &audit,
            false,
        )
        .await
    }

    async fn get_contact(&self, principal_id: Uuid) -> Result<Option<Contact>> {
        let sql = Contact::select("WHERE principal_id = $1");
        self.get("read a contact", &sql, &[&principal_id]).await
    }

    async fn delete_contact(&self, principal_id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query("DELETE FROM contacts WHERE principal_id = $1")
            .bind(principal_id.to_string());
        self.write_one(
            query,
            |e| internal("delete a contact", e),
            Some(Error::not_found("contact", principal_id.to_string())),
            &audit,
            false,
        )
        .await
    }

    async fn create_webhook(&self, w: &Webhook, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO webhooks (id, principal_id, url, secret, events, created_at, \
             disabled_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(w.id.to_string())
        .bind(w.principal_id.to_string())
        .bind(w.url.as_str())
        .bind(w.secret.as_str())
        .bind(codec::events_col(&w.events))
        .bind(ts(w.created_at))
        .bind(opt_ts(w.disabled_at));
        self.write_one(
            query,
            |e| write_error(&subject("webhook", w.id.to_string()), e),
            None,
            &audit,
            false,
        )
        .await
    }

    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>> {
        let sql = Webhook::select("WHERE id = $1");
        self.get("read a webhook", &sql, &[&id]).await
    }

    async fn list_webhooks(&self, principal_id: Uuid) -> Result<Vec<Webhook>> {
        let sql = Webhook::select(
            "WHERE principal_id = $1 AND disabled_at IS NULL \
             ORDER BY created_at, id",
        );
        self.list("read webhooks", &sql, &[&principal_id]).await
    }

    async fn disable_webhook(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Webhook> {
        let not_found = || Error::not_found("webhook", id.to_string());
        self.write(async |conn| {
            let sql = "UPDATE webhooks SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1";
            let args = Args::of(&[&id, &ts(at)]);
            changed(
                exec(conn, "disable a webhook", sql, &args).await?,
                not_found,
            )?;
            insert_audit(conn, &audit).await?;
            let sql = Webhook::select("WHERE id = $1");
            fetch_one(conn, "read a webhook", &sql, &Args::of(&[&id]))
                .await?
                .ok_or_else(not_found)
        })
        .await
    }

    async fn get_webhook_delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>> {
        let sql = WebhookDelivery::select("WHERE id = $1");
        self.get("read a webhook delivery", &sql, &[&id]).await
    }

    async fn record_webhook_attempt(
        &self,
        id: Uuid,
        status: DeliveryStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let finished = (status != DeliveryStatus::Pending).then(|| ts(at));
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, \
                 last_error = COALESCE($3, last_error), finished_at = $4 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(status.as_str())
            .bind(error)
            .bind(finished)
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("record a webhook delivery", e))?;
            changed(done.rows_affected(), || {
                Error::not_found("webhook delivery", id.to_string())
            })
        })
        .await
    }

    async fn list_webhook_deliveries(&self, webhook_id: Uuid) -> Result<Vec<WebhookDelivery>> {
        let sql = WebhookDelivery::select("WHERE webhook_id = $1 ORDER BY created_at, id");
        self.list("read webhook deliveries", &sql, &[&webhook_id])
            .await
    }
}
