//! Automatic classification's suggestions (docs/design/CLASSIFICATION.md): what a detection
//! in a column's sampled values, and a person's decision on it, do to the column's suggestion
//! and to its tags. Pure: the server samples and detects (`meshgate-classify`), this module
//! plans a [`Change`], and the store commits it only while the table's suggestions and column
//! tags are still those it was planned from.
//!
//! A suggestion is one detected kind on one column (`email` on `customers.email`), with the
//! tags it stands for (`pii`, `pii_email`, `confidential`):
//!
//! | status | the tags on the column | reached by |
//! |---|---|---|
//! | `pending` | not added | a detection (mode `suggest`, or not confident) |
//! | `applied` | added | a confident detection in mode `apply`: no human step |
//! | `confirmed` | added | an owner or steward confirming |
//! | `rejected` | taken off again | an owner or steward rejecting; never suggested again |
//!
//! Only what a suggestion added is taken off when it is rejected (`added_tags`): a tag the
//! column carried before stays, and so does one another live suggestion of the column also
//! stands for (it becomes that one's). A classification tag (`confidential`) is added only
//! when it raises the column's classification, so a column already `restricted` stays so
//! without a second classification beside it. Detections never move a decided suggestion
//! (applied, confirmed, rejected): a person's decision, and a tag a person took off an
//! applied column, stand.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::ColumnTags;
use crate::catalog::Classification;
use crate::lifecycle::string_enum;
use crate::{Error, Result};

/// The audit action of a new (or more confident) pending suggestion.
pub const SUGGESTED: &str = "column.classification_suggested";
/// The audit action of a detection applied without a human (mode `apply`).
pub const APPLIED: &str = "column.classification_applied";
/// The audit action of a person confirming a suggestion.
pub const CONFIRMED: &str = "column.classification_confirmed";
/// The audit action of a person rejecting a suggestion.
pub const REJECTED: &str = "column.classification_rejected";

string_enum!(
    /// What automatic classification does with what it detects on create and append:
    /// nothing (`off`), suggest tags for owners to confirm (`suggest`), or tag the column at
    /// once when the detection is confident (`apply`; less confident ones are suggested).
    ClassificationMode {
        Off => "off",
        Suggest => "suggest",
        Apply => "apply",
    }
);

string_enum!(
    /// Where a suggestion stands (the table in the module documentation).
    SuggestionStatus {
        Pending => "pending",
        Applied => "applied",
        Confirmed => "confirmed",
        Rejected => "rejected",
    }
);

impl SuggestionStatus {
    /// Whether the suggestion's tags are on its column (applied or confirmed).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SuggestionStatus::Applied | SuggestionStatus::Confirmed
        )
    }
}

string_enum!(
    /// What an owner or steward decides on a suggestion.
    Decision {
        Confirm => "confirm",
        Reject => "reject",
    }
);

/// One detected kind of personal data on one column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub table_id: Uuid,
    pub column: String,
    /// `email`, `phone`, `payment_card`, `iban`, `us_ssn`, `ipv4`, `ipv6`, `date_of_birth`,
    /// `person_name`, `postal_address`.
    pub kind: String,
    /// 0 to 1, in thousandths; at 0.9 or more a detection is confident.
    pub confidence: f64,
    /// Why, in counts, fixed phrases and the column's name; never a sampled value.
    pub evidence: String,
    /// The tags the kind stands for (`pii`, `pii_email`, `confidential`).
    pub tags: Vec<String>,
    /// The tags this suggestion put on the column (applied or confirmed), which rejecting it
    /// takes off again.
    pub added_tags: Vec<String>,
    pub status: SuggestionStatus,
    /// Who confirmed or rejected it.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub decided_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a detector found in one column's sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub column: String,
    pub kind: String,
    pub tags: Vec<String>,
    pub confidence: f64,
    pub evidence: String,
    /// Whether it may be applied without a human.
    pub confident: bool,
}

/// One audit event a [`Change`] makes: the suggestion after the change, its status before,
/// and the column's tags the change added and took off.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub action: &'static str,
    pub suggestion: Suggestion,
    pub from: Option<SuggestionStatus>,
    pub tags_added: Vec<String>,
    pub tags_removed: Vec<String>,
}

/// One table's suggestions and column tags, as the store read them: what a [`Change`] is
/// planned from.
#[derive(Debug, Clone, PartialEq)]
pub struct TableState {
    pub table_id: Uuid,
    /// Every suggestion of the table, by column, then kind.
    pub suggestions: Vec<Suggestion>,
    /// Every tagged column of the table, by column.
    pub tags: Vec<ColumnTags>,
}

/// A change to one table's suggestions and column tags, planned from `before`; the store
/// commits it only while the table's suggestions and tags are still `before`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub before: TableState,
    /// The suggestions to write (inserted or replaced by table, column and kind).
    pub suggestions: Vec<Suggestion>,
    /// The new tags of the columns whose tags change (no tags: the column's are cleared).
    pub column_tags: Vec<ColumnTags>,
    /// One audit event each.
    pub notes: Vec<Note>,
}

impl Change {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.suggestions.is_empty() && self.column_tags.is_empty()
    }
}

/// The working state of one table while a change is planned.
struct Plan {
    table_id: Uuid,
    now: DateTime<Utc>,
    suggestions: BTreeMap<(String, String), Suggestion>,
    tags: BTreeMap<String, Vec<String>>,
    touched: Vec<(String, String)>,
    notes: Vec<Note>,
}

impl Plan {
    fn new(before: &TableState, now: DateTime<Utc>) -> Plan {
        Plan {
            table_id: before.table_id,
            now,
            suggestions: before
                .suggestions
                .iter()
                .map(|s| ((s.column.clone(), s.kind.clone()), s.clone()))
                .collect(),
            tags: before
                .tags
                .iter()
                .map(|c| (c.column.clone(), c.tags.clone()))
                .collect(),
            touched: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn tags_of(&mut self, column: &str) -> &mut Vec<String> {
        self.tags.entry(column.to_string()).or_default()
    }

    /// Puts `s`'s tags on its column; returns those it added.
    fn add_tags(&mut self, s: &Suggestion) -> Vec<String> {
        let current = self.tags_of(&s.column);
        let mut added = Vec::new();
        for tag in &s.tags {
            if current.contains(tag) {
                continue;
            }
            // A classification only ever raises the column's.
            if let Ok(level) = tag.parse::<Classification>()
                && Classification::of_tags(current.iter()).is_some_and(|c| c >= level)
            {
                continue;
            }
            current.push(tag.clone());
            added.push(tag.clone());
        }
        added
    }

    /// Takes `s`'s added tags off its column, except those another live suggestion of the
    /// column stands for, which become that one's; returns those taken off.
    fn remove_tags(&mut self, s: &Suggestion) -> Vec<String> {
        let mut removed = Vec::new();
        for tag in &s.added_tags {
            let heir = self
                .suggestions
                .values()
                .find(|o| {
                    o.column == s.column
                        && o.kind != s.kind
                        && o.status.is_live()
                        && o.tags.contains(tag)
                })
                .map(|o| (o.column.clone(), o.kind.clone()));
            match heir {
                Some(key) => {
                    if let Some(o) = self.suggestions.get_mut(&key) {
                        o.added_tags.push(tag.clone());
                        o.updated_at = self.now;
                    }
                    self.touch(key);
                }
                None => {
                    let current = self.tags_of(&s.column);
                    if let Some(at) = current.iter().position(|t| t == tag) {
                        current.remove(at);
                        removed.push(tag.clone());
                    }
                }
            }
        }
        removed
    }

    fn touch(&mut self, key: (String, String)) {
        if !self.touched.contains(&key) {
            self.touched.push(key);
        }
    }

    fn put(
        &mut self,
        s: Suggestion,
        action: &'static str,
        from: Option<SuggestionStatus>,
        tags_added: Vec<String>,
        tags_removed: Vec<String>,
    ) {
        let key = (s.column.clone(), s.kind.clone());
        self.notes.push(Note {
            action,
            suggestion: s.clone(),
            from,
            tags_added,
            tags_removed,
        });
        self.suggestions.insert(key.clone(), s);
        self.touch(key);
    }

    fn finish(self, before: TableState) -> Change {
        let old: BTreeMap<&str, &Vec<String>> = before
            .tags
            .iter()
            .map(|c| (c.column.as_str(), &c.tags))
            .collect();
        let column_tags = self
            .tags
            .iter()
            .filter(|(column, tags)| match old.get(column.as_str()) {
                Some(was) => *was != *tags,
                None => !tags.is_empty(),
            })
            .map(|(column, tags)| ColumnTags {
                table_id: self.table_id,
                column: column.clone(),
                tags: tags.clone(),
            })
            .collect();
        let suggestions = self
            .touched
            .iter()
            .filter_map(|key| self.suggestions.get(key).cloned())
            .collect();
        Change {
            before,
            suggestions,
            column_tags,
            notes: self.notes,
        }
    }
}

/// What `found` (detections in a sample of table `table_id`'s new values) does in `mode`:
/// a new kind on a column becomes a suggestion, `applied` at once (its tags on the column)
/// when `mode` is `apply` and the detection is confident, else `pending`; a pending one is
/// applied by a confident detection in mode `apply`, or takes a more confident detection's
/// confidence and evidence; decided ones (applied, confirmed, rejected) stay as they are.
pub fn on_detections(
    before: TableState,
    found: &[Detected],
    mode: ClassificationMode,
    now: DateTime<Utc>,
) -> Change {
    let mut plan = Plan::new(&before, now);
    if mode != ClassificationMode::Off {
        for d in found {
            let key = (d.column.clone(), d.kind.clone());
            let (mut s, from) = match plan.suggestions.get(&key) {
                None => (
                    Suggestion {
                        table_id: before.table_id,
                        column: d.column.clone(),
                        kind: d.kind.clone(),
                        confidence: d.confidence,
                        evidence: d.evidence.clone(),
                        tags: d.tags.clone(),
                        added_tags: Vec::new(),
                        status: SuggestionStatus::Pending,
                        decided_by: None,
                        created_at: now,
                        updated_at: now,
                    },
                    None,
                ),
                Some(s) if s.status == SuggestionStatus::Pending => {
                    (s.clone(), Some(SuggestionStatus::Pending))
                }
                Some(_) => continue,
            };
            let apply = mode == ClassificationMode::Apply && d.confident;
            let more_confident = from.is_none() || d.confidence > s.confidence;
            if !apply && !more_confident {
                continue;
            }
            if more_confident {
                s.confidence = d.confidence;
                s.evidence = d.evidence.clone();
            }
            s.updated_at = now;
            if apply {
                s.status = SuggestionStatus::Applied;
                let added = plan.add_tags(&s);
                s.added_tags = added.clone();
                plan.put(s, APPLIED, from, added, Vec::new());
            } else {
                plan.put(s, SUGGESTED, from, Vec::new(), Vec::new());
            }
        }
    }
    plan.finish(before)
}

/// What a person (`by`) deciding `decision` on the suggestion of `kind` on `column` does:
/// confirming puts its tags on the column (an applied one keeps them), rejecting takes off
/// what it added (see the module documentation) and keeps it from being suggested again.
/// Deciding what was already decided changes nothing. `NotFound` without such a suggestion.
pub fn on_decision(
    before: TableState,
    column: &str,
    kind: &str,
    decision: Decision,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<Change> {
    let mut plan = Plan::new(&before, now);
    let key = (column.to_string(), kind.to_string());
    let Some(mut s) = plan.suggestions.get(&key).cloned() else {
        return Err(Error::not_found(
            "classification suggestion",
            format!("{kind} on column {column}"),
        ));
    };
    let from = s.status;
    match (decision, from) {
        (Decision::Confirm, SuggestionStatus::Confirmed)
        | (Decision::Reject, SuggestionStatus::Rejected) => {}
        (Decision::Confirm, _) => {
            let added = if from.is_live() {
                Vec::new()
            } else {
                plan.add_tags(&s)
            };
            s.added_tags.extend(added.iter().cloned());
            s.status = SuggestionStatus::Confirmed;
            s.decided_by = Some(by);
            s.updated_at = now;
            plan.put(s, CONFIRMED, Some(from), added, Vec::new());
        }
        (Decision::Reject, _) => {
            let removed = plan.remove_tags(&s);
            s.added_tags.clear();
            s.status = SuggestionStatus::Rejected;
            s.decided_by = Some(by);
            s.updated_at = now;
            plan.put(s, REJECTED, Some(from), Vec::new(), removed);
        }
    }
    Ok(plan.finish(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Uuid = Uuid::from_u128(7);
    const ME: Uuid = Uuid::from_u128(1);

    fn found(column: &str, kind: &str, confidence: f64) -> Detected {
        Detected {
            column: column.into(),
            kind: kind.into(),
            tags: vec!["pii".into(), format!("pii_{kind}"), "confidential".into()],
            confidence,
            evidence: format!("20 of 20 non-empty values are {kind}"),
            confident: confidence >= 0.9,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn tagged(columns: &[(&str, &[&str])]) -> TableState {
        TableState {
            table_id: T,
            suggestions: Vec::new(),
            tags: columns
                .iter()
                .map(|(column, tags)| ColumnTags {
                    table_id: T,
                    column: column.to_string(),
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                })
                .collect(),
        }
    }

    fn empty() -> TableState {
        tagged(&[])
    }

    /// The table after `change`, as the store would leave it.
    fn after(change: &Change) -> TableState {
        let mut s: BTreeMap<(String, String), Suggestion> = change
            .before
            .suggestions
            .iter()
            .map(|s| ((s.column.clone(), s.kind.clone()), s.clone()))
            .collect();
        for n in &change.suggestions {
            s.insert((n.column.clone(), n.kind.clone()), n.clone());
        }
        let mut t: BTreeMap<String, ColumnTags> = change
            .before
            .tags
            .iter()
            .map(|c| (c.column.clone(), c.clone()))
            .collect();
        for c in &change.column_tags {
            if c.tags.is_empty() {
                t.remove(&c.column);
            } else {
                t.insert(c.column.clone(), c.clone());
            }
        }
        TableState {
            table_id: T,
            suggestions: s.into_values().collect(),
            tags: t.into_values().collect(),
        }
    }

    fn decide(before: TableState, column: &str, kind: &str, d: Decision, secs: i64) -> Change {
        on_decision(before, column, kind, d, ME, at(secs)).unwrap()
    }

    fn kind<'a>(t: &'a TableState, kind: &str) -> &'a Suggestion {
        t.suggestions.iter().find(|s| s.kind == kind).unwrap()
    }

    #[test]
    fn suggest_mode_suggests_and_tags_nothing() {
        let email = [found("email", "email", 0.95)];
        let c = on_detections(empty(), &email, ClassificationMode::Suggest, at(0));
        assert_eq!(c.suggestions.len(), 1);
        assert_eq!(c.suggestions[0].status, SuggestionStatus::Pending);
        assert!(c.column_tags.is_empty());
        assert_eq!((c.notes[0].action, c.notes[0].from), (SUGGESTED, None));
        // The same detection again changes nothing; a more confident one updates it.
        let t = after(&c);
        let again = on_detections(t.clone(), &email, ClassificationMode::Suggest, at(1));
        assert!(again.is_empty(), "{again:?}");
        let more = [found("email", "email", 0.97)];
        let c = on_detections(t, &more, ClassificationMode::Suggest, at(2));
        assert_eq!(c.suggestions[0].confidence, 0.97);
        assert_eq!(c.notes[0].from, Some(SuggestionStatus::Pending));
        assert!(on_detections(empty(), &email, ClassificationMode::Off, at(0)).is_empty());
    }

    #[test]
    fn apply_mode_tags_confident_detections_and_suggests_the_rest() {
        let c = on_detections(
            tagged(&[("email", &["gdpr"])]),
            &[
                found("email", "email", 0.95),
                found("name", "person_name", 0.8),
            ],
            ClassificationMode::Apply,
            at(0),
        );
        let t = after(&c);
        assert_eq!(kind(&t, "email").status, SuggestionStatus::Applied);
        assert_eq!(
            kind(&t, "email").added_tags,
            ["pii", "pii_email", "confidential"]
        );
        assert_eq!(t.tags[0].tags, ["gdpr", "pii", "pii_email", "confidential"]);
        assert_eq!(kind(&t, "person_name").status, SuggestionStatus::Pending);
        assert_eq!(
            t.tags.len(),
            1,
            "the name column is not tagged: {:?}",
            t.tags
        );
        // A later confident detection applies the pending one.
        let c = on_detections(
            t,
            &[found("name", "person_name", 0.93)],
            ClassificationMode::Apply,
            at(1),
        );
        assert_eq!(c.notes[0].action, APPLIED);
        assert_eq!(c.notes[0].from, Some(SuggestionStatus::Pending));
        assert_eq!(c.column_tags[0].column, "name");
    }

    #[test]
    fn a_classification_only_raises_the_columns() {
        let c = on_detections(
            tagged(&[("email", &["restricted"]), ("phone", &["internal"])]),
            &[found("email", "email", 0.95), found("phone", "phone", 0.95)],
            ClassificationMode::Apply,
            at(0),
        );
        let t = after(&c);
        assert_eq!(t.tags[0].tags, ["restricted", "pii", "pii_email"]);
        assert_eq!(
            t.tags[1].tags,
            ["internal", "pii", "pii_phone", "confidential"]
        );
        // Rejecting gives the column back what it had.
        let c = decide(t, "phone", "phone", Decision::Reject, 1);
        assert_eq!(after(&c).tags[1].tags, ["internal"]);
        assert_eq!(
            c.notes[0].tags_removed,
            ["pii", "pii_phone", "confidential"]
        );
    }

    #[test]
    fn confirm_and_reject() {
        let email = [found("email", "email", 0.95)];
        let t = after(&on_detections(
            empty(),
            &email,
            ClassificationMode::Suggest,
            at(0),
        ));
        let c = decide(t, "email", "email", Decision::Confirm, 1);
        assert_eq!(c.notes[0].action, CONFIRMED);
        assert_eq!(c.notes[0].tags_added, ["pii", "pii_email", "confidential"]);
        let t = after(&c);
        assert_eq!(t.suggestions[0].decided_by, Some(ME));
        // Confirming again changes nothing.
        assert!(decide(t.clone(), "email", "email", Decision::Confirm, 2).is_empty());
        let c = decide(t, "email", "email", Decision::Reject, 3);
        assert_eq!(c.notes[0].from, Some(SuggestionStatus::Confirmed));
        let t = after(&c);
        assert!(t.tags.is_empty(), "{:?}", t.tags);
        assert_eq!(t.suggestions[0].status, SuggestionStatus::Rejected);
        assert!(t.suggestions[0].added_tags.is_empty());
        // A rejected kind is never suggested again, even when confident in apply mode.
        let sure = [found("email", "email", 0.99)];
        assert!(on_detections(t.clone(), &sure, ClassificationMode::Apply, at(4)).is_empty());
        assert!(matches!(
            on_decision(t, "email", "phone", Decision::Reject, ME, at(5)),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn an_applied_suggestion_confirmed_keeps_its_tags() {
        let email = [found("email", "email", 0.95)];
        let t = after(&on_detections(
            empty(),
            &email,
            ClassificationMode::Apply,
            at(0),
        ));
        let c = decide(t, "email", "email", Decision::Confirm, 1);
        assert!(c.column_tags.is_empty());
        let t = after(&c);
        assert_eq!(t.suggestions[0].status, SuggestionStatus::Confirmed);
        assert_eq!(
            t.suggestions[0].added_tags,
            ["pii", "pii_email", "confidential"]
        );
    }

    #[test]
    fn rejecting_one_leaves_what_another_live_suggestion_stands_for() {
        let c = on_detections(
            empty(),
            &[
                found("contact", "email", 0.95),
                found("contact", "phone", 0.92),
            ],
            ClassificationMode::Apply,
            at(0),
        );
        let t = after(&c);
        assert_eq!(
            t.tags[0].tags,
            ["pii", "pii_email", "confidential", "pii_phone"]
        );
        let t = after(&decide(t, "contact", "email", Decision::Reject, 1));
        assert_eq!(t.tags[0].tags, ["pii", "confidential", "pii_phone"]);
        assert_eq!(
            kind(&t, "phone").added_tags,
            ["pii_phone", "pii", "confidential"]
        );
        // Rejecting the other one too clears the column.
        let t = after(&decide(t, "contact", "phone", Decision::Reject, 2));
        assert!(t.tags.is_empty(), "{:?}", t.tags);
    }

    #[test]
    fn tags_a_column_carried_before_stay_when_rejected() {
        let email = [found("email", "email", 0.95)];
        let t = after(&on_detections(
            tagged(&[("email", &["pii"])]),
            &email,
            ClassificationMode::Apply,
            at(0),
        ));
        assert_eq!(t.suggestions[0].added_tags, ["pii_email", "confidential"]);
        let t = after(&decide(t, "email", "email", Decision::Reject, 1));
        assert_eq!(t.tags[0].tags, ["pii"]);
    }
}
