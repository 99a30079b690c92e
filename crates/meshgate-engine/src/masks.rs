//! The text masks of ACCESS.md as DataFusion scalar functions. They are never registered in a
//! session (a query cannot call them by name); the secure table provider builds them into
//! its scan. Each maps text to text, NULL to NULL, and cannot fail.

use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{Result, ScalarValue, exec_err};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sha2::{Digest, Sha256};

/// Which mask a [`TextMask`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Redact,
    ShowLast4,
    ShowFirst4,
    Hash,
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
static HASH: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| TextMask::udf(Kind::Hash));

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

/// SHA-256 of the text, lower-case hex.
pub fn hash() -> Arc<ScalarUDF> {
    HASH.clone()
}

/// Applies one mask to one value.
fn apply(kind: Kind, value: &str, out: &mut String) {
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
        Kind::Hash => {
            let digest = Sha256::digest(value.as_bytes());
            out.push_str(&hex::encode(digest));
        }
    }
}

impl ScalarUDFImpl for TextMask {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Redact => "mask_redact",
            Kind::ShowLast4 => "mask_show_last_4",
            Kind::ShowFirst4 => "mask_show_first_4",
            Kind::Hash => "mask_hash",
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
        match arg {
            ColumnarValue::Scalar(ScalarValue::Utf8(value)) => {
                let masked = value.as_deref().map(|v| {
                    apply(self.kind, v, &mut buffer);
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
                            apply(self.kind, v, &mut buffer);
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
        apply(kind, value, &mut out);
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
        assert_eq!(
            masked(Kind::Hash, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
