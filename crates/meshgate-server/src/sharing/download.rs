//! `GET`/`HEAD {prefix}/files/{table_id}/{d|s}/…`: serving the files a Delta Sharing response
//! handed out, each URL's signature, expiry and binding re-checked at every use.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use meshgate_core::files::{SignedResource, UrlError};
use meshgate_core::model::{NewAuditEvent, Outcome};
use meshgate_engine::files::ProductFiles;
use meshgate_engine::sharing::{self as data};
use serde_json::json;
use uuid::Uuid;

use super::error::SharingResult;
use super::recipient::{Recipient, shared_tables};
use crate::auth::Caller;
use crate::error::{ApiError, REQUEST_ID};
use crate::files::SignedParams;
use crate::state::AppState;

use super::tables::{POLICY_PARAM, audit, credential_session, location};

fn url_refused(e: UrlError) -> ApiError {
    ApiError::forbidden(e.to_string())
}

/// `GET`/`HEAD {prefix}/files/{table_id}/{d|s}/…`: a file a response handed out.
pub async fn download(
    State(state): State<AppState>,
    method: Method,
    Path((table_id, path)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    parts: axum::extract::Request,
) -> SharingResult<Response> {
    let invalid = || url_refused(UrlError::Invalid);
    let Ok(Query(params)) = query else {
        return Err(invalid().into());
    };
    let table_id = Uuid::parse_str(&table_id).map_err(|_| invalid())?;
    let signed = SignedParams::read(&params).ok_or_else(invalid)?;
    let principal = signed.principal;
    let policy = params
        .get(POLICY_PARAM)
        .map(String::as_str)
        .ok_or_else(invalid)?;
    signed
        .verify(
            &state,
            &SignedResource::SharingFile {
                table_id,
                policy,
                path: &path,
            },
        )
        .map_err(url_refused)?;
    // Where the file is.
    let (from_snapshot, inner) = if let Some(file) = path.strip_prefix("d/") {
        (false, file.to_string())
    } else if let Some(rest) = path.strip_prefix("s/") {
        (true, rest.to_string())
    } else {
        return Err(invalid().into());
    };
    if meshgate_core::files::validate_path(&inner).is_err() {
        return Err(invalid().into());
    }

    // Authentic and unexpired: re-check the recipient as it is now.
    let Some(p) = state.store.get_principal(principal).await? else {
        return Err(
            ApiError::forbidden("the recipient this URL was signed for no longer exists").into(),
        );
    };
    let (fingerprint, session) = match policy.split_once('.') {
        Some((f, id)) => {
            let id = Uuid::parse_str(id).map_err(|_| invalid())?;
            (f, Some(credential_session(&state, id, principal).await?))
        }
        None => (policy, None),
    };
    let caller = Caller::new(&state, p, session).await?;
    let (request_parts, _) = parts.into_parts();
    super::recipient::check_address(&state, &caller, super::recipient::peer(&request_parts))
        .await?;
    let r = Recipient { caller };
    let tables = shared_tables(&state, &r.caller).await?;
    let Some(t) = tables.into_iter().find(|t| t.table.id == table_id) else {
        let e = NewAuditEvent::new(
            Some(r.id()),
            "sharing.download",
            "table",
            Some(table_id.to_string()),
        )
        .with_outcome(Outcome::Denied)
        .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
        .with_detail(json!({"path": path, "reason": "not shared"}));
        state.store.append_audit(e).await?;
        return Err(ApiError::forbidden(
            "this table is no longer shared with the recipient the URL was signed for; the share may have been revoked",
        )
        .into());
    };
    if data::access_fingerprint(&t.access) != fingerprint {
        audit(
            &state,
            &r,
            "sharing.download",
            &t,
            Outcome::Denied,
            json!({"path": path, "reason": "access changed"}),
        )
        .await?;
        return Err(ApiError::forbidden(
            "the recipient's access to this table changed since the URL was handed out; query the table again",
        )
        .into());
    }
    let files = if from_snapshot {
        ProductFiles::at(state.snapshots.root().clone())?
    } else {
        ProductFiles::at(location(&t)?)?
    };
    let detail = json!({"table": t.full_name(), "path": inner, "via": "delta_sharing"});
    let event = NewAuditEvent::new(
        Some(r.id()),
        "sharing.download",
        "table",
        Some(t.table.id.to_string()),
    )
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
    .with_detail(detail);
    let download = crate::files::Download {
        files,
        path: &inner,
        shown: format!("{}/{inner}", t.full_name()),
        event,
    };
    Ok(crate::files::serve_bytes(&state, download, &method, &headers).await?)
}
