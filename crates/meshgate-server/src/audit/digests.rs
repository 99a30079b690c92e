//! The digest signer (docs/design/AUDIT.md §Digests): every `audit.digest_secs`, the replica
//! holding the `audit-digests` lease signs a digest of the events chained since the last one,
//! with the mesh's Ed25519 key, and once more when it stops.

use std::time::Duration;

use meshgate_core::Result;
use meshgate_core::audit_chain::{AuditDigest, GENESIS, sign_digest};
use tokio_util::sync::CancellationToken;

use crate::replicas::singletons::Singleton;
use crate::state::AppState;

/// Signs digests until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let every = Duration::from_secs(state.config.audit.digest_secs.max(1));
    // Whether a digest is due is checked this often: a replica that takes the lease over
    // signs within this of the digest being due.
    let check = every.min(Duration::from_secs(5));
    loop {
        if state.leases.holds(Singleton::AuditDigests)
            && let Err(e) = sign_due(&state, every).await
        {
            tracing::warn!(error = %e, "cannot sign an audit digest");
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(check) => {}
        }
    }
    if state.leases.holds(Singleton::AuditDigests)
        && let Err(e) = sign_new(&state).await
    {
        tracing::warn!(error = %e, "cannot sign the last audit digest");
    }
}

/// Signs a digest if the last is older than `every`.
async fn sign_due(state: &AppState, every: Duration) -> Result<()> {
    let last = state.store.last_audit_digest().await?;
    let due = last
        .as_ref()
        .is_none_or(|d| (chrono::Utc::now() - d.at).to_std().unwrap_or_default() >= every);
    if due {
        sign_new(state).await?;
    }
    Ok(())
}

/// Signs a digest of the events chained since the last digest, if there are any; returns it.
pub async fn sign_new(state: &AppState) -> Result<Option<AuditDigest>> {
    let store = &state.store;
    let head = store.audit_head().await?;
    let last = store.last_audit_digest().await?;
    let from = last.as_ref().map_or(1, |d| d.to_pos + 1);
    if head.pos < from {
        return Ok(None);
    }
    let (key, pkcs8) = store.audit_signing_key().await?;
    let mut digest = AuditDigest {
        from_pos: from,
        to_pos: head.pos,
        last_hash: head.hash,
        prev_digest: last
            .as_ref()
            .map_or_else(|| GENESIS.to_string(), AuditDigest::digest_hash),
        at: meshgate_store::truncate_to_micros(chrono::Utc::now()),
        key_id: key.id,
        signature: String::new(),
    };
    sign_digest(&pkcs8, &mut digest)?;
    if store.add_audit_digest(&digest).await? {
        tracing::debug!(
            from = digest.from_pos,
            to = digest.to_pos,
            "signed an audit digest"
        );
        Ok(Some(digest))
    } else {
        // Another replica signed this range first.
        Ok(None)
    }
}
