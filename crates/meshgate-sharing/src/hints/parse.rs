//! Parsing a `jsonPredicateHints` tree: ops, arities, leaves and value types, with the
//! depth and size limits ([`MAX_DEPTH`], [`MAX_NODES`]).

use serde_json::Value;

use super::{CompareOp, Leaf, MAX_DEPTH, MAX_NODES, Predicate, ValueType};
use crate::error::shown;
use crate::{Error, Result};

/// Counts a node at `depth`, failing past [`MAX_DEPTH`] or [`MAX_NODES`].
fn enter(depth: usize, nodes: &mut usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::predicate(format!(
            "the tree is deeper than {MAX_DEPTH} levels"
        )));
    }
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(Error::predicate(format!(
            "the tree has more than {MAX_NODES} nodes"
        )));
    }
    Ok(())
}

pub(super) fn node(v: &Value, depth: usize, nodes: &mut usize) -> Result<Predicate> {
    enter(depth, nodes)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::predicate("every node must be a JSON object with an `op`"))?;
    let op = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::predicate("a node has no `op`"))?;
    let children = || -> Result<&Vec<Value>> {
        obj.get("children")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::predicate(format!("`{}` needs `children`", shown(op))))
    };
    let arity =
        |n: usize, wanted: &str| Error::predicate(format!("`{op}` needs {wanted}, got {n}"));
    let compare_op = match op {
        "and" | "or" => {
            let kids = children()?;
            if kids.len() < 2 {
                return Err(arity(kids.len(), "at least 2 children"));
            }
            let parsed = kids
                .iter()
                .map(|k| node(k, depth + 1, nodes))
                .collect::<Result<Vec<_>>>()?;
            return Ok(if op == "and" {
                Predicate::And(parsed)
            } else {
                Predicate::Or(parsed)
            });
        }
        "not" => {
            return match children()?.as_slice() {
                [child] => Ok(Predicate::Not(Box::new(node(child, depth + 1, nodes)?))),
                kids => Err(arity(kids.len(), "exactly 1 child")),
            };
        }
        "isNull" => {
            return match children()?.as_slice() {
                [child] => Ok(Predicate::IsNull(leaf(child, depth + 1, nodes)?)),
                kids => Err(arity(kids.len(), "exactly 1 child")),
            };
        }
        "equal" => CompareOp::Equal,
        "lessThan" => CompareOp::LessThan,
        "lessThanOrEqual" => CompareOp::LessThanOrEqual,
        "greaterThan" => CompareOp::GreaterThan,
        "greaterThanOrEqual" => CompareOp::GreaterThanOrEqual,
        "column" | "literal" => {
            return Err(Error::predicate(format!(
                "a `{op}` can only be a child of a comparison or `isNull`"
            )));
        }
        other => {
            return Err(Error::predicate(format!(
                "unknown op `{}`; use and, or, not, isNull, equal, lessThan, lessThanOrEqual, \
                 greaterThan, greaterThanOrEqual, column or literal",
                shown(other)
            )));
        }
    };
    match children()?.as_slice() {
        [l, r] => Ok(Predicate::Compare {
            op: compare_op,
            left: leaf(l, depth + 1, nodes)?,
            right: leaf(r, depth + 1, nodes)?,
        }),
        kids => Err(arity(kids.len(), "exactly 2 children")),
    }
}

fn leaf(v: &Value, depth: usize, nodes: &mut usize) -> Result<Leaf> {
    enter(depth, nodes)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::predicate("every node must be a JSON object with an `op`"))?;
    let op = obj.get("op").and_then(Value::as_str).unwrap_or("");
    let value_type = || -> Result<ValueType> {
        let text = obj
            .get("valueType")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::predicate(format!("a `{op}` has no `valueType`")))?;
        ValueType::parse(text).ok_or_else(|| {
            Error::predicate(format!(
                "unknown valueType `{}`; use bool, int, long, string, date, float, double or \
                 timestamp",
                shown(text)
            ))
        })
    };
    match op {
        "column" => {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| Error::predicate("a `column` has no `name`"))?;
            Ok(Leaf::Column {
                name: name.to_owned(),
                value_type: value_type()?,
            })
        }
        "literal" => {
            let text = match obj.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => return Err(Error::predicate("a `literal` has no `value`")),
            };
            let value_type = value_type()?;
            let value = value_type.scalar(&text).ok_or_else(|| {
                Error::predicate(format!(
                    "the literal `{}` is not a valid `{}`",
                    shown(&text),
                    value_type.as_str()
                ))
            })?;
            Ok(Leaf::Literal { value, value_type })
        }
        other => Err(Error::predicate(format!(
            "a comparison or `isNull` takes `column` or `literal` children, not `{}`",
            shown(other)
        ))),
    }
}
