//! Infix text to [`Expr`]: a tokenizer and a recursive-descent parser.
//!
//! Grammar (lowest precedence first):
//!
//! ```text
//! sum     := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | power
//! power   := atom (('^' | '**') unary)?
//! atom    := number | variable | name '(' sum (',' sum)* ')' | '(' sum ')'
//! ```
//!
//! A minus sign directly before a number literal is part of the literal (`-2` is the constant
//! −2, `-(2)` is the negation of 2), which is what makes printing and parsing exact inverses.
//! Every operator can also be written as a function call (`add(p, y)`, `neg(z)`, `pow(p, 2)`),
//! so trees printed in prefix form by DEAP-based tools such as EvoMAL parse as well.
//!
//! No input makes the parser panic: every failure is a [`ParseError`] that points at the
//! offending text, and nesting is bounded by [`MAX_HEIGHT`] so that no input can exhaust the
//! stack here or in the recursive code that later walks the tree.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use super::Expr;
use super::ops::{Binary, Op, Reduce, Unary, Var, quoted_list, suggest};

/// The tallest expression (see [`Expr::height`]) the parser accepts. Evolved losses are kept
/// far below this (EvoMAL's limit is 10); it exists so that no text can build a tree deep
/// enough to overflow the stack.
pub const MAX_HEIGHT: usize = 200;

/// What went wrong while parsing; see [`ParseError`] for where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The text is empty or only whitespace.
    #[error("empty expression")]
    Empty,
    /// A character that starts no token.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// A token where another was needed.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What the text has.
        found: String,
    },
    /// A name that is not a variable.
    #[error("unknown variable `{name}`; the variables are `p`, `y` and `z`")]
    UnknownVariable {
        /// The name as written.
        name: String,
        /// Known names that look similar.
        suggestions: Vec<&'static str>,
    },
    /// A name called as a function that is no operator.
    #[error("unknown function `{name}`")]
    UnknownFunction {
        /// The name as written.
        name: String,
        /// Known names that look similar.
        suggestions: Vec<&'static str>,
    },
    /// An operator called with the wrong number of arguments.
    #[error("`{name}` takes {expected} argument{}, found {found}", if *.expected == 1 { "" } else { "s" })]
    Arity {
        /// The operator.
        name: &'static str,
        /// Its arity.
        expected: usize,
        /// The number of arguments written.
        found: usize,
    },
    /// A number literal that does not denote a finite 64-bit float.
    #[error("`{0}` is not a finite number")]
    BadNumber(String),
    /// The expression is taller than [`MAX_HEIGHT`].
    #[error("expression is nested more than {MAX_HEIGHT} levels deep")]
    TooDeep,
}

/// A parse failure: what went wrong, where, and the text it happened in.
///
/// Its `Display` shows the offending line with a caret under the problem and, for unknown
/// names, the nearest known names:
///
/// ```text
/// unknown function `lgo` at column 5
///   exp(lgo(p))
///       ^^^
///   help: did you mean `log`?
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    span: Range<usize>,
    source: String,
}

impl ParseError {
    /// What went wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The byte range of the offending text in the input.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The 1-based column (in characters) where the problem starts.
    pub fn column(&self) -> usize {
        let line_start = self.source[..self.span.start].rfind('\n').map_or(0, |i| i + 1);
        self.source[line_start..self.span.start].chars().count() + 1
    }

    /// The same error, reported against `source`, a text in which the parsed text sits at the
    /// same byte offsets (used when the expression is part of a longer line).
    pub(crate) fn with_source(mut self, source: &str) -> ParseError {
        self.source = source.to_owned();
        self
    }

    fn help(&self) -> Option<String> {
        match &self.kind {
            ParseErrorKind::UnknownVariable { suggestions, .. }
            | ParseErrorKind::UnknownFunction { suggestions, .. } => match suggestions.as_slice() {
                [] => None,
                [one] => Some(format!("did you mean `{one}`?")),
                many => Some(format!("did you mean one of {}?", quoted_list(many))),
            },
            ParseErrorKind::Arity { name: "max", found: 1, .. } => {
                Some("`max(a, b)` is element-wise; the maximum over classes is `amax(x)`".into())
            }
            ParseErrorKind::Empty => Some("write a loss such as `y*(logsumexp(z) - z)`".into()),
            _ => None,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line_start = self.source[..self.span.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.source[line_start..].find('\n').map_or(self.source.len(), |i| line_start + i);
        let line = &self.source[line_start..line_end];
        let width = self.source[self.span.start..self.span.end.min(line_end)].chars().count().max(1);
        write!(f, "{} at column {}", self.kind, self.column())?;
        write!(f, "\n  {line}\n  {}{}", " ".repeat(self.column() - 1), "^".repeat(width))?;
        if let Some(help) = self.help() {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok<'a> {
    Num(f64),
    Name(&'a str),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::Num(x) => format!("number `{x}`"),
            Tok::Name(n) => format!("`{n}`"),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Caret => "`^`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "end of input".into(),
        }
    }
}

struct Token<'a> {
    tok: Tok<'a>,
    span: Range<usize>,
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'+' => Tok::Plus,
            b'-' => Tok::Minus,
            b'*' if bytes.get(i + 1) == Some(&b'*') => {
                i += 1;
                Tok::Caret
            }
            b'*' => Tok::Star,
            b'/' => Tok::Slash,
            b'^' => Tok::Caret,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b',' => Tok::Comma,
            b'0'..=b'9' | b'.' => {
                i = scan_number(bytes, i);
                let literal = &text[start..i];
                match literal.parse::<f64>() {
                    Ok(x) if x.is_finite() => {
                        tokens.push(Token { tok: Tok::Num(x), span: start..i });
                        continue;
                    }
                    _ => return Err((ParseErrorKind::BadNumber(literal.to_owned()), start..i)),
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token { tok: Tok::Name(&text[start..i]), span: start..i });
                continue;
            }
            _ => {
                let ch = text[start..].chars().next().unwrap_or('\u{fffd}');
                return Err((ParseErrorKind::UnexpectedChar(ch), start..start + ch.len_utf8()));
            }
        };
        i += 1;
        tokens.push(Token { tok, span: start..i });
    }
    tokens.push(Token { tok: Tok::End, span: text.len()..text.len() });
    Ok(tokens)
}

/// The end of a number literal starting at `i`: digits, an optional fraction and an optional
/// exponent (`1`, `2.5`, `.5`, `1e-7`, `3E+2`).
fn scan_number(bytes: &[u8], mut i: usize) -> usize {
    let digits = |i: &mut usize| {
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            digits(&mut i);
        }
    }
    i
}

/// Alternative spellings accepted for operator names.
const ALIASES: &[(&str, Op)] =
    &[("ln", Op::Unary(Unary::Log)), ("lse", Op::Reduce(Reduce::LogSumExp)), ("reciprocal", Op::Unary(Unary::Recip))];

fn lookup_function(name: &str) -> Option<Op> {
    Op::from_name(name).or_else(|| ALIASES.iter().find(|(alias, _)| *alias == name).map(|&(_, op)| op))
}

/// A parsed subexpression with its height, tracked so that the depth limit costs nothing.
struct Node {
    expr: Expr,
    height: usize,
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    /// Nesting of recursive calls, bounded so that deeply nested input fails early.
    nesting: usize,
}

type Result<T> = std::result::Result<T, (ParseErrorKind, Range<usize>)>;

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok<'a> {
        &self.tokens[self.pos].tok
    }

    fn span(&self) -> Range<usize> {
        self.tokens[self.pos].span.clone()
    }

    fn bump(&mut self) -> Token<'a> {
        let token = Token { tok: self.tokens[self.pos].tok.clone(), span: self.span() };
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn expect(&mut self, tok: Tok<'static>, expected: &'static str) -> Result<()> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn unexpected(&self, expected: &'static str) -> (ParseErrorKind, Range<usize>) {
        (ParseErrorKind::Unexpected { expected, found: self.peek().describe() }, self.span())
    }

    fn node(&self, expr: Expr, height: usize, start: usize) -> Result<Node> {
        if height > MAX_HEIGHT {
            return Err((ParseErrorKind::TooDeep, start..self.tokens[self.pos.saturating_sub(1)].span.end));
        }
        Ok(Node { expr, height })
    }

    /// Runs `f` one recursion level deeper. Levels are bounded at twice the tree height limit
    /// (plus a function call): printed text can take two levels per tree level (`-(` ... `)`),
    /// so every tree the parser accepts parses again from its printed form, while the height
    /// limit itself is checked on the tree ([`node`](Self::node)).
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.nesting += 1;
        if self.nesting > 2 * MAX_HEIGHT + 2 {
            return Err((ParseErrorKind::TooDeep, self.span()));
        }
        let out = f(self);
        self.nesting -= 1;
        out
    }

    /// `operand (operator operand)*`, associating to the left.
    fn left_assoc(
        &mut self,
        operator: fn(&Tok) -> Option<Binary>,
        operand: fn(&mut Self) -> Result<Node>,
    ) -> Result<Node> {
        let start = self.span().start;
        let mut left = operand(self)?;
        while let Some(op) = operator(self.peek()) {
            self.bump();
            let right = operand(self)?;
            let height = 1 + left.height.max(right.height);
            left = self.node(Expr::binary(op, left.expr, right.expr), height, start)?;
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Node> {
        let operator = |tok: &Tok| match tok {
            Tok::Plus => Some(Binary::Add),
            Tok::Minus => Some(Binary::Sub),
            _ => None,
        };
        self.left_assoc(operator, Self::product)
    }

    fn product(&mut self) -> Result<Node> {
        let operator = |tok: &Tok| match tok {
            Tok::Star => Some(Binary::Mul),
            Tok::Slash => Some(Binary::Div),
            _ => None,
        };
        self.left_assoc(operator, Self::unary)
    }

    fn unary(&mut self) -> Result<Node> {
        if *self.peek() != Tok::Minus {
            return self.power();
        }
        let start = self.bump().span.start;
        // `-2` is a negative literal, unless the literal is the base of a power (`-2^2` is
        // `-(2^2)`, as in mathematics and Python).
        if let Tok::Num(x) = *self.peek()
            && !matches!(self.tokens.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Caret))
        {
            self.bump();
            return Ok(Node { expr: Expr::Const(-x), height: 0 });
        }
        let operand = self.nested(Self::unary)?;
        self.node(Expr::unary(Unary::Neg, operand.expr), operand.height + 1, start)
    }

    fn power(&mut self) -> Result<Node> {
        let start = self.span().start;
        let base = self.atom()?;
        if *self.peek() != Tok::Caret {
            return Ok(base);
        }
        self.bump();
        let exponent = self.nested(Self::unary)?;
        let height = 1 + base.height.max(exponent.height);
        self.node(Expr::binary(Binary::Pow, base.expr, exponent.expr), height, start)
    }

    fn atom(&mut self) -> Result<Node> {
        let token = self.bump();
        match token.tok {
            Tok::Num(x) => Ok(Node { expr: Expr::Const(x), height: 0 }),
            Tok::LParen => {
                let inner = self.nested(Self::sum)?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(inner)
            }
            Tok::Name(name) if *self.peek() == Tok::LParen => self.call(name, token.span),
            Tok::Name(name) => match name.parse::<Var>() {
                Ok(var) => Ok(Node { expr: Expr::Var(var), height: 0 }),
                Err(_) => {
                    let kind = if lookup_function(name).is_some() {
                        ParseErrorKind::Unexpected {
                            expected: "`(` after a function name",
                            found: self.peek().describe(),
                        }
                    } else {
                        let suggestions = suggest(name, Var::ALL.iter().map(|v| v.name()));
                        ParseErrorKind::UnknownVariable { name: name.to_owned(), suggestions }
                    };
                    Err((kind, token.span))
                }
            },
            Tok::End => {
                Err((ParseErrorKind::Unexpected { expected: "an operand", found: Tok::End.describe() }, token.span))
            }
            other => Err((ParseErrorKind::Unexpected { expected: "an operand", found: other.describe() }, token.span)),
        }
    }

    fn call(&mut self, name: &str, name_span: Range<usize>) -> Result<Node> {
        let Some(op) = lookup_function(name) else {
            let known = Op::all().map(Op::name).chain(ALIASES.iter().map(|(alias, _)| *alias));
            let suggestions = suggest(name, known);
            return Err((ParseErrorKind::UnknownFunction { name: name.to_owned(), suggestions }, name_span));
        };
        self.bump(); // `(`
        let mut args = Vec::new();
        loop {
            args.push(self.nested(Self::sum)?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => break,
                _ => return Err(self.unexpected("`,` or `)`")),
            }
        }
        let end = self.bump().span.end;
        if args.len() != op.arity() {
            let kind = ParseErrorKind::Arity { name: op.name(), expected: op.arity(), found: args.len() };
            return Err((kind, name_span.start..end));
        }
        let height = 1 + args.iter().map(|a| a.height).max().unwrap_or(0);
        let expr = Expr::apply(op, args.into_iter().map(|a| a.expr).collect()).ok_or_else(|| {
            let kind = ParseErrorKind::Arity { name: op.name(), expected: op.arity(), found: 0 };
            (kind, name_span.clone())
        })?;
        self.node(expr, height, name_span.start)
    }
}

impl FromStr for Expr {
    type Err = ParseError;

    /// Parses infix text, e.g. `exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))`.
    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        parse(text)
    }
}

fn parse(text: &str) -> std::result::Result<Expr, ParseError> {
    let error = |(kind, span): (ParseErrorKind, Range<usize>)| ParseError { kind, span, source: text.to_owned() };
    if text.trim().is_empty() {
        return Err(error((ParseErrorKind::Empty, 0..text.len())));
    }
    let tokens = tokenize(text).map_err(error)?;
    let mut parser = Parser { tokens, pos: 0, nesting: 0 };
    let node = parser.sum().map_err(error)?;
    if *parser.peek() != Tok::End {
        return Err(error(parser.unexpected("an operator or the end of input")));
    }
    Ok(node.expr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(text: &str) -> ParseError {
        text.parse::<Expr>().unwrap_err()
    }

    #[test]
    fn precedence_and_associativity() {
        let show = |t: &str| format!("{:?}", t.parse::<Expr>().unwrap());
        assert_eq!(show("p - y - z"), show("(p - y) - z"));
        assert_eq!(show("p / y / z"), show("(p / y) / z"));
        assert_eq!(show("p + y*z"), show("p + (y*z)"));
        assert_eq!(show("-p*y"), show("(-p)*y"));
        assert_eq!(show("-p^2"), show("-(p^2)"));
        assert_eq!(show("p^y^z"), show("p^(y^z)"));
        assert_eq!(show("p**2"), show("pow(p, 2)"));
        assert_eq!(show("2^-1"), show("pow(2, -1)"));
        assert_eq!(show("add(p, mul(y, z))"), show("p + y*z"));
        assert_eq!(show("ln(p) + lse(z)"), show("log(p) + logsumexp(z)"));
    }

    #[test]
    fn negative_literals() {
        assert_eq!("-2".parse::<Expr>().unwrap(), Expr::Const(-2.0));
        assert_eq!("-(2)".parse::<Expr>().unwrap(), Expr::unary(Unary::Neg, Expr::Const(2.0)));
        assert_eq!(
            "p*-1.5e-3".parse::<Expr>().unwrap(),
            Expr::binary(Binary::Mul, Expr::Var(Var::P), Expr::Const(-1.5e-3))
        );
        assert_eq!(
            "-2^2".parse::<Expr>().unwrap(),
            Expr::unary(Unary::Neg, Expr::binary(Binary::Pow, Expr::Const(2.0), Expr::Const(2.0)))
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = err("exp(lgo(p))");
        assert_eq!(e.span(), 4..7);
        assert_eq!(
            e.to_string(),
            "unknown function `lgo` at column 5\n  exp(lgo(p))\n      ^^^\n  help: did you mean `log`?"
        );

        let e = err("p + q");
        assert!(matches!(e.kind(), ParseErrorKind::UnknownVariable { .. }));
        assert_eq!(e.column(), 5);

        let e = err("exp(p, y)");
        assert_eq!(e.kind(), &ParseErrorKind::Arity { name: "exp", expected: 1, found: 2 });
        assert!(e.to_string().contains("`exp` takes 1 argument, found 2"));

        let e = err("max(z)");
        assert!(e.to_string().contains("amax(x)"), "{e}");

        let e = err("p +");
        assert_eq!(e.to_string(), "expected an operand, found end of input at column 4\n  p +\n     ^");

        let e = err("(p + y");
        assert!(e.to_string().starts_with("expected `)`, found end of input"), "{e}");

        let e = err("p y");
        assert!(e.to_string().starts_with("expected an operator or the end of input, found `y`"), "{e}");

        let e = err("p § y");
        assert_eq!(e.kind(), &ParseErrorKind::UnexpectedChar('§'));
        assert_eq!(e.to_string().lines().nth(2), Some("    ^"));

        assert_eq!(err("1e999").kind(), &ParseErrorKind::BadNumber("1e999".into()));
        assert_eq!(err("  ").kind(), &ParseErrorKind::Empty);
        assert!(matches!(
            err("exp + 1").kind(),
            ParseErrorKind::Unexpected { expected: "`(` after a function name", .. }
        ));
    }

    #[test]
    fn errors_on_later_lines_show_that_line() {
        let e = err("exp(p)\n  + lgo(y)");
        assert_eq!(
            e.to_string(),
            "unknown function `lgo` at column 5\n    + lgo(y)\n      ^^^\n  help: did you mean `log`?"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}p{}", "(".repeat(100_000), ")".repeat(100_000));
        assert_eq!(err(&deep).kind(), &ParseErrorKind::TooDeep);
        let long = vec!["p"; 100_000].join(" + ");
        assert_eq!(err(&long).kind(), &ParseErrorKind::TooDeep);
        let negs = format!("{}p", "-".repeat(100_000));
        assert_eq!(err(&negs).kind(), &ParseErrorKind::TooDeep);
        let ok = vec!["p"; MAX_HEIGHT + 1].join(" + ");
        assert_eq!(ok.parse::<Expr>().unwrap().height(), MAX_HEIGHT);
    }

    #[test]
    fn every_accepted_tree_parses_back_from_its_printed_form() {
        // Found by fuzzing (`scripts/fuzz`, target `expr`): a chain of minus signs parses, and
        // its printed form `-(-(...))` nests twice as deep.
        for text in [
            format!("-3 - {}333", "-".repeat(MAX_HEIGHT - 1)),
            format!("{}p", "-".repeat(MAX_HEIGHT)),
            format!("{}p{}", "exp(-".repeat(MAX_HEIGHT / 2), ")".repeat(MAX_HEIGHT / 2)),
        ] {
            let e: Expr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            let printed = e.to_string();
            let again: Expr = printed.parse().unwrap_or_else(|err| panic!("`{printed}` does not parse back: {err}"));
            assert_eq!(again, e);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_any_string(text in "\\PC{0,40}") {
            if let Err(e) = text.parse::<Expr>() {
                prop_assert!(e.span().end <= text.len());
                let _ = e.to_string();
            }
        }

        #[test]
        fn never_panics_on_near_miss_expressions(
            text in "[pyz0-9.eE+*/^(),\\- ]{0,30}|(exp|log|max|amax|pow|lgo)\\([pyz0-9, ]{0,8}\\)?[+*]?"
        ) {
            if let Err(e) = text.parse::<Expr>() {
                prop_assert!(e.span().start <= e.span().end && e.span().end <= text.len());
                let _ = e.to_string();
            }
        }
    }
}
