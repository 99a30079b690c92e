//! Sign-in with a real OpenID provider: `oidc-provider` (Node) started as its own process
//! (tests/oidc/provider.mjs). Users sign in at the provider as a browser would — following
//! its redirects and posting its login and consent forms, with PKCE — and use the tokens it
//! issues on meshgate's REST API, SQL and Delta Sharing; services use client credentials.
//! Every refusal is a token the provider really issued, unchanged or altered as an attacker
//! would.
//!
//! Needs `node` and the provider's packages (`npm ci` in tests/oidc, which `.ci/run` does):
//! `MESHGATE_TEST_OIDC_PROVIDER` names provider.mjs. Unset, the tests skip outside CI and
//! fail in CI.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use meshgate_oidc::{IssuerConfig, Provision};
use meshgate_server::config::Config;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::Mesh;

#[path = "../oidc/support.rs"]
mod support;
use support::{Provider, fill_form, provider_script, walk_provider};

/// Signs `user` in at the provider as a browser would — the authorization request with
/// PKCE, the provider's redirects, its login and consent forms — and exchanges the code the
/// provider redirects back with. Returns the token response.
async fn browser_login(provider: &Provider, user: &str) -> Value {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:1/auth/callback";
    let mut url = reqwest::Url::parse(&format!("{}/auth", provider.issuer())).expect("url");
    url.query_pairs_mut()
        .append_pair("client_id", "meshgate")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid email profile groups")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "s1");
    let back = walk_provider(&provider.http, url.as_str(), user)
        .await
        .expect("the provider redirects back");
    let code = reqwest::Url::parse(&back)
        .expect("callback url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no code in {back}"));
    let r = provider
        .http
        .post(format!("{}/token", provider.issuer()))
        .basic_auth("meshgate", Some("meshgate-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token endpoint");
    let status = r.status();
    let body: Value = r.json().await.expect("token response");
    assert!(status.is_success(), "token exchange: {body}");
    body
}

fn issuer_config(p: &Provider, provision: Provision) -> IssuerConfig {
    IssuerConfig {
        issuer: p.issuer(),
        client_id: Some("meshgate".into()),
        audience: vec!["meshgate".into()],
        provision,
        admin_group: Some("mesh-admins".into()),
        leeway_secs: 1,
        jwks_min_refresh_secs: 1,
        ..IssuerConfig::default()
    }
}

async fn mesh_trusting(p: &Provider, provision: Provision) -> Mesh {
    let issuer = issuer_config(p, provision);
    Mesh::demo_with(move |c: &mut Config| c.auth.oidc = vec![issuer]).await
}

async fn whoami(mesh: &Mesh, jwt: &str) -> crate::common::Resp {
    mesh.send_bearer("GET", "/api/v1/whoami", Some(jwt), None, Body::empty())
        .await
}

/// A SCIM token of a new service principal `idp`, made by the admin.
async fn scim_token(mesh: &Mesh) -> String {
    mesh.post(
        "admin",
        "/api/v1/principals",
        &json!({"name": "idp", "kind": "service"}),
    )
    .await
    .ok(StatusCode::CREATED);
    mesh.post(
        "admin",
        "/api/v1/tokens",
        &json!({"principal": "idp", "scope": "scim", "name": "provisioning"}),
    )
    .await
    .ok(StatusCode::CREATED)["token"]
        .as_str()
        .expect("token")
        .to_string()
}

fn id_token(tokens: &Value) -> String {
    tokens["id_token"].as_str().expect("id_token").to_string()
}

#[tokio::test]
async fn a_person_signs_in_at_the_provider_and_its_groups_follow_the_provider() {
    let Some(script) = provider_script() else {
        return;
    };
    let provider = Provider::start(&script).await;
    let mesh = mesh_trusting(&provider, Provision::On).await;
    // `analysts` is a meshgate group known to the provider by the same name; as a member of
    // sales.core it reads that team's products.
    mesh.create_group("analysts").await;
    mesh.put(
        "admin",
        "/api/v1/domains/sales/teams/core/members/analysts",
        &json!({"role": "member"}),
    )
    .await
    .ok(StatusCode::OK);
    mesh.add_ledger().await;
    provider
        .set_groups("dana", &["analysts", "unknown-group"])
        .await;

    let jwt = id_token(&browser_login(&provider, "dana").await);
    let me = whoami(&mesh, &jwt).await.ok(StatusCode::OK);
    assert_eq!(me["principal"]["name"], "dana", "{me}");
    assert_eq!(me["principal"]["login"], "dana");
    assert_eq!(me["principal"]["kind"], "user");
    assert_eq!(me["groups"], json!(["analysts"]), "{me}");
    // SQL with the same token reads what the group gives.
    let sql = json!({"sql": "SELECT count(*) AS n FROM sales.ledger.ledger"});
    let r = mesh
        .send_bearer(
            "POST",
            "/api/v1/query",
            Some(&jwt),
            Some("application/json"),
            Body::from(sql.to_string()),
        )
        .await;
    let rows = r.ok(StatusCode::OK);
    assert_eq!(rows[0]["n"], 6, "{rows}");
    // Delta Sharing lists shares with it too (none: dana has no recipient shares).
    let r = mesh
        .send_bearer(
            "GET",
            "/delta-sharing/shares",
            Some(&jwt),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // The provider drops the group: the next sign-in's token takes the access away.
    provider.set_groups("dana", &[]).await;
    let jwt2 = id_token(&browser_login(&provider, "dana").await);
    let me = whoami(&mesh, &jwt2).await.ok(StatusCode::OK);
    assert_eq!(me["groups"], json!([]), "{me}");
    let r = mesh
        .send_bearer(
            "POST",
            "/api/v1/query",
            Some(&jwt2),
            Some("application/json"),
            Body::from(sql.to_string()),
        )
        .await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text());

    // The admin group makes an admin, and leaving it unmakes one.
    provider.set_groups("dana", &["mesh-admins"]).await;
    let jwt3 = id_token(&browser_login(&provider, "dana").await);
    assert_eq!(
        whoami(&mesh, &jwt3).await.ok(StatusCode::OK)["principal"]["is_admin"],
        true
    );
    provider.set_groups("dana", &[]).await;
    let jwt4 = id_token(&browser_login(&provider, "dana").await);
    assert_eq!(
        whoami(&mesh, &jwt4).await.ok(StatusCode::OK)["principal"]["is_admin"],
        false
    );

    let actions: Vec<String> = mesh
        .audit("action=principal.provision")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(actions, ["principal.provision"]);
    let syncs = mesh.audit("action=group.sync").await;
    assert!(syncs.len() >= 2, "{syncs:?}");
    assert!(!mesh.audit("action=auth.sign_in").await.is_empty());
}

#[tokio::test]
async fn services_use_client_credentials_and_unknown_principals_are_named() {
    let Some(script) = provider_script() else {
        return;
    };
    let provider = Provider::start(&script).await;
    let mesh = mesh_trusting(&provider, Provision::Off).await;
    let token = provider
        .client_token("etl-job", "etl-secret", "urn:meshgate")
        .await;
    let r = whoami(&mesh, &token).await;
    let message = r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(message.contains("etl-job"), "{message}");
    assert!(message.contains("--login"), "{message}");
    mesh.post(
        "admin",
        "/api/v1/principals",
        &json!({"name": "etl", "kind": "service", "login": "etl-job"}),
    )
    .await
    .ok(StatusCode::CREATED);
    let me = whoami(&mesh, &token).await.ok(StatusCode::OK);
    assert_eq!(me["principal"]["name"], "etl");
    assert_eq!(me["principal"]["kind"], "service");
    // A person's token never maps onto the service, nor the service's onto a person.
    let jwt = id_token(&browser_login(&provider, "etl-job").await);
    let r = whoami(&mesh, &jwt).await;
    r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn refused_tokens_say_why_and_never_repeat_the_token() {
    let Some(script) = provider_script() else {
        return;
    };
    let mut provider = Provider::start(&script).await;
    let untrusted = Provider::start(&script).await;
    let mesh = mesh_trusting(&provider, Provision::On).await;
    let good = id_token(&browser_login(&provider, "erin").await);
    whoami(&mesh, &good).await.ok(StatusCode::OK);
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    let with_header = |h: Value| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            parts[1],
            parts[2]
        )
    };
    let mut none = header.clone();
    none["alg"] = json!("none");
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("no-such-key");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let wrong_aud = provider
        .client_token("etl-job", "etl-secret", "urn:other")
        .await;
    let foreign = id_token(&browser_login(&untrusted, "erin").await);
    let short = provider
        .client_token("short-lived", "short-secret", "urn:meshgate")
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let cases = [
        (
            "alg none",
            format!("{}.{}.", URL_SAFE_NO_PAD.encode(none.to_string()), parts[1]),
            "none",
        ),
        ("unknown kid", with_header(unknown_kid), "does not publish"),
        ("tampered", tampered, "signature"),
        ("wrong aud", wrong_aud, "audience"),
        ("wrong iss", foreign, "not trusted"),
        ("expired", short, "expired"),
        (
            "oversized",
            format!("eyJ{}.a.b", "A".repeat(20_000)),
            "malformed",
        ),
        ("garbage", "eyJhbGciOi.%%%.x".to_string(), "invalid"),
    ];
    for (what, token, says) in &cases {
        let r = whoami(&mesh, token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text());
        let text = r.text();
        assert!(text.to_lowercase().contains(says), "{what}: {text}");
        assert!(
            !text.contains(&token[..token.len().min(40)]),
            "{what} repeats the token"
        );
    }
    let failed = mesh.audit("action=auth.sign_in_failed").await;
    assert!(!failed.is_empty());
    for e in &failed {
        assert_eq!(e["outcome"], "denied");
        let detail = e["detail"].to_string();
        for (_, token, _) in &cases {
            assert!(!detail.contains(&token[..token.len().min(40)]));
        }
    }

    // Key rotation: the provider signs with a new key; meshgate fetches it on first sight.
    provider.rotate();
    // The made-up key id above made meshgate refetch a moment ago; past the refresh limit
    // (1 s here) a new key id fetches again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = id_token(&browser_login(&provider, "erin").await);
    assert_ne!(
        rotated.split('.').next(),
        good.split('.').next(),
        "a new key id"
    );
    whoami(&mesh, &rotated).await.ok(StatusCode::OK);

    // The provider is down: a token with a key the cache lacks fails closed, with a 503
    // that says why; one already verified keeps working until it expires.
    provider.stop();
    let replica = mesh
        .replica_with(|c| c.auth.oidc = vec![issuer_config(&provider, Provision::On)])
        .await;
    let r = whoami(&replica, &rotated).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(r.text().contains("could not be fetched"), "{}", r.text());
    whoami(&mesh, &rotated).await.ok(StatusCode::OK);
}

/// meshgate's address as the provider knows it (`public_url`); the test browser sends
/// requests for it to the in-process router.
const MESHGATE: &str = "http://meshgate.test";

/// A browser: cookies per host, redirects followed, the provider's forms filled in as `user`.
/// Requests to [`MESHGATE`] go to the mesh's router, the rest over HTTP.
struct Browser<'a> {
    mesh: &'a Mesh,
    http: reqwest::Client,
    cookies: BTreeMap<String, BTreeMap<String, String>>,
}

/// A page the browser stopped at: meshgate's answer that is not a redirect.
struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    /// Every `Set-Cookie` meshgate sent on the way.
    set_cookies: Vec<String>,
}

impl<'a> Browser<'a> {
    fn new(mesh: &'a Mesh) -> Browser<'a> {
        Browser {
            mesh,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self, host: &str) -> String {
        self.cookies
            .get(host)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn keep(&mut self, host: &str, set_cookie: &str) {
        if let Some((k, v)) = set_cookie
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
        {
            let jar = self.cookies.entry(host.to_string()).or_default();
            if v.is_empty() {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_string(), v.to_string());
            }
        }
    }

    /// Opens `url` and follows redirects and the provider's forms until meshgate answers
    /// with something other than a redirect.
    async fn open(&mut self, url: &str, user: &str) -> Page {
        let mut next = (url.to_string(), None::<Vec<(String, String)>>);
        let mut set_cookies = Vec::new();
        for _ in 0..20 {
            let (at, form) = next.clone();
            let parsed = reqwest::Url::parse(&at).expect("url");
            let host = parsed.host_str().unwrap_or_default().to_string();
            if let Some(path) = at.strip_prefix(MESHGATE) {
                let req = axum::http::Request::builder()
                    .method("GET")
                    .uri(path)
                    .header("cookie", self.cookie_header(&host))
                    .body(Body::empty())
                    .expect("request");
                let r = send(self.mesh, req).await;
                for c in r.headers.get_all("set-cookie") {
                    let c = c.to_str().unwrap_or_default().to_string();
                    self.keep(&host, &c);
                    set_cookies.push(c);
                }
                if r.status.is_redirection() {
                    let loc = r.headers["location"].to_str().expect("location");
                    let abs = parsed.join(loc).expect("join");
                    if abs.as_str().starts_with(MESHGATE) && !abs.path().starts_with("/auth/") {
                        // Back on a page of meshgate after signing in: stop there.
                        return Page {
                            status: r.status,
                            headers: r.headers,
                            set_cookies,
                        };
                    }
                    next = (abs.to_string(), None);
                    continue;
                }
                return Page {
                    status: r.status,
                    headers: r.headers,
                    set_cookies,
                };
            }
            let req = match &form {
                Some(fields) => self.http.post(&at).form(fields),
                None => self.http.get(&at),
            };
            let r = req
                .header("cookie", self.cookie_header(&host))
                .send()
                .await
                .expect("provider");
            for c in r.headers().get_all("set-cookie") {
                self.keep(&host, c.to_str().unwrap_or_default());
            }
            if r.status().is_redirection() {
                let loc = r.headers()["location"]
                    .to_str()
                    .expect("location")
                    .to_string();
                next = (parsed.join(&loc).expect("join").to_string(), None);
                continue;
            }
            let page = r.text().await.expect("page");
            let (action, fields) = fill_form(&page, user)
                .unwrap_or_else(|| panic!("no form on the provider's page: {page}"));
            next = (
                parsed.join(&action).expect("join").to_string(),
                Some(fields),
            );
        }
        panic!("the sign-in did not come back to meshgate");
    }

    /// A request to meshgate with the browser's cookies (and `extra` headers).
    async fn call(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> crate::common::Resp {
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", self.cookie_header("meshgate.test"));
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        send(self.mesh, req.body(body).expect("request")).await
    }
}

async fn send(mesh: &Mesh, req: axum::http::Request<Body>) -> crate::common::Resp {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = mesh.app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    crate::common::Resp {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn people_sign_in_through_the_browser_into_a_session_that_guards_its_writes() {
    let Some(script) = provider_script() else {
        return;
    };
    let mut provider =
        Provider::start_with_redirect(&script, &format!("{MESHGATE}/auth/callback")).await;
    let mut issuer = issuer_config(&provider, Provision::On);
    issuer.client_secret = Some("meshgate-secret".into());
    issuer.scopes = vec![
        "openid".into(),
        "email".into(),
        "profile".into(),
        "groups".into(),
    ];
    let mesh = Mesh::demo_with(move |c: &mut Config| {
        c.auth.oidc = vec![issuer];
        c.public_url = Some(MESHGATE.into());
    })
    .await;
    let mut browser = Browser::new(&mesh);
    let page = browser
        .open(
            &format!("{MESHGATE}/auth/login?return_to=/catalog"),
            "frank",
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers["location"], "/catalog");
    let cookie = page
        .set_cookies
        .iter()
        .find(|c| c.starts_with("meshgate_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }

    // The session authenticates the API; the page learns its CSRF token.
    let me = browser
        .call("GET", "/api/v1/whoami", &[], None)
        .await
        .ok(StatusCode::OK);
    assert_eq!(me["principal"]["name"], "frank");
    let session = browser
        .call("GET", "/auth/session", &[], None)
        .await
        .ok(StatusCode::OK);
    let csrf = session["csrf_token"].as_str().expect("csrf").to_string();
    assert_eq!(session["method"], "oidc");

    // Writes need the CSRF token, from this origin.
    let make_token = json!({"name": "laptop"});
    let r = browser
        .call("POST", "/api/v1/tokens", &[], Some(make_token.clone()))
        .await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
    let r = browser
        .call(
            "POST",
            "/api/v1/tokens",
            &[("x-csrf-token", "wrong")],
            Some(make_token.clone()),
        )
        .await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
    let r = browser
        .call(
            "POST",
            "/api/v1/tokens",
            &[("x-csrf-token", &csrf), ("origin", "https://evil.example")],
            Some(make_token.clone()),
        )
        .await;
    r.error(StatusCode::FORBIDDEN, "forbidden");
    browser
        .call(
            "POST",
            "/api/v1/tokens",
            &[("x-csrf-token", &csrf), ("origin", MESHGATE)],
            Some(make_token.clone()),
        )
        .await
        .ok(StatusCode::CREATED);

    // The provider's answer cannot be replayed.
    let replay = browser
        .call("GET", "/auth/callback?code=x&state=y", &[], None)
        .await;
    replay.error(StatusCode::BAD_REQUEST, "invalid_request");

    // Signing out ends the session here and points at the provider's sign-out page.
    let out = browser
        .call("POST", "/auth/logout", &[("x-csrf-token", &csrf)], None)
        .await;
    let body = out.ok(StatusCode::OK);
    assert!(
        body["end_session_url"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&provider.issuer()),
        "{body}"
    );
    let ended = browser.call("GET", "/api/v1/whoami", &[], None).await;
    ended.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let events: Vec<String> = mesh
        .audit("action=session.")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(events.contains(&"session.open".to_string()), "{events:?}");
    assert!(events.contains(&"session.close".to_string()), "{events:?}");
    provider.stop();
}

#[tokio::test]
async fn a_token_opens_a_session_where_there_is_no_provider_and_idle_sessions_end() {
    let mesh = Mesh::demo().await;
    let mut browser = Browser::new(&mesh);
    let alice = mesh.token("alice");
    // Only JSON: a form on another site cannot sign a browser in (login CSRF).
    let form = axum::http::Request::builder()
        .method("POST")
        .uri("/auth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={alice}")))
        .expect("request");
    let r = send(&mesh, form).await;
    assert!(r.status.is_client_error(), "{}", r.text());
    let bad = browser
        .call(
            "POST",
            "/auth/token",
            &[],
            Some(json!({"token": "mgt_0000"})),
        )
        .await;
    bad.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // A SCIM token opens no session (it would escape its scope).
    let scim = scim_token(&mesh).await;
    browser
        .call("POST", "/auth/token", &[], Some(json!({"token": scim})))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = browser
        .call("POST", "/auth/token", &[], Some(json!({"token": alice})))
        .await;
    let view = r.ok(StatusCode::OK);
    assert_eq!(view["principal"]["name"], "alice");
    assert!(!r.text().contains(&alice), "the token is not echoed");
    for c in r.headers.get_all("set-cookie") {
        browser.keep("meshgate.test", c.to_str().unwrap_or_default());
    }
    browser
        .call("GET", "/api/v1/whoami", &[], None)
        .await
        .ok(StatusCode::OK);
    // A bearer token still wins over the cookie.
    let bob = mesh.token("bob");
    let me = browser
        .call(
            "GET",
            "/api/v1/whoami",
            &[("authorization", &format!("Bearer {bob}"))],
            None,
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(me["principal"]["name"], "bob");
    // A server whose idle timeout is 1 s: the same session has ended there.
    let strict = mesh.replica_with(|c| c.auth.session_idle_secs = 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let mut req = axum::http::Request::builder()
        .method("GET")
        .uri("/api/v1/whoami");
    req = req.header("cookie", browser.cookie_header("meshgate.test"));
    let r = send(&strict, req.body(Body::empty()).expect("request")).await;
    r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // A made-up cookie is no session.
    let mut forged = Browser::new(&mesh);
    forged.keep("meshgate.test", "meshgate_session=forged");
    forged
        .call("GET", "/api/v1/whoami", &[], None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_partners_identity_provider_opens_delta_sharing_for_its_bound_recipient_only() {
    let Some(script) = provider_script() else {
        return;
    };
    let partner = Provider::start(&script).await;
    let mut config = issuer_config(&partner, Provision::On);
    config.sharing_only = true;
    let mesh = Mesh::demo_with(move |c: &mut Config| c.auth.oidc = vec![config]).await;
    mesh.post(
        "admin",
        "/api/v1/principals",
        &json!({"name": "acme", "kind": "service"}),
    )
    .await
    .ok(StatusCode::CREATED);
    let federation = "/api/v1/recipients/acme/federation";
    mesh.put(
        "admin",
        federation,
        &json!({"issuer": "https://not-trusted.example", "subject": "etl-job"}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_request");
    mesh.put(
        "bob",
        federation,
        &json!({"issuer": partner.issuer(), "subject": "etl-job"}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");
    let bound = mesh
        .put(
            "admin",
            federation,
            &json!({"issuer": partner.issuer(), "subject": "etl-job"}),
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(bound["subject"], "etl-job");
    assert_eq!(
        mesh.get("admin", federation).await.ok(StatusCode::OK),
        bound
    );

    // The partner's client-credentials token reads Delta Sharing as `acme`…
    let token = partner
        .client_token("etl-job", "etl-secret", "urn:meshgate")
        .await;
    let shares = |t: String| {
        let mesh = &mesh;
        async move {
            mesh.send_bearer(
                "GET",
                "/delta-sharing/shares",
                Some(&t),
                None,
                Body::empty(),
            )
            .await
        }
    };
    let r = shares(token.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // …and opens nothing else, even once remembered.
    let r = whoami(&mesh, &token).await;
    assert!(
        r.error(StatusCode::UNAUTHORIZED, "unauthenticated")
            .contains("Delta Sharing")
    );
    // A subject bound to no recipient, and a person of the partner: refused everywhere.
    let stranger = partner
        .client_token("short-lived", "short-secret", "urn:meshgate")
        .await;
    let r = shares(stranger.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(
        r.text().contains("no Delta Sharing recipient is bound"),
        "{}",
        r.text()
    );
    let person = id_token(&browser_login(&partner, "mallory").await);
    whoami(&mesh, &person)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let signed_in = mesh.audit("action=auth.sign_in").await;
    assert!(
        signed_in
            .iter()
            .any(|e| e["detail"]["method"] == "sharing_federation"),
        "{signed_in:?}"
    );
    assert_eq!(mesh.audit("action=sharing.federation.bind").await.len(), 1);

    // Unbound: the next token of the subject is refused.
    mesh.delete("admin", federation).await.ok(StatusCode::OK);
    let again = partner
        .client_token("etl-job", "etl-secret", "urn:meshgate")
        .await;
    assert_eq!(shares(again).await.status, StatusCode::UNAUTHORIZED);
    mesh.get("admin", federation)
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn deprovisioning_over_scim_ends_jwts_and_browser_sessions_at_the_next_request() {
    let Some(script) = provider_script() else {
        return;
    };
    let provider =
        Provider::start_with_redirect(&script, &format!("{MESHGATE}/auth/callback")).await;
    let mut issuer = issuer_config(&provider, Provision::On);
    issuer.client_secret = Some("meshgate-secret".into());
    let mesh = Mesh::demo_with(move |c: &mut Config| {
        c.auth.oidc = vec![issuer];
        c.public_url = Some(MESHGATE.into());
    })
    .await;
    // hank signs in twice: a bearer JWT (then remembered) and a browser session.
    let jwt = id_token(&browser_login(&provider, "hank").await);
    whoami(&mesh, &jwt).await.ok(StatusCode::OK);
    let mut browser = Browser::new(&mesh);
    browser
        .open(&format!("{MESHGATE}/auth/login"), "hank")
        .await;
    browser
        .call("GET", "/api/v1/whoami", &[], None)
        .await
        .ok(StatusCode::OK);

    // The identity provider deactivates hank over SCIM.
    let scim_token = scim_token(&mesh).await;
    let scim = |method: &'static str, path: String, body: Option<Value>| {
        let mesh = &mesh;
        let token = scim_token.clone();
        async move {
            let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
            mesh.send_bearer(
                method,
                &format!("/scim/v2{path}"),
                Some(&token),
                Some("application/scim+json"),
                body,
            )
            .await
        }
    };
    let found = scim(
        "GET",
        "/Users?filter=userName%20eq%20%22hank%22".into(),
        None,
    )
    .await
    .ok(StatusCode::OK);
    let id = found["Resources"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]});
    scim("PATCH", format!("/Users/{id}"), Some(patch))
        .await
        .ok(StatusCode::OK);

    whoami(&mesh, &jwt)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    browser
        .call("GET", "/api/v1/whoami", &[], None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // Nor can it sign in again, at the provider or with a new token.
    let again = id_token(&browser_login(&provider, "hank").await);
    whoami(&mesh, &again)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}
