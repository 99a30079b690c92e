//! Principals (users, groups, service accounts), group membership and API tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::model::{ApiToken, MembershipSource, NewAuditEvent, Principal};
use uuid::Uuid;

/// What deactivating a principal revoked (`IdentityStore::deactivate_principal`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    /// API tokens (of any scope) that were usable.
    pub api_tokens: u64,
    /// Delta Sharing tokens (bearer tokens, OAuth clients, their access tokens) not yet revoked.
    pub recipient_tokens: u64,
    /// Browser sessions that were open.
    pub sessions: u64,
    /// Tenant credentials that were unexpired and unrevoked: the caller marks them revoked in
    /// its replica's revocation list at once (other replicas read the store within a second).
    pub credentials: Vec<Uuid>,
}

/// One change to the members of a group from one source, applied in order
/// (`IdentityStore::change_group_members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    /// The source's members become exactly these.
    Set(Vec<Uuid>),
    /// These become members (those already in, through any source, stay as they are).
    Add(Vec<Uuid>),
    /// These stop being members through the source (memberships from other sources stay).
    Remove(Vec<Uuid>),
}

/// Principals, groups and API tokens (`store/identity.rs`).
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn create_principal(&self, principal: &Principal, audit: NewAuditEvent) -> Result<()>;
    async fn get_principal(&self, id: Uuid) -> Result<Option<Principal>>;
    async fn get_principal_by_name(&self, name: &str) -> Result<Option<Principal>>;
    /// The principal the identity provider knows by `login`, whatever the letter case.
    async fn get_principal_by_login(&self, login: &str) -> Result<Option<Principal>>;
    /// Makes `principal` a mesh admin or not; bumps the policy version and appends `audit`
    /// only when that changes anything. Returns whether it did.
    async fn set_principal_admin(
        &self,
        principal: Uuid,
        is_admin: bool,
        audit: NewAuditEvent,
    ) -> Result<bool>;
    async fn list_principals(&self) -> Result<Vec<Principal>>;
    /// Whether any admin principal exists (the mesh has been initialised).
    async fn has_admin(&self) -> Result<bool>;

    /// Adds `member` to `group`; bumps the policy version. Adding twice is a no-op.
    async fn add_group_member(&self, group: Uuid, member: Uuid, audit: NewAuditEvent)
    -> Result<()>;
    /// Removes `member` from `group`; bumps the policy version. `NotFound` if absent.
    async fn remove_group_member(
        &self,
        group: Uuid,
        member: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Makes `member`'s memberships from `source` exactly `groups` (ids of group principals;
    /// others are skipped), leaving memberships from other sources alone: a group `member`
    /// is already in through another source is not added again. When anything changed it
    /// bumps the policy version and appends `audit` with `added` and `removed` (group ids)
    /// set in its detail, in the same transaction. Returns (added, removed).
    async fn sync_group_memberships(
        &self,
        member: Uuid,
        source: MembershipSource,
        groups: &[Uuid],
        audit: NewAuditEvent,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)>;
    /// The group-centric counterpart of [`IdentityStore::sync_group_memberships`]: applies
    /// `ops` to `group`'s memberships from `source`, in order, leaving memberships from other
    /// sources alone. Members must be principals (`Invalid` otherwise); `group` must be a group
    /// (`NotFound`/`Invalid`). When anything changed it bumps the policy version and appends
    /// `audit` with `added` and `removed` (member ids) set in its detail, in the same
    /// transaction. Returns (added, removed).
    async fn change_group_members(
        &self,
        group: Uuid,
        source: MembershipSource,
        ops: &[MemberOp],
        audit: NewAuditEvent,
    ) -> Result<(Vec<Uuid>, Vec<Uuid>)>;
    /// Every group membership: (group, member, source).
    async fn all_group_members(&self) -> Result<Vec<(Uuid, Uuid, MembershipSource)>>;
    /// Deactivates a principal and revokes everything it authenticates with, in one
    /// transaction: `active = false`, its API tokens and Delta Sharing tokens revoked at `at`,
    /// its unexpired credentials revoked (returned, for the in-memory revocation list), the
    /// policy version bumped, and `audit` appended with the counts in `revoked` of its detail.
    /// Deactivating an inactive principal revokes what may be left. `NotFound` if absent.
    async fn deactivate_principal(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Revoked>;
    /// The groups `member` belongs to (directly).
    async fn groups_of(&self, member: Uuid) -> Result<Vec<Uuid>>;
    /// The direct members of a group principal (to expand a group that is a team member
    /// into the people who read notifications).
    async fn group_members(&self, group_id: Uuid) -> Result<Vec<Uuid>>;

    async fn create_token(&self, token: &ApiToken, audit: NewAuditEvent) -> Result<()>;
    /// The token with this hash and its principal, whether usable or not.
    async fn find_token(&self, token_hash: &str) -> Result<Option<(ApiToken, Principal)>>;
    async fn list_tokens(&self, principal_id: Uuid) -> Result<Vec<ApiToken>>;
    async fn get_token(&self, id: Uuid) -> Result<Option<ApiToken>>;
    /// Sets `revoked_at`; revoking twice keeps the first time.
    async fn revoke_token(&self, id: Uuid, at: DateTime<Utc>, audit: NewAuditEvent) -> Result<()>;
}
