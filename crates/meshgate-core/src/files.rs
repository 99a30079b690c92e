//! Product files (a data product's files next to its tables; a folder share item covers a
//! path prefix of them): the rules for a file's path, the byte range a download asks for,
//! and the signatures of the expiring, principal-bound download URLs meshgate serves itself.
//!
//! All pure: the object store I/O is in `meshgate-engine`, the HTTP edge in
//! `meshgate-server`.
//!
//! ## Signed URLs
//!
//! A signed URL names a [`SignedResource`], the principal it was signed for and an expiry
//! (Unix seconds), and carries an HMAC-SHA-256 over exactly those, keyed by a sub-key
//! derived from the mesh's signing key ([`UrlSigner::new`]). The sub-key is what keeps a URL
//! signature from ever being mistaken for a credential signature (which uses the mesh key
//! itself) and lets both be verified without a store round trip.
//!
//! The signature travels in the query key [`SIGNATURE_PARAM`] (`X-Databricks-Signature`):
//! it is one of the keys delta-kernel's default engine recognises as "presigned" (it then
//! fetches the URL with a plain HTTP GET instead of treating it as an object-store path),
//! and the only such key that does not claim a cloud vendor's signing scheme (`X-Amz-…`,
//! `X-Goog-…`, Azure's `sp`). The same mechanism can thus serve Delta Sharing file URLs
//! (docs/design/DELTA_SHARING.md §Files) by adding a resource kind.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::{Error, Result};

/// Longest accepted file path, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// The query key of a signed URL's signature (base64url, no padding).
pub const SIGNATURE_PARAM: &str = "X-Databricks-Signature";
/// The query key of a signed URL's expiry, in Unix seconds.
pub const EXPIRES_PARAM: &str = "X-Meshgate-Expires";
/// The query key of the principal (id) a signed URL was signed for.
pub const PRINCIPAL_PARAM: &str = "X-Meshgate-Principal";

/// Default and longest lifetime of a signed URL.
pub const DEFAULT_URL_TTL: Duration = Duration::hours(1);
pub const MAX_URL_TTL: Duration = Duration::days(7);

/// Checks a file path: relative, `/`-separated, no empty, `.` or `..` segments, printable
/// characters only, at most [`MAX_PATH_LEN`] bytes.
pub fn validate_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::invalid(
            "the file path is empty; give a relative path such as `reports/2024.csv`",
        ));
    }
    if path.ends_with('/') {
        return Err(invalid_path(
            path,
            "it ends with `/`; a file path names a file, not a folder",
        ));
    }
    check_segments(path)
}

/// Checks a listing prefix: empty (everything), or a path that may end with `/` (a folder)
/// or part-way through a name (`reports/2024-`).
pub fn validate_prefix(prefix: &str) -> Result<()> {
    match prefix.strip_suffix('/') {
        None if prefix.is_empty() => Ok(()),
        Some("") => Err(invalid_path(
            prefix,
            "it starts with `/`; paths are relative to the product's files",
        )),
        Some(inner) => check_segments(inner),
        None => check_segments(prefix),
    }
}

fn check_segments(path: &str) -> Result<()> {
    if path.len() > MAX_PATH_LEN {
        return Err(invalid_path(
            path,
            &format!(
                "it is {} bytes long; use at most {MAX_PATH_LEN}",
                path.len()
            ),
        ));
    }
    if path.starts_with('/') {
        return Err(invalid_path(
            path,
            "it starts with `/`; paths are relative to the product's files",
        ));
    }
    if let Some(bad) = path
        .chars()
        .find(|c| c.is_control() || matches!(c, '\\' | '#'))
    {
        return Err(invalid_path(
            path,
            &format!(
                "it contains `{}`; use printable characters other than `\\` and `#`",
                bad.escape_default()
            ),
        ));
    }
    for segment in path.split('/') {
        let reason = match segment {
            "" => "it has an empty segment (`//`)",
            "." | ".." => "it has a `.` or `..` segment; paths may not climb out of a folder",
            _ => continue,
        };
        return Err(invalid_path(path, reason));
    }
    Ok(())
}

fn invalid_path(path: &str, reason: &str) -> Error {
    let shown: String = path
        .chars()
        .take(80)
        .flat_map(char::escape_default)
        .collect();
    Error::invalid(format!("invalid file path `{shown}`: {reason}"))
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// The whole file (no `Range`, a unit other than `bytes`, or several ranges — which
    /// meshgate answers with the whole file, as RFC 9110 allows).
    Full,
    /// One satisfiable range, half-open.
    Partial(Range<u64>),
    /// A range that cannot be served from this file (416).
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `size` bytes: `bytes=a-b`, `bytes=a-`,
/// `bytes=-n` (the last `n` bytes). A malformed `bytes=` value is unsatisfiable.
pub fn parse_range(header: &str, size: u64) -> RangeRequest {
    let header = header.trim();
    let Some(spec) = header
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| header[6..].trim())
    else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-n`: the last n bytes (all of them if n ≥ size).
        (true, false) => match number(last) {
            Some(n) if n > 0 && size > 0 => RangeRequest::Partial(size.saturating_sub(n)..size),
            _ => RangeRequest::Unsatisfiable,
        },
        // `a-`: from a to the end.
        (false, true) => match number(first) {
            Some(a) if a < size => RangeRequest::Partial(a..size),
            _ => RangeRequest::Unsatisfiable,
        },
        // `a-b`: inclusive; b past the end means the end.
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b && a < size => {
                RangeRequest::Partial(a..b.saturating_add(1).min(size))
            }
            _ => RangeRequest::Unsatisfiable,
        },
        (true, true) => RangeRequest::Unsatisfiable,
    }
}

/// What a signed URL gives access to. Its canonical form is what is signed, so two
/// resources never share a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedResource<'a> {
    /// A file of a data product (under its files area).
    ProductFile { product_id: Uuid, path: &'a str },
    /// A data file a Delta Sharing response handed out: `path` is `d/<file>` (a file of the
    /// table itself) or `s/<snapshot>/<file>` (a materialised snapshot), `policy` the
    /// fingerprint of the recipient's access when it was handed out (a download is refused
    /// once that access changed).
    SharingFile {
        table_id: Uuid,
        policy: &'a str,
        path: &'a str,
    },
}

impl SignedResource<'_> {
    /// Newline-separated fields: none of them can contain a newline (paths are printable,
    /// the rest are ids and numbers), so the encoding is unambiguous.
    fn canonical(&self) -> String {
        match self {
            SignedResource::ProductFile { product_id, path } => {
                format!("product-file\n{product_id}\n{path}")
            }
            SignedResource::SharingFile {
                table_id,
                policy,
                path,
            } => format!("sharing-file\n{table_id}\n{policy}\n{path}"),
        }
    }
}

/// Why a signed URL was refused. Neither variant echoes the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Missing or malformed parameters, or a signature that does not match.
    Invalid,
    /// Authentic, but past its expiry.
    Expired,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlError::Invalid => {
                "the signed URL is invalid (altered, truncated or not signed here)"
            }
            UrlError::Expired => "the signed URL has expired; ask for a new one",
        })
    }
}

impl std::error::Error for UrlError {}

type HmacSha256 = Hmac<Sha256>;

/// What the URL sub-key is derived with: HMAC(mesh key, this label).
const SUBKEY_LABEL: &[u8] = b"meshgate signed download URLs v1";

/// Signs and verifies download URLs with a sub-key of the mesh's signing key.
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)")
    }
}

impl UrlSigner {
    /// A signer whose key is derived from the mesh's signing key, so the two can never
    /// verify each other's signatures.
    pub fn new(mesh_key: &[u8]) -> Result<Self> {
        let mut m = mac(mesh_key)?;
        m.update(SUBKEY_LABEL);
        Ok(UrlSigner {
            key: m.finalize().into_bytes().to_vec(),
        })
    }

    /// A further key derived from this signer's key for another purpose (`label` names it,
    /// e.g. Delta Sharing page tokens), so its MACs never verify as URL signatures.
    pub fn derive_key(&self, label: &str) -> Result<Vec<u8>> {
        let mut m = mac(&self.key)?;
        m.update(label.as_bytes());
        Ok(m.finalize().into_bytes().to_vec())
    }

    fn digest(
        &self,
        resource: &SignedResource<'_>,
        principal: Uuid,
        expires: i64,
    ) -> Result<HmacSha256> {
        let mut m = mac(&self.key)?;
        m.update(format!("{}\n{principal}\n{expires}", resource.canonical()).as_bytes());
        Ok(m)
    }

    /// The signature (base64url, no padding) of `resource` for `principal` until `expires`
    /// (Unix seconds).
    pub fn sign(
        &self,
        resource: &SignedResource<'_>,
        principal: Uuid,
        expires: i64,
    ) -> Result<String> {
        let m = self.digest(resource, principal, expires)?;
        Ok(URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
    }

    /// Checks a signature (constant time), then the expiry against `now`. An altered expiry
    /// is therefore `Invalid`, never `Expired`.
    pub fn verify(
        &self,
        resource: &SignedResource<'_>,
        principal: Uuid,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), UrlError> {
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| UrlError::Invalid)?;
        self.digest(resource, principal, expires)
            .map_err(|_| UrlError::Invalid)?
            .verify_slice(&signature)
            .map_err(|_| UrlError::Invalid)?;
        if expires <= now.timestamp() {
            return Err(UrlError::Expired);
        }
        Ok(())
    }
}

/// HMAC takes keys of any length (RFC 2104); this fails only if the library's contract
/// changes, and callers then refuse rather than panic.
fn mac(key: &[u8]) -> Result<HmacSha256> {
    HmacSha256::new_from_slice(key).map_err(|_| Error::internal("cannot key the URL signature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_paths_pass() {
        for p in [
            "a.csv",
            "reports/2024/q1.csv",
            "with space/ünïcode.txt",
            ".hidden",
            "a..b",
            "x/...",
        ] {
            validate_path(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn bad_paths_say_why() {
        for (p, why) in [
            ("", "empty"),
            ("/etc/passwd", "starts with `/`"),
            ("a//b", "empty segment"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("./a", "`.`"),
            ("a/", "ends with `/`"),
            ("a\nb", "\\n"),
            ("a\u{7}b", "\\u{7}"),
            ("a\\b", "`\\\\`"),
            ("a#1", "`#`"),
        ] {
            let e = validate_path(p).unwrap_err().to_string();
            assert!(e.contains(why), "{p:?}: {e}");
        }
        let long = "a".repeat(MAX_PATH_LEN + 1);
        assert!(
            validate_path(&long)
                .unwrap_err()
                .to_string()
                .contains("1025 bytes")
        );
        validate_path(&"a".repeat(MAX_PATH_LEN)).unwrap();
    }

    #[test]
    fn prefixes() {
        for p in ["", "reports/", "reports/2024-", "a"] {
            validate_prefix(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        for p in ["/", "/a", "../", "a//", "a/../"] {
            assert!(validate_prefix(p).is_err(), "{p}");
        }
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let r = |h: &str| parse_range(h, 10);
        assert_eq!(r("bytes=0-3"), Partial(0..4));
        assert_eq!(r("bytes=2-2"), Partial(2..3));
        assert_eq!(r("bytes=5-100"), Partial(5..10));
        assert_eq!(r("bytes=7-"), Partial(7..10));
        assert_eq!(r("bytes=-3"), Partial(7..10));
        assert_eq!(r("bytes=-30"), Partial(0..10));
        assert_eq!(r("Bytes= 1-2"), Partial(1..3));
        assert_eq!(r("bytes=10-"), Unsatisfiable);
        assert_eq!(r("bytes=10-12"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=4-2"), Unsatisfiable);
        assert_eq!(r("bytes=x-2"), Unsatisfiable);
        assert_eq!(r("bytes=-"), Unsatisfiable);
        assert_eq!(r("bytes=+1-2"), Unsatisfiable);
        assert_eq!(r("bytes=0-1,4-5"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(parse_range("bytes=-1", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }

    #[test]
    fn signatures_bind_everything_and_expire() {
        let signer = UrlSigner::new(b"mesh key").unwrap();
        let product_id = Uuid::now_v7();
        let who = Uuid::now_v7();
        let res = SignedResource::ProductFile {
            product_id,
            path: "reports/a.csv",
        };
        let now = Utc::now();
        let exp = now.timestamp() + 60;
        let sig = signer.sign(&res, who, exp).unwrap();
        assert!(!sig.contains(['+', '/', '=']));
        signer.verify(&res, who, exp, &sig, now).unwrap();

        let other_path = SignedResource::ProductFile {
            product_id,
            path: "reports/b.csv",
        };
        let other_product = SignedResource::ProductFile {
            product_id: Uuid::now_v7(),
            path: "reports/a.csv",
        };
        let invalid = Err(UrlError::Invalid);
        assert_eq!(signer.verify(&other_path, who, exp, &sig, now), invalid);
        assert_eq!(signer.verify(&other_product, who, exp, &sig, now), invalid);
        assert_eq!(signer.verify(&res, Uuid::now_v7(), exp, &sig, now), invalid);
        assert_eq!(signer.verify(&res, who, exp + 1, &sig, now), invalid);
        assert_eq!(signer.verify(&res, who, exp, "not base64!", now), invalid);
        assert_eq!(signer.verify(&res, who, exp, "", now), invalid);
        let other_key = UrlSigner::new(b"another key").unwrap();
        assert_eq!(other_key.verify(&res, who, exp, &sig, now), invalid);

        // Authentic but late: expired.
        let late = now + Duration::seconds(61);
        assert_eq!(
            signer.verify(&res, who, exp, &sig, late),
            Err(UrlError::Expired)
        );
    }

    #[test]
    fn the_url_key_is_not_the_mesh_key() {
        // A MAC made with the mesh key itself (as credentials are) never verifies as a URL.
        let mesh_key = b"mesh key";
        let signer = UrlSigner::new(mesh_key).unwrap();
        let res = SignedResource::ProductFile {
            product_id: Uuid::nil(),
            path: "a",
        };
        let who = Uuid::nil();
        let exp = Utc::now().timestamp() + 60;
        let mut m = HmacSha256::new_from_slice(mesh_key).unwrap();
        m.update(format!("{}\n{who}\n{exp}", res.canonical()).as_bytes());
        let forged = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert_eq!(
            signer.verify(&res, who, exp, &forged, Utc::now()),
            Err(UrlError::Invalid)
        );
    }
}
