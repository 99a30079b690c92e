//! `meshgate external-location …`: the URL prefixes under which teams may register existing
//! Delta tables (mesh admins; docs/API.md "External locations").

use anyhow::Result;
use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::output::{self, Column, OutputFormat};
use crate::verbs::{show_list, show_record};

const LOCATION: &[Column] = &[
    Column::path("name", "name"),
    Column::path("url", "url"),
    Column::computed("teams", |v| {
        output::lookup(v, "teams")
            .map(output::cell)
            .unwrap_or_default()
    }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verbs::ClientCommand;
    use crate::verbs::tests::parse;

    #[test]
    fn parses_external_location_verbs() {
        let cli = parse(&[
            "external-location",
            "create",
            "landing",
            "s3://bucket/landing/",
            "--team",
            "sales.core",
            "--team",
            "ops.etl",
            "--writable",
        ])
        .unwrap();
        let ClientCommand::ExternalLocation(ExternalLocationCommand::Create {
            name,
            prefix,
            teams,
            writable,
            description,
        }) = cli.cmd
        else {
            unreachable!("parsed as {:?}", cli.cmd)
        };
        assert_eq!(
            (name.as_str(), prefix.as_str()),
            ("landing", "s3://bucket/landing/")
        );
        // The prefix is not taken for the global `--url` of the server.
        assert_ne!(cli.opts.url, "s3://bucket/landing/");
        assert_eq!(teams, ["sales.core", "ops.etl"]);
        assert!(writable);
        assert_eq!(description, "");
        // A location without a team is refused before any request.
        assert!(parse(&["external-location", "create", "x", "s3://b/x"]).is_err());
        for verb in [&["list"][..], &["show", "landing"], &["delete", "landing"]] {
            let mut args = vec!["external-location"];
            args.extend_from_slice(verb);
            assert!(parse(&args).is_ok(), "{args:?}");
        }
    }
}
