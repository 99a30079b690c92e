//! The behavioural test suite of [`Store`], run on both backends: every test function below is
//! instantiated once for SQLite (always, on a fresh file) and once for PostgreSQL when
//! `MESHGATE_TEST_POSTGRES_URL` is set (on a fresh schema, dropped afterwards). With the
//! variable set, an unreachable server fails the PostgreSQL tests rather than skipping them.
//! A few tests stand outside the suite: the SQLite-only ones, and the check that the two
//! migration sets build the same schema (`migrations_agree_between_backends`, which needs
//! both backends at once).

// Helpers outside the `#[test]` functions (fixtures, servers, assertions) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use meshgate_core::Error;
use meshgate_core::access::{ColumnTags, DataFilter, GrantScope, Mask, RowRule, TagMask};
use meshgate_core::alerts::{Alert, AlertResponse, AlertSettings, AlertStatus, Suspension};
use meshgate_core::anomaly::{Finding, Measure};
use meshgate_core::audit_chain;
use meshgate_core::classification::{
    self, ClassificationMode, Decision, Detected, SuggestionStatus,
};
use meshgate_core::credential::{Credential, CredentialAction, SessionPolicy, TableTenancy};
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::MembershipSource;
use meshgate_core::model::{
    ApiToken, Column, DataProduct, Domain, ExternalLocation, Grant, Grantee, Health, ItemKind,
    JobKind, NewAuditEvent, Outcome, Permission, Principal, PrincipalKind, ProductTable,
    RecipientSettings, Share, ShareItem, SharingToken, SharingTokenKind, Team, TeamMember,
    TeamRole, TokenScope, new_id,
};
use meshgate_core::notify::{
    Contact, DeliveryStatus, Notification, NotifyEvent, Webhook, WebhookDelivery,
};
use meshgate_store::{
    AlertBatch, AlertFilter, AuditFilter, ItemHealth, MemberOp, NameIds, NewJob, NotificationBatch,
    PolicyScope, PolicyVersion, ProductFilter, ScimWrite, ShareChange, ShareFilter, Store, connect,
    migrate, truncate_to_micros,
};
use sqlx::{Connection, Executor};
use uuid::Uuid;

// ----- harness -----

struct Env {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// The server URL and schema to drop after a PostgreSQL test.
    pg: Option<(String, String)>,
}

impl Env {
    fn s(&self) -> &dyn Store {
        self.store.as_ref()
    }

    async fn cleanup(self) {
        if let Some((base, schema)) = &self.pg {
            let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
            admin
                .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                .await
                .unwrap();
        }
    }
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/meshgate.db", dir.path().display());
    let store = connect(&url).await.unwrap();
    Env {
        store,
        url,
        _dir: Some(dir),
        pg: None,
    }
}

const PG_VAR: &str = "MESHGATE_TEST_POSTGRES_URL";

async fn postgres_env() -> Option<Env> {
    let Ok(base) = std::env::var(PG_VAR) else {
        eprintln!("note: {PG_VAR} is not set; skipping the PostgreSQL variant of this test");
        return None;
    };
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{PG_VAR} is set but PostgreSQL is unreachable: {e}"));
    let schema = format!("meshgate_test_{}", Uuid::now_v7().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = connect(&url).await.unwrap();
    Some(Env {
        store,
        url,
        _dir: None,
        pg: Some((base, schema)),
    })
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = super::sqlite_env().await;
                    assert_eq!(env.s().backend(), "sqlite");
                    super::$name(&env).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(env) = super::postgres_env().await else { return };
                    assert_eq!(env.s().backend(), "postgres");
                    super::$name(&env).await;
                    env.cleanup().await;
                }
            )*
        }
    };
}

suite!(
    ping_and_migrations_are_idempotent,
    timestamps_round_trip_at_microsecond_precision,
    principals_crud_and_unique_names,
    group_membership_bumps_policy_version,
    tokens_lookup_by_hash_and_revocation,
    domains_and_teams_crud_and_unique_names,
    team_membership_bumps_policy_version,
    product_with_tables_is_atomic,
    tables_add_and_update_columns,
    delete_product_refused_while_an_item_is_shared,
    shares_create_get_and_list_filters,
    apply_share_change_writes_everything,
    stale_share_change_is_a_conflict_and_writes_nothing,
    failed_share_change_rolls_back_completely,
    job_leasing_complete_and_fail,
    release_leases_makes_leased_jobs_due_again,
    concurrent_leasing_never_hands_out_a_job_twice,
    audit_order_filters_and_limits,
    concurrent_writers_all_succeed,
    grant_scopes_round_trip,
    data_filters_crud_and_delete_guard,
    row_rules_replace_in_order,
    column_tags_set_and_clear,
    tag_masks_upsert_delete_and_list,
    delete_product_removes_its_fine_grained_access,
    catalog_domain_hierarchy_refuses_cycles,
    catalog_listing_revisions_and_table_tags,
    catalog_form_types_revisions_and_forms,
    catalog_rules_glossary_and_rows,
    lifecycle_file_grants_terms_settings_logs_and_due_shares,
    job_locks_keep_one_job_per_product_leased,
    notifications_are_dispatched_once_per_cursor,
    notification_inbox_read_and_emailed,
    contacts_webhooks_and_deliveries,
    sharing_tokens_activate_once_and_authenticate_by_secret,
    sharing_token_activation_is_won_by_exactly_one_caller,
    sharing_tokens_list_rotate_and_revoke_with_their_access_tokens,
    expired_access_tokens_are_collected,
    recipient_settings_upsert_and_read,
    external_locations_crud_unique_and_audited,
    mask_key_is_shared_separate_and_rotates,
    access_rows_read_everything_the_snapshot_needs,
    deactivation_revokes_every_credential_at_once,
    group_members_change_by_source,
    scim_writes_are_whole_and_compare_and_set,
    a_store_a_later_release_migrated_still_opens,
    singleton_leases_have_one_holder_at_a_time,
    open_jobs_count_what_runs_or_is_due_on_a_subject,
    job_leases_last_while_their_worker_renews_them,
    every_commit_moves_the_change_signal,
    classification_changes_commit_only_from_what_they_were_planned_from,
    audit_events_form_one_chain_under_concurrent_writers,
    audit_tampering_in_the_database_is_named,
    alerts_are_recorded_once_with_their_suspensions_and_notifications,
    names_of_every_kind_come_in_one_read,
);

// ----- fixtures -----

/// Now, as the store keeps it, so values compare equal after a round trip.
fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

fn audit(action: &str) -> NewAuditEvent {
    NewAuditEvent::new(None, action, "test", None)
}

async fn audit_actions(s: &dyn Store) -> Vec<String> {
    let filter = AuditFilter {
        limit: Some(1000),
        ..Default::default()
    };
    s.list_audit(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn principal(s: &dyn Store, name: &str, kind: PrincipalKind) -> Principal {
    let p = Principal {
        id: new_id(),
        name: name.to_string(),
        kind,
        display_name: format!("{name} (display)"),
        is_admin: false,
        created_at: now(),
        login: None,
        active: true,
    };
    s.create_principal(&p, audit("principal.create"))
        .await
        .unwrap();
    p
}

async fn domain(s: &dyn Store, name: &str) -> Domain {
    let d = Domain {
        id: new_id(),
        name: name.to_string(),
        description: format!("the {name} domain"),
        producer: true,
        consumer: false,
        created_at: now(),
        parent_id: None,
    };
    s.create_domain(&d, audit("domain.create")).await.unwrap();
    d
}

async fn team(s: &dyn Store, domain: &Domain, name: &str) -> Team {
    let t = Team {
        id: new_id(),
        domain_id: domain.id,
        name: name.to_string(),
        description: String::new(),
        created_at: now(),
    };
    s.create_team(&t, audit("team.create")).await.unwrap();
    t
}

fn columns() -> Vec<Column> {
    vec![
        Column {
            name: "id".into(),
            data_type: "Int64".into(),
            nullable: false,
            description: "the key".into(),
        },
        Column {
            name: "amount".into(),
            data_type: "Float64".into(),
            nullable: true,
            description: String::new(),
        },
    ]
}

fn table_of(product: &DataProduct, name: &str) -> ProductTable {
    ProductTable {
        id: new_id(),
        product_id: product.id,
        name: name.to_string(),
        description: format!("table {name}"),
        location: format!("file:///data/{}/{name}", product.name),
        managed: true,
        columns: columns(),
        created_at: now(),
    }
}

fn product_of(team: &Team, name: &str) -> DataProduct {
    DataProduct {
        id: new_id(),
        domain_id: team.domain_id,
        team_id: team.id,
        name: name.to_string(),
        description: format!("product {name}"),
        created_at: now(),
        updated_at: now(),
        listing: Default::default(),
        revision: 1,
    }
}

async fn product(
    s: &dyn Store,
    team: &Team,
    name: &str,
    tables: &[&str],
) -> (DataProduct, Vec<ProductTable>) {
    let p = product_of(team, name);
    let ts: Vec<ProductTable> = tables.iter().map(|t| table_of(&p, t)).collect();
    s.create_product(&p, &ts, audit("product.create"))
        .await
        .unwrap();
    (p, ts)
}

fn share_of(
    product: &DataProduct,
    team: Option<&Team>,
    principal: Option<&Principal>,
    created_by: &Principal,
    status: ShareStatus,
) -> Share {
    Share {
        id: new_id(),
        product_id: product.id,
        requester_team_id: team.map(|t| t.id),
        requester_principal_id: principal.map(|p| p.id),
        created_by: created_by.id,
        reason: "quarterly reporting".into(),
        status,
        requested_expiry: Some(now() + Duration::days(30)),
        decision_notes: None,
        decided_by: None,
        version: 1,
        created_at: now(),
        updated_at: now(),
        deleted_reason: None,
        terms: Default::default(),
    }
}

fn item_of(share: &Share, table: &ProductTable, status: ItemStatus) -> ShareItem {
    ShareItem {
        id: new_id(),
        share_id: share.id,
        kind: ItemKind::Table,
        table_id: Some(table.id),
        path: None,
        permission: Permission::Read,
        scope: GrantScope::default(),
        status,
        health: None,
        health_message: None,
        last_verified_at: None,
        created_at: now(),
        updated_at: now(),
    }
}

fn grant_of(item: &ShareItem, grantee: Grantee) -> Grant {
    Grant {
        id: new_id(),
        share_item_id: item.id,
        grantee,
        table_id: item.table_id.unwrap(),
        permission: Permission::Read,
        scope: item.scope.clone(),
        created_at: now(),
    }
}

/// A mesh with a producer team owning a product of two tables, a consumer team, and a user.
struct Mesh {
    owner: Team,
    consumer: Team,
    user: Principal,
    product: DataProduct,
    tables: Vec<ProductTable>,
}

async fn mesh(s: &dyn Store) -> Mesh {
    let sales = domain(s, "sales").await;
    let finance = domain(s, "finance").await;
    let owner = team(s, &sales, "orders").await;
    let consumer = team(s, &finance, "reporting").await;
    let user = principal(s, "alice", PrincipalKind::User).await;
    let (product, tables) = product(s, &owner, "orders", &["orders", "customers"]).await;
    Mesh {
        owner,
        consumer,
        user,
        product,
        tables,
    }
}

/// A share by the consumer team with one pending item per table.
async fn submitted_share(s: &dyn Store, m: &Mesh) -> (Share, Vec<ShareItem>) {
    let share = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Submitted,
    );
    let items: Vec<ShareItem> = m
        .tables
        .iter()
        .map(|t| item_of(&share, t, ItemStatus::PendingApproval))
        .collect();
    s.create_share(&share, &items, audit("share.create"))
        .await
        .unwrap();
    (share, items)
}

fn change(share: &Share, expected_version: i64) -> ShareChange {
    ShareChange {
        share_id: share.id,
        expected_version,
        ..Default::default()
    }
}

// ----- tests -----

async fn ping_and_migrations_are_idempotent(env: &Env) {
    let s = env.s();
    s.ping().await.unwrap();
    let d = domain(s, "sales").await;
    // Migrating again (as `meshgate migrate` would) and reconnecting changes nothing.
    migrate(&env.url).await.unwrap();
    migrate(&env.url).await.unwrap();
    let again = connect(&env.url).await.unwrap();
    assert_eq!(again.get_domain(d.id).await.unwrap(), Some(d));
    assert_eq!(again.policy_version().await.unwrap(), 0);
}

async fn timestamps_round_trip_at_microsecond_precision(env: &Env) {
    let s = env.s();
    // Nanoseconds are dropped on write; microseconds survive exactly, as do old dates.
    let created = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
    let p = Principal {
        id: new_id(),
        name: "clock".into(),
        kind: PrincipalKind::Service,
        display_name: "Clock".into(),
        is_admin: true,
        created_at: created,
        login: None,
        active: true,
    };
    s.create_principal(&p, audit("principal.create"))
        .await
        .unwrap();
    let got = s.get_principal(p.id).await.unwrap().unwrap();
    assert_eq!(
        got.created_at,
        Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap()
    );
    assert_eq!(got.created_at, truncate_to_micros(created));

    let old = Utc.timestamp_opt(-86_400, 1_000).unwrap();
    let token = ApiToken {
        id: new_id(),
        principal_id: p.id,
        name: "old".into(),
        token_hash: "h-old".into(),
        created_at: old,
        expires_at: Some(Utc.timestamp_opt(4_102_444_800, 999_999_000).unwrap()),
        revoked_at: None,
        scope: TokenScope::Scim,
    };
    s.create_token(&token, audit("token.create")).await.unwrap();
    assert_eq!(s.get_token(token.id).await.unwrap(), Some(token));
}

async fn principals_crud_and_unique_names(env: &Env) {
    let s = env.s();
    assert!(!s.has_admin().await.unwrap());
    let bob = principal(s, "bob", PrincipalKind::User).await;
    assert!(!s.has_admin().await.unwrap());
    let admin = Principal {
        id: new_id(),
        name: "admin".into(),
        kind: PrincipalKind::User,
        display_name: "Admin".into(),
        is_admin: true,
        created_at: now(),
        login: None,
        active: true,
    };
    s.create_principal(&admin, audit("principal.create"))
        .await
        .unwrap();
    assert!(s.has_admin().await.unwrap());
    let svc = principal(s, "etl", PrincipalKind::Service).await;

    assert_eq!(s.get_principal(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(s.get_principal(new_id()).await.unwrap(), None);
    assert_eq!(
        s.get_principal_by_name("etl").await.unwrap(),
        Some(svc.clone())
    );
    assert_eq!(s.get_principal_by_name("nobody").await.unwrap(), None);
    let names: Vec<String> = s
        .list_principals()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["admin", "bob", "etl"]);

    let dup = Principal {
        id: new_id(),
        ..bob.clone()
    };
    let err = s
        .create_principal(&dup, audit("principal.dup"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { what: "principal", name } if name == "bob"),
        "{err}"
    );
    assert_eq!(err.to_string(), "principal `bob` already exists");
    // The refused create left no audit event.
    let actions = audit_actions(s).await;
    assert_eq!(actions.len(), 3);
    assert!(!actions.contains(&"principal.dup".to_string()));
}

async fn group_membership_bumps_policy_version(env: &Env) {
    let s = env.s();
    let group = principal(s, "analysts", PrincipalKind::Group).await;
    let alice = principal(s, "alice", PrincipalKind::User).await;
    let v0 = s.policy_version().await.unwrap();

    s.add_group_member(group.id, alice.id, audit("group.add"))
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    assert_eq!(s.groups_of(alice.id).await.unwrap(), vec![group.id]);
    // Adding twice is a no-op: no error, no bump.
    s.add_group_member(group.id, alice.id, audit("group.add"))
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    assert_eq!(s.groups_of(alice.id).await.unwrap(), vec![group.id]);

    // Only groups have members; unknown principals are not found.
    let err = s
        .add_group_member(alice.id, group.id, audit("group.add"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = s
        .add_group_member(new_id(), alice.id, audit("group.add"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "group", .. }),
        "{err}"
    );
    let err = s
        .add_group_member(group.id, new_id(), audit("group.add"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "principal",
                ..
            }
        ),
        "{err}"
    );

    s.remove_group_member(group.id, alice.id, audit("group.remove"))
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 2);
    assert!(s.groups_of(alice.id).await.unwrap().is_empty());
    let err = s
        .remove_group_member(group.id, alice.id, audit("group.remove"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(s.policy_version().await.unwrap(), v0 + 2);
}

async fn tokens_lookup_by_hash_and_revocation(env: &Env) {
    let s = env.s();
    let alice = principal(s, "alice", PrincipalKind::User).await;
    let token = ApiToken {
        id: new_id(),
        principal_id: alice.id,
        name: "laptop".into(),
        token_hash: "3f2a".repeat(16),
        created_at: now(),
        expires_at: Some(now() + Duration::days(90)),
        revoked_at: None,
        scope: TokenScope::Api,
    };
    s.create_token(&token, audit("token.create")).await.unwrap();
    let second = ApiToken {
        id: new_id(),
        name: "ci".into(),
        token_hash: "b00c".repeat(16),
        expires_at: None,
        ..token.clone()
    };
    s.create_token(&second, audit("token.create"))
        .await
        .unwrap();

    let (found, who) = s.find_token(&token.token_hash).await.unwrap().unwrap();
    assert_eq!(found, token);
    assert_eq!(who, alice);
    assert_eq!(s.find_token("no-such-hash").await.unwrap(), None);
    assert_eq!(s.get_token(second.id).await.unwrap(), Some(second.clone()));
    assert_eq!(
        s.list_tokens(alice.id).await.unwrap(),
        vec![token.clone(), second.clone()]
    );

    let dup = ApiToken {
        id: new_id(),
        name: "copy".into(),
        ..token.clone()
    };
    let err = s
        .create_token(&dup, audit("token.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { what: "token", .. }),
        "{err}"
    );

    let first = now();
    s.revoke_token(token.id, first, audit("token.revoke"))
        .await
        .unwrap();
    s.revoke_token(token.id, first + Duration::hours(1), audit("token.revoke"))
        .await
        .unwrap();
    let (revoked, _) = s.find_token(&token.token_hash).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(first),
        "revoking twice keeps the first time"
    );
    assert!(!revoked.is_usable(now()));
    assert!(
        s.get_token(second.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    let err = s
        .revoke_token(new_id(), first, audit("token.revoke"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "token", .. }),
        "{err}"
    );
}

async fn domains_and_teams_crud_and_unique_names(env: &Env) {
    let s = env.s();
    let sales = domain(s, "sales").await;
    let finance = domain(s, "finance").await;
    assert_eq!(s.get_domain(sales.id).await.unwrap(), Some(sales.clone()));
    assert_eq!(
        s.get_domain_by_name("finance").await.unwrap(),
        Some(finance.clone())
    );
    assert_eq!(s.get_domain_by_name("hr").await.unwrap(), None);
    assert_eq!(
        s.list_domains().await.unwrap(),
        vec![finance.clone(), sales.clone()]
    );
    let err = s
        .create_domain(
            &Domain {
                id: new_id(),
                ..sales.clone()
            },
            audit("domain.create"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { what: "domain", .. }),
        "{err}"
    );

    let updated = Domain {
        description: "everything sold".into(),
        producer: false,
        consumer: true,
        ..sales.clone()
    };
    s.update_domain(&updated, audit("domain.update"))
        .await
        .unwrap();
    assert_eq!(s.get_domain(sales.id).await.unwrap(), Some(updated));
    let err = s
        .update_domain(
            &Domain {
                id: new_id(),
                ..sales.clone()
            },
            audit("domain.update"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "domain", .. }),
        "{err}"
    );

    let orders = team(s, &sales, "orders").await;
    let fin_orders = team(s, &finance, "orders").await; // same name, other domain: fine
    let billing = team(s, &finance, "billing").await;
    assert_eq!(s.get_team(orders.id).await.unwrap(), Some(orders.clone()));
    assert_eq!(
        s.get_team_by_name(finance.id, "orders").await.unwrap(),
        Some(fin_orders.clone())
    );
    assert_eq!(s.get_team_by_name(finance.id, "nope").await.unwrap(), None);
    assert_eq!(
        s.list_teams(Some(finance.id)).await.unwrap(),
        vec![billing.clone(), fin_orders.clone()]
    );
    assert_eq!(s.list_teams(None).await.unwrap().len(), 3);
    let err = s
        .create_team(
            &Team {
                id: new_id(),
                ..orders.clone()
            },
            audit("team.create"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { what: "team", name } if name == "orders"),
        "{err}"
    );
    let orphan = Team {
        id: new_id(),
        domain_id: new_id(),
        name: "orphan".into(),
        description: String::new(),
        created_at: now(),
    };
    let err = s
        .create_team(&orphan, audit("team.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(s.get_team(orphan.id).await.unwrap(), None);
}

async fn team_membership_bumps_policy_version(env: &Env) {
    let s = env.s();
    let d = domain(s, "sales").await;
    let t = team(s, &d, "orders").await;
    let alice = principal(s, "alice", PrincipalKind::User).await;
    let bob = principal(s, "bob", PrincipalKind::User).await;
    let v0 = s.policy_version().await.unwrap();

    let mut m = TeamMember {
        team_id: t.id,
        principal_id: alice.id,
        role: TeamRole::Member,
    };
    s.put_team_member(&m, audit("team.member.put"))
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    m.role = TeamRole::Owner;
    s.put_team_member(&m, audit("team.member.put"))
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 2);
    let b = TeamMember {
        team_id: t.id,
        principal_id: bob.id,
        role: TeamRole::Steward,
    };
    s.put_team_member(&b, audit("team.member.put"))
        .await
        .unwrap();

    let mut members = s.list_team_members(t.id).await.unwrap();
    members.sort_by_key(|m| m.principal_id);
    assert_eq!(members, vec![m.clone(), b.clone()]);
    assert_eq!(s.memberships_of(alice.id).await.unwrap(), vec![m.clone()]);

    s.remove_team_member(t.id, alice.id, audit("team.member.remove"))
        .await
        .unwrap();
    let v = s.policy_version().await.unwrap();
    assert_eq!(v, v0 + 4);
    assert!(s.memberships_of(alice.id).await.unwrap().is_empty());
    let err = s
        .remove_team_member(t.id, alice.id, audit("team.member.remove"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(
        s.policy_version().await.unwrap(),
        v,
        "a refused removal bumps nothing"
    );
    let actions = audit_actions(s).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("team.member."))
            .count(),
        4
    );
}

async fn product_with_tables_is_atomic(env: &Env) {
    let s = env.s();
    let sales = domain(s, "sales").await;
    let finance = domain(s, "finance").await;
    let orders_team = team(s, &sales, "orders").await;
    let fin_team = team(s, &finance, "fin").await;
    let (p, tables) = product(s, &orders_team, "orders", &["orders", "customers"]).await;

    assert_eq!(s.get_product(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        s.get_product_by_name(sales.id, "orders").await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        s.get_product_by_name(finance.id, "orders").await.unwrap(),
        None
    );
    let mut listed = s.list_tables(p.id).await.unwrap();
    listed.sort_by_key(|t| t.id);
    let mut expected = tables.clone();
    expected.sort_by_key(|t| t.id);
    assert_eq!(listed, expected);
    assert_eq!(
        s.get_table(tables[0].id).await.unwrap(),
        Some(tables[0].clone())
    );

    // Same name in another domain is fine; in the same domain it is taken.
    let (other, _) = product(s, &fin_team, "orders", &[]).await;
    let err = s
        .create_product(
            &product_of(&orders_team, "orders"),
            &[],
            audit("product.create"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { what: "data product", name } if name == "orders"),
        "{err}"
    );

    assert_eq!(
        s.list_products(&ProductFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    let by_domain = ProductFilter {
        domain_id: Some(finance.id),
        ..Default::default()
    };
    assert_eq!(
        s.list_products(&by_domain).await.unwrap(),
        vec![other.clone()]
    );
    let by_team = ProductFilter {
        team_id: Some(orders_team.id),
        ..Default::default()
    };
    assert_eq!(s.list_products(&by_team).await.unwrap(), vec![p.clone()]);

    // A product whose second table clashes with its first is not created at all.
    let before = audit_actions(s).await.len();
    let broken = product_of(&orders_team, "broken");
    let t1 = table_of(&broken, "same");
    let t2 = table_of(&broken, "same");
    let err = s
        .create_product(&broken, &[t1.clone(), t2], audit("product.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { what: "table", .. }),
        "{err}"
    );
    assert_eq!(s.get_product(broken.id).await.unwrap(), None);
    assert_eq!(s.get_table(t1.id).await.unwrap(), None);
    assert_eq!(audit_actions(s).await.len(), before);
}

async fn tables_add_and_update_columns(env: &Env) {
    let s = env.s();
    let d = domain(s, "sales").await;
    let t = team(s, &d, "orders").await;
    let (p, tables) = product(s, &t, "orders", &["orders"]).await;

    let extra = ProductTable {
        managed: false,
        columns: vec![],
        ..table_of(&p, "returns")
    };
    s.add_table(&extra, audit("table.add")).await.unwrap();
    assert_eq!(s.get_table(extra.id).await.unwrap(), Some(extra.clone()));
    assert_eq!(s.list_tables(p.id).await.unwrap().len(), 2);
    let err = s
        .add_table(
            &ProductTable {
                id: new_id(),
                ..extra.clone()
            },
            audit("table.add"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { what: "table", .. }),
        "{err}"
    );
    let err = s
        .add_table(
            &ProductTable {
                id: new_id(),
                product_id: new_id(),
                ..extra.clone()
            },
            audit("table.add"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    let mut evolved = tables[0].clone();
    evolved.columns.push(Column {
        name: "note".into(),
        data_type: "Utf8".into(),
        nullable: true,
        description: "free text, with \"quotes\" and ünïcode".into(),
    });
    s.update_table_columns(&evolved, audit("table.update"))
        .await
        .unwrap();
    assert_eq!(
        s.get_table(evolved.id).await.unwrap(),
        Some(evolved.clone())
    );
    let err = s
        .update_table_columns(
            &ProductTable {
                id: new_id(),
                ..evolved
            },
            audit("table.update"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "table", .. }),
        "{err}"
    );
}

async fn delete_product_refused_while_an_item_is_shared(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let share = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Processed,
    );
    let shared = item_of(&share, &m.tables[0], ItemStatus::ShareSucceeded);
    let rejected = item_of(&share, &m.tables[1], ItemStatus::ShareRejected);
    s.create_share(&share, &[shared.clone(), rejected], audit("share.create"))
        .await
        .unwrap();

    let before = audit_actions(s).await;
    let err = s
        .delete_product(m.product.id, audit("product.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("`orders`") && msg.contains("revoke"), "{msg}");
    assert!(s.get_product(m.product.id).await.unwrap().is_some());
    assert_eq!(s.list_tables(m.product.id).await.unwrap().len(), 2);
    assert_eq!(
        audit_actions(s).await,
        before,
        "a refused delete is not audited"
    );

    // Revoked: now it may go, and the share stays readable.
    let mut c = change(&share, 1);
    c.item_status = vec![(shared.id, ItemStatus::RevokeSucceeded)];
    s.apply_share_change(c).await.unwrap();
    s.delete_product(m.product.id, audit("product.delete"))
        .await
        .unwrap();
    assert_eq!(s.get_product(m.product.id).await.unwrap(), None);
    assert!(s.list_tables(m.product.id).await.unwrap().is_empty());
    assert_eq!(s.get_table(m.tables[0].id).await.unwrap(), None);
    let kept = s.get_share(share.id).await.unwrap().unwrap();
    assert_eq!(kept.items.len(), 2);
    assert_eq!(kept.share.product_id, m.product.id);
    // The owning team still sees it.
    let owner_view = ShareFilter {
        visible_to_teams: Some(vec![m.owner.id]),
        ..Default::default()
    };
    assert_eq!(s.list_shares(&owner_view).await.unwrap().len(), 1);
    assert_eq!(audit_actions(s).await.last().unwrap(), "product.delete");

    let err = s
        .delete_product(m.product.id, audit("product.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

async fn shares_create_get_and_list_filters(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let d = s.get_domain_by_name("finance").await.unwrap().unwrap();
    let other_team = team(s, &d, "audit").await;
    let svc = principal(s, "etl", PrincipalKind::Service).await;
    let (other_product, other_tables) = product(s, &other_team, "ledger", &["ledger"]).await;

    // s1: consumer team asks for orders; s2: a service principal asks for orders;
    // s3: consumer team asked for the ledger, then deleted it.
    let (s1, s1_items) = submitted_share(s, &m).await;
    let s2 = share_of(&m.product, None, Some(&svc), &svc, ShareStatus::Draft);
    s.create_share(&s2, &[], audit("share.create"))
        .await
        .unwrap();
    let mut s3 = share_of(
        &other_product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Deleted,
    );
    s3.deleted_reason = Some("no longer needed".into());
    s3.decision_notes = Some("ok".into());
    s3.decided_by = Some(m.user.id);
    let s3_item = item_of(&s3, &other_tables[0], ItemStatus::RevokeSucceeded);
    s.create_share(&s3, std::slice::from_ref(&s3_item), audit("share.create"))
        .await
        .unwrap();

    let got = s.get_share(s1.id).await.unwrap().unwrap();
    assert_eq!(got.share, s1);
    assert_eq!(got.items, s1_items);
    assert_eq!(got.summary.pending, 2);
    let got3 = s.get_share(s3.id).await.unwrap().unwrap();
    assert_eq!(got3.share, s3);
    assert_eq!(got3.summary.revoked, 1);
    assert_eq!(s.get_share(new_id()).await.unwrap(), None);

    let ids = |v: Vec<meshgate_core::model::ShareDetail>| -> Vec<Uuid> {
        v.into_iter().map(|d| d.share.id).collect()
    };
    let list = |f: ShareFilter| async move { ids(s.list_shares(&f).await.unwrap()) };

    // Newest first; deleted shares hidden unless asked for.
    assert_eq!(list(ShareFilter::default()).await, vec![s2.id, s1.id]);
    assert_eq!(
        list(ShareFilter {
            include_deleted: true,
            ..Default::default()
        })
        .await,
        vec![s3.id, s2.id, s1.id]
    );
    assert_eq!(
        list(ShareFilter {
            status: Some(ShareStatus::Deleted),
            ..Default::default()
        })
        .await,
        vec![s3.id]
    );
    assert_eq!(
        list(ShareFilter {
            status: Some(ShareStatus::Submitted),
            ..Default::default()
        })
        .await,
        vec![s1.id]
    );
    assert_eq!(
        list(ShareFilter {
            product_id: Some(other_product.id),
            include_deleted: true,
            ..Default::default()
        })
        .await,
        vec![s3.id]
    );
    assert_eq!(
        list(ShareFilter {
            requester_team_id: Some(m.consumer.id),
            ..Default::default()
        })
        .await,
        vec![s1.id]
    );
    assert_eq!(
        list(ShareFilter {
            requester_principal_id: Some(svc.id),
            ..Default::default()
        })
        .await,
        vec![s2.id]
    );
    assert_eq!(
        list(ShareFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await,
        vec![s2.id]
    );

    // Visibility: owner team sees requests for its products; requester team sees its own;
    // a principal sees what it asked for itself.
    let visible = |teams: Option<Vec<Uuid>>, principal: Option<Uuid>| ShareFilter {
        visible_to_teams: teams,
        visible_to_principal: principal,
        include_deleted: true,
        ..Default::default()
    };
    assert_eq!(
        list(visible(Some(vec![m.owner.id]), None)).await,
        vec![s2.id, s1.id]
    );
    assert_eq!(
        list(visible(Some(vec![m.consumer.id]), None)).await,
        vec![s3.id, s1.id]
    );
    assert_eq!(
        list(visible(Some(vec![other_team.id]), None)).await,
        vec![s3.id]
    );
    assert_eq!(list(visible(Some(vec![]), Some(svc.id))).await, vec![s2.id]);
    assert_eq!(list(visible(None, Some(svc.id))).await, vec![s2.id]);
    assert_eq!(
        list(visible(Some(vec![other_team.id]), Some(svc.id))).await,
        vec![s3.id, s2.id]
    );
    assert!(list(visible(Some(vec![]), None)).await.is_empty());
    assert!(
        list(visible(Some(vec![new_id()]), Some(new_id())))
            .await
            .is_empty()
    );

    // Items come with listed shares.
    let listed = s
        .list_shares(&ShareFilter {
            product_id: Some(m.product.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed[1].items, s1_items);
    assert!(listed[0].items.is_empty());

    // Errors: duplicate id, unknown product, an item of another share.
    let err = s
        .create_share(&s1, &[], audit("share.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { what: "share", .. }),
        "{err}"
    );
    let mut ghost = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Draft,
    );
    ghost.product_id = new_id();
    let err = s
        .create_share(&ghost, &[], audit("share.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let s4 = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Draft,
    );
    let stray = item_of(&s1, &m.tables[0], ItemStatus::PendingApproval);
    let err = s
        .create_share(&s4, &[stray], audit("share.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(s.get_share(s4.id).await.unwrap(), None);
}

async fn apply_share_change_writes_everything(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, items) = submitted_share(s, &m).await;
    let v0 = s.policy_version().await.unwrap();
    let broad0 = s.policy_versions().await.unwrap().broad;
    let jobs0 = s.pending_jobs().await.unwrap();
    let team = PolicyScope::Team(m.consumer.id);
    let user = PolicyScope::Principal(m.user.id);
    let elsewhere = [
        PolicyScope::Team(m.owner.id),
        PolicyScope::Principal(new_id()),
    ];

    // Approve: decision fields, item statuses, a job and an audit event; no grants yet.
    let mut c = change(&share, 1);
    c.status = Some(ShareStatus::Approved);
    c.decision_notes = Some("fine for Q3".into());
    c.decided_by = Some(m.user.id);
    c.item_status = items
        .iter()
        .map(|i| (i.id, ItemStatus::ShareApproved))
        .collect();
    c.audit = vec![NewAuditEvent::new(
        Some(m.user.id),
        "share.approve",
        "share",
        Some(share.id.to_string()),
    )];
    c.jobs = vec![NewJob {
        kind: JobKind::ProcessShare,
        subject_id: share.id,
        lock_product: None,
        lock_grantee: None,
    }];
    let after = s.apply_share_change(c).await.unwrap();
    assert_eq!(after.share.version, 2);
    assert_eq!(after.share.status, ShareStatus::Approved);
    assert_eq!(after.share.decision_notes.as_deref(), Some("fine for Q3"));
    assert_eq!(after.share.decided_by, Some(m.user.id));
    assert!(after.share.updated_at >= share.updated_at);
    assert!(
        after
            .items
            .iter()
            .all(|i| i.status == ItemStatus::ShareApproved)
    );
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), after);
    assert_eq!(s.policy_version().await.unwrap(), v0, "no grant changed");
    assert_eq!(s.pending_jobs().await.unwrap(), jobs0 + 1);
    let jobs = s.lease_jobs("w", 10, Duration::seconds(60)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].kind, jobs[0].subject_id),
        (JobKind::ProcessShare, share.id)
    );
    s.complete_job(jobs[0].id).await.unwrap();

    // Process: first item succeeds with grants and health, second is removed, a new one added.
    let granted = &items[0];
    let new_item = item_of(&share, &m.tables[1], ItemStatus::PendingApproval);
    let verified = now();
    let team_grant = grant_of(granted, Grantee::Team(m.consumer.id));
    let user_grant = grant_of(granted, Grantee::Principal(m.user.id));
    let mut c = change(&share, 2);
    c.status = Some(ShareStatus::Processed);
    c.item_status = vec![(granted.id, ItemStatus::ShareSucceeded)];
    c.item_health = vec![ItemHealth {
        item_id: granted.id,
        health: Health::Healthy,
        message: Some("grant in force".into()),
        verified_at: verified,
    }];
    c.new_items = vec![new_item.clone()];
    c.removed_items = vec![items[1].id];
    c.grants_to_add = vec![team_grant.clone(), user_grant.clone()];
    c.audit = vec![audit("share.item.success"), audit("share.finish")];
    let after = s.apply_share_change(c).await.unwrap();
    assert_eq!(after.share.version, 3);
    assert_eq!(after.share.status, ShareStatus::Processed);
    assert_eq!(
        after.share.decision_notes.as_deref(),
        Some("fine for Q3"),
        "kept"
    );
    assert_eq!(after.items.len(), 2);
    let got = after.items.iter().find(|i| i.id == granted.id).unwrap();
    assert_eq!(got.status, ItemStatus::ShareSucceeded);
    assert_eq!(got.health, Some(Health::Healthy));
    assert_eq!(got.health_message.as_deref(), Some("grant in force"));
    assert_eq!(got.last_verified_at, Some(verified));
    assert_eq!(
        after.items.iter().find(|i| i.id == new_item.id),
        Some(&new_item)
    );
    assert!(after.items.iter().all(|i| i.id != items[1].id));
    assert_eq!((after.summary.shared, after.summary.pending), (1, 1));
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    // A grant change is scoped: the version moves, `broad` does not, and the two grantees'
    // scopes record it; nobody else's do.
    assert_eq!(
        s.policy_versions().await.unwrap(),
        PolicyVersion {
            version: v0 + 1,
            broad: broad0
        }
    );
    assert!(s.scopes_changed_since(&[team], v0).await.unwrap());
    assert!(
        s.scopes_changed_since(&[elsewhere[0], user], v0)
            .await
            .unwrap()
    );
    assert!(!s.scopes_changed_since(&[team, user], v0 + 1).await.unwrap());
    assert!(!s.scopes_changed_since(&elsewhere, v0).await.unwrap());
    assert!(!s.scopes_changed_since(&[], v0).await.unwrap());

    let mut of_share = s.grants_of_share(share.id).await.unwrap();
    of_share.sort_by_key(|g| g.id);
    let mut expected = vec![team_grant.clone(), user_grant.clone()];
    expected.sort_by_key(|g| g.id);
    assert_eq!(of_share, expected);
    assert_eq!(
        s.grants_for(m.user.id, &[]).await.unwrap(),
        vec![user_grant.clone()]
    );
    assert_eq!(
        s.grants_for(new_id(), &[m.consumer.id, m.owner.id])
            .await
            .unwrap(),
        vec![team_grant.clone()]
    );
    assert_eq!(
        s.grants_for(m.user.id, &[m.consumer.id])
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        s.grants_for(new_id(), &[m.owner.id])
            .await
            .unwrap()
            .is_empty()
    );
    let actions = audit_actions(s).await;
    let n = actions.len();
    assert_eq!(
        actions[n - 3..],
        ["share.approve", "share.item.success", "share.finish"]
    );

    // Revoke: grants removed by item, policy bumped again.
    let mut c = change(&share, 3);
    c.status = Some(ShareStatus::Revoked);
    c.item_status = vec![(granted.id, ItemStatus::RevokeSucceeded)];
    c.grants_to_remove = vec![granted.id];
    c.deleted_reason = Some("kept for the record".into());
    let after = s.apply_share_change(c).await.unwrap();
    assert_eq!(after.share.version, 4);
    assert_eq!(
        after.share.deleted_reason.as_deref(),
        Some("kept for the record")
    );
    assert!(s.grants_of_share(share.id).await.unwrap().is_empty());
    assert!(
        s.grants_for(m.user.id, &[m.consumer.id])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 2);
    // Removed grants are scoped by the grantees of the rows removed.
    assert!(s.scopes_changed_since(&[team], v0 + 1).await.unwrap());
    assert!(s.scopes_changed_since(&[user], v0 + 1).await.unwrap());
    assert!(!s.scopes_changed_since(&elsewhere, v0).await.unwrap());
    assert_eq!(s.policy_versions().await.unwrap().broad, broad0);

    // Removing an item removes its grants too (and that is a grant change).
    let mut c = change(&share, 4);
    c.grants_to_add = vec![grant_of(&new_item, Grantee::Team(m.consumer.id))];
    s.apply_share_change(c).await.unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 3);
    let mut c = change(&share, 5);
    c.removed_items = vec![new_item.id];
    s.apply_share_change(c).await.unwrap();
    assert!(s.grants_of_share(share.id).await.unwrap().is_empty());
    assert_eq!(s.policy_version().await.unwrap(), v0 + 4);
    assert!(s.scopes_changed_since(&[team], v0 + 3).await.unwrap());
    assert!(!s.scopes_changed_since(&[user], v0 + 2).await.unwrap());

    // Any other change to what anyone may read is broad: it moves both.
    let extra = principal(s, "scope-extra", PrincipalKind::User).await;
    s.put_team_member(
        &TeamMember {
            team_id: m.consumer.id,
            principal_id: extra.id,
            role: TeamRole::Member,
        },
        audit("team.member.put"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.policy_versions().await.unwrap(),
        PolicyVersion {
            version: v0 + 5,
            broad: v0 + 5
        }
    );
}

async fn stale_share_change_is_a_conflict_and_writes_nothing(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, items) = submitted_share(s, &m).await;
    let mut c = change(&share, 1);
    c.status = Some(ShareStatus::Approved);
    s.apply_share_change(c).await.unwrap();

    let before_share = s.get_share(share.id).await.unwrap().unwrap();
    let before_audit = audit_actions(s).await;
    let before_jobs = s.pending_jobs().await.unwrap();
    let before_policy = s.policy_version().await.unwrap();

    // Computed from version 1, but the share is at 2 now.
    let mut stale = change(&share, 1);
    stale.status = Some(ShareStatus::Rejected);
    stale.item_status = vec![(items[0].id, ItemStatus::ShareSucceeded)];
    stale.new_items = vec![item_of(&share, &m.tables[0], ItemStatus::PendingApproval)];
    stale.grants_to_add = vec![grant_of(&items[0], Grantee::Team(m.consumer.id))];
    stale.audit = vec![audit("share.reject")];
    stale.jobs = vec![NewJob {
        kind: JobKind::ProcessShare,
        subject_id: share.id,
        lock_product: None,
        lock_grantee: None,
    }];
    let err = s.apply_share_change(stale).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "share `{}` was changed concurrently (now version 2, you had 1); reload it and retry",
            share.id
        )
    );
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), before_share);
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.pending_jobs().await.unwrap(), before_jobs);
    assert_eq!(s.policy_version().await.unwrap(), before_policy);
    assert!(s.grants_of_share(share.id).await.unwrap().is_empty());

    let err = s
        .apply_share_change(change(
            &Share {
                id: new_id(),
                ..share.clone()
            },
            1,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "share", .. }),
        "{err}"
    );
}

async fn failed_share_change_rolls_back_completely(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, items) = submitted_share(s, &m).await;
    let before_share = s.get_share(share.id).await.unwrap().unwrap();
    let before_audit = audit_actions(s).await;
    let before_policy = s.policy_version().await.unwrap();

    // The right version, and most of the change is valid, but the last grant names an item of
    // no share: by then the version was bumped, items updated and grants written, and all of
    // it must be undone.
    let mut c = change(&share, 1);
    c.status = Some(ShareStatus::Processed);
    c.item_status = vec![(items[0].id, ItemStatus::ShareSucceeded)];
    c.removed_items = vec![items[1].id];
    c.grants_to_add = vec![
        grant_of(&items[0], Grantee::Team(m.consumer.id)),
        Grant {
            share_item_id: new_id(),
            ..grant_of(&items[0], Grantee::Team(m.consumer.id))
        },
    ];
    c.audit = vec![audit("share.finish")];
    c.jobs = vec![NewJob {
        kind: JobKind::RevokeShare,
        subject_id: share.id,
        lock_product: None,
        lock_grantee: None,
    }];
    let err = s.apply_share_change(c).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "share item",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), before_share);
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.pending_jobs().await.unwrap(), 0);
    assert_eq!(s.policy_version().await.unwrap(), before_policy);
    assert!(s.grants_of_share(share.id).await.unwrap().is_empty());

    // An unknown item in a status update is refused the same way.
    let mut c = change(&share, 1);
    c.item_status = vec![(new_id(), ItemStatus::ShareApproved)];
    c.audit = vec![audit("share.approve")];
    let err = s.apply_share_change(c).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), before_share);
    assert_eq!(audit_actions(s).await, before_audit);

    // A new item claiming another share is invalid.
    let mut c = change(&share, 1);
    c.new_items = vec![ShareItem {
        share_id: new_id(),
        ..item_of(&share, &m.tables[0], ItemStatus::PendingApproval)
    }];
    let err = s.apply_share_change(c).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), before_share);
}

async fn job_leasing_complete_and_fail(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, _) = submitted_share(s, &m).await;
    let mut c = change(&share, 1);
    c.jobs = (0..3)
        .map(|i| NewJob {
            kind: if i == 2 {
                JobKind::RevokeShare
            } else {
                JobKind::ProcessShare
            },
            subject_id: share.id,
            lock_product: None,
            lock_grantee: None,
        })
        .collect();
    s.apply_share_change(c).await.unwrap();
    assert_eq!(s.pending_jobs().await.unwrap(), 3);
    assert!(
        s.lease_jobs("w0", 0, Duration::seconds(60))
            .await
            .unwrap()
            .is_empty()
    );

    let minute = Duration::seconds(60);
    let first = s.lease_jobs("w1", 2, minute).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|j| j.attempts == 1));
    assert!(first[0].id < first[1].id, "oldest first");
    let rest = s.lease_jobs("w2", 10, minute).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].kind, JobKind::RevokeShare, "the last one created");
    assert!(
        s.lease_jobs("w3", 10, minute).await.unwrap().is_empty(),
        "all leased"
    );

    // Done: gone. Failed and due again: leased again with one more attempt. Failed with a later
    // retry: not yet.
    s.complete_job(first[0].id).await.unwrap();
    assert_eq!(s.pending_jobs().await.unwrap(), 2);
    let err = s.complete_job(first[0].id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "job", .. }), "{err}");
    s.fail_job(
        first[1].id,
        "object store unreachable",
        now() - Duration::seconds(1),
    )
    .await
    .unwrap();
    s.fail_job(rest[0].id, "later", now() + Duration::hours(1))
        .await
        .unwrap();
    let again = s.lease_jobs("w4", 10, minute).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (first[1].id, 2));
    let err = s.fail_job(new_id(), "x", now()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // A lease that has run out (here: one that ended before it began) frees the job.
    s.complete_job(again[0].id).await.unwrap();
    s.fail_job(rest[0].id, "now", now() - Duration::seconds(1))
        .await
        .unwrap();
    let short = s.lease_jobs("w5", 10, Duration::seconds(-1)).await.unwrap();
    assert_eq!(short.len(), 1);
    let taken_over = s.lease_jobs("w6", 10, minute).await.unwrap();
    assert_eq!(taken_over.len(), 1);
    assert_eq!((taken_over[0].id, taken_over[0].attempts), (rest[0].id, 3));
    assert!(s.lease_jobs("w7", 10, minute).await.unwrap().is_empty());
    s.complete_job(rest[0].id).await.unwrap();
    assert_eq!(s.pending_jobs().await.unwrap(), 0);
}

async fn release_leases_makes_leased_jobs_due_again(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, _) = submitted_share(s, &m).await;
    let mut c = change(&share, 1);
    c.jobs = (0..3)
        .map(|_| NewJob {
            kind: JobKind::ProcessShare,
            subject_id: share.id,
            lock_product: None,
            lock_grantee: None,
        })
        .collect();
    s.apply_share_change(c).await.unwrap();
    assert_eq!(s.release_leases().await.unwrap(), 0, "nothing leased yet");

    // Two jobs leased by a worker that then died, one failed and due only in an hour.
    let hour = Duration::hours(1);
    let leased = s.lease_jobs("dead", 2, hour).await.unwrap();
    assert_eq!(leased.len(), 2);
    let later = s.lease_jobs("dead", 10, hour).await.unwrap();
    assert_eq!(later.len(), 1);
    s.fail_job(later[0].id, "later", now() + hour)
        .await
        .unwrap();
    assert!(s.lease_jobs("w", 10, hour).await.unwrap().is_empty());

    // Releasing frees the leased jobs at once, keeps their attempts, and leaves the failed
    // job's retry time alone.
    assert_eq!(s.release_leases().await.unwrap(), 2);
    let again = s.lease_jobs("w", 10, hour).await.unwrap();
    let mut ids: Vec<Uuid> = again.iter().map(|j| j.id).collect();
    ids.sort_unstable();
    let mut expected: Vec<Uuid> = leased.iter().map(|j| j.id).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(again.iter().all(|j| j.attempts == 2), "{again:?}");
    assert_eq!(
        s.pending_jobs().await.unwrap(),
        3,
        "releasing completes nothing"
    );
    assert_eq!(s.release_leases().await.unwrap(), 2);
    assert_eq!(
        s.release_leases().await.unwrap(),
        0,
        "released twice: a no-op"
    );
}

async fn concurrent_leasing_never_hands_out_a_job_twice(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, _) = submitted_share(s, &m).await;
    let mut c = change(&share, 1);
    c.jobs = (0..40)
        .map(|_| NewJob {
            kind: JobKind::ProcessShare,
            subject_id: share.id,
            lock_product: None,
            lock_grantee: None,
        })
        .collect();
    s.apply_share_change(c).await.unwrap();

    let workers = (0..4).map(|w| {
        let store = env.store.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let jobs = store
                    .lease_jobs(&format!("w{w}"), 3, Duration::seconds(60))
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return got;
                }
                got.extend(jobs.into_iter().map(|j| j.id));
            }
        })
    });
    let mut all = Vec::new();
    for w in workers.collect::<Vec<_>>() {
        all.extend(w.await.unwrap());
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every job leased once");
    assert_eq!(distinct.len(), 40, "no job leased twice");
}

async fn audit_order_filters_and_limits(env: &Env) {
    let s = env.s();
    let alice = new_id();
    let bob = new_id();
    let mut seqs = Vec::new();
    for (actor, action, object) in [
        (alice, "share.approve", "s1"),
        (bob, "share.reject", "s2"),
        (alice, "shares.list", "s1"),
        (bob, "query.run", "t1"),
        (alice, "SHARE.approve", "s1"),
    ] {
        let event = NewAuditEvent::new(Some(actor), action, "share", Some(object.into()))
            .with_detail(serde_json::json!({"from": "submitted", "rows": 3, "why": "ünï \"q\""}))
            .with_outcome(Outcome::Denied)
            .with_request_id(Some(format!("req-{action}")));
        seqs.push(s.append_audit(event).await.unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let list = |f: AuditFilter| async move { s.list_audit(&f).await.unwrap() };
    let all = list(AuditFilter::default()).await;
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    let first = &all[0];
    assert_eq!(first.actor_id, Some(alice));
    assert_eq!(first.action, "share.approve");
    assert_eq!(first.object_type, "share");
    assert_eq!(first.object_id.as_deref(), Some("s1"));
    assert_eq!(first.outcome, Outcome::Denied);
    assert_eq!(first.request_id.as_deref(), Some("req-share.approve"));
    assert_eq!(
        first.detail,
        serde_json::json!({"from": "submitted", "rows": 3, "why": "ünï \"q\""})
    );
    assert!(first.at <= Utc::now());

    let actions = |v: Vec<meshgate_core::model::AuditEvent>| -> Vec<String> {
        v.into_iter().map(|e| e.action).collect()
    };
    assert_eq!(
        actions(
            list(AuditFilter {
                action_prefix: Some("share.".into()),
                ..Default::default()
            })
            .await
        ),
        ["share.approve", "share.reject"],
        "a prefix, matched case-sensitively, with `.` taken literally"
    );
    assert_eq!(
        actions(
            list(AuditFilter {
                actor_id: Some(bob),
                ..Default::default()
            })
            .await
        ),
        ["share.reject", "query.run"]
    );
    assert_eq!(
        actions(
            list(AuditFilter {
                object_id: Some("s1".into()),
                after_seq: Some(seqs[0]),
                ..Default::default()
            })
            .await
        ),
        ["shares.list", "SHARE.approve"]
    );
    assert_eq!(
        actions(
            list(AuditFilter {
                after_seq: Some(seqs[1]),
                limit: Some(2),
                ..Default::default()
            })
            .await
        ),
        ["shares.list", "query.run"]
    );

    // The default page is 100, the largest 1000. (1100 events in one transaction, via a share
    // change, to keep this fast.)
    let m = mesh(s).await;
    let (share, _) = submitted_share(s, &m).await;
    let mut c = change(&share, 1);
    c.audit = (0..1100).map(|i| audit(&format!("bulk.{i}"))).collect();
    s.apply_share_change(c).await.unwrap();
    assert_eq!(list(AuditFilter::default()).await.len(), 100);
    let big = list(AuditFilter {
        limit: Some(5000),
        ..Default::default()
    })
    .await;
    assert_eq!(big.len(), 1000);
    assert!(big.windows(2).all(|w| w[0].seq < w[1].seq));
    let tail = list(AuditFilter {
        after_seq: Some(big[999].seq),
        limit: Some(1000),
        ..Default::default()
    })
    .await;
    assert_eq!(tail.last().unwrap().action, "bulk.1099");
}

async fn concurrent_writers_all_succeed(env: &Env) {
    // Many writers at once: on SQLite they queue on the single writer instead of failing with
    // "database is locked".
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = env.store.clone();
            tokio::spawn(async move {
                let p = Principal {
                    id: new_id(),
                    name: format!("user-{i}"),
                    kind: PrincipalKind::User,
                    display_name: String::new(),
                    is_admin: false,
                    created_at: now(),
                    login: None,
                    active: true,
                };
                store
                    .create_principal(&p, audit("principal.create"))
                    .await
                    .unwrap();
                store.append_audit(audit("read")).await.unwrap();
                store.get_principal(p.id).await.unwrap().unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(env.s().list_principals().await.unwrap().len(), 24);
    assert_eq!(audit_actions(env.s()).await.len(), 48);
}

// ----- fine-grained access (docs/design/ACCESS.md) -----

fn filter_of(m: &Mesh, table: &ProductTable, name: &str) -> DataFilter {
    DataFilter {
        id: new_id(),
        product_id: table.product_id,
        table_id: table.id,
        name: name.to_string(),
        description: format!("the {name} filter"),
        row_filter: Some("region = 'EU'".into()),
        columns: Some(vec!["id".into(), "amount".into()]),
        created_by: m.user.id,
        created_at: now(),
        updated_at: now(),
    }
}

/// A scope using `filters`, keeping one column and masking another.
fn scope_with(filters: &[Uuid]) -> GrantScope {
    GrantScope {
        data_filters: filters.to_vec(),
        columns: Some(vec!["id".into()]),
        masks: BTreeMap::from([("amount".to_string(), Mask::ShowLast4)]),
    }
}

fn sorted_by_id(mut grants: Vec<Grant>) -> Vec<Grant> {
    grants.sort_by_key(|g| g.id);
    grants
}

async fn grant_scopes_round_trip(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let f = filter_of(&m, &m.tables[0], "eu_only");
    s.create_data_filter(&f, audit("filter.create"))
        .await
        .unwrap();

    // create_share keeps each item's scope; the default scope reads back as the default.
    let share = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Submitted,
    );
    let scoped = ShareItem {
        scope: scope_with(&[f.id]),
        ..item_of(&share, &m.tables[0], ItemStatus::PendingApproval)
    };
    let whole = item_of(&share, &m.tables[1], ItemStatus::PendingApproval);
    s.create_share(
        &share,
        &[scoped.clone(), whole.clone()],
        audit("share.create"),
    )
    .await
    .unwrap();
    let got = s.get_share(share.id).await.unwrap().unwrap();
    assert_eq!(got.items, vec![scoped.clone(), whole.clone()]);
    assert_eq!(got.items[0].scope.data_filters, vec![f.id]);
    assert!(got.items[1].scope.is_whole_table());
    let listed = s.list_shares(&ShareFilter::default()).await.unwrap();
    assert_eq!(listed[0].items, got.items);

    // item_scopes sets scopes (back to the default too), new items keep theirs, and none of
    // it is a grant change.
    let v0 = s.policy_version().await.unwrap();
    let masked = GrantScope {
        masks: BTreeMap::from([
            ("id".to_string(), Mask::Custom("lower({col})".into())),
            ("amount".to_string(), Mask::None),
        ]),
        ..Default::default()
    };
    let no_columns = ShareItem {
        // Some(empty) is not None: every column dropped, not all kept.
        scope: GrantScope {
            columns: Some(Vec::new()),
            ..Default::default()
        },
        ..item_of(&share, &m.tables[1], ItemStatus::PendingApproval)
    };
    let mut c = change(&share, 1);
    c.item_scopes = vec![
        (whole.id, masked.clone()),
        (scoped.id, GrantScope::default()),
    ];
    c.new_items = vec![no_columns.clone()];
    let after = s.apply_share_change(c).await.unwrap();
    let scope_of = |id: Uuid| {
        after
            .items
            .iter()
            .find(|i| i.id == id)
            .unwrap()
            .scope
            .clone()
    };
    assert_eq!(scope_of(whole.id), masked);
    assert_eq!(scope_of(scoped.id), GrantScope::default());
    assert_eq!(scope_of(no_columns.id), no_columns.scope);
    assert!(!scope_of(no_columns.id).is_whole_table());
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), after);
    assert_eq!(
        s.policy_version().await.unwrap(),
        v0,
        "an item's scope alone is not a grant change"
    );

    // A scope for an unknown item fails the whole change.
    let before = s.get_share(share.id).await.unwrap().unwrap();
    let mut c = change(&share, 2);
    c.item_scopes = vec![
        (whole.id, GrantScope::default()),
        (new_id(), masked.clone()),
    ];
    c.audit = vec![audit("share.scope")];
    let err = s.apply_share_change(c).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "share item",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap(), before);
    assert!(!audit_actions(s).await.contains(&"share.scope".to_string()));

    // Grants carry their own scope, read back by grants_for and grants_of_share.
    let scoped_now = ShareItem {
        scope: scope_with(&[f.id]),
        ..scoped.clone()
    };
    let whole_now = ShareItem {
        scope: masked.clone(),
        ..whole.clone()
    };
    let team_grant = grant_of(&scoped_now, Grantee::Team(m.consumer.id));
    let user_grant = grant_of(&whole_now, Grantee::Principal(m.user.id));
    let plain_grant = grant_of(&whole, Grantee::Team(m.consumer.id));
    assert_eq!(team_grant.scope, scope_with(&[f.id]));
    let mut c = change(&share, 2);
    c.item_scopes = vec![(scoped.id, scope_with(&[f.id]))];
    c.grants_to_add = vec![team_grant.clone(), user_grant.clone(), plain_grant.clone()];
    s.apply_share_change(c).await.unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    assert_eq!(
        s.grants_for(m.user.id, &[]).await.unwrap(),
        vec![user_grant.clone()]
    );
    let all_three = sorted_by_id(vec![
        team_grant.clone(),
        user_grant.clone(),
        plain_grant.clone(),
    ]);
    assert_eq!(
        sorted_by_id(s.grants_for(m.user.id, &[m.consumer.id]).await.unwrap()),
        all_three
    );
    assert_eq!(
        sorted_by_id(s.grants_of_share(share.id).await.unwrap()),
        all_three
    );

    // Changing the item's scope later leaves the grant's as it was made.
    let mut c = change(&share, 3);
    c.item_scopes = vec![(scoped.id, GrantScope::default())];
    s.apply_share_change(c).await.unwrap();
    let team_grants = s.grants_for(new_id(), &[m.consumer.id]).await.unwrap();
    let kept = team_grants.iter().find(|g| g.id == team_grant.id).unwrap();
    assert_eq!(kept.scope, scope_with(&[f.id]));
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
}

async fn data_filters_crud_and_delete_guard(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (_, other_tables) = product(s, &m.owner, "returns", &["returns"]).await;
    let orders = &m.tables[0];
    let customers = &m.tables[1];
    let v0 = s.policy_version().await.unwrap();

    let zeta = filter_of(&m, orders, "zeta");
    let alpha = DataFilter {
        row_filter: None,
        columns: None,
        ..filter_of(&m, orders, "alpha")
    };
    // The same name on another table is another filter.
    let on_customers = filter_of(&m, customers, "zeta");
    for f in [&zeta, &alpha, &on_customers] {
        s.create_data_filter(f, audit("filter.create"))
            .await
            .unwrap();
    }
    assert_eq!(s.policy_version().await.unwrap(), v0 + 3);
    assert_eq!(audit_actions(s).await.last().unwrap(), "filter.create");
    assert_eq!(
        s.get_data_filter(zeta.id).await.unwrap(),
        Some(zeta.clone())
    );
    assert_eq!(
        s.get_data_filter(alpha.id).await.unwrap(),
        Some(alpha.clone())
    );
    assert_eq!(s.get_data_filter(new_id()).await.unwrap(), None);
    assert_eq!(
        s.get_data_filter_by_name(orders.id, "zeta").await.unwrap(),
        Some(zeta.clone())
    );
    assert_eq!(
        s.get_data_filter_by_name(customers.id, "zeta")
            .await
            .unwrap(),
        Some(on_customers.clone())
    );
    assert_eq!(
        s.get_data_filter_by_name(orders.id, "ZETA").await.unwrap(),
        None
    );
    assert_eq!(
        s.list_data_filters(orders.id).await.unwrap(),
        vec![alpha.clone(), zeta.clone()],
        "by name"
    );
    assert!(s.list_data_filters(new_id()).await.unwrap().is_empty());

    // Duplicates, unknown tables and tables of another product are refused; nothing is written.
    let before_audit = audit_actions(s).await;
    let err = s
        .create_data_filter(&filter_of(&m, orders, "zeta"), audit("filter.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AlreadyExists {
                what: "data filter",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("`zeta`"), "{err}");
    let lost = DataFilter {
        table_id: new_id(),
        ..filter_of(&m, orders, "lost")
    };
    let err = s
        .create_data_filter(&lost, audit("filter.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "table", .. }),
        "{err}"
    );
    let foreign = DataFilter {
        table_id: other_tables[0].id,
        ..filter_of(&m, orders, "foreign")
    };
    let err = s
        .create_data_filter(&foreign, audit("filter.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 3);
    assert_eq!(s.list_data_filters(orders.id).await.unwrap().len(), 2);
    assert!(
        s.list_data_filters(other_tables[0].id)
            .await
            .unwrap()
            .is_empty()
    );

    // Update changes the description, row filter, columns and updated_at, nothing else.
    let updated = DataFilter {
        description: "EU and UK rows, every column".into(),
        row_filter: Some("region IN ('EU', 'UK')".into()),
        columns: None,
        updated_at: now() + Duration::seconds(5),
        ..zeta.clone()
    };
    s.update_data_filter(&updated, audit("filter.update"))
        .await
        .unwrap();
    assert_eq!(
        s.get_data_filter(zeta.id).await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 4);
    assert_eq!(audit_actions(s).await.last().unwrap(), "filter.update");
    let sneaky = DataFilter {
        name: "renamed".into(),
        created_by: new_id(),
        created_at: now() + Duration::days(1),
        row_filter: None,
        columns: Some(vec!["id".into()]),
        ..updated.clone()
    };
    s.update_data_filter(&sneaky, audit("filter.update"))
        .await
        .unwrap();
    let got = s.get_data_filter(zeta.id).await.unwrap().unwrap();
    assert_eq!(
        got,
        DataFilter {
            row_filter: None,
            columns: Some(vec!["id".into()]),
            ..updated.clone()
        }
    );
    let err = s
        .update_data_filter(
            &DataFilter {
                id: new_id(),
                ..updated.clone()
            },
            audit("filter.update"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "data filter",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 5);
    let zeta = got;

    // By ids: missing ids are absent, duplicates are returned once, by table then name.
    let got = s
        .data_filters_by_ids(&[zeta.id, new_id(), on_customers.id, zeta.id, alpha.id])
        .await
        .unwrap();
    let mut expected = vec![alpha.clone(), zeta.clone(), on_customers.clone()];
    expected.sort_by(|a, b| (a.table_id, &a.name).cmp(&(b.table_id, &b.name)));
    assert_eq!(got, expected);
    assert!(s.data_filters_by_ids(&[]).await.unwrap().is_empty());
    assert!(s.data_filters_by_ids(&[new_id()]).await.unwrap().is_empty());

    // Grants using a filter keep it from being deleted.
    let share = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Processed,
    );
    let item = ShareItem {
        scope: scope_with(&[zeta.id, alpha.id]),
        ..item_of(&share, orders, ItemStatus::ShareSucceeded)
    };
    // This item's custom mask merely mentions the other filter's id in its text.
    let decoy = ShareItem {
        scope: GrantScope {
            masks: BTreeMap::from([(
                "id".to_string(),
                Mask::Custom(format!("concat({{col}}, '{}')", on_customers.id)),
            )]),
            ..Default::default()
        },
        ..item_of(&share, customers, ItemStatus::ShareSucceeded)
    };
    s.create_share(
        &share,
        &[item.clone(), decoy.clone()],
        audit("share.create"),
    )
    .await
    .unwrap();
    let mut c = change(&share, 1);
    c.grants_to_add = vec![
        grant_of(&item, Grantee::Team(m.consumer.id)),
        grant_of(&item, Grantee::Principal(m.user.id)),
        grant_of(&decoy, Grantee::Team(m.consumer.id)),
    ];
    s.apply_share_change(c).await.unwrap();

    let before_audit = audit_actions(s).await;
    let before_policy = s.policy_version().await.unwrap();
    let err = s
        .delete_data_filter(zeta.id, audit("filter.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`zeta`") && msg.contains("2 grants use it"),
        "{msg}"
    );
    for secret in [
        m.consumer.id.to_string(),
        m.user.id.to_string(),
        share.id.to_string(),
        "EU".to_string(),
    ] {
        assert!(!msg.contains(&secret), "{msg} names {secret}");
    }
    assert!(s.get_data_filter(zeta.id).await.unwrap().is_some());
    assert_eq!(
        audit_actions(s).await,
        before_audit,
        "a refused delete is not audited"
    );
    assert_eq!(s.policy_version().await.unwrap(), before_policy);

    // The decoy's mask text contains `on_customers`' id, but no grant uses that filter.
    s.delete_data_filter(on_customers.id, audit("filter.delete"))
        .await
        .unwrap();
    assert_eq!(s.get_data_filter(on_customers.id).await.unwrap(), None);
    assert_eq!(s.policy_version().await.unwrap(), before_policy + 1);
    assert_eq!(audit_actions(s).await.last().unwrap(), "filter.delete");

    // Once the grants are gone, so may the filter be.
    let mut c = change(&share, 2);
    c.grants_to_remove = vec![item.id];
    s.apply_share_change(c).await.unwrap();
    s.delete_data_filter(zeta.id, audit("filter.delete"))
        .await
        .unwrap();
    assert_eq!(s.get_data_filter(zeta.id).await.unwrap(), None);
    assert_eq!(
        s.list_data_filters(orders.id).await.unwrap(),
        vec![alpha.clone()]
    );
    assert_eq!(s.policy_version().await.unwrap(), before_policy + 3);
    let err = s
        .delete_data_filter(zeta.id, audit("filter.delete"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "data filter",
                ..
            }
        ),
        "{err}"
    );
}

fn rule(user: Option<&str>, group: Option<&str>, values: &[(&str, &[&str])]) -> RowRule {
    RowRule {
        user_name: user.map(str::to_string),
        group_name: group.map(str::to_string),
        values: values
            .iter()
            .map(|(field, allowed)| {
                (
                    field.to_string(),
                    allowed.iter().map(|v| v.to_string()).collect(),
                )
            })
            .collect(),
    }
}

async fn row_rules_replace_in_order(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (other, _) = product(s, &m.owner, "returns", &["returns"]).await;
    assert!(s.row_rules(m.product.id).await.unwrap().is_empty());
    let v0 = s.policy_version().await.unwrap();

    let rules = vec![
        rule(Some("zoe"), None, &[("region", &["EU", "UK"])]),
        rule(
            None,
            Some("analysts"),
            &[("region", &[]), ("segment", &["smb"])],
        ),
        rule(Some("adam"), Some("analysts"), &[]),
    ];
    s.replace_row_rules(m.product.id, &rules, audit("rules.replace"))
        .await
        .unwrap();
    assert_eq!(
        s.row_rules(m.product.id).await.unwrap(),
        rules,
        "import order, not sorted"
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    assert_eq!(audit_actions(s).await.last().unwrap(), "rules.replace");
    s.replace_row_rules(other.id, &rules[..1], audit("rules.replace"))
        .await
        .unwrap();

    // Replacing replaces all of the product's rules, and only the product's.
    let fewer = vec![rules[2].clone(), rules[0].clone()];
    s.replace_row_rules(m.product.id, &fewer, audit("rules.replace"))
        .await
        .unwrap();
    assert_eq!(s.row_rules(m.product.id).await.unwrap(), fewer);
    assert_eq!(s.row_rules(other.id).await.unwrap(), rules[..1].to_vec());

    // Order is numeric: more than ten rules keep their order.
    let names: Vec<String> = (0..12).rev().map(|i| format!("user{i}")).collect();
    let many: Vec<RowRule> = names
        .iter()
        .map(|n| rule(Some(n), None, &[("region", &["EU"])]))
        .collect();
    s.replace_row_rules(m.product.id, &many, audit("rules.replace"))
        .await
        .unwrap();
    assert_eq!(s.row_rules(m.product.id).await.unwrap(), many);

    // Empty: the product has no rules.
    s.replace_row_rules(m.product.id, &[], audit("rules.replace"))
        .await
        .unwrap();
    assert!(s.row_rules(m.product.id).await.unwrap().is_empty());
    assert_eq!(s.policy_version().await.unwrap(), v0 + 5);

    // An unknown product: NotFound, nothing written.
    let before_audit = audit_actions(s).await;
    let ghost = new_id();
    let err = s
        .replace_row_rules(ghost, &rules, audit("rules.replace"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "data product",
                ..
            }
        ),
        "{err}"
    );
    assert!(s.row_rules(ghost).await.unwrap().is_empty());
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 5);
}

fn tags_of(table: &ProductTable, column: &str, tags: &[&str]) -> ColumnTags {
    ColumnTags {
        table_id: table.id,
        column: column.to_string(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

async fn column_tags_set_and_clear(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (orders, customers) = (&m.tables[0], &m.tables[1]);
    assert!(s.column_tags(orders.id).await.unwrap().is_empty());
    let v0 = s.policy_version().await.unwrap();

    for tags in [
        tags_of(orders, "id", &["pii"]),
        tags_of(orders, "amount", &["finance", "confidential"]),
        tags_of(customers, "id", &["pii"]),
    ] {
        s.set_column_tags(&tags, audit("tags.set")).await.unwrap();
    }
    assert_eq!(
        s.column_tags(orders.id).await.unwrap(),
        vec![
            tags_of(orders, "amount", &["finance", "confidential"]),
            tags_of(orders, "id", &["pii"]),
        ],
        "by column name, tags as given"
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 3);
    assert_eq!(audit_actions(s).await.last().unwrap(), "tags.set");

    // Setting replaces the column's tags.
    s.set_column_tags(
        &tags_of(orders, "id", &["pii", "restricted"]),
        audit("tags.set"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.column_tags(orders.id).await.unwrap()[1],
        tags_of(orders, "id", &["pii", "restricted"])
    );

    // No tags clears them: the column is no longer listed.
    s.set_column_tags(&tags_of(orders, "amount", &[]), audit("tags.clear"))
        .await
        .unwrap();
    assert_eq!(
        s.column_tags(orders.id).await.unwrap(),
        vec![tags_of(orders, "id", &["pii", "restricted"])]
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 5);
    // Clearing an untagged column changes nothing (it is still audited).
    s.set_column_tags(&tags_of(orders, "amount", &[]), audit("tags.clear"))
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 5);
    assert_eq!(audit_actions(s).await.last().unwrap(), "tags.clear");
    assert_eq!(
        s.column_tags(customers.id).await.unwrap(),
        vec![tags_of(customers, "id", &["pii"])]
    );

    // An unknown table: NotFound, nothing written.
    let before_audit = audit_actions(s).await;
    let ghost = ColumnTags {
        table_id: new_id(),
        ..tags_of(orders, "id", &["pii"])
    };
    let err = s
        .set_column_tags(&ghost, audit("tags.set"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "table", .. }),
        "{err}"
    );
    assert!(s.column_tags(ghost.table_id).await.unwrap().is_empty());
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 5);
}

fn tag_mask_of(domain: Option<&Domain>, tag: &str, mask: Mask) -> TagMask {
    TagMask {
        id: new_id(),
        domain_id: domain.map(|d| d.id),
        tag: tag.to_string(),
        mask,
        created_at: now(),
    }
}

async fn tag_masks_upsert_delete_and_list(env: &Env) {
    let s = env.s();
    let sales = domain(s, "sales").await;
    let finance = domain(s, "finance").await;
    assert!(s.list_tag_masks().await.unwrap().is_empty());
    let v0 = s.policy_version().await.unwrap();

    let sales_pii = tag_mask_of(Some(&sales), "pii", Mask::Hash);
    let mesh_pii = tag_mask_of(None, "pii", Mask::Redact);
    let finance_pii = tag_mask_of(Some(&finance), "pii", Mask::ShowLast4);
    let mesh_conf = tag_mask_of(
        None,
        "confidential",
        Mask::Custom("concat('#', {col})".into()),
    );
    for mask in [&sales_pii, &mesh_pii, &finance_pii, &mesh_conf] {
        s.put_tag_mask(mask, audit("tagmask.put")).await.unwrap();
    }
    assert_eq!(s.policy_version().await.unwrap(), v0 + 4);
    assert_eq!(audit_actions(s).await.last().unwrap(), "tagmask.put");
    // By tag; mesh-wide before per-domain (on both backends, whatever they do with NULLs).
    let mut per_domain = vec![sales_pii.clone(), finance_pii.clone()];
    per_domain.sort_by_key(|t| t.domain_id);
    let mut expected = vec![mesh_conf.clone(), mesh_pii.clone()];
    expected.extend(per_domain);
    assert_eq!(s.list_tag_masks().await.unwrap(), expected);

    // Putting the same (domain, tag) again updates the mask and keeps the id (mesh-wide too:
    // a NULL domain is one scope, not many).
    let again = TagMask {
        id: new_id(),
        mask: Mask::Null,
        created_at: now() + Duration::seconds(1),
        ..mesh_pii.clone()
    };
    s.put_tag_mask(&again, audit("tagmask.put")).await.unwrap();
    let again_sales = TagMask {
        id: new_id(),
        mask: Mask::DateYearOnly,
        ..sales_pii.clone()
    };
    s.put_tag_mask(&again_sales, audit("tagmask.put"))
        .await
        .unwrap();
    let listed = s.list_tag_masks().await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.contains(&TagMask {
        mask: Mask::Null,
        ..mesh_pii.clone()
    }));
    assert!(listed.contains(&TagMask {
        mask: Mask::DateYearOnly,
        ..sales_pii.clone()
    }));
    assert!(
        listed
            .iter()
            .all(|t| t.id != again.id && t.id != again_sales.id)
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 6);

    // An unknown domain is refused; nothing is written.
    let before_audit = audit_actions(s).await;
    let ghost = Domain {
        id: new_id(),
        ..sales.clone()
    };
    let err = s
        .put_tag_mask(
            &tag_mask_of(Some(&ghost), "pii", Mask::Redact),
            audit("tagmask.put"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.list_tag_masks().await.unwrap().len(), 4);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 6);

    // Delete; then the mesh-wide `pii` can be set anew.
    s.delete_tag_mask(mesh_pii.id, audit("tagmask.delete"))
        .await
        .unwrap();
    let listed = s.list_tag_masks().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|t| t.id != mesh_pii.id));
    assert_eq!(s.policy_version().await.unwrap(), v0 + 7);
    assert_eq!(audit_actions(s).await.last().unwrap(), "tagmask.delete");
    let err = s
        .delete_tag_mask(mesh_pii.id, audit("tagmask.delete"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "tag mask",
                ..
            }
        ),
        "{err}"
    );
    let fresh = tag_mask_of(None, "pii", Mask::Redact);
    s.put_tag_mask(&fresh, audit("tagmask.put")).await.unwrap();
    assert_eq!(s.list_tag_masks().await.unwrap()[1], fresh);
}

async fn delete_product_removes_its_fine_grained_access(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (other, other_tables) = product(s, &m.owner, "returns", &["returns"]).await;
    let mine = filter_of(&m, &m.tables[0], "eu");
    let theirs = filter_of(&m, &other_tables[0], "eu");
    for f in [&mine, &theirs] {
        s.create_data_filter(f, audit("filter.create"))
            .await
            .unwrap();
    }
    let rules = vec![rule(Some("zoe"), None, &[("region", &["EU"])])];
    for p in [m.product.id, other.id] {
        s.replace_row_rules(p, &rules, audit("rules.replace"))
            .await
            .unwrap();
    }
    for t in [&m.tables[0], &m.tables[1], &other_tables[0]] {
        s.set_column_tags(&tags_of(t, "id", &["pii"]), audit("tags.set"))
            .await
            .unwrap();
    }
    let sales = s.get_domain(m.owner.domain_id).await.unwrap().unwrap();
    let mask = tag_mask_of(Some(&sales), "pii", Mask::Hash);
    s.put_tag_mask(&mask, audit("tagmask.put")).await.unwrap();
    let v = s.policy_version().await.unwrap();

    s.delete_product(m.product.id, audit("product.delete"))
        .await
        .unwrap();
    assert_eq!(s.get_data_filter(mine.id).await.unwrap(), None);
    assert!(s.data_filters_by_ids(&[mine.id]).await.unwrap().is_empty());
    assert!(
        s.list_data_filters(m.tables[0].id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.row_rules(m.product.id).await.unwrap().is_empty());
    for t in &m.tables {
        assert!(s.column_tags(t.id).await.unwrap().is_empty());
    }
    assert_eq!(s.policy_version().await.unwrap(), v + 1);

    // The other product keeps its own; tag masks belong to domains, not products.
    assert_eq!(s.get_data_filter(theirs.id).await.unwrap(), Some(theirs));
    assert_eq!(s.row_rules(other.id).await.unwrap(), rules);
    assert_eq!(
        s.column_tags(other_tables[0].id).await.unwrap(),
        vec![tags_of(&other_tables[0], "id", &["pii"])]
    );
    assert_eq!(s.list_tag_masks().await.unwrap(), vec![mask]);

    // A product of the same name starts clean: nothing of the old one is found by name.
    let (again, again_tables) = product(s, &m.owner, "orders", &["orders"]).await;
    assert!(s.row_rules(again.id).await.unwrap().is_empty());
    assert_eq!(
        s.get_data_filter_by_name(again_tables[0].id, "eu")
            .await
            .unwrap(),
        None
    );
    s.create_data_filter(
        &filter_of(&m, &again_tables[0], "eu"),
        audit("filter.create"),
    )
    .await
    .unwrap();
}

// ----- SQLite-only: opening files -----

#[tokio::test]
async fn sqlite_creates_the_file_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/meshgate.db");
    let url = format!("sqlite://{}", path.display());
    let store = connect(&url).await.unwrap();
    assert!(path.exists());
    domain(store.as_ref(), "sales").await;
    // Written ahead (WAL), with foreign keys enforced on every connection.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let orphan = Team {
        id: new_id(),
        domain_id: new_id(),
        name: "orphan".into(),
        description: String::new(),
        created_at: now(),
    };
    let err = store
        .create_team(&orphan, audit("team.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    drop(store);
    // Reopening keeps the data.
    let store = connect(&url).await.unwrap();
    assert!(store.get_domain_by_name("sales").await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = connect("sqlite::memory:").await.unwrap();
    let m = mesh(store.as_ref()).await;
    let (share, _) = submitted_share(store.as_ref(), &m).await;
    let mut c = change(&share, 1);
    c.status = Some(ShareStatus::Approved);
    c.audit = vec![audit("share.approve")];
    store.apply_share_change(c).await.unwrap();
    assert_eq!(
        store
            .get_share(share.id)
            .await
            .unwrap()
            .unwrap()
            .share
            .status,
        ShareStatus::Approved
    );
}

#[tokio::test]
async fn unsupported_urls_are_refused_clearly() {
    let err = connect("mysql://localhost/x").await.err().unwrap();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("sqlite://PATH"), "{err}");
    let err = connect("sqlite://").await.err().unwrap();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}

// ----- catalog (issue 7) -----

mod catalog_fixtures {
    use super::*;
    use meshgate_core::catalog::{FieldKind, FormField, FormType};

    pub fn field(name: &str, kind: FieldKind, required: bool) -> FormField {
        FormField {
            name: name.into(),
            kind,
            required,
            description: String::new(),
            values: Vec::new(),
            glossary: None,
        }
    }

    pub fn form_type(name: &str, fields: Vec<FormField>) -> FormType {
        FormType {
            id: new_id(),
            name: name.into(),
            description: format!("the {name} form"),
            revision: 1,
            fields,
            created_by: new_id(),
            created_at: now(),
            updated_at: now(),
        }
    }
}

async fn catalog_domain_hierarchy_refuses_cycles(env: &Env) {
    let s = env.s();
    let sales = domain(s, "sales").await;
    let emea = domain(s, "emea").await;
    let france = domain(s, "france").await;
    s.set_domain_parent(emea.id, Some(sales.id), audit("domain.set_parent"))
        .await
        .unwrap();
    s.set_domain_parent(france.id, Some(emea.id), audit("domain.set_parent"))
        .await
        .unwrap();
    assert_eq!(
        s.get_domain(france.id).await.unwrap().unwrap().parent_id,
        Some(emea.id)
    );
    // sales under france would close sales → france → emea → sales.
    let err = s
        .set_domain_parent(sales.id, Some(france.id), audit("domain.set_parent"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("sales → france → emea → sales"),
        "names the cycle: {text}"
    );
    let err = s
        .set_domain_parent(sales.id, Some(sales.id), audit("domain.set_parent"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = s
        .set_domain_parent(sales.id, Some(new_id()), audit("domain.set_parent"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    // Nothing refused was written; clearing a parent works.
    assert_eq!(
        s.get_domain(sales.id).await.unwrap().unwrap().parent_id,
        None
    );
    s.set_domain_parent(emea.id, None, audit("domain.set_parent"))
        .await
        .unwrap();
    assert_eq!(
        s.get_domain(emea.id).await.unwrap().unwrap().parent_id,
        None
    );
    let actions = audit_actions(s).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "domain.set_parent").count(),
        3
    );
}

async fn catalog_listing_revisions_and_table_tags(env: &Env) {
    use meshgate_core::catalog::{ListingState, TableTags};
    let s = env.s();
    let m = mesh(s).await;
    let p = s.get_product(m.product.id).await.unwrap().unwrap();
    assert_eq!((p.listing, p.revision), (ListingState::Published, 1));
    // A draft is stored as one.
    let mut draft = product_of(&m.owner, "drafty");
    draft.listing = ListingState::Draft;
    s.create_product(&draft, &[], audit("product.create"))
        .await
        .unwrap();
    assert_eq!(
        s.get_product(draft.id).await.unwrap().unwrap().listing,
        ListingState::Draft
    );

    let after = s
        .set_listing(
            p.id,
            ListingState::Published,
            ListingState::Unpublished,
            audit("product.unpublish"),
        )
        .await
        .unwrap();
    assert_eq!(after.listing, ListingState::Unpublished);
    // A change computed from a stale state is a conflict and writes nothing.
    let err = s
        .set_listing(
            p.id,
            ListingState::Published,
            ListingState::Unpublished,
            audit("product.unpublish"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let err = s
        .set_listing(
            new_id(),
            ListingState::Draft,
            ListingState::Published,
            audit("product.publish"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Catalog edits bump the revision: description, table tags, column tags.
    let after = s
        .update_product_description(p.id, "every order", audit("product.update"))
        .await
        .unwrap();
    assert_eq!(
        (after.description.as_str(), after.revision),
        ("every order", 2)
    );
    let version = s.policy_version().await.unwrap();
    let tags = TableTags {
        table_id: m.tables[0].id,
        tags: vec!["pii".into(), "confidential".into()],
    };
    s.set_table_tags(&tags, audit("table.tag")).await.unwrap();
    assert_eq!(s.table_tags(p.id).await.unwrap(), vec![tags.clone()]);
    assert_eq!(
        s.policy_version().await.unwrap(),
        version,
        "table tags are catalog metadata, not access"
    );
    s.set_column_tags(
        &tags_of(&m.tables[1], "id", &["internal"]),
        audit("column.tag"),
    )
    .await
    .unwrap();
    assert_eq!(s.get_product(p.id).await.unwrap().unwrap().revision, 4);
    s.set_table_tags(
        &TableTags {
            table_id: m.tables[0].id,
            tags: Vec::new(),
        },
        audit("table.tag"),
    )
    .await
    .unwrap();
    assert!(s.table_tags(p.id).await.unwrap().is_empty());
    let err = s
        .set_table_tags(
            &TableTags {
                table_id: new_id(),
                tags: vec!["x".into()],
            },
            audit("table.tag"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

async fn catalog_form_types_revisions_and_forms(env: &Env) {
    use catalog_fixtures::*;
    use meshgate_core::catalog::{FieldKind, FormTargetKind, MetadataForm};
    let s = env.s();
    let m = mesh(s).await;
    let mut ft = form_type(
        "ownership",
        vec![field("owner", FieldKind::Principal, true)],
    );
    s.create_form_type(&ft, audit("form_type.create"))
        .await
        .unwrap();
    let dup = form_type("ownership", vec![field("x", FieldKind::String, false)]);
    let err = s
        .create_form_type(&dup, audit("form_type.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(s.get_form_type(ft.id).await.unwrap(), Some(ft.clone()));

    // A new revision; a stale one is a conflict.
    let v1_fields = ft.fields.clone();
    ft.revision = 2;
    ft.fields.push(field("reviewed", FieldKind::Date, true));
    ft.updated_at = now();
    s.revise_form_type(&ft, audit("form_type.revise"))
        .await
        .unwrap();
    let err = s
        .revise_form_type(&ft, audit("form_type.revise"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let latest = s.get_form_type_by_name("ownership").await.unwrap().unwrap();
    assert_eq!((latest.revision, latest.fields.len()), (2, 2));
    let old = s.form_type_revision(ft.id, 1).await.unwrap().unwrap();
    assert_eq!(old.fields, v1_fields, "revision 1 keeps its fields");
    assert!(s.form_type_revision(ft.id, 3).await.unwrap().is_none());
    assert_eq!(s.list_form_types().await.unwrap(), vec![latest.clone()]);

    // Forms: filled under revision 1, refilled, on a product and on a table.
    let product_form = MetadataForm {
        target_kind: FormTargetKind::Product,
        target_id: m.product.id,
        product_id: Some(m.product.id),
        form_type_id: ft.id,
        revision: 1,
        values: [("owner".to_string(), serde_json::json!("alice"))].into(),
        updated_by: m.user.id,
        updated_at: now(),
    };
    s.put_form(&product_form, audit("form.put")).await.unwrap();
    let mut refilled = product_form.clone();
    refilled.revision = 2;
    refilled
        .values
        .insert("reviewed".into(), serde_json::json!("2024-01-31"));
    s.put_form(&refilled, audit("form.put")).await.unwrap();
    assert_eq!(
        s.forms_of(FormTargetKind::Product, m.product.id)
            .await
            .unwrap(),
        vec![refilled.clone()]
    );
    let table_form = MetadataForm {
        target_kind: FormTargetKind::Table,
        target_id: m.tables[0].id,
        ..product_form.clone()
    };
    s.put_form(&table_form, audit("form.put")).await.unwrap();
    assert_eq!(
        s.get_product(m.product.id).await.unwrap().unwrap().revision,
        4,
        "each fill bumps the product's revision"
    );
    let missing_table = MetadataForm {
        target_id: new_id(),
        ..table_form.clone()
    };
    let err = s
        .put_form(&missing_table, audit("form.put"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // A used form type cannot be deleted.
    let err = s
        .delete_form_type(ft.id, audit("form_type.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    s.delete_form(
        FormTargetKind::Table,
        m.tables[0].id,
        ft.id,
        audit("form.delete"),
    )
    .await
    .unwrap();
    let err = s
        .delete_form(
            FormTargetKind::Table,
            m.tables[0].id,
            ft.id,
            audit("form.delete"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // A share with its request forms, atomically: a bad form writes no share.
    let share = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Submitted,
    );
    let items = vec![item_of(&share, &m.tables[0], ItemStatus::PendingApproval)];
    let share_form = MetadataForm {
        target_kind: FormTargetKind::Share,
        target_id: share.id,
        product_id: None,
        ..product_form.clone()
    };
    let stray = MetadataForm {
        target_id: new_id(),
        ..share_form.clone()
    };
    let err = s
        .create_share_with_forms(
            &share,
            &items,
            &[share_form.clone(), stray],
            audit("share.request"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(s.get_share(share.id).await.unwrap().is_none());
    s.create_share_with_forms(
        &share,
        &items,
        std::slice::from_ref(&share_form),
        audit("share.request"),
    )
    .await
    .unwrap();
    assert_eq!(s.get_share(share.id).await.unwrap().unwrap().items.len(), 1);
    assert_eq!(
        s.forms_of(FormTargetKind::Share, share.id).await.unwrap(),
        vec![share_form]
    );
}

async fn catalog_rules_glossary_and_rows(env: &Env) {
    use catalog_fixtures::*;
    use meshgate_core::catalog::{
        FieldKind, FormTargetKind, Glossary, GlossaryTerm, MetadataForm, RelationKind, Rule,
        RuleAction, TableTags, TermLink, TermRelation,
    };
    let s = env.s();
    let m = mesh(s).await;
    let a = form_type("quality", vec![field("tier", FieldKind::String, false)]);
    let b = form_type("purpose", vec![field("why", FieldKind::String, true)]);
    for f in [&a, &b] {
        s.create_form_type(f, audit("form_type.create"))
            .await
            .unwrap();
    }
    let rule = Rule {
        id: new_id(),
        domain_id: m.product.domain_id,
        action: RuleAction::PublishProduct,
        form_type_ids: vec![b.id, a.id],
        include_children: true,
        description: "document before publishing".into(),
        created_by: m.user.id,
        created_at: now(),
    };
    s.create_rule(&rule, audit("rule.create")).await.unwrap();
    assert_eq!(s.list_rules().await.unwrap(), vec![rule.clone()]);
    let ghost = Rule {
        id: new_id(),
        form_type_ids: vec![new_id()],
        ..rule.clone()
    };
    let err = s
        .create_rule(&ghost, audit("rule.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(
        s.list_rules().await.unwrap().len(),
        1,
        "nothing half-written"
    );
    let err = s
        .delete_form_type(a.id, audit("form_type.delete"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. }) && err.to_string().contains("rule"),
        "{err}"
    );
    s.delete_rule(rule.id, audit("rule.delete")).await.unwrap();
    let err = s
        .delete_rule(rule.id, audit("rule.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    s.delete_form_type(a.id, audit("form_type.delete"))
        .await
        .unwrap();

    // The glossary.
    let g = Glossary {
        id: new_id(),
        name: "business".into(),
        description: "business terms".into(),
        enabled: true,
        created_at: now(),
        updated_at: now(),
    };
    s.create_glossary(&g, audit("glossary.create"))
        .await
        .unwrap();
    let err = s
        .create_glossary(
            &Glossary {
                id: new_id(),
                ..g.clone()
            },
            audit("glossary.create"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let term = |name: &str| GlossaryTerm {
        id: new_id(),
        glossary_id: g.id,
        name: name.into(),
        description: format!("a {name}"),
        enabled: true,
        created_at: now(),
        updated_at: now(),
    };
    let (party, customer, vip) = (term("party"), term("customer"), term("vip"));
    for t in [&party, &customer, &vip] {
        s.create_term(t, audit("term.create")).await.unwrap();
    }
    let err = s
        .create_term(&term("customer"), audit("term.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let mut disabled = vip.clone();
    disabled.enabled = false;
    s.update_term(&disabled, audit("term.update"))
        .await
        .unwrap();
    let names: Vec<(String, bool)> = s
        .list_terms(Some(g.id))
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.enabled))
        .collect();
    assert_eq!(
        names,
        [
            ("customer".to_string(), true),
            ("party".to_string(), true),
            ("vip".to_string(), false)
        ]
    );
    let is_a = |t: &GlossaryTerm, x: &GlossaryTerm| TermRelation {
        term_id: t.id,
        kind: RelationKind::IsA,
        target_id: x.id,
    };
    s.add_term_relation(&is_a(&vip, &customer), audit("term.relate"))
        .await
        .unwrap();
    s.add_term_relation(&is_a(&customer, &party), audit("term.relate"))
        .await
        .unwrap();
    // Again: a no-op.
    s.add_term_relation(&is_a(&customer, &party), audit("term.relate"))
        .await
        .unwrap();
    let err = s
        .add_term_relation(&is_a(&party, &vip), audit("term.relate"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "business.party is_a business.vip is_a business.customer is_a business.party"
        ),
        "{err}"
    );
    let classifies = TermRelation {
        term_id: party.id,
        kind: RelationKind::Classifies,
        target_id: vip.id,
    };
    s.add_term_relation(&classifies, audit("term.relate"))
        .await
        .unwrap();
    assert_eq!(s.term_relations().await.unwrap().len(), 3);
    s.remove_term_relation(&classifies, audit("term.unrelate"))
        .await
        .unwrap();
    let err = s
        .remove_term_relation(&classifies, audit("term.unrelate"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Terms on the product and on a column; catalog rows gather everything.
    let on_product = TermLink {
        term_id: customer.id,
        product_id: m.product.id,
        table_id: None,
        column: None,
    };
    let on_column = TermLink {
        term_id: vip.id,
        product_id: m.product.id,
        table_id: Some(m.tables[1].id),
        column: Some("id".into()),
    };
    s.link_term(&on_product, audit("term.attach"))
        .await
        .unwrap();
    s.link_term(&on_column, audit("term.attach")).await.unwrap();
    s.link_term(&on_column, audit("term.attach")).await.unwrap();
    let foreign = TermLink {
        table_id: Some(new_id()),
        ..on_column.clone()
    };
    assert!(s.link_term(&foreign, audit("term.attach")).await.is_err());
    assert_eq!(s.term_links(Some(m.product.id)).await.unwrap().len(), 2);
    let err = s
        .delete_term(customer.id, audit("term.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let err = s
        .delete_glossary(g.id, audit("glossary.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    s.set_table_tags(
        &TableTags {
            table_id: m.tables[0].id,
            tags: vec!["public".into()],
        },
        audit("table.tag"),
    )
    .await
    .unwrap();
    let form = MetadataForm {
        target_kind: FormTargetKind::Product,
        target_id: m.product.id,
        product_id: Some(m.product.id),
        form_type_id: b.id,
        revision: 1,
        values: [("why".to_string(), serde_json::json!("business.party"))].into(),
        updated_by: m.user.id,
        updated_at: now(),
    };
    s.put_form(&form, audit("form.put")).await.unwrap();
    let other = product(s, &m.owner, "other", &["t"]).await.0;
    let rows = s.catalog_rows(Some(m.product.id)).await.unwrap();
    assert_eq!(rows.products.len(), 1);
    assert_eq!(rows.tables.len(), 2);
    assert_eq!(rows.table_tags.len(), 1);
    assert_eq!(rows.term_links.len(), 2);
    assert_eq!(rows.forms.len(), 1);
    let everything = s.catalog_rows(None).await.unwrap();
    assert_eq!(everything.products.len(), 2);
    assert_eq!(everything.tables.len(), 3);
    assert!(everything.products.iter().any(|p| p.id == other.id));

    // A term named by a form's value cannot be deleted either.
    s.unlink_term(&on_product, audit("term.detach"))
        .await
        .unwrap();
    s.remove_term_relation(&is_a(&customer, &party), audit("term.unrelate"))
        .await
        .unwrap();
    let err = s
        .delete_term(party.id, audit("term.delete"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. }) && err.to_string().contains("form"),
        "{err}"
    );

    // Deleting the product takes its catalog metadata with it.
    s.delete_product(m.product.id, audit("product.delete"))
        .await
        .unwrap();
    let rows = s.catalog_rows(Some(m.product.id)).await.unwrap();
    assert!(rows.products.is_empty() && rows.forms.is_empty() && rows.term_links.is_empty());
    s.remove_term_relation(&is_a(&vip, &customer), audit("term.unrelate"))
        .await
        .unwrap();
    s.delete_term(customer.id, audit("term.delete"))
        .await
        .unwrap();
    s.delete_term(party.id, audit("term.delete")).await.unwrap();
    assert_eq!(s.list_terms(None).await.unwrap().len(), 1);
}

async fn lifecycle_file_grants_terms_settings_logs_and_due_shares(env: &Env) {
    use meshgate_core::model::{FileGrant, ShareLog, ShareSettings, ShareTerms};
    use meshgate_store::Due;
    let s = env.s();
    let m = mesh(s).await;
    let (share, items) = submitted_share(s, &m).await;
    // file grants and terms go with a share change, and out with the item's grants
    let expires = now() - Duration::seconds(5);
    let mut c = change(&share, 1);
    c.status = Some(ShareStatus::Processed);
    c.item_status = vec![(items[0].id, ItemStatus::ShareSucceeded)];
    c.grants_to_add = vec![grant_of(&items[0], Grantee::Team(m.consumer.id))];
    c.file_grants_to_add = vec![FileGrant {
        id: new_id(),
        share_item_id: items[0].id,
        grantee: Grantee::Team(m.consumer.id),
        product_id: m.product.id,
        prefix: "reports/".into(),
        created_at: now(),
    }];
    c.terms = Some(ShareTerms {
        expires_at: Some(expires),
        local_name: Some("crm".into()),
        ..Default::default()
    });
    let after = s.apply_share_change(c).await.unwrap();
    assert_eq!(after.share.terms.expires_at, Some(expires));
    assert_eq!(after.share.terms.local_name.as_deref(), Some("crm"));
    let files = s
        .file_grants_for(m.user.id, &[m.consumer.id])
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].covers(m.product.id, "reports/2026/a.csv"));
    assert!(!files[0].covers(m.product.id, "raw/a.csv"));
    assert_eq!(
        s.local_names(&[items[0].id]).await.unwrap(),
        vec![(items[0].id, "crm".to_string())]
    );
    let (g, f) = s.grants_of_product(m.product.id).await.unwrap();
    assert_eq!((g.len(), f.len()), (1, 1));
    // due: expired (it still gives access); not pending
    assert_eq!(
        s.due_shares(Due::Expired, now(), 10).await.unwrap(),
        vec![share.id]
    );
    assert!(
        s.due_shares(Due::PendingSince, now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.due_shares(Due::UnverifiedSince, now(), 10).await.unwrap(),
        vec![share.id]
    );
    // revoking removes both kinds of grant
    let mut c = change(&share, after.share.version);
    c.item_status = vec![(items[0].id, ItemStatus::RevokeSucceeded)];
    c.grants_to_remove = vec![items[0].id];
    s.apply_share_change(c).await.unwrap();
    assert!(s.file_grants_of_share(share.id).await.unwrap().is_empty());
    assert!(s.grants_of_share(share.id).await.unwrap().is_empty());
    assert!(
        s.due_shares(Due::Expired, now(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // settings: defaults, then stored
    assert_eq!(
        s.share_settings(m.product.id).await.unwrap(),
        ShareSettings::default()
    );
    let settings = ShareSettings {
        expiry_required: true,
        max_days: Some(30),
        ..Default::default()
    };
    s.put_share_settings(m.product.id, &settings, audit("product.share_settings"))
        .await
        .unwrap();
    s.put_share_settings(m.product.id, &settings, audit("product.share_settings"))
        .await
        .unwrap();
    assert_eq!(s.share_settings(m.product.id).await.unwrap(), settings);
    assert!(
        s.put_share_settings(new_id(), &settings, audit("x"))
            .await
            .is_err()
    );

    // logs keep their order and page by seq
    let run = new_id();
    let lines: Vec<ShareLog> = (0..3)
        .map(|i| ShareLog {
            seq: 0,
            share_id: share.id,
            run_id: run,
            job: "process_share".into(),
            at: now(),
            level: "info".into(),
            message: format!("line {i}"),
        })
        .collect();
    s.append_share_logs(&lines).await.unwrap();
    let got = s.share_logs(share.id, 0, 100).await.unwrap();
    assert_eq!(
        got.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        vec!["line 0", "line 1", "line 2"]
    );
    let rest = s.share_logs(share.id, got[0].seq, 100).await.unwrap();
    assert_eq!(rest.len(), 2);
}

async fn job_locks_keep_one_job_per_product_leased(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, _) = submitted_share(s, &m).await;
    let other_product = new_id();
    let job = |product: Uuid| NewJob {
        kind: JobKind::ProcessShare,
        subject_id: share.id,
        lock_product: Some(product),
        lock_grantee: None,
    };
    s.enqueue_jobs(
        &[job(m.product.id), job(m.product.id), job(other_product)],
        audit("test.enqueue"),
    )
    .await
    .unwrap();
    // w1 holds the product's lock with one job...
    let first = s.lease_jobs("w1", 1, Duration::seconds(60)).await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    // ...so w2 gets only the other product's job, not the second job of the product
    let second = s.lease_jobs("w2", 10, Duration::seconds(60)).await.unwrap();
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(
        s.lease_jobs("w3", 10, Duration::seconds(60))
            .await
            .unwrap()
            .is_empty()
    );
    // the holder itself may take more of its product's jobs (it runs them in turn)
    let more = s.lease_jobs("w1", 10, Duration::seconds(60)).await.unwrap();
    assert_eq!(more.len(), 1, "{more:?}");
    for j in first.iter().chain(&second).chain(&more) {
        s.complete_job(j.id).await.unwrap();
    }
    s.enqueue_jobs(&[job(m.product.id)], audit("test.enqueue"))
        .await
        .unwrap();
    let next = s.lease_jobs("w2", 10, Duration::seconds(60)).await.unwrap();
    assert_eq!(next.len(), 1);
}

// ----- notifications -----

fn notification_of(share: &Share, to: &Principal, seq: i64, event: NotifyEvent) -> Notification {
    Notification {
        id: new_id(),
        principal_id: to.id,
        share_id: Some(share.id),
        alert_id: None,
        event,
        actor_id: None,
        audit_seq: seq,
        title: format!("{event} #{seq}"),
        body: "who did what to which share".into(),
        link: format!("http://mesh/api/v1/shares/{}", share.id),
        created_at: now(),
        read_at: None,
        emailed_at: None,
    }
}

/// The last audit `seq` so far.
async fn last_seq(s: &dyn Store) -> i64 {
    let events = s
        .list_audit(&AuditFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    events.last().map_or(0, |e| e.seq)
}

async fn notifications_are_dispatched_once_per_cursor(env: &Env) {
    let s = env.s();
    // A fresh store starts at the end of the (then empty) log.
    assert_eq!(s.notify_cursor().await.unwrap(), 0);
    let m = mesh(s).await;
    let bob = principal(s, "bob", PrincipalKind::User).await;
    let (share, _) = submitted_share(s, &m).await;
    let up_to = last_seq(s).await;
    assert!(up_to > 0);

    let batch = |after: i64, up_to: i64| {
        let n1 = notification_of(&share, &m.user, up_to, NotifyEvent::Submitted);
        let n2 = notification_of(&share, &bob, up_to, NotifyEvent::Submitted);
        let jobs = vec![NewJob {
            kind: JobKind::SendEmail,
            subject_id: n1.id,
            lock_product: None,
            lock_grantee: None,
        }];
        NotificationBatch {
            after_seq: after,
            up_to_seq: up_to,
            notifications: vec![n1, n2],
            deliveries: Vec::new(),
            jobs,
        }
    };

    // Two dispatchers racing from the same cursor: exactly one writes its batch.
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = env.store.clone();
            let b = batch(0, up_to);
            tokio::spawn(async move { store.record_notifications(b).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        if r.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one dispatcher wins the cursor");
    assert_eq!(s.notify_cursor().await.unwrap(), up_to);
    assert_eq!(
        s.list_notifications(m.user.id, false, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.list_notifications(bob.id, false, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.pending_jobs().await.unwrap(), 1);
    let jobs = s.lease_jobs("w", 10, Duration::seconds(60)).await.unwrap();
    assert_eq!(jobs[0].kind, JobKind::SendEmail);

    // A stale batch (computed from the old cursor) writes nothing.
    assert!(!s.record_notifications(batch(0, up_to)).await.unwrap());
    assert_eq!(
        s.list_notifications(bob.id, false, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.pending_jobs().await.unwrap(), 1);

    // The cursor never moves back.
    let err = s
        .record_notifications(NotificationBatch {
            after_seq: up_to,
            up_to_seq: up_to - 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");

    // A batch that fails half-way (a recipient hearing of one event twice) rolls back
    // completely, cursor included.
    s.append_audit(audit("share.noise")).await.unwrap();
    let next = last_seq(s).await;
    let mut dup = batch(up_to, next);
    dup.notifications[1].audit_seq = up_to; // bob already heard of `up_to`
    dup.notifications[1].principal_id = bob.id;
    let err = s.record_notifications(dup).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(s.notify_cursor().await.unwrap(), up_to);
    assert_eq!(
        s.list_notifications(m.user.id, false, 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // An empty stretch of the log just moves the cursor.
    let empty = NotificationBatch {
        after_seq: up_to,
        up_to_seq: next,
        ..Default::default()
    };
    assert!(s.record_notifications(empty).await.unwrap());
    assert_eq!(s.notify_cursor().await.unwrap(), next);
}

async fn notification_inbox_read_and_emailed(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let bob = principal(s, "bob", PrincipalKind::User).await;
    let (share, _) = submitted_share(s, &m).await;
    let mut cursor = s.notify_cursor().await.unwrap();
    let mut mine = Vec::new();
    for (i, event) in [
        NotifyEvent::Submitted,
        NotifyEvent::Approved,
        NotifyEvent::Revoked,
    ]
    .into_iter()
    .enumerate()
    {
        let seq = s.append_audit(audit("share.x")).await.unwrap();
        let mut n = notification_of(&share, &m.user, seq, event);
        n.created_at = now() + Duration::seconds(i as i64);
        mine.push(n.clone());
        let theirs = notification_of(&share, &bob, seq, event);
        let batch = NotificationBatch {
            after_seq: cursor,
            up_to_seq: seq,
            notifications: vec![n, theirs],
            ..Default::default()
        };
        assert!(s.record_notifications(batch).await.unwrap());
        cursor = seq;
    }

    // Newest first, limited, round-tripped exactly.
    let listed = s.list_notifications(m.user.id, false, 100).await.unwrap();
    let want: Vec<Notification> = mine.iter().rev().cloned().collect();
    assert_eq!(listed, want);
    let two = s.list_notifications(m.user.id, false, 2).await.unwrap();
    assert_eq!(two, want[..2].to_vec());
    assert_eq!(
        s.get_notification(mine[0].id).await.unwrap(),
        Some(mine[0].clone())
    );
    assert_eq!(s.get_notification(new_id()).await.unwrap(), None);

    // Read: only by its owner; the first read time is kept.
    let first = now();
    let read = s
        .mark_notification_read(m.user.id, mine[0].id, first)
        .await
        .unwrap();
    assert_eq!(read.read_at, Some(first));
    let again = s
        .mark_notification_read(m.user.id, mine[0].id, first + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.read_at, Some(first));
    let err = s
        .mark_notification_read(bob.id, mine[1].id, first)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "notification",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        s.get_notification(mine[1].id)
            .await
            .unwrap()
            .unwrap()
            .read_at,
        None
    );

    let unread = s.list_notifications(m.user.id, true, 100).await.unwrap();
    assert_eq!(
        unread.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![mine[2].id, mine[1].id]
    );
    assert_eq!(
        s.mark_all_notifications_read(m.user.id, now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.mark_all_notifications_read(m.user.id, now())
            .await
            .unwrap(),
        0
    );
    assert!(
        s.list_notifications(m.user.id, true, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Bob's inbox is untouched.
    assert_eq!(
        s.list_notifications(bob.id, true, 100).await.unwrap().len(),
        3
    );

    let at = now();
    s.mark_notification_emailed(mine[2].id, at).await.unwrap();
    assert_eq!(
        s.get_notification(mine[2].id)
            .await
            .unwrap()
            .unwrap()
            .emailed_at,
        Some(at)
    );
    let err = s.mark_notification_emailed(new_id(), at).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

async fn contacts_webhooks_and_deliveries(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (share, _) = submitted_share(s, &m).await;

    // Contacts: set, replace, read, delete.
    assert_eq!(s.get_contact(m.user.id).await.unwrap(), None);
    let mut c = Contact {
        principal_id: m.user.id,
        email: "alice@example.com".into(),
        updated_at: now(),
    };
    s.put_contact(&c, audit("contact.put")).await.unwrap();
    assert_eq!(s.get_contact(m.user.id).await.unwrap(), Some(c.clone()));
    c.email = "alice@example.org".into();
    c.updated_at = now() + Duration::seconds(1);
    s.put_contact(&c, audit("contact.put")).await.unwrap();
    assert_eq!(s.get_contact(m.user.id).await.unwrap(), Some(c.clone()));
    s.delete_contact(m.user.id, audit("contact.delete"))
        .await
        .unwrap();
    assert_eq!(s.get_contact(m.user.id).await.unwrap(), None);
    let err = s
        .delete_contact(m.user.id, audit("contact.delete"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "contact",
                ..
            }
        ),
        "{err}"
    );
    let actions = audit_actions(s).await;
    assert_eq!(
        actions.iter().filter(|a| a.starts_with("contact.")).count(),
        3,
        "the refused delete is not audited: {actions:?}"
    );

    // Webhooks: create, read with the secret, list active ones, disable once.
    let hook = Webhook {
        id: new_id(),
        principal_id: m.user.id,
        url: "https://hooks.example.com/meshgate".into(),
        secret: "mgw_secret".into(),
        events: vec![NotifyEvent::Approved, NotifyEvent::Revoked],
        created_at: now(),
        disabled_at: None,
    };
    let all_events = Webhook {
        id: new_id(),
        events: Vec::new(),
        created_at: now() + Duration::seconds(1),
        ..hook.clone()
    };
    s.create_webhook(&hook, audit("webhook.create"))
        .await
        .unwrap();
    s.create_webhook(&all_events, audit("webhook.create"))
        .await
        .unwrap();
    assert_eq!(s.get_webhook(hook.id).await.unwrap(), Some(hook.clone()));
    assert_eq!(
        s.list_webhooks(m.user.id).await.unwrap(),
        vec![hook.clone(), all_events.clone()]
    );
    let at = now();
    let off = s
        .disable_webhook(all_events.id, at, audit("webhook.delete"))
        .await
        .unwrap();
    assert_eq!(off.disabled_at, Some(at));
    let again = s
        .disable_webhook(
            all_events.id,
            at + Duration::hours(1),
            audit("webhook.delete"),
        )
        .await
        .unwrap();
    assert_eq!(again.disabled_at, Some(at));
    assert_eq!(
        s.list_webhooks(m.user.id).await.unwrap(),
        vec![hook.clone()]
    );
    let err = s
        .disable_webhook(new_id(), at, audit("webhook.delete"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "webhook",
                ..
            }
        ),
        "{err}"
    );

    // Deliveries are written with their notification and job, then record each attempt.
    let seq = s.append_audit(audit("share.x")).await.unwrap();
    let n = notification_of(&share, &m.user, seq, NotifyEvent::Approved);
    let d = WebhookDelivery {
        id: new_id(),
        webhook_id: hook.id,
        notification_id: n.id,
        event: NotifyEvent::Approved,
        payload: r#"{"event":"approved"}"#.into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_error: None,
        created_at: now(),
        finished_at: None,
    };
    let batch = NotificationBatch {
        after_seq: s.notify_cursor().await.unwrap(),
        up_to_seq: seq,
        notifications: vec![n],
        deliveries: vec![d.clone()],
        jobs: vec![NewJob {
            kind: JobKind::DeliverWebhook,
            subject_id: d.id,
            lock_product: None,
            lock_grantee: None,
        }],
    };
    assert!(s.record_notifications(batch).await.unwrap());
    assert_eq!(s.get_webhook_delivery(d.id).await.unwrap(), Some(d.clone()));
    let jobs = s.lease_jobs("w", 10, Duration::seconds(60)).await.unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| (j.kind, j.subject_id))
            .collect::<Vec<_>>(),
        vec![(JobKind::DeliverWebhook, d.id)]
    );

    s.record_webhook_attempt(d.id, DeliveryStatus::Pending, Some("status 500"), now())
        .await
        .unwrap();
    let after = s.get_webhook_delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.status,
            after.attempts,
            after.last_error.as_deref(),
            after.finished_at
        ),
        (DeliveryStatus::Pending, 1, Some("status 500"), None)
    );
    let done_at = now();
    s.record_webhook_attempt(d.id, DeliveryStatus::Delivered, None, done_at)
        .await
        .unwrap();
    let after = s.get_webhook_delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (
            after.status,
            after.attempts,
            after.last_error.as_deref(),
            after.finished_at
        ),
        (
            DeliveryStatus::Delivered,
            2,
            Some("status 500"),
            Some(done_at)
        )
    );
    assert_eq!(
        s.list_webhook_deliveries(hook.id).await.unwrap(),
        vec![after]
    );
    assert!(
        s.list_webhook_deliveries(all_events.id)
            .await
            .unwrap()
            .is_empty()
    );
    let err = s
        .record_webhook_attempt(new_id(), DeliveryStatus::Failed, None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");

    // Group members, for expanding a group that is a team member.
    let group = principal(s, "analysts", PrincipalKind::Group).await;
    let bob = principal(s, "bob", PrincipalKind::User).await;
    assert!(s.group_members(group.id).await.unwrap().is_empty());
    s.add_group_member(group.id, bob.id, audit("group.add"))
        .await
        .unwrap();
    s.add_group_member(group.id, m.user.id, audit("group.add"))
        .await
        .unwrap();
    let mut want = vec![bob.id, m.user.id];
    want.sort();
    assert_eq!(s.group_members(group.id).await.unwrap(), want);
}

// ----- Delta Sharing recipients -----

/// A sharing token of `who`, waiting for activation with the code hashed as `code`.
fn pending_token(
    who: &Principal,
    kind: SharingTokenKind,
    name: &str,
    code: &str,
    created_at: DateTime<Utc>,
) -> SharingToken {
    SharingToken {
        id: new_id(),
        principal_id: who.id,
        kind,
        name: name.to_string(),
        secret_hash: None,
        activation_hash: Some(code.to_string()),
        parent_id: None,
        created_by: who.id,
        created_at,
        expires_at: None,
        activated_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

/// Creates a token and activates it with `secret`; returns it as stored.
async fn active_token(
    s: &dyn Store,
    who: &Principal,
    kind: SharingTokenKind,
    name: &str,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> SharingToken {
    let code = format!("code-{name}");
    let t = SharingToken {
        expires_at,
        ..pending_token(who, kind, name, &code, created_at)
    };
    s.create_sharing_token(&t, audit("sharing_token.create"))
        .await
        .unwrap();
    s.activate_sharing_token(
        &code,
        &format!("secret-{name}"),
        created_at,
        audit("sharing_token.activate"),
    )
    .await
    .unwrap()
    .unwrap()
}

/// An access token issued to `client` at `at`, valid for `ttl`.
fn access_token_of(
    client: &SharingToken,
    name: &str,
    at: DateTime<Utc>,
    ttl: Duration,
) -> SharingToken {
    SharingToken {
        id: new_id(),
        principal_id: client.principal_id,
        kind: SharingTokenKind::Access,
        name: name.to_string(),
        secret_hash: Some(format!("secret-{name}")),
        activation_hash: None,
        parent_id: Some(client.id),
        created_by: client.principal_id,
        created_at: at,
        expires_at: Some(at + ttl),
        activated_at: Some(at),
        revoked_at: None,
        last_used_at: None,
    }
}

async fn count_actions(s: &dyn Store, action: &str) -> usize {
    audit_actions(s)
        .await
        .iter()
        .filter(|a| a.as_str() == action)
        .count()
}

async fn sharing_tokens_activate_once_and_authenticate_by_secret(env: &Env) {
    let s = env.s();
    let partner = principal(s, "partner", PrincipalKind::Service).await;
    let t0 = now();
    let token = SharingToken {
        expires_at: Some(t0 + Duration::days(30)),
        ..pending_token(&partner, SharingTokenKind::Bearer, "v1", "code-1", t0)
    };
    s.create_sharing_token(&token, audit("sharing_token.create"))
        .await
        .unwrap();
    let stored = s.get_sharing_token(token.id).await.unwrap().unwrap();
    assert_eq!(stored, token);
    assert!(!stored.is_usable(t0), "not usable until activated");
    assert_eq!(count_actions(s, "sharing_token.create").await, 1);

    // A code is unique; access tokens are issued, not created.
    let dup = SharingToken {
        id: new_id(),
        ..token.clone()
    };
    let err = s
        .create_sharing_token(&dup, audit("sharing_token.create"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AlreadyExists {
                what: "sharing token",
                ..
            }
        ),
        "{err}"
    );
    let access = SharingToken {
        id: new_id(),
        kind: SharingTokenKind::Access,
        activation_hash: Some("code-x".into()),
        ..token.clone()
    };
    let err = s
        .create_sharing_token(&access, audit("sharing_token.create"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(s.get_sharing_token(access.id).await.unwrap(), None);

    // A wrong code activates nothing and is not audited.
    let at = t0 + Duration::minutes(5);
    assert_eq!(
        s.activate_sharing_token("code-2", "secret-1", at, audit("sharing_token.activate"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.find_sharing_token("secret-1").await.unwrap(), None);

    let active = s
        .activate_sharing_token("code-1", "secret-1", at, audit("sharing_token.activate"))
        .await
        .unwrap()
        .unwrap();
    let want = SharingToken {
        secret_hash: Some("secret-1".into()),
        activation_hash: None,
        activated_at: Some(at),
        ..token.clone()
    };
    assert_eq!(active, want);
    assert!(active.is_usable(at));
    assert_eq!(
        s.get_sharing_token(token.id).await.unwrap(),
        Some(want.clone())
    );

    // Once only: the code is spent, and the secret it set stays.
    assert_eq!(
        s.activate_sharing_token(
            "code-1",
            "secret-other",
            at + Duration::seconds(1),
            audit("sharing_token.activate")
        )
        .await
        .unwrap(),
        None
    );
    assert_eq!(count_actions(s, "sharing_token.activate").await, 1);
    assert_eq!(s.find_sharing_token("secret-other").await.unwrap(), None);

    let (found, who) = s.find_sharing_token("secret-1").await.unwrap().unwrap();
    assert_eq!(found, want);
    assert_eq!(who, partner);
    assert_eq!(s.find_sharing_token("code-1").await.unwrap(), None);

    // Touch moves `last_used_at` forward only; a missing token is skipped.
    let used = at + Duration::minutes(2);
    s.touch_sharing_token(token.id, used).await.unwrap();
    s.touch_sharing_token(token.id, used - Duration::minutes(1))
        .await
        .unwrap();
    s.touch_sharing_token(new_id(), used).await.unwrap();
    let (found, _) = s.find_sharing_token("secret-1").await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(used));
    assert_eq!(
        found,
        SharingToken {
            last_used_at: Some(used),
            ..want
        }
    );

    // Expired and revoked tokens cannot be activated; their codes stay unspent.
    let expiring = SharingToken {
        expires_at: Some(at),
        ..pending_token(
            &partner,
            SharingTokenKind::OauthClient,
            "late",
            "code-late",
            t0,
        )
    };
    s.create_sharing_token(&expiring, audit("sharing_token.create"))
        .await
        .unwrap();
    assert_eq!(
        s.activate_sharing_token(
            "code-late",
            "secret-late",
            at,
            audit("sharing_token.activate")
        )
        .await
        .unwrap(),
        None,
        "a token expiring at `now` is expired"
    );
    let revoked = pending_token(&partner, SharingTokenKind::Bearer, "gone", "code-gone", t0);
    s.create_sharing_token(&revoked, audit("sharing_token.create"))
        .await
        .unwrap();
    assert!(
        s.revoke_sharing_token(revoked.id, at, audit("sharing_token.revoke"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.activate_sharing_token(
            "code-gone",
            "secret-gone",
            at,
            audit("sharing_token.activate")
        )
        .await
        .unwrap(),
        None
    );
    let still = s.get_sharing_token(revoked.id).await.unwrap().unwrap();
    assert_eq!(
        (
            still.activation_hash.as_deref(),
            still.secret_hash,
            still.activated_at
        ),
        (Some("code-gone"), None, None)
    );
    assert_eq!(count_actions(s, "sharing_token.activate").await, 1);
}

async fn sharing_token_activation_is_won_by_exactly_one_caller(env: &Env) {
    const ROUNDS: usize = 5;
    const CALLERS: usize = 8;
    let s = env.s();
    let partner = principal(s, "partner", PrincipalKind::Service).await;
    // Several rounds, so that a check-then-update race would show on some of them.
    for round in 0..ROUNDS {
        let code = format!("race-{round}");
        let name = format!("v2-{round}");
        let token = pending_token(&partner, SharingTokenKind::OauthClient, &name, &code, now());
        s.create_sharing_token(&token, audit("sharing_token.create"))
            .await
            .unwrap();

        // All at once: each caller waits for the others before activating.
        let start = Arc::new(tokio::sync::Barrier::new(CALLERS));
        let tasks: Vec<_> = (0..CALLERS)
            .map(|i| {
                let store = env.store.clone();
                let start = start.clone();
                let code = code.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    store
                        .activate_sharing_token(
                            &code,
                            &format!("secret-{round}-{i}"),
                            now(),
                            audit("sharing_token.activate"),
                        )
                        .await
                        .unwrap()
                        .map(|t| (i, t))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.unwrap());
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one activation wins"
        );
        let (i, won) = winners.pop().unwrap();
        let secret = format!("secret-{round}-{i}");
        assert_eq!(won.id, token.id);
        assert_eq!(won.secret_hash.as_deref(), Some(secret.as_str()));
        let (found, _) = s.find_sharing_token(&secret).await.unwrap().unwrap();
        assert_eq!(
            found, won,
            "round {round}: the winner's secret is the one stored"
        );
    }
    assert_eq!(count_actions(s, "sharing_token.activate").await, ROUNDS);
}

async fn sharing_tokens_list_rotate_and_revoke_with_their_access_tokens(env: &Env) {
    let s = env.s();
    let partner = principal(s, "partner", PrincipalKind::Service).await;
    let other = principal(s, "other", PrincipalKind::Service).await;
    let t0 = now();
    let at = t0 + Duration::days(7);
    let forever = active_token(s, &partner, SharingTokenKind::Bearer, "a", t0, None).await;
    let soon = active_token(
        s,
        &partner,
        SharingTokenKind::Bearer,
        "b",
        t0 + Duration::seconds(1),
        Some(t0 + Duration::days(1)),
    )
    .await;
    let client = active_token(
        s,
        &partner,
        SharingTokenKind::OauthClient,
        "c",
        t0 + Duration::seconds(2),
        Some(t0 + Duration::days(90)),
    )
    .await;
    let pending = SharingToken {
        expires_at: Some(t0 + Duration::days(60)),
        ..pending_token(
            &partner,
            SharingTokenKind::Bearer,
            "p",
            "code-p",
            t0 + Duration::seconds(3),
        )
    };
    s.create_sharing_token(&pending, audit("sharing_token.create"))
        .await
        .unwrap();
    let newest = active_token(
        s,
        &partner,
        SharingTokenKind::OauthClient,
        "n",
        t0 + Duration::seconds(4),
        Some(t0 + Duration::days(90)),
    )
    .await;
    let others = active_token(s, &other, SharingTokenKind::Bearer, "o", t0, None).await;

    // Access tokens: issued to a usable client of the same principal, never outliving it.
    let long = access_token_of(&client, "long", t0, Duration::days(365));
    let issued = s
        .insert_access_token(&long, audit("sharing_token.issue"))
        .await
        .unwrap();
    assert_eq!(issued.expires_at, client.expires_at, "cut to the client's");
    assert_eq!(s.get_sharing_token(long.id).await.unwrap(), Some(issued));
    let short = access_token_of(&client, "short", t0, Duration::hours(1));
    assert_eq!(
        s.insert_access_token(&short, audit("sharing_token.issue"))
            .await
            .unwrap(),
        short
    );
    let of_newest = access_token_of(&newest, "kept", t0, Duration::days(30));
    s.insert_access_token(&of_newest, audit("sharing_token.issue"))
        .await
        .unwrap();
    let (found, who) = s.find_sharing_token("secret-short").await.unwrap().unwrap();
    assert_eq!((found, who.id), (short.clone(), partner.id));
    assert_eq!(count_actions(s, "sharing_token.issue").await, 3);
    for (bad, why) in [
        (
            access_token_of(&soon, "to-bearer", t0, Duration::hours(1)),
            "not to a bearer token",
        ),
        (
            SharingToken {
                principal_id: other.id,
                ..access_token_of(&client, "to-other", t0, Duration::hours(1))
            },
            "not for another principal",
        ),
        (
            SharingToken {
                activated_at: None,
                ..access_token_of(&client, "inactive", t0, Duration::hours(1))
            },
            "issued activated",
        ),
        (
            SharingToken {
                expires_at: None,
                ..access_token_of(&client, "endless", t0, Duration::hours(1))
            },
            "with an expiry",
        ),
    ] {
        let err = s
            .insert_access_token(&bad, audit("sharing_token.issue"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{why}: {err}");
        assert_eq!(s.get_sharing_token(bad.id).await.unwrap(), None, "{why}");
    }

    // Listing: bearer tokens and OAuth clients in any state, newest first, no access tokens.
    let ids = |tokens: Vec<SharingToken>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_sharing_tokens(partner.id).await.unwrap()),
        vec![newest.id, pending.id, client.id, soon.id, forever.id]
    );
    assert_eq!(
        ids(s.list_sharing_tokens(other.id).await.unwrap()),
        vec![others.id]
    );

    // Rotation: everything but `newest` expires by `at`; nothing is extended.
    let changed = s
        .expire_sharing_tokens(partner.id, at, newest.id, audit("sharing_token.rotate"))
        .await
        .unwrap();
    assert_eq!(
        changed, 3,
        "forever, client and pending; soon already expires earlier"
    );
    let expiry =
        |id: Uuid| async move { s.get_sharing_token(id).await.unwrap().unwrap().expires_at };
    assert_eq!(expiry(forever.id).await, Some(at));
    assert_eq!(expiry(soon.id).await, Some(t0 + Duration::days(1)));
    assert_eq!(expiry(client.id).await, Some(at));
    assert_eq!(expiry(pending.id).await, Some(at));
    assert_eq!(expiry(newest.id).await, newest.expires_at);
    assert_eq!(
        expiry(long.id).await,
        Some(at),
        "the client's access tokens too"
    );
    assert_eq!(
        expiry(short.id).await,
        short.expires_at,
        "an earlier expiry stays"
    );
    assert_eq!(expiry(of_newest.id).await, of_newest.expires_at);
    assert_eq!(
        expiry(others.id).await,
        None,
        "other principals are untouched"
    );
    assert_eq!(count_actions(s, "sharing_token.rotate").await, 1);
    // Rotating again changes nothing.
    assert_eq!(
        s.expire_sharing_tokens(partner.id, at, newest.id, audit("sharing_token.rotate"))
            .await
            .unwrap(),
        0
    );
    // A token issued after the rotation is cut to the client's new expiry.
    let late = access_token_of(&client, "late", t0 + Duration::hours(2), Duration::days(30));
    let stored = s
        .insert_access_token(&late, audit("sharing_token.issue"))
        .await
        .unwrap();
    assert_eq!(stored.expires_at, Some(at));

    // Revoking an OAuth client revokes what was issued to it, and nothing else.
    let first = t0 + Duration::days(2);
    assert!(
        s.revoke_sharing_token(client.id, first, audit("sharing_token.revoke"))
            .await
            .unwrap()
    );
    assert!(
        s.revoke_sharing_token(
            client.id,
            first + Duration::hours(1),
            audit("sharing_token.revoke")
        )
        .await
        .unwrap()
    );
    let revoked_at =
        |id: Uuid| async move { s.get_sharing_token(id).await.unwrap().unwrap().revoked_at };
    assert_eq!(
        revoked_at(client.id).await,
        Some(first),
        "the first time stays"
    );
    assert_eq!(revoked_at(long.id).await, Some(first));
    assert_eq!(revoked_at(short.id).await, Some(first));
    assert_eq!(revoked_at(late.id).await, Some(first));
    assert_eq!(revoked_at(of_newest.id).await, None);
    assert_eq!(revoked_at(newest.id).await, None);
    assert_eq!(revoked_at(forever.id).await, None);
    let (found, _) = s.find_sharing_token("secret-long").await.unwrap().unwrap();
    assert!(!found.is_usable(t0 + Duration::hours(3)));

    // A revoked client is issued nothing more.
    let refused = access_token_of(&client, "after", first, Duration::hours(1));
    let err = s
        .insert_access_token(&refused, audit("sharing_token.issue"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(s.get_sharing_token(refused.id).await.unwrap(), None);

    // An unknown token is reported, not audited.
    let before = count_actions(s, "sharing_token.revoke").await;
    assert!(
        !s.revoke_sharing_token(new_id(), first, audit("sharing_token.revoke"))
            .await
            .unwrap()
    );
    assert_eq!(count_actions(s, "sharing_token.revoke").await, before);
    assert_eq!(before, 2);
}

async fn expired_access_tokens_are_collected(env: &Env) {
    let s = env.s();
    let partner = principal(s, "partner", PrincipalKind::Service).await;
    let t0 = now();
    let client = active_token(s, &partner, SharingTokenKind::OauthClient, "c", t0, None).await;
    let bearer = active_token(
        s,
        &partner,
        SharingTokenKind::Bearer,
        "b",
        t0,
        Some(t0 + Duration::minutes(1)),
    )
    .await;
    let old = access_token_of(&client, "old", t0, Duration::minutes(10));
    let older = access_token_of(&client, "older", t0, Duration::minutes(5));
    let fresh = access_token_of(&client, "fresh", t0, Duration::hours(2));
    for t in [&old, &older, &fresh] {
        s.insert_access_token(t, audit("sharing_token.issue"))
            .await
            .unwrap();
    }
    let before = t0 + Duration::hours(1);
    assert_eq!(s.delete_expired_access_tokens(before).await.unwrap(), 2);
    assert_eq!(s.get_sharing_token(old.id).await.unwrap(), None);
    assert_eq!(s.get_sharing_token(older.id).await.unwrap(), None);
    assert_eq!(s.find_sharing_token("secret-old").await.unwrap(), None);
    assert_eq!(
        s.get_sharing_token(fresh.id).await.unwrap(),
        Some(fresh.clone())
    );
    assert_eq!(
        s.get_sharing_token(bearer.id).await.unwrap(),
        Some(bearer),
        "only access tokens are collected"
    );
    assert_eq!(s.get_sharing_token(client.id).await.unwrap(), Some(client));
    // An expiry exactly at `before` is not before it.
    assert_eq!(
        s.delete_expired_access_tokens(t0 + Duration::hours(2))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.delete_expired_access_tokens(t0 + Duration::hours(3))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.get_sharing_token(fresh.id).await.unwrap(), None);
}

async fn recipient_settings_upsert_and_read(env: &Env) {
    let s = env.s();
    let partner = principal(s, "partner", PrincipalKind::Service).await;
    assert_eq!(s.recipient_settings(partner.id).await.unwrap(), None);
    let mut settings = RecipientSettings {
        principal_id: partner.id,
        ip_allow_list: vec!["10.0.0.0/8".into(), "192.0.2.7".into()],
        updated_at: now(),
    };
    s.put_recipient_settings(&settings, audit("recipient.settings"))
        .await
        .unwrap();
    assert_eq!(
        s.recipient_settings(partner.id).await.unwrap(),
        Some(settings.clone())
    );
    settings.ip_allow_list = vec!["2001:db8::/32".into()];
    settings.updated_at = now() + Duration::seconds(1);
    s.put_recipient_settings(&settings, audit("recipient.settings"))
        .await
        .unwrap();
    assert_eq!(
        s.recipient_settings(partner.id).await.unwrap(),
        Some(settings.clone())
    );
    settings.ip_allow_list.clear();
    s.put_recipient_settings(&settings, audit("recipient.settings"))
        .await
        .unwrap();
    assert_eq!(
        s.recipient_settings(partner.id)
            .await
            .unwrap()
            .unwrap()
            .ip_allow_list,
        Vec::<String>::new()
    );
    assert_eq!(count_actions(s, "recipient.settings").await, 3);

    let nobody = RecipientSettings {
        principal_id: new_id(),
        ..settings
    };
    let err = s
        .put_recipient_settings(&nobody, audit("recipient.settings"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!(
        s.recipient_settings(nobody.principal_id).await.unwrap(),
        None
    );
    assert_eq!(count_actions(s, "recipient.settings").await, 3);
}

/// The mask key (issue 13, finding 9): created on first use and then the same for every
/// caller (another connection stands for another replica), distinct from the signing key;
/// rotation replaces it, bumps the policy version and is audited, in one transaction.
async fn mask_key_is_shared_separate_and_rotates(env: &Env) {
    let s = env.s();
    let key = s.mask_key().await.unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(s.mask_key().await.unwrap(), key);
    let replica = connect(&env.url).await.unwrap();
    assert_eq!(replica.mask_key().await.unwrap(), key);
    let signing = s.signing_key().await.unwrap();
    assert_ne!(signing, key);

    let v0 = s.policy_version().await.unwrap();
    s.rotate_mask_key(audit("mesh.mask_key.rotate"))
        .await
        .unwrap();
    let rotated = s.mask_key().await.unwrap();
    assert_eq!(rotated.len(), 32);
    assert_ne!(rotated, key);
    assert_eq!(replica.mask_key().await.unwrap(), rotated);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    assert_eq!(s.signing_key().await.unwrap(), signing, "only the mask key");
    assert!(
        audit_actions(s)
            .await
            .contains(&"mesh.mask_key.rotate".to_string())
    );
}

async fn external_locations_crud_unique_and_audited(env: &Env) {
    let s = env.s();
    let admin = principal(s, "root", PrincipalKind::User).await;
    let d = domain(s, "sales").await;
    let core = team(s, &d, "core").await;
    let ops = team(s, &d, "ops").await;
    let landing = ExternalLocation {
        id: new_id(),
        name: "landing".into(),
        url: "s3://bucket/landing/".into(),
        teams: vec![core.id, ops.id],
        writable: false,
        description: "raw drops".into(),
        created_by: admin.id,
        created_at: now(),
    };
    s.create_external_location(&landing, audit("external_location.create"))
        .await
        .unwrap();
    let lake = ExternalLocation {
        id: new_id(),
        name: "lake".into(),
        url: "file:///srv/lake/".into(),
        teams: vec![core.id],
        writable: true,
        ..landing.clone()
    };
    s.create_external_location(&lake, audit("external_location.create"))
        .await
        .unwrap();
    assert_eq!(
        s.get_external_location_by_name("landing").await.unwrap(),
        Some(landing.clone())
    );
    assert_eq!(s.get_external_location_by_name("nope").await.unwrap(), None);
    // By name.
    assert_eq!(
        s.list_external_locations().await.unwrap(),
        vec![lake.clone(), landing.clone()]
    );

    // Names and URLs are unique; a refused write leaves no audit event.
    for dup in [
        ExternalLocation {
            id: new_id(),
            url: "s3://bucket/other/".into(),
            ..landing.clone()
        },
        ExternalLocation {
            id: new_id(),
            name: "again".into(),
            ..landing.clone()
        },
    ] {
        let err = s
            .create_external_location(&dup, audit("external_location.create"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    }
    assert_eq!(count_actions(s, "external_location.create").await, 2);

    s.delete_external_location(landing.id, audit("external_location.delete"))
        .await
        .unwrap();
    let err = s
        .delete_external_location(landing.id, audit("external_location.delete"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(s.list_external_locations().await.unwrap(), vec![lake]);
    assert_eq!(count_actions(s, "external_location.delete").await, 1);

    // Every product's tables, for the overlap check.
    let (_, a) = product(s, &core, "orders", &["orders", "lines"]).await;
    let (_, b) = product(s, &ops, "events", &["events"]).await;
    let mut all: Vec<Uuid> = s
        .list_all_tables()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    all.sort();
    let mut want: Vec<Uuid> = a.iter().chain(&b).map(|t| t.id).collect();
    want.sort();
    assert_eq!(all, want);
}

/// One bulk read holds what the per-record reads would give, for a principal in a team and a
/// group: its team's product whole, the granted product's tables with their grants, data
/// filters, row rules, column tags, tag masks, tenancies and local names — and nothing of a
/// product neither owned nor granted.
async fn access_rows_read_everything_the_snapshot_needs(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let group = principal(s, "analysts", PrincipalKind::Group).await;
    s.add_group_member(group.id, m.user.id, audit("group.add"))
        .await
        .unwrap();
    let (own, own_tables) = product(s, &m.consumer, "reports", &["weekly"]).await;
    let (_, _) = product(s, &m.owner, "secret", &["ledger"]).await;

    let f = filter_of(&m, &m.tables[0], "eu_only");
    s.create_data_filter(&f, audit("filter.create"))
        .await
        .unwrap();
    let rules = vec![rule(Some("alice"), None, &[("region", &["EU"])])];
    s.replace_row_rules(m.product.id, &rules, audit("rules.replace"))
        .await
        .unwrap();
    let tags = tags_of(&m.tables[0], "amount", &["pii"]);
    s.set_column_tags(&tags, audit("tags.set")).await.unwrap();
    s.put_tag_mask(&tag_mask_of(None, "pii", Mask::Redact), audit("mask.put"))
        .await
        .unwrap();
    let tenancy = TableTenancy {
        table_id: m.tables[1].id,
        key_column: "id".into(),
        separator: Some("/".into()),
    };
    s.set_tenancy(&tenancy, audit("tenancy.set")).await.unwrap();

    let mut share = share_of(
        &m.product,
        Some(&m.consumer),
        None,
        &m.user,
        ShareStatus::Submitted,
    );
    share.terms.local_name = Some("mine".into());
    let scoped = ShareItem {
        scope: scope_with(&[f.id]),
        ..item_of(&share, &m.tables[0], ItemStatus::PendingApproval)
    };
    let whole = item_of(&share, &m.tables[1], ItemStatus::PendingApproval);
    s.create_share(
        &share,
        &[scoped.clone(), whole.clone()],
        audit("share.create"),
    )
    .await
    .unwrap();
    let team_grant = grant_of(&scoped, Grantee::Team(m.consumer.id));
    let user_grant = grant_of(&whole, Grantee::Principal(m.user.id));
    let mut c = change(&share, 1);
    c.grants_to_add = vec![team_grant.clone(), user_grant.clone()];
    s.apply_share_change(c).await.unwrap();

    let rows = s
        .access_rows(m.user.id, &[m.consumer.id], &[group.id])
        .await
        .unwrap();
    assert_eq!(rows.policy_version, s.policy_version().await.unwrap());
    assert_eq!(rows.teams, vec![m.consumer.id]);
    assert_eq!(rows.group_names, vec!["analysts".to_string()]);
    let ids = |v: Vec<Uuid>| v.into_iter().collect::<HashSet<_>>();
    assert_eq!(
        ids(rows.products.iter().map(|p| p.id).collect()),
        ids(vec![own.id, m.product.id]),
        "the owned and the granted product, not the other one"
    );
    assert_eq!(
        ids(rows.tables.iter().map(|t| t.id).collect()),
        ids(vec![own_tables[0].id, m.tables[0].id, m.tables[1].id])
    );
    assert_eq!(
        sorted_by_id(rows.grants.clone()),
        sorted_by_id(s.grants_for(m.user.id, &[m.consumer.id]).await.unwrap())
    );
    assert_eq!(rows.grants.len(), 2);
    assert_eq!(rows.data_filters, vec![f.clone()]);
    assert_eq!(rows.row_rules.get(&m.product.id), Some(&rules));
    assert!(
        !rows.row_rules.contains_key(&own.id),
        "owned products need no rules"
    );
    assert_eq!(rows.column_tags, vec![tags]);
    assert_eq!(rows.tag_masks, s.list_tag_masks().await.unwrap());
    assert_eq!(rows.tenancies, vec![tenancy]);
    assert_eq!(rows.domains.len(), 2);
    assert_eq!(
        rows.local_names.get(&scoped.id).map(String::as_str),
        Some("mine")
    );
    assert!(rows.file_grants.is_empty());

    // Resolved: the owned table, the two granted ones, and their local names.
    let snap = meshgate_core::snapshot::resolve(&rows);
    let names: Vec<String> = snap
        .tables
        .iter()
        .map(|t| format!("{}.{}.{}", t.catalog, t.schema, t.table.name))
        .collect();
    assert_eq!(
        names[0], "finance.reports.weekly",
        "owned tables come first"
    );
    let all: HashSet<String> = names.iter().cloned().collect();
    let want: HashSet<String> = [
        "finance.reports.weekly".to_string(),
        format!("sales.orders.{}", m.tables[0].name),
        format!("sales.orders.{}", m.tables[1].name),
        format!("meshgate.mine.{}", m.tables[0].name),
        format!("meshgate.mine.{}", m.tables[1].name),
    ]
    .into_iter()
    .collect();
    assert_eq!(all, want);
    assert_eq!(names.len(), want.len());

    // Someone with no team, group or grant reads nothing.
    let nobody = s.access_rows(new_id(), &[], &[]).await.unwrap();
    assert!(nobody.products.is_empty() && nobody.tables.is_empty() && nobody.grants.is_empty());
}

// ----- the two migration sets agree -----
//
// Each backend has its own migrations; the queries (one set for both) assume they describe
// the same schema. This compares what they build: tables, columns and their nullability,
// primary keys, indexes and unique constraints (by kind and columns, not by name, since the
// backends name constraints differently) and foreign keys. Column types differ only as
// `KNOWN_TYPE_DIFFERENCES` allows.

use sqlx::Row;

/// Column types that differ by design: (SQLite, PostgreSQL, only on a primary key?, why).
/// Any other pair must be the same type name (ignoring case).
const KNOWN_TYPE_DIFFERENCES: &[(&str, &str, bool, &str)] = &[
    (
        "INTEGER",
        "boolean",
        false,
        "booleans: the Any driver cannot read a BOOLEAN column on SQLite",
    ),
    (
        "INTEGER",
        "smallint",
        true,
        "the `id = 1` key of single-row tables",
    ),
    (
        "INTEGER",
        "bigint",
        true,
        "sequence keys: INTEGER PRIMARY KEY AUTOINCREMENT vs GENERATED ALWAYS AS IDENTITY",
    ),
];

#[derive(Debug, Clone, PartialEq)]
struct SchemaColumn {
    ty: String,
    nullable: bool,
}

/// A schema as both backends can describe it, each part by table name.
#[derive(Debug, Clone, Default)]
struct Schema {
    columns: BTreeMap<String, BTreeMap<String, SchemaColumn>>,
    primary_keys: BTreeMap<String, Vec<String>>,
    /// `unique (a, b)`, `index (a)`, `unique (<expr>, b) where …`: sorted, repeats kept.
    indexes: BTreeMap<String, Vec<String>>,
    /// `(a) -> other (id) on delete cascade`: sorted.
    foreign_keys: BTreeMap<String, Vec<String>>,
}

/// A foreign key as SQLite lists it, one row per column; `to` is `None` for a reference to
/// the target's primary key that names no columns.
struct SqliteForeignKey {
    target: String,
    from: Vec<String>,
    to: Vec<Option<String>>,
    on_delete: String,
}

fn index_text(unique: bool, columns: &[String], partial: bool) -> String {
    format!(
        "{} ({}){}",
        if unique { "unique" } else { "index" },
        columns.join(", "),
        if partial { " where …" } else { "" }
    )
}

fn foreign_key_text(columns: &str, table: &str, references: &str, on_delete: &str) -> String {
    format!("({columns}) -> {table} ({references}) on delete {on_delete}")
}

/// The schema of the SQLite database at `url`, from its catalog pragmas.
async fn sqlite_schema(url: &str) -> Schema {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::default();
    for table in &tables {
        let mut pk: Vec<(i64, String)> = Vec::new();
        let cols = sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
            .bind(table)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let single_pk = cols.iter().filter(|c| c.get::<i64, _>("pk") > 0).count() == 1;
        for c in &cols {
            let name: String = c.get("name");
            let ty: String = c.get("type");
            let pk_pos: i64 = c.get("pk");
            // An INTEGER PRIMARY KEY is the rowid, which is never NULL whatever the pragma says.
            let rowid = single_pk && pk_pos > 0 && ty.eq_ignore_ascii_case("INTEGER");
            let nullable = c.get::<i64, _>("notnull") == 0 && !rowid;
            if pk_pos > 0 {
                pk.push((pk_pos, name.clone()));
            }
            schema
                .columns
                .entry(table.clone())
                .or_default()
                .insert(name, SchemaColumn { ty, nullable });
        }
        pk.sort();
        schema
            .primary_keys
            .insert(table.clone(), pk.into_iter().map(|(_, n)| n).collect());

        let list = sqlx::query(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list($1) \
             WHERE origin <> 'pk'",
        )
        .bind(table)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut indexes = Vec::new();
        for index in &list {
            let name: String = index.get("name");
            let columns: Vec<String> =
                sqlx::query("SELECT cid, name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| match c.get::<i64, _>("cid") {
                        -2 => "<expr>".to_string(),
                        _ => c.get::<String, _>("name"),
                    })
                    .collect();
            indexes.push(index_text(
                index.get::<i64, _>("unique") == 1,
                &columns,
                index.get::<i64, _>("partial") == 1,
            ));
        }
        indexes.sort();
        schema.indexes.insert(table.clone(), indexes);

        // One row per column of each foreign key (`id`), in key order (`seq`).
        let fks = sqlx::query(
            "SELECT id, \"table\" AS target, \"from\" AS col, \"to\" AS ref, on_delete \
             FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(table)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut by_id: BTreeMap<i64, SqliteForeignKey> = BTreeMap::new();
        for fk in &fks {
            let key = by_id
                .entry(fk.get("id"))
                .or_insert_with(|| SqliteForeignKey {
                    target: fk.get("target"),
                    from: Vec::new(),
                    to: Vec::new(),
                    on_delete: fk.get::<String, _>("on_delete").to_lowercase(),
                });
            key.from.push(fk.get("col"));
            key.to.push(fk.get("ref"));
        }
        let mut keys = Vec::new();
        for key in by_id.into_values() {
            // `REFERENCES t` without columns means t's primary key.
            let to: Vec<String> = if key.to.iter().all(Option::is_some) {
                key.to.into_iter().flatten().collect()
            } else {
                sqlx::query_scalar(
                    "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk",
                )
                .bind(&key.target)
                .fetch_all(&mut conn)
                .await
                .unwrap()
            };
            keys.push(foreign_key_text(
                &key.from.join(", "),
                &key.target,
                &to.join(", "),
                &key.on_delete,
            ));
        }
        keys.sort();
        schema.foreign_keys.insert(table.clone(), keys);
    }
    schema
}

/// The schema `schema` of the PostgreSQL server at `base`, from its catalogs.
async fn postgres_schema(base: &str, schema_name: &str) -> Schema {
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    let mut schema = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations'",
    )
    .bind(schema_name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in &tables {
        schema.columns.insert(table.clone(), BTreeMap::new());
        schema.primary_keys.insert(table.clone(), Vec::new());
        schema.indexes.insert(table.clone(), Vec::new());
        schema.foreign_keys.insert(table.clone(), Vec::new());
    }
    let cols = sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS name, data_type::text AS ty, \
         is_nullable::text AS nullable FROM information_schema.columns WHERE table_schema = $1",
    )
    .bind(schema_name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for c in &cols {
        let table: String = c.get("tbl");
        if let Some(columns) = schema.columns.get_mut(&table) {
            columns.insert(
                c.get("name"),
                SchemaColumn {
                    ty: c.get("ty"),
                    nullable: c.get::<String, _>("nullable") == "YES",
                },
            );
        }
    }
    // The columns of an index or key, in order; `<expr>` for an expression.
    let indexes = sqlx::query(
        "SELECT c.relname::text AS tbl, x.indisunique AS uniq, x.indisprimary AS pk, \
         x.indpred IS NOT NULL AS partial, \
         (SELECT string_agg(COALESCE(a.attname::text, '<expr>'), ',' ORDER BY k.n) \
          FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS cols \
         FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid \
         JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1",
    )
    .bind(schema_name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for index in &indexes {
        let table: String = index.get("tbl");
        if !schema.columns.contains_key(&table) {
            continue;
        }
        let columns: Vec<String> = index
            .get::<String, _>("cols")
            .split(',')
            .map(str::to_string)
            .collect();
        if index.get::<bool, _>("pk") {
            schema.primary_keys.insert(table, columns);
        } else {
            let text = index_text(index.get("uniq"), &columns, index.get("partial"));
            schema.indexes.entry(table).or_default().push(text);
        }
    }
    let fks = sqlx::query(
        "SELECT c.relname::text AS tbl, f.relname::text AS target, \
         con.confdeltype::text AS on_delete, \
         (SELECT string_agg(a.attname::text, ', ' ORDER BY k.n) \
          FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) \
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS cols, \
         (SELECT string_agg(a.attname::text, ', ' ORDER BY k.n) \
          FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n) \
          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS refs \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_class f ON f.oid = con.confrelid \
         JOIN pg_namespace s ON s.oid = c.relnamespace \
         WHERE con.contype = 'f' AND s.nspname = $1",
    )
    .bind(schema_name)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for fk in &fks {
        let on_delete = match fk.get::<String, _>("on_delete").as_str() {
            "a" => "no action",
            "r" => "restrict",
            "c" => "cascade",
            "n" => "set null",
            "d" => "set default",
            other => panic!("unknown foreign key action `{other}`"),
        };
        let text = foreign_key_text(
            &fk.get::<String, _>("cols"),
            &fk.get::<String, _>("target"),
            &fk.get::<String, _>("refs"),
            on_delete,
        );
        schema
            .foreign_keys
            .entry(fk.get("tbl"))
            .or_default()
            .push(text);
    }
    for list in schema
        .indexes
        .values_mut()
        .chain(schema.foreign_keys.values_mut())
    {
        list.sort();
    }
    schema
}

fn types_agree(sqlite: &str, postgres: &str, primary_key: bool) -> bool {
    sqlite.eq_ignore_ascii_case(postgres)
        || KNOWN_TYPE_DIFFERENCES.iter().any(|(lite, pg, only_pk, _)| {
            sqlite == *lite && postgres == *pg && (primary_key || !only_pk)
        })
}

/// Every way `sqlite` and `postgres` disagree, one line each.
fn schema_differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let tables: std::collections::BTreeSet<&String> = sqlite
        .columns
        .keys()
        .chain(postgres.columns.keys())
        .collect();
    for table in tables {
        let (Some(lite), Some(pg)) = (sqlite.columns.get(table), postgres.columns.get(table))
        else {
            let only = if sqlite.columns.contains_key(table) {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            out.push(format!("table {table}: only on {only}"));
            continue;
        };
        let pk = sqlite.primary_keys.get(table);
        let columns: std::collections::BTreeSet<&String> = lite.keys().chain(pg.keys()).collect();
        for column in columns {
            match (lite.get(column), pg.get(column)) {
                (Some(l), Some(p)) => {
                    let in_pk = pk.is_some_and(|k| k.contains(column));
                    if !types_agree(&l.ty, &p.ty, in_pk) {
                        out.push(format!(
                            "{table}.{column}: type {} on SQLite, {} on PostgreSQL",
                            l.ty, p.ty
                        ));
                    }
                    if l.nullable != p.nullable {
                        let null = |n: bool| if n { "NULL" } else { "NOT NULL" };
                        out.push(format!(
                            "{table}.{column}: {} on SQLite, {} on PostgreSQL",
                            null(l.nullable),
                            null(p.nullable)
                        ));
                    }
                }
                (Some(_), None) => out.push(format!("{table}.{column}: only on SQLite")),
                (None, _) => out.push(format!("{table}.{column}: only on PostgreSQL")),
            }
        }
        for (what, lite, pg) in [
            (
                "primary key",
                sqlite.primary_keys.get(table).map(|k| vec![k.join(", ")]),
                postgres.primary_keys.get(table).map(|k| vec![k.join(", ")]),
            ),
            (
                "indexes",
                sqlite.indexes.get(table).cloned(),
                postgres.indexes.get(table).cloned(),
            ),
            (
                "foreign keys",
                sqlite.foreign_keys.get(table).cloned(),
                postgres.foreign_keys.get(table).cloned(),
            ),
        ] {
            let (lite, pg) = (lite.unwrap_or_default(), pg.unwrap_or_default());
            if lite != pg {
                out.push(format!(
                    "{table} {what}: {lite:?} on SQLite, {pg:?} on PostgreSQL"
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_agree_between_backends() {
    let lite = sqlite_env().await;
    let Some(pg) = postgres_env().await else {
        return;
    };
    let sqlite = sqlite_schema(&lite.url).await;
    let (base, schema_name) = pg.pg.clone().unwrap();
    let postgres = postgres_schema(&base, &schema_name).await;
    pg.cleanup().await;
    // The comparison saw the whole schema, not an empty one.
    for schema in [&sqlite, &postgres] {
        assert!(schema.columns.len() >= 30, "{:?}", schema.columns.keys());
        assert!(schema.columns["principals"].contains_key("is_admin"));
        assert!(!schema.indexes["tag_masks"].is_empty());
        assert!(!schema.foreign_keys["product_tables"].is_empty());
    }
    let differences = schema_differences(&sqlite, &postgres);
    assert!(
        differences.is_empty(),
        "the SQLite and PostgreSQL migrations disagree (fix the migration, or add a known \
         type difference to KNOWN_TYPE_DIFFERENCES):\n  {}",
        differences.join("\n  ")
    );
}

/// The comparison itself: a column, an index, a nullability or a table on one side only is
/// reported. SQLite against SQLite, so it runs without PostgreSQL.
/// Inserts a row into `table` with every column of `given` set and every other NOT NULL
/// column a placeholder of its type (foreign keys are off on `conn`).
async fn insert_placeholder_row(
    conn: &mut sqlx::SqliteConnection,
    table: &str,
    given: &[(&str, &str)],
) {
    let cols: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, type, \"notnull\" FROM pragma_table_info(?1)")
            .bind(table)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert!(!cols.is_empty(), "no table {table}");
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (name, ty, not_null) in cols {
        let value = match given.iter().find(|(g, _)| *g == name) {
            Some((_, v)) => format!("'{v}'"),
            None if not_null == 0 => continue,
            None if ty.to_ascii_uppercase().contains("INT") => "0".to_string(),
            None => "'x'".to_string(),
        };
        names.push(name);
        values.push(value);
    }
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        values.join(", ")
    );
    conn.execute(sql.as_str()).await.unwrap();
}

/// SQLite rebuilds `notifications` and `webhook_deliveries` in migration 0015 (to let an
/// alert's notification have no share): what a store held before it is all there after, and
/// the foreign keys point at the new tables.
#[tokio::test]
async fn sqlite_notifications_and_deliveries_survive_the_alerts_migration() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("meshgate.db");
    let url = format!("sqlite://{}", file.display());
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .foreign_keys(false);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    let mut before = sqlx::migrate::Migrator::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"),
    )
    .await
    .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 15)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&mut conn).await.unwrap();
    let (principal, share, webhook, note, delivery) =
        (new_id(), new_id(), new_id(), new_id(), new_id());
    let (principal, share, webhook, note, delivery) = (
        principal.to_string(),
        share.to_string(),
        webhook.to_string(),
        note.to_string(),
        delivery.to_string(),
    );
    insert_placeholder_row(
        &mut conn,
        "principals",
        &[("id", &principal), ("name", "bob"), ("kind", "user")],
    )
    .await;
    insert_placeholder_row(
        &mut conn,
        "shares",
        &[("id", &share), ("status", "submitted")],
    )
    .await;
    insert_placeholder_row(
        &mut conn,
        "webhooks",
        &[("id", &webhook), ("principal_id", &principal)],
    )
    .await;
    insert_placeholder_row(
        &mut conn,
        "notifications",
        &[
            ("id", &note),
            ("principal_id", &principal),
            ("share_id", &share),
            ("event", "submitted"),
            ("audit_seq", "7"),
        ],
    )
    .await;
    insert_placeholder_row(
        &mut conn,
        "webhook_deliveries",
        &[
            ("id", &delivery),
            ("webhook_id", &webhook),
            ("notification_id", &note),
            ("event", "submitted"),
            ("status", "pending"),
        ],
    )
    .await;
    conn.close().await.unwrap();

    migrate(&url).await.unwrap();
    let s = connect(&url).await.unwrap();
    let p = Uuid::parse_str(&principal).unwrap();
    let inbox = s.list_notifications(p, false, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id.to_string(), note);
    assert_eq!(inbox[0].share_id.map(|id| id.to_string()), Some(share));
    assert_eq!(inbox[0].alert_id, None);
    let deliveries = s
        .list_webhook_deliveries(Uuid::parse_str(&webhook).unwrap())
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].id.to_string(), delivery);
    let mut conn = SqliteConnection::connect_with(&options.foreign_keys(true))
        .await
        .unwrap();
    let fks: Vec<(String,)> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_list('webhook_deliveries')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(fks.contains(&("notifications".to_string(),)), "{fks:?}");
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(
        broken.iter().all(|(t,)| t == "shares"),
        "only the placeholder share's own parents are missing: {broken:?}"
    );
}

#[tokio::test]
async fn migration_comparison_reports_what_one_side_lacks() {
    let base = sqlite_env().await;
    let changed = sqlite_env().await;
    let mut conn = sqlx::SqliteConnection::connect(&changed.url).await.unwrap();
    for sql in [
        "ALTER TABLE principals ADD COLUMN email TEXT",
        "CREATE INDEX domains_description ON domains (description)",
        "CREATE TABLE extra (id TEXT PRIMARY KEY NOT NULL)",
        "ALTER TABLE teams ADD COLUMN parent_id TEXT REFERENCES teams (id)",
    ] {
        conn.execute(sql).await.unwrap();
    }
    let before = sqlite_schema(&base.url).await;
    let after = sqlite_schema(&changed.url).await;
    assert!(schema_differences(&before, &before).is_empty());
    let differences = schema_differences(&before, &after);
    for expected in [
        "principals.email: only on PostgreSQL",
        "domains indexes",
        "table extra: only on PostgreSQL",
        "teams.parent_id: only on PostgreSQL",
        "teams foreign keys",
    ] {
        assert!(
            differences.iter().any(|d| d.starts_with(expected)),
            "`{expected}` not in {differences:#?}"
        );
    }
    // A nullability and a type difference.
    let mut other = before.clone();
    let name = other
        .columns
        .get_mut("principals")
        .unwrap()
        .get_mut("name")
        .unwrap();
    name.nullable = true;
    name.ty = "BLOB".into();
    let differences = schema_differences(&before, &other);
    assert_eq!(differences.len(), 2, "{differences:#?}");
}

// ----- deactivation and SCIM -----

/// An API token, a usable and an expired credential, and an activated recipient token of
/// `who`.
async fn credentials_of(s: &dyn Store, who: &Principal) -> (ApiToken, Credential, SharingToken) {
    let token = ApiToken {
        id: new_id(),
        principal_id: who.id,
        name: "laptop".into(),
        token_hash: format!("hash-{}", who.name),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
        scope: TokenScope::Api,
    };
    s.create_token(&token, audit("token.create")).await.unwrap();
    let credential = |expires_at| Credential {
        id: new_id(),
        principal_id: who.id,
        policy: SessionPolicy {
            tables: vec!["d.p.t".into()],
            actions: vec![CredentialAction::Read],
            key_prefix: None,
        },
        created_at: now() - Duration::hours(2),
        expires_at,
        revoked_at: None,
    };
    let usable = credential(now() + Duration::hours(1));
    let expired = credential(now() - Duration::hours(1));
    for c in [&usable, &expired] {
        s.create_credential(c, audit("credential.create"))
            .await
            .unwrap();
    }
    let recipient = active_token(
        s,
        who,
        SharingTokenKind::Bearer,
        &format!("rt-{}", who.name),
        now(),
        None,
    )
    .await;
    (token, usable, recipient)
}

async fn deactivation_revokes_every_credential_at_once(env: &Env) {
    let s = env.s();
    let alice = principal(s, "alice", PrincipalKind::User).await;
    let bob = principal(s, "bob", PrincipalKind::User).await;
    let (token, credential, recipient) = credentials_of(s, &alice).await;
    let (bob_token, _, _) = credentials_of(s, &bob).await;
    let v0 = s.policy_version().await.unwrap();
    let at = now();
    let revoked = s
        .deactivate_principal(alice.id, at, audit("principal.deactivate"))
        .await
        .unwrap();
    assert_eq!(revoked.api_tokens, 1);
    assert_eq!(revoked.recipient_tokens, 1);
    assert_eq!(
        revoked.credentials,
        vec![credential.id],
        "only the unexpired one"
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    assert!(!s.get_principal(alice.id).await.unwrap().unwrap().active);
    assert_eq!(
        s.get_token(token.id).await.unwrap().unwrap().revoked_at,
        Some(at)
    );
    let rt = s.get_sharing_token(recipient.id).await.unwrap().unwrap();
    assert_eq!(rt.revoked_at, Some(at));
    assert!(
        s.revoked_credentials(now())
            .await
            .unwrap()
            .contains(&credential.id)
    );
    // Bob's are untouched.
    assert!(
        s.get_token(bob_token.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(s.get_principal(bob.id).await.unwrap().unwrap().active);
    // The event says what was revoked.
    let events = s
        .list_audit(&AuditFilter {
            action_prefix: Some("principal.deactivate".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["revoked"]["api_tokens"], 1);
    assert_eq!(events[0].detail["revoked"]["credentials"], 1);
    // Again: nothing left to revoke; a principal that does not exist is not found.
    let again = s
        .deactivate_principal(alice.id, now(), audit("principal.deactivate"))
        .await
        .unwrap();
    assert_eq!(again, meshgate_store::Revoked::default());
    assert_eq!(
        s.get_token(token.id).await.unwrap().unwrap().revoked_at,
        Some(at)
    );
    let err = s
        .deactivate_principal(new_id(), now(), audit("principal.deactivate"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

async fn group_members_change_by_source(env: &Env) {
    let s = env.s();
    let group = principal(s, "analysts", PrincipalKind::Group).await;
    let [a, b, c] = [
        principal(s, "ann", PrincipalKind::User).await,
        principal(s, "ben", PrincipalKind::User).await,
        principal(s, "cat", PrincipalKind::User).await,
    ];
    // Ann was added by hand.
    s.add_group_member(group.id, a.id, audit("group.add"))
        .await
        .unwrap();
    let v0 = s.policy_version().await.unwrap();
    let (added, removed) = s
        .change_group_members(
            group.id,
            MembershipSource::Scim,
            &[MemberOp::Set(vec![a.id, b.id]), MemberOp::Add(vec![c.id])],
            audit("group.sync"),
        )
        .await
        .unwrap();
    let mut want = vec![b.id, c.id];
    want.sort();
    assert_eq!(
        (added, removed),
        (want, vec![]),
        "ann stays a manual member"
    );
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);
    // Removing through SCIM leaves the manual membership alone.
    let (added, removed) = s
        .change_group_members(
            group.id,
            MembershipSource::Scim,
            &[MemberOp::Remove(vec![a.id, b.id])],
            audit("group.sync"),
        )
        .await
        .unwrap();
    assert_eq!((added, removed), (vec![], vec![b.id]));
    let mut members = s.group_members(group.id).await.unwrap();
    members.sort();
    let mut want = vec![a.id, c.id];
    want.sort();
    assert_eq!(members, want);
    let sources: Vec<_> = s
        .all_group_members()
        .await
        .unwrap()
        .into_iter()
        .filter(|(g, _, _)| *g == group.id)
        .map(|(_, m, source)| (m, source))
        .collect();
    assert!(
        sources.contains(&(a.id, MembershipSource::Manual)),
        "{sources:?}"
    );
    assert!(
        sources.contains(&(c.id, MembershipSource::Scim)),
        "{sources:?}"
    );
    // No change: no bump, no event.
    let v1 = s.policy_version().await.unwrap();
    let before = count_actions(s, "group.sync").await;
    s.change_group_members(
        group.id,
        MembershipSource::Scim,
        &[MemberOp::Add(vec![c.id])],
        audit("group.sync"),
    )
    .await
    .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v1);
    assert_eq!(count_actions(s, "group.sync").await, before);
    // A member that is no principal fails the whole change.
    let err = s
        .change_group_members(
            group.id,
            MembershipSource::Scim,
            &[MemberOp::Set(vec![b.id, new_id()])],
            audit("group.sync"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let mut members = s.group_members(group.id).await.unwrap();
    members.sort();
    assert_eq!(members, want, "nothing of the failed change remains");
    let err = s
        .change_group_members(a.id, MembershipSource::Scim, &[], audit("group.sync"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}

fn scim_write(p: &Principal, create: bool, expected_version: i64) -> ScimWrite {
    ScimWrite {
        principal: p.clone(),
        create,
        attributes: serde_json::json!({"externalId": "x-1"}),
        expected_version,
        at: now(),
        members: vec![],
        delete: false,
        audit: audit("principal.update"),
        members_audit: audit("group.sync"),
    }
}

async fn scim_writes_are_whole_and_compare_and_set(env: &Env) {
    let s = env.s();
    let alice = Principal {
        id: new_id(),
        name: "alice".into(),
        kind: PrincipalKind::User,
        display_name: "Alice".into(),
        is_admin: false,
        created_at: now(),
        login: Some("Alice@Example.com".into()),
        active: true,
    };
    s.write_scim(&scim_write(&alice, true, 0)).await.unwrap();
    assert_eq!(
        s.get_principal(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    let record = s.scim_record(alice.id).await.unwrap().unwrap();
    assert_eq!(record.version, 1);
    assert_eq!(record.attributes["externalId"], "x-1");
    // The login is unique whatever the case: the whole create fails.
    let twin = Principal {
        id: new_id(),
        name: "alice-2".into(),
        login: Some("alice@example.COM".into()),
        ..alice.clone()
    };
    let err = s.write_scim(&scim_write(&twin, true, 0)).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(s.get_principal(twin.id).await.unwrap().is_none());
    assert!(s.scim_record(twin.id).await.unwrap().is_none());
    // A write from an older read changes nothing.
    let renamed = Principal {
        display_name: "Alice S.".into(),
        ..alice.clone()
    };
    s.write_scim(&scim_write(&renamed, false, 1)).await.unwrap();
    let err = s
        .write_scim(&scim_write(&alice, false, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(
        s.get_principal(alice.id)
            .await
            .unwrap()
            .unwrap()
            .display_name,
        "Alice S."
    );
    // A group with SCIM members; a member that does not exist fails the write whole.
    let group = Principal {
        id: new_id(),
        name: "sales".into(),
        kind: PrincipalKind::Group,
        display_name: "Sales".into(),
        login: Some("Sales".into()),
        ..alice.clone()
    };
    let mut w = scim_write(&group, true, 0);
    w.members = vec![MemberOp::Set(vec![alice.id, new_id()])];
    let err = s.write_scim(&w).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(
        s.get_principal(group.id).await.unwrap().is_none(),
        "nothing half-written"
    );
    w.members = vec![MemberOp::Set(vec![alice.id])];
    let written = s.write_scim(&w).await.unwrap();
    assert_eq!(written.added, vec![alice.id]);
    assert_eq!(s.groups_of(alice.id).await.unwrap(), vec![group.id]);
    // Deactivating through SCIM revokes alice's credentials in the same write.
    let (token, credential, recipient) = credentials_of(s, &alice).await;
    let inactive = Principal {
        active: false,
        ..renamed.clone()
    };
    let written = s
        .write_scim(&scim_write(&inactive, false, 2))
        .await
        .unwrap();
    let revoked = written.revoked.unwrap();
    assert_eq!(revoked.credentials, vec![credential.id]);
    assert!(
        s.get_token(token.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        s.get_sharing_token(recipient.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // Delete: login freed and kept, memberships gone, the record marked.
    let mut w = scim_write(&inactive, false, 3);
    w.delete = true;
    let written = s.write_scim(&w).await.unwrap();
    assert!(written.revoked.is_none(), "it was inactive already");
    let gone = s.get_principal(alice.id).await.unwrap().unwrap();
    assert_eq!((gone.login, gone.active), (None, false));
    let record = s.scim_record(alice.id).await.unwrap().unwrap();
    assert!(record.deleted_at.is_some());
    assert_eq!(record.deleted_login.as_deref(), Some("Alice@Example.com"));
    assert!(s.groups_of(alice.id).await.unwrap().is_empty());
    // A deleted record takes no more writes; its login can be used again.
    let err = s
        .write_scim(&scim_write(&inactive, false, 4))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    s.write_scim(&scim_write(&twin, true, 0)).await.unwrap();
    assert_eq!(s.scim_records().await.unwrap().len(), 3);
}

// ----- several replicas (docs/design/REPLICAS.md) -----

/// A rolling upgrade: a replica of this release restarts against a store a later release has
/// migrated (a migration it does not know, a table it does not use) and serves as before.
async fn a_store_a_later_release_migrated_still_opens(env: &Env) {
    let d = domain(env.s(), "sales").await;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&env.url).await.unwrap();
    let checksum = if env.pg.is_some() {
        "'\\x00'::bytea"
    } else {
        "X'00'"
    };
    conn.execute(
        format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990001, 'a later release', TRUE, {checksum}, 1)"
        )
        .as_str(),
    )
    .await
    .unwrap();
    conn.execute("CREATE TABLE later_release_thing (id TEXT PRIMARY KEY)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    migrate(&env.url).await.unwrap();
    let again = connect(&env.url).await.unwrap();
    assert_eq!(again.get_domain(d.id).await.unwrap(), Some(d));
    domain(again.as_ref(), "marketing").await;
}

async fn singleton_leases_have_one_holder_at_a_time(env: &Env) {
    let s = env.s();
    let minute = Duration::seconds(60);
    assert!(s.claim_singleton("scheduler", "a", minute).await.unwrap());
    assert!(!s.claim_singleton("scheduler", "b", minute).await.unwrap());
    // Renewing is claiming again; other tasks are leased on their own.
    assert!(s.claim_singleton("scheduler", "a", minute).await.unwrap());
    assert!(s.claim_singleton("dispatcher", "b", minute).await.unwrap());
    // Given up: the next claim takes it.
    s.release_singleton("scheduler", "a").await.unwrap();
    assert!(s.claim_singleton("scheduler", "b", minute).await.unwrap());
    assert!(!s.claim_singleton("scheduler", "a", minute).await.unwrap());
    // Releasing someone else's lease does nothing.
    s.release_singleton("scheduler", "a").await.unwrap();
    assert!(!s.claim_singleton("scheduler", "a", minute).await.unwrap());
    // Run out: anyone takes it.
    assert!(
        s.claim_singleton("collector", "c", Duration::milliseconds(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(s.claim_singleton("collector", "a", minute).await.unwrap());
    assert!(!s.claim_singleton("collector", "c", minute).await.unwrap());
}

async fn open_jobs_count_what_runs_or_is_due_on_a_subject(env: &Env) {
    let s = env.s();
    let subject = new_id();
    let job = |kind| NewJob {
        kind,
        subject_id: subject,
        lock_product: None,
        lock_grantee: None,
    };
    assert_eq!(s.open_jobs(subject).await.unwrap(), 0);
    s.enqueue_jobs(
        &[job(JobKind::VerifyShare)],
        audit("share.verify_requested"),
    )
    .await
    .unwrap();
    s.enqueue_jobs(
        &[NewJob {
            subject_id: new_id(),
            ..job(JobKind::VerifyShare)
        }],
        audit("share.verify_requested"),
    )
    .await
    .unwrap();
    assert_eq!(s.open_jobs(subject).await.unwrap(), 1, "due");
    let leased = s.lease_jobs("w", 10, Duration::seconds(60)).await.unwrap();
    let mine = leased.iter().find(|j| j.subject_id == subject).unwrap();
    assert_eq!(s.open_jobs(subject).await.unwrap(), 1, "running");
    // Failed, to be retried later: not open now.
    s.fail_job(mine.id, "boom", Utc::now() + Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(s.open_jobs(subject).await.unwrap(), 0, "waiting to retry");
    s.fail_job(mine.id, "boom", Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(s.open_jobs(subject).await.unwrap(), 1, "due again");
    s.complete_job(mine.id).await.unwrap();
    assert_eq!(s.open_jobs(subject).await.unwrap(), 0, "done");
}

/// Every commit of this process moves the change signal; on PostgreSQL so does every audit
/// event and job change committed through another connection (another replica).
async fn every_commit_moves_the_change_signal(env: &Env) {
    let s = env.s();
    let wait = std::time::Duration::from_secs(10);
    let mut changes = s.changes();
    changes.borrow_and_update();
    domain(s, "sales").await;
    tokio::time::timeout(wait, changes.changed())
        .await
        .expect("a commit of this process moves the signal")
        .unwrap();
    if env.pg.is_none() {
        return;
    }
    // Another replica: its own store on the same schema. This store's listener connects in
    // the background and moves the signal once when it has: the first rounds may see that;
    // the last one can only be moved by the other replica's commit.
    let other = connect(&env.url).await.unwrap();
    for round in 0..3 {
        changes.borrow_and_update();
        other
            .append_audit(NewAuditEvent::new(None, "query.run", "table", None))
            .await
            .unwrap();
        tokio::time::timeout(wait, changes.changed())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "round {round}: an audit event committed by another replica moves the signal"
                )
            })
            .unwrap();
    }
    let subject = new_id();
    other
        .enqueue_jobs(
            &[NewJob {
                kind: JobKind::VerifyShare,
                subject_id: subject,
                lock_product: None,
                lock_grantee: None,
            }],
            audit("share.verify_requested"),
        )
        .await
        .unwrap();
    let job = other
        .lease_jobs("w", 10, Duration::seconds(60))
        .await
        .unwrap();
    changes.borrow_and_update();
    other.complete_job(job[0].id).await.unwrap();
    tokio::time::timeout(wait, changes.changed())
        .await
        .expect("a job finished by another replica moves the signal")
        .unwrap();
}

/// A worker's heartbeat keeps its leases; without it they run out and another worker takes the
/// jobs (a replica that died).
async fn job_leases_last_while_their_worker_renews_them(env: &Env) {
    let s = env.s();
    let job = NewJob {
        kind: JobKind::VerifyShare,
        subject_id: new_id(),
        lock_product: None,
        lock_grantee: None,
    };
    s.enqueue_jobs(std::slice::from_ref(&job), audit("share.verify_requested"))
        .await
        .unwrap();
    let short = Duration::milliseconds(300);
    assert_eq!(s.lease_jobs("alive", 10, short).await.unwrap().len(), 1);
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        assert_eq!(s.renew_job_leases("alive", short).await.unwrap(), 1);
        assert!(
            s.lease_jobs("other", 10, short).await.unwrap().is_empty(),
            "renewed: still held"
        );
    }
    // Nobody else's leases are touched by a renewal.
    assert_eq!(s.renew_job_leases("other", short).await.unwrap(), 0);
    // The worker stops renewing (it died): the lease runs out and the job moves.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let taken = s.lease_jobs("other", 10, short).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    assert_eq!(
        s.renew_job_leases("alive", short).await.unwrap(),
        0,
        "no longer its"
    );
}

// ----- automatic classification -----

fn detected(column: &str, kind: &str, confidence: f64) -> Detected {
    Detected {
        column: column.into(),
        kind: kind.into(),
        tags: vec!["pii".into(), format!("pii_{kind}"), "confidential".into()],
        confidence,
        evidence: format!(
            "40 of 40 non-empty values are {kind}; the column name `{column}` matches"
        ),
        confident: confidence >= 0.9,
    }
}

async fn classification_changes_commit_only_from_what_they_were_planned_from(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let (orders, customers) = (&m.tables[0], &m.tables[1]);
    s.set_column_tags(&tags_of(orders, "id", &["gdpr"]), audit("tags.set"))
        .await
        .unwrap();
    let state = s.classification_state(orders.id).await.unwrap();
    assert!(state.suggestions.is_empty());
    assert_eq!(state.tags, vec![tags_of(orders, "id", &["gdpr"])]);
    let v0 = s.policy_version().await.unwrap();
    let r0 = s.get_product(m.product.id).await.unwrap().unwrap().revision;

    // Mode apply: the confident detection tags its column, the other is only suggested.
    let found = [
        detected("email", "email", 0.95),
        detected("id", "person_name", 0.613),
    ];
    let change = classification::on_detections(state, &found, ClassificationMode::Apply, now());
    assert_eq!(change.notes.len(), 2);
    let events = change
        .notes
        .iter()
        .map(|n| audit(n.action))
        .collect::<Vec<_>>();
    s.change_classification(&change, events).await.unwrap();
    let state = s.classification_state(orders.id).await.unwrap();
    assert_eq!(
        state.suggestions, change.suggestions,
        "as written, by column"
    );
    assert_eq!(state.suggestions[0].kind, "email");
    assert_eq!(state.suggestions[0].status, SuggestionStatus::Applied);
    assert_eq!(state.suggestions[1].confidence, 0.613, "in thousandths");
    assert_eq!(state.suggestions[1].status, SuggestionStatus::Pending);
    assert_eq!(
        s.column_tags(orders.id).await.unwrap(),
        vec![
            tags_of(orders, "email", &["pii", "pii_email", "confidential"]),
            tags_of(orders, "id", &["gdpr"]),
        ]
    );
    assert_eq!(
        s.policy_version().await.unwrap(),
        v0 + 1,
        "tag masks apply at once"
    );
    assert_eq!(
        s.get_product(m.product.id).await.unwrap().unwrap().revision,
        r0 + 1
    );
    let actions = audit_actions(s).await;
    assert_eq!(
        actions[actions.len() - 2..],
        [classification::APPLIED, classification::SUGGESTED]
    );

    // A change planned from an older state is refused and writes nothing.
    let stale = classification::on_decision(
        change.before.clone(),
        "id",
        "person_name",
        Decision::Reject,
        m.user.id,
        now(),
    );
    assert!(stale.is_err(), "nothing to reject in the old state");
    let stale = classification::on_detections(
        change.before.clone(),
        &[detected("phone", "phone", 0.97)],
        ClassificationMode::Apply,
        now(),
    );
    let before_audit = audit_actions(s).await;
    let err = s
        .change_classification(&stale, vec![audit("stale")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(audit_actions(s).await, before_audit);
    assert_eq!(s.classification_state(orders.id).await.unwrap(), state);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 1);

    // A decision: rejecting the applied one takes its tags off again.
    let reject =
        classification::on_decision(state, "email", "email", Decision::Reject, m.user.id, now())
            .unwrap();
    s.change_classification(&reject, vec![audit(classification::REJECTED)])
        .await
        .unwrap();
    let state = s.classification_state(orders.id).await.unwrap();
    assert_eq!(state.suggestions[0].status, SuggestionStatus::Rejected);
    assert_eq!(state.suggestions[0].decided_by, Some(m.user.id));
    assert_eq!(state.tags, vec![tags_of(orders, "id", &["gdpr"])]);
    assert_eq!(s.policy_version().await.unwrap(), v0 + 2);

    // A change of suggestions alone moves neither the policy version nor the revision.
    let other = s.classification_state(customers.id).await.unwrap();
    let pending = classification::on_detections(
        other,
        &[detected("name", "person_name", 0.7)],
        ClassificationMode::Apply,
        now(),
    );
    assert!(pending.column_tags.is_empty());
    s.change_classification(&pending, vec![audit(classification::SUGGESTED)])
        .await
        .unwrap();
    assert_eq!(s.policy_version().await.unwrap(), v0 + 2);
    let listed = s.product_suggestions(m.product.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .windows(2)
            .all(|w| (w[0].table_id, &w[0].column) <= (w[1].table_id, &w[1].column))
    );

    // A missing table: NotFound, for reads and writes.
    let ghost = new_id();
    let err = s.classification_state(ghost).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "table", .. }),
        "{err}"
    );
    let mut lost = pending.clone();
    lost.before.table_id = ghost;
    let err = s.change_classification(&lost, vec![]).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "table", .. }),
        "{err}"
    );

    // Deleting the product deletes its suggestions.
    s.delete_product(m.product.id, audit("product.delete"))
        .await
        .unwrap();
    assert!(
        s.product_suggestions(m.product.id)
            .await
            .unwrap()
            .is_empty()
    );
}

// ----- the audit chain (docs/design/AUDIT.md) -----

/// Verifies the store's whole chain as `meshgate audit verify` does, through the store.
async fn verify_chain(s: &dyn Store) -> audit_chain::Report {
    let mut v = audit_chain::Verifier::new(s.audit_keys().await.unwrap(), None);
    v.digests(&s.audit_digests(1, 1000).await.unwrap());
    let head = s.audit_head().await.unwrap();
    let mut next = 1;
    loop {
        let page = s.audit_chain(next, 1000).await.unwrap();
        for e in &page {
            v.event(e);
            next = e.chain.as_ref().unwrap().pos + 1;
        }
        if page.len() < 1000 {
            break;
        }
    }
    for e in s.audit_outside_chain(0, 1000).await.unwrap() {
        v.outside(&e);
    }
    v.finish(Some(head.pos), None)
}

/// Signs a digest of everything chained since the last one, as the server's signer does.
async fn sign_digest(s: &dyn Store) -> audit_chain::AuditDigest {
    let head = s.audit_head().await.unwrap();
    let last = s.last_audit_digest().await.unwrap();
    let (key, pkcs8) = s.audit_signing_key().await.unwrap();
    let mut d = audit_chain::AuditDigest {
        from_pos: last.as_ref().map_or(1, |d| d.to_pos + 1),
        to_pos: head.pos,
        last_hash: head.hash,
        prev_digest: last
            .as_ref()
            .map_or(audit_chain::GENESIS.to_string(), |d| d.digest_hash()),
        at: now(),
        key_id: key.id,
        signature: String::new(),
    };
    audit_chain::sign_digest(&pkcs8, &mut d).unwrap();
    assert!(
        s.add_audit_digest(&d).await.unwrap(),
        "a new digest is added"
    );
    assert!(!s.add_audit_digest(&d).await.unwrap(), "not twice");
    d
}

/// Writers in parallel (single events, and changes that write several): every event lands in
/// the one chain, positions 1..=n with no gap, each linked to the one before, the head at n;
/// a rolled-back change leaves no position behind.
async fn audit_events_form_one_chain_under_concurrent_writers(env: &Env) {
    let store = env.store.clone();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..5 {
                s.append_audit(
                    NewAuditEvent::new(None, "query.run", "table", Some(format!("t{i}-{j}")))
                        .with_detail(serde_json::json!({"rows": j, "by": i})),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A change that fails (a duplicate name) rolls its event back with it.
    let sales = domain(env.s(), "sales").await;
    let dup = Domain {
        id: new_id(),
        ..sales
    };
    assert!(
        env.s()
            .create_domain(&dup, audit("domain.create"))
            .await
            .is_err()
    );
    let s = env.s();
    let head = s.audit_head().await.unwrap();
    assert_eq!(head.pos, 121, "120 reads and one domain");
    let chain = s.audit_chain(1, 1000).await.unwrap();
    let positions: Vec<i64> = chain
        .iter()
        .map(|e| e.chain.as_ref().unwrap().pos)
        .collect();
    assert_eq!(positions, (1..=121).collect::<Vec<_>>());
    assert!(s.audit_outside_chain(0, 1000).await.unwrap().is_empty());
    let report = verify_chain(s).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(report.checked, 121);
    // The digest vouches for all of it, and the report says so.
    sign_digest(s).await;
    append(s, 3).await;
    let report = verify_chain(s).await;
    assert!(report.intact(), "{:?}", report.problems);
    assert_eq!(
        (report.digests, report.signed_to, report.checked),
        (1, 121, 124)
    );
    // Public halves only, one key, whose id the digest names.
    let keys = s.audit_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(s.audit_signing_key().await.unwrap().0, keys[0]);
}

async fn append(s: &dyn Store, n: usize) {
    for i in 0..n {
        s.append_audit(
            NewAuditEvent::new(None, "file.download", "file", Some(format!("f{i}")))
                .with_detail(serde_json::json!({"bytes": i})),
        )
        .await
        .unwrap();
    }
}

/// Editing, inserting and deleting rows of `audit_events` directly in the database: each is
/// named by the verifier, down to the event; a chain rewritten with recomputed hashes is caught
/// by the signed digest.
async fn audit_tampering_in_the_database_is_named(env: &Env) {
    let s = env.s();
    append(s, 10).await;
    sign_digest(s).await;
    append(s, 2).await;
    assert!(verify_chain(s).await.intact());
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&env.url).await.unwrap();
    let first = |r: audit_chain::Report| {
        assert!(!r.intact(), "tampering went unnoticed");
        r.problems[0].clone()
    };

    // Changed: one event's detail.
    let seq_of = async |db: &mut sqlx::AnyConnection, pos: i64| -> i64 {
        let row = sqlx::query("SELECT seq FROM audit_events WHERE chain_pos = $1")
            .bind(pos)
            .fetch_one(db)
            .await
            .unwrap();
        sqlx::Row::get::<i64, _>(&row, "seq")
    };
    let seq5 = seq_of(&mut db, 5).await;
    db.execute(r#"UPDATE audit_events SET detail = '{"bytes":4000000000}' WHERE chain_pos = 5"#)
        .await
        .unwrap();
    let p = first(verify_chain(s).await);
    assert!(
        matches!(&p, audit_chain::Problem::Changed { pos: 5, seq, .. } if *seq == seq5),
        "{p}"
    );
    assert!(p.to_string().contains("#5"), "{p}");
    db.execute(r#"UPDATE audit_events SET detail = '{"bytes":4}' WHERE chain_pos = 5"#)
        .await
        .unwrap();
    assert!(verify_chain(s).await.intact(), "restored");

    // Changed, with the forger recomputing that event's hash: the next event's link breaks.
    let events = s.audit_chain(1, 1000).await.unwrap();
    let mut forged = events[2].clone();
    forged.actor_id = Some(new_id());
    let link = forged.chain.clone().unwrap();
    let hash = audit_chain::link_hash(&link.prev_hash, link.pos, &forged);
    sqlx::query("UPDATE audit_events SET actor_id = $1, hash = $2 WHERE chain_pos = 3")
        .bind(forged.actor_id.unwrap().to_string())
        .bind(hash)
        .execute(&mut db)
        .await
        .unwrap();
    let p = first(verify_chain(s).await);
    assert!(
        matches!(p, audit_chain::Problem::Relinked { pos: 4, .. }),
        "{p}"
    );
    sqlx::query("UPDATE audit_events SET actor_id = NULL, hash = $1 WHERE chain_pos = 3")
        .bind(link.hash.as_str())
        .execute(&mut db)
        .await
        .unwrap();
    assert!(verify_chain(s).await.intact(), "restored");

    // Rewritten: every hash from position 2 on recomputed (and the head moved): only the
    // digest, which the forger cannot sign, tells.
    let mut rewritten = events.clone();
    rewritten[1].detail = serde_json::json!({"bytes": 0, "forged": true});
    let mut prev = rewritten[0].chain.as_ref().unwrap().hash.clone();
    for e in &mut rewritten[1..] {
        let pos = e.chain.as_ref().unwrap().pos;
        let hash = audit_chain::link_hash(&prev, pos, e);
        sqlx::query(
            "UPDATE audit_events SET detail = $1, prev_hash = $2, hash = $3 WHERE chain_pos = $4",
        )
        .bind(e.detail.to_string())
        .bind(prev.as_str())
        .bind(hash.as_str())
        .bind(pos)
        .execute(&mut db)
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_chain_head SET hash = $1")
        .bind(prev.as_str())
        .execute(&mut db)
        .await
        .unwrap();
    let p = first(verify_chain(s).await);
    assert!(
        matches!(
            p,
            audit_chain::Problem::Rewritten {
                from: 1,
                to: 10,
                ..
            }
        ),
        "{p}"
    );
    for e in &events {
        let link = e.chain.as_ref().unwrap();
        sqlx::query(
            "UPDATE audit_events SET detail = $1, prev_hash = $2, hash = $3 WHERE chain_pos = $4",
        )
        .bind(e.detail.to_string())
        .bind(link.prev_hash.as_str())
        .bind(link.hash.as_str())
        .bind(link.pos)
        .execute(&mut db)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE audit_chain_head SET hash = $1")
        .bind(events.last().unwrap().chain.as_ref().unwrap().hash.as_str())
        .execute(&mut db)
        .await
        .unwrap();
    assert!(verify_chain(s).await.intact(), "restored");

    // Inserted: a row written straight into the table.
    db.execute(
        "INSERT INTO audit_events (at, action, object_type, outcome, detail) \
         VALUES (0, 'grant.create', 'grant', 'success', '{}')",
    )
    .await
    .unwrap();
    let p = first(verify_chain(s).await);
    assert!(
        matches!(&p, audit_chain::Problem::Inserted { action, .. } if action == "grant.create"),
        "{p}"
    );
    db.execute("DELETE FROM audit_events WHERE chain_pos IS NULL")
        .await
        .unwrap();
    assert!(verify_chain(s).await.intact(), "removed");

    // Deleted: an event in the middle, then the last ones (the head still counts them).
    db.execute("DELETE FROM audit_events WHERE chain_pos = 7")
        .await
        .unwrap();
    let p = first(verify_chain(s).await);
    assert_eq!(p, audit_chain::Problem::Deleted { from: 7, to: 7 });
    assert!(p.to_string().contains("#7 was deleted"), "{p}");
    db.execute("DELETE FROM audit_events WHERE chain_pos >= 11")
        .await
        .unwrap();
    let problems = verify_chain(s).await.problems;
    assert!(
        problems.contains(&audit_chain::Problem::Deleted { from: 11, to: 12 }),
        "{problems:?}"
    );
    // A tail deleted together with the head moved back: the digest still counts to 10.
    db.execute("DELETE FROM audit_events WHERE chain_pos >= 9")
        .await
        .unwrap();
    sqlx::query("UPDATE audit_chain_head SET pos = 8")
        .execute(&mut db)
        .await
        .unwrap();
    let problems = verify_chain(s).await.problems;
    assert!(
        problems.contains(&audit_chain::Problem::Deleted { from: 9, to: 10 }),
        "{problems:?}"
    );
}

/// An alert of `principal`'s read, as the detector writes it.
fn alert_of(principal: &Principal) -> Alert {
    let at = now();
    Alert {
        id: new_id(),
        principal_id: principal.id,
        read_action: "query.run".into(),
        read_pos: 42,
        tables: vec!["sales.orders.orders".into()],
        findings: vec![Finding {
            principal: principal.id,
            table: None,
            measure: Measure::Rows,
            window_start: at,
            at,
            observed: 243.0,
            median: 1.0,
            mad: 0.0,
            max: 10.0,
            threshold: 30.0,
            history: 4,
        }],
        summary: "rows today 243".into(),
        response: AlertResponse::Suspend,
        status: AlertStatus::Open,
        acknowledged_by: None,
        acknowledged_at: None,
        note: None,
        created_at: at,
    }
}

async fn alerts_are_recorded_once_with_their_suspensions_and_notifications(env: &Env) {
    let s = env.s();
    let bob = principal(s, "bob", PrincipalKind::User).await;
    let admin = principal(s, "root", PrincipalKind::User).await;
    // Defaults until tuned; a tuning the detector cannot run with is refused.
    let (settings, _) = s.alert_settings().await.unwrap();
    assert_eq!(settings, AlertSettings::default());
    let tuned = AlertSettings {
        response: AlertResponse::Suspend,
        min_history: 2,
        ..AlertSettings::default()
    };
    s.set_alert_settings(&tuned, audit("alert.settings"))
        .await
        .unwrap();
    assert_eq!(s.alert_settings().await.unwrap().0, tuned);
    let bad = AlertSettings {
        threshold: 0.0,
        ..tuned.clone()
    };
    assert!(matches!(
        s.set_alert_settings(&bad, audit("alert.settings")).await,
        Err(Error::Invalid { .. })
    ));

    // Detectors racing from the same cursor: exactly one writes its alert and suspension.
    let cursor = s.audit_cursor("alerts").await.unwrap();
    assert_eq!(cursor.pos, 0);
    let alert = alert_of(&bob);
    let batch = || AlertBatch {
        cursor: "alerts".into(),
        from_pos: 0,
        to_pos: 7,
        alerts: vec![(alert.clone(), audit("alert.raised"))],
        suspensions: vec![(
            Suspension {
                principal_id: bob.id,
                alert_id: Some(alert.id),
                reason: "unusual read".into(),
                at: now(),
            },
            audit("principal.suspend"),
        )],
    };
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = env.store.clone();
            let b = batch();
            tokio::spawn(async move { store.record_alerts(b).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one detector wins the cursor");
    assert_eq!(s.audit_cursor("alerts").await.unwrap().pos, 7);
    let listed = s.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(listed, vec![alert.clone()]);
    assert_eq!(s.get_alert(alert.id).await.unwrap(), Some(alert.clone()));
    let suspended = s.suspensions().await.unwrap();
    assert_eq!(suspended.len(), 1);
    assert_eq!(
        (suspended[0].principal_id, suspended[0].alert_id),
        (bob.id, Some(alert.id))
    );
    let actions = audit_actions(s).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "alert.raised").count(),
        1,
        "{actions:?}"
    );
    // A cursor moving back is refused.
    let mut back = batch();
    back.from_pos = 7;
    back.to_pos = 3;
    assert!(s.record_alerts(back).await.is_err());

    // Filters, acknowledgement.
    let open = AlertFilter {
        status: Some(AlertStatus::Open),
        principal_id: Some(bob.id),
        ..Default::default()
    };
    assert_eq!(s.list_alerts(&open).await.unwrap().len(), 1);
    let acked = s
        .acknowledge_alert(
            alert.id,
            admin.id,
            Some("expected"),
            audit("alert.acknowledge"),
        )
        .await
        .unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    assert_eq!(acked.acknowledged_by, Some(admin.id));
    assert_eq!(acked.note.as_deref(), Some("expected"));
    assert!(acked.acknowledged_at.is_some());
    assert!(s.list_alerts(&open).await.unwrap().is_empty());
    assert!(matches!(
        s.acknowledge_alert(new_id(), admin.id, None, audit("alert.acknowledge"))
            .await,
        Err(Error::NotFound { .. })
    ));

    // An alert's notification is about no share.
    let note = Notification {
        id: new_id(),
        principal_id: admin.id,
        share_id: None,
        alert_id: Some(alert.id),
        event: NotifyEvent::UnusualRead,
        actor_id: None,
        audit_seq: last_seq(s).await,
        title: "Unusual read".into(),
        body: "rows today 243".into(),
        link: format!("http://mesh/api/v1/audit/alerts/{}", alert.id),
        created_at: now(),
        read_at: None,
        emailed_at: None,
    };
    let cursor = s.notify_cursor().await.unwrap();
    assert!(
        s.record_notifications(NotificationBatch {
            after_seq: cursor,
            up_to_seq: cursor,
            notifications: vec![note.clone()],
            deliveries: Vec::new(),
            jobs: Vec::new(),
        })
        .await
        .unwrap()
    );
    assert_eq!(
        s.list_notifications(admin.id, false, 10).await.unwrap(),
        vec![note]
    );

    // Lifted once; a second lift finds nothing.
    s.lift_suspension(bob.id, audit("principal.unsuspend"))
        .await
        .unwrap();
    assert!(s.suspensions().await.unwrap().is_empty());
    assert!(matches!(
        s.lift_suspension(bob.id, audit("principal.unsuspend"))
            .await,
        Err(Error::NotFound { .. })
    ));
}

// ----- names -----

async fn names_of_every_kind_come_in_one_read(env: &Env) {
    let s = env.s();
    let m = mesh(s).await;
    let bob = principal(s, "bob", PrincipalKind::User).await;
    let gone = new_id();
    let ask = |products: &[Uuid], teams: &[Uuid], principals: &[Uuid], tables: &[Uuid]| NameIds {
        products: products.iter().copied().collect(),
        teams: teams.iter().copied().collect(),
        principals: principals.iter().copied().collect(),
        tables: tables.iter().copied().collect(),
    };

    // Nothing asked, nothing read.
    let none = s.names_of(&NameIds::default()).await.unwrap();
    assert!(none.products.is_empty() && none.teams.is_empty());
    assert!(none.principals.is_empty() && none.tables.is_empty());

    let names = s
        .names_of(&ask(
            &[m.product.id, gone],
            &[m.owner.id, m.consumer.id, gone],
            &[m.user.id, bob.id, gone],
            &[m.tables[0].id, m.tables[1].id, gone],
        ))
        .await
        .unwrap();
    assert_eq!(names.products.len(), 1, "an unknown id names nothing");
    assert_eq!(names.products[&m.product.id].qualified(), "sales.orders");
    assert_eq!(names.products[&m.product.id].domain_id, m.product.domain_id);
    assert_eq!(names.teams[&m.owner.id].qualified(), "sales.orders");
    assert_eq!(names.teams[&m.consumer.id].qualified(), "finance.reporting");
    assert_eq!(names.teams.len(), 2);
    assert_eq!(names.principals[&m.user.id], "alice");
    assert_eq!(names.principals[&bob.id], "bob");
    assert_eq!(names.principals.len(), 2);
    assert_eq!(names.tables[&m.tables[0].id], m.tables[0].name);
    assert_eq!(names.tables[&m.tables[1].id], m.tables[1].name);
    assert_eq!(names.tables.len(), 2);

    // Any kind alone (it then comes first in the statement) reads the same.
    let only_principals = s.names_of(&ask(&[], &[], &[bob.id], &[])).await.unwrap();
    assert_eq!(only_principals.principals[&bob.id], "bob");
    let only_tables = s
        .names_of(&ask(&[], &[], &[], &[m.tables[1].id]))
        .await
        .unwrap();
    assert_eq!(only_tables.tables[&m.tables[1].id], m.tables[1].name);
    let only_teams = s
        .names_of(&ask(&[], &[m.consumer.id], &[], &[]))
        .await
        .unwrap();
    assert_eq!(
        only_teams.teams[&m.consumer.id].qualified(),
        "finance.reporting"
    );

    // More ids than one statement takes are read in chunks, none lost.
    let mut many: Vec<Uuid> = (0..1200).map(|_| new_id()).collect();
    many.push(bob.id);
    let chunked = s
        .names_of(&ask(&[m.product.id], &[], &many, &[m.tables[0].id]))
        .await
        .unwrap();
    assert_eq!(chunked.principals.len(), 1);
    assert_eq!(chunked.principals[&bob.id], "bob");
    assert_eq!(chunked.products.len(), 1);
    assert_eq!(chunked.tables.len(), 1);
}
