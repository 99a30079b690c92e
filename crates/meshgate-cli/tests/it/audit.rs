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
    run(
        &data,
        Some(schema.url.clone()),
        &schema.url,
        &admin,
        dir.path(),
    );
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
    set_up(&server, admin, root);

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
    sql(
        &rt,
        &mut conn,
        "DELETE FROM audit_events WHERE chain_pos = 3",
    );
    assert_fails(&server, admin, &[], "event #3 was deleted");
    assert_fails(
        &server,
        admin,
        &["--from", "2", "--to", "5"],
        "event #3 was deleted",
    );

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

// ----- the stream to SIEM sinks -----

/// One request the test's SIEM received, and what it answered.
struct Received {
    headers: String,
    body: Vec<u8>,
    answered: u16,
}

/// A plain HTTP/1.1 server standing in for a SIEM's collector: it answers 500 to the first
/// `fail_first` requests and 200 to the rest, and keeps every request.
fn siem(fail_first: usize) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push_str(&line);
            }
            let length = headers
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let mut got = keep.lock().unwrap();
            let answered = if got.len() < fail_first { 500 } else { 200 };
            got.push(Received {
                headers,
                body,
                answered,
            });
            drop(got);
            let _ = write!(
                stream,
                "HTTP/1.1 {answered} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, got)
}

/// The chain positions of NDJSON lines.
fn positions(ndjson: &[u8]) -> Vec<i64> {
    ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["chain"]["pos"]
                .as_i64()
                .expect("an event with its position")
        })
        .collect()
}

/// Positions as delivered, first delivery of each kept: they must run 1, 2, 3, … with no gap
/// (a repeat is allowed: at least once).
fn assert_in_order(delivered: &[i64], up_to: i64, what: &str) {
    let mut next = 1;
    for &p in delivered {
        assert!(
            p <= next,
            "{what}: position {p} came before {next} (a gap): {delivered:?}"
        );
        if p == next {
            next += 1;
        }
    }
    assert!(
        next > up_to,
        "{what}: delivered up to {} of {up_to}",
        next - 1
    );
}

fn sinks(server: &Server, admin: &str) -> serde_json::Value {
    serde_json::from_str(&server.ok(admin, &["audit", "sinks", "-o", "json"])).unwrap()
}

/// Waits until every sink has delivered the whole chain; the chain's head then.
fn caught_up(server: &Server, admin: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = sinks(server, admin);
        if s.as_array().unwrap().iter().all(|k| k["behind"] == 0) {
            return s[0]["pos"].as_i64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the sinks did not catch up: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_stream_reaches_a_webhook_and_files_in_order_at_least_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = init(&data);
    let (port, got) = siem(2);
    let files = dir.path().join("stream");
    let secret = "a-siem-secret-of-32-characters!!";
    let config = dir.path().join("meshgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[audit.sinks]]\nname = \"siem\"\nwebhook = \"http://127.0.0.1:{port}/collect\"\n\
             secret = \"{secret}\"\nbatch = 4\n\n\
             [[audit.sinks]]\nname = \"archive\"\nfile = \"{}\"\nrotate_kib = 4\n",
            files.display()
        ),
    )
    .unwrap();
    let mut launch = Launch::sqlite(&data);
    launch.set("MESHGATE_CONFIG", config.display());
    let server = Server::start(&launch, 0);
    set_up(&server, admin.as_str(), dir.path());
    let head = caught_up(&server, &admin);
    assert!(head > 8, "enough events for several batches: {head}");

    // The webhook: two failed attempts, then every batch once more, in order, signed.
    {
        let got = got.lock().unwrap();
        assert_eq!(got.iter().filter(|r| r.answered == 500).count(), 2);
        let mut delivered = Vec::new();
        for r in got.iter() {
            let headers = r.headers.to_ascii_lowercase();
            assert!(
                headers.contains("content-type: application/x-ndjson"),
                "{headers}"
            );
            let expected = meshgate_core::notify::webhook_signature(secret, &r.body).unwrap();
            assert!(
                headers.contains(&format!("x-meshgate-signature: {expected}")),
                "a signature over the exact body: {headers}"
            );
            let ps = positions(&r.body);
            assert!(
                headers.contains(&format!(
                    "x-meshgate-positions: {}-{}",
                    ps[0],
                    ps.last().unwrap()
                )),
                "{headers}"
            );
            if r.answered == 200 {
                delivered.extend(ps);
            }
        }
        assert_in_order(&delivered, head, "webhook");
    }
    // The files: rotated at 4 KiB, every position in order across them.
    let archive = |files: &Path| -> Vec<i64> {
        let mut names: Vec<_> = std::fs::read_dir(files)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        assert!(names.len() >= 2, "rotated: {names:?}");
        names
            .iter()
            .flat_map(|n| positions(&std::fs::read(n).unwrap()))
            .collect()
    };
    assert_in_order(&archive(&files), head, "files");
    let status = sinks(&server, &admin);
    assert_eq!(status[0]["name"], "siem");
    assert_eq!(
        status[0]["failures"], 0,
        "reset by the delivery: {status:#}"
    );

    // A replay from position 3: delivered again from there.
    let before = got.lock().unwrap().len();
    server.ok(&admin, &["audit", "replay", "siem", "--from", "3"]);
    caught_up(&server, &admin);
    let replayed: Vec<i64> = got.lock().unwrap()[before..]
        .iter()
        .filter(|r| r.answered == 200)
        .flat_map(|r| positions(&r.body))
        .collect();
    assert_eq!(replayed.first(), Some(&3), "{replayed:?}");
    let listed = server.ok(&admin, &["audit", "--action", "audit.sink_replay"]);
    assert!(
        listed.contains("audit.sink_replay"),
        "the replay is audited: {listed}"
    );

    // Killed and restarted: the stream goes on from its cursor, no gap.
    drop(server.kill());
    let server = Server::start(&launch, 1);
    server.ok(&admin, &["domain", "create", "later"]);
    let head = caught_up(&server, &admin);
    let all: Vec<i64> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.answered == 200)
        .flat_map(|r| positions(&r.body))
        .collect();
    assert_in_order(&all, head, "webhook across a restart");
    assert_in_order(&archive(&files), head, "files across a restart");
}
