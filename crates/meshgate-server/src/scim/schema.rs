//! What meshgate's SCIM resources hold: the User and Group schemas (a subset of RFC 7643 §4),
//! served at `/Schemas` and used to check what clients send, to filter and to apply PATCH
//! operations; and the discovery documents (`/ServiceProviderConfig`, `/ResourceTypes`).
//!
//! Attributes outside these schemas (the enterprise extension, addresses, …) are ignored when
//! a client sends them, as RFC 7644 §3.3 lets a service provider do.

use serde_json::{Value, json};

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The most resources one list or search returns (`count` is cut to it).
pub const MAX_RESULTS: usize = 1000;
/// The most resources a list returns when the client names no `count`.
pub const DEFAULT_COUNT: usize = 100;
/// The largest SCIM request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Boolean,
    Complex,
    Reference,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

/// One attribute of a schema (RFC 7643 §7).
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Ty,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    /// `server` uniqueness (userName, a group's displayName).
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub refs: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        ty: Ty::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        refs: &[],
        sub: &[],
        description,
    }
}

const fn boolean(name: &'static str, description: &'static str) -> Attr {
    Attr {
        ty: Ty::Boolean,
        ..string(name, description)
    }
}

const fn complex(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr {
        ty: Ty::Complex,
        sub,
        ..string(name, description)
    }
}

const fn multi(attr: Attr) -> Attr {
    Attr {
        multi: true,
        ..attr
    }
}

const fn required(attr: Attr) -> Attr {
    Attr {
        required: true,
        ..attr
    }
}

const fn read_only(attr: Attr) -> Attr {
    Attr {
        mutability: Mutability::ReadOnly,
        ..attr
    }
}

const fn immutable(attr: Attr) -> Attr {
    Attr {
        mutability: Mutability::Immutable,
        ..attr
    }
}

const fn reference(
    name: &'static str,
    refs: &'static [&'static str],
    description: &'static str,
) -> Attr {
    Attr {
        ty: Ty::Reference,
        case_exact: true,
        refs,
        ..string(name, description)
    }
}

const fn canonical(attr: Attr, values: &'static [&'static str]) -> Attr {
    Attr {
        canonical: values,
        ..attr
    }
}

/// A User or Group resource type.
#[derive(Debug)]
pub struct ResourceDef {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub urn: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

const NAME: &[Attr] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "The honorific prefix (Ms., Dr.)."),
    string("honorificSuffix", "The honorific suffix (III, PhD)."),
];

const EMAIL: &[Attr] = &[
    string("value", "The email address."),
    string("display", "A label for display."),
    canonical(
        string("type", "work, home or other."),
        &["work", "home", "other"],
    ),
    boolean("primary", "The preferred address (at most one)."),
];

const PHONE: &[Attr] = &[
    string("value", "The phone number."),
    string("display", "A label for display."),
    canonical(
        string("type", "work, home, mobile, fax, pager or other."),
        &["work", "home", "mobile", "fax", "pager", "other"],
    ),
    boolean("primary", "The preferred number (at most one)."),
];

const USER_GROUP: &[Attr] = &[
    read_only(string("value", "The id of the group.")),
    read_only(reference("$ref", &["Group"], "The URI of the group.")),
    read_only(string("display", "The group's displayName.")),
    read_only(canonical(
        string("type", "direct (meshgate groups do not nest)."),
        &["direct", "indirect"],
    )),
];

const MEMBER: &[Attr] = &[
    immutable(string("value", "The id of the member (a User).")),
    immutable(reference("$ref", &["User"], "The URI of the member.")),
    immutable(canonical(string("type", "User."), &["User"])),
];

const USER_ATTRS: &[Attr] = &[
    Attr {
        unique: true,
        ..required(string(
            "userName",
            "The name the identity provider knows the user by: the principal's login, unique whatever the letter case.",
        ))
    },
    complex("name", NAME, "The components of the user's name."),
    string(
        "displayName",
        "The name to show; the principal's display name.",
    ),
    string("nickName", "A casual name."),
    reference("profileUrl", &["external"], "The user's online profile."),
    string("title", "The user's title."),
    string("userType", "The relationship to the organisation."),
    string("preferredLanguage", "The preferred language (e.g. en-US)."),
    string("locale", "The default location (e.g. en-US)."),
    string("timezone", "The time zone (e.g. Europe/Berlin)."),
    required(boolean(
        "active",
        "Whether the user may sign in. false revokes every token, credential and session of the user at once. Required here: it can be replaced, not removed.",
    )),
    multi(complex("emails", EMAIL, "Email addresses.")),
    multi(complex("phoneNumbers", PHONE, "Phone numbers.")),
    read_only(multi(complex(
        "groups",
        USER_GROUP,
        "The groups the user belongs to (change them through the Group resource).",
    ))),
];

const GROUP_ATTRS: &[Attr] = &[
    Attr {
        unique: true,
        ..required(string(
            "displayName",
            "The group's name at the identity provider: the group principal's login, unique whatever the letter case.",
        ))
    },
    multi(complex(
        "members",
        MEMBER,
        "The users in the group. Members an admin added by hand or a sign-in's groups claim added are shown but are not removed through SCIM.",
    )),
];

pub static USER: ResourceDef = ResourceDef {
    name: "User",
    endpoint: "/Users",
    urn: USER_URN,
    description: "A meshgate user principal",
    attrs: USER_ATTRS,
};

pub static GROUP: ResourceDef = ResourceDef {
    name: "Group",
    endpoint: "/Groups",
    urn: GROUP_URN,
    description: "A meshgate group principal",
    attrs: GROUP_ATTRS,
};

/// The attribute named `name` (whatever its letter case).
pub fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

// ----- discovery documents -----

fn attr_json(a: &Attr) -> Value {
    let ty = match a.ty {
        Ty::String => "string",
        Ty::Boolean => "boolean",
        Ty::Complex => "complex",
        Ty::Reference => "reference",
        Ty::DateTime => "dateTime",
    };
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
    };
    let mut v = json!({
        "name": a.name,
        "type": ty,
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.refs.is_empty() {
        v["referenceTypes"] = json!(a.refs);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attr_json).collect());
    }
    v
}

/// The `/Schemas/{urn}` document of a resource type.
pub fn schema_json(def: &ResourceDef, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": def.urn,
        "name": def.name,
        "description": def.description,
        "attributes": def.attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", def.urn)},
    })
}

/// The `/ResourceTypes/{name}` document of a resource type.
pub fn resource_type_json(def: &ResourceDef, base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": def.name,
        "name": def.name,
        "endpoint": def.endpoint,
        "description": def.description,
        "schema": def.urn,
        "schemaExtensions": [],
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", def.name)},
    })
}

/// `/ServiceProviderConfig`: what this service provider supports.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_URN],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": MAX_BODY_BYTES},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A meshgate API token of scope scim, made by an admin: POST /api/v1/tokens with {\"scope\": \"scim\"} (meshgate token create --scope scim).",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_describe_every_attribute_with_its_characteristics() {
        let doc = schema_json(&USER, "http://h/scim/v2");
        let attrs = doc["attributes"].as_array().unwrap();
        let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["subAttributes"].as_array().unwrap().len(), 4);
        let groups = find(USER.attrs, "GROUPS").unwrap();
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert_eq!(find(GROUP.attrs, "members").unwrap().sub.len(), 3);
    }
}
