//! Enforcement rules: a domain's rules require metadata forms for publishing its products or
//! requesting access to them, and apply to the products of its units (child domains) when
//! they include children.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::catalog::{self as model, Rule, RuleAction};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::types::check_description;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup;
use crate::lookup::{audit, authorize};
use crate::state::AppState;

/// The routes of enforcement rules, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/domains/{domain}/rules", get(list_rules).post(create_rule))
        .route("/domains/{domain}/rules/{id}", delete(delete_rule))
}

/// Every domain's parent, for rule inheritance.
pub async fn domain_parents(state: &AppState) -> ApiResult<HashMap<Uuid, Option<Uuid>>> {
    Ok(state
        .store
        .list_domains()
        .await?
        .into_iter()
        .map(|d| (d.id, d.parent_id))
        .collect())
}

/// The form types (id, name) the rules for `action` on a product of `domain` require, in
/// rule order, each once.
pub async fn required(
    state: &AppState,
    domain: Uuid,
    action: RuleAction,
) -> ApiResult<Vec<(Uuid, String)>> {
    let rules = state.store.list_rules().await?;
    let parents = domain_parents(state).await?;
    let applicable = model::applicable_rules(&rules, &parents, domain, action);
    let missing = model::missing_forms(&applicable, &[]);
    let mut out = Vec::new();
    for (id, _) in missing {
        let name = state
            .store
            .get_form_type(id)
            .await?
            .map(|f| f.name)
            .unwrap_or_else(|| id.to_string());
        out.push((id, name));
    }
    Ok(out)
}

/// The forms the rules for `action` on a product of `domain` require that `present` lacks,
/// written for an error message: each form and the domains whose rules require it. Empty
/// when nothing is missing.
pub async fn missing_for(
    state: &AppState,
    domain: Uuid,
    action: RuleAction,
    present: &[Uuid],
) -> ApiResult<String> {
    let rules = state.store.list_rules().await?;
    let parents = domain_parents(state).await?;
    let applicable = model::applicable_rules(&rules, &parents, domain, action);
    let missing = model::missing_forms(&applicable, present);
    let mut parts = Vec::new();
    for (id, by) in missing {
        let name = state
            .store
            .get_form_type(id)
            .await?
            .map(|f| f.name)
            .unwrap_or_else(|| id.to_string());
        let mut domains = Vec::new();
        for r in by {
            let d = crate::views::name_of_domain(state, r.domain_id).await?;
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        parts.push(format!(
            "`{name}` (required by a rule of domain {})",
            domains
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(parts.join(", "))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewRule {
    pub action: String,
    /// Form type names, 1 to 5.
    pub forms: Vec<String>,
    /// Also for products of the domain's units (child domains, transitively).
    #[serde(default)]
    pub include_children: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    /// The domain the rule is defined on.
    pub domain: String,
    pub action: RuleAction,
    pub forms: Vec<String>,
    pub include_children: bool,
    pub description: String,
    /// Whether the rule is defined on an ancestor of the domain asked about.
    pub inherited: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

async fn rule_view(state: &AppState, rule: &Rule, asked: Uuid) -> ApiResult<RuleView> {
    let mut forms = Vec::new();
    for id in &rule.form_type_ids {
        forms.push(
            state
                .store
                .get_form_type(*id)
                .await?
                .map(|f| f.name)
                .unwrap_or_else(|| id.to_string()),
        );
    }
    Ok(RuleView {
        id: rule.id,
        domain: crate::views::name_of_domain(state, rule.domain_id).await?,
        action: rule.action,
        forms,
        include_children: rule.include_children,
        description: rule.description.clone(),
        inherited: rule.domain_id != asked,
        created_by: crate::views::name_of_principal(state, rule.created_by).await?,
        created_at: rule.created_at,
    })
}

/// The rules that apply to products of the domain: its own and inherited ones.
#[utoipa::path(
    get,
    path = "/domains/{domain}/rules",
    operation_id = "list_rules",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<RuleView>),
        crate::error::ApiErrors,
    ),
)]
async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
) -> ApiResult<Json<Vec<RuleView>>> {
    Ok(Json(rules_of(&state, &caller, &domain).await?))
}

/// The rules that apply to products of the domain, its own and inherited, for whoever may view
/// the mesh.
async fn rules_of(state: &AppState, caller: &Caller, domain: &str) -> ApiResult<Vec<RuleView>> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view enforcement rules",
    )?;
    let d = lookup::domain_by_name(state, domain).await?;
    let rules = state.store.list_rules().await?;
    let parents = domain_parents(state).await?;
    let mut out = Vec::new();
    for action in RuleAction::ALL {
        for r in model::applicable_rules(&rules, &parents, d.id, *action) {
            out.push(rule_view(state, r, d.id).await?);
        }
    }
    Ok(out)
}

#[utoipa::path(
    post,
    path = "/domains/{domain}/rules",
    operation_id = "create_rule",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
    ),
    request_body = NewRule,
    responses(
        (status = 201, description = "Created", body = RuleView),
        crate::error::ApiErrors,
    ),
)]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(domain): Path<String>,
    JsonBody(req): JsonBody<NewRule>,
) -> ApiResult<(StatusCode, Json<RuleView>)> {
    let rule = create_domain_rule(&state, &caller, &domain, req).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Sets an enforcement rule on the domain, for whoever may change it.
async fn create_domain_rule(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    req: NewRule,
) -> ApiResult<RuleView> {
    let d = lookup::domain_by_name(state, domain).await?;
    authorize(
        state,
        caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "set enforcement rules on this domain",
    )?;
    let action: RuleAction = req.action.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "action: unknown action `{}`; use publish_product or request_access",
            req.action
        ))
    })?;
    if req.forms.is_empty() || req.forms.len() > model::MAX_RULE_FORMS {
        return Err(ApiError::bad_request(format!(
            "forms: a rule requires between 1 and {} form types, not {}",
            model::MAX_RULE_FORMS,
            req.forms.len()
        )));
    }
    check_description(&req.description)?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for name in &req.forms {
        match state.store.get_form_type_by_name(name).await? {
            Some(f) if ids.contains(&f.id) => {
                return Err(ApiError::bad_request(format!(
                    "forms: form type `{name}` is listed twice"
                )));
            }
            Some(f) => ids.push(f.id),
            None => unknown.push(format!("`{name}`")),
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "forms: unknown form type(s) {}; create them with `meshgate form-type create` first",
            unknown.join(", ")
        )));
    }
    let rule = Rule {
        id: Uuid::now_v7(),
        domain_id: d.id,
        action,
        form_type_ids: ids,
        include_children: req.include_children,
        description: req.description,
        created_by: caller.id(),
        created_at: Utc::now(),
    };
    let event = audit(caller, "rule.create", "domain", d.id).with_detail(json!({
        "domain": d.name, "rule": rule.id, "action": action, "forms": req.forms,
        "include_children": rule.include_children,
    }));
    state.store.create_rule(&rule, event).await?;
    rule_view(state, &rule, d.id).await
}

#[utoipa::path(
    delete,
    path = "/domains/{domain}/rules/{id}",
    operation_id = "delete_rule",
    tag = "domains",
    params(
        ("domain" = String, Path, description = "Domain name", example = "sales", pattern = "^[a-z][a-z0-9_]*$", max_length = 63),
        ("id" = String, Path, description = "Id (uuid)"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((domain, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_domain_rule(&state, &caller, &domain, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of the domain's own rules, for whoever may change the domain.
async fn delete_domain_rule(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    id: &str,
) -> ApiResult<()> {
    let d = lookup::domain_by_name(state, domain).await?;
    authorize(
        state,
        caller,
        Action::UpdateDomain,
        &Resource::Domain { id: d.id },
        "delete enforcement rules of this domain",
    )?;
    let not_found = || ApiError::not_found("rule", id);
    let rule_id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let rules = state.store.list_rules().await?;
    if !rules.iter().any(|r| r.id == rule_id && r.domain_id == d.id) {
        return Err(not_found());
    }
    let event = audit(caller, "rule.delete", "domain", d.id)
        .with_detail(json!({"domain": d.name, "rule": rule_id}));
    state.store.delete_rule(rule_id, event).await?;
    Ok(())
}
