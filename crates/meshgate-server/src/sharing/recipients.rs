//! Recipient tokens, profile files, the OAuth token endpoint and IP allow-lists.
//!
//! - `POST /api/v1/recipients/{principal}/tokens` makes a token for a recipient and answers a
//!   one-time **profile link** (`{prefix}/profile/<code>`), never the secret itself. The first
//!   `GET` of the link makes the secret and answers the profile file: version 1 with a bearer
//!   token, or version 2 (`oauth_client_credentials`) with a client id and secret for
//!   `{prefix}/oauth/token`. The link then stops working; only hashes are stored.
//! - Rotation: a new token with `expire_existing_in_secs` sets the recipient's other tokens
//!   to expire that much later (never later than they would have).
//! - `PUT /api/v1/recipients/{principal}/settings` sets the IP allow-list (admins).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{
    NewAuditEvent, Outcome, PrincipalKind, RecipientSettings, SharingToken, SharingTokenKind,
};
use meshgate_core::token;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::error::SharingResult;
use super::recipient::parse_network;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::extract::JsonBody;
use crate::lookup::{authorize, principal_by_name};
use crate::state::AppState;

/// The recipient management API, under `/api/v1`.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/recipients/{principal}/tokens",
            post(create_token).get(list_tokens),
        )
        .route(
            "/recipients/{principal}/tokens/{id}",
            axum::routing::delete(revoke_token),
        )
        .route(
            "/recipients/{principal}/settings",
            get(get_settings).put(put_settings),
        )
}

fn event(actor: Uuid, action: &str, recipient: Uuid) -> NewAuditEvent {
    NewAuditEvent::new(
        Some(actor),
        action,
        "principal",
        Some(recipient.to_string()),
    )
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
}

/// The endpoint profiles point at: `{public_url}{prefix}`.
fn endpoint(state: &AppState) -> String {
    format!(
        "{}{}",
        state.config.public_url().trim_end_matches('/'),
        state.config.sharing.prefix
    )
}

// ----- tokens -----

/// `POST /recipients/{principal}/tokens`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewRecipientToken {
    #[serde(default)]
    pub name: Option<String>,
    /// `bearer` (a version-1 profile, the default) or `oauth` (a version-2 profile with
    /// client credentials).
    #[serde(default)]
    pub kind: Option<String>,
    /// Days until the token expires; 0 = never; default `[sharing] token_days`.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Rotation: the recipient's other tokens expire this many seconds from now.
    #[serde(default)]
    pub expire_existing_in_secs: Option<u64>,
}

/// A token as the API shows it (never a secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    #[serde(flatten)]
    pub token: SharingToken,
    /// Whether it can be used now.
    pub usable: bool,
    /// Whether its profile link was not used yet.
    pub awaiting_download: bool,
}

fn view(t: SharingToken) -> TokenView {
    let now = Utc::now();
    TokenView {
        usable: t.is_usable(now),
        awaiting_download: t.activated_at.is_none() && t.revoked_at.is_none(),
        token: t,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// The one-time link that downloads the profile file.
    pub profile_url: String,
    /// Other tokens of the recipient set to expire by this request.
    pub expired_others: u64,
}

async fn recipient(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
) -> ApiResult<meshgate_core::model::Principal> {
    let p = principal_by_name(state, name).await?;
    authorize(
        state,
        caller,
        action,
        &Resource::Principal { id: p.id },
        &format!("manage the Delta Sharing tokens of `{}`", p.name),
    )?;
    if p.kind == PrincipalKind::Group {
        return Err(ApiError::bad_request(
            "a group cannot be a Delta Sharing recipient; use a user or a service principal (its members read with their own tokens)",
        ));
    }
    Ok(p)
}

#[utoipa::path(
    post,
    path = "/recipients/{principal}/tokens",
    operation_id = "sharing_recipients_create_token",
    tag = "recipients",
    params(
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    request_body = NewRecipientToken,
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        crate::error::ApiErrors,
    ),
)]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<NewRecipientToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let created = new_token(&state, &caller, &name, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Makes a token for the recipient (whoever may create its tokens) and answers its one-time
/// profile link; with `expire_existing_in_secs`, the recipient's other tokens expire then.
async fn new_token(
    state: &AppState,
    caller: &Caller,
    name: &str,
    req: NewRecipientToken,
) -> ApiResult<CreatedToken> {
    let p = recipient(state, caller, name, Action::CreateToken).await?;
    let kind = match req.kind.as_deref().unwrap_or("bearer") {
        "bearer" => SharingTokenKind::Bearer,
        "oauth" | "oauth_client" => SharingTokenKind::OauthClient,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown token kind `{other}`; use `bearer` (profile version 1) or `oauth` (version 2, client credentials)"
            )));
        }
    };
    let token_name = req.name.unwrap_or_else(|| "delta-sharing".into());
    if token_name.len() > 200 {
        return Err(ApiError::bad_request("token name is longer than 200 bytes"));
    }
    let days = req
        .expires_in_days
        .unwrap_or(state.config.sharing.token_days);
    if days > 3650 {
        return Err(ApiError::bad_request(
            "`expires_in_days` must be at most 3650 (0 = never)",
        ));
    }
    let now = Utc::now();
    let code = token::generate_with(token::ACTIVATION_PREFIX);
    let t = SharingToken {
        id: meshgate_core::model::new_id(),
        principal_id: p.id,
        kind,
        name: token_name,
        secret_hash: None,
        activation_hash: Some(token::hash(&code)),
        parent_id: None,
        created_by: caller.id(),
        created_at: now,
        expires_at: (days > 0).then(|| now + Duration::days(i64::from(days))),
        activated_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    let audit = event(caller.id(), "sharing.token.create", p.id).with_detail(json!({
        "recipient": p.name, "token_id": t.id, "kind": kind.as_str(), "expires_at": t.expires_at,
    }));
    state.store.create_sharing_token(&t, audit).await?;
    let mut expired_others = 0;
    if let Some(secs) = req.expire_existing_in_secs {
        let at = now
            + Duration::seconds(
                i64::try_from(secs)
                    .unwrap_or(i64::MAX / 4)
                    .min(3650 * 86400),
            );
        let audit = event(caller.id(), "sharing.token.rotate", p.id).with_detail(json!({
            "recipient": p.name, "new_token_id": t.id, "others_expire_at": at,
        }));
        expired_others = state
            .store
            .expire_sharing_tokens(p.id, at, t.id, audit)
            .await?;
    }
    let profile_url = format!("{}/profile/{code}", endpoint(state));
    Ok(CreatedToken {
        token: view(t),
        profile_url,
        expired_others,
    })
}

#[utoipa::path(
    get,
    path = "/recipients/{principal}/tokens",
    operation_id = "sharing_recipients_list_tokens",
    tag = "recipients",
    params(
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<TokenView>),
        crate::error::ApiErrors,
    ),
)]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let p = recipient(&state, &caller, &name, Action::ListTokens).await?;
    let tokens = state.store.list_sharing_tokens(p.id).await?;
    Ok(Json(tokens.into_iter().map(view).collect()))
}

#[utoipa::path(
    delete,
    path = "/recipients/{principal}/tokens/{id}",
    operation_id = "sharing_recipients_revoke_token",
    tag = "recipients",
    params(
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 200, description = "OK", body = TokenView),
        crate::error::ApiErrors,
    ),
)]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<TokenView>> {
    Ok(Json(
        revoke_recipient_token(&state, &caller, &name, &id).await?,
    ))
}

/// Revokes one of the recipient's tokens (its OAuth access tokens are not named here: 404),
/// for whoever may create its tokens.
async fn revoke_recipient_token(
    state: &AppState,
    caller: &Caller,
    name: &str,
    id: &str,
) -> ApiResult<TokenView> {
    let p = recipient(state, caller, name, Action::CreateToken).await?;
    let missing = || ApiError::not_found("recipient token", id);
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let t = state
        .store
        .get_sharing_token(id)
        .await?
        .filter(|t| t.principal_id == p.id && t.kind != SharingTokenKind::Access)
        .ok_or_else(missing)?;
    let audit = event(caller.id(), "sharing.token.revoke", p.id)
        .with_detail(json!({"recipient": p.name, "token_id": t.id}));
    state
        .store
        .revoke_sharing_token(t.id, Utc::now(), audit)
        .await?;
    let t = state
        .store
        .get_sharing_token(id)
        .await?
        .ok_or_else(missing)?;
    Ok(view(t))
}

// ----- the profile file -----

/// `GET {prefix}/profile/{code}`: the profile file, once.
pub async fn download_profile(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> SharingResult<Response> {
    activate_profile(&state, &code).await
}

/// Activates the token of a profile link (once) and answers its profile file.
async fn activate_profile(state: &AppState, code: &str) -> SharingResult<Response> {
    let gone = || ApiError::not_found("profile link", "(hidden)");
    if !code.starts_with(token::ACTIVATION_PREFIX) || code.len() > 100 {
        return Err(gone().into());
    }
    let secret = token::generate_with(token::SHARING_TOKEN_PREFIX);
    let now = Utc::now();
    let audit = NewAuditEvent::new(None, "sharing.token.activate", "sharing_token", None)
        .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok());
    let Some(t) = state
        .store
        .activate_sharing_token(&token::hash(code), &token::hash(&secret), now, audit)
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this profile link is unknown, expired or was already used; ask for a new one",
        )
        .into());
    };
    let downloaded = event(t.principal_id, "sharing.profile.download", t.principal_id)
        .with_detail(json!({"token_id": t.id, "kind": t.kind.as_str()}));
    state.store.append_audit(downloaded).await?;
    let principal = state.store.get_principal(t.principal_id).await?;
    let filename = principal.map_or_else(|| "meshgate".to_string(), |p| p.name);
    let profile = match t.kind {
        SharingTokenKind::OauthClient => json!({
            "shareCredentialsVersion": 2,
            "type": "oauth_client_credentials",
            "endpoint": endpoint(state),
            "tokenEndpoint": format!("{}/oauth/token", endpoint(state)),
            "clientId": t.id.to_string(),
            "clientSecret": secret,
        }),
        _ => {
            let mut p = json!({
                "shareCredentialsVersion": 1,
                "endpoint": endpoint(state),
                "bearerToken": secret,
            });
            if let Some(exp) = t.expires_at {
                p["expirationTime"] = json!(rfc3339(exp));
            }
            p
        }
    };
    let mut response = (
        StatusCode::OK,
        serde_json::to_string_pretty(&profile).unwrap_or_default(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.share\"",
        filename.replace(['"', '\\'], "")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ----- OAuth client credentials -----

/// An OAuth error response (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"meshgate\""),
        );
    }
    r
}

/// `POST {prefix}/oauth/token`: `grant_type=client_credentials`, the client authenticated
/// with HTTP Basic or `client_id`/`client_secret` in the form.
pub async fn oauth_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    access_token(&state, &headers, request).await
}

/// Authenticates an OAuth client and issues it an access token, or answers an OAuth error.
async fn access_token(
    state: &AppState,
    headers: &HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is too large",
            );
        }
    };
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        );
    }
    let (client_id, secret) = match basic_credentials(headers) {
        Some(c) => c,
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(s)) => (id.clone(), s.clone()),
            _ => {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "authenticate the client with HTTP Basic or client_id and client_secret",
                );
            }
        },
    };
    let refused = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client, wrong secret, or the client expired or was revoked",
        )
    };
    let Ok(id) = Uuid::parse_str(&client_id) else {
        return refused();
    };
    let now = Utc::now();
    let client = match state.store.get_sharing_token(id).await {
        Ok(Some(t)) => t,
        Ok(None) => return refused(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let secret_ok = client.secret_hash.as_deref() == Some(token::hash(&secret).as_str());
    if client.kind != SharingTokenKind::OauthClient || !client.is_usable(now) || !secret_ok {
        return refused();
    }
    let principal = match state.store.get_principal(client.principal_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return refused(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let caller = match Caller::new(state, principal, None).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) =
        super::recipient::check_address(state, &caller, super::recipient::peer(&parts)).await
    {
        return oauth_error(StatusCode::FORBIDDEN, "access_denied", &e.message);
    }
    let _ = &mut parts;
    let secs = i64::try_from(state.config.sharing.oauth_token_secs).unwrap_or(3600);
    let mut expires = now + Duration::seconds(secs);
    if let Some(limit) = client.expires_at {
        expires = expires.min(limit);
    }
    let access = token::generate_with(token::SHARING_TOKEN_PREFIX);
    let t = SharingToken {
        id: meshgate_core::model::new_id(),
        principal_id: client.principal_id,
        kind: SharingTokenKind::Access,
        name: client.name.clone(),
        secret_hash: Some(token::hash(&access)),
        activation_hash: None,
        parent_id: Some(client.id),
        created_by: client.principal_id,
        created_at: now,
        expires_at: Some(expires),
        activated_at: Some(now),
        revoked_at: None,
        last_used_at: None,
    };
    let audit = event(
        client.principal_id,
        "sharing.oauth.token",
        client.principal_id,
    )
    .with_outcome(Outcome::Success)
    .with_detail(json!({"client_id": client.id, "expires_at": expires}));
    let stored = match state.store.insert_access_token(&t, audit).await {
        Ok(stored) => stored,
        Err(e) if e.kind() == meshgate_core::error::ErrorKind::Conflict => return refused(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let expires_in = stored
        .expires_at
        .map_or(0, |e| (e - now).num_seconds().max(0));
    let mut r = Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": expires_in,
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

// ----- settings: the IP allow-list -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct SettingsBody {
    /// Addresses (`203.0.113.7`, `2001:db8::1`) and networks (`10.0.0.0/8`,
    /// `2001:db8::/32`); empty = any address.
    pub ip_allow_list: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/recipients/{principal}/settings",
    operation_id = "get_settings",
    tag = "recipients",
    params(
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = RecipientSettings),
        crate::error::ApiErrors,
    ),
)]
async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<RecipientSettings>> {
    Ok(Json(settings_of(&state, &caller, &name).await?))
}

/// The recipient's settings (the defaults if none were set), for whoever may list its tokens.
async fn settings_of(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<RecipientSettings> {
    let p = recipient(state, caller, name, Action::ListTokens).await?;
    let s = state.store.recipient_settings(p.id).await?;
    Ok(s.unwrap_or(RecipientSettings {
        principal_id: p.id,
        ip_allow_list: Vec::new(),
        updated_at: p.created_at,
    }))
}

#[utoipa::path(
    put,
    path = "/recipients/{principal}/settings",
    operation_id = "put_settings",
    tag = "recipients",
    params(
        ("principal" = String, Path, description = "Principal name", example = "bob", pattern = "^[a-z][a-z0-9_-]*$", max_length = 63),
    ),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "OK", body = RecipientSettings),
        crate::error::ApiErrors,
    ),
)]
async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SettingsBody>,
) -> ApiResult<Json<RecipientSettings>> {
    Ok(Json(set_settings(&state, &caller, &name, body).await?))
}

/// Sets the recipient's IP allow-list (admins).
async fn set_settings(
    state: &AppState,
    caller: &Caller,
    name: &str,
    body: SettingsBody,
) -> ApiResult<RecipientSettings> {
    let p = principal_by_name(state, name).await?;
    authorize(
        state,
        caller,
        Action::CreatePrincipal,
        &Resource::Mesh,
        &format!("set the IP allow-list of recipient `{}`", p.name),
    )?;
    if body.ip_allow_list.len() > 256 {
        return Err(ApiError::bad_request(
            "at most 256 entries in `ip_allow_list`",
        ));
    }
    let mut list = Vec::new();
    for entry in body.ip_allow_list {
        let entry = entry.trim().to_string();
        parse_network(&entry).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{}` is not an IP address or network; use e.g. `203.0.113.7` or `10.0.0.0/8`",
                entry.chars().take(60).collect::<String>()
            ))
        })?;
        list.push(entry);
    }
    let settings = RecipientSettings {
        principal_id: p.id,
        ip_allow_list: list,
        updated_at: Utc::now(),
    };
    let audit = event(caller.id(), "sharing.settings.update", p.id)
        .with_detail(json!({"recipient": p.name, "ip_allow_list": settings.ip_allow_list}));
    state.store.put_recipient_settings(&settings, audit).await?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sharing::recipient::address_matches;
    use std::net::IpAddr;

    #[test]
    fn allow_list_entries_match_addresses_and_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(address_matches("127.0.0.1", ip("127.0.0.1")));
        assert!(!address_matches("127.0.0.1", ip("127.0.0.2")));
        assert!(address_matches("10.0.0.0/8", ip("10.200.3.4")));
        assert!(!address_matches("10.0.0.0/8", ip("11.0.0.1")));
        assert!(address_matches("0.0.0.0/0", ip("8.8.8.8")));
        assert!(address_matches("2001:db8::/32", ip("2001:db8:1::5")));
        assert!(!address_matches("2001:db8::/32", ip("2001:db9::5")));
        // IPv4-mapped IPv6 peers match IPv4 entries.
        assert!(address_matches("192.168.1.0/24", ip("::ffff:192.168.1.9")));
        assert!(!address_matches("10.0.0.0/33", ip("10.0.0.1")));
        assert!(!address_matches("not an address", ip("10.0.0.1")));
        assert!(parse_network("10.0.0.0/33").is_none());
        assert!(parse_network("::1").is_some());
    }

    #[test]
    fn basic_credentials_are_read() {
        let mut h = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("client:s%3Acret");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("client".to_string(), "s:cret".to_string()))
        );
    }
}
