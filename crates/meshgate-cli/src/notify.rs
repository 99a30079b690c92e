//! Verbs for notifications (docs/design/LIFECYCLE.md §Notifications): the inbox (`inbox`, `inbox read`),
//! the email address notifications go to (`contact`), and webhooks that receive them signed
//! (`webhook`). Each is one REST call and a printout.

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

/// The events a webhook may ask for (the server checks them too).
const EVENTS: [&str; 8] = [
    "submitted",
    "approved",
    "rejected",
    "revoked",
    "failed",
    "unhealthy",
    "expiring",
    "pending",
];

const NOTIFICATION: &[Column] = &[
    Column::path("id", "id"),
    Column::path("event", "event"),
    Column::path("message", "title"),
    Column::path("share", "share_id"),
    Column::path("at", "created_at"),
    Column::computed("read", |v| {
        if output::lookup(v, "read_at").is_some_and(|r| !r.is_null()) {
            "yes".into()
        } else {
            "no".into()
        }
    }),
];

const CONTACT: &[Column] = &[
    Column::path("email", "email"),
    Column::path("updated_at", "updated_at"),
];

const WEBHOOK: &[Column] = &[
    Column::path("id", "id"),
    Column::path("url", "url"),
    Column::computed("events", |v| match output::lookup(v, "events") {
        Some(Value::Array(e)) if !e.is_empty() => output::cell(&Value::Array(e.clone())),
        _ => "all".into(),
    }),
    Column::path("created_at", "created_at"),
    Column::path("disabled_at", "disabled_at"),
];

/// A webhook just created, with its secret (shown only then).
const NEW_WEBHOOK: &[Column] = &[
    Column::path("id", "id"),
    Column::path("url", "url"),
    Column::path("events", "events"),
    Column::path("secret", "secret"),
];

const DELIVERY: &[Column] = &[
    Column::path("id", "id"),
    Column::path("event", "event"),
    Column::path("status", "status"),
    Column::path("attempts", "attempts"),
    Column::path("last_error", "last_error"),
    Column::path("created_at", "created_at"),
    Column::path("finished_at", "finished_at"),
];

// Your notifications.
#[derive(clap::Args, Debug)]
pub struct InboxArgs {
    /// only notifications not yet read
    #[arg(long)]
    pub unread: bool,
    /// at most this many, newest first (default 100, at most 1000)
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    #[command(subcommand)]
    pub cmd: Option<InboxCommand>,
}

#[derive(clap::Subcommand, Debug)]
pub enum InboxCommand {
    /// mark a notification read, or all of them with --all
    Read {
        /// the notification id
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// mark every unread notification read
        #[arg(long)]
        all: bool,
    },
}

// The email address notifications are sent to.
#[derive(clap::Subcommand, Debug)]
pub enum ContactCommand {
    /// send your notifications to this address too (when the server has SMTP set up)
    SetEmail {
        /// e.g. `bob@example.com`
        email: String,
    },
    /// show your email address
    Show,
    /// stop emailing your notifications
    Remove,
}

// Webhooks: URLs that receive your notifications as signed JSON.
#[derive(clap::Subcommand, Debug)]
pub enum WebhookCommand {
    /// POST your notifications to a URL, signed with a secret shown once
    Create {
        /// an http:// or https:// URL
        url: String,
        /// only these events (comma-separated; default all)
        #[arg(long, value_delimiter = ',', value_parser = EVENTS)]
        events: Vec<String>,
    },
    /// list your webhooks (without their secrets)
    List,
    /// delete a webhook: it receives nothing more
    Delete {
        /// the webhook id
        id: String,
    },
    /// list a webhook's deliveries: status, attempts, last error
    Deliveries {
        /// the webhook id
        id: String,
    },
}

pub async fn inbox(c: &Client, out: OutputFormat, args: InboxArgs) -> Result<()> {
    match args.cmd {
        None => {
            let v = c
                .get(
                    &["notifications"],
                    &[
                        ("unread", args.unread.then(|| "true".to_string())),
                        ("limit", args.limit.map(|l| l.to_string())),
                    ],
                )
                .await?;
            show_list(out, &v, NOTIFICATION)
        }
        Some(InboxCommand::Read { id: Some(id), .. }) => {
            let v = c
                .json(Method::POST, &["notifications", &id, "read"], &json!({}))
                .await?;
            show_record(out, &v, NOTIFICATION)
        }
        Some(InboxCommand::Read { id: None, all }) => {
            if !all {
                bail!("name a notification id, or pass --all");
            }
            let v = c
                .json(Method::POST, &["notifications", "read-all"], &json!({}))
                .await?;
            match out {
                OutputFormat::Table => output::print(&format!(
                    "marked {} notification(s) read\n",
                    output::text(&v, "marked")
                )),
                _ => output::print(&output::json(&v)?),
            }
        }
    }
}

pub async fn contact(c: &Client, out: OutputFormat, cmd: ContactCommand) -> Result<()> {
    match cmd {
        ContactCommand::SetEmail { email } => {
            let v = c
                .json(Method::PUT, &["contacts", "me"], &json!({"email": email}))
                .await?;
            show_record(out, &v, CONTACT)
        }
        ContactCommand::Show => {
            let v = c.get(&["contacts", "me"], &[]).await?;
            show_record(out, &v, CONTACT)
        }
        ContactCommand::Remove => {
            c.bare(Method::DELETE, &["contacts", "me"]).await?;
            match out {
                OutputFormat::Table => output::print("email address removed\n"),
                _ => output::print(&output::json(&json!({}))?),
            }
        }
    }
}

pub async fn webhook(c: &Client, out: OutputFormat, cmd: WebhookCommand) -> Result<()> {
    match cmd {
        WebhookCommand::Create { url, events } => {
            let v = c
                .json(
                    Method::POST,
                    &["webhooks"],
                    &json!({"url": url, "events": events}),
                )
                .await?;
            show_record(out, &v, NEW_WEBHOOK)?;
            if out == OutputFormat::Table {
                output::print(
                    "the secret is shown only once: each POST carries `X-Meshgate-Signature: sha256=<hex HMAC-SHA256(secret, body)>`\n",
                )?;
            }
            Ok(())
        }
        WebhookCommand::List => {
            let v = c.get(&["webhooks"], &[]).await?;
            show_list(out, &v, WEBHOOK)
        }
        WebhookCommand::Delete { id } => {
            let v = c.bare(Method::DELETE, &["webhooks", &id]).await?;
            show_record(out, &v, WEBHOOK)
        }
        WebhookCommand::Deliveries { id } => {
            let v = c.get(&["webhooks", &id, "deliveries"], &[]).await?;
            show_list(out, &v, DELIVERY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_render_read_state_and_event_lists() {
        let list = json!([
            {"id": "n1", "event": "approved", "title": "alice approved …", "share_id": "s1",
             "created_at": "t", "read_at": null},
            {"id": "n2", "event": "rejected", "title": "carol rejected …", "share_id": "s2",
             "created_at": "t", "read_at": "t2"},
        ]);
        let csv = output::render_list(OutputFormat::Csv, &list, NOTIFICATION).unwrap();
        assert!(
            csv.contains("n1,approved,alice approved …,s1,t,no"),
            "{csv}"
        );
        assert!(
            csv.contains("n2,rejected,carol rejected …,s2,t,yes"),
            "{csv}"
        );
        let hooks = json!([{"id": "w1", "url": "u", "events": [], "created_at": "t"}]);
        let csv = output::render_list(OutputFormat::Csv, &hooks, WEBHOOK).unwrap();
        assert!(csv.contains("w1,u,all,t,"), "{csv}");
    }
}
