//! What sign-in keeps in memory (docs/design/SIGN_IN.md §Caching): the verifier of the
//! trusted issuers, the tokens already verified, and the rate of audited refusals. Below the
//! feature modules: `AppState` holds it, and it knows nothing of `AppState`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use meshgate_oidc::Verifier;
use uuid::Uuid;

use crate::config::AuthSettings;

/// Most tokens remembered at once; past it, expired ones are dropped, then all.
const MAX_CACHED: usize = 10_000;

/// A verified token: its principal, until when the entry holds, and whether it names a
/// federated recipient.
type Remembered = (Uuid, DateTime<Utc>, bool);

/// Sign-in with identity providers: the verifier and what it has already checked.
pub struct SignIn {
    pub(super) verifier: Verifier,
    cache_secs: i64,
    /// Verified tokens by hash: the principal, until when the entry holds, and whether it
    /// names a federated recipient (then it opens only Delta Sharing).
    tokens: Mutex<HashMap<String, Remembered>>,
    /// When a refusal of each reason was last audited, and how many since went unrecorded:
    /// a flood of bad tokens costs one audit event per reason per second.
    refusals: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl SignIn {
    pub fn new(settings: &AuthSettings) -> Result<SignIn, String> {
        Ok(SignIn {
            verifier: Verifier::new(settings.oidc.clone())?,
            cache_secs: i64::try_from(settings.token_cache_secs).unwrap_or(i64::MAX),
            tokens: Mutex::new(HashMap::new()),
            refusals: Mutex::new(HashMap::new()),
        })
    }

    /// Whether any issuer is trusted.
    pub fn enabled(&self) -> bool {
        !self.verifier.is_empty()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub(super) fn cached(&self, key: &str) -> Option<(Uuid, bool)> {
        let tokens = self.tokens.lock().ok()?;
        let (id, until, federated) = tokens.get(key)?;
        (*until > Utc::now()).then_some((*id, *federated))
    }

    pub(super) fn remember(
        &self,
        key: String,
        principal: Uuid,
        expires_at: DateTime<Utc>,
        federated: bool,
    ) {
        let until = expires_at.min(Utc::now() + Duration::seconds(self.cache_secs));
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= MAX_CACHED {
                let now = Utc::now();
                tokens.retain(|_, (_, until, _)| *until > now);
                if tokens.len() >= MAX_CACHED {
                    tokens.clear();
                }
            }
            tokens.insert(key, (principal, until, federated));
        }
    }

    /// Forgets every remembered token of `principal` (it was deactivated or deleted).
    pub fn forget_principal(&self, principal: Uuid) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.retain(|_, (id, _, _)| *id != principal);
        }
    }

    /// Whether a refusal of `reason` should be audited now, and how many went unrecorded.
    pub(super) fn should_audit(&self, reason: &'static str) -> Option<u64> {
        let mut refusals = self.refusals.lock().ok()?;
        let entry = refusals.entry(reason).or_insert((Instant::now(), 0));
        if entry.1 > 0 && entry.0.elapsed() < std::time::Duration::from_secs(1) {
            entry.1 += 1;
            return None;
        }
        let skipped = entry.1.saturating_sub(1);
        *entry = (Instant::now(), 1);
        Some(skipped)
    }
}
