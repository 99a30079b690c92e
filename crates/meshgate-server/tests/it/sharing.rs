//! The Delta Sharing protocol (docs/design/DELTA_SHARING.md) as HTTP tests through the router: bearer,
//! recipient and OAuth authentication, one-time profiles, listings and their page tokens,
//! version/metadata/query/changes with their headers, formats, time travel and hints, signed
//! file URLs (GET, HEAD, ranges, tampering, expiry, revocation), materialised snapshots of
//! filtered and masked items compared with what SQL shows, IP allow-lists on a real socket,
//! the audit trail, and malformed requests that must be 4xx in the protocol's error shape.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::BodyExt;
use meshgate_core::files::SignedResource;
use meshgate_engine::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::common::{LEDGER_ROWS, Mesh, Resp, assert_mentions};

const DS: &str = "/delta-sharing";
const CAPS: &str = "delta-sharing-capabilities";
/// How recipient secrets (bearer tokens, client secrets, access tokens) start.
const SECRET: &str = meshgate_core::token::SHARING_TOKEN_PREFIX;

/// Multi-tenant rows (partitioned by `tenant`): t1 (2 rows), t2 (2), t3 (1).
const ITEMS_CSV: &[u8] =
    b"item_id,name,qty\nt1-1,apple,3\nt1-2,pear,5\nt2-1,fig,1\nt2-2,kiwi,2\nt3-1,lime,9\n";

// ----- requests -----

/// A request with a raw bearer token (`None`: none) and extra headers.
pub(crate) async fn call(
    m: &Mesh,
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = m
        .app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

/// A `GET` with a raw bearer token (`None`: none) and no other headers.
async fn get(m: &Mesh, uri: &str, bearer: Option<&str>) -> Resp {
    call(m, "GET", uri, bearer, &[], Body::empty()).await
}

/// `GET` of a Delta Sharing path as `who` (an API token).
pub(crate) async fn ds_get(m: &Mesh, who: &str, path: &str) -> Resp {
    get(m, &format!("{DS}{path}"), Some(&m.token(who))).await
}

/// A form-encoded `POST` (the OAuth token endpoint) without a bearer token; `extra` headers.
async fn form(m: &Mesh, path: &str, extra: &[(&str, &str)], body: impl Into<Body>) -> Resp {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    call(m, "POST", path, None, &headers, body).await
}

/// `POST …/query` as `who` with `body` and extra headers.
async fn ds_query(
    m: &Mesh,
    who: &str,
    table: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Resp {
    call(
        m,
        "POST",
        &format!("{DS}{}", tpath(table, "query")),
        Some(&m.token(who)),
        headers,
        body.to_string(),
    )
    .await
}

/// `/shares/{share}/schemas/{schema}/tables/{table}/{what}` of `share.schema.table`.
pub(crate) fn tpath(table: &str, what: &str) -> String {
    let parts: Vec<&str> = table.split('.').collect();
    assert_eq!(parts.len(), 3, "{table}");
    format!(
        "/shares/{}/schemas/{}/tables/{}/{what}",
        parts[0], parts[1], parts[2]
    )
}

/// The path and query of an absolute URL, to send through the router.
pub(crate) fn local(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

fn header_of(r: &Resp, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Asserts a Delta Sharing error: the status, and exactly `{"errorCode","message"}` with
/// `code` (never the REST API's `{"error":{…}}`). Returns the message.
pub(crate) fn ds_error(r: &Resp, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status, status, "unexpected status; body: {}", r.text());
    let v: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {}", r.text()));
    let keys: BTreeSet<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["errorCode", "message"]), "{v}");
    assert_eq!(v["errorCode"], code, "{v}");
    let message = v["message"].as_str().unwrap().to_string();
    assert!(!message.is_empty(), "{v}");
    assert!(
        r.content_type().starts_with("application/json"),
        "{}",
        r.content_type()
    );
    message
}

/// The NDJSON lines of a 200 answer.
pub(crate) fn ndjson(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.content_type().starts_with("application/x-ndjson"),
        "{}",
        r.content_type()
    );
    r.text()
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l}")))
        .collect()
}

/// The one key of an NDJSON line (`protocol`, `metaData`, `file`, …).
fn kind(line: &Value) -> String {
    let obj = line.as_object().unwrap();
    assert_eq!(obj.len(), 1, "a line wraps exactly one action: {line}");
    obj.keys().next().unwrap().clone()
}

fn kinds(lines: &[Value]) -> Vec<String> {
    lines.iter().map(kind).collect()
}

/// The `file` objects of a parquet-format answer.
pub(crate) fn files(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l.get("file").is_some())
        .map(|l| l["file"].clone())
        .collect()
}

fn version_header(r: &Resp) -> i64 {
    header_of(r, "delta-table-version")
        .parse()
        .unwrap_or_else(|_| panic!("no Delta-Table-Version: {:?}", r.headers))
}

/// A listing's items' `name`s; asserts the body is one line.
pub(crate) fn names(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        !r.text().contains('\n'),
        "a listing is one line: {}",
        r.text()
    );
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

/// A file's `stats`, parsed (it is a JSON string on the wire).
fn stats(file: &Value) -> Value {
    let s = file["stats"]
        .as_str()
        .unwrap_or_else(|| panic!("stats is a string: {file}"));
    serde_json::from_str(s).unwrap()
}

fn num_records(file: &Value) -> i64 {
    stats(file)["numRecords"].as_i64().unwrap()
}

/// Downloads a file URL (no token).
pub(crate) async fn download(m: &Mesh, url: &str, headers: &[(&str, &str)]) -> Resp {
    call(m, "GET", &local(url), None, headers, Body::empty()).await
}

/// The rows of a Parquet file, as the SQL endpoint's JSON encoder writes them.
fn parquet_rows(bytes: &Bytes) -> Vec<Value> {
    assert!(bytes.starts_with(b"PAR1"), "not a Parquet file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    meshgate_engine::output::json_rows(&batches).unwrap()
}

/// Sorts row objects by one integer column.
fn sorted_by(mut rows: Vec<Value>, column: &str) -> Vec<Value> {
    rows.sort_by_key(|r| r[column].as_i64().unwrap());
    rows
}

fn ms_to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn principal_id(m: &Mesh, name: &str) -> Uuid {
    m.principal(name).await.id
}

// ----- the mesh -----

fn approved(r: &Resp) {
    let v = r.ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");
}

/// The multi-tenant `sales.items` (alice's team), partitioned by tenant.
async fn add_items(m: &Mesh) {
    let meta = json!({
        "domain": "sales", "team": "core", "name": "items",
        "tables": [{"name": "items", "tenant_key": "item_id"}],
    });
    m.create_product("alice", &meta, &[("items", ITEMS_CSV)])
        .await
        .ok(StatusCode::CREATED);
}

/// `marketing.campaigns` with tables `clicks` and `spend`, owned by bob's team.
async fn add_campaigns(m: &Mesh) {
    let meta = json!({"domain": "marketing", "team": "analytics", "name": "campaigns"});
    m.create_product(
        "admin",
        &meta,
        &[
            ("clicks", b"day,n\n1,10\n".as_slice()),
            ("spend", b"day,eur\n1,5\n".as_slice()),
        ],
    )
    .await
    .ok(StatusCode::CREATED);
}

/// bob requests `product` and alice approves it with `scope`; returns the share id.
async fn grant_bob(m: &Mesh, product: &str, scope: &Value) -> String {
    let share = m.request_access("bob", product).await;
    approved(&m.approve("alice", &share, scope).await);
    share
}

/// The demo mesh plus the ledger, shared whole with bob.
async fn ledger_mesh() -> Mesh {
    let m = Mesh::demo().await;
    m.add_ledger().await;
    grant_bob(&m, "sales.ledger", &json!({})).await;
    m
}

/// The demo mesh plus `sales.people`, shared with bob: EU rows only, no salary, email hashed.
/// Returns the mesh and the share id.
async fn people_mesh() -> (Mesh, String) {
    let m = Mesh::demo().await;
    m.add_people().await;
    let share = grant_bob(
        &m,
        "sales.people",
        &json!({"items": [{
            "table": "people",
            "data_filters": ["eu"],
            "columns": ["person_id", "name", "email", "region"],
            "masks": {"email": "hash"},
        }]}),
    )
    .await;
    (m, share)
}

/// Makes a recipient token for `who` (as admin); returns its id and the profile file.
pub(crate) async fn recipient_token(m: &Mesh, who: &str, body: &Value) -> (String, Value) {
    let v = m
        .post("admin", &format!("/api/v1/recipients/{who}/tokens"), body)
        .await
        .ok(StatusCode::CREATED);
    let id = v["token"]["id"].as_str().unwrap().to_string();
    let link = v["profile_url"].as_str().unwrap();
    let r = call(m, "GET", &local(link), None, &[], Body::empty()).await;
    (id, r.ok(StatusCode::OK))
}

// ----- 1. authentication -----

#[tokio::test]
async fn requests_without_a_usable_token_are_401_in_the_protocol_shape() {
    let m = ledger_mesh().await;
    for path in [
        "/shares".to_string(),
        "/shares/sales/schemas".to_string(),
        tpath("sales.ledger.ledger", "metadata"),
    ] {
        let r = call(&m, "GET", &format!("{DS}{path}"), None, &[], Body::empty()).await;
        assert_mentions(
            &ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            "bearer",
        );
    }
    let r = call(
        &m,
        "POST",
        &format!("{DS}{}", tpath("sales.ledger.ledger", "query")),
        None,
        &[],
        "{}",
    )
    .await;
    ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    for bad in [
        "mgr_not-a-token",
        "mgs_not-a-credential",
        "mgt_not-a-token",
        "garbage",
    ] {
        let r = get(&m, &format!("{DS}/shares"), Some(bad)).await;
        ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let r = call(
        &m,
        "GET",
        &format!("{DS}/shares"),
        None,
        &[("authorization", "Basic Ym9iOnB3")],
        Body::empty(),
    )
    .await;
    ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // The recipient's own API token works.
    assert_eq!(names(&ds_get(&m, "bob", "/shares").await), ["sales"]);
}

#[tokio::test]
async fn recipient_tokens_open_delta_sharing_only_and_die_on_rotation_and_revocation() {
    let m = ledger_mesh().await;
    let (first_id, profile) = recipient_token(&m, "bob", &json!({})).await;
    let first = profile["bearerToken"].as_str().unwrap().to_string();
    let shares = |token: String| {
        let m = &m;
        async move { get(m, &format!("{DS}/shares"), Some(&token)).await }
    };
    assert_eq!(names(&shares(first.clone()).await), ["sales"]);

    // Not a key to the REST API.
    for path in [
        "/api/v1/whoami",
        "/api/v1/recipients/bob/tokens",
        "/api/v1/shares",
    ] {
        let r = call(&m, "GET", path, Some(&first), &[], Body::empty()).await;
        r.error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    // Rotation: a new token that expires the others now.
    let v = m
        .post(
            "admin",
            "/api/v1/recipients/bob/tokens",
            &json!({"name": "rotated", "expire_existing_in_secs": 0}),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(v["expired_others"], 1, "{v}");
    let link = v["profile_url"].as_str().unwrap();
    let second_id = v["token"]["id"].as_str().unwrap().to_string();
    let profile = call(&m, "GET", &local(link), None, &[], Body::empty())
        .await
        .ok(StatusCode::OK);
    let second = profile["bearerToken"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    ds_error(
        &shares(first.clone()).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    assert_eq!(names(&shares(second.clone()).await), ["sales"]);
    let listed = m
        .get("admin", "/api/v1/recipients/bob/tokens")
        .await
        .ok(StatusCode::OK);
    let usable: BTreeMap<String, bool> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["usable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        usable,
        BTreeMap::from([(first_id, false), (second_id.clone(), true)])
    );

    // Revoked: refused on the next request.
    m.delete(
        "admin",
        &format!("/api/v1/recipients/bob/tokens/{second_id}"),
    )
    .await
    .ok(StatusCode::OK);
    ds_error(
        &shares(second).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );
    // Someone else's token id is not bob's to revoke.
    m.delete(
        "admin",
        &format!("/api/v1/recipients/alice/tokens/{second_id}"),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
}

// ----- 2. profiles -----

#[tokio::test]
async fn a_profile_link_downloads_once_and_its_bearer_token_reads() {
    let m = ledger_mesh().await;
    let v = m
        .post("admin", "/api/v1/recipients/bob/tokens", &json!({}))
        .await
        .ok(StatusCode::CREATED);
    let first_id = v["token"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["token"]["awaiting_download"], true, "{v}");
    assert_eq!(v["token"]["usable"], false, "{v}");
    let link = v["profile_url"].as_str().unwrap();
    let endpoint = format!(
        "{}/delta-sharing",
        m.state.config.public_url().trim_end_matches('/')
    );
    assert!(link.starts_with(&format!("{endpoint}/profile/")), "{link}");
    assert!(
        !v.to_string().contains(SECRET),
        "no secret before download: {v}"
    );

    let r = call(&m, "GET", &local(link), None, &[], Body::empty()).await;
    let profile = r.ok(StatusCode::OK);
    assert_eq!(header_of(&r, "cache-control"), "no-store");
    assert_mentions(&header_of(&r, "content-disposition"), "bob.share");
    let keys: BTreeSet<&str> = profile
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "shareCredentialsVersion",
            "endpoint",
            "bearerToken",
            "expirationTime"
        ])
    );
    assert_eq!(profile["shareCredentialsVersion"], 1);
    assert_eq!(profile["endpoint"], endpoint.as_str());
    let expires: DateTime<Utc> = profile["expirationTime"].as_str().unwrap().parse().unwrap();
    let days = (expires - Utc::now()).num_hours();
    assert!((89 * 24..=90 * 24).contains(&days), "{expires}");

    // Once only.
    let again = call(&m, "GET", &local(link), None, &[], Body::empty()).await;
    ds_error(&again, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    // A link whose token was revoked before it was used: gone too.
    let v = m
        .post("admin", "/api/v1/recipients/bob/tokens", &json!({}))
        .await
        .ok(StatusCode::CREATED);
    let id = v["token"]["id"].as_str().unwrap();
    m.delete("admin", &format!("/api/v1/recipients/bob/tokens/{id}"))
        .await
        .ok(StatusCode::OK);
    let r = get(&m, &local(v["profile_url"].as_str().unwrap()), None).await;
    ds_error(&r, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    let r = get(&m, &format!("{DS}/profile/mga_forged"), None).await;
    ds_error(&r, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");

    // The token reads like bob.
    let token = profile["bearerToken"].as_str().unwrap();
    assert!(token.starts_with(SECRET), "{token}");
    let r = get(
        &m,
        &format!("{DS}{}", tpath("sales.ledger.ledger", "version")),
        Some(token),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(version_header(&r), 2);
    let listed = m
        .get("admin", "/api/v1/recipients/bob/tokens")
        .await
        .ok(StatusCode::OK);
    let first = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == first_id.as_str())
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(first["usable"], true, "{first}");
    assert_eq!(first["awaiting_download"], false, "{first}");
    assert!(first["last_used_at"].is_string(), "{first}");
}

#[tokio::test]
async fn oauth_client_credentials_issue_access_tokens_that_die_with_the_client() {
    let m = ledger_mesh().await;
    let (client_id, profile) = recipient_token(&m, "bob", &json!({"kind": "oauth"})).await;
    let endpoint = format!(
        "{}/delta-sharing",
        m.state.config.public_url().trim_end_matches('/')
    );
    assert_eq!(profile["shareCredentialsVersion"], 2, "{profile}");
    assert_eq!(profile["type"], "oauth_client_credentials");
    assert_eq!(profile["endpoint"], endpoint.as_str());
    assert_eq!(
        profile["tokenEndpoint"],
        format!("{endpoint}/oauth/token").as_str()
    );
    assert_eq!(profile["clientId"], client_id.as_str());
    assert!(profile.get("bearerToken").is_none(), "{profile}");
    let secret = profile["clientSecret"].as_str().unwrap().to_string();
    // The client secret is not a bearer token.
    let r = get(&m, &format!("{DS}/shares"), Some(&secret)).await;
    ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    let token_path = local(profile["tokenEndpoint"].as_str().unwrap());
    let exchange = |id: String, secret: String| {
        let m = &m;
        let token_path = token_path.clone();
        async move {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            form(
                m,
                &token_path,
                &[("authorization", &format!("Basic {basic}"))],
                "grant_type=client_credentials",
            )
            .await
        }
    };
    let r = exchange(client_id.clone(), secret.clone()).await;
    let v = r.ok(StatusCode::OK);
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["access_token", "token_type", "expires_in"])
    );
    assert_eq!(v["token_type"], "bearer");
    let expires_in = v["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{v}");
    assert_eq!(header_of(&r, "cache-control"), "no-store");
    let access = v["access_token"].as_str().unwrap().to_string();
    let r = get(&m, &format!("{DS}/shares"), Some(&access)).await;
    assert_eq!(names(&r), ["sales"]);
    // Not a key to the REST API either.
    get(&m, "/api/v1/whoami", Some(&access))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // A wrong secret, an unknown client, no credentials, another grant type.
    for (id, s) in [
        (client_id.clone(), format!("{secret}x")),
        (Uuid::now_v7().to_string(), secret.clone()),
        ("not-a-uuid".to_string(), secret.clone()),
    ] {
        let r = exchange(id, s).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
        assert_eq!(r.json()["error"], "invalid_client");
        assert!(!r.text().contains(SECRET), "{}", r.text());
    }
    let r = form(&m, &token_path, &[], "grant_type=client_credentials").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "invalid_client");
    let r = form(
        &m,
        &token_path,
        &[],
        format!("grant_type=password&client_id={client_id}&client_secret={secret}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    // Credentials in the form work too.
    let r = form(
        &m,
        &token_path,
        &[],
        format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}"),
    )
    .await;
    let second = r.ok(StatusCode::OK)["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Revoking the client kills it and every access token it got.
    m.delete(
        "admin",
        &format!("/api/v1/recipients/bob/tokens/{client_id}"),
    )
    .await
    .ok(StatusCode::OK);
    for t in [&access, &second] {
        let r = get(&m, &format!("{DS}/shares"), Some(t)).await;
        ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let r = exchange(client_id, secret).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

// ----- 3. lists and pagination -----

/// Every page of a listing with `maxResults=1`, following `nextPageToken`; asserts each
/// page is one line with at most one item.
async fn walk(m: &Mesh, who: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &token {
            Some(t) => format!("{path}{sep}maxResults=1&pageToken={t}"),
            None => format!("{path}{sep}maxResults=1"),
        };
        let r = ds_get(m, who, &url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text());
        assert!(!r.text().contains('\n'), "{}", r.text());
        let v = r.json();
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{v}");
        out.extend(items.iter().cloned());
        match v.get("nextPageToken").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return out,
        }
    }
    panic!("more than 20 pages of {path}");
}

#[tokio::test]
async fn lists_are_one_line_and_page_through_to_the_same_list() {
    let m = Mesh::demo().await;
    m.add_ledger().await;
    add_items(&m).await;
    add_campaigns(&m).await;
    grant_bob(&m, "sales.ledger", &json!({})).await;
    grant_bob(&m, "sales.items", &json!({})).await;

    let shares = ds_get(&m, "bob", "/shares").await;
    assert_eq!(names(&shares), ["marketing", "sales"]);
    assert!(
        shares.json().get("nextPageToken").is_none(),
        "{}",
        shares.text()
    );
    let sales_id = shares.json()["items"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = ds_get(&m, "bob", "/shares/sales").await;
    assert_eq!(
        one.ok(StatusCode::OK),
        json!({"share": {"name": "sales", "id": sales_id}})
    );
    assert!(!one.text().contains('\n'));
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares/sales/schemas").await),
        ["items", "ledger"]
    );
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares/marketing/schemas").await),
        ["campaigns"]
    );
    let tables = ds_get(&m, "bob", "/shares/marketing/schemas/campaigns/tables").await;
    assert_eq!(names(&tables), ["clicks", "spend"]);
    let t = &tables.json()["items"][0];
    assert_eq!(t["schema"], "campaigns");
    assert_eq!(t["share"], "marketing");
    assert!(Uuid::parse_str(t["id"].as_str().unwrap()).is_ok(), "{t}");
    assert!(
        Uuid::parse_str(t["shareId"].as_str().unwrap()).is_ok(),
        "{t}"
    );
    let all = ds_get(&m, "bob", "/shares/sales/all-tables").await;
    assert_eq!(names(&all), ["items", "ledger"]);
    let full: Vec<(String, String)> = all.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["schema"].as_str().unwrap().to_string(),
                t["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        full,
        [
            ("items".to_string(), "items".to_string()),
            ("ledger".to_string(), "ledger".to_string())
        ]
    );

    // maxResults=1 walks every page to the same list.
    for path in [
        "/shares",
        "/shares/sales/schemas",
        "/shares/marketing/schemas/campaigns/tables",
        "/shares/sales/all-tables",
        "/shares/marketing/all-tables",
    ] {
        let whole = ds_get(&m, "bob", path).await.ok(StatusCode::OK)["items"].clone();
        let walked = walk(&m, "bob", path).await;
        assert_eq!(Value::Array(walked), whole, "{path}");
    }
    // maxResults=0: no items.
    let v = ds_get(&m, "bob", "/shares?maxResults=0")
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"], json!([]), "{v}");
    // A larger page than there are items: all, no token.
    let v = ds_get(&m, "bob", "/shares?maxResults=5000")
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert!(v.get("nextPageToken").is_none(), "{v}");
    // An empty pageToken is the first page.
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares?pageToken=").await),
        ["marketing", "sales"]
    );
}

#[tokio::test]
async fn page_tokens_are_bound_to_the_listing_and_the_caller() {
    let m = Mesh::demo().await;
    m.add_ledger().await;
    add_items(&m).await;
    add_campaigns(&m).await;
    grant_bob(&m, "sales.ledger", &json!({})).await;
    grant_bob(&m, "sales.items", &json!({})).await;

    let v = ds_get(&m, "bob", "/shares?maxResults=1")
        .await
        .ok(StatusCode::OK);
    let token = v["nextPageToken"].as_str().unwrap().to_string();
    assert_eq!(
        names(
            &ds_get(
                &m,
                "bob",
                &format!("/shares?maxResults=1&pageToken={token}")
            )
            .await
        ),
        ["sales"]
    );
    let (body, tag) = token.split_once('.').unwrap();
    let flipped = |s: &str| -> String {
        let mut c: Vec<char> = s.chars().collect();
        c[0] = if c[0] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect()
    };
    let schemas = ds_get(&m, "bob", "/shares/sales/schemas?maxResults=1")
        .await
        .ok(StatusCode::OK);
    let schema_token = schemas["nextPageToken"].as_str().unwrap().to_string();
    for (path, what) in [
        (format!("/shares?pageToken={body}.{}", flipped(tag)), "tag"),
        (format!("/shares?pageToken={}.{tag}", flipped(body)), "body"),
        (format!("/shares?pageToken={body}"), "truncated"),
        ("/shares?pageToken=garbage".to_string(), "garbage"),
        // Another listing's token.
        (format!("/shares?pageToken={schema_token}"), "other listing"),
        (
            format!("/shares/sales/all-tables?pageToken={schema_token}"),
            "other listing",
        ),
        (
            format!("/shares/marketing/schemas?pageToken={schema_token}"),
            "other share",
        ),
    ] {
        let r = ds_get(&m, "bob", &path).await;
        let msg = ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
        assert_mentions(&msg, "pageToken");
        assert!(!msg.contains(&token), "{what}: {msg}");
    }
    // Another caller's token, on the same listing.
    let r = ds_get(&m, "alice", &format!("/shares?pageToken={token}")).await;
    ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn unknown_and_unshared_objects_are_the_same_404() {
    let m = ledger_mesh().await;
    // `sales.customers.customers` exists, but is not bob's; `apps` is a domain bob sees
    // nothing of.
    let pairs = [
        (
            "/shares/apps".to_string(),
            "/shares/nope".to_string(),
            "apps",
            "nope",
        ),
        (
            "/shares/apps/schemas".to_string(),
            "/shares/nope/schemas".to_string(),
            "apps",
            "nope",
        ),
        (
            "/shares/apps/all-tables".to_string(),
            "/shares/nope/all-tables".to_string(),
            "apps",
            "nope",
        ),
        (
            "/shares/sales/schemas/customers/tables".to_string(),
            "/shares/sales/schemas/nope/tables".to_string(),
            "customers",
            "nope",
        ),
        (
            tpath("sales.customers.customers", "metadata"),
            tpath("sales.nope.customers", "metadata"),
            "sales.customers",
            "sales.nope",
        ),
        (
            tpath("sales.customers.customers", "version"),
            tpath("sales.ledger.customers", "version"),
            "sales.customers",
            "sales.ledger",
        ),
        (
            tpath("sales.customers.customers", "changes") + "?startingVersion=0",
            tpath("sales.ledger.nope", "changes") + "?startingVersion=0",
            "customers.customers",
            "ledger.nope",
        ),
    ];
    for (unshared, missing, a, b) in pairs {
        let x = ds_get(&m, "bob", &unshared).await;
        let y = ds_get(&m, "bob", &missing).await;
        let mx = ds_error(&x, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
        let my = ds_error(&y, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
        assert_eq!(mx.replace(a, b), my, "{unshared} vs {missing}");
    }
    let x = ds_query(&m, "bob", "sales.customers.customers", &json!({}), &[]).await;
    let y = ds_query(&m, "bob", "sales.nope.nope", &json!({}), &[]).await;
    assert_eq!(
        ds_error(&x, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
            .replace("customers.customers", "nope.nope"),
        ds_error(&y, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    );
    // The owner reads it.
    assert_eq!(
        ds_get(&m, "alice", &tpath("sales.customers.customers", "version"))
            .await
            .status,
        StatusCode::OK
    );
}

// ----- 4. version, metadata, query -----

#[tokio::test]
async fn version_metadata_and_query_carry_the_table_version() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let r = ds_get(&m, "bob", &tpath(t, "version")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(version_header(&r), 2);
    let r = call(
        &m,
        "HEAD",
        &format!("{DS}/shares/sales/schemas/ledger/tables/ledger"),
        Some(&m.token("bob")),
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(version_header(&r), 2);

    let r = ds_get(&m, "bob", &tpath(t, "metadata")).await;
    let lines = ndjson(&r);
    assert_eq!(version_header(&r), 2);
    assert_eq!(header_of(&r, CAPS), "responseformat=parquet");
    assert_eq!(kinds(&lines), ["protocol", "metaData"]);
    assert_eq!(lines[0], json!({"protocol": {"minReaderVersion": 1}}));
    let meta = &lines[1]["metaData"];
    assert_eq!(meta["format"], json!({"provider": "parquet"}));
    assert_eq!(meta["partitionColumns"], json!([]));
    assert_eq!(meta["version"], 2);
    assert_eq!(meta["numFiles"], 3);
    assert_eq!(
        meta["configuration"]["delta.enableChangeDataFeed"], "true",
        "{meta}"
    );
    let schema: Value = serde_json::from_str(meta["schemaString"].as_str().unwrap()).unwrap();
    let columns: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["id", "name", "region", "amount"]);
    let table_id = meta["id"].as_str().unwrap().to_string();

    let r = ds_query(&m, "bob", t, &json!({}), &[]).await;
    let lines = ndjson(&r);
    assert_eq!(version_header(&r), 2);
    assert_eq!(header_of(&r, CAPS), "responseformat=parquet");
    assert_eq!(
        kinds(&lines),
        ["protocol", "metaData", "file", "file", "file"]
    );
    assert_eq!(lines[1]["metaData"]["id"], table_id.as_str());
    let fs = files(&lines);
    assert_eq!(
        meta["size"].as_i64().unwrap(),
        fs.iter().map(|f| f["size"].as_i64().unwrap()).sum::<i64>()
    );
    assert_eq!(
        fs.iter().map(num_records).sum::<i64>(),
        6,
        "six rows in three files"
    );
    let now_ms = Utc::now().timestamp_millis();
    for f in &fs {
        let keys: BTreeSet<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "url",
                "id",
                "partitionValues",
                "size",
                "stats",
                "expirationTimestamp"
            ]),
            "{f}"
        );
        assert_eq!(f["partitionValues"], json!({}));
        let url = f["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!(
                "{}/delta-sharing/files/",
                m.state.config.public_url()
            )),
            "{url}"
        );
        assert!(url.contains("X-Databricks-Signature="), "{url}");
        assert!(url.contains("/d/"), "{url}");
        let exp = f["expirationTimestamp"].as_i64().unwrap();
        assert!((exp - now_ms - 3_600_000).abs() < 120_000, "{exp}");
    }
    // Without the capabilities header, and with an empty body, it is the same.
    let r = call(
        &m,
        "POST",
        &format!("{DS}{}", tpath(t, "query")),
        Some(&m.token("bob")),
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(kinds(&ndjson(&r)).len(), 5);
    // Unknown fields are ignored.
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({"newField": 1, "predicateHints": ["id > 1"]}),
        &[],
    )
    .await;
    assert_eq!(kinds(&ndjson(&r)).len(), 5);
}

#[tokio::test]
async fn the_response_format_is_negotiated_and_named_in_the_response() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let parquet = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    for header in [
        "responseformat=parquet",
        "responseformat=parquet,delta",
        "readerfeatures=x",
    ] {
        let r = ds_query(&m, "bob", t, &json!({}), &[(CAPS, header)]).await;
        assert_eq!(header_of(&r, CAPS), "responseformat=parquet", "{header}");
        assert_eq!(files(&ndjson(&r)).len(), 3);
    }
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({}),
        &[(
            CAPS,
            "responseformat=delta;readerfeatures=deletionvectors,columnmapping",
        )],
    )
    .await;
    assert_eq!(header_of(&r, CAPS), "responseformat=delta");
    assert_eq!(version_header(&r), 2);
    let lines = ndjson(&r);
    assert_eq!(
        kinds(&lines),
        ["protocol", "metaData", "file", "file", "file"]
    );
    let p = &lines[0]["protocol"]["deltaProtocol"];
    assert_eq!(p["minReaderVersion"], 1, "{p}");
    assert!(p["minWriterVersion"].as_i64().unwrap() >= 2, "{p}");
    let dm = &lines[1]["metaData"]["deltaMetadata"];
    assert!(dm["schemaString"].is_string(), "{dm}");
    assert_eq!(dm["format"]["provider"], "parquet");
    assert_eq!(lines[1]["metaData"]["version"], 2);
    let mut delta_ids = BTreeSet::new();
    for l in &lines[2..] {
        let f = &l["file"];
        let add = &f["deltaSingleAction"]["add"];
        assert!(
            add["path"]
                .as_str()
                .unwrap()
                .contains("X-Databricks-Signature="),
            "{add}"
        );
        assert_eq!(add["partitionValues"], json!({}));
        assert_eq!(add["dataChange"], true);
        assert!(add["size"].as_i64().unwrap() > 0);
        assert!(add["modificationTime"].as_i64().unwrap() > 0);
        assert!(add["stats"].is_string(), "{add}");
        delta_ids.insert(f["id"].as_str().unwrap().to_string());
        // The URL answers.
        let d = download(&m, add["path"].as_str().unwrap(), &[]).await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.body.len() as i64, add["size"].as_i64().unwrap());
    }
    let parquet_ids: BTreeSet<String> = parquet
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(delta_ids, parquet_ids, "the same files in both formats");
    // Metadata in the delta format too.
    let r = call(
        &m,
        "GET",
        &format!("{DS}{}", tpath(t, "metadata")),
        Some(&m.token("bob")),
        &[(CAPS, "responseformat=delta")],
        Body::empty(),
    )
    .await;
    assert_eq!(header_of(&r, CAPS), "responseformat=delta");
    let lines = ndjson(&r);
    assert_eq!(kinds(&lines), ["protocol", "metaData"]);
    assert!(lines[0]["protocol"]["deltaProtocol"].is_object());
    assert!(lines[1]["metaData"]["deltaMetadata"].is_object());
}

#[tokio::test]
async fn an_end_stream_action_only_when_asked_for() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({}),
        &[(CAPS, "includeendstreamaction=false")],
    )
    .await;
    assert_eq!(
        kinds(&ndjson(&r)),
        ["protocol", "metaData", "file", "file", "file"]
    );
    assert_eq!(header_of(&r, CAPS), "responseformat=parquet");
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({}),
        &[(CAPS, "responseformat=parquet;includeendstreamaction=true")],
    )
    .await;
    let lines = ndjson(&r);
    assert_eq!(
        kinds(&lines),
        [
            "protocol",
            "metaData",
            "file",
            "file",
            "file",
            "endStreamAction"
        ]
    );
    assert_eq!(
        header_of(&r, CAPS),
        "responseformat=parquet;includeendstreamaction=true"
    );
    let end = &lines[5]["endStreamAction"];
    assert!(end.get("nextPageToken").is_none(), "{end}");
    let min_exp = end["minUrlExpirationTimestamp"].as_i64().unwrap();
    for f in files(&lines) {
        assert!(f["expirationTimestamp"].as_i64().unwrap() >= min_exp);
    }
}

/// The commit time (ms) of each version of the ledger, from its change data feed.
async fn commit_times(m: &Mesh) -> BTreeMap<i64, i64> {
    let r = ds_get(
        m,
        "bob",
        &(tpath("sales.ledger.ledger", "changes") + "?startingVersion=0"),
    )
    .await;
    ndjson(&r)
        .iter()
        .filter_map(|l| l.get("add"))
        .map(|a| {
            (
                a["version"].as_i64().unwrap(),
                a["timestamp"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn time_travel_by_version_and_timestamp() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let latest = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    let latest_ids: BTreeSet<String> = latest
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();

    let r = ds_query(&m, "bob", t, &json!({"version": 0}), &[]).await;
    assert_eq!(version_header(&r), 0);
    let lines = ndjson(&r);
    assert_eq!(lines[1]["metaData"]["version"], 0);
    let v0 = files(&lines);
    assert_eq!(v0.len(), 1, "{v0:?}");
    assert_eq!(num_records(&v0[0]), 3);
    assert_eq!(stats(&v0[0])["minValues"]["id"], 1);
    assert_eq!(stats(&v0[0])["maxValues"]["id"], 3);
    assert!(latest_ids.contains(v0[0]["id"].as_str().unwrap()));
    let r = ds_query(&m, "bob", t, &json!({"version": "1"}), &[]).await;
    assert_eq!(version_header(&r), 1);
    assert_eq!(files(&ndjson(&r)).len(), 2);

    // Beyond the latest version: 400.
    let r = ds_query(&m, "bob", t, &json!({"version": 3}), &[]).await;
    assert_mentions(
        &ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
        "version 3",
    );

    // By time: the version committed at or before it.
    let times = commit_times(&m).await;
    assert_eq!(times.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
    assert!(times[&0] < times[&1] && times[&1] < times[&2], "{times:?}");
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({"timestamp": ms_to_rfc3339(times[&1])}),
        &[],
    )
    .await;
    assert_eq!(version_header(&r), 1);
    assert_eq!(files(&ndjson(&r)).len(), 2);
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({"timestamp": ms_to_rfc3339(times[&2] - 1)}),
        &[],
    )
    .await;
    assert_eq!(version_header(&r), 1);
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({"timestamp": "2000-01-01T00:00:00Z"}),
        &[],
    )
    .await;
    ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");

    // The version endpoint by time: the first version at or after it.
    for (ts, want) in [(times[&1], 1), (times[&1] + 1, 2), (times[&0] - 60_000, 0)] {
        let path = format!(
            "{}?startingTimestamp={}",
            tpath(t, "version"),
            ms_to_rfc3339(ts).replace('+', "%2B")
        );
        let r = ds_get(&m, "bob", &path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(version_header(&r), want, "{ts}");
    }
    let r = ds_get(
        &m,
        "bob",
        &format!(
            "{}?startingTimestamp=2999-01-01T00:00:00Z",
            tpath(t, "version")
        ),
    )
    .await;
    ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn limit_hint_returns_fewer_files_with_enough_rows() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let all = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    assert_eq!(all.len(), 3);
    for limit in [0, 1, 2, 3, 4, 6, 100] {
        let fs = files(&ndjson(
            &ds_query(&m, "bob", t, &json!({"limitHint": limit}), &[]).await,
        ));
        let rows: i64 = fs.iter().map(num_records).sum();
        assert!(!fs.is_empty(), "{limit}");
        assert!(rows >= limit.min(6), "limit {limit}: {rows} rows");
        // Minimal: without its last file the answer would not hold enough rows.
        let without_last: i64 = fs[..fs.len() - 1].iter().map(num_records).sum();
        assert!(without_last < limit.max(1), "limit {limit}: {fs:?}");
    }
    let one = files(&ndjson(
        &ds_query(&m, "bob", t, &json!({"limitHint": 1}), &[]).await,
    ));
    assert_eq!(one.len(), 1, "fewer files than the table has");
}

fn leaf_column(name: &str, value_type: &str) -> Value {
    json!({"op": "column", "name": name, "valueType": value_type})
}

fn leaf_literal(value: &str, value_type: &str) -> Value {
    json!({"op": "literal", "value": value, "valueType": value_type})
}

#[tokio::test]
async fn predicate_hints_prune_by_statistics_and_partitions() {
    let m = ledger_mesh().await;
    add_items(&m).await;
    grant_bob(&m, "sales.items", &json!({})).await;
    let ledger = "sales.ledger.ledger";

    // ids 4–5 are in the file version 1 added.
    let between = json!({"op": "and", "children": [
        {"op": "greaterThanOrEqual", "children": [leaf_column("id", "long"), leaf_literal("4", "long")]},
        {"op": "lessThanOrEqual", "children": [leaf_column("id", "long"), leaf_literal("5", "long")]},
    ]});
    let r = ds_query(
        &m,
        "bob",
        ledger,
        &json!({"jsonPredicateHints": between.to_string()}),
        &[],
    )
    .await;
    let fs = files(&ndjson(&r));
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(stats(&fs[0])["minValues"]["id"], 4);
    assert_eq!(stats(&fs[0])["maxValues"]["id"], 5);
    // `id > 100` matches no file.
    let none = json!({"op": "greaterThan", "children": [leaf_column("id", "int"), leaf_literal("100", "int")]});
    let r = ds_query(
        &m,
        "bob",
        ledger,
        &json!({"jsonPredicateHints": none.to_string()}),
        &[],
    )
    .await;
    assert_eq!(kinds(&ndjson(&r)), ["protocol", "metaData"]);
    // A hint on a column without statistics, or an invalid hint: every file.
    for hint in [
        json!({"op": "equal", "children": [leaf_column("nope", "string"), leaf_literal("x", "string")]}).to_string(),
        "{not json".to_string(),
        json!({"op": "frobnicate", "children": []}).to_string(),
        json!({"op": "equal", "children": [leaf_column("id", "long")]}).to_string(),
    ] {
        let r = ds_query(&m, "bob", ledger, &json!({"jsonPredicateHints": hint}), &[]).await;
        assert_eq!(files(&ndjson(&r)).len(), 3, "{hint}");
    }

    // The multi-tenant table is partitioned by tenant: a hint on it reads one partition.
    let items = "sales.items.items";
    let meta = ndjson(&ds_get(&m, "bob", &tpath(items, "metadata")).await);
    assert_eq!(meta[1]["metaData"]["partitionColumns"], json!(["tenant"]));
    let all = files(&ndjson(&ds_query(&m, "bob", items, &json!({}), &[]).await));
    let tenants: BTreeSet<String> = all
        .iter()
        .map(|f| f["partitionValues"]["tenant"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        tenants,
        BTreeSet::from(["t1".into(), "t2".into(), "t3".into()])
    );
    let t2 = json!({"op": "equal", "children": [leaf_column("tenant", "string"), leaf_literal("t2", "string")]});
    let fs = files(&ndjson(
        &ds_query(
            &m,
            "bob",
            items,
            &json!({"jsonPredicateHints": t2.to_string()}),
            &[],
        )
        .await,
    ));
    assert!(!fs.is_empty());
    assert!(fs.len() < all.len(), "{fs:?}");
    for f in &fs {
        assert_eq!(f["partitionValues"], json!({"tenant": "t2"}), "{f}");
    }
    assert_eq!(fs.iter().map(num_records).sum::<i64>(), 2);
    let not_t2 = json!({"op": "not", "children": [t2]});
    let rest = files(&ndjson(
        &ds_query(
            &m,
            "bob",
            items,
            &json!({"jsonPredicateHints": not_t2.to_string()}),
            &[],
        )
        .await,
    ));
    assert_eq!(rest.len() + fs.len(), all.len());
}

#[tokio::test]
async fn max_files_pages_through_the_files() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let whole = ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await);
    let all: Vec<String> = files(&whole)
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"maxFiles": 2});
        if let Some(t) = &token {
            body["pageToken"] = json!(t);
        }
        let r = ds_query(&m, "bob", t, &body, &[]).await;
        assert_eq!(version_header(&r), 2);
        assert_eq!(
            header_of(&r, CAPS),
            "responseformat=parquet;includeendstreamaction=true"
        );
        let lines = ndjson(&r);
        pages += 1;
        // Every page starts with the same protocol and metadata (the Spark client checks).
        assert_eq!(lines[0], whole[0], "page {pages}");
        assert_eq!(lines[1], whole[1], "page {pages}");
        let last = lines.last().unwrap();
        assert_eq!(kind(last), "endStreamAction", "page {pages}");
        let fs = files(&lines);
        assert!(fs.len() <= 2);
        assert_eq!(lines.len(), fs.len() + 3, "page {pages}");
        seen.extend(fs.iter().map(|f| f["id"].as_str().unwrap().to_string()));
        match last["endStreamAction"]["nextPageToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
        assert!(pages < 5);
    }
    assert_eq!(pages, 2);
    assert_eq!(seen, all);

    // A page token of another query (other hints), or forged: 400.
    let first = ndjson(&ds_query(&m, "bob", t, &json!({"maxFiles": 1}), &[]).await);
    let token = first.last().unwrap()["endStreamAction"]["nextPageToken"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        json!({"maxFiles": 1, "pageToken": token, "limitHint": 1}),
        json!({"maxFiles": 1, "pageToken": token, "version": 1}),
        json!({"maxFiles": 1, "pageToken": "garbage"}),
    ] {
        let r = ds_query(&m, "bob", t, &body, &[]).await;
        ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
    // …or of another recipient.
    let r = ds_query(
        &m,
        "alice",
        t,
        &json!({"maxFiles": 1, "pageToken": token}),
        &[],
    )
    .await;
    ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");

    // A commit between pages: the next page is still of the first page's version.
    let first = ndjson(&ds_query(&m, "bob", t, &json!({"maxFiles": 2}), &[]).await);
    let token = first.last().unwrap()["endStreamAction"]["nextPageToken"]
        .as_str()
        .unwrap()
        .to_string();
    m.post(
        "alice",
        LEDGER_ROWS,
        &json!([{"id": 7, "name": "gus", "region": "EU", "amount": 70}]),
    )
    .await
    .ok(StatusCode::CREATED);
    let r = ds_query(
        &m,
        "bob",
        t,
        &json!({"maxFiles": 2, "pageToken": token}),
        &[],
    )
    .await;
    assert_eq!(version_header(&r), 2);
    let lines = ndjson(&r);
    assert_eq!(lines[0], whole[0]);
    assert_eq!(lines[1], whole[1]);
    let rest: Vec<String> = files(&lines)
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rest, all[2..]);
    let r = ds_query(&m, "bob", t, &json!({}), &[]).await;
    assert_eq!(version_header(&r), 3);
    assert_eq!(files(&ndjson(&r)).len(), 4);
}

#[tokio::test]
async fn file_ids_are_stable_and_stats_are_strings() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let a = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    let b = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    let ids = |fs: &[Value]| -> Vec<String> {
        fs.iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(
        ids(&a).iter().collect::<BTreeSet<_>>().len(),
        3,
        "ids are unique"
    );
    for f in &a {
        assert!(f["stats"].is_string(), "{f}");
        let s = stats(f);
        assert!(s["numRecords"].as_i64().unwrap() > 0, "{s}");
        assert!(s["minValues"]["id"].is_number(), "{s}");
        assert!(f["partitionValues"].is_object(), "{f}");
    }
    // A file keeps its id in older versions.
    let v1 = files(&ndjson(
        &ds_query(&m, "bob", t, &json!({"version": 1}), &[]).await,
    ));
    for id in ids(&v1) {
        assert!(ids(&a).contains(&id), "{id}");
    }
}

// ----- 5. file URLs -----

#[tokio::test]
async fn file_urls_answer_get_head_and_ranges() {
    let m = ledger_mesh().await;
    let fs = files(&ndjson(
        &ds_query(&m, "bob", "sales.ledger.ledger", &json!({}), &[]).await,
    ));
    let mut rows = Vec::new();
    for f in &fs {
        let url = f["url"].as_str().unwrap();
        let size = f["size"].as_i64().unwrap();
        let r = download(&m, url, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body.len() as i64, size);
        assert!(r.body.starts_with(b"PAR1") && r.body.ends_with(b"PAR1"));
        rows.extend(parquet_rows(&r.body));

        let r = call(&m, "HEAD", &local(url), None, &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());
        assert_eq!(header_of(&r, "content-length"), size.to_string());
        assert_eq!(header_of(&r, "accept-ranges"), "bytes");

        let r = download(&m, url, &[("range", "bytes=0-3")]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(header_of(&r, "content-range"), format!("bytes 0-3/{size}"));
        assert_eq!(&r.body[..], b"PAR1");
        let r = download(&m, url, &[("range", "bytes=-4")]).await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            header_of(&r, "content-range"),
            format!("bytes {}-{}/{size}", size - 4, size - 1)
        );
        assert_eq!(&r.body[..], b"PAR1");
        // Outside the file: 416, in the protocol's error shape.
        let r = download(&m, url, &[("range", &format!("bytes={size}-"))]).await;
        ds_error(
            &r,
            StatusCode::RANGE_NOT_SATISFIABLE,
            "INVALID_PARAMETER_VALUE",
        );
    }
    // The files hold the table's rows.
    let sql = m
        .rows("bob", "SELECT * FROM sales.ledger.ledger ORDER BY id")
        .await;
    assert_eq!(sorted_by(rows, "id"), sql);
    assert_eq!(sql.len(), 6);
}

/// Replaces the value of query parameter `key` in a URL.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            if k == key {
                (k.into_owned(), value.to_string())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

fn param(url: &str, key: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {key} in {url}"))
}

#[tokio::test]
async fn file_urls_refuse_tampering_other_principals_and_expiry() {
    let m = ledger_mesh().await;
    let fs = files(&ndjson(
        &ds_query(&m, "bob", "sales.ledger.ledger", &json!({}), &[]).await,
    ));
    let url = fs[0]["url"].as_str().unwrap().to_string();
    let other = fs[1]["url"].as_str().unwrap().to_string();
    assert_eq!(download(&m, &url, &[]).await.status, StatusCode::OK);
    let alice = principal_id(&m, "alice").await;
    let sig = param(&url, "X-Databricks-Signature");
    let flipped: String = sig
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (0, 'A') => 'B',
            (0, _) => 'A',
            (_, c) => c,
        })
        .collect();
    let u = url::Url::parse(&url).unwrap();
    let file_path = u.path().to_string();
    let other_path = url::Url::parse(&other).unwrap().path().to_string();
    let exp: i64 = param(&url, "X-Meshgate-Expires").parse().unwrap();
    let tampered = [
        with_param(&url, "X-Databricks-Signature", &flipped),
        with_param(&url, "X-Databricks-Signature", ""),
        with_param(&url, "X-Meshgate-Principal", &alice.to_string()),
        with_param(&url, "X-Meshgate-Policy", "000000000000000000000000"),
        with_param(&url, "X-Meshgate-Expires", &(exp + 3600).to_string()),
        url.replace(&file_path, &other_path),
        url.replace("/d/", "/s/"),
        url.split('?').next().unwrap().to_string(),
    ];
    for t in &tampered {
        assert_ne!(t, &url);
        let r = download(&m, t, &[]).await;
        let msg = ds_error(&r, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
        assert!(!r.body.windows(4).any(|w| w == b"PAR1"), "{t}");
        assert!(!msg.contains(&sig), "{msg}");
        let r = call(&m, "HEAD", &local(t), None, &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{t}");
    }

    // Authentic but expired (signed by the server's own signer).
    let table_id = Uuid::parse_str(file_path.split('/').nth(3).unwrap()).unwrap();
    let policy = param(&url, "X-Meshgate-Policy");
    let inner = file_path.splitn(5, '/').nth(4).unwrap().to_string();
    assert!(inner.starts_with("d/"), "{inner}");
    let bob = principal_id(&m, "bob").await;
    let resource = SignedResource::SharingFile {
        table_id,
        policy: &policy,
        path: &inner,
    };
    let past = Utc::now().timestamp() - 1;
    let past_sig = m.state.url_signer.sign(&resource, bob, past).unwrap();
    let expired = with_param(
        &with_param(&url, "X-Meshgate-Expires", &past.to_string()),
        "X-Databricks-Signature",
        &past_sig,
    );
    let msg = ds_error(
        &download(&m, &expired, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert_mentions(&msg, "expired");
    // The same, one hour ahead: served (the signer is the only secret).
    let future = Utc::now().timestamp() + 3600;
    let good = with_param(
        &with_param(&url, "X-Meshgate-Expires", &future.to_string()),
        "X-Databricks-Signature",
        &m.state.url_signer.sign(&resource, bob, future).unwrap(),
    );
    assert_eq!(download(&m, &good, &[]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoking_the_share_kills_urls_and_hides_the_table() {
    let m = Mesh::demo().await;
    m.add_ledger().await;
    let share = grant_bob(&m, "sales.ledger", &json!({})).await;
    let fs = files(&ndjson(
        &ds_query(&m, "bob", "sales.ledger.ledger", &json!({}), &[]).await,
    ));
    let url = fs[0]["url"].as_str().unwrap().to_string();
    assert_eq!(download(&m, &url, &[]).await.status, StatusCode::OK);
    assert_eq!(names(&ds_get(&m, "bob", "/shares").await), ["sales"]);

    m.post(
        "alice",
        &format!("/api/v1/shares/{share}/revoke"),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);

    let msg = ds_error(
        &download(&m, &url, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert_mentions(&msg, "no longer shared");
    let r = call(&m, "HEAD", &local(&url), None, &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares").await),
        Vec::<String>::new()
    );
    for path in [
        "/shares/sales".to_string(),
        "/shares/sales/schemas".to_string(),
        "/shares/sales/all-tables".to_string(),
        "/shares/sales/schemas/ledger/tables".to_string(),
        tpath("sales.ledger.ledger", "metadata"),
        tpath("sales.ledger.ledger", "version"),
    ] {
        ds_error(
            &ds_get(&m, "bob", &path).await,
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
        );
    }
    let r = ds_query(&m, "bob", "sales.ledger.ledger", &json!({}), &[]).await;
    ds_error(&r, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    let denied = m.audit("action=sharing.download").await;
    assert!(
        denied
            .iter()
            .any(|e| e["actor"] == "bob" && e["outcome"] == "denied"),
        "{denied:#?}"
    );
}

// ----- 6. filtered and masked items -----

/// The rows of every file of a `/query` answer, sorted by `person_id`.
async fn rows_of_files(m: &Mesh, fs: &[Value]) -> Vec<Value> {
    let mut rows = Vec::new();
    for f in fs {
        let r = download(m, f["url"].as_str().unwrap(), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.body.len() as i64, f["size"].as_i64().unwrap());
        rows.extend(parquet_rows(&r.body));
    }
    sorted_by(rows, "person_id")
}

fn url_paths(fs: &[Value]) -> BTreeSet<String> {
    fs.iter()
        .map(|f| {
            url::Url::parse(f["url"].as_str().unwrap())
                .unwrap()
                .path()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn filtered_and_masked_items_are_served_as_snapshots_of_what_sql_shows() {
    let (m, share) = people_mesh().await;
    let t = "sales.people.people";
    let sql = "SELECT * FROM sales.people.people ORDER BY person_id";

    let r = ds_query(&m, "bob", t, &json!({}), &[]).await;
    assert_eq!(version_header(&r), 0);
    let lines = ndjson(&r);
    let fs = files(&lines);
    assert!(!fs.is_empty());
    for f in &fs {
        let url = f["url"].as_str().unwrap();
        assert!(url.contains("/s/"), "a snapshot file: {url}");
        assert!(!url.contains("/d/"), "never a table file: {url}");
    }
    // The schema is what bob may read.
    let schema: Value =
        serde_json::from_str(lines[1]["metaData"]["schemaString"].as_str().unwrap()).unwrap();
    let columns: BTreeSet<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        BTreeSet::from(["person_id", "name", "email", "region"])
    );
    let meta = ndjson(&ds_get(&m, "bob", &tpath(t, "metadata")).await);
    assert_eq!(meta[1]["metaData"]["id"], lines[1]["metaData"]["id"]);
    assert_eq!(
        meta[1]["metaData"]["schemaString"],
        lines[1]["metaData"]["schemaString"]
    );

    // The files hold exactly what SQL shows bob.
    let expected = m.rows("bob", sql).await;
    let who: Vec<&str> = expected
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["ann", "eve"]);
    assert_eq!(rows_of_files(&m, &fs).await, expected);
    assert!(
        !expected
            .iter()
            .any(|r| r.to_string().contains("@example.com")),
        "emails are hashed: {expected:?}"
    );

    // A second query reuses the snapshot.
    let again = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    assert_eq!(url_paths(&again), url_paths(&fs));
    let ids = |fs: &[Value]| -> BTreeSet<String> {
        fs.iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&again), ids(&fs));
    // No change data feed and no streaming of the raw changes for a filtered item.
    let r = ds_get(&m, "bob", &(tpath(t, "changes") + "?startingVersion=0")).await;
    ds_error(&r, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let r = ds_query(&m, "bob", t, &json!({"startingVersion": 0}), &[]).await;
    ds_error(&r, StatusCode::FORBIDDEN, "PERMISSION_DENIED");

    // The owner reads the raw table's files.
    let owner = files(&ndjson(&ds_query(&m, "alice", t, &json!({}), &[]).await));
    assert!(
        owner
            .iter()
            .all(|f| f["url"].as_str().unwrap().contains("/d/"))
    );
    assert_eq!(rows_of_files(&m, &owner).await, m.rows("alice", sql).await);

    // The grant changes: a new snapshot, and the old URLs are refused.
    let item = m.share("alice", &share).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    m.post(
        "alice",
        &format!("/api/v1/shares/{share}/items/{item}/modify"),
        &json!({"data_filters": ["us"], "columns": ["person_id", "name", "region"]}),
    )
    .await
    .ok(StatusCode::OK);
    let old = fs[0]["url"].as_str().unwrap();
    let msg = ds_error(
        &download(&m, old, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert_mentions(&msg, "changed");
    let now = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    assert!(
        url_paths(&now).is_disjoint(&url_paths(&fs)),
        "a new snapshot"
    );
    assert!(
        now.iter()
            .all(|f| f["url"].as_str().unwrap().contains("/s/"))
    );
    let expected = m.rows("bob", sql).await;
    assert_eq!(
        expected,
        vec![json!({"person_id": 2, "name": "ben", "region": "US"})]
    );
    assert_eq!(rows_of_files(&m, &now).await, expected);

    // Revoked and approved again with another filter: again a new snapshot.
    m.post(
        "alice",
        &format!("/api/v1/shares/{share}/revoke"),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    let old = now[0]["url"].as_str().unwrap().to_string();
    ds_error(
        &download(&m, &old, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    grant_bob(
        &m,
        "sales.people",
        &json!({"items": [{"table": "people", "data_filters": ["eu"], "masks": {"email": "redact"}}]}),
    )
    .await;
    let last = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    assert!(url_paths(&last).is_disjoint(&url_paths(&now)));
    let expected = m.rows("bob", sql).await;
    assert_eq!(expected.len(), 2);
    assert_eq!(expected[0]["email"], "xxx@xxxxxxx.xxx", "{expected:?}");
    assert_eq!(rows_of_files(&m, &last).await, expected);
    ds_error(
        &download(&m, &old, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
}

/// Issue 13, finding 9: rotating the mask key changes the access fingerprint of a hashed
/// item, so the snapshot made under the old key (and the URLs to it) is never served again:
/// the next query makes a new snapshot whose rows carry the new hashes.
#[tokio::test]
async fn rotating_the_mask_key_retires_snapshots_of_hashed_items() {
    let (m, _share) = people_mesh().await;
    let t = "sales.people.people";
    let sql = "SELECT * FROM sales.people.people ORDER BY person_id";
    let before = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    let hashed_before = m.rows("bob", sql).await;
    assert_eq!(rows_of_files(&m, &before).await, hashed_before);

    m.post("admin", "/api/v1/mesh/mask-key/rotate", &json!({}))
        .await
        .ok(StatusCode::OK);

    let old = before[0]["url"].as_str().unwrap();
    let msg = ds_error(
        &download(&m, old, &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert_mentions(&msg, "changed");
    let after = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    assert!(
        url_paths(&after).is_disjoint(&url_paths(&before)),
        "a new snapshot"
    );
    let hashed_after = m.rows("bob", sql).await;
    assert_eq!(hashed_after.len(), hashed_before.len());
    for (a, b) in hashed_after.iter().zip(&hashed_before) {
        assert_eq!(a["person_id"], b["person_id"]);
        assert_ne!(a["email"], b["email"], "new hashes after the rotation");
    }
    assert_eq!(rows_of_files(&m, &after).await, hashed_after);
}

#[tokio::test]
async fn a_tenant_scoped_credential_reads_its_tenant_and_its_urls_answer() {
    let m = Mesh::demo().await;
    add_items(&m).await;
    grant_bob(&m, "sales.items", &json!({})).await;
    let v = m
        .post(
            "bob",
            "/api/v1/credentials",
            &json!({"tables": ["sales.items.items"], "actions": ["read"], "key_prefix": "t1-"}),
        )
        .await
        .ok(StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_string();
    let token = v["token"].as_str().unwrap().to_string();
    let by_key = |mut rows: Vec<Value>| {
        rows.sort_by_key(|r| r["item_id"].as_str().unwrap().to_string());
        rows
    };
    let sql = call(
        &m,
        "POST",
        "/api/v1/query",
        Some(&token),
        &[("content-type", "application/json")],
        json!({"sql": "SELECT * FROM sales.items.items", "format": "json"}).to_string(),
    )
    .await
    .ok(StatusCode::OK);
    let expected = by_key(sql.as_array().unwrap().clone());
    let keys: Vec<&str> = expected
        .iter()
        .map(|r| r["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["t1-1", "t1-2"]);

    let query = format!("{DS}{}", tpath("sales.items.items", "query"));
    let r = call(&m, "POST", &query, Some(&token), &[], "{}").await;
    let fs = files(&ndjson(&r));
    assert!(!fs.is_empty());
    let mut rows = Vec::new();
    for f in &fs {
        let url = f["url"].as_str().unwrap();
        assert!(
            url.contains("/s/"),
            "the tenant's snapshot, not the table: {url}"
        );
        let d = download(&m, url, &[]).await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.text());
        rows.extend(parquet_rows(&d.body));
    }
    assert_eq!(by_key(rows), expected);

    // Revoking the credential refuses its requests and its URLs.
    m.delete("bob", &format!("/api/v1/credentials/{id}"))
        .await
        .ok(StatusCode::OK);
    let r = call(&m, "POST", &query, Some(&token), &[], "{}").await;
    ds_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    for f in &fs {
        ds_error(
            &download(&m, f["url"].as_str().unwrap(), &[]).await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        );
    }
}

// ----- 7. changes -----

#[tokio::test]
async fn changes_serve_the_feed_with_versions_and_timestamps() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let r = ds_get(
        &m,
        "bob",
        &(tpath(t, "changes") + "?startingVersion=1&endingVersion=2"),
    )
    .await;
    assert_eq!(version_header(&r), 1);
    assert_eq!(header_of(&r, CAPS), "responseformat=parquet");
    let lines = ndjson(&r);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "add", "add"]);
    let adds: Vec<&Value> = lines[2..].iter().map(|l| &l["add"]).collect();
    assert_eq!(
        adds.iter()
            .map(|a| a["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(adds[0]["timestamp"].as_i64().unwrap() < adds[1]["timestamp"].as_i64().unwrap());
    let mut ids = Vec::new();
    for a in &adds {
        assert_eq!(a["partitionValues"], json!({}));
        assert!(a["stats"].is_string());
        ids.push(a["id"].as_str().unwrap().to_string());
        let d = download(&m, a["url"].as_str().unwrap(), &[]).await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.body.len() as i64, a["size"].as_i64().unwrap());
    }
    let rows: Vec<i64> = {
        let mut out = Vec::new();
        for a in &adds {
            let d = download(&m, a["url"].as_str().unwrap(), &[]).await;
            out.extend(
                parquet_rows(&d.body)
                    .iter()
                    .map(|r| r["id"].as_i64().unwrap()),
            );
        }
        out.sort_unstable();
        out
    };
    assert_eq!(rows, [4, 5, 6]);
    // The same files have the same ids as in a snapshot query.
    let snapshot: BTreeSet<String> = files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await))
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.iter().all(|i| snapshot.contains(i)), "{ids:?}");

    // Booleans as the Python client sends them; the ending version defaults to the latest.
    for q in [
        "?startingVersion=1&includeHistoricalMetadata=True",
        "?startingVersion=1&includeHistoricalMetadata=false",
        "?startingVersion=1&endingVersion=7",
    ] {
        let r = ds_get(&m, "bob", &(tpath(t, "changes") + q)).await;
        assert_eq!(
            kinds(&ndjson(&r)),
            ["protocol", "metaData", "add", "add"],
            "{q}"
        );
    }
    // By time.
    let times = commit_times(&m).await;
    let q = format!(
        "?startingTimestamp={}&endingTimestamp={}",
        ms_to_rfc3339(times[&1]),
        ms_to_rfc3339(times[&1])
    );
    let lines = ndjson(&ds_get(&m, "bob", &(tpath(t, "changes") + &q)).await);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "add"]);
    assert_eq!(lines[2]["add"]["version"], 1);
    // The delta format wraps them as file lines.
    let r = call(
        &m,
        "GET",
        &format!("{DS}{}?startingVersion=2", tpath(t, "changes")),
        Some(&m.token("bob")),
        &[(CAPS, "responseformat=delta")],
        Body::empty(),
    )
    .await;
    assert_eq!(header_of(&r, CAPS), "responseformat=delta");
    let lines = ndjson(&r);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "file"]);
    assert_eq!(lines[1]["metaData"]["version"], 2);
    assert_eq!(lines[2]["file"]["version"], 2);
    assert!(lines[2]["file"]["deltaSingleAction"]["add"].is_object());

    // Beyond the latest version, or the end before the start: 400.
    for q in [
        "?startingVersion=3",
        "?startingVersion=2&endingVersion=1",
        "?endingVersion=1",
    ] {
        let r = ds_get(&m, "bob", &(tpath(t, "changes") + q)).await;
        ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }

    // The streaming form of `/query`: the files each version added, with versions.
    let r = ds_query(&m, "bob", t, &json!({"startingVersion": 1}), &[]).await;
    let lines = ndjson(&r);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "file", "file"]);
    assert_eq!(
        files(&lines)
            .iter()
            .map(|f| f["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

// ----- 8. IP allow-lists -----

#[tokio::test]
async fn ip_allow_lists_fail_closed_and_only_admins_set_them() {
    let m = ledger_mesh().await;
    let settings = "/api/v1/recipients/bob/settings";
    for who in ["alice", "bob"] {
        m.put(who, settings, &json!({"ip_allow_list": ["127.0.0.1"]}))
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    }
    m.put("admin", settings, &json!({"ip_allow_list": ["not an ip"]}))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_request");
    let v = m
        .put("admin", settings, &json!({"ip_allow_list": ["10.0.0.0/8"]}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["ip_allow_list"], json!(["10.0.0.0/8"]));
    assert_eq!(
        m.get("admin", settings).await.ok(StatusCode::OK)["ip_allow_list"],
        json!(["10.0.0.0/8"])
    );

    // The OAuth token endpoint applies it too.
    let (client_id, profile) = recipient_token(&m, "bob", &json!({"kind": "oauth"})).await;
    let r = form(
        &m,
        &local(profile["tokenEndpoint"].as_str().unwrap()),
        &[],
        format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={}",
            profile["clientSecret"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"], "access_denied");
    assert!(!r.text().contains(SECRET), "{}", r.text());

    // Without a known peer address (no socket): refused.
    let msg = ds_error(
        &ds_get(&m, "bob", "/shares").await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    assert_mentions(&msg, "unknown address");
    // alice has no list.
    assert_eq!(ds_get(&m, "alice", "/shares").await.status, StatusCode::OK);

    // On a real socket, from 127.0.0.1.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(meshgate_server::serve_on(
        m.state.clone(),
        listener,
        stop.clone().cancelled_owned(),
    ));
    let client = reqwest::Client::new();
    let base = format!("http://{addr}{DS}");
    let get = |path: String| {
        let client = client.clone();
        let token = m.token("bob");
        async move {
            let r = client.get(path).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let (status, body) = get(format!("{base}/shares")).await;
    assert_eq!(status, 403, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorCode"], "PERMISSION_DENIED");
    assert_mentions(v["message"].as_str().unwrap(), "127.0.0.1");

    m.put("admin", settings, &json!({"ip_allow_list": ["127.0.0.1"]}))
        .await
        .ok(StatusCode::OK);
    let (status, body) = get(format!("{base}/shares")).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"][0]["name"], "sales");
    // Downloads are checked too.
    let r = client
        .post(format!("{base}{}", tpath("sales.ledger.ledger", "query")))
        .bearer_auth(m.token("bob"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let first_file: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l.get("file").is_some())
        .unwrap();
    let file_url = format!(
        "http://{addr}{}",
        local(first_file["file"]["url"].as_str().unwrap())
    );
    let (status, _) = get(file_url.clone()).await;
    assert_eq!(status, 200);
    // Without a socket the same URL is refused.
    ds_error(
        &download(&m, first_file["file"]["url"].as_str().unwrap(), &[]).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    m.put(
        "admin",
        settings,
        &json!({"ip_allow_list": ["10.0.0.0/8", "::2"]}),
    )
    .await
    .ok(StatusCode::OK);
    let (status, body) = get(file_url).await;
    assert_eq!(status, 403, "{body}");
    // An empty list is any address again.
    m.put("admin", settings, &json!({"ip_allow_list": []}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(ds_get(&m, "bob", "/shares").await.status, StatusCode::OK);
    drop(client);
    stop.cancel();
    server.await.unwrap().unwrap();

    let denied = m.audit("action=sharing.denied").await;
    assert!(
        denied.iter().any(|e| e["actor"] == "bob"
            && e["outcome"] == "denied"
            && e["detail"]["reason"] == "ip_allow_list"
            && e["detail"]["address"] == "127.0.0.1"),
        "{denied:#?}"
    );
}

// ----- 9. audit -----

#[tokio::test]
async fn queries_and_downloads_are_audited_with_table_and_bytes() {
    let m = ledger_mesh().await;
    let fs = files(&ndjson(
        &ds_query(&m, "bob", "sales.ledger.ledger", &json!({}), &[]).await,
    ));
    let total: i64 = fs.iter().map(|f| f["size"].as_i64().unwrap()).sum();
    let size = fs[0]["size"].as_i64().unwrap();
    assert_eq!(
        download(&m, fs[0]["url"].as_str().unwrap(), &[])
            .await
            .status,
        StatusCode::OK
    );
    let r = download(
        &m,
        fs[0]["url"].as_str().unwrap(),
        &[("range", "bytes=0-3")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);

    let queries = m.audit("action=sharing.query").await;
    let q = queries
        .iter()
        .find(|e| e["actor"] == "bob")
        .unwrap_or_else(|| panic!("{queries:#?}"));
    assert_eq!(q["outcome"], "success");
    assert_eq!(q["detail"]["table"], "sales.ledger.ledger");
    assert_eq!(q["detail"]["files"], 3);
    assert_eq!(q["detail"]["bytes"], total);
    assert_eq!(q["detail"]["version"], 2);
    assert_eq!(q["detail"]["filtered"], false);

    let downloads: Vec<Value> = m
        .audit("action=sharing.download")
        .await
        .into_iter()
        .filter(|e| e["actor"] == "bob")
        .collect();
    assert_eq!(downloads.len(), 2, "{downloads:#?}");
    for d in &downloads {
        assert_eq!(d["outcome"], "success");
        assert_eq!(d["detail"]["table"], "sales.ledger.ledger");
        assert_eq!(d["detail"]["via"], "delta_sharing");
    }
    let bytes: BTreeSet<i64> = downloads
        .iter()
        .map(|d| d["detail"]["bytes"].as_i64().unwrap())
        .collect();
    assert_eq!(bytes, BTreeSet::from([size, 4]));
    let metadata = m.audit("action=sharing.metadata").await;
    assert!(metadata.is_empty(), "{metadata:#?}");
    ds_get(&m, "bob", &tpath("sales.ledger.ledger", "metadata")).await;
    let metadata = m.audit("action=sharing.metadata").await;
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata[0]["detail"]["table"], "sales.ledger.ledger");
}

// ----- 10. malformed requests -----

#[tokio::test]
async fn malformed_requests_are_4xx_in_the_protocol_shape() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let query = format!("{DS}{}", tpath(t, "query"));
    let changes = format!("{DS}{}", tpath(t, "changes"));
    let version = format!("{DS}{}", tpath(t, "version"));
    let bad_bodies: [&str; 17] = [
        "{not json",
        "[1, 2]",
        "\"text\"",
        r#"{"limitHint": -1}"#,
        r#"{"limitHint": "many"}"#,
        r#"{"version": 1, "timestamp": "2024-01-01T00:00:00Z"}"#,
        r#"{"timestamp": "yesterday"}"#,
        r#"{"timestamp": "2024-02-30T00:00:00Z"}"#,
        r#"{"version": -1}"#,
        r#"{"version": 1.5}"#,
        r#"{"version": 99}"#,
        r#"{"version": 1e400}"#,
        r#"{"startingVersion": -1}"#,
        r#"{"startingVersion": 99}"#,
        r#"{"endingVersion": 1}"#,
        r#"{"maxFiles": 0}"#,
        r#"{"pageToken": "garbage", "maxFiles": 1}"#,
    ];
    for body in bad_bodies {
        let r = call(&m, "POST", &query, Some(&m.token("bob")), &[], body).await;
        ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
    let bad_gets = [
        changes.clone(),
        format!("{changes}?startingVersion=abc"),
        format!("{changes}?startingVersion=-1"),
        format!("{changes}?startingVersion=99999999999999999999"),
        format!("{changes}?startingVersion=0&startingTimestamp=2024-01-01T00:00:00Z"),
        format!("{changes}?startingTimestamp=notatime"),
        format!("{changes}?startingVersion=0&includeHistoricalMetadata=maybe"),
        format!("{version}?startingTimestamp=notatime"),
        format!("{DS}/shares?maxResults=-1"),
        format!("{DS}/shares?maxResults=ten"),
        format!("{DS}/shares?maxResults=99999999999999999999999"),
        format!("{DS}/shares?pageToken=garbage"),
        format!("{DS}/shares/sales/schemas?maxResults=1.5"),
        format!("{DS}/shares?maxResults=1&maxResults=2"),
    ];
    for path in &bad_gets {
        let r = call(&m, "GET", path, Some(&m.token("bob")), &[], Body::empty()).await;
        assert!(
            r.status.is_client_error(),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
    // Paths and methods the protocol does not have: 4xx in its shape too.
    for (method, path) in [
        ("GET", format!("{DS}/nope")),
        (
            "GET",
            format!("{DS}/shares/sales/schemas/ledger/tables/ledger/nope"),
        ),
        ("GET", query.clone()),
        ("POST", format!("{DS}/shares")),
        ("GET", format!("{DS}/shares/%FF/schemas")),
    ] {
        let r = call(&m, method, &path, Some(&m.token("bob")), &[], Body::empty()).await;
        assert!(r.status.is_client_error(), "{method} {path}: {}", r.status);
        let v: Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| panic!("{method} {path}: {} {}", r.status, r.text()));
        assert!(v["errorCode"].is_string(), "{method} {path}: {v}");
        assert!(v["message"].is_string(), "{method} {path}: {v}");
    }

    // Unknown capabilities and values are ignored, not errors: parquet is the default.
    for caps in [
        "responseformat=avro",
        "nonsense",
        "readerfeatures=;=;;",
        "responseformat=",
    ] {
        let r = call(
            &m,
            "POST",
            &query,
            Some(&m.token("bob")),
            &[(CAPS, caps)],
            "{}",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{caps}: {}", r.text());
        assert_eq!(header_of(&r, CAPS), "responseformat=parquet", "{caps}");
    }
    // Huge but valid numbers are served (capped), never a 5xx.
    for body in [
        r#"{"limitHint": 9223372036854775807}"#,
        r#"{"maxFiles": 9223372036854775807}"#,
        r#"{"timestamp": "9999-12-31T23:59:59Z"}"#,
    ] {
        let r = call(&m, "POST", &query, Some(&m.token("bob")), &[], body).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.text());
    }
    let v = ds_get(&m, "bob", "/shares?maxResults=99999999999")
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    // Every answer carried a request id.
    let r = call(&m, "POST", &query, Some(&m.token("bob")), &[], "{").await;
    assert!(!header_of(&r, "x-request-id").is_empty());
}

// ----- 10. what the protocol says and long-lived tables need -----

#[tokio::test]
async fn names_are_case_insensitive_on_every_endpoint() {
    let m = ledger_mesh().await;
    let v = ds_get(&m, "bob", "/shares/SALES").await.ok(StatusCode::OK);
    assert_eq!(v["share"]["name"], "sales", "{v}");
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares/Sales/schemas").await),
        ["ledger"]
    );
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares/SALES/schemas/Ledger/tables").await),
        ["ledger"]
    );
    assert_eq!(
        names(&ds_get(&m, "bob", "/shares/sAlEs/all-tables").await),
        ["ledger"]
    );
    let t = "SALES.Ledger.LEDGER";
    assert_eq!(
        version_header(&ds_get(&m, "bob", &tpath(t, "version")).await),
        2
    );
    let head = call(
        &m,
        "HEAD",
        &format!("{DS}{}", tpath(t, "").trim_end_matches('/')),
        Some(&m.token("bob")),
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(version_header(&head), 2);
    let lines = ndjson(&ds_get(&m, "bob", &tpath(t, "metadata")).await);
    assert_eq!(kinds(&lines), ["protocol", "metaData"]);
    let lines = ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await);
    assert_eq!(files(&lines).len(), 3);
    let lines = ndjson(&ds_get(&m, "bob", &(tpath(t, "changes") + "?startingVersion=1")).await);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "add", "add"]);
    // Other names are still unknown.
    for path in [
        "/shares/SALESX".to_string(),
        "/shares/SALES/schemas/Ledgers/tables".to_string(),
        tpath("SALES.Ledger.LEDGERS", "metadata"),
    ] {
        let r = ds_get(&m, "bob", &path).await;
        ds_error(&r, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    }
}

#[tokio::test]
async fn whole_table_readers_read_the_feed_of_reader_version_3_tables() {
    let m = Mesh::demo().await;
    m.add_stamps().await;
    grant_bob(&m, "sales.stamps", &json!({})).await;
    let t = "sales.stamps.stamps";
    let delta = [(CAPS, "responseformat=delta,parquet")];
    let r = call(
        &m,
        "GET",
        &format!("{DS}{}", tpath(t, "metadata")),
        Some(&m.token("bob")),
        &delta,
        Body::empty(),
    )
    .await;
    let lines = ndjson(&r);
    assert_eq!(
        lines[0]["protocol"]["deltaProtocol"]["minReaderVersion"], 3,
        "a timestamp column makes a timestamp_ntz table: {lines:?}"
    );
    // The feed, in the delta format.
    let r = call(
        &m,
        "GET",
        &format!("{DS}{}?startingVersion=0", tpath(t, "changes")),
        Some(&m.token("bob")),
        &delta,
        Body::empty(),
    )
    .await;
    assert_eq!(header_of(&r, CAPS), "responseformat=delta");
    let lines = ndjson(&r);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "file"]);
    assert_eq!(lines[2]["file"]["version"], 0);
    // The streaming form of `/query`.
    let r = ds_query(&m, "bob", t, &json!({"startingVersion": 0}), &delta).await;
    assert_eq!(kinds(&ndjson(&r)), ["protocol", "metaData", "file"]);
    // Asked for parquet only: the format's 400 (naming the header), not a refusal.
    let r = ds_get(&m, "bob", &(tpath(t, "changes") + "?startingVersion=0")).await;
    let message = ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert_mentions(&message, "delta-sharing-capabilities");
    // A filtered reader of the same table is still refused its raw changes.
    let filtered = Mesh::demo().await;
    filtered.add_stamps().await;
    filtered
        .post(
            "alice",
            "/api/v1/products/sales/stamps/tables/stamps/data-filters",
            &json!({"name": "first", "row_filter": "id = 1"}),
        )
        .await
        .ok(StatusCode::CREATED);
    grant_bob(
        &filtered,
        "sales.stamps",
        &json!({"items": [{"table": "stamps", "data_filters": ["first"]}]}),
    )
    .await;
    let r = call(
        &filtered,
        "GET",
        &format!("{DS}{}?startingVersion=0", tpath(t, "changes")),
        Some(&filtered.token("bob")),
        &delta,
        Body::empty(),
    )
    .await;
    ds_error(&r, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
}

/// The folder of a local table's files, from its `file://` location.
async fn table_dir(m: &Mesh, product: &str) -> std::path::PathBuf {
    let (domain, name) = product.split_once('.').unwrap();
    let p = m
        .get("alice", &format!("/api/v1/products/{domain}/{name}"))
        .await
        .ok(StatusCode::OK);
    let location = p["tables"][0]["location"].as_str().unwrap();
    url::Url::parse(location).unwrap().to_file_path().unwrap()
}

#[tokio::test]
async fn tables_whose_early_log_was_cleaned_up_answer_every_endpoint() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let times = commit_times(&m).await;
    // A checkpoint at the latest version (2), then log retention removes versions 0 and 1,
    // as Spark and Databricks do to every long-lived table.
    let dir = table_dir(&m, "sales.ledger").await;
    let location = url::Url::from_directory_path(&dir).unwrap();
    let mut table = deltalake::DeltaTableBuilder::from_url(location)
        .unwrap()
        .build()
        .unwrap();
    table.load().await.unwrap();
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .unwrap();
    let log = dir.join("_delta_log");
    let mut removed = 0;
    for entry in std::fs::read_dir(&log).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("00000000000000000000.") || name.starts_with("00000000000000000001.") {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    assert!(removed >= 2, "versions 0 and 1 were in the log");
    assert!(
        std::fs::read_dir(&log).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".checkpoint.")),
        "a checkpoint was written"
    );

    let r = ds_get(&m, "bob", &tpath(t, "version")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(version_header(&r), 2);
    let head = call(
        &m,
        "HEAD",
        &format!("{DS}{}", tpath(t, "").trim_end_matches('/')),
        Some(&m.token("bob")),
        &[],
        Body::empty(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(version_header(&head), 2);
    // A time before the earliest version left: that version.
    let r = ds_get(
        &m,
        "bob",
        &(tpath(t, "version") + "?startingTimestamp=" + &ms_to_rfc3339(times[&0])),
    )
    .await;
    assert_eq!(version_header(&r), 2, "{}", r.text());
    let lines = ndjson(&ds_get(&m, "bob", &tpath(t, "metadata")).await);
    assert_eq!(lines[1]["metaData"]["version"], 2);
    assert_eq!(
        files(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await)).len(),
        3
    );
    // The feed and the streaming query from the versions still in the log.
    let r = ds_get(&m, "bob", &(tpath(t, "changes") + "?startingVersion=2")).await;
    assert_eq!(version_header(&r), 2);
    let lines = ndjson(&r);
    assert_eq!(kinds(&lines), ["protocol", "metaData", "add"]);
    assert_eq!(lines[2]["add"]["version"], 2);
    let r = ds_query(&m, "bob", t, &json!({"startingVersion": 2}), &[]).await;
    assert_eq!(kinds(&ndjson(&r)), ["protocol", "metaData", "file"]);
    // Versions that are gone: a 400 that says so.
    let r = ds_get(&m, "bob", &(tpath(t, "changes") + "?startingVersion=0")).await;
    let message = ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert_mentions(&message, "no longer");
    let r = ds_query(&m, "bob", t, &json!({"version": 0}), &[]).await;
    let message = ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert_mentions(&message, "no longer available");
}

#[tokio::test]
async fn metadata_answers_the_version_or_time_asked_for() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let times = commit_times(&m).await;
    let meta = |q: String| {
        let m = &m;
        async move { ds_get(m, "bob", &(tpath(t, "metadata") + &q)).await }
    };
    for (q, version, files) in [
        (String::new(), 2, 3),
        ("?version=0".to_string(), 0, 1),
        ("?version=1".to_string(), 1, 2),
        (format!("?timestamp={}", ms_to_rfc3339(times[&1])), 1, 2),
        (format!("?timestamp={}", ms_to_rfc3339(times[&0])), 0, 1),
    ] {
        let r = meta(q.clone()).await;
        assert_eq!(version_header(&r), version, "{q}");
        let lines = ndjson(&r);
        assert_eq!(lines[1]["metaData"]["version"], version, "{q}");
        assert_eq!(lines[1]["metaData"]["numFiles"], files, "{q}");
    }
    for q in [
        "?version=0&timestamp=2024-01-01T00:00:00Z",
        "?version=-1",
        "?version=one",
        "?version=9",
        "?timestamp=yesterday",
        "?timestamp=2000-01-01T00:00:00Z",
    ] {
        let r = meta(q.to_string()).await;
        ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
}

#[tokio::test]
async fn the_fileidhash_header_is_checked_and_picks_the_file_ids() {
    let m = ledger_mesh().await;
    let t = "sales.ledger.ledger";
    let ids_of = |lines: &[Value]| -> Vec<String> {
        let mut ids: Vec<String> = files(lines)
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let default = ids_of(&ndjson(&ds_query(&m, "bob", t, &json!({}), &[]).await));
    let mut seen = vec![default.clone()];
    for (value, hex_len) in [
        ("parquet", 32),
        ("PARQUET", 32),
        ("delta", 64),
        ("Delta", 64),
    ] {
        let header = [("fileidhash", value)];
        let first = ids_of(&ndjson(&ds_query(&m, "bob", t, &json!({}), &header).await));
        let again = ids_of(&ndjson(&ds_query(&m, "bob", t, &json!({}), &header).await));
        assert_eq!(first, again, "{value}: stable across requests");
        assert_eq!(first.len(), 3);
        assert!(
            first
                .iter()
                .all(|id| id.len() == hex_len && id.bytes().all(|b| b.is_ascii_hexdigit())),
            "{value}: {first:?}"
        );
        // The feed names the same files with the same ids.
        let r = call(
            &m,
            "GET",
            &format!("{DS}{}?startingVersion=0", tpath(t, "changes")),
            Some(&m.token("bob")),
            &header,
            Body::empty(),
        )
        .await;
        let mut feed: Vec<String> = ndjson(&r)
            .iter()
            .filter_map(|l| l.get("add"))
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        feed.sort();
        assert_eq!(feed, first, "{value}");
        if !seen.contains(&first) {
            seen.push(first);
        }
    }
    assert_eq!(seen.len(), 3, "default, MD5 and SHA-256 ids differ");
    for bad in ["md5", "sha256", "", "parquet,delta"] {
        let r = ds_query(&m, "bob", t, &json!({}), &[("fileidhash", bad)]).await;
        let message = ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
        assert_mentions(&message, "fileidhash");
        let r = call(
            &m,
            "GET",
            &format!("{DS}{}?startingVersion=0", tpath(t, "changes")),
            Some(&m.token("bob")),
            &[("fileidhash", bad)],
            Body::empty(),
        )
        .await;
        ds_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
}

/// Whether the Arrow schema a Parquet file declares (its stored Arrow schema, as pyarrow reads
/// it) has a view type, which readers before pyarrow 16 cannot open.
fn declares_view_types(bytes: &Bytes) -> Option<String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    let schema = format!("{:?}", builder.schema());
    schema.contains("View").then_some(schema)
}

#[tokio::test]
async fn parquet_uploads_and_snapshots_are_written_with_standard_types() {
    // A Parquet upload (DataFusion reads its strings as views), shared whole: its own files.
    let m = Mesh::demo().await;
    m.add_events().await.ok(StatusCode::CREATED);
    grant_bob(&m, "sales.events", &json!({})).await;
    // The zoned timestamp is stored as the same instants in UTC.
    let rows = m
        .rows(
            "alice",
            "SELECT id, CAST(at AS BIGINT) AS micros FROM sales.events.events ORDER BY id",
        )
        .await;
    assert_eq!(
        rows,
        [
            json!({"id": 1, "micros": crate::common::EVENTS_AT_MICROS[0]}),
            json!({"id": 2, "micros": crate::common::EVENTS_AT_MICROS[1]}),
        ]
    );
    let lines = ndjson(&ds_query(&m, "bob", "sales.events.events", &json!({}), &[]).await);
    let schema: Value =
        serde_json::from_str(lines[1]["metaData"]["schemaString"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"][2]["type"], "timestamp", "{schema}");
    let fs = files(&lines);
    assert!(!fs.is_empty());
    for f in &fs {
        let d = download(&m, f["url"].as_str().unwrap(), &[]).await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(declares_view_types(&d.body), None);
    }
    // A masked item's snapshot.
    let (m, _) = people_mesh().await;
    let fs = files(&ndjson(
        &ds_query(&m, "bob", "sales.people.people", &json!({}), &[]).await,
    ));
    assert!(!fs.is_empty());
    for f in &fs {
        assert!(
            f["url"].as_str().unwrap().contains("/s/"),
            "a snapshot file"
        );
        let d = download(&m, f["url"].as_str().unwrap(), &[]).await;
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(declares_view_types(&d.body), None);
    }
}
