//! Where product tables live. The data root is a local directory (the default, under the data
//! dir) or an object-store URL; each managed table gets its own prefix keyed by the product's
//! id, so deleting and re-creating a product of the same name never collides. A product's
//! files (see [`crate::files`]) live in `_files/` beside its tables.

use std::path::Path;

use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;
use uuid::Uuid;

use crate::{Error, Result};

/// The folder of a product's files, beside its tables' folders.
pub const FILES_DIR: &str = "_files";

/// The root under which meshgate creates managed tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot {
    url: Url,
}

impl DataRoot {
    /// Parses a data root: an absolute or relative local path, or a URL (`file://`, `s3://`,
    /// …). Local directories are created.
    pub fn parse(root: &str) -> Result<Self> {
        let url = match Url::parse(root) {
            Ok(url) if url.scheme().len() > 1 => url,
            _ => {
                let path = Path::new(root);
                std::fs::create_dir_all(path).map_err(|e| {
                    Error::storage(format!("cannot create data root `{root}`: {e}"))
                })?;
                let abs = path.canonicalize().map_err(|e| {
                    Error::storage(format!("cannot resolve data root `{root}`: {e}"))
                })?;
                Url::from_directory_path(&abs).map_err(|()| {
                    Error::storage(format!("data root `{root}` is not a valid directory"))
                })?
            }
        };
        let mut url = url;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(DataRoot { url })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The root as a [`Location`], to keep registered tables out of it.
    pub fn location(&self) -> Option<Location> {
        Location::of_stored(&self.url)
    }

    /// The location of a managed table.
    pub fn table_url(&self, product_id: Uuid, table: &str) -> Result<Url> {
        self.under(&format!("products/{product_id}/{table}/"))
    }

    /// The location of a product's files, next to its managed tables. `_files` cannot clash
    /// with a table: table names start with a letter.
    pub fn files_url(&self, product_id: Uuid) -> Result<Url> {
        self.under(&format!("products/{product_id}/{FILES_DIR}/"))
    }

    /// `relative` joined to the root, checked after joining: a name that would climb out
    /// (`..`, an absolute path, another host) is refused, whatever validated it before.
    fn under(&self, relative: &str) -> Result<Url> {
        let url = self
            .url
            .join(relative)
            .map_err(|e| Error::internal(format!("cannot build a location: {e}")))?;
        if !url.as_str().starts_with(self.url.as_str()) || relative.starts_with('/') {
            return Err(Error::InvalidData {
                message: "a name would place data outside the data root".into(),
            });
        }
        Ok(url)
    }
}

/// Makes sure a local table directory exists (object stores need nothing).
pub fn prepare_location(url: &Url) -> Result<()> {
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|()| Error::storage(format!("`{url}` is not a local path")))?;
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::storage(format!("cannot create `{}`: {e}", path.display())))?;
    }
    Ok(())
}

/// Best-effort removal of a managed table that failed half-way (local roots only; on object
/// stores an uncommitted prefix is invisible to Delta readers anyway).
pub fn remove_location(url: &Url) {
    if url.scheme() == "file"
        && let Ok(path) = url.to_file_path()
        && let Err(e) = std::fs::remove_dir_all(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a half-made table");
    }
}

/// The schemes a table location may use: the stores this build reads (`s3a` is another name
/// for `s3`). GCS and Azure are not compiled in.
pub const LOCATION_SCHEMES: &[&str] = &["file", "s3", "s3a"];

/// A table location or a prefix of locations, normalized so that two of them compare path
/// segment by segment: `..` and `.` resolved, percent-encoding decoded, empty segments (and
/// so trailing slashes) dropped, and local paths canonicalized (symlinks resolved). `/a/b`
/// contains `/a/b/c` but neither contains nor overlaps `/a/bc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `file` or `s3`.
    store: &'static str,
    /// The bucket, lowercased (empty for local paths).
    bucket: String,
    segments: Vec<String>,
    url: Url,
}

impl Location {
    /// Reads a location a caller gave: a URL of a known scheme or a local directory path.
    /// Local locations must exist (they are canonicalized). Errors are `InvalidData`, with a
    /// message that names only what the caller sent.
    pub fn parse(input: &str) -> Result<Location> {
        let invalid = |why: &str| Error::InvalidData {
            message: format!("location `{input}` {why}"),
        };
        let url = match Url::parse(input) {
            Ok(url) if url.scheme().len() > 1 => url,
            // No scheme (or a Windows drive letter): a local path.
            _ => {
                let path = Path::new(input)
                    .canonicalize()
                    .map_err(|_| invalid("is neither a URL nor an existing directory"))?;
                Url::from_directory_path(&path)
                    .map_err(|()| invalid("is neither a URL nor an existing directory"))?
            }
        };
        if !LOCATION_SCHEMES.contains(&url.scheme()) {
            return Err(invalid(&format!(
                "has an unsupported scheme `{}`; use one of: {}",
                url.scheme(),
                LOCATION_SCHEMES.join(", ")
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("must not have a query or a fragment"));
        }
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|()| invalid("is not a local path (a file URL has no host)"))?;
            let path = path
                .canonicalize()
                .map_err(|_| invalid("does not exist or cannot be read"))?;
            if !path.is_dir() {
                return Err(invalid("is not a directory"));
            }
            return Location::local(&path).ok_or_else(|| invalid("is not a valid directory"));
        }
        Location::object_store(&url).map_err(invalid)
    }

    /// The normalized form of a stored location (a table's or the data root's), without
    /// requiring it to exist: local paths that exist are canonicalized, others are resolved
    /// lexically. `None` for something that is no location of a known store.
    pub fn of_stored(url: &Url) -> Option<Location> {
        if !LOCATION_SCHEMES.contains(&url.scheme()) {
            return None;
        }
        if url.scheme() == "file" {
            let path = url.to_file_path().ok()?;
            return match path.canonicalize() {
                Ok(canonical) => Location::local(&canonical),
                Err(_) => Location::local(&path),
            };
        }
        Location::object_store(url).ok()
    }

    fn local(path: &Path) -> Option<Location> {
        let mut segments: Vec<String> = Vec::new();
        for c in path.components() {
            match c {
                std::path::Component::Normal(s) => segments.push(s.to_string_lossy().into_owned()),
                std::path::Component::ParentDir => {
                    segments.pop();
                }
                _ => {}
            }
        }
        let mut clean = std::path::PathBuf::from("/");
        clean.extend(&segments);
        let url = Url::from_directory_path(&clean).ok()?;
        Some(Location {
            store: "file",
            bucket: String::new(),
            segments,
            url,
        })
    }

    fn object_store(url: &Url) -> std::result::Result<Location, &'static str> {
        let bucket = match url.host_str() {
            Some(b) if !b.is_empty() => b.to_string(),
            _ => return Err("names no bucket"),
        };
        let decoded = percent_encoding::percent_decode_str(url.path())
            .decode_utf8()
            .map_err(|_| "is not valid UTF-8 once decoded")?;
        let mut segments: Vec<String> = Vec::new();
        for s in decoded.split('/') {
            match s {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err("climbs above its bucket");
                    }
                }
                s => segments.push(s.to_string()),
            }
        }
        let mut text = format!("{}://{bucket}/", url.scheme());
        for s in &segments {
            text.push_str(&percent_encode(s));
            text.push('/');
        }
        let url = Url::parse(&text).map_err(|_| "is not a valid URL")?;
        Ok(Location {
            store: "s3",
            bucket: bucket.to_ascii_lowercase(),
            segments,
            url,
        })
    }

    /// The normalized URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether `other` is this location or lies under it.
    pub fn contains(&self, other: &Location) -> bool {
        self.store == other.store
            && self.bucket == other.bucket
            && other.segments.starts_with(&self.segments)
    }

    /// Whether one of the two contains the other.
    pub fn overlaps(&self, other: &Location) -> bool {
        self.contains(other) || other.contains(self)
    }
}

/// Encodes one path segment (or any text for a header or URL): everything but unreserved
/// characters.
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Opens the latest version of a Delta table.
pub async fn open(location: &Url) -> Result<DeltaTable> {
    let mut table = DeltaTableBuilder::from_url(location.clone())
        .map_err(|e| Error::storage(format!("cannot open table at `{location}`: {e}")))?
        .build()
        .map_err(|e| Error::storage(format!("cannot open table at `{location}`: {e}")))?;
    table.load().await.map_err(|e| match e {
        deltalake::DeltaTableError::NotATable(_) => Error::InvalidData {
            message: format!("`{location}` is not a Delta table (no `_delta_log`)"),
        },
        other => Error::storage(format!("cannot load table at `{location}`: {other}")),
    })?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_climb_out_of_the_root() -> Result<()> {
        let root = DataRoot::parse("s3://bucket/mesh/")?;
        let id = Uuid::nil();
        assert!(root.table_url(id, "orders").is_ok());
        for bad in ["../../../x", "../../../../b", "a/../../../../b"] {
            assert!(root.table_url(id, bad).is_err(), "{bad} escaped");
        }
        Ok(())
    }

    #[test]
    fn local_root_becomes_a_directory_url() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::internal(e.to_string()))?;
        let root = DataRoot::parse(&dir.path().join("data").to_string_lossy())?;
        assert_eq!(root.url().scheme(), "file");
        assert!(root.url().path().ends_with("/data/"));
        let id = Uuid::nil();
        let t = root.table_url(id, "orders")?;
        assert!(t.path().ends_with(&format!("/data/products/{id}/orders/")));
        let f = root.files_url(id)?;
        assert!(f.path().ends_with(&format!("/data/products/{id}/_files/")));
        Ok(())
    }

    #[test]
    fn object_store_root_is_kept() -> Result<()> {
        let root = DataRoot::parse("s3://bucket/mesh")?;
        assert_eq!(root.url().as_str(), "s3://bucket/mesh/");
        Ok(())
    }

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn object_store_locations_compare_by_segment() {
        let a = loc("s3://bucket/a/b");
        assert_eq!(a.url().as_str(), "s3://bucket/a/b/");
        assert!(a.contains(&loc("s3://bucket/a/b/c/")));
        assert!(a.overlaps(&loc("s3://bucket/a")));
        assert!(!a.overlaps(&loc("s3://bucket/a/bc")));
        assert!(!a.overlaps(&loc("s3://other/a/b")));
        // Dot segments, encoded dots and slashes, doubled slashes and the s3a alias.
        assert!(a.contains(&loc("s3://bucket/a/x/../b/c")));
        assert!(a.contains(&loc("s3://bucket/a/%2e%2e/a/b//c")));
        assert!(a.contains(&loc("s3a://bucket/a%2Fb/c")));
        // `..` cannot climb above the bucket.
        assert_eq!(loc("s3://bucket/../x"), loc("s3://bucket/x"));
    }

    #[test]
    fn unknown_schemes_and_missing_paths_are_refused() {
        for bad in [
            "ftp://x/y",
            "gs://bucket/t",
            "http://host/t",
            "s3://bucket/t?x=1",
            "/no/such/directory/anywhere",
            "not a url or a dir",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(Error::InvalidData { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn local_locations_are_canonical() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::internal(e.to_string()))?;
        let real = dir.path().join("root").join("t");
        std::fs::create_dir_all(&real).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::create_dir_all(dir.path().join("root").join("tc"))
            .map_err(|e| Error::internal(e.to_string()))?;
        let root = loc(&dir.path().join("root").to_string_lossy());
        let t = loc(&real.to_string_lossy());
        assert!(root.contains(&t));
        let dotted = format!("{}/root/tc/../t/", dir.path().display());
        assert_eq!(loc(&dotted), t);
        assert!(!t.overlaps(&loc(&dir.path().join("root").join("tc").to_string_lossy())));
        let url = Url::from_directory_path(&real).map_err(|()| Error::internal("url"))?;
        assert_eq!(loc(url.as_str()), t);
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&real, &link).map_err(|e| Error::internal(e.to_string()))?;
            assert_eq!(loc(&link.to_string_lossy()), t);
        }
        Ok(())
    }
}
