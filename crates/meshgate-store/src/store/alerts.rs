//! [`AlertStore`] for [`SqlStore`]: alerts, suspensions and the detector's settings.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::alerts::{Alert, AlertSettings, AlertStatus, Suspension};
use meshgate_core::model::NewAuditEvent;
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{Args, changed, exec, fetch_list, insert_audit};
use crate::codec::{self, opt_id, opt_ts, to_json, ts};
use crate::db::SqlStore;
use crate::record::Record;
use crate::{AlertBatch, AlertFilter, AlertStore};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[async_trait]
impl AlertStore for SqlStore {
    async fn record_alerts(&self, batch: AlertBatch) -> Result<bool> {
        if batch.to_pos < batch.from_pos {
            return Err(Error::invalid(format!(
                "the alert cursor cannot move back from {} to {}",
                batch.from_pos, batch.to_pos
            )));
        }
        let now = ts(Utc::now());
        self.write(async |conn| {
            // The compare-and-set comes first, so a lost race writes nothing at all.
            let args = Args::of(&[&batch.to_pos, &now, &batch.cursor, &batch.from_pos]);
            let moved = exec(
                conn,
                "move the alert cursor",
                "UPDATE audit_cursors SET pos = $1, delivered_at = $2, failures = 0, \
                 last_error = NULL, updated_at = $2 WHERE name = $3 AND pos = $4",
                &args,
            )
            .await?;
            if moved == 0 {
                return Ok(false);
            }
            for (alert, event) in &batch.alerts {
                insert_alert(conn, alert).await?;
                insert_audit(conn, event).await?;
            }
            for (s, event) in &batch.suspensions {
                let args = Args::of(&[
                    &s.principal_id,
                    &opt_id(s.alert_id).unwrap_or_default(),
                    &s.reason,
                    &ts(s.at),
                ]);
                exec(
                    conn,
                    "suspend a principal",
                    "INSERT INTO suspensions (principal_id, alert_id, reason, at) \
                     VALUES ($1, NULLIF($2, ''), $3, $4) ON CONFLICT (principal_id) DO NOTHING",
                    &args,
                )
                .await?;
                insert_audit(conn, event).await?;
            }
            Ok(true)
        })
        .await
    }

    async fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>> {
        let mut args = Args::default();
        let mut sql = Alert::select("WHERE 1 = 1");
        if let Some(status) = filter.status {
            sql += &format!(" AND status = {}", args.text(status.as_str()));
        }
        if let Some(p) = filter.principal_id {
            sql += &format!(" AND principal_id = {}", args.text(p.to_string()));
        }
        if let Some(from) = filter.from {
            sql += &format!(" AND created_at >= {}", args.int(ts(from)));
        }
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        sql += &format!(
            " ORDER BY created_at DESC, id DESC LIMIT {}",
            args.int(i64::from(limit))
        );
        let mut conn = self.read().await?;
        fetch_list(&mut conn, "read alerts", &sql, &args).await
    }

    async fn get_alert(&self, id: Uuid) -> Result<Option<Alert>> {
        self.get("read an alert", &Alert::select("WHERE id = $1"), &[&id])
            .await
    }

    async fn acknowledge_alert(
        &self,
        id: Uuid,
        by: Uuid,
        note: Option<&str>,
        audit: NewAuditEvent,
    ) -> Result<Alert> {
        let now = ts(Utc::now());
        let note = note.unwrap_or_default().to_string();
        let args = Args::of(&[&AlertStatus::Acknowledged.as_str(), &by, &now, &note, &id]);
        self.write(async |conn| {
            let n = exec(
                conn,
                "acknowledge an alert",
                "UPDATE alerts SET status = $1, acknowledged_by = $2, acknowledged_at = $3, \
                 note = NULLIF($4, '') WHERE id = $5",
                &args,
            )
            .await?;
            changed(n, || Error::not_found("alert", id.to_string()))?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await?;
        self.get_alert(id)
            .await?
            .ok_or_else(|| Error::not_found("alert", id.to_string()))
    }

    async fn suspensions(&self) -> Result<Vec<Suspension>> {
        self.list(
            "read suspensions",
            &Suspension::select("ORDER BY at, principal_id"),
            &[],
        )
        .await
    }

    async fn lift_suspension(&self, principal_id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let args = Args::of(&[&principal_id]);
        self.write(async |conn| {
            let n = exec(
                conn,
                "lift a suspension",
                "DELETE FROM suspensions WHERE principal_id = $1",
                &args,
            )
            .await?;
            changed(n, || {
                Error::not_found("suspension of principal", principal_id.to_string())
            })?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn alert_settings(&self) -> Result<(AlertSettings, DateTime<Utc>)> {
        let row = self
            .row(
                "read the alert settings",
                "SELECT settings, updated_at FROM alert_settings WHERE id = 1",
                &[],
            )
            .await?
            .ok_or_else(|| Error::internal("the alert settings row is missing"))?;
        Ok((
            codec::json(&row, "settings")?,
            codec::time(&row, "updated_at")?,
        ))
    }

    async fn set_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        settings.check()?;
        let json = to_json("alert settings", settings)?;
        let args = Args::of(&[&json, &ts(Utc::now())]);
        self.write(async |conn| {
            exec(
                conn,
                "change the alert settings",
                "UPDATE alert_settings SET settings = $1, updated_at = $2 WHERE id = 1",
                &args,
            )
            .await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }
}

async fn insert_alert(conn: &mut sqlx::AnyConnection, a: &Alert) -> Result<()> {
    let tables = to_json("alert tables", &a.tables)?;
    let findings = to_json("alert findings", &a.findings)?;
    sqlx::query(
        "INSERT INTO alerts (id, principal_id, read_action, read_pos, tables, findings, summary, \
         response, status, acknowledged_by, acknowledged_at, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(a.id.to_string())
    .bind(a.principal_id.to_string())
    .bind(a.read_action.as_str())
    .bind(a.read_pos)
    .bind(tables)
    .bind(findings)
    .bind(a.summary.as_str())
    .bind(a.response.as_str())
    .bind(a.status.as_str())
    .bind(opt_id(a.acknowledged_by))
    .bind(opt_ts(a.acknowledged_at))
    .bind(a.note.as_deref())
    .bind(ts(a.created_at))
    .execute(conn)
    .await
    .map_err(|e| crate::db::internal("write an alert", e))?;
    Ok(())
}
