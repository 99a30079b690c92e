//! Metadata form types (typed, versioned), the forms filled from them for products, tables
//! and share requests, and the enforcement rules that require forms for publishing a
//! product or requesting access to one.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use chrono::{DateTime, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::catalog::{
    self as model, FormField, FormTargetKind, FormType, ListingState, MetadataForm, Reference,
    Rule, RuleAction,
};
use meshgate_core::names;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::glossary;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup;
use crate::lookup::{audit, authorize, editable_product, table_of};
use crate::state::AppState;

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
        .route("/products/{domain}/{product}/forms", get(product_forms))
        .route(
            "/products/{domain}/{product}/forms/{form}",
            put(put_product_form).delete(delete_product_form),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/forms",
            get(table_forms),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/forms/{form}",
            put(put_table_form).delete(delete_table_form),
        )
        .route("/shares/{id}/forms", get(share_forms))
        .route(
            "/shares/{id}/forms/{form}",
            put(put_share_form).delete(delete_share_form),
        )
        .route("/domains/{domain}/rules", get(list_rules).post(create_rule))
        .route("/domains/{domain}/rules/{id}", delete(delete_rule))
}

// ----- form types -----

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

fn check_description(description: &str) -> ApiResult<()> {
    if description.len() > model::MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "description: longer than {} bytes",
            model::MAX_TEXT
        )));
    }
    Ok(())
}

async fn form_type_by_name(state: &AppState, name: &str) -> ApiResult<FormType> {
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
        (status = 200, description = "OK: `Vec<FormType>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_form_types(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<FormType>>> {
    authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list form types",
    )?;
    Ok(Json(state.store.list_form_types().await?))
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
        (status = 200, description = "OK: `FormType`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_form_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<FormType>> {
    authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view form types",
    )?;
    Ok(Json(form_type_by_name(&state, &name).await?))
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
        (status = 200, description = "OK: `FormTypeRevision`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn get_revision(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, revision)): Path<(String, String)>,
) -> ApiResult<Json<model::FormTypeRevision>> {
    authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view form types",
    )?;
    let ft = form_type_by_name(&state, &name).await?;
    let not_found = || ApiError::not_found("form type revision", &format!("{name}/{revision}"));
    let n: i64 = revision.parse().map_err(|_| not_found())?;
    Ok(Json(
        state
            .store
            .form_type_revision(ft.id, n)
            .await?
            .ok_or_else(not_found)?,
    ))
}

#[utoipa::path(
    post,
    path = "/form-types",
    operation_id = "create_form_type",
    tag = "form-types",
    request_body = NewFormType,
    responses(
        (status = 201, description = "Created: `FormType`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_form_type(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewFormType>,
) -> ApiResult<(StatusCode, Json<FormType>)> {
    manage_catalog(&state, &caller, "define metadata form types")?;
    names::validate("form type name", &req.name)?;
    check_description(&req.description)?;
    model::validate_fields(&req.fields)?;
    check_glossaries(&state, &req.fields).await?;
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
    let event = audit(&caller, "form_type.create", "form_type", ft.id)
        .with_detail(json!({"name": ft.name, "fields": ft.fields.len()}));
    state.store.create_form_type(&ft, event).await?;
    Ok((StatusCode::CREATED, Json(ft)))
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
        (status = 200, description = "OK: `FormType`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn revise_form_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<FormTypeRevisionBody>,
) -> ApiResult<Json<FormType>> {
    manage_catalog(&state, &caller, "change metadata form types")?;
    let current = form_type_by_name(&state, &name).await?;
    let description = req
        .description
        .unwrap_or_else(|| current.description.clone());
    check_description(&description)?;
    model::validate_fields(&req.fields)?;
    check_glossaries(&state, &req.fields).await?;
    if req.fields == current.fields && description == current.description {
        return Ok(Json(current));
    }
    let revised = FormType {
        revision: current.revision + 1,
        description,
        fields: req.fields,
        updated_at: Utc::now(),
        created_by: caller.id(),
        ..current
    };
    let event = audit(&caller, "form_type.revise", "form_type", revised.id)
        .with_detail(json!({"name": revised.name, "revision": revised.revision}));
    state.store.revise_form_type(&revised, event).await?;
    form_type_by_name(&state, &name).await.map(Json)
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
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_form_type(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    manage_catalog(&state, &caller, "delete metadata form types")?;
    let ft = form_type_by_name(&state, &name).await?;
    let event = audit(&caller, "form_type.delete", "form_type", ft.id)
        .with_detail(json!({"name": ft.name}));
    state.store.delete_form_type(ft.id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- filling forms -----

/// Checks values for the latest revision of form type `name`: types, required fields, and
/// that glossary terms and principals they name exist. Returns the form type and the values
/// to store.
pub async fn fill(
    state: &AppState,
    name: &str,
    values: &BTreeMap<String, Value>,
) -> ApiResult<(FormType, BTreeMap<String, Value>)> {
    let ft = state
        .store
        .get_form_type_by_name(name)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("forms: unknown form type `{name}`")))?;
    let (kept, refs) = model::check_values(&ft.name, &ft.fields, values)?;
    for r in refs {
        match r {
            Reference::Term {
                field,
                glossary: g,
                term,
                only_glossary,
            } => {
                let qualified = format!("{g}.{term}");
                let bad = |problem: String| {
                    ApiError::bad_request(format!("form `{name}` field `{field}`: {problem}"))
                };
                if let Some(only) = only_glossary.filter(|o| *o != g) {
                    return Err(bad(format!(
                        "`{qualified}` is not a term of glossary `{only}`"
                    )));
                }
                match glossary::find_term(state, &g, &term).await? {
                    None => return Err(bad(format!("unknown glossary term `{qualified}`"))),
                    Some((gl, t)) if !gl.enabled || !t.enabled => {
                        return Err(bad(format!("glossary term `{qualified}` is disabled")));
                    }
                    Some(_) => {}
                }
            }
            Reference::Principal { field, name: who } => {
                if state.store.get_principal_by_name(&who).await?.is_none() {
                    return Err(ApiError::bad_request(format!(
                        "form `{name}` field `{field}`: unknown principal `{who}`"
                    )));
                }
            }
        }
    }
    Ok((ft, kept))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct FormBody {
    pub values: BTreeMap<String, Value>,
}

/// A filled form as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FormView {
    pub form: String,
    pub target_kind: FormTargetKind,
    pub target_id: Uuid,
    /// The form type revision the values were filled under.
    pub revision: i64,
    /// The form type's latest revision.
    pub latest_revision: i64,
    pub values: BTreeMap<String, Value>,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn views(state: &AppState, forms: &[MetadataForm]) -> ApiResult<Vec<FormView>> {
    let types: HashMap<Uuid, FormType> = state
        .store
        .list_form_types()
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let mut out = Vec::new();
    for f in forms {
        let (form, latest) = types
            .get(&f.form_type_id)
            .map(|t| (t.name.clone(), t.revision))
            .unwrap_or_else(|| (f.form_type_id.to_string(), f.revision));
        out.push(FormView {
            form,
            target_kind: f.target_kind,
            target_id: f.target_id,
            revision: f.revision,
            latest_revision: latest,
            values: f.values.clone(),
            updated_by: crate::views::name_of_principal(state, f.updated_by).await?,
            updated_at: f.updated_at,
        });
    }
    out.sort_by(|a, b| a.form.cmp(&b.form));
    Ok(out)
}

/// What a form is being filled for, resolved and authorized.
struct Target {
    kind: FormTargetKind,
    id: Uuid,
    /// For product and table targets.
    product: Option<(
        meshgate_core::model::Domain,
        meshgate_core::model::DataProduct,
    )>,
    label: String,
}

async fn product_target(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
    table: Option<&str>,
    edit: bool,
) -> ApiResult<Target> {
    let (d, p) = if edit {
        editable_product(state, caller, domain, product).await?
    } else {
        crate::lookup::product_by_name(state, caller, domain, product).await?
    };
    let label = format!("{}.{}", d.name, p.name);
    Ok(match table {
        Some(t) => {
            let tbl = table_of(state, &d, &p, t).await?;
            Target {
                kind: FormTargetKind::Table,
                id: tbl.id,
                label: format!("{label}.{}", tbl.name),
                product: Some((d, p)),
            }
        }
        None => Target {
            kind: FormTargetKind::Product,
            id: p.id,
            label,
            product: Some((d, p)),
        },
    })
}

async fn share_target(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    edit: bool,
) -> ApiResult<Target> {
    let not_found = || ApiError::not_found("share", raw);
    let id = Uuid::parse_str(raw).map_err(|_| not_found())?;
    let (detail, resource) = crate::lookup::visible_share(state, caller, id).await?;
    if edit {
        if !state
            .authz
            .is_allowed(&caller.actor, Action::SubmitShare, &resource)
        {
            return Err(ApiError::forbidden(format!(
                "principal `{}` may not fill the forms of share `{id}`: only its requesters may",
                caller.principal.name
            )));
        }
        use meshgate_core::lifecycle::ShareStatus::{Draft, Rejected, Submitted};
        if !matches!(detail.share.status, Draft | Submitted | Rejected) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "share `{id}` is `{}`; its forms can change only while it is draft, submitted or rejected",
                    detail.share.status
                ),
            ));
        }
    }
    Ok(Target {
        kind: FormTargetKind::Share,
        id,
        product: None,
        label: format!("share {id}"),
    })
}

async fn list_forms(state: &AppState, target: &Target) -> ApiResult<Json<Vec<FormView>>> {
    let forms = state.store.forms_of(target.kind, target.id).await?;
    Ok(Json(views(state, &forms).await?))
}

async fn put_form(
    state: &AppState,
    caller: &Caller,
    target: Target,
    name: &str,
    body: FormBody,
) -> ApiResult<Json<FormView>> {
    let (ft, values) = fill(state, name, &body.values).await?;
    let form = MetadataForm {
        target_kind: target.kind,
        target_id: target.id,
        product_id: target.product.as_ref().map(|(_, p)| p.id),
        form_type_id: ft.id,
        revision: ft.revision,
        values,
        updated_by: caller.id(),
        updated_at: Utc::now(),
    };
    let event = audit(caller, "form.put", target.kind.as_str(), target.id).with_detail(json!({
        "target": target.label, "form": ft.name, "revision": ft.revision,
    }));
    state.store.put_form(&form, event).await?;
    let mut view = views(state, std::slice::from_ref(&form)).await?;
    view.pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("a stored form has no view"))
}

async fn delete_form(
    state: &AppState,
    caller: &Caller,
    target: Target,
    name: &str,
) -> ApiResult<StatusCode> {
    let ft = form_type_by_name(state, name).await?;
    // A published product keeps satisfying its publish rules: a form they require stays
    // until the product is unpublished.
    if let (FormTargetKind::Product, Some((d, p))) = (target.kind, &target.product)
        && p.listing == ListingState::Published
        && required(state, d.id, RuleAction::PublishProduct)
            .await?
            .iter()
            .any(|(id, _)| *id == ft.id)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "cannot remove form `{name}` from `{}`: a publish rule of its domain requires it while it is published; unpublish it first",
                target.label
            ),
        ));
    }
    let event = audit(caller, "form.delete", target.kind.as_str(), target.id)
        .with_detail(json!({"target": target.label, "form": ft.name}));
    state
        .store
        .delete_form(target.kind, target.id, ft.id, event)
        .await
        .map_err(|e| match e {
            meshgate_core::Error::NotFound { .. } => {
                ApiError::not_found("form", &format!("{name} of {}", target.label))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/forms",
    operation_id = "product_forms",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<FormView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn product_forms(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product)): Path<(String, String)>,
) -> ApiResult<Json<Vec<FormView>>> {
    let t = product_target(&state, &caller, &domain, &product, None, false).await?;
    list_forms(&state, &t).await
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/forms/{form}",
    operation_id = "put_product_form",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("form" = String, Path, description = "Form type name", example = "ownership"),
    ),
    request_body = FormBody,
    responses(
        (status = 200, description = "OK", body = FormView),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_product_form(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, form)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<FormBody>,
) -> ApiResult<Json<FormView>> {
    let t = product_target(&state, &caller, &domain, &product, None, true).await?;
    put_form(&state, &caller, t, &form, body).await
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/forms/{form}",
    operation_id = "delete_product_form",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("form" = String, Path, description = "Form type name", example = "ownership"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_product_form(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, form)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let t = product_target(&state, &caller, &domain, &product, None, true).await?;
    delete_form(&state, &caller, t, &form).await
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/forms",
    operation_id = "table_forms",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<FormView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn table_forms(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table)): Path<(String, String, String)>,
) -> ApiResult<Json<Vec<FormView>>> {
    let t = product_target(&state, &caller, &domain, &product, Some(&table), false).await?;
    list_forms(&state, &t).await
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/forms/{form}",
    operation_id = "put_table_form",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("form" = String, Path, description = "Form type name", example = "ownership"),
    ),
    request_body = FormBody,
    responses(
        (status = 200, description = "OK", body = FormView),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_table_form(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, form)): Path<(String, String, String, String)>,
    JsonBody(body): JsonBody<FormBody>,
) -> ApiResult<Json<FormView>> {
    let t = product_target(&state, &caller, &domain, &product, Some(&table), true).await?;
    put_form(&state, &caller, t, &form, body).await
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/tables/{table}/forms/{form}",
    operation_id = "delete_table_form",
    tag = "products",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("product" = String, Path, description = "Product name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("table" = String, Path, description = "Table name", example = "orders", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("form" = String, Path, description = "Form type name", example = "ownership"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_table_form(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, product, table, form)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let t = product_target(&state, &caller, &domain, &product, Some(&table), true).await?;
    delete_form(&state, &caller, t, &form).await
}

#[utoipa::path(
    get,
    path = "/shares/{id}/forms",
    operation_id = "share_forms",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<FormView>),
        crate::openapi::ApiErrors,
    ),
)]
async fn share_forms(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<FormView>>> {
    let t = share_target(&state, &caller, &id, false).await?;
    list_forms(&state, &t).await
}

#[utoipa::path(
    put,
    path = "/shares/{id}/forms/{form}",
    operation_id = "put_share_form",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        ("form" = String, Path, description = "Form type name", example = "ownership"),
    ),
    request_body = FormBody,
    responses(
        (status = 200, description = "OK", body = FormView),
        crate::openapi::ApiErrors,
    ),
)]
async fn put_share_form(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, form)): Path<(String, String)>,
    JsonBody(body): JsonBody<FormBody>,
) -> ApiResult<Json<FormView>> {
    let t = share_target(&state, &caller, &id, true).await?;
    put_form(&state, &caller, t, &form, body).await
}

#[utoipa::path(
    delete,
    path = "/shares/{id}/forms/{form}",
    operation_id = "delete_share_form",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        ("form" = String, Path, description = "Form type name", example = "ownership"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_share_form(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, form)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let t = share_target(&state, &caller, &id, true).await?;
    delete_form(&state, &caller, t, &form).await
}

// ----- enforcement rules -----

/// Every domain's parent, for rule inheritance.
pub async fn domain_parents(state: &AppState) -> ApiResult<HashMap<Uuid, Option<Uuid>>> {
    Ok(state
        .store
        .list_domains()
        .await?
        .into_iter()
        .map(|d| (d.id, d.parent_id))
        .collect())
}

/// The form types (id, name) the rules for `action` on a product of `domain` require, in
/// rule order, each once.
pub async fn required(
    state: &AppState,
    domain: Uuid,
    action: RuleAction,
) -> ApiResult<Vec<(Uuid, String)>> {
    let rules = state.store.list_rules().await?;
    let parents = domain_parents(state).await?;
    let applicable = model::applicable_rules(&rules, &parents, domain, action);
    let missing = model::missing_forms(&applicable, &[]);
    let mut out = Vec::new();
    for (id, _) in missing {
        let name = state
            .store
            .get_form_type(id)
            .await?
            .map(|f| f.name)
            .unwrap_or_else(|| id.to_string());
        out.push((id, name));
    }
    Ok(out)
}

/// The forms the rules for `action` on a product of `domain` require that `present` lacks,
/// written for an error message: each form and the domains whose rules require it. Empty
/// when nothing is missing.
pub async fn missing_for(
    state: &AppState,
    domain: Uuid,
    action: RuleAction,
    present: &[Uuid],
) -> ApiResult<String> {
    let rules = state.store.list_rules().await?;
    let parents = domain_parents(state).await?;
    let applicable = model::applicable_rules(&rules, &parents, domain, action);
    let missing = model::missing_forms(&applicable, present);
    let mut parts = Vec::new();
    for (id, by) in missing {
        let name = state
            .store
            .get_form_type(id)
            .await?
            .map(|f| f.name)
            .unwrap_or_else(|| id.to_string());
        let mut domains = Vec::new();
        for r in by {
            let d = crate::views::name_of_domain(state, r.domain_id).await?;
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        parts.push(format!(
            "`{name}` (required by a rule of domain {})",
            domains
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(parts.join(", "))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewRule {
    pub action: String,
    /// Form type names, 1 to 5.
    pub forms: Vec<String>,
    /// Also for products of the domain's units (child domains, transitively).
    #[serde(default)]
    pub include_children: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    pub id: Uuid,
    /// The domain the rule is defined on.
    pub domain: String,
    pub action: RuleAction,
    pub forms: Vec<String>,
    pub include_children: bool,
    pub description: String,
    /// Whether the rule is defined on an ancestor of the domain asked about.
    pub inherited: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

async fn rule_view(state: &AppState, rule: &Rule, asked: Uuid) -> ApiResult<RuleView> {
    let mut forms = Vec::new();
    for id in &rule.form_type_ids {
        forms.push(
            state
                .store
                .get_form_type(*id)
                .await?
                .map(|f| f.name)
                .unwrap_or_else(|| id.to_string()),
        );
    }
    Ok(RuleView {
        id: rule.id,
        domain: crate::views::name_of_domain(state, rule.domain_id).await?,
        action: rule.action,
        forms,
        include_children: rule.include_children,
        description: rule.description.clone(),
        inherited: rule.domain_id != asked,
        created_by: crate::views::name_of_principal(state, rule.created_by).await?,
        created_at: rule.created_at,
    })
}

/// The rules that apply to products of the domain: its own and inherited ones.
#[utoipa::path(
    get,
    path = "/domains/{domain}/rules",
    operation_id = "list_rules",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK: `Vec<RuleView>`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<Vec<RuleView>>> {
    authorize(
        &state,
        &caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view enforcement rules",
    )?;
    let d = lookup::domain_by_name(&state, &domain).await?;
    let rules = state.store.list_rules().await?;
    let parents = domain_parents(&state).await?;
    let mut out = Vec::new();
    for action in RuleAction::ALL {
        for r in model::applicable_rules(&rules, &parents, d.id, *action) {
            out.push(rule_view(&state, r, d.id).await?);
        }
    }
    Ok(Json(out))
}

#[utoipa::path(
    post,
    path = "/domains/{domain}/rules",
    operation_id = "create_rule",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = NewRule,
    responses(
        (status = 201, description = "Created: `RuleView`", body = serde_json::Value),
        crate::openapi::ApiErrors,
    ),
)]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(req): JsonBody<NewRule>,
) -> ApiResult<(StatusCode, Json<RuleView>)> {
    let d = lookup::domain_by_name(&state, &domain).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "set enforcement rules on this domain",
    )?;
    let action: RuleAction = req.action.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "action: unknown action `{}`; use publish_product or request_access",
            req.action
        ))
    })?;
    if req.forms.is_empty() || req.forms.len() > model::MAX_RULE_FORMS {
        return Err(ApiError::bad_request(format!(
            "forms: a rule requires between 1 and {} form types, not {}",
            model::MAX_RULE_FORMS,
            req.forms.len()
        )));
    }
    check_description(&req.description)?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for name in &req.forms {
        match state.store.get_form_type_by_name(name).await? {
            Some(f) if ids.contains(&f.id) => {
                return Err(ApiError::bad_request(format!(
                    "forms: form type `{name}` is listed twice"
                )));
            }
            Some(f) => ids.push(f.id),
            None => unknown.push(format!("`{name}`")),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "forms: unknown form type(s) {}; create them with `meshgate form-type create` first",
            unknown.join(", ")
        )));
    }
    let rule = Rule {
        id: Uuid::now_v7(),
        domain_id: d.id,
        action,
        form_type_ids: ids,
        include_children: req.include_children,
        description: req.description,
        created_by: caller.id(),
        created_at: Utc::now(),
    };
    let event = audit(&caller, "rule.create", "domain", d.id).with_detail(json!({
        "domain": d.name, "rule": rule.id, "action": action, "forms": req.forms,
        "include_children": rule.include_children,
    }));
    state.store.create_rule(&rule, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(rule_view(&state, &rule, d.id).await?),
    ))
}

#[utoipa::path(
    delete,
    path = "/domains/{domain}/rules/{id}",
    operation_id = "delete_rule",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::openapi::ApiErrors,
    ),
)]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let d = lookup::domain_by_name(&state, &domain).await?;
    authorize(
        &state,
        &caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "delete enforcement rules of this domain",
    )?;
    let not_found = || ApiError::not_found("rule", &id);
    let rule_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let rules = state.store.list_rules().await?;
    if !rules.iter().any(|r| r.id == rule_id && r.domain_id == d.id) {
        return Err(not_found());
    }
    let event = audit(&caller, "rule.delete", "domain", d.id)
        .with_detail(json!({"domain": d.name, "rule": rule_id}));
    state.store.delete_rule(rule_id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}
