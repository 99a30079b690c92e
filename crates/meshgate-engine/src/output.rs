//! Streaming encoders for query results: each batch is encoded as it arrives, so a large
//! result never has to be held in memory.

use bytes::Bytes;
use deltalake::arrow::csv::WriterBuilder as CsvWriterBuilder;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::ipc::writer::StreamWriter;
use deltalake::arrow::json::writer::{LineDelimited, WriterBuilder as JsonWriterBuilder};
use deltalake::arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt};

use crate::{Error, Result};

/// A result format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A JSON array of row objects (nulls explicit).
    #[default]
    Json,
    /// CSV with a header row.
    Csv,
    /// The Arrow IPC streaming format.
    Arrow,
}

impl OutputFormat {
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(OutputFormat::Json),
            "csv" => Some(OutputFormat::Csv),
            "arrow" | "ipc" | "arrow-ipc" => Some(OutputFormat::Arrow),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Json => "application/json",
            OutputFormat::Csv => "text/csv; charset=utf-8",
            OutputFormat::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// How a stream ended, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    pub rows: u64,
    pub bytes: u64,
    /// The error that ended the stream early, if any.
    pub error: Option<String>,
}

enum Encoder {
    Json { first: bool },
    Csv { first: bool },
    Arrow(Box<StreamWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(format: OutputFormat, schema: &SchemaRef) -> Result<(Self, Bytes)> {
        Ok(match format {
            OutputFormat::Json => (Encoder::Json { first: true }, Bytes::from_static(b"[")),
            OutputFormat::Csv => {
                // The header comes from the schema, so an empty result still has one.
                let mut w = CsvWriterBuilder::new().with_header(true).build(Vec::new());
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(|e| Error::internal(format!("csv: {e}")))?;
                (Encoder::Csv { first: true }, Bytes::from(w.into_inner()))
            }
            OutputFormat::Arrow => {
                let mut w = StreamWriter::try_new(Vec::new(), schema)
                    .map_err(|e| Error::internal(format!("arrow ipc: {e}")))?;
                let head = std::mem::take(w.get_mut());
                (Encoder::Arrow(Box::new(w)), Bytes::from(head))
            }
        })
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Bytes> {
        if batch.num_rows() == 0 {
            return Ok(Bytes::new());
        }
        match self {
            Encoder::Json { first } => {
                let mut w = JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(Vec::new());
                w.write(batch)
                    .map_err(|e| Error::internal(format!("json: {e}")))?;
                w.finish()
                    .map_err(|e| Error::internal(format!("json: {e}")))?;
                let lines = w.into_inner();
                // JSON strings escape newlines, so the line breaks are exactly the row ends.
                let mut out = Vec::with_capacity(lines.len() + 1);
                for row in lines.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
                    if !*first {
                        out.push(b',');
                    }
                    *first = false;
                    out.extend_from_slice(row);
                }
                Ok(Bytes::from(out))
            }
            Encoder::Csv { first } => {
                let mut w = CsvWriterBuilder::new().with_header(false).build(Vec::new());
                w.write(batch)
                    .map_err(|e| Error::internal(format!("csv: {e}")))?;
                *first = false;
                Ok(Bytes::from(w.into_inner()))
            }
            Encoder::Arrow(w) => {
                w.write(batch)
                    .map_err(|e| Error::internal(format!("arrow ipc: {e}")))?;
                Ok(Bytes::from(std::mem::take(w.get_mut())))
            }
        }
    }

    fn finish(&mut self) -> Result<Bytes> {
        match self {
            Encoder::Json { .. } => Ok(Bytes::from_static(b"]")),
            Encoder::Csv { .. } => Ok(Bytes::new()),
            Encoder::Arrow(w) => {
                w.finish()
                    .map_err(|e| Error::internal(format!("arrow ipc: {e}")))?;
                Ok(Bytes::from(std::mem::take(w.get_mut())))
            }
        }
    }
}

/// Encodes `batches` as `format`. `on_end` is called exactly once, when the stream ends,
/// fails, or is dropped early (the client went away).
pub fn encode<S, F>(
    batches: S,
    schema: SchemaRef,
    format: OutputFormat,
    on_end: F,
) -> Result<impl Stream<Item = Result<Bytes>> + Send>
where
    S: Stream<Item = Result<RecordBatch>> + Send + Unpin + 'static,
    F: FnOnce(StreamEnd) + Send + 'static,
{
    let (encoder, head) = Encoder::new(format, &schema)?;
    let state = State {
        batches,
        encoder,
        head: Some(head),
        tally: Tally {
            end: StreamEnd {
                rows: 0,
                bytes: 0,
                error: None,
            },
            on_end: Some(Box::new(on_end)),
        },
        finished: false,
    };
    Ok(futures::stream::unfold(state, |mut st| async move {
        if let Some(head) = st.head.take() {
            st.tally.end.bytes += head.len() as u64;
            return Some((Ok(head), st));
        }
        if st.finished {
            st.tally.fire();
            return None;
        }
        loop {
            match st.batches.next().await {
                Some(Ok(batch)) => {
                    st.tally.end.rows += batch.num_rows() as u64;
                    match st.encoder.batch(&batch) {
                        Ok(bytes) if bytes.is_empty() => continue,
                        Ok(bytes) => {
                            st.tally.end.bytes += bytes.len() as u64;
                            return Some((Ok(bytes), st));
                        }
                        Err(e) => return Some(st.fail(e)),
                    }
                }
                Some(Err(e)) => return Some(st.fail(e)),
                None => {
                    st.finished = true;
                    return match st.encoder.finish() {
                        Ok(bytes) => {
                            st.tally.end.bytes += bytes.len() as u64;
                            Some((Ok(bytes), st))
                        }
                        Err(e) => Some(st.fail(e)),
                    };
                }
            }
        }
    }))
}

struct State<S> {
    batches: S,
    encoder: Encoder,
    head: Option<Bytes>,
    tally: Tally,
    finished: bool,
}

impl<S> State<S> {
    fn fail(mut self, e: Error) -> (Result<Bytes>, Self) {
        self.tally.end.error = Some(e.to_string());
        self.finished = true;
        // Nothing follows an error: the client sees a truncated body, and the audit says why.
        self.tally.fire();
        (Err(e), self)
    }
}

type OnEnd = Box<dyn FnOnce(StreamEnd) + Send>;

/// Counts what was sent and reports it once, also when dropped mid-stream.
struct Tally {
    end: StreamEnd,
    on_end: Option<OnEnd>,
}

impl Tally {
    fn fire(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(self.end.clone());
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if self.on_end.is_some() && self.end.error.is_none() {
            self.end.error = Some("the client disconnected before the result ended".into());
        }
        self.fire();
    }
}

/// Result rows as JSON objects (for small results such as key lookups), encoded as the
/// streaming JSON output encodes them.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let mut w = JsonWriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(Vec::new());
        w.write(batch)
            .map_err(|e| Error::internal(format!("json: {e}")))?;
        w.finish()
            .map_err(|e| Error::internal(format!("json: {e}")))?;
        for line in w
            .into_inner()
            .split(|b| *b == b'\n')
            .filter(|r| !r.is_empty())
        {
            out.push(
                serde_json::from_slice(line).map_err(|e| Error::internal(format!("json: {e}")))?,
            );
        }
    }
    Ok(out)
}
