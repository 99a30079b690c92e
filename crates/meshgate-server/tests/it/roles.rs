//! Revoked when roles change (issue 17, item 5): what a team gives its members — here a share
//! of a table and a file folder — is taken away from a person moved out of the team, or out of
//! a group that is a member of the team, on the very next request of every data surface: SQL,
//! the rows API (with an API token and with a credential vended before), Delta Sharing (with a
//! recipient token), a Delta Sharing file URL handed out before, the files API, and a signed
//! file URL minted before. Putting the person back restores it, with the very same URLs and
//! credential, so the refusals came from the membership alone. Each round warms every cache
//! first and then makes a different surface the first one asked after the removal.
//!
//! Why it holds (docs/design/ACCESS.md §Snapshot): every request resolves its caller's teams
//! anew (`auth::actor_of`: the direct memberships and those of its groups, so a group that is
//! a team member stands for its members), and the access snapshot is cached per principal only
//! for the policy version, which removing a team or group member bumps. Signed URLs are not
//! capabilities: both kinds re-check the signer's access as it is now at every download.

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Mesh, Resp, assert_mentions};
use crate::sharing::{call, ds_error, ds_get, files, local, names, ndjson, recipient_token, tpath};

/// A multi-tenant table (the rows API reads by tenant key): t1 (2 rows), t2 (1).
pub(crate) const ITEMS_CSV: &[u8] = b"item_id,name,qty\nt1-1,apple,3\nt1-2,pear,5\nt2-1,fig,1\n";
pub(crate) const ITEMS: &str = "sales.items.items";
pub(crate) const ITEM_IDS: [&str; 3] = ["t1-1", "t1-2", "t2-1"];
pub(crate) const ROWS: &str = "/api/v1/products/sales/items/tables/items/rows";
pub(crate) const FILES: &str = "/api/v1/products/sales/items/files";
pub(crate) const DS: &str = "/delta-sharing";
/// `reports/a.csv`, in the shared folder.
pub(crate) const REPORT: &[u8] = b"id,amount\n1,10\n2,20\n";
/// `raw/b.csv`, outside it.
const RAW: &[u8] = b"raw bytes, never shared\n";

/// Every way bob reads the shared data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Surface {
    /// `POST /api/v1/query`.
    Sql,
    /// `GET …/rows` with bob's API token.
    Rows,
    /// `GET …/rows` with a credential (`mgs_…`) bob vended while a member.
    Credential,
    /// The Delta Sharing listings and `query`, with bob's recipient token (`mgr_…`).
    Sharing,
    /// A Delta Sharing file URL a `query` handed out while bob was a member.
    SharingUrl,
    /// `GET /api/v1/products/…/files[/…]` and `…/files/sign` with bob's API token.
    Files,
    /// A signed product-file URL bob minted while a member.
    SignedUrl,
}

pub(crate) const SURFACES: [Surface; 7] = [
    Surface::Sql,
    Surface::Rows,
    Surface::Credential,
    Surface::Sharing,
    Surface::SharingUrl,
    Surface::Files,
    Surface::SignedUrl,
];

/// What a member holds that outlives a request: a recipient token (an identity, minted once),
/// and what was handed out while it was a member — a credential on the table, a Delta Sharing
/// file URL and a signed URL of a shared file.
pub(crate) struct Handles {
    pub(crate) recipient: String,
    pub(crate) credential: String,
    pub(crate) sharing_url: String,
    pub(crate) signed_url: String,
}

/// How bob belongs to the consumer team.
enum Role {
    /// A direct member (`member` role) of `domain.team`.
    Team(&'static str, &'static str),
    /// A member of this group, itself a member of the team.
    Group(&'static str),
}

/// The demo mesh plus the multi-tenant `sales.items` (alice's team `sales.core`), holding the
/// files `reports/a.csv` and `raw/b.csv`.
pub(crate) async fn items_mesh() -> Mesh {
    let m = Mesh::demo().await;
    let meta = json!({
        "domain": "sales", "team": "core", "name": "items",
        "tables": [{"name": "items", "tenant_key": "item_id"}],
    });
    m.create_product("alice", &meta, &[("items", ITEMS_CSV)])
        .await
        .ok(StatusCode::CREATED);
    for (path, body) in [("reports/a.csv", REPORT), ("raw/b.csv", RAW)] {
        m.put_raw(
            "alice",
            &format!("{FILES}/{path}"),
            "application/octet-stream",
            body.to_vec(),
        )
        .await
        .ok(StatusCode::CREATED);
    }
    m
}

/// bob asks for the table `items` and the folder `reports/` of `sales.items` for `team`;
/// alice approves. Returns the share id.
pub(crate) async fn share_items(m: &Mesh, team: &str) -> String {
    let v = m
        .post(
            "bob",
            "/api/v1/shares",
            &json!({
                "product": "sales.items", "team": team, "tables": ["items"],
                "folders": ["reports/"], "reason": "roles test",
            }),
        )
        .await
        .ok(StatusCode::CREATED);
    assert_eq!(v["status"], "submitted", "{v}");
    let share = v["id"].as_str().unwrap().to_string();
    let v = m
        .approve("alice", &share, &json!({}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(v["status"], "processed", "{v}");
    share
}

/// A recipient token for bob (the bearer token of its profile).
pub(crate) async fn bobs_recipient_token(m: &Mesh) -> String {
    let (_, profile) = recipient_token(m, "bob", &json!({})).await;
    profile["bearerToken"].as_str().unwrap().to_string()
}

/// Puts `who` into (`true`) or takes it out of (`false`) what gives it the team, as admin.
async fn set_member(m: &Mesh, role: &Role, who: &str, member: bool) {
    match role {
        Role::Team(domain, team) => {
            let path = format!("/api/v1/domains/{domain}/teams/{team}/members/{who}");
            if member {
                let v = m
                    .put("admin", &path, &json!({"role": "member"}))
                    .await
                    .ok(StatusCode::OK);
                assert_eq!(v, json!({"principal": who, "role": "member"}));
            } else {
                let v = m.delete("admin", &path).await.ok(StatusCode::OK);
                assert_eq!(v, json!({}));
            }
        }
        Role::Group(group) => m.group_member(group, who, member).await,
    }
}

/// The `domain.team` names of `who`'s teams, as `whoami` shows them.
async fn teams_of(m: &Mesh, who: &str) -> Vec<String> {
    let v = m.get(who, "/api/v1/whoami").await.ok(StatusCode::OK);
    let mut teams: Vec<String> = v["teams"]
        .as_array()
        .unwrap_or_else(|| panic!("teams: {v}"))
        .iter()
        .map(|t| t["team"].as_str().unwrap().to_string())
        .collect();
    teams.sort();
    teams
}

pub(crate) async fn raw_get(m: &Mesh, method: &str, uri: &str, bearer: Option<&str>) -> Resp {
    call(m, method, uri, bearer, &[], Body::empty()).await
}

/// A Delta Sharing `GET` with bob's recipient token.
pub(crate) async fn ds(m: &Mesh, h: &Handles, path: &str) -> Resp {
    raw_get(m, "GET", &format!("{DS}{path}"), Some(&h.recipient)).await
}

/// The Delta Sharing `query` of the items table with bob's recipient token.
pub(crate) async fn ds_query(m: &Mesh, recipient: &str) -> Resp {
    call(
        m,
        "POST",
        &format!("{DS}{}", tpath(ITEMS, "query")),
        Some(recipient),
        &[],
        "{}",
    )
    .await
}

fn paths(listing: &Value) -> Vec<String> {
    listing["files"]
        .as_array()
        .unwrap_or_else(|| panic!("files: {listing}"))
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Checks every surface reads as a member, and hands out a fresh credential, Delta Sharing
/// file URL and signed URL (which also warms every cache a surface keeps).
pub(crate) async fn reads(m: &Mesh, recipient: &str) -> Handles {
    let v = m
        .post(
            "bob",
            "/api/v1/credentials",
            &json!({"tables": [ITEMS], "actions": ["read"]}),
        )
        .await
        .ok(StatusCode::CREATED);
    let credential = v["token"].as_str().unwrap().to_string();
    let fs = files(&ndjson(&ds_query(m, recipient).await));
    assert!(!fs.is_empty(), "the query hands out files");
    let sharing_url = fs[0]["url"].as_str().unwrap().to_string();
    let v = m
        .post(
            "bob",
            &format!("{FILES}/sign"),
            &json!({"path": "reports/a.csv"}),
        )
        .await
        .ok(StatusCode::OK);
    let signed_url = v["url"].as_str().unwrap().to_string();
    let h = Handles {
        recipient: recipient.to_string(),
        credential,
        sharing_url,
        signed_url,
    };
    for s in SURFACES {
        probe(m, &h, s, true).await;
    }
    h
}

/// Asks `surface` for the shared data as bob: with `member`, asserts it is served; without,
/// that it is refused (or, for listings, that nothing shared is listed).
pub(crate) async fn probe(m: &Mesh, h: &Handles, surface: Surface, member: bool) {
    let bob = "bob";
    match (surface, member) {
        (Surface::Sql, true) => {
            let rows = m
                .rows(
                    bob,
                    &format!("SELECT item_id FROM {ITEMS} ORDER BY item_id"),
                )
                .await;
            let ids: Vec<&str> = rows
                .iter()
                .map(|r| r["item_id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ITEM_IDS);
        }
        (Surface::Sql, false) => {
            let r = m
                .query(
                    bob,
                    &format!("SELECT item_id FROM {ITEMS} ORDER BY item_id"),
                )
                .await;
            let msg = r.error(StatusCode::BAD_REQUEST, "invalid_sql");
            assert_mentions(&msg, ITEMS);
            assert_mentions(&msg, "not found");
            // Nor is it in the caller's information_schema.
            let v = m
                .rows(
                    bob,
                    "SELECT table_name FROM information_schema.tables \
                     WHERE table_catalog = 'sales' AND table_schema = 'items'",
                )
                .await;
            assert_eq!(v, Vec::<Value>::new());
        }
        (Surface::Rows, true) => {
            let row = m
                .get(bob, &format!("{ROWS}?key=t1-2"))
                .await
                .ok(StatusCode::OK);
            assert_eq!(row["name"], "pear", "{row}");
            let page = m
                .get(bob, &format!("{ROWS}?limit=100"))
                .await
                .ok(StatusCode::OK);
            assert_eq!(page["rows"].as_array().unwrap().len(), ITEM_IDS.len());
        }
        (Surface::Rows, false) => {
            for q in ["key=t1-2", "limit=100"] {
                let msg = m
                    .get(bob, &format!("{ROWS}?{q}"))
                    .await
                    .error(StatusCode::NOT_FOUND, "not_found");
                assert_mentions(&msg, ITEMS);
            }
        }
        (Surface::Credential, true) => {
            let r = raw_get(m, "GET", &format!("{ROWS}?key=t1-1"), Some(&h.credential)).await;
            assert_eq!(r.ok(StatusCode::OK)["name"], "apple");
        }
        (Surface::Credential, false) => {
            // The credential itself is still valid (it is bob's, unexpired, unrevoked); what
            // it may read is bob's access now, narrowed by its policy: nothing.
            let r = raw_get(m, "GET", &format!("{ROWS}?key=t1-1"), Some(&h.credential)).await;
            assert_mentions(&r.error(StatusCode::NOT_FOUND, "not_found"), ITEMS);
        }
        (Surface::Sharing, true) => {
            assert_eq!(names(&ds(m, h, "/shares").await), ["sales"]);
            assert_eq!(
                names(&ds(m, h, "/shares/sales/schemas/items/tables").await),
                ["items"]
            );
            assert!(!files(&ndjson(&ds_query(m, &h.recipient).await)).is_empty());
            // bob's API token reads Delta Sharing as bob too.
            assert_eq!(names(&ds_get(m, bob, "/shares").await), ["sales"]);
        }
        (Surface::Sharing, false) => {
            assert_eq!(names(&ds(m, h, "/shares").await), Vec::<String>::new());
            for path in [
                "/shares/sales".to_string(),
                "/shares/sales/schemas".to_string(),
                "/shares/sales/all-tables".to_string(),
                "/shares/sales/schemas/items/tables".to_string(),
                tpath(ITEMS, "metadata"),
                tpath(ITEMS, "version"),
            ] {
                ds_error(
                    &ds(m, h, &path).await,
                    StatusCode::NOT_FOUND,
                    "RESOURCE_DOES_NOT_EXIST",
                );
            }
            ds_error(
                &ds_query(m, &h.recipient).await,
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
            );
            assert_eq!(
                names(&ds_get(m, bob, "/shares").await),
                Vec::<String>::new()
            );
        }
        (Surface::SharingUrl, true) => {
            let r = raw_get(m, "GET", &local(&h.sharing_url), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert!(r.body.starts_with(b"PAR1"), "a Parquet file");
        }
        (Surface::SharingUrl, false) => {
            // Delta Sharing hands out pre-signed URLs that a client may fetch until they
            // expire (an hour here), but meshgate re-checks the recipient's access at every
            // download (`sharing/download.rs`): a URL handed out before the removal is
            // refused at once, its lifetime left unused.
            let r = raw_get(m, "GET", &local(&h.sharing_url), None).await;
            let msg = ds_error(&r, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
            assert_mentions(&msg, "no longer shared");
            assert!(!r.body.windows(4).any(|w| w == b"PAR1"));
            let r = raw_get(m, "HEAD", &local(&h.sharing_url), None).await;
            assert_eq!((r.status, r.body.is_empty()), (StatusCode::FORBIDDEN, true));
        }
        (Surface::Files, true) => {
            let listing = m.get(bob, FILES).await.ok(StatusCode::OK);
            assert_eq!(paths(&listing), ["reports/a.csv"]);
            let r = m.get(bob, &format!("{FILES}/reports/a.csv")).await;
            assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));
            // The folder grant covers its folder only, member or not.
            m.get(bob, &format!("{FILES}/raw/b.csv"))
                .await
                .error(StatusCode::FORBIDDEN, "forbidden");
        }
        (Surface::Files, false) => {
            let msg = m
                .get(bob, &format!("{FILES}/reports/a.csv"))
                .await
                .error(StatusCode::FORBIDDEN, "forbidden");
            assert_mentions(
                &msg,
                "principal `bob` may not read `reports/a.csv` of `sales.items`",
            );
            let msg = m
                .get(bob, FILES)
                .await
                .error(StatusCode::FORBIDDEN, "forbidden");
            assert_mentions(&msg, "may not list files of `sales.items`");
            m.post(
                bob,
                &format!("{FILES}/sign"),
                &json!({"path": "reports/a.csv"}),
            )
            .await
            .error(StatusCode::FORBIDDEN, "forbidden");
        }
        (Surface::SignedUrl, true) => {
            let r = raw_get(m, "GET", &local(&h.signed_url), None).await;
            assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));
        }
        (Surface::SignedUrl, false) => {
            // Likewise re-checked at every use (`files/signed.rs`), not a capability.
            let r = raw_get(m, "GET", &local(&h.signed_url), None).await;
            let msg = r.error(StatusCode::FORBIDDEN, "forbidden");
            assert_mentions(&msg, "principal `bob` may not read `reports/a.csv`");
            assert_mentions(&msg, "may have been revoked");
            let r = raw_get(m, "HEAD", &local(&h.signed_url), None).await;
            assert_eq!((r.status, r.body.is_empty()), (StatusCode::FORBIDDEN, true));
        }
    }
}

/// Round after round: bob reads everywhere (warming every cache), is taken out, and the very
/// next request — on a different surface each round — is refused, then every other surface;
/// put back, the very same credential and URLs serve again.
async fn every_surface_follows_membership(m: &Mesh, role: &Role, recipient: &str) {
    for first in SURFACES {
        let h = reads(m, recipient).await;
        set_member(m, role, "bob", false).await;
        probe(m, &h, first, false).await;
        for s in SURFACES.into_iter().filter(|s| *s != first) {
            probe(m, &h, s, false).await;
        }
        set_member(m, role, "bob", true).await;
        for s in SURFACES {
            probe(m, &h, s, true).await;
        }
    }
}

/// The refusals of URLs handed out before a removal are audited as bob's denied downloads.
async fn assert_url_denials_audited(m: &Mesh) {
    for action in ["sharing.download", "file.download"] {
        let events = m.audit(&format!("action={action}&limit=1000")).await;
        assert!(
            events
                .iter()
                .any(|e| e["actor"] == "bob" && e["outcome"] == "denied"),
            "{action}: {events:#?}"
        );
    }
}

/// dana, bob's teammate, still reads the table and the folder: the share itself is in force.
async fn dana_still_reads(m: &Mesh) {
    let rows = m
        .rows(
            "dana",
            &format!("SELECT item_id FROM {ITEMS} ORDER BY item_id"),
        )
        .await;
    assert_eq!(rows.len(), ITEM_IDS.len());
    let r = m.get("dana", &format!("{FILES}/reports/a.csv")).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, REPORT));
}

/// How many `action` events name bob under `detail[key]`; each must be the admin's successful
/// act on an object of `object_type`.
async fn admins_acts_on_bob(m: &Mesh, action: &str, key: &str, object_type: &str) -> usize {
    let events: Vec<Value> = m
        .audit(&format!("action={action}&limit=1000"))
        .await
        .into_iter()
        .filter(|e| e["detail"][key] == "bob")
        .collect();
    for e in &events {
        assert_eq!(
            (&e["actor"], &e["object_type"], &e["outcome"]),
            (&json!("admin"), &json!(object_type), &json!("success")),
            "{e}"
        );
    }
    events.len()
}

#[tokio::test]
async fn leaving_the_team_takes_its_shares_away_on_the_next_request_of_every_surface() {
    let mut m = items_mesh().await;
    // dana, bob's teammate, keeps reading throughout: the share itself stays in force.
    m.add_user("dana", Some(("marketing", "analytics"))).await;
    share_items(&m, "marketing.analytics").await;
    let recipient = bobs_recipient_token(&m).await;
    let role = Role::Team("marketing", "analytics");

    every_surface_follows_membership(&m, &role, &recipient).await;

    // Out once more: bob is in no team; dana still reads the table and the folder.
    set_member(&m, &role, "bob", false).await;
    assert_eq!(teams_of(&m, "bob").await, Vec::<String>::new());
    dana_still_reads(&m).await;

    // Every removal and re-adding is audited, by whom and of whom.
    let removed = admins_acts_on_bob(&m, "team.remove_member", "principal", "team").await;
    assert_eq!(removed, SURFACES.len() + 1);
    let readded = m
        .audit("action=team.put_member&limit=1000")
        .await
        .into_iter()
        .filter(|e| e["actor"] == "admin" && e["detail"]["principal"] == "bob")
        .count();
    assert_eq!(readded, SURFACES.len());
    assert_url_denials_audited(&m).await;
}

/// Groups give team membership: a group that is a member of a team stands for its members
/// (`auth::actor_of` adds the group's memberships to each member's own), so taking a person
/// out of the group takes away what the team gave.
#[tokio::test]
async fn leaving_a_group_takes_what_its_team_gave_on_the_next_request_of_every_surface() {
    let mut m = items_mesh().await;
    m.create_team("marketing", "insights").await;
    m.create_group("analysts").await;
    m.put(
        "admin",
        "/api/v1/domains/marketing/teams/insights/members/analysts",
        &json!({"role": "member"}),
    )
    .await
    .ok(StatusCode::OK);
    m.add_user("dana", None).await;
    m.group_member("analysts", "dana", true).await;
    m.group_member("analysts", "bob", true).await;
    // bob is in `marketing.insights` through the group only.
    let members = m
        .get("admin", "/api/v1/domains/marketing/teams/insights/members")
        .await
        .ok(StatusCode::OK);
    assert_eq!(
        members,
        json!([{"principal": "analysts", "role": "member"}])
    );
    assert_eq!(
        teams_of(&m, "bob").await,
        ["marketing.analytics", "marketing.insights"]
    );
    share_items(&m, "marketing.insights").await;
    let recipient = bobs_recipient_token(&m).await;
    let role = Role::Group("analysts");

    every_surface_follows_membership(&m, &role, &recipient).await;

    // Out once more: bob keeps his own team (which was given nothing), loses the group's;
    // dana, still in the group, still reads.
    set_member(&m, &role, "bob", false).await;
    assert_eq!(teams_of(&m, "bob").await, ["marketing.analytics"]);
    let v = m.get("bob", "/api/v1/whoami").await.ok(StatusCode::OK);
    assert_eq!(v["groups"], json!([]), "{v}");
    dana_still_reads(&m).await;

    let removed = admins_acts_on_bob(&m, "group.remove_member", "member", "principal").await;
    assert_eq!(removed, SURFACES.len() + 1);
    let readded = m
        .audit("action=group.add_member&limit=1000")
        .await
        .into_iter()
        .filter(|e| e["detail"]["member"] == "bob")
        .count();
    // The first joining, then one per round.
    assert_eq!(readded, SURFACES.len() + 1);
    assert_url_denials_audited(&m).await;
}
