//! [`LocationStore`] for [`SqlStore`]: external locations, the URL prefixes under which teams
//! may register existing Delta tables.

use async_trait::async_trait;
use meshgate_core::model::{ExternalLocation, NewAuditEvent};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use crate::LocationStore;
use crate::codec::{to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

#[async_trait]
impl LocationStore for SqlStore {
    async fn create_external_location(
        &self,
        l: &ExternalLocation,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let teams = to_json("external location teams", &l.teams)?;
        let query = sqlx::query(
            "INSERT INTO external_locations (id, name, url, teams, writable, description, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(l.id.to_string())
        .bind(l.name.as_str())
        .bind(l.url.as_str())
        .bind(teams)
        .bind(l.writable)
        .bind(l.description.as_str())
        .bind(l.created_by.to_string())
        .bind(ts(l.created_at));
        self.write_one(
            query,
            |e| write_error(&subject("external location", l.name.as_str()), e),
            None,
            &audit,
            false,
        )
        .await
    }

    async fn get_external_location_by_name(&self, name: &str) -> Result<Option<ExternalLocation>> {
        let sql = ExternalLocation::select("WHERE name = $1");
        self.get("read an external location", &sql, &[&name]).await
    }

    async fn list_external_locations(&self) -> Result<Vec<ExternalLocation>> {
        let sql = ExternalLocation::select("ORDER BY name");
        self.list("list external locations", &sql, &[]).await
    }

    async fn delete_external_location(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let query =
            sqlx::query("DELETE FROM external_locations WHERE id = $1").bind(id.to_string());
        self.write_one(
            query,
            |e| internal("delete an external location", e),
            Some(Error::not_found("external location", id.to_string())),
            &audit,
            false,
        )
        .await
    }
}
