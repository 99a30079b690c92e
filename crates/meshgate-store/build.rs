//! Embeds the migrations: writes `$OUT_DIR/migrations.rs` with, per backend, every
//! `migrations/<backend>/<VERSION>_<DESCRIPTION>.sql` as `(version, file name, include_str!)`,
//! sorted by version. `db::migrator` makes sqlx migrations of them at start-up, as
//! `sqlx::migrate!` would at compile time, without sqlx's proc-macro crates (which compile
//! sqlx and SQLite a second time for the host). docs/design/STYLE.md §Build profiles.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_owned());
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".to_owned());
    let mut code = String::new();
    for backend in ["sqlite", "postgres"] {
        let path = Path::new(&dir).join("migrations").join(backend);
        println!("cargo:rerun-if-changed={}", path.display());
        let mut files: Vec<(i64, String)> = Vec::new();
        let entries = std::fs::read_dir(&path)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
        for entry in entries {
            let entry =
                entry.unwrap_or_else(|e| fail(&format!("cannot list {}: {e}", path.display())));
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((version, rest)) = name.split_once('_') else {
                continue;
            };
            if !rest.ends_with(".sql") || !entry.path().is_file() {
                continue;
            }
            let version: i64 = version
                .parse()
                .unwrap_or_else(|_| fail(&format!("migration `{name}`: no integer version")));
            files.push((version, name));
        }
        files.sort();
        let _ = writeln!(
            code,
            "pub(crate) const {}: &[(i64, &str, &str)] = &[",
            backend.to_uppercase()
        );
        for (version, name) in files {
            let file = path.join(&name);
            let _ = writeln!(
                code,
                "    ({version}, {name:?}, include_str!({:?})),",
                file.display().to_string()
            );
        }
        code.push_str("];\n");
    }
    std::fs::write(Path::new(&out).join("migrations.rs"), code)
        .unwrap_or_else(|e| fail(&format!("cannot write migrations.rs: {e}")));
}

fn fail(message: &str) -> ! {
    eprintln!("meshgate-store build: {message}");
    std::process::exit(1)
}
