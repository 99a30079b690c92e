//! Writing a product's files: upload (streamed to storage, visible only once complete, up to
//! `max_upload_mb`) and delete, for whoever may append data to the product.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use meshgate_core::files as core_files;
use meshgate_engine::files::{FileMeta, ProductFiles};
use serde_json::json;

use super::rights::{FilePath, Target, check_writer, event};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathParams;
use crate::lookup::ProductPath;
use crate::state::AppState;

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the file is larger than {} MiB; ask an admin to raise `max_upload_mb`",
            state.config.max_upload_mb
        ),
    )
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/files/{path}",
    operation_id = "upload",
    tag = "products",
    params(ProductPath, FilePath),
    request_body(content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 200, description = "Replaced an existing file: its metadata", body = FileMeta),
        (status = 201, description = "Stored a new file: its metadata", body = FileMeta),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(FilePath { path }): PathParams<FilePath>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    put_file(&state, &caller, p.into(), &path, &headers, body).await
}

#[utoipa::path(
    put,
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "upload_named_sign",
    tag = "products",
    params(ProductPath),
    request_body(content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 200, description = "Replaced an existing file: its metadata", body = FileMeta),
        (status = 201, description = "Stored a new file: its metadata", body = FileMeta),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn upload_named_sign(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    put_file(&state, &caller, p.into(), "sign", &headers, body).await
}

/// Streams the body to storage; nothing is visible until the whole body arrived.
async fn put_file(
    state: &AppState,
    caller: &Caller,
    t: Target,
    path: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    core_files::validate_path(path)?;
    check_writer(state, caller, "file.upload", "upload", &t, path).await?;
    let limit = state.config.max_upload_mb.saturating_mul(1024 * 1024);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(state));
    }
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    let replaced = files.head(path).await?.is_some();
    let mut upload = files.upload(path)?;
    let mut stream = body.into_data_stream();
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                if upload.written().saturating_add(chunk.len() as u64) > limit {
                    upload.abort().await;
                    return Err(too_large(state));
                }
                if let Err(e) = upload.write(chunk).await {
                    upload.abort().await;
                    return Err(e.into());
                }
            }
            Ok(None) => break,
            Err(e) => {
                upload.abort().await;
                return Err(ApiError::bad_request(format!(
                    "the upload broke off: {e}; nothing was stored"
                )));
            }
        }
    }
    let meta = upload.finish().await?;
    let e = event(caller.id(), "file.upload", &t.product).with_detail(json!({
        "product": t.qualified, "path": path, "bytes": meta.size, "replaced": replaced,
    }));
    state.store.append_audit(e).await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(meta)).into_response())
}

// ----- delete -----

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/files/{path}",
    operation_id = "delete",
    tag = "products",
    params(ProductPath, FilePath),
    responses(
        (status = 200, description = "OK", body = FileMeta),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    PathParams(FilePath { path }): PathParams<FilePath>,
) -> ApiResult<Json<FileMeta>> {
    Ok(Json(delete_file(&state, &caller, p.into(), &path).await?))
}

#[utoipa::path(
    delete,
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "delete_named_sign",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "OK", body = FileMeta),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn delete_named_sign(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
) -> ApiResult<Json<FileMeta>> {
    Ok(Json(delete_file(&state, &caller, p.into(), "sign").await?))
}

/// Deletes `path` of `t`'s files, for whoever may write them.
async fn delete_file(
    state: &AppState,
    caller: &Caller,
    t: Target,
    path: &str,
) -> ApiResult<FileMeta> {
    core_files::validate_path(path)?;
    check_writer(state, caller, "file.delete", "delete", &t, path).await?;
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    let Some(meta) = files.delete(path).await? else {
        return Err(ApiError::not_found(
            "file",
            &format!("{}/{path}", t.qualified),
        ));
    };
    let e = event(caller.id(), "file.delete", &t.product)
        .with_detail(json!({"product": t.qualified, "path": path, "bytes": meta.size}));
    state.store.append_audit(e).await?;
    Ok(meta)
}
