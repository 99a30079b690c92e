//! The organisation: domains, their teams and team membership. Operations check, validate
//! and write with their audit event; `routes/org.rs` holds the handlers.

use chrono::Utc;
use meshgate_authz::{Action, Resource};
use meshgate_core::model::{Domain, Team, TeamMember, TeamRole, new_id};
use meshgate_core::names;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::lookup::{audit, authorize, domain_by_name, principal_by_name, team_by_name};
use crate::state::AppState;
use crate::views::{MemberView, TeamView};

// ----- domains and teams -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewDomain {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub producer: bool,
    #[serde(default = "yes")]
    pub consumer: bool,
    /// The domain this one is a unit of.
    #[serde(default)]
    pub parent: Option<String>,
}

fn yes() -> bool {
    true
}

pub async fn create_domain(state: &AppState, caller: &Caller, req: NewDomain) -> ApiResult<Domain> {
    authorize(
        state,
        caller,
        Action::CreateDomain,
        &Resource::Mesh,
        "create domains",
    )?;
    names::validate("domain name", &req.name)?;
    let parent_id = match &req.parent {
        Some(parent) => Some(domain_by_name(state, parent).await?.id),
        None => None,
    };
    let domain = Domain {
        id: new_id(),
        name: req.name,
        description: req.description,
        producer: req.producer,
        consumer: req.consumer,
        created_at: Utc::now(),
        parent_id,
    };
    let event = audit(caller, "domain.create", "domain", domain.id).with_detail(
        json!({"name": domain.name, "producer": domain.producer, "consumer": domain.consumer}),
    );
    state.store.create_domain(&domain, event).await?;
    Ok(domain)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct DomainPatch {
    pub description: Option<String>,
    pub producer: Option<bool>,
    pub consumer: Option<bool>,
}

pub async fn update_domain(
    state: &AppState,
    caller: &Caller,
    name: &str,
    patch: DomainPatch,
) -> ApiResult<Domain> {
    let mut domain = domain_by_name(state, name).await?;
    authorize(
        state,
        caller,
        Action::UpdateDomain,
        &Resource::Domain { id: domain.id },
        "update domains",
    )?;
    let before = (domain.producer, domain.consumer);
    if let Some(d) = patch.description {
        domain.description = d;
    }
    domain.producer = patch.producer.unwrap_or(domain.producer);
    domain.consumer = patch.consumer.unwrap_or(domain.consumer);
    let event = audit(caller, "domain.update", "domain", domain.id).with_detail(json!({
        "from": {"producer": before.0, "consumer": before.1},
        "to": {"producer": domain.producer, "consumer": domain.consumer},
    }));
    state.store.update_domain(&domain, event).await?;
    Ok(domain)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewTeam {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn create_team(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    req: NewTeam,
) -> ApiResult<TeamView> {
    let domain = domain_by_name(state, domain).await?;
    authorize(
        state,
        caller,
        Action::CreateTeam,
        &Resource::Domain { id: domain.id },
        "create teams",
    )?;
    names::validate("team name", &req.name)?;
    let team = Team {
        id: new_id(),
        domain_id: domain.id,
        name: req.name,
        description: req.description,
        created_at: Utc::now(),
    };
    let event = audit(caller, "team.create", "team", team.id)
        .with_detail(json!({"domain": domain.name, "name": team.name}));
    state.store.create_team(&team, event).await?;
    Ok(TeamView::new(team, &domain))
}

/// `GET /domains/{domain}/teams/{team}/members`, for whoever may view the mesh.
pub async fn list_members(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    team: &str,
) -> ApiResult<Vec<MemberView>> {
    view_mesh(state, caller, "list team members")?;
    let (_, t) = team_by_name(state, domain, team).await?;
    let mut out = Vec::new();
    for m in state.store.list_team_members(t.id).await? {
        out.push(MemberView {
            principal: crate::views::name_of_principal(state, m.principal_id).await?,
            role: m.role,
        });
    }
    Ok(out)
}

pub async fn put_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    team: &str,
    principal: &str,
    role: TeamRole,
) -> ApiResult<MemberView> {
    let (d, t) = team_by_name(state, domain, team).await?;
    authorize(
        state,
        caller,
        Action::ManageTeamMembers,
        &Resource::Team {
            id: t.id,
            domain_id: d.id,
        },
        &format!("manage the members of team `{domain}.{team}`"),
    )?;
    let p = principal_by_name(state, principal).await?;
    let event = audit(caller, "team.put_member", "team", t.id)
        .with_detail(json!({"principal": principal, "role": role}));
    state
        .store
        .put_team_member(
            &TeamMember {
                team_id: t.id,
                principal_id: p.id,
                role,
            },
            event,
        )
        .await?;
    Ok(MemberView {
        principal: p.name,
        role,
    })
}

pub async fn remove_member(
    state: &AppState,
    caller: &Caller,
    domain: &str,
    team: &str,
    principal: &str,
) -> ApiResult<()> {
    let (d, t) = team_by_name(state, domain, team).await?;
    authorize(
        state,
        caller,
        Action::ManageTeamMembers,
        &Resource::Team {
            id: t.id,
            domain_id: d.id,
        },
        &format!("manage the members of team `{domain}.{team}`"),
    )?;
    let p = principal_by_name(state, principal).await?;
    let event = audit(caller, "team.remove_member", "team", t.id)
        .with_detail(json!({"principal": principal}));
    state.store.remove_team_member(t.id, p.id, event).await?;
    Ok(())
}

/// The mesh's structure (domains, teams, members) is visible to whoever may view the mesh.
fn view_mesh(state: &AppState, caller: &Caller, what: &str) -> ApiResult<()> {
    authorize(state, caller, Action::ViewMesh, &Resource::Mesh, what)
}

/// `GET /domains`.
pub async fn list_domains(state: &AppState, caller: &Caller) -> ApiResult<Vec<Domain>> {
    view_mesh(state, caller, "list domains")?;
    Ok(state.store.list_domains().await?)
}

/// `GET /domains/{domain}`.
pub async fn get_domain(state: &AppState, caller: &Caller, name: &str) -> ApiResult<Domain> {
    view_mesh(state, caller, "view domains")?;
    domain_by_name(state, name).await
}

/// `GET /domains/{domain}/teams`.
pub async fn list_teams(
    state: &AppState,
    caller: &Caller,
    domain: &str,
) -> ApiResult<Vec<TeamView>> {
    view_mesh(state, caller, "list teams")?;
    let d = domain_by_name(state, domain).await?;
    let teams = state.store.list_teams(Some(d.id)).await?;
    Ok(teams.into_iter().map(|t| TeamView::new(t, &d)).collect())
}
