//! Bounds on a caller's SQL, checked in three stages so that no stage can itself be made to
//! overflow a stack or run away:
//!
//! 1. [`check_text`]: the text's length in bytes, its number of tokens, and the length of
//!    dotted chains (`a.b.c`). The tokenizer is a loop, and a syntax tree cannot have more
//!    nodes than a small multiple of the tokens it was parsed from, so this bounds everything
//!    after it: the tree's size and the depth to which dropping the tree recurses. The
//!    parser's work is bounded too except for one pattern: sqlparser 0.62 backtracks on a
//!    dotted chain that ends in a dot (`p.p.p.….p.` inside an expression), doubling its time
//!    with every two links (26 links: 30 s), so chains are limited to [`MAX_DOTS`] dots.
//! 2. The parser (the caller's, e.g. DataFusion's) with its own recursion limit, which bounds
//!    nesting the parser builds by recursion (parentheses, subqueries, function calls).
//! 3. [`check_statement`] / [`check_query`] / [`check_expr`]: the parsed tree's nesting
//!    depth. Chains such as `1+1+…+1`, `a OR b OR …`, `a || b || …` or
//!    `SELECT 1 UNION SELECT 1 UNION …` are built by the parser in a loop, one level deeper
//!    per term, so stage 2 does not bound them; later recursive passes (planning, optimising,
//!    dropping) would. The walk counts depth as it descends and stops at the limit, so it
//!    never recurses deeper than the limit it enforces; chains of set operations, which the
//!    walk would descend without seeing an expression, are measured first with an explicit
//!    stack.
//!
//! Messages name the limit and its value, never a piece of the text.

use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SetExpr, Statement, Visit, Visitor};
use sqlparser::dialect::Dialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// How large and how deep a caller's SQL may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest text, in bytes.
    pub max_bytes: usize,
    /// Most tokens (keywords, names, literals, operators; not whitespace or comments).
    pub max_tokens: usize,
    /// Deepest nesting of expressions, subqueries and set operations.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1024 * 1024,
            max_tokens: 20_000,
            max_depth: 128,
        }
    }
}

/// Most dots in one dotted chain (`catalog.schema.table.column.field…`): a name of up to
/// nine parts. Longer chains cost the parser exponential time when they end in a dot.
pub const MAX_DOTS: usize = 8;

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bytes,
    Tokens,
    Depth,
    Dots,
}

/// A limit a text or tree exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitError {
    pub limit: Limit,
    /// The limit's value.
    pub max: usize,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.max;
        match self.limit {
            Limit::Bytes => write!(f, "the text is longer than {max} bytes"),
            Limit::Tokens => write!(
                f,
                "the text has more than {max} tokens (keywords, names, literals and operators)"
            ),
            Limit::Dots => write!(
                f,
                "a dotted name has more than {max} dots (at most {} parts)",
                max + 1
            ),
            Limit::Depth => write!(
                f,
                "expressions, subqueries or set operations are nested deeper than {max} levels \
                 (a long chain such as `a + b + …` or `x OR y OR …` nests one level per term)"
            ),
        }
    }
}

impl std::error::Error for LimitError {}

/// Checks the text's length and token count. A text the tokenizer rejects passes: the parser
/// reports that syntax error itself, with its position.
pub fn check_text(text: &str, dialect: &dyn Dialect, limits: &Limits) -> Result<(), LimitError> {
    if text.len() > limits.max_bytes {
        return Err(LimitError {
            limit: Limit::Bytes,
            max: limits.max_bytes,
        });
    }
    let Ok(tokens) = Tokenizer::new(dialect, text).tokenize() else {
        return Ok(());
    };
    let mut count = 0;
    // Dots of the dotted chain open at each bracket level (`a.b[c.d(e.f…`): sqlparser parses
    // what follows a dot inside the dot's backtracking attempt, brackets included, so the
    // dots that count are those of every chain still open around the current token.
    let mut levels: Vec<(usize, bool)> = vec![(0, false)];
    for token in tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
    {
        count += 1;
        match token {
            Token::LBracket | Token::LParen => levels.push((0, false)),
            Token::RBracket | Token::RParen => {
                if levels.len() > 1 {
                    levels.pop();
                }
                if let Some(level) = levels.last_mut() {
                    level.1 = false;
                }
            }
            Token::Period => {
                if let Some(level) = levels.last_mut() {
                    *level = (level.0 + 1, true);
                }
                if levels.iter().map(|l| l.0).sum::<usize>() > MAX_DOTS {
                    return Err(LimitError {
                        limit: Limit::Dots,
                        max: MAX_DOTS,
                    });
                }
            }
            // A prefix operator after a dot (`a.~b`, `a.-b`) is parsed as part of the link:
            // the chain goes on through it.
            Token::Tilde | Token::Minus | Token::Plus | Token::ExclamationMark
                if levels.last().is_some_and(|l| l.1) => {}
            _ => {
                // A name after a dot continues the chain; anything else ends it.
                if let Some(level) = levels.last_mut() {
                    *level = (if level.1 { level.0 } else { 0 }, false);
                }
            }
        }
    }
    if count > limits.max_tokens {
        return Err(LimitError {
            limit: Limit::Tokens,
            max: limits.max_tokens,
        });
    }
    Ok(())
}

/// Checks a parsed statement's nesting depth.
pub fn check_statement(statement: &Statement, limits: &Limits) -> Result<(), LimitError> {
    walk(statement, limits)
}

/// Checks a parsed query's nesting depth.
pub fn check_query(query: &Query, limits: &Limits) -> Result<(), LimitError> {
    walk(query, limits)
}

/// Checks a parsed expression's nesting depth.
pub fn check_expr(expr: &Expr, limits: &Limits) -> Result<(), LimitError> {
    walk(expr, limits)
}

fn walk(node: &impl Visit, limits: &Limits) -> Result<(), LimitError> {
    let mut depth = Depth {
        max: limits.max_depth,
        current: 0,
    };
    match node.visit(&mut depth) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

/// Counts the nesting of expressions and queries on the way down and stops at the limit.
struct Depth {
    max: usize,
    current: usize,
}

impl Depth {
    fn enter(&mut self, levels: usize) -> ControlFlow<LimitError> {
        self.current = self.current.saturating_add(levels);
        if self.current > self.max {
            ControlFlow::Break(LimitError {
                limit: Limit::Depth,
                max: self.max,
            })
        } else {
            ControlFlow::Continue(())
        }
    }

    fn leave(&mut self, levels: usize) -> ControlFlow<LimitError> {
        self.current = self.current.saturating_sub(levels);
        ControlFlow::Continue(())
    }
}

impl Visitor for Depth {
    type Break = LimitError;

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<LimitError> {
        self.enter(1)
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<LimitError> {
        self.leave(1)
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<LimitError> {
        // The body's set operations are descended without any expression in between: measure
        // how deep they go before the walk recurses into them.
        let set_depth = set_operation_depth(&query.body, self.max.saturating_sub(self.current));
        self.enter(1)?;
        if self.current.saturating_add(set_depth) > self.max {
            return ControlFlow::Break(LimitError {
                limit: Limit::Depth,
                max: self.max,
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<LimitError> {
        self.leave(1)
    }
}

/// How deep the set operations (`UNION`, `INTERSECT`, `EXCEPT`) directly in `body` nest,
/// with an explicit stack; stops counting past `cap`.
fn set_operation_depth(body: &SetExpr, cap: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&SetExpr, usize)> = vec![(body, 0)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if deepest > cap {
            break;
        }
        if let SetExpr::SetOperation { left, right, .. } = node {
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn statement(sql: &str) -> Statement {
        Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap()
    }

    fn chain(op: &str, terms: usize) -> String {
        let mut s = String::from("SELECT 1");
        for _ in 1..terms {
            s.push_str(op);
            s.push('1');
        }
        s
    }

    #[test]
    fn ordinary_queries_pass() {
        let limits = Limits::default();
        for sql in [
            "SELECT a, b + 1 FROM t WHERE a = 1 AND (b < 2 OR c IN (1, 2, 3))",
            "WITH x AS (SELECT 1) SELECT * FROM x UNION ALL SELECT 2",
            &chain(" + ", 100),
        ] {
            check_text(sql, &GenericDialect {}, &limits).unwrap();
            check_statement(&statement(sql), &limits).unwrap();
        }
    }

    #[test]
    fn long_chains_are_too_deep() {
        let limits = Limits::default();
        for op in [" + ", " OR ", " || ", " AND ", " * "] {
            let e = check_statement(&statement(&chain(op, 2000)), &limits).unwrap_err();
            assert_eq!(e.limit, Limit::Depth, "{op}");
        }
        let unions = format!("SELECT 1{}", " UNION SELECT 1".repeat(500));
        let e = check_statement(&statement(&unions), &limits).unwrap_err();
        assert_eq!(e.limit, Limit::Depth);
    }

    #[test]
    fn size_limits_count_bytes_and_tokens() {
        let limits = Limits {
            max_bytes: 100,
            max_tokens: 10,
            max_depth: 10,
        };
        let e = check_text(&"x".repeat(101), &GenericDialect {}, &limits).unwrap_err();
        assert_eq!(e.limit, Limit::Bytes);
        let e = check_text("SELECT 1, 2, 3, 4, 5, 6", &GenericDialect {}, &limits).unwrap_err();
        assert_eq!(e.limit, Limit::Tokens);
        check_text("SELECT   1,   2  -- comment", &GenericDialect {}, &limits).unwrap();
        assert!(!e.to_string().contains("SELECT"));
    }

    #[test]
    fn dotted_chains_are_bounded() {
        let d = GenericDialect {};
        let limits = Limits::default();
        // The chain that made the parser backtrack for minutes: refused before parsing.
        let chain = format!("SELECT 1 + {}", "p.".repeat(26));
        let e = check_text(&chain, &d, &limits).unwrap_err();
        assert_eq!(e.limit, Limit::Dots);
        assert!(!e.to_string().contains("p."));
        // Names of up to nine parts, and many short chains, pass.
        check_text("SELECT a.b.c.d.e.f.g.h.i FROM s.p.t", &d, &limits).unwrap();
        let many = vec!["t.a.b"; 200].join(" + ");
        check_text(&format!("SELECT {many}"), &d, &limits).unwrap();
        assert_eq!(
            check_text("SELECT a.b.c.d.e.f.g.h.i.j", &d, &limits)
                .unwrap_err()
                .limit,
            Limit::Dots
        );
        // Chains that go on inside brackets count together (the fuzz target's second find:
        // `f.f[f.f[…` backtracks the same way).
        let nested = format!("SELECT 1 + {}", "f.f[".repeat(12));
        assert_eq!(
            check_text(&nested, &d, &limits).unwrap_err().limit,
            Limit::Dots
        );
        let nested = format!("SELECT 1 + {}", "f[f.".repeat(12));
        assert_eq!(
            check_text(&nested, &d, &limits).unwrap_err().limit,
            Limit::Dots
        );
        // A prefix operator after a dot does not end the chain (the third find).
        let unary = format!("SELECT 1 + {}", "z.~m.".repeat(6));
        assert_eq!(
            check_text(&unary, &d, &limits).unwrap_err().limit,
            Limit::Dots
        );
        // Closed brackets and ended chains do not add up.
        check_text(
            "SELECT f(t.a.b, t.c.d), x.y[1].z, (s.a.b.c = (s.d.e.f)) FROM d.p.t WHERE t.a.b.c > 1",
            &d,
            &limits,
        )
        .unwrap();
    }

    #[test]
    fn an_expression_alone() {
        let text = vec!["a"; 300].join(" + ");
        let expr = Parser::new(&GenericDialect {})
            .try_with_sql(&text)
            .unwrap()
            .parse_expr()
            .unwrap();
        assert_eq!(
            check_expr(&expr, &Limits::default()).unwrap_err().limit,
            Limit::Depth
        );
        let short = Parser::new(&GenericDialect {})
            .try_with_sql("a + b * (c - 1) > 2 AND d IS NULL")
            .unwrap()
            .parse_expr()
            .unwrap();
        check_expr(&short, &Limits::default()).unwrap();
    }
}
