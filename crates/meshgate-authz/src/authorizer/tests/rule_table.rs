//! The rule table of the crate docs as (actor, action, resource, expected) cases, checked
//! against the shipped policies on both the strict and the fast path; and every action
//! tried by an admin and by an outsider.

use std::mem::discriminant;

use super::fixtures::*;
use crate::authorizer::{Authorizer, Failure};
use crate::request::{Action, Actor, Resource};

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
