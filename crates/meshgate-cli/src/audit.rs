//! `meshgate audit …`: read the audit log (mesh admins), verify its hash chain and signed
//! digests, export its closed segments, see and replay its stream to SIEM sinks
//! (docs/design/AUDIT.md).
//!
//! Verification happens here, in the client, with the same code the server links events with
//! (`meshgate_core::audit_chain`): the server only hands over the chain, the events outside it,
//! the digests and the public keys, and a key pinned with `--public-key` need not come from
//! the server at all. Exported segments verify without a server.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures::TryStreamExt;
use meshgate_core::audit_chain::{AuditDigest, AuditKey, ChainHead, Report, Verifier};
use meshgate_core::model::AuditEvent;
use meshgate_engine::files::ProductFiles;
use serde::Deserialize;
use url::Url;

use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

/// A page of events or digests, as the server caps it.
const PAGE: usize = 1000;

const KEY: &[Column] = &[
    Column::path("id", "id"),
    Column::path("public_key", "public_key"),
    Column::path("created_at", "created_at"),
];

// The audit log (mesh admins and auditors).
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub list: ListArgs,
}

// Which events `meshgate audit` lists.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
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
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// check the hash chain and the signed digests; names the first event that was changed,
    /// deleted or inserted, and exits 0 only when the log is intact
    Verify {
        /// start at this chain position (its link to the one before is taken as given)
        #[arg(long, value_name = "POS")]
        from: Option<i64>,
        /// stop at this chain position (default: the end of the chain)
        #[arg(long, value_name = "POS")]
        to: Option<i64>,
        /// trust only the keys in this file (`meshgate audit keys -o json`, or one base64 key)
        /// instead of those the server lists
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// verify the segments exported to this directory or URL instead of the server's log
        #[arg(long, value_name = "DIR|URL")]
        dir: Option<String>,
    },
    /// write the closed segments (each range a digest signs) as NDJSON with their digests and
    /// the public keys, to a directory or an object-store URL; segments already there are kept
    Export {
        /// a local directory, or a URL (`s3://bucket/prefix`, `file:///…`)
        #[arg(long, value_name = "DIR|URL")]
        to: String,
    },
    /// the public keys that sign digests
    Keys,
    /// the SIEM sinks of the server's configuration: where each is, how far behind, its last
    /// failure
    Sinks,
    /// deliver the stream to a sink again from a chain position on
    Replay {
        /// the sink's name
        name: String,
        /// the first position to deliver again (1: everything)
        #[arg(long, value_name = "POS")]
        from: i64,
    },
}

const SINK: &[Column] = &[
    Column::path("name", "name"),
    Column::path("kind", "kind"),
    Column::path("pos", "pos"),
    Column::path("behind", "behind"),
    Column::path("delivered_at", "delivered_at"),
    Column::path("failures", "failures"),
    Column::path("last_error", "last_error"),
];

pub async fn run(c: &Client, out: OutputFormat, args: AuditArgs) -> Result<()> {
    match args.command {
        None => list(c, out, args.list).await,
        Some(AuditCommand::Keys) => {
            let v = c.get(&["audit", "keys"], &[]).await?;
            show_list(out, &v, KEY)
        }
        Some(AuditCommand::Verify {
            from,
            to,
            public_key,
            dir,
        }) => {
            let pinned = match &public_key {
                Some(file) => Some(read_keys(file)?),
                None => None,
            };
            let report = match dir {
                Some(dir) => verify_export(&folder(&dir)?, pinned).await?,
                None => verify_online(c, from, to, pinned).await?,
            };
            print_report(&report)
        }
        Some(AuditCommand::Export { to }) => export(c, &to).await,
        Some(AuditCommand::Sinks) => {
            let v = c.get(&["audit", "sinks"], &[]).await?;
            show_list(out, &v, SINK)
        }
        Some(AuditCommand::Replay { name, from }) => {
            let v = c
                .json(
                    reqwest::Method::POST,
                    &["audit", "sinks", &name, "replay"],
                    &serde_json::json!({ "from": from }),
                )
                .await?;
            show_record(out, &v, SINK)
        }
    }
}

async fn list(c: &Client, out: OutputFormat, a: ListArgs) -> Result<()> {
    let query = [
        ("after", a.after.map(|a| a.to_string())),
        ("actor", a.actor),
        ("action", a.action),
        ("object", a.object),
        ("limit", a.limit.map(|l| l.to_string())),
    ];
    let v = c.get(&["audit"], &query).await?;
    show_list(out, &v, output::AUDIT)
}

#[derive(Deserialize)]
struct ChainPage {
    head: ChainHead,
    events: Vec<AuditEvent>,
}

async fn keys(c: &Client) -> Result<Vec<AuditKey>> {
    Ok(serde_json::from_value(
        c.get(&["audit", "keys"], &[]).await?,
    )?)
}

/// Every digest, in order.
async fn digests(c: &Client) -> Result<Vec<AuditDigest>> {
    let mut all: Vec<AuditDigest> = Vec::new();
    loop {
        let from = all.last().map_or(1, |d| d.from_pos + 1);
        let page: Vec<AuditDigest> = serde_json::from_value(
            c.get(&["audit", "digests"], &[("from", Some(from.to_string()))])
                .await?,
        )?;
        let full = page.len() >= PAGE;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Chain events from `from` to `to` (both positions), page by page, handed to `each`; the
/// head as of the first page.
async fn walk_chain(
    c: &Client,
    from: i64,
    to: Option<i64>,
    mut each: impl FnMut(&AuditEvent),
) -> Result<ChainHead> {
    let mut next = from;
    let mut head: Option<ChainHead> = None;
    loop {
        let page: ChainPage = serde_json::from_value(
            c.get(&["audit", "chain"], &[("from", Some(next.to_string()))])
                .await?,
        )?;
        let head = head.get_or_insert(page.head);
        // Events committed after the walk began are left for the next verification.
        let end = to.unwrap_or(head.pos).min(head.pos);
        let full = page.events.len() >= PAGE;
        for e in &page.events {
            let pos = e.chain.as_ref().map_or(i64::MAX, |l| l.pos);
            if pos > end {
                return Ok(head.clone());
            }
            each(e);
            next = pos + 1;
        }
        if !full {
            return Ok(head.clone());
        }
    }
}

async fn verify_online(
    c: &Client,
    from: Option<i64>,
    to: Option<i64>,
    pinned: Option<Vec<AuditKey>>,
) -> Result<Report> {
    let keys = match pinned {
        Some(k) => k,
        None => keys(c).await?,
    };
    let mut v = Verifier::new(keys, from);
    v.digests(&digests(c).await?);
    let head = walk_chain(c, from.unwrap_or(1).max(1), to, |e| v.event(e)).await?;
    let mut after = 0;
    loop {
        let page: Vec<AuditEvent> = serde_json::from_value(
            c.get(&["audit", "outside"], &[("after", Some(after.to_string()))])
                .await?,
        )?;
        for e in &page {
            v.outside(e);
            after = e.seq;
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok(v.finish(Some(to.unwrap_or(head.pos).min(head.pos)), to))
}

fn print_report(r: &Report) -> Result<()> {
    let range = match (r.first_pos, r.last_pos) {
        (Some(a), Some(b)) => format!(" (#{a} to #{b})"),
        _ => String::new(),
    };
    let unsigned = r.last_pos.map_or(0, |last| (last - r.signed_to).max(0));
    if r.intact() {
        println!(
            "audit log intact: {} events{range} checked; {} signed digests, up to #{}; {unsigned} events not yet signed",
            r.checked, r.digests, r.signed_to
        );
        return Ok(());
    }
    println!("audit log NOT intact: {} events{range} checked", r.checked);
    for p in &r.problems {
        println!("  - {p}");
    }
    Err(anyhow!(
        "the audit log was tampered with: {}",
        r.problems[0]
    ))
}

/// Keys from a file: a JSON list of keys, one key object, or one base64 public key.
fn read_keys(file: &Path) -> Result<Vec<AuditKey>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the key file `{}`", file.display()))?;
    let text = text.trim();
    if let Ok(keys) = serde_json::from_str::<Vec<AuditKey>>(text) {
        return Ok(keys);
    }
    if let Ok(key) = serde_json::from_str::<AuditKey>(text) {
        return Ok(vec![key]);
    }
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            anyhow!(
                "`{}` holds no audit key: expected the JSON of `meshgate audit keys -o json` or a base64 Ed25519 public key",
                file.display()
            )
        })?;
    Ok(vec![meshgate_core::audit_chain::public_of(
        &raw,
        chrono::Utc::now(),
    )])
}

/// An export destination: a URL, or a local directory (created if missing).
fn folder(to: &str) -> Result<ProductFiles> {
    let url = match Url::parse(to) {
        Ok(url) if url.scheme().len() > 1 => url,
        _ => {
            std::fs::create_dir_all(to).with_context(|| format!("cannot create `{to}`"))?;
            let abs = std::fs::canonicalize(to).with_context(|| format!("cannot open `{to}`"))?;
            Url::from_directory_path(&abs)
                .map_err(|()| anyhow!("`{}` is not a usable directory", abs.display()))?
        }
    };
    ProductFiles::at(url).map_err(|e| anyhow!("{e}"))
}

/// The file names of the segment a digest signs.
fn segment_name(d: &AuditDigest) -> String {
    format!("segments/{:012}-{:012}", d.from_pos, d.to_pos)
}

async fn put(files: &ProductFiles, path: &str, bytes: Vec<u8>) -> Result<()> {
    let mut upload = files.upload(path).map_err(|e| anyhow!("{e}"))?;
    upload
        .write(Bytes::from(bytes))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    upload.finish().await.map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

async fn get(files: &ProductFiles, path: &str) -> Result<Option<Vec<u8>>> {
    let Some((_, stream)) = files.read(path, None).await.map_err(|e| anyhow!("{e}"))? else {
        return Ok(None);
    };
    let chunks: Vec<Bytes> = stream.try_collect().await.map_err(|e| anyhow!("{e}"))?;
    Ok(Some(chunks.concat()))
}

async fn export(c: &Client, to: &str) -> Result<()> {
    let files = folder(to)?;
    let keys = keys(c).await?;
    put(&files, "keys.json", serde_json::to_vec_pretty(&keys)?).await?;
    let (mut written, mut kept) = (0, 0);
    for d in digests(c).await? {
        let name = segment_name(&d);
        let digest_path = format!("{name}.digest.json");
        if files
            .head(&digest_path)
            .await
            .map_err(|e| anyhow!("{e}"))?
            .is_some()
        {
            kept += 1;
            continue;
        }
        let mut lines = Vec::new();
        let mut failed = None;
        walk_chain(c, d.from_pos, Some(d.to_pos), |e| {
            if let Err(err) = serde_json::to_writer(&mut lines, e) {
                failed.get_or_insert(err);
            }
            lines.push(b'\n');
        })
        .await?;
        if let Some(err) = failed {
            bail!("cannot write segment {name}: {err}");
        }
        // The digest last: a segment is complete once its digest is there.
        put(&files, &format!("{name}.ndjson"), lines).await?;
        put(&files, &digest_path, serde_json::to_vec_pretty(&d)?).await?;
        written += 1;
    }
    println!("exported {written} segments to {to} ({kept} already there)");
    Ok(())
}

async fn verify_export(files: &ProductFiles, pinned: Option<Vec<AuditKey>>) -> Result<Report> {
    let keys = match pinned {
        Some(k) => k,
        None => match get(files, "keys.json").await? {
            Some(bytes) => serde_json::from_slice(&bytes).context("keys.json is unreadable")?,
            None => bail!("the export holds no keys.json; pass --public-key"),
        },
    };
    let mut digests: Vec<AuditDigest> = Vec::new();
    for f in files
        .list("segments/", None)
        .await
        .map_err(|e| anyhow!("{e}"))?
    {
        if f.path.ends_with(".digest.json")
            && let Some(bytes) = get(files, &f.path).await?
        {
            digests.push(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is unreadable", f.path))?,
            );
        }
    }
    if digests.is_empty() {
        bail!("the export holds no segments");
    }
    digests.sort_by_key(|d| d.from_pos);
    let mut v = Verifier::new(keys, None);
    v.digests(&digests);
    for d in &digests {
        // A missing segment shows as the events it held missing.
        let Some(bytes) = get(files, &format!("{}.ndjson", segment_name(d))).await? else {
            continue;
        };
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let event: AuditEvent = serde_json::from_slice(line).with_context(|| {
                format!("{} holds a line that is not an event", segment_name(d))
            })?;
            v.event(&event);
        }
    }
    Ok(v.finish(None, None))
}
