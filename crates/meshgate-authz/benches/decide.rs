//! B6 of docs/design/BENCHMARKS.md: one control-plane authorization decision (target p50 ≤ 5 µs).
//! The typical hot decision: an approver (a steward of the product's team, member of a
//! few other teams) approving a team's share. Criterion's reported median is the p50. The
//! authorizer keeps each actor's entity and decisions: the first two benches ask what was
//! asked before (a kept decision), "new share" a new question of a known actor (its entity
//! kept, the decision Cedar's), "new actor" a question of an actor not seen before (the
//! entity built and kept, then Cedar's decision).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use meshgate_authz::{Action, Actor, Authorizer, Membership, Resource};
use meshgate_core::model::{PrincipalKind, TeamRole};
use uuid::Uuid;

fn decide(c: &mut Criterion) {
    let Ok(authz) = Authorizer::new() else {
        eprintln!("the shipped policies do not load; run the tests");
        return;
    };
    let domain = Uuid::now_v7();
    let product_team = Uuid::now_v7();
    let membership = |team_id, role| Membership {
        team_id,
        domain_id: domain,
        role,
    };
    let approver = Actor {
        id: Uuid::now_v7(),
        kind: PrincipalKind::User,
        is_admin: false,
        teams: vec![
            membership(Uuid::now_v7(), TeamRole::Member),
            membership(product_team, TeamRole::Steward),
            membership(Uuid::now_v7(), TeamRole::Owner),
        ],
        groups: vec![Uuid::now_v7()],
    };
    let (product, requester_team) = (Uuid::now_v7(), Uuid::now_v7());
    // A share of the product to the requesting team; `id` tells one from another.
    let share_of = |id| Resource::Share {
        id,
        product_id: product,
        product_team_id: product_team,
        product_domain_id: domain,
        requester_team_id: Some(requester_team),
        requester_principal_id: None,
    };
    let share = share_of(Uuid::now_v7());
    let outsider = Actor {
        teams: vec![],
        groups: vec![],
        ..approver.clone()
    };
    if !authz.is_allowed(&approver, Action::ApproveShare, &share)
        || authz.is_allowed(&outsider, Action::ApproveShare, &share)
    {
        eprintln!("unexpected decision; the bench would measure the wrong path");
        return;
    }

    c.bench_function("B6 approver approves share (allow)", |b| {
        b.iter(|| {
            authz.is_allowed(
                black_box(&approver),
                black_box(Action::ApproveShare),
                black_box(&share),
            )
        })
    });
    // A decision not taken before (another share of the same product), for an actor whose
    // entity is kept: what a list filtered item by item costs per item.
    let mut k = 0u128;
    c.bench_function("B6 approver approves share (allow), new share", |b| {
        b.iter(|| {
            k += 1;
            let other = share_of(Uuid::from_u128(k));
            authz.is_allowed(
                black_box(&approver),
                black_box(Action::ApproveShare),
                black_box(&other),
            )
        })
    });
    // The same decision for an actor seen for the first time (its entity is built and kept):
    // what the first check of a request costs when the caller's entity is not kept yet.
    let mut n = 0u128;
    c.bench_function("B6 approver approves share (allow), new actor", |b| {
        b.iter(|| {
            n += 1;
            let fresh = Actor {
                id: Uuid::from_u128(n),
                ..approver.clone()
            };
            authz.is_allowed(
                black_box(&fresh),
                black_box(Action::ApproveShare),
                black_box(&share),
            )
        })
    });
    c.bench_function("B6 non-member approves share (deny)", |b| {
        b.iter(|| {
            authz.is_allowed(
                black_box(&outsider),
                black_box(Action::ApproveShare),
                black_box(&share),
            )
        })
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
