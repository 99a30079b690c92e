//! External locations for [`SqlStore`]: the URL prefixes under which teams may register
//! existing Delta tables. The trait methods in `store.rs` delegate here.

use meshgate_core::model::{ExternalLocation, NewAuditEvent, ProductTable};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{all, row, rows};
use crate::codec::{self, to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};

impl SqlStore {
    pub(super) async fn el_create(&self, l: &ExternalLocation, audit: NewAuditEvent) -> Result<()> {
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

    pub(super) async fn el_get_by_name(&self, name: &str) -> Result<Option<ExternalLocation>> {
        let sql = format!(
            "SELECT {} FROM external_locations WHERE name = $1",
            codec::EXTERNAL_LOCATION_COLS
        );
        row(
            &self.pool,
            "read an external location",
            &sql,
            vec![name.to_string()],
        )
        .await?
        .map(|r| codec::external_location(&r))
        .transpose()
    }

    pub(super) async fn el_list(&self) -> Result<Vec<ExternalLocation>> {
        let sql = format!(
            "SELECT {} FROM external_locations ORDER BY name",
            codec::EXTERNAL_LOCATION_COLS
        );
        all(
            rows(&self.pool, "list external locations", &sql, None).await?,
            codec::external_location,
        )
    }

    pub(super) async fn el_delete(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
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

    pub(super) async fn el_all_tables(&self) -> Result<Vec<ProductTable>> {
        let sql = format!(
            "SELECT {} FROM product_tables ORDER BY product_id, name",
            codec::TABLE_COLS
        );
        all(
            rows(&self.pool, "list all tables", &sql, None).await?,
            codec::table,
        )
    }
}
