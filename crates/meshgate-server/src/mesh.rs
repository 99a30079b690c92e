//! Creating a mesh: `meshgate init` (the first admin). The quickstart's demo mesh is the
//! CLI's (`meshgate_cli::demo`).

use chrono::Utc;
use meshgate_core::model::{NewAuditEvent, Principal, PrincipalKind, new_id};
use serde_json::json;

use crate::error::ApiError;
use crate::identity::{CreatedToken, issue_token};
use crate::state::AppState;

/// Creates the first admin and returns its token (shown once). Refuses if an admin exists.
pub async fn init(state: &AppState, admin: &str) -> Result<CreatedToken, String> {
    if state.store.has_admin().await.map_err(|e| e.to_string())? {
        return Err(
            "this mesh is already initialised (an admin exists); ask an admin for a token".into(),
        );
    }
    meshgate_core::names::validate_principal(admin).map_err(|e| e.to_string())?;
    let principal = ensure_principal(state, admin, PrincipalKind::User, true)
        .await
        .map_err(|e| e.message)?;
    issue_token(state, None, &principal, "init", 0)
        .await
        .map_err(|e| e.message)
}

/// The principal `name`, created (with its audit event) if it does not exist yet.
pub async fn ensure_principal(
    state: &AppState,
    name: &str,
    kind: PrincipalKind,
    admin: bool,
) -> Result<Principal, ApiError> {
    if let Some(p) = state.store.get_principal_by_name(name).await? {
        return Ok(p);
    }
    let p = Principal {
        id: new_id(),
        name: name.to_string(),
        kind,
        display_name: name.to_string(),
        is_admin: admin,
        created_at: Utc::now(),
        login: None,
        active: true,
    };
    let event = NewAuditEvent::new(
        None,
        "principal.create",
        "principal",
        Some(p.id.to_string()),
    )
    .with_detail(json!({"name": name, "kind": kind, "admin": admin, "by": "seed"}));
    state.store.create_principal(&p, event).await?;
    Ok(p)
}
