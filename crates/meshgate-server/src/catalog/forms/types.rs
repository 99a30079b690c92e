//! Metadata form types: typed fields, versioned by revision. A revision never breaks a form
//! filled under an earlier one (each form keeps the revision it was checked against).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::catalog::{self as model, FormField, FormType};
use meshgate_core::names;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::{audit, authorize};
use crate::state::AppState;

/// The routes of form types, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/form-types", get(list_form_types).post(create_form_type))
        .route(
            "/form-types/{name}",
            get(get_form_type)
                .put(revise_form_type)
                .delete(delete_form_type),
        )
        .route("/form-types/{name}/revisions/{revision}", get(get_revision))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewFormType {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub fields: Vec<FormField>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct FormTypeRevisionBody {
    pub description: Option<String>,
    pub fields: Vec<FormField>,
}

pub(super) fn check_description(description: &str) -> ApiResult<()> {
    if description.len() > model::MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "description: longer than {} bytes",
            model::MAX_TEXT
        )));
    }
    Ok(())
}

pub(super) async fn form_type_by_name(state: &AppState, name: &str) -> ApiResult<FormType> {
    state
        .store
        .get_form_type_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("form type", name))
}

fn manage_catalog(state: &AppState, caller: &Caller, what: &str) -> ApiResult<()> {
    authorize(state, caller, Action::ManageCatalog, &Resource::Mesh, what)
}

#[utoipa::path(
    get,
    path = "/form-types",
    operation_id = "list_form_types",
    tag = "form-types",
    responses(
        (status = 200, description = "OK", body = Vec<FormType>),
        crate::error::ApiErrors,
    ),
)]
async fn list_form_types(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<FormType>>> {
    Ok(Json(list_types(&state, &caller).await?))
}

/// Every form type, for whoever may view the mesh.
async fn list_types(state: &AppState, caller: &Caller) -> ApiResult<Vec<FormType>> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list form types",
    )?;
    Ok(state.store.list_form_types().await?)
}

#[utoipa::path(
    get,
    path = "/form-types/{name}",
    operation_id = "get_form_type",
    tag = "form-types",
    params(
        ("name" = String, Path, description = "Name", example = "ownership"),
    ),
    responses(
        (status = 200, description = "OK", body = FormType),
        crate::error::ApiErrors,
    ),
)]
async fn get_form_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<FormType>> {
    Ok(Json(form_type(&state, &caller, &name).await?))
}

/// One form type, for whoever may view the mesh.
async fn form_type(state: &AppState, caller: &Caller, name: &str) -> ApiResult<FormType> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view form types",
    )?;
    form_type_by_name(state, name).await
}

#[utoipa::path(
    get,
    path = "/form-types/{name}/revisions/{revision}",
    operation_id = "get_revision",
    tag = "form-types",
    params(
        ("name" = String, Path, description = "Name", example = "ownership"),
        ("revision" = String, Path, description = "Form type revision", example = "1"),
    ),
    responses(
        (status = 200, description = "OK", body = model::FormTypeRevision),
        crate::error::ApiErrors,
    ),
)]
async fn get_revision(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, revision)): Path<(String, String)>,
) -> ApiResult<Json<model::FormTypeRevision>> {
    Ok(Json(
        find_revision(&state, &caller, &name, &revision).await?,
    ))
}

/// One revision of a form type (404 for a revision that is not a number or does not exist).
async fn find_revision(
    state: &AppState,
    caller: &Caller,
    name: &str,
    revision: &str,
) -> ApiResult<model::FormTypeRevision> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view form types",
    )?;
    let ft = form_type_by_name(state, name).await?;
    let not_found = || ApiError::not_found("form type revision", &format!("{name}/{revision}"));
    let n: i64 = revision.parse().map_err(|_| not_found())?;
    state
        .store
        .form_type_revision(ft.id, n)
        .await?
        .ok_or_else(not_found)
}

#[utoipa::path(
    post,
    path = "/form-types",
    operation_id = "create_form_type",
    tag = "form-types",
    request_body = NewFormType,
    responses(
        (status = 201, description = "Created", body = FormType),
        crate::error::ApiErrors,
    ),
)]
async fn create_form_type(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewFormType>,
) -> ApiResult<(StatusCode, Json<FormType>)> {
    let ft = create_type(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(ft)))
}

/// Defines a form type at revision 1 (catalog managers).
async fn create_type(state: &AppState, caller: &Caller, req: NewFormType) -> ApiResult<FormType> {
    manage_catalog(state, caller, "define metadata form types")?;
    names::validate("form type name", &req.name)?;
    check_description(&req.description)?;
    model::validate_fields(&req.fields)?;
    check_glossaries(state, &req.fields).await?;
    let now = Utc::now();
    let ft = FormType {
        id: Uuid::now_v7(),
        name: req.name,
        description: req.description,
        revision: 1,
        fields: req.fields,
        created_by: caller.id(),
        created_at: now,
        updated_at: now,
    };
    let event = audit(caller, "form_type.create", "form_type", ft.id)
        .with_detail(json!({"name": ft.name, "fields": ft.fields.len()}));
    state.store.create_form_type(&ft, event).await?;
    Ok(ft)
}

/// Glossary-term fields restricted to a glossary must name one that exists.
async fn check_glossaries(state: &AppState, fields: &[FormField]) -> ApiResult<()> {
    for f in fields {
        if let Some(g) = &f.glossary
            && state.store.get_glossary_by_name(g).await?.is_none()
        {
            return Err(ApiError::bad_request(format!(
                "fields: field `{}` names glossary `{g}`, which does not exist",
                f.name
            )));
        }
    }
    Ok(())
}

/// A new revision: forms filled under earlier revisions keep the revision they were checked
/// against, so nothing filled before breaks.
#[utoipa::path(
    put,
    path = "/form-types/{name}",
    operation_id = "revise_form_type",
    tag = "form-types",
    params(
        ("name" = String, Path, description = "Name", example = "ownership"),
    ),
    request_body = FormTypeRevisionBody,
    responses(
        (status = 200, description = "OK", body = FormType),
        crate::error::ApiErrors,
    ),
)]
async fn revise_form_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<FormTypeRevisionBody>,
) -> ApiResult<Json<FormType>> {
    Ok(Json(revise_type(&state, &caller, &name, req).await?))
}

/// Revises a form type (catalog managers); unchanged fields and description change nothing.
async fn revise_type(
    state: &AppState,
    caller: &Caller,
    name: &str,
    req: FormTypeRevisionBody,
) -> ApiResult<FormType> {
    manage_catalog(state, caller, "change metadata form types")?;
    let current = form_type_by_name(state, name).await?;
    let description = req
        .description
        .unwrap_or_else(|| current.description.clone());
    check_description(&description)?;
    model::validate_fields(&req.fields)?;
    check_glossaries(state, &req.fields).await?;
    if req.fields == current.fields && description == current.description {
        return Ok(current);
    }
    let revised = FormType {
        revision: current.revision + 1,
        description,
        fields: req.fields,
        updated_at: Utc::now(),
        created_by: caller.id(),
        ..current
    };
    let event = audit(caller, "form_type.revise", "form_type", revised.id)
        .with_detail(json!({"name": revised.name, "revision": revised.revision}));
    state.store.revise_form_type(&revised, event).await?;
    form_type_by_name(state, name).await
}

#[utoipa::path(
    delete,
    path = "/form-types/{name}",
    operation_id = "delete_form_type",
    tag = "form-types",
    params(
        ("name" = String, Path, description = "Name", example = "ownership"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_form_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    delete_type(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a form type (catalog managers).
async fn delete_type(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    manage_catalog(state, caller, "delete metadata form types")?;
    let ft = form_type_by_name(state, name).await?;
    let event =
        audit(caller, "form_type.delete", "form_type", ft.id).with_detail(json!({"name": ft.name}));
    state.store.delete_form_type(ft.id, event).await?;
    Ok(())
}
