//! [`PolicyStore`] for [`SqlStore`] (docs/design/ACCESS.md): data filters, row rules, column tags, tag
//! masks and the mask key, and table tenancy. Every write here changes what someone may read,
//! so each bumps the policy version in its transaction.

use async_trait::async_trait;
use meshgate_core::access::{ColumnTags, DataFilter, RowRule, TagMask};
use meshgate_core::credential::TableTenancy;
use meshgate_core::model::{Grant, NewAuditEvent};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{
    Args, bump_policy_version, catalog, fetch_list, fetch_list_in, fetch_optional_by_id,
    insert_audit, locking,
};
use crate::PolicyStore;
use crate::codec::{self, opt_id, to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;

/// The name of the mask key's row in `mesh_secrets`.
const MASK_KEY: &str = "mask_key";

#[async_trait]
impl PolicyStore for SqlStore {
    // ----- fine-grained access (docs/design/ACCESS.md) -----

    async fn create_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let sql = "SELECT name, product_id FROM product_tables WHERE id = $1";
            let found = fetch_optional_by_id(conn, "read a table", sql, filter.table_id).await?;
            let Some(table) = found else {
                return Err(Error::not_found("table", filter.table_id.to_string()));
            };
            if codec::uuid(&table, "product_id")? != filter.product_id {
                return Err(Error::invalid(format!(
                    "table `{}` does not belong to data product `{}`",
                    codec::text(&table, "name")?,
                    filter.product_id
                )));
            }
            let columns = filter
                .columns
                .as_ref()
                .map(|c| to_json("data filter columns", c))
                .transpose()?;
            sqlx::query(
                "INSERT INTO data_filters (id, product_id, table_id, name, description, \
                 row_filter, columns, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(filter.id.to_string())
            .bind(filter.product_id.to_string())
            .bind(filter.table_id.to_string())
            .bind(filter.name.as_str())
            .bind(filter.description.as_str())
            .bind(filter.row_filter.as_deref())
            .bind(columns)
            .bind(filter.created_by.to_string())
            .bind(ts(filter.created_at))
            .bind(ts(filter.updated_at))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("data filter", filter.name.as_str()), e))?;
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn update_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()> {
        let columns = filter
            .columns
            .as_ref()
            .map(|c| to_json("data filter columns", c))
            .transpose()?;
        let query = sqlx::query(
            "UPDATE data_filters SET description = $2, row_filter = $3, columns = $4, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(filter.id.to_string())
        .bind(filter.description.as_str())
        .bind(filter.row_filter.as_deref())
        .bind(columns)
        .bind(ts(filter.updated_at));
        let not_found = Error::not_found("data filter", filter.name.as_str());
        self.write_one(
            query,
            |e| internal("update a data filter", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn delete_data_filter(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            // On PostgreSQL the row lock orders this delete against share changes adding grants
            // that use the filter (they share-lock it first, see `lock_filters_of`), so the count
            // below cannot miss one. SQLite's writes are serialised.
            let sql = "SELECT name FROM data_filters WHERE id = $1";
            let sql = locking(self.backend, sql, "FOR UPDATE");
            let Some(row) = fetch_optional_by_id(conn, "read a data filter", &sql, id).await?
            else {
                return Err(Error::not_found("data filter", id.to_string()));
            };
            let name = codec::text(&row, "name")?;
            // Scopes are JSON text: the LIKE narrows the candidates on both backends alike (a
            // uuid has no wildcard characters), the parsed scope decides.
            let mut args = Args::default();
            let sql = Grant::select(&format!(
                "WHERE scope LIKE {}",
                args.text(format!("%{id}%"))
            ));
            let using = fetch_list::<Grant>(conn, "read grants", &sql, &args)
                .await?
                .into_iter()
                .filter(|g| g.scope.data_filters.contains(&id))
                .count();
            if using > 0 {
                let grants = if using == 1 {
                    "1 grant uses it".to_string()
                } else {
                    format!("{using} grants use it")
                };
                return Err(Error::conflict(format!(
                    "cannot delete data filter `{name}`: {grants}; revoke the shares that use it \
                     first"
                )));
            }
            sqlx::query("DELETE FROM data_filters WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("delete a data filter", e))?;
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn get_data_filter(&self, id: Uuid) -> Result<Option<DataFilter>> {
        let sql = DataFilter::select("WHERE id = $1");
        self.get("read a data filter", &sql, &[&id]).await
    }

    async fn get_data_filter_by_name(
        &self,
        table_id: Uuid,
        name: &str,
    ) -> Result<Option<DataFilter>> {
        let sql = DataFilter::select("WHERE table_id = $1 AND name = $2");
        self.get("read a data filter", &sql, &[&table_id, &name])
            .await
    }

    async fn list_data_filters(&self, table_id: Uuid) -> Result<Vec<DataFilter>> {
        let sql = DataFilter::select("WHERE table_id = $1");
        let mut filters: Vec<DataFilter> =
            self.list("list data filters", &sql, &[&table_id]).await?;
        // Sorted here rather than by ORDER BY: text order follows the database's collation on
        // PostgreSQL, and byte order on SQLite.
        filters.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(filters)
    }

    async fn data_filters_by_ids(&self, ids: &[Uuid]) -> Result<Vec<DataFilter>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let sql = DataFilter::select("WHERE id IN ({ids})");
        let mut conn = self.read().await?;
        let mut filters: Vec<DataFilter> =
            fetch_list_in(&mut conn, "read data filters", &sql, ids).await?;
        filters.sort_by(|a, b| (a.table_id, &a.name, a.id).cmp(&(b.table_id, &b.name, b.id)));
        Ok(filters)
    }

    async fn replace_row_rules(
        &self,
        product_id: Uuid,
        rules: &[RowRule],
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.write(async |conn| {
            // On PostgreSQL the product's row lock queues concurrent replacements (and a product
            // delete), so each one's delete sees the rules the previous one wrote.
            let sql = "SELECT id FROM products WHERE id = $1";
            let sql = locking(self.backend, sql, "FOR UPDATE");
            if fetch_optional_by_id(conn, "read a data product", &sql, product_id)
                .await?
                .is_none()
            {
                return Err(Error::not_found("data product", product_id.to_string()));
            }
            sqlx::query("DELETE FROM row_rules WHERE product_id = $1")
                .bind(product_id.to_string())
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("delete row rules", e))?;
            for (ordinal, rule) in (0_i64..).zip(rules) {
                let values = to_json("row rule values", &rule.values)?;
                sqlx::query(
                    "INSERT INTO row_rules (product_id, ordinal, user_name, group_name, \
                     field_values) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(product_id.to_string())
                .bind(ordinal)
                .bind(rule.user_name.as_deref())
                .bind(rule.group_name.as_deref())
                .bind(values)
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(&subject("row rule", ordinal.to_string()), e))?;
            }
            bump_policy_version(conn).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn row_rules(&self, product_id: Uuid) -> Result<Vec<RowRule>> {
        let sql = RowRule::select("WHERE product_id = $1 ORDER BY ordinal");
        self.list("read row rules", &sql, &[&product_id]).await
    }

    async fn set_column_tags(&self, tags: &ColumnTags, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let sql = "SELECT id FROM product_tables WHERE id = $1";
            if fetch_optional_by_id(conn, "read a table", sql, tags.table_id)
                .await?
                .is_none()
            {
                return Err(Error::not_found("table", tags.table_id.to_string()));
            }
            let done = if tags.tags.is_empty() {
                sqlx::query("DELETE FROM column_tags WHERE table_id = $1 AND column_name = $2")
                    .bind(tags.table_id.to_string())
                    .bind(tags.column.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("clear column tags", e))?
            } else {
                sqlx::query(
                    "INSERT INTO column_tags (table_id, column_name, tags) VALUES ($1, $2, $3) \
                     ON CONFLICT (table_id, column_name) DO UPDATE SET tags = excluded.tags",
                )
                .bind(tags.table_id.to_string())
                .bind(tags.column.as_str())
                .bind(to_json("column tags", &tags.tags)?)
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(&subject("column tags", tags.column.as_str()), e))?
            };
            if done.rows_affected() > 0 {
                bump_policy_version(conn).await?;
                catalog::bump_revision_of_table(conn, tags.table_id).await?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn column_tags(&self, table_id: Uuid) -> Result<Vec<ColumnTags>> {
        let sql = ColumnTags::select("WHERE table_id = $1");
        let mut tags: Vec<ColumnTags> = self.list("read column tags", &sql, &[&table_id]).await?;
        // Byte order on both backends (see `list_data_filters`).
        tags.sort_by(|a, b| a.column.cmp(&b.column));
        Ok(tags)
    }

    async fn put_tag_mask(&self, mask: &TagMask, audit: NewAuditEvent) -> Result<()> {
        // The conflict target is the expression of the unique index (NULL domain as ''), so a
        // mesh-wide mask is unique per tag on both backends.
        let query = sqlx::query(
            "INSERT INTO tag_masks (id, domain_id, tag, mask, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT ((COALESCE(domain_id, '')), tag) DO UPDATE SET mask = excluded.mask",
        )
        .bind(mask.id.to_string())
        .bind(opt_id(mask.domain_id))
        .bind(mask.tag.as_str())
        .bind(mask.mask.to_string())
        .bind(ts(mask.created_at));
        let on_error = |e| write_error(&subject("tag mask", mask.tag.as_str()), e);
        self.write_one(query, on_error, None, &audit, true).await
    }

    async fn delete_tag_mask(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query("DELETE FROM tag_masks WHERE id = $1").bind(id.to_string());
        let not_found = Error::not_found("tag mask", id.to_string());
        self.write_one(
            query,
            |e| internal("delete a tag mask", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn list_tag_masks(&self) -> Result<Vec<TagMask>> {
        let sql = TagMask::select("");
        let mut masks: Vec<TagMask> = self.list("list tag masks", &sql, &[]).await?;
        // Sorted here: the backends also disagree on where NULLs (mesh-wide) sort.
        masks.sort_by(|a, b| (&a.tag, a.domain_id, a.id).cmp(&(&b.tag, b.domain_id, b.id)));
        Ok(masks)
    }

    async fn mask_key(&self) -> Result<Vec<u8>> {
        self.mesh_secret(MASK_KEY, "mask key").await
    }

    async fn rotate_mask_key(&self, audit: NewAuditEvent) -> Result<()> {
        let fresh = hex::encode(meshgate_core::credential::generate_key());
        let query = sqlx::query(
            "INSERT INTO mesh_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(MASK_KEY)
        .bind(fresh);
        self.write_one(
            query,
            |e| internal("rotate the mask key", e),
            None,
            &audit,
            true,
        )
        .await
    }

    async fn set_tenancy(&self, tenancy: &TableTenancy, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO tenant_tables (table_id, key_column, separator) VALUES ($1, $2, $3) \
             ON CONFLICT (table_id) DO UPDATE SET key_column = excluded.key_column, \
             separator = excluded.separator",
        )
        .bind(tenancy.table_id.to_string())
        .bind(tenancy.key_column.as_str())
        .bind(tenancy.separator.clone());
        let on_error = |e| write_error(&subject("table", tenancy.table_id.to_string()), e);
        self.write_one(query, on_error, None, &audit, true).await
    }

    async fn tenancy(&self, table_id: Uuid) -> Result<Option<TableTenancy>> {
        let sql = TableTenancy::select("WHERE table_id = $1");
        self.get("read a table's tenancy", &sql, &[&table_id]).await
    }
}
