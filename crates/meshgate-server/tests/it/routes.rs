//! Tests that walk every route of the router (docs/design/SECURITY.md), so that a new route
//! cannot forget a boundary:
//! - a tenant-scoped credential (`mgs_…`) and a Delta Sharing recipient token (`mgr_…`) get
//!   401 or 403 on every control-plane route;
//! - a SCIM token (an API token of scope `scim`) gets 401 or 403 on every authenticated route
//!   but SCIM's, and every other token (an admin's API token included) on SCIM's;
//! - a draft product answers, route by route, exactly as a product that does not exist to a
//!   principal outside its team;
//! - path parameters that are not names (`..`, `/`, absolute paths) are refused before any
//!   handler runs.
//!
//! The routes are read from the server's source (every `.route(` call), and the test checks
//! that it understood every one of them and that each answers (no fallback 404), so the list
//! cannot silently fall behind the router.

use std::collections::BTreeSet;
use std::path::Path;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Mesh, PEOPLE_CSV, Resp};

/// One route: its methods and its full path template.
#[derive(Debug, Clone)]
struct Route {
    methods: Vec<&'static str>,
    path: String,
    /// Where it was declared (`file:function`).
    origin: String,
}

const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "head"];

/// Every `.route("…", …)` of the server's source, with the prefix its router is served under.
fn routes() -> Vec<Route> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    let mut out = Vec::new();
    let mut calls = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let mut at = 0;
        while let Some(found) = text[at..].find(".route(") {
            let start = at + found + ".route(".len();
            at = start;
            // Skip `.route_layer(` and calls in comments.
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            if text[line_start..start].trim_start().starts_with("//") {
                continue;
            }
            calls += 1;
            let args = balanced(&text[start..]);
            let path = args
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("{name}: a route without a literal path: {args}"));
            let rest = &args[args.find(',').unwrap_or(args.len())..];
            let methods: Vec<&'static str> = METHODS
                .iter()
                .copied()
                .filter(|m| {
                    rest.match_indices(&format!("{m}(")).any(|(i, _)| {
                        i == 0
                            || !rest.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && rest.as_bytes()[i - 1] != b'_'
                    })
                })
                .collect();
            assert!(
                !methods.is_empty(),
                "{name}: no method in route `{path}`: {rest}"
            );
            let function = enclosing_fn(&text[..start]);
            let prefix = match (name.as_str(), function.as_str()) {
                ("lib.rs", _) => "",
                ("sharing.rs", "routes") => "/delta-sharing",
                ("files.rs", "signed_routes") => "",
                ("signin/browser.rs", _) => "",
                ("console.rs", _) => "",
                (n, _) if n == "scim.rs" || n.starts_with("scim/") => "/scim/v2",
                _ => "/api/v1",
            };
            out.push(Route {
                methods,
                path: format!("{prefix}{path}"),
                origin: format!("{name}:{function}"),
            });
        }
    }
    assert_eq!(out.len(), calls, "every `.route(` call was understood");
    assert!(
        out.len() >= 90,
        "the source holds ~100 routes; found {}",
        out.len()
    );
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
}

/// The text up to the parenthesis that closes the one just opened.
fn balanced(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

fn enclosing_fn(before: &str) -> String {
    let at = before.rfind("fn ").expect("a route outside any function");
    before[at + 3..]
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap()
        .to_string()
}

/// Routes a credential may use: the data plane (SQL, the rows API, who am I), the Delta
/// Sharing protocol (which serves credentials and recipients by design) and the
/// unauthenticated ones (health, the OpenAPI document, signed file URLs, profile links, the
/// OAuth exchange, the ways to sign in).
fn data_plane_or_public(method: &str, path: &str) -> bool {
    path.starts_with("/delta-sharing/")
        || public(path)
        || path == "/api/v1/query"
        || path == "/api/v1/whoami"
        || (path == "/api/v1/products/{domain}/{product}/tables/{table}/rows"
            && matches!(method, "get" | "post"))
}

/// Fills a path template with values that pass the path guard; `product` names the product.
fn fill(path: &str, product: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        let key = &rest[open + 1..close];
        out.push_str(match key {
            "domain" | "share" => "sales",
            "product" | "schema" => product,
            "table" => "people",
            "team" => "core",
            "principal" | "group" | "name" => "bob",
            "*path" => "folder/a.csv",
            "column" => "email",
            "decision" => "approve",
            "kind" => "synonym",
            "revision" => "1",
            _ => "0190c1e8-7a7e-7b1a-9c1e-6f0a0b0c0d0e",
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn call(m: &Mesh, method: &str, uri: &str, bearer: Option<&str>) -> Resp {
    let (ct, body) = match method {
        "get" | "head" | "delete" => (None, Body::empty()),
        _ => (Some("application/json"), Body::from("{}")),
    };
    m.send_bearer(&method.to_uppercase(), uri, bearer, ct, body)
        .await
}

/// Routes that authenticate no one: health, the OpenAPI document, signed file URLs, Delta
/// Sharing profile links and the OAuth exchange (which takes a client secret).
fn public(path: &str) -> bool {
    path.starts_with("/files/v1/")
        || matches!(
            path,
            "/healthz" | "/readyz" | "/api/v1/openapi.json" | "/delta-sharing/oauth/token"
        )
        || path.starts_with("/delta-sharing/profile/")
        // The ways to sign in (they read no bearer token).
        || matches!(
            path,
            "/auth/providers" | "/auth/login" | "/auth/callback" | "/auth/token" | "/auth/demo"
        )
        // The console's shell and files: code, no data.
        || matches!(path, "/" | "/console/{*path}")
}

/// A SCIM token of a new service principal `scim`, made by the admin.
async fn scim_token(m: &Mesh) -> String {
    m.post(
        "admin",
        "/api/v1/principals",
        &json!({"name": "scim", "kind": "service"}),
    )
    .await
    .ok(StatusCode::CREATED);
    let v = m
        .post(
            "admin",
            "/api/v1/tokens",
            &json!({"principal": "scim", "scope": "scim"}),
        )
        .await
        .ok(StatusCode::CREATED);
    v["token"].as_str().unwrap().to_string()
}

/// The demo mesh with `sales.people`, a tenant credential of alice's on it and a recipient
/// token of bob's.
async fn mesh_with_tokens() -> (Mesh, String, String) {
    let m = Mesh::demo().await;
    m.add_people().await;
    let cred = m
        .post(
            "alice",
            "/api/v1/credentials",
            &json!({"tables": ["sales.people.people"], "actions": ["read"]}),
        )
        .await
        .ok(StatusCode::CREATED);
    let cred = cred["token"].as_str().unwrap().to_string();
    assert!(cred.starts_with("mgs_"), "{cred}");
    let v = m
        .post("admin", "/api/v1/recipients/bob/tokens", &json!({}))
        .await
        .ok(StatusCode::CREATED);
    let link = url::Url::parse(v["profile_url"].as_str().unwrap()).unwrap();
    let profile = m.get("admin", link.path()).await.ok(StatusCode::OK);
    let recipient = profile["bearerToken"].as_str().unwrap().to_string();
    assert!(recipient.starts_with("mgr_"), "{recipient}");
    (m, cred, recipient)
}

#[tokio::test]
async fn every_route_exists_and_refuses_data_plane_tokens_on_the_control_plane() {
    let (m, cred, recipient) = mesh_with_tokens().await;
    // The credential works where it should.
    let r = m
        .send_bearer(
            "POST",
            "/api/v1/query",
            Some(&cred),
            Some("application/json"),
            Body::from(json!({"sql": "SELECT count(*) AS n FROM sales.people.people"}).to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let scim = scim_token(&m).await;
    let all = routes();
    let mut checked = BTreeSet::new();
    let mut scim_routes = 0;
    let mut failures = Vec::new();
    let refused = |r: &Resp| matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    for route in &all {
        for method in &route.methods {
            let uri = fill(&route.path, "people");
            // The route exists: a request never falls through to the fallback (asked as bob,
            // who may do little, so the walk changes next to nothing).
            let r = call(&m, method, &uri, Some(&m.token("bob"))).await;
            if r.status == StatusCode::NOT_FOUND && r.text().contains("no such") {
                failures.push(format!(
                    "{method} {} ({}) is not served",
                    route.path, route.origin
                ));
            }
            // SCIM takes a SCIM token and nothing else; a SCIM token opens nothing else.
            if route.path.starts_with("/scim/v2/") {
                scim_routes += 1;
                let r = call(&m, method, &uri, Some(&scim)).await;
                if refused(&r) {
                    failures.push(format!(
                        "{method} {} refused the SCIM token: {}",
                        route.path,
                        r.text()
                    ));
                }
                for (kind, token) in [
                    ("an admin's API token", m.token("admin")),
                    ("bob's API token", m.token("bob")),
                    ("a credential", cred.clone()),
                    ("a recipient token", recipient.clone()),
                ] {
                    let r = call(&m, method, &uri, Some(&token)).await;
                    let scim_error =
                        r.json()["schemas"][0] == "urn:ietf:params:scim:api:messages:2.0:Error";
                    if r.status != StatusCode::UNAUTHORIZED || !scim_error {
                        failures.push(format!(
                            "{method} {} answered {kind} {}: {}",
                            route.path,
                            r.status,
                            r.text()
                        ));
                    }
                }
                continue;
            }
            if !public(&route.path) {
                let r = call(&m, method, &uri, Some(&scim)).await;
                if !refused(&r) {
                    failures.push(format!(
                        "{method} {} ({}) answered a SCIM token {}: {}",
                        route.path,
                        route.origin,
                        r.status,
                        r.text()
                    ));
                }
            }
            if data_plane_or_public(method, &route.path) {
                continue;
            }
            checked.insert(format!("{method} {}", route.path));
            for (kind, token) in [("credential", &cred), ("recipient token", &recipient)] {
                let r = call(&m, method, &uri, Some(token)).await;
                if !matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    failures.push(format!(
                        "{method} {} ({}) answered a {kind} {}: {}",
                        route.path,
                        route.origin,
                        r.status,
                        r.text()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked.len() >= 80, "{checked:?}");
    assert!(scim_routes >= 15, "{scim_routes} SCIM routes");
}

/// An answer with the product's name and the request id taken out.
fn normalized(r: &Resp, name: &str) -> (StatusCode, String) {
    let text = r.text().replace(name, "<product>");
    let text = match serde_json::from_str::<Value>(&text) {
        Ok(mut v) => {
            if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
                e.remove("request_id");
            }
            v.to_string()
        }
        Err(_) => text,
    };
    (r.status, text)
}

#[tokio::test]
async fn a_draft_answers_outsiders_exactly_as_a_product_that_does_not_exist_on_every_route() {
    let m = Mesh::demo().await;
    let meta = json!({"domain": "sales", "team": "core", "name": "secret_plan", "draft": true});
    let v = m
        .create_product("alice", &meta, &[("people", PEOPLE_CSV)])
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(v["listing"], "draft");
    let mut compared = 0;
    let mut differences = Vec::new();
    for route in routes() {
        if !(route.path.contains("{product}") || route.path.contains("{schema}")) {
            continue;
        }
        for method in &route.methods {
            let draft = call(
                &m,
                method,
                &fill(&route.path, "secret_plan"),
                Some(&m.token("bob")),
            )
            .await;
            let none = call(
                &m,
                method,
                &fill(&route.path, "secret_none"),
                Some(&m.token("bob")),
            )
            .await;
            compared += 1;
            let (a, b) = (
                normalized(&draft, "secret_plan"),
                normalized(&none, "secret_none"),
            );
            if a != b {
                differences.push(format!(
                    "{method} {}: draft {} {} / missing {} {}",
                    route.path, a.0, a.1, b.0, b.1
                ));
            }
            assert_ne!(
                draft.status,
                StatusCode::OK,
                "{method} {} showed the draft",
                route.path
            );
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(compared >= 30, "only {compared} routes name a product");
    // Its team still sees it.
    m.get("carol", "/api/v1/products/sales/secret_plan")
        .await
        .ok(StatusCode::OK);
}

#[tokio::test]
async fn path_parameters_that_are_not_names_are_refused_before_any_handler() {
    let m = Mesh::demo().await;
    m.add_people().await;
    // Uploads are staged two levels below the data dir (`uploads/upload-…/`): these table
    // names would put the body at `<data dir>/escaped…` and at an absolute path.
    let absolute = m.dir.path().join("escaped_abs");
    let tables = [
        "..%2F..%2Fescaped".to_string(),
        absolute.to_string_lossy().replace('/', "%2F"),
        "..".to_string(),
        "a%5Cb".to_string(),
    ];
    // Bob may not append to alice's table at all: the finding was that anyone could write.
    for who in ["bob", "alice"] {
        for table in &tables {
            let r = m
                .send(
                    "POST",
                    &format!("/api/v1/products/sales/people/tables/{table}/data?format=csv"),
                    Some(who),
                    Some("text/csv"),
                    Body::from("person_id,name\n9,zed\n"),
                )
                .await;
            let written: Vec<_> = std::fs::read_dir(m.dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("escaped"))
                .collect();
            assert!(written.is_empty(), "{who} {table}: wrote {written:?}");
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{who} {table}: {}",
                r.text()
            );
        }
    }
    // Nothing was left in the staging directory either.
    let left: Vec<_> = std::fs::read_dir(m.state.config.upload_dir())
        .unwrap()
        .collect();
    assert!(left.is_empty(), "staging left {left:?}");
}

#[tokio::test]
async fn an_unauthorized_upload_stores_no_byte() {
    let m = Mesh::demo().await;
    m.add_people().await;
    // Bob may not append to alice's table: the answer comes before the body is read. The
    // body here never ends, so a server that stored it first would never answer.
    let chunks = futures::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 64 * 1024]))),
    );
    let body = Body::from_stream(futures::StreamExt::chain(
        chunks,
        futures::stream::pending(),
    ));
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        m.send(
            "POST",
            "/api/v1/products/sales/people/tables/people/data?format=csv",
            Some("bob"),
            Some("text/csv"),
            body,
        ),
    )
    .await
    .expect("the refusal came before the body was read");
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let staged: Vec<_> = std::fs::read_dir(m.state.config.upload_dir())
        .unwrap()
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    // A multipart create whose first part is a file is refused before the file is stored.
    let r = m
        .create_product_parts(
            "bob",
            &[
                ("people", Some("people.csv"), PEOPLE_CSV),
                ("product", None, b"{}"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("must come first"), "{}", r.text());
    // Bob may not create products for alice's team: refused at the `product` part.
    let meta = json!({"domain": "sales", "team": "core", "name": "bobs"}).to_string();
    let r = m
        .create_product_parts(
            "bob",
            &[
                ("product", None, meta.as_bytes()),
                ("people", Some("people.csv"), PEOPLE_CSV),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
}

/// The OpenAPI document served at `/api/v1/openapi.json` is OpenAPI 3.1 and describes exactly
/// the router's `/api/v1` routes: every (method, path) of the router is in it, and it has none
/// the router lacks.
#[tokio::test]
async fn the_openapi_document_describes_every_api_route_and_no_other() {
    let m = Mesh::demo().await;
    // Unauthenticated: it holds no secrets.
    let r = m
        .send_bearer("GET", "/api/v1/openapi.json", None, None, Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let doc: Value = serde_json::from_str(&r.text()).unwrap();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi: {version}");
    assert!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer",
        "{}",
        doc["components"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            // Every operation documents its errors with the one error model.
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.iter().any(|(code, _)| code.starts_with('2')),
                "{method} {path}: no success response"
            );
            if path != "/api/v1/openapi.json" {
                for code in ["400", "401", "403", "404", "default"] {
                    assert_eq!(
                        responses[code]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path}: {code}"
                    );
                }
            }
            documented.insert(format!("{method} {path}"));
        }
    }
    // The router's routes, with axum's `{*path}` written as OpenAPI's `{path}`.
    let routed: BTreeSet<String> = routes()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .flat_map(|r| {
            r.methods
                .iter()
                .map(|m| format!("{m} {}", r.path.replace("{*", "{")))
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not in the OpenAPI document: {missing:?}; documented but not routed: {extra:?}"
    );
    assert!(routed.len() >= 120, "{}", routed.len());
}

/// Operations whose 2xx JSON body may still be described as any JSON. Each needs a reason;
/// the list should only shrink.
const UNTYPED_JSON_BODIES: &[(&str, &str)] = &[
    // A query's JSON result has the columns of whatever the SQL selects (its CSV and Arrow
    // forms are described by their content types).
    ("query", "rows of any shape: the columns the SQL selects"),
];

/// Whether `schema` admits any JSON at all (no type, reference, combinator, enum or
/// properties), or is an array of such values. References are followed into
/// `components.schemas`.
fn admits_any_json(schema: &Value, doc: &Value, depth: usize) -> bool {
    assert!(depth < 32, "schema references nest too deep: {schema}");
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a reference outside components.schemas: {reference}"));
        let target = &doc["components"]["schemas"][name];
        assert!(
            !target.is_null(),
            "a reference to a missing schema: {reference}"
        );
        return admits_any_json(target, doc, depth + 1);
    }
    let is_array = match schema.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(types)) => types.iter().any(|t| t == "array"),
        _ => false,
    };
    if is_array {
        return schema
            .get("items")
            .is_none_or(|items| admits_any_json(items, doc, depth + 1));
    }
    if schema.get("type").is_some()
        || ["enum", "const", "properties"]
            .iter()
            .any(|k| schema.get(*k).is_some())
    {
        return false;
    }
    // A union admits anything when one of its branches does; an intersection when all do.
    for union in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(union).and_then(Value::as_array) {
            return branches.iter().any(|b| admits_any_json(b, doc, depth + 1));
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        return parts.iter().all(|p| admits_any_json(p, doc, depth + 1));
    }
    true
}

/// Every operation's success body that is JSON has a real schema, so schemathesis's
/// response-conformance check checks it: no 2xx JSON response is described as "any JSON"
/// (`serde_json::Value`), except the few listed in [`UNTYPED_JSON_BODIES`]. Bodies that are
/// not JSON (files, CSV, Arrow) are described by their content type instead.
#[tokio::test]
async fn every_success_body_of_the_openapi_document_has_a_schema() {
    let doc = meshgate_server::openapi::document();
    let doc = serde_json::to_value(&doc).unwrap();
    let mut untyped = BTreeSet::new();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let id = operation["operationId"].as_str().unwrap_or_default();
            operations.insert(id.to_string());
            for (code, response) in operation["responses"].as_object().unwrap() {
                if !code.starts_with('2') {
                    continue;
                }
                let Some(content) = response.get("content").and_then(Value::as_object) else {
                    continue;
                };
                for (media, body) in content {
                    let json = media == "application/json" || media.ends_with("+json");
                    let schema = body.get("schema").unwrap_or(&Value::Null);
                    if json && (schema.is_null() || admits_any_json(schema, &doc, 0)) {
                        untyped.insert(format!("{id} ({method} {path} {code})"));
                    }
                }
            }
        }
    }
    let allowed: BTreeSet<&str> = UNTYPED_JSON_BODIES.iter().map(|(id, _)| *id).collect();
    let offenders: Vec<&String> = untyped
        .iter()
        .filter(|u| !allowed.contains(u.split(' ').next().unwrap()))
        .collect();
    assert!(
        offenders.is_empty(),
        "success bodies described as any JSON; give the handler a typed body deriving \
         `utoipa::ToSchema` (or describe a non-JSON body by its content type): {offenders:#?}"
    );
    // The exceptions name operations that exist and are still untyped, so the list shrinks
    // as they get their types.
    for id in &allowed {
        assert!(operations.contains(*id), "no operation `{id}`");
        assert!(
            untyped.iter().any(|u| u.split(' ').next() == Some(*id)),
            "`{id}` has a typed body now: remove it from UNTYPED_JSON_BODIES"
        );
    }
    // The check sees what it should: an untyped body, and typed ones.
    let any = json!({"type": "array", "items": {"description": "anything"}});
    assert!(admits_any_json(&any, &doc, 0));
    assert!(!admits_any_json(
        &json!({"$ref": "#/components/schemas/Error"}),
        &doc,
        0
    ));
}

/// Every route under `/audit` (the log, its chain and digests, SIEM sinks, alerts, their
/// settings, suspensions) is for mesh admins only: bob gets 403 from each, before anything it
/// names is looked up (the same answer for an alert, sink or principal that exists and one that
/// does not), and the admin is let through. Read from the router's source, so a new `/audit`
/// route is walked too.
#[tokio::test]
async fn every_audit_route_is_for_admins_only_and_asks_before_looking_up() {
    let m = Mesh::demo().await;
    let audit: Vec<Route> = routes()
        .into_iter()
        .filter(|r| r.path == "/api/v1/audit" || r.path.starts_with("/api/v1/audit/"))
        .collect();
    assert!(audit.len() >= 12, "the /audit routes: {audit:?}");
    let body = |path: &str| {
        if path.ends_with("/replay") {
            json!({"from": 1})
        } else {
            json!({})
        }
    };
    let mut failures = Vec::new();
    for route in &audit {
        for method in &route.methods {
            // Once with names that pass the path guard, once with ids that exist nowhere.
            for uri in [
                fill(&route.path, "people"),
                route.path.replace('{', "x").replace('}', ""),
            ] {
                let send = |who: &'static str| {
                    let uri = uri.clone();
                    let b = body(&route.path);
                    let m = &m;
                    async move {
                        let ct =
                            (*method != "get" && *method != "delete").then_some("application/json");
                        m.send_bearer(
                            &method.to_uppercase(),
                            &uri,
                            Some(&m.token(who)),
                            ct,
                            Body::from(if ct.is_some() {
                                b.to_string()
                            } else {
                                String::new()
                            }),
                        )
                        .await
                    }
                };
                let r = send("bob").await;
                let said = r.text();
                if r.status != StatusCode::FORBIDDEN || !said.contains("read the audit log") {
                    failures.push(format!("bob: {method} {uri}: {} {said}", r.status));
                }
                let r = send("admin").await;
                if matches!(r.status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED) {
                    failures.push(format!("admin: {method} {uri}: {} {}", r.status, r.text()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
