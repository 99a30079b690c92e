//! The share and share-item state machines of docs/design/LIFECYCLE.md, as data.
//!
//! Transitions are tables, not scattered `if`s, so the API, the workers and the property test
//! all consult one definition. Moving into the state already held is an idempotent no-op
//! ([`Step::Unchanged`]); any other move that the table does not list is an error naming the
//! current state and the actions allowed from it.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> std::result::Result<Self, $crate::Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::Error::invalid(format!(
                        "unknown {} `{}`; expected one of: {}",
                        stringify!($name), s, [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The decision axis of a share.
    ShareStatus {
        Draft => "draft",
        Submitted => "submitted",
        Approved => "approved",
        Rejected => "rejected",
        ShareInProgress => "share_in_progress",
        Processed => "processed",
        Revoked => "revoked",
        RevokeInProgress => "revoke_in_progress",
        SubmittedForExtension => "submitted_for_extension",
        ExtensionRejected => "extension_rejected",
        Deleted => "deleted",
    }
);

string_enum!(
    /// Actions on a share (people and workers).
    ShareAction {
        Submit => "submit",
        Approve => "approve",
        Reject => "reject",
        Start => "start",
        Finish => "finish",
        FinishPending => "finish_pending",
        RevokeItems => "revoke_items",
        AddItem => "add_item",
        Extend => "extend",
        ApproveExtension => "approve_extension",
        CancelExtension => "cancel_extension",
        RejectExtension => "reject_extension",
        Delete => "delete",
    }
);

string_enum!(
    /// The fulfilment axis of a share item.
    ItemStatus {
        PendingApproval => "pending_approval",
        ShareApproved => "share_approved",
        ShareRejected => "share_rejected",
        ShareInProgress => "share_in_progress",
        ShareSucceeded => "share_succeeded",
        ShareFailed => "share_failed",
        RevokeApproved => "revoke_approved",
        RevokeInProgress => "revoke_in_progress",
        RevokeSucceeded => "revoke_succeeded",
        RevokeFailed => "revoke_failed",
        PendingExtension => "pending_extension",
    }
);

string_enum!(
    /// Actions on a share item.
    ItemAction {
        Submit => "submit",
        Approve => "approve",
        Reject => "reject",
        Start => "start",
        Success => "success",
        Failure => "failure",
        RevokeItems => "revoke_items",
        RemoveItem => "remove_item",
        Extend => "extend",
        ExtensionDecided => "extension_decided",
    }
);

/// The outcome of applying an action to a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<S> {
    /// The state changes to the given one.
    Moved(S),
    /// The object already is where the action leads: nothing to do.
    Unchanged,
}

impl<S: Copy> Step<S> {
    /// The state after the step, given the state before it.
    pub fn resulting(self, before: S) -> S {
        match self {
            Step::Moved(s) => s,
            Step::Unchanged => before,
        }
    }
}

/// The share transition table of docs/design/LIFECYCLE.md. `None`: the action is not allowed from `from`.
///
/// `delete`'s extra condition (no item in a shared state) is checked by [`share_step`]'s
/// callers, which know the items.
pub fn share_transition(from: ShareStatus, action: ShareAction) -> Option<ShareStatus> {
    use ShareAction as A;
    use ShareStatus as S;
    let to = match (action, from) {
        (A::Submit, S::Draft | S::Rejected | S::ExtensionRejected) => S::Submitted,
        (A::Approve, S::Submitted) => S::Approved,
        (A::Reject, S::Submitted) => S::Rejected,
        (A::Start, S::Approved) => S::ShareInProgress,
        (A::Start, S::Revoked) => S::RevokeInProgress,
        (A::Finish, S::ShareInProgress | S::RevokeInProgress) => S::Processed,
        (A::FinishPending, S::RevokeInProgress) => S::Draft,
        (
            A::RevokeItems,
            S::Draft | S::Submitted | S::Rejected | S::Processed | S::ExtensionRejected,
        ) => S::Revoked,
        (A::AddItem, S::Submitted | S::Rejected | S::Processed | S::ExtensionRejected) => S::Draft,
        (A::Extend, S::Processed | S::ExtensionRejected | S::Draft) => S::SubmittedForExtension,
        (A::ApproveExtension | A::CancelExtension, S::SubmittedForExtension) => S::Processed,
        (A::RejectExtension, S::SubmittedForExtension) => S::ExtensionRejected,
        (
            A::Delete,
            S::Draft | S::Submitted | S::Rejected | S::Processed | S::ExtensionRejected,
        ) => S::Deleted,
        _ => return None,
    };
    Some(to)
}

/// The states an action can lead to (for the idempotency rule).
fn share_targets(action: ShareAction) -> impl Iterator<Item = ShareStatus> {
    ShareStatus::ALL
        .iter()
        .filter_map(move |from| share_transition(*from, action))
}

/// Actions allowed from `from`, for error messages and UIs.
pub fn allowed_share_actions(from: ShareStatus) -> Vec<ShareAction> {
    ShareAction::ALL
        .iter()
        .copied()
        .filter(|a| share_transition(from, *a).is_some())
        .collect()
}

/// Applies `action` to a share in state `from`. `share` names it in the error.
pub fn share_step(
    share: &str,
    from: ShareStatus,
    action: ShareAction,
) -> Result<Step<ShareStatus>> {
    if let Some(to) = share_transition(from, action) {
        return Ok(Step::Moved(to));
    }
    // Workers' actions are never idempotent no-ops: a repeated `start` means a lost lease.
    let by_person = !matches!(
        action,
        ShareAction::Start
            | ShareAction::Finish
            | ShareAction::FinishPending
            | ShareAction::AddItem
    );
    if by_person && share_targets(action).any(|t| t == from) {
        return Ok(Step::Unchanged);
    }
    let allowed = allowed_share_actions(from);
    Err(Error::ShareTransition {
        share: share.to_string(),
        action,
        current: from,
        allowed: if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

/// What an item action leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemTarget {
    Status(ItemStatus),
    /// The item leaves the share.
    Removed,
}

/// The item transition table of docs/design/LIFECYCLE.md.
pub fn item_transition(from: ItemStatus, action: ItemAction) -> Option<ItemTarget> {
    use ItemAction as A;
    use ItemStatus as S;
    let to = match (action, from) {
        (A::Submit, S::ShareRejected | S::ShareFailed) => S::PendingApproval,
        (A::Approve, S::PendingApproval) => S::ShareApproved,
        (A::Reject, S::PendingApproval) => S::ShareRejected,
        (A::Start, S::ShareApproved) => S::ShareInProgress,
        (A::Start, S::RevokeApproved) => S::RevokeInProgress,
        (A::Success, S::ShareInProgress) => S::ShareSucceeded,
        (A::Success, S::RevokeInProgress) => S::RevokeSucceeded,
        (A::Failure, S::ShareInProgress | S::ShareApproved) => S::ShareFailed,
        (A::Failure, S::RevokeInProgress | S::RevokeApproved) => S::RevokeFailed,
        (A::RevokeItems, S::ShareSucceeded | S::RevokeFailed) => S::RevokeApproved,
        (
            A::RemoveItem,
            S::PendingApproval | S::ShareRejected | S::ShareFailed | S::RevokeSucceeded,
        ) => {
            return Some(ItemTarget::Removed);
        }
        (A::Extend, S::ShareSucceeded) => S::PendingExtension,
        (A::ExtensionDecided, S::PendingExtension) => S::ShareSucceeded,
        _ => return None,
    };
    Some(ItemTarget::Status(to))
}

/// Applies `action` to an item in state `from`.
pub fn item_step(item: &str, from: ItemStatus, action: ItemAction) -> Result<ItemTarget> {
    item_transition(from, action).ok_or_else(|| Error::ItemTransition {
        item: item.to_string(),
        action,
        current: from,
    })
}

impl ItemStatus {
    /// Items whose grant is (or may be) in force: they block delete and filter edits.
    pub fn is_shared(self) -> bool {
        matches!(
            self,
            ItemStatus::ShareSucceeded
                | ItemStatus::ShareInProgress
                | ItemStatus::RevokeFailed
                | ItemStatus::RevokeInProgress
                | ItemStatus::RevokeApproved
                | ItemStatus::PendingExtension
        )
    }

    /// Items that `revoke` can act on.
    pub fn is_revokable(self) -> bool {
        matches!(self, ItemStatus::ShareSucceeded | ItemStatus::RevokeFailed)
    }
}

/// The summary of a share shown to people, derived from item counts so that "processed"
/// never hides a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareSummary {
    pub shared: u32,
    pub pending: u32,
    pub failed: u32,
    pub revoked: u32,
    pub rejected: u32,
}

impl ShareSummary {
    pub fn from_items(items: impl IntoIterator<Item = ItemStatus>) -> Self {
        let mut s = ShareSummary::default();
        for status in items {
            match status {
                ItemStatus::ShareSucceeded | ItemStatus::PendingExtension => s.shared += 1,
                ItemStatus::PendingApproval
                | ItemStatus::ShareApproved
                | ItemStatus::ShareInProgress
                | ItemStatus::RevokeApproved
                | ItemStatus::RevokeInProgress => s.pending += 1,
                ItemStatus::ShareFailed | ItemStatus::RevokeFailed => s.failed += 1,
                ItemStatus::RevokeSucceeded => s.revoked += 1,
                ItemStatus::ShareRejected => s.rejected += 1,
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn happy_path() {
        let mut s = ShareStatus::Draft;
        for a in [
            ShareAction::Submit,
            ShareAction::Approve,
            ShareAction::Start,
            ShareAction::Finish,
            ShareAction::RevokeItems,
            ShareAction::Start,
            ShareAction::Finish,
        ] {
            s = share_step("s", s, a).unwrap().resulting(s);
        }
        assert_eq!(s, ShareStatus::Processed);
    }

    #[test]
    fn invalid_transition_names_current_state_and_allowed_actions() {
        let err = share_step("s1", ShareStatus::Draft, ShareAction::Approve).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`draft`"), "{msg}");
        assert!(msg.contains("submit"), "{msg}");
        assert_eq!(err.kind(), crate::error::ErrorKind::Conflict);
    }

    #[test]
    fn repeating_a_decision_is_a_no_op() {
        assert_eq!(
            share_step("s", ShareStatus::Approved, ShareAction::Approve).unwrap(),
            Step::Unchanged
        );
        assert_eq!(
            share_step("s", ShareStatus::Revoked, ShareAction::RevokeItems).unwrap(),
            Step::Unchanged
        );
        // but a worker repeating `start` on a share it already started is an error
        assert!(share_step("s", ShareStatus::ShareInProgress, ShareAction::Start).is_err());
    }

    #[test]
    fn string_round_trip() {
        for s in ShareStatus::ALL {
            assert_eq!(s.as_str().parse::<ShareStatus>().unwrap(), *s);
        }
        for s in ItemStatus::ALL {
            assert_eq!(s.as_str().parse::<ItemStatus>().unwrap(), *s);
        }
        assert!("bogus".parse::<ShareStatus>().is_err());
    }

    #[test]
    fn summary_counts_failures() {
        let s = ShareSummary::from_items([
            ItemStatus::ShareSucceeded,
            ItemStatus::ShareFailed,
            ItemStatus::RevokeSucceeded,
        ]);
        assert_eq!((s.shared, s.failed, s.revoked), (1, 1, 1));
    }

    proptest! {
        /// Deleted is terminal, and no action ever leads out of it.
        #[test]
        fn deleted_is_terminal(actions in proptest::collection::vec(0..ShareAction::ALL.len(), 0..40)) {
            let mut s = ShareStatus::Draft;
            let mut deleted = false;
            for i in actions {
                let a = ShareAction::ALL[i];
                if let Ok(step) = share_step("s", s, a) {
                    s = step.resulting(s);
                }
                if deleted {
                    prop_assert_eq!(s, ShareStatus::Deleted);
                }
                deleted |= s == ShareStatus::Deleted;
            }
        }
    }
}
