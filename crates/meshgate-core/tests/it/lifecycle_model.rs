//! A model-based property test of the share and share-item state machines (docs/design/LIFECYCLE.md).
//!
//! Random sequences of share-level operations run against two implementations of one share
//! with its items:
//!
//! - a **reference model**, deliberately simple and written independently of `lifecycle.rs`:
//!   the share table is transcribed row by row from docs/design/LIFECYCLE.md, and every item move is an
//!   explicit `match` or set written out where the operation needs it;
//! - a small **system under test**, composed only from the public functions of
//!   `meshgate_core::lifecycle` (`share_step`, `item_step`, `item_transition`, `is_shared`,
//!   `is_revokable`, `ShareSummary::from_items`), the way the server composes them.
//!
//! After every step both must agree on the decision (moved, idempotent no-op, or refused and
//! why), the share status, every item status and the summary; a refusal by the share table
//! must name the current state and list exactly the actions the table allows from it.

// Helpers outside the `#[test]` functions (fixtures, servers, assertions) unwrap, expect and
// panic as the tests do; clippy.toml allows that only inside `#[test]` functions and
// `#[cfg(test)]` modules, so the whole test crate allows it here.

use std::collections::BTreeSet;

use meshgate_core::Error;
use meshgate_core::lifecycle::{
    ItemAction, ItemStatus, ItemTarget, ShareAction, ShareStatus, ShareSummary, Step, item_step,
    item_transition, share_step,
};
use proptest::prelude::*;

use ItemStatus as I;
use ShareAction as A;
use ShareStatus as S;

// ----- operations -----

/// A share-level operation, as a person or the worker performs it.
#[derive(Debug, Clone)]
enum Op {
    Submit,
    Approve,
    Reject,
    /// The worker's `start`.
    Start,
    /// The worker's `finish` (or `finish_pending`): the k-th item in progress succeeds iff
    /// `outcomes[k % outcomes.len()]`.
    Finish(Vec<bool>),
    /// Revokes every revokable item.
    Revoke,
    AddItem,
    /// Removes the item at this index (modulo the number of items).
    RemoveItem(usize),
    Extend,
    ApproveExtension,
    CancelExtension,
    RejectExtension,
    Delete,
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Moved,
    /// The idempotency rule: the share already is where the action leads.
    NoOp,
    /// The share table has no row for this action from this state.
    RefusedByTable {
        action: ShareAction,
    },
    /// The table allows it, but the items do not (nothing pending to submit, nothing to
    /// revoke, a shared item blocks delete).
    RefusedByItems,
    /// The item table has no row for this action from the item's state.
    RefusedByItem {
        current: ItemStatus,
    },
    /// The operation names an item and there is none.
    NoItem,
}

// ----- the reference model -----

/// docs/design/LIFECYCLE.md's share table, row by row: the action, the states it may start from, the
/// state it leads to.
const SHARE_TABLE: &[(ShareAction, &[ShareStatus], ShareStatus)] = &[
    (
        A::Submit,
        &[S::Draft, S::Rejected, S::ExtensionRejected],
        S::Submitted,
    ),
    (A::Approve, &[S::Submitted], S::Approved),
    (A::Reject, &[S::Submitted], S::Rejected),
    (A::Start, &[S::Approved], S::ShareInProgress),
    (A::Start, &[S::Revoked], S::RevokeInProgress),
    (
        A::Finish,
        &[S::ShareInProgress, S::RevokeInProgress],
        S::Processed,
    ),
    (A::FinishPending, &[S::RevokeInProgress], S::Draft),
    (
        A::RevokeItems,
        &[
            S::Draft,
            S::Submitted,
            S::Rejected,
            S::Processed,
            S::ExtensionRejected,
        ],
        S::Revoked,
    ),
    (
        A::AddItem,
        &[
            S::Submitted,
            S::Rejected,
            S::Processed,
            S::ExtensionRejected,
        ],
        S::Draft,
    ),
    (
        A::Extend,
        &[S::Processed, S::ExtensionRejected, S::Draft],
        S::SubmittedForExtension,
    ),
    (
        A::ApproveExtension,
        &[S::SubmittedForExtension],
        S::Processed,
    ),
    (
        A::CancelExtension,
        &[S::SubmittedForExtension],
        S::Processed,
    ),
    (
        A::RejectExtension,
        &[S::SubmittedForExtension],
        S::ExtensionRejected,
    ),
    (
        A::Delete,
        &[
            S::Draft,
            S::Submitted,
            S::Rejected,
            S::Processed,
            S::ExtensionRejected,
        ],
        S::Deleted,
    ),
];

/// Actions of the worker (and `add_item`): never idempotent no-ops.
const NEVER_NO_OPS: &[ShareAction] = &[A::Start, A::Finish, A::FinishPending, A::AddItem];

/// "Shared states (block delete and filter edits)".
const SHARED: &[ItemStatus] = &[
    I::ShareSucceeded,
    I::ShareInProgress,
    I::RevokeFailed,
    I::RevokeInProgress,
    I::RevokeApproved,
];

/// "Revokable: share_succeeded, revoke_failed."
const REVOKABLE: &[ItemStatus] = &[I::ShareSucceeded, I::RevokeFailed];

/// The `remove_item` row of the item table.
const REMOVABLE: &[ItemStatus] = &[
    I::PendingApproval,
    I::ShareRejected,
    I::ShareFailed,
    I::RevokeSucceeded,
];

/// The actions the share table allows from `from`, by name.
fn model_allowed(from: ShareStatus) -> BTreeSet<String> {
    SHARE_TABLE
        .iter()
        .filter(|(_, froms, _)| froms.contains(&from))
        .map(|(a, _, _)| a.as_str().to_string())
        .collect()
}

/// The model's share step: `Ok(Some(to))` moves, `Ok(None)` is the idempotent no-op.
fn model_share_step(
    from: ShareStatus,
    action: ShareAction,
) -> Result<Option<ShareStatus>, Outcome> {
    if let Some((_, _, to)) = SHARE_TABLE
        .iter()
        .find(|(a, froms, _)| *a == action && froms.contains(&from))
    {
        return Ok(Some(*to));
    }
    let leads_here = SHARE_TABLE
        .iter()
        .any(|(a, _, to)| *a == action && *to == from);
    if leads_here && !NEVER_NO_OPS.contains(&action) {
        return Ok(None);
    }
    Err(Outcome::RefusedByTable { action })
}

/// The summary as [`ShareSummary`] counts it: (shared, pending, failed, revoked, rejected).
/// Shared: the grant is in force and nothing is under way; pending: work (a decision or the
/// worker) is under way; failed: the last run failed, whatever grant is left.
fn model_summary(items: &[ItemStatus]) -> [u32; 5] {
    let mut counts = [0; 5];
    for item in items {
        let slot = match item {
            I::ShareSucceeded | I::PendingExtension => 0,
            I::PendingApproval
            | I::ShareApproved
            | I::ShareInProgress
            | I::RevokeApproved
            | I::RevokeInProgress => 1,
            I::ShareFailed | I::RevokeFailed => 2,
            I::RevokeSucceeded => 3,
            I::ShareRejected => 4,
        };
        counts[slot] += 1;
    }
    counts
}

/// Items after an operation that moves each item by `f`.
fn map(
    f: fn(ItemStatus) -> ItemStatus,
) -> impl FnOnce(&[ItemStatus]) -> Result<Vec<ItemStatus>, Outcome> {
    move |items| Ok(items.iter().map(|s| f(*s)).collect())
}

/// The reference model of one share.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    status: ShareStatus,
    items: Vec<ItemStatus>,
}

impl Model {
    /// Moves the share by `action`; `items` computes the items after it, or refuses.
    fn act(
        &mut self,
        action: ShareAction,
        items: impl FnOnce(&[ItemStatus]) -> Result<Vec<ItemStatus>, Outcome>,
    ) -> Outcome {
        match model_share_step(self.status, action) {
            Err(refused) => refused,
            Ok(None) => Outcome::NoOp,
            Ok(Some(to)) => match items(&self.items) {
                Err(refused) => refused,
                Ok(items) => {
                    self.status = to;
                    self.items = items;
                    Outcome::Moved
                }
            },
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Submit => self.act(A::Submit, |items| {
                let after: Vec<_> = items
                    .iter()
                    .map(|s| match s {
                        I::ShareRejected | I::ShareFailed => I::PendingApproval,
                        s => *s,
                    })
                    .collect();
                if after.contains(&I::PendingApproval) {
                    Ok(after)
                } else {
                    Err(Outcome::RefusedByItems)
                }
            }),
            Op::Approve => self.act(
                A::Approve,
                map(|s| match s {
                    I::PendingApproval => I::ShareApproved,
                    s => s,
                }),
            ),
            Op::Reject => self.act(
                A::Reject,
                map(|s| match s {
                    I::PendingApproval => I::ShareRejected,
                    s => s,
                }),
            ),
            Op::Start => self.act(
                A::Start,
                map(|s| match s {
                    I::ShareApproved => I::ShareInProgress,
                    I::RevokeApproved => I::RevokeInProgress,
                    s => s,
                }),
            ),
            Op::Finish(outcomes) => {
                let action = if self.status == S::RevokeInProgress
                    && self.items.contains(&I::PendingApproval)
                {
                    A::FinishPending
                } else {
                    A::Finish
                };
                self.act(action, |items| {
                    let mut k = 0;
                    let mut next = || {
                        let ok = outcomes[k % outcomes.len()];
                        k += 1;
                        ok
                    };
                    Ok(items
                        .iter()
                        .map(|s| match s {
                            I::ShareInProgress if next() => I::ShareSucceeded,
                            I::ShareInProgress => I::ShareFailed,
                            I::RevokeInProgress if next() => I::RevokeSucceeded,
                            I::RevokeInProgress => I::RevokeFailed,
                            s => *s,
                        })
                        .collect())
                })
            }
            Op::Revoke => self.act(A::RevokeItems, |items| {
                if !items.iter().any(|s| REVOKABLE.contains(s)) {
                    return Err(Outcome::RefusedByItems);
                }
                Ok(items
                    .iter()
                    .map(|s| {
                        if REVOKABLE.contains(s) {
                            I::RevokeApproved
                        } else {
                            *s
                        }
                    })
                    .collect())
            }),
            Op::AddItem => self.act(A::AddItem, |items| {
                let mut after = items.to_vec();
                after.push(I::PendingApproval);
                Ok(after)
            }),
            Op::RemoveItem(k) => {
                if self.items.is_empty() {
                    return Outcome::NoItem;
                }
                let index = k % self.items.len();
                let current = self.items[index];
                if REMOVABLE.contains(&current) {
                    self.items.remove(index);
                    Outcome::Moved
                } else {
                    Outcome::RefusedByItem { current }
                }
            }
            Op::Extend => self.act(
                A::Extend,
                map(|s| match s {
                    I::ShareSucceeded => I::PendingExtension,
                    s => s,
                }),
            ),
            Op::ApproveExtension | Op::CancelExtension | Op::RejectExtension => {
                let action = match op {
                    Op::ApproveExtension => A::ApproveExtension,
                    Op::CancelExtension => A::CancelExtension,
                    _ => A::RejectExtension,
                };
                self.act(
                    action,
                    map(|s| match s {
                        I::PendingExtension => I::ShareSucceeded,
                        s => s,
                    }),
                )
            }
            Op::Delete => self.act(A::Delete, |items| {
                if items.iter().any(|s| SHARED.contains(s)) {
                    Err(Outcome::RefusedByItems)
                } else {
                    Ok(items.to_vec())
                }
            }),
        }
    }
}

// ----- the system under test: lifecycle.rs's public functions, composed -----

/// One share, driven through `meshgate_core::lifecycle` only.
#[derive(Debug, Clone)]
struct Sut {
    status: ShareStatus,
    items: Vec<ItemStatus>,
}

/// The items after `action`: each item the item table has a row for moves, the rest stay.
fn each(
    action: ItemAction,
) -> impl FnOnce(Vec<ItemStatus>) -> meshgate_core::Result<Vec<ItemStatus>> {
    move |items| {
        items
            .into_iter()
            .map(|s| match item_transition(s, action) {
                None => Ok(s),
                Some(ItemTarget::Status(to)) => Ok(to),
                Some(ItemTarget::Removed) => {
                    Err(Error::internal(format!("{action} removed an item")))
                }
            })
            .collect()
    }
}

impl Sut {
    /// Takes `action` on the share and computes the items with `items`; commits both only if
    /// both succeed. `Ok(true)`: moved, `Ok(false)`: idempotent no-op.
    fn act(
        &mut self,
        action: ShareAction,
        items: impl FnOnce(Vec<ItemStatus>) -> meshgate_core::Result<Vec<ItemStatus>>,
    ) -> meshgate_core::Result<bool> {
        let Step::Moved(to) = share_step("s", self.status, action)? else {
            return Ok(false);
        };
        self.items = items(self.items.clone())?;
        self.status = to;
        Ok(true)
    }

    fn apply(&mut self, op: &Op) -> meshgate_core::Result<bool> {
        match op {
            Op::Submit => self.act(A::Submit, |items| {
                let after = each(ItemAction::Submit)(items)?;
                if after.contains(&I::PendingApproval) {
                    Ok(after)
                } else {
                    Err(Error::conflict("share `s` has no item pending approval"))
                }
            }),
            Op::Approve => self.act(A::Approve, each(ItemAction::Approve)),
            Op::Reject => self.act(A::Reject, each(ItemAction::Reject)),
            Op::Start => self.act(A::Start, each(ItemAction::Start)),
            Op::Finish(outcomes) => {
                let action = if self.status == S::RevokeInProgress
                    && self.items.contains(&I::PendingApproval)
                {
                    A::FinishPending
                } else {
                    A::Finish
                };
                self.act(action, |items| {
                    let mut k = 0;
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| {
                            if item_transition(s, ItemAction::Success).is_none() {
                                return Ok(s);
                            }
                            let outcome = if outcomes[k % outcomes.len()] {
                                ItemAction::Success
                            } else {
                                ItemAction::Failure
                            };
                            k += 1;
                            match item_step(&i.to_string(), s, outcome)? {
                                ItemTarget::Status(to) => Ok(to),
                                ItemTarget::Removed => Err(Error::internal("finish removed")),
                            }
                        })
                        .collect()
                })
            }
            Op::Revoke => self.act(A::RevokeItems, |items| {
                if !items.iter().any(|s| s.is_revokable()) {
                    return Err(Error::conflict("share `s` has nothing to revoke"));
                }
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        if !s.is_revokable() {
                            return Ok(s);
                        }
                        match item_step(&i.to_string(), s, ItemAction::RevokeItems)? {
                            ItemTarget::Status(to) => Ok(to),
                            ItemTarget::Removed => Err(Error::internal("revoke removed")),
                        }
                    })
                    .collect()
            }),
            Op::AddItem => self.act(A::AddItem, |mut items| {
                items.push(I::PendingApproval);
                Ok(items)
            }),
            Op::RemoveItem(k) => {
                if self.items.is_empty() {
                    return Err(Error::invalid("no item"));
                }
                let index = k % self.items.len();
                match item_step(
                    &index.to_string(),
                    self.items[index],
                    ItemAction::RemoveItem,
                )? {
                    ItemTarget::Removed => {
                        self.items.remove(index);
                        Ok(true)
                    }
                    ItemTarget::Status(_) => Err(Error::internal("remove_item kept the item")),
                }
            }
            Op::Extend => self.act(A::Extend, each(ItemAction::Extend)),
            Op::ApproveExtension => {
                self.act(A::ApproveExtension, each(ItemAction::ExtensionDecided))
            }
            Op::CancelExtension => self.act(A::CancelExtension, each(ItemAction::ExtensionDecided)),
            Op::RejectExtension => self.act(A::RejectExtension, each(ItemAction::ExtensionDecided)),
            Op::Delete => self.act(A::Delete, |items| {
                if items.iter().any(|s| s.is_shared()) {
                    Err(Error::conflict(
                        "share `s` cannot be deleted: an item still gives access",
                    ))
                } else {
                    Ok(items)
                }
            }),
        }
    }
}

// ----- the comparison -----

/// The allowed actions a share-transition error lists.
fn listed_actions(message: &str) -> BTreeSet<String> {
    let (_, list) = message
        .rsplit_once(": ")
        .unwrap_or_else(|| panic!("no action list in: {message}"));
    if list == "none" {
        return BTreeSet::new();
    }
    list.split(", ").map(str::to_string).collect()
}

/// Runs `ops` through both, from a share in `status` with `items`, checking agreement after
/// every step. Returns the model's final state.
fn run(status: ShareStatus, items: Vec<ItemStatus>, ops: &[Op]) -> Result<Model, TestCaseError> {
    let mut model = Model {
        status,
        items: items.clone(),
    };
    let mut sut = Sut { status, items };
    for (n, op) in ops.iter().enumerate() {
        let before = model.clone();
        let expected = model.apply(op);
        let actual = sut.apply(op);
        let context =
            || format!("step {n}: {op:?} on {before:?}: model {expected:?}, sut {actual:?}");
        match (&expected, &actual) {
            (Outcome::Moved, Ok(true)) | (Outcome::NoOp, Ok(false)) => {}
            (Outcome::RefusedByTable { action }, Err(e)) => {
                let Error::ShareTransition {
                    action: a, current, ..
                } = e
                else {
                    return Err(TestCaseError::fail(format!(
                        "{}: not a share transition error",
                        context()
                    )));
                };
                prop_assert_eq!(a, action, "{}", context());
                prop_assert_eq!(*current, before.status, "{}", context());
                let message = e.to_string();
                prop_assert!(
                    message.contains(&format!("it is `{}`", before.status)),
                    "{}: the message does not name the current state: {}",
                    context(),
                    message
                );
                prop_assert_eq!(
                    listed_actions(&message),
                    model_allowed(before.status),
                    "{}: allowed actions in: {}",
                    context(),
                    message
                );
            }
            (Outcome::RefusedByItems, Err(e)) => {
                prop_assert!(
                    matches!(e, Error::Conflict { .. }),
                    "{}: expected a refusal on the items",
                    context()
                );
            }
            (Outcome::RefusedByItem { current }, Err(Error::ItemTransition { current: c, .. })) => {
                prop_assert_eq!(c, current, "{}", context());
            }
            (Outcome::NoItem, Err(Error::Invalid { .. })) => {}
            _ => {
                return Err(TestCaseError::fail(format!(
                    "{}: decisions differ",
                    context()
                )));
            }
        }
        if !matches!(expected, Outcome::Moved) {
            prop_assert_eq!(
                &model,
                &before,
                "{}: a refusal or no-op changed the model",
                context()
            );
        }
        prop_assert_eq!(sut.status, model.status, "{}", context());
        prop_assert_eq!(&sut.items, &model.items, "{}", context());
        let s = ShareSummary::from_items(sut.items.iter().copied());
        prop_assert_eq!(
            [s.shared, s.pending, s.failed, s.revoked, s.rejected],
            model_summary(&model.items),
            "{}",
            context()
        );
    }
    Ok(model)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Submit),
        3 => Just(Op::Approve),
        1 => Just(Op::Reject),
        4 => Just(Op::Start),
        4 => proptest::collection::vec(any::<bool>(), 1..6).prop_map(Op::Finish),
        3 => Just(Op::Revoke),
        2 => Just(Op::AddItem),
        1 => any::<usize>().prop_map(Op::RemoveItem),
        2 => Just(Op::Extend),
        1 => Just(Op::ApproveExtension),
        1 => Just(Op::CancelExtension),
        1 => Just(Op::RejectExtension),
        1 => Just(Op::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A new share (a draft or submitted request with 1–4 items pending approval) driven by up
    /// to 60 random operations: model and state machines agree after every step.
    #[test]
    fn state_machines_agree_with_the_model(
        submitted in any::<bool>(),
        n_items in 1usize..=4,
        ops in proptest::collection::vec(op(), 0..=60),
    ) {
        let status = if submitted { S::Submitted } else { S::Draft };
        run(status, vec![I::PendingApproval; n_items], &ops)?;
    }
}

/// The deepest path of docs/design/LIFECYCLE.md, spelled out, so that the checker is known to reach it:
/// a partly failed share, an item added, a revocation that ends in `finish_pending`, and the
/// resubmission of the failed item together with the new one.
#[test]
fn finish_pending_path() {
    let ops = [
        Op::Submit,
        Op::Approve,
        Op::Start,
        Op::Finish(vec![true, false]),
        Op::Delete,
        Op::AddItem,
        Op::Revoke,
        Op::Revoke,
        Op::Start,
        Op::Start,
        Op::Finish(vec![true]),
        Op::Submit,
    ];
    let model = run(S::Draft, vec![I::PendingApproval; 2], &ops).unwrap();
    assert_eq!(model.status, S::Submitted);
    assert_eq!(
        model.items,
        [I::RevokeSucceeded, I::PendingApproval, I::PendingApproval]
    );
}

/// The item sets of the model against `is_shared` and `is_revokable`, for every status.
///
/// `is_shared` also counts `pending_extension`, which the original list of shared states (docs/design/LIFECYCLE.md §Departures)
/// leaves out: an item pending extension keeps its grant in force (it comes from
/// `share_succeeded` and goes back there), so it must block filter edits and product deletes
/// like `share_succeeded`. Share-level `delete` cannot tell the difference (an item is pending
/// extension only while its share is `submitted_for_extension`, from which `delete` is not
/// allowed), which the property test above confirms.
#[test]
fn shared_and_revokable_sets() {
    for s in ItemStatus::ALL {
        let shared = SHARED.contains(s) || *s == I::PendingExtension;
        assert_eq!(s.is_shared(), shared, "{s}");
        assert_eq!(s.is_revokable(), REVOKABLE.contains(s), "{s}");
    }
}
