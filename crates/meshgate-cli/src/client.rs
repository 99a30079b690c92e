//! A thin HTTP client for the meshgate REST API (`docs/API.md`).
//!
//! It owns the three things every verb needs and should get right the same way: the bearer
//! token, turning a refused connection into advice, and turning the API's error body into a
//! message the user can act on.

use std::fmt;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A client bound to one meshgate server and one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The `--url` as given, for messages.
    server: String,
    base: Url,
    token: Option<String>,
}

/// An error answered by the server (a non-2xx status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// The API's stable error code, e.g. `not_found`; absent when the body was not ours.
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (&self.code, &self.request_id) {
            (Some(code), Some(id)) if !id.is_empty() => write!(f, " ({code}, request {id})"),
            (Some(code), _) => write!(f, " ({code})"),
            (None, _) => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    request_id: Option<String>,
}

/// The Delta Sharing protocol's error body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SharingErrorBody {
    error_code: String,
    message: String,
}

/// Reads the API's error body `{"error":{"code","message","request_id"}}` or the Delta
/// Sharing protocol's `{"errorCode","message"}`; anything else (a proxy's HTML page, an
/// empty body) falls back to the status line.
pub fn parse_error_body(status: StatusCode, body: &[u8]) -> ApiError {
    if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
        return ApiError {
            status,
            code: Some(error.code),
            message: error.message,
            request_id: error.request_id,
        };
    }
    if let Ok(e) = serde_json::from_slice::<SharingErrorBody>(body) {
        return ApiError {
            status,
            code: Some(e.error_code),
            message: e.message,
            request_id: None,
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut message = format!("server answered {status}");
    if !text.is_empty() {
        let snippet: String = text.chars().take(200).collect();
        message.push_str(": ");
        message.push_str(&snippet);
    }
    ApiError {
        status,
        code: None,
        message,
        request_id: None,
    }
}

impl Client {
    /// A client for the server at `url`; `token` may be absent until a request needs it.
    pub fn new(url: &str, token: Option<&str>) -> Result<Self> {
        let base = Url::parse(url).map_err(|e| anyhow!("invalid --url `{url}`: {e}"))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            bail!("invalid --url `{url}`: use an http:// or https:// address");
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("meshgate-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .context("cannot set up the http client")?;
        Ok(Self {
            http,
            server: url.to_string(),
            base,
            token: token.filter(|t| !t.trim().is_empty()).map(str::to_string),
        })
    }

    /// The URL of `/api/v1/<segments…>`, each segment percent-encoded as needed.
    pub fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("invalid --url `{}`", self.server))?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        Ok(url)
    }

    /// A request to `/api/v1/<segments…>` carrying the bearer token.
    pub fn request(&self, method: Method, segments: &[&str]) -> Result<RequestBuilder> {
        let token = self.token.as_deref().ok_or_else(|| {
            anyhow!("no token: pass --token, set MESHGATE_TOKEN, or sign in with `meshgate login`")
        })?;
        let url = self.url(segments)?;
        tracing::debug!(%method, %url, "request");
        Ok(self.http.request(method, url).bearer_auth(token))
    }

    /// Sends `request`; a refused connection and a non-2xx answer become errors.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(parse_error_body(status, &body).into())
    }

    /// Reads the whole body of a successful `response`.
    pub async fn read_body(&self, response: Response) -> Result<Vec<u8>> {
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Ok(body.to_vec())
    }

    /// Copies the body of `response` to `out` as it arrives, without holding it in memory.
    /// A reader that hangs up early (`| head`) ends the copy quietly.
    pub async fn copy_body(
        &self,
        mut response: Response,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<()> {
        let broken_pipe = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            match out.write_all(&chunk).await {
                Err(e) if broken_pipe(&e) => return Ok(()),
                other => other.context("cannot write to stdout")?,
            }
        }
        match out.flush().await {
            Err(e) if broken_pipe(&e) => Ok(()),
            other => other.context("cannot write to stdout"),
        }
    }

    /// Sends `request` and reads the JSON answer (`{}` for an empty body).
    pub async fn send_json(&self, request: RequestBuilder) -> Result<Value> {
        let response = self.send(request).await?;
        let body = self.read_body(response).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&body).context("the server answered with invalid json")
    }

    /// `GET /api/v1/<segments…>?<query>`, skipping query parameters that are `None`.
    pub async fn get(&self, segments: &[&str], query: &[(&str, Option<String>)]) -> Result<Value> {
        let query: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        self.send_json(self.request(Method::GET, segments)?.query(&query))
            .await
    }

    /// A request with a JSON body.
    pub async fn json(&self, method: Method, segments: &[&str], body: &Value) -> Result<Value> {
        self.send_json(self.request(method, segments)?.json(body))
            .await
    }

    /// A request without a body.
    pub async fn bare(&self, method: Method, segments: &[&str]) -> Result<Value> {
        self.send_json(self.request(method, segments)?).await
    }

    /// `GET` of a Delta Sharing path (`{prefix}/<segments…>?<query>`) with the bearer token.
    pub async fn sharing_get(
        &self,
        prefix: &str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Value> {
        let token = self.token.as_deref().ok_or_else(|| {
            anyhow!("no token: pass --token, set MESHGATE_TOKEN, or sign in with `meshgate login`")
        })?;
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("invalid --url `{}`", self.server))?
            .pop_if_empty()
            .extend(prefix.split('/').filter(|s| !s.is_empty()))
            .extend(segments);
        tracing::debug!(%url, "delta sharing request");
        self.send_json(self.http.get(url).query(query).bearer_auth(token))
            .await
    }

    /// `GET` of an absolute URL without the API token (a one-time profile link).
    pub async fn fetch(&self, url: &str) -> Result<Value> {
        let url = Url::parse(url).map_err(|e| anyhow!("invalid link `{url}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("invalid link `{url}`: use an http:// or https:// address");
        }
        self.send_json(self.http.get(url)).await
    }

    fn transport_error(&self, e: &reqwest::Error) -> anyhow::Error {
        if e.is_connect() || e.is_timeout() {
            anyhow!(
                "cannot reach meshgate at {}: {}; is `meshgate serve` running?",
                self.server,
                root_cause(e)
            )
        } else {
            anyhow!(
                "request to meshgate at {} failed: {}",
                self.server,
                root_cause(e)
            )
        }
    }
}

/// The innermost cause of `e` ("connection refused"), which says more than reqwest's
/// outer "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn parses_the_api_error_body() {
        let body = br#"{"error":{"code":"not_found","message":"data product `sales.orders` not found","request_id":"r1"}}"#;
        let err = parse_error_body(StatusCode::NOT_FOUND, body);
        assert_eq!(err.code.as_deref(), Some("not_found"));
        assert_eq!(
            err.to_string(),
            "data product `sales.orders` not found (not_found, request r1)"
        );
        let no_id = br#"{"error":{"code":"forbidden","message":"nope"}}"#;
        assert_eq!(
            parse_error_body(StatusCode::FORBIDDEN, no_id).to_string(),
            "nope (forbidden)"
        );
    }

    #[test]
    fn falls_back_to_the_status_line() {
        let err = parse_error_body(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(err.code, None);
        assert_eq!(
            err.to_string(),
            "server answered 502 Bad Gateway: <html>bad gateway</html>"
        );
        let empty = parse_error_body(StatusCode::INTERNAL_SERVER_ERROR, b"");
        assert_eq!(
            empty.to_string(),
            "server answered 500 Internal Server Error"
        );
    }

    #[test]
    fn builds_encoded_api_urls() {
        let c = Client::new("http://h:1/prefix/", Some("t")).unwrap();
        assert_eq!(
            c.url(&["products", "sales", "a b"]).unwrap().as_str(),
            "http://h:1/prefix/api/v1/products/sales/a%20b"
        );
        let c = Client::new("http://h:1", Some("t")).unwrap();
        assert_eq!(
            c.url(&["whoami"]).unwrap().as_str(),
            "http://h:1/api/v1/whoami"
        );
        assert!(Client::new("not a url", None).is_err());
        assert!(Client::new("ftp://h", None).is_err());
    }

    #[test]
    fn needs_a_token() {
        let c = Client::new("http://h:1", Some("  ")).unwrap();
        let err = c.request(Method::GET, &["whoami"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no token: pass --token, set MESHGATE_TOKEN, or sign in with `meshgate login`"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_gives_advice() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let c = Client::new(&url, Some("t")).unwrap();
        let err = c.get(&["whoami"], &[]).await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot reach meshgate at {url}: ")),
            "{err}"
        );
        assert!(err.ends_with("is `meshgate serve` running?"), "{err}");
    }

    /// Serves one canned HTTP response and hands back the request it read.
    async fn one_shot_server(response: String) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            sock.write_all(response.as_bytes()).await.unwrap();
            sock.shutdown().await.unwrap();
            String::from_utf8_lossy(&buf).into_owned()
        });
        (url, handle)
    }

    #[tokio::test]
    async fn a_server_error_carries_its_message_and_code() {
        let body = r#"{"error":{"code":"invalid_transition","message":"share is `processed`","request_id":"r9"}}"#;
        let response = format!(
            "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let (url, server) = one_shot_server(response).await;
        let c = Client::new(&url, Some("sekrit")).unwrap();
        let err = c
            .get(
                &["shares"],
                &[("status", Some("submitted".into())), ("product", None)],
            )
            .await
            .unwrap_err();
        let api = err.downcast_ref::<ApiError>().unwrap();
        assert_eq!(api.status, StatusCode::CONFLICT);
        assert_eq!(
            err.to_string(),
            "share is `processed` (invalid_transition, request r9)"
        );
        let request = server.await.unwrap().to_lowercase();
        assert!(
            request.starts_with("get /api/v1/shares?status=submitted http/1.1"),
            "{request}"
        );
        assert!(
            request.contains("authorization: bearer sekrit"),
            "{request}"
        );
    }
}
