//! What the authorizer keeps between decisions (actor entities, decisions): reused only for an
//! actor equal in every field, so a membership lost, a role changed, a group left or the
//! admin flag taken away is decided on at once; and both maps stay bounded.

use meshgate_core::model::TeamRole;

use super::fixtures::*;
use crate::authorizer::{Authorizer, KeptActors};
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
    assert!(
        authz.is_allowed(&steward, Action::ApproveShare, &share),
        "kept entity"
    );
    assert_eq!(kept(&authz), 1);
    assert!(!authz.is_allowed(&demoted, Action::ApproveShare, &share));
    assert!(!authz.is_allowed(&gone, Action::ApproveShare, &share));
    assert!(
        authz.is_allowed(&steward, Action::ApproveShare, &share),
        "and back"
    );
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
    for n in 0..(KeptActors::ACTORS as u128 + 10) {
        let steward = user(10_000 + n, &[(PRODUCT_TEAM, TeamRole::Steward)]);
        assert!(authz.is_allowed(&steward, Action::ApproveShare, &share));
        assert!(kept(&authz) <= KeptActors::ACTORS);
    }
    let outsider = user(10_000, &[]);
    assert!(!authz.is_allowed(&outsider, Action::ApproveShare, &share));
}

#[test]
fn kept_decisions_stay_bounded_and_right_for_every_resource() {
    let authz = Authorizer::new().unwrap();
    let fresh = Authorizer::new().unwrap();
    let steward = user(301, &[(PRODUCT_TEAM, TeamRole::Steward)]);
    // Shares of the steward's product and of another team's, asked twice each (the second
    // time from what was kept), more of them than one actor keeps decisions for.
    for round in 0..2 {
        for n in 0..(2 * KeptActors::DECISIONS as u128) {
            let mut share = share(1_000 + n, Some(REQUESTER_TEAM), None);
            if n % 3 == 0
                && let crate::request::Resource::Share {
                    product_team_id, ..
                } = &mut share
            {
                *product_team_id = id(OTHER_TEAM);
            }
            for action in [Action::ApproveShare, Action::ViewShare, Action::SubmitShare] {
                assert_eq!(
                    authz.is_allowed(&steward, action, &share),
                    fresh
                        .decide(&steward, action, &share, true)
                        .unwrap_or(false),
                    "round {round}, share {n}, {action:?}"
                );
            }
        }
    }
    let kept = authz.actors.0.lock().unwrap();
    let steward_kept = kept.peek(&steward.id).expect("the steward is kept");
    assert!(steward_kept.decisions.len() <= KeptActors::DECISIONS);
}
