//! The OpenAPI 3.1 document of the REST API under `/api/v1`, generated from the handlers'
//! `#[utoipa::path]` attributes and served, unauthenticated (it holds no secrets), at
//! `GET /api/v1/openapi.json`. docs/API.md stays the hand-kept description; this document is
//! what clients and tools are generated from. A test (tests/routes.rs) checks that its paths
//! and methods are exactly the router's.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::state::AppState;

/// This document's top level (the OpenAPI 3.1 specification describes the rest).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OpenApiDocument {
    /// The OpenAPI version: `3.1.0`.
    pub openapi: String,
    pub info: BTreeMap<String, serde_json::Value>,
    pub paths: BTreeMap<String, serde_json::Value>,
    pub components: BTreeMap<String, serde_json::Value>,
}

/// The bearer scheme: `mgt_…` API tokens everywhere, `mgs_…` credentials on the data plane
/// (SQL, the rows API, `whoami`).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshgate REST API",
        description = "The control plane and data plane of a meshgate mesh. Errors have the body \
            `{\"error\": {\"code\", \"message\", \"request_id\"}}`. The Delta Sharing protocol \
            (under the configured sharing prefix) follows its own specification and is not described here.",
    ),
    paths(
        crate::openapi::openapi_json,
        crate::routes::identity::whoami,
        crate::routes::identity::create_principal,
        crate::routes::identity::list_principals,
        crate::routes::identity::get_principal,
        crate::routes::identity::list_group_members,
        crate::routes::identity::add_group_member,
        crate::routes::identity::remove_group_member,
        crate::routes::identity::create_token,
        crate::routes::identity::list_tokens,
        crate::routes::identity::revoke_token,
        crate::routes::org::create_domain,
        crate::routes::org::list_domains,
        crate::routes::org::get_domain,
        crate::routes::org::update_domain,
        crate::routes::org::create_team,
        crate::routes::org::list_teams,
        crate::routes::org::list_members,
        crate::routes::org::put_member,
        crate::routes::org::remove_member,
        crate::routes::products::create_product,
        crate::routes::products::list_products,
        crate::routes::products::get_product,
        crate::routes::products::delete_product,
        crate::routes::products::append_data,
        crate::routes::products::optimize_table,
        crate::routes::products::vacuum_table,
        crate::routes::shares::request_access,
        crate::routes::shares::list_shares,
        crate::routes::shares::get_share,
        crate::routes::shares::delete_share,
        crate::routes::shares::submit_share,
        crate::routes::shares::approve_share,
        crate::routes::shares::preview_share,
        crate::routes::shares::reject_share,
        crate::routes::shares::revoke_share,
        crate::routes::shares::add_share_items,
        crate::routes::shares::remove_share_item,
        crate::routes::shares::modify_share_item,
        crate::routes::shares::extend_share,
        crate::routes::shares::decide_extension,
        crate::routes::shares::finalize_share,
        crate::routes::shares::verify_share,
        crate::routes::shares::reapply_share,
        crate::routes::shares::share_logs,
        crate::routes::products::get_share_settings,
        crate::routes::products::put_share_settings,
        crate::routes::products::verify_product,
        crate::routes::shares::list_access,
        crate::routes::data::query,
        crate::routes::data::audit,
        crate::routes::data::audit_chain,
        crate::routes::data::audit_outside,
        crate::routes::data::audit_digests,
        crate::routes::data::audit_keys,
        crate::routes::data::audit_sinks,
        crate::routes::data::audit_sink_replay,
        crate::routes::data::audit_alerts,
        crate::routes::data::audit_alert,
        crate::routes::data::audit_alert_acknowledge,
        crate::routes::data::audit_alert_settings,
        crate::routes::data::audit_alert_tune,
        crate::routes::data::audit_suspensions,
        crate::routes::data::audit_suspension_lift,
        crate::access::filters::list_filters,
        crate::access::filters::create_filter,
        crate::access::filters::get_filter,
        crate::access::filters::update_filter,
        crate::access::filters::delete_filter,
        crate::access::tags::list_tags,
        crate::access::tags::set_tags,
        crate::access::row_rules::export_rules,
        crate::access::who_sees::who_sees,
        crate::access::row_rules::import_rules,
        crate::access::masks::list_tag_masks,
        crate::access::masks::put_tag_mask,
        crate::access::masks::delete_tag_mask,
        crate::access::masks::rotate_mask_key,
        crate::catalog::find::search_catalog,
        crate::catalog::listing::update_product,
        crate::catalog::entry::product_catalog,
        crate::catalog::listing::publish,
        crate::catalog::listing::unpublish,
        crate::catalog::terms::attach_product_term,
        crate::catalog::terms::detach_product_term,
        crate::catalog::tags::set_table_tags,
        crate::catalog::tags::classify_table,
        crate::catalog::tags::classify_column,
        crate::catalog::suggestions::list_suggestions,
        crate::catalog::suggestions::confirm_suggestion,
        crate::catalog::suggestions::reject_suggestion,
        crate::catalog::terms::attach_column_term,
        crate::catalog::terms::detach_column_term,
        crate::catalog::hierarchy::set_parent,
        crate::catalog::forms::types::list_form_types,
        crate::catalog::forms::types::create_form_type,
        crate::catalog::forms::types::get_form_type,
        crate::catalog::forms::types::revise_form_type,
        crate::catalog::forms::types::delete_form_type,
        crate::catalog::forms::types::get_revision,
        crate::catalog::forms::targets::product_forms,
        crate::catalog::forms::targets::put_product_form,
        crate::catalog::forms::targets::delete_product_form,
        crate::catalog::forms::targets::table_forms,
        crate::catalog::forms::targets::put_table_form,
        crate::catalog::forms::targets::delete_table_form,
        crate::catalog::forms::targets::share_forms,
        crate::catalog::forms::targets::put_share_form,
        crate::catalog::forms::targets::delete_share_form,
        crate::catalog::forms::rules::list_rules,
        crate::catalog::forms::rules::create_rule,
        crate::catalog::forms::rules::delete_rule,
        crate::catalog::glossary::list_glossaries,
        crate::catalog::glossary::create_glossary,
        crate::catalog::glossary::get_glossary,
        crate::catalog::glossary::update_glossary,
        crate::catalog::glossary::delete_glossary,
        crate::catalog::glossary::list_terms,
        crate::catalog::glossary::create_term,
        crate::catalog::glossary::get_term,
        crate::catalog::glossary::update_term,
        crate::catalog::glossary::delete_term,
        crate::catalog::glossary::relate,
        crate::catalog::glossary::unrelate,
        crate::credentials::list,
        crate::credentials::create,
        crate::credentials::revoke,
        crate::files::listing::list,
        crate::files::signed::sign,
        crate::files::download::download_named_sign,
        crate::files::write::upload_named_sign,
        crate::files::write::delete_named_sign,
        crate::files::download::download,
        crate::files::write::upload,
        crate::files::write::delete,
        crate::locations::list,
        crate::locations::create,
        crate::locations::show,
        crate::locations::remove,
        crate::notify::inbox::list,
        crate::notify::inbox::read_all,
        crate::notify::inbox::read_one,
        crate::notify::contacts::get_contact,
        crate::notify::contacts::put_contact,
        crate::notify::contacts::delete_contact,
        crate::notify::webhooks::list_webhooks,
        crate::notify::webhooks::create_webhook,
        crate::notify::webhooks::delete_webhook,
        crate::notify::webhooks::list_deliveries,
        crate::rows::read,
        crate::rows::append,
        crate::sharing::recipients::create_token,
        crate::sharing::recipients::list_tokens,
        crate::sharing::recipients::revoke_token,
        crate::sharing::recipients::get_settings,
        crate::sharing::recipients::put_settings,
        crate::sharing::federation::get_federation,
        crate::sharing::federation::put_federation,
        crate::sharing::federation::delete_federation,
    ),
    components(schemas(crate::error::Error, crate::error::ErrorDetail)),
    modifiers(&Security),
    security(("bearer" = [])),
)]
struct Api;

/// The document, with every path under `/api/v1`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut api = Api::openapi();
    let paths = std::mem::take(&mut api.paths.paths);
    api.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("/api/v1{path}"), item))
        .collect();
    api
}

/// `GET /api/v1/openapi.json`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi_json",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", body = OpenApiDocument),
    ),
)]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
