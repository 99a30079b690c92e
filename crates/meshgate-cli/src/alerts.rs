//! `meshgate alerts …`: unusual-read alerts (mesh admins): list, show and acknowledge them,
//! tune the detector and its response, see and lift suspensions (docs/design/AUDIT.md
//! §Unusual reads).

use anyhow::Result;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::output::{Column, OutputFormat, print, show_list, show_record};

// Unusual-read alerts (mesh admins).
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: Option<AlertsCommand>,
    #[command(flatten)]
    pub list: ListArgs,
}

// Which alerts `meshgate alerts` lists.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// only alerts in this state
    #[arg(long, value_parser = ["open", "acknowledged"])]
    status: Option<String>,
    /// only reads by this principal
    #[arg(long, value_name = "NAME")]
    principal: Option<String>,
    /// at most this many (newest first)
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
}

#[derive(clap::Subcommand, Debug)]
pub enum AlertsCommand {
    /// one alert, with every finding and its numbers
    Show { id: String },
    /// mark an alert looked into, with what was found
    Ack {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// the detector's settings, and how far it has judged the audit log
    Settings,
    /// change the detector's settings or the mesh's response (only the flags given change)
    Tune(TuneArgs),
    /// the principals suspended after an alert
    Suspensions,
    /// lift a principal's suspension: its tokens and credentials work again
    Lift { principal: String },
}

#[derive(clap::Args, Debug)]
pub struct TuneArgs {
    /// `alert` tells the owners and admins; `suspend` also suspends the reader (never an admin)
    #[arg(long, value_parser = ["alert", "suspend"])]
    response: Option<String>,
    /// switch the detector on or off
    #[arg(long)]
    enabled: Option<bool>,
    /// robust standard deviations above the median before a day alerts (default 4.5)
    #[arg(long)]
    threshold: Option<f64>,
    /// the least scale, in ln units (default 0.5)
    #[arg(long)]
    min_scale: Option<f64>,
    /// active days a baseline needs before it alerts (default 5)
    #[arg(long)]
    min_history: Option<u32>,
    /// the length of a baseline's bucket in seconds (default 86400, a day)
    #[arg(long)]
    bucket_secs: Option<u64>,
    /// the most active buckets a baseline holds (default 28)
    #[arg(long)]
    history: Option<u32>,
    /// how many buckets back a baseline reaches (default 90)
    #[arg(long)]
    max_age: Option<u32>,
    /// no alert on rows at or below this many in a bucket
    #[arg(long)]
    floor_rows: Option<u64>,
    /// no alert on bytes at or below this many in a bucket
    #[arg(long)]
    floor_bytes: Option<u64>,
    /// no alert on the number of reads at or below this many in a bucket
    #[arg(long)]
    floor_reads: Option<u64>,
    /// alert only above this factor times the highest bucket of the baseline (default 3)
    #[arg(long)]
    max_factor: Option<f64>,
    /// sensitive rows alert above this factor times the most the series ever read (default 3)
    #[arg(long)]
    sensitive_factor: Option<f64>,
    /// no alert on sensitive rows at or below this many in a bucket
    #[arg(long)]
    floor_sensitive_rows: Option<u64>,
}

impl TuneArgs {
    /// The settings to change, as `PATCH /audit/alert-settings` takes them.
    fn changes(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("response", self.response.as_ref().map(|v| json!(v)));
        put("enabled", self.enabled.map(|v| json!(v)));
        put("threshold", self.threshold.map(|v| json!(v)));
        put("min_scale", self.min_scale.map(|v| json!(v)));
        put("min_history", self.min_history.map(|v| json!(v)));
        put("bucket_secs", self.bucket_secs.map(|v| json!(v)));
        put("history", self.history.map(|v| json!(v)));
        put("max_age", self.max_age.map(|v| json!(v)));
        put("floor_rows", self.floor_rows.map(|v| json!(v)));
        put("floor_bytes", self.floor_bytes.map(|v| json!(v)));
        put("floor_reads", self.floor_reads.map(|v| json!(v)));
        put("max_factor", self.max_factor.map(|v| json!(v)));
        put("sensitive_factor", self.sensitive_factor.map(|v| json!(v)));
        put(
            "floor_sensitive_rows",
            self.floor_sensitive_rows.map(|v| json!(v)),
        );
        m
    }
}

const ALERT: &[Column] = &[
    Column::path("id", "id"),
    Column::path("at", "created_at"),
    Column::path("principal", "principal"),
    Column::path("read", "read_action"),
    Column::computed("tables", |v| {
        v.get("tables")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }),
    Column::path("response", "response"),
    Column::path("status", "status"),
    Column::path("summary", "summary"),
];

const SUSPENSION: &[Column] = &[
    Column::path("principal", "principal"),
    Column::path("at", "at"),
    Column::path("alert", "alert_id"),
    Column::path("reason", "reason"),
];

const SETTINGS: &[Column] = &[
    Column::path("enabled", "settings.enabled"),
    Column::path("response", "settings.response"),
    Column::path("threshold", "settings.threshold"),
    Column::path("min_scale", "settings.min_scale"),
    Column::path("min_history", "settings.min_history"),
    Column::path("bucket_secs", "settings.bucket_secs"),
    Column::path("history", "settings.history"),
    Column::path("max_age", "settings.max_age"),
    Column::path("floor_rows", "settings.floor_rows"),
    Column::path("floor_bytes", "settings.floor_bytes"),
    Column::path("floor_reads", "settings.floor_reads"),
    Column::path("max_factor", "settings.max_factor"),
    Column::path("sensitive_factor", "settings.sensitive_factor"),
    Column::path("floor_sensitive_rows", "settings.floor_sensitive_rows"),
    Column::path("updated_at", "updated_at"),
    Column::path("judged_up_to", "pos"),
    Column::path("behind", "behind"),
];

pub async fn run(c: &Client, out: OutputFormat, args: AlertsArgs) -> Result<()> {
    match args.command {
        None => {
            let a = args.list;
            let query = [
                ("status", a.status),
                ("principal", a.principal),
                ("limit", a.limit.map(|l| l.to_string())),
            ];
            let v = c.get(&["audit", "alerts"], &query).await?;
            show_list(out, &v, ALERT)
        }
        Some(AlertsCommand::Show { id }) => {
            let v = c.get(&["audit", "alerts", &id], &[]).await?;
            show_record(out, &v, ALERT)
        }
        Some(AlertsCommand::Ack { id, note }) => {
            let v = c
                .json(
                    Method::POST,
                    &["audit", "alerts", &id, "acknowledge"],
                    &json!({ "note": note }),
                )
                .await?;
            show_record(out, &v, ALERT)
        }
        Some(AlertsCommand::Settings) => {
            let v = c.get(&["audit", "alert-settings"], &[]).await?;
            show_record(out, &v, SETTINGS)
        }
        Some(AlertsCommand::Tune(t)) => {
            let changes = t.changes();
            if changes.is_empty() {
                anyhow::bail!(
                    "nothing to change: give at least one setting, e.g. `--response suspend` (see `meshgate alerts tune --help`)"
                );
            }
            let v = c
                .json(
                    Method::PATCH,
                    &["audit", "alert-settings"],
                    &Value::Object(changes),
                )
                .await?;
            show_record(out, &v, SETTINGS)
        }
        Some(AlertsCommand::Suspensions) => {
            let v = c.get(&["audit", "suspensions"], &[]).await?;
            show_list(out, &v, SUSPENSION)
        }
        Some(AlertsCommand::Lift { principal }) => {
            c.bare(Method::DELETE, &["audit", "suspensions", &principal])
                .await?;
            print(&format!(
                "lifted the suspension of {principal}: its tokens and credentials work again\n"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        alerts: AlertsArgs,
    }

    #[test]
    fn tune_sends_only_the_flags_given() {
        let cli = Cli::parse_from([
            "alerts",
            "tune",
            "--response",
            "suspend",
            "--min-history",
            "3",
        ]);
        let Some(AlertsCommand::Tune(t)) = cli.alerts.command else {
            panic!("not tune");
        };
        let changes = Value::Object(t.changes());
        assert_eq!(changes, json!({"response": "suspend", "min_history": 3}));
    }
}
