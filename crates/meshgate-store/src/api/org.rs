//! The organisation: domains (and their hierarchy), teams and team membership.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{Domain, NewAuditEvent, Team, TeamMember};
use uuid::Uuid;

/// Domains, teams and memberships (`store/org.rs`).
#[async_trait]
pub trait OrgStore: Send + Sync + 'static {
    async fn create_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()>;
    async fn get_domain(&self, id: Uuid) -> Result<Option<Domain>>;
    async fn get_domain_by_name(&self, name: &str) -> Result<Option<Domain>>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;
    /// Updates the producer/consumer flags and description.
    async fn update_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()>;
    /// Sets or clears a domain's parent. `NotFound` for a missing domain or parent, `Invalid`
    /// (naming the domains on the cycle) if the parent is the domain or one of its units.
    async fn set_domain_parent(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        audit: NewAuditEvent,
    ) -> Result<()>;

    async fn create_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()>;
    async fn get_team(&self, id: Uuid) -> Result<Option<Team>>;
    async fn get_team_by_name(&self, domain_id: Uuid, name: &str) -> Result<Option<Team>>;
    async fn list_teams(&self, domain_id: Option<Uuid>) -> Result<Vec<Team>>;
    /// Adds or updates (role) a membership; bumps the policy version.
    async fn put_team_member(&self, member: &TeamMember, audit: NewAuditEvent) -> Result<()>;
    /// Removes a membership; bumps the policy version. `NotFound` if absent.
    async fn remove_team_member(
        &self,
        team_id: Uuid,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn list_team_members(&self, team_id: Uuid) -> Result<Vec<TeamMember>>;
    /// Every team membership of a principal.
    async fn memberships_of(&self, principal_id: Uuid) -> Result<Vec<TeamMember>>;
}
