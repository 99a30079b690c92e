//! How domain values are written to and read from columns, the same on both backends:
//! uuids as text, timestamps as BIGINT microseconds since the epoch (so they round-trip
//! exactly, and sort and compare as numbers), enums as their text names, JSON as text.

use meshgate_core::credential::{Credential, TableTenancy};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use meshgate_core::access::{ColumnTags, DataFilter, GrantScope, Mask, RowRule, TagMask};
use meshgate_core::catalog::{
    FormField, FormTargetKind, FormType, FormTypeRevision, Glossary, GlossaryTerm, ListingState,
    MetadataForm, RelationKind, Rule, RuleAction, TableTags, TermLink, TermRelation,
};
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{
    ApiToken, AuditEvent, Column, DataProduct, Domain, ExternalLocation, FileGrant, Grant, Grantee,
    Health, ItemKind, Job, JobKind, Outcome, Permission, Principal, PrincipalKind, ProductTable,
    RecipientSettings, Share, ShareItem, ShareLog, ShareTerms, SharingToken, SharingTokenKind,
    Team, TeamMember, TeamRole,
};
use meshgate_core::notify::{
    Contact, DeliveryStatus, Notification, NotifyEvent, Webhook, WebhookDelivery,
};
use meshgate_core::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

/// A timestamp as stored: microseconds since the epoch (sub-microsecond precision is dropped).
pub(crate) fn ts(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn opt_ts(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(ts)
}

/// `at` as the store keeps it, for comparing what was written with what is read back.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

pub(crate) fn opt_id(id: Option<Uuid>) -> Option<String> {
    id.map(|i| i.to_string())
}

/// A stored value this version cannot read: the database was written by something else, or
/// by a newer meshgate.
fn unreadable(column: &str, cause: impl std::fmt::Display) -> Error {
    tracing::error!(column, error = %cause, "store holds a value it cannot read");
    Error::internal("the store holds a value it cannot read")
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(|e| unreadable(column, e))
}

pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String> {
    get(row, column)
}

pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    get(row, column)
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64> {
    get(row, column)
}

pub(crate) fn uuid(row: &AnyRow, column: &str) -> Result<Uuid> {
    let s = text(row, column)?;
    Uuid::parse_str(&s).map_err(|e| unreadable(column, e))
}

pub(crate) fn opt_uuid(row: &AnyRow, column: &str) -> Result<Option<Uuid>> {
    opt_text(row, column)?
        .map(|s| Uuid::parse_str(&s).map_err(|e| unreadable(column, e)))
        .transpose()
}

fn from_micros(column: &str, micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| unreadable(column, format_args!("timestamp {micros} out of range")))
}

pub(crate) fn time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>> {
    from_micros(column, int(row, column)?)
}

pub(crate) fn opt_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>> {
    get::<Option<i64>>(row, column)?
        .map(|m| from_micros(column, m))
        .transpose()
}

/// Booleans are BOOLEAN on PostgreSQL and INTEGER on SQLite; accept either.
pub(crate) fn boolean(row: &AnyRow, column: &str) -> Result<bool> {
    match row.try_get::<bool, _>(column) {
        Ok(b) => Ok(b),
        Err(_) => Ok(int(row, column)? != 0),
    }
}

pub(crate) fn enum_of<T: FromStr>(row: &AnyRow, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text(row, column)?
        .parse()
        .map_err(|e: T::Err| unreadable(column, e))
}

pub(crate) fn opt_enum_of<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    opt_text(row, column)?
        .map(|s| s.parse().map_err(|e: T::Err| unreadable(column, e)))
        .transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    serde_json::from_str(&text(row, column)?).map_err(|e| unreadable(column, e))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>> {
    opt_text(row, column)?
        .map(|s| serde_json::from_str(&s).map_err(|e| unreadable(column, e)))
        .transpose()
}

/// JSON text for a column. Serialising plain data cannot fail, but stay total anyway.
pub(crate) fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| {
        tracing::error!(what, error = %e, "cannot serialise value for the store");
        Error::internal(format!("cannot store the {what}"))
    })
}

/// A scope as its column: NULL for the default (whole-table) scope, which is also what rows
/// written before scopes existed hold.
pub(crate) fn scope_col(scope: &GrantScope) -> Result<Option<String>> {
    if scope.is_whole_table() {
        Ok(None)
    } else {
        to_json("grant scope", scope).map(Some)
    }
}

fn scope(row: &AnyRow) -> Result<GrantScope> {
    Ok(opt_json(row, "scope")?.unwrap_or_default())
}

pub(crate) const PRINCIPAL_COLS: &str = "id, name, kind, display_name, is_admin, created_at";

pub(crate) fn principal(row: &AnyRow) -> Result<Principal> {
    Ok(Principal {
        id: uuid(row, "id")?,
        name: text(row, "name")?,
        kind: enum_of::<PrincipalKind>(row, "kind")?,
        display_name: text(row, "display_name")?,
        is_admin: boolean(row, "is_admin")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const TOKEN_COLS: &str =
    "id, principal_id, name, token_hash, created_at, expires_at, revoked_at";

pub(crate) fn token(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: uuid(row, "id")?,
        principal_id: uuid(row, "principal_id")?,
        name: text(row, "name")?,
        token_hash: text(row, "token_hash")?,
        created_at: time(row, "created_at")?,
        expires_at: opt_time(row, "expires_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) const DOMAIN_COLS: &str =
    "id, name, description, producer, consumer, created_at, parent_id";

pub(crate) fn domain(row: &AnyRow) -> Result<Domain> {
    Ok(Domain {
        id: uuid(row, "id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        producer: boolean(row, "producer")?,
        consumer: boolean(row, "consumer")?,
        created_at: time(row, "created_at")?,
        parent_id: opt_uuid(row, "parent_id")?,
    })
}

pub(crate) const TEAM_COLS: &str = "id, domain_id, name, description, created_at";

pub(crate) fn team(row: &AnyRow) -> Result<Team> {
    Ok(Team {
        id: uuid(row, "id")?,
        domain_id: uuid(row, "domain_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn team_member(row: &AnyRow) -> Result<TeamMember> {
    Ok(TeamMember {
        team_id: uuid(row, "team_id")?,
        principal_id: uuid(row, "principal_id")?,
        role: enum_of::<TeamRole>(row, "role")?,
    })
}

pub(crate) const PRODUCT_COLS: &str =
    "id, domain_id, team_id, name, description, created_at, updated_at, listing, revision";

pub(crate) fn product(row: &AnyRow) -> Result<DataProduct> {
    Ok(DataProduct {
        id: uuid(row, "id")?,
        domain_id: uuid(row, "domain_id")?,
        team_id: uuid(row, "team_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        listing: enum_of::<ListingState>(row, "listing")?,
        revision: int(row, "revision")?,
    })
}

pub(crate) const TABLE_COLS: &str =
    "id, product_id, name, description, location, managed, columns, created_at";

pub(crate) fn table(row: &AnyRow) -> Result<ProductTable> {
    Ok(ProductTable {
        id: uuid(row, "id")?,
        product_id: uuid(row, "product_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        location: text(row, "location")?,
        managed: boolean(row, "managed")?,
        columns: json::<Vec<Column>>(row, "columns")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const SHARE_COLS: &str = "id, product_id, requester_team_id, requester_principal_id, \
     created_by, reason, status, requested_expiry, decision_notes, decided_by, version, \
     created_at, updated_at, deleted_reason, expires_at, extension_expiry, extension_reason, \
     local_name, expiry_reminded_at, pending_reminded_at, submitted_at";

pub(crate) fn share(row: &AnyRow) -> Result<Share> {
    Ok(Share {
        id: uuid(row, "id")?,
        product_id: uuid(row, "product_id")?,
        requester_team_id: opt_uuid(row, "requester_team_id")?,
        requester_principal_id: opt_uuid(row, "requester_principal_id")?,
        created_by: uuid(row, "created_by")?,
        reason: text(row, "reason")?,
        status: enum_of::<ShareStatus>(row, "status")?,
        requested_expiry: opt_time(row, "requested_expiry")?,
        decision_notes: opt_text(row, "decision_notes")?,
        decided_by: opt_uuid(row, "decided_by")?,
        version: int(row, "version")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        deleted_reason: opt_text(row, "deleted_reason")?,
        terms: ShareTerms {
            expires_at: opt_time(row, "expires_at")?,
            extension_expiry: opt_time(row, "extension_expiry")?,
            extension_reason: opt_text(row, "extension_reason")?,
            local_name: opt_text(row, "local_name")?,
            expiry_reminded_at: opt_time(row, "expiry_reminded_at")?,
            pending_reminded_at: opt_time(row, "pending_reminded_at")?,
            submitted_at: opt_time(row, "submitted_at")?,
        },
    })
}

pub(crate) const ITEM_COLS: &str = "id, share_id, kind, table_id, path, permission, scope, \
     status, health, health_message, last_verified_at, created_at, updated_at";

pub(crate) fn item(row: &AnyRow) -> Result<ShareItem> {
    Ok(ShareItem {
        id: uuid(row, "id")?,
        share_id: uuid(row, "share_id")?,
        kind: enum_of::<ItemKind>(row, "kind")?,
        table_id: opt_uuid(row, "table_id")?,
        path: opt_text(row, "path")?,
        permission: enum_of::<Permission>(row, "permission")?,
        scope: scope(row)?,
        status: enum_of::<ItemStatus>(row, "status")?,
        health: opt_enum_of::<Health>(row, "health")?,
        health_message: opt_text(row, "health_message")?,
        last_verified_at: opt_time(row, "last_verified_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const GRANTEE_TEAM: &str = "team";
pub(crate) const GRANTEE_PRINCIPAL: &str = "principal";

/// A grantee as its two columns.
pub(crate) fn grantee_cols(grantee: Grantee) -> (&'static str, String) {
    match grantee {
        Grantee::Team(id) => (GRANTEE_TEAM, id.to_string()),
        Grantee::Principal(id) => (GRANTEE_PRINCIPAL, id.to_string()),
    }
}

pub(crate) const GRANT_COLS: &str =
    "id, share_item_id, grantee_type, grantee_id, table_id, permission, scope, created_at";

pub(crate) fn grant(row: &AnyRow) -> Result<Grant> {
    let grantee_id = uuid(row, "grantee_id")?;
    let grantee = match text(row, "grantee_type")?.as_str() {
        GRANTEE_TEAM => Grantee::Team(grantee_id),
        GRANTEE_PRINCIPAL => Grantee::Principal(grantee_id),
        other => return Err(unreadable("grantee_type", format_args!("`{other}`"))),
    };
    Ok(Grant {
        id: uuid(row, "id")?,
        share_item_id: uuid(row, "share_item_id")?,
        grantee,
        table_id: uuid(row, "table_id")?,
        permission: enum_of::<Permission>(row, "permission")?,
        scope: scope(row)?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const FILE_GRANT_COLS: &str =
    "id, share_item_id, grantee_type, grantee_id, product_id, prefix, created_at";

pub(crate) fn file_grant(row: &AnyRow) -> Result<FileGrant> {
    let grantee_id = uuid(row, "grantee_id")?;
    let grantee = match text(row, "grantee_type")?.as_str() {
        GRANTEE_TEAM => Grantee::Team(grantee_id),
        GRANTEE_PRINCIPAL => Grantee::Principal(grantee_id),
        other => return Err(unreadable("grantee_type", format_args!("`{other}`"))),
    };
    Ok(FileGrant {
        id: uuid(row, "id")?,
        share_item_id: uuid(row, "share_item_id")?,
        grantee,
        product_id: uuid(row, "product_id")?,
        prefix: text(row, "prefix")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const SHARE_LOG_COLS: &str = "seq, share_id, run_id, job, at, level, message";

pub(crate) fn share_log(row: &AnyRow) -> Result<ShareLog> {
    Ok(ShareLog {
        seq: int(row, "seq")?,
        share_id: uuid(row, "share_id")?,
        run_id: uuid(row, "run_id")?,
        job: text(row, "job")?,
        at: time(row, "at")?,
        level: text(row, "level")?,
        message: text(row, "message")?,
    })
}

pub(crate) const DATA_FILTER_COLS: &str = "id, product_id, table_id, name, description, \
     row_filter, columns, created_by, created_at, updated_at";

pub(crate) fn data_filter(row: &AnyRow) -> Result<DataFilter> {
    Ok(DataFilter {
        id: uuid(row, "id")?,
        product_id: uuid(row, "product_id")?,
        table_id: uuid(row, "table_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        row_filter: opt_text(row, "row_filter")?,
        columns: opt_json::<Vec<String>>(row, "columns")?,
        created_by: uuid(row, "created_by")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const ROW_RULE_COLS: &str = "user_name, group_name, field_values";

pub(crate) fn row_rule(row: &AnyRow) -> Result<RowRule> {
    Ok(RowRule {
        user_name: opt_text(row, "user_name")?,
        group_name: opt_text(row, "group_name")?,
        values: json(row, "field_values")?,
    })
}

pub(crate) const COLUMN_TAGS_COLS: &str = "table_id, column_name, tags";

pub(crate) fn column_tags(row: &AnyRow) -> Result<ColumnTags> {
    Ok(ColumnTags {
        table_id: uuid(row, "table_id")?,
        column: text(row, "column_name")?,
        tags: json::<Vec<String>>(row, "tags")?,
    })
}

pub(crate) const CREDENTIAL_COLS: &str =
    "id, principal_id, policy, created_at, expires_at, revoked_at";

pub(crate) fn credential(row: &AnyRow) -> Result<Credential> {
    Ok(Credential {
        id: uuid(row, "id")?,
        principal_id: uuid(row, "principal_id")?,
        policy: json(row, "policy")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn tenancy(row: &AnyRow) -> Result<TableTenancy> {
    Ok(TableTenancy {
        table_id: uuid(row, "table_id")?,
        key_column: text(row, "key_column")?,
        separator: opt_text(row, "separator")?,
    })
}

pub(crate) const TAG_MASK_COLS: &str = "id, domain_id, tag, mask, created_at";

pub(crate) fn tag_mask(row: &AnyRow) -> Result<TagMask> {
    Ok(TagMask {
        id: uuid(row, "id")?,
        domain_id: opt_uuid(row, "domain_id")?,
        tag: text(row, "tag")?,
        mask: enum_of::<Mask>(row, "mask")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const JOB_COLS: &str = "id, kind, subject_id, attempts, created_at";

pub(crate) fn job(row: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: uuid(row, "id")?,
        kind: enum_of::<JobKind>(row, "kind")?,
        subject_id: uuid(row, "subject_id")?,
        attempts: get::<i32>(row, "attempts")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const AUDIT_COLS: &str =
    "seq, at, actor_id, action, object_type, object_id, outcome, request_id, detail";

pub(crate) fn audit(row: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: int(row, "seq")?,
        at: time(row, "at")?,
        actor_id: opt_uuid(row, "actor_id")?,
        action: text(row, "action")?,
        object_type: text(row, "object_type")?,
        object_id: opt_text(row, "object_id")?,
        outcome: enum_of::<Outcome>(row, "outcome")?,
        request_id: opt_text(row, "request_id")?,
        detail: json(row, "detail")?,
    })
}

// ----- catalog -----

pub(crate) fn table_tags(row: &AnyRow) -> Result<TableTags> {
    Ok(TableTags {
        table_id: uuid(row, "table_id")?,
        tags: json::<Vec<String>>(row, "tags")?,
    })
}

pub(crate) const FORM_TYPE_COLS: &str =
    "t.id, t.name, t.description, t.revision, r.fields, t.created_by, t.created_at, t.updated_at";

/// A form type, from `form_types t` joined with its latest revision `r`.
pub(crate) fn form_type(row: &AnyRow) -> Result<FormType> {
    Ok(FormType {
        id: uuid(row, "id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        revision: int(row, "revision")?,
        fields: json::<Vec<FormField>>(row, "fields")?,
        created_by: uuid(row, "created_by")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const FORM_REVISION_COLS: &str =
    "form_type_id, revision, description, fields, created_by, created_at";

pub(crate) fn form_revision(row: &AnyRow) -> Result<FormTypeRevision> {
    Ok(FormTypeRevision {
        form_type_id: uuid(row, "form_type_id")?,
        revision: int(row, "revision")?,
        description: text(row, "description")?,
        fields: json::<Vec<FormField>>(row, "fields")?,
        created_by: uuid(row, "created_by")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const FORM_COLS: &str = "target_kind, target_id, product_id, form_type_id, revision, \
     field_values, updated_by, updated_at";

pub(crate) fn form(row: &AnyRow) -> Result<MetadataForm> {
    Ok(MetadataForm {
        target_kind: enum_of::<FormTargetKind>(row, "target_kind")?,
        target_id: uuid(row, "target_id")?,
        product_id: opt_uuid(row, "product_id")?,
        form_type_id: uuid(row, "form_type_id")?,
        revision: int(row, "revision")?,
        values: json(row, "field_values")?,
        updated_by: uuid(row, "updated_by")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const RULE_COLS: &str =
    "id, domain_id, action, include_children, description, created_by, created_at";

/// A rule without its form types (read separately, in order).
pub(crate) fn rule(row: &AnyRow) -> Result<Rule> {
    Ok(Rule {
        id: uuid(row, "id")?,
        domain_id: uuid(row, "domain_id")?,
        action: enum_of::<RuleAction>(row, "action")?,
        form_type_ids: Vec::new(),
        include_children: boolean(row, "include_children")?,
        description: text(row, "description")?,
        created_by: uuid(row, "created_by")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const GLOSSARY_COLS: &str = "id, name, description, enabled, created_at, updated_at";

pub(crate) fn glossary(row: &AnyRow) -> Result<Glossary> {
    Ok(Glossary {
        id: uuid(row, "id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        enabled: boolean(row, "enabled")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const TERM_COLS: &str =
    "id, glossary_id, name, description, enabled, created_at, updated_at";

pub(crate) fn term(row: &AnyRow) -> Result<GlossaryTerm> {
    Ok(GlossaryTerm {
        id: uuid(row, "id")?,
        glossary_id: uuid(row, "glossary_id")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        enabled: boolean(row, "enabled")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn term_relation(row: &AnyRow) -> Result<TermRelation> {
    Ok(TermRelation {
        term_id: uuid(row, "term_id")?,
        kind: enum_of::<RelationKind>(row, "kind")?,
        target_id: uuid(row, "target_id")?,
    })
}

/// A link's table and column are stored as '' for a product-level link.
pub(crate) fn term_link_cols(link: &TermLink) -> (String, String) {
    (
        link.table_id.map(|t| t.to_string()).unwrap_or_default(),
        link.column.clone().unwrap_or_default(),
    )
}

pub(crate) fn term_link(row: &AnyRow) -> Result<TermLink> {
    let table = text(row, "table_id")?;
    let column = text(row, "column_name")?;
    Ok(TermLink {
        term_id: uuid(row, "term_id")?,
        product_id: uuid(row, "product_id")?,
        table_id: if table.is_empty() {
            None
        } else {
            Some(Uuid::parse_str(&table).map_err(|e| unreadable("table_id", e))?)
        },
        column: (!column.is_empty()).then_some(column),
    })
}

// ----- notifications -----

pub(crate) const NOTIFICATION_COLS: &str = "id, principal_id, share_id, event, actor_id, \
     audit_seq, title, body, link, created_at, read_at, emailed_at";

pub(crate) fn notification(row: &AnyRow) -> Result<Notification> {
    Ok(Notification {
        id: uuid(row, "id")?,
        principal_id: uuid(row, "principal_id")?,
        share_id: uuid(row, "share_id")?,
        event: enum_of::<NotifyEvent>(row, "event")?,
        actor_id: opt_uuid(row, "actor_id")?,
        audit_seq: int(row, "audit_seq")?,
        title: text(row, "title")?,
        body: text(row, "body")?,
        link: text(row, "link")?,
        created_at: time(row, "created_at")?,
        read_at: opt_time(row, "read_at")?,
        emailed_at: opt_time(row, "emailed_at")?,
    })
}

pub(crate) const CONTACT_COLS: &str = "principal_id, email, updated_at";

pub(crate) fn contact(row: &AnyRow) -> Result<Contact> {
    Ok(Contact {
        principal_id: uuid(row, "principal_id")?,
        email: text(row, "email")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A webhook's event list as its column: comma-separated names, empty for all.
pub(crate) fn events_col(events: &[NotifyEvent]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) const WEBHOOK_COLS: &str =
    "id, principal_id, url, secret, events, created_at, disabled_at";

pub(crate) fn webhook(row: &AnyRow) -> Result<Webhook> {
    let events = text(row, "events")?
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| e.parse().map_err(|err: Error| unreadable("events", err)))
        .collect::<Result<Vec<NotifyEvent>>>()?;
    Ok(Webhook {
        id: uuid(row, "id")?,
        principal_id: uuid(row, "principal_id")?,
        url: text(row, "url")?,
        secret: text(row, "secret")?,
        events,
        created_at: time(row, "created_at")?,
        disabled_at: opt_time(row, "disabled_at")?,
    })
}

pub(crate) const DELIVERY_COLS: &str = "id, webhook_id, notification_id, event, payload, status, \
     attempts, last_error, created_at, finished_at";

pub(crate) fn delivery(row: &AnyRow) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: uuid(row, "id")?,
        webhook_id: uuid(row, "webhook_id")?,
        notification_id: uuid(row, "notification_id")?,
        event: enum_of::<NotifyEvent>(row, "event")?,
        payload: text(row, "payload")?,
        status: enum_of::<DeliveryStatus>(row, "status")?,
        attempts: get::<i32>(row, "attempts")?,
        last_error: opt_text(row, "last_error")?,
        created_at: time(row, "created_at")?,
        finished_at: opt_time(row, "finished_at")?,
    })
}

// ----- Delta Sharing recipients -----

pub(crate) const SHARING_TOKEN_COLS: &str = "id, principal_id, kind, name, secret_hash, \
     activation_hash, parent_id, created_by, created_at, expires_at, activated_at, revoked_at, \
     last_used_at";

pub(crate) fn sharing_token(row: &AnyRow) -> Result<SharingToken> {
    Ok(SharingToken {
        id: uuid(row, "id")?,
        principal_id: uuid(row, "principal_id")?,
        kind: enum_of::<SharingTokenKind>(row, "kind")?,
        name: text(row, "name")?,
        secret_hash: opt_text(row, "secret_hash")?,
        activation_hash: opt_text(row, "activation_hash")?,
        parent_id: opt_uuid(row, "parent_id")?,
        created_by: uuid(row, "created_by")?,
        created_at: time(row, "created_at")?,
        expires_at: opt_time(row, "expires_at")?,
        activated_at: opt_time(row, "activated_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
    })
}

pub(crate) const RECIPIENT_SETTINGS_COLS: &str = "principal_id, ip_allow_list, updated_at";

pub(crate) fn recipient_settings(row: &AnyRow) -> Result<RecipientSettings> {
    Ok(RecipientSettings {
        principal_id: uuid(row, "principal_id")?,
        ip_allow_list: json::<Vec<String>>(row, "ip_allow_list")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const EXTERNAL_LOCATION_COLS: &str =
    "id, name, url, teams, writable, description, created_by, created_at";

pub(crate) fn external_location(row: &AnyRow) -> Result<ExternalLocation> {
    Ok(ExternalLocation {
        id: uuid(row, "id")?,
        name: text(row, "name")?,
        url: text(row, "url")?,
        teams: json::<Vec<Uuid>>(row, "teams")?,
        writable: boolean(row, "writable")?,
        description: text(row, "description")?,
        created_by: uuid(row, "created_by")?,
        created_at: time(row, "created_at")?,
    })
}
