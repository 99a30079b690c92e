//! Where product tables live. The data root is a local directory (the default, under the data
//! dir) or an object-store URL; each managed table gets its own prefix keyed by the product's
//! id, so deleting and re-creating a product of the same name never collides. A product's
//! files (see [`crate::files`]) live in `_files/` beside its tables.

use std::path::Path;

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
}
