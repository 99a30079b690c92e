//! The fixtures the authorizer's tests are written with: ids, actors with their team roles,
//! resources, a sample resource for every action, and the share actions grouped by who may
//! take them.

use meshgate_core::model::{PrincipalKind, TeamRole};
use uuid::Uuid;

use crate::request::{Action, Actor, Membership, Resource};

pub(super) fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

// Fixture ids.
pub(super) const DOMAIN: u128 = 1;
pub(super) const OTHER_DOMAIN: u128 = 2;
pub(super) const PRODUCT_TEAM: u128 = 10; // owns the product
pub(super) const REQUESTER_TEAM: u128 = 11; // requests access to it
pub(super) const OTHER_TEAM: u128 = 12;
pub(super) const PRODUCT: u128 = 20;
pub(super) const TEAM_SHARE: u128 = 30; // requested by REQUESTER_TEAM
pub(super) const SERVICE_SHARE: u128 = 31; // requested by the service principal SERVICE
pub(super) const GROUP_SHARE: u128 = 32; // requested by the group principal GROUP
pub(super) const SERVICE: u128 = 100;
pub(super) const GROUP: u128 = 101;

pub(super) fn actor(n: u128, kind: PrincipalKind, teams: &[(u128, TeamRole)]) -> Actor {
    Actor {
        id: id(n),
        kind,
        is_admin: false,
        teams: teams
            .iter()
            .map(|&(team, role)| Membership {
                team_id: id(team),
                domain_id: id(if team == REQUESTER_TEAM {
                    OTHER_DOMAIN
                } else {
                    DOMAIN
                }),
                role,
            })
            .collect(),
        groups: vec![],
    }
}

pub(super) fn user(n: u128, teams: &[(u128, TeamRole)]) -> Actor {
    actor(n, PrincipalKind::User, teams)
}

pub(super) fn admin() -> Actor {
    Actor {
        is_admin: true,
        ..user(200, &[])
    }
}
pub(super) fn outsider() -> Actor {
    user(201, &[])
}
pub(super) fn product_owner() -> Actor {
    user(202, &[(PRODUCT_TEAM, TeamRole::Owner)])
}
pub(super) fn product_steward() -> Actor {
    user(203, &[(PRODUCT_TEAM, TeamRole::Steward)])
}
pub(super) fn product_member() -> Actor {
    user(204, &[(PRODUCT_TEAM, TeamRole::Member)])
}
pub(super) fn requester_owner() -> Actor {
    user(205, &[(REQUESTER_TEAM, TeamRole::Owner)])
}
pub(super) fn requester_member() -> Actor {
    user(206, &[(REQUESTER_TEAM, TeamRole::Member)])
}
pub(super) fn other_owner() -> Actor {
    user(207, &[(OTHER_TEAM, TeamRole::Owner)])
}
pub(super) fn service() -> Actor {
    actor(SERVICE, PrincipalKind::Service, &[])
}
pub(super) fn other_service() -> Actor {
    actor(102, PrincipalKind::Service, &[])
}
pub(super) fn group_member() -> Actor {
    Actor {
        groups: vec![id(GROUP)],
        ..user(208, &[])
    }
}

pub(super) fn mesh() -> Resource {
    Resource::Mesh
}
pub(super) fn domain() -> Resource {
    Resource::Domain { id: id(DOMAIN) }
}
pub(super) fn team(n: u128) -> Resource {
    Resource::Team {
        id: id(n),
        domain_id: id(DOMAIN),
    }
}
pub(super) fn principal(n: u128) -> Resource {
    Resource::Principal { id: id(n) }
}
pub(super) fn product() -> Resource {
    Resource::Product {
        id: id(PRODUCT),
        team_id: id(PRODUCT_TEAM),
        domain_id: id(DOMAIN),
    }
}
pub(super) fn share(
    n: u128,
    requester_team: Option<u128>,
    requester_principal: Option<u128>,
) -> Resource {
    Resource::Share {
        id: id(n),
        product_id: id(PRODUCT),
        product_team_id: id(PRODUCT_TEAM),
        product_domain_id: id(DOMAIN),
        requester_team_id: requester_team.map(id),
        requester_principal_id: requester_principal.map(id),
    }
}
pub(super) fn team_share() -> Resource {
    share(TEAM_SHARE, Some(REQUESTER_TEAM), None)
}
pub(super) fn service_share() -> Resource {
    share(SERVICE_SHARE, None, Some(SERVICE))
}
pub(super) fn group_share() -> Resource {
    share(GROUP_SHARE, None, Some(GROUP))
}

/// A resource of the kind each action applies to. The `match` is exhaustive, so a new
/// action does not compile until it is placed here (and so in the admin/outsider tests).
pub(super) fn sample_resource(action: Action) -> Resource {
    use Action::*;
    match action {
        ViewMesh
        | ReadAudit
        | CreateDomain
        | CreatePrincipal
        | ManageCatalog
        | ManageExternalLocations => mesh(),
        UpdateDomain | CreateTeam => domain(),
        ManageTeamMembers | CreateProduct | RequestAccess => team(PRODUCT_TEAM),
        UpdateProduct | AppendData | DeleteProduct | ViewProduct | PublishProduct => product(),
        RequestAccessForSelf | CreateToken | ListTokens | RevokeToken => principal(SERVICE),
        ViewShare | ApproveShare | RejectShare | ModifyShare | ReapplyShare | SubmitShare
        | ExtendShare | CancelShare | AddShareItem | RemoveShareItem | RevokeShare
        | VerifyShare | ReadShareLogs | DeleteShare => team_share(),
    }
}

pub(super) const APPROVER_ACTIONS: &[Action] = &[
    Action::ApproveShare,
    Action::RejectShare,
    Action::ModifyShare,
    Action::ReapplyShare,
];
pub(super) const REQUESTER_ACTIONS: &[Action] = &[
    Action::SubmitShare,
    Action::ExtendShare,
    Action::CancelShare,
    Action::AddShareItem,
    Action::RemoveShareItem,
];
pub(super) const EITHER_ACTIONS: &[Action] = &[
    Action::ViewShare,
    Action::RevokeShare,
    Action::VerifyShare,
    Action::ReadShareLogs,
    Action::DeleteShare,
];
