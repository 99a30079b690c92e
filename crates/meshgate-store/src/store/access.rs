//! [`AccessStore`] for [`SqlStore`]: the bulk read behind the access snapshot. One read
//! connection, the policy version first, then one query per kind of row (chunked `IN` lists),
//! never one query per table. See docs/design/ACCESS.md §Resolution.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use meshgate_core::Result;
use meshgate_core::snapshot::AccessRows;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::{Args, IN_CHUNK, all, fetch_all, grantee_rows};
use crate::AccessStore;
use crate::codec;
use crate::db::{SqlStore, internal};

/// `template` with `{ids}` replaced by placeholders for each chunk of `ids`, all rows.
async fn rows_in(
    conn: &mut AnyConnection,
    doing: &str,
    template: &str,
    ids: &BTreeSet<Uuid>,
) -> Result<Vec<AnyRow>> {
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut args = Args::default();
        let sql = template.replace("{ids}", &args.ids(chunk));
        out.extend(fetch_all(conn, doing, &sql, &args).await?);
    }
    Ok(out)
}

#[async_trait]
impl AccessStore for SqlStore {
    async fn access_rows(
        &self,
        principal_id: Uuid,
        teams: &[Uuid],
        groups: &[Uuid],
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
            &group_ids,
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
        let mut products = all(
            rows_in(
                conn,
                "read owned products",
                &format!(
                    "SELECT {} FROM products WHERE team_id IN ({{ids}})",
                    codec::PRODUCT_COLS
                ),
                &team_ids,
            )
            .await?,
            codec::product,
        )?;
        let owned: BTreeSet<Uuid> = products.iter().map(|p| p.id).collect();
        let grants = all(
            grantee_rows(conn, "grants", codec::GRANT_COLS, principal_id, teams).await?,
            codec::grant,
        )?;
        let file_grants = all(
            grantee_rows(
                conn,
                "file_grants",
                codec::FILE_GRANT_COLS,
                principal_id,
                teams,
            )
            .await?,
            codec::file_grant,
        )?;
        let mut tables = all(
            rows_in(
                conn,
                "read tables",
                &format!(
                    "SELECT {} FROM product_tables WHERE product_id IN ({{ids}})",
                    codec::TABLE_COLS
                ),
                &owned,
            )
            .await?,
            codec::table,
        )?;
        let granted_ids: BTreeSet<Uuid> = grants.iter().map(|g| g.table_id).collect();
        let granted_tables = all(
            rows_in(
                conn,
                "read tables",
                &format!(
                    "SELECT {} FROM product_tables WHERE id IN ({{ids}})",
                    codec::TABLE_COLS
                ),
                &granted_ids,
            )
            .await?,
            codec::table,
        )?;
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
        products.extend(all(
            rows_in(
                conn,
                "read granted products",
                &format!(
                    "SELECT {} FROM products WHERE id IN ({{ids}})",
                    codec::PRODUCT_COLS
                ),
                &granted_products,
            )
            .await?,
            codec::product,
        )?);

        let domain_ids: BTreeSet<Uuid> = products.iter().map(|p| p.domain_id).collect();
        let mut domains = BTreeMap::new();
        for r in rows_in(
            conn,
            "read domain names",
            "SELECT id, name FROM domains WHERE id IN ({ids})",
            &domain_ids,
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
            &item_ids,
        )
        .await?
        {
            local_names.insert(codec::uuid(&r, "id")?, codec::text(&r, "local_name")?);
        }

        let filter_ids: BTreeSet<Uuid> = grants
            .iter()
            .flat_map(|g| g.scope.data_filters.iter().copied())
            .collect();
        let data_filters = all(
            rows_in(
                conn,
                "read data filters",
                &format!(
                    "SELECT {} FROM data_filters WHERE id IN ({{ids}})",
                    codec::DATA_FILTER_COLS
                ),
                &filter_ids,
            )
            .await?,
            codec::data_filter,
        )?;

        let mut row_rules: BTreeMap<Uuid, Vec<_>> = BTreeMap::new();
        for r in rows_in(
            conn,
            "read row rules",
            &format!(
                "SELECT product_id, {} FROM row_rules WHERE product_id IN ({{ids}}) \
                 ORDER BY product_id, ordinal",
                codec::ROW_RULE_COLS
            ),
            &granted_products,
        )
        .await?
        {
            row_rules
                .entry(codec::uuid(&r, "product_id")?)
                .or_default()
                .push(codec::row_rule(&r)?);
        }

        let column_tags = all(
            rows_in(
                conn,
                "read column tags",
                &format!(
                    "SELECT {} FROM column_tags WHERE table_id IN ({{ids}})",
                    codec::COLUMN_TAGS_COLS
                ),
                &granted_table_ids,
            )
            .await?,
            codec::column_tags,
        )?;

        let mut tag_masks = if granted_table_ids.is_empty() {
            Vec::new()
        } else {
            let sql = format!("SELECT {} FROM tag_masks", codec::TAG_MASK_COLS);
            all(
                fetch_all(conn, "list tag masks", &sql, &Args::default()).await?,
                codec::tag_mask,
            )?
        };
        // Sorted here: the backends disagree on where NULLs (mesh-wide) sort.
        tag_masks.sort_by(|a, b| (&a.tag, a.domain_id, a.id).cmp(&(&b.tag, b.domain_id, b.id)));

        let table_ids: BTreeSet<Uuid> = tables.iter().map(|t| t.id).collect();
        let tenancies = all(
            rows_in(
                conn,
                "read tenancies",
                "SELECT table_id, key_column, separator FROM tenant_tables \
                 WHERE table_id IN ({ids})",
                &table_ids,
            )
            .await?,
            codec::tenancy,
        )?;

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
