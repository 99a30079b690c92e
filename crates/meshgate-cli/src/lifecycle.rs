//! Verbs for the rest of the share lifecycle (docs/design/LIFECYCLE.md §Personas and verbs): adding and
//! removing items, modifying a processed item, extensions, the consumer's local name,
//! archiving, verification and re-application, processor logs and a product's share
//! settings.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::args::{Qualified, parse_product};
use crate::client::Client;
use crate::output::{Column, OutputFormat, show_list, show_record};

/// A share item's log lines.
const SHARE_LOG: &[Column] = &[
    Column::path("seq", "seq"),
    Column::path("at", "at"),
    Column::path("job", "job"),
    Column::path("level", "level"),
    Column::path("message", "message"),
];

const SHARE_SETTINGS: &[Column] = &[
    Column::path("expiry_required", "expiry_required"),
    Column::path("min_days", "min_days"),
    Column::path("max_days", "max_days"),
    Column::path("auto_approve_domains", "auto_approve.requester_domains"),
    Column::path("auto_approve_when_public", "auto_approve.when_public"),
];

const BULK_VERIFY: &[Column] = &[
    Column::path("shares", "shares"),
    Column::path("items", "items"),
    Column::path("healthy", "healthy"),
    Column::path("unhealthy", "unhealthy"),
    Column::path("reapply_enqueued", "reapply_enqueued"),
];

/// A time: RFC 3339 (`2027-01-31T00:00:00Z`), or a duration from now (`30d`, `12h`).
pub fn parse_when(s: &str) -> Result<String, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc).to_rfc3339());
    }
    let secs = crate::args::parse_duration(s).map_err(|_| {
        format!(
            "expected a time (2027-01-31T00:00:00Z) or a duration from now (30d, 12h), got `{s}`"
        )
    })?;
    let secs = i64::try_from(secs).map_err(|_| format!("`{s}` is too far away"))?;
    let at = chrono::Utc::now() + chrono::Duration::seconds(secs);
    Ok(at.to_rfc3339())
}

/// Items to add to a share.
#[derive(clap::Args, Debug)]
pub struct AddItemsArgs {
    /// the share id
    id: String,
    /// add this table (repeatable)
    #[arg(long = "table", value_name = "T")]
    tables: Vec<String>,
    /// add this folder (file prefix) of the product (repeatable)
    #[arg(long = "folder", value_name = "PREFIX")]
    folders: Vec<String>,
    /// add the whole product (every table and file)
    #[arg(long)]
    whole_product: bool,
}

/// Narrowing of a processed table item (`modify-subscription`).
#[derive(clap::Args, Debug)]
pub struct ModifyArgs {
    /// the share id
    id: String,
    /// the item id (see `get-subscription`)
    #[arg(long)]
    item: String,
    /// attach this data filter of the table (repeatable; none: all rows)
    #[arg(long = "filter", value_name = "NAME")]
    filters: Vec<String>,
    /// keep only these columns (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "C1,C2")]
    columns: Option<Vec<String>>,
    /// mask a column: COLUMN=MASK, e.g. email=redact (repeatable)
    #[arg(long = "mask", value_name = "COLUMN=MASK")]
    masks: Vec<String>,
    /// notes recorded with the change
    #[arg(long)]
    notes: Option<String>,
}

/// An extension request.
#[derive(clap::Args, Debug)]
pub struct ExtendArgs {
    /// the share id
    id: String,
    /// the new expiry: a time or a duration from now (`90d`)
    #[arg(long, value_parser = parse_when)]
    until: String,
    /// why the access should last longer
    #[arg(long)]
    reason: String,
}

/// A product's share settings.
#[derive(clap::Subcommand, Debug)]
pub enum ShareSettingsCommand {
    /// show a product's share settings
    Get {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
    },
    /// replace a product's share settings (owners and stewards)
    Set {
        #[arg(value_name = "DOMAIN.PRODUCT", value_parser = parse_product)]
        product: Qualified,
        /// every request must ask for an expiry
        #[arg(long)]
        expiry_required: bool,
        /// shortest share a request may ask for, in days
        #[arg(long)]
        min_days: Option<u32>,
        /// longest share a request may ask for, in days
        #[arg(long)]
        max_days: Option<u32>,
        /// approve requests from teams of this domain at once (repeatable)
        #[arg(long = "auto-approve-domain", value_name = "DOMAIN")]
        auto_approve_domains: Vec<String>,
        /// approve requests at once while the product is classified `public`
        #[arg(long)]
        auto_approve_when_public: bool,
    },
}

/// The lifecycle verbs, flattened into the top-level command list.
#[derive(clap::Subcommand, Debug)]
pub enum LifecycleCommand {
    /// add tables, folders or the whole product to a subscription (it returns to draft)
    AddItems(AddItemsArgs),
    /// remove an item that gives nothing (pending, rejected, failed or revoked)
    RemoveItem {
        /// the share id
        id: String,
        /// the item id
        item: String,
    },
    /// change what a processed table item gives: data filters, columns, masks (producers)
    ModifySubscription(ModifyArgs),
    /// choose the local schema name under which the subscription's tables appear in your SQL
    /// (consumers)
    FinalizeSubscription {
        /// the share id
        id: String,
        /// the schema name, e.g. `crm` → `SELECT … FROM crm.customers`
        #[arg(long)]
        local_name: String,
    },
    /// ask for a later expiry (consumers)
    Extend(ExtendArgs),
    /// approve an extension request (producers)
    ApproveExtension {
        id: String,
        #[arg(long)]
        notes: Option<String>,
    },
    /// reject an extension request (producers)
    RejectExtension {
        id: String,
        #[arg(long)]
        notes: Option<String>,
    },
    /// withdraw your extension request (consumers)
    CancelExtension { id: String },
    /// delete (archive) a subscription with a reason; the record stays readable
    DeleteSubscription {
        /// the share id
        id: String,
        #[arg(long)]
        reason: String,
        /// revoke what is still shared first
        #[arg(long)]
        force: bool,
    },
    /// check that a subscription's grants are what its items should give (health)
    Verify {
        /// the share id; or `--product` to verify every share of a product
        #[arg(required_unless_present = "product")]
        id: Option<String>,
        /// verify every shared item of this product at once (producers)
        #[arg(long, value_name = "DOMAIN.PRODUCT", value_parser = parse_product, conflicts_with = "id")]
        product: Option<Qualified>,
        /// with --product: also re-apply the unhealthy shares
        #[arg(long, requires = "product")]
        reapply: bool,
    },
    /// re-make the grants of a subscription's unhealthy items (producers)
    Reapply {
        /// the share id
        id: String,
    },
    /// the processors' log lines for a subscription
    ShareLogs {
        /// the share id
        id: String,
        /// only lines after this sequence number
        #[arg(long)]
        after: Option<i64>,
    },
    /// a product's rules for shares: expiry and auto-approval
    #[command(subcommand)]
    ShareSettings(ShareSettingsCommand),
}

pub async fn run(c: &Client, out: OutputFormat, cmd: LifecycleCommand) -> Result<()> {
    match cmd {
        LifecycleCommand::AddItems(a) => {
            if a.tables.is_empty() && a.folders.is_empty() && !a.whole_product {
                bail!("name what to add: --table, --folder or --whole-product");
            }
            let body = json!({
                "tables": (!a.tables.is_empty()).then_some(&a.tables),
                "folders": a.folders,
                "whole_product": a.whole_product,
            });
            let v = c
                .json(Method::POST, &["shares", &a.id, "items"], &body)
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::RemoveItem { id, item } => {
            let v = c
                .bare(Method::DELETE, &["shares", &id, "items", &item])
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::ModifySubscription(a) => {
            let mut masks = BTreeMap::new();
            for m in &a.masks {
                let Some((col, mask)) = m.split_once('=') else {
                    bail!("--mask expects COLUMN=MASK, got `{m}`");
                };
                masks.insert(col.to_string(), json!(mask));
            }
            let body = json!({
                "data_filters": a.filters,
                "columns": a.columns,
                "masks": masks,
                "notes": a.notes,
            });
            let v = c
                .json(
                    Method::POST,
                    &["shares", &a.id, "items", &a.item, "modify"],
                    &body,
                )
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::FinalizeSubscription { id, local_name } => {
            let v = c
                .json(
                    Method::POST,
                    &["shares", &id, "finalize"],
                    &json!({"local_name": local_name}),
                )
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::Extend(a) => {
            let v = c
                .json(
                    Method::POST,
                    &["shares", &a.id, "extend"],
                    &json!({"expires_at": a.until, "reason": a.reason}),
                )
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::ApproveExtension { id, notes } => {
            extension(c, out, &id, "approve", notes).await
        }
        LifecycleCommand::RejectExtension { id, notes } => {
            extension(c, out, &id, "reject", notes).await
        }
        LifecycleCommand::CancelExtension { id } => extension(c, out, &id, "cancel", None).await,
        LifecycleCommand::DeleteSubscription { id, reason, force } => {
            let v = c
                .json(
                    Method::DELETE,
                    &["shares", &id],
                    &json!({"reason": reason, "force": force}),
                )
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::Verify {
            id,
            product,
            reapply,
        } => match (id, product) {
            (_, Some(p)) => {
                let path = format!("products/{}/{}/verify", p.outer, p.inner);
                let segments: Vec<&str> = path.split('/').collect();
                let mut req = c.request(Method::POST, &segments)?;
                if reapply {
                    req = req.query(&[("reapply", "true")]);
                }
                let v = c.send_json(req).await?;
                show_record(out, &v, BULK_VERIFY)
            }
            (Some(id), None) => {
                let v = c
                    .json(Method::POST, &["shares", &id, "verify"], &json!({}))
                    .await?;
                crate::output::show_share(out, &v)
            }
            (None, None) => bail!("name a share, or a product with --product"),
        },
        LifecycleCommand::Reapply { id } => {
            let v = c
                .json(Method::POST, &["shares", &id, "reapply"], &json!({}))
                .await?;
            crate::output::show_share(out, &v)
        }
        LifecycleCommand::ShareLogs { id, after } => {
            let v = c
                .get(
                    &["shares", &id, "logs"],
                    &[("after", after.map(|a| a.to_string()))],
                )
                .await?;
            show_list(out, &v, SHARE_LOG)
        }
        LifecycleCommand::ShareSettings(ShareSettingsCommand::Get { product }) => {
            let v = c
                .get(
                    &["products", &product.outer, &product.inner, "share-settings"],
                    &[],
                )
                .await?;
            show_record(out, &v, SHARE_SETTINGS)
        }
        LifecycleCommand::ShareSettings(ShareSettingsCommand::Set {
            product,
            expiry_required,
            min_days,
            max_days,
            auto_approve_domains,
            auto_approve_when_public,
        }) => {
            let body = json!({
                "expiry_required": expiry_required,
                "min_days": min_days,
                "max_days": max_days,
                "auto_approve": {
                    "requester_domains": auto_approve_domains,
                    "when_public": auto_approve_when_public,
                },
            });
            let v = c
                .json(
                    Method::PUT,
                    &["products", &product.outer, &product.inner, "share-settings"],
                    &body,
                )
                .await?;
            show_record(out, &v, SHARE_SETTINGS)
        }
    }
}

async fn extension(
    c: &Client,
    out: OutputFormat,
    id: &str,
    decision: &str,
    notes: Option<String>,
) -> Result<()> {
    let body: Value = json!({ "notes": notes });
    let v = c
        .json(Method::POST, &["shares", id, "extension", decision], &body)
        .await?;
    crate::output::show_share(out, &v)
}
