//! An uploaded Parquet file as the engine treats it: the framing check first, then the
//! metadata decoder on what it accepts. The engine answers a reader's panic with a 400
//! (`catch_unwind`), so a panic is not a crash here; what is: an abort (a stack overflow, an
//! allocation the machine cannot make) or a hang, which no handler can turn into an answer.
#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use meshgate_guard::upload;
use parquet::file::metadata::ParquetMetaDataReader;

static QUIET_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // libFuzzer's hook turns every panic into an abort; the engine catches them instead.
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(framing) = upload::parquet(data) else {
        return;
    };
    let start = framing.metadata_offset as usize;
    let metadata = &data[start..start + framing.metadata_len as usize];
    let _ = catch_unwind(AssertUnwindSafe(|| {
        ParquetMetaDataReader::decode_metadata(metadata)
    }));
});
