//! The fleet table's filter language: `speed > 100`, `state == "FAULT"`,
//! `battery.soc < 0.2 and region == "eu"`.
//!
//! An operator looking at thousands of assets needs to narrow them down in a few keystrokes,
//! without learning a query language: comparisons (`== != < <= > >=`) of a field with a
//! number, a string or `true`/`false`, joined with `and`, `or`, `not` and parentheses. Field
//! names may contain dots (`battery.soc`), as flattened payload properties do. Errors name the
//! column (1-based, in characters) where the expression stopped making sense, so the table can
//! point at it under the filter box.
//!
//! Evaluation is over anything that answers [`Fields`], so the language is tested here
//! without a store. A comparison with a field the row does not have is false (and so `not`
//! of it is true): a row without `speed` is not "fast".

use std::cmp::Ordering;
use std::fmt;

/// A value a filter compares: a number, a string or a boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Num(f64),
    Str(String),
    Bool(bool),
}

impl Literal {
    /// What kind of value it is, as an error message names it.
    fn kind(&self) -> &'static str {
        match self {
            Literal::Num(_) => "number",
            Literal::Str(_) => "string",
            Literal::Bool(_) => "boolean",
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Str(s) => write!(f, "{s:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A field's value in one row, borrowed so that evaluating 100k rows allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
}

/// What a row says about its fields.
pub trait Fields {
    /// The value of `name` in this row, or `None` when the row has no such field.
    fn field(&self, name: &str) -> Option<FieldValue<'_>>;
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `field op literal` (a literal on the left is turned around when parsed).
    Cmp {
        field: String,
        op: Op,
        value: Literal,
    },
    /// A bare field: true when it is the boolean `true`.
    Truthy(String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// Why a filter does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    /// 1-based column, in characters, of the token the parser stopped at.
    pub column: usize,
    pub message: String,
}

impl Expr {
    /// Parses a filter. An empty (or blank) text is `Ok(None)`: no filter.
    ///
    /// # Errors
    /// [`FilterError`] with the column of the offending token.
    pub fn parse(text: &str) -> Result<Option<Expr>, FilterError> {
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Ok(None);
        }
        let mut p = Parser {
            tokens,
            pos: 0,
            end: text.chars().count() + 1,
        };
        let e = p.or()?;
        if let Some(t) = p.peek() {
            return Err(p.error_at(t.column, format!("unexpected {}", t.tok)));
        }
        Ok(Some(e))
    }

    /// Whether a row passes.
    #[must_use]
    pub fn matches(&self, row: &dyn Fields) -> bool {
        match self {
            Expr::Cmp { field, op, value } => row
                .field(field)
                .is_some_and(|v| compare(v, value).is_some_and(|o| op.holds(o))),
            Expr::Truthy(field) => row.field(field) == Some(FieldValue::Bool(true)),
            Expr::And(a, b) => a.matches(row) && b.matches(row),
            Expr::Or(a, b) => a.matches(row) || b.matches(row),
            Expr::Not(a) => !a.matches(row),
        }
    }

    /// The field names the filter reads, each once, in order of appearance: the table fetches
    /// them for every row even when they are not shown as columns.
    #[must_use]
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Cmp { field, .. } | Expr::Truthy(field) => {
                if !out.contains(&field.as_str()) {
                    out.push(field);
                }
            }
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_fields(out);
                b.collect_fields(out);
            }
            Expr::Not(a) => a.collect_fields(out),
        }
    }
}

/// How a value compares with a literal; `None` when their types differ (a number is never
/// equal to a string, so `speed == "fast"` is simply false).
fn compare(v: FieldValue<'_>, lit: &Literal) -> Option<Ordering> {
    match (v, lit) {
        (FieldValue::Num(a), Literal::Num(b)) => a.partial_cmp(b),
        (FieldValue::Str(a), Literal::Str(b)) => Some(a.cmp(b.as_str())),
        (FieldValue::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A number or a quoted string (`true` and `false` are names until compared).
    Lit(Literal),
    Op(Op),
    And,
    Or,
    Not,
    LParen,
    RParen,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "name `{s}`"),
            Tok::Lit(l) => write!(f, "{} {l}", l.kind()),
            Tok::Op(op) => write!(f, "`{}`", op_text(*op)),
            Tok::And => f.write_str("`and`"),
            Tok::Or => f.write_str("`or`"),
            Tok::Not => f.write_str("`not`"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
        }
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "==",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based, in characters.
    column: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |column: usize, message: String| FilterError { column, message };
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '=' if next == Some('=') => (Tok::Op(Op::Eq), 2),
            '=' => return Err(err(column, "`=` is not an operator: use `==`".into())),
            '!' if next == Some('=') => (Tok::Op(Op::Ne), 2),
            '!' => {
                return Err(err(
                    column,
                    "`!` is not an operator: use `not` or `!=`".into(),
                ));
            }
            '<' if next == Some('=') => (Tok::Op(Op::Le), 2),
            '<' => (Tok::Op(Op::Lt), 1),
            '>' if next == Some('=') => (Tok::Op(Op::Ge), 2),
            '>' => (Tok::Op(Op::Gt), 1),
            '&' if next == Some('&') => (Tok::And, 2),
            '|' if next == Some('|') => (Tok::Or, 2),
            '"' | '\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(err(column, "string is not closed".into()));
                        }
                        Some('\\') if chars.get(j + 1).is_some() => {
                            s.push(chars[j + 1]);
                            j += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&x) => {
                            s.push(x);
                            j += 1;
                        }
                    }
                }
                (Tok::Lit(Literal::Str(s)), j + 1 - i)
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '.') && next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric()
                        || chars[j] == '.'
                        || ((chars[j] == '-' || chars[j] == '+')
                            && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let s: String = chars[i..j].iter().collect();
                match s.parse::<f64>() {
                    Ok(n) if n.is_finite() => (Tok::Lit(Literal::Num(n)), j - i),
                    _ => return Err(err(column, format!("`{s}` is not a number"))),
                }
            }
            c if is_ident_start(c) => {
                let mut j = i + 1;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                let s: String = chars[i..j].iter().collect();
                let tok = match s.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Ident(s),
                };
                (tok, j - i)
            }
            c => return Err(err(column, format!("unexpected character `{c}`"))),
        };
        out.push(Token { tok, column });
        i += len;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The column just past the end, where "expected …" errors at the end point.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn error_at(&self, column: usize, message: String) -> FilterError {
        FilterError { column, message }
    }

    /// An "expected …" error at the next token, or at the end.
    fn expected(&self, what: &str) -> FilterError {
        match self.peek() {
            Some(t) => self.error_at(t.column, format!("expected {what}, found {}", t.tok)),
            None => self.error_at(self.end, format!("expected {what} at the end")),
        }
    }

    /// Steps over the next token if it is `tok`; true when it did.
    fn eat(&mut self, tok: &Tok) -> bool {
        let hit = self.peek().is_some_and(|t| t.tok == *tok);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// A left-associative chain `operand (op operand)*`, each step joined by `join`: the
    /// grammar of both `or` and `and`.
    fn chain(
        &mut self,
        op: &Tok,
        operand: fn(&mut Self) -> Result<Expr, FilterError>,
        join: fn(Box<Expr>, Box<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let mut e = operand(self)?;
        while self.eat(op) {
            e = join(Box::new(e), Box::new(operand(self)?));
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        self.chain(&Tok::Or, Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        self.chain(&Tok::And, Self::not, Expr::And)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.eat(&Tok::Not) {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.expected("a comparison"));
        };
        if t.tok == Tok::LParen {
            self.pos += 1;
            let e = self.or()?;
            if self.eat(&Tok::RParen) {
                return Ok(e);
            }
            return Err(self.expected("`)`"));
        }
        self.comparison()
    }

    /// One side of a comparison, a name or a value; any other token is an error at it saying
    /// that `what` was expected.
    fn side(&self, t: Token, what: &str) -> Result<Side, FilterError> {
        match t.tok {
            Tok::Ident(s) => Ok(Side::of_name(s)),
            other => literal(other)
                .map(Side::Lit)
                .map_err(|tok| self.error_at(t.column, format!("expected {what}, found {tok}"))),
        }
    }

    /// `field op literal`, `literal op field`, or a bare field.
    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let Some(left) = self.next() else {
            return Err(self.expected("a comparison"));
        };
        let left_column = left.column;
        let left = self.side(left, "a property name or a value")?;
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Op(op)) => *op,
            _ => {
                return match left {
                    Side::Field(f) => Ok(Expr::Truthy(f)),
                    Side::Lit(_) => Err(self.expected("a comparison operator (== != < <= > >=)")),
                };
            }
        };
        self.pos += 1;
        let Some(right) = self.next() else {
            return Err(self.error_at(self.end, "expected a value at the end".into()));
        };
        let right_column = right.column;
        let right = self.side(right, "a value")?;
        match (left, right) {
            (Side::Field(field), Side::Lit(value)) => Ok(Expr::Cmp { field, op, value }),
            (Side::Lit(value), Side::Field(field)) => Ok(Expr::Cmp {
                field,
                op: flip(op),
                value,
            }),
            (Side::Field(_), Side::Field(f)) => Err(self.error_at(
                right_column,
                format!("compare with a value, not with another property (`{f}`); quote strings"),
            )),
            (Side::Lit(_), Side::Lit(_)) => Err(self.error_at(
                left_column,
                "one side of a comparison must be a property name".into(),
            )),
        }
    }
}

enum Side {
    Field(String),
    Lit(Literal),
}

impl Side {
    /// A name: `true` and `false` are the booleans, anything else a field.
    fn of_name(s: String) -> Side {
        match s.as_str() {
            "true" => Side::Lit(Literal::Bool(true)),
            "false" => Side::Lit(Literal::Bool(false)),
            _ => Side::Field(s),
        }
    }
}

/// A token as a literal (`true`/`false` come in as names), or the token back.
fn literal(tok: Tok) -> Result<Literal, Tok> {
    match tok {
        Tok::Lit(l) => Ok(l),
        other => Err(other),
    }
}

/// `3 < speed` is `speed > 3`.
fn flip(op: Op) -> Op {
    match op {
        Op::Lt => Op::Gt,
        Op::Le => Op::Ge,
        Op::Gt => Op::Lt,
        Op::Ge => Op::Le,
        o => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Row(HashMap<&'static str, Literal>);

    impl Fields for Row {
        fn field(&self, name: &str) -> Option<FieldValue<'_>> {
            self.0.get(name).map(|v| match v {
                Literal::Num(n) => FieldValue::Num(*n),
                Literal::Str(s) => FieldValue::Str(s),
                Literal::Bool(b) => FieldValue::Bool(*b),
            })
        }
    }

    fn row(fields: &[(&'static str, Literal)]) -> Row {
        Row(fields.iter().cloned().collect())
    }

    fn m(filter: &str, r: &Row) -> bool {
        Expr::parse(filter).unwrap().unwrap().matches(r)
    }

    #[test]
    fn comparisons_of_numbers_strings_and_booleans() {
        let r = row(&[
            ("speed", Literal::Num(120.0)),
            ("state", Literal::Str("FAULT".into())),
            ("battery.soc", Literal::Num(0.15)),
            ("region", Literal::Str("eu".into())),
            ("door_open", Literal::Bool(true)),
        ]);
        assert!(m("speed > 100", &r));
        assert!(!m("speed > 120", &r));
        assert!(m("speed >= 120", &r));
        assert!(m("speed <= 120 and speed != 119.5", &r));
        assert!(
            m("100 < speed", &r),
            "a literal on the left is turned around"
        );
        assert!(m(r#"state == "FAULT""#, &r));
        assert!(m("state == 'FAULT'", &r));
        assert!(!m(r#"state == "RUN""#, &r));
        assert!(m(r#"battery.soc < 0.2 and region == "eu""#, &r));
        assert!(!m(r#"battery.soc < 0.1 and region == "eu""#, &r));
        assert!(m("door_open", &r));
        assert!(m("door_open == true", &r));
        assert!(!m("door_open != true", &r));
        assert!(m("door_open != false", &r));
        assert!(!m("not door_open", &r));
        assert!(m("speed > -5e1", &r));
        // A number never equals a string: false, not an error.
        assert!(!m(r#"speed == "120""#, &r));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let r = row(&[("a", Literal::Num(1.0)), ("b", Literal::Num(0.0))]);
        // a==1 or (b==1 and b==2) → true; (a==1 or b==1) and b==2 → false.
        assert!(m("a == 1 or b == 1 and b == 2", &r));
        assert!(!m("(a == 1 or b == 1) and b == 2", &r));
        assert!(m("not (a == 2 or b == 1)", &r));
        assert!(m("not not a == 1", &r));
        assert!(m("a == 1 && b == 0 || a == 7", &r));
    }

    #[test]
    fn a_missing_field_never_compares() {
        let r = row(&[("speed", Literal::Num(5.0))]);
        assert!(!m("rpm > 0", &r));
        assert!(!m("rpm <= 0", &r));
        assert!(!m("rpm != 3", &r));
        assert!(m("not rpm > 0", &r));
    }

    #[test]
    fn blank_is_no_filter_and_fields_are_listed_once() {
        assert_eq!(Expr::parse("   "), Ok(None));
        let e = Expr::parse(r#"speed > 1 and (region == "eu" or speed < 0) and not x.y"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.fields(), vec!["speed", "region", "x.y"]);
    }

    #[test]
    fn errors_name_the_column() {
        let e = |s: &str| Expr::parse(s).unwrap_err();
        assert_eq!(e("speed > ").column, 9);
        assert!(e("speed > ").message.contains("value"));
        assert_eq!(e("speed = 3").column, 7);
        assert!(e("speed = 3").message.contains("=="));
        assert_eq!(e("(speed > 3").column, 11);
        assert!(e("(speed > 3").message.contains("`)`"));
        assert_eq!(e("speed > 3 speed").column, 11);
        assert_eq!(e(r#"state == "FAULT"#).column, 10);
        assert!(e(r#"state == "FAULT"#).message.contains("not closed"));
        assert_eq!(e("speed > 3 and").column, 14);
        assert_eq!(e("speed > rpm").column, 9);
        assert_eq!(e("3 > 4").column, 1);
        assert_eq!(e("speed # 3").column, 7);
        assert_eq!(e("speed > 1x").column, 9);
        // Columns count characters, not bytes.
        assert_eq!(e("état > ").column, 8);
        assert_eq!(
            e("speed > ").to_string(),
            "column 9: expected a value at the end"
        );
    }
}
