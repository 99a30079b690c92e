//! The concepts of docs/design/ARCHITECTURE.md as plain data. These structs are what the store returns and
//! (mostly) what the API sends; ids are UUIDv7 so they sort by creation time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::GrantScope;
use crate::catalog::ListingState;
use crate::lifecycle::{ItemStatus, ShareStatus, ShareSummary, string_enum};

/// A new time-ordered id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

string_enum!(
    /// What kind of principal.
    PrincipalKind {
        User => "user",
        Group => "group",
        Service => "service",
    }
);

string_enum!(
    /// Who made a group membership. A sync from one source replaces only that source's
    /// memberships (docs/design/SIGN_IN.md §Groups): `manual` through the API or the CLI,
    /// `idp` from the groups claim of an identity provider's token (re-synced on every
    /// sign-in), `scim` provisioned over SCIM.
    MembershipSource {
        Manual => "manual",
        Idp => "idp",
        Scim => "scim",
    }
);

string_enum!(
    /// What an API token authenticates: `api`, everything but SCIM (the REST API, SQL, the
    /// rows API, Delta Sharing); `scim`, the SCIM provisioning endpoints at `/scim/v2` and
    /// nothing else (docs/design/SIGN_IN.md §SCIM). Only admins make `scim` tokens.
    TokenScope {
        Api => "api",
        Scim => "scim",
    }
);

// `string_enum!` takes no attributes on variants, so `#[default]` cannot be derived.
#[allow(clippy::derivable_impls)]
impl Default for TokenScope {
    fn default() -> Self {
        TokenScope::Api
    }
}

string_enum!(
    /// A principal's role in a team.
    TeamRole {
        Owner => "owner",
        Steward => "steward",
        Member => "member",
    }
);

impl TeamRole {
    /// Owners and stewards decide on requests for their team's products.
    pub fn is_approver(self) -> bool {
        matches!(self, TeamRole::Owner | TeamRole::Steward)
    }
}

string_enum!(
    /// What a share item covers.
    ItemKind {
        Table => "table",
        Folder => "folder",
        Product => "product",
    }
);

string_enum!(
    /// Permission a share item asks for or a grant gives.
    Permission {
        Read => "read",
    }
);

string_enum!(
    /// The health axis of a shared item.
    Health {
        Healthy => "healthy",
        Unhealthy => "unhealthy",
        PendingVerify => "pending_verify",
        PendingReapply => "pending_reapply",
    }
);

/// A user, a group or a service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    pub id: Uuid,
    pub name: String,
    pub kind: PrincipalKind,
    pub display_name: String,
    /// Mesh admins administer the whole mesh.
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    /// The name the identity provider knows this principal by (a token's user claim, a
    /// client id, a groups-claim value, SCIM's userName); unique whatever the letter case.
    /// `None`: the principal signs in with meshgate's own tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// A deactivated principal authenticates with nothing (docs/design/SIGN_IN.md).
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// An organisational unit that may produce and/or consume data products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Domain {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub producer: bool,
    pub consumer: bool,
    pub created_at: DateTime<Utc>,
    /// The domain this one is a unit of (domains form a hierarchy); `None` for a top-level
    /// domain.
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

/// A group of principals inside a domain that owns products or requests access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// A principal's membership of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    pub team_id: Uuid,
    pub principal_id: Uuid,
    pub role: TeamRole,
}

/// An API token's record. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub name: String,
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// What the token authenticates (`api` unless made for SCIM provisioning).
    #[serde(default)]
    pub scope: TokenScope,
}

impl ApiToken {
    /// Whether the token may be used at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

string_enum!(
    /// How a browser session was opened: through an identity provider's sign-in page, with
    /// an API token (installs without an identity provider), or as one of the quickstart's
    /// demo people (`auth.demo_people`, loopback only).
    SessionMethod {
        Oidc => "oidc",
        Token => "token",
        Demo => "demo",
    }
);

/// A browser session (docs/design/SIGN_IN.md §Browser sessions). The cookie's value is never
/// stored, only its hash. It ends when revoked, when idle too long, or at `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub secret_hash: String,
    pub principal_id: Uuid,
    pub method: SessionMethod,
    /// The identity provider it signed in at (`oidc`).
    pub issuer: Option<String>,
    /// The anti-CSRF token every cookie-authenticated write must echo in `X-CSRF-Token`.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, however active the session is.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether the session may be used at `now`, given the idle timeout.
    pub fn is_usable(&self, now: DateTime<Utc>, idle: chrono::Duration) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.last_seen_at + idle > now
    }
}

/// A sign-in at an identity provider in progress: what the callback needs to finish it
/// (authorization code flow with PKCE). Kept for a few minutes, used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInAttempt {
    /// SHA-256 of the `state` parameter.
    pub state_hash: String,
    pub issuer: String,
    /// The PKCE code verifier.
    pub verifier: String,
    pub nonce: String,
    /// Where the browser goes after signing in (a path on this server).
    pub return_to: String,
    pub created_at: DateTime<Utc>,
}

string_enum!(
    /// What a Delta Sharing token is: a bearer token (for a version-1 profile file), an
    /// OAuth client with an id and a secret (for a version-2 profile file), or an access token
    /// the OAuth token endpoint issued to such a client. Sharing tokens authenticate only the
    /// Delta Sharing endpoints, never the rest of the API.
    SharingTokenKind {
        Bearer => "bearer",
        OauthClient => "oauth_client",
        Access => "access",
    }
);

/// A Delta Sharing token of a recipient (an ordinary principal). Like [`ApiToken`], only
/// hashes are stored: of the secret once the token is activated, and of the one-time
/// activation code until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharingToken {
    pub id: Uuid,
    /// The recipient the token authenticates as.
    pub principal_id: Uuid,
    pub kind: SharingTokenKind,
    pub name: String,
    /// The hash of the bearer token, OAuth client secret or access token; `None` until the
    /// token is activated.
    #[serde(skip_serializing)]
    pub secret_hash: Option<String>,
    /// The hash of the one-time activation code; `None` once activated.
    #[serde(skip_serializing)]
    pub activation_hash: Option<String>,
    /// For an access token, the OAuth client it was issued to.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub parent_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub expires_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub activated_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub revoked_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl SharingToken {
    /// Whether the token may be used at `now`: activated, not revoked, not expired.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.activated_at.is_some()
            && self.revoked_at.is_none()
            && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Per-recipient settings of Delta Sharing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecipientSettings {
    pub principal_id: Uuid,
    /// Addresses and CIDR ranges the recipient may connect from (validated by the server);
    /// empty = anywhere.
    pub ip_allow_list: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// A recipient bound to a subject of a trusted identity provider (Delta Sharing OIDC
/// federation, docs/design/SIGN_IN.md): that provider's tokens for the subject authenticate
/// it on the Delta Sharing endpoints, and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecipientFederation {
    pub principal_id: Uuid,
    /// The issuer, as configured under `[auth.oidc]`.
    pub issuer: String,
    /// The subject its tokens name: the issuer's user claim, or a client id for
    /// client-credentials tokens.
    pub subject: String,
    pub created_at: DateTime<Utc>,
}

/// An admin-declared external location: a URL prefix under which the listed teams may
/// register existing Delta tables as tables of their products. Registering anything else is
/// refused; a table registered under it is read-only unless the location is `writable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalLocation {
    pub id: Uuid,
    pub name: String,
    /// The normalized prefix (`file:///…/`, `s3://bucket/…/`), always ending in `/`.
    pub url: String,
    /// The teams that may register tables under it.
    pub teams: Vec<Uuid>,
    /// Whether tables registered under it accept appends and row writes.
    pub writable: bool,
    pub description: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// One column of a table, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Column {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    #[serde(default)]
    pub description: String,
}

/// A named, owned, documented set of tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProduct {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the product stands in the catalog (draft, published, unpublished).
    #[serde(default)]
    pub listing: ListingState,
    /// Bumped by every change to the product's catalog metadata (description, forms,
    /// glossary terms, tags); what is published is always the latest revision.
    #[serde(default = "first_revision")]
    pub revision: i64,
}

fn first_revision() -> i64 {
    1
}

/// One Delta table of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductTable {
    pub id: Uuid,
    pub product_id: Uuid,
    pub name: String,
    pub description: String,
    /// Where the Delta table lives (`file:///…`, `s3://…`).
    pub location: String,
    /// Whether meshgate created (and so manages) the table, or it was registered.
    pub managed: bool,
    pub columns: Vec<Column>,
    pub created_at: DateTime<Utc>,
}

/// A request by a team (or a principal) for items of one data product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub id: Uuid,
    pub product_id: Uuid,
    /// The team that asked and whose members get access.
    pub requester_team_id: Option<Uuid>,
    /// A principal that asked for itself (a service principal, an external recipient).
    pub requester_principal_id: Option<Uuid>,
    pub created_by: Uuid,
    pub reason: String,
    pub status: ShareStatus,
    pub requested_expiry: Option<DateTime<Utc>>,
    /// The approver's or rejecter's notes.
    pub decision_notes: Option<String>,
    pub decided_by: Option<Uuid>,
    /// Optimistic concurrency: bumped by every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_reason: Option<String>,
    /// Expiry, extension, local name and reminders.
    #[serde(flatten)]
    pub terms: ShareTerms,
}

/// The parts of a share that follow its approval: how long it lasts, an extension asked for,
/// the consumer's local name for it and the reminders sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareTerms {
    /// When the share's access ends (set at approval, moved by an approved extension); the
    /// scheduler revokes it then.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The expiry an extension request asks for, while one is open.
    #[serde(default)]
    pub extension_expiry: Option<DateTime<Utc>>,
    #[serde(default)]
    pub extension_reason: Option<String>,
    /// The schema name under which the consumer's SQL sees the shared tables
    /// (`finalize-subscription`), besides `<domain>.<product>`.
    #[serde(default)]
    pub local_name: Option<String>,
    #[serde(default)]
    pub expiry_reminded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub pending_reminded_at: Option<DateTime<Utc>>,
    /// When it was last submitted (for reminders about requests left pending).
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
}

/// One table, folder or whole product inside a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareItem {
    pub id: Uuid,
    pub share_id: Uuid,
    pub kind: ItemKind,
    /// The table, for table items.
    pub table_id: Option<Uuid>,
    /// The file prefix, for folder items (`reports/2026/`; empty = every file).
    #[serde(default)]
    pub path: Option<String>,
    pub permission: Permission,
    /// What of the table the item covers (data filters, kept columns, masks).
    #[serde(default)]
    pub scope: GrantScope,
    pub status: ItemStatus,
    pub health: Option<Health>,
    pub health_message: Option<String>,
    pub last_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A share together with its items and the derived summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareDetail {
    #[serde(flatten)]
    pub share: Share,
    pub items: Vec<ShareItem>,
    pub summary: ShareSummary,
}

impl ShareDetail {
    pub fn new(share: Share, items: Vec<ShareItem>) -> Self {
        let summary = ShareSummary::from_items(items.iter().map(|i| i.status));
        ShareDetail {
            share,
            items,
            summary,
        }
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Grantee {
    Team(Uuid),
    Principal(Uuid),
}

/// The access a fulfilled share item gives, enforced on every read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: Uuid,
    pub share_item_id: Uuid,
    pub grantee: Grantee,
    pub table_id: Uuid,
    pub permission: Permission,
    /// Copied from the item when the grant is made; its data filters are read live.
    #[serde(default)]
    pub scope: GrantScope,
    pub created_at: DateTime<Utc>,
}

/// Access to a product's files under a prefix, given by a folder item (its prefix) or a
/// whole-product item (the empty prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileGrant {
    pub id: Uuid,
    pub share_item_id: Uuid,
    pub grantee: Grantee,
    pub product_id: Uuid,
    /// Files whose path starts with this are covered.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

impl FileGrant {
    /// Whether the grant covers the file at `path` of `product_id`.
    pub fn covers(&self, product_id: Uuid, path: &str) -> bool {
        self.product_id == product_id && folder_covers(&self.prefix, path)
    }
}

/// Whether the folder `prefix` covers `path`: the empty prefix covers everything, and a
/// folder covers the paths inside it, compared at a `/` and never as a bare string prefix,
/// so folder `a` (or `a/`) covers `a/x` but not `ab/x` nor the file `a` itself. Stored
/// folder prefixes end with `/`; one that does not is read as the folder it names.
pub fn folder_covers(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    let folder = prefix.strip_suffix('/').unwrap_or(prefix);
    path.strip_prefix(folder)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A product's rules for shares of it (docs/design/LIFECYCLE.md §Rules around the workflow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareSettings {
    /// Every request must ask for an expiry.
    #[serde(default)]
    pub expiry_required: bool,
    /// Shortest and longest share a request may ask for, in days.
    #[serde(default)]
    pub min_days: Option<u32>,
    #[serde(default)]
    pub max_days: Option<u32>,
    /// Requests approved without an approver.
    #[serde(default)]
    pub auto_approve: AutoApprove,
}

/// When a submitted request is approved at once, by the system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutoApprove {
    /// Requests by teams of these domains (names).
    #[serde(default)]
    pub requester_domains: Vec<String>,
    /// Requests for the product while every table of it is classified `public`.
    #[serde(default)]
    pub when_public: bool,
}

impl AutoApprove {
    pub fn is_off(&self) -> bool {
        self.requester_domains.is_empty() && !self.when_public
    }
}

/// One line a processor run wrote about a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareLog {
    /// Position in the log, assigned by the store (0 before it is stored).
    pub seq: i64,
    pub share_id: Uuid,
    /// One processor run (all its lines share it).
    pub run_id: Uuid,
    /// What ran (`process_share`, `verify_share`, …).
    pub job: String,
    pub at: DateTime<Utc>,
    /// `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
}

string_enum!(
    /// How an audited act ended.
    Outcome {
        Success => "success",
        Denied => "denied",
        Failure => "failure",
    }
);

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Position in the log, assigned by the store.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The principal that acted (`None` for the system).
    pub actor_id: Option<Uuid>,
    /// Dotted verb, e.g. `share.approve`, `query.run`, `token.create`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    /// Free-form details: from/to states, reason, tables, rows, duration.
    pub detail: serde_json::Value,
    /// Its place in the tamper-evident chain (docs/design/AUDIT.md); `None` for events
    /// written before the chain began, or outside meshgate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<crate::audit_chain::ChainLink>,
}

/// Where one follower of the audit chain is: a SIEM sink of the stream (`sink:<name>`) or the
/// unusual-read detector (docs/design/AUDIT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditCursor {
    pub name: String,
    /// The last chain position done (0: none yet).
    pub pos: i64,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Failed attempts since the last delivery.
    pub failures: i64,
    /// What the last failed attempt ran into.
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// An audit event before the store assigns its sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

impl NewAuditEvent {
    pub fn new(
        actor_id: Option<Uuid>,
        action: impl Into<String>,
        object_type: impl Into<String>,
        object_id: Option<String>,
    ) -> Self {
        NewAuditEvent {
            actor_id,
            action: action.into(),
            object_type: object_type.into(),
            object_id,
            outcome: Outcome::Success,
            request_id: None,
            detail: serde_json::Value::Null,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

string_enum!(
    /// Work a state change leaves for the workers (the outbox).
    JobKind {
        ProcessShare => "process_share",
        RevokeShare => "revoke_share",
        VerifyShare => "verify_share",
        ReapplyShare => "reapply_share",
        CleanupShare => "cleanup_share",
        SendEmail => "send_email",
        DeliverWebhook => "deliver_webhook",
    }
);

/// A leased unit of background work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    /// The object the job works on: a share id for share jobs, a notification id for
    /// `send_email`, a webhook delivery id for `deliver_webhook`.
    pub subject_id: Uuid,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    /// Issue 13, finding 9: a folder covers what is inside it, compared at a `/`.
    #[test]
    fn folders_cover_their_contents_only() {
        for (prefix, inside, outside) in [
            ("a/", &["a/x", "a/b/c"][..], &["ab/x", "a", "b/a/x"][..]),
            ("a", &["a/x", "a/b/c"], &["ab/x", "a", "abc"]),
            ("a/b/", &["a/b/c"], &["a/bc/d", "a/b", "a/c"]),
            ("", &["a", "ab/x"], &[]),
        ] {
            for path in inside {
                assert!(folder_covers(prefix, path), "{prefix:?} covers {path}");
            }
            for path in outside {
                assert!(
                    !folder_covers(prefix, path),
                    "{prefix:?} must not cover {path}"
                );
            }
        }
        let product = new_id();
        let grant = FileGrant {
            id: new_id(),
            share_item_id: new_id(),
            grantee: Grantee::Principal(new_id()),
            product_id: product,
            prefix: "reports".into(),
            created_at: Utc::now(),
        };
        assert!(grant.covers(product, "reports/q1.csv"));
        assert!(!grant.covers(product, "reports-secret/q1.csv"));
        assert!(!grant.covers(new_id(), "reports/q1.csv"));
    }

    fn sharing_token(now: DateTime<Utc>) -> SharingToken {
        SharingToken {
            id: new_id(),
            principal_id: new_id(),
            kind: SharingTokenKind::Bearer,
            name: "partner".into(),
            secret_hash: None,
            activation_hash: Some("code-hash".into()),
            parent_id: None,
            created_by: new_id(),
            created_at: now,
            expires_at: Some(now + Duration::days(30)),
            activated_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn sharing_tokens_are_usable_only_once_activated_and_until_revoked_or_expired() {
        let now = Utc::now();
        let pending = sharing_token(now);
        assert!(!pending.is_usable(now), "not activated yet");

        let active = SharingToken {
            secret_hash: Some("secret-hash".into()),
            activation_hash: None,
            activated_at: Some(now),
            ..pending.clone()
        };
        assert!(active.is_usable(now));
        assert!(!active.is_usable(now + Duration::days(30)), "expired");
        let forever = SharingToken {
            expires_at: None,
            ..active.clone()
        };
        assert!(forever.is_usable(now + Duration::days(3650)));
        let revoked = SharingToken {
            revoked_at: Some(now),
            ..active
        };
        assert!(!revoked.is_usable(now));
    }

    #[test]
    fn sharing_token_kinds_and_hashes_serialise_as_expected() {
        assert_eq!(SharingTokenKind::OauthClient.as_str(), "oauth_client");
        assert_eq!(
            "access".parse::<SharingTokenKind>().ok(),
            Some(SharingTokenKind::Access)
        );
        assert!("refresh".parse::<SharingTokenKind>().is_err());
        let json = serde_json::to_value(sharing_token(Utc::now())).unwrap();
        assert_eq!(json["kind"], "bearer");
        assert!(json.get("secret_hash").is_none(), "{json}");
        assert!(json.get("activation_hash").is_none(), "{json}");
    }
}
