//! The SCIM form of a principal: a user principal is a User, a group principal a Group.
//! `userName` (a group's `displayName`) is the principal's login — or its name while it has
//! none — `active` its active flag, `members` and `groups` its group memberships; everything
//! else a client set (externalId, name, emails, …) is kept in its SCIM record and shown back
//! as it was sent (`schema.rs` says which attributes those are). Here: reading the directory,
//! rendering resources, checking what clients send, and `attributes`/`excludedAttributes`.

use std::collections::HashMap;

use meshgate_core::model::{MembershipSource, Principal, PrincipalKind};
use meshgate_store::ScimRecord;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, get_ci};
use super::request::Projection;
use super::schema::{self, Attr, GROUP, Mutability, ResourceDef, Ty, USER};
use crate::state::AppState;

/// The longest string value kept.
const MAX_STRING_BYTES: usize = 2048;
/// The most values of one multi-valued attribute (members excepted).
const MAX_VALUES: usize = 100;
/// The most members one request may name.
pub const MAX_MEMBERS: usize = 10_000;

/// `externalId`, a common attribute (RFC 7643 §3.1): not listed in the schemas, kept as sent.
pub static EXTERNAL_ID: Attr = Attr {
    name: "externalId",
    ty: Ty::String,
    multi: false,
    required: false,
    case_exact: true,
    mutability: Mutability::ReadWrite,
    unique: false,
    canonical: &[],
    refs: &[],
    sub: &[],
    description: "The client's id of the resource.",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn def(self) -> &'static ResourceDef {
        match self {
            Kind::User => &USER,
            Kind::Group => &GROUP,
        }
    }

    pub fn principal_kind(self) -> PrincipalKind {
        match self {
            Kind::User => PrincipalKind::User,
            Kind::Group => PrincipalKind::Group,
        }
    }

    /// The attribute that holds the principal's login.
    pub fn login_attr(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

/// The attribute `name` of `kind`'s resources, `externalId` included.
pub fn find_attr(kind: Kind, name: &str) -> Option<&'static Attr> {
    if name.eq_ignore_ascii_case(EXTERNAL_ID.name) {
        return Some(&EXTERNAL_ID);
    }
    schema::find(kind.def().attrs, name)
}

/// The SCIM base URL: `{public_url}/scim/v2`.
pub fn base_url(state: &AppState) -> String {
    format!(
        "{}/scim/v2",
        state.config.public_url().trim_end_matches('/')
    )
}

/// What SCIM shows of the mesh, read at once: every principal, SCIM record and membership.
pub struct Directory {
    pub principals: HashMap<Uuid, Principal>,
    pub records: HashMap<Uuid, ScimRecord>,
    /// (group, member, source).
    pub memberships: Vec<(Uuid, Uuid, MembershipSource)>,
    /// In creation order.
    pub order: Vec<Uuid>,
    pub base: String,
}

impl Directory {
    pub async fn read(state: &AppState) -> ScimResult<Directory> {
        let mut list = state.store.list_principals().await?;
        list.sort_by_key(|p| (p.created_at, p.id));
        let order = list.iter().map(|p| p.id).collect();
        let records = state
            .store
            .scim_records()
            .await?
            .into_iter()
            .map(|r| (r.principal_id, r))
            .collect();
        Ok(Directory {
            principals: list.into_iter().map(|p| (p.id, p)).collect(),
            records,
            memberships: state.store.all_group_members().await?,
            order,
            base: base_url(state),
        })
    }

    fn deleted(&self, id: Uuid) -> bool {
        self.records
            .get(&id)
            .is_some_and(|r| r.deleted_at.is_some())
    }

    /// The principal SCIM shows as a `kind` resource with this id (deleted ones are gone).
    pub fn find(&self, kind: Kind, id: &str) -> Option<&Principal> {
        let id = Uuid::parse_str(id).ok()?;
        self.principals
            .get(&id)
            .filter(|p| p.kind == kind.principal_kind() && !self.deleted(p.id))
    }

    /// Every `kind` resource, in creation order.
    pub fn all(&self, kind: Kind) -> impl Iterator<Item = &Principal> {
        self.order
            .iter()
            .filter_map(|id| self.principals.get(id))
            .filter(move |p| p.kind == kind.principal_kind() && !self.deleted(p.id))
    }

    /// The `kind` resource another one already shows under `login` (case-insensitive):
    /// by its login, or by its name while it has no login.
    pub fn by_login(&self, kind: Kind, login: &str) -> Option<&Principal> {
        let lower = login.to_lowercase();
        self.all(kind)
            .find(|p| {
                p.login
                    .as_deref()
                    .is_some_and(|l| l.to_lowercase() == lower)
            })
            .or_else(|| {
                self.all(kind)
                    .find(|p| p.login.is_none() && p.name.to_lowercase() == lower)
            })
    }

    pub fn version(&self, id: Uuid) -> i64 {
        self.records.get(&id).map_or(0, |r| r.version)
    }

    /// The attributes kept for a principal; one SCIM never wrote shows its display name.
    pub fn kept(&self, p: &Principal) -> Map<String, Value> {
        match self.records.get(&p.id).map(|r| &r.attributes) {
            Some(Value::Object(m)) => m.clone(),
            Some(_) => Map::new(),
            None if p.kind == PrincipalKind::User => {
                let mut m = Map::new();
                m.insert("displayName".into(), json!(p.display_name));
                m
            }
            None => Map::new(),
        }
    }

    /// A group's members (any source), in creation order of the members.
    pub fn members(&self, group: Uuid) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = self
            .memberships
            .iter()
            .filter(|(g, _, _)| *g == group)
            .map(|(_, m, _)| *m)
            .collect();
        out.sort();
        out
    }

    fn location(&self, p: &Principal) -> Option<String> {
        match p.kind {
            PrincipalKind::User => Some(format!("{}/Users/{}", self.base, p.id)),
            PrincipalKind::Group => Some(format!("{}/Groups/{}", self.base, p.id)),
            PrincipalKind::Service => None,
        }
    }

    /// The resource, rendered in full.
    pub fn render(&self, kind: Kind, p: &Principal) -> Value {
        let def = kind.def();
        let kept = self.kept(p);
        let mut out = Map::new();
        out.insert("schemas".into(), json!([def.urn]));
        out.insert("id".into(), json!(p.id));
        if let Some(v) = kept.get(EXTERNAL_ID.name) {
            out.insert(EXTERNAL_ID.name.into(), v.clone());
        }
        out.insert(
            kind.login_attr().into(),
            json!(p.login.clone().unwrap_or_else(|| p.name.clone())),
        );
        for attr in def.attrs {
            match attr.name {
                "userName" | "displayName" if attr.name == kind.login_attr() => {}
                "active" => {
                    out.insert("active".into(), json!(p.active));
                }
                "groups" => {
                    let groups = self.groups_view(p.id);
                    if !groups.is_empty() {
                        out.insert("groups".into(), Value::Array(groups));
                    }
                }
                "members" => {
                    let members = self.members_view(p.id);
                    if !members.is_empty() {
                        out.insert("members".into(), Value::Array(members));
                    }
                }
                name => {
                    if let Some(v) = kept.get(name) {
                        out.insert(name.into(), v.clone());
                    }
                }
            }
        }
        let last_modified = self
            .records
            .get(&p.id)
            .map_or(p.created_at, |r| r.updated_at);
        out.insert(
            "meta".into(),
            json!({
                "resourceType": def.name,
                "created": p.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "lastModified": last_modified.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "location": self.location(p),
            }),
        );
        Value::Object(out)
    }

    fn groups_view(&self, member: Uuid) -> Vec<Value> {
        let mut out = Vec::new();
        for (g, m, _) in &self.memberships {
            if *m != member || self.deleted(*g) {
                continue;
            }
            let Some(group) = self.principals.get(g) else {
                continue;
            };
            out.push(json!({
                "value": group.id,
                "$ref": self.location(group),
                "display": group.login.clone().unwrap_or_else(|| group.name.clone()),
                "type": "direct",
            }));
        }
        out
    }

    fn members_view(&self, group: Uuid) -> Vec<Value> {
        let mut out = Vec::new();
        for m in self.members(group) {
            let Some(p) = self.principals.get(&m) else {
                continue;
            };
            if self.deleted(m) {
                continue;
            }
            out.push(match p.kind {
                PrincipalKind::User => {
                    json!({"value": p.id, "$ref": self.location(p), "type": "User"})
                }
                PrincipalKind::Group => {
                    json!({"value": p.id, "$ref": self.location(p), "type": "Group"})
                }
                PrincipalKind::Service => json!({"value": p.id, "type": "Service"}),
            });
        }
        out
    }
}

// ----- what clients send -----

/// What a client asks a resource to be (a POST or PUT body, or a resource after PATCH
/// operations), checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub login: String,
    /// `None`: not given (a PUT keeps the current value, a POST makes the user active).
    pub active: Option<bool>,
    /// The attributes to keep (canonical names).
    pub kept: Map<String, Value>,
    /// The members (groups only; `None`: not given).
    pub members: Option<Vec<Uuid>>,
}

impl Desired {
    /// The principal's display name: a user's `displayName`, else its formatted or given and
    /// family name, else its login; a group's `displayName`.
    pub fn display_name(&self) -> String {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        if let Some(d) = text(self.kept.get("displayName")) {
            return d;
        }
        if let Some(name) = self.kept.get("name") {
            if let Some(f) = text(name.get("formatted")) {
                return f;
            }
            let parts: Vec<String> = ["givenName", "familyName"]
                .iter()
                .filter_map(|k| text(name.get(*k)))
                .collect();
            if !parts.is_empty() {
                return parts.join(" ");
            }
        }
        self.login.clone()
    }
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", detail)
}

/// Checks a resource's attributes as a client sent them: known attributes with values of
/// their type are kept (under their canonical names), read-only and unknown ones dropped.
/// `current` are the group's members now (any of them may be named again, whatever kind).
pub fn desired(
    kind: Kind,
    input: &Value,
    dir: &Directory,
    current: &[Uuid],
) -> ScimResult<Desired> {
    if input.as_object().is_none() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "a resource is a JSON object",
        ));
    }
    if let Some(schemas) = get_ci(input, "schemas")
        && !matches!(schemas, Value::Array(items) if items.iter().all(Value::is_string))
    {
        return Err(ScimError::bad(
            "invalidSyntax",
            "`schemas` must be an array of schema URIs",
        ));
    }
    let mut reader = Reader {
        kind,
        dir,
        current,
        login: None,
        active: None,
        members: None,
        kept: Map::new(),
    };
    reader.object(input, true)?;
    let login_attr = kind.login_attr();
    let login = reader.login.ok_or_else(|| {
        invalid(format!(
            "`{login_attr}` is required: the name the identity provider knows the {} by",
            kind.noun()
        ))
    })?;
    Ok(Desired {
        login,
        active: reader.active,
        kept: reader.kept,
        members: reader.members,
    })
}

struct Reader<'a> {
    kind: Kind,
    dir: &'a Directory,
    current: &'a [Uuid],
    login: Option<String>,
    active: Option<bool>,
    members: Option<Vec<Uuid>>,
    kept: Map<String, Value>,
}

impl Reader<'_> {
    fn object(&mut self, input: &Value, top: bool) -> ScimResult<()> {
        let Some(object) = input.as_object() else {
            return Ok(());
        };
        for (key, value) in object {
            if top && key.eq_ignore_ascii_case(self.kind.def().urn) {
                // Core attributes nested under the schema URN: taken as if at the top.
                self.object(value, false)?;
                continue;
            }
            self.take(key, value)?;
        }
        Ok(())
    }

    fn take(&mut self, key: &str, value: &Value) -> ScimResult<()> {
        let kind = self.kind;
        let Some(attr) = find_attr(kind, key) else {
            // `schemas`, `id`, `meta`, extensions and attributes meshgate does not keep.
            return Ok(());
        };
        if attr.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        if attr.name == kind.login_attr() {
            let Value::String(text) = value else {
                return Err(invalid(format!("`{}` must be a string", attr.name)));
            };
            crate::identity::validate_login(text)
                .map_err(|e| invalid(format!("`{}`: {}", attr.name, e.message)))?;
            self.login = Some(text.clone());
            return Ok(());
        }
        match attr.name {
            "active" => {
                self.active = match value {
                    Value::Null => None,
                    v => Some(boolean(attr, v)?),
                };
            }
            "members" => {
                self.members = Some(member_ids(value, self.dir, self.current)?);
            }
            _ => match checked(attr, value, attr.name)? {
                Some(v) => {
                    self.kept.insert(attr.name.into(), v);
                }
                None => {
                    self.kept.remove(attr.name);
                }
            },
        }
        Ok(())
    }
}

fn boolean(attr: &Attr, v: &Value) -> ScimResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        // Entra ID sends "True" and "False".
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(invalid(format!(
            "`{}` must be true or false, not {other}",
            attr.name
        ))),
    }
}

/// The members a `members` value names: each a User of this mesh (or a member already), by id.
pub fn member_ids(value: &Value, dir: &Directory, current: &[Uuid]) -> ScimResult<Vec<Uuid>> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    };
    if items.len() > MAX_MEMBERS {
        return Err(invalid(format!(
            "`members` names more than {MAX_MEMBERS} members; add them in several requests"
        )));
    }
    let mut out = Vec::new();
    for item in items {
        let id = match get_ci(item, "value") {
            Some(Value::String(s)) => s,
            _ => {
                return Err(invalid(
                    "each of `members` is an object whose `value` is the id of a User",
                ));
            }
        };
        let found = match dir.find(Kind::User, id) {
            Some(p) => Some(p.id),
            None => Uuid::parse_str(id).ok().filter(|id| current.contains(id)),
        };
        let Some(found) = found else {
            return Err(invalid(format!(
                "`members`: `{id}` is not the id of a User here (meshgate groups hold users, and do not nest)"
            )));
        };
        if !out.contains(&found) {
            out.push(found);
        }
    }
    Ok(out)
}

/// `value` checked against `attr`: `None` for a null, an empty array or an empty object
/// (unassigned).
pub fn checked(attr: &Attr, value: &Value, path: &str) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        if items.len() > MAX_VALUES {
            return Err(invalid(format!(
                "`{path}` has more than {MAX_VALUES} values"
            )));
        }
        let mut out = Vec::new();
        for item in items {
            if let Some(v) = single(attr, item, path)?
                && !out.contains(&v)
            {
                out.push(v);
            }
        }
        one_primary(&mut out);
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    single(attr, value, path)
}

fn single(attr: &Attr, value: &Value, path: &str) -> ScimResult<Option<Value>> {
    match attr.ty {
        _ if value.is_null() => Ok(None),
        Ty::String | Ty::Reference | Ty::DateTime => match value {
            Value::String(s) if s.len() > MAX_STRING_BYTES => Err(invalid(format!(
                "`{path}` is longer than {MAX_STRING_BYTES} bytes"
            ))),
            Value::String(s) => Ok(Some(json!(s))),
            other => Err(invalid(format!("`{path}` must be a string, not {other}"))),
        },
        Ty::Boolean => Ok(Some(json!(boolean(attr, value)?))),
        Ty::Complex => {
            let Some(object) = value.as_object() else {
                return Err(invalid(format!("`{path}` must be an object, not {value}")));
            };
            let mut out = Map::new();
            for (key, v) in object {
                let Some(sub) = schema::find(attr.sub, key) else {
                    continue;
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = single(sub, v, &format!("{path}.{}", sub.name))? {
                    out.insert(sub.name.into(), v);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
    }
}

/// At most one value is primary (RFC 7643 §2.4): the last one marked so.
fn one_primary(values: &mut [Value]) {
    let last = values
        .iter()
        .rposition(|v| v.get("primary") == Some(&Value::Bool(true)));
    if let Some(last) = last {
        for (i, v) in values.iter_mut().enumerate() {
            if i != last
                && let Some(o) = v.as_object_mut()
                && o.get("primary") == Some(&Value::Bool(true))
            {
                o.insert("primary".into(), json!(false));
            }
        }
    }
}

// ----- attributes and excludedAttributes -----

/// `resource` with only what `projection` asks for: `attributes` keeps the listed ones (and
/// `id`, `schemas`), `excludedAttributes` drops the listed ones (never `id`, `schemas`).
pub fn project(resource: Value, projection: &Projection) -> Value {
    let Value::Object(object) = resource else {
        return resource;
    };
    let always = |k: &str| k == "id" || k == "schemas";
    let names = |path: &AttrPath| {
        (
            path.attr.to_lowercase(),
            path.sub.as_ref().map(|s| s.to_lowercase()),
        )
    };
    let mut out = Map::new();
    if !projection.attributes.is_empty() {
        let wanted: Vec<_> = projection.attributes.iter().map(names).collect();
        for (key, value) in object {
            let lower = key.to_lowercase();
            if always(&key) || wanted.iter().any(|(a, s)| *a == lower && s.is_none()) {
                out.insert(key, value);
                continue;
            }
            let subs: Vec<&String> = wanted
                .iter()
                .filter(|(a, _)| *a == lower)
                .filter_map(|(_, s)| s.as_ref())
                .collect();
            if !subs.is_empty() {
                let keep = |v: &Value| -> Value {
                    match v.as_object() {
                        Some(o) => Value::Object(
                            o.iter()
                                .filter(|(k, _)| subs.contains(&&k.to_lowercase()))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        ),
                        None => v.clone(),
                    }
                };
                let kept = match &value {
                    Value::Array(items) => Value::Array(items.iter().map(keep).collect()),
                    other => keep(other),
                };
                out.insert(key, kept);
            }
        }
    } else {
        out = object;
    }
    for path in &projection.excluded {
        let (attr, sub) = names(path);
        let Some(key) = out.keys().find(|k| k.to_lowercase() == attr).cloned() else {
            continue;
        };
        if always(&key) {
            continue;
        }
        match sub {
            None => {
                out.remove(&key);
            }
            Some(sub) => {
                let strip = |v: &mut Value| {
                    if let Some(o) = v.as_object_mut() {
                        o.retain(|k, _| k.to_lowercase() != sub);
                    }
                };
                if let Some(v) = out.get_mut(&key) {
                    match v {
                        Value::Array(items) => items.iter_mut().for_each(strip),
                        other => strip(other),
                    }
                }
            }
        }
    }
    Value::Object(out)
}
