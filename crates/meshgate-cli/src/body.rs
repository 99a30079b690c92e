//! Request bodies the verbs send: a JSON object of the fields that are present, the value of
//! a `--x`/`--no-x` switch pair, and a file streamed from disk.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// A JSON object of the fields that are present.
pub(crate) fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// `Some(true)` for `--x`, `Some(false)` for `--no-x`, `None` (the server's default) for
/// neither.
pub(crate) fn switch(on: bool, off: bool) -> Option<Value> {
    match (on, off) {
        (true, _) => Some(Value::Bool(true)),
        (_, true) => Some(Value::Bool(false)),
        _ => None,
    }
}

pub(crate) fn some<T: Into<Value>>(v: Option<T>) -> Option<Value> {
    v.map(Into::into)
}

/// A streaming request body reading `path`, and the file's length.
pub(crate) async fn file_body(path: &Path) -> Result<(reqwest::Body, u64)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    let len = file
        .metadata()
        .await
        .with_context(|| format!("cannot read `{}`", path.display()))?
        .len();
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((reqwest::Body::wrap_stream(stream), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_skips_absent_fields() {
        let v = object([("a", Some(json!(1))), ("b", None), ("c", some(Some("x")))]);
        assert_eq!(v, json!({"a": 1, "c": "x"}));
    }
}
