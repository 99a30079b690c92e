//! Control-plane operations on identity, domains, teams and data products. Each checks the
//! action with the authorizer, validates input, and writes the change with its audit event in
//! one store call. Handlers only extract and delegate to these.

use std::path::PathBuf;

use chrono::{Duration, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{
    ApiToken, DataProduct, Domain, NewAuditEvent, Principal, PrincipalKind, ProductTable, Team,
    TeamMember, TeamRole, new_id,
};
use meshgate_core::{names, token};
use meshgate_engine::ingest::{self, FileFormat};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::lookup::{
    audit, authorize, domain_by_name, principal_by_name, product_by_name, product_resource,
    team_by_name,
};
use crate::state::AppState;
use crate::views::{MemberView, ProductView, TeamView};

// ----- principals and tokens -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewPrincipal {
    pub name: String,
    pub kind: PrincipalKind,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub admin: bool,
}

pub async fn create_principal(
    state: &AppState,
    caller: &Caller,
    req: NewPrincipal,
) -> ApiResult<Principal> {
    authorize(
        state,
        caller,
        Action::CreatePrincipal,
        &Resource::Mesh,
        "create principals",
    )?;
    names::validate_principal(&req.name)?;
    let principal = Principal {
        id: new_id(),
        display_name: req.display_name.unwrap_or_else(|| req.name.clone()),
        name: req.name,
        kind: req.kind,
        is_admin: req.admin,
        created_at: Utc::now(),
    };
    let event = audit(caller, "principal.create", "principal", principal.id).with_detail(
        json!({"name": principal.name, "kind": principal.kind, "admin": principal.is_admin}),
    );
    state.store.create_principal(&principal, event).await?;
    Ok(principal)
}

pub async fn set_group_member(
    state: &AppState,
    caller: &Caller,
    group: &str,
    member: &str,
    add: bool,
) -> ApiResult<()> {
    authorize(
        state,
        caller,
        Action::CreatePrincipal,
        &Resource::Mesh,
        "change group membership",
    )?;
    let g = principal_by_name(state, group).await?;
    if g.kind != PrincipalKind::Group {
        return Err(ApiError::bad_request(format!(
            "`{group}` is a {}, not a group",
            g.kind
        )));
    }
    let m = principal_by_name(state, member).await?;
    let action = if add {
        "group.add_member"
    } else {
        "group.remove_member"
    };
    let event = audit(caller, action, "principal", g.id).with_detail(json!({"member": member}));
    if add {
        state.store.add_group_member(g.id, m.id, event).await?;
    } else {
        state.store.remove_group_member(g.id, m.id, event).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewToken {
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Days until expiry; 0 = never. Default 90.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct CreatedToken {
    pub id: Uuid,
    /// Shown only here, once.
    pub token: String,
    pub principal: String,
    pub expires_at: Option<chrono::DateTime<Utc>>,
}

/// Issues a token for `principal` without an authorization check: for `init`, the quickstart
/// and the API handler after its own check.
pub async fn issue_token(
    state: &AppState,
    actor: Option<Uuid>,
    principal: &Principal,
    name: &str,
    expires_in_days: u32,
) -> ApiResult<CreatedToken> {
    let secret = token::generate();
    let now = Utc::now();
    let record = ApiToken {
        id: new_id(),
        principal_id: principal.id,
        name: name.to_string(),
        token_hash: token::hash(&secret),
        created_at: now,
        expires_at: (expires_in_days > 0).then(|| now + Duration::days(i64::from(expires_in_days))),
        revoked_at: None,
    };
    let event = NewAuditEvent::new(actor, "token.create", "token", Some(record.id.to_string()))
        .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok())
        .with_detail(
            json!({"principal": principal.name, "name": name, "expires_at": record.expires_at}),
        );
    state.store.create_token(&record, event).await?;
    Ok(CreatedToken {
        id: record.id,
        token: secret,
        principal: principal.name.clone(),
        expires_at: record.expires_at,
    })
}

pub async fn create_token(
    state: &AppState,
    caller: &Caller,
    req: NewToken,
) -> ApiResult<CreatedToken> {
    let principal = match &req.principal {
        Some(name) => principal_by_name(state, name).await?,
        None => caller.principal.clone(),
    };
    authorize(
        state,
        caller,
        Action::CreateToken,
        &Resource::Principal { id: principal.id },
        &format!("create tokens for `{}`", principal.name),
    )?;
    if principal.kind == PrincipalKind::Group {
        return Err(ApiError::bad_request(
            "groups cannot hold tokens; create a token for a user or service principal",
        ));
    }
    let name = req.name.unwrap_or_else(|| "api".to_string());
    if name.len() > 200 {
        return Err(ApiError::bad_request("token name is longer than 200 bytes"));
    }
    let days = req.expires_in_days.unwrap_or(90);
    if days > 3650 {
        return Err(ApiError::bad_request(
            "`expires_in_days` must be at most 3650 (0 = never)",
        ));
    }
    issue_token(state, Some(caller.id()), &principal, &name, days).await
}

pub async fn list_tokens(
    state: &AppState,
    caller: &Caller,
    principal: Option<&str>,
) -> ApiResult<Vec<ApiToken>> {
    let principal = match principal {
        Some(name) => principal_by_name(state, name).await?,
        None => caller.principal.clone(),
    };
    authorize(
        state,
        caller,
        Action::ListTokens,
        &Resource::Principal { id: principal.id },
        &format!("list the tokens of `{}`", principal.name),
    )?;
    Ok(state.store.list_tokens(principal.id).await?)
}

pub async fn revoke_token(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<ApiToken> {
    let record = state
        .store
        .get_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("token", &id.to_string()))?;
    let resource = Resource::Principal {
        id: record.principal_id,
    };
    if !state
        .authz
        .is_allowed(&caller.actor, Action::RevokeToken, &resource)
    {
        // Someone else's token: do not confirm it exists.
        return Err(ApiError::not_found("token", &id.to_string()));
    }
    let event = audit(caller, "token.revoke", "token", id);
    state.store.revoke_token(id, Utc::now(), event).await?;
    state
        .store
        .get_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("token", &id.to_string()))
}

// ----- domains and teams -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewDomain {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub producer: bool,
    #[serde(default = "yes")]
    pub consumer: bool,
    /// The domain this one is a unit of.
    #[serde(default)]
    pub parent: Option<String>,
}

fn yes() -> bool {
    true
}

pub async fn create_domain(state: &AppState, caller: &Caller, req: NewDomain) -> ApiResult<Domain> {
    authorize(
        state,
        caller,
        Action::CreateDomain,
        &Resource::Mesh,
        "create domains",
    )?;
    names::validate("domain name", &req.name)?;
    let parent_id = match &req.parent {
        Some(parent) => Some(domain_by_name(state, parent).await?.id),
        None => None,
    };
    let domain = Domain {
        id: new_id(),
        name: req.name,
        description: req.description,
        producer: req.producer,
        consumer: req.consumer,
        created_at: Utc::now(),
        parent_id,
    };
    let event = audit(caller, "domain.create", "domain", domain.id).with_detail(
        json!({"name": domain.name, "producer": domain.producer, "consumer": domain.consumer}),
    );
    state.store.create_domain(&domain, event).await?;
    Ok(domain)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct DomainPatch {
    pub description: Option<String>,
    pub producer: Option<bool>,
    pub consumer: Option<bool>,
}

pub async fn update_domain(
    state: &AppState,
    caller: &Caller,
    name: &str,
    patch: DomainPatch,
) -> ApiResult<Domain> {
    let mut domain = domain_by_name(state, name).await?;
    authorize(
        state,
        caller,
        Action::UpdateDomain,
        &Resource::Domain { id: domain.id },
        "update domains",
    )?;
    let before = (domain.producer, domain.consumer);
    if let Some(d) = patch.description {
        domain.description = d;
    }
    domain.producer = patch.producer.unwrap_or(domain.producer);
    domain.consumer = patch.consumer.unwrap_or(domain.consumer);
    let event = audit(caller, "domain.update", "domain", domain.id).with_detail(json!({
        "from": {"producer": before.0, "consumer": before.1},
        "to": {"producer": domain.producer, "consumer": domain.consumer},
    }));
    state.store.update_domain(&domain, event).await?;
    Ok(domain)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewTeam {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn create_team(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    req: NewTeam,
) -> ApiResult<TeamView> {
    let domain = domain_by_name(state, domain).await?;
    authorize(
        state,
        caller,
        Action::CreateTeam,
        &Resource::Domain { id: domain.id },
        "create teams",
    )?;
    names::validate("team name", &req.name)?;
    let team = Team {
        id: new_id(),
        domain_id: domain.id,
        name: req.name,
        description: req.description,
        created_at: Utc::now(),
    };
    let event = audit(caller, "team.create", "team", team.id)
        .with_detail(json!({"domain": domain.name, "name": team.name}));
    state.store.create_team(&team, event).await?;
    Ok(TeamView::new(team, &domain))
}

pub async fn list_members(
    state: &AppState,
    domain: &str,
    team: &str,
) -> ApiResult<Vec<MemberView>> {
    let (_, t) = team_by_name(state, domain, team).await?;
    let mut out = Vec::new();
    for m in state.store.list_team_members(t.id).await? {
        out.push(MemberView {
            principal: crate::views::name_of_principal(state, m.principal_id).await?,
            role: m.role,
        });
    }
    Ok(out)
}

pub async fn put_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    team: &str,
    principal: &str,
    role: TeamRole,
) -> ApiResult<MemberView> {
    let (d, t) = team_by_name(state, domain, team).await?;
    authorize(
        state,
        caller,
        Action::ManageTeamMembers,
        &Resource::Team {
            id: t.id,
            domain_id: d.id,
        },
        &format!("manage the members of team `{domain}.{team}`"),
    )?;
    let p = principal_by_name(state, principal).await?;
    let event = audit(caller, "team.put_member", "team", t.id)
        .with_detail(json!({"principal": principal, "role": role}));
    state
        .store
        .put_team_member(
            &TeamMember {
                team_id: t.id,
                principal_id: p.id,
                role,
            },
            event,
        )
        .await?;
    Ok(MemberView {
        principal: p.name,
        role,
    })
}

pub async fn remove_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    team: &str,
    principal: &str,
) -> ApiResult<()> {
    let (d, t) = team_by_name(state, domain, team).await?;
    authorize(
        state,
        caller,
        Action::ManageTeamMembers,
        &Resource::Team {
            id: t.id,
            domain_id: d.id,
        },
        &format!("manage the members of team `{domain}.{team}`"),
    )?;
    let p = principal_by_name(state, principal).await?;
    let event = audit(caller, "team.remove_member", "team", t.id)
        .with_detail(json!({"principal": principal}));
    state.store.remove_team_member(t.id, p.id, event).await?;
    Ok(())
}

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

/// A file uploaded for one table, staged on disk.
pub struct StagedFile {
    pub table: String,
    pub path: PathBuf,
    pub file_name: Option<String>,
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
    state.reindex(&[product.id]).await;
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

/// A table `caller` may append to, found and checked before any uploaded byte is stored.
pub struct AppendTarget {
    product: DataProduct,
    table: ProductTable,
    qualified: String,
}

/// Finds `domain.product.table` and checks that `caller` may append to it.
pub async fn append_target(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
    table: &str,
) -> ApiResult<AppendTarget> {
    let (_, p) = product_by_name(state, caller, domain, product).await?;
    authorize(
        state,
        caller,
        Action::AppendData,
        &product_resource(&p),
        &format!("append data to `{domain}.{product}`"),
    )?;
    let t = state
        .store
        .list_tables(p.id)
        .await?
        .into_iter()
        .find(|t| t.name == table)
        .ok_or_else(|| ApiError::not_found("table", &format!("{domain}.{product}.{table}")))?;
    if let Some(why) = crate::locations::write_refusal(state, &p, &t).await? {
        return Err(ApiError::forbidden(format!(
            "principal `{}` may not append data to `{domain}.{product}.{table}`: {why}",
            caller.principal.name
        )));
    }
    Ok(AppendTarget {
        product: p,
        table: t,
        qualified: format!("{domain}.{product}.{table}"),
    })
}

pub async fn append_data(
    state: &AppState,
    caller: &Caller,
    target: AppendTarget,
    format: FileFormat,
    file: &std::path::Path,
) -> ApiResult<serde_json::Value> {
    let AppendTarget {
        product: p,
        table: mut t,
        qualified,
    } = target;
    let url = url::Url::parse(&t.location).map_err(ApiError::internal)?;
    let tenancy = state
        .store
        .tenancy(t.id)
        .await?
        .map(|t| crate::snapshot::engine_tenancy(&t));
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
    state.reindex(&[p.id]).await;
    Ok(json!({"table": qualified, "rows": report.rows, "version": report.version}))
}

pub async fn delete_product(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    product: &str,
) -> ApiResult<()> {
    let (_, p) = product_by_name(state, caller, domain, product).await?;
    authorize(
        state,
        caller,
        Action::DeleteProduct,
        &product_resource(&p),
        &format!("delete `{domain}.{product}`"),
    )?;
    let event = audit(caller, "product.delete", "data_product", p.id)
        .with_detail(json!({"name": format!("{domain}.{product}")}));
    state.store.delete_product(p.id, event).await?;
    state.reindex(&[p.id]).await;
    Ok(())
}
