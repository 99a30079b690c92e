//! Display names by id, many at once: what a view of records that hold ids (a share names
//! its product, teams, principals and tables) shows instead of the ids, read in one statement
//! rather than one lookup per id.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use meshgate_core::Result;
use uuid::Uuid;

/// The ids whose names a view needs, gathered from every record it shows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NameIds {
    pub products: BTreeSet<Uuid>,
    pub teams: BTreeSet<Uuid>,
    pub principals: BTreeSet<Uuid>,
    pub tables: BTreeSet<Uuid>,
}

impl NameIds {
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
            && self.teams.is_empty()
            && self.principals.is_empty()
            && self.tables.is_empty()
    }
}

/// The names found for [`NameIds`]; an id that names nothing (a deleted row) is absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names {
    /// Product id → its name and its domain: the domain's name, or `None` where the domain
    /// row is gone (with its id).
    pub products: HashMap<Uuid, Owned>,
    /// Team id → its name and its domain, as for products.
    pub teams: HashMap<Uuid, Owned>,
    pub principals: HashMap<Uuid, String>,
    pub tables: HashMap<Uuid, String>,
}

/// A name under a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub name: String,
    pub domain_id: Uuid,
    pub domain: Option<String>,
}

impl Owned {
    /// `domain.name`, with the domain's id where its row is gone.
    pub fn qualified(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}.{}", self.name),
            None => format!("{}.{}", self.domain_id, self.name),
        }
    }
}

/// Names by id (`store/names.rs`).
#[async_trait]
pub trait NameStore: Send + Sync + 'static {
    /// The names of `ids`: one statement for up to a few hundred ids of every kind together
    /// (more are read in chunks), none when there are none.
    async fn names_of(&self, ids: &NameIds) -> Result<Names>;
}
