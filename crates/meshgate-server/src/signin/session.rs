//! Browser sessions: the cookie, its checks, and CSRF protection for the writes it makes
//! (docs/design/SIGN_IN.md §Browser sessions). One place decides whether a cookie
//! authenticates a request: [`principal_of_cookie`], called by `auth::authenticate` when a
//! request carries no bearer token.

use axum::http::header::{COOKIE, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use chrono::{Duration, Utc};
use meshgate_core::model::{NewAuditEvent, Principal, Session, SessionMethod, new_id};
use meshgate_core::token;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "meshgate_session";
/// The header a cookie-authenticated write must carry, with the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Activity is recorded at most this often (the idle timeout's resolution).
const TOUCH_EVERY_SECS: i64 = 60;

/// The session cookie's value in `headers`, if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The principal whose session cookie the request carries: None without a cookie; 401 when
/// the session is unknown, ended, idle too long or its principal deactivated; 403 when a write
/// lacks the session's CSRF token or comes from another origin.
pub async fn principal_of_cookie(
    parts: &Parts,
    state: &AppState,
) -> ApiResult<Option<(Principal, Session)>> {
    let Some(secret) = cookie_value(&parts.headers) else {
        return Ok(None);
    };
    let ended = || {
        ApiError::unauthenticated(
            "your session has ended (signed out, expired or idle too long); sign in again",
        )
    };
    if secret.len() > 128 {
        return Err(ended());
    }
    let (session, principal) = state
        .store
        .find_session(&token::hash(&secret))
        .await?
        .ok_or_else(ended)?;
    let now = Utc::now();
    if !session.is_usable(now, idle(state)) || !principal.active {
        return Err(ended());
    }
    if !is_safe(&parts.method) {
        check_write(parts, state, &session)?;
    }
    if (now - session.last_seen_at).num_seconds() >= TOUCH_EVERY_SECS
        && let Err(e) = state.store.touch_session(session.id, now).await
    {
        tracing::warn!(error = %e, "could not record a session's use");
    }
    Ok(Some((principal, session)))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie-authenticated write must echo the session's CSRF token (a page of another origin
/// cannot read it) and, when the browser says where it comes from, come from this server.
fn check_write(parts: &Parts, state: &AppState, session: &Session) -> ApiResult<()> {
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
        return Err(ApiError::forbidden(format!(
            "a write made with a session cookie must carry the `{CSRF_HEADER}` header with the session's CSRF token (GET /auth/session gives it)"
        )));
    }
    if let Some(origin) = parts.headers.get(ORIGIN).and_then(|v| v.to_str().ok())
        && origin != "null"
        && !same_origin(origin, &state.config.public_url())
    {
        return Err(ApiError::forbidden(format!(
            "a write made with a session cookie must come from this server's pages ({}), not from `{}`",
            state.config.public_url(),
            origin.chars().take(100).collect::<String>()
        )));
    }
    Ok(())
}

fn same_origin(origin: &str, public_url: &str) -> bool {
    match (url::Url::parse(origin), url::Url::parse(public_url)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn idle(state: &AppState) -> Duration {
    Duration::seconds(i64::try_from(state.config.auth.session_idle_secs).unwrap_or(i64::MAX))
}

/// A new session for `principal`; returns the cookie's value (shown once, stored hashed)
/// and the session.
pub async fn open(
    state: &AppState,
    principal: &Principal,
    method: SessionMethod,
    issuer: Option<String>,
) -> ApiResult<(String, Session)> {
    let secret = meshgate_oidc::random_secret();
    let now = Utc::now();
    let absolute = Duration::seconds(
        i64::try_from(state.config.auth.session_absolute_secs).unwrap_or(i64::MAX),
    );
    let session = Session {
        id: new_id(),
        secret_hash: token::hash(&secret),
        principal_id: principal.id,
        method,
        issuer: issuer.clone(),
        csrf: meshgate_oidc::random_secret(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + absolute,
        revoked_at: None,
    };
    let event = NewAuditEvent::new(
        Some(principal.id),
        "session.open",
        "session",
        Some(session.id.to_string()),
    )
    .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok())
    .with_detail(json!({"method": method, "issuer": issuer, "expires_at": session.expires_at}));
    state.store.create_session(&session, event).await?;
    Ok((secret, session))
}

/// The `Set-Cookie` value that stores `secret` (or, with None, removes the cookie):
/// HttpOnly (no script reads it), SameSite=Lax (no other site's form or fetch sends it),
/// Secure when the server is reached over https, for the whole server.
pub fn set_cookie(state: &AppState, secret: Option<&str>) -> String {
    let secure = state.config.public_url().starts_with("https://");
    let (value, max_age) = match secret {
        Some(s) => (s, state.config.auth.session_absolute_secs),
        None => ("", 0),
    };
    format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; meshgate_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie_value(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(COOKIE, "meshgate_session=".parse().unwrap());
        assert_eq!(cookie_value(&h), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(same_origin(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/"
        ));
        assert!(!same_origin("http://evil.example", "http://127.0.0.1:8080"));
    }
}
