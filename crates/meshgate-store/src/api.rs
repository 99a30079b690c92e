//! The [`Store`] trait and the value types its methods take.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meshgate_core::Result;
use meshgate_core::access::{ColumnTags, DataFilter, GrantScope, RowRule, TagMask};
use meshgate_core::catalog::{
    FormTargetKind, FormType, FormTypeRevision, Glossary, GlossaryTerm, ListingState, MetadataForm,
    Rule, TableTags, TermLink, TermRelation,
};
use meshgate_core::credential::{Credential, TableTenancy};
use meshgate_core::lifecycle::{ItemStatus, ShareStatus};
use meshgate_core::model::{
    ApiToken, AuditEvent, DataProduct, Domain, ExternalLocation, FileGrant, Grant, Health, Job,
    JobKind, NewAuditEvent, Principal, ProductTable, RecipientSettings, Share, ShareDetail,
    ShareItem, ShareLog, ShareSettings, ShareTerms, SharingToken, Team, TeamMember,
};
use meshgate_core::notify::{Contact, DeliveryStatus, Notification, Webhook, WebhookDelivery};
use meshgate_core::snapshot::AccessRows;
use uuid::Uuid;

/// Filters for [`Store::list_shares`]. `None` = any. Results are newest first.
#[derive(Debug, Clone, Default)]
pub struct ShareFilter {
    pub status: Option<ShareStatus>,
    pub product_id: Option<Uuid>,
    pub requester_team_id: Option<Uuid>,
    pub requester_principal_id: Option<Uuid>,
    /// Shares whose product is owned by one of these teams, or requested by one of these
    /// teams or by `visible_to_principal`: what a non-admin may list.
    pub visible_to_teams: Option<Vec<Uuid>>,
    pub visible_to_principal: Option<Uuid>,
    /// Also list `deleted` (archived) shares; implied by `status: Some(Deleted)`.
    pub include_deleted: bool,
    pub limit: Option<u32>,
}

/// Filters for [`Store::list_products`].
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub domain_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
}

/// Filters for [`Store::list_audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events with `seq` greater than this (for paging and tailing).
    pub after_seq: Option<i64>,
    pub actor_id: Option<Uuid>,
    /// Events whose action starts with this (e.g. `share.` or `query.run`).
    pub action_prefix: Option<String>,
    pub object_id: Option<String>,
    /// At most this many (the store caps it at 1000).
    pub limit: Option<u32>,
}

/// The catalog metadata of one or all products, read at once (for the search index): the
/// products, their tables, the tags of their tables and columns, the glossary terms attached
/// to them and the forms filled for them and their tables.
#[derive(Debug, Clone, Default)]
pub struct CatalogRows {
    pub products: Vec<DataProduct>,
    pub tables: Vec<ProductTable>,
    pub column_tags: Vec<ColumnTags>,
    pub table_tags: Vec<TableTags>,
    pub term_links: Vec<TermLink>,
    pub forms: Vec<MetadataForm>,
}

/// A job to enqueue with a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub subject_id: Uuid,
    /// Processors lock per product and per grantee: the job is not leased while another job
    /// with the same product or grantee holds a lease.
    pub lock_product: Option<Uuid>,
    pub lock_grantee: Option<Uuid>,
}

/// Which shares a scheduled task looks for (see [`Store::due_shares`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Shares whose access has ended (`expires_at` ≤ the time) and that still give some.
    Expired,
    /// Shares giving access that ends before the time and whose expiry reminder has not gone
    /// out.
    ExpiringBefore,
    /// Submitted shares left undecided since before the time, not reminded since then.
    PendingSince,
    /// Shares with a shared item not verified since before the time.
    UnverifiedSince,
}

/// Everything one share transition changes, committed atomically by
/// [`Store::apply_share_change`]. The service computes it with the state machines of
/// `meshgate_core::lifecycle`; the store only checks the version and writes.
#[derive(Debug, Clone, Default)]
pub struct ShareChange {
    pub share_id: Uuid,
    /// The version the change was computed from; if the stored share has moved on, the change
    /// is refused with a conflict (a lost race is a 409, never a silent overwrite).
    pub expected_version: i64,
    pub status: Option<ShareStatus>,
    pub decision_notes: Option<String>,
    pub decided_by: Option<Uuid>,
    pub deleted_reason: Option<String>,
    pub item_status: Vec<(Uuid, ItemStatus)>,
    pub item_health: Vec<ItemHealth>,
    /// New scopes for items of the share. Not a grant change by itself: grants keep the scope
    /// they were made with (change those through `grants_to_remove`/`grants_to_add`).
    pub item_scopes: Vec<(Uuid, GrantScope)>,
    pub new_items: Vec<ShareItem>,
    pub removed_items: Vec<Uuid>,
    pub grants_to_add: Vec<Grant>,
    pub file_grants_to_add: Vec<FileGrant>,
    /// Grants (table and file grants) to delete, by share item id.
    pub grants_to_remove: Vec<Uuid>,
    /// Replaces the share's terms (expiry, extension, local name, reminders).
    pub terms: Option<ShareTerms>,
    pub audit: Vec<NewAuditEvent>,
    pub jobs: Vec<NewJob>,
}

/// A health update for one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemHealth {
    pub item_id: Uuid,
    pub health: Health,
    pub message: Option<String>,
    pub verified_at: DateTime<Utc>,
}

/// What the notification dispatcher derived from a stretch of the audit log, committed
/// atomically by [`Store::record_notifications`] together with the cursor's move from
/// `after_seq` to `up_to_seq`.
#[derive(Debug, Clone, Default)]
pub struct NotificationBatch {
    /// The cursor the batch was computed from.
    pub after_seq: i64,
    /// The cursor after it: the `seq` of the last event the batch covers.
    pub up_to_seq: i64,
    pub notifications: Vec<Notification>,
    pub deliveries: Vec<WebhookDelivery>,
    /// `send_email` and `deliver_webhook` jobs for the rows above.
    pub jobs: Vec<NewJob>,
}

/// The control-plane store. Methods that change state take the audit event(s) that describe
/// the change and commit them in the same transaction.
///
/// Errors are `meshgate_core::Error`: a unique violation is `AlreadyExists`, a missing row
/// `NotFound`, a stale version or a refused delete `Conflict`, anything else `Internal`
/// (with the cause logged, never shown to callers).
/// The store's reads for the access snapshot (`store/access.rs`).
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Everything that decides what `principal_id` (a member of `teams` and of the groups
    /// `groups`) may read, in a handful of queries whatever the number of tables: owned and
    /// granted products and tables, grants and file grants, local names, data filters, row
    /// rules, column tags, tag masks, domain names, tenancies and group names, with the
    /// policy version read first (so the rows are at least as new as the version).
    /// `meshgate_core::snapshot::resolve` turns them into the snapshot.
    async fn access_rows(
        &self,
        principal_id: Uuid,
        teams: &[Uuid],
        groups: &[Uuid],
    ) -> Result<AccessRows>;
}

#[async_trait]
pub trait Store: AccessStore + Send + Sync + 'static {
    /// Which backend this is (`sqlite` or `postgres`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;

    // ----- principals, groups, tokens -----

    async fn create_principal(&self, principal: &Principal, audit: NewAuditEvent) -> Result<()>;
    async fn get_principal(&self, id: Uuid) -> Result<Option<Principal>>;
    async fn get_principal_by_name(&self, name: &str) -> Result<Option<Principal>>;
    async fn list_principals(&self) -> Result<Vec<Principal>>;
    /// Whether any admin principal exists (the mesh has been initialised).
    async fn has_admin(&self) -> Result<bool>;

    /// Adds `member` to `group`; bumps the policy version. Adding twice is a no-op.
    async fn add_group_member(&self, group: Uuid, member: Uuid, audit: NewAuditEvent)
    -> Result<()>;
    /// Removes `member` from `group`; bumps the policy version. `NotFound` if absent.
    async fn remove_group_member(
        &self,
        group: Uuid,
        member: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// The groups `member` belongs to (directly).
    async fn groups_of(&self, member: Uuid) -> Result<Vec<Uuid>>;

    async fn create_token(&self, token: &ApiToken, audit: NewAuditEvent) -> Result<()>;
    /// The token with this hash and its principal, whether usable or not.
    async fn find_token(&self, token_hash: &str) -> Result<Option<(ApiToken, Principal)>>;
    async fn list_tokens(&self, principal_id: Uuid) -> Result<Vec<ApiToken>>;
    async fn get_token(&self, id: Uuid) -> Result<Option<ApiToken>>;
    /// Sets `revoked_at`; revoking twice keeps the first time.
    async fn revoke_token(&self, id: Uuid, at: DateTime<Utc>, audit: NewAuditEvent) -> Result<()>;

    // ----- domains and teams -----

    async fn create_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()>;
    async fn get_domain(&self, id: Uuid) -> Result<Option<Domain>>;
    async fn get_domain_by_name(&self, name: &str) -> Result<Option<Domain>>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;
    /// Updates the producer/consumer flags and description.
    async fn update_domain(&self, domain: &Domain, audit: NewAuditEvent) -> Result<()>;

    async fn create_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()>;
    async fn get_team(&self, id: Uuid) -> Result<Option<Team>>;
    async fn get_team_by_name(&self, domain_id: Uuid, name: &str) -> Result<Option<Team>>;
    async fn list_teams(&self, domain_id: Option<Uuid>) -> Result<Vec<Team>>;
    /// Adds or updates (role) a membership; bumps the policy version.
    async fn put_team_member(&self, member: &TeamMember, audit: NewAuditEvent) -> Result<()>;
    /// Removes a membership; bumps the policy version. `NotFound` if absent.
    async fn remove_team_member(
        &self,
        team_id: Uuid,
        principal_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn list_team_members(&self, team_id: Uuid) -> Result<Vec<TeamMember>>;
    /// Every team membership of a principal.
    async fn memberships_of(&self, principal_id: Uuid) -> Result<Vec<TeamMember>>;

    // ----- data products and tables -----

    /// Creates a product with its tables, atomically.
    async fn create_product(
        &self,
        product: &DataProduct,
        tables: &[ProductTable],
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn get_product(&self, id: Uuid) -> Result<Option<DataProduct>>;
    async fn get_product_by_name(&self, domain_id: Uuid, name: &str)
    -> Result<Option<DataProduct>>;
    async fn list_products(&self, filter: &ProductFilter) -> Result<Vec<DataProduct>>;
    /// Deletes a product and its tables. Refused with `Conflict` while any of its shares has an
    /// item in a shared state (checked in the same transaction). Shares stay, for the record.
    async fn delete_product(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    async fn add_table(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()>;
    /// Replaces a table's column list (after an append that evolved the schema).
    async fn update_table_columns(&self, table: &ProductTable, audit: NewAuditEvent) -> Result<()>;
    async fn get_table(&self, id: Uuid) -> Result<Option<ProductTable>>;
    async fn list_tables(&self, product_id: Uuid) -> Result<Vec<ProductTable>>;

    // ----- shares -----

    /// Creates a share with its first items.
    async fn create_share(
        &self,
        share: &Share,
        items: &[ShareItem],
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn get_share(&self, id: Uuid) -> Result<Option<ShareDetail>>;
    async fn list_shares(&self, filter: &ShareFilter) -> Result<Vec<ShareDetail>>;
    /// Applies a transition atomically (see [`ShareChange`]); bumps the share version, and the
    /// policy version when grants change. Returns the share as it is after the change.
    async fn apply_share_change(&self, change: ShareChange) -> Result<ShareDetail>;

    // ----- grants and policy version -----

    /// Grants in force for a principal: to it directly, or to any of `teams`.
    async fn grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<Grant>>;
    /// Grants in force on items of one share.
    async fn grants_of_share(&self, share_id: Uuid) -> Result<Vec<Grant>>;
    /// File grants in force for a principal: to it directly, or to any of `teams`.
    async fn file_grants_for(&self, principal_id: Uuid, teams: &[Uuid]) -> Result<Vec<FileGrant>>;
    /// File grants in force on items of one share.
    async fn file_grants_of_share(&self, share_id: Uuid) -> Result<Vec<FileGrant>>;
    /// Table and file grants on items of any share of one product (for bulk verification).
    async fn grants_of_product(&self, product_id: Uuid) -> Result<(Vec<Grant>, Vec<FileGrant>)>;
    /// Records verification results on many items at once, with their audit events. Health is
    /// its own axis: no share version or status moves. Items that are gone are skipped.
    async fn set_item_health(
        &self,
        updates: &[ItemHealth],
        audit: Vec<NewAuditEvent>,
    ) -> Result<()>;
    /// The local names consumers chose for the shares of these items (`finalize`), by item.
    async fn local_names(&self, item_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>>;

    // ----- lifecycle settings, logs and schedules -----

    /// A product's share settings (defaults when none were set).
    async fn share_settings(&self, product_id: Uuid) -> Result<ShareSettings>;
    /// Replaces a product's share settings. `NotFound` if the product is missing.
    async fn put_share_settings(
        &self,
        product_id: Uuid,
        settings: &ShareSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Appends processor log lines (their `seq` is assigned here).
    async fn append_share_logs(&self, lines: &[ShareLog]) -> Result<()>;
    /// A share's log lines after `after_seq`, oldest first, at most `limit` (capped at 5000).
    async fn share_logs(&self, share_id: Uuid, after_seq: i64, limit: u32)
    -> Result<Vec<ShareLog>>;
    /// Ids of shares a scheduled task must look at (see [`Due`]), oldest first, at most
    /// `limit`.
    async fn due_shares(&self, due: Due, at: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>>;
    /// Enqueues jobs on their own (bulk verification, scheduled work).
    async fn enqueue_jobs(&self, jobs: &[NewJob], audit: NewAuditEvent) -> Result<()>;

    /// A counter bumped by every change that can alter what anyone may read (grants, group and
    /// team membership, data filters, row rules, column tags, tag masks). Access snapshots are
    /// cached by it.
    async fn policy_version(&self) -> Result<i64>;

    // ----- fine-grained access (docs/design/ACCESS.md) -----
    //
    // Every write here changes what someone may read, so each bumps the policy version.

    /// Creates a data filter on a table of its product. `AlreadyExists` if the table has a
    /// filter of that name, `NotFound` if the table is missing, `Invalid` if the table belongs
    /// to another product.
    async fn create_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()>;
    /// Updates a filter's description, row filter, columns and `updated_at` (by id; its name,
    /// table and creator stay). `NotFound` if absent.
    async fn update_data_filter(&self, filter: &DataFilter, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a data filter. `NotFound` if absent; refused with `Conflict` while any grant's
    /// scope uses it (checked in the same transaction).
    async fn delete_data_filter(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    async fn get_data_filter(&self, id: Uuid) -> Result<Option<DataFilter>>;
    async fn get_data_filter_by_name(
        &self,
        table_id: Uuid,
        name: &str,
    ) -> Result<Option<DataFilter>>;
    /// A table's data filters, by name.
    async fn list_data_filters(&self, table_id: Uuid) -> Result<Vec<DataFilter>>;
    /// The filters with these ids (missing ids are simply absent), by table, then name.
    async fn data_filters_by_ids(&self, ids: &[Uuid]) -> Result<Vec<DataFilter>>;

    /// Replaces all of a product's row rules atomically, keeping their order; an empty slice
    /// leaves the product without rules. `NotFound` if the product is missing.
    async fn replace_row_rules(
        &self,
        product_id: Uuid,
        rules: &[RowRule],
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// A product's row rules, in the order they were given.
    async fn row_rules(&self, product_id: Uuid) -> Result<Vec<RowRule>>;

    /// Replaces the tags of one column; no tags clears them. `NotFound` if the table is missing.
    async fn set_column_tags(&self, tags: &ColumnTags, audit: NewAuditEvent) -> Result<()>;
    /// The tagged columns of a table (columns without tags are absent), by column name.
    async fn column_tags(&self, table_id: Uuid) -> Result<Vec<ColumnTags>>;

    /// Sets the default mask for a tag, mesh-wide or for one domain: an upsert on
    /// (`domain_id`, `tag`) that keeps an existing entry's id and `created_at`. `Invalid` if
    /// the domain does not exist.
    async fn put_tag_mask(&self, mask: &TagMask, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a tag mask. `NotFound` if absent.
    async fn delete_tag_mask(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// Every tag mask, by tag, mesh-wide before per-domain.
    async fn list_tag_masks(&self) -> Result<Vec<TagMask>>;

    // ----- credentials and tenancy (docs/design/ACCESS.md §Tenant isolation) -----

    /// The mesh's credential signing key, created on first use; the same on every replica.
    async fn signing_key(&self) -> Result<Vec<u8>>;
    /// The mesh's key of the `hash` mask (docs/design/MASKS_AND_WEBHOOKS.md), created on first use; the
    /// same on every replica.
    async fn mask_key(&self) -> Result<Vec<u8>>;
    /// Replaces the mask key with a fresh random one and bumps the policy version (every
    /// replica then resolves access again with the new key), with `audit`, in one
    /// transaction. Masked values hashed before no longer match those hashed after.
    async fn rotate_mask_key(&self, audit: NewAuditEvent) -> Result<()>;
    async fn create_credential(&self, credential: &Credential, audit: NewAuditEvent) -> Result<()>;
    async fn get_credential(&self, id: Uuid) -> Result<Option<Credential>>;
    /// A principal's credentials, newest first.
    async fn list_credentials(&self, principal_id: Uuid) -> Result<Vec<Credential>>;
    /// Sets `revoked_at` (the first time counts). `NotFound` if absent.
    async fn revoke_credential(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Ids of revoked credentials that have not expired by `now` (the revocation list every
    /// replica keeps in memory).
    async fn revoked_credentials(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>>;
    /// Declares (or changes) a table's tenant key; bumps the policy version.
    async fn set_tenancy(&self, tenancy: &TableTenancy, audit: NewAuditEvent) -> Result<()>;
    async fn tenancy(&self, table_id: Uuid) -> Result<Option<TableTenancy>>;

    // ----- catalog (issue 7) -----
    //
    // Changes to a product's catalog metadata (description, forms of it and its tables,
    // glossary terms, table and column tags) bump the product's `revision` in the same
    // transaction.

    /// Sets or clears a domain's parent. `NotFound` for a missing domain or parent, `Invalid`
    /// (naming the domains on the cycle) if the parent is the domain or one of its units.
    async fn set_domain_parent(
        &self,
        id: Uuid,
        parent: Option<Uuid>,
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// Moves a product's listing from `from` to `to`; `Conflict` if it is no longer at
    /// `from` (a lost race), `NotFound` if the product is gone. Returns the product after.
    async fn set_listing(
        &self,
        product_id: Uuid,
        from: ListingState,
        to: ListingState,
        audit: NewAuditEvent,
    ) -> Result<DataProduct>;
    /// Replaces a product's description; bumps its revision. Returns the product after.
    async fn update_product_description(
        &self,
        product_id: Uuid,
        description: &str,
        audit: NewAuditEvent,
    ) -> Result<DataProduct>;

    /// Replaces a table's tags; no tags clears them. `NotFound` if the table is missing.
    async fn set_table_tags(&self, tags: &TableTags, audit: NewAuditEvent) -> Result<()>;
    /// The tagged tables of a product, by table id.
    async fn table_tags(&self, product_id: Uuid) -> Result<Vec<TableTags>>;

    /// Creates a form type at revision 1 (its `revision` must be 1). `AlreadyExists` for a
    /// taken name.
    async fn create_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()>;
    /// Stores a new revision of a form type: `form_type.revision` must be the stored one plus
    /// one (else `Conflict`, a lost race); the description and fields become current.
    async fn revise_form_type(&self, form_type: &FormType, audit: NewAuditEvent) -> Result<()>;
    async fn get_form_type(&self, id: Uuid) -> Result<Option<FormType>>;
    async fn get_form_type_by_name(&self, name: &str) -> Result<Option<FormType>>;
    /// Every form type at its latest revision, by name.
    async fn list_form_types(&self) -> Result<Vec<FormType>>;
    async fn form_type_revision(&self, id: Uuid, revision: i64)
    -> Result<Option<FormTypeRevision>>;
    /// Deletes a form type with all its revisions. `Conflict` while a rule requires it or a
    /// form of it is filled anywhere.
    async fn delete_form_type(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;

    /// Fills (or refills) the form of one type for a target: an upsert on (target, type).
    /// `NotFound` if a product or table target is missing.
    async fn put_form(&self, form: &MetadataForm, audit: NewAuditEvent) -> Result<()>;
    /// Removes a target's form of one type. `NotFound` if it has none.
    async fn delete_form(
        &self,
        kind: FormTargetKind,
        target_id: Uuid,
        form_type_id: Uuid,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// The forms filled for one target.
    async fn forms_of(&self, kind: FormTargetKind, target_id: Uuid) -> Result<Vec<MetadataForm>>;
    /// [`Store::create_share`] together with the forms filled for the request, atomically.
    async fn create_share_with_forms(
        &self,
        share: &Share,
        items: &[ShareItem],
        forms: &[MetadataForm],
        audit: NewAuditEvent,
    ) -> Result<()>;

    /// Creates an enforcement rule with its form types. `Invalid` if the domain or a form
    /// type does not exist.
    async fn create_rule(&self, rule: &Rule, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a rule. `NotFound` if absent.
    async fn delete_rule(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// Every rule with its form types, oldest first.
    async fn list_rules(&self) -> Result<Vec<Rule>>;

    async fn create_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()>;
    /// Updates a glossary's description, `enabled` and `updated_at`. `NotFound` if absent.
    async fn update_glossary(&self, glossary: &Glossary, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a glossary. `Conflict` while it has terms.
    async fn delete_glossary(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    async fn get_glossary_by_name(&self, name: &str) -> Result<Option<Glossary>>;
    /// Every glossary, by name.
    async fn list_glossaries(&self) -> Result<Vec<Glossary>>;

    /// Creates a term. `AlreadyExists` if its glossary has a term of that name.
    async fn create_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()>;
    /// Updates a term's description, `enabled` and `updated_at`. `NotFound` if absent.
    async fn update_term(&self, term: &GlossaryTerm, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a term. `Conflict` while it is attached to a product or column, related to
    /// another term, or the value of a filled form.
    async fn delete_term(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// The terms of one glossary (or of all), by glossary then name.
    async fn list_terms(&self, glossary_id: Option<Uuid>) -> Result<Vec<GlossaryTerm>>;
    /// Relates two terms; relating them again is a no-op. `Invalid` for an `is_a` that would
    /// close a cycle (naming the terms on it) or a term related to itself.
    async fn add_term_relation(&self, relation: &TermRelation, audit: NewAuditEvent) -> Result<()>;
    /// `NotFound` if the relation does not exist.
    async fn remove_term_relation(
        &self,
        relation: &TermRelation,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Every term relation.
    async fn term_relations(&self) -> Result<Vec<TermRelation>>;
    /// Attaches a term to a product or one of its columns; attaching again is a no-op.
    /// `NotFound` if the product is missing, `Invalid` if the table is another product's.
    async fn link_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()>;
    /// `NotFound` if the term is not attached there.
    async fn unlink_term(&self, link: &TermLink, audit: NewAuditEvent) -> Result<()>;
    /// The terms attached to one product (or to all).
    async fn term_links(&self, product_id: Option<Uuid>) -> Result<Vec<TermLink>>;

    /// The catalog metadata of one product (or of all), for the search index.
    async fn catalog_rows(&self, product_id: Option<Uuid>) -> Result<CatalogRows>;

    // ----- notifications -----
    //
    // Derived from the audit log (see `meshgate_core::notify`), so writing them needs no
    // audit event of its own; changes to contacts and webhooks are audited.

    /// The `seq` of the last audit event the dispatcher has turned into notifications.
    async fn notify_cursor(&self) -> Result<i64>;
    /// In one transaction: moves the cursor from `batch.after_seq` to `batch.up_to_seq` and
    /// writes the batch's notifications, deliveries and jobs. Returns `false`, writing
    /// nothing, if the cursor is no longer at `after_seq` (another replica dispatched those
    /// events first: a lost race, to be skipped, never a duplicate).
    async fn record_notifications(&self, batch: NotificationBatch) -> Result<bool>;
    /// A principal's notifications, newest first; with `unread_only`, only those not read.
    /// At most `limit` (capped at 1000).
    async fn list_notifications(
        &self,
        principal_id: Uuid,
        unread_only: bool,
        limit: u32,
    ) -> Result<Vec<Notification>>;
    async fn get_notification(&self, id: Uuid) -> Result<Option<Notification>>;
    /// Marks one of `principal_id`'s notifications read (keeping the first `read_at`) and
    /// returns it. `NotFound` if it does not exist or is someone else's.
    async fn mark_notification_read(
        &self,
        principal_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Notification>;
    /// Marks every unread notification of a principal read; returns how many.
    async fn mark_all_notifications_read(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// Records that a notification was handed to the SMTP server. `NotFound` if it is gone.
    async fn mark_notification_emailed(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;

    /// Sets (or replaces) a principal's email address.
    async fn put_contact(&self, contact: &Contact, audit: NewAuditEvent) -> Result<()>;
    async fn get_contact(&self, principal_id: Uuid) -> Result<Option<Contact>>;
    /// Removes a principal's email address. `NotFound` if it has none.
    async fn delete_contact(&self, principal_id: Uuid, audit: NewAuditEvent) -> Result<()>;

    async fn create_webhook(&self, webhook: &Webhook, audit: NewAuditEvent) -> Result<()>;
    /// A webhook with its secret, disabled or not.
    async fn get_webhook(&self, id: Uuid) -> Result<Option<Webhook>>;
    /// A principal's webhooks that are not disabled, oldest first, with their secrets.
    async fn list_webhooks(&self, principal_id: Uuid) -> Result<Vec<Webhook>>;
    /// Disables a webhook (it receives nothing more; pending deliveries are dropped by the
    /// worker) and returns it. Disabling twice keeps the first time. `NotFound` if absent.
    async fn disable_webhook(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Webhook>;
    async fn get_webhook_delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>>;
    /// Records one delivery attempt: counts it, keeps its error, and with a final status
    /// (`delivered`, `failed`) sets `finished_at`. `NotFound` if the delivery is gone.
    async fn record_webhook_attempt(
        &self,
        id: Uuid,
        status: DeliveryStatus,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The deliveries of a webhook, oldest first.
    async fn list_webhook_deliveries(&self, webhook_id: Uuid) -> Result<Vec<WebhookDelivery>>;

    /// The direct members of a group principal (to expand a group that is a team member
    /// into the people who read notifications).
    async fn group_members(&self, group_id: Uuid) -> Result<Vec<Uuid>>;

    // ----- external locations -----
    //
    // URL prefixes an admin declares, under which the listed teams may register existing
    // Delta tables. The service normalizes the URL and checks it against the data root and
    // the other locations; the store only keeps names and URLs unique.

    /// `AlreadyExists` for a name or URL already declared.
    async fn create_external_location(
        &self,
        location: &ExternalLocation,
        audit: NewAuditEvent,
    ) -> Result<()>;
    async fn get_external_location_by_name(&self, name: &str) -> Result<Option<ExternalLocation>>;
    /// All external locations, by name.
    async fn list_external_locations(&self) -> Result<Vec<ExternalLocation>>;
    /// `NotFound` if absent. Tables registered under it stay registered (and read-only).
    async fn delete_external_location(&self, id: Uuid, audit: NewAuditEvent) -> Result<()>;
    /// The tables of every product, for the overlap check of a new registration.
    async fn list_all_tables(&self) -> Result<Vec<ProductTable>>;

    // ----- Delta Sharing recipients -----
    //
    // A recipient is an ordinary principal; its sharing tokens authenticate only the Delta
    // Sharing endpoints. Only hashes of secrets and activation codes are stored.

    /// Stores a bearer token or an OAuth client, normally not yet activated (`activation_hash`
    /// set, `secret_hash` `None`). `Invalid` for an access token (those are issued with
    /// [`Store::insert_access_token`]) or a missing principal, `AlreadyExists` for a hash
    /// already in use.
    async fn create_sharing_token(&self, token: &SharingToken, audit: NewAuditEvent) -> Result<()>;
    /// Activates the token whose activation code has this hash, once and atomically: if it is
    /// neither revoked nor expired at `now`, sets `secret_hash` and `activated_at = now`,
    /// clears `activation_hash`, writes `audit` and returns the token as it is now. `None`
    /// (writing nothing) for an unknown, used, revoked or expired code: of concurrent calls
    /// with one code, exactly one activates.
    async fn activate_sharing_token(
        &self,
        activation_hash: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<Option<SharingToken>>;
    /// Stores an access token the OAuth token endpoint issued: kind `access`, activated (with
    /// `secret_hash` and `activated_at`), with an expiry, and `parent_id` naming an OAuth
    /// client of the same principal (else `Invalid`; `NotFound` for a missing client). The
    /// client must be usable at the token's `created_at` (else `Conflict`, e.g. it was revoked
    /// meanwhile). The token never outlives its client: its expiry is cut to the client's.
    /// Returns the token as stored.
    async fn insert_access_token(
        &self,
        token: &SharingToken,
        audit: NewAuditEvent,
    ) -> Result<SharingToken>;
    /// The sharing token with this secret hash and its principal, whether usable or not.
    async fn find_sharing_token(
        &self,
        secret_hash: &str,
    ) -> Result<Option<(SharingToken, Principal)>>;
    async fn get_sharing_token(&self, id: Uuid) -> Result<Option<SharingToken>>;
    /// A principal's bearer tokens and OAuth clients (not the access tokens issued to them),
    /// newest first, in any state.
    async fn list_sharing_tokens(&self, principal_id: Uuid) -> Result<Vec<SharingToken>>;
    /// Sets `revoked_at` (revoking twice keeps the first time), and on every access token
    /// issued to it. Returns whether the token exists; `audit` is written only if it does.
    async fn revoke_sharing_token(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<bool>;
    /// Rotation: every bearer token and OAuth client of the principal other than `except`
    /// that is not revoked expires at `at` at the latest (an earlier expiry stays), and so do
    /// the access tokens issued to those clients. Returns how many bearer tokens and OAuth
    /// clients changed (access tokens are not counted).
    async fn expire_sharing_tokens(
        &self,
        principal_id: Uuid,
        at: DateTime<Utc>,
        except: Uuid,
        audit: NewAuditEvent,
    ) -> Result<u64>;
    /// Records a use of the token at `at` (`last_used_at` only moves forward). Not audited;
    /// a token that is gone is skipped.
    async fn touch_sharing_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Deletes the access tokens that expired before `before`; returns how many.
    async fn delete_expired_access_tokens(&self, before: DateTime<Utc>) -> Result<u64>;
    /// A recipient's settings; `None` if none were set.
    async fn recipient_settings(&self, principal_id: Uuid) -> Result<Option<RecipientSettings>>;
    /// Sets (or replaces) a recipient's settings. `Invalid` if the principal does not exist.
    async fn put_recipient_settings(
        &self,
        settings: &RecipientSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;

    // ----- outbox -----

    /// Leases up to `limit` jobs that are due and not leased (or whose lease ran out) for
    /// `lease_for`. On PostgreSQL concurrent workers never get the same job (`SKIP LOCKED`).
    async fn lease_jobs(
        &self,
        worker: &str,
        limit: u32,
        lease_for: chrono::Duration,
    ) -> Result<Vec<Job>>;
    /// Removes a finished job. `NotFound` if it is gone already.
    async fn complete_job(&self, id: Uuid) -> Result<()>;
    /// Records a failure, ends the lease and makes the job due again at `retry_at`. `NotFound`
    /// if the job is gone.
    async fn fail_job(&self, id: Uuid, error: &str, retry_at: DateTime<Utc>) -> Result<()>;
    /// Jobs not yet completed (for tests and `/readyz`).
    async fn pending_jobs(&self) -> Result<u64>;
    /// Ends every lease, so that leased jobs are due again at once (their attempts and
    /// `run_at` stay); returns how many held one (running or run out). Only for a process that
    /// knows no other worker runs: a SQLite server at start, whose data dir no other process
    /// serves, so that the jobs a killed process held do not wait out their leases.
    async fn release_leases(&self) -> Result<u64>;

    // ----- audit -----

    /// Appends one event on its own (reads, denials); returns its sequence number.
    async fn append_audit(&self, event: NewAuditEvent) -> Result<i64>;
    /// Events in sequence order.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>>;
}
