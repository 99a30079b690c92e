//! `meshgate audit verify | export | keys` end to end (docs/design/AUDIT.md): a real server on
//! SQLite, and on PostgreSQL when `MESHGATE_TEST_POSTGRES_URL` is set (CI sets it; the
//! variant fails there rather than skip). Rows of `audit_events` are edited, deleted and
//! inserted straight in the database under the running server; `verify` must name the event
//! and exit non-zero, and pass again once the rows are put back. Exports verify without the
//! server, and catch an edited segment; a key the operator did not pin is not trusted.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Connection, Executor};

use crate::common::{init, init_store};
use crate::fleet::{Launch, Schema, Server, postgres_url, set_up};

#[test]
fn verify_names_tampering_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = init(&data);
    let store = format!("sqlite://{}/meshgate.db", data.display());
    run(&data, None, &store, &admin, dir.path());
}

#[test]
fn verify_names_tampering_on_postgres() {
    let Some(base) = postgres_url() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(Schema::create(&base));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = init_store(&data, Some(&schema.url));
    run(&data, Some(schema.url.clone()), &schema.url, &admin, dir.path());
    rt.block_on(schema.drop_it());
}

/// The database under the server, for tampering.
fn db(store_url: &str) -> (tokio::runtime::Runtime, AnyConnection) {
    sqlx::any::install_default_drivers();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conn = rt.block_on(AnyConnection::connect(store_url)).unwrap();
    (rt, conn)
}

fn sql(rt: &tokio::runtime::Runtime, conn: &mut AnyConnection, statement: &str) {
    rt.block_on(conn.execute(statement))
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// `meshgate audit verify …`: (exit success, stdout + stderr).
fn verify(server: &Server, admin: &str, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = server.cli(admin, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn assert_fails(server: &Server, admin: &str, extra: &[&str], says: &str) {
    let (ok, text) = verify(server, admin, extra);
    assert!(!ok, "verify passed over tampering:\n{text}");
    assert!(text.contains(says), "verify should say `{says}`:\n{text}");
}

fn assert_intact(server: &Server, admin: &str, extra: &[&str]) -> String {
    let (ok, text) = verify(server, admin, extra);
    assert!(ok, "verify failed on an intact log:\n{text}");
    assert!(text.contains("audit log intact"), "{text}");
    text
}

fn run(data: &Path, store: Option<String>, store_url: &str, admin: &str, root: &Path) {
    let mut launch = Launch::sqlite(data);
    launch.store_url = store;
    launch.set("MESHGATE_AUDIT__DIGEST_SECS", 1);
    let server = Server::start(&launch, 0);
    // Events: a small mesh, a product, people and tokens.
    set_up(&server, admin, &root.join("csv"));

    // A digest covers what was written (the signer runs every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    let signed = loop {
        let text = assert_intact(&server, admin, &[]);
        if text.contains("; 0 events not yet signed") {
            break text;
        }
        assert!(Instant::now() < deadline, "no digest after 30 s:\n{text}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(!signed.contains(" 0 signed digests"), "{signed}");

    // The public key, pinned; an export of the closed segments.
    let keys = root.join("keys.json");
    std::fs::write(&keys, server.ok(admin, &["audit", "keys", "-o", "json"])).unwrap();
    let export = root.join("export");
    let export_s = export.to_str().unwrap();
    let said = server.ok(admin, &["audit", "export", "--to", export_s]);
    assert!(said.contains("exported"), "{said}");
    assert!(export.join("keys.json").exists());
    let segments: Vec<_> = std::fs::read_dir(export.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        segments.iter().any(|n| n.ends_with(".ndjson"))
            && segments.iter().any(|n| n.ends_with(".digest.json")),
        "{segments:?}"
    );
    // Run again: nothing new to write.
    let again = server.ok(admin, &["audit", "export", "--to", export_s]);
    assert!(again.contains("exported 0 segments"), "{again}");
    let keys_s = keys.to_str().unwrap();
    assert_intact(&server, admin, &["--dir", export_s, "--public-key", keys_s]);
    assert_intact(&server, admin, &["--public-key", keys_s]);

    let (rt, mut conn) = db(store_url);
    // Changed.
    sql(
        &rt,
        &mut conn,
        r#"UPDATE audit_events SET detail = '{"forged":true}' WHERE chain_pos = 2"#,
    );
    assert_fails(&server, admin, &[], "event #2 (seq");
    assert_fails(&server, admin, &[], "was changed");
    // The export, kept elsewhere, is untouched evidence.
    assert_intact(&server, admin, &["--dir", export_s]);
    let original: String = {
        let line = std::fs::read_to_string(first_segment(&export))
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["detail"].to_string()
    };
    sql(
        &rt,
        &mut conn,
        &format!(
            "UPDATE audit_events SET detail = '{}' WHERE chain_pos = 2",
            original.replace('\'', "''")
        ),
    );
    assert_intact(&server, admin, &[]);

    // Inserted.
    sql(
        &rt,
        &mut conn,
        "INSERT INTO audit_events (at, action, object_type, outcome, detail) \
         VALUES (0, 'grant.create', 'grant', 'success', '{}')",
    );
    assert_fails(&server, admin, &[], "(`grant.create`) is not in the chain");
    sql(
        &rt,
        &mut conn,
        "DELETE FROM audit_events WHERE chain_pos IS NULL",
    );
    assert_intact(&server, admin, &[]);

    // Deleted.
    sql(&rt, &mut conn, "DELETE FROM audit_events WHERE chain_pos = 3");
    assert_fails(&server, admin, &[], "event #3 was deleted");
    assert_fails(&server, admin, &["--from", "2", "--to", "5"], "event #3 was deleted");

    // An edited export fails on its own.
    let segment = first_segment(&export);
    let text = std::fs::read_to_string(&segment).unwrap();
    std::fs::write(&segment, text.replacen("\"success\"", "\"denied\"", 1)).unwrap();
    assert_fails(&server, admin, &["--dir", export_s], "was changed");

    // A key that is not the mesh's: its digests are not trusted.
    let other = root.join("other.key");
    std::fs::write(&other, "u7Pd3F3cRcQeFJw2Xb+hq0qT4kP0bGgRZ7Ue0JxkH4A=").unwrap();
    assert_fails(
        &server,
        admin,
        &["--public-key", other.to_str().unwrap()],
        "not signed by a trusted key",
    );
    drop(server);
}

fn first_segment(export: &Path) -> std::path::PathBuf {
    let mut names: Vec<_> = std::fs::read_dir(export.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    names.sort();
    names.remove(0)
}
