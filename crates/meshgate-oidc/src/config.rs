//! One trusted issuer's settings (`[auth.oidc]` in the server's configuration; see
//! docs/design/SIGN_IN.md §Configuration).

use serde::{Deserialize, Serialize};

/// Whether a token naming an unknown principal creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Provision {
    /// The principal must exist (made by an admin or by SCIM); otherwise 401 naming it.
    #[default]
    Off,
    /// A user or service principal is created on its first sign-in.
    On,
}

/// A trusted OpenID provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerConfig {
    /// The issuer URL, exactly as tokens' `iss` and the discovery document give it.
    pub issuer: String,
    /// Accepted `aud` values (one string or a list); default: `client_id`.
    #[serde(deserialize_with = "crate::config::string_or_list")]
    pub audience: Vec<String>,
    /// This server's client at the provider (browser and CLI sign-in; the default audience).
    pub client_id: Option<String>,
    /// The client's secret (browser sign-in with a confidential client).
    pub client_secret: Option<String>,
    /// The claim that names a user: `sub` (default), `email` or `preferred_username`.
    pub user_claim: String,
    /// The claim that lists a user's groups (default `groups`).
    pub groups_claim: String,
    pub provision: Provision,
    /// Members of this IdP group are mesh admins; others signed in through this issuer are
    /// not. None: the admin role is managed in meshgate only.
    pub admin_group: Option<String>,
    /// Accepted signature algorithms; never `none` and never HMAC (`HS*`): a provider's
    /// public key is no secret.
    #[serde(deserialize_with = "crate::config::string_or_list")]
    pub algorithms: Vec<String>,
    /// Tolerated clock difference for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// The discovery document; default `{issuer}/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// A token signed with a key the cached set lacks refetches the set, at most this often
    /// (seconds): a flood of made-up key ids cannot hammer the provider.
    pub jwks_min_refresh_secs: u64,
    /// The key set is refetched when older than this, in seconds (keys the provider retired
    /// stop working).
    pub jwks_max_age_secs: u64,
    /// Timeout of each request to the provider, in seconds.
    pub http_timeout_secs: u64,
    /// Scopes asked for when people sign in (browser and CLI); add `groups` (or your
    /// provider's equivalent) when groups come only with a scope.
    #[serde(deserialize_with = "crate::config::string_or_list")]
    pub scopes: Vec<String>,
    /// A name for the sign-in button (default: the issuer's host).
    pub display_name: Option<String>,
    /// The public client `meshgate login` signs in with (device authorization grant; no
    /// secret); default `client_id`. Its access tokens must carry an accepted `aud`.
    pub cli_client_id: Option<String>,
    /// Tokens of this issuer authenticate only Delta Sharing recipients bound to one of its
    /// subjects (federation: a partner's identity provider), never a principal by login.
    pub sharing_only: bool,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        IssuerConfig {
            issuer: String::new(),
            audience: Vec::new(),
            client_id: None,
            client_secret: None,
            user_claim: "sub".into(),
            groups_claim: "groups".into(),
            provision: Provision::Off,
            admin_group: None,
            algorithms: DEFAULT_ALGORITHMS.iter().map(|a| a.to_string()).collect(),
            leeway_secs: 60,
            discovery_url: None,
            jwks_min_refresh_secs: 10,
            jwks_max_age_secs: 3600,
            http_timeout_secs: 5,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            display_name: None,
            cli_client_id: None,
            sharing_only: false,
        }
    }
}

/// The asymmetric algorithms accepted unless configured otherwise.
pub const DEFAULT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

impl IssuerConfig {
    /// The `aud` values accepted: `audience`, or the client id.
    pub fn audiences(&self) -> Vec<String> {
        if self.audience.is_empty() {
            self.client_id.iter().cloned().collect()
        } else {
            self.audience.clone()
        }
    }

    /// The name people see on the sign-in button.
    pub fn label(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            url::Url::parse(&self.issuer)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| self.issuer.clone())
        })
    }

    pub fn discovery_url(&self) -> String {
        self.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            )
        })
    }

    /// Checks what a server cannot run with; the message names the setting.
    pub fn check(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.issuer)
            .map_err(|e| format!("auth.oidc.issuer `{}` is not a URL: {e}", self.issuer))?;
        if url.scheme() != "https" && !is_loopback(&url) {
            return Err(format!(
                "auth.oidc.issuer `{}` must be https (plain http only on a loopback address, for tests)",
                self.issuer
            ));
        }
        if self.audiences().is_empty() {
            return Err(format!(
                "auth.oidc for `{}` needs `audience` or `client_id`: tokens for other clients of the provider must not be accepted",
                self.issuer
            ));
        }
        if self.algorithms.is_empty() {
            return Err("auth.oidc.algorithms is empty".into());
        }
        for alg in &self.algorithms {
            if !DEFAULT_ALGORITHMS.contains(&alg.as_str()) {
                return Err(format!(
                    "auth.oidc.algorithms: `{alg}` is not accepted; use some of {}",
                    DEFAULT_ALGORITHMS.join(", ")
                ));
            }
        }
        for (name, claim) in [
            ("user_claim", &self.user_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(format!("auth.oidc.{name} is empty"));
            }
        }
        Ok(())
    }
}

/// Whether a URL's host is a loopback address (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks the issuers together: each once; with several, users must be named by a claim
/// that means the same person at every issuer.
pub fn check_all(issuers: &[IssuerConfig]) -> Result<(), String> {
    for (i, a) in issuers.iter().enumerate() {
        a.check()?;
        if issuers[i + 1..].iter().any(|b| b.issuer == a.issuer) {
            return Err(format!("auth.oidc lists issuer `{}` twice", a.issuer));
        }
    }
    // Issuers whose tokens only open federated recipients match (issuer, subject) pairs,
    // never a login shared across issuers.
    let by_login: Vec<&IssuerConfig> = issuers.iter().filter(|c| !c.sharing_only).collect();
    if by_login.len() > 1 && by_login.iter().any(|c| c.user_claim == "sub") {
        return Err(
            "several auth.oidc issuers are trusted and one names users by `sub`: a subject is unique only at its own issuer, so one issuer's user could sign in as another's; set user_claim to `email` or `preferred_username` for each"
                .into(),
        );
    }
    Ok(())
}

/// A list of strings given as a list or as one comma-separated string (how an environment
/// variable carries it).
pub fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(str::to_string).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(url: &str) -> IssuerConfig {
        IssuerConfig {
            issuer: url.into(),
            client_id: Some("meshgate".into()),
            ..IssuerConfig::default()
        }
    }

    #[test]
    fn settings_a_server_cannot_run_with_are_refused() {
        assert!(issuer("https://idp.example.com").check().is_ok());
        assert!(issuer("http://127.0.0.1:9000").check().is_ok());
        assert!(issuer("http://localhost:9000/realms/x").check().is_ok());
        assert!(issuer("http://idp.example.com").check().is_err());
        assert!(issuer("not a url").check().is_err());
        let mut no_aud = issuer("https://idp.example.com");
        no_aud.client_id = None;
        assert!(no_aud.check().is_err());
        let mut hmac = issuer("https://idp.example.com");
        hmac.algorithms = vec!["HS256".into()];
        assert!(hmac.check().is_err());
        let mut none = issuer("https://idp.example.com");
        none.algorithms = vec!["none".into()];
        assert!(none.check().is_err());
        let two = [
            issuer("https://a.example.com"),
            issuer("https://b.example.com"),
        ];
        assert!(check_all(&two).is_err(), "two issuers naming users by sub");
        let two = two.map(|mut c| {
            c.user_claim = "email".into();
            c
        });
        assert!(check_all(&two).is_ok());
        let same = [
            issuer("https://a.example.com"),
            issuer("https://a.example.com"),
        ];
        assert!(check_all(&same).is_err());
    }

    #[test]
    fn audience_defaults_to_the_client_id() {
        let mut c = issuer("https://idp.example.com");
        assert_eq!(c.audiences(), ["meshgate"]);
        c.audience = vec!["api://meshgate".into()];
        assert_eq!(c.audiences(), ["api://meshgate"]);
        assert_eq!(
            c.discovery_url(),
            "https://idp.example.com/.well-known/openid-configuration"
        );
    }
}
