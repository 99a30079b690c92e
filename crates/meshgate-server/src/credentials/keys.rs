//! The credential signing key and this replica's list of revoked credentials: what
//! verifying a credential token needs, held by the server state.

use std::collections::HashSet;
use std::sync::RwLock;

use chrono::Utc;
use meshgate_core::credential::{self, Claims};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The signing key and the revocation list of this replica.
pub struct CredentialKeys {
    key: Vec<u8>,
    revoked: RwLock<HashSet<Uuid>>,
}

impl CredentialKeys {
    pub fn new(key: Vec<u8>) -> Self {
        CredentialKeys {
            key,
            revoked: RwLock::new(HashSet::new()),
        }
    }

    /// The claims of a valid, unexpired, unrevoked credential token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let claims = credential::verify(token, &self.key, Utc::now()).ok()?;
        let revoked = self
            .revoked
            .read()
            .map(|r| r.contains(&claims.id))
            // A poisoned lock fails closed.
            .unwrap_or(true);
        (!revoked).then_some(claims)
    }

    pub(crate) fn sign(&self, claims: &Claims) -> ApiResult<String> {
        credential::sign(claims, &self.key).map_err(ApiError::internal)
    }

    pub(crate) fn mark_revoked(&self, id: Uuid) {
        if let Ok(mut r) = self.revoked.write() {
            r.insert(id);
        }
    }

    pub fn replace_revoked(&self, ids: Vec<Uuid>) {
        if let Ok(mut r) = self.revoked.write() {
            *r = ids.into_iter().collect();
        }
    }
}
