//! What the inbox, contact and webhook routes share: they act on the caller's own things.

use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Inboxes, contacts and webhooks are the caller's own: any principal may manage its own
/// with an API token. A credential carries data access only.
pub(super) fn own(caller: &Caller, what: &str) -> ApiResult<()> {
    if caller.session.is_some() {
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not {what} with a credential: credentials carry data access only (its session policy); use an API token",
            caller.principal.name
        )));
    }
    Ok(())
}

pub(super) fn parse_id(id: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found(what, id))
}
