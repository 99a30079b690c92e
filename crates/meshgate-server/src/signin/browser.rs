//! People sign in through the browser (docs/design/SIGN_IN.md §Browser sessions): at the
//! identity provider with the authorization code flow and PKCE (`/auth/login` →
//! provider → `/auth/callback`), or with an API token where there is no provider
//! (`/auth/token`); either opens a server-side session held in an HttpOnly cookie.
//! `/auth/session` tells the page who is signed in and the CSRF token its writes must send;
//! `/auth/logout` ends the session.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use meshgate_core::model::{NewAuditEvent, Principal, SessionMethod, SignInAttempt, TokenScope};
use meshgate_core::token;
use meshgate_oidc::{Pkce, random_secret};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::session;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;

/// How long a sign-in may take at the provider.
const ATTEMPT_MINUTES: i64 = 10;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/providers", get(providers))
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/token", post(token_sign_in))
        .route("/auth/session", get(current))
        .route("/auth/logout", post(logout))
        .route("/auth/demo", get(demo_people).post(demo_sign_in))
}

/// One way to sign in, for the sign-in page.
#[derive(Serialize)]
struct Provider {
    index: usize,
    label: String,
    issuer: String,
    /// Where a browser starts signing in.
    login_url: String,
    /// The client `meshgate login` uses (device authorization grant) and the scopes it asks.
    cli_client_id: Option<String>,
    scopes: Vec<String>,
}

/// `GET /auth/providers`: the identity providers people can sign in with.
async fn providers(State(state): State<AppState>) -> Json<serde_json::Value> {
    let list: Vec<Provider> = state
        .signin
        .verifier()
        .issuers()
        .enumerate()
        .filter(|(_, c)| c.client_id.is_some() && !c.sharing_only)
        .map(|(index, c)| Provider {
            index,
            label: c.label(),
            issuer: c.issuer.clone(),
            login_url: format!("/auth/login?issuer={index}"),
            cli_client_id: c.cli_client_id.clone().or_else(|| c.client_id.clone()),
            scopes: c.scopes.clone(),
        })
        .collect();
    Json(json!({"providers": list, "token_sign_in": true}))
}

#[derive(Deserialize)]
struct LoginParams {
    #[serde(default)]
    issuer: Option<usize>,
    #[serde(default)]
    return_to: Option<String>,
}

/// `GET /auth/login?issuer=N&return_to=/path`: off to the identity provider.
async fn login(State(state): State<AppState>, Query(p): Query<LoginParams>) -> ApiResult<Response> {
    let index = p.issuer.unwrap_or(0);
    let Some(config) = state.signin.verifier().issuers().nth(index) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "sign-in with an identity provider is not configured here ([auth.oidc]); sign in with an API token (POST /auth/token)",
        ));
    };
    let issuer = config.issuer.clone();
    let state_param = random_secret();
    let nonce = random_secret();
    let pkce = Pkce::new();
    let url = state
        .signin
        .verifier()
        .authorization_url(index, &redirect_uri(&state), &state_param, &nonce, &pkce)
        .await
        .map_err(super::refused)?;
    state
        .store
        .create_sign_in_attempt(&SignInAttempt {
            state_hash: token::hash(&state_param),
            issuer,
            verifier: pkce.verifier,
            nonce,
            return_to: safe_return(p.return_to.as_deref()),
            created_at: Utc::now(),
        })
        .await?;
    Ok(redirect(&url, None))
}

#[derive(Deserialize)]
struct CallbackParams {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// `GET /auth/callback`: the provider sends the browser back with a code; exchange it,
/// check the ID token, open a session.
async fn callback(
    State(state): State<AppState>,
    Query(p): Query<CallbackParams>,
) -> ApiResult<Response> {
    let attempt = match p.state.as_deref() {
        Some(s) if s.len() <= 128 => {
            let not_before = Utc::now() - Duration::minutes(ATTEMPT_MINUTES);
            state
                .store
                .take_sign_in_attempt(&token::hash(s), not_before)
                .await?
        }
        _ => None,
    };
    let Some(attempt) = attempt else {
        return Err(ApiError::bad_request(
            "this sign-in is unknown, expired or already finished; start again at /auth/login",
        ));
    };
    if let Some(error) = p.error {
        let detail = p.error_description.unwrap_or_default();
        let refusal = meshgate_oidc::Refusal::Claim(format!(
            "the identity provider ended the sign-in: {} {}",
            error.chars().take(100).collect::<String>(),
            detail.chars().take(200).collect::<String>()
        ));
        super::audit_refusal(&state, &refusal).await;
        return Err(super::refused(refusal));
    }
    let code = p
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| ApiError::bad_request("the provider's answer has no `code`"))?;
    let verifier = state.signin.verifier();
    let outcome = async {
        let tokens = verifier
            .exchange_code(
                &attempt.issuer,
                &code,
                &redirect_uri(&state),
                &attempt.verifier,
            )
            .await?;
        let id_token = tokens.id_token.ok_or_else(|| {
            meshgate_oidc::Refusal::Claim(
                "the provider returned no ID token (is `openid` among the scopes?)".into(),
            )
        })?;
        verifier
            .verify_id_token(&id_token, &attempt.issuer, &attempt.nonce)
            .await
    }
    .await;
    let verified = match outcome {
        Ok(v) => v,
        Err(refusal) => {
            super::audit_refusal(&state, &refusal).await;
            return Err(super::refused(refusal));
        }
    };
    let principal = super::sign_in(&state, &verified, "browser").await?;
    let (secret, _) = session::open(
        &state,
        &principal,
        SessionMethod::Oidc,
        Some(attempt.issuer),
    )
    .await?;
    Ok(redirect(
        &attempt.return_to,
        Some(&session::set_cookie(&state, Some(&secret))),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSignIn {
    /// An API token (`mgt_…`).
    pub token: String,
}

/// `POST /auth/token` with `{"token": "mgt_…"}` (JSON only: a form of another site cannot
/// post it): a session for the token's principal.
async fn token_sign_in(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenSignIn>,
) -> ApiResult<Response> {
    let refused = || ApiError::unauthenticated("invalid, expired or revoked token");
    if !body.token.starts_with(token::TOKEN_PREFIX) || body.token.len() > 128 {
        return Err(ApiError::unauthenticated(
            "sign in with an API token (`mgt_…`); credentials and recipient tokens do not open sessions",
        ));
    }
    let (record, principal) = state
        .store
        .find_token(&token::hash(&body.token))
        .await?
        .ok_or_else(refused)?;
    if !record.is_usable(Utc::now()) || !principal.active {
        return Err(refused());
    }
    // A SCIM token provisions; it never becomes a person's session.
    if record.scope != TokenScope::Api {
        return Err(ApiError::unauthenticated(
            "this is a SCIM provisioning token: it opens no session; sign in with an API token",
        ));
    }
    let (secret, session) = session::open(&state, &principal, SessionMethod::Token, None).await?;
    let body = SessionView::of(&state, principal, &session);
    let mut response = (StatusCode::OK, Json(body)).into_response();
    set(&mut response, &session::set_cookie(&state, Some(&secret)));
    Ok(response)
}

/// One of the quickstart's demo people, for its sign-in page.
#[derive(Serialize)]
struct DemoPerson {
    name: String,
    display_name: String,
    is_admin: bool,
}

/// `GET /auth/demo`: the people the quickstart lets a local browser sign in as with one
/// click; 404 where that is off (everywhere but the quickstart).
async fn demo_people(
    State(state): State<AppState>,
    parts: Parts,
) -> ApiResult<Json<serde_json::Value>> {
    demo_allowed(&state, &parts)?;
    let mut people = Vec::new();
    for name in &state.config.auth.demo_people {
        if let Some(p) = state.store.get_principal_by_name(name).await?
            && p.active
        {
            people.push(DemoPerson {
                name: p.name,
                display_name: p.display_name,
                is_admin: p.is_admin,
            });
        }
    }
    Ok(Json(json!({"people": people})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoSignIn {
    /// One of `GET /auth/demo`'s people.
    pub person: String,
}

/// `POST /auth/demo` with `{"person": "bob"}` (JSON only, like `/auth/token`): a session as
/// that demo person. Only with `auth.demo_people` set and from a loopback peer.
async fn demo_sign_in(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(body): JsonBody<DemoSignIn>,
) -> ApiResult<Response> {
    demo_allowed(&state, &parts)?;
    let refused = || ApiError::unauthenticated("not one of the demo people; see GET /auth/demo");
    if !state
        .config
        .auth
        .demo_people
        .iter()
        .any(|p| p == &body.person)
    {
        return Err(refused());
    }
    let principal = state
        .store
        .get_principal_by_name(&body.person)
        .await?
        .filter(|p| p.active)
        .ok_or_else(refused)?;
    let (secret, session) = session::open(&state, &principal, SessionMethod::Demo, None).await?;
    let body = SessionView::of(&state, principal, &session);
    let mut response = (StatusCode::OK, Json(body)).into_response();
    set(&mut response, &session::set_cookie(&state, Some(&secret)));
    Ok(response)
}

/// The demo sign-in exists only where it was configured, and answers only a browser on this
/// machine: a quickstart started with `--listen 0.0.0.0` still gives nobody else a session.
fn demo_allowed(state: &AppState, parts: &Parts) -> ApiResult<()> {
    let loopback = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback());
    if state.config.auth.demo_people.is_empty() || !loopback {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "demo sign-in is only offered by `meshgate quickstart`, to a browser on the same machine",
        ));
    }
    Ok(())
}

/// Who is signed in, and what the page needs to act for them.
#[derive(Serialize)]
struct SessionView {
    principal: Principal,
    method: SessionMethod,
    issuer: Option<String>,
    /// Send it in `X-CSRF-Token` with every write.
    csrf_token: String,
    expires_at: DateTime<Utc>,
    /// When the session ends unless used before.
    idle_until: DateTime<Utc>,
}

impl SessionView {
    fn of(state: &AppState, principal: Principal, s: &meshgate_core::model::Session) -> Self {
        let idle = Duration::seconds(
            i64::try_from(state.config.auth.session_idle_secs).unwrap_or(i64::MAX),
        );
        SessionView {
            principal,
            method: s.method,
            issuer: s.issuer.clone(),
            csrf_token: s.csrf.clone(),
            expires_at: s.expires_at,
            idle_until: (Utc::now() + idle).min(s.expires_at),
        }
    }
}

/// `GET /auth/session`: the signed-in principal and the CSRF token (401 when not signed in).
async fn current(State(state): State<AppState>, parts: Parts) -> ApiResult<Json<SessionView>> {
    let (principal, session) = session::principal_of_cookie(&parts, &state)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("not signed in"))?;
    Ok(Json(SessionView::of(&state, principal, &session)))
}

/// `POST /auth/logout` (with the CSRF token): ends the session and removes the cookie; the
/// answer names the provider's sign-out page when there is one.
async fn logout(State(state): State<AppState>, parts: Parts) -> ApiResult<Response> {
    let (principal, session) = session::principal_of_cookie(&parts, &state)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("not signed in"))?;
    let event = NewAuditEvent::new(
        Some(principal.id),
        "session.close",
        "session",
        Some(session.id.to_string()),
    )
    .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok());
    state
        .store
        .revoke_session(session.id, Utc::now(), event)
        .await?;
    let mut end_session_url = None;
    if let Some(issuer) = &session.issuer
        && let Some(index) = state
            .signin
            .verifier()
            .issuers()
            .position(|c| &c.issuer == issuer)
        && let Ok(d) = state.signin.verifier().discovery(index).await
        && let Some(end) = d.end_session_endpoint
        && let Ok(mut url) = url::Url::parse(&end)
    {
        let config = state.signin.verifier().issuers().nth(index);
        if let Some(client) = config.and_then(|c| c.client_id.clone()) {
            url.query_pairs_mut()
                .append_pair("client_id", &client)
                .append_pair("post_logout_redirect_uri", &format!("{}/", base(&state)));
        }
        end_session_url = Some(url.to_string());
    }
    let mut response =
        Json(json!({"signed_out": true, "end_session_url": end_session_url})).into_response();
    set(&mut response, &session::set_cookie(&state, None));
    Ok(response)
}

fn base(state: &AppState) -> String {
    state.config.public_url().trim_end_matches('/').to_string()
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/auth/callback", base(state))
}

/// Where to go after signing in: a path on this server, never another site (an open redirect
/// would let a link through meshgate's sign-in land anywhere).
pub fn safe_return(to: Option<&str>) -> String {
    match to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

fn redirect(to: &str, cookie: Option<&str>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    if let Some(c) = cookie {
        set(&mut response, c);
    }
    response
}

fn set(response: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_server_are_returned_to() {
        assert_eq!(safe_return(Some("/catalog?q=x")), "/catalog?q=x");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_return(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return(None), "/");
    }
}
