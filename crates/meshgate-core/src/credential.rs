//! Short-lived, tenant-scoped credentials (docs/design/ACCESS.md §Tenant isolation): a principal's rights
//! narrowed by a **session policy**, carried in a signed token so that every request can be
//! verified without a store round trip.
//!
//! A credential token is `mgs_<payload>.<signature>`: the payload is the base64url JSON of
//! [`Claims`], the signature HMAC-SHA-256 over the payload with the mesh's signing key. Any
//! change to the payload breaks the signature; expiry is inside the signed claims.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::lifecycle::string_enum;

/// Prefix that makes credential tokens recognisable (and distinct from `mgt_` API tokens).
pub const CREDENTIAL_PREFIX: &str = "mgs_";

/// Default and longest lifetime of a credential.
pub const DEFAULT_TTL: Duration = Duration::hours(1);
pub const MAX_TTL: Duration = Duration::hours(12);

string_enum!(
    /// What a session policy may allow on a table.
    CredentialAction {
        Read => "read",
        Write => "write",
    }
);

/// What a credential may do: on these tables (`domain.product.table`), these actions, on rows
/// whose tenant key lies inside `key_prefix` (if set). The prefix is compared at the table's
/// tenant separator, never as a bare string: `tenant1-` covers keys starting with it,
/// `tenant1` names the whole tenant (`tenant1`, `tenant1-…`, never `tenant10-…`); the engine's
/// `Tenancy::key_in_prefix` is the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionPolicy {
    pub tables: Vec<String>,
    pub actions: Vec<CredentialAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

impl SessionPolicy {
    pub fn allows(&self, table: &str, action: CredentialAction) -> bool {
        self.actions.contains(&action) && self.tables.iter().any(|t| t == table)
    }
}

/// The signed content of a credential token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The credential's id (for listing and revocation).
    pub id: Uuid,
    /// The principal it acts for.
    pub principal_id: Uuid,
    pub policy: SessionPolicy,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A credential as stored (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credential {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub policy: SessionPolicy,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A table whose rows belong to tenants: its key column and how a key names its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableTenancy {
    pub table_id: Uuid,
    pub key_column: String,
    /// The tenant is the key's part before this; `None` = the whole key.
    pub separator: Option<String>,
}

/// Why a token was not accepted. The variants never echo the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    Malformed,
    BadSignature,
    Expired,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialError::Malformed => "the credential is malformed",
            CredentialError::BadSignature => "the credential's signature is invalid",
            CredentialError::Expired => "the credential has expired",
        })
    }
}

impl std::error::Error for CredentialError {}

type HmacSha256 = Hmac<Sha256>;

/// A MAC keyed with `key`. HMAC takes keys of any length (RFC 2104), so this fails only
/// if the library's contract changes; callers then refuse the token rather than panic.
fn mac(key: &[u8]) -> Result<HmacSha256, CredentialError> {
    HmacSha256::new_from_slice(key).map_err(|_| CredentialError::BadSignature)
}

/// A fresh random signing key.
pub fn generate_key() -> Vec<u8> {
    use rand::RngCore;
    let mut key = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// Signs `claims` into a token.
pub fn sign(claims: &Claims, key: &[u8]) -> Result<String, CredentialError> {
    let json = serde_json::to_vec(claims).map_err(|_| CredentialError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.encode(json);
    let mut m = mac(key)?;
    m.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    Ok(format!("{CREDENTIAL_PREFIX}{payload}.{signature}"))
}

/// Checks a token's signature and expiry at `now` and returns its claims. Revocation is the
/// caller's to check (by `Claims::id`).
pub fn verify(token: &str, key: &[u8], now: DateTime<Utc>) -> Result<Claims, CredentialError> {
    let body = token
        .strip_prefix(CREDENTIAL_PREFIX)
        .ok_or(CredentialError::Malformed)?;
    let (payload, signature) = body.split_once('.').ok_or(CredentialError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| CredentialError::Malformed)?;
    let mut m = mac(key)?;
    m.update(payload.as_bytes());
    // Constant-time comparison.
    m.verify_slice(&signature)
        .map_err(|_| CredentialError::BadSignature)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| CredentialError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| CredentialError::Malformed)?;
    if claims.expires_at <= now {
        return Err(CredentialError::Expired);
    }
    Ok(claims)
}

/// Whether a token looks like a credential (rather than an API token).
pub fn is_credential(token: &str) -> bool {
    token.starts_with(CREDENTIAL_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_in: Duration) -> Claims {
        let now = Utc::now();
        Claims {
            id: Uuid::now_v7(),
            principal_id: Uuid::now_v7(),
            policy: SessionPolicy {
                tables: vec!["apps.items.items".into()],
                actions: vec![CredentialAction::Read],
                key_prefix: Some("tenant1-".into()),
            },
            issued_at: now,
            expires_at: now + expires_in,
        }
    }

    #[test]
    fn signed_tokens_verify_and_tampering_fails() {
        let key = generate_key();
        let c = claims(Duration::hours(1));
        let token = sign(&c, &key).unwrap();
        assert!(is_credential(&token));
        assert_eq!(verify(&token, &key, Utc::now()).unwrap(), c);

        // Another key, a flipped payload byte, a swapped payload, garbage: all refused.
        assert_eq!(
            verify(&token, &generate_key(), Utc::now()),
            Err(CredentialError::BadSignature)
        );
        let (payload, sig) = token[4..].split_once('.').unwrap();
        let mut widened = c.clone();
        widened.policy.key_prefix = None;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&widened).unwrap());
        let forged = format!("mgs_{forged_payload}.{sig}");
        assert_eq!(
            verify(&forged, &key, Utc::now()),
            Err(CredentialError::BadSignature)
        );
        let mut bytes = payload.as_bytes().to_vec();
        bytes[3] ^= 1;
        let flipped = format!("mgs_{}.{sig}", String::from_utf8_lossy(&bytes));
        assert!(verify(&flipped, &key, Utc::now()).is_err());
        assert_eq!(
            verify("mgs_nope", &key, Utc::now()),
            Err(CredentialError::Malformed)
        );
        assert_eq!(
            verify("mgt_abc", &key, Utc::now()),
            Err(CredentialError::Malformed)
        );
    }

    #[test]
    fn expired_tokens_fail() {
        let key = generate_key();
        let token = sign(&claims(Duration::seconds(-1)), &key).unwrap();
        assert_eq!(
            verify(&token, &key, Utc::now()),
            Err(CredentialError::Expired)
        );
        let token = sign(&claims(Duration::minutes(5)), &key).unwrap();
        assert!(verify(&token, &key, Utc::now() + Duration::minutes(6)).is_err());
    }

    #[test]
    fn policies_allow_only_what_they_name() {
        let c = claims(Duration::hours(1));
        assert!(c.policy.allows("apps.items.items", CredentialAction::Read));
        assert!(!c.policy.allows("apps.items.items", CredentialAction::Write));
        assert!(!c.policy.allows("apps.items.other", CredentialAction::Read));
    }
}
