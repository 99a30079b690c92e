//! The rule table of the crate docs as (actor, action, resource, expected) cases, checked
//! against the shipped policies; plus the schema/policy validation that makes a typo in
//! `policies/` fail here, and a property test against a plain-Rust reference model.

use std::collections::BTreeSet;
use std::mem::discriminant;
use std::sync::LazyLock;

use meshgate_core::model::{PrincipalKind, TeamRole};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

// Fixture ids.
const DOMAIN: u128 = 1;
const OTHER_DOMAIN: u128 = 2;
const PRODUCT_TEAM: u128 = 10; // owns the product
const REQUESTER_TEAM: u128 = 11; // requests access to it
const OTHER_TEAM: u128 = 12;
const PRODUCT: u128 = 20;
const TEAM_SHARE: u128 = 30; // requested by REQUESTER_TEAM
const SERVICE_SHARE: u128 = 31; // requested by the service principal SERVICE
const GROUP_SHARE: u128 = 32; // requested by the group principal GROUP
const SERVICE: u128 = 100;
const GROUP: u128 = 101;

fn actor(n: u128, kind: PrincipalKind, teams: &[(u128, TeamRole)]) -> Actor {
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

fn user(n: u128, teams: &[(u128, TeamRole)]) -> Actor {
    actor(n, PrincipalKind::User, teams)
}

fn admin() -> Actor {
    Actor {
        is_admin: true,
        ..user(200, &[])
    }
}
fn outsider() -> Actor {
    user(201, &[])
}
fn product_owner() -> Actor {
    user(202, &[(PRODUCT_TEAM, TeamRole::Owner)])
}
fn product_steward() -> Actor {
    user(203, &[(PRODUCT_TEAM, TeamRole::Steward)])
}
fn product_member() -> Actor {
    user(204, &[(PRODUCT_TEAM, TeamRole::Member)])
}
fn requester_owner() -> Actor {
    user(205, &[(REQUESTER_TEAM, TeamRole::Owner)])
}
fn requester_member() -> Actor {
    user(206, &[(REQUESTER_TEAM, TeamRole::Member)])
}
fn other_owner() -> Actor {
    user(207, &[(OTHER_TEAM, TeamRole::Owner)])
}
fn service() -> Actor {
    actor(SERVICE, PrincipalKind::Service, &[])
}
fn other_service() -> Actor {
    actor(102, PrincipalKind::Service, &[])
}
fn group_member() -> Actor {
    Actor {
        groups: vec![id(GROUP)],
        ..user(208, &[])
    }
}

fn mesh() -> Resource {
    Resource::Mesh
}
fn domain() -> Resource {
    Resource::Domain { id: id(DOMAIN) }
}
fn team(n: u128) -> Resource {
    Resource::Team {
        id: id(n),
        domain_id: id(DOMAIN),
    }
}
fn principal(n: u128) -> Resource {
    Resource::Principal { id: id(n) }
}
fn product() -> Resource {
    Resource::Product {
        id: id(PRODUCT),
        team_id: id(PRODUCT_TEAM),
        domain_id: id(DOMAIN),
    }
}
fn share(n: u128, requester_team: Option<u128>, requester_principal: Option<u128>) -> Resource {
    Resource::Share {
        id: id(n),
        product_id: id(PRODUCT),
        product_team_id: id(PRODUCT_TEAM),
        product_domain_id: id(DOMAIN),
        requester_team_id: requester_team.map(id),
        requester_principal_id: requester_principal.map(id),
    }
}
fn team_share() -> Resource {
    share(TEAM_SHARE, Some(REQUESTER_TEAM), None)
}
fn service_share() -> Resource {
    share(SERVICE_SHARE, None, Some(SERVICE))
}
fn group_share() -> Resource {
    share(GROUP_SHARE, None, Some(GROUP))
}

/// A resource of the kind each action applies to. The `match` is exhaustive, so a new
/// action does not compile until it is placed here (and so in the admin/outsider tests).
fn sample_resource(action: Action) -> Resource {
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

const APPROVER_ACTIONS: &[Action] = &[
    Action::ApproveShare,
    Action::RejectShare,
    Action::ModifyShare,
    Action::ReapplyShare,
];
const REQUESTER_ACTIONS: &[Action] = &[
    Action::SubmitShare,
    Action::ExtendShare,
    Action::CancelShare,
    Action::AddShareItem,
    Action::RemoveShareItem,
];
const EITHER_ACTIONS: &[Action] = &[
    Action::ViewShare,
    Action::RevokeShare,
    Action::VerifyShare,
    Action::ReadShareLogs,
    Action::DeleteShare,
];

type Case = (&'static str, Actor, Action, Resource, bool);

fn cases() -> Vec<Case> {
    use Action::*;
    let mut cases: Vec<Case> = vec![
        // Mesh-wide.
        ("anyone views the mesh", outsider(), ViewMesh, mesh(), true),
        (
            "anyone views a domain",
            outsider(),
            ViewMesh,
            domain(),
            true,
        ),
        (
            "anyone views a team",
            service(),
            ViewMesh,
            team(OTHER_TEAM),
            true,
        ),
        (
            "anyone views a principal",
            outsider(),
            ViewMesh,
            principal(SERVICE),
            true,
        ),
        ("admin reads the audit", admin(), ReadAudit, mesh(), true),
        (
            "non-admin cannot read the audit",
            outsider(),
            ReadAudit,
            mesh(),
            false,
        ),
        (
            "an owner cannot read the audit",
            product_owner(),
            ReadAudit,
            mesh(),
            false,
        ),
        (
            "admin creates a domain",
            admin(),
            CreateDomain,
            mesh(),
            true,
        ),
        (
            "non-admin cannot create a domain",
            product_owner(),
            CreateDomain,
            mesh(),
            false,
        ),
        (
            "admin updates a domain",
            admin(),
            UpdateDomain,
            domain(),
            true,
        ),
        (
            "non-admin cannot update a domain",
            product_owner(),
            UpdateDomain,
            domain(),
            false,
        ),
        (
            "admin creates a principal",
            admin(),
            CreatePrincipal,
            mesh(),
            true,
        ),
        (
            "non-admin cannot create a principal",
            service(),
            CreatePrincipal,
            mesh(),
            false,
        ),
        ("admin creates a team", admin(), CreateTeam, domain(), true),
        (
            "non-admin cannot create a team",
            product_owner(),
            CreateTeam,
            domain(),
            false,
        ),
        // Teams.
        (
            "owner manages members",
            product_owner(),
            ManageTeamMembers,
            team(PRODUCT_TEAM),
            true,
        ),
        (
            "steward cannot manage members",
            product_steward(),
            ManageTeamMembers,
            team(PRODUCT_TEAM),
            false,
        ),
        (
            "member cannot manage members",
            product_member(),
            ManageTeamMembers,
            team(PRODUCT_TEAM),
            false,
        ),
        (
            "another team's owner cannot manage members",
            other_owner(),
            ManageTeamMembers,
            team(PRODUCT_TEAM),
            false,
        ),
        (
            "owner creates a product",
            product_owner(),
            CreateProduct,
            team(PRODUCT_TEAM),
            true,
        ),
        (
            "steward creates a product",
            product_steward(),
            CreateProduct,
            team(PRODUCT_TEAM),
            true,
        ),
        (
            "member cannot create a product",
            product_member(),
            CreateProduct,
            team(PRODUCT_TEAM),
            false,
        ),
        (
            "another team's owner cannot create a product",
            other_owner(),
            CreateProduct,
            team(PRODUCT_TEAM),
            false,
        ),
        // Products.
        (
            "owner updates the product",
            product_owner(),
            UpdateProduct,
            product(),
            true,
        ),
        (
            "steward updates the product",
            product_steward(),
            UpdateProduct,
            product(),
            true,
        ),
        (
            "member cannot update the product",
            product_member(),
            UpdateProduct,
            product(),
            false,
        ),
        (
            "another team's owner cannot update the product",
            other_owner(),
            UpdateProduct,
            product(),
            false,
        ),
        (
            "owner appends data",
            product_owner(),
            AppendData,
            product(),
            true,
        ),
        (
            "steward appends data",
            product_steward(),
            AppendData,
            product(),
            true,
        ),
        (
            "member cannot append data",
            product_member(),
            AppendData,
            product(),
            false,
        ),
        (
            "requester cannot append data",
            requester_owner(),
            AppendData,
            product(),
            false,
        ),
        (
            "owner deletes the product",
            product_owner(),
            DeleteProduct,
            product(),
            true,
        ),
        (
            "steward cannot delete the product",
            product_steward(),
            DeleteProduct,
            product(),
            false,
        ),
        (
            "member cannot delete the product",
            product_member(),
            DeleteProduct,
            product(),
            false,
        ),
        (
            "another team's owner cannot delete the product",
            other_owner(),
            DeleteProduct,
            product(),
            false,
        ),
        (
            "anyone views product metadata",
            outsider(),
            ViewProduct,
            product(),
            true,
        ),
        // Catalog.
        (
            "owner publishes the product",
            product_owner(),
            PublishProduct,
            product(),
            true,
        ),
        (
            "steward publishes the product",
            product_steward(),
            PublishProduct,
            product(),
            true,
        ),
        (
            "member cannot publish the product",
            product_member(),
            PublishProduct,
            product(),
            false,
        ),
        (
            "another team's owner cannot publish the product",
            other_owner(),
            PublishProduct,
            product(),
            false,
        ),
        (
            "admin manages the catalog",
            admin(),
            ManageCatalog,
            mesh(),
            true,
        ),
        (
            "an owner cannot manage the catalog",
            product_owner(),
            ManageCatalog,
            mesh(),
            false,
        ),
        (
            "admin declares external locations",
            admin(),
            ManageExternalLocations,
            mesh(),
            true,
        ),
        (
            "an owner cannot declare external locations",
            product_owner(),
            ManageExternalLocations,
            mesh(),
            false,
        ),
        // Requests.
        (
            "member requests for its team",
            requester_member(),
            RequestAccess,
            team(REQUESTER_TEAM),
            true,
        ),
        (
            "owner requests for its team",
            requester_owner(),
            RequestAccess,
            team(REQUESTER_TEAM),
            true,
        ),
        (
            "non-member cannot request for a team",
            outsider(),
            RequestAccess,
            team(REQUESTER_TEAM),
            false,
        ),
        (
            "another team's owner cannot request for a team",
            other_owner(),
            RequestAccess,
            team(REQUESTER_TEAM),
            false,
        ),
        (
            "service requests for itself",
            service(),
            RequestAccessForSelf,
            principal(SERVICE),
            true,
        ),
        (
            "service cannot request for another principal",
            other_service(),
            RequestAccessForSelf,
            principal(SERVICE),
            false,
        ),
        (
            "user cannot request for itself",
            outsider(),
            RequestAccessForSelf,
            principal(201),
            false,
        ),
        (
            "group member cannot request for its group",
            group_member(),
            RequestAccessForSelf,
            principal(GROUP),
            false,
        ),
        // Tokens.
        (
            "principal creates its own token",
            outsider(),
            CreateToken,
            principal(201),
            true,
        ),
        (
            "principal lists its own tokens",
            service(),
            ListTokens,
            principal(SERVICE),
            true,
        ),
        (
            "principal revokes its own token",
            service(),
            RevokeToken,
            principal(SERVICE),
            true,
        ),
        (
            "principal cannot create a token for another",
            outsider(),
            CreateToken,
            principal(SERVICE),
            false,
        ),
        (
            "principal cannot list another's tokens",
            other_service(),
            ListTokens,
            principal(SERVICE),
            false,
        ),
        (
            "principal cannot revoke another's token",
            product_owner(),
            RevokeToken,
            principal(SERVICE),
            false,
        ),
        (
            "group member cannot create its group's token",
            group_member(),
            CreateToken,
            principal(GROUP),
            false,
        ),
        (
            "admin creates a token for another",
            admin(),
            CreateToken,
            principal(SERVICE),
            true,
        ),
        (
            "admin revokes another's token",
            admin(),
            RevokeToken,
            principal(SERVICE),
            true,
        ),
        // A resource kind the action does not apply to is denied, even to an admin.
        (
            "approve on the mesh is denied",
            admin(),
            ApproveShare,
            mesh(),
            false,
        ),
        (
            "token on a team is denied",
            admin(),
            CreateToken,
            team(PRODUCT_TEAM),
            false,
        ),
    ];

    // Shares: each approver action, each requester action, each action open to both.
    for &action in APPROVER_ACTIONS {
        cases.extend([
            (
                "owner approves",
                product_owner(),
                action,
                team_share(),
                true,
            ),
            (
                "steward approves",
                product_steward(),
                action,
                team_share(),
                true,
            ),
            (
                "member cannot approve",
                product_member(),
                action,
                team_share(),
                false,
            ),
            (
                "another team's owner cannot approve",
                other_owner(),
                action,
                team_share(),
                false,
            ),
            (
                "requester owner cannot approve",
                requester_owner(),
                action,
                team_share(),
                false,
            ),
            (
                "requesting service cannot approve",
                service(),
                action,
                service_share(),
                false,
            ),
            (
                "outsider cannot approve",
                outsider(),
                action,
                team_share(),
                false,
            ),
            ("admin approves", admin(), action, team_share(), true),
        ]);
    }
    for &action in REQUESTER_ACTIONS {
        cases.extend([
            (
                "requesting member submits",
                requester_member(),
                action,
                team_share(),
                true,
            ),
            (
                "requesting owner submits",
                requester_owner(),
                action,
                team_share(),
                true,
            ),
            (
                "requesting service submits",
                service(),
                action,
                service_share(),
                true,
            ),
            (
                "group member submits the group's share",
                group_member(),
                action,
                group_share(),
                true,
            ),
            (
                "another service cannot submit",
                other_service(),
                action,
                service_share(),
                false,
            ),
            (
                "approver cannot submit",
                product_owner(),
                action,
                team_share(),
                false,
            ),
            (
                "steward cannot submit",
                product_steward(),
                action,
                team_share(),
                false,
            ),
            (
                "another team's owner cannot submit",
                other_owner(),
                action,
                team_share(),
                false,
            ),
            (
                "outsider cannot submit",
                outsider(),
                action,
                team_share(),
                false,
            ),
            ("admin submits", admin(), action, team_share(), true),
        ]);
    }
    for &action in EITHER_ACTIONS {
        cases.extend([
            (
                "owner (approver)",
                product_owner(),
                action,
                team_share(),
                true,
            ),
            (
                "steward (approver)",
                product_steward(),
                action,
                team_share(),
                true,
            ),
            (
                "requesting member",
                requester_member(),
                action,
                team_share(),
                true,
            ),
            (
                "requesting service",
                service(),
                action,
                service_share(),
                true,
            ),
            (
                "group member of requesting group",
                group_member(),
                action,
                group_share(),
                true,
            ),
            (
                "product team member is neither",
                product_member(),
                action,
                team_share(),
                false,
            ),
            (
                "another team's owner is neither",
                other_owner(),
                action,
                team_share(),
                false,
            ),
            (
                "another service is neither",
                other_service(),
                action,
                service_share(),
                false,
            ),
            (
                "group member is not the team's requester",
                group_member(),
                action,
                team_share(),
                false,
            ),
            (
                "outsider is neither",
                outsider(),
                action,
                team_share(),
                false,
            ),
            ("admin", admin(), action, team_share(), true),
        ]);
    }
    cases
}

fn schema() -> Schema {
    Schema::from_cedarschema_str(SCHEMA).unwrap().0
}

#[test]
fn shipped_policies_validate_against_the_schema_in_strict_mode() {
    let (schema, warnings) = Schema::from_cedarschema_str(SCHEMA).unwrap();
    let warnings: Vec<String> = warnings.map(|w| w.to_string()).collect();
    assert!(warnings.is_empty(), "schema warnings: {warnings:?}");

    let policies: PolicySet = POLICIES.parse().unwrap();
    let result = Validator::new(schema).validate(&policies, ValidationMode::Strict);
    let problems: Vec<String> = result
        .validation_errors()
        .map(|e| e.to_string())
        .chain(result.validation_warnings().map(|w| w.to_string()))
        .collect();
    assert!(problems.is_empty(), "policy validation: {problems:?}");
    assert!(result.validation_passed());
}

#[test]
fn a_policy_that_does_not_type_check_is_rejected() {
    // Guards the guard: strict validation must catch a misspelt attribute.
    let schema = schema();
    let bad: PolicySet = r#"permit (principal, action == Action::"ApproveShare", resource is Share)
        when { principal.approvers_of.contains(resource.product_team) };"#
        .parse()
        .unwrap();
    let result = Validator::new(schema).validate(&bad, ValidationMode::Strict);
    assert!(!result.validation_passed());
}

#[test]
fn actions_match_the_schema_one_to_one() {
    let schema = schema();
    let in_schema: BTreeSet<String> = schema
        .actions()
        .map(|uid| uid.id().unescaped().to_owned())
        .collect();
    let in_code: BTreeSet<String> = Action::ALL.iter().map(|a| a.name().to_owned()).collect();
    assert_eq!(in_schema, in_code);
    for (i, action) in Action::ALL.iter().enumerate() {
        assert_eq!(
            *action as usize, i,
            "Action::ALL must be in declaration order"
        );
    }
}

#[test]
fn rule_table() {
    let authz = Authorizer::new().unwrap();
    let mut wrong = Vec::new();
    for (what, actor, action, resource, expected) in cases() {
        // Strict: entities and request checked against the schema, every policy evaluated.
        let strict = authz.decide(&actor, action, &resource, true);
        let fast = authz.is_allowed(&actor, action, &resource);
        match strict {
            Ok(decided) if decided == expected && fast == expected => {}
            // Cedar's request validation refuses an action on a resource kind it does not
            // apply to; that is a denial, but only for such cases.
            Err(Failure::Request)
                if !expected
                    && matches!(
                        authz.decide(&actor, action, &resource, false),
                        Err(Failure::NotApplicable)
                    )
                    && !fast
                    && discriminant(&resource) != discriminant(&sample_resource(action)) => {}
            other => wrong.push(format!(
                "{what}: {action:?} on {resource:?}: expected {expected}, got {other:?} / {fast}"
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn admin_may_do_every_action_and_an_outsider_only_views() {
    let authz = Authorizer::new().unwrap();
    for &action in Action::ALL {
        let resource = sample_resource(action);
        assert!(
            authz.is_allowed(&admin(), action, &resource),
            "admin {action:?}"
        );
        let viewer = matches!(action, Action::ViewMesh | Action::ViewProduct);
        assert_eq!(
            authz.is_allowed(&outsider(), action, &resource),
            viewer,
            "outsider {action:?}"
        );
    }
}

#[test]
fn authorizer_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Authorizer>();
}

// --- Property test: the Cedar decision equals a plain-Rust statement of the rules. ---

/// The rules of LIFECYCLE.md "Who may act", written without Cedar.
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
