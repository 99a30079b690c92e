//! Property test: the Cedar decision equals a plain-Rust statement of the rules
//! (docs/design/LIFECYCLE.md §Who may act), on random actors, actions and resources drawn
//! from a small pool of ids.

use std::sync::LazyLock;

use meshgate_core::model::{PrincipalKind, TeamRole};
use proptest::prelude::*;
use uuid::Uuid;

use super::fixtures::{APPROVER_ACTIONS, EITHER_ACTIONS, REQUESTER_ACTIONS, id};
use crate::authorizer::{Authorizer, Failure};
use crate::request::{Action, Actor, Membership, Resource};

/// The rules of docs/design/LIFECYCLE.md §Who may act, written without Cedar.
fn reference(actor: &Actor, action: Action, resource: &Resource) -> bool {
    use Action::*;
    let role_in = |team: Uuid| {
        actor
            .teams
            .iter()
            .filter(move |m| m.team_id == team)
            .map(|m| m.role)
    };
    let owner = |team| role_in(team).any(|r| r == TeamRole::Owner);
    let approver = |team| role_in(team).any(TeamRole::is_approver);
    let member = |team| role_in(team).next().is_some();
    let applies = match (action, resource) {
        (
            ViewMesh,
            Resource::Mesh
            | Resource::Domain { .. }
            | Resource::Team { .. }
            | Resource::Principal { .. },
        ) => true,
        (
            ReadAudit | CreateDomain | CreatePrincipal | ManageCatalog | ManageExternalLocations,
            Resource::Mesh,
        ) => true,
        (UpdateDomain | CreateTeam, Resource::Domain { .. }) => true,
        (ManageTeamMembers | CreateProduct | RequestAccess, Resource::Team { .. }) => true,
        (
            UpdateProduct | AppendData | DeleteProduct | ViewProduct | PublishProduct,
            Resource::Product { .. },
        ) => true,
        (
            RequestAccessForSelf | CreateToken | ListTokens | RevokeToken,
            Resource::Principal { .. },
        ) => true,
        (_, Resource::Share { .. }) => {
            APPROVER_ACTIONS.contains(&action)
                || REQUESTER_ACTIONS.contains(&action)
                || EITHER_ACTIONS.contains(&action)
        }
        _ => false,
    };
    if !applies {
        return false;
    }
    if actor.is_admin {
        return true;
    }
    match *resource {
        Resource::Mesh | Resource::Domain { .. } => action == ViewMesh,
        Resource::Team { id, .. } => match action {
            ViewMesh => true,
            ManageTeamMembers => owner(id),
            CreateProduct => approver(id),
            RequestAccess => member(id),
            _ => false,
        },
        Resource::Principal { id } => match action {
            ViewMesh => true,
            RequestAccessForSelf => id == actor.id && actor.kind == PrincipalKind::Service,
            CreateToken | ListTokens | RevokeToken => id == actor.id,
            _ => false,
        },
        Resource::Product { team_id, .. } => match action {
            ViewProduct => true,
            UpdateProduct | AppendData | PublishProduct => approver(team_id),
            DeleteProduct => owner(team_id),
            _ => false,
        },
        Resource::Share {
            product_team_id,
            requester_team_id,
            requester_principal_id,
            ..
        } => {
            let is_approver = approver(product_team_id);
            let is_requester = requester_team_id.is_some_and(member)
                || requester_principal_id
                    .is_some_and(|p| p == actor.id || actor.groups.contains(&p));
            (is_approver
                && (APPROVER_ACTIONS.contains(&action) || EITHER_ACTIONS.contains(&action)))
                || (is_requester
                    && (REQUESTER_ACTIONS.contains(&action) || EITHER_ACTIONS.contains(&action)))
        }
    }
}

/// Ids from a small pool, so that actors and resources often refer to the same teams.
fn small_id() -> impl Strategy<Value = Uuid> {
    (1u128..=4).prop_map(id)
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    let role = prop_oneof![
        Just(TeamRole::Owner),
        Just(TeamRole::Steward),
        Just(TeamRole::Member)
    ];
    let kind = prop_oneof![
        Just(PrincipalKind::User),
        Just(PrincipalKind::Group),
        Just(PrincipalKind::Service)
    ];
    let membership =
        (small_id(), small_id(), role).prop_map(|(team_id, domain_id, role)| Membership {
            team_id,
            domain_id,
            role,
        });
    (
        small_id(),
        kind,
        prop::bool::weighted(0.1),
        prop::collection::vec(membership, 0..4),
        prop::collection::vec(small_id(), 0..2),
    )
        .prop_map(|(id, kind, is_admin, teams, groups)| Actor {
            id,
            kind,
            is_admin,
            teams,
            groups,
        })
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    prop_oneof![
        Just(Resource::Mesh),
        small_id().prop_map(|id| Resource::Domain { id }),
        (small_id(), small_id()).prop_map(|(id, domain_id)| Resource::Team { id, domain_id }),
        small_id().prop_map(|id| Resource::Principal { id }),
        (small_id(), small_id(), small_id()).prop_map(|(id, team_id, domain_id)| {
            Resource::Product {
                id,
                team_id,
                domain_id,
            }
        }),
        (
            small_id(),
            small_id(),
            small_id(),
            prop::option::of(small_id()),
            prop::option::of(small_id())
        )
            .prop_map(
                |(
                    id,
                    product_team_id,
                    product_domain_id,
                    requester_team_id,
                    requester_principal_id,
                )| {
                    Resource::Share {
                        id,
                        product_id: id,
                        product_team_id,
                        product_domain_id,
                        requester_team_id,
                        requester_principal_id,
                    }
                }
            ),
    ]
}

static AUTHZ: LazyLock<Authorizer> = LazyLock::new(|| Authorizer::new().unwrap());

proptest! {
    #[test]
    fn cedar_agrees_with_the_reference_model(
        actor in arb_actor(),
        action in prop::sample::select(Action::ALL),
        resource in arb_resource(),
    ) {
        let expected = reference(&actor, action, &resource);
        prop_assert_eq!(
            AUTHZ.is_allowed(&actor, action, &resource),
            expected,
            "fast path: {:?} {:?} {:?}", actor, action, resource
        );
        // The strict path (unsliced entities, everything validated, every policy) agrees;
        // it fails only where the schema says the action does not apply.
        let strict = AUTHZ.decide(&actor, action, &resource, true);
        prop_assert!(
            matches!(strict, Ok(d) if d == expected) || (!expected && matches!(strict, Err(Failure::Request))),
            "strict path: {:?} for {:?} {:?} {:?}", strict, actor, action, resource
        );
    }
}
