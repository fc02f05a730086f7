//! The `amount` mapping: a column name or a small arithmetic expression of
//! columns (`Quantity * Price`), evaluated exactly in decimal and rounded to
//! integer cents.
//!
//! Hand-written because the grammar is four operators and parentheses: a
//! general expression crate would evaluate in binary floating point, and
//! `6 * 2.55` must give exactly 15.30.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// A parsed amount expression.
#[derive(Debug, Clone, PartialEq)]
pub enum AmountExpr {
    Column(String),
    Number(Decimal),
    Neg(Box<AmountExpr>),
    Binary(Box<AmountExpr>, Op, Box<AmountExpr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Why one value could not become cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// The named column is empty.
    Missing(String),
    /// The named column holds something that is not a number.
    NotNumeric(String),
    /// NaN or infinite in the named column, or a division by zero.
    NotFinite(String),
    /// A finite value, or an intermediate result, too large to hold
    /// exactly (see [`MAX_AMOUNT_CENTS`] for the bound on the amount).
    OutOfRange(String),
}

/// Most tokens (names, numbers, operators, parentheses) in an amount
/// expression. A real expression has a handful; the limit keeps parsing,
/// evaluating (once per row) and dropping the tree cheap and its recursion
/// shallow.
pub const MAX_EXPRESSION_TOKENS: usize = 256;

/// Deepest nesting of parentheses and unary signs in an amount expression:
/// the parser and the evaluator recurse once per level, so an unbounded
/// depth would overflow the stack.
pub const MAX_EXPRESSION_DEPTH: usize = 32;

impl AmountExpr {
    /// Parses `text`. A text that is exactly a column name (spaces allowed)
    /// is that column. Expressions longer than [`MAX_EXPRESSION_TOKENS`] or
    /// nested deeper than [`MAX_EXPRESSION_DEPTH`] are refused.
    pub fn parse(text: &str) -> Result<AmountExpr, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("expected a column name or an expression".into());
        }
        if !trimmed.contains(['+', '-', '*', '/', '(', ')', '`']) {
            return Ok(AmountExpr::Column(trimmed.to_string()));
        }
        let tokens = tokenize(trimmed)?;
        if tokens.len() > MAX_EXPRESSION_TOKENS {
            return Err(format!(
                "the expression has {} tokens; at most {MAX_EXPRESSION_TOKENS} are allowed",
                tokens.len()
            ));
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let expr = parser.sum()?;
        if parser.pos != parser.tokens.len() {
            return Err(format!(
                "unexpected `{}` after a complete expression",
                parser.tokens[parser.pos].describe()
            ));
        }
        Ok(expr)
    }

    /// The columns the expression reads, in order of first use.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut Vec<String>) {
        match self {
            AmountExpr::Column(name) => {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
            AmountExpr::Number(_) => {}
            AmountExpr::Neg(inner) => inner.collect_columns(out),
            AmountExpr::Binary(a, _, b) => {
                a.collect_columns(out);
                b.collect_columns(out);
            }
        }
    }

    /// Evaluates with `lookup` giving each column's decimal value.
    pub fn eval<F>(&self, lookup: &F) -> Result<Decimal, AmountError>
    where
        F: Fn(&str) -> Result<Decimal, AmountError>,
    {
        match self {
            AmountExpr::Column(name) => lookup(name),
            AmountExpr::Number(n) => Ok(*n),
            AmountExpr::Neg(inner) => Ok(-inner.eval(lookup)?),
            AmountExpr::Binary(a, op, b) => {
                let (x, y) = (a.eval(lookup)?, b.eval(lookup)?);
                let result = match op {
                    Op::Add => x.checked_add(y),
                    Op::Sub => x.checked_sub(y),
                    Op::Mul => x.checked_mul(y),
                    Op::Div => x.checked_div(y),
                };
                // Only a division by zero is infinite; anything else that
                // fails overflowed the decimal (about 7.9e28).
                result.ok_or_else(|| match op {
                    Op::Div if y.is_zero() => AmountError::NotFinite(self.to_string()),
                    _ => AmountError::OutOfRange(self.to_string()),
                })
            }
        }
    }
}

impl std::fmt::Display for AmountExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AmountExpr::Column(name) => write!(f, "{name}"),
            AmountExpr::Number(n) => write!(f, "{n}"),
            AmountExpr::Neg(inner) => write!(f, "-({inner})"),
            AmountExpr::Binary(a, op, b) => {
                let op = match op {
                    Op::Add => "+",
                    Op::Sub => "-",
                    Op::Mul => "*",
                    Op::Div => "/",
                };
                write!(f, "({a} {op} {b})")
            }
        }
    }
}

/// The largest magnitude of one line's amount, and of one order's total, in
/// cents: 9,999,999,999,999.99 currency units (just under 10^13).
///
/// Why this bound: an amount of at most 15 significant digits is published
/// as a DOUBLE that reads back as exactly that amount to the cent, and it
/// leaves room in i64 cents (about 9.2e18) for sums of thousands of such
/// amounts; a larger amount in an order line is a unit mix-up or a
/// placeholder (a line is rejected `amount_out_of_range`). Sums over many
/// orders are kept from wrapping by the run-wide bound on the accepted
/// amounts (see `stages::orders`).
pub const MAX_AMOUNT_CENTS: i64 = 999_999_999_999_999;

/// Whether `cents` is an amount the pipeline accepts: |cents| ≤
/// [`MAX_AMOUNT_CENTS`].
pub fn amount_in_range(cents: i128) -> bool {
    cents.unsigned_abs() <= MAX_AMOUNT_CENTS as u128
}

/// Rounds a decimal amount to integer cents, half away from zero; `None`
/// when the result is out of range (see [`MAX_AMOUNT_CENTS`]).
pub fn to_cents(value: Decimal) -> Option<i64> {
    value
        .checked_mul(Decimal::ONE_HUNDRED)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .filter(|&cents| amount_in_range(cents as i128))
}

/// Cents as the exact decimal text of the amount in currency units
/// (`-12.05`), for messages and reject values; i128 so that a sum beyond
/// i64 can be shown too.
pub fn cents_text(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Cents of a whole amount from an integer column; `None` when out of
/// range (see [`MAX_AMOUNT_CENTS`]).
pub fn whole_cents(units: i64) -> Option<i64> {
    units
        .checked_mul(100)
        .filter(|&cents| amount_in_range(cents as i128))
}

/// Parses one textual number exactly. Accepts an optional sign, digits with
/// one decimal separator (`.` or, with `decimal_comma`, `,`) and an optional
/// exponent. Surrounding spaces are ignored.
///
/// A decimal holds 28 significant digits: digits beyond them are dropped
/// (toward zero, which never moves a value across a half cent), so a tiny
/// amount such as `1e-30` is 0, while a number of more than 28 integer
/// digits is out of range ([`ParseNumberError::OutOfRange`]).
pub fn parse_decimal(text: &str, decimal_comma: bool) -> Result<Decimal, ParseNumberError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ParseNumberError::Empty);
    }
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if matches!(unsigned, "nan" | "inf" | "infinity") {
        return Err(ParseNumberError::NotFinite);
    }
    if decimal_comma && t.contains('.') {
        return Err(ParseNumberError::NotNumeric);
    }
    let separator = if decimal_comma { b',' } else { b'.' };
    let number = DecimalText::parse(t.as_bytes(), separator).ok_or(ParseNumberError::NotNumeric)?;
    number.to_decimal().ok_or(ParseNumberError::OutOfRange)
}

/// A number's text split into its parts: `-12.5e3` is negative, digits
/// `125`, two integer digits, exponent 3.
struct DecimalText {
    negative: bool,
    /// Every digit, integer part then fraction, without the separator.
    digits: Vec<u8>,
    integer_digits: usize,
    /// The exponent, saturated (a thousand-digit exponent is just huge).
    exponent: i64,
}

impl DecimalText {
    /// `[+-]digits[sep digits][(e|E)[+-]digits]` with at least one digit
    /// in the mantissa; `None` for anything else.
    fn parse(text: &[u8], separator: u8) -> Option<DecimalText> {
        let (negative, rest) = match text.first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
            Some(p) => (&rest[..p], Some(&rest[p + 1..])),
            None => (rest, None),
        };
        let (whole, fraction) = match mantissa.iter().position(|&b| b == separator) {
            Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
            None => (mantissa, &mantissa[mantissa.len()..]),
        };
        let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let exponent = match exponent {
            None => 0,
            Some(e) => {
                let (sign, digits) = match e.first()? {
                    b'-' => (-1, &e[1..]),
                    b'+' => (1, &e[1..]),
                    _ => (1, e),
                };
                if digits.is_empty() || !all_digits(digits) {
                    return None;
                }
                let magnitude = digits.iter().fold(0i64, |acc, d| {
                    acc.saturating_mul(10).saturating_add((d - b'0') as i64)
                });
                sign * magnitude
            }
        };
        let mut digits = whole.to_vec();
        digits.extend_from_slice(fraction);
        Some(DecimalText {
            negative,
            digits,
            integer_digits: whole.len(),
            exponent,
        })
    }

    /// The value with at most 28 significant digits (the rest dropped);
    /// `None` when its integer part has more than 28 digits.
    fn to_decimal(&self) -> Option<Decimal> {
        const MAX_DIGITS: i64 = 28;
        let first = self.digits.iter().position(|&d| d != b'0');
        let Some(first) = first else {
            return Some(Decimal::ZERO);
        };
        let significant = &self.digits[first..];
        // The position of the decimal point counted from the first
        // significant digit: the number is 0.significant × 10^point.
        let point = (self.integer_digits as i64 - first as i64).saturating_add(self.exponent);
        if point > MAX_DIGITS {
            return None;
        }
        // Keep the digits before the 28th decimal and within 28 in all.
        let kept = (significant.len() as i64)
            .min(MAX_DIGITS)
            .min(point.saturating_add(MAX_DIGITS));
        if kept <= 0 {
            return Some(Decimal::ZERO);
        }
        let kept = &significant[..kept as usize];
        let mantissa = kept
            .iter()
            .fold(0i128, |acc, d| acc * 10 + (d - b'0') as i128);
        // value = mantissa × 10^(point − kept digits).
        let shift = point - kept.len() as i64;
        let value = if shift >= 0 {
            Decimal::from_i128_with_scale(mantissa * 10i128.pow(shift as u32), 0)
        } else {
            Decimal::from_i128_with_scale(mantissa, (-shift) as u32)
        };
        Some(if self.negative { -value } else { value })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseNumberError {
    Empty,
    NotNumeric,
    NotFinite,
    /// A finite number too large to hold exactly.
    OutOfRange,
}

/// Cents of a plain decimal text (`-12.5`, `12,50` with `decimal_comma`)
/// with at most two decimals, read without building a `Decimal`; `None`
/// for anything else, which then takes the exact general path. At most 13
/// whole digits: every such amount is within [`MAX_AMOUNT_CENTS`], and a
/// longer one takes the exact path, which rejects it when out of range.
pub fn plain_cents(text: &str, decimal_comma: bool) -> Option<i64> {
    let t = text.trim().as_bytes();
    let (negative, digits) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let separator = if decimal_comma { b',' } else { b'.' };
    let (whole, fraction) = match digits.iter().position(|&c| c == separator) {
        Some(p) => (&digits[..p], &digits[p + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if whole.is_empty() || whole.len() > 13 || fraction.len() > 2 {
        return None;
    }
    let mut cents: i64 = 0;
    for &d in whole {
        if !d.is_ascii_digit() {
            return None;
        }
        cents = cents * 10 + (d - b'0') as i64;
    }
    let mut scale = 100;
    for &d in fraction {
        if !d.is_ascii_digit() {
            return None;
        }
        scale /= 10;
        cents = cents * 10 + (d - b'0') as i64;
    }
    let cents = cents * scale;
    Some(if negative { -cents } else { cents })
}

/// Cents of a binary float that is exactly a two-decimal amount (the
/// shortest decimal of `x` has at most two decimals) within
/// [`MAX_AMOUNT_CENTS`]; `None` otherwise (the exact path decides).
pub fn plain_float_cents(x: f64) -> Option<i64> {
    let cents = (x * 100.0).round();
    let in_range = cents.abs() <= MAX_AMOUNT_CENTS as f64; // exact: below 2^53
    (x.is_finite() && in_range && cents / 100.0 == x).then_some(cents as i64)
}

/// Converts a binary float from a typed (Parquet) column to the decimal it
/// was meant to be: the shortest decimal that round-trips, so `2.55f64` is
/// 2.55, not 2.54999….
pub fn decimal_from_f64(value: f64) -> Result<Decimal, ParseNumberError> {
    if !value.is_finite() {
        return Err(ParseNumberError::NotFinite);
    }
    // `{:e}` is the shortest round-trip digits with an exponent: exact for
    // the tiny and the huge alike. A finite float that still does not fit
    // a decimal (beyond about 7.9e28) is out of range.
    parse_decimal(&format!("{value:e}"), false).map_err(|_| ParseNumberError::OutOfRange)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number(Decimal),
    Op(char),
    Open,
    Close,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Number(n) => n.to_string(),
            Token::Op(c) => c.to_string(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '+' | '-' | '*' | '/' => {
                tokens.push(Token::Op(c));
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '`')
                    .ok_or("a backtick-quoted column name is not closed")?;
                let name: String = chars[i + 1..i + 1 + end].iter().collect();
                if name.is_empty() {
                    return Err("empty column name in backticks".into());
                }
                tokens.push(Token::Ident(name));
                i += end + 2;
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let literal: String = chars[start..i].iter().collect();
                let value = literal
                    .parse::<Decimal>()
                    .map_err(|_| format!("`{literal}` is not a number"))?;
                tokens.push(Token::Number(value));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(format!(
                    "unexpected `{other}`: expected column names, numbers, `+ - * /` and parentheses (quote names with spaces in backticks)"
                ))
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Parentheses and unary signs open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// Enters one more level of nesting, refusing to go past the limit.
    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return Err(format!(
                "the expression nests parentheses or signs more than {MAX_EXPRESSION_DEPTH} deep"
            ));
        }
        Ok(())
    }

    fn sum(&mut self) -> Result<AmountExpr, String> {
        let mut left = self.product()?;
        while let Some(Token::Op(c @ ('+' | '-'))) = self.peek().cloned() {
            self.pos += 1;
            let right = self.product()?;
            let op = if c == '+' { Op::Add } else { Op::Sub };
            left = AmountExpr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<AmountExpr, String> {
        let mut left = self.unary()?;
        while let Some(Token::Op(c @ ('*' | '/'))) = self.peek().cloned() {
            self.pos += 1;
            let right = self.unary()?;
            let op = if c == '*' { Op::Mul } else { Op::Div };
            left = AmountExpr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<AmountExpr, String> {
        match self.peek().cloned() {
            Some(Token::Op('-')) => {
                self.pos += 1;
                self.nest()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(AmountExpr::Neg(Box::new(inner)))
            }
            Some(Token::Op('+')) => {
                self.pos += 1;
                self.nest()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<AmountExpr, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or("the expression ends where a column or number was expected")?;
        self.pos += 1;
        match token {
            Token::Ident(name) => Ok(AmountExpr::Column(name)),
            Token::Number(n) => Ok(AmountExpr::Number(n)),
            Token::Open => {
                self.nest()?;
                let inner = self.sum()?;
                self.depth -= 1;
                match self.peek() {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            other => Err(format!(
                "unexpected `{}` where a column or number was expected",
                other.describe()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn column_names_with_spaces_are_columns() {
        assert_eq!(
            AmountExpr::parse("Order Total").unwrap(),
            AmountExpr::Column("Order Total".into())
        );
    }

    #[test]
    fn product_is_exact_in_cents() {
        let e = AmountExpr::parse("Quantity * Price").unwrap();
        assert_eq!(e.columns(), vec!["Quantity", "Price"]);
        let v = e
            .eval(&|name: &str| {
                Ok(if name == "Quantity" {
                    d("6")
                } else {
                    d("2.55")
                })
            })
            .unwrap();
        assert_eq!(to_cents(v), Some(1530));
    }

    #[test]
    fn precedence_parentheses_and_backticks() {
        let e = AmountExpr::parse("(`Unit Price` - 1) * q + -2 / 4").unwrap();
        let v = e
            .eval(&|name: &str| Ok(if name == "q" { d("3") } else { d("2.5") }))
            .unwrap();
        assert_eq!(v, d("4.0"));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(to_cents(d("1.005")), Some(101));
        assert_eq!(to_cents(d("-1.005")), Some(-101));
        assert_eq!(to_cents(d("0.004")), Some(0));
    }

    #[test]
    fn parse_decimal_classes() {
        assert_eq!(parse_decimal(" 12.50 ", false), Ok(d("12.50")));
        assert_eq!(parse_decimal("12,50", true), Ok(d("12.50")));
        assert_eq!(
            parse_decimal("12,50", false),
            Err(ParseNumberError::NotNumeric)
        );
        assert_eq!(
            parse_decimal("abc", false),
            Err(ParseNumberError::NotNumeric)
        );
        assert_eq!(
            parse_decimal("NaN", false),
            Err(ParseNumberError::NotFinite)
        );
        assert_eq!(
            parse_decimal("-inf", false),
            Err(ParseNumberError::NotFinite)
        );
        assert_eq!(parse_decimal("", false), Err(ParseNumberError::Empty));
        assert_eq!(parse_decimal("1e2", false), Ok(d("100")));
    }

    #[test]
    fn plain_paths_agree_with_the_exact_path() {
        for text in ["12.5", "-3", "0.07", "+1.99", "123456789012.34"] {
            let exact = to_cents(parse_decimal(text, false).unwrap());
            assert_eq!(plain_cents(text, false), exact, "{text}");
        }
        assert_eq!(plain_cents("12,50", true), Some(1250));
        assert_eq!(plain_cents("1.005", false), None); // three decimals: exact path
        assert_eq!(plain_cents("1e3", false), None);
        assert_eq!(plain_cents("", false), None);
        for x in [2.55, 0.1, -7.3, 1e6, 19.99] {
            assert_eq!(
                plain_float_cents(x),
                to_cents(decimal_from_f64(x).unwrap()),
                "{x}"
            );
        }
        assert_eq!(plain_float_cents(0.125), None);
        assert_eq!(plain_float_cents(f64::NAN), None);
    }

    #[test]
    fn tiny_numbers_round_to_zero_and_huge_ones_are_out_of_range() {
        // The README: amounts are rounded to cents, so a tiny amount is 0.
        for tiny in [
            "1e-30",
            "0.000000000000000000000000000001",
            "-1E-400",
            "0e999999999999",
        ] {
            let v = parse_decimal(tiny, false).unwrap();
            assert_eq!(to_cents(v), Some(0), "{tiny}");
        }
        // More than 28 significant digits: the rest is dropped, never
        // rounded across a half cent.
        let long = format!("0.004{}", "9".repeat(40));
        assert_eq!(to_cents(parse_decimal(&long, false).unwrap()), Some(0));
        let long = format!("0.005{}1", "0".repeat(40));
        assert_eq!(to_cents(parse_decimal(&long, false).unwrap()), Some(1));
        assert_eq!(parse_decimal("12.5e1", false), Ok(d("125")));
        assert_eq!(parse_decimal("1,5e-1", true), Ok(d("0.15")));
        assert_eq!(parse_decimal(".5", false), Ok(d("0.5")));
        assert_eq!(parse_decimal("5.", false), Ok(d("5")));
        let max = "9".repeat(28);
        assert_eq!(parse_decimal(&max, false), Ok(d(&max)));
        for huge in ["1e30", "1".repeat(29).as_str(), "1e99999999999999999999999"] {
            assert_eq!(
                parse_decimal(huge, false),
                Err(ParseNumberError::OutOfRange),
                "{huge}"
            );
        }
        for bad in [".", "e5", "1e", "1e+", "1.2.3", "1-2", "--1", "1 2"] {
            assert_eq!(
                parse_decimal(bad, false),
                Err(ParseNumberError::NotNumeric),
                "{bad}"
            );
        }
        assert_eq!(decimal_from_f64(1e-300).map(to_cents), Ok(Some(0)));
        assert_eq!(decimal_from_f64(1e300), Err(ParseNumberError::OutOfRange));
    }

    #[test]
    fn floats_become_their_shortest_decimal() {
        assert_eq!(decimal_from_f64(2.55), Ok(d("2.55")));
        assert_eq!(decimal_from_f64(f64::NAN), Err(ParseNumberError::NotFinite));
    }

    #[test]
    fn amounts_beyond_the_bound_are_out_of_range() {
        let max = MAX_AMOUNT_CENTS as i128;
        assert_eq!(max, 10i128.pow(15) - 1);
        assert_eq!(to_cents(d("9999999999999.99")), Some(MAX_AMOUNT_CENTS));
        assert_eq!(to_cents(d("-9999999999999.99")), Some(-MAX_AMOUNT_CENTS));
        assert_eq!(to_cents(d("10000000000000")), None);
        // Rounds half away from zero to 10^15 cents: out of range.
        assert_eq!(to_cents(d("-9999999999999.995")), None);
        assert_eq!(to_cents(d("50000000000000000")), None); // the amount
        assert_eq!(to_cents(Decimal::MAX), None);
        assert_eq!(whole_cents(9_999_999_999_999), Some(999_999_999_999_900));
        assert_eq!(whole_cents(-10_000_000_000_000), None);
        assert_eq!(whole_cents(i64::MAX), None);
        assert_eq!(whole_cents(i64::MIN), None);
        assert_eq!(plain_float_cents(1e13), None);
        assert_eq!(plain_float_cents(-5e16), None);
        // A finite float beyond the decimal's range is out of range, a tiny
        // one is a zero amount.
        assert_eq!(decimal_from_f64(1e30), Err(ParseNumberError::OutOfRange));
        assert_eq!(
            decimal_from_f64(-f64::MAX),
            Err(ParseNumberError::OutOfRange)
        );
        assert_eq!(decimal_from_f64(1e-300).map(to_cents), Ok(Some(0)));
    }

    #[test]
    fn expression_overflow_is_out_of_range_and_division_by_zero_is_not_finite() {
        let e = AmountExpr::parse("a * b").unwrap();
        let huge = |_: &str| Ok(d("1e20"));
        assert!(matches!(e.eval(&huge), Err(AmountError::OutOfRange(_))));
        let e = AmountExpr::parse("a / b").unwrap();
        let zero = |name: &str| Ok(if name == "a" { d("1") } else { d("0") });
        assert!(matches!(e.eval(&zero), Err(AmountError::NotFinite(_))));
        let tiny = |name: &str| Ok(if name == "a" { d("1e20") } else { d("1e-20") });
        assert!(matches!(e.eval(&tiny), Err(AmountError::OutOfRange(_))));
    }

    /// Amounts in cents near the bound (either sign), anywhere in i64, and
    /// beyond i64.
    fn cents_near_and_beyond_the_bound() -> impl proptest::strategy::Strategy<Value = i128> {
        use proptest::prelude::*;
        let bound = MAX_AMOUNT_CENTS as i128 + 1;
        prop_oneof![
            (-2000i128..2000, any::<bool>()).prop_map(move |(o, negative)| if negative {
                -(bound + o)
            } else {
                bound + o
            }),
            any::<i64>().prop_map(i128::from),
            -10i128.pow(22)..10i128.pow(22),
        ]
    }

    proptest::proptest! {
        /// Every path to cents (text fast path, integer and float fast
        /// paths, exact decimal path) accepts exactly the amounts within
        /// the bound, and agrees on their cents.
        #[test]
        fn every_path_bounds_amounts_alike(cents in cents_near_and_beyond_the_bound()) {
            let in_range = cents.abs() <= MAX_AMOUNT_CENTS as i128;
            let expected = in_range.then_some(cents as i64);
            let text = cents_text(cents);
            let exact = to_cents(parse_decimal(&text, false).unwrap());
            proptest::prop_assert_eq!(exact, expected, "{}", text);
            // The fast path either declines or agrees.
            let fast = plain_cents(&text, false);
            proptest::prop_assert!(fast.is_none() || fast == expected, "{} {:?}", text, fast);
            if in_range {
                // At most 13 whole digits: the fast path takes it.
                proptest::prop_assert_eq!(fast, expected, "{}", text);
            }
            if cents % 100 == 0 {
                if let Ok(units) = i64::try_from(cents / 100) {
                    proptest::prop_assert_eq!(whole_cents(units), expected);
                }
            }
            let x: f64 = text.parse().unwrap();
            if let Some(c) = plain_float_cents(x) {
                proptest::prop_assert_eq!(Some(c), to_cents(decimal_from_f64(x).unwrap()));
                proptest::prop_assert!(c.unsigned_abs() <= MAX_AMOUNT_CENTS as u64);
            }
        }
    }

    #[test]
    fn expression_size_and_depth_are_limited() {
        // Just within the limits parses; one more token or level does not.
        let terms = |n: usize| vec!["a"; n].join(" + ");
        let at_limit = terms(MAX_EXPRESSION_TOKENS.div_ceil(2));
        assert!(AmountExpr::parse(&at_limit).is_ok());
        let over = terms(MAX_EXPRESSION_TOKENS.div_ceil(2) + 1);
        assert!(AmountExpr::parse(&over).unwrap_err().contains("tokens"));
        // 20,000 terms and 100,000 nested parentheses: an error, no overflow.
        assert!(AmountExpr::parse(&terms(20_000)).is_err());
        let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert!(AmountExpr::parse(&nested(MAX_EXPRESSION_DEPTH)).is_ok());
        assert!(AmountExpr::parse(&nested(MAX_EXPRESSION_DEPTH + 1))
            .unwrap_err()
            .contains("deep"));
        assert!(AmountExpr::parse(&nested(100_000)).is_err());
        let signs = |n: usize| format!("{}a", "-".repeat(n));
        assert!(AmountExpr::parse(&signs(MAX_EXPRESSION_DEPTH)).is_ok());
        assert!(AmountExpr::parse(&signs(MAX_EXPRESSION_DEPTH + 1)).is_err());
        assert!(AmountExpr::parse(&signs(100_000)).is_err());
    }

    #[test]
    fn bad_expressions_are_explained() {
        assert!(AmountExpr::parse("a * (b + c")
            .unwrap_err()
            .contains("not closed"));
        assert!(AmountExpr::parse("a * ").unwrap_err().contains("ends"));
        assert!(AmountExpr::parse("a + %b")
            .unwrap_err()
            .contains("unexpected `%`"));
    }
}
