//! `meshgate login` against a real OpenID provider (`oidc-provider`, the server tests'
//! tests/oidc/provider.mjs) and a real `meshgate serve`: the CLI prints the device sign-in
//! URL, a person confirms it in a browser (the provider's own pages, followed and filled in
//! as a browser would), the CLI stores the tokens (mode 0600) and later verbs use them;
//! `logout` forgets them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{EXE, free_port, healthz, init};

// Shared with the server's sign-in tests; this test uses part of it.
#[allow(dead_code)]
#[path = "../../../meshgate-server/tests/oidc/support.rs"]
mod support;
use support::{Provider, provider_script, walk_provider};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cli(config_home: &Path, url: &str, args: &[&str]) -> std::process::Output {
    Command::new(EXE)
        .args(args)
        .args(["--url", url])
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("MESHGATE_TOKEN")
        .env_remove("MESHGATE_CONFIG")
        .output()
        .expect("run meshgate")
}

#[tokio::test]
async fn the_cli_signs_in_with_the_device_flow_and_uses_the_stored_token() {
    let Some(script) = provider_script() else {
        return;
    };
    let provider = Provider::start(&script).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init(&data);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("meshgate.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.oidc]\nissuer = \"{}\"\nclient_id = \"meshgate\"\ncli_client_id = \"meshgate-cli\"\naudience = [\"meshgate\"]\nprovision = \"on\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\"]\n",
            provider.issuer()
        ),
    )
    .unwrap();
    let server = Command::new(EXE)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(&config)
        .env_remove("MESHGATE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start meshgate serve");
    let _server = Serve(server);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthz(SocketAddr::from(([127, 0, 0, 1], port))) {
        assert!(Instant::now() < deadline, "meshgate serve did not start");
        std::thread::sleep(Duration::from_millis(200));
    }

    let home = dir.path().join("config");
    // Not signed in: the verbs say how to.
    let out = cli(&home, &url, &["whoami"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("meshgate login"));

    let mut login = Command::new(EXE)
        .args(["login", "--url", &url])
        .env("XDG_CONFIG_HOME", &home)
        .env_remove("MESHGATE_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run meshgate login");
    let mut stdout = BufReader::new(login.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let link = first
        .trim()
        .strip_prefix("To sign in, open ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    assert!(link.contains("user_code="), "{link}");
    // A person opens the link, confirms the code and signs in at the provider.
    walk_provider(&provider.http, &link, "gina").await;
    let status = tokio::task::spawn_blocking(move || login.wait())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(status.success(), "login failed: {rest}");
    assert!(
        rest.contains("signed in to") && rest.contains("gina"),
        "{rest}"
    );

    let file = home.join("meshgate").join("credentials.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the stored tokens are the user's alone");
    let out = cli(&home, &url, &["whoami", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("gina"));

    // An expired access token is renewed with the refresh token.
    let mut stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let entry = &mut stored["servers"][&url];
    let old_access = entry["access_token"].clone();
    entry["expires_at"] = serde_json::json!("2000-01-01T00:00:00Z");
    std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
    let out = cli(&home, &url, &["whoami", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let renewed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_ne!(renewed["servers"][&url]["access_token"], old_access);

    let out = cli(&home, &url, &["logout"]);
    assert!(out.status.success());
    let out = cli(&home, &url, &["whoami"]);
    assert!(!out.status.success(), "signed out");
}
