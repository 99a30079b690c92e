//! The text masks of docs/design/ACCESS.md as DataFusion scalar functions. They are never registered in a
//! session (a query cannot call them by name); the secure table provider builds them into
//! its scan. Each maps text to text, NULL to NULL, and cannot fail.
//!
//! `hash` is keyed (docs/design/MASKS_AND_WEBHOOKS.md): HMAC-SHA-256 under the mesh's mask key, so equal
//! values hash equally across the mesh (joins on a hashed column still work) while nobody
//! without the key can test guesses (an e-mail address, a phone number) against a hash.

use std::fmt;
use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{Result, ScalarValue, exec_err};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The mesh's key of the `hash` mask. Its `Debug` shows only an id (a digest of the key),
/// which is what access fingerprints take in: rotating the key changes every fingerprint
/// of an access that hashes, so no snapshot made under the old key is served again.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MaskKey(Arc<[u8]>);

impl MaskKey {
    pub fn new(key: impl Into<Arc<[u8]>>) -> Self {
        MaskKey(key.into())
    }

    /// A short public id of the key: the first 8 bytes of SHA-256 over a label and the key,
    /// in hex. It names the key without revealing it.
    pub fn id(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"meshgate mask key id\0");
        digest.update(&self.0);
        hex::encode(&digest.finalize()[..8])
    }

    fn mac(&self) -> Result<HmacSha256> {
        // HMAC takes keys of any length (RFC 2104); this fails only if that contract changes.
        HmacSha256::new_from_slice(&self.0).or_else(|_| exec_err!("the mask key is unusable"))
    }
}

impl fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskKey({})", self.id())
    }
}

/// Which mask a [`TextMask`] applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Redact,
    ShowLast4,
    ShowFirst4,
    Hash(MaskKey),
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextMask {
    kind: Kind,
    signature: Signature,
}

impl TextMask {
    fn udf(kind: Kind) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(TextMask {
            kind,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }))
    }
}

static REDACT: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| TextMask::udf(Kind::Redact));
static SHOW_LAST_4: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| TextMask::udf(Kind::ShowLast4));
static SHOW_FIRST_4: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| TextMask::udf(Kind::ShowFirst4));

/// Letters → `x`/`X`, digits → `0`, everything else kept.
pub fn redact() -> Arc<ScalarUDF> {
    REDACT.clone()
}

/// All but the last four characters → `x`.
pub fn show_last_4() -> Arc<ScalarUDF> {
    SHOW_LAST_4.clone()
}

/// All but the first four characters → `x`.
pub fn show_first_4() -> Arc<ScalarUDF> {
    SHOW_FIRST_4.clone()
}

/// HMAC-SHA-256 of the text under `key`, lower-case hex (64 characters).
pub fn hash(key: &MaskKey) -> Arc<ScalarUDF> {
    TextMask::udf(Kind::Hash(key.clone()))
}

/// The keyed MAC of one invocation, prepared once (HMAC's key schedule) and cloned per value.
enum Prepared {
    None,
    Mac(HmacSha256),
}

impl Prepared {
    fn of(kind: &Kind) -> Result<Self> {
        Ok(match kind {
            Kind::Hash(key) => Prepared::Mac(key.mac()?),
            _ => Prepared::None,
        })
    }
}

/// Applies one mask to one value.
fn apply(kind: &Kind, prepared: &Prepared, value: &str, out: &mut String) {
    out.clear();
    match kind {
        Kind::Redact => out.extend(value.chars().map(|c| {
            if c.is_ascii_digit() || c.is_numeric() {
                '0'
            } else if c.is_uppercase() {
                'X'
            } else if c.is_alphabetic() {
                'x'
            } else {
                c
            }
        })),
        Kind::ShowLast4 => {
            let n = value.chars().count();
            let hidden = n.saturating_sub(4);
            out.extend(
                value
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i < hidden { 'x' } else { c }),
            );
        }
        Kind::ShowFirst4 => {
            out.extend(
                value
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i < 4 { c } else { 'x' }),
            );
        }
        Kind::Hash(_) => {
            if let Prepared::Mac(mac) = prepared {
                let mut mac = mac.clone();
                mac.update(value.as_bytes());
                out.push_str(&hex::encode(mac.finalize().into_bytes()));
            }
        }
    }
}

impl ScalarUDFImpl for TextMask {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Redact => "mask_redact",
            Kind::ShowLast4 => "mask_show_last_4",
            Kind::ShowFirst4 => "mask_show_first_4",
            Kind::Hash(_) => "mask_hash",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let mut buffer = String::new();
        let prepared = Prepared::of(&self.kind)?;
        match arg {
            ColumnarValue::Scalar(ScalarValue::Utf8(value)) => {
                let masked = value.as_deref().map(|v| {
                    apply(&self.kind, &prepared, v, &mut buffer);
                    buffer.clone()
                });
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(masked)))
            }
            ColumnarValue::Array(array) => {
                let Some(strings) = array.as_any().downcast_ref::<StringArray>() else {
                    return exec_err!("{} takes text", self.name());
                };
                let mut out =
                    StringBuilder::with_capacity(strings.len(), strings.value_data().len());
                for value in strings.iter() {
                    match value {
                        Some(v) => {
                            apply(&self.kind, &prepared, v, &mut buffer);
                            out.append_value(&buffer);
                        }
                        None => out.append_null(),
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
            }
            _ => exec_err!("{} takes text", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(kind: Kind, value: &str) -> String {
        let mut out = String::new();
        apply(&kind, &Prepared::of(&kind).unwrap(), value, &mut out);
        out
    }

    #[test]
    fn masks_do_what_they_say() {
        assert_eq!(masked(Kind::Redact, "Ab-12 é"), "Xx-00 x");
        assert_eq!(
            masked(Kind::ShowLast4, "4111222233334444"),
            "xxxxxxxxxxxx4444"
        );
        assert_eq!(masked(Kind::ShowLast4, "abc"), "abc");
        assert_eq!(
            masked(Kind::ShowFirst4, "alice@example.com"),
            "alicxxxxxxxxxxxxx"
        );
    }

    #[test]
    fn hash_is_keyed() {
        let key = MaskKey::new(b"key".to_vec());
        let plain_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hashed = masked(Kind::Hash(key.clone()), "abc");
        // RFC 2104 HMAC-SHA-256("key", "abc"), not the plain SHA-256 of the value.
        assert_eq!(
            hashed,
            "9c196e32dc0175f86f4b1cb89289d6619de6bee699e4c378e68309ed97a1a6ab"
        );
        assert_ne!(hashed, plain_sha256);
        assert_eq!(hashed.len(), 64);
        assert!(hashed.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        // Same key, same value, same hash (joins work); another key, another hash.
        assert_eq!(masked(Kind::Hash(key.clone()), "abc"), hashed);
        let rotated = MaskKey::new(b"another key".to_vec());
        assert_ne!(masked(Kind::Hash(rotated.clone()), "abc"), hashed);
        // The id names the key without showing it.
        assert_ne!(key.id(), rotated.id());
        assert_eq!(format!("{key:?}"), format!("MaskKey({})", key.id()));
        assert!(!format!("{key:?}").contains("6b6579"));
    }
}
