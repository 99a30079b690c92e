//! Data products' routes: create (multipart upload), list, view, delete, append, optimize, share
//! settings and bulk verification (operations in `products.rs` and `shares/`).

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use meshgate_core::model::ShareSettings;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{Created, Empty, JsonBody, Params};
use crate::lookup::{ProductPath, TablePath};
use crate::state::AppState;
use crate::views::ProductView;
use crate::{products, shares};

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let upload_limit = usize::try_from(state.config.max_upload_mb.saturating_mul(1024 * 1024))
        .unwrap_or(usize::MAX);
    Router::new()
        .route(
            "/products",
            post(create_product)
                .get(list_products)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/products/{domain}/{product}",
            get(get_product).delete(delete_product),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/data",
            post(append_data).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/optimize",
            post(optimize_table),
        )
        .route(
            "/products/{domain}/{product}/tables/{table}/vacuum",
            post(vacuum_table),
        )
        .route(
            "/products/{domain}/{product}/share-settings",
            get(get_share_settings).put(put_share_settings),
        )
        .route("/products/{domain}/{product}/verify", post(verify_product))
}

/// `POST /products`: a multipart body, the `product` part first (see `products/upload.rs`).
/// `POST /products`: the `product` part comes first, so the caller's right to create the
/// product is checked before any uploaded byte is stored; each further part is one table's
/// file, streamed to a server-named staging file.
#[utoipa::path(
    post,
    path = "/products",
    operation_id = "create_product",
    tag = "products",
    request_body(content_type = "multipart/form-data", description = "A `product` part (JSON: domain, team, name, …) first, then one part per table file"),
    responses(
        (status = 201, description = "Created", body = ProductView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Multipart,
) -> ApiResult<Created<ProductView>> {
    Ok(Created(
        products::create_uploaded(&state, &caller, multipart).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/products",
    operation_id = "list_products",
    tag = "products",
    params(
        products::ProductQuery,
    ),
    responses(
        (status = 200, description = "OK", body = Vec<ProductView>),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<products::ProductQuery>,
) -> ApiResult<Json<Vec<ProductView>>> {
    Ok(Json(products::list_products(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}",
    operation_id = "get_product",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = ProductView),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<ProductView>> {
    Ok(Json(products::view_product(&state, &caller, p).await?))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}",
    operation_id = "delete_product",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = Empty),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn delete_product(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<Empty>> {
    products::delete_product(&state, &caller, &p).await?;
    Ok(Json(Empty {}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AppendQuery {
    format: String,
}

/// `POST /products/{d}/{p}/tables/{t}/data`: the body is one file in the `format` given.
/// `POST /products/{d}/{p}/tables/{t}/data`: the target and the caller's right to append
/// are checked before the body is read; the body goes to a server-named staging file.
#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/data",
    operation_id = "append_data",
    tag = "products",
    params(TablePath, AppendQuery),
    request_body(description = "The data file, in the `format` of the query string", content(("text/csv"), ("application/json"), ("application/octet-stream"))),
    responses(
        (status = 200, description = "OK", body = products::Appended),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn append_data(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AppendQuery>,
    TablePath(t): TablePath,
    body: axum::body::Body,
) -> ApiResult<Json<products::Appended>> {
    Ok(Json(
        products::append_uploaded(&state, &caller, t, &q.format, body).await?,
    ))
}

/// `POST /products/{d}/{p}/tables/{t}/optimize`: rewrites the table's files clustered by
/// chosen columns and with bloom filters (docs/design/TABLE_LAYOUT.md).
#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/optimize",
    operation_id = "optimize_table",
    tag = "products",
    params(TablePath),
    request_body = products::OptimizeRequest,
    responses(
        (status = 200, description = "OK", body = products::Optimized),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn optimize_table(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    JsonBody(body): JsonBody<products::OptimizeRequest>,
) -> ApiResult<Json<products::Optimized>> {
    Ok(Json(
        products::optimize_table(&state, &caller, t, body).await?,
    ))
}

/// `POST /products/{d}/{p}/tables/{t}/vacuum`: deletes the files the table no longer
/// references, once older than the retention (docs/design/TABLE_LAYOUT.md §Vacuum).
#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/tables/{table}/vacuum",
    operation_id = "vacuum_table",
    tag = "products",
    params(TablePath),
    request_body = products::VacuumRequest,
    responses(
        (status = 200, description = "OK", body = products::Vacuumed),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn vacuum_table(
    State(state): State<AppState>,
    caller: Caller,
    TablePath(t): TablePath,
    JsonBody(body): JsonBody<products::VacuumRequest>,
) -> ApiResult<Json<products::Vacuumed>> {
    Ok(Json(
        products::vacuum_table(&state, &caller, t, body).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/products/{domain}/{product}/share-settings",
    operation_id = "get_share_settings",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = meshgate_core::model::ShareSettings),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn get_share_settings(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<ShareSettings>> {
    Ok(Json(shares::get_settings(&state, &caller, &p).await?))
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/share-settings",
    operation_id = "put_share_settings",
    tag = "products",
    params(ProductPath),
    request_body = meshgate_core::model::ShareSettings,
    responses(
        (status = 200, description = "OK", body = meshgate_core::model::ShareSettings),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn put_share_settings(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    JsonBody(body): JsonBody<ShareSettings>,
) -> ApiResult<Json<ShareSettings>> {
    Ok(Json(shares::put_settings(&state, &caller, &p, body).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerifyAllQuery {
    #[serde(default)]
    reapply: bool,
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/verify",
    operation_id = "verify_product",
    tag = "products",
    params(ProductPath, VerifyAllQuery),
    responses(
        (status = 200, description = "OK", body = shares::BulkVerify),
        crate::error::ApiErrors,
    ),
)]
pub(crate) async fn verify_product(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    Params(q): Params<VerifyAllQuery>,
) -> ApiResult<Json<shares::BulkVerify>> {
    Ok(Json(
        shares::verify_all(&state, &caller, &p, q.reapply).await?,
    ))
}
