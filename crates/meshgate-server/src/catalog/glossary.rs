//! The business glossary: glossaries of terms (each enabled or disabled, names unique within
//! a glossary), relations between terms (`is_a`, kept acyclic; `classifies`), and the
//! attachment of terms to products and columns (in the parent module).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use meshgate_authz::{Action, Resource};
use meshgate_core::catalog::{Glossary, GlossaryTerm, RelationKind, TermRelation};
use meshgate_core::names;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::lookup::{audit, authorize};
use crate::state::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/glossaries", get(list_glossaries).post(create_glossary))
        .route(
            "/glossaries/{glossary}",
            get(get_glossary)
                .patch(update_glossary)
                .delete(delete_glossary),
        )
        .route(
            "/glossaries/{glossary}/terms",
            get(list_terms).post(create_term),
        )
        .route(
            "/glossaries/{glossary}/terms/{term}",
            get(get_term).patch(update_term).delete(delete_term),
        )
        .route(
            "/glossaries/{glossary}/terms/{term}/relations/{kind}/{target}",
            put(relate).delete(unrelate),
        )
}

// ----- lookups -----

/// A glossary and one of its terms by name, if both exist.
pub async fn find_term(
    state: &AppState,
    glossary: &str,
    term: &str,
) -> ApiResult<Option<(Glossary, GlossaryTerm)>> {
    let Some(g) = state.store.get_glossary_by_name(glossary).await? else {
        return Ok(None);
    };
    let t = state
        .store
        .list_terms(Some(g.id))
        .await?
        .into_iter()
        .find(|t| t.name == term);
    Ok(t.map(|t| (g, t)))
}

async fn glossary_by_name(state: &AppState, name: &str) -> ApiResult<Glossary> {
    state
        .store
        .get_glossary_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("glossary", name))
}

async fn term_by_name(
    state: &AppState,
    glossary: &str,
    term: &str,
) -> ApiResult<(Glossary, GlossaryTerm)> {
    find_term(state, glossary, term)
        .await?
        .ok_or_else(|| ApiError::not_found("glossary term", &format!("{glossary}.{term}")))
}

/// A term written `glossary.term`; 400 if it is not written so, 404 if it does not exist.
pub async fn term_by_qualified(
    state: &AppState,
    qualified: &str,
) -> ApiResult<(Glossary, GlossaryTerm)> {
    let Some((g, t)) = qualified
        .split_once('.')
        .filter(|(g, t)| !g.is_empty() && !t.is_empty() && !t.contains('.'))
    else {
        return Err(ApiError::bad_request(format!(
            "term: `{qualified}` is not a glossary term; write it as `<glossary>.<term>`"
        )));
    };
    term_by_name(state, g, t).await
}

pub use meshgate_core::catalog::narrower_closure;

fn manage(state: &AppState, caller: &Caller, what: &str) -> ApiResult<()> {
    authorize(state, caller, Action::ManageCatalog, &Resource::Mesh, what)
}

fn view(state: &AppState, caller: &Caller) -> ApiResult<()> {
    authorize(
        state,
        caller,
        Action::ViewMesh,
        &Resource::Mesh,
        "view the glossary",
    )
}

fn check_description(description: &str) -> ApiResult<()> {
    if description.len() > meshgate_core::catalog::MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "description: longer than {} bytes",
            meshgate_core::catalog::MAX_TEXT
        )));
    }
    Ok(())
}

// ----- glossaries -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewGlossary {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct Patch {
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GlossaryView {
    #[serde(flatten)]
    pub glossary: Glossary,
    pub terms: Vec<GlossaryTerm>,
}

#[utoipa::path(
    get,
    path = "/glossaries",
    operation_id = "list_glossaries",
    tag = "glossaries",
    responses(
        (status = 200, description = "OK", body = Vec<Glossary>),
        crate::error::ApiErrors,
    ),
)]
async fn list_glossaries(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Glossary>>> {
    view(&state, &caller)?;
    Ok(Json(state.store.list_glossaries().await?))
}

#[utoipa::path(
    get,
    path = "/glossaries/{glossary}",
    operation_id = "get_glossary",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
    ),
    responses(
        (status = 200, description = "OK", body = GlossaryView),
        crate::error::ApiErrors,
    ),
)]
async fn get_glossary(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<GlossaryView>> {
    Ok(Json(glossary_with_terms(&state, &caller, &name).await?))
}

/// A glossary and its terms, for whoever may view the mesh.
async fn glossary_with_terms(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<GlossaryView> {
    view(state, caller)?;
    let glossary = glossary_by_name(state, name).await?;
    let terms = state.store.list_terms(Some(glossary.id)).await?;
    Ok(GlossaryView { glossary, terms })
}

#[utoipa::path(
    post,
    path = "/glossaries",
    operation_id = "create_glossary",
    tag = "glossaries",
    request_body = NewGlossary,
    responses(
        (status = 201, description = "Created", body = Glossary),
        crate::error::ApiErrors,
    ),
)]
async fn create_glossary(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewGlossary>,
) -> ApiResult<(StatusCode, Json<Glossary>)> {
    let g = add_glossary(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(g)))
}

/// Creates a glossary (catalog managers).
async fn add_glossary(state: &AppState, caller: &Caller, req: NewGlossary) -> ApiResult<Glossary> {
    manage(state, caller, "create glossaries")?;
    names::validate("glossary name", &req.name)?;
    check_description(&req.description)?;
    let now = Utc::now();
    let g = Glossary {
        id: Uuid::now_v7(),
        name: req.name,
        description: req.description,
        enabled: req.enabled,
        created_at: now,
        updated_at: now,
    };
    let event =
        audit(caller, "glossary.create", "glossary", g.id).with_detail(json!({"name": g.name}));
    state.store.create_glossary(&g, event).await?;
    Ok(g)
}

#[utoipa::path(
    patch,
    path = "/glossaries/{glossary}",
    operation_id = "update_glossary",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
    ),
    request_body = Patch,
    responses(
        (status = 200, description = "OK", body = Glossary),
        crate::error::ApiErrors,
    ),
)]
async fn update_glossary(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(patch): JsonBody<Patch>,
) -> ApiResult<Json<Glossary>> {
    Ok(Json(change_glossary(&state, &caller, &name, patch).await?))
}

/// Changes a glossary's description or whether it is enabled (catalog managers).
async fn change_glossary(
    state: &AppState,
    caller: &Caller,
    name: &str,
    patch: Patch,
) -> ApiResult<Glossary> {
    manage(state, caller, "change glossaries")?;
    let mut g = glossary_by_name(state, name).await?;
    if let Some(d) = patch.description {
        check_description(&d)?;
        g.description = d;
    }
    g.enabled = patch.enabled.unwrap_or(g.enabled);
    g.updated_at = Utc::now();
    let event = audit(caller, "glossary.update", "glossary", g.id)
        .with_detail(json!({"name": g.name, "enabled": g.enabled}));
    state.store.update_glossary(&g, event).await?;
    Ok(g)
}

#[utoipa::path(
    delete,
    path = "/glossaries/{glossary}",
    operation_id = "delete_glossary",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_glossary(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    remove_glossary(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a glossary (catalog managers).
async fn remove_glossary(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    manage(state, caller, "delete glossaries")?;
    let g = glossary_by_name(state, name).await?;
    let event =
        audit(caller, "glossary.delete", "glossary", g.id).with_detail(json!({"name": g.name}));
    state.store.delete_glossary(g.id, event).await?;
    Ok(())
}

// ----- terms -----

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TermView {
    pub id: Uuid,
    pub glossary: String,
    pub name: String,
    /// `glossary.term`
    pub term: String,
    pub description: String,
    pub enabled: bool,
    /// Broader terms: this term `is_a` each of them.
    pub is_a: Vec<String>,
    /// Narrower terms: each `is_a` this term.
    pub narrower: Vec<String>,
    /// Terms this term classifies.
    pub classifies: Vec<String>,
    /// Terms that classify this term.
    pub classified_by: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn term_view(state: &AppState, g: &Glossary, t: GlossaryTerm) -> ApiResult<TermView> {
    let names = super::index::Names::load(state.store.as_ref()).await?;
    let relations = state.store.term_relations().await?;
    let pick = |kind: RelationKind, outgoing: bool| -> Vec<String> {
        let mut out: Vec<String> = relations
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| match outgoing {
                true if r.term_id == t.id => Some(names.term(r.target_id)),
                false if r.target_id == t.id => Some(names.term(r.term_id)),
                _ => None,
            })
            .collect();
        out.sort();
        out
    };
    Ok(TermView {
        id: t.id,
        glossary: g.name.clone(),
        term: format!("{}.{}", g.name, t.name),
        is_a: pick(RelationKind::IsA, true),
        narrower: pick(RelationKind::IsA, false),
        classifies: pick(RelationKind::Classifies, true),
        classified_by: pick(RelationKind::Classifies, false),
        name: t.name,
        description: t.description,
        enabled: t.enabled,
        created_at: t.created_at,
        updated_at: t.updated_at,
    })
}

#[utoipa::path(
    get,
    path = "/glossaries/{glossary}/terms",
    operation_id = "list_terms",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
    ),
    responses(
        (status = 200, description = "OK", body = Vec<GlossaryTerm>),
        crate::error::ApiErrors,
    ),
)]
async fn list_terms(
    State(state): State<AppState>,
    caller: Caller,
    Path(glossary): Path<String>,
) -> ApiResult<Json<Vec<GlossaryTerm>>> {
    view(&state, &caller)?;
    let g = glossary_by_name(&state, &glossary).await?;
    Ok(Json(state.store.list_terms(Some(g.id)).await?))
}

#[utoipa::path(
    get,
    path = "/glossaries/{glossary}/terms/{term}",
    operation_id = "get_term",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    responses(
        (status = 200, description = "OK", body = TermView),
        crate::error::ApiErrors,
    ),
)]
async fn get_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((glossary, term)): Path<(String, String)>,
) -> ApiResult<Json<TermView>> {
    view(&state, &caller)?;
    let (g, t) = term_by_name(&state, &glossary, &term).await?;
    Ok(Json(term_view(&state, &g, t).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewTerm {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

#[utoipa::path(
    post,
    path = "/glossaries/{glossary}/terms",
    operation_id = "create_term",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
    ),
    request_body = NewTerm,
    responses(
        (status = 201, description = "Created", body = TermView),
        crate::error::ApiErrors,
    ),
)]
async fn create_term(
    State(state): State<AppState>,
    caller: Caller,
    Path(glossary): Path<String>,
    JsonBody(req): JsonBody<NewTerm>,
) -> ApiResult<(StatusCode, Json<TermView>)> {
    let t = add_term(&state, &caller, &glossary, req).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Adds a term to a glossary (catalog managers); term names are unique within a glossary.
async fn add_term(
    state: &AppState,
    caller: &Caller,
    glossary: &str,
    req: NewTerm,
) -> ApiResult<TermView> {
    manage(state, caller, "create glossary terms")?;
    let g = glossary_by_name(state, glossary).await?;
    names::validate("term name", &req.name)?;
    check_description(&req.description)?;
    let duplicate = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!(
                "name: glossary `{}` already has a term `{}`; term names are unique within a glossary",
                g.name, req.name
            ),
        )
    };
    if find_term(state, &g.name, &req.name).await?.is_some() {
        return Err(duplicate());
    }
    let now = Utc::now();
    let t = GlossaryTerm {
        id: Uuid::now_v7(),
        glossary_id: g.id,
        name: req.name.clone(),
        description: req.description.clone(),
        enabled: req.enabled,
        created_at: now,
        updated_at: now,
    };
    let event = audit(caller, "term.create", "glossary_term", t.id)
        .with_detail(json!({"term": format!("{}.{}", g.name, t.name)}));
    state
        .store
        .create_term(&t, event)
        .await
        .map_err(|e| match e {
            // Lost a race with a create of the same name.
            meshgate_core::Error::AlreadyExists { .. } => duplicate(),
            other => other.into(),
        })?;
    term_view(state, &g, t).await
}

#[utoipa::path(
    patch,
    path = "/glossaries/{glossary}/terms/{term}",
    operation_id = "update_term",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    request_body = Patch,
    responses(
        (status = 200, description = "OK", body = TermView),
        crate::error::ApiErrors,
    ),
)]
async fn update_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((glossary, term)): Path<(String, String)>,
    JsonBody(patch): JsonBody<Patch>,
) -> ApiResult<Json<TermView>> {
    Ok(Json(
        change_term(&state, &caller, &glossary, &term, patch).await?,
    ))
}

/// Changes a term's description or whether it is enabled (catalog managers).
async fn change_term(
    state: &AppState,
    caller: &Caller,
    glossary: &str,
    term: &str,
    patch: Patch,
) -> ApiResult<TermView> {
    manage(state, caller, "change glossary terms")?;
    let (g, mut t) = term_by_name(state, glossary, term).await?;
    if let Some(d) = patch.description {
        check_description(&d)?;
        t.description = d;
    }
    t.enabled = patch.enabled.unwrap_or(t.enabled);
    t.updated_at = Utc::now();
    let event = audit(caller, "term.update", "glossary_term", t.id)
        .with_detail(json!({"term": format!("{}.{}", g.name, t.name), "enabled": t.enabled}));
    state.store.update_term(&t, event).await?;
    term_view(state, &g, t).await
}

#[utoipa::path(
    delete,
    path = "/glossaries/{glossary}/terms/{term}",
    operation_id = "delete_term",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
    ),
    responses(
        (status = 204, description = "Done; no body"),
        crate::error::ApiErrors,
    ),
)]
async fn delete_term(
    State(state): State<AppState>,
    caller: Caller,
    Path((glossary, term)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    remove_term(&state, &caller, &glossary, &term).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a term (catalog managers).
async fn remove_term(
    state: &AppState,
    caller: &Caller,
    glossary: &str,
    term: &str,
) -> ApiResult<()> {
    manage(state, caller, "delete glossary terms")?;
    let (g, t) = term_by_name(state, glossary, term).await?;
    let event = audit(caller, "term.delete", "glossary_term", t.id)
        .with_detail(json!({"term": format!("{}.{}", g.name, t.name)}));
    state.store.delete_term(t.id, event).await?;
    Ok(())
}

async fn relation(
    state: &AppState,
    caller: &Caller,
    (glossary, term, kind, target): (String, String, String, String),
    add: bool,
) -> ApiResult<Json<TermView>> {
    manage(state, caller, "relate glossary terms")?;
    let kind: RelationKind = kind.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "relation: unknown relation `{kind}`; use is_a or classifies"
        ))
    })?;
    let (g, t) = term_by_name(state, &glossary, &term).await?;
    let (tg, tt) = match term_by_qualified(state, &target).await {
        Ok(found) => found,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Err(ApiError::bad_request(format!(
                "target: unknown glossary term `{target}`"
            )));
        }
        Err(e) => return Err(e),
    };
    let r = TermRelation {
        term_id: t.id,
        kind,
        target_id: tt.id,
    };
    let detail = json!({
        "term": format!("{}.{}", g.name, t.name), "kind": kind,
        "target": format!("{}.{}", tg.name, tt.name),
    });
    if add {
        let event = audit(caller, "term.relate", "glossary_term", t.id).with_detail(detail);
        state.store.add_term_relation(&r, event).await?;
    } else {
        let event = audit(caller, "term.unrelate", "glossary_term", t.id).with_detail(detail);
        state.store.remove_term_relation(&r, event).await?;
    }
    Ok(Json(term_view(state, &g, t).await?))
}

#[utoipa::path(
    put,
    path = "/glossaries/{glossary}/terms/{term}/relations/{kind}/{target}",
    operation_id = "relate",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
        ("kind" = String, Path, description = "Relation kind", example = "synonym"),
        ("target" = String, Path, description = "Related term"),
    ),
    responses(
        (status = 200, description = "OK", body = TermView),
        crate::error::ApiErrors,
    ),
)]
async fn relate(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String, String)>,
) -> ApiResult<Json<TermView>> {
    relation(&state, &caller, path, true).await
}

#[utoipa::path(
    delete,
    path = "/glossaries/{glossary}/terms/{term}/relations/{kind}/{target}",
    operation_id = "unrelate",
    tag = "glossaries",
    params(
        ("glossary" = String, Path, description = "Glossary name", example = "business"),
        ("term" = String, Path, description = "Glossary term (`glossary.term` where not under a glossary)", example = "party"),
        ("kind" = String, Path, description = "Relation kind", example = "synonym"),
        ("target" = String, Path, description = "Related term"),
    ),
    responses(
        (status = 200, description = "OK", body = TermView),
        crate::error::ApiErrors,
    ),
)]
async fn unrelate(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String, String)>,
) -> ApiResult<Json<TermView>> {
    relation(&state, &caller, path, false).await
}
