//! The search API (`GET /search`): the query string checked and resolved (domain path,
//! narrower glossary terms) into a query of the index in [`super::search`], run as the
//! caller sees the catalog.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use meshgate_core::catalog::ListingState;
use serde::Deserialize;

use super::glossary;
use super::index::Names;
use super::search::{self, SearchQuery, SearchResults, Viewer};
use super::tags::parse_classification;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::lookup;
use crate::state::AppState;

/// The route of search, under `/api/v1`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/search", get(search_catalog))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Free text; empty lists everything visible.
    #[serde(default)]
    pub q: String,
    pub domain: Option<String>,
    /// `domain.team`
    pub team: Option<String>,
    /// Comma-separated; every one must be present.
    pub tag: Option<String>,
    pub classification: Option<String>,
    /// `glossary.term`; narrower (`is_a`) terms count too.
    pub term: Option<String>,
    pub listing: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/search",
    operation_id = "search_catalog",
    tag = "search",
    params(
        SearchParams,
    ),
    responses(
        (status = 200, description = "OK", body = SearchResults),
        crate::error::ApiErrors,
    ),
)]
async fn search_catalog(
    State(state): State<AppState>,
    caller: Caller,
    Params(p): Params<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    Ok(Json(search(&state, &caller, p).await?))
}

/// Searches the catalog as `caller` (see [`search`]).
pub async fn search(
    state: &AppState,
    caller: &Caller,
    p: SearchParams,
) -> ApiResult<SearchResults> {
    if p.q.len() > 1024 {
        return Err(ApiError::bad_request(
            "q: the search text is longer than 1024 bytes",
        ));
    }
    let limit = p.limit.unwrap_or(search::DEFAULT_LIMIT);
    if limit == 0 || limit > search::MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {}",
            search::MAX_LIMIT
        )));
    }
    let mut query = SearchQuery {
        text: p.q,
        limit,
        offset: p.offset.unwrap_or(0).min(10_000),
        ..Default::default()
    };
    if let Some(domain) = &p.domain {
        let d = lookup::domain_by_name(state, domain).await?;
        let names = Names::load(state.store.as_ref()).await?;
        query.domain_path = Some(names.domain_path(d.id));
    }
    if let Some(team) = &p.team {
        lookup::split_qualified(team, "team")?;
        query.team = Some(team.clone());
    }
    if let Some(tags) = &p.tag {
        query.tags = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
    }
    query.classification = parse_classification(p.classification.as_deref())?;
    if let Some(term) = &p.term {
        let (g, t) = glossary::term_by_qualified(state, term).await?;
        let names = Names::load(state.store.as_ref()).await?;
        let relations = state.store.term_relations().await?;
        let mut terms = vec![format!("{}.{}", g.name, t.name)];
        for narrower in glossary::narrower_closure(&relations, t.id) {
            terms.push(names.term(narrower));
        }
        query.terms = terms;
    }
    if let Some(l) = &p.listing {
        query.listing = Some(l.parse::<ListingState>().map_err(|_| {
            ApiError::bad_request(format!(
                "listing: unknown listing state `{l}`; use draft, published or unpublished"
            ))
        })?);
    }
    let viewer = if caller.actor.is_admin {
        Viewer::Admin
    } else {
        Viewer::Member {
            teams: caller.team_ids(),
        }
    };
    let catalog = state.catalog.clone();
    tokio::task::spawn_blocking(move || catalog.index.search(&viewer, &query))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}
