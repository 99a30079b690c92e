//! Forms filled from form types for products, tables and share requests: checking values
//! against the latest revision, the API's view of a filled form, and the routes that list,
//! fill and remove the forms of each kind of target.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use meshgate_authz::Action;
use meshgate_core::catalog::{
    self as model, FormTargetKind, FormType, ListingState, MetadataForm, Reference, RuleAction,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::rules::required;
use super::types::form_type_by_name;
use crate::auth::Caller;
use crate::catalog::glossary;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathParams, ShareId};
use crate::lookup::{ProductPath, ProductRef, TableName, TablePath, TableRef, audit};
use crate::state::AppState;

/// The routes of filled forms, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
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
}

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

/// The route's `{form}`: a form type's name.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct FormName {
    /// Form type name
    #[param(example = "ownership")]
    form: String,
}

/// What a form is being filled for, resolved and authorized.
struct Target {
    kind: FormTargetKind,
    id: Uuid,
    /// For product and table targets.
    product: Option<ProductRef>,
    label: String,
}

/// The forms of product `p`, to read.
fn product_target(p: ProductRef) -> Target {
    Target {
        kind: FormTargetKind::Product,
        id: p.product.id,
        label: p.qualified(),
        product: Some(p),
    }
}

/// The forms of table `t`, to read.
fn table_target(t: TableRef) -> Target {
    let TableRef {
        domain,
        product,
        table,
    } = t;
    let p = ProductRef { domain, product };
    Target {
        kind: FormTargetKind::Table,
        id: table.id,
        label: format!("{}.{}", p.qualified(), table.name),
        product: Some(p),
    }
}

/// The forms of `p`, or of its table `table`, to change: the caller must be allowed to change
/// the product's catalog metadata (checked before the table is looked up).
async fn editable_target(
    state: &AppState,
    caller: &Caller,
    p: ProductRef,
    table: Option<&str>,
) -> ApiResult<Target> {
    p.check_editable(state, caller)?;
    Ok(match table {
        Some(table) => table_target(p.table(state, table).await?),
        None => product_target(p),
    })
}

/// The forms of a share the caller may see, to read or (`edit`) to change.
async fn share_target(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    edit: bool,
) -> ApiResult<Target> {
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

async fn list_forms(state: &AppState, target: &Target) -> ApiResult<Vec<FormView>> {
    let forms = state.store.forms_of(target.kind, target.id).await?;
    views(state, &forms).await
}

async fn put_form(
    state: &AppState,
    caller: &Caller,
    target: Target,
    name: &str,
    body: FormBody,
) -> ApiResult<FormView> {
    let (ft, values) = fill(state, name, &body.values).await?;
    let form = MetadataForm {
        target_kind: target.kind,
        target_id: target.id,
        product_id: target.product.as_ref().map(|p| p.product.id),
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
        .ok_or_else(|| ApiError::internal("a stored form has no view"))
}

async fn delete_form(
    state: &AppState,
    caller: &Caller,
    target: Target,
    name: &str,
) -> ApiResult<()> {
    let ft = form_type_by_name(state, name).await?;
    // A published product keeps satisfying its publish rules: a form they require stays
    // until the product is unpublished.
    if let (FormTargetKind::Product, Some(p)) = (target.kind, &target.product)
        && p.product.listing == ListingState::Published
        && required(state, p.domain.id, RuleAction::PublishProduct)
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
    Ok(())
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/forms",
    operation_id = "product_forms",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = Vec<FormView>),
        crate::error::ApiErrors,
    ),
)]
async fn product_forms(
    State(state): State<AppState>,
    _caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<Vec<FormView>>> {
    Ok(Json(list_forms(&state, &product_target(p)).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/forms/{form}",
    operation_id = "put_product_form",
    tag = "products",
    params(ProductPath, FormName),
    request_body = FormBody,
    responses(
        (status = 200, description = "OK", body = FormView),
        crate::error::ApiErrors,
    ),
)]
async fn put_product_form(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(FormName { form }): PathParams<FormName>,
    JsonBody(body): JsonBody<FormBody>,
) -> ApiResult<Json<FormView>> {
    let t = editable_target(&state, &caller, p, None).await?;
    Ok(Json(put_form(&state, &caller, t, &form, body).await?))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/forms/{form}",
    operation_id = "delete_product_form",
    tag = "products",
    params(ProductPath, FormName),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_product_form(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(FormName { form }): PathParams<FormName>,
) -> ApiResult<StatusCode> {
    let t = editable_target(&state, &caller, p, None).await?;
    delete_form(&state, &caller, t, &form).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/tables/{table}/forms",
    operation_id = "table_forms",
    tag = "products",
    params(TablePath),
    responses(
        (status = 200, description = "OK", body = Vec<FormView>),
        crate::error::ApiErrors,
    ),
)]
async fn table_forms(
    State(state): State<AppState>,
    _caller: Caller,
    TablePath(t): TablePath,
) -> ApiResult<Json<Vec<FormView>>> {
    Ok(Json(list_forms(&state, &table_target(t)).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/tables/{table}/forms/{form}",
    operation_id = "put_table_form",
    tag = "products",
    params(ProductPath, TableName, FormName),
    request_body = FormBody,
    responses(
        (status = 200, description = "OK", body = FormView),
        crate::error::ApiErrors,
    ),
)]
async fn put_table_form(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(FormName { form }): PathParams<FormName>,
    JsonBody(body): JsonBody<FormBody>,
) -> ApiResult<Json<FormView>> {
    let t = editable_target(&state, &caller, p, Some(&table)).await?;
    Ok(Json(put_form(&state, &caller, t, &form, body).await?))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/tables/{table}/forms/{form}",
    operation_id = "delete_table_form",
    tag = "products",
    params(ProductPath, TableName, FormName),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_table_form(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(TableName { table }): PathParams<TableName>,
    PathParams(FormName { form }): PathParams<FormName>,
) -> ApiResult<StatusCode> {
    let t = editable_target(&state, &caller, p, Some(&table)).await?;
    delete_form(&state, &caller, t, &form).await?;
    Ok(StatusCode::NO_CONTENT)
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
        crate::error::ApiErrors,
    ),
)]
async fn share_forms(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
) -> ApiResult<Json<Vec<FormView>>> {
    let t = share_target(&state, &caller, id, false).await?;
    Ok(Json(list_forms(&state, &t).await?))
}

#[utoipa::path(
    put,
    path = "/shares/{id}/forms/{form}",
    operation_id = "put_share_form",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        FormName,
    ),
    request_body = FormBody,
    responses(
        (status = 200, description = "OK", body = FormView),
        crate::error::ApiErrors,
    ),
)]
async fn put_share_form(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    PathParams(FormName { form }): PathParams<FormName>,
    JsonBody(body): JsonBody<FormBody>,
) -> ApiResult<Json<FormView>> {
    let t = share_target(&state, &caller, id, true).await?;
    Ok(Json(put_form(&state, &caller, t, &form, body).await?))
}

#[utoipa::path(
    delete,
    path = "/shares/{id}/forms/{form}",
    operation_id = "delete_share_form",
    tag = "shares",
    params(
        ("id" = String, Path, description = "Id (uuid)"),
        FormName,
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_share_form(
    State(state): State<AppState>,
    caller: Caller,
    ShareId(id): ShareId,
    PathParams(FormName { form }): PathParams<FormName>,
) -> ApiResult<StatusCode> {
    let t = share_target(&state, &caller, id, true).await?;
    delete_form(&state, &caller, t, &form).await?;
    Ok(StatusCode::NO_CONTENT)
}
