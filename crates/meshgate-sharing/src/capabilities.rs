//! The `delta-sharing-capabilities` header and the choice of a response format.
//!
//! The client says what it can read, e.g.
//! `responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping;includeendstreamaction=true`
//! (`;`-separated `key=value`, values `,`-separated, keys and values case-insensitive). The
//! server answers in **exactly one** format and says which in the same response header
//! (docs/design/DELTA_SHARING.md §Format negotiation):
//!
//! - `parquet` (the default, and the only format old clients know): the table must need no
//!   more than Delta reader version 1;
//! - `delta`: real Delta actions wrapped in `deltaSingleAction`, for tables with reader
//!   features (deletion vectors, column mapping, …) that the parquet format cannot express.
//!
//! Traps: a client that sends no header (or no `responseformat`) must get parquet; a client
//! that names one format must get that one; a table that needs delta must never be served as
//! parquet (the client would read wrong rows), so that is an error telling the caller which
//! header to send. Unknown keys and values and malformed pieces are ignored: clients add
//! capabilities over time. `includeendstreamaction=true` is how a client asks for an
//! `endStreamAction` line: the Python client reads every line after `metaData` as a file, so
//! one must not be sent unasked (docs/design/DELTA_SHARING.md §NDJSON).

use crate::{Error, Result};

/// The name of the request and response header.
pub const CAPABILITIES_HEADER: &str = "delta-sharing-capabilities";

/// The format of the actions in an NDJSON response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseFormat {
    /// The original Delta Sharing actions (`file` with `url`, …).
    Parquet,
    /// Delta log actions wrapped in `deltaSingleAction`, `deltaProtocol`, `deltaMetadata`.
    Delta,
}

impl ResponseFormat {
    /// The header value of the format: `parquet` or `delta`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseFormat::Parquet => "parquet",
            ResponseFormat::Delta => "delta",
        }
    }
}

impl std::fmt::Display for ResponseFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the client said it can read, from its `delta-sharing-capabilities` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The response formats the client accepts, in its order, without duplicates. Empty when
    /// the client named none it knows: it then gets parquet.
    pub formats: Vec<ResponseFormat>,
    /// The Delta reader features the client can handle, lower-cased.
    pub reader_features: Vec<String>,
    /// The client asked for an `endStreamAction` line at the end of NDJSON responses.
    pub include_end_stream_action: bool,
}

impl Capabilities {
    /// Reads the header value (`None` when the header is absent). Never fails: unknown keys,
    /// unknown formats and pieces without `=` are ignored.
    pub fn parse(header: Option<&str>) -> Capabilities {
        let mut caps = Capabilities::default();
        let Some(header) = header else {
            return caps;
        };
        for piece in header.split(';') {
            let Some((key, values)) = piece.split_once('=') else {
                continue;
            };
            let values = values
                .split(',')
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| !v.is_empty());
            match key.trim().to_ascii_lowercase().as_str() {
                "responseformat" => {
                    for v in values {
                        let format = match v.as_str() {
                            "parquet" => ResponseFormat::Parquet,
                            "delta" => ResponseFormat::Delta,
                            _ => continue,
                        };
                        if !caps.formats.contains(&format) {
                            caps.formats.push(format);
                        }
                    }
                }
                "readerfeatures" => {
                    for v in values {
                        if !caps.reader_features.contains(&v) {
                            caps.reader_features.push(v);
                        }
                    }
                }
                "includeendstreamaction" => {
                    caps.include_end_stream_action = values.into_iter().any(|v| v == "true");
                }
                _ => {}
            }
        }
        caps
    }

    /// Whether the client accepts `format` (parquet is accepted when it named no format).
    pub fn accepts(&self, format: ResponseFormat) -> bool {
        self.formats.contains(&format)
            || (self.formats.is_empty() && format == ResponseFormat::Parquet)
    }

    /// Chooses the one format to answer in. A table that needs the delta format (Delta
    /// reader version above 1, or reader features) gets delta if the client accepts it, else
    /// an error naming the header to send. Any other table gets parquet when the client
    /// accepts parquet or named no format, else delta (a client that asks only for delta
    /// gets delta).
    pub fn choose(&self, table_needs_delta: bool) -> Result<ResponseFormat> {
        if table_needs_delta {
            if self.accepts(ResponseFormat::Delta) {
                Ok(ResponseFormat::Delta)
            } else {
                Err(Error::FormatNotAccepted {
                    message: "the table needs the delta response format (it uses Delta reader \
                              features, such as deletion vectors or column mapping, that the \
                              parquet format cannot express); ask with \
                              `delta-sharing-capabilities: responseformat=delta`"
                        .to_owned(),
                })
            }
        } else if self.accepts(ResponseFormat::Parquet) {
            Ok(ResponseFormat::Parquet)
        } else {
            Ok(ResponseFormat::Delta)
        }
    }

    /// The reader features of `needed` (a table's Delta `readerFeatures`) that the client
    /// did not list, compared case-insensitively. Empty when it listed them all.
    pub fn missing_reader_features<'a>(&self, needed: &'a [String]) -> Vec<&'a str> {
        needed
            .iter()
            .filter(|f| !self.reader_features.contains(&f.to_ascii_lowercase()))
            .map(String::as_str)
            .collect()
    }
}

/// The response header value for `format`: `responseformat=parquet` or
/// `responseformat=delta` (exactly one format).
pub fn response_header(format: ResponseFormat) -> String {
    format!("responseformat={}", format.as_str())
}

/// [`response_header`], plus `;includeendstreamaction=true` when the response ends with an
/// `endStreamAction` line (the spec requires saying so when the client asked for one).
pub fn response_header_with_end_stream(
    format: ResponseFormat,
    include_end_stream_action: bool,
) -> String {
    let mut header = response_header(format);
    if include_end_stream_action {
        header.push_str(";includeendstreamaction=true");
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResponseFormat::{Delta, Parquet};

    #[test]
    fn parses_the_python_clients_headers() {
        let c = Capabilities::parse(Some(
            "responseformat=delta,parquet;readerfeatures=deletionvectors,columnmapping,timestampntz",
        ));
        assert_eq!(c.formats, vec![Delta, Parquet]);
        assert_eq!(
            c.reader_features,
            vec!["deletionvectors", "columnmapping", "timestampntz"]
        );
        assert!(!c.include_end_stream_action);
        let c = Capabilities::parse(Some(
            "responseformat=delta;readerfeatures=deletionvectors,columnmapping",
        ));
        assert_eq!(c.formats, vec![Delta]);
    }

    #[test]
    fn keys_and_values_are_case_insensitive_and_junk_is_ignored() {
        let c = Capabilities::parse(Some(
            " ResponseFormat = Parquet , DELTA , avro ;; nonsense ; ReaderFeatures=DeletionVectors;\
             IncludeEndStreamAction=TRUE;accessModes=url,dir;=x",
        ));
        assert_eq!(c.formats, vec![Parquet, Delta]);
        assert_eq!(c.reader_features, vec!["deletionvectors"]);
        assert!(c.include_end_stream_action);
        assert_eq!(
            Capabilities::parse(Some("includeendstreamaction=false")),
            Capabilities::default()
        );
        assert_eq!(Capabilities::parse(Some("")), Capabilities::default());
        assert_eq!(Capabilities::parse(None), Capabilities::default());
        assert_eq!(
            Capabilities::parse(Some("responseformat=delta,delta")).formats,
            vec![Delta]
        );
    }

    #[test]
    fn choose_follows_the_spec_table() {
        let none = Capabilities::parse(None);
        let parquet = Capabilities::parse(Some("responseformat=parquet"));
        let delta = Capabilities::parse(Some("responseformat=delta"));
        let both = Capabilities::parse(Some("responseformat=delta,parquet"));
        let unknown = Capabilities::parse(Some("responseformat=avro"));

        assert_eq!(none.choose(false).unwrap(), Parquet);
        assert_eq!(unknown.choose(false).unwrap(), Parquet);
        assert_eq!(parquet.choose(false).unwrap(), Parquet);
        assert_eq!(both.choose(false).unwrap(), Parquet);
        assert_eq!(delta.choose(false).unwrap(), Delta);

        assert_eq!(delta.choose(true).unwrap(), Delta);
        assert_eq!(both.choose(true).unwrap(), Delta);
        for c in [&none, &parquet, &unknown] {
            let e = c.choose(true).unwrap_err();
            assert!(e.to_string().contains("responseformat=delta"), "{e}");
            assert_eq!(e.error_code(), "INVALID_PARAMETER_VALUE");
        }
    }

    #[test]
    fn response_headers_name_one_format() {
        assert_eq!(response_header(Parquet), "responseformat=parquet");
        assert_eq!(response_header(Delta), "responseformat=delta");
        assert_eq!(
            response_header_with_end_stream(Delta, true),
            "responseformat=delta;includeendstreamaction=true"
        );
        assert_eq!(
            response_header_with_end_stream(Parquet, false),
            "responseformat=parquet"
        );
        assert_eq!(Parquet.to_string(), "parquet");
    }

    #[test]
    fn missing_reader_features() {
        let c = Capabilities::parse(Some("readerfeatures=deletionvectors"));
        let needed = vec!["deletionVectors".to_owned(), "columnMapping".to_owned()];
        assert_eq!(c.missing_reader_features(&needed), vec!["columnMapping"]);
    }
}
