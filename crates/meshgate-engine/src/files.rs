//! A data product's files: plain objects under the product's `_files/` folder of the data
//! root (a local directory or an object store, reached through `object_store` exactly as
//! its tables are). Uploads stream to storage and become visible only when complete;
//! downloads stream, whole or one byte range, without holding the file in memory.
//!
//! Paths are checked by `meshgate_core::files::validate_path` before they get here; this
//! module trusts them and maps them one to one onto object keys.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use deltalake::logstore::object_store::buffered::BufWriter;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    self, GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use url::Url;
use uuid::Uuid;

use crate::storage::DataRoot;
use crate::{Error, Result};

/// Local files are streamed in chunks of this size. (`object_store` streams them 8 KiB at a
/// time, each read a blocking task of its own, which holds a download of a large file to a
/// few hundred MB/s.)
const LOCAL_CHUNK: u64 = 1 << 20;

/// The bytes of `range` of a local `file`, read in `LOCAL_CHUNK`s on the blocking pool.
fn local_stream(
    file: std::fs::File,
    range: Range<u64>,
    failed: impl Fn(&dyn std::fmt::Display) -> Error + Clone + Send + Sync + 'static,
) -> BoxStream<'static, Result<Bytes>> {
    futures::stream::try_unfold((file, range.start), move |(mut file, at)| {
        let failed = failed.clone();
        let end = range.end;
        async move {
            if at >= end {
                return Ok(None);
            }
            let read = tokio::task::spawn_blocking(move || {
                use std::io::{Read, Seek, SeekFrom};
                let want = (end - at).min(LOCAL_CHUNK);
                let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
                file.seek(SeekFrom::Start(at))?;
                (&mut file).take(want).read_to_end(&mut buf)?;
                Ok::<_, std::io::Error>((file, buf))
            })
            .await
            .map_err(|e| failed(&e))?;
            let (file, buf) = read.map_err(|e| failed(&e))?;
            if buf.is_empty() {
                return Err(failed(&"the file is shorter than its listed size"));
            }
            let next = at + buf.len() as u64;
            Ok(Some((Bytes::from(buf), (file, next))))
        }
    })
    .boxed()
}

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileMeta {
    /// The path relative to the product's files.
    pub path: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    /// The store's entity tag, where it gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl FileMeta {
    /// From a listing (whose locations are relative to the files area).
    fn from_object(meta: ObjectMeta) -> Self {
        let path = meta.location.to_string();
        FileMeta::at(path, meta)
    }

    /// For `path`: `object_store`'s prefixed stores do not strip their prefix from what
    /// `get`/`head` return, so the path asked for is the one reported.
    fn at(path: String, meta: ObjectMeta) -> Self {
        FileMeta {
            path,
            size: meta.size,
            last_modified: meta.last_modified,
            etag: meta.e_tag,
        }
    }
}

/// The files of one product.
#[derive(Clone)]
pub struct ProductFiles {
    store: Arc<dyn ObjectStore>,
    url: Url,
}

impl std::fmt::Debug for ProductFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProductFiles({})", self.url)
    }
}

/// A file being uploaded. Nothing is visible at its path until [`FileUpload::finish`]; an
/// upload aborted or dropped half-way leaves no file (and no previous file is touched).
pub struct FileUpload {
    writer: BufWriter,
    store: Arc<dyn ObjectStore>,
    path: Path,
    written: u64,
}

impl ProductFiles {
    /// The files area of `product_id` under `root`. Object-store settings come from the
    /// environment (`AWS_*` …), as for tables.
    pub fn open(root: &DataRoot, product_id: Uuid) -> Result<Self> {
        ProductFiles::at(root.files_url(product_id)?)
    }

    /// The files under any folder `url` of the storage — a table's folder or a Delta Sharing
    /// snapshot, whose data files are served the same way.
    pub fn at(url: Url) -> Result<Self> {
        let store = deltalake::logstore::store_for(&url, std::iter::empty::<(String, String)>())
            .map_err(|e| Error::storage(format!("cannot open the files store at `{url}`: {e}")))?;
        Ok(ProductFiles { store, url })
    }

    fn storage_error(&self, what: &str, path: &str, e: object_store::Error) -> Error {
        Error::storage(format!(
            "cannot {what} file `{path}` in `{}`: {e}",
            self.url
        ))
    }

    /// Starts an upload to `path` (replacing any file there once it completes).
    pub fn upload(&self, path: &str) -> Result<FileUpload> {
        let path = object_path(path)?;
        Ok(FileUpload {
            writer: BufWriter::new(self.store.clone(), path.clone()),
            store: self.store.clone(),
            path,
            written: 0,
        })
    }

    /// The file at `path`, if there is one.
    pub async fn head(&self, path: &str) -> Result<Option<FileMeta>> {
        match self.store.head(&object_path(path)?).await {
            Ok(meta) => Ok(Some(FileMeta::at(path.to_string(), meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage_error("read", path, e)),
        }
    }

    /// The bytes of `path` in `range` (the whole file when `None`), as a stream. `None` when
    /// the file does not exist.
    pub async fn read(
        &self,
        path: &str,
        range: Option<Range<u64>>,
    ) -> Result<Option<(FileMeta, BoxStream<'static, Result<Bytes>>)>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = match self.store.get_opts(&object_path(path)?, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.storage_error("read", path, e)),
        };
        let meta = FileMeta::at(path.to_string(), result.meta.clone());
        let url = self.url.clone();
        let shown = path.to_string();
        let failed = move |e: &dyn std::fmt::Display| {
            Error::storage(format!("reading file `{shown}` in `{url}` failed: {e}"))
        };
        let stream = match result.payload {
            GetResultPayload::File(file, _) => local_stream(file, result.range, failed),
            GetResultPayload::Stream(s) => s.map_err(move |e| failed(&e)).boxed(),
        };
        Ok(Some((meta, stream)))
    }

    /// Deletes the file at `path` and returns what it was; `None` if there was none.
    pub async fn delete(&self, path: &str) -> Result<Option<FileMeta>> {
        let Some(meta) = self.head(path).await? else {
            return Ok(None);
        };
        match self.store.delete(&object_path(path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(Some(meta)),
            Err(e) => Err(self.storage_error("delete", path, e)),
        }
    }

    /// Every file whose path starts with `prefix` (as a string: `rep` matches `reports/…`)
    /// and comes after `after`, sorted by path. The listing is read in full before sorting,
    /// since local directories are not listed in order.
    pub async fn list(&self, prefix: &str, after: Option<&str>) -> Result<Vec<FileMeta>> {
        // Object stores list by whole segments: list the folder the prefix ends in, then
        // keep what starts with the prefix.
        let folder = match prefix.rfind('/') {
            Some(i) => object_path(&prefix[..i])?,
            None => Path::default(),
        };
        let folder = (!folder.as_ref().is_empty()).then_some(folder);
        // The offset only saves listing work; the filter below is what pages.
        let listing = match after.and_then(|a| Path::parse(a).ok()) {
            Some(offset) => self.store.list_with_offset(folder.as_ref(), &offset),
            None => self.store.list(folder.as_ref()),
        };
        let metas: Vec<ObjectMeta> = match listing.try_collect().await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.storage_error("list", prefix, e)),
        };
        let mut files: Vec<FileMeta> = metas
            .into_iter()
            .map(FileMeta::from_object)
            .filter(|f| f.path.starts_with(prefix))
            .filter(|f| after.is_none_or(|a| f.path.as_str() > a))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }
}

impl FileUpload {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.written += chunk.len() as u64;
        self.writer
            .put(chunk)
            .await
            .map_err(|e| Error::storage(format!("cannot write `{}`: {e}", self.path)))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the upload: the file is now visible, whole.
    pub async fn finish(mut self) -> Result<FileMeta> {
        self.writer
            .shutdown()
            .await
            .map_err(|e| Error::storage(format!("cannot complete `{}`: {e}", self.path)))?;
        let meta = self
            .store
            .head(&self.path)
            .await
            .map_err(|e| Error::storage(format!("cannot read back `{}`: {e}", self.path)))?;
        Ok(FileMeta::at(self.path.to_string(), meta))
    }

    /// Gives the upload up, cleaning up what was written so far.
    pub async fn abort(mut self) {
        if let Err(e) = self.writer.abort().await {
            tracing::warn!(path = %self.path, error = %e, "could not clean up an aborted upload");
        }
    }
}

/// The object key of a (validated) file path. The path is taken as it is (not
/// percent-encoded), so a listed key reads back as the same path.
fn object_path(path: &str) -> Result<Path> {
    Path::parse(path).map_err(|e| Error::internal(format!("unusable file path: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(files: &ProductFiles, path: &str, range: Option<Range<u64>>) -> Vec<u8> {
        let (_, stream) = files.read(path, range).await.unwrap().unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn upload_list_read_delete_on_a_local_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = DataRoot::parse(&dir.path().join("data").to_string_lossy()).unwrap();
        let files = ProductFiles::open(&root, Uuid::now_v7()).unwrap();
        assert!(files.list("", None).await.unwrap().is_empty());

        for (path, body) in [
            ("reports/a.csv", &b"id\n1\n2\n"[..]),
            ("reports/b.csv", b"x"),
            ("raw/b.csv", b"raw"),
            ("with space%{x}.txt", b"s"),
        ] {
            let mut up = files.upload(path).unwrap();
            up.write(Bytes::from_static(body)).await.unwrap();
            let meta = up.finish().await.unwrap();
            assert_eq!((meta.path.as_str(), meta.size), (path, body.len() as u64));
        }
        let paths = |v: Vec<FileMeta>| v.into_iter().map(|f| f.path).collect::<Vec<_>>();
        assert_eq!(
            paths(files.list("", None).await.unwrap()),
            [
                "raw/b.csv",
                "reports/a.csv",
                "reports/b.csv",
                "with space%{x}.txt"
            ]
        );
        assert_eq!(
            paths(files.list("rep", None).await.unwrap()),
            ["reports/a.csv", "reports/b.csv"]
        );
        assert_eq!(
            paths(files.list("reports/", Some("reports/a.csv")).await.unwrap()),
            ["reports/b.csv"]
        );
        assert!(files.list("nothing/", None).await.unwrap().is_empty());

        assert_eq!(read_all(&files, "reports/a.csv", None).await, b"id\n1\n2\n");
        assert_eq!(read_all(&files, "reports/a.csv", Some(3..5)).await, b"1\n");
        assert!(files.read("nope", None).await.unwrap().is_none());
        assert_eq!(files.head("raw/b.csv").await.unwrap().unwrap().size, 3);

        assert_eq!(files.delete("raw/b.csv").await.unwrap().unwrap().size, 3);
        assert!(files.delete("raw/b.csv").await.unwrap().is_none());
        assert!(files.head("raw/b.csv").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn local_reads_span_chunks_and_ranges_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
        let files = ProductFiles::open(&root, Uuid::now_v7()).unwrap();
        let chunk = usize::try_from(LOCAL_CHUNK).unwrap();
        let body: Vec<u8> = (0..2 * chunk + 12_345).map(|i| (i % 251) as u8).collect();
        let mut up = files.upload("big.bin").unwrap();
        up.write(Bytes::from(body.clone())).await.unwrap();
        up.finish().await.unwrap();

        let (_, stream) = files.read("big.bin", None).await.unwrap().unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!(chunks.len(), 3, "whole chunks, then the rest");
        assert_eq!(chunks.concat(), body);
        let n = body.len() as u64;
        let c = LOCAL_CHUNK;
        for r in [0..1, c - 1..c + 1, 5..2 * c + 7, c..2 * c, n - 1..n, 0..n] {
            let (lo, hi) = (
                usize::try_from(r.start).unwrap(),
                usize::try_from(r.end).unwrap(),
            );
            assert_eq!(
                read_all(&files, "big.bin", Some(r.clone())).await,
                &body[lo..hi],
                "{r:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_aborted_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = DataRoot::parse(&dir.path().to_string_lossy()).unwrap();
        let files = ProductFiles::open(&root, Uuid::now_v7()).unwrap();
        let mut up = files.upload("a.bin").unwrap();
        up.write(Bytes::from(vec![7u8; 1024])).await.unwrap();
        assert_eq!(up.written(), 1024);
        up.abort().await;
        assert!(files.head("a.bin").await.unwrap().is_none());
        assert!(files.list("", None).await.unwrap().is_empty());
    }
}
