//! Verbs for Delta Sharing recipients (docs/design/DELTA_SHARING.md): tokens with their one-time profile
//! links, rotation, revocation and IP allow-lists (`recipient …`), downloading a profile file
//! from its link and listing what the protocol shares with you (`sharing …`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

const TOKEN: &[Column] = &[
    Column::path("id", "id"),
    Column::path("name", "name"),
    Column::path("kind", "kind"),
    Column::path("created_at", "created_at"),
    Column::path("expires_at", "expires_at"),
    Column::computed("state", token_state),
    Column::path("last_used_at", "last_used_at"),
];

/// A token just made: its one-time profile link.
const NEW_TOKEN: &[Column] = &[
    Column::path("id", "token.id"),
    Column::path("kind", "token.kind"),
    Column::path("expires_at", "token.expires_at"),
    Column::path("profile_url", "profile_url"),
    Column::path("other_tokens_expiring", "expired_others"),
];

const SETTINGS: &[Column] = &[
    Column::computed("ip_allow_list", |v| {
        match output::lookup(v, "ip_allow_list") {
            Some(Value::Array(a)) if !a.is_empty() => output::cell(&Value::Array(a.clone())),
            _ => "any address".into(),
        }
    }),
    Column::path("updated_at", "updated_at"),
];

const SHARED_TABLE: &[Column] = &[
    Column::path("share", "share"),
    Column::path("schema", "schema"),
    Column::path("table", "name"),
];

fn token_state(v: &Value) -> String {
    let set = |k: &str| output::lookup(v, k).is_some_and(|x| !x.is_null());
    if set("revoked_at") {
        "revoked".into()
    } else if output::lookup(v, "usable") == Some(&Value::Bool(true)) {
        "usable".into()
    } else if output::lookup(v, "awaiting_download") == Some(&Value::Bool(true)) {
        "awaiting download".into()
    } else {
        "expired".into()
    }
}

// Delta Sharing recipients: their tokens and settings.
#[derive(clap::Subcommand, Debug)]
pub enum RecipientCommand {
    /// make, list and revoke a recipient's Delta Sharing tokens
    #[command(subcommand)]
    Token(RecipientTokenCommand),
    /// show a recipient's settings (its IP allow-list)
    Settings {
        /// the recipient: a user or service principal
        recipient: String,
    },
    /// limit the addresses a recipient's Delta Sharing requests may come from (mesh admins)
    AllowIp {
        /// the recipient: a user or service principal
        recipient: String,
        /// addresses or CIDR ranges, e.g. `203.0.113.7` `10.0.0.0/8`
        #[arg(required_unless_present = "any", conflicts_with = "any")]
        addresses: Vec<String>,
        /// remove the list: any address may be used
        #[arg(long)]
        any: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum RecipientTokenCommand {
    /// make a token; prints a one-time link that downloads its profile file
    Create {
        /// the recipient: a user or service principal
        recipient: String,
        /// a label for the token
        #[arg(long)]
        name: Option<String>,
        /// a version-2 profile with OAuth client credentials instead of a bearer token
        #[arg(long)]
        oauth: bool,
        /// days until the token expires (0: never; default: the server's `token_days`)
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// rotation: the recipient's other tokens expire this many seconds from now
        #[arg(long, value_name = "SECS")]
        expire_others_in: Option<u64>,
        /// print only the profile link (for scripts: `LINK=$(meshgate recipient token create …)`)
        #[arg(long)]
        link_only: bool,
    },
    /// list a recipient's tokens (never their secrets)
    List {
        /// the recipient: a user or service principal
        recipient: String,
    },
    /// revoke a token (and the access tokens issued for it) at once
    Revoke {
        /// the recipient: a user or service principal
        recipient: String,
        /// the token id
        id: String,
    },
}

// Reading through the Delta Sharing protocol.
#[derive(clap::Subcommand, Debug)]
pub enum SharingCommand {
    /// download a profile file from its one-time link (no token needed)
    Profile {
        /// the link `recipient token create` printed
        link: String,
        /// where to write the profile file
        #[arg(long, short = 'f', default_value = "meshgate.share")]
        file: PathBuf,
    },
    /// list the tables the protocol shares with your token: `share.schema.table`
    Tables {
        /// only this share (a domain)
        #[arg(long)]
        share: Option<String>,
        /// the server's Delta Sharing prefix
        #[arg(long, default_value = "/delta-sharing")]
        prefix: String,
    },
}

pub async fn recipient(c: &Client, out: OutputFormat, cmd: RecipientCommand) -> Result<()> {
    match cmd {
        RecipientCommand::Token(RecipientTokenCommand::Create {
            recipient,
            name,
            oauth,
            expires_in_days,
            expire_others_in,
            link_only,
        }) => {
            let mut body = json!({"kind": if oauth { "oauth" } else { "bearer" }});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(d) = expires_in_days {
                body["expires_in_days"] = json!(d);
            }
            if let Some(s) = expire_others_in {
                body["expire_existing_in_secs"] = json!(s);
            }
            let v = c
                .json(Method::POST, &["recipients", &recipient, "tokens"], &body)
                .await?;
            if link_only {
                let link = output::lookup(&v, "profile_url")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return output::print(&format!("{link}\n"));
            }
            show_record(out, &v, NEW_TOKEN)?;
            if out == OutputFormat::Table {
                output::print(
                    "the link downloads the profile file once: send it to the recipient, or run `meshgate sharing profile <link>`\n",
                )?;
            }
            Ok(())
        }
        RecipientCommand::Token(RecipientTokenCommand::List { recipient }) => {
            let v = c.get(&["recipients", &recipient, "tokens"], &[]).await?;
            show_list(out, &v, TOKEN)
        }
        RecipientCommand::Token(RecipientTokenCommand::Revoke { recipient, id }) => {
            let v = c
                .bare(Method::DELETE, &["recipients", &recipient, "tokens", &id])
                .await?;
            show_record(out, &v, TOKEN)
        }
        RecipientCommand::Settings { recipient } => {
            let v = c.get(&["recipients", &recipient, "settings"], &[]).await?;
            show_record(out, &v, SETTINGS)
        }
        RecipientCommand::AllowIp {
            recipient,
            addresses,
            any,
        } => {
            let list = if any { Vec::new() } else { addresses };
            let v = c
                .json(
                    Method::PUT,
                    &["recipients", &recipient, "settings"],
                    &json!({"ip_allow_list": list}),
                )
                .await?;
            show_record(out, &v, SETTINGS)
        }
    }
}

pub async fn sharing(c: &Client, out: OutputFormat, cmd: SharingCommand) -> Result<()> {
    match cmd {
        SharingCommand::Profile { link, file } => {
            if file.exists() {
                bail!(
                    "{} exists; the link works once, so pick another --file rather than overwrite it",
                    file.display()
                );
            }
            let profile = c.fetch(&link).await?;
            let text = serde_json::to_string_pretty(&profile)?;
            write_private(&file, text.as_bytes())
                .with_context(|| format!("cannot write {}", file.display()))?;
            match out {
                OutputFormat::Table => output::print(&format!(
                    "profile written to {} (it holds a secret: keep it private)\nnext: delta_sharing.SharingClient(\"{}\").list_all_tables()\n",
                    file.display(),
                    file.display()
                )),
                _ => output::print(&output::json(&json!({"file": file}))?),
            }
        }
        SharingCommand::Tables { share, prefix } => {
            let shares = match share {
                Some(s) => vec![s],
                None => names(&paged(c, &prefix, &["shares"]).await?),
            };
            let mut tables = Vec::new();
            for s in &shares {
                tables.extend(paged(c, &prefix, &["shares", s, "all-tables"]).await?);
            }
            show_list(out, &Value::Array(tables), SHARED_TABLE)
        }
    }
}

/// Every item of a paged Delta Sharing listing.
async fn paged(c: &Client, prefix: &str, segments: &[&str]) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let query: Vec<(&str, &str)> = token
            .as_deref()
            .map(|t| vec![("pageToken", t)])
            .unwrap_or_default();
        let page = c.sharing_get(prefix, segments, &query).await?;
        if let Some(Value::Array(a)) = page.get("items") {
            items.extend(a.iter().cloned());
        }
        match page.get("nextPageToken").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(items),
        }
    }
}

fn names(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Writes a new file readable by its owner only (it holds a secret).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_states_read_from_the_view() {
        let list = json!([
            {"id": "a", "name": "n", "kind": "bearer", "usable": true, "awaiting_download": false},
            {"id": "b", "name": "n", "kind": "oauth_client", "usable": false, "awaiting_download": true},
            {"id": "c", "name": "n", "kind": "bearer", "usable": false, "awaiting_download": false,
             "revoked_at": "t"},
            {"id": "d", "name": "n", "kind": "bearer", "usable": false, "awaiting_download": false},
        ]);
        let csv = output::render_list(OutputFormat::Csv, &list, TOKEN).unwrap();
        for (id, state) in [
            ("a", "usable"),
            ("b", "awaiting download"),
            ("c", "revoked"),
            ("d", "expired"),
        ] {
            assert!(
                csv.lines()
                    .any(|l| l.starts_with(&format!("{id},")) && l.contains(state)),
                "{id} {state}: {csv}"
            );
        }
        let s = output::render_record(OutputFormat::Csv, &json!({"ip_allow_list": []}), SETTINGS)
            .unwrap();
        assert!(s.contains("any address"), "{s}");
    }
}
