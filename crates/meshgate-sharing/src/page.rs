//! Opaque page tokens for the listings (and `maxFiles` pages of `/query`), and `maxResults`.
//!
//! A page token must not be something a caller can forge or replay elsewhere: a token made
//! for one principal's listing of one share must not page through another principal's, or
//! another listing. So a token is `base64url(payload) "." base64url(hmac)`, where the payload
//! is `{"p":<position>,"b":<sha256 of the binding>}` and the HMAC-SHA-256 (keyed by the
//! server's key, domain-separated from its other uses) covers the payload. The *binding*
//! names the listing and the principal, e.g. `shares|<principal id>` or
//! `tables|<principal id>|<share>|<schema>`; for `/query` pages it should also cover the
//! query's parameters (version, hints, …), as the reference server's checksum does.
//!
//! The position is visible to whoever holds the token (it is signed, not encrypted): keep it
//! to what the listing is ordered by (a name, an offset, a version).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::shown;
use crate::{Error, Result};

/// `maxResults` when the client sends none (the reference server's default).
pub const DEFAULT_MAX_RESULTS: usize = 500;
/// The largest page served; a larger `maxResults` is lowered to this.
pub const MAX_MAX_RESULTS: usize = 1000;

/// Separates page-token MACs from every other MAC made with the same key.
const DOMAIN: &[u8] = b"meshgate delta-sharing page token v1\0";

#[derive(Serialize, Deserialize)]
struct Payload {
    p: String,
    b: String,
}

/// Signed, opaque page tokens (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct PageToken;

impl PageToken {
    /// A token for `position` in the listing named by `binding`, signed with `key`.
    pub fn encode(key: &[u8], binding: &str, position: &str) -> String {
        let payload = Payload {
            p: position.to_owned(),
            b: binding_hash(binding),
        };
        // A struct of two strings always serialises.
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(mac(key, body.as_bytes()).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// The position of a token made by [`PageToken::encode`] with the same `key` and
    /// `binding`. Any other token (tampered with, truncated, signed with another key, or
    /// made for another binding) is [`Error::InvalidPageToken`].
    pub fn decode(key: &[u8], binding: &str, token: &str) -> Result<String> {
        let (body, tag) = token
            .trim()
            .split_once('.')
            .ok_or(Error::InvalidPageToken)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| Error::InvalidPageToken)?;
        mac(key, body.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| Error::InvalidPageToken)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Error::InvalidPageToken)?;
        let payload: Payload =
            serde_json::from_slice(&json).map_err(|_| Error::InvalidPageToken)?;
        if payload.b != binding_hash(binding) {
            return Err(Error::InvalidPageToken);
        }
        Ok(payload.p)
    }
}

#[expect(
    clippy::expect_used,
    reason = "HMAC accepts keys of any length: `new_from_slice` cannot fail"
)]
fn mac(key: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(DOMAIN);
    mac.update(body);
    mac
}

fn binding_hash(binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(binding.as_bytes()))
}

/// Reads `maxResults`: absent → [`DEFAULT_MAX_RESULTS`]; above [`MAX_MAX_RESULTS`] → that
/// cap; `0` → 0 (the spec: "0 will return no results but `nextPageToken` may be
/// populated"); negative or not a number → error.
pub fn parse_max_results(value: Option<&str>) -> Result<usize> {
    let Some(value) = value else {
        return Ok(DEFAULT_MAX_RESULTS);
    };
    let n: i64 = value.trim().parse().map_err(|_| {
        Error::invalid(
            "maxResults",
            format!(
                "`{}` is not a whole number; use 1 to {MAX_MAX_RESULTS}",
                shown(value)
            ),
        )
    })?;
    if n < 0 {
        return Err(Error::invalid(
            "maxResults",
            format!("`{n}` is negative; use 1 to {MAX_MAX_RESULTS}"),
        ));
    }
    Ok(usize::try_from(n).map_or(MAX_MAX_RESULTS, |n| n.min(MAX_MAX_RESULTS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip() {
        for position in ["", "sales", "a|b.c", "ünïcødé", "{\"json\":1}"] {
            let t = PageToken::encode(KEY, "shares|p1", position);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{t}"
            );
            assert_eq!(PageToken::decode(KEY, "shares|p1", &t).unwrap(), position);
        }
    }

    #[test]
    fn tokens_are_bound_to_key_and_binding() {
        let t = PageToken::encode(KEY, "shares|p1", "sales");
        assert_eq!(
            PageToken::decode(KEY, "shares|p2", &t),
            Err(Error::InvalidPageToken)
        );
        assert_eq!(
            PageToken::decode(KEY, "schemas|p1|sales", &t),
            Err(Error::InvalidPageToken)
        );
        assert_eq!(
            PageToken::decode(b"another key", "shares|p1", &t),
            Err(Error::InvalidPageToken)
        );
    }

    #[test]
    fn tampered_and_garbage_tokens_are_rejected() {
        let t = PageToken::encode(KEY, "shares|p1", "sales");
        let (body, tag) = t.split_once('.').unwrap();
        // A payload for another position, with the old signature.
        let forged_body = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Payload {
                p: "zzz".into(),
                b: binding_hash("shares|p1"),
            })
            .unwrap(),
        );
        let flipped: String = {
            let mut chars: Vec<char> = tag.chars().collect();
            chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
            chars.into_iter().collect()
        };
        for bad in [
            String::new(),
            "x".into(),
            body.to_owned(),
            format!("{forged_body}.{tag}"),
            format!("{body}.{flipped}"),
            format!("{body}.{}", &tag[..tag.len() - 2]),
            format!("{body}x.{tag}"),
            format!("{t}.extra"),
            "not base64!.###".into(),
        ] {
            let e = PageToken::decode(KEY, "shares|p1", &bad).unwrap_err();
            assert_eq!(e, Error::InvalidPageToken, "{bad}");
            assert!(e.to_string().starts_with("invalid pageToken"));
            assert!(!e.to_string().contains(&bad) || bad.is_empty() || bad == "x");
        }
    }

    #[test]
    fn max_results() {
        assert_eq!(parse_max_results(None).unwrap(), 500);
        assert_eq!(parse_max_results(Some("10")).unwrap(), 10);
        assert_eq!(parse_max_results(Some(" 7 ")).unwrap(), 7);
        assert_eq!(parse_max_results(Some("1000")).unwrap(), 1000);
        assert_eq!(parse_max_results(Some("5000")).unwrap(), 1000);
        assert_eq!(parse_max_results(Some("99999999999999")).unwrap(), 1000);
        assert_eq!(parse_max_results(Some("0")).unwrap(), 0);
        for bad in ["-1", "ten", "", "1.5"] {
            let e = parse_max_results(Some(bad)).unwrap_err();
            assert!(e.to_string().starts_with("invalid `maxResults`"), "{e}");
        }
    }
}
