//! [`OrgStore`] for [`SqlStore`]: domains and their hierarchy, teams and team membership.

use std::collections::HashMap;

use async_trait::async_trait;
use meshgate_core::catalog;
use meshgate_core::model::{Domain, NewAuditEvent, Team, TeamMember};
use meshgate_core::{Error, Result};
use uuid::Uuid;

use super::{Args, exec, fetch_all, insert_audit};
use crate::OrgStore;
use crate::codec::{self, opt_id, ts};
use crate::db::{Backend, SqlStore, internal, subject, write_error};
use crate::record::Record;

#[async_trait]
impl OrgStore for SqlStore {
    async fn create_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO domains (id, name, description, producer, consumer, created_at, \
             parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(domain.id.to_string())
        .bind(domain.name.as_str())
        .bind(domain.description.as_str())
        .bind(domain.producer)
        .bind(domain.consumer)
        .bind(ts(domain.created_at))
        .bind(opt_id(domain.parent_id));
        let on_error = |e| write_error(&subject("domain", domain.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_domain(&self, id: Uuid) -> Result<Option<Domain>> {
        let sql = Domain::select("WHERE id = $1");
        self.get("read a domain", &sql, &[&id]).await
    }

    async fn get_domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        let sql = Domain::select("WHERE name = $1");
        self.get("read a domain", &sql, &[&name]).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let sql = Domain::select("ORDER BY name");
        self.list("list domains", &sql, &[]).await
    }

    async fn update_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "UPDATE domains SET description = $2, producer = $3, consumer = $4 WHERE id = $1",
        )
        .bind(domain.id.to_string())
        .bind(domain.description.as_str())
        .bind(domain.producer)
        .bind(domain.consumer);
        let not_found = Error::not_found("domain", domain.name.as_str());
        self.write_one(
            query,
            |e| internal("update a domain", e),
            Some(not_found),
            &audit,
            false,
        )
        .await
    }

    async fn set_domain_parent(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.write(async |conn| {
            if self.backend == Backend::Postgres {
                // Hierarchy changes queue on one lock, so two concurrent moves cannot each pass
                // the cycle check and together close a cycle. SQLite's writes are serialised
                // already.
                sqlx::query("LOCK TABLE domains IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| internal("lock the domains", e))?;
            }
            let sql = "SELECT id, name, parent_id FROM domains";
            let all_rows = fetch_all(conn, "read domains", sql, &Args::default()).await?;
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
            insert_audit(conn, &audit).await?;
            Ok(())
        })
        .await
    }

    async fn create_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO teams (id, domain_id, name, description, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(team.id.to_string())
        .bind(team.domain_id.to_string())
        .bind(team.name.as_str())
        .bind(team.description.as_str())
        .bind(ts(team.created_at));
        let on_error = |e| write_error(&subject("team", team.name.as_str()), e);
        self.write_one(query, on_error, None, &audit, false).await
    }

    async fn get_team(&self, id: Uuid) -> Result<Option<Team>> {
        let sql = Team::select("WHERE id = $1");
        self.get("read a team", &sql, &[&id]).await
    }

    async fn get_team_by_name(&self, domain_id: Uuid, name: &str) -> Result<Option<Team>> {
        let sql = Team::select("WHERE domain_id = $1 AND name = $2");
        self.get("read a team", &sql, &[&domain_id, &name]).await
    }

    async fn list_teams(&self, domain_id: Option<Uuid>) -> Result<Vec<Team>> {
        match domain_id {
            Some(d) => {
                let sql = Team::select("WHERE domain_id = $1 ORDER BY name, id");
                self.list("list teams", &sql, &[&d]).await
            }
            None => {
                let sql = Team::select("ORDER BY name, id");
                self.list("list teams", &sql, &[]).await
            }
        }
    }

    async fn put_team_member(&self, member: &TeamMember, audit: NewAuditEvent) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO team_members (team_id, principal_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (team_id, principal_id) DO UPDATE SET role = excluded.role",
        )
        .bind(member.team_id.to_string())
        .bind(member.principal_id.to_string())
        .bind(member.role.as_str());
        let on_error = |e| write_error(&subject("team member", member.principal_id.to_string()), e);
        self.write_one(query, on_error, None, &audit, true).await
    }

    async fn remove_team_member(
        &self,
        team_id: Uuid,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let query =
            sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND principal_id = $2")
                .bind(team_id.to_string())
                .bind(principal_id.to_string());
        let not_found = Error::not_found("team member", principal_id.to_string());
        self.write_one(
            query,
            |e| internal("remove a team member", e),
            Some(not_found),
            &audit,
            true,
        )
        .await
    }

    async fn list_team_members(&self, team_id: Uuid) -> Result<Vec<TeamMember>> {
        let sql = TeamMember::select("WHERE team_id = $1 ORDER BY principal_id");
        self.list("list team members", &sql, &[&team_id]).await
    }

    async fn memberships_of(&self, principal_id: Uuid) -> Result<Vec<TeamMember>> {
        let sql = TeamMember::select("WHERE principal_id = $1 ORDER BY team_id");
        self.list("list memberships", &sql, &[&principal_id]).await
    }
}
