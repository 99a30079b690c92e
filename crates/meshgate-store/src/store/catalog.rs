//! The catalog's part of [`Store`] for [`SqlStore`] (issue 7): domain hierarchy, listing
//! states, table tags, form types and forms, enforcement rules, the glossary, and the bulk
//! read the search index is built from. The trait methods in `store.rs` delegate here.
//!
//! Every change to a product's catalog metadata bumps its `revision` in the same transaction
//! ([`bump_revision`]); none of it changes what anyone may read, so the policy version stays.

use std::collections::HashMap;

use chrono::Utc;
use meshgate_core::access::ColumnTags;
use meshgate_core::catalog::{
    self, FormTargetKind, FormType, FormTypeRevision, Glossary, GlossaryTerm, ListingState,
    MetadataForm, RelationKind, Rule, TableTags, TermLink, TermRelation,
};
use meshgate_core::model::{DataProduct, NewAuditEvent, Share, ShareItem};
use meshgate_core::{Error, Result};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{Args, all, count, fetch_all, fetch_optional_by_id, insert_audit, row, rows};
use crate::CatalogRows;
use crate::codec::{self, opt_id, to_json, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};

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

async fn exec(conn: &mut AnyConnection, doing: &str, sql: &str, args: &Args) -> Result<u64> {
    args.bind(sql)
        .execute(conn)
        .await
        .map(|d| d.rows_affected())
        .map_err(|e| internal(doing, e))
}

async fn load_product(conn: &mut AnyConnection, id: Uuid) -> Result<DataProduct> {
    let sql = format!("SELECT {} FROM products WHERE id = $1", codec::PRODUCT_COLS);
    let row = fetch_optional_by_id(conn, "read a data product", &sql, id)
        .await?
        .ok_or_else(|| Error::not_found("data product", id.to_string()))?;
    codec::product(&row)
}

/// The product a table belongs to; `NotFound` if the table is missing.
async fn product_of_table(conn: &mut AnyConnection, table_id: Uuid) -> Result<Uuid> {
    let sql = "SELECT product_id FROM product_tables WHERE id = $1";
    let row = fetch_optional_by_id(conn, "read a table", sql, table_id)
        .await?
        .ok_or_else(|| Error::not_found("table", table_id.to_string()))?;
    codec::uuid(&row, "product_id")
}

async fn set_domain_parent_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    id: Uuid,
    parent: Option<Uuid>,
    audit: &NewAuditEvent,
) -> Result<()> {
    if backend == Backend::Postgres {
        // Hierarchy changes queue on one lock, so two concurrent moves cannot each pass the
        // cycle check and together close a cycle. SQLite's writes are serialised already.
        sqlx::query("LOCK TABLE domains IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("lock the domains", e))?;
    }
    let all_rows = fetch_all(
        conn,
        "read domains",
        "SELECT id, name, parent_id FROM domains",
        &Args::default(),
    )
    .await?;
    let mut parents = HashMap::new();
    let mut names = HashMap::new();
    for r in &all_rows {
        let d = codec::uuid(r, "id")?;
        parents.insert(d, codec::opt_uuid(r, "parent_id")?);
        names.insert(d, codec::text(r, "name")?);
    }
    if !parents.contains_key(&id) {
        return Err(Error::not_found("domain", id.to_string()));
    }
    if let Some(p) = parent {
        if !parents.contains_key(&p) {
            return Err(Error::not_found("domain", p.to_string()));
        }
        if let Some(cycle) = catalog::parent_cycle(&parents, id, p) {
            let path: Vec<String> = cycle
                .iter()
                .map(|d| names.get(d).cloned().unwrap_or_else(|| d.to_string()))
                .collect();
            return Err(Error::invalid(format!(
                "parent: making `{}` the parent of `{}` would make a cycle: {}",
                path.get(1).cloned().unwrap_or_default(),
                path.first().cloned().unwrap_or_default(),
                path.join(" → ")
            )));
        }
    }
    let mut args = Args::default();
    let sql = format!(
        "UPDATE domains SET parent_id = {} WHERE id = {}",
        match parent {
            Some(p) => args.text(p.to_string()),
            None => "NULL".to_string(),
        },
        args.text(id.to_string())
    );
    exec(conn, "update a domain", &sql, &args).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn set_table_tags_tx(
    conn: &mut AnyConnection,
    tags: &TableTags,
    audit: &NewAuditEvent,
) -> Result<()> {
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
    insert_audit(conn, audit).await?;
    Ok(())
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

async fn create_form_type_tx(
    conn: &mut AnyConnection,
    form_type: &FormType,
    audit: &NewAuditEvent,
) -> Result<()> {
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
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn revise_form_type_tx(
    conn: &mut AnyConnection,
    form_type: &FormType,
    audit: &NewAuditEvent,
) -> Result<()> {
    // The revision check and the bump are one statement, so two racing revisions cannot both
    // pass it (as with share versions).
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
                    "form type `{}` was changed concurrently (now revision {}); reload it and retry",
                    form_type.name,
                    codec::int(&r, "revision")?
                )),
            },
        );
    }
    insert_revision(conn, form_type).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

fn in_use(what: &str, name: &str, n: i64, by: &str, fix: &str) -> Error {
    Error::conflict(format!("cannot delete {what} `{name}`: {n} {by}; {fix}"))
}

async fn delete_form_type_tx(
    conn: &mut AnyConnection,
    id: Uuid,
    audit: &NewAuditEvent,
) -> Result<()> {
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
    insert_audit(conn, audit).await?;
    Ok(())
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

async fn put_form_tx(
    conn: &mut AnyConnection,
    form: &MetadataForm,
    audit: &NewAuditEvent,
) -> Result<()> {
    let product = form_product(conn, form).await?;
    insert_form(conn, form, product).await?;
    if let Some(p) = product {
        bump_revision(conn, p).await?;
    }
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn delete_form_tx(
    conn: &mut AnyConnection,
    kind: FormTargetKind,
    target_id: Uuid,
    form_type_id: Uuid,
    audit: &NewAuditEvent,
) -> Result<()> {
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
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn create_rule_tx(
    conn: &mut AnyConnection,
    rule: &Rule,
    audit: &NewAuditEvent,
) -> Result<()> {
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
            "INSERT INTO catalog_rule_forms (rule_id, ordinal, form_type_id) VALUES ($1, $2, $3)",
        )
        .bind(rule.id.to_string())
        .bind(ordinal)
        .bind(ft.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| write_error(&subject("form type of a rule", ft.to_string()), e))?;
    }
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn delete_glossary_tx(
    conn: &mut AnyConnection,
    id: Uuid,
    audit: &NewAuditEvent,
) -> Result<()> {
    let sql = "SELECT name FROM glossaries WHERE id = $1";
    let Some(r) = fetch_optional_by_id(conn, "read a glossary", sql, id).await? else {
        return Err(Error::not_found("glossary", id.to_string()));
    };
    let name = codec::text(&r, "name")?;
    let mut args = Args::default();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM glossary_terms WHERE glossary_id = {}",
        args.text(id.to_string())
    );
    let terms = count(conn, "count terms", &sql, &args).await?;
    if terms > 0 {
        return Err(in_use(
            "glossary",
            &name,
            terms,
            "term(s) are in it",
            "delete them first, or disable the glossary",
        ));
    }
    sqlx::query("DELETE FROM glossaries WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("delete a glossary", e))?;
    insert_audit(conn, audit).await?;
    Ok(())
}

/// `text` as a LIKE pattern matching itself literally (with `ESCAPE '\'`).
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

async fn delete_term_tx(conn: &mut AnyConnection, id: Uuid, audit: &NewAuditEvent) -> Result<()> {
    let sql = "SELECT t.name AS name, g.name AS glossary FROM glossary_terms t \
               JOIN glossaries g ON g.id = t.glossary_id WHERE t.id = $1";
    let Some(r) = fetch_optional_by_id(conn, "read a term", sql, id).await? else {
        return Err(Error::not_found("glossary term", id.to_string()));
    };
    let qualified = format!(
        "{}.{}",
        codec::text(&r, "glossary")?,
        codec::text(&r, "name")?
    );
    let fix = "detach it first, or disable it";
    let mut args = Args::default();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM glossary_term_links WHERE term_id = {}",
        args.text(id.to_string())
    );
    let links = count(conn, "count term links", &sql, &args).await?;
    if links > 0 {
        return Err(in_use(
            "glossary term",
            &qualified,
            links,
            "product(s) or column(s) carry it",
            fix,
        ));
    }
    let mut args = Args::default();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM glossary_term_relations WHERE term_id = {} OR target_id = {}",
        args.text(id.to_string()),
        args.text(id.to_string())
    );
    let relations = count(conn, "count term relations", &sql, &args).await?;
    if relations > 0 {
        return Err(in_use(
            "glossary term",
            &qualified,
            relations,
            "relation(s) name it",
            "remove them first, or disable it",
        ));
    }
    let mut args = Args::default();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM metadata_forms WHERE field_values LIKE {} ESCAPE '\\'",
        args.text(format!("%\"{}\"%", like_literal(&qualified)))
    );
    let forms = count(conn, "count forms", &sql, &args).await?;
    if forms > 0 {
        return Err(in_use(
            "glossary term",
            &qualified,
            forms,
            "filled form(s) use it as a value",
            "change those forms first, or disable it",
        ));
    }
    sqlx::query("DELETE FROM glossary_terms WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("delete a term", e))?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn add_term_relation_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    relation: &TermRelation,
    audit: &NewAuditEvent,
) -> Result<()> {
    if relation.term_id == relation.target_id {
        return Err(Error::invalid(format!(
            "relation `{}`: a term cannot be related to itself",
            relation.kind
        )));
    }
    if backend == Backend::Postgres {
        // As for domains: relation changes queue, so racing `is_a`s cannot close a cycle.
        sqlx::query("LOCK TABLE glossary_term_relations IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("lock the term relations", e))?;
    }
    let terms = all(
        fetch_all(
            conn,
            "read terms",
            "SELECT t.id AS id, t.name AS name, g.name AS glossary FROM glossary_terms t \
             JOIN glossaries g ON g.id = t.glossary_id",
            &Args::default(),
        )
        .await?,
        |r| {
            Ok((
                codec::uuid(r, "id")?,
                format!(
                    "{}.{}",
                    codec::text(r, "glossary")?,
                    codec::text(r, "name")?
                ),
            ))
        },
    )?
    .into_iter()
    .collect::<HashMap<Uuid, String>>();
    for t in [relation.term_id, relation.target_id] {
        if !terms.contains_key(&t) {
            return Err(Error::not_found("glossary term", t.to_string()));
        }
    }
    if relation.kind == RelationKind::IsA {
        let existing = all(
            fetch_all(
                conn,
                "read term relations",
                "SELECT term_id, kind, target_id FROM glossary_term_relations",
                &Args::default(),
            )
            .await?,
            codec::term_relation,
        )?;
        if let Some(cycle) = catalog::is_a_cycle(&existing, relation.term_id, relation.target_id) {
            let name = |t: &Uuid| terms.get(t).cloned().unwrap_or_else(|| t.to_string());
            return Err(Error::invalid(format!(
                "relation `is_a`: `{}` is_a `{}` would make a cycle: {}",
                name(&relation.term_id),
                name(&relation.target_id),
                cycle.iter().map(name).collect::<Vec<_>>().join(" is_a ")
            )));
        }
    }
    sqlx::query(
        "INSERT INTO glossary_term_relations (term_id, kind, target_id) VALUES ($1, $2, $3) \
         ON CONFLICT (term_id, kind, target_id) DO NOTHING",
    )
    .bind(relation.term_id.to_string())
    .bind(relation.kind.as_str())
    .bind(relation.target_id.to_string())
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(&subject("term relation", relation.kind.as_str()), e))?;
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn link_term_tx(
    conn: &mut AnyConnection,
    link: &TermLink,
    audit: &NewAuditEvent,
) -> Result<()> {
    if let Some(table) = link.table_id {
        let owner = product_of_table(conn, table).await?;
        if owner != link.product_id {
            return Err(Error::invalid(format!(
                "table `{table}` does not belong to data product `{}`",
                link.product_id
            )));
        }
    } else {
        load_product(conn, link.product_id).await?;
    }
    let (table, column) = codec::term_link_cols(link);
    let done = sqlx::query(
        "INSERT INTO glossary_term_links (term_id, product_id, table_id, column_name) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (term_id, product_id, table_id, column_name) DO NOTHING",
    )
    .bind(link.term_id.to_string())
    .bind(link.product_id.to_string())
    .bind(table)
    .bind(column)
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(&subject("glossary term link", link.term_id.to_string()), e))?;
    if done.rows_affected() > 0 {
        bump_revision(conn, link.product_id).await?;
    }
    insert_audit(conn, audit).await?;
    Ok(())
}

async fn unlink_term_tx(
    conn: &mut AnyConnection,
    link: &TermLink,
    audit: &NewAuditEvent,
) -> Result<()> {
    let (table, column) = codec::term_link_cols(link);
    let done = sqlx::query(
        "DELETE FROM glossary_term_links WHERE term_id = $1 AND product_id = $2 \
         AND table_id = $3 AND column_name = $4",
    )
    .bind(link.term_id.to_string())
    .bind(link.product_id.to_string())
    .bind(table)
    .bind(column)
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("detach a term", e))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(
            "glossary term link",
            link.term_id.to_string(),
        ));
    }
    bump_revision(conn, link.product_id).await?;
    insert_audit(conn, audit).await?;
    Ok(())
}

/// `WHERE` text restricting `column` to one id, or nothing.
fn where_eq(args: &mut Args, column: &str, value: Option<Uuid>) -> String {
    match value {
        Some(p) => format!(" WHERE {column} = {}", args.text(p.to_string())),
        None => String::new(),
    }
}

async fn catalog_rows_tx(conn: &mut AnyConnection, product: Option<Uuid>) -> Result<CatalogRows> {
    let mut args = Args::default();
    let sql = format!(
        "SELECT {} FROM products{}",
        codec::PRODUCT_COLS,
        where_eq(&mut args, "id", product)
    );
    let products = all(
        fetch_all(conn, "read products", &sql, &args).await?,
        codec::product,
    )?;
    let mut args = Args::default();
    let sql = format!(
        "SELECT {} FROM product_tables{} ORDER BY name, id",
        codec::TABLE_COLS,
        where_eq(&mut args, "product_id", product)
    );
    let tables = all(
        fetch_all(conn, "read tables", &sql, &args).await?,
        codec::table,
    )?;
    let mut args = Args::default();
    let sql = format!(
        "SELECT c.table_id AS table_id, c.column_name AS column_name, c.tags AS tags \
         FROM column_tags c JOIN product_tables t ON t.id = c.table_id{}",
        where_eq(&mut args, "t.product_id", product)
    );
    let column_tags: Vec<ColumnTags> = all(
        fetch_all(conn, "read column tags", &sql, &args).await?,
        codec::column_tags,
    )?;
    let mut args = Args::default();
    let sql = format!(
        "SELECT g.table_id AS table_id, g.tags AS tags \
         FROM table_tags g JOIN product_tables t ON t.id = g.table_id{}",
        where_eq(&mut args, "t.product_id", product)
    );
    let table_tags = all(
        fetch_all(conn, "read table tags", &sql, &args).await?,
        codec::table_tags,
    )?;
    let mut args = Args::default();
    let sql = format!(
        "SELECT term_id, product_id, table_id, column_name FROM glossary_term_links{}",
        where_eq(&mut args, "product_id", product)
    );
    let term_links = all(
        fetch_all(conn, "read term links", &sql, &args).await?,
        codec::term_link,
    )?;
    let mut args = Args::default();
    let sql = match product {
        Some(p) => format!(
            "SELECT {} FROM metadata_forms WHERE product_id = {}",
            codec::FORM_COLS,
            args.text(p.to_string())
        ),
        None => format!(
            "SELECT {} FROM metadata_forms WHERE product_id IS NOT NULL",
            codec::FORM_COLS
        ),
    };
    let forms = all(
        fetch_all(conn, "read forms", &sql, &args).await?,
        codec::form,
    )?;
    Ok(CatalogRows {
        products,
        tables,
        column_tags,
        table_tags,
        term_links,
        forms,
    })
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

fn form_type_select(condition: &str) -> String {
    format!(
        "SELECT {} FROM form_types t JOIN form_type_revisions r \
         ON r.form_type_id = t.id AND r.revision = t.revision{condition}",
        codec::FORM_TYPE_COLS
    )
}

/// The catalog methods of [`SqlStore`], called by its [`crate::Store`] implementation.
impl SqlStore {
    pub(super) async fn cat_set_domain_parent(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = set_domain_parent_tx(w.conn(), self.backend, id, parent, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_set_listing(
        &self,
        product_id: Uuid,
        from: ListingState,
        to: ListingState,
        audit: NewAuditEvent,
    ) -> Result<DataProduct> {
        let mut w = self.begin_write().await?;
        let result = async {
            let conn = w.conn();
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
                    "data product `{}` was changed concurrently (it is now `{}`); reload it and retry",
                    product.name, product.listing
                )));
            }
            insert_audit(conn, &audit).await?;
            Ok(product)
        }
        .await;
        w.finish(result).await
    }

    pub(super) async fn cat_update_product_description(
        &self,
        product_id: Uuid,
        description: &str,
        audit: NewAuditEvent,
    ) -> Result<DataProduct> {
        let mut w = self.begin_write().await?;
        let result = async {
            let conn = w.conn();
            sqlx::query("UPDATE products SET description = $2 WHERE id = $1")
                .bind(product_id.to_string())
                .bind(description)
                .execute(&mut *conn)
                .await
                .map_err(|e| internal("update a data product", e))?;
            bump_revision(conn, product_id).await?;
            insert_audit(conn, &audit).await?;
            load_product(conn, product_id).await
        }
        .await;
        w.finish(result).await
    }

    pub(super) async fn cat_set_table_tags(
        &self,
        tags: &TableTags,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = set_table_tags_tx(w.conn(), tags, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_table_tags(&self, product_id: Uuid) -> Result<Vec<TableTags>> {
        let sql = "SELECT g.table_id AS table_id, g.tags AS tags FROM table_tags g \
                   JOIN product_tables t ON t.id = g.table_id WHERE t.product_id = $1";
        let mut tags = all(
            rows(
                &self.pool,
                "read table tags",
                sql,
                Some(product_id.to_string()),
            )
            .await?,
            codec::table_tags,
        )?;
        tags.sort_by_key(|t| t.table_id);
        Ok(tags)
    }

    pub(super) async fn cat_create_form_type(
        &self,
        form_type: &FormType,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = create_form_type_tx(w.conn(), form_type, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_revise_form_type(
        &self,
        form_type: &FormType,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = revise_form_type_tx(w.conn(), form_type, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_get_form_type(&self, id: Uuid) -> Result<Option<FormType>> {
        let sql = form_type_select(" WHERE t.id = $1");
        row(&self.pool, "read a form type", &sql, vec![id.to_string()])
            .await?
            .map(|r| codec::form_type(&r))
            .transpose()
    }

    pub(super) async fn cat_get_form_type_by_name(&self, name: &str) -> Result<Option<FormType>> {
        let sql = form_type_select(" WHERE t.name = $1");
        row(&self.pool, "read a form type", &sql, vec![name.to_string()])
            .await?
            .map(|r| codec::form_type(&r))
            .transpose()
    }

    pub(super) async fn cat_list_form_types(&self) -> Result<Vec<FormType>> {
        let sql = form_type_select("");
        let mut types = all(
            rows(&self.pool, "list form types", &sql, None).await?,
            codec::form_type,
        )?;
        // Byte order on both backends (see `list_data_filters`).
        types.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(types)
    }

    pub(super) async fn cat_form_type_revision(
        &self,
        id: Uuid,
        revision: i64,
    ) -> Result<Option<FormTypeRevision>> {
        let sql = format!(
            "SELECT {} FROM form_type_revisions WHERE form_type_id = $1 AND revision = $2",
            codec::FORM_REVISION_COLS
        );
        sqlx::query(&sql)
            .bind(id.to_string())
            .bind(revision)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| internal("read a form type revision", e))?
            .map(|r| codec::form_revision(&r))
            .transpose()
    }

    pub(super) async fn cat_delete_form_type(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = delete_form_type_tx(w.conn(), id, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_put_form(
        &self,
        form: &MetadataForm,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = put_form_tx(w.conn(), form, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_delete_form(
        &self,
        kind: FormTargetKind,
        target_id: Uuid,
        form_type_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = delete_form_tx(w.conn(), kind, target_id, form_type_id, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_forms_of(
        &self,
        kind: FormTargetKind,
        target_id: Uuid,
    ) -> Result<Vec<MetadataForm>> {
        let sql = format!(
            "SELECT {} FROM metadata_forms WHERE target_kind = $1 AND target_id = $2",
            codec::FORM_COLS
        );
        let mut forms = all(
            row_list(
                &self.pool,
                "read forms",
                &sql,
                [kind.as_str().to_string(), target_id.to_string()],
            )
            .await?,
            codec::form,
        )?;
        forms.sort_by_key(|f| f.form_type_id);
        Ok(forms)
    }

    pub(super) async fn cat_create_share_with_forms(
        &self,
        share: &Share,
        items: &[ShareItem],
        forms: &[MetadataForm],
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = async {
            let conn = w.conn();
            super::create_share_tx(conn, share, items, &audit).await?;
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
        }
        .await;
        w.finish(result).await
    }

    pub(super) async fn cat_create_rule(&self, rule: &Rule, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = create_rule_tx(w.conn(), rule, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_delete_rule(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
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

    pub(super) async fn cat_list_rules(&self) -> Result<Vec<Rule>> {
        let sql = format!(
            "SELECT {} FROM catalog_rules ORDER BY created_at, id",
            codec::RULE_COLS
        );
        let mut conn = self.read().await?;
        let rules = all(
            fetch_all(&mut conn, "list rules", &sql, &Args::default()).await?,
            codec::rule,
        )?;
        rules_with_forms(&mut conn, rules).await
    }

    pub(super) async fn cat_create_glossary(
        &self,
        glossary: &Glossary,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO glossaries (id, name, description, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(glossary.id.to_string())
        .bind(glossary.name.as_str())
        .bind(glossary.description.as_str())
        .bind(glossary.enabled)
        .bind(ts(glossary.created_at))
        .bind(ts(glossary.updated_at));
        let on_error = |e| write_error(&subject("glossary", glossary.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    pub(super) async fn cat_update_glossary(
        &self,
        glossary: &Glossary,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "UPDATE glossaries SET description = $2, enabled = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(glossary.id.to_string())
        .bind(glossary.description.as_str())
        .bind(glossary.enabled)
        .bind(ts(glossary.updated_at));
        let not_found = Error::not_found("glossary", glossary.name.as_str());
        self.write_one(
            query,
            |e| internal("update a glossary", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    pub(super) async fn cat_delete_glossary(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = delete_glossary_tx(w.conn(), id, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_get_glossary_by_name(&self, name: &str) -> Result<Option<Glossary>> {
        let sql = format!(
            "SELECT {} FROM glossaries WHERE name = $1",
            codec::GLOSSARY_COLS
        );
        row(&self.pool, "read a glossary", &sql, vec![name.to_string()])
            .await?
            .map(|r| codec::glossary(&r))
            .transpose()
    }

    pub(super) async fn cat_list_glossaries(&self) -> Result<Vec<Glossary>> {
        let sql = format!("SELECT {} FROM glossaries", codec::GLOSSARY_COLS);
        let mut glossaries = all(
            rows(&self.pool, "list glossaries", &sql, None).await?,
            codec::glossary,
        )?;
        glossaries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(glossaries)
    }

    pub(super) async fn cat_create_term(
        &self,
        term: &GlossaryTerm,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO glossary_terms (id, glossary_id, name, description, enabled, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(term.id.to_string())
        .bind(term.glossary_id.to_string())
        .bind(term.name.as_str())
        .bind(term.description.as_str())
        .bind(term.enabled)
        .bind(ts(term.created_at))
        .bind(ts(term.updated_at));
        let on_error = |e| write_error(&subject("glossary term", term.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    pub(super) async fn cat_update_term(
        &self,
        term: &GlossaryTerm,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "UPDATE glossary_terms SET description = $2, enabled = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(term.id.to_string())
        .bind(term.description.as_str())
        .bind(term.enabled)
        .bind(ts(term.updated_at));
        let not_found = Error::not_found("glossary term", term.name.as_str());
        self.write_one(
            query,
            |e| internal("update a term", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    pub(super) async fn cat_delete_term(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = delete_term_tx(w.conn(), id, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_list_terms(
        &self,
        glossary_id: Option<Uuid>,
    ) -> Result<Vec<GlossaryTerm>> {
        let mut args = Args::default();
        let sql = format!(
            "SELECT {} FROM glossary_terms{}",
            codec::TERM_COLS,
            where_eq(&mut args, "glossary_id", glossary_id)
        );
        let mut conn = self.read().await?;
        let mut terms = all(
            fetch_all(&mut conn, "list terms", &sql, &args).await?,
            codec::term,
        )?;
        terms.sort_by(|a, b| (a.glossary_id, &a.name).cmp(&(b.glossary_id, &b.name)));
        Ok(terms)
    }

    pub(super) async fn cat_add_term_relation(
        &self,
        relation: &TermRelation,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = add_term_relation_tx(w.conn(), self.backend, relation, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_remove_term_relation(
        &self,
        relation: &TermRelation,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query = sqlx::query(
            "DELETE FROM glossary_term_relations WHERE term_id = $1 AND kind = $2 \
             AND target_id = $3",
        )
        .bind(relation.term_id.to_string())
        .bind(relation.kind.as_str())
        .bind(relation.target_id.to_string());
        let not_found = Error::not_found("term relation", relation.kind.as_str());
        self.write_one(
            query,
            |e| internal("remove a term relation", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    pub(super) async fn cat_term_relations(&self) -> Result<Vec<TermRelation>> {
        let sql = "SELECT term_id, kind, target_id FROM glossary_term_relations";
        let mut relations = all(
            rows(&self.pool, "read term relations", sql, None).await?,
            codec::term_relation,
        )?;
        relations.sort_by_key(|r| (r.term_id, r.kind, r.target_id));
        Ok(relations)
    }

    pub(super) async fn cat_link_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = link_term_tx(w.conn(), link, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_unlink_term(
        &self,
        link: &TermLink,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let result = unlink_term_tx(w.conn(), link, &audit).await;
        w.finish(result).await
    }

    pub(super) async fn cat_term_links(&self, product_id: Option<Uuid>) -> Result<Vec<TermLink>> {
        let mut args = Args::default();
        let sql = format!(
            "SELECT term_id, product_id, table_id, column_name FROM glossary_term_links{}",
            where_eq(&mut args, "product_id", product_id)
        );
        let mut conn = self.read().await?;
        let mut links = all(
            fetch_all(&mut conn, "read term links", &sql, &args).await?,
            codec::term_link,
        )?;
        links.sort_by(|a, b| {
            (a.product_id, a.table_id, &a.column, a.term_id).cmp(&(
                b.product_id,
                b.table_id,
                &b.column,
                b.term_id,
            ))
        });
        Ok(links)
    }

    pub(super) async fn cat_catalog_rows(&self, product_id: Option<Uuid>) -> Result<CatalogRows> {
        let mut conn = self.read().await?;
        catalog_rows_tx(&mut conn, product_id).await
    }
}

async fn row_list<const N: usize>(
    pool: &sqlx::AnyPool,
    doing: &str,
    sql: &str,
    args: [String; N],
) -> Result<Vec<sqlx::any::AnyRow>> {
    args.into_iter()
        .fold(sqlx::query(sql), |q, a| q.bind(a))
        .fetch_all(pool)
        .await
        .map_err(|e| internal(doing, e))
}
