//! What the API sends: store records with ids resolved to the names people use
//! (`domain.product`, `domain.team`, principal names).

use chrono::{DateTime, Utc};
use meshgate_core::lifecycle::{ItemStatus, ShareStatus, ShareSummary};
use meshgate_core::model::{
    Column, DataProduct, Domain, Health, ItemKind, Permission, Principal, ProductTable,
    ShareDetail, Team, TeamRole,
};
use meshgate_store::{NameIds, Names, Owned};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    pub id: Uuid,
    pub domain: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl TeamView {
    pub fn new(team: Team, domain: &Domain) -> Self {
        TeamView {
            id: team.id,
            domain: domain.name.clone(),
            name: team.name,
            description: team.description,
            created_at: team.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub principal: String,
    pub role: TeamRole,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TableView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Where the table lives: shown to the product's team and admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub managed: bool,
    pub columns: Vec<Column>,
    pub created_at: DateTime<Utc>,
}

impl From<ProductTable> for TableView {
    fn from(t: ProductTable) -> Self {
        TableView {
            id: t.id,
            name: t.name,
            description: t.description,
            location: Some(t.location),
            managed: t.managed,
            columns: t.columns,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub domain: String,
    pub team: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Catalog listing state and metadata revision (see `catalog`).
    pub listing: meshgate_core::catalog::ListingState,
    pub revision: i64,
    pub tables: Vec<TableView>,
}

impl ProductView {
    /// The product as `viewer` may see it: table locations only for its team and admins.
    pub async fn load(
        state: &AppState,
        viewer: &crate::auth::Caller,
        product: DataProduct,
    ) -> ApiResult<Self> {
        let domain = name_of_domain(state, product.domain_id).await?;
        let team = name_of_team(state, product.team_id).await?;
        let sees_locations = crate::lookup::sees_locations(viewer, &product);
        let tables = state.store.list_tables(product.id).await?;
        Ok(ProductView {
            id: product.id,
            domain,
            team,
            name: product.name,
            description: product.description,
            created_at: product.created_at,
            updated_at: product.updated_at,
            listing: product.listing,
            revision: product.revision,
            tables: tables
                .into_iter()
                .map(TableView::from)
                .map(|t| TableView {
                    location: t.location.filter(|_| sees_locations),
                    ..t
                })
                .collect(),
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub id: Uuid,
    pub kind: ItemKind,
    pub table: Option<String>,
    pub table_id: Option<Uuid>,
    /// The file prefix, for folder items.
    pub folder: Option<String>,
    pub permission: Permission,
    /// What of the table a table item gives (data filters, kept columns, masks).
    pub scope: meshgate_core::access::GrantScope,
    pub status: ItemStatus,
    pub health: Option<Health>,
    pub health_message: Option<String>,
    pub last_verified_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareView {
    pub id: Uuid,
    /// `domain.product`
    pub product: String,
    pub product_id: Uuid,
    /// `domain.team`
    pub requester_team: Option<String>,
    pub requester_principal: Option<String>,
    pub created_by: String,
    pub reason: String,
    pub status: ShareStatus,
    pub requested_expiry: Option<DateTime<Utc>>,
    pub decision_notes: Option<String>,
    pub decided_by: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_reason: Option<String>,
    /// Expiry, open extension, local name, reminders.
    #[serde(flatten)]
    pub terms: meshgate_core::model::ShareTerms,
    pub items: Vec<ItemView>,
    pub summary: ShareSummary,
}

impl ShareView {
    /// One share's view; its names are read in one statement ([`meshgate_store::NameStore::names_of`]).
    pub async fn load(state: &AppState, detail: ShareDetail) -> ApiResult<Self> {
        let names = state
            .store
            .names_of(&Self::ids(std::slice::from_ref(&detail)))
            .await?;
        Ok(Self::named(detail, &names))
    }

    /// The views of many shares, their names read together.
    pub async fn load_all(state: &AppState, details: Vec<ShareDetail>) -> ApiResult<Vec<Self>> {
        let names = state.store.names_of(&Self::ids(&details)).await?;
        Ok(details
            .into_iter()
            .map(|d| Self::named(d, &names))
            .collect())
    }

    /// The ids whose names the views of `details` show.
    fn ids(details: &[ShareDetail]) -> NameIds {
        let mut ids = NameIds::default();
        for d in details {
            let s = &d.share;
            ids.products.insert(s.product_id);
            ids.teams.extend(s.requester_team_id);
            ids.principals.extend(s.requester_principal_id);
            ids.principals.extend(s.decided_by);
            ids.principals.insert(s.created_by);
            ids.tables
                .extend(d.items.iter().filter_map(|item| item.table_id));
        }
        ids
    }

    /// The view of `detail` with the names of `names`; an id whose row is gone shows as the id
    /// (a product as `(deleted product <id>)`, a table as no name).
    fn named(detail: ShareDetail, names: &Names) -> Self {
        let share = detail.share;
        let principal = |id: Uuid| {
            names
                .principals
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string())
        };
        let product = names.products.get(&share.product_id).map_or_else(
            || format!("(deleted product {})", share.product_id),
            Owned::qualified,
        );
        let requester_team = share.requester_team_id.map(|id| {
            names
                .teams
                .get(&id)
                .map_or_else(|| id.to_string(), Owned::qualified)
        });
        let items = detail
            .items
            .into_iter()
            .map(|item| ItemView {
                id: item.id,
                kind: item.kind,
                table: item.table_id.and_then(|id| names.tables.get(&id).cloned()),
                table_id: item.table_id,
                folder: item.path,
                permission: item.permission,
                scope: item.scope,
                status: item.status,
                health: item.health,
                health_message: item.health_message,
                last_verified_at: item.last_verified_at,
                updated_at: item.updated_at,
            })
            .collect();
        ShareView {
            id: share.id,
            product,
            product_id: share.product_id,
            requester_team,
            requester_principal: share.requester_principal_id.map(principal),
            created_by: principal(share.created_by),
            reason: share.reason,
            status: share.status,
            requested_expiry: share.requested_expiry,
            decision_notes: share.decision_notes,
            decided_by: share.decided_by.map(principal),
            version: share.version,
            created_at: share.created_at,
            updated_at: share.updated_at,
            deleted_reason: share.deleted_reason,
            terms: share.terms,
            items,
            summary: detail.summary,
        }
    }
}

pub async fn name_of_domain(state: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(state
        .store
        .get_domain(id)
        .await?
        .map(|d| d.name)
        .unwrap_or_else(|| id.to_string()))
}

pub async fn name_of_team(state: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(state
        .store
        .get_team(id)
        .await?
        .map(|t| t.name)
        .unwrap_or_else(|| id.to_string()))
}

/// `domain.team`
pub async fn qualified_team(state: &AppState, id: Uuid) -> ApiResult<String> {
    match state.store.get_team(id).await? {
        Some(t) => Ok(format!(
            "{}.{}",
            name_of_domain(state, t.domain_id).await?,
            t.name
        )),
        None => Ok(id.to_string()),
    }
}

pub async fn name_of_principal(state: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(state
        .store
        .get_principal(id)
        .await?
        .map(|p: Principal| p.name)
        .unwrap_or_else(|| id.to_string()))
}
