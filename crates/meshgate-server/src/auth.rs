//! Authentication: the bearer token names a principal, whose team memberships and groups make
//! the [`Actor`] the authorizer decides on. Missing, unknown, expired and revoked tokens are
//! all a plain 401 — the response never says which, so tokens cannot be probed.
//!
//! Two extractors split the planes (docs/design/SECURITY.md, "control plane and data plane"):
//! [`Caller`] is the control plane's and refuses tenant-scoped credentials (`mgs_…`) with
//! 403, so a handler that takes a `Caller` cannot be reached with one, whatever it forgets
//! to check; [`DataCaller`] is the data plane's (SQL, the rows API) and lets a credential
//! through with its session policy, which those handlers apply. Recipient tokens (`mgr_…`)
//! are neither: they open only the Delta Sharing endpoints, which authenticate them
//! themselves, and are a 401 here. Bearer JWTs from a trusted identity provider name a
//! principal as an API token does (`signin`, docs/design/SIGN_IN.md), and so does a browser
//! session's cookie on a request without a bearer token (its writes must carry the session's
//! CSRF token, `signin::session`). A deactivated principal authenticates with nothing.

use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use meshgate_authz::{Actor, Membership};
use meshgate_core::bounded::Bounded;
use meshgate_core::credential::{self, Claims};
use meshgate_core::model::{Principal, TokenScope};
use meshgate_core::token;
use meshgate_store::PolicyVersion;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub actor: Actor,
    /// Set when the caller authenticated with a credential: its session policy narrows
    /// every read and write, and control-plane actions are refused.
    pub session: Option<Claims>,
    /// The policy versions read when the caller was built, before its memberships: the
    /// request's access snapshot is checked against these (`snapshot::of`) instead of reading
    /// them again (docs/design/ACCESS.md §Snapshot).
    pub policy: PolicyVersion,
}

impl Caller {
    /// The caller `principal` makes (with a credential's `session`, if any): every way of
    /// authenticating (API tokens, credentials, sign-in, recipient tokens, signed URLs) builds
    /// its caller here, through [`actor_of`], which refuses a suspended principal.
    pub async fn new(
        state: &AppState,
        principal: Principal,
        session: Option<Claims>,
    ) -> Result<Caller, ApiError> {
        let (actor, policy) = actor_of(state, &principal).await?;
        Ok(Caller {
            principal,
            actor,
            session,
            policy,
        })
    }

    pub fn id(&self) -> uuid::Uuid {
        self.principal.id
    }

    /// The ids of the teams the caller belongs to, with any role.
    pub fn team_ids(&self) -> Vec<uuid::Uuid> {
        self.actor.teams.iter().map(|m| m.team_id).collect()
    }
}

/// The caller of a data-plane route: an API token's principal or a tenant-scoped
/// credential's (with its session policy in `session`).
#[derive(Debug, Clone)]
pub struct DataCaller(pub Caller);

impl FromRequestParts<AppState> for DataCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller_of(parts, state).await.map(DataCaller)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The control plane's caller: any credential is refused here, in one place.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts, state).await?;
        if caller.session.is_some() {
            return Err(ApiError::forbidden(format!(
                "principal `{}` used a credential on a control-plane route: credentials carry data access only (SQL and the rows API); use an API token",
                caller.principal.name
            )));
        }
        Ok(caller)
    }
}

/// The request's caller, authenticated once per request: the extractors that need the caller
/// (the caller itself, a product or table in the path) share one store lookup.
pub async fn caller_of(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(caller) = parts.extensions.get::<Caller>() {
        return Ok(caller.clone());
    }
    let caller = authenticate(parts, state).await?;
    parts.extensions.insert(caller.clone());
    Ok(caller)
}

/// The bearer token of a request's `Authorization` header, or a 401 that says what is wrong
/// with the header.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("missing bearer token: send `Authorization: Bearer <token>`")
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("invalid authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthenticated("the authorization header must be `Bearer <token>`")
        })
}

/// The principal a bearer token (API token, credential, identity provider's JWT) names, or
/// without an `Authorization` header the browser session's cookie; else 401.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    if !parts.headers.contains_key(AUTHORIZATION)
        && let Some((principal, _)) =
            crate::signin::session::principal_of_cookie(parts, state).await?
    {
        return Caller::new(state, principal, None).await;
    }
    let token = bearer(parts)?;
    if credential::is_credential(token) {
        let Some(claims) = state.credentials.verify(token) else {
            return Err(ApiError::unauthenticated(
                "invalid, expired or revoked token",
            ));
        };
        let Some(principal) = state.store.get_principal(claims.principal_id).await? else {
            return Err(ApiError::unauthenticated(
                "invalid, expired or revoked token",
            ));
        };
        if !principal.active {
            return Err(ApiError::unauthenticated(
                "invalid, expired or revoked token",
            ));
        }
        return Caller::new(state, principal, Some(claims)).await;
    }
    if state.signin.enabled() && meshgate_oidc::looks_like_jwt(token) {
        let principal =
            crate::signin::principal_of_jwt(state, token, crate::signin::Surface::Api).await?;
        return Caller::new(state, principal, None).await;
    }
    let found = state.store.find_token(&token::hash(token)).await?;
    let Some((record, principal)) = found else {
        return Err(ApiError::unauthenticated(
            "invalid, expired or revoked token",
        ));
    };
    if !record.is_usable(Utc::now()) || !principal.active {
        return Err(ApiError::unauthenticated(
            "invalid, expired or revoked token",
        ));
    }
    if record.scope != TokenScope::Api {
        return Err(ApiError::unauthenticated(
            "this is a SCIM provisioning token: it authenticates only the SCIM endpoints under /scim/v2; use an API token here",
        ));
    }
    Caller::new(state, principal, None).await
}

/// The actor a request acts as, with the policy versions it was read at: every caller is
/// built through here ([`Caller::new`]), so a principal suspended after an unusual-read alert
/// (docs/design/AUDIT.md §Unusual reads) is refused here, once for all of them. 403
/// `suspended`, naming no alert.
async fn actor_of(
    state: &AppState,
    principal: &Principal,
) -> Result<(Actor, PolicyVersion), ApiError> {
    if state.suspended.contains(principal.id) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "suspended",
            format!(
                "principal `{}` is suspended after an unusual read; a mesh admin can lift it",
                principal.name
            ),
        ));
    }
    view_of(state, principal).await
}

/// Builds the authorizer's view of a principal from the store, suspended or not: for what a
/// request asks about someone else (who sees a table, a preview as the consumer). The team
/// memberships and groups are kept by policy version ([`Memberships`]), so a request whose
/// caller's memberships are kept costs one read here (the versions, returned with the actor)
/// instead of one per group and team.
pub async fn view_of(
    state: &AppState,
    principal: &Principal,
) -> Result<(Actor, PolicyVersion), ApiError> {
    // Read before the memberships: a change committed in between moves the version past the
    // one kept with them, and the next request reads them again. Memberships and groups only
    // change in broad changes (grants are the scoped ones), so the broad version keys them.
    let policy = state.store.policy_versions().await?;
    let version = policy.broad;
    let actor = |teams: Vec<Membership>, groups: Vec<Uuid>| Actor {
        id: principal.id,
        kind: principal.kind,
        is_admin: principal.is_admin,
        teams,
        groups,
    };
    if let Some((teams, groups)) = state.memberships.get(principal.id, version) {
        return Ok((actor(teams, groups), policy));
    }
    let groups = state.store.groups_of(principal.id).await?;
    // A group's team memberships are its members' too.
    let mut memberships = state.store.memberships_of(principal.id).await?;
    for group in &groups {
        memberships.extend(state.store.memberships_of(*group).await?);
    }
    let mut teams: Vec<Membership> = Vec::new();
    for m in memberships {
        if teams
            .iter()
            .any(|t| t.team_id == m.team_id && t.role == m.role)
        {
            continue;
        }
        if let Some(team) = state.store.get_team(m.team_id).await? {
            teams.push(Membership {
                team_id: team.id,
                domain_id: team.domain_id,
                role: m.role,
            });
        }
    }
    state
        .memberships
        .keep(principal.id, version, &teams, &groups);
    Ok((actor(teams, groups), policy))
}

/// Each principal's team memberships (with their teams' domains) and groups as last read,
/// with the broad policy version they were read at. Every membership and group change is a
/// broad change (docs/design/ACCESS.md §Snapshot), so an entry read before one is never
/// used; the principal's own fields (kind, admin flag, active) are never kept, they come
/// with the principal each request authenticates. Bounded: past [`Memberships::CAPACITY`]
/// principals the least recently used are dropped ([`Bounded`]).
#[derive(Debug)]
pub struct Memberships(Mutex<Bounded<Uuid, Kept>>);

type Kept = (i64, Arc<(Vec<Membership>, Vec<Uuid>)>);

impl Default for Memberships {
    fn default() -> Self {
        Memberships(Mutex::new(Bounded::new(Self::CAPACITY)))
    }
}

impl Memberships {
    const CAPACITY: usize = 16_384;

    fn get(&self, principal: Uuid, version: i64) -> Option<(Vec<Membership>, Vec<Uuid>)> {
        let mut kept = self.0.lock().ok()?;
        let (at, view) = kept.get(&principal)?;
        (*at == version).then(|| (view.0.clone(), view.1.clone()))
    }

    fn keep(&self, principal: Uuid, version: i64, teams: &[Membership], groups: &[Uuid]) {
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(
                principal,
                (version, Arc::new((teams.to_vec(), groups.to_vec()))),
            );
        }
    }
}
