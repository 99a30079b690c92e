//! `meshgate external-location …`: the URL prefixes under which teams may register existing
//! Delta tables (mesh admins; docs/API.md "External locations").

use anyhow::Result;
use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::output::{self, Column, OutputFormat, show_list, show_record};

const LOCATION: &[Column] = &[
    Column::path("name", "name"),
    Column::path("url", "url"),
    Column::computed("teams", |v| output::text(v, "teams")),
    Column::path("writable", "writable"),
    Column::path("description", "description"),
    Column::path("created_by", "created_by"),
    Column::path("created_at", "created_at"),
];

// External locations (mesh admins).
#[derive(clap::Subcommand, Debug)]
pub enum ExternalLocationCommand {
    /// declare a URL prefix under which the given teams may register existing delta tables
    Create {
        /// a name for the location
        name: String,
        /// the prefix: `s3://bucket/path/` or a local directory (outside the data root)
        #[arg(value_name = "URL")]
        prefix: String,
        /// a team that may register tables under it (repeatable)
        #[arg(long = "team", value_name = "DOMAIN.TEAM", required = true)]
        teams: Vec<String>,
        /// tables registered under it accept appends and row writes (default: read-only)
        #[arg(long)]
        writable: bool,
        /// what the location holds
        #[arg(long, default_value = "")]
        description: String,
    },
    /// list the external locations
    List,
    /// show one external location
    Show {
        /// the location's name
        name: String,
    },
    /// delete an external location (tables registered under it stay, read-only)
    Delete {
        /// the location's name
        name: String,
    },
}

pub async fn run(c: &Client, out: OutputFormat, cmd: ExternalLocationCommand) -> Result<()> {
    match cmd {
        ExternalLocationCommand::Create {
            name,
            prefix,
            teams,
            writable,
            description,
        } => {
            let body = json!({
                "name": name, "url": prefix, "teams": teams, "writable": writable,
                "description": description,
            });
            let v = c.json(Method::POST, &["external-locations"], &body).await?;
            show_record(out, &v, LOCATION)
        }
        ExternalLocationCommand::List => {
            let v = c.get(&["external-locations"], &[]).await?;
            show_list(out, &v, LOCATION)
        }
        ExternalLocationCommand::Show { name } => {
            let v = c.get(&["external-locations", &name], &[]).await?;
            show_record(out, &v, LOCATION)
        }
        ExternalLocationCommand::Delete { name } => {
            c.bare(Method::DELETE, &["external-locations", &name])
                .await?;
            eprintln!("deleted external location {name}");
            Ok(())
        }
    }
}
