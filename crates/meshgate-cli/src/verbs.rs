//! The persona verbs of LIFECYCLE.md ("Personas and verbs"), each one REST call (or two) of
//! `docs/API.md` and a printout.
//!
//! Arguments are checked for shape here (`DOMAIN.PRODUCT`, `NAME=PATH`, file formats) so a
//! typo fails before any upload starts; what names are valid and who may act is the
//! server's to decide.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::builder::PossibleValuesParser;
use meshgate_core::lifecycle::ShareStatus;
use meshgate_core::model::{PrincipalKind, TeamRole};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::client::Client;
use crate::output::{self, Column, OrderedRow, OutputFormat};

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
    /// read the audit log (mesh admins)
    Audit {
        /// only events after this sequence number
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// only events by this principal
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
        /// only actions starting with this prefix, e.g. `share.`
        #[arg(long, value_name = "PREFIX")]
        action: Option<String>,
        /// only events about this object id
        #[arg(long, value_name = "ID")]
        object: Option<String>,
        /// at most this many events
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum DomainCommand {
    /// create a domain
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// the domain may publish data products (the default)
        #[arg(long, overrides_with = "no_producer")]
        producer: bool,
        /// the domain may not publish data products
        #[arg(long, overrides_with = "producer")]
        no_producer: bool,
        /// the domain may request access to data products (the default)
        #[arg(long, overrides_with = "no_consumer")]
        consumer: bool,
        /// the domain may not request access to data products
        #[arg(long, overrides_with = "consumer")]
        no_consumer: bool,
        /// make it a unit of this domain (rules of the parent may apply to it)
        #[arg(long)]
        parent: Option<String>,
    },
    /// list domains
    List,
    /// make a domain a unit of another (without PARENT: a top-level domain)
    SetParent {
        name: String,
        parent: Option<String>,
    },
    /// let a domain publish (`--producer`) and/or consume (`--consumer`)
    Enable(DomainRoles),
    /// stop a domain from publishing (`--producer`) and/or consuming (`--consumer`)
    Disable(DomainRoles),
}

#[derive(clap::Args, Debug)]
pub struct DomainRoles {
    name: String,
    /// the producer role
    #[arg(long)]
    producer: bool,
    /// the consumer role
    #[arg(long)]
    consumer: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum TeamCommand {
    /// create a team in a domain
    Create {
        domain: String,
        team: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// list the teams of a domain
    List { domain: String },
    /// add a principal to a team, or change its role
    AddMember {
        domain: String,
        team: String,
        principal: String,
        /// owners and stewards approve requests for the team's products
        #[arg(long, value_parser = PossibleValuesParser::new(TeamRole::ALL.iter().map(|r| r.as_str())))]
        role: String,
    },
    /// remove a principal from a team
    RemoveMember {
        domain: String,
        team: String,
        principal: String,
    },
    /// list a team's members and their roles
    Members { domain: String, team: String },
}

#[derive(clap::Subcommand, Debug)]
pub enum PrincipalCommand {
    /// create a user, group or service principal
    Create {
        name: String,
        #[arg(long, value_parser = PossibleValuesParser::new(PrincipalKind::ALL.iter().map(|k| k.as_str())))]
        kind: String,
        #[arg(long)]
        display_name: Option<String>,
        /// make the principal a mesh admin
        #[arg(long)]
        admin: bool,
    },
    /// list principals
    List,
}

#[derive(clap::Subcommand, Debug)]
pub enum GroupCommand {
    /// add a principal to a group
    AddMember { group: String, principal: String },
    /// remove a principal from a group
    RemoveMember { group: String, principal: String },
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// create a token (shown only once)
    Create {
        /// for this principal (default: yourself; admins only for others)
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
        /// a label to recognise the token by
        #[arg(long, value_name = "N")]
        name: Option<String>,
        /// days until it expires (default 90; 0 = never)
        #[arg(long, value_name = "D")]
        expires_in_days: Option<u32>,
    },
    /// list tokens (without their secrets)
    List {
        /// of this principal (default: yourself)
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
    },
    /// revoke a token
    Revoke { id: String },
}

#[derive(clap::Args, Debug)]
pub struct CreateDataProductArgs {
    #[arg(long)]
    domain: String,
    /// the owning team (its owners and stewards approve requests)
    #[arg(long)]
    team: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    description: Option<String>,
    /// upload a file as table NAME (repeatable; `.csv`, `.parquet`, `.jsonl`, `.json`)
    #[arg(long = "table", value_name = "NAME=PATH", value_parser = parse_table_file)]
    tables: Vec<(String, PathBuf)>,
    /// register an existing delta table as table NAME (repeatable)
    #[arg(long = "register", value_name = "NAME=DELTA_URL", value_parser = parse_table_location)]
    registers: Vec<(String, String)>,
    /// create it as a catalog draft (visible to its team only) instead of publishing it
    #[arg(long)]
    draft: bool,
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

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["sql", "sql_file"])))]
pub struct QueryArgs {
    /// the SQL to run
    sql: Option<String>,
    /// read the SQL from this file (`-` for stdin)
    #[arg(long, value_name = "PATH")]
    sql_file: Option<PathBuf>,
    /// stream the result in this format as the server sends it (default: from `--output`)
    #[arg(long, value_enum)]
    format: Option<QueryFormat>,
}

/// Formats of data files the server ingests.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    Csv,
    Parquet,
    Jsonl,
}

impl DataFormat {
    /// The format a file's extension names, as the server reads it.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            "jsonl" | "json" => Some(Self::Jsonl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Jsonl => "jsonl",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Parquet => "application/vnd.apache.parquet",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

/// Formats of query results.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryFormat {
    Json,
    Csv,
    Arrow,
}

impl QueryFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Arrow => "arrow",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv",
            Self::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// A two-part name such as `domain.product` or `domain.team`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualified {
    pub outer: String,
    pub inner: String,
}

impl std::fmt::Display for Qualified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.outer, self.inner)
    }
}

fn parse_qualified(shape: &str, example: &str, s: &str) -> Result<Qualified, String> {
    match s.split_once('.') {
        Some((outer, inner)) if !outer.is_empty() && !inner.is_empty() && !inner.contains('.') => {
            Ok(Qualified {
                outer: outer.to_string(),
                inner: inner.to_string(),
            })
        }
        _ => Err(format!("expected `{shape}`, for example `{example}`")),
    }
}

/// Parses `DOMAIN.PRODUCT`.
pub fn parse_product(s: &str) -> Result<Qualified, String> {
    parse_qualified("DOMAIN.PRODUCT", "sales.orders", s)
}

/// Parses `DOMAIN.TEAM`.
pub fn parse_team(s: &str) -> Result<Qualified, String> {
    parse_qualified("DOMAIN.TEAM", "sales.analytics", s)
}

fn split_assignment<'a>(shape: &str, s: &'a str) -> Result<(&'a str, &'a str), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => Ok((name, value)),
        _ => Err(format!("expected `{shape}`")),
    }
}

/// Parses `NAME=PATH` of `--table`.
pub fn parse_table_file(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = split_assignment("NAME=PATH, for example `orders=./orders.csv`", s)?;
    Ok((name.to_string(), PathBuf::from(path)))
}

/// Parses `NAME=DELTA_URL` of `--register`.
pub fn parse_table_location(s: &str) -> Result<(String, String), String> {
    let (name, url) =
        split_assignment("NAME=DELTA_URL, for example `orders=s3://bucket/orders`", s)?;
    Ok((name.to_string(), url.to_string()))
}

fn share_statuses() -> PossibleValuesParser {
    PossibleValuesParser::new(ShareStatus::ALL.iter().map(|s| s.as_str()))
}

/// A JSON object of the fields that are present.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// `Some(true)` for `--x`, `Some(false)` for `--no-x`, `None` (the server's default) for
/// neither.
fn switch(on: bool, off: bool) -> Option<Value> {
    match (on, off) {
        (true, _) => Some(Value::Bool(true)),
        (_, true) => Some(Value::Bool(false)),
        _ => None,
    }
}

fn some<T: Into<Value>>(v: Option<T>) -> Option<Value> {
    v.map(Into::into)
}

/// Runs one client verb against the server in `opts`.
pub async fn run(opts: &ClientOpts, cmd: ClientCommand) -> Result<()> {
    let c = Client::new(&opts.url, opts.token.as_deref())?;
    let out = opts.output;
    match cmd {
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
                .request(
                    Method::POST,
                    &[
                        "products",
                        &product.outer,
                        &product.inner,
                        "tables",
                        &table,
                        "data",
                    ],
                )?
                .query(&[("format", format.as_str())])
                .header(reqwest::header::CONTENT_TYPE, format.mime())
                .body(body);
            let v = c.send_json(request).await?;
            let msg = format!(
                "appended {} rows to `{product}.{table}` (version {})",
                output::lookup(&v, "rows")
                    .map(output::cell)
                    .unwrap_or_default(),
                output::lookup(&v, "version")
                    .map(output::cell)
                    .unwrap_or_default(),
            );
            confirm(out, &v, output::APPEND, &msg)
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
        ClientCommand::Audit {
            after,
            actor,
            action,
            object,
            limit,
        } => {
            let query = [
                ("after", after.map(|a| a.to_string())),
                ("actor", actor),
                ("action", action),
                ("object", object),
                ("limit", limit.map(|l| l.to_string())),
            ];
            let v = c.get(&["audit"], &query).await?;
            show_list(out, &v, output::AUDIT)
        }
    }
}

async fn domain(c: &Client, out: OutputFormat, cmd: DomainCommand) -> Result<()> {
    match cmd {
        DomainCommand::Create {
            name,
            description,
            producer,
            no_producer,
            consumer,
            no_consumer,
            parent,
        } => {
            let body = object([
                ("name", Some(json!(name))),
                ("description", some(description)),
                ("producer", switch(producer, no_producer)),
                ("consumer", switch(consumer, no_consumer)),
                ("parent", some(parent)),
            ]);
            let v = c.json(Method::POST, &["domains"], &body).await?;
            show_record(out, &v, output::DOMAIN)
        }
        DomainCommand::List => {
            let v = c.get(&["domains"], &[]).await?;
            show_list(out, &v, output::DOMAIN)
        }
        DomainCommand::SetParent { name, parent } => {
            let v = c
                .json(
                    Method::PUT,
                    &["domains", &name, "parent"],
                    &json!({ "parent": parent }),
                )
                .await?;
            show_record(out, &v, output::DOMAIN)
        }
        DomainCommand::Enable(roles) => set_roles(c, out, roles, true).await,
        DomainCommand::Disable(roles) => set_roles(c, out, roles, false).await,
    }
}

async fn set_roles(c: &Client, out: OutputFormat, roles: DomainRoles, on: bool) -> Result<()> {
    if !roles.producer && !roles.consumer {
        let verb = if on { "enable" } else { "disable" };
        bail!("nothing to {verb}: pass --producer, --consumer or both");
    }
    let body = object([
        ("producer", roles.producer.then_some(json!(on))),
        ("consumer", roles.consumer.then_some(json!(on))),
    ]);
    let v = c
        .json(Method::PATCH, &["domains", &roles.name], &body)
        .await?;
    show_record(out, &v, output::DOMAIN)
}

async fn team(c: &Client, out: OutputFormat, cmd: TeamCommand) -> Result<()> {
    match cmd {
        TeamCommand::Create {
            domain,
            team,
            description,
        } => {
            let body = object([
                ("name", Some(json!(team))),
                ("description", some(description)),
            ]);
            let v = c
                .json(Method::POST, &["domains", &domain, "teams"], &body)
                .await?;
            show_record(out, &v, output::TEAM)
        }
        TeamCommand::List { domain } => {
            let v = c.get(&["domains", &domain, "teams"], &[]).await?;
            show_list(out, &v, output::TEAM)
        }
        TeamCommand::AddMember {
            domain,
            team,
            principal,
            role,
        } => {
            let path = ["domains", &domain, "teams", &team, "members", &principal];
            let v = c.json(Method::PUT, &path, &json!({ "role": role })).await?;
            show_list(out, &v, output::MEMBER)
        }
        TeamCommand::RemoveMember {
            domain,
            team,
            principal,
        } => {
            let path = ["domains", &domain, "teams", &team, "members", &principal];
            let v = c.bare(Method::DELETE, &path).await?;
            let msg = format!("removed `{principal}` from team `{domain}.{team}`");
            confirm(out, &v, &[], &msg)
        }
        TeamCommand::Members { domain, team } => {
            let path = ["domains", &domain, "teams", &team, "members"];
            let v = c.get(&path, &[]).await?;
            show_list(out, &v, output::MEMBER)
        }
    }
}

async fn principal(c: &Client, out: OutputFormat, cmd: PrincipalCommand) -> Result<()> {
    match cmd {
        PrincipalCommand::Create {
            name,
            kind,
            display_name,
            admin,
        } => {
            let body = object([
                ("name", Some(json!(name))),
                ("kind", Some(json!(kind))),
                ("display_name", some(display_name)),
                ("admin", admin.then_some(json!(true))),
            ]);
            let v = c.json(Method::POST, &["principals"], &body).await?;
            show_record(out, &v, output::PRINCIPAL)
        }
        PrincipalCommand::List => {
            let v = c.get(&["principals"], &[]).await?;
            show_list(out, &v, output::PRINCIPAL)
        }
    }
}

async fn group(c: &Client, out: OutputFormat, cmd: GroupCommand) -> Result<()> {
    let (method, group, principal, msg) = match cmd {
        GroupCommand::AddMember { group, principal } => {
            let msg = format!("added `{principal}` to group `{group}`");
            (Method::PUT, group, principal, msg)
        }
        GroupCommand::RemoveMember { group, principal } => {
            let msg = format!("removed `{principal}` from group `{group}`");
            (Method::DELETE, group, principal, msg)
        }
    };
    let v = c
        .bare(method, &["principals", &group, "members", &principal])
        .await?;
    confirm(out, &v, &[], &msg)
}

async fn token(c: &Client, out: OutputFormat, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            principal,
            name,
            expires_in_days,
        } => {
            let body = object([
                ("principal", some(principal)),
                ("name", some(name)),
                ("expires_in_days", some(expires_in_days)),
            ]);
            let v = c.json(Method::POST, &["tokens"], &body).await?;
            show_record(out, &v, output::NEW_TOKEN)?;
            if out == OutputFormat::Table {
                output::print(
                    "this token is shown only once: store it now, e.g. `export MESHGATE_TOKEN=…`\n",
                )?;
            }
            Ok(())
        }
        TokenCommand::List { principal } => {
            let v = c.get(&["tokens"], &[("principal", principal)]).await?;
            show_list(out, &v, output::TOKEN)
        }
        TokenCommand::Revoke { id } => {
            let v = c.bare(Method::DELETE, &["tokens", &id]).await?;
            show_record(out, &v, output::TOKEN)
        }
    }
}

/// The multipart part that carries the product's JSON description; no table may take its
/// name, since file parts are named by their table.
const PRODUCT_PART: &str = "product";

async fn create_data_product(
    c: &Client,
    out: OutputFormat,
    args: CreateDataProductArgs,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let names = args
        .tables
        .iter()
        .map(|(n, _)| n)
        .chain(args.registers.iter().map(|(n, _)| n));
    for name in names {
        if !seen.insert(name.as_str()) {
            bail!("table `{name}` is given twice");
        }
    }
    if seen.contains(PRODUCT_PART) {
        bail!(
            "a table cannot be named `{PRODUCT_PART}`: the upload reserves that name for the product itself; choose another"
        );
    }
    let registered: Vec<Value> = args
        .registers
        .iter()
        .map(|(name, location)| json!({ "name": name, "location": location }))
        .collect();
    let product = object([
        ("domain", Some(json!(args.domain))),
        ("team", Some(json!(args.team))),
        ("name", Some(json!(args.name))),
        ("description", some(args.description)),
        (
            "tables",
            (!registered.is_empty()).then(|| json!(registered)),
        ),
        ("draft", args.draft.then_some(json!(true))),
    ]);
    let mut form = Form::new().part(
        PRODUCT_PART,
        Part::text(product.to_string()).mime_str("application/json")?,
    );
    for (name, path) in &args.tables {
        let Some(format) = DataFormat::from_path(path) else {
            bail!(
                "cannot tell the format of `{}` (table `{name}`): use a `.csv`, `.parquet`, `.jsonl` or `.json` file",
                path.display()
            );
        };
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{name}.{}", format.as_str()));
        let (body, len) = file_body(path).await?;
        let part = Part::stream_with_length(body, len)
            .file_name(file_name)
            .mime_str(format.mime())?;
        form = form.part(name.clone(), part);
    }
    let request = c.request(Method::POST, &["products"])?.multipart(form);
    let v = c.send_json(request).await?;
    show_product(out, &v)
}

/// A streaming request body reading `path`, and the file's length.
pub(crate) async fn file_body(path: &Path) -> Result<(reqwest::Body, u64)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    let len = file
        .metadata()
        .await
        .with_context(|| format!("cannot read `{}`", path.display()))?
        .len();
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((reqwest::Body::wrap_stream(stream), len))
}

async fn query(c: &Client, out: OutputFormat, args: QueryArgs) -> Result<()> {
    let sql = match (args.sql, args.sql_file) {
        (Some(sql), _) => sql,
        (None, Some(path)) if path.as_os_str() == "-" => {
            tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin()))
                .await
                .context("cannot read the SQL from stdin")?
                .context("cannot read the SQL from stdin")?
        }
        (None, Some(path)) => tokio::fs::read_to_string(&path)
            .await
            .with_context(|| format!("cannot read `{}`", path.display()))?,
        (None, None) => bail!("pass the SQL, or --sql-file PATH"),
    };
    let stream_format = match (args.format, out) {
        (Some(f), _) => Some(f),
        (None, OutputFormat::Json) => Some(QueryFormat::Json),
        (None, OutputFormat::Csv) => Some(QueryFormat::Csv),
        (None, OutputFormat::Table | OutputFormat::Id) => None,
    };
    match stream_format {
        Some(format) => {
            if format == QueryFormat::Arrow && std::io::stdout().is_terminal() {
                bail!("refusing to write arrow data to a terminal: redirect stdout to a file");
            }
            let request = c
                .request(Method::POST, &["query"])?
                .header(reqwest::header::ACCEPT, format.mime())
                .json(&json!({ "sql": sql, "format": format.as_str() }));
            let response = c.send(request).await?;
            c.copy_body(response, &mut tokio::io::stdout()).await
        }
        None => {
            let request = c
                .request(Method::POST, &["query"])?
                .json(&json!({ "sql": sql, "format": QueryFormat::Json.as_str() }));
            let response = c.send(request).await?;
            let body = c.read_body(response).await?;
            let rows: Vec<OrderedRow> = serde_json::from_slice(&body)
                .context("the server answered the query with invalid json")?;
            let noun = if rows.len() == 1 { "row" } else { "rows" };
            output::print(&format!(
                "{}({} {noun})\n",
                output::query_table(&rows),
                rows.len()
            ))
        }
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

pub(crate) fn show_list(out: OutputFormat, v: &Value, columns: &[Column]) -> Result<()> {
    output::print(&output::render_list(out, v, columns)?)
}

pub(crate) fn show_record(out: OutputFormat, v: &Value, columns: &[Column]) -> Result<()> {
    output::print(&output::render_record(out, v, columns)?)
}

/// A record, then (in a table) one of its nested lists.
fn show_nested(
    out: OutputFormat,
    v: &Value,
    columns: &[Column],
    list: &str,
    list_columns: &[Column],
) -> Result<()> {
    let mut text = output::render_record(out, v, columns)?;
    if out == OutputFormat::Table {
        let empty = Value::Array(Vec::new());
        let items = output::lookup(v, list).unwrap_or(&empty);
        text.push_str(&output::render_list(out, items, list_columns)?);
    }
    output::print(&text)
}

fn show_product(out: OutputFormat, v: &Value) -> Result<()> {
    show_nested(
        out,
        v,
        output::PRODUCT_DETAIL,
        "tables",
        output::PRODUCT_TABLE,
    )
}

pub(crate) fn show_share(out: OutputFormat, v: &Value) -> Result<()> {
    show_nested(out, v, output::SHARE_DETAIL, "items", output::SHARE_ITEM)
}

/// A sentence for people; the response for scripts (a CSV row only when it has columns).
fn confirm(out: OutputFormat, v: &Value, columns: &[Column], msg: &str) -> Result<()> {
    match out {
        OutputFormat::Table => output::print(&format!("{msg}\n")),
        OutputFormat::Csv if columns.is_empty() => Ok(()),
        OutputFormat::Csv | OutputFormat::Json | OutputFormat::Id => show_list(out, v, columns),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// The client verbs as the binary parses them (the other modules' tests use it too).
    #[derive(Parser, Debug)]
    pub(crate) struct TestCli {
        #[command(flatten)]
        pub opts: ClientOpts,
        #[command(subcommand)]
        pub cmd: ClientCommand,
    }

    pub(crate) fn parse(args: &[&str]) -> Result<TestCli, clap::Error> {
        TestCli::try_parse_from(std::iter::once("meshgate").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_consistent() {
        TestCli::command().debug_assert();
    }

    #[test]
    fn parses_product_and_team_refs() {
        assert_eq!(
            parse_product("sales.orders"),
            Ok(Qualified {
                outer: "sales".into(),
                inner: "orders".into()
            })
        );
        assert_eq!(parse_team("a.b").unwrap().to_string(), "a.b");
        for bad in ["sales", ".orders", "sales.", "a.b.c", ""] {
            let err = parse_product(bad).unwrap_err();
            assert!(err.contains("DOMAIN.PRODUCT"), "{bad}: {err}");
        }
    }

    #[test]
    fn parses_name_assignments() {
        assert_eq!(
            parse_table_file("orders=data/orders.csv").unwrap(),
            ("orders".to_string(), PathBuf::from("data/orders.csv"))
        );
        // Only the first `=` splits: paths and URLs may contain more.
        assert_eq!(
            parse_table_location("t=s3://b/p?x=1").unwrap(),
            ("t".to_string(), "s3://b/p?x=1".to_string())
        );
        for bad in ["orders", "=x.csv", "orders="] {
            assert!(parse_table_file(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_come_from_extensions() {
        let f = |p: &str| DataFormat::from_path(Path::new(p));
        assert_eq!(f("a/b.CSV"), Some(DataFormat::Csv));
        assert_eq!(f("b.parquet"), Some(DataFormat::Parquet));
        assert_eq!(f("b.json"), Some(DataFormat::Jsonl));
        assert_eq!(f("b.jsonl"), Some(DataFormat::Jsonl));
        assert_eq!(f("b.txt"), None);
        assert_eq!(f("b"), None);
    }

    #[test]
    fn parses_verbs() {
        let cli = parse(&[
            "-o",
            "json",
            "create-data-product",
            "--domain",
            "sales",
            "--team",
            "core",
            "--name",
            "orders",
            "--table",
            "lines=l.csv",
            "--table",
            "heads=h.parquet",
            "--register",
            "old=s3://b/old",
        ])
        .unwrap();
        assert_eq!(cli.opts.output, OutputFormat::Json);
        let ClientCommand::CreateDataProduct(args) = cli.cmd else {
            unreachable!("parsed as {:?}", cli.cmd)
        };
        assert_eq!(args.tables.len(), 2);
        assert_eq!(args.registers[0].1, "s3://b/old");

        // Global options may follow the verb.
        let cli = parse(&["domain", "create", "ops", "--no-producer", "--token", "t"]).unwrap();
        assert_eq!(cli.opts.token.as_deref(), Some("t"));
        let ClientCommand::Domain(DomainCommand::Create {
            producer,
            no_producer,
            consumer,
            no_consumer,
            ..
        }) = cli.cmd
        else {
            unreachable!("parsed as {:?}", cli.cmd)
        };
        assert_eq!(switch(producer, no_producer), Some(json!(false)));
        assert_eq!(switch(consumer, no_consumer), None);

        assert!(parse(&["team", "add-member", "d", "t", "p", "--role", "boss"]).is_err());
        assert!(parse(&["list-subscriptions", "--status", "pending"]).is_err());
        assert!(parse(&["get-product", "orders"]).is_err());
        assert!(parse(&["query"]).is_err());
        assert!(parse(&["query", "select 1", "--sql-file", "q.sql"]).is_err());
        assert!(parse(&["revoke", "s1", "--item", "i1", "--item", "i2", "--no-wait"]).is_ok());
    }

    #[test]
    fn object_skips_absent_fields() {
        let v = object([("a", Some(json!(1))), ("b", None), ("c", some(Some("x")))]);
        assert_eq!(v, json!({"a": 1, "c": "x"}));
    }

    #[test]
    fn product_access_keeps_my_shared_shares() {
        let me = json!({"principal": "ann", "teams": [{"domain": "ops", "team": "bi", "role": "member"}], "groups": []});
        let shares = json!([
            {"id": "mine", "requester_team": "ops.bi", "summary": {"shared": 1}},
            {"id": "mine_unshared", "requester_team": "ops.bi", "summary": {"shared": 0}},
            {"id": "other_team", "requester_team": "ops.fin", "summary": {"shared": 3}},
            {"id": "mine_as_principal", "requester_team": null, "requester_principal": "ann", "summary": {"shared": 2}}
        ]);
        let ids: Vec<String> = product_access(&me, shares)
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["mine", "mine_as_principal"]);
        // the server's `whoami` shape: the team qualified in one field
        let me = json!({"principal": {"name": "ann"}, "teams": [{"team": "ops.bi", "role": "member"}], "groups": []});
        let shares = json!([
            {"id": "mine", "requester_team": "ops.bi", "summary": {"shared": 1}},
            {"id": "other_team", "requester_team": "ops.fin", "summary": {"shared": 3}}
        ]);
        assert_eq!(product_access(&me, shares).as_array().unwrap().len(), 1);
    }
}
