//! HTTP tests of external locations (issue 13, finding 2): registering an existing Delta table
//! takes an admin-declared external location that lists the registering team; nothing in the
//! data root nor over another table can be registered; registered tables are read-only unless
//! their location is writable; locations are shown to the owning team (and admins) only; and
//! locations that are not readable Delta tables are the caller's error (400), never a 500.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::StatusCode;
use meshgate_engine::ingest::{self, FileFormat};
use serde_json::{Value, json};

use crate::common::{Mesh, Resp, assert_mentions};

const LOCATIONS: &str = "/api/v1/external-locations";

/// The demo mesh plus `mallory`, an owner of `marketing.analytics`: a team that may create
/// products of its own, and so register tables.
async fn mesh() -> Mesh {
    let mut m = Mesh::demo().await;
    m.add_user("mallory", Some(("marketing", "analytics")))
        .await;
    m.put(
        "admin",
        "/api/v1/domains/marketing/teams/analytics/members/mallory",
        &json!({"role": "owner"}),
    )
    .await
    .ok(StatusCode::OK);
    m
}

/// A directory outside the data root, for external tables.
fn external(m: &Mesh) -> PathBuf {
    let dir = m.dir.path().join("external");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a small Delta table at `dir`.
async fn delta_table(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let csv = dir.with_extension("csv");
    std::fs::write(&csv, "id,amount\n1,10\n2,20\n").unwrap();
    let url = url::Url::from_directory_path(dir.canonicalize().unwrap()).unwrap();
    ingest::create_table(&csv, FileFormat::Csv, &url, "events")
        .await
        .unwrap();
}

async fn declare(m: &Mesh, name: &str, url: &Path, teams: &[&str], writable: bool) -> Value {
    m.post(
        "admin",
        LOCATIONS,
        &json!({"name": name, "url": url.to_string_lossy(), "teams": teams,
                "writable": writable, "description": "landing zone"}),
    )
    .await
    .ok(StatusCode::CREATED)
}

async fn undeclare(m: &Mesh, name: &str) {
    let r = m.delete("admin", &format!("{LOCATIONS}/{name}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

/// `POST /api/v1/products` as `who` registering one table `events` at `location`.
async fn register(
    m: &Mesh,
    who: &str,
    domain: &str,
    team: &str,
    name: &str,
    location: &str,
) -> Resp {
    m.create_product(
        who,
        &json!({"domain": domain, "team": team, "name": name,
                "tables": [{"name": "events", "location": location}]}),
        &[],
    )
    .await
}

async fn append_csv(m: &Mesh, who: &str, product: &str) -> Resp {
    m.send(
        "POST",
        &format!("/api/v1/products/marketing/{product}/tables/events/data?format=csv"),
        Some(who),
        Some("text/csv"),
        Body::from("id,amount\n3,30\n"),
    )
    .await
}

/// The location of `sales.orders.orders`, as its owner sees it.
async fn orders_location(m: &Mesh) -> String {
    let p = m
        .get("alice", "/api/v1/products/sales/orders")
        .await
        .ok(StatusCode::OK);
    p["tables"][0]["location"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn another_products_managed_table_cannot_be_registered() {
    let m = mesh().await;
    let location = orders_location(&m).await;
    // Even with an external location for the team elsewhere.
    declare(&m, "landing", &external(&m), &["marketing.analytics"], true).await;
    let msg = register(&m, "mallory", "marketing", "analytics", "stolen", &location)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "data root");
    // The same path spelled otherwise: without the trailing slash, with a `..` detour.
    let plain = location.trim_end_matches('/').to_string();
    register(&m, "mallory", "marketing", "analytics", "stolen", &plain)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    let detour = format!("{plain}/../orders/");
    register(&m, "mallory", "marketing", "analytics", "stolen", &detour)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        m.get("mallory", "/api/v1/products/marketing/stolen")
            .await
            .status
            == StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn nothing_in_the_data_root_can_be_registered_or_declared() {
    let m = mesh().await;
    let root = m.state.data_root.url().to_file_path().unwrap();
    // The data root itself, a folder in it, and a folder containing it.
    for path in [
        root.clone(),
        root.join("products"),
        m.dir.path().to_path_buf(),
    ] {
        register(
            &m,
            "alice",
            "sales",
            "core",
            "inside",
            &path.to_string_lossy(),
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    }
    // An admin cannot declare an external location over it either (in or around it).
    for path in [
        root.clone(),
        root.join("products"),
        m.dir.path().to_path_buf(),
    ] {
        let msg = m
            .post(
                "admin",
                LOCATIONS,
                &json!({"name": "root", "url": path.to_string_lossy(), "teams": ["sales.core"]}),
            )
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_request");
        assert_mentions(&msg, "data root");
    }
}

#[tokio::test]
async fn registration_needs_an_external_location_listing_the_team() {
    let m = mesh().await;
    let ext = external(&m);
    let table = ext.join("events");
    delta_table(&table).await;
    let at = table.to_string_lossy().into_owned();

    // No external location: refused.
    let msg = register(&m, "mallory", "marketing", "analytics", "events", &at)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "external location");

    // One that lists another team: refused.
    declare(&m, "landing", &ext, &["sales.core"], false).await;
    let msg = register(&m, "mallory", "marketing", "analytics", "events", &at)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "landing");

    // One that lists the team: registered, and readable by its owners.
    undeclare(&m, "landing").await;
    declare(&m, "landing", &ext, &["marketing.analytics"], false).await;
    let created = register(&m, "mallory", "marketing", "analytics", "events", &at)
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(created["tables"][0]["managed"], false);
    let rows = m
        .rows(
            "mallory",
            "SELECT count(*) AS n FROM marketing.events.events",
        )
        .await;
    assert_eq!(rows[0]["n"], 2);

    // Read-only: neither an append nor a rows write goes through.
    let msg = append_csv(&m, "mallory", "events")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "read-only");
    let msg = m
        .post(
            "mallory",
            "/api/v1/products/marketing/events/tables/events/rows",
            &json!([{"id": 4, "amount": 40}]),
        )
        .await
        .error(StatusCode::FORBIDDEN, "forbidden");
    assert_mentions(&msg, "read-only");
    let rows = m
        .rows(
            "mallory",
            "SELECT count(*) AS n FROM marketing.events.events",
        )
        .await;
    assert_eq!(rows[0]["n"], 2);

    // Declared writable, the same table takes appends.
    undeclare(&m, "landing").await;
    declare(&m, "landing", &ext, &["marketing.analytics"], true).await;
    let appended = append_csv(&m, "mallory", "events").await.ok(StatusCode::OK);
    assert_eq!(appended["rows"], 1, "{appended}");
    m.post(
        "mallory",
        "/api/v1/products/marketing/events/tables/events/rows",
        &json!([{"id": 4, "amount": 40}]),
    )
    .await
    .ok(StatusCode::CREATED);
}

#[tokio::test]
async fn overlapping_registrations_are_refused() {
    let m = mesh().await;
    let ext = external(&m);
    delta_table(&ext.join("a").join("t")).await;
    delta_table(&ext.join("a").join("tc")).await;
    declare(
        &m,
        "landing",
        &ext,
        &["marketing.analytics", "sales.core"],
        false,
    )
    .await;
    let t = ext.join("a").join("t");
    register(
        &m,
        "mallory",
        "marketing",
        "analytics",
        "first",
        &t.to_string_lossy(),
    )
    .await
    .ok(StatusCode::CREATED);

    // The same table again (by another team, or spelled as a URL or with a detour), a folder
    // inside it, or a folder containing it: refused.
    let url = url::Url::from_directory_path(t.canonicalize().unwrap()).unwrap();
    let detour = format!("{}/a/tc/../t", ext.display());
    let inside = t.join("_delta_log");
    let around = ext.join("a");
    for (who, domain, team, at) in [
        ("alice", "sales", "core", t.to_string_lossy().into_owned()),
        ("mallory", "marketing", "analytics", url.to_string()),
        ("mallory", "marketing", "analytics", detour),
        (
            "mallory",
            "marketing",
            "analytics",
            inside.to_string_lossy().into_owned(),
        ),
        (
            "mallory",
            "marketing",
            "analytics",
            around.to_string_lossy().into_owned(),
        ),
    ] {
        let msg = register(&m, who, domain, team, "second", &at)
            .await
            .error(StatusCode::CONFLICT, "conflict");
        assert_mentions(&msg, "overlaps");
    }
    #[cfg(unix)]
    {
        let link = ext.join("link");
        std::os::unix::fs::symlink(&t, &link).unwrap();
        register(
            &m,
            "mallory",
            "marketing",
            "analytics",
            "second",
            &link.to_string_lossy(),
        )
        .await
        .error(StatusCode::CONFLICT, "conflict");
    }
    // A sibling whose name merely extends it is another table.
    register(
        &m,
        "mallory",
        "marketing",
        "analytics",
        "second",
        &ext.join("a").join("tc").to_string_lossy(),
    )
    .await
    .ok(StatusCode::CREATED);
}

#[tokio::test]
async fn locations_are_shown_to_the_owning_team_only() {
    let m = mesh().await;
    for who in ["alice", "carol", "admin"] {
        let p = m
            .get(who, "/api/v1/products/sales/orders")
            .await
            .ok(StatusCode::OK);
        assert!(p["tables"][0]["location"].is_string(), "{who}: {p}");
    }
    let p = m
        .get("bob", "/api/v1/products/sales/orders")
        .await
        .ok(StatusCode::OK);
    assert!(p["tables"][0].get("location").is_none(), "{p}");
    assert!(p["tables"][0]["name"].is_string(), "{p}");
    let all = m
        .get("mallory", "/api/v1/products")
        .await
        .ok(StatusCode::OK);
    for p in all.as_array().unwrap() {
        if p["team"] == "analytics" {
            continue;
        }
        for t in p["tables"].as_array().unwrap() {
            assert!(t.get("location").is_none(), "{p}");
        }
    }
    // Nor do the catalog entry and search results carry it.
    for path in [
        "/api/v1/products/sales/orders/catalog",
        "/api/v1/search?q=orders",
    ] {
        let entry = m.get("bob", path).await;
        assert_eq!(entry.status, StatusCode::OK, "{path}: {}", entry.text());
        assert!(
            !entry.text().contains("file://"),
            "{path}: {}",
            entry.text()
        );
    }
}

#[tokio::test]
async fn invalid_locations_are_bad_requests() {
    let m = mesh().await;
    let ext = external(&m);
    let plain = ext.join("not-a-table");
    std::fs::create_dir_all(&plain).unwrap();
    declare(&m, "landing", &ext, &["marketing.analytics"], false).await;
    for (at, code, says) in [
        ("ftp://x/y".to_string(), "invalid_data", "scheme"),
        ("gs://bucket/t".to_string(), "invalid_data", "scheme"),
        (
            ext.join("missing").to_string_lossy().into_owned(),
            "invalid_data",
            "existing directory",
        ),
        (
            plain.to_string_lossy().into_owned(),
            "invalid_data",
            "Delta",
        ),
    ] {
        let msg = register(&m, "mallory", "marketing", "analytics", "bad", &at)
            .await
            .error(StatusCode::BAD_REQUEST, code);
        assert_mentions(&msg, says);
    }
    // An external location must be a readable location too.
    m.post(
        "admin",
        LOCATIONS,
        &json!({"name": "ftp", "url": "ftp://x/y", "teams": ["sales.core"]}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_data");
}

#[tokio::test]
async fn external_locations_are_managed_by_admins() {
    let m = mesh().await;
    let ext = external(&m);
    for (method, path) in [
        ("GET", LOCATIONS.to_string()),
        ("GET", format!("{LOCATIONS}/x")),
    ] {
        m.send(method, &path, Some("alice"), None, Body::empty())
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
    }
    m.post(
        "alice",
        LOCATIONS,
        &json!({"name": "mine", "url": ext.to_string_lossy(), "teams": ["sales.core"]}),
    )
    .await
    .error(StatusCode::FORBIDDEN, "forbidden");

    let created = declare(
        &m,
        "landing",
        &ext,
        &["sales.core", "marketing.analytics"],
        true,
    )
    .await;
    assert_eq!(
        created["teams"],
        json!(["sales.core", "marketing.analytics"])
    );
    assert!(
        created["url"].as_str().unwrap().ends_with("/external/"),
        "{created}"
    );
    assert_eq!(created["writable"], true);
    // Names and prefixes are unique, and locations do not nest.
    m.post(
        "admin",
        LOCATIONS,
        &json!({"name": "landing", "url": "s3://bucket/elsewhere", "teams": ["sales.core"]}),
    )
    .await
    .error(StatusCode::CONFLICT, "already_exists");
    std::fs::create_dir_all(ext.join("inner")).unwrap();
    m.post(
        "admin",
        LOCATIONS,
        &json!({"name": "inner", "url": ext.join("inner").to_string_lossy(), "teams": ["sales.core"]}),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict");
    m.post(
        "admin",
        LOCATIONS,
        &json!({"name": "nobody", "url": "s3://bucket/landing", "teams": ["no.such"]}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");

    let list = m.get("admin", LOCATIONS).await.ok(StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let shown = m
        .get("admin", &format!("{LOCATIONS}/landing"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(shown["name"], "landing");
    assert_eq!(shown["created_by"], "admin");
    undeclare(&m, "landing").await;
    m.get("admin", &format!("{LOCATIONS}/landing"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    let events = m.audit("action=external_location.").await;
    assert_eq!(events.len(), 2, "{events:?}");
}
