//! The SCIM operations on Users and Groups: create, get, list and search, replace, patch and
//! delete. Every write is one store transaction (`ScimStore::write_scim`): the principal, the
//! kept attributes, the group memberships, the revocations of a deactivation and the audit
//! events commit together or not at all, so a provisioning call that fails leaves nothing
//! half-written. A write is computed from what was read and refused by the store if the
//! resource changed meanwhile; it is then computed again from a fresh read.
//!
//! Deactivating (`active: false`) or deleting a user revokes its API tokens, recipient tokens
//! and tenant credentials in that transaction; this replica then drops them from its caches
//! (the credential revocation list, the sign-in cache) before answering, so the very next
//! request with any of them is refused. Deletion is soft (docs/design/SIGN_IN.md §SCIM).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError};

use chrono::Utc;
use meshgate_core::error::ErrorKind;
use meshgate_core::model::{NewAuditEvent, Principal, new_id};
use meshgate_store::{MemberOp, ScimWrite, ScimWritten};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::{ScimError, ScimResult};
use super::filter;
use super::request::{ListParams, Projection, ScimCaller};
use super::resource::{Desired, Directory, Kind, desired, project};
use super::schema::LIST_URN;
use crate::error::REQUEST_ID;
use crate::signin::derived_name;
use crate::state::AppState;

/// How often a write computed from a read that went stale is computed again.
const ATTEMPTS: u64 = 5;

/// This process's writes to one resource queue here, so that they do not overtake each
/// other's reads; replicas still race, and the store's compare-and-set settles that.
static QUEUES: LazyLock<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// Waits for this process's other writes to resource `id` to finish.
async fn queue(id: &str) -> tokio::sync::OwnedMutexGuard<()> {
    let lock = {
        let mut queues = QUEUES.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget the queues nobody waits in.
        queues.retain(|_, q| Arc::strong_count(q) > 1);
        queues.entry(id.to_ascii_lowercase()).or_default().clone()
    };
    lock.lock_owned().await
}

/// A short pause before computing a write again, longer each time.
async fn back_off(attempt: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
}

fn not_found(kind: Kind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} `{id}` not found", kind.def().name))
}

fn event(caller: &ScimCaller, action: &str, id: Uuid, detail: Value) -> NewAuditEvent {
    NewAuditEvent::new(
        Some(caller.principal.id),
        action,
        "principal",
        Some(id.to_string()),
    )
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
    .with_detail(detail)
}

/// `GET /Users/{id}`, `GET /Groups/{id}`.
pub async fn get(
    state: &AppState,
    kind: Kind,
    id: &str,
    projection: &Projection,
) -> ScimResult<Value> {
    let dir = Directory::read(state).await?;
    let p = dir.find(kind, id).ok_or_else(|| not_found(kind, id))?;
    Ok(project(dir.render(kind, p), projection))
}

/// `GET /Users`, `GET /Groups`, `POST …/.search` (`kinds` both for `POST /.search`).
pub async fn list(state: &AppState, kinds: &[Kind], params: &ListParams) -> ScimResult<Value> {
    let dir = Directory::read(state).await?;
    let mut found: Vec<(Kind, Value)> = Vec::new();
    for kind in kinds {
        let attrs = kind.def().attrs;
        // The lookup identity providers make before each create renders one resource.
        let candidates: Vec<&Principal> = match params
            .filter
            .as_ref()
            .and_then(|f| filter::equality_on(f, kind.login_attr()))
        {
            Some(login) => dir.by_login(*kind, login).into_iter().collect(),
            None => dir.all(*kind).collect(),
        };
        for p in candidates {
            let rendered = dir.render(*kind, p);
            if params
                .filter
                .as_ref()
                .is_none_or(|f| filter::matches(f, &rendered, attrs))
            {
                found.push((*kind, rendered));
            }
        }
    }
    if let Some(by) = &params.sort_by {
        // Resources without the attribute sort last, in both orders.
        found.sort_by(|(ka, a), (kb, b)| {
            let a = filter::sort_key(a, by, ka.def().attrs);
            let b = filter::sort_key(b, by, kb.def().attrs);
            match (a, b) {
                (Some(a), Some(b)) if params.descending => b.cmp(&a),
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
    }
    let total = found.len();
    let page: Vec<Value> = found
        .into_iter()
        .skip(params.start_index - 1)
        .take(params.count)
        .map(|(_, v)| project(v, &params.projection))
        .collect();
    Ok(json!({
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": params.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    }))
}

/// `POST /Users`, `POST /Groups`: the new resource.
pub async fn create(
    state: &AppState,
    caller: &ScimCaller,
    kind: Kind,
    body: &Value,
    projection: &Projection,
) -> ScimResult<Value> {
    let dir = Directory::read(state).await?;
    let want = desired(kind, body, &dir, &[])?;
    taken(&dir, kind, &want.login, None)?;
    let now = Utc::now();
    for attempt in 0..20 {
        let name = derived_name(&want.login, kind.principal_kind(), attempt);
        if state.store.get_principal_by_name(&name).await?.is_some() {
            continue;
        }
        let principal = Principal {
            id: new_id(),
            name,
            kind: kind.principal_kind(),
            display_name: want.display_name(),
            is_admin: false,
            created_at: now,
            login: Some(want.login.clone()),
            active: want.active.unwrap_or(true),
        };
        let detail = json!({
            "name": principal.name, "kind": principal.kind, "login": want.login,
            "active": principal.active, "source": "scim",
        });
        let write = ScimWrite {
            principal: principal.clone(),
            create: true,
            attributes: Value::Object(want.kept.clone()),
            expected_version: 0,
            at: now,
            members: want
                .members
                .clone()
                .map(|m| vec![MemberOp::Set(m)])
                .unwrap_or_default(),
            delete: false,
            audit: event(caller, "principal.provision", principal.id, detail),
            members_audit: event(
                caller,
                "group.sync",
                principal.id,
                json!({"source": "scim"}),
            ),
        };
        match state.store.write_scim(&write).await {
            Ok(_) => return get(state, kind, &principal.id.to_string(), projection).await,
            // The name was taken meanwhile (or the login: then say so).
            Err(e) if e.kind() == ErrorKind::Conflict => {
                let dir = Directory::read(state).await?;
                taken(&dir, kind, &want.login, None)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::uniqueness(format!(
        "no free principal name could be derived from `{}`",
        want.login
    )))
}

/// 409 `uniqueness` when another resource already shows `login`.
fn taken(dir: &Directory, kind: Kind, login: &str, except: Option<Uuid>) -> ScimResult<()> {
    let other = dir
        .by_login(kind, login)
        .filter(|p| Some(p.id) != except)
        .or_else(|| {
            // A login is unique across every kind of principal.
            dir.principals.values().find(|p| {
                Some(p.id) != except
                    && p.login
                        .as_deref()
                        .is_some_and(|l| l.to_lowercase() == login.to_lowercase())
            })
        });
    match other {
        Some(p) if p.kind == kind.principal_kind() => Err(ScimError::uniqueness(format!(
            "{} `{login}` exists already (id {})",
            kind.def().name,
            p.id
        ))),
        Some(p) => Err(ScimError::uniqueness(format!(
            "`{login}` is the login of the {} principal `{}` already",
            p.kind, p.name
        ))),
        None => Ok(()),
    }
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`: the resource as it is now.
pub async fn replace(
    state: &AppState,
    caller: &ScimCaller,
    kind: Kind,
    id: &str,
    body: &Value,
    projection: &Projection,
) -> ScimResult<Value> {
    change(state, caller, kind, id, projection, |dir, p| {
        let current = dir.members(p.id);
        let mut want = desired(kind, body, dir, &current)?;
        // A PUT without `active` leaves it as it is; without `members`, a group has none
        // (of those SCIM may remove).
        want.active = want.active.or(Some(p.active));
        if kind == Kind::Group && want.members.is_none() {
            want.members = Some(Vec::new());
        }
        Ok(want)
    })
    .await
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`: the resource as it is now.
pub async fn patch(
    state: &AppState,
    caller: &ScimCaller,
    kind: Kind,
    id: &str,
    body: &Value,
    projection: &Projection,
) -> ScimResult<Value> {
    change(state, caller, kind, id, projection, |dir, p| {
        let mut doc = dir.render(kind, p);
        if let Some(o) = doc.as_object_mut() {
            for key in ["schemas", "id", "meta", "groups"] {
                o.remove(key);
            }
        }
        super::patch::apply(kind, &mut doc, body)?;
        let current = dir.members(p.id);
        let mut want = desired(kind, &doc, dir, &current)?;
        if kind == Kind::Group && want.members.is_none() {
            want.members = Some(Vec::new());
        }
        want.active = want.active.or(Some(p.active));
        Ok(want)
    })
    .await
}

/// Reads, computes what `compute` wants the resource to be, and writes the difference;
/// again from a fresh read when the resource changed meanwhile.
async fn change(
    state: &AppState,
    caller: &ScimCaller,
    kind: Kind,
    id: &str,
    projection: &Projection,
    compute: impl Fn(&Directory, &Principal) -> ScimResult<Desired>,
) -> ScimResult<Value> {
    let _turn = queue(id).await;
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        let dir = Directory::read(state).await?;
        let p = dir
            .find(kind, id)
            .ok_or_else(|| not_found(kind, id))?
            .clone();
        let want = compute(&dir, &p)?;
        taken(&dir, kind, &want.login, Some(p.id))?;
        let Some(write) = difference(&dir, caller, kind, &p, &want) else {
            return Ok(project(dir.render(kind, &p), projection));
        };
        match state.store.write_scim(&write).await {
            Ok(written) => {
                after(state, p.id, &written, !write.principal.active);
                return get(state, kind, id, projection).await;
            }
            Err(meshgate_core::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::new(
        axum::http::StatusCode::CONFLICT,
        None,
        format!(
            "{} `{id}` kept changing while this request was applied; send it again",
            kind.def().name
        ),
    ))
}

/// The write that makes `p` what `want` says, or `None` when nothing would change.
fn difference(
    dir: &Directory,
    caller: &ScimCaller,
    kind: Kind,
    p: &Principal,
    want: &Desired,
) -> Option<ScimWrite> {
    let kept = Value::Object(dir.kept(p));
    let attributes = Value::Object(want.kept.clone());
    let old_login = p.login.clone().unwrap_or_else(|| p.name.clone());
    let active = want.active.unwrap_or(p.active);
    let display_name = want.display_name();
    let mut changed = Vec::new();
    if want.login != old_login || p.login.is_none() {
        changed.push(kind.login_attr());
    }
    if active != p.active {
        changed.push("active");
    }
    if display_name != p.display_name {
        changed.push("displayName");
    }
    if attributes != kept || !dir.records.contains_key(&p.id) {
        changed.push("attributes");
    }
    let mut members = Vec::new();
    if kind == Kind::Group
        && let Some(wanted) = &want.members
    {
        let current = dir.members(p.id);
        let add: Vec<Uuid> = wanted
            .iter()
            .filter(|m| !current.contains(m))
            .copied()
            .collect();
        let remove: Vec<Uuid> = current
            .iter()
            .filter(|m| !wanted.contains(m))
            .copied()
            .collect();
        if !add.is_empty() {
            members.push(MemberOp::Add(add));
        }
        if !remove.is_empty() {
            // Only `scim` memberships go (the store leaves the others).
            members.push(MemberOp::Remove(remove));
        }
    }
    if changed.is_empty() && members.is_empty() {
        return None;
    }
    let action = match (p.active, active) {
        (true, false) => "principal.deactivate",
        (false, true) => "principal.reactivate",
        _ => "principal.update",
    };
    let mut detail = json!({"source": "scim", "login": want.login, "changed": changed});
    if want.login != old_login {
        detail["previous_login"] = json!(old_login);
    }
    Some(ScimWrite {
        principal: Principal {
            login: Some(want.login.clone()),
            display_name,
            active,
            ..p.clone()
        },
        create: false,
        attributes,
        expected_version: dir.version(p.id),
        at: Utc::now(),
        members,
        delete: false,
        audit: event(caller, action, p.id, detail),
        members_audit: event(caller, "group.sync", p.id, json!({"source": "scim"})),
    })
}

/// What this replica does once a write has committed: a deactivated principal's credentials
/// go on the revocation list and its sign-ins out of the cache, at once.
fn after(state: &AppState, id: Uuid, written: &ScimWritten, inactive: bool) {
    if let Some(revoked) = &written.revoked {
        for credential in &revoked.credentials {
            state.credentials.mark_revoked(*credential);
        }
    }
    if inactive {
        state.signin.forget_principal(id);
    }
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`: a soft delete.
pub async fn delete(state: &AppState, caller: &ScimCaller, kind: Kind, id: &str) -> ScimResult<()> {
    let _turn = queue(id).await;
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        let dir = Directory::read(state).await?;
        let p = dir
            .find(kind, id)
            .ok_or_else(|| not_found(kind, id))?
            .clone();
        let detail = json!({"source": "scim", "login": p.login, "name": p.name});
        let write = ScimWrite {
            principal: Principal {
                active: false,
                ..p.clone()
            },
            create: false,
            // What the identity provider sent of the person goes with it.
            attributes: json!({}),
            expected_version: dir.version(p.id),
            at: Utc::now(),
            members: Vec::new(),
            delete: true,
            audit: event(caller, "principal.delete", p.id, detail),
            members_audit: event(caller, "group.sync", p.id, json!({"source": "scim"})),
        };
        match state.store.write_scim(&write).await {
            Ok(written) => {
                after(state, p.id, &written, true);
                return Ok(());
            }
            Err(meshgate_core::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::new(
        axum::http::StatusCode::CONFLICT,
        None,
        format!(
            "{} `{id}` kept changing; send the delete again",
            kind.def().name
        ),
    ))
}
