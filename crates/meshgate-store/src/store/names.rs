//! [`NameStore`] for [`SqlStore`]: every kind of id asked for in one `UNION ALL` per chunk of
//! [`IN_CHUNK`] ids.

use async_trait::async_trait;
use meshgate_core::Result;
use uuid::Uuid;

use super::{Args, IN_CHUNK, rows_on};
use crate::codec;
use crate::db::SqlStore;
use crate::{NameIds, NameStore, Names, Owned};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Product,
    Team,
    Principal,
    Table,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Product, Kind::Team, Kind::Principal, Kind::Table];

    fn tag(self) -> &'static str {
        match self {
            Kind::Product => "product",
            Kind::Team => "team",
            Kind::Principal => "principal",
            Kind::Table => "table",
        }
    }

    /// The branch of the union for this kind, `{ids}` standing for its placeholders. Every
    /// branch names the same columns (the first branch names a union's columns, and any
    /// kind may come first): kind, id, name, domain_id, domain.
    fn branch(self) -> &'static str {
        match self {
            Kind::Product => {
                "SELECT 'product' AS kind, p.id AS id, p.name AS name, p.domain_id AS domain_id, \
                 d.name AS domain FROM products p LEFT JOIN domains d ON d.id = p.domain_id \
                 WHERE p.id IN ({ids})"
            }
            Kind::Team => {
                "SELECT 'team' AS kind, t.id AS id, t.name AS name, t.domain_id AS domain_id, \
                 d.name AS domain FROM teams t LEFT JOIN domains d ON d.id = t.domain_id \
                 WHERE t.id IN ({ids})"
            }
            Kind::Principal => {
                "SELECT 'principal' AS kind, id, name, NULL AS domain_id, NULL AS domain \
                 FROM principals WHERE id IN ({ids})"
            }
            Kind::Table => {
                "SELECT 'table' AS kind, id, name, NULL AS domain_id, NULL AS domain \
                 FROM product_tables WHERE id IN ({ids})"
            }
        }
    }

    fn of(ids: &NameIds, kind: Kind) -> impl Iterator<Item = Uuid> + '_ {
        match kind {
            Kind::Product => ids.products.iter(),
            Kind::Team => ids.teams.iter(),
            Kind::Principal => ids.principals.iter(),
            Kind::Table => ids.tables.iter(),
        }
        .copied()
    }
}

#[async_trait]
impl NameStore for SqlStore {
    async fn names_of(&self, ids: &NameIds) -> Result<Names> {
        let all: Vec<(Kind, Uuid)> = Kind::ALL
            .into_iter()
            .flat_map(|k| Kind::of(ids, k).map(move |id| (k, id)))
            .collect();
        let mut names = Names::default();
        for chunk in all.chunks(IN_CHUNK) {
            let mut args = Args::default();
            let mut branches = Vec::new();
            for kind in Kind::ALL {
                let these: Vec<Uuid> = chunk
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, id)| *id)
                    .collect();
                if !these.is_empty() {
                    branches.push(kind.branch().replace("{ids}", &args.ids(&these)));
                }
            }
            let sql = branches.join(" UNION ALL ");
            for r in rows_on(&self.pool, "read names", &sql, &args).await? {
                let id = codec::uuid(&r, "id")?;
                let name = codec::text(&r, "name")?;
                let tag = codec::text(&r, "kind")?;
                let kind = Kind::ALL
                    .into_iter()
                    .find(|k| k.tag() == tag)
                    .ok_or_else(|| codec::unreadable("kind", &tag))?;
                let owned = || -> Result<Owned> {
                    Ok(Owned {
                        name: name.clone(),
                        domain_id: codec::uuid(&r, "domain_id")?,
                        domain: codec::opt_text(&r, "domain")?,
                    })
                };
                match kind {
                    Kind::Product => {
                        names.products.insert(id, owned()?);
                    }
                    Kind::Team => {
                        names.teams.insert(id, owned()?);
                    }
                    Kind::Principal => {
                        names.principals.insert(id, name);
                    }
                    Kind::Table => {
                        names.tables.insert(id, name);
                    }
                }
            }
        }
        Ok(names)
    }
}
