//! A resolved access snapshot as the server keeps it: the core's resolution beside the
//! engine's view of the same tables, and the per-principal cache the server state holds.

use std::sync::Arc;

use meshgate_core::bounded::Bounded;
use meshgate_core::snapshot::{FileAccess, ResolvedTable, Snapshot};
use meshgate_engine::query::VisibleTable;
use uuid::Uuid;

/// Per principal: its snapshot, with the policy version it is known to be valid at (the one
/// it was resolved at, or a later one that changed none of its scopes). Bounded: the
/// principals that read least recently are dropped past [`CAPACITY`] (a dropped
/// one resolves again on its next read).
pub type AccessCache = Bounded<Uuid, (i64, Arc<Access>)>;

/// How many principals' snapshots the cache keeps: a snapshot of 500 tables is about half a
/// megabyte.
pub const CAPACITY: usize = 4096;

/// What one caller may read: each table under each of its names, as resolved and as the
/// engine takes it (identity and mask key added). The two lists run in step.
#[derive(Debug, Clone)]
pub struct Access {
    snapshot: Snapshot,
    visible: Vec<VisibleTable>,
}

impl Access {
    pub(crate) fn new(snapshot: Snapshot, visible: Vec<VisibleTable>) -> Access {
        Access { snapshot, visible }
    }

    /// The policy version the snapshot was resolved at.
    pub fn policy_version(&self) -> i64 {
        self.snapshot.policy_version
    }

    /// The tables as the engine takes them.
    pub fn visible(&self) -> &[VisibleTable] {
        &self.visible
    }

    /// Each table with what decides its reads.
    pub fn entries(&self) -> impl Iterator<Item = (&ResolvedTable, &VisibleTable)> {
        self.snapshot.tables.iter().zip(self.visible.iter())
    }

    /// `domain.product.table` under its domain's name (not a local name).
    pub fn find(
        &self,
        domain: &str,
        product: &str,
        table: &str,
    ) -> Option<(&ResolvedTable, &VisibleTable)> {
        self.entries().find(|(r, _)| {
            !r.alias && r.catalog == domain && r.schema == product && r.table.name == table
        })
    }

    /// Whether one of the caller's teams owns the product.
    pub fn owns(&self, product_id: Uuid) -> bool {
        self.snapshot.owns(product_id)
    }

    /// What the caller may read of a product's files through ownership or file grants.
    pub fn files(&self, product_id: Uuid) -> FileAccess {
        self.snapshot.files(product_id)
    }

    /// Keeps the entries `keep` accepts, narrowing each as it says.
    pub(crate) fn narrowed(
        &self,
        mut keep: impl FnMut(&ResolvedTable, &VisibleTable) -> Option<VisibleTable>,
    ) -> Access {
        let mut snapshot = self.snapshot.clone();
        let mut tables = Vec::new();
        let mut visible = Vec::new();
        for (r, v) in self.entries() {
            if let Some(v) = keep(r, v) {
                tables.push(r.clone());
                visible.push(v);
            }
        }
        snapshot.tables = tables;
        Access { snapshot, visible }
    }
}
