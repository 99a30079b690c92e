//! Downloading a product's file with a bearer token, and serving a file's bytes (whole or
//! one range, with `ETag`, `Last-Modified` and `If-Range`) for every download: bearer,
//! signed URL, and Delta Sharing file URLs.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use meshgate_core::files::{self as core_files, RangeRequest};
use meshgate_core::model::NewAuditEvent;
use meshgate_engine::files::ProductFiles;
use serde_json::json;
use uuid::Uuid;

use super::rights::{FilePath, Target, caller_readable, deny, event, not_covered};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::PathParams;
use crate::lookup::ProductPath;
use crate::state::AppState;

#[utoipa::path(
    method(get, head),
    path = "/products/{domain}/{product}/files/{path}",
    operation_id = "download",
    tag = "products",
    params(ProductPath, FilePath),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested `Range` of the file", content_type = "application/octet-stream"),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    ProductPath(p): ProductPath,
    PathParams(FilePath { path }): PathParams<FilePath>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download_file(&state, &caller, &method, p.into(), &path, &headers).await
}

#[utoipa::path(
    method(get, head),
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "download_named_sign",
    tag = "products",
    params(ProductPath),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested `Range` of the file", content_type = "application/octet-stream"),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn download_named_sign(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    ProductPath(p): ProductPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download_file(&state, &caller, &method, p.into(), "sign", &headers).await
}

/// Answers a bearer download of `path` of `t`'s files, for a caller a grant covers it for.
async fn download_file(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    t: Target,
    path: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    core_files::validate_path(path)?;
    let right = caller_readable(state, caller, "file.download", &t, Some(path)).await?;
    if !right.covers(t.product.id, path) {
        let message = not_covered(&caller.principal.name, path, &t);
        return Err(deny(state, caller.id(), "file.download", &t, Some(path), message).await?);
    }
    let audit = Audit {
        actor: caller.id(),
        via: "api",
    };
    serve(state, &t, path, method, headers, audit).await
}

// ----- serving bytes -----

/// Who a download is audited as, and through what.
pub(super) struct Audit {
    pub(super) actor: Uuid,
    pub(super) via: &'static str,
}

/// Answers `GET`/`HEAD` for a product file the caller may read: whole, or one range.
pub(super) async fn serve(
    state: &AppState,
    t: &Target,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    audit: Audit,
) -> ApiResult<Response> {
    let download = Download {
        files: ProductFiles::open(&state.data_root, t.product.id)?,
        path,
        shown: format!("{}/{path}", t.qualified),
        event: event(audit.actor, "file.download", &t.product).with_detail(json!({
            "product": t.qualified, "path": path, "via": audit.via,
        })),
    };
    serve_bytes(state, download, method, headers).await
}

/// A file about to be served, and the audit event a download of it records (its detail, an
/// object, gets `bytes` and `range` added).
pub(crate) struct Download<'a> {
    pub files: ProductFiles,
    /// The path inside `files`.
    pub path: &'a str,
    /// How the file is named in a 404.
    pub shown: String,
    pub event: NewAuditEvent,
}

/// Answers `GET`/`HEAD` for a file: whole, or one range (`Range` → 206 with
/// `Content-Range`, 416 outside the file, `If-Range` honoured); `GET` is audited.
pub(crate) async fn serve_bytes(
    state: &AppState,
    download: Download<'_>,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Download {
        files,
        path,
        shown,
        event: audit,
    } = download;
    let missing = || ApiError::not_found("file", &shown);
    let meta = files.head(path).await?.ok_or_else(missing)?;
    let etag = meta.etag.as_deref().map(quoted_etag);
    let last_modified = http_date(meta.last_modified);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_holds(headers, etag.as_deref(), &last_modified) => {
            core_files::parse_range(r, meta.size)
        }
        _ => RangeRequest::Full,
    };
    let range = match range {
        RangeRequest::Full => None,
        RangeRequest::Partial(r) => Some(r),
        RangeRequest::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!(
                    "the range asked for is outside the file's {} bytes",
                    meta.size
                ),
            )
            .into_response();
            insert(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{}", meta.size),
            );
            return Ok(response);
        }
    };
    let (status, length) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, meta.size),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        let (_, stream) = files.read(path, range.clone()).await?.ok_or_else(missing)?;
        let mut detail = audit.detail.clone();
        if let Some(d) = detail.as_object_mut() {
            d.insert("bytes".into(), json!(length));
            d.insert(
                "range".into(),
                json!(
                    range
                        .as_ref()
                        .map(|r| format!("{}-{}", r.start, r.end.saturating_sub(1)))
                ),
            );
        }
        state.store.append_audit(audit.with_detail(detail)).await?;
        Body::from_stream(stream)
    };
    let mut response = (status, body).into_response();
    insert(
        &mut response,
        header::CONTENT_TYPE,
        "application/octet-stream".into(),
    );
    insert(&mut response, header::CONTENT_LENGTH, length.to_string());
    insert(&mut response, header::ACCEPT_RANGES, "bytes".into());
    insert(&mut response, header::LAST_MODIFIED, last_modified);
    if let Some(etag) = etag {
        insert(&mut response, header::ETAG, etag);
    }
    if let Some(r) = &range {
        insert(
            &mut response,
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                r.start,
                r.end.saturating_sub(1),
                meta.size
            ),
        );
    }
    Ok(response)
}

/// Sets a header whose value we made (never user input with control characters).
fn insert(response: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, v);
    }
}

/// HTTP wants entity tags quoted; some stores give them bare.
fn quoted_etag(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// `If-Range`: the range applies only if the file is still the one the client has (same
/// strong entity tag, or the same date); otherwise the whole file is sent.
fn if_range_holds(headers: &HeaderMap, etag: Option<&str>, last_modified: &str) -> bool {
    match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) => {
            let v = v.trim();
            (!v.starts_with("W/") && Some(v) == etag) || v == last_modified
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_dates() {
        assert_eq!(quoted_etag("abc"), "\"abc\"");
        assert_eq!(quoted_etag("\"abc\""), "\"abc\"");
        assert_eq!(quoted_etag("W/\"abc\""), "W/\"abc\"");
        let t = DateTime::from_timestamp(784111777, 0).unwrap();
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn if_range() {
        let mut h = HeaderMap::new();
        assert!(if_range_holds(&h, Some("\"a\""), "d"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("\"a\""));
        assert!(if_range_holds(&h, Some("\"a\""), "d"));
        assert!(!if_range_holds(&h, Some("\"b\""), "d"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("W/\"a\""));
        assert!(!if_range_holds(&h, Some("W/\"a\""), "d"));
        h.insert(header::IF_RANGE, HeaderValue::from_static("d"));
        assert!(if_range_holds(&h, None, "d"));
    }
}
