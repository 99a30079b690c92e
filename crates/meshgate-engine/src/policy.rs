//! The row-filter and mask expression language of docs/design/ACCESS.md, compiled to DataFusion
//! expressions over one table's schema.
//!
//! Text is parsed with DataFusion's SQL parser (`sqlparser`) into an AST; only a small, safe
//! subset is accepted: comparisons, `IN`, `BETWEEN`, `LIKE`, `IS [NOT] NULL`, `AND`/`OR`/`NOT`,
//! literals, columns of the same table and a vetted list of functions that cannot fail.
//! Literals are converted to the type of what they are compared with when the expression is
//! compiled, so a compiled expression never casts a column at run time (a failing cast on a
//! hidden row would reveal it). Identity functions (`current_principal()`,
//! `principal_in_group('g')`) are replaced by literals before planning.
//!
//! A rejected expression gets the line, column and reason.

use std::fmt;
use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::datafusion::common::{Column, DFSchema, ScalarValue};
use deltalake::datafusion::functions;
use deltalake::datafusion::logical_expr::expr::{InList, Like, ScalarFunction};
use deltalake::datafusion::logical_expr::{
    Between, BinaryExpr, Cast, Expr, ExprSchemable, Operator, ScalarUDF, lit,
};
use deltalake::datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned, UnaryOperator,
    Value,
};
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use deltalake::datafusion::sql::sqlparser::parser::Parser;
use deltalake::datafusion::sql::sqlparser::tokenizer::Span;
use meshgate_core::access::{MAX_EXPRESSION_LEN, Mask};
use meshgate_guard::sql::{Limits, check_expr, check_text};

use crate::masks::{self, MaskKey};

/// Who is reading: identity values are substituted into expressions as literals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The principal's name (`current_principal()`).
    pub principal: String,
    /// Names of the groups it belongs to (`principal_in_group('g')`).
    pub groups: Vec<String>,
}

/// Why an expression was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based; 0 when the problem is the expression as a whole.
    pub line: u64,
    pub column: u64,
    pub reason: String,
}

impl PolicyError {
    fn at(span: Span, reason: impl Into<String>) -> Self {
        PolicyError {
            line: span.start.line,
            column: span.start.column,
            reason: reason.into(),
        }
    }

    fn whole(reason: impl Into<String>) -> Self {
        PolicyError {
            line: 0,
            column: 0,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.reason)
        } else {
            write!(
                f,
                "at line {}, column {}: {}",
                self.line, self.column, self.reason
            )
        }
    }
}

impl std::error::Error for PolicyError {}

/// The functions an expression may call. None of them can fail on any input.
pub const FUNCTIONS: &[&str] = &[
    "lower",
    "upper",
    "trim",
    "starts_with",
    "coalesce",
    "concat",
    "left",
    "right",
    "length",
    "current_principal",
    "principal_in_group",
];

/// Compiles a row filter: a boolean expression over `schema`'s columns.
pub fn compile_filter(
    text: &str,
    schema: &Schema,
    identity: &Identity,
) -> Result<Expr, PolicyError> {
    let compiler = Compiler::new(schema, identity)?;
    let ast = parse(text)?;
    let expr = compiler.expr(&ast)?;
    match compiler.type_of(&expr, ast.span())? {
        DataType::Boolean => Ok(expr),
        DataType::Null => Ok(lit(ScalarValue::Boolean(None))),
        other => Err(PolicyError::at(
            ast.span(),
            format!("a row filter must be true or false, but this is {other}"),
        )),
    }
}

/// Checks a row filter against a table's schema, as when it is saved.
pub fn validate_filter(text: &str, schema: &Schema) -> Result<(), PolicyError> {
    compile_filter(text, schema, &Identity::default()).map(|_| ())
}

/// Checks a mask against a column of a table's schema, as when it is saved.
pub fn validate_mask(mask: &Mask, field: &Field, schema: &Schema) -> Result<(), PolicyError> {
    // The expression is only built, never run: any key will do.
    let key = MaskKey::new(vec![0u8; 32]);
    compile_mask(mask, field, schema, &Identity::default(), Some(&key)).map(|_| ())
}

/// The expression that shows column `field` of `schema` masked, or `None` for [`Mask::None`].
/// The result keeps the column's name. `hash` needs the mesh's mask key; without one it is
/// refused (never an unkeyed hash).
pub fn compile_mask(
    mask: &Mask,
    field: &Field,
    schema: &Schema,
    identity: &Identity,
    mask_key: Option<&MaskKey>,
) -> Result<Option<Expr>, PolicyError> {
    let column = Expr::Column(Column::new_unqualified(field.name()));
    let as_text = || {
        if field.data_type() == &DataType::Utf8 {
            column.clone()
        } else {
            Expr::Cast(Cast::new(Box::new(column.clone()), DataType::Utf8))
        }
    };
    let expr = match mask {
        Mask::None => return Ok(None),
        Mask::Redact => masks::redact().call(vec![as_text()]),
        Mask::ShowLast4 => masks::show_last_4().call(vec![as_text()]),
        Mask::ShowFirst4 => masks::show_first_4().call(vec![as_text()]),
        Mask::Hash => {
            let key = mask_key.ok_or_else(|| {
                PolicyError::whole(format!(
                    "column `{}` is masked with `hash`, but the mesh's mask key was not loaded",
                    field.name()
                ))
            })?;
            masks::hash(key).call(vec![as_text()])
        }
        Mask::Null => lit(ScalarValue::try_from(field.data_type()).map_err(|_| {
            PolicyError::whole(format!(
                "column `{}` of type {} cannot be masked with `null`",
                field.name(),
                field.data_type()
            ))
        })?),
        Mask::DateYearOnly => {
            let timestamp = DataType::Timestamp(TimeUnit::Microsecond, None);
            let input = match field.data_type() {
                DataType::Date32 | DataType::Date64 => {
                    Expr::Cast(Cast::new(Box::new(column.clone()), timestamp))
                }
                DataType::Timestamp(_, _) => column.clone(),
                other => {
                    return Err(PolicyError::whole(format!(
                        "`date_year_only` masks dates and timestamps; column `{}` is {other}",
                        field.name()
                    )));
                }
            };
            let truncated = functions::datetime::date_trunc().call(vec![lit("year"), input]);
            Expr::Cast(Cast::new(Box::new(truncated), field.data_type().clone()))
        }
        Mask::Custom(template) => {
            let quoted = format!("\"{}\"", field.name().replace('"', "\"\""));
            let text = template.replace("{col}", &quoted);
            let compiler = Compiler::new(schema, identity)?;
            let ast = parse(&text)?;
            let expr = compiler.expr(&ast)?;
            compiler.type_of(&expr, ast.span())?;
            expr
        }
    };
    Ok(Some(expr.alias(field.name())))
}

fn parse(text: &str) -> Result<ast::Expr, PolicyError> {
    if text.len() > MAX_EXPRESSION_LEN {
        return Err(PolicyError::whole(format!(
            "an expression may be at most {MAX_EXPRESSION_LEN} characters"
        )));
    }
    if text.trim().is_empty() {
        return Err(PolicyError::whole("the expression is empty"));
    }
    let dialect = GenericDialect {};
    // The compiler and the plans the expression ends up in recurse over it: bound its size
    // and depth as a query's are (docs/design/QUERY_LIMITS.md).
    let limits = Limits {
        max_bytes: MAX_EXPRESSION_LEN,
        ..Limits::default()
    };
    check_text(text, &dialect, &limits).map_err(|e| PolicyError::whole(e.to_string()))?;
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| syntax(&e.to_string(), text))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| syntax(&e.to_string(), text))?;
    check_expr(&expr, &limits).map_err(|e| PolicyError::whole(e.to_string()))?;
    let next = parser.peek_token();
    if next.token != deltalake::datafusion::sql::sqlparser::tokenizer::Token::EOF {
        return Err(PolicyError::at(
            next.span,
            format!(
                "unexpected `{}` after the end of the expression",
                next.token
            ),
        ));
    }
    Ok(expr)
}

/// sqlparser reports positions inside its message ("… at Line: 1, Column: 5"); an error at
/// the end of the text (found: EOF) has none, so it points just past the last character.
fn syntax(message: &str, text: &str) -> PolicyError {
    let message = message.trim_start_matches("sql parser error: ");
    let position = message.rfind(" at Line: ").and_then(|at| {
        let rest = &message[at + " at Line: ".len()..];
        let (line, column) = rest.split_once(", Column: ")?;
        Some((at, line.parse().ok()?, column.trim().parse().ok()?))
    });
    match position {
        Some((at, line, column)) => PolicyError {
            line,
            column,
            reason: format!("syntax error: {}", &message[..at]),
        },
        None => {
            let line = text.lines().count().max(1) as u64;
            let column = text.lines().last().map_or(0, |l| l.chars().count()) as u64 + 1;
            PolicyError {
                line,
                column,
                reason: format!("syntax error: {message}"),
            }
        }
    }
}

struct Compiler<'a> {
    schema: &'a Schema,
    df_schema: DFSchema,
    identity: &'a Identity,
}

impl<'a> Compiler<'a> {
    fn new(schema: &'a Schema, identity: &'a Identity) -> Result<Self, PolicyError> {
        let df_schema = DFSchema::try_from(schema.clone())
            .map_err(|e| PolicyError::whole(format!("the table's schema is unusable: {e}")))?;
        Ok(Compiler {
            schema,
            df_schema,
            identity,
        })
    }

    /// The type of `expr` as the language sees it: a dictionary-encoded column (Delta
    /// partition columns are) has the type of its values, so literals compared with it are
    /// plain values that file pruning understands.
    fn type_of(&self, expr: &Expr, span: Span) -> Result<DataType, PolicyError> {
        let t = expr
            .get_type(&self.df_schema)
            .map_err(|e| PolicyError::at(span, first_line(&e.to_string())))?;
        Ok(match t {
            DataType::Dictionary(_, values) => *values,
            other => other,
        })
    }

    fn column(&self, ident: &ast::Ident) -> Result<Expr, PolicyError> {
        let name = &ident.value;
        let found = if ident.quote_style.is_some() {
            self.schema.field_with_name(name).ok()
        } else {
            // Unquoted names match exactly, else case-insensitively if that is unambiguous.
            self.schema.field_with_name(name).ok().or_else(|| {
                let mut matches = self
                    .schema
                    .fields()
                    .iter()
                    .filter(|f| f.name().eq_ignore_ascii_case(name));
                match (matches.next(), matches.next()) {
                    (Some(f), None) => Some(f.as_ref()),
                    _ => None,
                }
            })
        };
        match found {
            Some(field) => Ok(Expr::Column(Column::new_unqualified(field.name()))),
            None => Err(PolicyError::at(
                ident.span,
                format!("unknown column `{name}`"),
            )),
        }
    }

    fn expr(&self, e: &ast::Expr) -> Result<Expr, PolicyError> {
        let span = e.span();
        match e {
            ast::Expr::Identifier(ident) => self.column(ident),
            ast::Expr::CompoundIdentifier(_) => Err(PolicyError::at(
                span,
                "only columns of this table may be used, without a table name",
            )),
            ast::Expr::Nested(inner) => self.expr(inner),
            ast::Expr::Value(v) => literal(&v.value, v.span),
            ast::Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => Ok(Expr::Not(Box::new(self.boolean(expr)?))),
                UnaryOperator::Minus => match expr.as_ref() {
                    ast::Expr::Value(v) => match &v.value {
                        Value::Number(n, _) => number(&format!("-{n}"), v.span),
                        _ => Err(PolicyError::at(span, "`-` applies to numbers only")),
                    },
                    _ => Err(PolicyError::at(span, "`-` applies to number literals only")),
                },
                UnaryOperator::Plus => self.expr(expr),
                other => Err(PolicyError::at(
                    span,
                    format!("the operator `{other}` is not allowed"),
                )),
            },
            ast::Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    BinaryOperator::And => {
                        return Ok(self.boolean(left)?.and(self.boolean(right)?));
                    }
                    BinaryOperator::Or => {
                        return Ok(self.boolean(left)?.or(self.boolean(right)?));
                    }
                    BinaryOperator::Eq => Operator::Eq,
                    BinaryOperator::NotEq => Operator::NotEq,
                    BinaryOperator::Lt => Operator::Lt,
                    BinaryOperator::LtEq => Operator::LtEq,
                    BinaryOperator::Gt => Operator::Gt,
                    BinaryOperator::GtEq => Operator::GtEq,
                    other => {
                        return Err(PolicyError::at(
                            span,
                            format!(
                                "the operator `{other}` is not allowed; use = <> != < <= > >= AND OR NOT"
                            ),
                        ));
                    }
                };
                let (l, r) = self.comparable(left, right)?;
                Ok(Expr::BinaryExpr(BinaryExpr::new(Box::new(l), op, Box::new(r))))
            }
            ast::Expr::IsNull(inner) => Ok(self.expr(inner)?.is_null()),
            ast::Expr::IsNotNull(inner) => Ok(self.expr(inner)?.is_not_null()),
            ast::Expr::InList {
                expr,
                list,
                negated,
            } => {
                let target = self.expr(expr)?;
                let target_type = self.type_of(&target, expr.span())?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    let value = self.expr(item)?;
                    items.push(self.coerce_to(value, &target_type, item.span())?);
                }
                Ok(Expr::InList(InList::new(Box::new(target), items, *negated)))
            }
            ast::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let target = self.expr(expr)?;
                let target_type = self.type_of(&target, expr.span())?;
                let low_e = self.expr(low)?;
                let high_e = self.expr(high)?;
                Ok(Expr::Between(Between::new(
                    Box::new(target),
                    *negated,
                    Box::new(self.coerce_to(low_e, &target_type, low.span())?),
                    Box::new(self.coerce_to(high_e, &target_type, high.span())?),
                )))
            }
            ast::Expr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(span, *negated, *any, expr, pattern, escape_char.is_some(), false),
            ast::Expr::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(span, *negated, *any, expr, pattern, escape_char.is_some(), true),
            ast::Expr::Function(f) => self.function(f, span),
            ast::Expr::Trim {
                trim_where: None,
                trim_what: None,
                expr,
                trim_characters: None,
            } => {
                let x = self.expr(expr)?;
                let t = self.type_of(&x, expr.span())?;
                if !is_text(&t) && t != DataType::Null {
                    return Err(PolicyError::at(expr.span(), format!("`trim` takes text, found {t}")));
                }
                Ok(functions::string::btrim().call(vec![x]))
            }
            ast::Expr::Subquery(_) | ast::Expr::Exists { .. } | ast::Expr::InSubquery { .. } => {
                Err(PolicyError::at(span, "subqueries are not allowed"))
            }
            ast::Expr::Cast { .. } => Err(PolicyError::at(
                span,
                "casts are not allowed (a failing cast could reveal a row); compare with a literal of the column's type",
            )),
            _ => Err(PolicyError::at(
                span,
                "this construct is not allowed; use comparisons, IN, BETWEEN, LIKE, IS [NOT] NULL, AND/OR/NOT, literals, columns and the functions: "
                    .to_string()
                    + &FUNCTIONS.join(", "),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn like(
        &self,
        span: Span,
        negated: bool,
        any: bool,
        expr: &ast::Expr,
        pattern: &ast::Expr,
        has_escape: bool,
        case_insensitive: bool,
    ) -> Result<Expr, PolicyError> {
        if any || has_escape {
            return Err(PolicyError::at(span, "LIKE ANY and ESCAPE are not allowed"));
        }
        let target = self.expr(expr)?;
        if !is_text(&self.type_of(&target, expr.span())?) {
            return Err(PolicyError::at(expr.span(), "LIKE applies to text"));
        }
        let pattern_e = self.expr(pattern)?;
        if !is_text(&self.type_of(&pattern_e, pattern.span())?) {
            return Err(PolicyError::at(pattern.span(), "a LIKE pattern is text"));
        }
        Ok(Expr::Like(Like::new(
            negated,
            Box::new(target),
            Box::new(pattern_e),
            None,
            case_insensitive,
        )))
    }

    fn boolean(&self, e: &ast::Expr) -> Result<Expr, PolicyError> {
        let expr = self.expr(e)?;
        match self.type_of(&expr, e.span())? {
            DataType::Boolean => Ok(expr),
            DataType::Null => Ok(lit(ScalarValue::Boolean(None))),
            other => Err(PolicyError::at(
                e.span(),
                format!("expected true or false, found {other}"),
            )),
        }
    }

    /// Both sides of a comparison, with a literal side converted to the other side's type.
    fn comparable(&self, left: &ast::Expr, right: &ast::Expr) -> Result<(Expr, Expr), PolicyError> {
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        let lt = self.type_of(&l, left.span())?;
        let rt = self.type_of(&r, right.span())?;
        if is_literal(&r) {
            let r = self.coerce_to(r, &lt, right.span())?;
            return Ok((l, r));
        }
        if is_literal(&l) {
            let l = self.coerce_to(l, &rt, left.span())?;
            return Ok((l, r));
        }
        if lt == rt || (lt.is_numeric() && rt.is_numeric()) || (is_text(&lt) && is_text(&rt)) {
            return Ok((l, r));
        }
        Err(PolicyError::at(
            right.span(),
            format!("cannot compare {lt} with {rt}"),
        ))
    }

    /// Converts a literal to `target` now (an error names the value the caller wrote, never a
    /// row's); a non-literal must already have a compatible type.
    fn coerce_to(&self, expr: Expr, target: &DataType, span: Span) -> Result<Expr, PolicyError> {
        let Expr::Literal(value, _) = &expr else {
            let t = self.type_of(&expr, span)?;
            if &t == target
                || (t.is_numeric() && target.is_numeric())
                || (is_text(&t) && is_text(target))
            {
                return Ok(expr);
            }
            return Err(PolicyError::at(
                span,
                format!("cannot compare {target} with {t}"),
            ));
        };
        if value.is_null() {
            return ScalarValue::try_from(target)
                .map(lit)
                .map_err(|_| PolicyError::at(span, format!("NULL cannot be a {target}")));
        }
        if &value.data_type() == target {
            return Ok(expr);
        }
        let converted = match value {
            ScalarValue::Utf8(Some(s)) => ScalarValue::try_from_string(s.clone(), target).ok(),
            other => other.cast_to(target).ok().filter(|v| !v.is_null()),
        };
        match converted {
            Some(v) => Ok(lit(v)),
            None => Err(PolicyError::at(
                span,
                format!("{value} is not a valid {target}"),
            )),
        }
    }

    fn function(&self, f: &ast::Function, span: Span) -> Result<Expr, PolicyError> {
        let name = f.name.to_string().to_ascii_lowercase();
        if f.filter.is_some() || f.over.is_some() || f.null_treatment.is_some() {
            return Err(PolicyError::at(
                span,
                "window and aggregate clauses are not allowed",
            ));
        }
        let args: Vec<&ast::Expr> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::Subquery(_) => {
                return Err(PolicyError::at(span, "subqueries are not allowed"));
            }
            FunctionArguments::List(list) => {
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    return Err(PolicyError::at(span, "function clauses are not allowed"));
                }
                let mut args = Vec::new();
                for arg in &list.args {
                    match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e),
                        _ => {
                            return Err(PolicyError::at(
                                span,
                                "only plain function arguments are allowed",
                            ));
                        }
                    }
                }
                args
            }
        };
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(PolicyError::at(
                    span,
                    format!("`{name}` takes {n} argument(s), got {}", args.len()),
                ))
            }
        };
        let text_arg = |e: &ast::Expr| -> Result<Expr, PolicyError> {
            let x = self.expr(e)?;
            let t = self.type_of(&x, e.span())?;
            if is_text(&t) || t == DataType::Null {
                Ok(x)
            } else {
                Err(PolicyError::at(
                    e.span(),
                    format!("`{name}` takes text, found {t}"),
                ))
            }
        };
        let int_arg = |e: &ast::Expr| -> Result<Expr, PolicyError> {
            let x = self.expr(e)?;
            self.coerce_to(x, &DataType::Int64, e.span())
                .and_then(|x| match &x {
                    Expr::Literal(_, _) => Ok(x),
                    _ => Err(PolicyError::at(
                        e.span(),
                        format!("`{name}` takes a number literal here"),
                    )),
                })
        };
        let call = |udf: Arc<ScalarUDF>, args: Vec<Expr>| {
            Expr::ScalarFunction(ScalarFunction::new_udf(udf, args))
        };
        match name.as_str() {
            "current_principal" => {
                arity(0)?;
                Ok(lit(self.identity.principal.clone()))
            }
            "principal_in_group" => {
                arity(1)?;
                match args[0] {
                    ast::Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(group) => {
                            Ok(lit(self.identity.groups.iter().any(|g| g == group)))
                        }
                        _ => Err(PolicyError::at(
                            span,
                            "`principal_in_group` takes a group name in quotes",
                        )),
                    },
                    _ => Err(PolicyError::at(
                        span,
                        "`principal_in_group` takes a group name in quotes",
                    )),
                }
            }
            "lower" | "upper" | "trim" | "length" => {
                arity(1)?;
                let a = text_arg(args[0])?;
                let udf = match name.as_str() {
                    "lower" => functions::string::lower(),
                    "upper" => functions::string::upper(),
                    "trim" => functions::string::btrim(),
                    _ => functions::unicode::character_length(),
                };
                Ok(call(udf, vec![a]))
            }
            "starts_with" => {
                arity(2)?;
                let a = text_arg(args[0])?;
                let b = text_arg(args[1])?;
                Ok(call(functions::string::starts_with(), vec![a, b]))
            }
            "left" | "right" => {
                arity(2)?;
                let a = text_arg(args[0])?;
                let n = int_arg(args[1])?;
                let udf = if name == "left" {
                    functions::unicode::left()
                } else {
                    functions::unicode::right()
                };
                Ok(call(udf, vec![a, n]))
            }
            "concat" => {
                if args.is_empty() {
                    return Err(PolicyError::at(
                        span,
                        "`concat` takes at least one argument",
                    ));
                }
                let mut out = Vec::new();
                for a in &args {
                    let x = self.expr(a)?;
                    let t = self.type_of(&x, a.span())?;
                    // Rendering any value as text cannot fail.
                    out.push(if is_text(&t) {
                        x
                    } else {
                        Expr::Cast(Cast::new(Box::new(x), DataType::Utf8))
                    });
                }
                Ok(call(functions::string::concat(), out))
            }
            "coalesce" => {
                if args.is_empty() {
                    return Err(PolicyError::at(
                        span,
                        "`coalesce` takes at least one argument",
                    ));
                }
                let first = self.expr(args[0])?;
                let target = self.type_of(&first, args[0].span())?;
                let mut out = vec![first];
                for a in &args[1..] {
                    let x = self.expr(a)?;
                    out.push(self.coerce_to(x, &target, a.span())?);
                }
                Ok(call(functions::core::coalesce(), out))
            }
            _ => Err(PolicyError::at(
                span,
                format!(
                    "the function `{name}` is not allowed; allowed: {}",
                    FUNCTIONS.join(", ")
                ),
            )),
        }
    }
}

fn literal(value: &Value, span: Span) -> Result<Expr, PolicyError> {
    match value {
        Value::Number(n, _) => number(n, span),
        Value::SingleQuotedString(s) => Ok(lit(s.clone())),
        Value::Boolean(b) => Ok(lit(*b)),
        Value::Null => Ok(lit(ScalarValue::Null)),
        other => Err(PolicyError::at(
            span,
            format!("the literal {other} is not allowed; use numbers, 'text', true/false or NULL"),
        )),
    }
}

fn number(text: &str, span: Span) -> Result<Expr, PolicyError> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(lit(i));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(lit(f)),
        _ => Err(PolicyError::at(span, format!("`{text}` is not a number"))),
    }
}

fn is_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(_, _))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests;
