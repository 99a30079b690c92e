//! A provider's discovery document and signing keys, fetched lazily and cached: a token
//! signed with a key id the cache lacks refetches the key set once (at most every
//! `jwks_min_refresh_secs`, one fetch at a time), and a set older than `jwks_max_age_secs` is
//! refetched, so rotated keys work and retired ones stop. docs/design/SIGN_IN.md §Keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::Refusal;
use crate::config::IssuerConfig;

/// Largest discovery document or key set read, in bytes.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The endpoints of a provider's discovery document meshgate uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
}

/// One usable public key.
#[derive(Clone)]
pub(crate) struct Key {
    pub key: DecodingKey,
    /// The algorithm the key set pins it to, if it does.
    pub alg: Option<Algorithm>,
    /// Which algorithms its type can verify.
    pub kind: KeyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    pub fn verifies(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::P256 => alg == ES256,
            KeyKind::P384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }
}

#[derive(Default)]
struct Cached {
    discovery: Option<Discovery>,
    keys: HashMap<String, Key>,
    /// Keys without a `kid` (usable only when the token names none either).
    unnamed: Vec<Key>,
    fetched_at: Option<Instant>,
}

/// The cache of one issuer.
pub(crate) struct KeyCache {
    config: IssuerConfig,
    http: reqwest::Client,
    cached: RwLock<Cached>,
    /// Held while fetching, so concurrent misses make one request; holds when the last
    /// fetch was attempted (rate limit).
    fetching: Mutex<Option<Instant>>,
}

impl KeyCache {
    pub fn new(config: IssuerConfig, http: reqwest::Client) -> KeyCache {
        KeyCache {
            config,
            http,
            cached: RwLock::new(Cached::default()),
            fetching: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// The keys that may have signed a token with `kid` (all unnamed keys when it has none),
    /// fetching the set when it is missing, stale, or lacks `kid`.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Vec<Key>, Refusal> {
        if let Some(found) = self.lookup(kid).await {
            return Ok(found);
        }
        self.refresh(false).await?;
        self.lookup(kid).await.ok_or_else(|| {
            match kid {
            Some(kid) => Refusal::UnknownKey(format!(
                "the token is signed with key `{}`, which issuer `{}` does not publish",
                kid.chars().take(64).collect::<String>(),
                self.config.issuer
            )),
            None => Refusal::UnknownKey(
                "the token names no signing key (`kid`) and the issuer publishes no key without one"
                    .into(),
            ),
        }
        })
    }

    /// The discovery document (fetched on first use).
    pub async fn discovery(&self) -> Result<Discovery, Refusal> {
        if let Some(d) = &self.cached.read().await.discovery {
            return Ok(d.clone());
        }
        self.refresh(true).await?;
        self.cached
            .read()
            .await
            .discovery
            .clone()
            .ok_or_else(|| Refusal::Unavailable("the discovery document is missing".into()))
    }

    async fn lookup(&self, kid: Option<&str>) -> Option<Vec<Key>> {
        let cached = self.cached.read().await;
        let fresh = cached
            .fetched_at
            .is_some_and(|at| at.elapsed() < Duration::from_secs(self.config.jwks_max_age_secs));
        if !fresh {
            return None;
        }
        match kid {
            Some(kid) => cached.keys.get(kid).map(|k| vec![k.clone()]),
            None if !cached.unnamed.is_empty() => Some(cached.unnamed.clone()),
            None => None,
        }
    }

    /// Refetches discovery and keys, unless another caller just did (then its result is
    /// used). `force` skips the rate limit (first fetch).
    async fn refresh(&self, force: bool) -> Result<(), Refusal> {
        let mut last = self.fetching.lock().await;
        let min = Duration::from_secs(self.config.jwks_min_refresh_secs);
        if let Some(at) = *last
            && at.elapsed() < min
            && !force
        {
            // Someone fetched a moment ago: what they got is what there is.
            return Ok(());
        }
        *last = Some(Instant::now());
        let discovery = self.fetch_discovery().await?;
        let (keys, unnamed) = self.fetch_keys(&discovery.jwks_uri).await?;
        let mut cached = self.cached.write().await;
        cached.discovery = Some(discovery);
        cached.keys = keys;
        cached.unnamed = unnamed;
        cached.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn fetch_discovery(&self) -> Result<Discovery, Refusal> {
        let url = self.config.discovery_url();
        let body = self.get(&url, "discovery document").await?;
        let discovery: Discovery = serde_json::from_slice(&body).map_err(|e| {
            Refusal::Unavailable(format!("the discovery document at {url} is not one: {e}"))
        })?;
        // OpenID Connect Discovery §4.3: the document's issuer must be the one asked for,
        // or tokens could be accepted under the wrong name.
        if discovery.issuer != self.config.issuer {
            return Err(Refusal::Unavailable(format!(
                "the discovery document at {url} names issuer `{}`, not `{}`",
                discovery.issuer, self.config.issuer
            )));
        }
        Ok(discovery)
    }

    async fn fetch_keys(
        &self,
        jwks_uri: &str,
    ) -> Result<(HashMap<String, Key>, Vec<Key>), Refusal> {
        let body = self.get(jwks_uri, "key set").await?;
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(&body).map_err(|e| {
            Refusal::Unavailable(format!("the key set at {jwks_uri} is not a JWK set: {e}"))
        })?;
        let mut named = HashMap::new();
        let mut unnamed = Vec::new();
        for value in set.keys {
            // One key of a type this server cannot use (or an HMAC secret, which has no
            // business in a public set) is skipped, not the whole set.
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
            {
                continue;
            }
            let Some(key) = usable(&jwk) else { continue };
            match jwk.common.key_id {
                Some(kid) => {
                    named.insert(kid, key);
                }
                None => unnamed.push(key),
            }
        }
        Ok((named, unnamed))
    }

    async fn get(&self, url: &str, what: &str) -> Result<Vec<u8>, Refusal> {
        let unavailable = |detail: String| {
            Refusal::Unavailable(format!(
                "the identity provider's {what} could not be fetched from {url}: {detail}"
            ))
        };
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(self.config.http_timeout_secs))
            .send()
            .await
            .map_err(|e| unavailable(without_url(&e)))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(unavailable("it is larger than 1 MiB".into()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(without_url(&e)))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(unavailable("it is larger than 1 MiB".into()));
        }
        Ok(body.to_vec())
    }
}

/// A request error's text without the URL reqwest appends (the message names it once).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        let mut e = e.to_string();
        if let Some(i) = e.find(" for url (") {
            e.truncate(i);
        }
        e
    }
}

/// A JWK this server can verify with: RSA, EC P-256/P-384 or Ed25519 public keys.
fn usable(jwk: &Jwk) -> Option<Key> {
    use jsonwebtoken::jwk::{EllipticCurve, KeyAlgorithm as K};
    let (key, kind) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => (
            DecodingKey::from_rsa_components(&p.n, &p.e).ok()?,
            KeyKind::Rsa,
        ),
        AlgorithmParameters::EllipticCurve(p) => {
            let kind = match p.curve {
                EllipticCurve::P256 => KeyKind::P256,
                EllipticCurve::P384 => KeyKind::P384,
                _ => return None,
            };
            (DecodingKey::from_ec_components(&p.x, &p.y).ok()?, kind)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 {
                return None;
            }
            (
                DecodingKey::from_ed_components(&p.x).ok()?,
                KeyKind::Ed25519,
            )
        }
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(match a {
            K::RS256 => Algorithm::RS256,
            K::RS384 => Algorithm::RS384,
            K::RS512 => Algorithm::RS512,
            K::PS256 => Algorithm::PS256,
            K::PS384 => Algorithm::PS384,
            K::PS512 => Algorithm::PS512,
            K::ES256 => Algorithm::ES256,
            K::ES384 => Algorithm::ES384,
            K::EdDSA => Algorithm::EdDSA,
            // HMAC and encryption algorithms: not a signing key this server accepts.
            _ => return None,
        }),
    };
    Some(Key { key, alg, kind })
}
