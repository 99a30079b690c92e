//! Verbs for the mesh's structure and identities: domains (and their producer and consumer
//! roles), teams and their members, principals and groups, and API tokens. Each is one REST
//! call and a printout.

use anyhow::{Result, bail};
use clap::builder::PossibleValuesParser;
use meshgate_core::model::{PrincipalKind, TeamRole};
use reqwest::Method;
use serde_json::json;

use crate::body::{object, some, switch};
use crate::client::Client;
use crate::output::{self, OutputFormat, confirm, show_list, show_record};

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
        /// the name the identity provider knows it by: its tokens' user claim (e.g. an
        /// email), a service's client id, a group's groups-claim value
        #[arg(long)]
        login: Option<String>,
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
        /// `api` (default) or `scim`: a SCIM provisioning token, for /scim/v2 only (admins)
        #[arg(long, value_name = "SCOPE")]
        scope: Option<String>,
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

pub(crate) async fn domain(c: &Client, out: OutputFormat, cmd: DomainCommand) -> Result<()> {
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

pub(crate) async fn team(c: &Client, out: OutputFormat, cmd: TeamCommand) -> Result<()> {
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

pub(crate) async fn principal(c: &Client, out: OutputFormat, cmd: PrincipalCommand) -> Result<()> {
    match cmd {
        PrincipalCommand::Create {
            name,
            kind,
            display_name,
            admin,
            login,
        } => {
            let body = object([
                ("name", Some(json!(name))),
                ("kind", Some(json!(kind))),
                ("display_name", some(display_name)),
                ("admin", admin.then_some(json!(true))),
                ("login", some(login)),
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

pub(crate) async fn group(c: &Client, out: OutputFormat, cmd: GroupCommand) -> Result<()> {
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

pub(crate) async fn token(c: &Client, out: OutputFormat, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            principal,
            name,
            expires_in_days,
            scope,
        } => {
            let body = object([
                ("principal", some(principal)),
                ("name", some(name)),
                ("expires_in_days", some(expires_in_days)),
                ("scope", some(scope)),
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
