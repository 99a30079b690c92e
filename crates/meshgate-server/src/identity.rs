//! Identity: principals (users, services, groups), group membership, API tokens and `whoami`.
//! Each operation checks the action with the authorizer, validates input, and writes the
//! change with its audit event in one store call; the handlers in `routes/identity.rs` only
//! extract and delegate (docs/design/ARCHITECTURE.md §Server layout).

use chrono::{Duration, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{
    ApiToken, NewAuditEvent, Principal, PrincipalKind, TeamRole, TokenScope, new_id,
};
use meshgate_core::{names, token};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::{audit, authorize, principal_by_name};
use crate::state::AppState;

// ----- principals and tokens -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewPrincipal {
    pub name: String,
    pub kind: PrincipalKind,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub admin: bool,
    /// The name the identity provider knows the principal by (its tokens' user claim, a
    /// service's client id, a groups-claim value for a group); docs/design/SIGN_IN.md.
    #[serde(default)]
    pub login: Option<String>,
}

/// Checks a login (an identity provider's name for a principal): 1 to 256 bytes, no control
/// characters, no surrounding spaces.
pub fn validate_login(login: &str) -> ApiResult<()> {
    if login.is_empty()
        || login.len() > 256
        || login.trim() != login
        || login.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "a login must be 1 to 256 bytes, without control characters or surrounding spaces",
        ));
    }
    Ok(())
}

pub async fn create_principal(
    state: &AppState,
    caller: &Caller,
    req: NewPrincipal,
) -> ApiResult<Principal> {
    authorize(
        state,
        caller,
        Action::CreatePrincipal,
        &Resource::Mesh,
        "create principals",
    )?;
    names::validate_principal(&req.name)?;
    if let Some(login) = &req.login {
        validate_login(login)?;
    }
    let principal = Principal {
        id: new_id(),
        display_name: req.display_name.unwrap_or_else(|| req.name.clone()),
        name: req.name,
        kind: req.kind,
        is_admin: req.admin,
        created_at: Utc::now(),
        login: req.login,
        active: true,
    };
    let event = audit(caller, "principal.create", "principal", principal.id).with_detail(
        json!({"name": principal.name, "kind": principal.kind, "admin": principal.is_admin, "login": principal.login}),
    );
    state.store.create_principal(&principal, event).await?;
    Ok(principal)
}

pub async fn set_group_member(
    state: &AppState,
    caller: &Caller,
    group: &str,
    member: &str,
    add: bool,
) -> ApiResult<()> {
    authorize(
        state,
        caller,
        Action::CreatePrincipal,
        &Resource::Mesh,
        "change group membership",
    )?;
    let g = principal_by_name(state, group).await?;
    if g.kind != PrincipalKind::Group {
        return Err(ApiError::bad_request(format!(
            "`{group}` is a {}, not a group",
            g.kind
        )));
    }
    let m = principal_by_name(state, member).await?;
    let action = if add {
        "group.add_member"
    } else {
        "group.remove_member"
    };
    let event = audit(caller, action, "principal", g.id).with_detail(json!({"member": member}));
    if add {
        state.store.add_group_member(g.id, m.id, event).await?;
    } else {
        state.store.remove_group_member(g.id, m.id, event).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewToken {
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Days until expiry; 0 = never. Default 90.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// What the token authenticates: `api` (default; everything but SCIM) or `scim` (the SCIM
    /// provisioning endpoints at `/scim/v2` and nothing else; admins only).
    #[serde(default)]
    pub scope: Option<TokenScope>,
}

/// A new API token (`mgt_…`), shown once. Named `CreatedApiToken` in the OpenAPI document:
/// a recipient's new token (`sharing::recipients::CreatedToken`) is another schema.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CreatedApiToken)]
pub struct CreatedToken {
    pub id: Uuid,
    /// Shown only here, once.
    pub token: String,
    pub principal: String,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    /// What it authenticates (`scim`: the SCIM endpoints only).
    pub scope: TokenScope,
}

/// Issues an `api` token for `principal` without an authorization check: for `init`, the
/// quickstart and the API handler after its own check.
pub async fn issue_token(
    state: &AppState,
    actor: Option<Uuid>,
    principal: &Principal,
    name: &str,
    expires_in_days: u32,
) -> ApiResult<CreatedToken> {
    issue_scoped_token(
        state,
        actor,
        principal,
        name,
        expires_in_days,
        TokenScope::Api,
    )
    .await
}

/// [`issue_token`] with a scope.
pub async fn issue_scoped_token(
    state: &AppState,
    actor: Option<Uuid>,
    principal: &Principal,
    name: &str,
    expires_in_days: u32,
    scope: TokenScope,
) -> ApiResult<CreatedToken> {
    let secret = token::generate();
    let now = Utc::now();
    let record = ApiToken {
        id: new_id(),
        principal_id: principal.id,
        name: name.to_string(),
        token_hash: token::hash(&secret),
        created_at: now,
        expires_at: (expires_in_days > 0).then(|| now + Duration::days(i64::from(expires_in_days))),
        revoked_at: None,
        scope,
    };
    let event = NewAuditEvent::new(actor, "token.create", "token", Some(record.id.to_string()))
        .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok())
        .with_detail(
            json!({"principal": principal.name, "name": name, "expires_at": record.expires_at,
                   "scope": scope}),
        );
    state.store.create_token(&record, event).await?;
    Ok(CreatedToken {
        id: record.id,
        token: secret,
        principal: principal.name.clone(),
        expires_at: record.expires_at,
        scope,
    })
}

pub async fn create_token(
    state: &AppState,
    caller: &Caller,
    req: NewToken,
) -> ApiResult<CreatedToken> {
    let principal = match &req.principal {
        Some(name) => principal_by_name(state, name).await?,
        None => caller.principal.clone(),
    };
    authorize(
        state,
        caller,
        Action::CreateToken,
        &Resource::Principal { id: principal.id },
        &format!("create tokens for `{}`", principal.name),
    )?;
    if principal.kind == PrincipalKind::Group {
        return Err(ApiError::bad_request(
            "groups cannot hold tokens; create a token for a user or service principal",
        ));
    }
    let scope = req.scope.unwrap_or_default();
    if scope == TokenScope::Scim {
        // A SCIM token provisions and deactivates every user and group: admins only.
        authorize(
            state,
            caller,
            Action::CreatePrincipal,
            &Resource::Mesh,
            "create SCIM provisioning tokens (admins only)",
        )?;
        if !principal.active {
            return Err(ApiError::bad_request(format!(
                "principal `{}` is deactivated: a token of it would authenticate nothing",
                principal.name
            )));
        }
    }
    let name = req.name.unwrap_or_else(|| "api".to_string());
    if name.len() > 200 {
        return Err(ApiError::bad_request("token name is longer than 200 bytes"));
    }
    let days = req.expires_in_days.unwrap_or(90);
    if days > 3650 {
        return Err(ApiError::bad_request(
            "`expires_in_days` must be at most 3650 (0 = never)",
        ));
    }
    issue_scoped_token(state, Some(caller.id()), &principal, &name, days, scope).await
}

pub async fn list_tokens(
    state: &AppState,
    caller: &Caller,
    principal: Option<&str>,
) -> ApiResult<Vec<ApiToken>> {
    let principal = match principal {
        Some(name) => principal_by_name(state, name).await?,
        None => caller.principal.clone(),
    };
    authorize(
        state,
        caller,
        Action::ListTokens,
        &Resource::Principal { id: principal.id },
        &format!("list the tokens of `{}`", principal.name),
    )?;
    Ok(state.store.list_tokens(principal.id).await?)
}

/// `DELETE /tokens/{id}`: what is not a uuid names no token (404).
pub async fn revoke_token(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApiToken> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found("token", id))?;
    let record = state
        .store
        .get_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("token", &id.to_string()))?;
    let resource = Resource::Principal {
        id: record.principal_id,
    };
    if !state
        .authz
        .is_allowed(&caller.actor, Action::RevokeToken, &resource)
    {
        // Someone else's token: do not confirm it exists.
        return Err(ApiError::not_found("token", &id.to_string()));
    }
    let event = audit(caller, "token.revoke", "token", id);
    state.store.revoke_token(id, Utc::now(), event).await?;
    state
        .store
        .get_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("token", &id.to_string()))
}

/// `GET /principals`: the mesh's principals, for whoever may view the mesh.
pub async fn list_principals(state: &AppState, caller: &Caller) -> ApiResult<Vec<Principal>> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list principals",
    )?;
    Ok(state.store.list_principals().await?)
}

/// `GET /principals/{name}`.
pub async fn get_principal(state: &AppState, caller: &Caller, name: &str) -> ApiResult<Principal> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view principals",
    )?;
    principal_by_name(state, name).await
}

/// `GET /principals/{group}/members`: the group's members (whoever may view the mesh), by
/// name.
pub async fn list_group_members(
    state: &AppState,
    caller: &Caller,
    group: &str,
) -> ApiResult<Vec<Principal>> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view group members",
    )?;
    let group = principal_by_name(state, group).await?;
    if group.kind != meshgate_core::model::PrincipalKind::Group {
        return Err(ApiError::bad_request(format!(
            "`{}` is a {}, not a group",
            group.name, group.kind
        )));
    }
    let mut members = Vec::new();
    for id in state.store.group_members(group.id).await? {
        if let Some(p) = state.store.get_principal(id).await? {
            members.push(p);
        }
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(members)
}

/// Who the caller is: its principal, teams (with role) and groups.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub principal: Principal,
    pub teams: Vec<TeamRoleView>,
    pub groups: Vec<String>,
}

/// One team the caller belongs to, and the role it has there.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamRoleView {
    /// `domain.team`.
    pub team: String,
    pub role: TeamRole,
}

/// `GET /whoami`: any caller, credentials included.
pub async fn whoami(state: &AppState, caller: Caller) -> ApiResult<WhoAmI> {
    let mut teams = Vec::new();
    for m in &caller.actor.teams {
        teams.push(TeamRoleView {
            team: crate::views::qualified_team(state, m.team_id).await?,
            role: m.role,
        });
    }
    let mut groups = Vec::new();
    for g in &caller.actor.groups {
        groups.push(crate::views::name_of_principal(state, *g).await?);
    }
    Ok(WhoAmI {
        principal: caller.principal,
        teams,
        groups,
    })
}
