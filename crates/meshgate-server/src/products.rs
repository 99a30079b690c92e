//! Data products: create (with uploaded or registered tables), list, view, append, optimize,
//! delete.
//! Operations check, validate and write with their audit event; `routes/products.rs` holds
//! the handlers and `products/upload.rs` stages uploaded bytes.

pub mod upload;

use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{DataProduct, Domain, ProductTable, Team, new_id};
use meshgate_core::names;
use meshgate_engine::ingest::{self, FileFormat};
use meshgate_engine::{layout, vacuum};
use meshgate_store::ProductFilter;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::{ProductRef, TableRef};
use crate::lookup::{audit, authorize, domain_by_name, product_resource, team_by_name};
use crate::state::AppState;
use crate::views::ProductView;
pub use upload::StagedFile;

// ----- data products -----

/// The `product` part of a create request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub domain: String,
    pub team: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tables: Vec<NewTable>,
    /// Create the product as a catalog `draft` (visible to its team only) instead of
    /// publishing it; a domain with a publish rule always starts products as drafts.
    #[serde(default)]
    pub draft: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTable {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Register an existing Delta table at this URL instead of uploading a file.
    #[serde(default)]
    pub location: Option<String>,
    /// The uploaded file's format, when its name does not tell.
    #[serde(default)]
    pub format: Option<String>,
    /// Column descriptions by column name.
    #[serde(default)]
    pub columns: std::collections::BTreeMap<String, String>,
    /// Makes the table multi-tenant: the column holding each row's key (`tenant1-17`); the
    /// table is partitioned by the tenant the key names.
    #[serde(default)]
    pub tenant_key: Option<String>,
    /// The tenant is the key's part before this (default `-`); `""` = the whole key.
    #[serde(default)]
    pub tenant_separator: Option<String>,
}

impl NewTable {
    /// The tenancy this table declares, if any.
    fn tenancy(&self) -> Option<meshgate_engine::rows::Tenancy> {
        let key = self.tenant_key.clone()?;
        let separator = match self.tenant_separator.as_deref() {
            None => Some("-".to_string()),
            Some("") => None,
            Some(s) => Some(s.to_string()),
        };
        Some(meshgate_engine::rows::Tenancy {
            key_column: key,
            separator,
        })
    }
}

/// Checks that `caller` may create `req` (the team exists, the caller may create products
/// for it, its domain produces) — before any uploaded byte is stored.
pub async fn authorize_create(
    state: &AppState,
    caller: &Caller,
    req: &NewProduct,
) -> ApiResult<(Domain, Team)> {
    let (domain, team) = team_by_name(state, &req.domain, &req.team).await?;
    authorize(
        state,
        caller,
        Action::CreateProduct,
        &Resource::Team {
            id: team.id,
            domain_id: domain.id,
        },
        &format!(
            "create data products for team `{}.{}`",
            domain.name, team.name
        ),
    )?;
    if !domain.producer {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            format!(
                "domain `{}` is not enabled as a producer; an admin can run `meshgate domain enable {} --producer`",
                domain.name, domain.name
            ),
        ));
    }
    Ok((domain, team))
}

/// Creates a product from staged uploads and registered locations. Tables are written first;
/// the catalog record is committed only if all of them succeed, and any table written for a
/// failed create is removed, so a failure leaves no half-made product.
pub async fn create_product(
    state: &AppState,
    caller: &Caller,
    (domain, team): (Domain, Team),
    req: NewProduct,
    files: Vec<StagedFile>,
) -> ApiResult<ProductView> {
    names::validate("data product name", &req.name)?;
    let listing = crate::catalog::initial_listing(state, &domain, req.draft).await?;
    if state
        .store
        .get_product_by_name(domain.id, &req.name)
        .await?
        .is_some()
    {
        return Err(meshgate_core::Error::AlreadyExists {
            what: "data product",
            name: format!("{}.{}", domain.name, req.name),
        }
        .into());
    }
    // Every table is described once: by a `tables` entry, an uploaded file, or both.
    let mut specs: Vec<NewTable> = req.tables;
    for f in &files {
        if !specs.iter().any(|t| t.name == f.table) {
            specs.push(NewTable {
                name: f.table.clone(),
                description: String::new(),
                location: None,
                format: None,
                columns: Default::default(),
                tenant_key: None,
                tenant_separator: None,
            });
        }
    }
    if specs.is_empty() {
        return Err(ApiError::bad_request(
            "a data product needs at least one table: upload a file (part named after the table) or register a Delta table by `location`",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for t in &specs {
        names::validate("table name", &t.name)?;
        if !seen.insert(t.name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "table `{}` is given twice",
                t.name
            )));
        }
        let has_file = files.iter().any(|f| f.table == t.name);
        match (&t.location, has_file) {
            (Some(_), true) => {
                return Err(ApiError::bad_request(format!(
                    "table `{}` has both a file and a `location`; give one",
                    t.name
                )));
            }
            (None, false) => {
                return Err(ApiError::bad_request(format!(
                    "table `{}` has neither an uploaded file nor a `location`",
                    t.name
                )));
            }
            _ => {}
        }
    }

    let product_id = new_id();
    let now = Utc::now();
    let mut tables = Vec::new();
    let mut written = Vec::new();
    let qualified_team = format!("{}.{}", domain.name, team.name);
    let mut registered: Vec<meshgate_engine::storage::Location> = Vec::new();
    let outcome: ApiResult<()> = async {
        for spec in &specs {
            let (location, managed, mut columns) = if let Some(loc) = &spec.location {
                if spec.tenant_key.is_some() {
                    return Err(ApiError::bad_request(format!(
                        "table `{}`: `tenant_key` needs a table meshgate writes (upload a file); a registered table cannot be partitioned by tenant",
                        spec.name
                    )));
                }
                let at = crate::locations::registrable(
                    state,
                    &qualified_team,
                    &team,
                    loc,
                    &registered,
                )
                .await?;
                let url = at.url().clone();
                registered.push(at);
                let (_, columns) = ingest::describe(&url)
                    .await
                    .map_err(|e| unreadable(&spec.name, loc, e))?;
                (url, false, columns)
            } else {
                let Some(file) = files.iter().find(|f| f.table == spec.name) else {
                    return Err(ApiError::bad_request(format!(
                        "no file uploaded for table `{}`",
                        spec.name
                    )));
                };
                let format = file_format(spec.format.as_deref(), file)?;
                let url = state.data_root.table_url(product_id, &spec.name)?;
                written.push(url.clone());
                let tenancy = spec.tenancy();
                let report =
                    ingest::create_table_with(&file.path, format, &url, &spec.name, tenancy.as_ref())
                        .await?;
                (url, true, report.columns)
            };
            for (col, description) in &spec.columns {
                let Some(c) = columns.iter_mut().find(|c| &c.name == col) else {
                    return Err(ApiError::bad_request(format!(
                        "table `{}` has no column `{col}` to describe; its columns are: {}",
                        spec.name,
                        columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                c.description = description.clone();
            }
            tables.push(ProductTable {
                id: new_id(),
                product_id,
                name: spec.name.clone(),
                description: spec.description.clone(),
                location: location.to_string(),
                managed,
                columns,
                created_at: now,
            });
        }
        Ok(())
    }
    .await;
    let product = DataProduct {
        id: product_id,
        domain_id: domain.id,
        team_id: team.id,
        name: req.name,
        description: req.description,
        created_at: now,
        updated_at: now,
        listing,
        revision: 1,
    };
    let committed = match outcome {
        Ok(()) => {
            let event =
                audit(caller, "product.create", "data_product", product.id).with_detail(json!({
                    "name": format!("{}.{}", domain.name, product.name),
                    "team": team.name,
                    "tables": tables.iter().map(|t| &t.name).collect::<Vec<_>>(),
                }));
            state
                .store
                .create_product(&product, &tables, event)
                .await
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    if let Err(e) = committed {
        for url in &written {
            meshgate_engine::storage::remove_location(url);
        }
        return Err(e);
    }
    for spec in &specs {
        let (Some(tenancy), Some(table)) =
            (spec.tenancy(), tables.iter().find(|t| t.name == spec.name))
        else {
            continue;
        };
        let record = meshgate_core::credential::TableTenancy {
            table_id: table.id,
            key_column: tenancy.key_column,
            separator: tenancy.separator,
        };
        let event = audit(caller, "table.tenancy", "table", table.id)
            .with_detail(json!({"table": format!("{}.{}.{}", domain.name, product.name, table.name), "key": record.key_column, "separator": record.separator}));
        state.store.set_tenancy(&record, event).await?;
    }
    crate::catalog::suggestions::after_create(
        state,
        crate::catalog::suggestions::Writer::Caller(caller),
        &domain,
        &product,
        &tables,
    )
    .await;
    ProductView::load(state, caller, product).await
}

/// A registered location that cannot be read as a Delta table is the caller's to fix (400):
/// the cause is logged, not sent.
fn unreadable(table: &str, location: &str, err: meshgate_engine::Error) -> ApiError {
    match err {
        meshgate_engine::Error::InvalidData { .. } => err.into(),
        other => {
            tracing::warn!(error = %other, "a location to register cannot be read");
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_data",
                format!(
                    "table `{table}`: `{location}` cannot be read as a Delta table (missing, unreadable, or not a Delta table)"
                ),
            )
        }
    }
}

fn file_format(explicit: Option<&str>, file: &StagedFile) -> ApiResult<FileFormat> {
    if let Some(f) = explicit {
        return Ok(FileFormat::parse(f)?);
    }
    file.file_name
        .as_deref()
        .and_then(|n| FileFormat::from_path(std::path::Path::new(n)))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "cannot tell the format of the file for table `{}`: name it `.csv`, `.parquet` or `.jsonl`, or give `format`",
                file.table
            ))
        })
}

/// A table `caller` may write to (append, optimize), found and checked before any uploaded
/// byte is stored or any file rewritten.
pub struct WriteTarget {
    table: ProductTable,
    qualified: String,
}

/// Checks that `caller` may write to the table (found by the route's `TablePath`): the
/// product's write right, and for a registered table a writable external location. `doing`
/// names the write in refusals ("append data to", "optimize").
pub async fn write_target(
    state: &AppState,
    caller: &Caller,
    table: TableRef,
    doing: &str,
) -> ApiResult<WriteTarget> {
    let qualified = table.qualified();
    let TableRef {
        product: p,
        table: t,
        ..
    } = table;
    authorize(
        state,
        caller,
        Action::AppendData,
        &product_resource(&p),
        &format!("{doing} `{qualified}`"),
    )?;
    if let Some(why) = crate::locations::write_refusal(state, &p, &t).await? {
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not {doing} `{qualified}`: {why}",
            caller.principal.name
        )));
    }
    Ok(WriteTarget {
        table: t,
        qualified,
    })
}

/// What an append wrote.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Appended {
    /// `domain.product.table`.
    pub table: String,
    /// Rows appended.
    pub rows: u64,
    /// The table version the append committed.
    pub version: i64,
}

pub async fn append_data(
    state: &AppState,
    caller: &Caller,
    target: WriteTarget,
    format: FileFormat,
    file: &std::path::Path,
) -> ApiResult<Appended> {
    let WriteTarget {
        table: mut t,
        qualified,
    } = target;
    let url = url::Url::parse(&t.location).map_err(ApiError::internal)?;
    let tenancy = state
        .store
        .tenancy(t.id)
        .await?
        .map(|t| crate::snapshot::engine_tenancy(&t));
    crate::catalog::suggestions::before_append_file(state, caller, &t, &qualified, format, file)
        .await;
    let report = ingest::append_file_with(file, format, &url, tenancy.as_ref()).await?;
    let described: std::collections::HashMap<String, String> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.description.clone()))
        .collect();
    t.columns = report
        .columns
        .into_iter()
        .map(|mut c| {
            c.description = described.get(&c.name).cloned().unwrap_or_default();
            c
        })
        .collect();
    let event = audit(caller, "product.append", "table", t.id).with_detail(json!({
        "table": qualified, "rows": report.rows, "version": report.version,
    }));
    state.store.update_table_columns(&t, event).await?;
    Ok(Appended {
        table: qualified,
        rows: report.rows,
        version: report.version,
    })
}

/// The body of `POST /products/{d}/{p}/tables/{t}/optimize`: a field left out keeps what
/// the table has (docs/design/TABLE_LAYOUT.md).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizeRequest {
    /// Sort the rows by these columns (several: Z-order) so that filters on them skip files,
    /// row groups and pages; `[]` stops clustering (files are then only compacted).
    pub cluster_by: Option<Vec<String>>,
    /// Write a Parquet bloom filter for each of these columns in every file from now on
    /// (this rewrite, appends, row writes); `[]` for none.
    pub bloom_filter_columns: Option<Vec<String>>,
    /// Write files up to this many MiB (8–4096; default: the table's `delta.targetFileSize`,
    /// else 100).
    pub target_file_mb: Option<u64>,
}

/// What an optimize did, and to which table.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Optimized {
    /// `domain.product.table`.
    pub table: String,
    #[serde(flatten)]
    pub report: layout::OptimizeReport,
}

/// `POST /products/{d}/{p}/tables/{t}/optimize`: whoever may append may rewrite the
/// table's files for reads. The rewrite changes no row (a Delta `OPTIMIZE` commit), so no
/// grant, share or Delta Sharing recipient is affected; it runs within the query memory limit.
pub async fn optimize_table(
    state: &AppState,
    caller: &Caller,
    table: TableRef,
    request: OptimizeRequest,
) -> ApiResult<Optimized> {
    let WriteTarget {
        table: t,
        qualified,
    } = write_target(state, caller, table, "optimize").await?;
    let url = url::Url::parse(&t.location).map_err(ApiError::internal)?;
    let options = layout::OptimizeOptions {
        cluster_by: request.cluster_by,
        bloom_filter_columns: request.bloom_filter_columns,
        target_file_mb: request.target_file_mb,
    };
    let report = layout::optimize(&url, options, state.engine.maintenance_session()).await?;
    let event = audit(caller, "table.optimize", "table", t.id).with_detail(json!({
        "table": qualified, "version": report.version, "cluster_by": report.layout.cluster_by,
        "bloom_filter_columns": report.layout.bloom_filter_columns,
        "files_removed": report.files_removed, "files_added": report.files_added,
    }));
    state.store.append_audit(event).await?;
    Ok(Optimized {
        table: qualified,
        report,
    })
}

/// The body of `POST /products/{d}/{p}/tables/{t}/vacuum` (docs/design/TABLE_LAYOUT.md
/// §Vacuum).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VacuumRequest {
    /// Delete the files removed from the table longer ago than this many hours (default: the
    /// table's `delta.deletedFileRetentionDuration`, 7 days unless set). At least the
    /// lifetime of a Delta Sharing file URL (`sharing.url_ttl_secs`, in hours rounded up).
    pub retention_hours: Option<u64>,
    /// Only count the files that would be deleted.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a vacuum did, and to which table.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Vacuumed {
    /// `domain.product.table`.
    pub table: String,
    #[serde(flatten)]
    pub report: vacuum::VacuumReport,
}

/// `POST /products/{d}/{p}/tables/{t}/vacuum`: whoever may append may delete the files the
/// table no longer references (those an `optimize` or a rewrite replaced), once they are
/// older than the retention. No row of the current version changes; time travel and the
/// change data feed then reach back only as far as the retention.
pub async fn vacuum_table(
    state: &AppState,
    caller: &Caller,
    table: TableRef,
    request: VacuumRequest,
) -> ApiResult<Vacuumed> {
    let WriteTarget {
        table: t,
        qualified,
    } = write_target(state, caller, table, "vacuum").await?;
    let url = url::Url::parse(&t.location).map_err(ApiError::internal)?;
    let options = vacuum::VacuumOptions {
        retention_hours: request.retention_hours,
        dry_run: request.dry_run,
    };
    let floor_hours = state.config.sharing.url_ttl_secs.div_ceil(3600);
    let report = vacuum::vacuum(&url, options, floor_hours, chrono::Utc::now()).await?;
    let event = audit(caller, "table.vacuum", "table", t.id).with_detail(json!({
        "table": qualified, "version": report.version, "dry_run": report.dry_run,
        "retention_hours": report.retention_hours, "files_deleted": report.files_deleted,
    }));
    state.store.append_audit(event).await?;
    Ok(Vacuumed {
        table: qualified,
        report,
    })
}

/// `DELETE /products/{domain}/{product}`: owners (and admins).
pub async fn delete_product(state: &AppState, caller: &Caller, p: &ProductRef) -> ApiResult<()> {
    let name = p.qualified();
    authorize(
        state,
        caller,
        Action::DeleteProduct,
        &p.resource(),
        &format!("delete `{name}`"),
    )?;
    let event = audit(caller, "product.delete", "data_product", p.product.id)
        .with_detail(json!({"name": name}));
    state.store.delete_product(p.product.id, event).await?;
    Ok(())
}

/// `GET /products/{domain}/{product}`.
pub async fn view_product(
    state: &AppState,
    caller: &Caller,
    p: ProductRef,
) -> ApiResult<ProductView> {
    authorize(
        state,
        caller,
        Action::ViewProduct,
        &p.resource(),
        "view this product",
    )?;
    ProductView::load(state, caller, p.product).await
}

/// The filters of `GET /products`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only this domain's products.
    pub domain: Option<String>,
    /// Only this team's products: `team` with `domain`, or `domain.team` alone.
    pub team: Option<String>,
}

/// `GET /products`: the products the caller may know of (drafts and unpublished products
/// only for their team and admins).
pub async fn list_products(
    state: &AppState,
    caller: &Caller,
    q: ProductQuery,
) -> ApiResult<Vec<ProductView>> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "list data products",
    )?;
    let mut filter = ProductFilter::default();
    if let Some(d) = &q.domain {
        let domain = domain_by_name(state, d).await?;
        filter.domain_id = Some(domain.id);
        if let Some(t) = &q.team {
            filter.team_id = Some(team_by_name(state, d, t).await?.1.id);
        }
    } else if let Some(t) = &q.team {
        filter.team_id = Some(crate::lookup::team_by_qualified_name(state, t).await?.1.id);
    }
    let mut out = Vec::new();
    for p in state.store.list_products(&filter).await? {
        if !crate::lookup::can_see(caller, &p) {
            continue;
        }
        out.push(ProductView::load(state, caller, p).await?);
    }
    Ok(out)
}

/// `POST /products` with its multipart body: the form is read (the right to create checked
/// before any byte is staged), the product created, the staged files removed.
pub async fn create_uploaded(
    state: &AppState,
    caller: &Caller,
    multipart: axum::extract::Multipart,
) -> ApiResult<ProductView> {
    let mut multipart = multipart;
    let product: NewProduct = upload::read_product(state, &mut multipart).await?;
    let target = authorize_create(state, caller, &product).await?;
    let (staging, files) = upload::read_files(state, &mut multipart).await?;
    let view = create_product(state, caller, target, product, files).await?;
    drop(staging);
    Ok(view)
}

/// `POST /products/{d}/{p}/tables/{t}/data`: the caller's right to append is checked before
/// the body is read; the body goes to a server-named staging file.
pub async fn append_uploaded(
    state: &AppState,
    caller: &Caller,
    table: TableRef,
    format: &str,
    body: axum::body::Body,
) -> ApiResult<Appended> {
    let format = FileFormat::parse(format)?;
    let target = write_target(state, caller, table, "append data to").await?;
    let (staging, path) = upload::stage_body(state, body).await?;
    let appended = append_data(state, caller, target, format, &path).await?;
    drop(staging);
    Ok(appended)
}
