//! [`GlossaryStore`] for [`SqlStore`] (issue 7): glossaries, terms, the relations between
//! terms (`is_a` kept acyclic), and the terms attached to products and columns (which bump the
//! product's catalog revision, see `catalog.rs`).

use std::collections::HashMap;

use async_trait::async_trait;
use meshgate_core::catalog::{self, Glossary, GlossaryTerm, RelationKind, TermLink, TermRelation};
use meshgate_core::model::NewAuditEvent;
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::catalog::{bump_revision, in_use, load_product, product_of_table, where_eq};
use super::{Args, count, fetch_all, fetch_list, fetch_optional_by_id, insert_audit};
use crate::GlossaryStore;
use crate::codec::{self, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};
use crate::record::Record;

/// `text` as a LIKE pattern matching itself literally (with `ESCAPE '\'`).
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[async_trait]
impl GlossaryStore for SqlStore {
    async fn create_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()> {
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

    async fn update_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()> {
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

    async fn delete_glossary(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
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
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn get_glossary_by_name(&self, name: &str) -> Result<Option<Glossary>> {
        let sql = Glossary::select("WHERE name = $1");
        self.get("read a glossary", &sql, &[&name]).await
    }

    async fn list_glossaries(&self) -> Result<Vec<Glossary>> {
        let sql = Glossary::select("");
        let mut glossaries: Vec<Glossary> = self.list("list glossaries", &sql, &[]).await?;
        glossaries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(glossaries)
    }

    async fn create_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()> {
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

    async fn update_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()> {
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

    async fn delete_term(&self, id: Uuid, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
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
                "SELECT COUNT(*) AS n FROM glossary_term_relations \
                 WHERE term_id = {} OR target_id = {}",
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
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn list_terms(&self, glossary_id: Option<Uuid>) -> Result<Vec<GlossaryTerm>> {
        let mut args = Args::default();
        let sql = GlossaryTerm::select(&where_eq(&mut args, "glossary_id", glossary_id));
        let mut conn = self.read().await?;
        let mut terms: Vec<GlossaryTerm> = fetch_list(&mut conn, "list terms", &sql, &args).await?;
        terms.sort_by(|a, b| (a.glossary_id, &a.name).cmp(&(b.glossary_id, &b.name)));
        Ok(terms)
    }

    async fn add_term_relation(&self, relation: &TermRelation, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
            if relation.term_id == relation.target_id {
                return Err(Error::invalid(format!(
                    "relation `{}`: a term cannot be related to itself",
                    relation.kind
                )));
            }
            if self.backend == Backend::Postgres {
                // As for domains: relation changes queue, so racing `is_a`s cannot close a cycle.
                sqlx::query("LOCK TABLE glossary_term_relations IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("lock the term relations", e))?;
            }
            let sql = "SELECT t.id AS id, t.name AS name, g.name AS glossary \
                       FROM glossary_terms t JOIN glossaries g ON g.id = t.glossary_id";
            let terms = fetch_all(conn, "read terms", sql, &Args::default())
                .await?
                .iter()
                .map(|r| {
                    let name = format!(
                        "{}.{}",
                        codec::text(r, "glossary")?,
                        codec::text(r, "name")?
                    );
                    Ok((codec::uuid(r, "id")?, name))
                })
                .collect::<Result<HashMap<Uuid, String>>>()?;
            for t in [relation.term_id, relation.target_id] {
                if !terms.contains_key(&t) {
                    return Err(Error::not_found("glossary term", t.to_string()));
                }
            }
            if relation.kind == RelationKind::IsA {
                let sql = TermRelation::select("");
                let existing: Vec<TermRelation> =
                    fetch_list(conn, "read term relations", &sql, &Args::default()).await?;
                let (term, target) = (relation.term_id, relation.target_id);
                if let Some(cycle) = catalog::is_a_cycle(&existing, term, target) {
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
                "INSERT INTO glossary_term_relations (term_id, kind, target_id) \
                 VALUES ($1, $2, $3) ON CONFLICT (term_id, kind, target_id) DO NOTHING",
            )
            .bind(relation.term_id.to_string())
            .bind(relation.kind.as_str())
            .bind(relation.target_id.to_string())
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&subject("term relation", relation.kind.as_str()), e))?;
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn remove_term_relation(
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

    async fn term_relations(&self) -> Result<Vec<TermRelation>> {
        let sql = TermRelation::select("");
        let mut relations: Vec<TermRelation> = self.list("read term relations", &sql, &[]).await?;
        relations.sort_by_key(|r| (r.term_id, r.kind, r.target_id));
        Ok(relations)
    }

    async fn link_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
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
            .map_err(|e| {
                write_error(&subject("glossary term link", link.term_id.to_string()), e)
            })?;
            if done.rows_affected() > 0 {
                bump_revision(conn, link.product_id).await?;
            }
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn unlink_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()> {
        self.write(async |conn| {
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
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn term_links(&self, product_id: Option<Uuid>) -> Result<Vec<TermLink>> {
        let mut args = Args::default();
        let sql = TermLink::select(&where_eq(&mut args, "product_id", product_id));
        let mut conn = self.read().await?;
        let mut links: Vec<TermLink> =
            fetch_list(&mut conn, "read term links", &sql, &args).await?;
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
}
