//! A real OpenID provider process for tests (`provider.mjs` beside this file) and a
//! browser's way with its pages. Included by the server's and the CLI's integration tests
//! (`#[path]`), which both sign in at it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// provider.mjs, or None (skip) outside CI.
pub fn provider_script() -> Option<String> {
    match std::env::var("MESHGATE_TEST_OIDC_PROVIDER") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => panic!(
            "MESHGATE_TEST_OIDC_PROVIDER is not set but CI is: the sign-in tests need the Node OpenID provider (.ci/run installs it)"
        ),
        _ => {
            eprintln!(
                "note: MESHGATE_TEST_OIDC_PROVIDER is not set; skipping the sign-in tests (npm ci in crates/meshgate-server/tests/oidc, then point it at provider.mjs)"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running provider process (killed on drop).
pub struct Provider {
    script: String,
    redirect: String,
    pub port: u16,
    keys: tempfile::TempDir,
    child: Option<Child>,
    pub http: reqwest::Client,
}

impl Provider {
    pub async fn start(script: &str) -> Provider {
        Provider::start_with_redirect(script, "http://127.0.0.1:1/auth/callback").await
    }

    /// A provider whose `meshgate` client may redirect to `redirect` too.
    pub async fn start_with_redirect(script: &str, redirect: &str) -> Provider {
        let mut p = Provider {
            redirect: redirect.to_string(),
            script: script.to_string(),
            port: free_port(),
            keys: tempfile::tempdir().expect("tempdir"),
            child: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A new connection per request: Node closes idle ones after 5 s, and a
                // request racing that close fails.
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
        };
        p.spawn(false);
        p
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, rotate: bool) {
        let mut cmd = Command::new("node");
        cmd.arg(&self.script)
            .args(["--port", &self.port.to_string()])
            .arg("--keys")
            .arg(self.keys.path().join("keys.json"))
            .args(["--redirect", "http://127.0.0.1:1/auth/callback"])
            .args(["--redirect", &self.redirect])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if rotate {
            cmd.arg("--rotate");
        }
        let mut child = cmd.spawn().expect("start node (is Node.js installed?)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut line)
            .expect("read the provider's first line");
        assert!(
            line.starts_with("ready"),
            "the provider did not start: {line}"
        );
        // Keep reading what it prints: a closed pipe would end it at its next line.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts with a new signing key (the old one stays published): a key rotation.
    pub fn rotate(&mut self) {
        self.stop();
        self.spawn(true);
    }

    /// What an admin would do in the provider's console: `user`'s groups from now on.
    pub async fn set_groups(&self, user: &str, groups: &[&str]) {
        let r = self
            .http
            .put(format!("{}/test/groups/{user}", self.issuer()))
            .json(&groups)
            .send()
            .await
            .expect("set groups");
        assert!(r.status().is_success());
    }

    /// A client-credentials access token (a JWT for `resource`).
    pub async fn client_token(&self, client: &str, secret: &str, resource: &str) -> String {
        let r = self
            .http
            .post(format!("{}/token", self.issuer()))
            .basic_auth(client, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "read"),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token endpoint");
        let body: serde_json::Value = r.json().await.expect("token response");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"))
            .to_string()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The form on a provider's page, filled in as a person signing in as `user` would: the
/// login and password fields typed, every other field (hidden ones, a prefilled user code)
/// as the page has it. Returns the form's action and fields; None for a page without a form.
pub fn fill_form(page: &str, user: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &page[page.find("<form")?..];
    let action = attribute(&form[..form.find('>')?], "action")?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        let value = attribute(tag, "value").unwrap_or_default();
        if let Some(name) = attribute(tag, "name") {
            let value = match name.as_str() {
                "login" => user.to_string(),
                "password" => "any".to_string(),
                _ => value,
            };
            fields.push((name, value));
        }
    }
    Some((action, fields))
}

/// The value of `name="…"` in a tag's text, HTML entities undone.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/")
            .replace("&#x3D;", "=")
            .replace("&quot;", "\""),
    )
}

/// Follows the provider's pages from `url` as a browser would (cookies kept, redirects
/// followed, forms filled in as `user`) until a page without a form, or a redirect leaving
/// the provider; returns that redirect's target, if any.
pub async fn walk_provider(http: &reqwest::Client, url: &str, user: &str) -> Option<String> {
    let mut cookies: std::collections::BTreeMap<String, String> = Default::default();
    let origin = reqwest::Url::parse(url).expect("url").origin();
    let mut next = (url.to_string(), None::<Vec<(String, String)>>);
    for _ in 0..20 {
        let (at, form) = next.clone();
        let parsed = reqwest::Url::parse(&at).expect("url");
        if parsed.origin() != origin {
            return Some(at);
        }
        let cookie = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = match &form {
            Some(fields) => http.post(&at).form(fields),
            None => http.get(&at),
        };
        let r = req.header("cookie", cookie).send().await.expect("provider");
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap_or_default();
            if let Some((k, v)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                cookies.insert(k.trim().into(), v.into());
            }
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
        let (action, fields) = fill_form(&page, user)?;
        next = (
            parsed.join(&action).expect("join").to_string(),
            Some(fields),
        );
    }
    panic!("the provider's pages did not end");
}
