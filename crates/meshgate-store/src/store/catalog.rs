//! [`CatalogStore`] for [`SqlStore`] (issue 7): listing states, descriptions, table tags, form
//! types and forms, enforcement rules, and the bulk read the search index is built from.
//!
//! Every change to a product's catalog metadata bumps its `revision` in the same transaction
//! ([`bump_revision`], also used by `glossary.rs` and `policy.rs`); none of it changes what
//! anyone may read, so the policy version stays.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::Utc;
use meshgate_core::access::ColumnTags;
use meshgate_core::catalog::{
    FormTargetKind, FormType, FormTypeRevision, ListingState, MetadataForm, Rule, TableTags,
    TermLink,
};
use meshgate_core::model::{DataProduct, NewAuditEvent, ProductTable, Share, ShareItem};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::shares::create_share_tx;
use super::{Args, count, fetch_all, fetch_list, fetch_one, fetch_optional_by_id, insert_audit};
use crate::codec::{self, opt_id, to_json, ts};
use crate::db::{SqlStore, internal, subject, write_error};
use crate::record::Record;
use crate::{CatalogRows, CatalogStore};

/// Bumps the revision (and `updated_at`) of a product whose catalog metadata changed.
/// `NotFound` if the product is gone.
pub(super) async fn bump_revision(conn: &mut AnyConnection, product_id: Uuid) -> Result<()> {
    let done =
        sqlx::query("UPDATE products SET revision = revision + 1, updated_at = $2 WHERE id = $1")
            .bind(product_id.to_string())
            .bind(ts(Utc::now()))
            .execute(conn)
            .await
            .map_err(|e| internal("update a data product", e))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("data product", product_id.to_string()));
    }
    Ok(())
}

/// [`bump_revision`] for the product of a table.
pub(super) async fn bump_revision_of_table(conn: &mut AnyConnection, table_id: Uuid) -> Result<()> {
    let product = product_of_table(conn, table_id).await?;
    bump_revision(conn, product).await
}

pub(super) async fn load_product(conn: &mut AnyConnection, id: Uuid) -> Result<DataProduct> {
    let sql = DataProduct::select("WHERE id = $1");
    fetch_one(conn, "read a data product", &sql, &Args::of(&[&id]))
        .await?
        .ok_or_else(|| Error::not_found("data product", id.to_string()))
}

/// The product a table belongs to; `NotFound` if the table is missing.
pub(super) async fn product_of_table(conn: &mut AnyConnection, table_id: Uuid) -> Result<Uuid> {
    let sql = "SELECT product_id FROM product_tables WHERE id = $1";
    let row = fetch_optional_by_id(conn, "read a table", sql, table_id)
        .await?
        .ok_or_else(|| Error::not_found("table", table_id.to_string()))?;
    codec::uuid(&row, "product_id")
}

async fn insert_revision(conn: &mut AnyConnection, form_type: &FormType) -> Result<()> {
    sqlx::query(
        "INSERT INTO form_type_revisions (form_type_id, revision, description, fields, \
         created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(form_type.id.to_string())
    .bind(form_type.revision)
    .bind(form_type.description.as_str())
    .bind(to_json("form fields", &form_type.fields)?)
    .bind(form_type.created_by.to_string())
    .bind(ts(form_type.updated_at))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("form type revision", form_type.name.as_str()), e))?;
    Ok(())
}

pub(super) fn in_use(what: &str, name: &str, n: i64, by: &str, fix: &str) -> Error {
    Error::conflict(format!("cannot delete {what} `{name}`: {n} {by}; {fix}"))
}

/// The product a form's target belongs to, checked against the target (a table must be the
/// form's product's); `None` for shares.
async fn form_product(conn: &mut AnyConnection, form: &MetadataForm) -> Result<Option<Uuid>> {
    match form.target_kind {
        FormTargetKind::Product => {
            load_product(conn, form.target_id).await?;
            Ok(Some(form.target_id))
        }
        FormTargetKind::Table => Ok(Some(product_of_table(conn, form.target_id).await?)),
        FormTargetKind::Share => Ok(None),
    }
}

async fn insert_form(
    conn: &mut AnyConnection,
    form: &MetadataForm,
    product: Option<Uuid>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO metadata_forms (target_kind, target_id, form_type_id, revision, \
         product_id, field_values, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (target_kind, target_id, form_type_id) DO UPDATE SET \
         revision = excluded.revision, field_values = excluded.field_values, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(form.target_kind.as_str())
    .bind(form.target_id.to_string())
    .bind(form.form_type_id.to_string())
    .bind(form.revision)
    .bind(opt_id(product))
    .bind(to_json("form values", &form.values)?)
    .bind(form.updated_by.to_string())
    .bind(ts(form.updated_at))
    .execute(conn)
    .await
    .map_err(|e| write_error(&subject("form", form.form_type_id.to_string()), e))?;
    Ok(())
}

/// `WHERE` text restricting `column` to one id, or nothing.
pub(super) fn where_eq(args: &mut Args, column: &str, value: Option<Uuid>) -> String {
    match value {
        Some(p) => format!("WHERE {column} = {}", args.text(p.to_string())),
        None => String::new(),
    }
}

/// The rules of `rule_rows`, with their form types in order.
async fn rules_with_forms(conn: &mut AnyConnection, rule_rows: Vec<Rule>) -> Result<Vec<Rule>> {
    let forms = fetch_all(
        conn,
        "read rule form types",
        "SELECT rule_id, form_type_id FROM catalog_rule_forms ORDER BY rule_id, ordinal",
        &Args::default(),
    )
    .await?;
    let mut by_rule: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in &forms {
        by_rule
            .entry(codec::uuid(r, "rule_id")?)
            .or_default()
            .push(codec::uuid(r, "form_type_id")?);
    }
    Ok(rule_rows
        .into_iter()
        .map(|mut r| {
            r.form_type_ids = by_rule.remove(&r.id).unwrap_or_default();
            r
        })
        .collect())
}

#[async_trait]
impl CatalogStore for SqlStore {
    async fn set_listing(
        &self,
        product_id: Uuid,
        from: ListingState,
        to: ListingState,
        audit: NewAuditEvent,
    ) -> Result<DataProduct> {
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE products SET listing = $3, updated_at = $4 WHERE id = $1 AND listing = $2",
            )
            .bind(product_id.to_string())
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(ts(Utc::now()))
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("update a data product", e))?;
            let product = load_product(conn, product_id).await?;
            if done.rows_affected() == 0 {
                return Err(Error::conflict(format!(
                    "data product `{}` was changed concurrently (it is now `{}`); reload it and \
                     retry",
                    product.name, product.listing
                )));
            }
            insert_audit(conn, &audit).await?;
            Ok(product)
        })
        .await
    }

    async fn update_product_description(
        &self,
        product_id: Uuid,
        description: &str,
        audit: NewAuditEvent,
    ) -> Result<DataProduct> {
        self.write(async |conn| {
            sqlx::query("UPDATE products SET description = $2 WHERE id = $1")
                .bind(product_id.to_string())
                .bind(description)
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("update a data product", e))?;
            bump_revision(conn, product_id).await?;
            insert_audit(conn, &audit).await?;
            load_product(conn, product_id).await
        })
        .await
    }

    async fn set_table_tags(&self, tags: &TableTags, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let product = product_of_table(conn, tags.table_id).await?;
            if tags.tags.is_empty() {
                sqlx::query("DELETE FROM table_tags WHERE table_id = $1")
                    .bind(tags.table_id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("clear table tags", e))?;
            } else {
                sqlx::query(
                    "INSERT INTO table_tags (table_id, tags) VALUES ($1, $2) \
                     ON CONFLICT (table_id) DO UPDATE SET tags = excluded.tags",
                )
                .bind(tags.table_id.to_string())
                .bind(to_json("table tags", &tags.tags)?)
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(&subject("table tags", tags.table_id.to_string()), e))?;
            }
            bump_revision(conn, product).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn table_tags(&self, product_id: Uuid) -> Result<Vec<TableTags>> {
        let sql = "SELECT g.table_id AS table_id, g.tags AS tags FROM table_tags g \
                   JOIN product_tables t ON t.id = g.table_id WHERE t.product_id = $1";
        let mut tags: Vec<TableTags> = self.list("read table tags", sql, &[&product_id]).await?;
        tags.sort_by_key(|t| t.table_id);
        Ok(tags)
    }

    async fn create_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            if form_type.revision != 1 {
                return Err(Error::invalid("a new form type starts at revision 1"));
            }
            sqlx::query(
                "INSERT INTO form_types (id, name, description, revision, created_by, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(form_type.id.to_string())
            .bind(form_type.name.as_str())
            .bind(form_type.description.as_str())
            .bind(form_type.revision)
            .bind(form_type.created_by.to_string())
            .bind(ts(form_type.created_at))
            .bind(ts(form_type.updated_at))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("form type", form_type.name.as_str()), e))?;
            insert_revision(conn, form_type).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn revise_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            // The revision check and the bump are one statement, so two racing revisions cannot
            // both pass it (as with share versions).
            let done = sqlx::query(
                "UPDATE form_types SET revision = $2, description = $3, updated_at = $4 \
                 WHERE id = $1 AND revision = $5",
            )
            .bind(form_type.id.to_string())
            .bind(form_type.revision)
            .bind(form_type.description.as_str())
            .bind(ts(form_type.updated_at))
            .bind(form_type.revision - 1)
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("update a form type", e))?;
            if done.rows_affected() == 0 {
                let sql = "SELECT revision FROM form_types WHERE id = $1";
                return Err(
                    match fetch_optional_by_id(conn, "read a form type", sql, form_type.id).await? {
                        None => Error::not_found("form type", form_type.name.as_str()),
                        Some(r) => Error::conflict(format!(
                            "form type `{}` was changed concurrently (now revision {}); reload \
                             it and retry",
                            form_type.name,
                            codec::int(&r, "revision")?
                        )),
                    },
                );
            }
            insert_revision(conn, form_type).await?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn get_form_type(&self, id: Uuid) -> Result<Option<FormType>> {
        let sql = FormType::select("WHERE t.id = $1");
        self.get("read a form type", &sql, &[&id]).await
    }

    async fn get_form_type_by_name(&self, name: &str) -> Result<Option<FormType>> {
        let sql = FormType::select("WHERE t.name = $1");
        self.get("read a form type", &sql, &[&name]).await
    }

    async fn list_form_types(&self) -> Result<Vec<FormType>> {
        let sql = FormType::select("");
        let mut types: Vec<FormType> = self.list("list form types", &sql, &[]).await?;
        // Byte order on both backends (see `list_data_filters`).
        types.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(types)
    }

    async fn form_type_revision(
        &self,
        id: Uuid,
        revision: i64,
    ) -> Result<Option<FormTypeRevision>> {
        let sql = FormTypeRevision::select("WHERE form_type_id = $1 AND revision = $2");
        self.get("read a form type revision", &sql, &[&id, &revision])
            .await
    }

    async fn delete_form_type(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let sql = "SELECT name FROM form_types WHERE id = $1";
            let Some(r) = fetch_optional_by_id(conn, "read a form type", sql, id).await? else {
                return Err(Error::not_found("form type", id.to_string()));
            };
            let name = codec::text(&r, "name")?;
            let mut args = Args::default();
            let sql = format!(
                "SELECT COUNT(*) AS n FROM catalog_rule_forms WHERE form_type_id = {}",
                args.text(id.to_string())
            );
            let rules = count(conn, "count rules", &sql, &args).await?;
            if rules > 0 {
                return Err(in_use(
                    "form type",
                    &name,
                    rules,
                    "rule(s) require it",
                    "delete those rules first",
                ));
            }
            let sql = format!(
                "SELECT COUNT(*) AS n FROM metadata_forms WHERE form_type_id = {}",
                args.text(id.to_string())
            );
            let forms = count(conn, "count forms", &sql, &args).await?;
            if forms > 0 {
                return Err(in_use(
                    "form type",
                    &name,
                    forms,
                    "form(s) of it are filled",
                    "remove them first",
                ));
            }
            for sql in [
                "DELETE FROM form_type_revisions WHERE form_type_id = $1",
                "DELETE FROM form_types WHERE id = $1",
            ] {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("delete a form type", e))?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn put_form(&self, form: &MetadataForm, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            let product = form_product(conn, form).await?;
            insert_form(conn, form, product).await?;
            if let Some(p) = product {
                bump_revision(conn, p).await?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn delete_form(
        &self,
        kind: FormTargetKind,
        target_id: Uuid,
        form_type_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.write(async |conn| {
            let mut args = Args::default();
            let sql = format!(
                "DELETE FROM metadata_forms WHERE target_kind = {} AND target_id = {} \
                 AND form_type_id = {} RETURNING product_id",
                args.text(kind.as_str()),
                args.text(target_id.to_string()),
                args.text(form_type_id.to_string())
            );
            let deleted = fetch_all(conn, "delete a form", &sql, &args).await?;
            let Some(r) = deleted.first() else {
                return Err(Error::not_found("form", form_type_id.to_string()));
            };
            if let Some(p) = codec::opt_uuid(r, "product_id")? {
                bump_revision(conn, p).await?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn forms_of(&self, kind: FormTargetKind, target_id: Uuid) -> Result<Vec<MetadataForm>> {
        let sql = MetadataForm::select("WHERE target_kind = $1 AND target_id = $2");
        let mut forms: Vec<MetadataForm> = self
            .list("read forms", &sql, &[&kind.as_str(), &target_id])
            .await?;
        forms.sort_by_key(|f| f.form_type_id);
        Ok(forms)
    }

    async fn create_share_with_forms(
        &self,
        share: &Share,
        items: &[ShareItem],
        forms: &[MetadataForm],
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.write(async |conn| {
            create_share_tx(conn, share, items, &audit).await?;
            for form in forms {
                if form.target_kind != FormTargetKind::Share || form.target_id != share.id {
                    return Err(Error::invalid(format!(
                        "a form for share `{}` must target that share",
                        share.id
                    )));
                }
                insert_form(conn, form, None).await?;
            }
            Ok(())
        })
        .await
    }

    async fn create_rule(&self, rule: &Rule, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO catalog_rules (id, domain_id, action, include_children, description, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(rule.id.to_string())
            .bind(rule.domain_id.to_string())
            .bind(rule.action.as_str())
            .bind(rule.include_children)
            .bind(rule.description.as_str())
            .bind(rule.created_by.to_string())
            .bind(ts(rule.created_at))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("rule", rule.id.to_string()), e))?;
            for (ordinal, ft) in (0_i64..).zip(&rule.form_type_ids) {
                sqlx::query(
                    "INSERT INTO catalog_rule_forms (rule_id, ordinal, form_type_id) \
                     VALUES ($1, $2, $3)",
                )
                .bind(rule.id.to_string())
                .bind(ordinal)
                .bind(ft.to_string())
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(&subject("form type of a rule", ft.to_string()), e))?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn delete_rule(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query("DELETE FROM catalog_rules WHERE id = $1").bind(id.to_string());
        let not_found = Error::not_found("rule", id.to_string());
        self.write_one(
            query,
            |e| internal("delete a rule", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn list_rules(&self) -> Result<Vec<Rule>> {
        let sql = Rule::select("ORDER BY created_at, id");
        let mut conn = self.read().await?;
        let rules = fetch_list(&mut conn, "list rules", &sql, &Args::default()).await?;
        rules_with_forms(&mut conn, rules).await
    }

    async fn catalog_rows(&self, product: Option<Uuid>) -> Result<CatalogRows> {
        let mut conn = self.read().await?;
        let conn = &mut *conn;
        let mut args = Args::default();
        let sql = DataProduct::select(&where_eq(&mut args, "id", product));
        let products = fetch_list(conn, "read products", &sql, &args).await?;
        let mut args = Args::default();
        let filter = where_eq(&mut args, "product_id", product);
        let sql = ProductTable::select(&format!("{filter} ORDER BY name, id"));
        let tables = fetch_list(conn, "read tables", &sql, &args).await?;
        let mut args = Args::default();
        let sql = format!(
            "SELECT c.table_id AS table_id, c.column_name AS column_name, c.tags AS tags \
             FROM column_tags c JOIN product_tables t ON t.id = c.table_id {}",
            where_eq(&mut args, "t.product_id", product)
        );
        let column_tags: Vec<ColumnTags> =
            fetch_list(conn, "read column tags", &sql, &args).await?;
        let mut args = Args::default();
        let sql = format!(
            "SELECT g.table_id AS table_id, g.tags AS tags \
             FROM table_tags g JOIN product_tables t ON t.id = g.table_id {}",
            where_eq(&mut args, "t.product_id", product)
        );
        let table_tags = fetch_list(conn, "read table tags", &sql, &args).await?;
        let mut args = Args::default();
        let sql = TermLink::select(&where_eq(&mut args, "product_id", product));
        let term_links = fetch_list(conn, "read term links", &sql, &args).await?;
        let mut args = Args::default();
        let sql = match product {
            Some(p) => {
                MetadataForm::select(&format!("WHERE product_id = {}", args.text(p.to_string())))
            }
            None => MetadataForm::select("WHERE product_id IS NOT NULL"),
        };
        let forms = fetch_list(conn, "read forms", &sql, &args).await?;
        Ok(CatalogRows {
            products,
            tables,
            column_tags,
            table_tags,
            term_links,
            forms,
        })
    }
}
