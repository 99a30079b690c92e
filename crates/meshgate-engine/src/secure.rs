//! The secure table provider: every table a query can name is this wrapper around the Delta
//! provider, installed at catalog lookup. Because the wrapping happens where names resolve,
//! views, CTEs, subqueries and joins all reach data only through it.
//!
//! A principal's [`TableAccess`] (its grants with their data filters, the product's row
//! rules, tag-driven masks, restrictive filters, its identity) is resolved against the
//! table's current schema into a [`SecurePlan`]: the visible columns, each with its mask and
//! cell condition, and one security predicate. The scan then is
//!
//! ```text
//! SecureScanExec            (a leaf to the optimizer: only run-time join and TopK
//!                            filters on plain columns go in, see `SecureScanExec::admits`)
//!   └ projection            (masks and cell conditions: the only values above this point)
//!       └ filter            (the security predicate, with the scan's LIMIT after it)
//!           └ Delta scan    (columns needed; the trusted predicate may prune files)
//! ```
//!
//! User predicates are never pushed below the security filter (the provider declares every
//! filter unsupported), so a predicate that can fail or reveal (a division, a cast) only ever
//! sees rows the principal may read, with masked values. Statistics are reported unknown and
//! the node shows no predicate in `EXPLAIN`. A table read in full (owners, whole-table
//! grants without masks) skips all of this and is the Delta provider itself.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::datatypes::{Field, Schema, SchemaRef};
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::tree_node::TreeNodeRecursion;
use deltalake::datafusion::common::{Column, Constraints, DFSchema, ScalarValue, Statistics};
use deltalake::datafusion::config::ConfigOptions;
use deltalake::datafusion::error::{DataFusionError, Result as DfResult};
use deltalake::datafusion::execution::{SendableRecordBatchStream, TaskContext};
use deltalake::datafusion::logical_expr::utils::split_conjunction;
use deltalake::datafusion::logical_expr::{
    Expr, ExprSchemable, LogicalPlan, TableProviderFilterPushDown, TableType, lit, when,
};
use deltalake::datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use deltalake::datafusion::physical_expr::utils::collect_columns;
use deltalake::datafusion::physical_expr::{
    EquivalenceProperties, Partitioning, PhysicalExpr, conjunction as all_of,
};
use deltalake::datafusion::physical_optimizer::PhysicalOptimizerRule;
use deltalake::datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
use deltalake::datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use deltalake::datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use deltalake::datafusion::physical_plan::filter::FilterExecBuilder;
use deltalake::datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use deltalake::datafusion::physical_plan::projection::ProjectionExec;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use futures::StreamExt;
pub use meshgate_core::access::GrantRule;
use meshgate_core::access::{Mask, RowRule};

pub use crate::masks::MaskKey;
use crate::policy::{Identity, PolicyError, compile_filter, compile_mask};

/// Everything that decides what one principal reads of one table (docs/design/ACCESS.md
/// §Resolution).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableAccess {
    /// The principal's team owns the product: all rows, all columns, no masks (restrictive
    /// filters still apply).
    pub owner: bool,
    /// The grants in force on the table (each data filter is a grant of its own).
    pub grants: Vec<GrantRule>,
    /// The product's row rules (QuickSight format); empty = the product has none. They
    /// restrict the tables that have every field they name; owners are exempt.
    pub row_rules: Vec<RowRule>,
    /// Default masks by column, from the columns' tags.
    pub tag_masks: BTreeMap<String, Mask>,
    /// Restrictive filters (tenant scope, session policy), ANDed; owners included.
    pub restrictive: Vec<String>,
    pub identity: Identity,
    /// The mesh's key of the `hash` mask; needed only where a `hash` mask applies (without
    /// it such a read is refused). Its id is part of the access fingerprint, so a rotation
    /// invalidates snapshots made under the old key.
    pub mask_key: Option<MaskKey>,
}

impl TableAccess {
    /// Full access of an owner.
    pub fn owner() -> Self {
        TableAccess {
            owner: true,
            ..TableAccess::default()
        }
    }

    /// One whole-table grant.
    pub fn whole_table() -> Self {
        TableAccess {
            grants: vec![GrantRule::whole()],
            ..TableAccess::default()
        }
    }
}

/// Whether an output column of a [`SecurePlan`] is shown as stored: its expression is the raw
/// column of the same name (no mask, no cell rule). Only such columns may be filtered inside
/// the secured scan (user predicates, run-time filters).
fn shown_as_stored((name, expr): &(String, Expr)) -> bool {
    matches!(expr, Expr::Column(c) if &c.name == name)
}

/// A resolved access rule set for one table schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurePlan {
    /// Output columns in table order: name and expression over the raw table.
    pub columns: Vec<(String, Expr)>,
    /// Rows the principal may read; `None` = all.
    pub predicate: Option<Expr>,
}

/// Resolves `access` against a table's raw schema. `Ok(None)` means the table is read as it
/// is (no row, column, cell or mask rule applies).
pub fn resolve(schema: &Schema, access: &TableAccess) -> Result<Option<SecurePlan>, PolicyError> {
    let identity = &access.identity;
    let whole = [GrantRule::whole()];
    let grants: &[GrantRule] = if access.owner { &whole } else { &access.grants };

    let mut restrictive = Vec::new();
    for text in &access.restrictive {
        restrictive.push(compile_filter(text, schema, identity)?);
    }
    if !access.owner
        && let Some(rules) = row_rule_predicate(schema, &access.row_rules, identity)?
    {
        restrictive.push(rules);
    }

    // Each grant's row filter, compiled once; `None` = all rows.
    let mut filters = Vec::with_capacity(grants.len());
    for g in grants {
        filters.push(match &g.row_filter {
            Some(text) => Some(compile_filter(text, schema, identity)?),
            None => None,
        });
    }
    // Permissive: OR of the grants' filters; no grant → no rows.
    let permissive = if grants.is_empty() {
        Some(lit(false))
    } else if filters.iter().any(Option::is_none) {
        None
    } else {
        disjunction(filters.iter().flatten().cloned())
    };

    let mut columns = Vec::new();
    let mut rewritten = false;
    for field in schema.fields() {
        let name = field.name();
        let covering: Vec<usize> = (0..grants.len())
            .filter(|&i| grants[i].covers(name))
            .collect();
        if covering.is_empty() {
            rewritten = true;
            continue;
        }
        let mut expr = Expr::Column(Column::new_unqualified(name));
        let mask = if access.owner {
            None
        } else {
            mask_of(name, &covering, grants, &access.tag_masks)
        };
        if let Some(mask) = mask
            && let Some(masked) =
                compile_mask(&mask, field, schema, identity, access.mask_key.as_ref())?
        {
            expr = masked;
            rewritten = true;
        }
        // Cells: a column covered by only some grants is NULL in rows only the others admit.
        if covering.len() < grants.len() && !covering.iter().any(|&i| filters[i].is_none()) {
            let condition = disjunction(covering.iter().filter_map(|&i| filters[i].clone()))
                .unwrap_or_else(|| lit(false));
            expr = when(condition, unalias(expr))
                .end()
                .map_err(|e| PolicyError {
                    line: 0,
                    column: 0,
                    reason: format!("cannot build the cell rule of `{name}`: {e}"),
                })?;
            rewritten = true;
        }
        columns.push((name.clone(), expr));
    }

    let predicate = conjunction(permissive.into_iter().chain(restrictive));
    if predicate.is_none() && !rewritten {
        return Ok(None);
    }
    Ok(Some(SecurePlan { columns, predicate }))
}

/// `expr` with its columns unqualified (the secured scan's input schema has no table name).
fn unqualified(expr: &Expr) -> DfResult<Expr> {
    use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
    expr.clone()
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
}

fn unalias(expr: Expr) -> Expr {
    match expr {
        Expr::Alias(a) => *a.expr,
        other => other,
    }
}

/// The mask of a column: each covering grant's own mask, else the tag default (so a grant's
/// explicit `none` lifts the tag mask for that grant only); several different ones → NULL,
/// failing closed; none at all → unmasked.
fn mask_of(
    column: &str,
    covering: &[usize],
    grants: &[GrantRule],
    tag_masks: &BTreeMap<String, Mask>,
) -> Option<Mask> {
    let tag = tag_masks.get(column);
    let mut effective = covering
        .iter()
        .filter_map(|&i| grants[i].masks.get(column).or(tag));
    let first = effective.next()?;
    if effective.all(|m| m == first) {
        Some(first.clone())
    } else {
        Some(Mask::Null)
    }
}

/// The row rules (QuickSight format) as a predicate, if the product has rules. Fields of one
/// rule are ANDed, the principal's rules (its own and its groups') ORed; an empty value list
/// admits every value; no matching rule → no rows, in every table of the product (deny by
/// default). A condition on a field a table does not have does not apply to that table (a
/// lookup table without `region` is not filtered by region for a principal that has a rule).
pub fn row_rule_predicate(
    schema: &Schema,
    rules: &[RowRule],
    identity: &Identity,
) -> Result<Option<Expr>, PolicyError> {
    if rules.is_empty() {
        return Ok(None);
    }
    let mut alternatives = Vec::new();
    for rule in rules {
        let user_ok = rule
            .user_name
            .as_deref()
            .is_none_or(|u| u == identity.principal);
        let group_ok = rule
            .group_name
            .as_deref()
            .is_none_or(|g| identity.groups.iter().any(|mine| mine == g));
        if (rule.user_name.is_none() && rule.group_name.is_none()) || !user_ok || !group_ok {
            continue;
        }
        let mut conditions = Vec::new();
        for (field, values) in &rule.values {
            if values.is_empty() {
                continue;
            }
            let Ok(f) = schema.field_with_name(field) else {
                continue;
            };
            // A value that is not valid for the column admits nothing.
            let list: Vec<Expr> = values
                .iter()
                .filter_map(|v| ScalarValue::try_from_string(v.clone(), f.data_type()).ok())
                .map(lit)
                .collect();
            conditions.push(if list.is_empty() {
                lit(false)
            } else {
                Expr::Column(Column::new_unqualified(field.as_str())).in_list(list, false)
            });
        }
        alternatives.push(conjunction(conditions).unwrap_or_else(|| lit(true)));
    }
    Ok(Some(
        disjunction(alternatives).unwrap_or_else(|| lit(false)),
    ))
}

fn disjunction(exprs: impl IntoIterator<Item = Expr>) -> Option<Expr> {
    exprs.into_iter().reduce(Expr::or)
}

fn conjunction(exprs: impl IntoIterator<Item = Expr>) -> Option<Expr> {
    exprs.into_iter().reduce(Expr::and)
}

/// A table as one principal may read it.
#[derive(Debug)]
pub struct SecureTable {
    name: String,
    inner: Arc<dyn TableProvider>,
    plan: Option<SecurePlan>,
    schema: SchemaRef,
}

impl SecureTable {
    /// Wraps `inner` (named `name` in messages) for a principal with `access`. Fails when the
    /// access rules cannot be applied to the table as it is now (e.g. a filter names a column
    /// that no longer exists): the read is refused rather than widened.
    pub fn try_new(
        name: impl Into<String>,
        inner: Arc<dyn TableProvider>,
        access: &TableAccess,
    ) -> Result<Self, PolicyError> {
        let name = name.into();
        let raw = inner.schema();
        let plan = resolve(&raw, access).map_err(|e| PolicyError {
            line: 0,
            column: 0,
            reason: format!(
                "the access rules for table `{name}` cannot be applied ({}); ask its owners to verify the share",
                e.reason
            ),
        })?;
        let schema = match &plan {
            None => raw,
            Some(plan) => {
                let df = DFSchema::try_from(raw.as_ref().clone()).map_err(|e| PolicyError {
                    line: 0,
                    column: 0,
                    reason: format!("table `{name}` has an unusable schema: {e}"),
                })?;
                let mut fields = Vec::with_capacity(plan.columns.len());
                for (column, expr) in &plan.columns {
                    let data_type = expr.get_type(&df).map_err(|e| PolicyError {
                        line: 0,
                        column: 0,
                        reason: format!("the access rules for `{name}.{column}` do not type: {e}"),
                    })?;
                    fields.push(Field::new(column, data_type, true));
                }
                Arc::new(Schema::new(fields))
            }
        };
        Ok(SecureTable {
            name,
            inner,
            plan,
            schema,
        })
    }

    /// Whether a user predicate may run inside the secured scan and prune it: it reads only
    /// columns shown as they are (no mask, no cell rule, so the value is the same below and
    /// above the projection) and is built only of expressions that cannot fail: columns,
    /// literals, comparisons, `IN` lists and `BETWEEN` of literals, `IS [NOT] NULL`, `AND`,
    /// `OR`, `NOT`. Anything else stays above the secured scan.
    fn safe_filter(&self, expr: &Expr) -> bool {
        let Some(plan) = &self.plan else {
            return false;
        };
        let plain = |name: &str| {
            plan.columns
                .iter()
                .any(|column| column.0 == name && shown_as_stored(column))
        };
        fn safe(e: &Expr, plain: &dyn Fn(&str) -> bool) -> bool {
            match e {
                Expr::Column(c) => plain(&c.name),
                Expr::Literal(_, _) => true,
                Expr::BinaryExpr(b) => {
                    use deltalake::datafusion::logical_expr::Operator::*;
                    matches!(b.op, Eq | NotEq | Lt | LtEq | Gt | GtEq | And | Or)
                        && safe(&b.left, plain)
                        && safe(&b.right, plain)
                }
                Expr::Not(inner) | Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                    safe(inner, plain)
                }
                Expr::InList(l) => {
                    safe(&l.expr, plain) && l.list.iter().all(|x| matches!(x, Expr::Literal(_, _)))
                }
                Expr::Between(b) => {
                    safe(&b.expr, plain)
                        && matches!(*b.low, Expr::Literal(_, _))
                        && matches!(*b.high, Expr::Literal(_, _))
                }
                _ => false,
            }
        }
        safe(expr, &plain)
    }

    /// Whether reads go through security rules (false: the table is read as it is).
    pub fn is_secured(&self) -> bool {
        self.plan.is_some()
    }

    /// The columns whose values the rules change — a mask, or a cell rule that nulls them
    /// where only other grants admit the row: every column not shown as it is stored.
    pub fn altered_columns(&self) -> Vec<String> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        plan.columns
            .iter()
            .filter(|column| !shown_as_stored(column))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

#[async_trait]
impl TableProvider for SecureTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        let Some(plan) = &self.plan else {
            // Read as it is: the Delta provider may prune and stop early.
            let scan = self.inner.scan(state, projection, filters, limit).await?;
            return if picks_few(filters) {
                Ok(scan)
            } else {
                skip_only(scan)
            };
        };
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..plan.columns.len()).collect(),
        };
        // The raw columns the selected outputs and the predicate need, in table order.
        let raw = self.inner.schema();
        let mut needed = vec![false; raw.fields().len()];
        let mut mark = |expr: &Expr| {
            for c in expr.column_refs() {
                if let Ok(i) = raw.index_of(&c.name) {
                    needed[i] = true;
                }
            }
        };
        for &i in &wanted {
            let (_, expr) = plan.columns.get(i).ok_or_else(|| {
                DataFusionError::Internal(format!("projection index {i} out of range"))
            })?;
            mark(expr);
        }
        if let Some(p) = &plan.predicate {
            mark(p);
        }
        // User predicates DataFusion handed down: only the safe ones (see `safe_filter`).
        let user: Vec<Expr> = filters
            .iter()
            .filter(|f| self.safe_filter(f))
            .map(unqualified)
            .collect::<DfResult<_>>()?;
        for f in &user {
            mark(f);
        }
        let inner_projection: Vec<usize> = (0..needed.len()).filter(|&i| needed[i]).collect();
        // The trusted security predicate may prune files; user predicates never go down.
        // Split into conjuncts: the Delta provider prunes files with the ones it understands
        // (e.g. a tenant partition) even when others (a function call) it cannot use.
        // Safe user predicates cannot fail and are evaluated after the security filter, so
        // they may prune too (skipping data never shows a hidden row).
        // When a user predicate picks few rows, the reader filters while decoding, that
        // predicate first (the security predicate then runs on the few rows it keeps, and
        // again in the filter above); otherwise it only skips (see `skip_only`).
        let security = plan
            .predicate
            .iter()
            .flat_map(|p| split_conjunction(p).into_iter().cloned());
        let few = picks_few(&user);
        let pruning: Vec<Expr> = if few {
            user.iter().cloned().chain(security).collect()
        } else {
            security.chain(user.iter().cloned()).collect()
        };
        let scan = self
            .inner
            .scan(state, Some(&inner_projection), &pruning, None)
            .await?;
        let input = if few { scan } else { skip_only(scan)? };
        let input_schema = DFSchema::try_from(input.schema().as_ref().clone())?;

        // The security filter first; then the safe user predicates, on the rows it admits and
        // before masks are computed; the limit after both.
        let user_predicate = conjunction(user);
        let mut filtered = input;
        if let Some(p) = &plan.predicate {
            let predicate = state.create_physical_expr(p.clone(), &input_schema)?;
            let fetch = if user_predicate.is_none() {
                limit
            } else {
                None
            };
            filtered = Arc::new(
                FilterExecBuilder::new(predicate, filtered)
                    .with_fetch(fetch)
                    .build()?,
            );
        }
        if let Some(u) = user_predicate {
            let predicate = state.create_physical_expr(u, &input_schema)?;
            filtered = Arc::new(
                FilterExecBuilder::new(predicate, filtered)
                    .with_fetch(limit)
                    .build()?,
            );
        }
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(wanted.len());
        for &i in &wanted {
            let (name, expr) = &plan.columns[i];
            let physical = state.create_physical_expr(unalias(expr.clone()), &input_schema)?;
            exprs.push((physical, name.clone()));
        }
        let mut secured: Arc<dyn ExecutionPlan> =
            Arc::new(ProjectionExec::try_new(exprs, filtered)?);
        // The optimizer cannot see inside the secured scan, so it is optimized here on its
        // own (file-range repartitioning for parallel scans, the trusted filter into the
        // Parquet reader, …): nothing of the query is in it to move across the filter.
        for rule in PhysicalOptimizer::new().rules {
            secured = rule.optimize(secured, state.config_options())?;
        }
        // Which outputs are shown as stored: run-time filters on those may go inside.
        let plain: Vec<bool> = wanted
            .iter()
            .map(|&i| shown_as_stored(&plan.columns[i]))
            .collect();
        Ok(Arc::new(SecureScanExec::new(
            self.name.clone(),
            secured,
            plain.into(),
        )))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        if self.plan.is_none() {
            return self.inner.supports_filters_pushdown(filters);
        }
        // Safe predicates also run inside the secured scan (after its filter, before masks);
        // DataFusion keeps every predicate above it as well.
        Ok(filters
            .iter()
            .map(|f| {
                if self.safe_filter(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        None
    }
}

/// Whether one of `filters` picks few rows wherever they lie: an equality or a short `IN`
/// list comparing a column with literals (a point lookup). Then filtering while decoding
/// pays: the other columns are decoded for the few rows only. Otherwise the reader only
/// skips ([`skip_only`]). docs/design/TABLE_LAYOUT.md §Filtering while decoding.
fn picks_few(filters: &[Expr]) -> bool {
    use deltalake::datafusion::logical_expr::Operator;
    const SHORT: usize = 64;
    let column_and_literal = |l: &Expr, r: &Expr| {
        matches!(
            (l, r),
            (Expr::Column(_), Expr::Literal(..)) | (Expr::Literal(..), Expr::Column(_))
        )
    };
    filters
        .iter()
        .flat_map(|f| split_conjunction(f).into_iter())
        .any(|e| match e {
            Expr::BinaryExpr(b) => b.op == Operator::Eq && column_and_literal(&b.left, &b.right),
            Expr::InList(l) => {
                !l.negated
                    && l.list.len() <= SHORT
                    && matches!(*l.expr, Expr::Column(_))
                    && l.list.iter().all(|x| matches!(x, Expr::Literal(..)))
            }
            _ => false,
        })
}

/// `plan` with every Parquet reader set to use its predicate for skipping only (files, row
/// groups by statistics and bloom filters, pages by the page index), never to filter rows
/// while decoding: the filters above it do that (the Delta provider marks its pushed
/// predicates inexact, so DataFusion keeps them, and the secured scan keeps its own).
///
/// Filtering while decoding (late materialisation) builds a row selection per predicate and
/// decodes the other columns through it; for a predicate that keeps many scattered rows (a
/// region, a date range) building and walking that selection cost more than the decoding it
/// saves: profiled on B1's Q1, a quarter of the time went to `RowSelection` work
/// (bench/RESULTS.md). Point lookups keep their speed from skipping, which this keeps.
/// DataFusion's own default is the same (`pushdown_filters = false`); the Delta provider
/// switches it on whenever it has a predicate.
pub(crate) fn skip_only(plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
    use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
    use deltalake::datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
    use deltalake::datafusion::datasource::source::DataSourceExec;
    plan.transform_up(|node| {
        let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
            return Ok(Transformed::no(node));
        };
        let any: &dyn std::any::Any = exec.data_source().as_ref();
        let Some(config) = any.downcast_ref::<FileScanConfig>() else {
            return Ok(Transformed::no(node));
        };
        let source: &dyn std::any::Any = config.file_source.as_ref();
        let Some(parquet) = source.downcast_ref::<ParquetSource>() else {
            return Ok(Transformed::no(node));
        };
        if !parquet.table_parquet_options().global.pushdown_filters {
            return Ok(Transformed::no(node));
        }
        let mut config = config.clone();
        config.file_source = Arc::new(parquet.clone().with_pushdown_filters(false));
        let exec = exec.clone().with_data_source(Arc::new(config));
        Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
    })
    .map(|t| t.data)
}

/// The secured scan as the optimizer sees it: a leaf that takes no pushed filters or limits,
/// reports unknown statistics and shows only the table name. Errors raised inside it (in
/// the security predicate or a mask) never carry values: they are replaced by a generic
/// message and logged.
pub struct SecureScanExec {
    table: String,
    inner: Arc<dyn ExecutionPlan>,
    /// By output column: whether it is shown as stored (no mask, no cell rule).
    plain: Arc<[bool]>,
    properties: Arc<PlanProperties>,
}

impl SecureScanExec {
    fn new(table: String, inner: Arc<dyn ExecutionPlan>, plain: Arc<[bool]>) -> Self {
        let partitions = inner.output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(inner.schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        SecureScanExec {
            table,
            inner,
            plain,
            properties,
        }
    }

    /// Whether a filter from above may run inside the scan: only a run-time filter the
    /// engine builds itself from values the query already holds (a hash join's bounds and
    /// key set from its build side, a TopK's current threshold, a `min`/`max` aggregate's
    /// current value), and only on columns shown as stored. Such a filter compares a column
    /// with values and cannot fail, and the rows it drops could not have reached the output
    /// (they match no build-side key, sort after the k rows kept, or cannot change the
    /// extreme), so it may prune files, row groups and pages below the
    /// security filter, like a safe user predicate (docs/design/ACCESS.md §Enforcement).
    /// A predicate a user wrote never arrives here: they are planned as `TableScan`
    /// filters, through `SecureTable::supports_filters_pushdown`.
    fn admits(&self, filter: &Arc<dyn PhysicalExpr>) -> bool {
        filter.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()
            && collect_columns(filter)
                .iter()
                .all(|c| self.plain.get(c.index()).copied().unwrap_or(false))
    }
}

impl SecureScanExec {
    /// The plan under the secured scan, for diagnostics (which files a read touches). It is
    /// not part of the optimizer's view and never shown in `EXPLAIN`.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.inner
    }
}

impl fmt::Debug for SecureScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecureScanExec({})", self.table)
    }
}

impl DisplayAs for SecureScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecureScanExec: table={}", self.table)
    }
}

impl ExecutionPlan for SecureScanExec {
    fn name(&self) -> &str {
        "SecureScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    /// Run-time filters ([`SecureScanExec::admits`]) pushed to the scan after planning go
    /// inside it: on top of the plan under the scan, then down into the Parquet reader as far
    /// as DataFusion's own pushdown takes them (through the masks' projection, which maps
    /// plain columns, and the security filter), where they prune and filter rows. Anything
    /// else is refused, as for any leaf.
    fn handle_child_pushdown_result(
        &self,
        phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let mut accepted = Vec::new();
        let mut results = Vec::new();
        for f in child_pushdown_result.parent_filters {
            if phase == FilterPushdownPhase::Post && self.admits(&f.filter) {
                accepted.push(f.filter);
                results.push(PushedDown::Yes);
            } else {
                results.push(PushedDown::No);
            }
        }
        if accepted.is_empty() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(
                results,
            ));
        }
        let filtered: Arc<dyn ExecutionPlan> =
            Arc::new(FilterExecBuilder::new(all_of(accepted), self.inner.clone()).build()?);
        let inner = FilterPushdown::new_post_optimization().optimize(filtered, config)?;
        let scan = SecureScanExec::new(self.table.clone(), inner, self.plain.clone());
        Ok(
            FilterPushdownPropagation::with_parent_pushdown_result(results)
                .with_updated_node(Arc::new(scan)),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let table = self.table.clone();
        let stream = self.inner.execute(partition, context)?;
        let schema = stream.schema();
        let sanitized = stream.map(move |batch| batch.map_err(|e| sanitize(&table, e)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, sanitized)))
    }
}

/// Keeps resource and storage errors (they carry no row values and the caller must see a
/// memory limit as such); replaces anything else raised under the security filter.
fn sanitize(table: &str, err: DataFusionError) -> DataFusionError {
    match err.find_root() {
        DataFusionError::ResourcesExhausted(_)
        | DataFusionError::ObjectStore(_)
        | DataFusionError::IoError(_) => err,
        _ => {
            tracing::warn!(table, error = %err, "error while reading a secured table");
            DataFusionError::Execution(format!(
                "reading table `{table}` failed while applying access rules"
            ))
        }
    }
}

#[cfg(test)]
mod tests;
