//! Parsing the client verbs as the binary does: the definition is consistent, and each
//! feature's verbs are reached from the top-level command line with their options.

use super::*;
use clap::{CommandFactory, Parser};

use crate::access::MaskKeyCommand;
use crate::args::qualified;
use crate::body::switch;
use crate::locations::ExternalLocationCommand;
use crate::notify::{InboxArgs, InboxCommand, WebhookCommand};
use crate::recipients::{RecipientCommand, RecipientTokenCommand};
use crate::tenants::{CredentialAction, CredentialsCommand};

/// The client verbs as the binary parses them.
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

#[test]
fn mask_key_rotate_is_a_verb() {
    let cli = crate::verbs::tests::parse(&["mask-key", "rotate"]).unwrap();
    assert!(matches!(
        cli.cmd,
        crate::verbs::ClientCommand::MaskKey(MaskKeyCommand::Rotate)
    ));
    assert!(crate::verbs::tests::parse(&["mask-key"]).is_err());
}

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

#[test]
fn parses_inbox_contact_and_webhook_verbs() {
    let cli = parse(&["inbox", "--unread"]).unwrap();
    let ClientCommand::Inbox(a) = cli.cmd else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert!(a.unread && a.cmd.is_none());

    let cli = parse(&["inbox", "read", "n1"]).unwrap();
    let ClientCommand::Inbox(InboxArgs {
        cmd: Some(InboxCommand::Read { id, all }),
        ..
    }) = cli.cmd
    else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert_eq!((id.as_deref(), all), (Some("n1"), false));
    assert!(parse(&["inbox", "read", "--all"]).is_ok());
    assert!(parse(&["inbox", "read"]).is_err(), "an id or --all");
    assert!(parse(&["inbox", "read", "n1", "--all"]).is_err());

    assert!(parse(&["contact", "set-email", "bob@example.com"]).is_ok());
    assert!(parse(&["contact", "set-email"]).is_err());
    assert!(parse(&["contact", "show"]).is_ok());

    let cli = parse(&[
        "webhook",
        "create",
        "https://hooks.example.com/x",
        "--events",
        "approved,rejected",
    ])
    .unwrap();
    let ClientCommand::Webhook(WebhookCommand::Create { url, events }) = cli.cmd else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert_eq!(url, "https://hooks.example.com/x");
    assert_eq!(events, ["approved", "rejected"]);
    assert!(parse(&["webhook", "create", "https://x", "--events", "bogus"]).is_err());
    assert!(parse(&["webhook", "list"]).is_ok());
    assert!(parse(&["webhook", "delete", "w1"]).is_ok());
    assert!(parse(&["webhook", "deliveries", "w1"]).is_ok());
}

#[test]
fn parses_recipient_and_sharing_verbs() {
    let cli = parse(&[
        "recipient",
        "token",
        "create",
        "bob",
        "--oauth",
        "--expires-in-days",
        "30",
        "--expire-others-in",
        "3600",
    ])
    .unwrap();
    let ClientCommand::Recipient(RecipientCommand::Token(RecipientTokenCommand::Create {
        recipient,
        oauth,
        expires_in_days,
        expire_others_in,
        ..
    })) = cli.cmd
    else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert_eq!(recipient, "bob");
    assert!(oauth);
    assert_eq!((expires_in_days, expire_others_in), (Some(30), Some(3600)));
    assert!(parse(&["recipient", "token", "list", "bob"]).is_ok());
    assert!(parse(&["recipient", "token", "revoke", "bob", "t1"]).is_ok());
    assert!(parse(&["recipient", "token", "revoke", "bob"]).is_err());
    assert!(parse(&["recipient", "allow-ip", "bob", "10.0.0.0/8", "203.0.113.7"]).is_ok());
    assert!(parse(&["recipient", "allow-ip", "bob", "--any"]).is_ok());
    assert!(
        parse(&["recipient", "allow-ip", "bob"]).is_err(),
        "a list or --any"
    );
    assert!(parse(&["recipient", "allow-ip", "bob", "10.0.0.1", "--any"]).is_err());
    assert!(parse(&["sharing", "profile", "http://x/delta-sharing/profile/c"]).is_ok());
    assert!(parse(&["sharing", "tables", "--share", "sales"]).is_ok());
}

#[test]
fn parses_credential_and_row_verbs() {
    let cli = parse(&[
        "credentials",
        "create",
        "--table",
        "apps.items.items",
        "--action",
        "read",
        "--action",
        "write",
        "--key-prefix",
        "tenant1-",
        "--expires-in",
        "30m",
        "--token-only",
    ])
    .unwrap();
    let ClientCommand::Credentials(CredentialsCommand::Create {
        tables,
        actions,
        key_prefix,
        expires_in,
        token_only,
    }) = cli.cmd
    else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert_eq!(qualified(&tables[0]), "apps.items.items");
    assert_eq!(actions, [CredentialAction::Read, CredentialAction::Write]);
    assert_eq!(key_prefix.as_deref(), Some("tenant1-"));
    assert_eq!(expires_in, Some(1800));
    assert!(token_only);

    // A table and an action are required; actions are read or write.
    assert!(parse(&["credentials", "create", "--action", "read"]).is_err());
    assert!(parse(&["credentials", "create", "--table", "a.b.c"]).is_err());
    assert!(
        parse(&[
            "credentials",
            "create",
            "--table",
            "a.b.c",
            "--action",
            "delete"
        ])
        .is_err()
    );
    assert!(parse(&["credentials", "revoke", "id1"]).is_ok());

    // rows append needs rows from a file or --row.
    assert!(parse(&["rows", "append", "a.b.c"]).is_err());
    assert!(parse(&["rows", "append", "a.b.c", "--row", "{}", "--row", "{}"]).is_ok());
    assert!(parse(&["rows", "append", "a.b", "--file", "r.json"]).is_err());
    assert!(parse(&["rows", "get", "a.b.c", "tenant1-1"]).is_ok());
    assert!(parse(&["rows", "list", "a.b.c", "--limit", "5", "--after", "k"]).is_ok());
}

#[test]
fn parses_optimize_table() {
    let cli = parse(&[
        "optimize-table",
        "sales.orders",
        "lines",
        "--cluster-by",
        "part_key",
        "--cluster-by",
        "ship_date",
        "--bloom-filter",
        "email",
        "--target-file-mb",
        "256",
    ])
    .unwrap();
    let ClientCommand::OptimizeTable {
        product,
        table,
        cluster_by,
        no_cluster,
        bloom_filter,
        no_bloom_filters,
        target_file_mb,
    } = cli.cmd
    else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert_eq!(
        (product.outer.as_str(), product.inner.as_str()),
        ("sales", "orders")
    );
    assert_eq!(table, "lines");
    assert_eq!(cluster_by, ["part_key", "ship_date"]);
    assert_eq!(bloom_filter, ["email"]);
    assert!(!no_cluster && !no_bloom_filters);
    assert_eq!(target_file_mb, Some(256));
    // Clustering by a column and stopping clustering contradict each other.
    assert!(
        parse(&[
            "optimize-table",
            "a.b",
            "t",
            "--cluster-by",
            "k",
            "--no-cluster"
        ])
        .is_err()
    );
    assert!(parse(&["optimize-table", "a.b", "t", "--no-bloom-filters"]).is_ok());
    assert!(parse(&["optimize-table", "a.b"]).is_err());
}

#[test]
fn parses_vacuum_table() {
    let cli = parse(&[
        "vacuum-table",
        "sales.orders",
        "lines",
        "--retain-hours",
        "24",
        "--dry-run",
    ])
    .unwrap();
    let ClientCommand::VacuumTable {
        product,
        table,
        retain_hours,
        dry_run,
    } = cli.cmd
    else {
        unreachable!("parsed as {:?}", cli.cmd)
    };
    assert_eq!(
        (product.outer.as_str(), product.inner.as_str()),
        ("sales", "orders")
    );
    assert_eq!(table, "lines");
    assert_eq!(retain_hours, Some(24));
    assert!(dry_run);
    let ClientCommand::VacuumTable {
        retain_hours,
        dry_run,
        ..
    } = parse(&["vacuum-table", "a.b", "t"]).unwrap().cmd
    else {
        unreachable!()
    };
    assert_eq!((retain_hours, dry_run), (None, false));
    assert!(parse(&["vacuum-table", "a.b", "t", "--retain-hours", "-1"]).is_err());
    assert!(parse(&["vacuum-table", "a.b"]).is_err());
}
