//! Sign-in with OpenID Connect providers: bearer JWTs (access or ID tokens) validated
//! locally against the provider's published keys, and the identity their claims name.
//! No store and no HTTP server here: the server maps a [`Verified`] identity to a principal
//! (docs/design/SIGN_IN.md).
//!
//! What a token must pass, in order: at most 16 KiB and three base64url parts; an `alg` on
//! the configured allow-list (never `none`, never HMAC) and no `crit` header; an `iss` this
//! server trusts; a signature by a key the issuer publishes (key set cached, refetched on an
//! unknown `kid` at most every few seconds); `exp` (required) and `nbf` within the leeway;
//! an `aud` the issuer's settings accept; the claim that names its user or client.

mod config;
mod flow;
mod keys;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

pub use config::{DEFAULT_ALGORITHMS, IssuerConfig, Provision, check_all, is_loopback};
pub use flow::{
    DeviceAuthorization, DevicePoll, Pkce, TokenResponse, discover, poll_device, random_secret,
    refresh, revoke, start_device,
};
pub use keys::Discovery;

use keys::KeyCache;

/// Longest accepted token, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Most group names taken from one token.
const MAX_GROUPS: usize = 1000;

/// Why a token was refused. The message says what is wrong without repeating the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("{0}")]
    UntrustedIssuer(String),
    #[error("{0}")]
    Algorithm(String),
    #[error("{0}")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf` is in the future)")]
    NotYetValid,
    #[error("{0}")]
    Audience(String),
    #[error("{0}")]
    Claim(String),
    /// The provider's keys could not be had: fail closed, and say so.
    #[error("{0}")]
    Unavailable(String),
}

impl Refusal {
    /// A short code for the audit log and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::UntrustedIssuer(_) => "untrusted_issuer",
            Refusal::Algorithm(_) => "algorithm",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Audience(_) => "audience",
            Refusal::Claim(_) => "claim",
            Refusal::Unavailable(_) => "provider_unavailable",
        }
    }
}

/// Whether the token names a person or a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    /// A client-credentials token: the client is the caller.
    Service,
}

/// The identity a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The issuer (as configured).
    pub issuer: String,
    /// The user claim's value, or the client id of a service.
    pub login: String,
    pub kind: Kind,
    /// The groups claim's values (empty when absent).
    pub groups: Vec<String>,
    /// Whether the token's groups hold the issuer's `admin_group`; None when it has none.
    pub is_admin: Option<bool>,
    /// The `name` claim, if any.
    pub display_name: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
    pub provision: Provision,
    /// The issuer's tokens open only federated Delta Sharing recipients.
    pub sharing_only: bool,
}

/// Validates tokens from the configured issuers (and runs the sign-in flows with them,
/// `flow.rs`).
pub struct Verifier {
    issuers: Vec<KeyCache>,
    http: reqwest::Client,
}

/// Whether `token` has the shape of a JWT (three base64url parts, a JSON header first): the
/// server tries the OpenID path only for these.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Verifier {
    /// A verifier for `issuers` (checked with [`check_all`]). Nothing is fetched until a
    /// token arrives: a provider that is down does not stop the server from starting.
    pub fn new(issuers: Vec<IssuerConfig>) -> Result<Verifier, String> {
        check_all(&issuers)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for sign-in: {e}"))?;
        Ok(Verifier {
            issuers: issuers
                .into_iter()
                .map(|c| KeyCache::new(c, http.clone()))
                .collect(),
            http,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The issuers' settings, in configured order.
    pub fn issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.issuers.iter().map(KeyCache::config)
    }

    /// The discovery document of the `index`-th issuer (fetched on first use).
    pub async fn discovery(&self, index: usize) -> Result<Discovery, Refusal> {
        let cache = self
            .issuers
            .get(index)
            .ok_or_else(|| Refusal::UntrustedIssuer("no such issuer".into()))?;
        cache.discovery().await
    }

    /// Validates `token` (a bearer access or ID token) and returns the identity it names.
    pub async fn verify(&self, token: &str) -> Result<Verified, Refusal> {
        self.verify_as(token, None).await
    }

    /// Validates the ID token a sign-in of this server returned: as [`Verifier::verify`],
    /// and it must be for this server's client (`aud` holds `client_id`) and carry the
    /// `nonce` the sign-in sent (OpenID Connect Core §3.1.3.7).
    pub async fn verify_id_token(
        &self,
        token: &str,
        issuer: &str,
        nonce: &str,
    ) -> Result<Verified, Refusal> {
        self.verify_as(token, Some((issuer, nonce))).await
    }

    async fn verify_as(
        &self,
        token: &str,
        id_token: Option<(&str, &str)>,
    ) -> Result<Verified, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::Malformed(format!(
                "it is {} bytes long; at most {MAX_TOKEN_BYTES} are accepted",
                token.len()
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Malformed(
                "a JWT has three base64url parts separated by `.`".into(),
            ));
        };
        let header = json_part(header, "header")?;
        let claims = json_part(payload, "payload")?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| Refusal::Claim("the token has no `iss` (issuer) claim".into()))?;
        let cache = self
            .issuers
            .iter()
            .find(|c| c.config().issuer == iss)
            .ok_or_else(|| {
                Refusal::UntrustedIssuer(format!(
                    "the token's issuer `{}` is not trusted by this server",
                    iss.chars().take(200).collect::<String>()
                ))
            })?;
        let config = cache.config();
        if let Some((issuer, _)) = id_token
            && issuer != config.issuer
        {
            return Err(Refusal::UntrustedIssuer(
                "the ID token is from another issuer than the sign-in went to".into(),
            ));
        }
        let alg = algorithm(&header, config)?;
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(Refusal::Malformed("`kid` is not a string".into())),
        };
        let candidates = cache.keys_for(kid).await?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[config.issuer.as_str()]);
        match id_token {
            Some(_) => {
                let client = config.client_id.clone().ok_or_else(|| {
                    Refusal::Claim("the issuer has no client_id configured".into())
                })?;
                validation.set_audience(&[client]);
            }
            None => validation.set_audience(&config.audiences()),
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = config.leeway_secs;
        validation.validate_nbf = true;
        let mut refusal = Refusal::UnknownKey(format!(
            "issuer `{}` publishes no key for algorithm {alg:?}",
            config.issuer
        ));
        for key in candidates {
            if !key.kind.verifies(alg) || key.alg.is_some_and(|a| a != alg) {
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => {
                    if let Some((_, nonce)) = id_token
                        && data.claims.get("nonce").and_then(Value::as_str) != Some(nonce)
                    {
                        return Err(Refusal::Claim(
                            "the ID token's nonce is not the one this sign-in sent".into(),
                        ));
                    }
                    return identity(config, data.claims);
                }
                Err(e) => {
                    refusal = refusal_of(e.kind(), config);
                    if refusal != Refusal::Signature {
                        break;
                    }
                }
            }
        }
        Err(refusal)
    }
}

fn json_part(part: &str, what: &str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Refusal::Malformed(format!("its {what} is not base64url")))?;
    serde_json::from_slice::<Map<String, Value>>(&bytes)
        .map_err(|_| Refusal::Malformed(format!("its {what} is not a JSON object")))
}

/// The header's algorithm, if the issuer accepts it.
fn algorithm(header: &Map<String, Value>, config: &IssuerConfig) -> Result<Algorithm, Refusal> {
    if header.contains_key("crit") {
        return Err(Refusal::Algorithm(
            "the token's header has `crit` extensions, which this server does not implement".into(),
        ));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::Malformed("its header has no `alg`".into()))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(Refusal::Algorithm(
            "`alg: none` (an unsigned token) is never accepted".into(),
        ));
    }
    if alg.starts_with("HS") {
        return Err(Refusal::Algorithm(format!(
            "`alg: {alg}` (HMAC) is never accepted: the provider's keys are public"
        )));
    }
    if !config.algorithms.iter().any(|a| a == alg) {
        return Err(Refusal::Algorithm(format!(
            "`alg: {}` is not among the accepted algorithms ({})",
            alg.chars().take(20).collect::<String>(),
            config.algorithms.join(", ")
        )));
    }
    alg.parse::<Algorithm>()
        .map_err(|_| Refusal::Algorithm(format!("`alg: {alg}` is not supported")))
}

fn refusal_of(kind: &ErrorKind, config: &IssuerConfig) -> Refusal {
    match kind {
        ErrorKind::InvalidSignature => Refusal::Signature,
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::InvalidAudience => Refusal::Audience(format!(
            "the token's audience (`aud`) is not this server's ({})",
            config.audiences().join(", ")
        )),
        ErrorKind::InvalidIssuer => Refusal::UntrustedIssuer("the token's issuer is wrong".into()),
        ErrorKind::MissingRequiredClaim(c) => {
            Refusal::Claim(format!("the token has no `{c}` claim"))
        }
        ErrorKind::InvalidAlgorithm => {
            Refusal::Algorithm("the token's algorithm does not match its key".into())
        }
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            Refusal::UnknownKey("the issuer's key is unusable".into())
        }
        _ => Refusal::Malformed("its claims are not valid".into()),
    }
}

/// The identity valid claims name.
fn identity(config: &IssuerConfig, claims: Map<String, Value>) -> Result<Verified, Refusal> {
    let text = |name: &str| -> Option<String> {
        match claims.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let client_id = ["azp", "client_id", "clientId", "cid", "appid"]
        .iter()
        .find_map(|c| text(c));
    let sub = text("sub");
    let is_service = (text(&config.user_claim).is_none() && sub.is_none())
        || (sub.is_some() && sub == client_id)
        || text("idtyp").as_deref() == Some("app")
        || text("preferred_username").is_some_and(|u| u.starts_with("service-account-"));
    let (kind, login) = if is_service {
        let client = client_id.ok_or_else(|| {
            Refusal::Claim(
                "the token names no user and no client (`azp`, `client_id`): it cannot be mapped to a principal"
                    .into(),
            )
        })?;
        (Kind::Service, client)
    } else {
        let login = text(&config.user_claim).ok_or_else(|| {
            Refusal::Claim(format!(
                "the token has no `{}` claim, which names users at this issuer",
                config.user_claim
            ))
        })?;
        if config.user_claim == "email" && claims.get("email_verified") == Some(&Value::Bool(false))
        {
            return Err(Refusal::Claim(
                "the token's email is not verified (`email_verified: false`), and users are named by email here"
                    .into(),
            ));
        }
        (Kind::User, login)
    };
    if login.len() > 256 || login.chars().any(char::is_control) {
        return Err(Refusal::Claim(
            "the claim naming the caller is longer than 256 bytes or has control characters".into(),
        ));
    }
    let groups: Vec<String> = match claims.get(&config.groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .filter(|g| !g.is_empty() && g.len() <= 256)
            .take(MAX_GROUPS)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    };
    let is_admin = config
        .admin_group
        .as_ref()
        .map(|admin| groups.iter().any(|g| g == admin));
    let at = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .and_then(|s| DateTime::from_timestamp(s, 0))
    };
    Ok(Verified {
        issuer: config.issuer.clone(),
        login,
        kind,
        groups,
        is_admin,
        display_name: text("name"),
        expires_at: at("exp").ok_or(Refusal::Claim("the token has no `exp` claim".into()))?,
        issued_at: at("iat"),
        provision: config.provision,
        sharing_only: config.sharing_only,
    })
}

#[cfg(test)]
mod tests;
