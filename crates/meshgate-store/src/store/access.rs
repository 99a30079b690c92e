//! [`AccessStore`] for [`SqlStore`]: the bulk read behind the access snapshot. One read
//! connection, the policy version first, then one query per kind of row (chunked `IN` lists),
//! never one query per table. See docs/design/ACCESS.md §Resolution.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::access::{ColumnTags, DataFilter, RowRule, TagMask};
use meshgate_core::credential::TableTenancy;
use meshgate_core::model::{DataProduct, FileGrant, Grant, ProductTable};
use meshgate_core::snapshot::AccessRows;
use uuid::Uuid;

use super::grants::grantee_records;
use super::{Args, fetch_list, fetch_list_in, rows_in};
use crate::AccessStore;
use crate::codec;
use crate::db::{SqlStore, internal};
use crate::record::Record;

#[async_trait]
impl AccessStore for SqlStore {
    async fn access_rows_assuming(
        &self,
        principal_id: Uuid,
        teams: &[Uuid],
        groups: &[Uuid],
        assumed: &[Grant],
    ) -> Result<AccessRows> {
        let mut conn = self.read().await?;
        let conn = &mut *conn;
        let version = sqlx::query("SELECT version FROM policy_version WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| internal("read the policy version", e))?;
        let policy_version = codec::int(&version, "version")?;

        // The caller's group names, in its membership order.
        let group_ids: BTreeSet<Uuid> = groups.iter().copied().collect();
        let mut names = BTreeMap::new();
        for r in rows_in(
            conn,
            "read group names",
            "SELECT id, name FROM principals WHERE id IN ({ids})",
            group_ids.iter().copied(),
        )
        .await?
        {
            names.insert(codec::uuid(&r, "id")?, codec::text(&r, "name")?);
        }
        let group_names = groups
            .iter()
            .filter_map(|g| names.get(g).cloned())
            .collect();

        // Owned products, the grants, and the granted tables.
        let team_ids: BTreeSet<Uuid> = teams.iter().copied().collect();
        let mut products = fetch_list_in::<DataProduct>(
            conn,
            "read owned products",
            &DataProduct::select("WHERE team_id IN ({ids})"),
            team_ids.iter().copied(),
        )
        .await?;
        let owned: BTreeSet<Uuid> = products.iter().map(|p| p.id).collect();
        let mut grants: Vec<Grant> = grantee_records(conn, principal_id, teams).await?;
        grants.extend(assumed.iter().cloned());
        let file_grants: Vec<FileGrant> = grantee_records(conn, principal_id, teams).await?;
        let mut tables = fetch_list_in::<ProductTable>(
            conn,
            "read tables",
            &ProductTable::select("WHERE product_id IN ({ids})"),
            owned.iter().copied(),
        )
        .await?;
        let granted_ids: BTreeSet<Uuid> = grants.iter().map(|g| g.table_id).collect();
        let granted_tables = fetch_list_in::<ProductTable>(
            conn,
            "read tables",
            &ProductTable::select("WHERE id IN ({ids})"),
            granted_ids.iter().copied(),
        )
        .await?;
        let granted_products: BTreeSet<Uuid> = granted_tables
            .iter()
            .map(|t| t.product_id)
            .filter(|p| !owned.contains(p))
            .collect();
        let granted_table_ids: BTreeSet<Uuid> = granted_tables
            .iter()
            .filter(|t| granted_products.contains(&t.product_id))
            .map(|t| t.id)
            .collect();
        for t in granted_tables {
            if !owned.contains(&t.product_id) {
                tables.push(t);
            }
        }
        products.extend(
            fetch_list_in::<DataProduct>(
                conn,
                "read granted products",
                &DataProduct::select("WHERE id IN ({ids})"),
                granted_products.iter().copied(),
            )
            .await?,
        );

        let domain_ids: BTreeSet<Uuid> = products.iter().map(|p| p.domain_id).collect();
        let mut domains = BTreeMap::new();
        for r in rows_in(
            conn,
            "read domain names",
            "SELECT id, name FROM domains WHERE id IN ({ids})",
            domain_ids.iter().copied(),
        )
        .await?
        {
            domains.insert(codec::uuid(&r, "id")?, codec::text(&r, "name")?);
        }

        let item_ids: BTreeSet<Uuid> = grants.iter().map(|g| g.share_item_id).collect();
        let mut local_names = BTreeMap::new();
        for r in rows_in(
            conn,
            "read local names",
            "SELECT i.id AS id, s.local_name AS local_name FROM share_items i \
             JOIN shares s ON s.id = i.share_id \
             WHERE i.id IN ({ids}) AND s.local_name IS NOT NULL",
            item_ids.iter().copied(),
        )
        .await?
        {
            local_names.insert(codec::uuid(&r, "id")?, codec::text(&r, "local_name")?);
        }

        let filter_ids: BTreeSet<Uuid> = grants
            .iter()
            .flat_map(|g| g.scope.data_filters.iter().copied())
            .collect();
        let data_filters = fetch_list_in::<DataFilter>(
            conn,
            "read data filters",
            &DataFilter::select("WHERE id IN ({ids})"),
            filter_ids.iter().copied(),
        )
        .await?;

        let mut row_rules: BTreeMap<Uuid, Vec<_>> = BTreeMap::new();
        for r in rows_in(
            conn,
            "read row rules",
            &format!(
                "SELECT product_id, {} FROM row_rules WHERE product_id IN ({{ids}}) \
                 ORDER BY product_id, ordinal",
                RowRule::COLS
            ),
            granted_products.iter().copied(),
        )
        .await?
        {
            row_rules
                .entry(codec::uuid(&r, "product_id")?)
                .or_default()
                .push(RowRule::from_row(&r)?);
        }

        let column_tags = fetch_list_in::<ColumnTags>(
            conn,
            "read column tags",
            &ColumnTags::select("WHERE table_id IN ({ids})"),
            granted_table_ids.iter().copied(),
        )
        .await?;

        let mut tag_masks: Vec<TagMask> = if granted_table_ids.is_empty() {
            Vec::new()
        } else {
            let sql = TagMask::select("");
            fetch_list(conn, "list tag masks", &sql, &Args::default()).await?
        };
        // Sorted here: the backends disagree on where NULLs (mesh-wide) sort.
        tag_masks.sort_by(|a, b| (&a.tag, a.domain_id, a.id).cmp(&(&b.tag, b.domain_id, b.id)));

        let table_ids: BTreeSet<Uuid> = tables.iter().map(|t| t.id).collect();
        let tenancies = fetch_list_in::<TableTenancy>(
            conn,
            "read tenancies",
            &TableTenancy::select("WHERE table_id IN ({ids})"),
            table_ids.iter().copied(),
        )
        .await?;

        Ok(AccessRows {
            policy_version,
            teams: teams.to_vec(),
            group_names,
            products,
            tables,
            domains,
            grants,
            file_grants,
            local_names,
            data_filters,
            row_rules,
            column_tags,
            tag_masks,
            tenancies,
        })
    }
}
