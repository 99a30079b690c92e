//! A caller's SQL through the checks the query engine runs before planning: the text limits,
//! the parser with its recursion limit, and the depth walk. None of them may panic or
//! overflow a stack, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshgate_guard::sql::{Limits, check_statement, check_text};
use meshgate_guard::sqlparser::dialect::GenericDialect;
use meshgate_guard::sqlparser::parser::Parser;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Small limits, so inputs of a few KiB reach every refusal.
    let limits = Limits {
        max_bytes: 4096,
        max_tokens: 500,
        max_depth: 32,
    };
    let dialect = GenericDialect {};
    if check_text(text, &dialect, &limits).is_err() {
        return;
    }
    let Ok(statements) = Parser::new(&dialect)
        .with_recursion_limit(50)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_statements())
    else {
        return;
    };
    for statement in &statements {
        let _ = check_statement(statement, &limits);
    }
});
