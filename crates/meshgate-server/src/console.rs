//! The web console (docs/design/CONSOLE.md): a small ES-module application over the REST
//! API, embedded in the binary at build time (`build.rs` turns every file under `console/`
//! into [`CONSOLE_ASSETS`]). It holds no data and no secret: every page asks the API, with
//! the browser's session cookie and CSRF header, and so sees exactly what the API lets the
//! signed-in principal see.
//!
//! `GET /` is the page shell; `GET /console/{path}` the files. The security headers of every
//! answer (Content-Security-Policy, framing, caching) are set in one place, [`headers`].

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

use crate::state::AppState;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The console's policy: scripts, styles and connections only from this origin, no inline
/// script or style, never framed.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Every other answer (JSON, files) is not a page: it may load nothing and never be framed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(shell))
        .route("/console/{*path}", get(asset))
}

/// One embedded file with its validator.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
    etag: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    CONSOLE_ASSETS
        .iter()
        .map(|(path, bytes)| Asset {
            path,
            bytes,
            etag: format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..20]),
        })
        .collect()
});

/// `GET /`: the page shell. It carries no data, but it is never cached, so a signed-out
/// browser's back button shows nothing of a session.
async fn shell(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers)
}

/// `GET /console/{path}`: a file of the console.
async fn asset(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &path, &headers)
}

fn serve(state: &AppState, path: &str, request: &HeaderMap) -> Response {
    #[cfg(debug_assertions)]
    if let Some(dir) = &state.config.console_dir {
        return from_dev_dir(dir, path);
    }
    #[cfg(not(debug_assertions))]
    let _ = state;
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "not a file of the console").into_response();
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type(path));
    if let Ok(v) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, cache_control(path));
    response
}

/// The shell is never stored; the files (code and styles, no data) are revalidated by ETag.
fn cache_control(path: &str) -> HeaderValue {
    if path == "index.html" {
        HeaderValue::from_static("no-store")
    } else {
        HeaderValue::from_static("no-cache")
    }
}

fn content_type(path: &str) -> HeaderValue {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    HeaderValue::from_static(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    })
}

/// Debug builds only: with `console_dir` set (`MESHGATE_CONSOLE_DIR`), files are read from
/// that directory at every request, so the console can be edited without rebuilding the
/// server. Only plain relative paths of `[a-z0-9._-/]` without `..` are looked up. Release
/// builds serve the embedded files and nothing else.
#[cfg(debug_assertions)]
fn from_dev_dir(dir: &std::path::Path, path: &str) -> Response {
    let plain = !path.is_empty()
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && path.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')
        });
    let bytes = match std::fs::read(dir.join(path)) {
        Ok(b) if plain => b,
        _ => return (StatusCode::NOT_FOUND, "not a file of the console").into_response(),
    };
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type(path));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The headers every answer carries, set here and nowhere else: a Content-Security-Policy
/// (the console's for its shell and files, none-at-all for everything else), no framing, no
/// MIME sniffing, no referrer, and `Cache-Control: no-store` unless the route chose its own
/// caching (console files, signed downloads).
pub async fn headers(req: Request, next: Next) -> Response {
    let is_console = {
        let p = req.uri().path();
        p == "/" || p.starts_with("/console/")
    };
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if is_console { CONSOLE_CSP } else { API_CSP }),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_embedded_with_its_shell() {
        let shell = ASSETS
            .iter()
            .find(|a| a.path == "index.html")
            .expect("index.html");
        let text = std::str::from_utf8(shell.bytes).expect("utf-8");
        // No inline script: the policy forbids it, so the shell must load its code.
        assert!(text.contains("<script type=\"module\" src=\"/console/"));
        assert!(!text.contains("<script>"));
        assert!(ASSETS.iter().all(|a| !a.path.contains('\\')));
    }
}
