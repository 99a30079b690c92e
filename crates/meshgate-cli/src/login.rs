//! `meshgate login`, `logout` and the signed-in token every other verb uses when no
//! `--token`/`MESHGATE_TOKEN` is given (docs/design/SIGN_IN.md §The CLI).
//!
//! `login` asks the server which identity providers it trusts (`GET /auth/providers`), then
//! signs in at one with the device authorization grant (RFC 8628): it prints a URL and a
//! code, the person confirms them in any browser, and the CLI receives an access token and a
//! refresh token. They are kept per server in `<config dir>/meshgate/credentials.json`
//! (`$XDG_CONFIG_HOME` or `~/.config`), readable by the user only (mode 0600), and the access
//! token is renewed with the refresh token when it is about to expire.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A signed-in server's tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    issuer: String,
    client_id: String,
    token_endpoint: String,
    #[serde(default)]
    revocation_endpoint: Option<String>,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Credentials {
    /// By server URL (without a trailing `/`).
    servers: BTreeMap<String, Stored>,
}

/// Renew the access token when it has less than this left.
const RENEW_BEFORE_SECS: i64 = 60;

fn key(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// `<config dir>/meshgate/credentials.json`.
pub fn credentials_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .ok_or_else(|| anyhow!("HOME is not set: cannot find the config directory"))?,
        )
        .join(".config"),
    };
    Ok(base.join("meshgate").join("credentials.json"))
}

fn load() -> Result<Credentials> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not readable; remove it and sign in again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the file readable and writable by the user only, atomically (a temporary file
/// made with mode 0600, then renamed over the old one).
fn save(credentials: &Credentials) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = credentials_path()?;
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("no config directory"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(&serde_json::to_vec_pretty(credentials)?)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("cannot build an HTTP client")
}

/// The signed-in access token for `url`, renewed when it is about to expire; None when not
/// signed in there.
pub async fn stored_token(url: &str) -> Result<Option<String>> {
    let mut credentials = load()?;
    let Some(stored) = credentials.servers.get(&key(url)).cloned() else {
        return Ok(None);
    };
    if (stored.expires_at - Utc::now()).num_seconds() > RENEW_BEFORE_SECS {
        return Ok(Some(stored.access_token));
    }
    let Some(refresh_token) = &stored.refresh_token else {
        bail!("your sign-in to {url} has expired; run `meshgate login` again");
    };
    let fresh = meshgate_oidc::refresh(
        &http()?,
        &stored.token_endpoint,
        &stored.client_id,
        refresh_token,
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let renewed = Stored {
        access_token: fresh.access_token.clone(),
        refresh_token: fresh.refresh_token.or(stored.refresh_token.clone()),
        expires_at: expiry(fresh.expires_in),
        ..stored
    };
    credentials.servers.insert(key(url), renewed);
    save(&credentials)?;
    Ok(Some(fresh.access_token))
}

fn expiry(expires_in: Option<u64>) -> DateTime<Utc> {
    let secs = i64::try_from(expires_in.unwrap_or(300)).unwrap_or(300);
    Utc::now() + chrono::Duration::seconds(secs)
}

/// `meshgate login`: signs in at the server's identity provider (`issuer`: its index in
/// `GET /auth/providers`, default the first) with the device authorization grant.
pub async fn login(url: &str, issuer: Option<usize>) -> Result<()> {
    let http = http()?;
    let providers: Value = http
        .get(format!("{}/auth/providers", key(url)))
        .send()
        .await
        .with_context(|| format!("cannot reach meshgate at {url} (is it running? pass --url)"))?
        .error_for_status()
        .with_context(|| format!("{url} does not list sign-in providers (an older meshgate?)"))?
        .json()
        .await?;
    let list = providers["providers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        bail!(
            "{url} trusts no identity provider ([auth.oidc]); use an API token instead (--token or MESHGATE_TOKEN)"
        );
    }
    let index = issuer.unwrap_or(0);
    let provider = list
        .iter()
        .find(|p| p["index"].as_u64() == Some(index as u64))
        .ok_or_else(|| {
            anyhow!(
                "{url} has no identity provider #{index}; it has {}",
                list.len()
            )
        })?;
    let issuer = provider["issuer"].as_str().unwrap_or_default().to_string();
    let client_id = provider["cli_client_id"]
        .as_str()
        .ok_or_else(|| {
            anyhow!("{url} names no client for the CLI at {issuer} (auth.oidc.cli_client_id)")
        })?
        .to_string();
    let mut scopes: Vec<String> = provider["scopes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| vec!["openid".into()]);
    if !scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    let discovery = meshgate_oidc::discover(&http, &issuer)
        .await
        .map_err(|e| anyhow!(e))?;
    let device_endpoint = discovery
        .device_authorization_endpoint
        .clone()
        .ok_or_else(|| {
            anyhow!("the identity provider {issuer} does not offer the device authorization grant")
        })?;
    let token_endpoint = discovery
        .token_endpoint
        .clone()
        .ok_or_else(|| anyhow!("the identity provider {issuer} publishes no token endpoint"))?;
    let device = meshgate_oidc::start_device(&http, &device_endpoint, &client_id, &scopes)
        .await
        .map_err(|e| anyhow!(e))?;
    match &device.verification_uri_complete {
        Some(complete) => println!(
            "To sign in, open {complete}\n(or open {} and enter the code {})",
            device.verification_uri, device.user_code
        ),
        None => println!(
            "To sign in, open {} and enter the code {}",
            device.verification_uri, device.user_code
        ),
    }
    std::io::stdout().flush().ok();
    let mut interval = Duration::from_secs(device.interval.unwrap_or(5).max(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(device.expires_in);
    let tokens = loop {
        if std::time::Instant::now() > deadline {
            bail!("the sign-in code expired before it was confirmed; run `meshgate login` again");
        }
        tokio::time::sleep(interval).await;
        match meshgate_oidc::poll_device(&http, &token_endpoint, &client_id, &device.device_code)
            .await
            .map_err(|e| anyhow!(e))?
        {
            meshgate_oidc::DevicePoll::Pending => {}
            meshgate_oidc::DevicePoll::SlowDown => interval += Duration::from_secs(5),
            meshgate_oidc::DevicePoll::Done(t) => break t,
        }
    };
    let me: Value = http
        .get(format!("{}/api/v1/whoami", key(url)))
        .bearer_auth(&tokens.access_token)
        .send()
        .await?
        .json()
        .await?;
    let Some(name) = me["principal"]["name"].as_str() else {
        let why = me["error"]["message"].as_str().unwrap_or("no answer");
        bail!("signed in at {issuer}, but {url} refused the token: {why}");
    };
    let mut credentials = load()?;
    credentials.servers.insert(
        key(url),
        Stored {
            issuer: issuer.clone(),
            client_id,
            token_endpoint,
            revocation_endpoint: discovery.revocation_endpoint,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: expiry(tokens.expires_in),
        },
    );
    save(&credentials)?;
    println!("signed in to {url} as {name} (through {issuer})");
    Ok(())
}

/// `meshgate logout`: forgets the tokens for `url` and revokes the refresh token at the
/// provider when it allows.
pub async fn logout(url: &str) -> Result<()> {
    let mut credentials = load()?;
    let Some(stored) = credentials.servers.remove(&key(url)) else {
        println!("not signed in to {url}");
        return Ok(());
    };
    save(&credentials)?;
    if let (Some(endpoint), Some(refresh)) = (&stored.revocation_endpoint, &stored.refresh_token)
        && let Err(e) = meshgate_oidc::revoke(&http()?, endpoint, &stored.client_id, refresh).await
    {
        eprintln!("note: the identity provider did not revoke the refresh token: {e}");
    }
    println!("signed out of {url}");
    Ok(())
}
