//! Records: the domain types the store reads whole from a table, each knowing its table, the
//! columns it reads and how to build itself from a row. The generic reads in `store.rs`
//! (`SqlStore::get`, `SqlStore::list`, `fetch_one`, `fetch_list`) take a record type instead of
//! a column list and a mapping function.

use meshgate_core::access::{ColumnTags, DataFilter, Mask, RowRule, TagMask};
use meshgate_core::alerts::{Alert, AlertResponse, AlertStatus, Suspension};
use meshgate_core::audit_chain::{AuditDigest, AuditKey, ChainLink};
use meshgate_core::catalog::{
    FormField, FormTargetKind, FormType, FormTypeRevision, Glossary, GlossaryTerm, ListingState,
    MetadataForm, RelationKind, Rule, RuleAction, TableTags, TermLink, TermRelation,
};
use meshgate_core::classification::{Suggestion, SuggestionStatus};
use meshgate_core::credential::{Credential, TableTenancy};
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{
    ApiToken, AuditCursor, AuditEvent, Column, DataProduct, Domain, ExternalLocation, FileGrant,
    Grant, Grantee, Health, ItemKind, Job, JobKind, Outcome, Permission, Principal, PrincipalKind,
    ProductTable, RecipientFederation, RecipientSettings, Session, SessionMethod, Share, ShareItem,
    ShareLog, ShareTerms, SharingToken, SharingTokenKind, SignInAttempt, Team, TeamMember,
    TeamRole, TokenScope,
};
use meshgate_core::notify::{
    Contact, DeliveryStatus, Notification, NotifyEvent, Webhook, WebhookDelivery,
};
use meshgate_core::{Error, Result};
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::codec::{
    GRANTEE_PRINCIPAL, GRANTEE_TEAM, boolean, enum_of, get, int, json, opt_enum_of, opt_json,
    opt_text, opt_time, opt_uuid, scope, text, time, unreadable, uuid,
};

/// A type read whole from one table (or join), the same way by every query that reads it.
pub(crate) trait Record: Sized + Send + Unpin {
    /// What it is selected from: a table, or a join whose columns [`Record::COLS`] qualifies.
    const TABLE: &str;
    /// The columns [`Record::from_row`] reads, as a select list.
    const COLS: &str;

    fn from_row(row: &AnyRow) -> Result<Self>;

    /// `SELECT COLS FROM TABLE`, then `rest` (`WHERE …`, `ORDER BY …`) if there is one.
    fn select(rest: &str) -> String {
        let sql = format!("SELECT {} FROM {}", Self::COLS, Self::TABLE);
        if rest.is_empty() {
            sql
        } else {
            format!("{sql} {rest}")
        }
    }
}

/// A grant's grantee, from its two columns.
pub(crate) fn grantee(row: &AnyRow) -> Result<Grantee> {
    let grantee_id = uuid(row, "grantee_id")?;
    match text(row, "grantee_type")?.as_str() {
        GRANTEE_TEAM => Ok(Grantee::Team(grantee_id)),
        GRANTEE_PRINCIPAL => Ok(Grantee::Principal(grantee_id)),
        other => Err(unreadable("grantee_type", format_args!("`{other}`"))),
    }
}

impl Record for Principal {
    const TABLE: &str = "principals";
    const COLS: &str = "id, name, kind, display_name, is_admin, created_at, login, active";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Principal {
            id: uuid(row, "id")?,
            name: text(row, "name")?,
            kind: enum_of::<PrincipalKind>(row, "kind")?,
            display_name: text(row, "display_name")?,
            is_admin: boolean(row, "is_admin")?,
            created_at: time(row, "created_at")?,
            login: opt_text(row, "login")?,
            active: boolean(row, "active")?,
        })
    }
}

impl Record for ApiToken {
    const TABLE: &str = "api_tokens";
    const COLS: &str =
        "id, principal_id, name, token_hash, created_at, expires_at, revoked_at, scope";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(ApiToken {
            id: uuid(row, "id")?,
            principal_id: uuid(row, "principal_id")?,
            name: text(row, "name")?,
            token_hash: text(row, "token_hash")?,
            created_at: time(row, "created_at")?,
            expires_at: opt_time(row, "expires_at")?,
            revoked_at: opt_time(row, "revoked_at")?,
            scope: enum_of::<TokenScope>(row, "scope")?,
        })
    }
}

impl Record for RecipientFederation {
    const TABLE: &str = "recipient_federations";
    const COLS: &str = "principal_id, issuer, subject, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(RecipientFederation {
            principal_id: uuid(row, "principal_id")?,
            issuer: text(row, "issuer")?,
            subject: text(row, "subject")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for Session {
    const TABLE: &str = "sessions";
    const COLS: &str = "id, secret_hash, principal_id, method, issuer, csrf, created_at, \
                        last_seen_at, expires_at, revoked_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Session {
            id: uuid(row, "id")?,
            secret_hash: text(row, "secret_hash")?,
            principal_id: uuid(row, "principal_id")?,
            method: enum_of::<SessionMethod>(row, "method")?,
            issuer: opt_text(row, "issuer")?,
            csrf: text(row, "csrf")?,
            created_at: time(row, "created_at")?,
            last_seen_at: time(row, "last_seen_at")?,
            expires_at: time(row, "expires_at")?,
            revoked_at: opt_time(row, "revoked_at")?,
        })
    }
}

impl Record for SignInAttempt {
    const TABLE: &str = "sign_in_attempts";
    const COLS: &str = "state_hash, issuer, verifier, nonce, return_to, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(SignInAttempt {
            state_hash: text(row, "state_hash")?,
            issuer: text(row, "issuer")?,
            verifier: text(row, "verifier")?,
            nonce: text(row, "nonce")?,
            return_to: text(row, "return_to")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for Domain {
    const TABLE: &str = "domains";
    const COLS: &str = "id, name, description, producer, consumer, created_at, parent_id";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for Team {
    const TABLE: &str = "teams";
    const COLS: &str = "id, domain_id, name, description, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Team {
            id: uuid(row, "id")?,
            domain_id: uuid(row, "domain_id")?,
            name: text(row, "name")?,
            description: text(row, "description")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for TeamMember {
    const TABLE: &str = "team_members";
    const COLS: &str = "team_id, principal_id, role";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(TeamMember {
            team_id: uuid(row, "team_id")?,
            principal_id: uuid(row, "principal_id")?,
            role: enum_of::<TeamRole>(row, "role")?,
        })
    }
}

impl Record for DataProduct {
    const TABLE: &str = "products";
    const COLS: &str = "id, domain_id, team_id, name, description, created_at, updated_at, \
         listing, revision";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for ProductTable {
    const TABLE: &str = "product_tables";
    const COLS: &str = "id, product_id, name, description, location, managed, columns, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for Share {
    const TABLE: &str = "shares";
    const COLS: &str = "id, product_id, requester_team_id, requester_principal_id, \
         created_by, reason, status, requested_expiry, decision_notes, decided_by, version, \
         created_at, updated_at, deleted_reason, expires_at, extension_expiry, extension_reason, \
         local_name, expiry_reminded_at, pending_reminded_at, submitted_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for ShareItem {
    const TABLE: &str = "share_items";
    const COLS: &str = "id, share_id, kind, table_id, path, permission, scope, \
         status, health, health_message, last_verified_at, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for Grant {
    const TABLE: &str = "grants";
    const COLS: &str = "id, share_item_id, grantee_type, grantee_id, table_id, permission, scope, \
         created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Grant {
            id: uuid(row, "id")?,
            share_item_id: uuid(row, "share_item_id")?,
            grantee: grantee(row)?,
            table_id: uuid(row, "table_id")?,
            permission: enum_of::<Permission>(row, "permission")?,
            scope: scope(row)?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for FileGrant {
    const TABLE: &str = "file_grants";
    const COLS: &str = "id, share_item_id, grantee_type, grantee_id, product_id, prefix, \
         created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(FileGrant {
            id: uuid(row, "id")?,
            share_item_id: uuid(row, "share_item_id")?,
            grantee: grantee(row)?,
            product_id: uuid(row, "product_id")?,
            prefix: text(row, "prefix")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for ShareLog {
    const TABLE: &str = "share_logs";
    const COLS: &str = "seq, share_id, run_id, job, at, level, message";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for DataFilter {
    const TABLE: &str = "data_filters";
    const COLS: &str = "id, product_id, table_id, name, description, \
         row_filter, columns, created_by, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for RowRule {
    const TABLE: &str = "row_rules";
    const COLS: &str = "user_name, group_name, field_values";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(RowRule {
            user_name: opt_text(row, "user_name")?,
            group_name: opt_text(row, "group_name")?,
            values: json(row, "field_values")?,
        })
    }
}

impl Record for ColumnTags {
    const TABLE: &str = "column_tags";
    const COLS: &str = "table_id, column_name, tags";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(ColumnTags {
            table_id: uuid(row, "table_id")?,
            column: text(row, "column_name")?,
            tags: json::<Vec<String>>(row, "tags")?,
        })
    }
}

impl Record for Suggestion {
    const TABLE: &str = "classification_suggestions";
    const COLS: &str = "table_id, column_name, kind, confidence, evidence, tags, added_tags, \
                        status, decided_by, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Suggestion {
            table_id: uuid(row, "table_id")?,
            column: text(row, "column_name")?,
            kind: text(row, "kind")?,
            confidence: crate::codec::thousandths(row, "confidence")?,
            evidence: text(row, "evidence")?,
            tags: json::<Vec<String>>(row, "tags")?,
            added_tags: json::<Vec<String>>(row, "added_tags")?,
            status: enum_of::<SuggestionStatus>(row, "status")?,
            decided_by: opt_uuid(row, "decided_by")?,
            created_at: time(row, "created_at")?,
            updated_at: time(row, "updated_at")?,
        })
    }
}

impl Record for Credential {
    const TABLE: &str = "credentials";
    const COLS: &str = "id, principal_id, policy, created_at, expires_at, revoked_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Credential {
            id: uuid(row, "id")?,
            principal_id: uuid(row, "principal_id")?,
            policy: json(row, "policy")?,
            created_at: time(row, "created_at")?,
            expires_at: time(row, "expires_at")?,
            revoked_at: opt_time(row, "revoked_at")?,
        })
    }
}

impl Record for TableTenancy {
    const TABLE: &str = "tenant_tables";
    const COLS: &str = "table_id, key_column, separator";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(TableTenancy {
            table_id: uuid(row, "table_id")?,
            key_column: text(row, "key_column")?,
            separator: opt_text(row, "separator")?,
        })
    }
}

impl Record for TagMask {
    const TABLE: &str = "tag_masks";
    const COLS: &str = "id, domain_id, tag, mask, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(TagMask {
            id: uuid(row, "id")?,
            domain_id: opt_uuid(row, "domain_id")?,
            tag: text(row, "tag")?,
            mask: enum_of::<Mask>(row, "mask")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for Job {
    const TABLE: &str = "jobs";
    const COLS: &str = "id, kind, subject_id, attempts, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Job {
            id: uuid(row, "id")?,
            kind: enum_of::<JobKind>(row, "kind")?,
            subject_id: uuid(row, "subject_id")?,
            attempts: get::<i32>(row, "attempts")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for AuditEvent {
    const TABLE: &str = "audit_events";
    const COLS: &str = "seq, at, actor_id, action, object_type, object_id, outcome, request_id, \
         detail, chain_pos, prev_hash, hash";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
            chain: match get::<Option<i64>>(row, "chain_pos")? {
                Some(pos) => Some(ChainLink {
                    pos,
                    prev_hash: opt_text(row, "prev_hash")?.unwrap_or_default(),
                    hash: opt_text(row, "hash")?.unwrap_or_default(),
                }),
                None => None,
            },
        })
    }
}

impl Record for AuditDigest {
    const TABLE: &str = "audit_digests";
    const COLS: &str = "from_pos, to_pos, last_hash, prev_digest, at, key_id, signature";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(AuditDigest {
            from_pos: int(row, "from_pos")?,
            to_pos: int(row, "to_pos")?,
            last_hash: text(row, "last_hash")?,
            prev_digest: text(row, "prev_digest")?,
            at: time(row, "at")?,
            key_id: text(row, "key_id")?,
            signature: text(row, "signature")?,
        })
    }
}

impl Record for AuditCursor {
    const TABLE: &str = "audit_cursors";
    const COLS: &str = "name, pos, delivered_at, failures, last_error, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(AuditCursor {
            name: text(row, "name")?,
            pos: int(row, "pos")?,
            delivered_at: opt_time(row, "delivered_at")?,
            failures: int(row, "failures")?,
            last_error: opt_text(row, "last_error")?,
            updated_at: time(row, "updated_at")?,
        })
    }
}

impl Record for Alert {
    const TABLE: &str = "alerts";
    const COLS: &str = "id, principal_id, read_action, read_pos, tables, findings, summary, \
         response, status, acknowledged_by, acknowledged_at, note, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Alert {
            id: uuid(row, "id")?,
            principal_id: uuid(row, "principal_id")?,
            read_action: text(row, "read_action")?,
            read_pos: int(row, "read_pos")?,
            tables: json(row, "tables")?,
            findings: json(row, "findings")?,
            summary: text(row, "summary")?,
            response: enum_of::<AlertResponse>(row, "response")?,
            status: enum_of::<AlertStatus>(row, "status")?,
            acknowledged_by: opt_uuid(row, "acknowledged_by")?,
            acknowledged_at: opt_time(row, "acknowledged_at")?,
            note: opt_text(row, "note")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for Suspension {
    const TABLE: &str = "suspensions";
    const COLS: &str = "principal_id, alert_id, reason, at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Suspension {
            principal_id: uuid(row, "principal_id")?,
            alert_id: opt_uuid(row, "alert_id")?,
            reason: text(row, "reason")?,
            at: time(row, "at")?,
        })
    }
}

impl Record for AuditKey {
    const TABLE: &str = "audit_keys";
    const COLS: &str = "id, public_key, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(AuditKey {
            id: text(row, "id")?,
            public_key: text(row, "public_key")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for TableTags {
    const TABLE: &str = "table_tags";
    const COLS: &str = "table_id, tags";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(TableTags {
            table_id: uuid(row, "table_id")?,
            tags: json::<Vec<String>>(row, "tags")?,
        })
    }
}

/// A form type, from `form_types t` joined with its latest revision `r`.
impl Record for FormType {
    const TABLE: &str = "form_types t JOIN form_type_revisions r \
         ON r.form_type_id = t.id AND r.revision = t.revision";
    const COLS: &str = "t.id, t.name, t.description, t.revision, r.fields, t.created_by, \
         t.created_at, t.updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for FormTypeRevision {
    const TABLE: &str = "form_type_revisions";
    const COLS: &str = "form_type_id, revision, description, fields, created_by, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(FormTypeRevision {
            form_type_id: uuid(row, "form_type_id")?,
            revision: int(row, "revision")?,
            description: text(row, "description")?,
            fields: json::<Vec<FormField>>(row, "fields")?,
            created_by: uuid(row, "created_by")?,
            created_at: time(row, "created_at")?,
        })
    }
}

impl Record for MetadataForm {
    const TABLE: &str = "metadata_forms";
    const COLS: &str = "target_kind, target_id, product_id, form_type_id, revision, \
         field_values, updated_by, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

/// A rule without its form types (read separately, in order).
impl Record for Rule {
    const TABLE: &str = "catalog_rules";
    const COLS: &str = "id, domain_id, action, include_children, description, created_by, \
         created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for Glossary {
    const TABLE: &str = "glossaries";
    const COLS: &str = "id, name, description, enabled, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Glossary {
            id: uuid(row, "id")?,
            name: text(row, "name")?,
            description: text(row, "description")?,
            enabled: boolean(row, "enabled")?,
            created_at: time(row, "created_at")?,
            updated_at: time(row, "updated_at")?,
        })
    }
}

impl Record for GlossaryTerm {
    const TABLE: &str = "glossary_terms";
    const COLS: &str = "id, glossary_id, name, description, enabled, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for TermRelation {
    const TABLE: &str = "glossary_term_relations";
    const COLS: &str = "term_id, kind, target_id";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(TermRelation {
            term_id: uuid(row, "term_id")?,
            kind: enum_of::<RelationKind>(row, "kind")?,
            target_id: uuid(row, "target_id")?,
        })
    }
}

impl Record for TermLink {
    const TABLE: &str = "glossary_term_links";
    const COLS: &str = "term_id, product_id, table_id, column_name";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for Notification {
    const TABLE: &str = "notifications";
    const COLS: &str = "id, principal_id, share_id, alert_id, event, actor_id, \
         audit_seq, title, body, link, created_at, read_at, emailed_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Notification {
            id: uuid(row, "id")?,
            principal_id: uuid(row, "principal_id")?,
            share_id: opt_uuid(row, "share_id")?,
            alert_id: opt_uuid(row, "alert_id")?,
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
}

impl Record for Contact {
    const TABLE: &str = "contacts";
    const COLS: &str = "principal_id, email, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Contact {
            principal_id: uuid(row, "principal_id")?,
            email: text(row, "email")?,
            updated_at: time(row, "updated_at")?,
        })
    }
}

impl Record for Webhook {
    const TABLE: &str = "webhooks";
    const COLS: &str = "id, principal_id, url, secret, events, created_at, disabled_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for WebhookDelivery {
    const TABLE: &str = "webhook_deliveries";
    const COLS: &str = "id, webhook_id, notification_id, event, payload, status, \
         attempts, last_error, created_at, finished_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for SharingToken {
    const TABLE: &str = "sharing_tokens";
    const COLS: &str = "id, principal_id, kind, name, secret_hash, activation_hash, parent_id, \
         created_by, created_at, expires_at, activated_at, revoked_at, last_used_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}

impl Record for RecipientSettings {
    const TABLE: &str = "recipient_settings";
    const COLS: &str = "principal_id, ip_allow_list, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(RecipientSettings {
            principal_id: uuid(row, "principal_id")?,
            ip_allow_list: json::<Vec<String>>(row, "ip_allow_list")?,
            updated_at: time(row, "updated_at")?,
        })
    }
}

impl Record for ExternalLocation {
    const TABLE: &str = "external_locations";
    const COLS: &str = "id, name, url, teams, writable, description, created_by, created_at";

    fn from_row(row: &AnyRow) -> Result<Self> {
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
}
