//! Who may read and write a product's files (see [`crate::files`]), the audit events of file
//! acts, and the audited 403 a refusal answers with.

use meshgate_authz::Action;
use meshgate_core::model::{DataProduct, FileGrant, NewAuditEvent, Outcome, folder_covers};
use meshgate_core::snapshot::FileAccess;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::lookup;
use crate::lookup::{ProductRef, product_resource};
use crate::state::AppState;

/// What a principal may read of one product's files.
pub(super) enum Readable {
    /// Everything (its team's product, or it may write the files).
    All,
    /// What these grants cover (possibly nothing).
    Granted(Vec<FileGrant>),
}

impl Readable {
    pub(super) fn covers(&self, product_id: Uuid, path: &str) -> bool {
        match self {
            Readable::All => true,
            Readable::Granted(grants) => grants.iter().any(|g| g.covers(product_id, path)),
        }
    }

    /// Whether a listing under `prefix` can show anything the principal may read.
    pub(super) fn may_list(&self, prefix: &str) -> bool {
        match self {
            Readable::All => true,
            Readable::Granted(grants) => grants
                .iter()
                .any(|g| g.prefix.starts_with(prefix) || folder_covers(&g.prefix, prefix)),
        }
    }
}

/// What `caller` may read of `product`'s files: everything where it may write them, else
/// what its access snapshot gives (ownership or file grants; the snapshot follows the policy
/// version, so a revoked grant or a left team takes effect at once).
pub(super) async fn readable(
    state: &AppState,
    caller: &Caller,
    product: &DataProduct,
) -> ApiResult<Readable> {
    if state.authz.is_allowed(
        &caller.actor,
        Action::AppendData,
        &product_resource(product),
    ) {
        return Ok(Readable::All);
    }
    let access = crate::snapshot::of(state, caller).await?;
    Ok(match access.files(product.id) {
        FileAccess::All => Readable::All,
        FileAccess::Granted(grants) => Readable::Granted(grants),
    })
}

/// An audit event about the files of `product`.
pub(super) fn event(actor: Uuid, action: &str, product: &DataProduct) -> NewAuditEvent {
    NewAuditEvent::new(
        Some(actor),
        action,
        "data_product",
        Some(product.id.to_string()),
    )
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
}

/// A product whose files are asked for, with its qualified name for messages.
pub(super) struct Target {
    pub(super) product: DataProduct,
    pub(super) qualified: String,
}

impl From<ProductRef> for Target {
    fn from(p: ProductRef) -> Self {
        Target {
            qualified: p.qualified(),
            product: p.product,
        }
    }
}

/// The route's `{*path}`: a file inside the product's files (checked by the router's guard).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct FilePath {
    /// File path inside the product (may contain `/`)
    pub(super) path: String,
}

/// Records a denial and returns the 403 to answer with.
pub(super) async fn deny(
    state: &AppState,
    actor: Uuid,
    action: &str,
    t: &Target,
    path: Option<&str>,
    message: String,
) -> ApiResult<ApiError> {
    let e = event(actor, action, &t.product)
        .with_outcome(Outcome::Denied)
        .with_detail(json!({"product": t.qualified, "path": path, "reason": message}));
    state.store.append_audit(e).await?;
    Ok(ApiError::forbidden(message))
}

/// What `caller` may read of `t`'s files; credentials get nothing (they name tables only).
pub(super) async fn caller_readable(
    state: &AppState,
    caller: &Caller,
    action: &str,
    t: &Target,
    path: Option<&str>,
) -> ApiResult<Readable> {
    if caller.session.is_some() {
        return Err(deny(
            state,
            caller.id(),
            action,
            t,
            path,
            format!(
                "principal `{}` may not read files of `{}` with a credential: credentials carry table access only; use an API token",
                caller.principal.name, t.qualified
            ),
        )
        .await?);
    }
    readable(state, caller, &t.product).await
}

/// Fails (audited) unless `caller` may write `t`'s files.
pub(super) async fn check_writer(
    state: &AppState,
    caller: &Caller,
    action: &str,
    verb: &str,
    t: &Target,
    path: &str,
) -> ApiResult<()> {
    let what = format!("{verb} files of `{}`", t.qualified);
    if let Err(e) = lookup::authorize(
        state,
        caller,
        Action::AppendData,
        &product_resource(&t.product),
        &what,
    ) {
        return Err(deny(state, caller.id(), action, t, Some(path), e.message).await?);
    }
    Ok(())
}

pub(super) fn not_covered(name: &str, path: &str, t: &Target) -> String {
    format!(
        "principal `{name}` may not read `{path}` of `{}`: no grant covers it",
        t.qualified
    )
}
