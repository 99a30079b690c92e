//! Uploaded bytes on their way into a table: staged in server-named files inside one fresh
//! directory under the upload dir, removed when the request ends whatever happens. No part
//! of a request names a staged file (docs/design/SECURITY.md, "names and paths"), and the
//! caller's right to create or append is checked before any byte is stored.

use std::path::PathBuf;

use axum::extract::Multipart;
use axum::http::StatusCode;
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A request's staging directory and the files in it.
pub struct Staging {
    dir: tempfile::TempDir,
    parts: usize,
}

impl Staging {
    fn new(state: &AppState) -> ApiResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("upload-")
            .tempdir_in(state.config.upload_dir())
            .map_err(ApiError::internal)?;
        Ok(Staging { dir, parts: 0 })
    }

    /// A new file in the staging directory, created empty.
    async fn create(&mut self) -> ApiResult<(PathBuf, tokio::fs::File)> {
        self.parts += 1;
        let path = self.dir.path().join(format!("part-{}", self.parts));
        // Checked after joining, like every file operation on a name.
        if path.parent() != Some(self.dir.path()) {
            return Err(ApiError::internal(
                "a staged file left its staging directory",
            ));
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(ApiError::internal)?;
        Ok((path, file))
    }
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the upload is larger than {} MiB; split it and append the parts, or ask an admin to raise `max_upload_mb`",
            state.config.max_upload_mb
        ),
    )
}

/// A file uploaded for one table, staged on disk.
pub struct StagedFile {
    pub table: String,
    pub path: PathBuf,
    pub file_name: Option<String>,
}

/// The next part of a multipart body, with our answers for a body over the limit or broken.
async fn next_field<'a>(
    state: &AppState,
    multipart: &'a mut Multipart,
) -> ApiResult<Option<axum::extract::multipart::Field<'a>>> {
    match multipart.next_field().await {
        Ok(field) => Ok(field),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large(state)),
        Err(e) => Err(ApiError::bad_request(format!(
            "invalid multipart body: {}",
            e.body_text()
        ))),
    }
}

/// The first part of the multipart body of `POST /products`, which must be the `product`
/// part (JSON): the caller's right to create the product is checked on it before any
/// uploaded byte is stored.
pub async fn read_product<P: serde::de::DeserializeOwned>(
    state: &AppState,
    multipart: &mut Multipart,
) -> ApiResult<P> {
    let Some(field) = next_field(state, multipart).await? else {
        return Err(ApiError::bad_request(
            "missing the `product` part: a JSON object with `domain`, `team` and `name`",
        ));
    };
    if field.name() != Some("product") {
        return Err(ApiError::bad_request(
            "the `product` part must come first: a JSON object with `domain`, `team` and `name`, then one part per table file",
        ));
    }
    let text = field
        .text()
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid `product` part: {}", e.body_text())))?;
    serde_json::from_str(&text)
        .map_err(|e| ApiError::bad_request(format!("invalid `product` part: {e}")))
}

/// The rest of the body: each part is one table's file (the part's name is the table's),
/// streamed to a server-named staging file.
pub async fn read_files(
    state: &AppState,
    multipart: &mut Multipart,
) -> ApiResult<(Staging, Vec<StagedFile>)> {
    let mut staging = Staging::new(state)?;
    let mut files = Vec::new();
    while let Some(mut field) = next_field(state, multipart).await? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "product" {
            return Err(ApiError::bad_request("the `product` part is given twice"));
        }
        meshgate_core::names::validate("table name", &name)?;
        let file_name = field.file_name().map(str::to_string);
        let (path, mut out) = staging.create().await?;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => out.write_all(&chunk).await.map_err(ApiError::internal)?,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(too_large(state));
                }
                Err(e) => {
                    return Err(ApiError::bad_request(format!(
                        "upload of `{name}` failed: {}",
                        e.body_text()
                    )));
                }
            }
        }
        out.flush().await.map_err(ApiError::internal)?;
        files.push(StagedFile {
            table: name,
            path,
            file_name,
        });
    }
    Ok((staging, files))
}

/// A request body staged as one file (the body of an append), with its staging directory.
pub async fn stage_body(state: &AppState, body: axum::body::Body) -> ApiResult<(Staging, PathBuf)> {
    let mut staging = Staging::new(state)?;
    let (path, mut out) = staging.create().await?;
    let limit = state.config.max_upload_mb.saturating_mul(1024 * 1024);
    let mut written: u64 = 0;
    let mut stream = body.into_data_stream();
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                written += chunk.len() as u64;
                if written > limit {
                    return Err(too_large(state));
                }
                out.write_all(&chunk).await.map_err(ApiError::internal)?;
            }
            Ok(None) => break,
            Err(e) => {
                return Err(if e.to_string().contains("length limit") {
                    too_large(state)
                } else {
                    ApiError::bad_request(format!("upload failed: {e}"))
                });
            }
        }
    }
    out.flush().await.map_err(ApiError::internal)?;
    if written == 0 {
        return Err(ApiError::bad_request("the upload is empty"));
    }
    Ok((staging, path))
}
