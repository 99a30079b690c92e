//! The access snapshot of a caller: what it may read, for every data surface — SQL
//! (`query`), the rows API (`rows`), Delta Sharing (`sharing`), credentials (`credentials`)
//! and files (`files`). One bulk store read ([`meshgate_store::AccessStore::access_rows`]),
//! one pure resolution ([`meshgate_core::snapshot::resolve`]), cached per principal by
//! policy version: every grant, membership, product, filter, rule, tag or key change bumps
//! the version, so a stale snapshot is never used. A grant made or removed is a scoped change
//! ([`meshgate_store::PolicyVersion`]): a snapshot none of whose scopes (the principal, its
//! teams, its groups) it touched stays valid, so grants changing elsewhere in the mesh do not
//! make every caller resolve again. The versions are the ones read when the caller was
//! built ([`Caller::policy`]): a request reads them once. On a cache miss this costs the bulk
//! read, and the mask key only where a `hash` mask applies. See docs/design/ACCESS.md
//! §Snapshot.

use std::sync::Arc;

use meshgate_authz::Actor;
use meshgate_core::credential::{CredentialAction, TableTenancy};
use meshgate_core::model::Principal;
use meshgate_core::snapshot::ResolvedTable;
use meshgate_engine::policy::Identity;
use meshgate_engine::query::VisibleTable;
use meshgate_engine::rows::Tenancy;
use meshgate_engine::secure::{MaskKey, TableAccess};
use meshgate_store::{PolicyScope, PolicyVersion};
use uuid::Uuid;

pub use meshgate_core::snapshot::LOCAL_CATALOG;

pub mod access;
pub use access::{Access, AccessCache};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What `caller` may read, ignoring any session policy (what a credential may at most ask
/// for).
pub async fn of(state: &AppState, caller: &Caller) -> ApiResult<Arc<Access>> {
    of_actor(state, &caller.principal, &caller.actor, caller.policy).await
}

/// What `principal` (as `actor`, read at the policy versions `now`: [`crate::auth::view_of`])
/// may read. A snapshot valid at `now` or later serves: the request is answered as of a
/// moment after it began.
pub async fn of_actor(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    now: PolicyVersion,
) -> ApiResult<Arc<Access>> {
    let kept = state
        .access
        .lock()
        .ok()
        .and_then(|mut cache| cache.get(&principal.id).cloned());
    if let Some((valid_at, access)) = kept {
        if valid_at >= now.version {
            return Ok(access);
        }
        // Only scoped changes since, and none of this caller's scopes: still valid, now
        // known to be so at `now.version`.
        if now.broad <= valid_at
            && !state
                .store
                .scopes_changed_since(&scopes_of(principal, actor), valid_at)
                .await?
        {
            if let Ok(mut cache) = state.access.lock() {
                // Another request may have kept a later one meanwhile.
                let later = cache
                    .peek(&principal.id)
                    .is_some_and(|(at, _)| *at >= now.version);
                if !later {
                    cache.insert(principal.id, (now.version, access.clone()));
                }
            }
            return Ok(access);
        }
    }
    let teams: Vec<Uuid> = actor.teams.iter().map(|m| m.team_id).collect();
    let rows = state
        .store
        .access_rows(principal.id, &teams, &actor.groups)
        .await?;
    let access = Arc::new(build(state, principal, &rows).await?);
    if let Ok(mut cache) = state.access.lock() {
        cache.insert(principal.id, (access.policy_version(), access.clone()));
    }
    Ok(access)
}

/// Whose grants a principal reads through (the scopes of [`meshgate_store::PolicyScope`]):
/// its own, its teams' (held directly or through a group) and its groups'.
fn scopes_of(principal: &Principal, actor: &Actor) -> Vec<PolicyScope> {
    std::iter::once(PolicyScope::Principal(principal.id))
        .chain(actor.teams.iter().map(|m| PolicyScope::Team(m.team_id)))
        .chain(actor.groups.iter().map(|g| PolicyScope::Principal(*g)))
        .collect()
}

/// What `principal` would read if the grants `assumed` were in force too — an approval's
/// preview (`shares::preview`). Resolved exactly as [`of_actor`] resolves, never cached.
pub async fn assuming(
    state: &AppState,
    principal: &Principal,
    actor: &Actor,
    assumed: &[meshgate_core::model::Grant],
) -> ApiResult<Access> {
    let teams: Vec<Uuid> = actor.teams.iter().map(|m| m.team_id).collect();
    let rows = state
        .store
        .access_rows_assuming(principal.id, &teams, &actor.groups, assumed)
        .await?;
    build(state, principal, &rows).await
}

/// Resolves the store's rows into the snapshot and the engine's view of each table.
async fn build(
    state: &AppState,
    principal: &Principal,
    rows: &meshgate_core::snapshot::AccessRows,
) -> ApiResult<Access> {
    let snapshot = meshgate_core::snapshot::resolve(rows);
    let mask_key = if snapshot.hashes() {
        Some(MaskKey::new(state.store.mask_key().await?))
    } else {
        None
    };
    let identity = Identity {
        principal: principal.name.clone(),
        groups: snapshot.group_names.clone(),
    };
    let visible = snapshot
        .tables
        .iter()
        .map(|r| visible_table(r, &identity, mask_key.as_ref()))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Access::new(snapshot, visible))
}

/// What `caller` may read now: [`of`], narrowed by the session policy of the credential it
/// uses (only the policy's tables with `read`, each restricted to keys starting with the
/// policy's prefix, and pruned to that tenant's files where the prefix names a tenant). A
/// table the prefix cannot scope (no tenant key) is left out.
pub async fn readable(state: &AppState, caller: &Caller) -> ApiResult<Arc<Access>> {
    let access = of(state, caller).await?;
    let Some(session) = &caller.session else {
        return Ok(access);
    };
    let policy = &session.policy;
    Ok(Arc::new(access.narrowed(|r, v| {
        let name = format!("{}.{}.{}", v.domain, v.product, v.table);
        if !policy.allows(&name, CredentialAction::Read) {
            return None;
        }
        let mut table = v.clone();
        if let Some(prefix) = &policy.key_prefix {
            let tenancy = r.tenancy.as_ref()?;
            table
                .access
                .restrictive
                .extend(prefix_filters(tenancy, prefix));
        }
        Some(table)
    })))
}

/// The engine's view of one resolved table. The mask key goes only where a `hash` can apply,
/// so a rotation changes the fingerprint (and invalidates the snapshots) of exactly the
/// accesses that hash.
fn visible_table(
    r: &ResolvedTable,
    identity: &Identity,
    mask_key: Option<&MaskKey>,
) -> ApiResult<VisibleTable> {
    let access = if r.access.owner {
        TableAccess {
            identity: identity.clone(),
            ..TableAccess::owner()
        }
    } else {
        TableAccess {
            owner: false,
            grants: r.access.grants.clone(),
            row_rules: r.access.row_rules.clone(),
            tag_masks: r.access.tag_masks.clone(),
            restrictive: Vec::new(),
            identity: identity.clone(),
            mask_key: if r.access.hashes() {
                mask_key.cloned()
            } else {
                None
            },
        }
    };
    Ok(VisibleTable {
        domain: r.catalog.clone(),
        product: r.schema.clone(),
        table: r.table.name.clone(),
        location: url::Url::parse(&r.table.location).map_err(ApiError::internal)?,
        access,
    })
}

/// Drops every cached snapshot, for changes that alter what callers read without bumping
/// the policy version (a share's local name, the mask key).
pub fn forget_all(state: &AppState) {
    if let Ok(mut cache) = state.access.lock() {
        cache.clear();
    }
}

// ----- tenant scope -----

/// The restrictive filters that scope a table to the keys inside `prefix` (compared at the
/// tenant separator: [`Tenancy::key_in_prefix`]): the key condition itself and the tenant's
/// partition (so the scan reads only its files).
pub fn prefix_filters(tenancy: &TableTenancy, prefix: &str) -> Vec<String> {
    engine_tenancy(tenancy).prefix_filters(prefix)
}

pub fn engine_tenancy(t: &TableTenancy) -> Tenancy {
    Tenancy {
        key_column: t.key_column.clone(),
        separator: t.separator.clone(),
    }
}
