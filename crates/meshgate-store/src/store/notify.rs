//! The notifications' part of [`Store`] for [`SqlStore`] (docs/design/LIFECYCLE.md §Notifications): the
//! dispatcher's cursor over the audit log, inboxes, contacts, webhooks and their deliveries.
//! The trait methods in `store.rs` delegate here.
//!
//! The dispatcher's batch is written with a compare-and-set on the cursor in the same
//! transaction, so replicas dispatching at once never write an event's notifications twice:
//! the loser's `UPDATE` matches no row (on PostgreSQL it waits for the winner's row lock, then
//! sees the moved cursor) and it writes nothing.

use chrono::{DateTime, Utc};
use meshgate_core::model::NewAuditEvent;
use meshgate_core::notify::{Contact, DeliveryStatus, Notification, Webhook, WebhookDelivery};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{all, fetch_optional_by_id, insert_audit, insert_job, row, rows};
use crate::NotificationBatch;
use crate::codec::{self, opt_id, opt_ts, ts};
use crate::db::{SqlStore, internal, subject, write_error};

/// The most notifications one listing returns.
const MAX_LIST: u32 = 1000;

async fn insert_notification(conn: &mut AnyConnection, n: &Notification) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, principal_id, share_id, event, actor_id, audit_seq, \
         title, body, link, created_at, read_at, emailed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(n.id.to_string())
    .bind(n.principal_id.to_string())
    .bind(n.share_id.to_string())
    .bind(n.event.as_str())
    .bind(opt_id(n.actor_id))
    .bind(n.audit_seq)
    .bind(n.title.as_str())
    .bind(n.body.as_str())
    .bind(n.link.as_str())
    .bind(ts(n.created_at))
    .bind(opt_ts(n.read_at))
    .bind(opt_ts(n.emailed_at))
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

async fn record_tx(conn: &mut AnyConnection, batch: &NotificationBatch) -> Result<bool> {
    if batch.up_to_seq < batch.after_seq {
        return Err(Error::invalid(format!(
            "the notification cursor cannot move back from {} to {}",
            batch.after_seq, batch.up_to_seq
        )));
    }
    // The compare-and-set comes first, so a lost race writes nothing at all.
    let moved =
        sqlx::query("UPDATE notify_cursor SET last_seq = $2 WHERE id = 1 AND last_seq = $1")
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
}

async fn load_notification(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Notification>> {
    let sql = format!(
        "SELECT {} FROM notifications WHERE id = $1",
        codec::NOTIFICATION_COLS
    );
    fetch_optional_by_id(conn, "read a notification", &sql, id)
        .await?
        .map(|r| codec::notification(&r))
        .transpose()
}

async fn mark_read_tx(
    conn: &mut AnyConnection,
    principal_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Notification> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, $3) \
         WHERE id = $1 AND principal_id = $2",
    )
    .bind(id.to_string())
    .bind(principal_id.to_string())
    .bind(ts(at))
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("mark a notification read", e))?;
    let not_found = || Error::not_found("notification", id.to_string());
    if done.rows_affected() == 0 {
        return Err(not_found());
    }
    load_notification(conn, id).await?.ok_or_else(not_found)
}

async fn disable_webhook_tx(
    conn: &mut AnyConnection,
    id: Uuid,
    at: DateTime<Utc>,
    audit: &NewAuditEvent,
) -> Result<Webhook> {
    let done =
        sqlx::query("UPDATE webhooks SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1")
            .bind(id.to_string())
            .bind(ts(at))
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("disable a webhook", e))?;
    let not_found = || Error::not_found("webhook", id.to_string());
    if done.rows_affected() == 0 {
        return Err(not_found());
    }
    insert_audit(conn, audit).await?;
    let sql = format!("SELECT {} FROM webhooks WHERE id = $1", codec::WEBHOOK_COLS);
    let found = fetch_optional_by_id(conn, "read a webhook", &sql, id)
        .await?
        .ok_or_else(not_found)?;
    codec::webhook(&found)
}

/// The notification methods of [`SqlStore`], called by its [`crate::Store`] implementation.
impl SqlStore {
    pub(super) async fn nt_notify_cursor(&self) -> Result<i64> {
        let found = row(
            &self.pool,
            "read the notification cursor",
            "SELECT last_seq FROM notify_cursor WHERE id = 1",
            Vec::new(),
        )
        .await?
        .ok_or_else(|| Error::internal("the store has no notification cursor"))?;
        codec::int(&found, "last_seq")
    }

    pub(super) async fn nt_record_notifications(&self, batch: NotificationBatch) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let result = record_tx(w.conn(), &batch).await;
        w.finish(result).await
    }

    pub(super) async fn nt_list_notifications(
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
        let sql = format!(
            "SELECT {} FROM notifications WHERE principal_id = $1{unread} \
             ORDER BY created_at DESC, id DESC LIMIT {}",
            codec::NOTIFICATION_COLS,
            limit.clamp(1, MAX_LIST)
        );
        all(
            rows(
                &self.pool,
                "read notifications",
                &sql,
                Some(principal_id.to_string()),
            )
            .await?,
            codec::notification,
        )
    }

    pub(super) async fn nt_get_notification(&self, id: Uuid) -> Result<Option<Notification>> {
        let mut conn = self.read().await?;
        load_notification(&mut conn, id).await
    }

    pub(super) async fn nt_mark_notification_read(
        &self,
        principal_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification> {
        let mut w = self.begin_write().await?;
        let result = mark_read_tx(w.conn(), principal_id, id, at).await;
        w.finish(result).await
    }

    pub(super) async fn nt_mark_all_notifications_read(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE notifications SET read_at = $2 WHERE principal_id = $1 AND read_at IS NULL",
        )
        .bind(principal_id.to_string())
        .bind(ts(at))
        .execute(&mut *w.conn())
        .await
        .map(|done| done.rows_affected())
        .map_err(|e| internal("mark notifications read", e));
        w.finish(result).await
    }

    pub(super) async fn nt_mark_notification_emailed(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = sqlx::query("UPDATE notifications SET emailed_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(ts(at))
            .execute(&mut *w.conn())
            .await
            .map_err(|e| internal("mark a notification emailed", e))
            .and_then(|done| match done.rows_affected() {
                0 => Err(Error::not_found("notification", id.to_string())),
                _ => Ok(()),
            });
        w.finish(result).await
    }

    pub(super) async fn nt_put_contact(&self, c: &Contact, audit: NewAuditEvent) -> Result<()> {
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

    pub(super) async fn nt_get_contact(&self, principal_id: Uuid) -> Result<Option<Contact>> {
        let sql = format!(
            "SELECT {} FROM contacts WHERE principal_id = $1",
            codec::CONTACT_COLS
        );
        row(
            &self.pool,
            "read a contact",
            &sql,
            vec![principal_id.to_string()],
        )
        .await?
        .map(|r| codec::contact(&r))
        .transpose()
    }

    pub(super) async fn nt_delete_contact(
        &self,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
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

    pub(super) async fn nt_create_webhook(&self, w: &Webhook, audit: NewAuditEvent) -> Result<()> {
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

    pub(super) async fn nt_get_webhook(&self, id: Uuid) -> Result<Option<Webhook>> {
        let sql = format!("SELECT {} FROM webhooks WHERE id = $1", codec::WEBHOOK_COLS);
        row(&self.pool, "read a webhook", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::webhook(&r))
            .transpose()
    }

    pub(super) async fn nt_list_webhooks(&self, principal_id: Uuid) -> Result<Vec<Webhook>> {
        let sql = format!(
            "SELECT {} FROM webhooks WHERE principal_id = $1 AND disabled_at IS NULL \
             ORDER BY created_at, id",
            codec::WEBHOOK_COLS
        );
        all(
            rows(
                &self.pool,
                "read webhooks",
                &sql,
                Some(principal_id.to_string()),
            )
            .await?,
            codec::webhook,
        )
    }

    pub(super) async fn nt_disable_webhook(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Webhook> {
        let mut w = self.begin_write().await?;
        let result = disable_webhook_tx(w.conn(), id, at, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn nt_get_webhook_delivery(
        &self,
        id: Uuid,
    ) -> Result<Option<WebhookDelivery>> {
        let sql = format!(
            "SELECT {} FROM webhook_deliveries WHERE id = $1",
            codec::DELIVERY_COLS
        );
        row(
            &self.pool,
            "read a webhook delivery",
            &sql,
            vec![id.to_string()],
        )
        .await?
        .map(|r| codec::delivery(&r))
        .transpose()
    }

    pub(super) async fn nt_record_webhook_attempt(
        &self,
        id: Uuid,
        status: DeliveryStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let finished = (status != DeliveryStatus::Pending).then(|| ts(at));
        let mut w = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, \
             last_error = COALESCE($3, last_error), finished_at = $4 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(error)
        .bind(finished)
        .execute(&mut *w.conn())
        .await
        .map_err(|e| internal("record a webhook delivery", e))
        .and_then(|done| match done.rows_affected() {
            0 => Err(Error::not_found("webhook delivery", id.to_string())),
            _ => Ok(()),
        });
        w.finish(result).await
    }

    pub(super) async fn nt_list_webhook_deliveries(
        &self,
        webhook_id: Uuid,
    ) -> Result<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at, id",
            codec::DELIVERY_COLS
        );
        all(
            rows(
                &self.pool,
                "read webhook deliveries",
                &sql,
                Some(webhook_id.to_string()),
            )
            .await?,
            codec::delivery,
        )
    }

    pub(super) async fn nt_group_members(&self, group_id: Uuid) -> Result<Vec<Uuid>> {
        let found = rows(
            &self.pool,
            "read group members",
            "SELECT member_id FROM group_members WHERE group_id = $1 ORDER BY member_id",
            Some(group_id.to_string()),
        )
        .await?;
        all(found, |r| codec::uuid(r, "member_id"))
    }
}
