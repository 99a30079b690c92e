//! PATCH (RFC 7644 §3.5.2): the operations of a PatchOp message applied, in order, to the
//! editable form of a resource (its rendering without `id`, `meta`, `schemas` and read-only
//! attributes). What comes out is checked like a PUT body (`resource::desired`), so a PATCH
//! can set nothing a PUT could not.
//!
//! Paths: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, optionally qualified with
//! the core schema URN. Operations on extension schemas and on attributes meshgate does not
//! keep are ignored (the resource shows nothing of them), read-only ones are a 400
//! `mutability`, and required ones (`userName`, `active`, a group's `displayName`) can be
//! replaced but not removed. Identity providers' habits are accepted: `"op": "Replace"`, a
//! value object whose keys are paths, `"True"` for true, `remove` of `members` with a value
//! listing the members to remove, and an `add`/`replace` through a value filter that matches
//! nothing makes the value (`emails[type eq "work"].value`).

use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimResult};
use super::filter::{self, Filter, Op, PatchPath, get_ci};
use super::resource::{Kind, find_attr};
use super::schema::{self, Attr, Mutability, Ty};

/// The most operations one PATCH may carry.
const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Add,
    Remove,
    Replace,
}

/// Applies the operations of a PatchOp `body` to `doc` (a JSON object).
pub fn apply(kind: Kind, doc: &mut Value, body: &Value) -> ScimResult<()> {
    if let Some(schemas) = get_ci(body, "schemas")
        && !matches!(schemas, Value::Array(items) if items.iter().all(Value::is_string))
    {
        return Err(ScimError::bad(
            "invalidSyntax",
            "`schemas` must be an array of schema URIs",
        ));
    }
    let Some(Value::Array(ops)) = get_ci(body, "Operations") else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "a PatchOp body has `Operations`: an array of {\"op\", \"path\", \"value\"}",
        ));
    };
    if ops.is_empty() {
        return Err(ScimError::bad("invalidValue", "`Operations` is empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            "invalidValue",
            format!("a PATCH carries at most {MAX_OPERATIONS} operations"),
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        operation(kind, doc, op).map_err(|e| ScimError {
            detail: format!("operation {}: {}", i + 1, e.detail),
            ..e
        })?;
    }
    Ok(())
}

fn operation(kind: Kind, doc: &mut Value, op: &Value) -> ScimResult<()> {
    if !op.is_object() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "an operation is an object {\"op\", \"path\", \"value\"}",
        ));
    }
    let verb = match get_ci(op, "op") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => Verb::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => Verb::Remove,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => Verb::Replace,
        Some(other) => {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("`op` is add, remove or replace, not {other}"),
            ));
        }
        None => return Err(ScimError::bad("invalidSyntax", "the operation has no `op`")),
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.as_str()),
        Some(other) => {
            return Err(ScimError::bad(
                "invalidPath",
                format!("`path` must be a string, not {other}"),
            ));
        }
    };
    let value = get_ci(op, "value");
    match path {
        Some(p) => at_path(kind, doc, verb, &filter::parse_patch_path(p)?, value),
        None => {
            if verb == Verb::Remove {
                return Err(ScimError::bad(
                    "noTarget",
                    "a remove operation needs a `path`",
                ));
            }
            let Some(Value::Object(values)) = value else {
                return Err(ScimError::bad(
                    "invalidValue",
                    "an add or replace without a `path` takes an object of attributes as its `value`",
                ));
            };
            for (key, v) in values {
                if ["schemas", "id", "meta"]
                    .iter()
                    .any(|k| key.eq_ignore_ascii_case(k))
                {
                    continue;
                }
                if key.eq_ignore_ascii_case(kind.def().urn) {
                    // Core attributes nested under their schema URN.
                    if let Value::Object(inner) = v {
                        for (k, v) in inner {
                            at_path(kind, doc, verb, &filter::parse_patch_path(k)?, Some(v))?;
                        }
                    }
                    continue;
                }
                at_path(kind, doc, verb, &filter::parse_patch_path(key)?, Some(v))?;
            }
            Ok(())
        }
    }
}

fn read_only(name: &str) -> ScimError {
    ScimError::bad("mutability", format!("`{name}` is read-only"))
}

fn at_path(
    kind: Kind,
    doc: &mut Value,
    verb: Verb,
    path: &PatchPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    if let Some(urn) = &path.urn
        && *urn != kind.def().urn.to_ascii_lowercase()
    {
        // An extension meshgate does not keep.
        return Ok(());
    }
    if ["id", "meta", "schemas"]
        .iter()
        .any(|k| path.attr.eq_ignore_ascii_case(k))
    {
        return Err(read_only(&path.attr));
    }
    let Some(attr) = find_attr(kind, &path.attr) else {
        return Ok(());
    };
    if attr.mutability == Mutability::ReadOnly {
        return Err(read_only(attr.name));
    }
    let value = match (verb, value) {
        (Verb::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => {
            return Err(ScimError::bad(
                "invalidValue",
                "an add or replace operation needs a `value`",
            ));
        }
    };
    if verb == Verb::Remove && attr.required && path.filter.is_none() && path.sub.is_none() {
        return Err(ScimError::bad(
            "mutability",
            format!("`{}` is required: replace it, do not remove it", attr.name),
        ));
    }
    let Some(object) = doc.as_object_mut() else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the resource is not an object",
        ));
    };
    match (&path.filter, &path.sub) {
        (None, None) => whole(object, attr, verb, value),
        (None, Some(sub)) => sub_attribute(object, attr, sub, verb, value),
        (Some(f), sub) => filtered(object, attr, f, sub.as_deref(), verb, value),
    }
    if let Some(Value::Array(items)) = object.get(attr.name)
        && items.is_empty()
    {
        object.remove(attr.name);
    }
    Ok(())
}

/// `value` as a list (a single value is a list of one).
fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Whether two values of a multi-valued attribute are the same value: the same `value`
/// sub-attribute, or equal.
fn same(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `b`'s members written over `a` (both objects; `b`'s keys win whatever their case).
fn merge(a: &mut Value, b: &Value) {
    let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) else {
        return;
    };
    for (k, v) in b {
        a.retain(|key, _| !key.eq_ignore_ascii_case(k));
        a.insert(k.clone(), v.clone());
    }
}

fn whole(object: &mut Map<String, Value>, attr: &Attr, verb: Verb, value: Option<&Value>) {
    let key = attr.name;
    match (verb, value) {
        (Verb::Remove, Some(v)) if attr.multi && !v.is_null() => {
            let gone = list(v);
            if let Some(Value::Array(items)) = object.get_mut(key) {
                items.retain(|item| !gone.iter().any(|g| same(item, g)));
            }
        }
        (Verb::Remove, _) | (_, None) | (_, Some(Value::Null)) => {
            object.remove(key);
        }
        (Verb::Add, Some(v)) if attr.multi => {
            let entry = object.entry(key).or_insert_with(|| json!([]));
            if !entry.is_array() {
                *entry = json!([]);
            }
            if let Value::Array(items) = entry {
                for new in list(v) {
                    match items.iter_mut().find(|i| same(i, &new)) {
                        Some(existing) if existing.is_object() => merge(existing, &new),
                        Some(_) => {}
                        None => items.push(new),
                    }
                }
            }
        }
        (Verb::Replace, Some(v)) if attr.multi => {
            object.insert(key.into(), Value::Array(list(v)));
        }
        (_, Some(v)) if attr.ty == Ty::Complex && v.is_object() => {
            let entry = object.entry(key).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            merge(entry, v);
        }
        (_, Some(v)) => {
            object.insert(key.into(), v.clone());
        }
    }
}

fn sub_attribute(
    object: &mut Map<String, Value>,
    attr: &Attr,
    sub: &str,
    verb: Verb,
    value: Option<&Value>,
) {
    let Some(sub) = schema::find(attr.sub, sub) else {
        return;
    };
    let key = attr.name;
    let set = |item: &mut Value| {
        if let Some(o) = item.as_object_mut() {
            o.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
            if verb != Verb::Remove
                && let Some(v) = value
            {
                o.insert(sub.name.into(), v.clone());
            }
        }
    };
    if attr.multi {
        let entry = object.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(items) = entry {
            if items.is_empty() && verb != Verb::Remove {
                items.push(json!({}));
            }
            items.iter_mut().for_each(set);
        }
    } else {
        let entry = object.entry(key).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        set(entry);
        if entry.as_object().is_some_and(Map::is_empty) {
            object.remove(key);
        }
    }
}

/// The `attr eq "v"` parts of a filter that is only such parts joined by `and`.
fn equalities(f: &Filter, out: &mut Vec<(String, Value)>) -> bool {
    match f {
        Filter::Compare(p, Op::Eq, v) if p.sub.is_none() => {
            out.push((p.attr.clone(), v.clone()));
            true
        }
        Filter::And(a, b) => equalities(a, out) && equalities(b, out),
        _ => false,
    }
}

fn filtered(
    object: &mut Map<String, Value>,
    attr: &'static Attr,
    f: &Filter,
    sub: Option<&str>,
    verb: Verb,
    value: Option<&Value>,
) {
    let key = attr.name;
    let entry = object.entry(key).or_insert_with(|| json!([]));
    if !entry.is_array() {
        *entry = Value::Array(list(entry));
    }
    let Value::Array(items) = entry else {
        return;
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| filter::matches(f, item, attr.sub))
        .map(|(i, _)| i)
        .collect();
    let sub = sub.and_then(|s| schema::find(attr.sub, s));
    if verb == Verb::Remove {
        match sub {
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&i);
                    i += 1;
                    keep
                });
            }
            Some(sub) => {
                for i in matched {
                    if let Some(o) = items.get_mut(i).and_then(Value::as_object_mut) {
                        o.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
                    }
                }
            }
        }
        return;
    }
    let Some(value) = value else {
        return;
    };
    let new_value = |item: &mut Value| match sub {
        Some(sub) => {
            if let Some(o) = item.as_object_mut() {
                o.retain(|k, _| !k.eq_ignore_ascii_case(sub.name));
                o.insert(sub.name.into(), value.clone());
            }
        }
        None if verb == Verb::Replace => *item = value.clone(),
        None => merge(item, value),
    };
    if matched.is_empty() {
        let mut pairs = Vec::new();
        if equalities(f, &mut pairs) {
            let mut item = Map::new();
            for (k, v) in pairs {
                if let Some(d) = schema::find(attr.sub, &k) {
                    item.insert(d.name.into(), v);
                }
            }
            let mut item = Value::Object(item);
            match sub {
                Some(_) => new_value(&mut item),
                None => merge(&mut item, value),
            }
            items.push(item);
        }
        return;
    }
    for i in matched {
        if let Some(item) = items.get_mut(i) {
            new_value(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched(doc: Value, ops: Value) -> Value {
        let mut doc = doc;
        apply(Kind::User, &mut doc, &json!({"Operations": ops})).unwrap();
        doc
    }

    #[test]
    fn operations_follow_rfc_7644_and_identity_providers_habits() {
        let doc = json!({"userName": "a", "active": true,
            "emails": [{"value": "a@x", "type": "work"}]});
        let d = patched(
            doc.clone(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(d["active"], "False", "checked later by resource::desired");
        let d = patched(
            doc.clone(),
            json!([{"op": "replace", "value": {"name.givenName": "Ann", "nickName": "an"}}]),
        );
        assert_eq!(d["name"], json!({"givenName": "Ann"}));
        assert_eq!(d["nickName"], "an");
        let d = patched(
            doc.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@x"}]),
        );
        assert_eq!(d["emails"][1], json!({"type": "home", "value": "h@x"}));
        let d = patched(
            doc.clone(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        );
        assert!(d.get("emails").is_none(), "{d}");
        let d = patched(
            doc.clone(),
            json!([{"op": "add", "path": "emails",
            "value": [{"value": "a@x", "type": "home"}, {"value": "b@x"}]}]),
        );
        assert_eq!(d["emails"].as_array().unwrap().len(), 2, "{d}");
        assert_eq!(d["emails"][0]["type"], "home");
        // Extensions and unknown attributes are ignored; read-only ones and removing a
        // required one are refused.
        let d = patched(
            doc.clone(),
            json!([
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "x"},
            {"op": "add", "path": "addresses", "value": [{"country": "DE"}]}]),
        );
        assert_eq!(d, doc);
        for (op, scim_type) in [
            (
                json!({"op": "replace", "path": "id", "value": "x"}),
                "mutability",
            ),
            (
                json!({"op": "add", "path": "groups", "value": []}),
                "mutability",
            ),
            (json!({"op": "remove", "path": "active"}), "mutability"),
            (json!({"op": "remove"}), "noTarget"),
            (json!({"op": "move", "path": "title"}), "invalidSyntax"),
            (json!({"op": "add", "path": "title"}), "invalidValue"),
            (
                json!({"op": "add", "path": "emails[type eq]", "value": 1}),
                "invalidFilter",
            ),
        ] {
            let mut d = doc.clone();
            let err = apply(Kind::User, &mut d, &json!({"Operations": [op]})).unwrap_err();
            assert_eq!(err.scim_type, Some(scim_type), "{op}: {}", err.detail);
            assert!(err.detail.starts_with("operation 1:"), "{}", err.detail);
        }
    }

    #[test]
    fn members_are_added_and_removed_by_value() {
        let doc = json!({"displayName": "g", "members": [{"value": "1"}, {"value": "2"}]});
        let mut d = doc.clone();
        let ops = json!({"Operations": [
            {"op": "add", "path": "members", "value": [{"value": "3"}, {"value": "1"}]},
            {"op": "remove", "path": "members[value eq \"2\"]"},
            {"op": "Remove", "path": "members", "value": [{"value": "1"}]}]});
        apply(Kind::Group, &mut d, &ops).unwrap();
        assert_eq!(d["members"], json!([{"value": "3"}]));
    }
}
