//! The secure table provider: every table a query can name is this wrapper around the Delta
//! provider, installed at catalog lookup. Because the wrapping happens where names resolve,
//! views, CTEs, subqueries and joins all reach data only through it.
//!
//! It reports no statistics (they could reveal hidden rows or values) and forwards scans to
//! the Delta provider according to the principal's [`TableAccess`].

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use deltalake::datafusion::common::{Constraints, Statistics};
use deltalake::datafusion::error::Result as DfResult;
use deltalake::datafusion::logical_expr::{
    Expr, LogicalPlan, TableProviderFilterPushDown, TableType,
};
use deltalake::datafusion::physical_plan::ExecutionPlan;

/// What a principal may read of one table.
///
/// Today a principal either sees a whole table (it owns it or holds a grant on it) or does not
/// see it at all — unseen tables are simply absent from its catalog. Column, row, cell and
/// mask rules (ACCESS.md) narrow this struct further.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableAccess {
    /// Whether the principal owns the table (owners may see plans in full, for example).
    pub owner: bool,
}

/// A table as one principal may read it.
#[derive(Debug)]
pub struct SecureTable {
    inner: Arc<dyn TableProvider>,
    access: TableAccess,
}

impl SecureTable {
    pub fn new(inner: Arc<dyn TableProvider>, access: TableAccess) -> Self {
        SecureTable { inner, access }
    }

    pub fn access(&self) -> &TableAccess {
        &self.access
    }
}

#[async_trait]
impl TableProvider for SecureTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        None
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // With whole-table access there is no security predicate for user predicates or a
        // limit to slip under, so the Delta provider may prune and stop early.
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DfResult<ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        None
    }
}
