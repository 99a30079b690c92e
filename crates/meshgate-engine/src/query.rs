//! Running a principal's SQL over exactly the tables it may see.
//!
//! Each query gets a fresh DataFusion session whose catalog holds only the visible tables,
//! named `<domain>.<product>.<table>` (catalog, schema, table). Tables are opened lazily when
//! a query names them, from a cache of loaded Delta tables that is refreshed to the latest
//! version on use. DDL, DML and statements (`COPY`, `CREATE EXTERNAL TABLE`, `SET`, …) are
//! refused: a query can only read. All sessions share one memory pool (spilling to disk when
//! it fills) and every query has a deadline.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, SchemaProvider, TableProvider,
};
use deltalake::datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use deltalake::datafusion::datasource::source_as_provider;
use deltalake::datafusion::error::{DataFusionError, Result as DfResult};
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::{CopyToSource, Statement as DfStatement};
use futures::{Stream, StreamExt};
use meshgate_core::bounded::Bounded;
pub use meshgate_guard::sql::Limits;
use meshgate_guard::sql::{Limit, LimitError, check_query, check_statement, check_text};
use meshgate_guard::sqlparser::dialect::GenericDialect;
use url::Url;

use crate::secure::{SecureScanExec, SecureTable, TableAccess};
use crate::storage::open;
use crate::{Error, Result};
use deltalake::datafusion::datasource::physical_plan::FileScanConfig;
use deltalake::datafusion::datasource::source::DataSourceExec;
use deltalake::datafusion::physical_plan::ExecutionPlan;

/// Limits for queries.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Memory all running queries may use together before spilling or failing.
    pub memory_limit_mb: u64,
    /// How long one query may run, planning and streaming included.
    pub timeout: Duration,
    /// Where operators spill; `None` = the OS temp dir.
    pub spill_dir: Option<PathBuf>,
    /// How long, size and deep a query's SQL may be (docs/design/QUERY_LIMITS.md).
    pub limits: Limits,
    /// How long parsing and planning may take, within `timeout`.
    pub plan_timeout: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            memory_limit_mb: 1024,
            timeout: Duration::from_secs(300),
            spill_dir: None,
            limits: Limits::default(),
            plan_timeout: Duration::from_secs(30),
        }
    }
}

/// The stack of the threads that parse and plan queries. Planning, optimising and dropping a
/// plan recurse over its expressions; the limits keep them shallow, and this leaves a wide
/// margin (only the pages a plan touches are ever committed).
const PLANNER_STACK: usize = 64 * 1024 * 1024;

/// A table the principal may read, with its SQL name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibleTable {
    pub domain: String,
    pub product: String,
    pub table: String,
    pub location: Url,
    pub access: TableAccess,
}

/// Result rows as they are produced.
pub struct QueryStream {
    pub schema: SchemaRef,
    /// The `<domain>.<product>.<table>` names the plan reads.
    pub tables: Vec<String>,
    /// The output columns named like a column whose values the caller's rules change (a
    /// mask or a cell rule) in a table the plan reads: a hint for showing results, not a
    /// security boundary (a computed or renamed column is not traced).
    pub masked: Vec<String>,
    pub batches: Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>,
}

/// Plans and runs queries; one per server.
pub struct QueryEngine {
    config: QueryConfig,
    runtime: Arc<RuntimeEnv>,
    tables: Arc<TableCache>,
}

impl QueryEngine {
    pub fn new(config: QueryConfig) -> Result<Self> {
        let bytes = usize::try_from(config.memory_limit_mb.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX);
        let disk = match &config.spill_dir {
            Some(dir) => DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
            None => DiskManagerBuilder::default().with_mode(DiskManagerMode::OsTmpDirectory),
        };
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(bytes)))
            .with_disk_manager_builder(disk)
            .build_arc()
            .map_err(|e| Error::internal(format!("cannot build the query runtime: {e}")))?;
        Ok(QueryEngine {
            config,
            runtime,
            tables: Arc::new(TableCache::default()),
        })
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// A session for table maintenance ([`crate::layout::optimize`]): no tables, the queries'
    /// memory pool (a sort past the limit spills to the spill directory) and runtime.
    pub fn maintenance_session(&self) -> SessionContext {
        SessionContext::new_with_config_rt(SessionConfig::new(), self.runtime.clone())
    }

    /// Plans `sql` over `visible` and starts it. Errors in the SQL are [`Error::Sql`]; SQL
    /// past the limits is [`Error::TooComplex`].
    pub async fn run(&self, sql: &str, visible: &[VisibleTable]) -> Result<QueryStream> {
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let seconds = self.config.timeout.as_secs();
        let ctx = self.session(visible)?;
        let limit = self.config.memory_limit_mb;
        let (schema, tables, altered, stream) = self
            .on_planner(deadline, ctx, sql, move |df| async move {
                let (tables, altered) = scanned(df.logical_plan());
                let stream = df
                    .execute_stream()
                    .await
                    .map_err(|e| Error::from_query(e, limit))?;
                Ok((stream.schema(), tables, altered, stream))
            })
            .await?;
        let masked = schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| altered.contains(n))
            .collect();
        let batches = Deadline {
            inner: stream,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            seconds,
            memory_limit_mb: limit,
            done: false,
        };
        Ok(QueryStream {
            schema,
            tables,
            masked,
            batches: Box::pin(batches),
        })
    }

    /// The data files a query's plan would read, secured scans included (for diagnostics,
    /// tests and benchmarks: e.g. that a tenant-scoped read touches only that tenant's
    /// files). Nothing is executed.
    pub async fn files_read(&self, sql: &str, visible: &[VisibleTable]) -> Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let ctx = self.session(visible)?;
        let limit = self.config.memory_limit_mb;
        self.on_planner(deadline, ctx, sql, move |df| async move {
            let plan = df
                .create_physical_plan()
                .await
                .map_err(|e| Error::from_query(e, limit))?;
            let mut files = Vec::new();
            collect_files(&plan, &mut files);
            files.sort();
            files.dedup();
            Ok(files)
        })
        .await
    }

    /// Checks `sql` against the limits, plans it in `ctx` and hands the plan to `then`, all on
    /// a thread of its own with a large stack, within the planning time budget (and before
    /// `deadline`). A panic there is an internal error, not a lost process.
    async fn on_planner<T, F, Fut>(
        &self,
        deadline: tokio::time::Instant,
        ctx: SessionContext,
        sql: &str,
        then: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(DataFrame) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>>,
    {
        let limits = self.config.limits;
        check_text(sql, &GenericDialect {}, &limits).map_err(too_complex)?;
        let memory = self.config.memory_limit_mb;
        let sql = sql.to_string();
        let handle = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("meshgate-planner".into())
            .stack_size(PLANNER_STACK)
            .spawn(move || {
                let work = async move {
                    let df = plan_checked(&ctx, &sql, &limits, memory).await?;
                    then(df).await
                };
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| handle.block_on(work)))
                    .unwrap_or_else(|panic| {
                        Err(Error::internal(format!(
                            "planning a query panicked: {}",
                            crate::error::panic_message(panic.as_ref())
                        )))
                    });
                let _ = tx.send(result);
            })
            .map_err(|e| Error::internal(format!("cannot start a planner thread: {e}")))?;
        let budget = tokio::time::Instant::now() + self.config.plan_timeout;
        let (until, timeout) = if budget < deadline {
            (
                budget,
                Error::PlanTimeout {
                    seconds: self.config.plan_timeout.as_secs(),
                },
            )
        } else {
            (
                deadline,
                Error::Timeout {
                    seconds: self.config.timeout.as_secs(),
                },
            )
        };
        match tokio::time::timeout_at(until, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::internal(
                "the planner thread ended without an answer",
            )),
            // The planner thread runs on until it is done; the limits bound how long.
            Err(_) => Err(timeout),
        }
    }

    fn session(&self, visible: &[VisibleTable]) -> Result<SessionContext> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("meshgate", "default");
        let ctx = SessionContext::new_with_config_rt(config, self.runtime.clone());
        let mut catalogs: BTreeMap<&str, BTreeMap<&str, TableMap>> = BTreeMap::new();
        for t in visible {
            catalogs
                .entry(&t.domain)
                .or_default()
                .entry(&t.product)
                .or_default()
                .insert(t.table.clone(), (t.location.clone(), t.access.clone()));
        }
        for (domain, products) in catalogs {
            let catalog = MemoryCatalogProvider::new();
            for (product, tables) in products {
                let schema = LazySchema {
                    tables,
                    cache: self.tables.clone(),
                };
                catalog
                    .register_schema(product, Arc::new(schema))
                    .map_err(|e| Error::internal(format!("cannot register schema: {e}")))?;
            }
            ctx.register_catalog(domain, Arc::new(catalog));
        }
        Ok(ctx)
    }
}

/// Parses `sql` as DataFusion would, refuses a statement past `limits`, plans it and refuses
/// anything but a read.
async fn plan_checked(
    ctx: &SessionContext,
    sql: &str,
    limits: &Limits,
    memory_limit_mb: u64,
) -> Result<DataFrame> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state
        .sql_to_statement(sql, &dialect)
        .map_err(|e| Error::from_query(e, memory_limit_mb))?;
    check_df_statement(&statement, limits).map_err(too_complex)?;
    let plan = state
        .statement_to_plan(statement)
        .await
        .map_err(|e| Error::from_query(e, memory_limit_mb))?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| Error::from_query(e, memory_limit_mb))?;
    ctx.execute_logical_plan(plan)
        .await
        .map_err(|e| Error::from_query(e, memory_limit_mb))
}

/// The depth check over DataFusion's statements: the SQL statement inside, an `EXPLAIN`'s
/// statement, a `COPY`'s query.
fn check_df_statement(
    statement: &DfStatement,
    limits: &Limits,
) -> std::result::Result<(), LimitError> {
    let mut statement = statement;
    loop {
        match statement {
            DfStatement::Statement(s) => return check_statement(s, limits),
            DfStatement::Explain(e) => statement = e.statement.as_ref(),
            DfStatement::CopyTo(c) => {
                return match &c.source {
                    CopyToSource::Query(q) => check_query(q, limits),
                    CopyToSource::Relation(_) => Ok(()),
                };
            }
            _ => return Ok(()),
        }
    }
}

fn too_complex(e: LimitError) -> Error {
    let setting = match e.limit {
        Limit::Bytes => "query.max_sql_bytes",
        Limit::Tokens => "query.max_sql_tokens",
        Limit::Depth => "query.max_expr_depth",
        // Fixed: longer chains cost the parser exponential time (docs/design/QUERY_LIMITS.md).
        Limit::Dots => {
            return Error::TooComplex {
                message: format!("the query is too complex: {e}"),
            };
        }
    };
    Error::TooComplex {
        message: format!(
            "the query is too complex: {e}; simplify it or ask an admin to raise `{setting}`"
        ),
    }
}

/// The files of every file scan in `plan`, looking inside secured scans.
fn collect_files(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<String>) {
    if let Some(secure) = plan.downcast_ref::<SecureScanExec>() {
        collect_files(secure.input(), out);
    }
    if let Some(source) = plan.downcast_ref::<DataSourceExec>() {
        let any: &dyn std::any::Any = source.data_source().as_ref();
        if let Some(config) = any.downcast_ref::<FileScanConfig>() {
            for group in &config.file_groups {
                out.extend(group.iter().map(|f| f.object_meta.location.to_string()));
            }
        }
    }
    for child in plan.children() {
        collect_files(child, out);
    }
}

/// The `<domain>.<product>.<table>` names a plan reads, and the columns its secured scans
/// change ([`SecureTable::altered_columns`]), in one walk of the plan.
fn scanned(plan: &LogicalPlan) -> (Vec<String>, std::collections::BTreeSet<String>) {
    let mut names = Vec::new();
    let mut altered = std::collections::BTreeSet::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.to_string();
            if !name.starts_with("information_schema") && !names.contains(&name) {
                names.push(name);
            }
            if let Ok(provider) = source_as_provider(&scan.source)
                && let Some(secure) = provider.downcast_ref::<SecureTable>()
            {
                altered.extend(secure.altered_columns());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (names, altered)
}

/// Loaded Delta tables by location, refreshed to their latest version on use. Bounded: the
/// tables queried least recently are dropped past [`TableCache::CAPACITY`] (and opened again
/// from their log when next queried), so a mesh of many tables does not keep every log it
/// ever read in memory.
struct TableCache {
    tables: Mutex<Bounded<Url, DeltaTable>>,
}

impl Default for TableCache {
    fn default() -> Self {
        TableCache {
            tables: Mutex::new(Bounded::new(Self::CAPACITY)),
        }
    }
}

impl TableCache {
    const CAPACITY: usize = 512;

    async fn latest(&self, location: &Url) -> Result<DeltaTable> {
        let cached = self
            .tables
            .lock()
            .ok()
            .and_then(|mut m| m.get(location).cloned());
        let table = match cached {
            Some(mut table) => {
                table
                    .update_incremental(None)
                    .await
                    .map_err(|e| Error::storage(format!("cannot refresh table: {e}")))?;
                table
            }
            None => open(location).await?,
        };
        if let Ok(mut m) = self.tables.lock() {
            m.insert(location.clone(), table.clone());
        }
        Ok(table)
    }
}

/// A product's tables by name: where each lives and how the principal may read it.
type TableMap = HashMap<String, (Url, TableAccess)>;

/// A product's tables, opened only when a query names them.
struct LazySchema {
    tables: TableMap,
    cache: Arc<TableCache>,
}

impl std::fmt::Debug for LazySchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySchema")
            .field("tables", &self.tables.keys())
            .finish()
    }
}

#[async_trait]
impl SchemaProvider for LazySchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.keys().cloned().collect();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some((location, access)) = self.tables.get(name) else {
            return Ok(None);
        };
        let table = self
            .cache
            .latest(location)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let inner = table.table_provider().await?;
        let secure = SecureTable::try_new(name, inner, access)
            .map_err(|e| DataFusionError::Plan(e.reason))?;
        Ok(Some(Arc::new(secure)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}

/// Ends a result stream with [`Error::Timeout`] once the deadline passes.
struct Deadline {
    inner: SendableRecordBatchStream,
    sleep: Pin<Box<tokio::time::Sleep>>,
    seconds: u64,
    memory_limit_mb: u64,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(Error::Timeout {
                seconds: self.seconds,
            })));
        }
        let limit = self.memory_limit_mb;
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(Error::from_query(e, limit))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            other => other.map(|o| o.map(|r| r.map_err(|e| Error::from_query(e, limit)))),
        }
    }
}
