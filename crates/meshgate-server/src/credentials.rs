//! Short-lived, tenant-scoped credentials (the token vending machine of docs/design/ACCESS.md
//! §Tenant isolation).
//!
//! A principal asks for a credential with a **session policy** (tables, actions, a key
//! prefix, an expiry ≤ 12 h). It is granted only within the principal's own rights, so a
//! credential can never widen access. The token is signed (HMAC-SHA-256 with the mesh's key,
//! shared by all replicas through the store): verification needs no store round trip, and
//! revocation is checked against an in-memory list each replica keeps in step through the
//! change feed (`replicas::feed`), and updates at once for revocations it makes itself.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use chrono::{Duration, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::credential::{
    Claims, Credential, CredentialAction, DEFAULT_TTL, MAX_TTL, SessionPolicy,
};
use meshgate_core::model::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::lookup::{audit, authorize};
use crate::state::AppState;

pub mod keys;
pub use keys::CredentialKeys;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/credentials", get(list).post(create))
        .route("/credentials/{id}", delete(revoke))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct CredentialRequest {
    /// `domain.product.table` names.
    pub tables: Vec<String>,
    pub actions: Vec<CredentialAction>,
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Lifetime in seconds (default 3600, at most 43200).
    #[serde(default)]
    pub expires_in: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedCredential {
    #[serde(flatten)]
    pub credential: Credential,
    /// The token, shown once: `Authorization: Bearer <token>`.
    pub token: String,
}

/// Fails unless `caller` holds every right `policy` asks for, saying which part is missing.
async fn check_within_rights(
    state: &AppState,
    caller: &Caller,
    policy: &SessionPolicy,
) -> ApiResult<()> {
    let access = crate::snapshot::of(state, caller).await?;
    let mut unknown = Vec::new();
    for name in &policy.tables {
        let parts: Vec<&str> = name.split('.').collect();
        let [d, p, t] = parts.as_slice() else {
            return Err(ApiError::bad_request(format!(
                "tables: `{name}` is not `domain.product.table`"
            )));
        };
        let Ok((_, product)) = crate::lookup::product_by_name(state, caller, d, p).await else {
            unknown.push(name.clone());
            continue;
        };
        let tables = state.store.list_tables(product.id).await?;
        let Some(table) = tables.iter().find(|x| x.name == *t) else {
            unknown.push(name.clone());
            continue;
        };
        let readable = access.find(d, p, t).is_some();
        if policy.actions.contains(&CredentialAction::Read) && !readable {
            return Err(ApiError::forbidden(format!(
                "the session policy asks to read `{name}`, which principal `{}` may not read",
                caller.principal.name
            )));
        }
        if policy.actions.contains(&CredentialAction::Write)
            && !state.authz.is_allowed(
                &caller.actor,
                Action::AppendData,
                &crate::lookup::product_resource(&product),
            )
        {
            return Err(ApiError::forbidden(format!(
                "the session policy asks to write `{name}`, which principal `{}` may not write",
                caller.principal.name
            )));
        }
        if let Some(prefix) = &policy.key_prefix {
            let Some(tenancy) = state.store.tenancy(table.id).await? else {
                return Err(ApiError::bad_request(format!(
                    "key_prefix: `{name}` has no tenant key, so a key prefix cannot scope it"
                )));
            };
            // A prefix is compared at the separator (a whole tenant, or a tenant and the
            // separator); one that starts with the separator names no tenant.
            if let Some(sep) = tenancy.separator.as_deref().filter(|s| !s.is_empty())
                && prefix.starts_with(sep)
            {
                return Err(ApiError::bad_request(format!(
                    "key_prefix: `{prefix}` starts with the tenant separator `{sep}` of `{name}`, so it names no tenant; give a whole tenant (`tenant1`, which never covers `tenant10{sep}…`) or a tenant and the separator (`tenant1{sep}`)"
                )));
            }
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "tables: unknown table(s) {}",
            unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/credentials",
    operation_id = "credentials_create",
    tag = "credentials",
    request_body = CredentialRequest,
    responses(
        (status = 201, description = "Created", body = CreatedCredential),
        crate::error::ApiErrors,
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CredentialRequest>,
) -> ApiResult<(StatusCode, Json<CreatedCredential>)> {
    let created = create_credential(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Signs a credential for the caller under the session policy asked for, once it is within the
/// caller's rights (a policy beyond them is refused and audited as denied).
async fn create_credential(
    state: &AppState,
    caller: &Caller,
    req: CredentialRequest,
) -> ApiResult<CreatedCredential> {
    authorize(
        state,
        caller,
        Action::CreateToken,
        &Resource::Principal { id: caller.id() },
        "create credentials",
    )?;
    if req.tables.is_empty() {
        return Err(ApiError::bad_request("tables: name at least one table"));
    }
    if req.actions.is_empty() {
        return Err(ApiError::bad_request(
            "actions: name at least one of `read`, `write`",
        ));
    }
    if let Some(p) = &req.key_prefix
        && p.is_empty()
    {
        return Err(ApiError::bad_request(
            "key_prefix: must not be empty (omit it for no key condition)",
        ));
    }
    let ttl = match req.expires_in {
        None => DEFAULT_TTL,
        Some(s) if s > 0 && s <= MAX_TTL.num_seconds() => Duration::seconds(s),
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "expires_in: {s} s is outside 1 s … {} s (12 h)",
                MAX_TTL.num_seconds()
            )));
        }
    };
    let mut actions = req.actions.clone();
    actions.sort();
    actions.dedup();
    let policy = SessionPolicy {
        tables: req.tables.clone(),
        actions,
        key_prefix: req.key_prefix.clone(),
    };
    if let Err(e) = check_within_rights(state, caller, &policy).await {
        if e.status == StatusCode::FORBIDDEN {
            let event = audit(caller, "credential.create", "principal", caller.id())
                .with_outcome(Outcome::Denied)
                .with_detail(json!({"policy": policy, "reason": e.message}));
            state.store.append_audit(event).await?;
        }
        return Err(e);
    }
    let now = Utc::now();
    let record = Credential {
        id: Uuid::now_v7(),
        principal_id: caller.id(),
        policy: policy.clone(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    };
    let claims = Claims {
        id: record.id,
        principal_id: record.principal_id,
        policy,
        issued_at: now,
        expires_at: record.expires_at,
    };
    let token = state.credentials.sign(&claims)?;
    let event = audit(caller, "credential.create", "credential", record.id)
        .with_detail(json!({"policy": record.policy, "expires_at": record.expires_at}));
    state.store.create_credential(&record, event).await?;
    Ok(CreatedCredential {
        credential: record,
        token,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    principal: Option<String>,
}

#[utoipa::path(
    get,
    path = "/credentials",
    operation_id = "credentials_list",
    tag = "credentials",
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<Credential>),
        crate::error::ApiErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Vec<Credential>>> {
    Ok(Json(list_credentials(&state, &caller, q).await?))
}

/// The credentials of a principal (the caller's own by default), for whoever may list its tokens.
async fn list_credentials(
    state: &AppState,
    caller: &Caller,
    q: ListQuery,
) -> ApiResult<Vec<Credential>> {
    let principal = match q.principal {
        Some(name) => crate::lookup::principal_by_name(state, &name).await?,
        None => caller.principal.clone(),
    };
    authorize(
        state,
        caller,
        Action::ListTokens,
        &Resource::Principal { id: principal.id },
        "list these credentials",
    )?;
    Ok(state.store.list_credentials(principal.id).await?)
}

#[utoipa::path(
    delete,
    path = "/credentials/{id}",
    operation_id = "revoke",
    tag = "credentials",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = Credential),
        crate::error::ApiErrors,
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Credential>> {
    Ok(Json(revoke_credential(&state, &caller, &id).await?))
}

/// Revokes a credential (at once on this replica), for whoever may revoke the principal's tokens.
async fn revoke_credential(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Credential> {
    let parsed = Uuid::parse_str(id).map_err(|_| ApiError::not_found("credential", id))?;
    let found = state
        .store
        .get_credential(parsed)
        .await?
        .ok_or_else(|| ApiError::not_found("credential", id))?;
    authorize(
        state,
        caller,
        Action::RevokeToken,
        &Resource::Principal {
            id: found.principal_id,
        },
        "revoke this credential",
    )?;
    let now = Utc::now();
    let event = audit(caller, "credential.revoke", "credential", found.id);
    state.store.revoke_credential(found.id, now, event).await?;
    state.credentials.mark_revoked(found.id);
    let after = state
        .store
        .get_credential(found.id)
        .await?
        .ok_or_else(|| ApiError::not_found("credential", id))?;
    Ok(after)
}
