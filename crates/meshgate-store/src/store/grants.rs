//! [`GrantStore`] for [`SqlStore`]: the grants in force (written by share changes, see
//! `shares.rs`) and the policy version.

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::model::{FileGrant, Grant};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::{Args, IN_CHUNK, fetch_list, row_on};
use crate::codec::{self, GRANTEE_PRINCIPAL, GRANTEE_TEAM};
use crate::db::{SqlStore, internal};
use crate::record::Record;
use crate::{GrantStore, PolicyScope, PolicyVersion};

/// The records of a grant table (`T` is [`Grant`] or [`FileGrant`]) for a principal directly
/// or for any of `teams`, each part oldest first.
pub(super) async fn grantee_records<T: Record>(
    conn: &mut AnyConnection,
    principal_id: Uuid,
    teams: &[Uuid],
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut args = Args::default();
    let sql = T::select(&format!(
        "WHERE grantee_type = {} AND grantee_id = {} ORDER BY created_at, id",
        args.text(GRANTEE_PRINCIPAL),
        args.text(principal_id.to_string())
    ));
    out.extend(fetch_list(conn, "read grants", &sql, &args).await?);
    for chunk in teams.chunks(IN_CHUNK) {
        let mut args = Args::default();
        let sql = T::select(&format!(
            "WHERE grantee_type = {} AND grantee_id IN ({}) ORDER BY created_at, id",
            args.text(GRANTEE_TEAM),
            args.ids(chunk)
        ));
        out.extend(fetch_list(conn, "read grants", &sql, &args).await?);
    }
    Ok(out)
}

/// Items of one share, for `… WHERE share_item_id IN (…)`.
const OF_SHARE: &str = "WHERE share_item_id IN (SELECT id FROM share_items WHERE share_id = $1) \
     ORDER BY created_at, id";

/// Items of any share of one product, for `… WHERE share_item_id IN (…)`.
const OF_PRODUCT: &str = "WHERE share_item_id IN (SELECT i.id FROM share_items i \
     JOIN shares s ON s.id = i.share_id WHERE s.product_id = $1)";

#[async_trait]
impl GrantStore for SqlStore {
    async fn grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<Grant>> {
        let mut conn = self.read().await?;
        grantee_records(&mut conn, principal_id, teams).await
    }

    async fn grants_of_share(&self, share_id: Uuid) -> Result<Vec<Grant>> {
        let sql = Grant::select(OF_SHARE);
        self.list("read grants", &sql, &[&share_id]).await
    }

    async fn file_grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<FileGrant>> {
        let mut conn = self.read().await?;
        grantee_records(&mut conn, principal_id, teams).await
    }

    async fn file_grants_of_share(&self, share_id: Uuid) -> Result<Vec<FileGrant>> {
        let sql = FileGrant::select(OF_SHARE);
        self.list("read grants", &sql, &[&share_id]).await
    }

    async fn grants_of_product(&self, product_id: Uuid) -> Result<(Vec<Grant>, Vec<FileGrant>)> {
        let sql = Grant::select(OF_PRODUCT);
        let grants = self.list("read grants", &sql, &[&product_id]).await?;
        let sql = FileGrant::select(OF_PRODUCT);
        let files = self.list("read file grants", &sql, &[&product_id]).await?;
        Ok((grants, files))
    }

    async fn policy_version(&self) -> Result<i64> {
        Ok(self.policy_versions().await?.version)
    }

    async fn policy_versions(&self) -> Result<PolicyVersion> {
        let row = sqlx::query("SELECT version, broad FROM policy_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| internal("read the policy version", e))?;
        Ok(PolicyVersion {
            version: codec::int(&row, "version")?,
            broad: codec::int(&row, "broad")?,
        })
    }

    async fn scopes_changed_since(&self, scopes: &[PolicyScope], since: i64) -> Result<bool> {
        for chunk in scopes.chunks(IN_CHUNK) {
            let mut args = Args::default();
            let since = args.int(since);
            let keys = chunk
                .iter()
                .map(|s| args.text(s.key()))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT 1 AS changed FROM policy_scopes WHERE version > {since} AND scope IN ({keys}) LIMIT 1"
            );
            if row_on(&self.pool, "read the scoped policy changes", &sql, &args)
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
