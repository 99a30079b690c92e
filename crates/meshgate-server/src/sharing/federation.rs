//! Delta Sharing OIDC federation (docs/design/SIGN_IN.md §Delta Sharing federation): an
//! admin binds a recipient to a subject of a trusted identity provider; that provider's
//! tokens for the subject then authenticate the recipient on the Delta Sharing endpoints
//! (`signin::principal_of_jwt` with `Surface::Sharing`) instead of a meshgate recipient
//! token, and open nothing else.
//!
//! `GET|PUT|DELETE /api/v1/recipients/{principal}/federation`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{PrincipalKind, RecipientFederation};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Empty, JsonBody};
use crate::lookup::{authorize, principal_by_name};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/recipients/{principal}/federation",
        get(get_federation)
            .put(put_federation)
            .delete(delete_federation),
    )
}

/// The subject a recipient is bound to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FederationBody {
    /// A trusted issuer (`[auth.oidc]`), exactly as configured.
    pub issuer: String,
    /// What its tokens name the recipient by: the issuer's user claim (`sub` by default), or
    /// the client id of a client-credentials token.
    pub subject: String,
}

#[utoipa::path(
    get,
    path = "/recipients/{principal}/federation",
    operation_id = "get_federation",
    tag = "recipients",
    params(("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63)),
    responses((status = 200, description = "OK", body = RecipientFederation), crate::error::ApiErrors),
)]
pub(crate) async fn get_federation(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<RecipientFederation>> {
    find(&state, &caller, &name).await.map(Json)
}

#[utoipa::path(
    put,
    path = "/recipients/{principal}/federation",
    operation_id = "put_federation",
    tag = "recipients",
    params(("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63)),
    request_body = FederationBody,
    responses((status = 200, description = "OK", body = RecipientFederation), crate::error::ApiErrors),
)]
pub(crate) async fn put_federation(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<FederationBody>,
) -> ApiResult<Json<RecipientFederation>> {
    bind(&state, &caller, &name, body).await.map(Json)
}

#[utoipa::path(
    delete,
    path = "/recipients/{principal}/federation",
    operation_id = "delete_federation",
    tag = "recipients",
    params(("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63)),
    responses((status = 200, description = "OK", body = Empty), crate::error::ApiErrors),
)]
pub(crate) async fn delete_federation(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    unbind(&state, &caller, &name)
        .await
        .map(|()| Json(Empty {}))
}

/// The recipient named `name`, if the caller may manage its federation (mesh admins, as
/// for IP allow-lists).
async fn recipient(
    state: &AppState,
    caller: &Caller,
    name: &str,
    doing: &str,
) -> ApiResult<meshgate_core::model::Principal> {
    let p = principal_by_name(state, name).await?;
    authorize(
        state,
        caller,
        Action::CreatePrincipal,
        &Resource::Mesh,
        &format!("{doing} of recipient `{}`", p.name),
    )?;
    Ok(p)
}

async fn find(state: &AppState, caller: &Caller, name: &str) -> ApiResult<RecipientFederation> {
    let p = recipient(state, caller, name, "read the federation").await?;
    state
        .store
        .recipient_federation(p.id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "recipient `{}` is not bound to an identity provider",
                    p.name
                ),
            )
        })
}

async fn bind(
    state: &AppState,
    caller: &Caller,
    name: &str,
    body: FederationBody,
) -> ApiResult<RecipientFederation> {
    let p = recipient(state, caller, name, "bind the federation").await?;
    if p.kind == PrincipalKind::Group {
        return Err(ApiError::bad_request(
            "a group cannot be a Delta Sharing recipient; bind a user or a service principal",
        ));
    }
    if !state
        .signin
        .verifier()
        .issuers()
        .any(|c| c.issuer == body.issuer)
    {
        return Err(ApiError::bad_request(format!(
            "`{}` is not a trusted issuer here; add it under [auth.oidc] (with sharing_only = true for a partner's identity provider)",
            body.issuer.chars().take(200).collect::<String>()
        )));
    }
    crate::identity::validate_login(&body.subject)?;
    let federation = RecipientFederation {
        principal_id: p.id,
        issuer: body.issuer,
        subject: body.subject,
        // As the store keeps it (microseconds), so the answer equals a later read.
        created_at: meshgate_store::truncate_to_micros(Utc::now()),
    };
    let audit = crate::lookup::audit(caller, "sharing.federation.bind", "principal", p.id)
        .with_detail(json!({"recipient": p.name, "issuer": federation.issuer, "subject": federation.subject}));
    state
        .store
        .put_recipient_federation(&federation, audit)
        .await?;
    Ok(federation)
}

async fn unbind(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    let p = recipient(state, caller, name, "remove the federation").await?;
    let audit = crate::lookup::audit(caller, "sharing.federation.unbind", "principal", p.id)
        .with_detail(json!({"recipient": p.name}));
    state.store.delete_recipient_federation(p.id, audit).await?;
    Ok(())
}
