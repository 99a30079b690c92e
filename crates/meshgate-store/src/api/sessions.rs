//! Browser sessions and sign-ins in progress.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::model::{NewAuditEvent, Principal, Session, SignInAttempt};
use uuid::Uuid;

/// Browser sessions (`store/sessions.rs`; docs/design/SIGN_IN.md §Browser sessions).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn create_session(&self, session: &Session, audit: NewAuditEvent) -> Result<()>;
    /// The session with this secret hash and its principal, whether usable or not.
    async fn find_session(&self, secret_hash: &str) -> Result<Option<(Session, Principal)>>;
    /// Records activity (the idle timeout counts from it).
    async fn touch_session(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Ends a session; ending it twice keeps the first time.
    async fn revoke_session(&self, id: Uuid, at: DateTime<Utc>, audit: NewAuditEvent)
    -> Result<()>;
    /// Ends every session of `principal`; returns how many were open.
    async fn revoke_sessions_of(&self, principal: Uuid, at: DateTime<Utc>) -> Result<u64>;
    /// Removes sessions that ended before `before` (expired or revoked).
    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64>;

    async fn create_sign_in_attempt(&self, attempt: &SignInAttempt) -> Result<()>;
    /// Removes and returns the attempt with this state hash, if it was started after
    /// `not_before` (older ones are removed and not returned): each is used once.
    async fn take_sign_in_attempt(
        &self,
        state_hash: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<SignInAttempt>>;
}
