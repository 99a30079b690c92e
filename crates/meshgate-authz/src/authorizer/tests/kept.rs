//! The actor entities the authorizer keeps between decisions: one is reused only for an actor
//! equal in every field, so a membership lost, a role changed, a group left or the admin flag
//! taken away is decided on at once; and the map stays bounded.

use meshgate_core::model::TeamRole;

use super::fixtures::*;
use crate::authorizer::{ActorEntities, Authorizer};
use crate::request::{Action, Actor};

fn kept(authz: &Authorizer) -> usize {
    authz.actors.0.lock().map(|m| m.len()).unwrap_or(usize::MAX)
}

#[test]
fn a_changed_actor_is_decided_on_its_new_memberships() {
    let authz = Authorizer::new().unwrap();
    let steward = user(300, &[(PRODUCT_TEAM, TeamRole::Steward)]);
    let demoted = user(300, &[(PRODUCT_TEAM, TeamRole::Member)]);
    let gone = user(300, &[]);
    let share = team_share();

    assert!(authz.is_allowed(&steward, Action::ApproveShare, &share));
    assert!(authz.is_allowed(&steward, Action::ApproveShare, &share), "kept entity");
    assert_eq!(kept(&authz), 1);
    assert!(!authz.is_allowed(&demoted, Action::ApproveShare, &share));
    assert!(!authz.is_allowed(&gone, Action::ApproveShare, &share));
    assert!(authz.is_allowed(&steward, Action::ApproveShare, &share), "and back");
    assert_eq!(kept(&authz), 1, "one entry per actor id");

    // The admin flag and groups are fields like the memberships.
    let admin = Actor {
        is_admin: true,
        ..gone.clone()
    };
    assert!(authz.is_allowed(&admin, Action::ApproveShare, &share));
    assert!(!authz.is_allowed(&gone, Action::ApproveShare, &share));
    let group_share = group_share();
    let in_group = Actor {
        groups: vec![id(GROUP)],
        ..gone.clone()
    };
    let fresh = Authorizer::new().unwrap();
    for action in [Action::ViewShare, Action::CancelShare] {
        assert_eq!(
            authz.is_allowed(&in_group, action, &group_share),
            fresh.is_allowed(&in_group, action, &group_share),
            "{action:?} in the group"
        );
        assert_eq!(
            authz.is_allowed(&gone, action, &group_share),
            fresh.is_allowed(&gone, action, &group_share),
            "{action:?} after leaving it"
        );
    }
    assert_ne!(
        fresh.is_allowed(&in_group, Action::ViewShare, &group_share),
        fresh.is_allowed(&gone, Action::ViewShare, &group_share),
        "the group must matter to this decision, or the check above proves nothing"
    );
}

#[test]
fn the_kept_entities_stay_bounded() {
    let authz = Authorizer::new().unwrap();
    let share = team_share();
    for n in 0..(ActorEntities::CAPACITY as u128 + 10) {
        let steward = user(10_000 + n, &[(PRODUCT_TEAM, TeamRole::Steward)]);
        assert!(authz.is_allowed(&steward, Action::ApproveShare, &share));
        assert!(kept(&authz) <= ActorEntities::CAPACITY);
    }
    let outsider = user(10_000, &[]);
    assert!(!authz.is_allowed(&outsider, Action::ApproveShare, &share));
}
