//! A row filter or mask expression through the checks the policy compiler runs before it
//! compiles one: the text limits, the parser, and the depth walk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshgate_guard::sql::{Limits, check_expr, check_text};
use meshgate_guard::sqlparser::dialect::GenericDialect;
use meshgate_guard::sqlparser::parser::Parser;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits {
        max_bytes: 2048,
        max_tokens: 500,
        max_depth: 32,
    };
    let dialect = GenericDialect {};
    if check_text(text, &dialect, &limits).is_err() {
        return;
    }
    let Ok(expr) = Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
    else {
        return;
    };
    let _ = check_expr(&expr, &limits);
});
