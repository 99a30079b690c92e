//! The shipped schema and policies validate against each other in strict mode, a policy
//! that does not type-check is caught, and the actions match the schema one to one.

use std::collections::BTreeSet;

use cedar_policy::{PolicySet, Schema, ValidationMode, Validator};

use crate::authorizer::{POLICIES, SCHEMA};
use crate::request::Action;

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
