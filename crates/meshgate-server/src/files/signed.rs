//! Signed download URLs: signing one (`POST …/files/sign`), the parameters every signed URL
//! carries, and serving a signed URL (`/files/v1/…`, no bearer token), which re-checks the
//! principal's rights as they are when it is used.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use meshgate_core::files::{
    self as core_files, DEFAULT_URL_TTL, EXPIRES_PARAM, MAX_URL_TTL, PRINCIPAL_PARAM,
    SIGNATURE_PARAM, SignedResource, UrlError,
};
use meshgate_engine::files::ProductFiles;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::download::{Audit, serve};
use super::rights::{Target, caller_readable, deny, event, not_covered, readable};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::ProductPath;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(super) struct SignRequest {
    path: String,
    /// Lifetime in seconds: default 3600, at most 604800 (7 days).
    #[serde(default)]
    expires_in_secs: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct SignedUrl {
    url: String,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(
    post,
    path = "/products/{domain}/{product}/files/sign",
    operation_id = "sign",
    tag = "products",
    params(ProductPath),
    request_body = SignRequest,
    responses(
        (status = 200, description = "OK", body = SignedUrl),
        crate::error::ApiErrors,
    ),
)]
pub(super) async fn sign(
    State(state): State<AppState>,
    caller: Caller,
    ProductPath(p): ProductPath,
    JsonBody(req): JsonBody<SignRequest>,
) -> ApiResult<Json<SignedUrl>> {
    Ok(Json(sign_for(&state, &caller, p.into(), req).await?))
}

/// A signed download URL of a file of `t` that the caller may read, for the caller.
async fn sign_for(
    state: &AppState,
    caller: &Caller,
    t: Target,
    req: SignRequest,
) -> ApiResult<SignedUrl> {
    let path = req.path.as_str();
    core_files::validate_path(path)?;
    let ttl = match req.expires_in_secs {
        None => DEFAULT_URL_TTL,
        Some(s) if s > 0 && s <= MAX_URL_TTL.num_seconds() => Duration::seconds(s),
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "expires_in_secs: {s} is outside 1 … {} (7 days)",
                MAX_URL_TTL.num_seconds()
            )));
        }
    };
    let right = caller_readable(state, caller, "file.sign", &t, Some(path)).await?;
    if !right.covers(t.product.id, path) {
        let message = not_covered(&caller.principal.name, path, &t);
        return Err(deny(state, caller.id(), "file.sign", &t, Some(path), message).await?);
    }
    let files = ProductFiles::open(&state.data_root, t.product.id)?;
    if files.head(path).await?.is_none() {
        return Err(ApiError::not_found(
            "file",
            &format!("{}/{path}", t.qualified),
        ));
    }
    let expires = (Utc::now() + ttl).timestamp();
    let expires_at = DateTime::from_timestamp(expires, 0)
        .ok_or_else(|| ApiError::internal("expiry out of range"))?;
    let url = sign_url(state, t.product.id, path, caller.id(), expires)?;
    let e = event(caller.id(), "file.sign", &t.product).with_detail(json!({
        "product": t.qualified, "path": path, "expires_at": expires_at,
    }));
    state.store.append_audit(e).await?;
    Ok(SignedUrl { url, expires_at })
}

/// The signed download URL of `path` of `product_id` for `principal`, valid until `expires`
/// (Unix seconds):
/// `{public_url}/files/v1/{product_id}/{path}?X-Meshgate-Expires=…&X-Meshgate-Principal=…&X-Databricks-Signature=…`.
/// It checks nothing about rights (the caller does; the download re-checks).
pub fn sign_url(
    state: &AppState,
    product_id: Uuid,
    path: &str,
    principal: Uuid,
    expires: i64,
) -> ApiResult<String> {
    let resource = SignedResource::ProductFile { product_id, path };
    let signature = state.url_signer.sign(&resource, principal, expires)?;
    let base = state.config.public_url();
    let mut url = url::Url::parse(&base)
        .map_err(|e| ApiError::internal(format!("`public_url` `{base}` is not a URL: {e}")))?;
    let id = product_id.to_string();
    url.path_segments_mut()
        .map_err(|()| ApiError::internal(format!("`public_url` `{base}` cannot take a path")))?
        .pop_if_empty()
        .extend(["files", "v1", id.as_str()])
        .extend(path.split('/'));
    SignedParams {
        principal,
        expires,
        signature: &signature,
    }
    .append_to(&mut url);
    Ok(url.to_string())
}

/// What every signed URL carries besides its resource: for whom, until when, and the
/// signature (Delta Sharing URLs add their policy).
pub(crate) struct SignedParams<'a> {
    pub principal: Uuid,
    pub expires: i64,
    pub signature: &'a str,
}

impl<'a> SignedParams<'a> {
    /// Reads them from a URL's query; `None` when one is missing or malformed.
    pub(crate) fn read(params: &'a std::collections::HashMap<String, String>) -> Option<Self> {
        Some(SignedParams {
            principal: Uuid::parse_str(params.get(PRINCIPAL_PARAM)?).ok()?,
            expires: params.get(EXPIRES_PARAM)?.parse().ok()?,
            signature: params.get(SIGNATURE_PARAM)?,
        })
    }

    /// Adds them to `url`'s query.
    pub(crate) fn append_to(&self, url: &mut url::Url) {
        url.query_pairs_mut()
            .append_pair(EXPIRES_PARAM, &self.expires.to_string())
            .append_pair(PRINCIPAL_PARAM, &self.principal.to_string())
            .append_pair(SIGNATURE_PARAM, self.signature);
    }

    /// Checks the signature over `resource` and the expiry.
    pub(crate) fn verify(
        &self,
        state: &AppState,
        resource: &SignedResource<'_>,
    ) -> Result<(), UrlError> {
        state.url_signer.verify(
            resource,
            self.principal,
            self.expires,
            self.signature,
            Utc::now(),
        )
    }
}

fn url_refused(e: UrlError) -> ApiError {
    let code = match e {
        UrlError::Invalid => "url_invalid",
        UrlError::Expired => "url_expired",
    };
    ApiError::new(StatusCode::FORBIDDEN, code, e.to_string())
}

pub(super) async fn signed_download(
    State(state): State<AppState>,
    method: Method,
    Path((product_id, path)): Path<(String, String)>,
    query: Result<
        Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let invalid = || url_refused(UrlError::Invalid);
    let Ok(Query(params)) = query else {
        return Err(invalid());
    };
    let product_id = Uuid::parse_str(&product_id).map_err(|_| invalid())?;
    let signed = SignedParams::read(&params).ok_or_else(invalid)?;
    let principal = signed.principal;
    if core_files::validate_path(&path).is_err() {
        return Err(invalid());
    }
    signed
        .verify(
            &state,
            &SignedResource::ProductFile {
                product_id,
                path: &path,
            },
        )
        .map_err(url_refused)?;

    // Authentic and unexpired: re-check the principal's rights as they are now.
    let gone = || ApiError::not_found("file", &path);
    let product = state
        .store
        .get_product(product_id)
        .await?
        .ok_or_else(gone)?;
    let domain = crate::views::name_of_domain(&state, product.domain_id).await?;
    let t = Target {
        qualified: format!("{domain}.{}", product.name),
        product,
    };
    let Some(p) = state.store.get_principal(principal).await? else {
        return Err(ApiError::forbidden(
            "the principal this URL was signed for no longer exists",
        ));
    };
    let caller = Caller::new(&state, p, None).await?;
    let p = &caller.principal;
    if !readable(&state, &caller, &t.product)
        .await?
        .covers(t.product.id, &path)
    {
        let message = format!(
            "{}; the share that allowed it may have been revoked",
            not_covered(&p.name, &path, &t)
        );
        return Err(deny(&state, p.id, "file.download", &t, Some(&path), message).await?);
    }
    let audit = Audit {
        actor: p.id,
        via: "signed_url",
    };
    serve(&state, &t, &path, &method, &headers, audit).await
}
