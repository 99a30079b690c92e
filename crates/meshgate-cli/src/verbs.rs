//! The persona verbs of docs/design/LIFECYCLE.md §Personas and verbs: the command line of
//! every verb that talks to a running server, assembled from the feature modules' commands,
//! and its dispatch. Each verb is one REST call (or two) of `docs/API.md` and a printout; the
//! product and subscription verbs run here, the others in their modules (`mesh`, `products`,
//! `query`, `access`, `catalog`, `lifecycle`, `files`, `tenants`, `notify`, `recipients`,
//! `locations`).
//!
//! Arguments are checked for shape as they are parsed (`DOMAIN.PRODUCT`, `NAME=PATH`, file
//! formats) so a typo fails before any upload starts; what names are valid and who may act is
//! the server's to decide. No feature module imports this one: the shared parsers live in
//! `args`, the printing in `output`, the request bodies in `body`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::builder::PossibleValuesParser;
use meshgate_core::lifecycle::ShareStatus;
use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{Qualified, parse_product, parse_team};
use crate::body::{file_body, object, some};
use crate::client::Client;
use crate::mesh::{
    DomainCommand, GroupCommand, PrincipalCommand, TeamCommand, TokenCommand, domain, group,
    principal, team, token,
};
use crate::output::{
    self, OutputFormat, confirm, show_list, show_product, show_record, show_share,
};
use crate::products::{CreateDataProductArgs, DataFormat, create_data_product};
use crate::query::{QueryArgs, query};

/// The help section of the options every client verb shares.
const GLOBAL: &str = "Global Options";

// Where the server is, who is calling, and how to print: shared by every client verb.
// (Plain comments here and on `ClientCommand`: a doc comment would become the `about`
// of the command they are flattened into.)
#[derive(clap::Args, Debug, Clone)]
pub struct ClientOpts {
    /// address of the meshgate server
    #[arg(
        long,
        env = "MESHGATE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true,
        help_heading = GLOBAL
    )]
    pub url: String,
    /// api token (create one with `meshgate token create`)
    #[arg(
        long,
        env = "MESHGATE_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    pub token: Option<String>,
    /// how to print results
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value_t = OutputFormat::Table,
        global = true,
        help_heading = GLOBAL
    )]
    pub output: OutputFormat,
}

// The verbs that talk to a running meshgate server.
#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// sign in with the server's identity provider (device code in any browser); later
    /// verbs use the stored token when no --token is given
    Login {
        /// which of the server's identity providers (GET /auth/providers), default the first
        #[arg(long)]
        issuer: Option<usize>,
    },
    /// forget the stored sign-in for the server (and revoke it at the provider)
    Logout,
    /// show the principal the token belongs to, its teams and groups
    Whoami,
    /// create, list, enable and disable domains (mesh admins)
    #[command(subcommand)]
    Domain(DomainCommand),
    /// create teams and manage their members
    #[command(subcommand)]
    Team(TeamCommand),
    /// create and list users, groups and service principals (mesh admins)
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// manage the members of a group principal
    #[command(subcommand)]
    Group(GroupCommand),
    /// create, list and revoke api tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// vend, list and revoke short-lived, tenant-scoped credentials
    #[command(subcommand)]
    Credentials(crate::tenants::CredentialsCommand),
    /// append, look up and list rows of a table by key
    #[command(subcommand)]
    Rows(crate::tenants::RowsCommand),
    /// upload, list, download, sign and delete a data product's files
    #[command(subcommand)]
    Files(crate::files::FilesCommand),
    /// publish a data product from files and/or existing delta tables (producers)
    CreateDataProduct(CreateDataProductArgs),
    /// list the data products you can see
    ListProducts {
        /// only products of this domain
        #[arg(long)]
        domain: Option<String>,
        /// only products of this team
        #[arg(long)]
        team: Option<String>,
    },
    /// show a data product with its tables and columns
    GetProduct {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
    },
    /// append the rows of a file to a table of a data product (producers)
    AppendData {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// the table to append to
        table: String,
        /// a `.csv`, `.parquet` or `.jsonl` file
        path: PathBuf,
        /// the file's format (default: from its extension)
        #[arg(long, value_enum)]
        format: Option<DataFormat>,
    },
    /// rewrite a table's files for fast lookups: rows sorted by chosen columns, Parquet
    /// bloom filters for others; recorded on the table, so later writes keep them (producers)
    OptimizeTable {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// the table to optimize
        table: String,
        /// sort the rows by this column; repeat for several (Z-order)
        #[arg(long = "cluster-by", value_name = "COLUMN")]
        cluster_by: Vec<String>,
        /// stop clustering (files are then only compacted)
        #[arg(long, conflicts_with = "cluster_by")]
        no_cluster: bool,
        /// write a bloom filter for this column in every file; repeat for several
        #[arg(long = "bloom-filter", value_name = "COLUMN")]
        bloom_filter: Vec<String>,
        /// stop writing bloom filters
        #[arg(long, conflicts_with = "bloom_filter")]
        no_bloom_filters: bool,
        /// write files up to this many MiB (8-4096; default: the table's setting, else 100)
        #[arg(long, value_name = "MIB")]
        target_file_mb: Option<u64>,
    },
    /// delete the files a table no longer references (those `optimize-table` or a rewrite
    /// replaced) once they are older than the retention (producers)
    VacuumTable {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// the table to vacuum
        table: String,
        /// keep files removed less than this many hours ago (default: the table's
        /// retention, 7 days unless set; at least a Delta Sharing file URL's lifetime)
        #[arg(long, value_name = "HOURS")]
        retain_hours: Option<u64>,
        /// only count the files that would be deleted
        #[arg(long)]
        dry_run: bool,
    },
    /// delete a data product (refused while shares of it are active)
    DeleteDataProduct {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
    },
    /// ask for access to a data product (consumers)
    RequestAccess(RequestAccessArgs),
    /// list the subscriptions (shares) you are involved in
    ListSubscriptions {
        /// only shares in this status
        #[arg(long, value_parser = share_statuses())]
        status: Option<String>,
        /// only shares of this product
        #[arg(long, value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Option<Qualified>,
        /// only shares requested by this team
        #[arg(long, value_name = "DOMAIN.TEAM", value_parser = parse_team)]
        requester: Option<Qualified>,
    },
    /// list the requests waiting for your decision (producers)
    ListPendingRequests,
    /// show a subscription with its items
    GetSubscription {
        /// the share id
        id: String,
    },
    /// submit a draft (or rejected) subscription for approval
    SubmitSubscription {
        /// the share id
        id: String,
    },
    /// approve a subscription request and apply its grants, optionally narrowed with data
    /// filters, kept columns and masks (producers)
    ApproveSubscription {
        /// the share id
        id: String,
        /// notes recorded with the decision
        #[arg(long)]
        notes: Option<String>,
        /// return once approved, before the grants are in force
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        scope: crate::access::ScopeArgs,
    },
    /// reject a subscription request (producers)
    DenySubscription {
        /// the share id
        id: String,
        /// notes recorded with the decision, e.g. why
        #[arg(long)]
        notes: Option<String>,
    },
    /// revoke a subscription, or some of its items
    Revoke {
        /// the share id
        id: String,
        /// revoke only this item (repeatable; default: all revokable items)
        #[arg(long = "item", value_name = "ITEM_ID")]
        items: Vec<String>,
        /// return once revoked, before the grants are removed
        #[arg(long)]
        no_wait: bool,
    },
    /// list the data products your teams can query now, with their table names (consumers)
    ListProductAccess,
    /// run SQL over the tables you can see (`<domain>.<product>.<table>`)
    Query(QueryArgs),
    /// named row filters and column lists on a table, to attach to grants (owners)
    #[command(subcommand)]
    DataFilter(crate::access::DataFilterCommand),
    /// row-level security rules of a product, in the QuickSight CSV format (owners)
    #[command(subcommand)]
    RowRules(crate::access::RowRulesCommand),
    /// tag columns (e.g. `pii`) so tag masks apply to them
    #[command(subcommand)]
    Tags(crate::access::TagsCommand),
    /// default masks for tagged columns (admins; domain admins with --domain)
    #[command(subcommand)]
    TagMask(crate::access::TagMaskCommand),
    /// the mesh's key of the `hash` mask: `mask-key rotate` (admins)
    #[command(subcommand)]
    MaskKey(crate::access::MaskKeyCommand),
    #[command(flatten)]
    Catalog(crate::catalog::CatalogCommand),
    #[command(flatten)]
    Lifecycle(crate::lifecycle::LifecycleCommand),
    /// your notifications: requests, decisions, revocations and more (`inbox read` marks them)
    Inbox(crate::notify::InboxArgs),
    /// the email address your notifications are sent to
    #[command(subcommand)]
    Contact(crate::notify::ContactCommand),
    /// webhooks that receive your notifications as signed JSON
    #[command(subcommand)]
    Webhook(crate::notify::WebhookCommand),
    /// Delta Sharing recipients: tokens, profile links, rotation, IP allow-lists
    #[command(subcommand)]
    Recipient(crate::recipients::RecipientCommand),
    /// read through Delta Sharing: download a profile file, list the tables shared with you
    #[command(subcommand)]
    Sharing(crate::recipients::SharingCommand),
    /// URL prefixes under which teams may register existing delta tables (mesh admins)
    #[command(subcommand)]
    ExternalLocation(crate::locations::ExternalLocationCommand),
    /// read the audit log, verify its hash chain and signed digests, export it (mesh admins
    /// and auditors)
    Audit(crate::audit::AuditArgs),
    /// unusual-read alerts: list and acknowledge them, tune the detector, lift suspensions
    /// (mesh admins)
    Alerts(crate::alerts::AlertsArgs),
}

#[derive(clap::Args, Debug)]
pub struct RequestAccessArgs {
    #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
    product: Qualified,
    /// why you need the data (shown to the approvers)
    #[arg(long)]
    reason: String,
    /// the requesting team (default: your only team)
    #[arg(long, value_name = "DOMAIN.TEAM", value_parser = parse_team)]
    team: Option<Qualified>,
    /// ask for this table only (repeatable; default: all tables)
    #[arg(long = "table", value_name = "T")]
    tables: Vec<String>,
    /// ask for this folder (file prefix) of the product (repeatable)
    #[arg(long = "folder", value_name = "PREFIX")]
    folders: Vec<String>,
    /// ask for the whole product: every table and file, now and later
    #[arg(long)]
    whole_product: bool,
    /// when the access should end: a time (2027-01-31T00:00:00Z) or a duration (90d)
    #[arg(long, value_parser = crate::lifecycle::parse_when)]
    expires: Option<String>,
    /// keep the request as a draft instead of submitting it
    #[arg(long)]
    draft: bool,
    /// a metadata form value the domain's rules require: FORM.FIELD=VALUE (repeatable)
    #[arg(long = "form", value_name = "FORM.FIELD=VALUE")]
    forms: Vec<String>,
}

fn share_statuses() -> PossibleValuesParser {
    PossibleValuesParser::new(ShareStatus::ALL.iter().map(|s| s.as_str()))
}

/// Runs one client verb against the server in `opts`.
pub async fn run(opts: &ClientOpts, cmd: ClientCommand) -> Result<()> {
    let bearer = match (&opts.token, &cmd) {
        (_, ClientCommand::Login { issuer }) => {
            return crate::login::login(&opts.url, *issuer).await;
        }
        (_, ClientCommand::Logout) => return crate::login::logout(&opts.url).await,
        (Some(t), _) => Some(t.clone()),
        (None, _) => crate::login::stored_token(&opts.url).await?,
    };
    let c = Client::new(&opts.url, bearer.as_deref())?;
    let out = opts.output;
    match cmd {
        ClientCommand::Login { .. } | ClientCommand::Logout => Ok(()),
        ClientCommand::Whoami => {
            let v = c.get(&["whoami"], &[]).await?;
            show_record(out, &v, output::WHOAMI)
        }
        ClientCommand::Domain(cmd) => domain(&c, out, cmd).await,
        ClientCommand::Team(cmd) => team(&c, out, cmd).await,
        ClientCommand::Principal(cmd) => principal(&c, out, cmd).await,
        ClientCommand::Group(cmd) => group(&c, out, cmd).await,
        ClientCommand::Token(cmd) => token(&c, out, cmd).await,
        ClientCommand::Credentials(cmd) => crate::tenants::credentials(&c, out, cmd).await,
        ClientCommand::Rows(cmd) => crate::tenants::rows(&c, out, cmd).await,
        ClientCommand::Files(cmd) => crate::files::run(&c, out, cmd).await,
        ClientCommand::CreateDataProduct(args) => create_data_product(&c, out, args).await,
        ClientCommand::ListProducts { domain, team } => {
            let v = c
                .get(&["products"], &[("domain", domain), ("team", team)])
                .await?;
            show_list(out, &v, output::PRODUCT)
        }
        ClientCommand::GetProduct { product } => {
            let v = c
                .get(&["products", &product.outer, &product.inner], &[])
                .await?;
            show_product(out, &v)
        }
        ClientCommand::AppendData {
            product,
            table,
            path,
            format,
        } => {
            let format = match format.or_else(|| DataFormat::from_path(&path)) {
                Some(f) => f,
                None => bail!(
                    "cannot tell the format of `{}` from its extension: pass --format csv|parquet|jsonl",
                    path.display()
                ),
            };
            let (body, _len) = file_body(&path).await?;
            let request = c
                .request(Method::POST, &table_path(&product, &table, "data"))?
                .query(&[("format", format.as_str())])
                .header(reqwest::header::CONTENT_TYPE, format.mime())
                .body(body);
            let v = c.send_json(request).await?;
            let msg = format!(
                "appended {} rows to `{product}.{table}` (version {})",
                output::text(&v, "rows"),
                output::text(&v, "version"),
            );
            confirm(out, &v, output::APPEND, &msg)
        }
        ClientCommand::OptimizeTable {
            product,
            table,
            cluster_by,
            no_cluster,
            bloom_filter,
            no_bloom_filters,
            target_file_mb,
        } => {
            // A list left out keeps the table's; `--no-…` sends an empty one.
            let list =
                |given: Vec<String>, none: bool| (none || !given.is_empty()).then_some(given);
            let body = serde_json::json!({
                "cluster_by": list(cluster_by, no_cluster),
                "bloom_filter_columns": list(bloom_filter, no_bloom_filters),
                "target_file_mb": target_file_mb,
            });
            let request = c
                .request(Method::POST, &table_path(&product, &table, "optimize"))?
                .json(&body);
            let v = c.send_json(request).await?;
            let field = |name: &str| output::text(&v, name);
            let named = |name: &str| match field(name) {
                n if n.is_empty() => "none".to_string(),
                n => n,
            };
            let msg = format!(
                "optimized `{product}.{table}` (version {}): {} files rewritten as {}; clustered by: {}; bloom filters: {}",
                field("version"),
                field("files_removed"),
                field("files_added"),
                named("cluster_by"),
                named("bloom_filter_columns"),
            );
            confirm(out, &v, output::OPTIMIZE, &msg)
        }
        ClientCommand::VacuumTable {
            product,
            table,
            retain_hours,
            dry_run,
        } => {
            let body = serde_json::json!({"retention_hours": retain_hours, "dry_run": dry_run});
            let request = c
                .request(Method::POST, &table_path(&product, &table, "vacuum"))?
                .json(&body);
            let v = c.send_json(request).await?;
            let field = |name: &str| output::text(&v, name);
            let msg = if dry_run {
                format!(
                    "vacuuming `{product}.{table}` would delete {} files (retention {} h); nothing was deleted",
                    field("files_deleted"),
                    field("retention_hours"),
                )
            } else {
                format!(
                    "vacuumed `{product}.{table}` (version {}): {} files deleted (retention {} h)",
                    field("version"),
                    field("files_deleted"),
                    field("retention_hours"),
                )
            };
            confirm(out, &v, output::VACUUM, &msg)
        }
        ClientCommand::DeleteDataProduct { product } => {
            let v = c
                .bare(
                    Method::DELETE,
                    &["products", &product.outer, &product.inner],
                )
                .await?;
            confirm(out, &v, &[], &format!("deleted data product `{product}`"))
        }
        ClientCommand::RequestAccess(args) => {
            let tables = (!args.tables.is_empty()).then(|| json!(args.tables));
            let body = object([
                ("product", Some(json!(args.product.to_string()))),
                ("team", args.team.map(|t| json!(t.to_string()))),
                ("tables", tables),
                (
                    "folders",
                    (!args.folders.is_empty()).then(|| json!(args.folders)),
                ),
                ("whole_product", args.whole_product.then_some(json!(true))),
                ("expires_at", args.expires.map(|e| json!(e))),
                ("reason", Some(json!(args.reason))),
                ("draft", args.draft.then_some(json!(true))),
                (
                    "forms",
                    crate::catalog::request_forms(&c, &args.forms).await?,
                ),
            ]);
            let v = c.json(Method::POST, &["shares"], &body).await?;
            show_share(out, &v)
        }
        ClientCommand::ListSubscriptions {
            status,
            product,
            requester,
        } => {
            let v = c
                .get(
                    &["shares"],
                    &[
                        ("status", status),
                        ("product", product.map(|p| p.to_string())),
                        ("requester", requester.map(|r| r.to_string())),
                    ],
                )
                .await?;
            show_list(out, &v, output::SHARE)
        }
        ClientCommand::ListPendingRequests => {
            let query = [
                ("status", Some(ShareStatus::Submitted.as_str().to_string())),
                ("pending_for_me", Some("true".to_string())),
            ];
            let v = c.get(&["shares"], &query).await?;
            show_list(out, &v, output::SHARE)
        }
        ClientCommand::GetSubscription { id } => {
            let v = c.get(&["shares", &id], &[]).await?;
            show_share(out, &v)
        }
        ClientCommand::SubmitSubscription { id } => {
            let v = c
                .json(Method::POST, &["shares", &id, "submit"], &json!({}))
                .await?;
            show_share(out, &v)
        }
        ClientCommand::ApproveSubscription {
            id,
            notes,
            no_wait,
            scope,
        } => {
            let body = object([
                ("notes", some(notes)),
                ("wait", Some(json!(!no_wait))),
                ("items", scope.items()?),
            ]);
            let v = c
                .json(Method::POST, &["shares", &id, "approve"], &body)
                .await?;
            show_share(out, &v)
        }
        ClientCommand::DenySubscription { id, notes } => {
            let body = object([("notes", some(notes))]);
            let v = c
                .json(Method::POST, &["shares", &id, "reject"], &body)
                .await?;
            show_share(out, &v)
        }
        ClientCommand::Revoke { id, items, no_wait } => {
            let items = (!items.is_empty()).then(|| json!(items));
            let body = object([("items", items), ("wait", Some(json!(!no_wait)))]);
            let v = c
                .json(Method::POST, &["shares", &id, "revoke"], &body)
                .await?;
            show_share(out, &v)
        }
        ClientCommand::ListProductAccess => {
            let me = c.get(&["whoami"], &[]).await?;
            let shares = c.get(&["shares"], &[]).await?;
            show_list(out, &product_access(&me, shares), output::PRODUCT_ACCESS)
        }
        ClientCommand::Query(args) => query(&c, out, args).await,
        ClientCommand::DataFilter(cmd) => crate::access::data_filter(&c, out, cmd).await,
        ClientCommand::RowRules(cmd) => crate::access::row_rules(&c, out, cmd).await,
        ClientCommand::Tags(cmd) => crate::access::tags(&c, out, cmd).await,
        ClientCommand::TagMask(cmd) => crate::access::tag_mask(&c, out, cmd).await,
        ClientCommand::MaskKey(cmd) => crate::access::mask_key(&c, out, cmd).await,
        ClientCommand::Catalog(cmd) => crate::catalog::run(&c, out, cmd).await,
        ClientCommand::Lifecycle(cmd) => crate::lifecycle::run(&c, out, cmd).await,
        ClientCommand::Inbox(args) => crate::notify::inbox(&c, out, args).await,
        ClientCommand::Contact(cmd) => crate::notify::contact(&c, out, cmd).await,
        ClientCommand::Webhook(cmd) => crate::notify::webhook(&c, out, cmd).await,
        ClientCommand::Recipient(cmd) => crate::recipients::recipient(&c, out, cmd).await,
        ClientCommand::Sharing(cmd) => crate::recipients::sharing(&c, out, cmd).await,
        ClientCommand::ExternalLocation(cmd) => crate::locations::run(&c, out, cmd).await,
        ClientCommand::Audit(args) => crate::audit::run(&c, out, args).await,
        ClientCommand::Alerts(args) => crate::alerts::run(&c, out, args).await,
    }
}

/// The caller's shares that give access now: requested by one of its teams (or by the
/// caller itself) with at least one item shared. Admins see every share, hence the filter.
pub fn product_access(whoami: &Value, shares: Value) -> Value {
    let me = output::principal_name(whoami);
    let teams: Vec<String> = output::lookup(whoami, "teams")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    // `whoami` names a team `domain.team` in `team`; older servers split it
                    // into `domain` and `team`.
                    let part = |k| output::lookup(t, k).map(output::cell).unwrap_or_default();
                    match part("domain") {
                        d if d.is_empty() => part("team"),
                        d => format!("{d}.{}", part("team")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mine = |share: &Value| {
        let team = output::lookup(share, "requester_team").and_then(Value::as_str);
        let principal = output::lookup(share, "requester_principal").and_then(Value::as_str);
        team.is_some_and(|t| teams.iter().any(|m| m == t))
            || (!me.is_empty() && principal == Some(me.as_str()))
    };
    let shared = |share: &Value| {
        output::lookup(share, "summary.shared")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 0)
    };
    match shares {
        Value::Array(items) => {
            Value::Array(items.into_iter().filter(|s| mine(s) && shared(s)).collect())
        }
        other => other,
    }
}

/// `products/{domain}/{product}/tables/{table}/{leaf}`: the path of a table's operations.
fn table_path<'a>(product: &'a Qualified, table: &'a str, leaf: &'a str) -> [&'a str; 6] {
    [
        "products",
        &product.outer,
        &product.inner,
        "tables",
        table,
        leaf,
    ]
}

#[cfg(test)]
mod tests;
