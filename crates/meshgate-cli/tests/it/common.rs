//! What the CLI's end-to-end tests share: the `meshgate` binary under test, a free port for a
//! server, its `/healthz` probe, a child's environment without the suite's, and `meshgate
//! init`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The `meshgate` binary cargo built for these tests.
pub const EXE: &str = env!("CARGO_BIN_EXE_meshgate");

/// A port that was free a moment ago (the server started on it binds it again).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Whether `GET /healthz` at `addr` answers 200.
pub fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// Removes the test suite's environment from a child's: every `MESHGATE_*` variable (the
/// server refuses settings it does not know, and the suites' switches are not its settings)
/// and `RUST_LOG`.
pub fn clean_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MESHGATE_") {
            command.env_remove(&key);
        }
    }
    command.env_remove("RUST_LOG")
}

/// `meshgate init` on a fresh data dir; the admin token it prints.
pub fn init(data_dir: &Path) -> String {
    init_store(data_dir, None)
}

/// `meshgate init` on a fresh data dir and, if given, a fresh store at `store_url`; the
/// admin token it prints.
pub fn init_store(data_dir: &Path, store_url: Option<&str>) -> String {
    let mut command = Command::new(EXE);
    clean_env(&mut command)
        .args(["init", "--data-dir"])
        .arg(data_dir);
    if let Some(url) = store_url {
        command.args(["--store-url", url]);
    }
    let out = command.output().expect("run meshgate init");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "init failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mgt_"))
        .unwrap_or_else(|| panic!("no token in: {stdout}"))
        .to_string()
}
