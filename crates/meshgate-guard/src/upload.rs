//! The framing of an uploaded file, checked before a reader trusts the offsets in it.
//!
//! A Parquet file is `PAR1`, the column chunks, the file metadata, the metadata's length as a
//! 4-byte little-endian number, and `PAR1` again. Readers seek to `length - 8 - metadata
//! length` to decode the metadata; a length that points before the leading magic (or before
//! the file's start) must be refused here, not handed to them.

use std::fmt;

/// The magic bytes at both ends of a Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
/// The magic bytes ending a Parquet file whose footer is encrypted.
pub const PARQUET_ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";
/// How many bytes of a file's start [`parquet_framing`] looks at.
pub const PARQUET_HEAD: usize = 4;
/// How many bytes of a file's end [`parquet_framing`] looks at: the metadata length and the
/// magic.
pub const PARQUET_TAIL: usize = 8;

/// Where a Parquet file's metadata lies, as its footer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetFraming {
    /// Offset of the file metadata.
    pub metadata_offset: u64,
    /// Length of the file metadata.
    pub metadata_len: u64,
}

/// Why a file is not framed as a Parquet file. Messages describe the structure, never the
/// file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// Shorter than the two magics and the footer length.
    TooShort { len: u64 },
    /// No `PAR1` at the start.
    NoLeadingMagic,
    /// No `PAR1` at the end.
    NoTrailingMagic,
    /// `PARE` at the end: the footer is encrypted.
    Encrypted,
    /// The metadata length is zero.
    EmptyMetadata,
    /// The metadata length points before the leading magic.
    MetadataOutOfBounds { metadata_len: u64, len: u64 },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::TooShort { len } => write!(
                f,
                "the file has {len} bytes, too few for a Parquet file (at least 12: the magic at both ends and the footer length)"
            ),
            FramingError::NoLeadingMagic => f.write_str("the file does not start with `PAR1`"),
            FramingError::NoTrailingMagic => f.write_str("the file does not end with `PAR1`"),
            FramingError::Encrypted => {
                f.write_str("the file's footer is encrypted, which is not supported")
            }
            FramingError::EmptyMetadata => f.write_str("the footer says the metadata is empty"),
            FramingError::MetadataOutOfBounds { metadata_len, len } => write!(
                f,
                "the footer says the metadata is {metadata_len} bytes, more than the {len}-byte file can hold"
            ),
        }
    }
}

impl std::error::Error for FramingError {}

/// Checks a Parquet file's framing from its length, its first [`PARQUET_HEAD`] bytes and its
/// last [`PARQUET_TAIL`] bytes (fewer when the file is shorter).
pub fn parquet_framing(len: u64, head: &[u8], tail: &[u8]) -> Result<ParquetFraming, FramingError> {
    let min = (PARQUET_HEAD + PARQUET_TAIL) as u64;
    if len < min || head.len() < PARQUET_HEAD || tail.len() < PARQUET_TAIL {
        return Err(FramingError::TooShort { len });
    }
    if &head[..PARQUET_HEAD] != PARQUET_MAGIC {
        return Err(FramingError::NoLeadingMagic);
    }
    let tail = &tail[tail.len() - PARQUET_TAIL..];
    let magic = &tail[4..];
    if magic == PARQUET_ENCRYPTED_MAGIC {
        return Err(FramingError::Encrypted);
    }
    if magic != PARQUET_MAGIC {
        return Err(FramingError::NoTrailingMagic);
    }
    let metadata_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if metadata_len == 0 {
        return Err(FramingError::EmptyMetadata);
    }
    // The metadata must lie between the leading magic and the footer.
    let room = len - min;
    if metadata_len > room {
        return Err(FramingError::MetadataOutOfBounds { metadata_len, len });
    }
    Ok(ParquetFraming {
        metadata_offset: len - PARQUET_TAIL as u64 - metadata_len,
        metadata_len,
    })
}

/// [`parquet_framing`] over a whole file in memory.
pub fn parquet(data: &[u8]) -> Result<ParquetFraming, FramingError> {
    let head = &data[..data.len().min(PARQUET_HEAD)];
    let tail = &data[data.len().saturating_sub(PARQUET_TAIL)..];
    parquet_framing(data.len() as u64, head, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(body: &[u8], metadata_len: u32, end: &[u8; 4]) -> Vec<u8> {
        let mut f = PARQUET_MAGIC.to_vec();
        f.extend_from_slice(body);
        f.extend_from_slice(&metadata_len.to_le_bytes());
        f.extend_from_slice(end);
        f
    }

    #[test]
    fn framing() {
        let ok = file(&[0; 20], 20, PARQUET_MAGIC);
        assert_eq!(
            parquet(&ok).unwrap(),
            ParquetFraming {
                metadata_offset: 4,
                metadata_len: 20
            }
        );
        assert_eq!(
            parquet(&file(&[0; 96], 1000, PARQUET_MAGIC)),
            Err(FramingError::MetadataOutOfBounds {
                metadata_len: 1000,
                len: 108
            })
        );
        assert_eq!(
            parquet(&file(&[0; 20], 21, PARQUET_MAGIC)),
            Err(FramingError::MetadataOutOfBounds {
                metadata_len: 21,
                len: 32
            })
        );
        assert_eq!(
            parquet(&file(&[0; 20], u32::MAX, PARQUET_MAGIC)).unwrap_err(),
            FramingError::MetadataOutOfBounds {
                metadata_len: u64::from(u32::MAX),
                len: 32
            }
        );
        assert_eq!(
            parquet(&file(&[0; 20], 0, PARQUET_MAGIC)),
            Err(FramingError::EmptyMetadata)
        );
        assert_eq!(
            parquet(&file(&[0; 20], 4, PARQUET_ENCRYPTED_MAGIC)),
            Err(FramingError::Encrypted)
        );
        assert_eq!(
            parquet(&file(&[0; 20], 4, b"PAR2")),
            Err(FramingError::NoTrailingMagic)
        );
        assert_eq!(
            parquet(b"a,b\n1,2\n3,4\n"),
            Err(FramingError::NoLeadingMagic)
        );
        assert_eq!(parquet(b"PAR1"), Err(FramingError::TooShort { len: 4 }));
        assert_eq!(parquet(b""), Err(FramingError::TooShort { len: 0 }));
    }
}
