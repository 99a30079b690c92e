//! The caller's contact: the email address its notifications are sent to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::Utc;
use lettre::Address;
use meshgate_core::notify::Contact;
use serde::{Deserialize, Serialize};

use super::own::own;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::audit;
use crate::state::AppState;

/// The longest accepted email address.
const MAX_EMAIL: usize = 254;

/// The routes of contacts, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route(
        "/contacts/me",
        get(get_contact).put(put_contact).delete(delete_contact),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
struct ContactBody {
    email: String,
}

/// Checks an email address as SMTP will need it: a plain `name@domain` address.
pub fn validate_email(email: &str) -> ApiResult<String> {
    let email = email.trim();
    if email.is_empty() || email.len() > MAX_EMAIL {
        return Err(ApiError::bad_request(format!(
            "email: give an address of 1 to {MAX_EMAIL} characters, e.g. `bob@example.com`"
        )));
    }
    let address: Address = email.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "email: `{email}` is not an email address; give one like `bob@example.com`"
        ))
    })?;
    Ok(address.to_string())
}

#[utoipa::path(
    put,
    path = "/contacts/me",
    operation_id = "put_contact",
    tag = "contacts",
    request_body = ContactBody,
    responses(
        (status = 200, description = "OK", body = Contact),
        crate::error::ApiErrors,
    ),
)]
async fn put_contact(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ContactBody>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(set_contact(&state, &caller, body).await?))
}

/// Sets the caller's email address.
async fn set_contact(state: &AppState, caller: &Caller, body: ContactBody) -> ApiResult<Contact> {
    own(caller, "set an email address")?;
    let contact = Contact {
        principal_id: caller.id(),
        email: validate_email(&body.email)?,
        updated_at: meshgate_store::truncate_to_micros(Utc::now()),
    };
    let event = audit(caller, "contact.put", "principal", caller.id());
    state.store.put_contact(&contact, event).await?;
    Ok(contact)
}

fn no_contact(caller: &Caller) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "principal `{}` has no email address; set one with `PUT /api/v1/contacts/me`",
            caller.principal.name
        ),
    )
}

#[utoipa::path(
    get,
    path = "/contacts/me",
    operation_id = "get_contact",
    tag = "contacts",
    responses(
        (status = 200, description = "OK", body = Contact),
        crate::error::ApiErrors,
    ),
)]
async fn get_contact(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Contact>> {
    Ok(Json(contact_of(&state, &caller).await?))
}

/// The caller's contact (404 when it has set none).
async fn contact_of(state: &AppState, caller: &Caller) -> ApiResult<Contact> {
    own(caller, "read its email address")?;
    state
        .store
        .get_contact(caller.id())
        .await?
        .ok_or_else(|| no_contact(caller))
}

/// The answer to removing the caller's contact: an empty object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactRemoved {}

#[utoipa::path(
    delete,
    path = "/contacts/me",
    operation_id = "delete_contact",
    tag = "contacts",
    responses(
        (status = 200, description = "OK", body = ContactRemoved),
        crate::error::ApiErrors,
    ),
)]
async fn delete_contact(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ContactRemoved>> {
    remove_contact(&state, &caller).await?;
    Ok(Json(ContactRemoved {}))
}

/// Removes the caller's contact (404 when it has set none).
async fn remove_contact(state: &AppState, caller: &Caller) -> ApiResult<()> {
    own(caller, "remove its email address")?;
    if state.store.get_contact(caller.id()).await?.is_none() {
        return Err(no_contact(caller));
    }
    let event = audit(caller, "contact.delete", "principal", caller.id());
    state.store.delete_contact(caller.id(), event).await?;
    Ok(())
}
