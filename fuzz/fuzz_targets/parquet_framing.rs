//! An uploaded file's bytes through the Parquet framing check: it never panics, and what it
//! accepts has its metadata inside the file, between the leading magic and the footer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshgate_guard::upload::{self, PARQUET_HEAD, PARQUET_TAIL};

fuzz_target!(|data: &[u8]| {
    let whole = upload::parquet(data);
    // The engine's way: the length, the first and the last bytes.
    let head = &data[..data.len().min(PARQUET_HEAD)];
    let tail = &data[data.len().saturating_sub(PARQUET_TAIL)..];
    assert_eq!(
        whole,
        upload::parquet_framing(data.len() as u64, head, tail)
    );
    if let Ok(framing) = whole {
        let len = data.len() as u64;
        assert!(framing.metadata_offset >= PARQUET_HEAD as u64);
        assert!(framing.metadata_len > 0);
        assert_eq!(
            framing.metadata_offset + framing.metadata_len + PARQUET_TAIL as u64,
            len
        );
    }
});
