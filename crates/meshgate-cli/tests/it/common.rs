//! What the CLI's end-to-end tests share: the `meshgate` binary under test, a free port for a
//! server, its `/healthz` probe, and `meshgate init`.

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

/// `meshgate init` on a fresh data dir; the admin token it prints.
pub fn init(data_dir: &Path) -> String {
    let out = Command::new(EXE)
        .args(["init", "--data-dir"])
        .arg(data_dir)
        .env_remove("MESHGATE_CONFIG")
        .output()
        .expect("run meshgate init");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "init failed: {stdout}");
    stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("mgt_"))
        .unwrap_or_else(|| panic!("no token in: {stdout}"))
        .to_string()
}
