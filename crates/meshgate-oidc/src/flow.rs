//! The sign-in flows this server (browser) and the CLI run with a provider: the authorization
//! request of the code flow with PKCE (RFC 7636), the code exchange, and the secrets they
//! need. docs/design/SIGN_IN.md §Browser sessions.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{Refusal, Verifier};

/// A fresh random secret: 256 bits, base64url (state, nonce, session cookies).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = random_secret();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}

/// What a token endpoint answers.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl Verifier {
    fn issuer_at(&self, index: usize) -> Result<&crate::keys::KeyCache, Refusal> {
        self.issuers
            .get(index)
            .ok_or_else(|| Refusal::UntrustedIssuer(format!("there is no issuer #{index}")))
    }

    /// Where to send the browser to sign in at the `index`-th issuer.
    pub async fn authorization_url(
        &self,
        index: usize,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        pkce: &Pkce,
    ) -> Result<String, Refusal> {
        let cache = self.issuer_at(index)?;
        let config = cache.config();
        let discovery = cache.discovery().await?;
        let endpoint = discovery.authorization_endpoint.ok_or_else(|| {
            Refusal::Unavailable(format!(
                "issuer {} publishes no authorization endpoint",
                config.issuer
            ))
        })?;
        let client_id = config.client_id.as_deref().ok_or_else(|| {
            Refusal::Claim(format!("auth.oidc for {} has no client_id", config.issuer))
        })?;
        let mut url = url::Url::parse(&endpoint).map_err(|e| {
            Refusal::Unavailable(format!("the authorization endpoint is not a URL: {e}"))
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &config.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges an authorization code at the issuer's token endpoint.
    pub async fn exchange_code(
        &self,
        issuer: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, Refusal> {
        let cache = self
            .issuers
            .iter()
            .find(|c| c.config().issuer == issuer)
            .ok_or_else(|| Refusal::UntrustedIssuer(format!("issuer {issuer} is not trusted")))?;
        let config = cache.config();
        let discovery = cache.discovery().await?;
        let endpoint = discovery.token_endpoint.ok_or_else(|| {
            Refusal::Unavailable(format!("issuer {issuer} publishes no token endpoint"))
        })?;
        let client_id = config
            .client_id
            .clone()
            .ok_or_else(|| Refusal::Claim(format!("auth.oidc for {issuer} has no client_id")))?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
            ("code_verifier", verifier.to_string()),
        ];
        let mut request = self
            .http
            .post(&endpoint)
            .timeout(Duration::from_secs(config.http_timeout_secs));
        match &config.client_secret {
            Some(secret) => {
                request = request.basic_auth(form_encode(&client_id), Some(form_encode(secret)))
            }
            None => form.push(("client_id", client_id)),
        }
        let response = request.form(&form).send().await.map_err(|e| {
            Refusal::Unavailable(format!(
                "the token endpoint {endpoint} could not be reached: {}",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            ))
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|_| {
            Refusal::Unavailable(format!(
                "the token endpoint {endpoint} did not answer in full"
            ))
        })?;
        if !status.is_success() {
            let why = oauth_error(status, &body);
            return Err(Refusal::Claim(format!(
                "the identity provider refused the sign-in code ({why})"
            )));
        }
        serde_json::from_slice(&body).map_err(|_| {
            Refusal::Malformed("the token endpoint's answer is not a token response".into())
        })
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before HTTP Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ----- the CLI's flows: no trust configuration, just a provider and a public client -----

/// A provider's discovery document, for a client of it (the CLI): fetched from
/// `{issuer}/.well-known/openid-configuration`, naming that issuer.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<crate::Discovery, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let d: crate::Discovery = http
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("cannot reach the identity provider at {url}: {e}"))?
        .error_for_status()
        .map_err(|e| format!("the identity provider's discovery document: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{url} is not a discovery document: {e}"))?;
    if d.issuer != issuer {
        return Err(format!(
            "the discovery document at {url} names issuer `{}`, not `{issuer}`",
            d.issuer
        ));
    }
    Ok(d)
}

/// The answer to a device authorization request (RFC 8628 §3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    #[serde(default)]
    pub interval: Option<u64>,
}

/// Starts a device authorization (RFC 8628 §3.1).
pub async fn start_device(
    http: &reqwest::Client,
    endpoint: &str,
    client_id: &str,
    scopes: &[String],
) -> Result<DeviceAuthorization, String> {
    let r = http
        .post(endpoint)
        .timeout(Duration::from_secs(10))
        .form(&[("client_id", client_id), ("scope", &scopes.join(" "))])
        .send()
        .await
        .map_err(|e| format!("cannot reach the device authorization endpoint {endpoint}: {e}"))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "the identity provider refused to start a device sign-in: {}",
            oauth_error(status, &body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a device authorization answer: {e}"))
}

/// One poll of the token endpoint for a device authorization (RFC 8628 §3.4–3.5).
#[derive(Debug)]
pub enum DevicePoll {
    /// The person has not finished yet: ask again after the interval.
    Pending,
    /// Asked too often: add 5 seconds to the interval.
    SlowDown,
    Done(TokenResponse),
}

pub async fn poll_device(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    device_code: &str,
) -> Result<DevicePoll, String> {
    let r = http
        .post(token_endpoint)
        .timeout(Duration::from_secs(10))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", client_id),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach the token endpoint {token_endpoint}: {e}"))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map(DevicePoll::Done)
            .map_err(|e| format!("not a token response: {e}"));
    }
    #[derive(Deserialize)]
    struct Code {
        error: String,
    }
    match serde_json::from_slice::<Code>(&body).map(|c| c.error) {
        Ok(e) if e == "authorization_pending" => Ok(DevicePoll::Pending),
        Ok(e) if e == "slow_down" => Ok(DevicePoll::SlowDown),
        Ok(e) if e == "expired_token" => Err(
            "the sign-in code expired before it was confirmed; run `meshgate login` again".into(),
        ),
        Ok(e) if e == "access_denied" => {
            Err("the sign-in was refused at the identity provider".into())
        }
        _ => Err(format!(
            "the identity provider refused the sign-in: {}",
            oauth_error(status, &body)
        )),
    }
}

/// Exchanges a refresh token for fresh tokens (RFC 6749 §6).
pub async fn refresh(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    refresh_token: &str,
) -> Result<TokenResponse, String> {
    let r = http
        .post(token_endpoint)
        .timeout(Duration::from_secs(10))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .map_err(|e| format!("cannot reach the token endpoint {token_endpoint}: {e}"))?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "the identity provider refused to renew the sign-in ({}); run `meshgate login` again",
            oauth_error(status, &body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a token response: {e}"))
}

/// Revokes a token at the provider (RFC 7009); best effort.
pub async fn revoke(
    http: &reqwest::Client,
    endpoint: &str,
    client_id: &str,
    token: &str,
) -> Result<(), String> {
    http.post(endpoint)
        .timeout(Duration::from_secs(10))
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .error_for_status()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// An OAuth error body's `error: description`, or the status.
fn oauth_error(status: reqwest::StatusCode, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) => match e.error_description {
            Some(d) => format!("{}: {}", e.error, d.chars().take(200).collect::<String>()),
            None => e.error,
        },
        Err(_) => format!("HTTP {status}"),
    }
}
