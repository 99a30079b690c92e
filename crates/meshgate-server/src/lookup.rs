//! What nearly every handler does first: find the records a request names (answering 404
//! for what does not exist or may not be seen — a draft product is a 404 for outsiders,
//! exactly like a missing one), ask the authorizer, and start the audit event. Below every
//! feature module; it depends on the state, the caller and the error type only.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use meshgate_authz::{Action, Resource};
use meshgate_core::catalog::ListingState;
use meshgate_core::model::{
    DataProduct, Domain, NewAuditEvent, Principal, ProductTable, Share, ShareDetail, Team,
};
use serde::Deserialize;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_param;
use crate::state::AppState;

/// Fails with 403 unless the caller may do `action` on `resource`.
pub fn authorize(
    state: &AppState,
    caller: &Caller,
    action: Action,
    resource: &Resource,
    what: &str,
) -> ApiResult<()> {
    if caller.session.is_some() {
        // A credential carries data access only; it can never act on the control plane.
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not {what} with a credential: credentials carry data access only (its session policy); use an API token",
            caller.principal.name
        )));
    }
    if state.authz.is_allowed(&caller.actor, action, resource) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "principal `{}` may not {what}",
            caller.principal.name
        )))
    }
}

pub fn audit(
    caller: &Caller,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
) -> NewAuditEvent {
    NewAuditEvent::new(
        Some(caller.id()),
        action,
        object_type,
        Some(object_id.to_string()),
    )
    .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok())
}

/// The authorizer's view of a share.
pub async fn share_resource(state: &AppState, share: &Share) -> ApiResult<Resource> {
    share_resource_among(state, share, &mut HashMap::new()).await
}

/// [`share_resource`] for one of many shares: `owners` keeps each product's team and domain
/// as read, so that a list of shares reads each product once.
pub async fn share_resource_among(
    state: &AppState,
    share: &Share,
    owners: &mut HashMap<Uuid, (Uuid, Uuid)>,
) -> ApiResult<Resource> {
    let (team, domain) = match owners.get(&share.product_id) {
        Some(known) => *known,
        None => {
            let owner = match state.store.get_product(share.product_id).await? {
                Some(p) => (p.team_id, p.domain_id),
                // The product is gone: only requesters and admins can still see the record.
                None => (Uuid::nil(), Uuid::nil()),
            };
            owners.insert(share.product_id, owner);
            owner
        }
    };
    Ok(Resource::Share {
        id: share.id,
        product_id: share.product_id,
        product_team_id: team,
        product_domain_id: domain,
        requester_team_id: share.requester_team_id,
        requester_principal_id: share.requester_principal_id,
    })
}

pub async fn principal_by_name(state: &AppState, name: &str) -> ApiResult<Principal> {
    state
        .store
        .get_principal_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("principal", name))
}

pub async fn domain_by_name(state: &AppState, name: &str) -> ApiResult<Domain> {
    state
        .store
        .get_domain_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("domain", name))
}

pub async fn team_by_name(state: &AppState, domain: &str, team: &str) -> ApiResult<(Domain, Team)> {
    let d = domain_by_name(state, domain).await?;
    let t = state
        .store
        .get_team_by_name(d.id, team)
        .await?
        .ok_or_else(|| ApiError::not_found("team", &format!("{domain}.{team}")))?;
    Ok((d, t))
}

/// Resolves `domain.team`.
pub async fn team_by_qualified_name(
    state: &AppState,
    qualified: &str,
) -> ApiResult<(Domain, Team)> {
    let (d, t) = split_qualified(qualified, "team")?;
    team_by_name(state, d, t).await
}

/// Splits `a.b`, with an error that shows the expected form.
pub fn split_qualified<'a>(value: &'a str, what: &str) -> ApiResult<(&'a str, &'a str)> {
    value
        .split_once('.')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('.'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{value}` is not a {what} name; write it as `<domain>.<{what}>`"
            ))
        })
}

/// A product by `domain.product` name that `caller` may know of: drafts and unpublished
/// products exist only for their team and admins, and are a 404 exactly like a product that
/// does not exist for everyone else (docs/design/SECURITY.md, "existence"). Every route that
/// names a product finds it through here.
pub async fn product_by_name(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
) -> ApiResult<(Domain, DataProduct)> {
    let (d, p) = find_product(state, domain, product).await?;
    if !can_see(caller, &p) {
        return Err(ApiError::not_found(
            "data product",
            &format!("{domain}.{product}"),
        ));
    }
    Ok((d, p))
}

/// A product by name whatever its listing state: for the server's own work (a visible table
/// the caller was already granted, the quickstart), never for a caller's lookup.
pub async fn find_product(
    state: &AppState,
    domain: &str,
    product: &str,
) -> ApiResult<(Domain, DataProduct)> {
    let d = domain_by_name(state, domain).await?;
    let p = state
        .store
        .get_product_by_name(d.id, product)
        .await?
        .ok_or_else(|| ApiError::not_found("data product", &format!("{domain}.{product}")))?;
    Ok((d, p))
}

pub fn product_resource(p: &DataProduct) -> Resource {
    Resource::Product {
        id: p.id,
        team_id: p.team_id,
        domain_id: p.domain_id,
    }
}

/// Whether the caller may see a product's catalog entry: a published product, or any product
/// of a team the caller belongs to, or anything for an admin.
pub fn can_see(caller: &Caller, product: &DataProduct) -> bool {
    product.listing == ListingState::Published
        || caller.actor.is_admin
        || caller
            .actor
            .teams
            .iter()
            .any(|m| m.team_id == product.team_id)
}

/// Whether the caller sees where a product's tables live: its team's members and admins.
/// Locations tell others nothing they may use (a table is read through grants), and a
/// managed table's location must not be handed to anyone who might register it.
pub fn sees_locations(caller: &Caller, product: &DataProduct) -> bool {
    caller.actor.is_admin
        || caller
            .actor
            .teams
            .iter()
            .any(|m| m.team_id == product.team_id)
}

/// A table of `product` by name; 404 naming `domain.product.table` otherwise.
pub async fn table_of(
    state: &AppState,
    domain: &Domain,
    product: &DataProduct,
    table: &str,
) -> ApiResult<ProductTable> {
    state
        .store
        .list_tables(product.id)
        .await?
        .into_iter()
        .find(|t| t.name == table)
        .ok_or_else(|| {
            ApiError::not_found(
                "table",
                &format!("{}.{}.{table}", domain.name, product.name),
            )
        })
}

/// A product a request names, with its domain.
pub struct ProductRef {
    pub domain: Domain,
    pub product: DataProduct,
}

impl ProductRef {
    /// `domain.product`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.domain.name, self.product.name)
    }

    /// The authorizer's view of the product.
    pub fn resource(&self) -> Resource {
        product_resource(&self.product)
    }

    /// Fails with 403 unless the caller may change the product's catalog metadata (owners
    /// and stewards).
    pub fn check_editable(&self, state: &AppState, caller: &Caller) -> ApiResult<()> {
        authorize(
            state,
            caller,
            Action::UpdateProduct,
            &self.resource(),
            &format!("change the catalog metadata of `{}`", self.qualified()),
        )
    }

    /// The product's table named `table` (404 naming `domain.product.table` otherwise).
    pub async fn table(self, state: &AppState, table: &str) -> ApiResult<TableRef> {
        let table = table_of(state, &self.domain, &self.product, table).await?;
        Ok(TableRef {
            domain: self.domain,
            product: self.product,
            table,
        })
    }
}

/// The product named by the route's `{domain}` and `{product}`, found through
/// [`product_by_name`]: a product the caller may not know of is a 404 before the handler runs.
/// Put it after the handler's caller extractor, which decides 401/403 first.
pub struct ProductPath(pub ProductRef);

impl FromRequestParts<AppState> for ProductPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let domain = path_param(parts, state, "domain").await?;
        let product = path_param(parts, state, "product").await?;
        let caller = crate::auth::caller_of(parts, state).await?;
        let (domain, product) = product_by_name(state, &caller, &domain, &product).await?;
        Ok(ProductPath(ProductRef { domain, product }))
    }
}

impl utoipa::IntoParams for ProductPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            name_param("domain", "Domain name", "sales"),
            name_param("product", "Product name", "orders"),
        ]
    }
}

/// A catalog name in a route's path, as the router's guard checks it (`paths.rs`).
fn name_param(name: &str, description: &str, example: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .example(Some(example.into()))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[a-z][a-z0-9_]*$"))
                .max_length(Some(63)),
        ))
        .build()
}

/// The route's `{table}`, for an operation that checks the caller's rights on the product
/// (taken with [`ProductPath`]) before it looks the table up, so that a caller without them
/// is refused (403) whether or not the table exists; [`TablePath`] looks both up first.
#[derive(Debug, Deserialize)]
pub struct TableName {
    pub table: String,
}

impl utoipa::IntoParams for TableName {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![name_param("table", "Table name", "orders")]
    }
}

/// The route's `{column}`: a column of the table in the path, which the operation checks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ColumnName {
    /// Column name
    #[param(example = "region")]
    pub column: String,
}

/// The table named by the route's `{domain}`, `{product}` and `{table}`, found through
/// [`table_ref`] (404 for what the caller may not know of).
pub struct TablePath(pub TableRef);

impl FromRequestParts<AppState> for TablePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let domain = path_param(parts, state, "domain").await?;
        let product = path_param(parts, state, "product").await?;
        let table = path_param(parts, state, "table").await?;
        let caller = crate::auth::caller_of(parts, state).await?;
        Ok(TablePath(
            table_ref(state, &caller, &domain, &product, &table).await?,
        ))
    }
}

impl utoipa::IntoParams for TablePath {
    fn into_params(in_provider: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = ProductPath::into_params(&in_provider);
        params.extend(TableName::into_params(in_provider));
        params
    }
}

/// A table a request names, with its product and domain.
pub struct TableRef {
    pub domain: Domain,
    pub product: DataProduct,
    pub table: ProductTable,
}

impl TableRef {
    /// `domain.product.table`.
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}.{}",
            self.domain.name, self.product.name, self.table.name
        )
    }
}

/// `domain.product.table` that the caller may see (its product through [`product_by_name`]);
/// 404 otherwise.
pub async fn table_ref(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
    table: &str,
) -> ApiResult<TableRef> {
    let (domain, product) = product_by_name(state, caller, domain, product).await?;
    let table = table_of(state, &domain, &product, table).await?;
    Ok(TableRef {
        domain,
        product,
        table,
    })
}

/// A share the caller may see (a share it may not view is a 404, like one that does not
/// exist), with its authorizer resource for the caller's next check.
pub async fn visible_share(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<(ShareDetail, Resource)> {
    let not_found = || ApiError::not_found("share", &id.to_string());
    let detail = state.store.get_share(id).await?.ok_or_else(not_found)?;
    let resource = share_resource(state, &detail.share).await?;
    if !state
        .authz
        .is_allowed(&caller.actor, Action::ViewShare, &resource)
    {
        return Err(not_found());
    }
    Ok((detail, resource))
}
