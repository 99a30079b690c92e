//! [`ProductStore`] for [`SqlStore`]: data products and their tables.

use async_trait::async_trait;
use chrono::Utc;
use meshgate_core::lifecycle::ItemStatus;
use meshgate_core::model::{DataProduct, NewAuditEvent, ProductTable};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{Args, bump_policy_version, fetch_list, fetch_optional_by_id, insert_audit, locking};
use crate::codec::{self, to_json, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};
use crate::record::Record;
use crate::{ProductFilter, ProductStore};

async fn insert_table(conn: &mut AnyConnection, table: &ProductTable) -> Result<()> {
    let columns = to_json("table columns", &table.columns)?;
    sqlx::query(
        "INSERT INTO product_tables (id, product_id, name, description, location, managed, \
         columns, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(table.id.to_string())
    .bind(table.product_id.to_string())
    .bind(table.name.as_str())
    .bind(table.description.as_str())
    .bind(table.location.as_str())
    .bind(table.managed)
    .bind(columns)
    .bind(ts(table.created_at))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("table", table.name.as_str()), e))?;
    Ok(())
}

#[async_trait]
impl ProductStore for SqlStore {
    async fn create_product(
        &self,
        product: &DataProduct,
        tables: &[ProductTable],
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO products (id, domain_id, team_id, name, description, created_at, \
                 updated_at, listing, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(product.id.to_string())
            .bind(product.domain_id.to_string())
            .bind(product.team_id.to_string())
            .bind(product.name.as_str())
            .bind(product.description.as_str())
            .bind(ts(product.created_at))
            .bind(ts(product.updated_at))
            .bind(product.listing.as_str())
            .bind(product.revision)
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("data product", product.name.as_str()), e))?;
            for table in tables {
                if table.product_id != product.id {
                    return Err(Error::invalid(format!(
                        "table `{}` belongs to another data product",
                        table.name
                    )));
                }
                insert_table(conn, table).await?;
            }
            // Owners read their own products' tables: a new product changes what they see.
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn get_product(&self, id: Uuid) -> Result<Option<DataProduct>> {
        let sql = DataProduct::select("WHERE id = $1");
        self.get("read a data product", &sql, &[&id]).await
    }

    async fn get_product_by_name(
        &self,
        domain_id: Uuid,
        name: &str,
    ) -> Result<Option<DataProduct>> {
        let sql = DataProduct::select("WHERE domain_id = $1 AND name = $2");
        self.get("read a data product", &sql, &[&domain_id, &name])
            .await
    }

    async fn list_products(&self, filter: &ProductFilter) -> Result<Vec<DataProduct>> {
        let mut args = Args::default();
        let mut sql = DataProduct::select("WHERE 1 = 1");
        if let Some(d) = filter.domain_id {
            sql += &format!(" AND domain_id = {}", args.text(d.to_string()));
        }
        if let Some(t) = filter.team_id {
            sql += &format!(" AND team_id = {}", args.text(t.to_string()));
        }
        sql += " ORDER BY name, id";
        let mut conn = self.read().await?;
        fetch_list(&mut conn, "list data products", &sql, &args).await
    }

    async fn delete_product(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let backend = self.backend;
        self.write(async |conn| {
            let sql = locking(
                backend,
                "SELECT name FROM products WHERE id = $1",
                "FOR UPDATE",
            );
            let Some(row) = fetch_optional_by_id(conn, "read a data product", &sql, id).await?
            else {
                return Err(Error::not_found("data product", id.to_string()));
            };
            let name = codec::text(&row, "name")?;
            if backend == Backend::Postgres {
                // Lock the product's shares: a concurrent share change holds (or waits for) the
                // same row locks, so the item check below sees its outcome rather than racing
                // it. SQLite needs nothing: its writes are serialised.
                sqlx::query("SELECT id FROM shares WHERE product_id = $1 FOR UPDATE")
                    .bind(id.to_string())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| internal("lock shares", e))?;
            }
            let statuses = sqlx::query(
                "SELECT DISTINCT i.status FROM share_items i JOIN shares s ON s.id = i.share_id \
                 WHERE s.product_id = $1",
            )
            .bind(id.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| internal("read share items", e))?;
            for row in &statuses {
                if codec::enum_of::<ItemStatus>(row, "status")?.is_shared() {
                    return Err(Error::conflict(format!(
                        "cannot delete data product `{name}`: some of its shares still give \
                         access; revoke its shares first"
                    )));
                }
            }
            // The product's fine-grained access goes with it. Explicit rather than left to the
            // cascades, like its tables, so that the statements say what a delete removes.
            for sql in [
                "DELETE FROM data_filters WHERE product_id = $1",
                "DELETE FROM row_rules WHERE product_id = $1",
                "DELETE FROM column_tags WHERE table_id IN \
                 (SELECT id FROM product_tables WHERE product_id = $1)",
                "DELETE FROM tenant_tables WHERE table_id IN \
                 (SELECT id FROM product_tables WHERE product_id = $1)",
                // Its catalog metadata (issue 7).
                "DELETE FROM table_tags WHERE table_id IN \
                 (SELECT id FROM product_tables WHERE product_id = $1)",
                "DELETE FROM metadata_forms WHERE product_id = $1",
                "DELETE FROM glossary_term_links WHERE product_id = $1",
                // Its classification suggestions (docs/design/CLASSIFICATION.md).
                "DELETE FROM classification_suggestions WHERE table_id IN \
                 (SELECT id FROM product_tables WHERE product_id = $1)",
                "DELETE FROM product_tables WHERE product_id = $1",
                "DELETE FROM products WHERE id = $1",
            ] {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("delete a data product", e))?;
            }
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn add_table(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let touched = sqlx::query("UPDATE products SET updated_at = $2 WHERE id = $1")
                .bind(table.product_id.to_string())
                .bind(ts(Utc::now()))
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("update a data product", e))?;
            if touched.rows_affected() == 0 {
                return Err(Error::not_found(
                    "data product",
                    table.product_id.to_string(),
                ));
            }
            insert_table(conn, table).await?;
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn update_table_columns(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()> {
        let columns = to_json("table columns", &table.columns)?;
        let query = sqlx::query("UPDATE product_tables SET columns = $2 WHERE id = $1")
            .bind(table.id.to_string())
            .bind(columns);
        let not_found = Error::not_found("table", table.name.as_str());
        self.write_one(
            query,
            |e| internal("update a table", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn get_table(&self, id: Uuid) -> Result<Option<ProductTable>> {
        let sql = ProductTable::select("WHERE id = $1");
        self.get("read a table", &sql, &[&id]).await
    }

    async fn list_tables(&self, product_id: Uuid) -> Result<Vec<ProductTable>> {
        let sql = ProductTable::select("WHERE product_id = $1 ORDER BY name, id");
        self.list("list tables", &sql, &[&product_id]).await
    }

    async fn list_all_tables(&self) -> Result<Vec<ProductTable>> {
        let sql = ProductTable::select("ORDER BY product_id, name");
        self.list("list all tables", &sql, &[]).await
    }
}
