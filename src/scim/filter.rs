//! Hand-written parser for SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//!
//! The parser is schema-free: it produces `model::filter` trees with attribute names as the
//! client wrote them, and the consumers (SQL compiler, matcher) resolve them. Input is lexed into
//! tokens first, then parsed by recursive descent whose recursion only happens on `(`, `not (`
//! and `[`, each of which counts against `MAX_FILTER_DEPTH`; `and`/`or` chains are built in
//! loops, so no input can exhaust the stack.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::filter::{AttrPath, CompareOp, Filter, PatchPath};

/// Longest filter (or PATCH path) accepted, in bytes. A real filter is a few hundred bytes; the
/// cap bounds the work one request can cause.
pub const MAX_FILTER_LEN: usize = 8192;

/// Deepest nesting accepted. Every parenthesised group, `not`, `and`, `or` and value path adds one
/// level on the way from the root of the tree to a comparison, so a chain of `n` terms joined by
/// `or` is `n - 1` deep. The consumers of the tree recurse over it, so this bounds them too.
pub const MAX_FILTER_DEPTH: usize = 32;

/// How many characters of the remaining input an error message quotes.
const SNIPPET_CHARS: usize = 20;

/// Parses a `filter` query parameter or `filter` member of a search request.
///
/// Fails with `Error::InvalidFilter` naming what was expected and where (a 0-based character
/// position) when the input is not a filter, is longer than `MAX_FILTER_LEN` bytes or nests
/// deeper than `MAX_FILTER_DEPTH`.
pub fn parse_filter(input: &str) -> Result<Filter> {
    if input.len() > MAX_FILTER_LEN {
        return Err(Error::InvalidFilter(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let mut p = Parser::new(input)?;
    if p.peek().is_none() {
        return Err(p.expected("a filter expression"));
    }
    let (filter, _) = p.or_expr(0, false)?;
    if p.peek().is_some() {
        return Err(p.expected("\"and\", \"or\" or the end of the filter"));
    }
    Ok(filter)
}

/// Parses a PATCH operation's `path` (RFC 7644 §3.5.2: `attrPath / valuePath [subAttr]`).
///
/// Fails with `Error::InvalidPath` when the path is empty, too long or not a path, and with
/// `Error::InvalidFilter` when only the `[...]` value filter is malformed.
pub fn parse_patch_path(input: &str) -> Result<PatchPath> {
    if input.len() > MAX_FILTER_LEN {
        return Err(Error::InvalidPath(format!(
            "path is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    if input.trim().is_empty() {
        return Err(Error::InvalidPath("path is empty".to_string()));
    }
    // A lexing error (an unterminated or malformed string) is the filter's when the quote is
    // inside the brackets, and the path's otherwise: an attribute path has no quotes.
    let quote_in_filter = match (input.find('['), input.find('"')) {
        (Some(bracket), Some(quote)) => bracket < quote,
        _ => false,
    };
    let mut p = Parser::new(input).map_err(|e| {
        if quote_in_filter {
            e
        } else {
            into_path_error(e)
        }
    })?;
    let attr = match p.next() {
        Some(Token {
            kind: Tok::Word(w),
            start,
            ..
        }) => attr_path(input, w, start).map_err(into_path_error)?,
        _ => return Err(into_path_error(error_at(input, 0, "an attribute path"))),
    };
    let mut path = PatchPath {
        attr,
        filter: None,
        sub_after_filter: None,
    };
    match p.peek() {
        None => return Ok(path),
        Some(Tok::LBracket) => {}
        Some(_) => return Err(into_path_error(p.expected("\"[\" or the end of the path"))),
    }
    if path.attr.sub.is_some() {
        return Err(Error::InvalidPath(format!(
            "\"{}\" has a sub-attribute, so it cannot take a value filter",
            path.attr
        )));
    }
    p.pos += 1;
    let (filter, _) = p.or_expr(1, true)?;
    let close_end = match p.tokens.get(p.pos) {
        Some(Token {
            kind: Tok::RBracket,
            end,
            ..
        }) => *end,
        _ => return Err(p.expected("\"and\", \"or\" or \"]\"")),
    };
    p.pos += 1;
    path.filter = Some(filter);
    if let Some(sub) = p.trailing_sub(close_end).map_err(into_path_error)? {
        path.sub_after_filter = Some(sub);
    }
    if p.peek().is_some() {
        return Err(into_path_error(p.expected("the end of the path")));
    }
    Ok(path)
}

/// The parser reports everything as a filter error; in a PATCH path, syntax outside the brackets
/// is a path error (RFC 7644 §3.12 `invalidPath`).
fn into_path_error(e: Error) -> Error {
    match e {
        Error::InvalidFilter(d) => Error::InvalidPath(d),
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of anything but whitespace, brackets, parentheses and quotes: an attribute path,
    /// an operator, a keyword, a literal or a number, told apart by where it appears.
    Word(&'a str),
    /// A decoded JSON string literal.
    Str(String),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Tok<'a>,
    /// Byte offsets into the input.
    start: usize,
    end: usize,
}

/// Turns the input into tokens. Whitespace (space, tab, newline...) separates tokens; RFC 7644
/// asks for exactly one SP, but clients pad around parentheses and brackets.
fn lex(input: &str) -> Result<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(kind) = single {
            chars.next();
            tokens.push(Token {
                kind,
                start,
                end: start + 1,
            });
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i + 1);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(Error::InvalidFilter(format!(
                    "unterminated string starting at position {}",
                    char_pos(input, start)
                )));
            };
            // RFC 7644 §3.4.2.2: string literals MUST be valid JSON strings, so let the JSON
            // parser decode escapes (including \uXXXX surrogate pairs) and reject control chars.
            let text: String = serde_json::from_str(&input[start..end]).map_err(|e| {
                Error::InvalidFilter(format!(
                    "invalid string at position {}: {e}",
                    char_pos(input, start)
                ))
            })?;
            tokens.push(Token {
                kind: Tok::Str(text),
                start,
                end,
            });
        } else {
            let mut end = input.len();
            while let Some(&(i, c)) = chars.peek() {
                if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                    end = i;
                    break;
                }
                chars.next();
            }
            tokens.push(Token {
                kind: Tok::Word(&input[start..end]),
                start,
                end,
            });
        }
    }
    Ok(tokens)
}

/// A byte offset as a 0-based character position, which is what a client can count.
fn char_pos(input: &str, byte: usize) -> usize {
    input.get(..byte).map_or(0, |s| s.chars().count())
}

/// Joins a chain of `and`s (or `or`s) into a balanced tree. Both are associative, so the
/// meaning is that of the RFC's left-to-right reading, but a chain of a thousand terms (an
/// `id eq … or id eq …` list) is ten levels deep instead of a thousand, and nothing that walks
/// the tree recursively can run out of stack. Chains of up to three keep the left-nested shape.
fn balanced(
    mut terms: Vec<Filter>,
    height: usize,
    join: fn(Box<Filter>, Box<Filter>) -> Filter,
) -> Sub {
    fn build(
        terms: &mut Vec<Filter>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
    ) -> (Filter, usize) {
        if terms.len() <= 1 {
            return (
                terms
                    .pop()
                    .unwrap_or(Filter::Present(AttrPath::simple("id"))),
                0,
            );
        }
        let right_terms = terms.split_off(terms.len().div_ceil(2));
        let mut right_terms = right_terms;
        let (l, lh) = build(terms, join);
        let (r, rh) = build(&mut right_terms, join);
        (join(Box::new(l), Box::new(r)), 1 + lh.max(rh))
    }
    let (tree, h) = build(&mut terms, join);
    (tree, height + h)
}

/// The nesting depth limit check shared by every place that adds a level.
fn check_depth(depth: usize, input: &str, byte: usize) -> Result<()> {
    if depth > MAX_FILTER_DEPTH {
        return Err(Error::InvalidFilter(format!(
            "filter nests deeper than {MAX_FILTER_DEPTH} levels at position {}",
            char_pos(input, byte)
        )));
    }
    Ok(())
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
}

/// Subtrees travel with their height (levels below and including their root) so that `and`/`or`
/// chains, which are built in loops, can be held to `MAX_FILTER_DEPTH` too.
type Sub = (Filter, usize);

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self> {
        Ok(Parser {
            input,
            tokens: lex(input)?,
            pos: 0,
        })
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// Byte offset of the current token, or the end of input.
    fn here(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.input.len(), |t| t.start)
    }

    /// `expected WHAT at position N (near "...")` for the current token.
    fn expected(&self, what: &str) -> Error {
        error_at(self.input, self.here(), what)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    /// `or_expr := and_expr ("or" and_expr)*`, left-associative (RFC 7644 §3.4.2.2: "or" binds
    /// loosest). `depth` is the number of levels above this expression.
    fn or_expr(&mut self, depth: usize, in_brackets: bool) -> Result<Sub> {
        let (first, mut height) = self.and_expr(depth, in_brackets)?;
        let mut terms = vec![first];
        while self.keyword("or") {
            self.pos += 1;
            let (rhs, rh) = self.and_expr(depth, in_brackets)?;
            height = height.max(rh);
            terms.push(rhs);
        }
        Ok(balanced(terms, height, Filter::Or))
    }

    /// `and_expr := unary ("and" unary)*`, binding tighter than `or`.
    fn and_expr(&mut self, depth: usize, in_brackets: bool) -> Result<Sub> {
        let (first, mut height) = self.unary(depth, in_brackets)?;
        let mut terms = vec![first];
        while self.keyword("and") {
            self.pos += 1;
            let (rhs, rh) = self.unary(depth, in_brackets)?;
            height = height.max(rh);
            terms.push(rhs);
        }
        Ok(balanced(terms, height, Filter::And))
    }

    /// `unary := "not" "(" or_expr ")" | "(" or_expr ")" | attr_expr`.
    fn unary(&mut self, depth: usize, in_brackets: bool) -> Result<Sub> {
        let at = self.here();
        if self.keyword("not") {
            // RFC 7644 §3.4.2.2 writes `"not" "(" FILTER ")"`: the parentheses are required.
            self.pos += 1;
            if self.peek() != Some(&Tok::LParen) {
                return Err(self.expected("\"(\" after \"not\""));
            }
            self.pos += 1;
            check_depth(depth + 1, self.input, at)?;
            let (inner, h) = self.or_expr(depth + 1, in_brackets)?;
            self.close_paren()?;
            return Ok((Filter::Not(Box::new(inner)), h + 1));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            check_depth(depth + 1, self.input, at)?;
            let (inner, h) = self.or_expr(depth + 1, in_brackets)?;
            self.close_paren()?;
            // Grouping adds no node, but it did cost a level of recursion.
            return Ok((inner, h + 1));
        }
        self.attr_expr(depth, in_brackets)
    }

    fn close_paren(&mut self) -> Result<()> {
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected("\"and\", \"or\" or \")\""))
        }
    }

    /// `attrPath "pr" | attrPath compareOp compValue | attrPath "[" valFilter "]" [tail]`.
    fn attr_expr(&mut self, depth: usize, in_brackets: bool) -> Result<Sub> {
        let (word, start) = match self.tokens.get(self.pos) {
            Some(Token {
                kind: Tok::Word(w),
                start,
                ..
            }) => (*w, *start),
            _ => return Err(self.expected("an attribute path, \"not\" or \"(\"")),
        };
        let path = attr_path(self.input, word, start)?;
        self.pos += 1;
        if in_brackets && (path.urn.is_some() || path.sub.is_some()) {
            // Inside `[...]` names are sub-attributes of the outer attribute, which have no
            // sub-attributes of their own (RFC 7643 §2.4).
            return Err(error_at(
                self.input,
                start,
                "a sub-attribute name inside \"[...]\"",
            ));
        }
        if self.peek() == Some(&Tok::LBracket) {
            return self.value_path(path, start, depth, in_brackets);
        }
        Ok((self.comparison(path)?, 0))
    }

    /// The part after an attribute path: `pr` or `op value`.
    fn comparison(&mut self, path: AttrPath) -> Result<Filter> {
        let op = match self.peek() {
            Some(Tok::Word(w)) => parse_op(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.expected("a comparison operator"));
        };
        self.pos += 1;
        let Some(op) = op else {
            return Ok(Filter::Present(path));
        };
        let value = match self.peek() {
            Some(Tok::Str(s)) => Some(Value::String(s.clone())),
            Some(Tok::Word(w)) => literal(w),
            _ => None,
        };
        let Some(value) = value else {
            return Err(self.expected("a value (a string, number, true, false or null)"));
        };
        self.pos += 1;
        Ok(Filter::Compare { path, op, value })
    }

    /// `attrPath "[" valFilter "]"`, plus the Microsoft Entra form `attr[F].sub op value`, which
    /// becomes `attr[F and sub op value]`: the same elements must satisfy both.
    fn value_path(
        &mut self,
        path: AttrPath,
        start: usize,
        depth: usize,
        in_brackets: bool,
    ) -> Result<Sub> {
        if in_brackets {
            // RFC 7644 §3.4.2.2: valFilter has no valuePath alternative.
            return Err(error_at(
                self.input,
                self.here(),
                "a comparison operator (value paths cannot be nested)",
            ));
        }
        if path.sub.is_some() {
            return Err(error_at(
                self.input,
                start,
                "an attribute without a sub-attribute before \"[\"",
            ));
        }
        check_depth(depth + 1, self.input, start)?;
        self.pos += 1;
        let (mut inner, mut h) = self.or_expr(depth + 1, true)?;
        let close_end = match self.tokens.get(self.pos) {
            Some(Token {
                kind: Tok::RBracket,
                end,
                ..
            }) => *end,
            _ => return Err(self.expected("\"and\", \"or\" or \"]\"")),
        };
        self.pos += 1;
        if let Some(sub) = self.trailing_sub(close_end)? {
            let tail = self.comparison(AttrPath::simple(&sub))?;
            h += 1;
            check_depth(depth + 1 + h, self.input, close_end)?;
            inner = Filter::And(Box::new(inner), Box::new(tail));
        }
        Ok((
            Filter::ValuePath {
                path,
                filter: Box::new(inner),
            },
            h + 1,
        ))
    }

    /// A `.subAttr` written directly after `]` (no space between), if there is one.
    fn trailing_sub(&mut self, close_end: usize) -> Result<Option<String>> {
        let Some(Token {
            kind: Tok::Word(w),
            start,
            ..
        }) = self.tokens.get(self.pos)
        else {
            return Ok(None);
        };
        let (w, start) = (*w, *start);
        if start != close_end || !w.starts_with('.') {
            return Ok(None);
        }
        let name = &w[1..];
        if !is_attr_name(name) {
            return Err(error_at(
                self.input,
                start + 1,
                "a sub-attribute name after \"].\"",
            ));
        }
        self.pos += 1;
        Ok(Some(name.to_string()))
    }
}

/// `expected WHAT at position N (near "...")`, or `(at the end)` past the last character.
fn error_at(input: &str, byte: usize, what: &str) -> Error {
    let pos = char_pos(input, byte);
    let rest = input.get(byte..).unwrap_or("");
    let detail = if rest.is_empty() {
        format!("expected {what} at position {pos} (at the end)")
    } else {
        let snippet: String = rest.chars().take(SNIPPET_CHARS).collect();
        format!("expected {what} at position {pos} (near {snippet:?})")
    };
    Error::InvalidFilter(detail)
}

/// `Some(None)` for `pr`, `Some(Some(op))` for a comparison, `None` for anything else.
/// Operators are case-insensitive (RFC 7644 §3.4.2.2).
fn parse_op(word: &str) -> Option<Option<CompareOp>> {
    let op = match word.to_ascii_lowercase().as_str() {
        "pr" => return Some(None),
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    };
    Some(Some(op))
}

/// `compValue` other than a string: `false / null / true / number` (RFC 7644 §3.4.2.2), the
/// keywords case-insensitively, numbers in JSON syntax.
fn literal(word: &str) -> Option<Value> {
    if word.eq_ignore_ascii_case("true") {
        return Some(Value::Bool(true));
    }
    if word.eq_ignore_ascii_case("false") {
        return Some(Value::Bool(false));
    }
    if word.eq_ignore_ascii_case("null") {
        return Some(Value::Null);
    }
    // Only hand JSON number-looking words to serde_json, so `true`-like words or objects
    // can't sneak in through it.
    let first = word.chars().next()?;
    if first != '-' && !first.is_ascii_digit() {
        return None;
    }
    serde_json::from_str::<serde_json::Number>(word)
        .ok()
        .map(Value::Number)
}

/// `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA` (RFC 7644
/// §3.4.2.2), plus `$ref`, which RFC 7643 uses as a sub-attribute name.
fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits `[URN ":"] ATTRNAME ["." subAttr]`. A path starting with `urn:` is fully qualified,
/// and its URN runs to the last `:`: URNs contain both `:` and `.` (`...:core:2.0:User`), but an
/// attribute name contains neither.
fn attr_path(input: &str, word: &str, start: usize) -> Result<AttrPath> {
    let bad = |offset: usize, what: &str| Err(error_at(input, start + offset, what));
    let is_urn = word
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let (urn, rest, rest_at) = if is_urn {
        match word.rfind(':') {
            Some(i) if i > 4 => (Some(&word[..i]), &word[i + 1..], i + 1),
            _ => return bad(0, "an attribute path (a schema URN followed by \":name\")"),
        }
    } else {
        (None, word, 0)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(name) {
        return bad(rest_at, "an attribute path");
    }
    if let Some(sub) = sub {
        if !is_attr_name(sub) {
            return bad(rest_at + name.len() + 1, "a sub-attribute name after \".\"");
        }
    }
    Ok(AttrPath {
        urn: urn.map(str::to_string),
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(s: &str) -> AttrPath {
        let (urn, rest) = match s.rfind(':') {
            Some(i) => (Some(s[..i].to_string()), &s[i + 1..]),
            None => (None, s),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, sub)) => (n.to_string(), Some(sub.to_string())),
            None => (rest.to_string(), None),
        };
        AttrPath { urn, name, sub }
    }

    fn cmp(p: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            path: path(p),
            op,
            value,
        }
    }

    fn pr(p: &str) -> Filter {
        Filter::Present(path(p))
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn vp(p: &str, f: Filter) -> Filter {
        Filter::ValuePath {
            path: path(p),
            filter: Box::new(f),
        }
    }

    fn detail(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::InvalidFilter(d)) => d,
            other => panic!("expected InvalidFilter, got {other:?}"),
        }
    }

    fn path_detail(r: Result<PatchPath>) -> String {
        match r {
            Err(Error::InvalidPath(d)) => d,
            other => panic!("expected InvalidPath, got {other:?}"),
        }
    }

    use CompareOp::*;

    // Every example filter of RFC 7644 §3.4.2.2, in the order the RFC lists them.
    #[test]
    fn rfc7644_examples_parse_to_the_expected_trees() {
        let user_name = "urn:ietf:params:scim:schemas:core:2.0:User:userName";
        let cases: Vec<(&str, Filter)> = vec![
            (
                r#"userName eq "bjensen""#,
                cmp("userName", Eq, json!("bjensen")),
            ),
            (
                r#"name.familyName co "O'Malley""#,
                cmp("name.familyName", Co, json!("O'Malley")),
            ),
            (r#"userName sw "J""#, cmp("userName", Sw, json!("J"))),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                cmp(user_name, Sw, json!("J")),
            ),
            ("title pr", pr("title")),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Gt, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Ge, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Lt, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
                cmp("meta.lastModified", Le, json!("2011-05-13T04:42:34Z")),
            ),
            (
                r#"title pr and userType eq "Employee""#,
                and(pr("title"), cmp("userType", Eq, json!("Employee"))),
            ),
            (
                r#"title pr or userType eq "Intern""#,
                or(pr("title"), cmp("userType", Eq, json!("Intern"))),
            ),
            (
                r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
                cmp(
                    "schemas",
                    Eq,
                    json!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                ),
            ),
            (
                r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    cmp("userType", Eq, json!("Employee")),
                    or(
                        cmp("emails", Co, json!("example.com")),
                        cmp("emails.value", Co, json!("example.org")),
                    ),
                ),
            ),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                and(
                    cmp("userType", Ne, json!("Employee")),
                    not(or(
                        cmp("emails", Co, json!("example.com")),
                        cmp("emails.value", Co, json!("example.org")),
                    )),
                ),
            ),
            (
                r#"userType eq "Employee" and (emails.type eq "work")"#,
                and(
                    cmp("userType", Eq, json!("Employee")),
                    cmp("emails.type", Eq, json!("work")),
                ),
            ),
            (
                r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                and(
                    cmp("userType", Eq, json!("Employee")),
                    vp(
                        "emails",
                        and(
                            cmp("type", Eq, json!("work")),
                            cmp("value", Co, json!("@example.com")),
                        ),
                    ),
                ),
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                or(
                    vp(
                        "emails",
                        and(
                            cmp("type", Eq, json!("work")),
                            cmp("value", Co, json!("@example.com")),
                        ),
                    ),
                    vp(
                        "ims",
                        and(
                            cmp("type", Eq, json!("xmpp")),
                            cmp("value", Co, json!("@foo.com")),
                        ),
                    ),
                ),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_filter(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn fully_qualified_paths_split_at_the_last_colon() {
        let f =
            parse_filter("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName pr").unwrap();
        assert_eq!(
            f,
            Filter::Present(AttrPath {
                urn: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                name: "name".into(),
                sub: Some("givenName".into()),
            })
        );
        let f = parse_filter(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
        )
        .unwrap();
        assert_eq!(
            f,
            cmp(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                Eq,
                json!("x")
            )
        );
        // The URN keeps the client's case; resolution is case-insensitive downstream.
        let f = parse_filter("URN:X:Y:attr pr").unwrap();
        assert_eq!(f, pr("URN:X:Y:attr"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_both_associate_left() {
        let f = parse_filter("a pr or b pr and c pr").unwrap();
        assert_eq!(f, or(pr("a"), and(pr("b"), pr("c"))));
        let f = parse_filter("a pr and b pr or c pr").unwrap();
        assert_eq!(f, or(and(pr("a"), pr("b")), pr("c")));
        let f = parse_filter("a pr or b pr or c pr").unwrap();
        assert_eq!(f, or(or(pr("a"), pr("b")), pr("c")));
        let f = parse_filter("a pr and b pr and c pr").unwrap();
        assert_eq!(f, and(and(pr("a"), pr("b")), pr("c")));
        let f = parse_filter("(a pr or b pr) and c pr").unwrap();
        assert_eq!(f, and(or(pr("a"), pr("b")), pr("c")));
        // `not` applies to its parenthesised group only, then `and` takes over.
        let f = parse_filter("not (a pr) and b pr or c pr").unwrap();
        assert_eq!(f, or(and(not(pr("a")), pr("b")), pr("c")));
        let f = parse_filter("a pr and not (b pr or c pr)").unwrap();
        assert_eq!(f, and(pr("a"), not(or(pr("b"), pr("c")))));
    }

    #[test]
    fn keywords_operators_and_literals_are_case_insensitive() {
        let f = parse_filter(r#"userName EQ "John" AND active Eq TRUE Or x Pr"#).unwrap();
        assert_eq!(
            f,
            or(
                and(
                    cmp("userName", Eq, json!("John")),
                    cmp("active", Eq, json!(true))
                ),
                pr("x")
            )
        );
        assert_eq!(
            parse_filter("NOT (a PR)").unwrap(),
            not(pr("a")),
            "not is case-insensitive"
        );
        assert_eq!(
            parse_filter("a eq FALSE").unwrap(),
            cmp("a", Eq, json!(false))
        );
        assert_eq!(
            parse_filter("a ne Null").unwrap(),
            cmp("a", Ne, Value::Null)
        );
        for (op, want) in [
            ("eq", Eq),
            ("NE", Ne),
            ("Co", Co),
            ("sW", Sw),
            ("ew", Ew),
            ("gt", Gt),
            ("GE", Ge),
            ("lt", Lt),
            ("le", Le),
        ] {
            assert_eq!(
                parse_filter(&format!("a {op} 1")).unwrap(),
                cmp("a", want, json!(1))
            );
        }
    }

    #[test]
    fn values_are_json_strings_numbers_and_literals() {
        assert_eq!(
            parse_filter(r#"a eq "x\"y\\z\u00e9\ud83d\ude00\n""#).unwrap(),
            cmp("a", Eq, json!("x\"y\\z\u{e9}\u{1F600}\n"))
        );
        assert_eq!(parse_filter("a gt -12").unwrap(), cmp("a", Gt, json!(-12)));
        assert_eq!(
            parse_filter("a lt 1.5e3").unwrap(),
            cmp("a", Lt, json!(1500.0))
        );
        assert_eq!(parse_filter("a eq 0").unwrap(), cmp("a", Eq, json!(0)));
        assert_eq!(
            parse_filter("a eq \"日本語\"").unwrap(),
            cmp("a", Eq, json!("日本語"))
        );
        // A string "true" stays a string.
        assert_eq!(
            parse_filter(r#"a eq "true""#).unwrap(),
            cmp("a", Eq, json!("true"))
        );
        for bad in [
            "a eq 01",
            "a eq 1.",
            "a eq +1",
            "a eq bjensen",
            "a eq 'x'",
            "a eq 1e999",
            "a eq",
        ] {
            let d = detail(parse_filter(bad));
            assert!(d.starts_with("expected a value"), "{bad}: {d}");
        }
        assert!(detail(parse_filter(r#"a eq "x\q""#)).starts_with("invalid string at position 5"));
        assert!(detail(parse_filter("a eq \"tab\there\"")).starts_with("invalid string"));
    }

    #[test]
    fn whitespace_is_flexible_around_tokens() {
        let want = and(
            vp("emails", cmp("type", Eq, json!("work"))),
            not(pr("title")),
        );
        for input in [
            r#"emails[type eq "work"] and not (title pr)"#,
            "  emails[ type  eq\t\"work\" ]\nand not(title pr)  ",
            r#"emails[type eq "work"] and not ( title pr )"#,
        ] {
            assert_eq!(parse_filter(input).unwrap(), want, "{input:?}");
        }
        assert_eq!(
            parse_filter("((a pr))").unwrap(),
            pr("a"),
            "grouping adds no node"
        );
    }

    #[test]
    fn value_path_with_trailing_sub_attribute_becomes_a_conjunction() {
        // Microsoft Entra sends this form; it is not in the RFC grammar.
        assert_eq!(
            parse_filter(r#"emails[type eq "work"].value eq "x@y""#).unwrap(),
            vp(
                "emails",
                and(
                    cmp("type", Eq, json!("work")),
                    cmp("value", Eq, json!("x@y"))
                )
            )
        );
        assert_eq!(
            parse_filter(r#"addresses[type eq "work"].formatted pr and title pr"#).unwrap(),
            and(
                vp(
                    "addresses",
                    and(cmp("type", Eq, json!("work")), pr("formatted"))
                ),
                pr("title")
            )
        );
        // Without a comparison the tail is incomplete.
        let d = detail(parse_filter(r#"emails[type eq "work"].value"#));
        assert!(
            d.starts_with("expected a comparison operator at position 28"),
            "{d}"
        );
    }

    #[test]
    fn value_paths_do_not_nest_and_inner_paths_are_plain_names() {
        let d = detail(parse_filter(r#"emails[type[value eq "x"] pr]"#));
        assert!(d.contains("value paths cannot be nested"), "{d}");
        let d = detail(parse_filter(r#"emails[type.x eq "w"]"#));
        assert!(d.starts_with("expected a sub-attribute name inside"), "{d}");
        let d = detail(parse_filter(r#"emails.value[type eq "w"]"#));
        assert!(
            d.starts_with("expected an attribute without a sub-attribute"),
            "{d}"
        );
        assert_eq!(
            parse_filter(r#"emails[not (type eq "work") or (primary eq true)]"#).unwrap(),
            vp(
                "emails",
                or(
                    not(cmp("type", Eq, json!("work"))),
                    cmp("primary", Eq, json!(true))
                )
            )
        );
    }

    #[test]
    fn errors_name_what_was_expected_and_where() {
        assert_eq!(
            detail(parse_filter(r#"userName xx "a""#)),
            r#"expected a comparison operator at position 9 (near "xx \"a\"")"#
        );
        assert_eq!(
            detail(parse_filter("")),
            "expected a filter expression at position 0 (at the end)"
        );
        assert_eq!(
            detail(parse_filter("   ")),
            "expected a filter expression at position 3 (at the end)"
        );
        assert_eq!(
            detail(parse_filter("title pr and")),
            r#"expected an attribute path, "not" or "(" at position 12 (at the end)"#
        );
        assert_eq!(
            detail(parse_filter("title pr userName pr")),
            r#"expected "and", "or" or the end of the filter at position 9 (near "userName pr")"#
        );
        assert_eq!(
            detail(parse_filter("(title pr")),
            r#"expected "and", "or" or ")" at position 9 (at the end)"#
        );
        assert_eq!(
            detail(parse_filter("title pr)")),
            r#"expected "and", "or" or the end of the filter at position 8 (near ")")"#
        );
        assert_eq!(
            detail(parse_filter(r#"emails[type eq "w""#)),
            r#"expected "and", "or" or "]" at position 18 (at the end)"#
        );
        assert_eq!(
            detail(parse_filter("not title pr")),
            r#"expected "(" after "not" at position 4 (near "title pr")"#
        );
        assert_eq!(
            detail(parse_filter(r#"userName eq "abc"#)),
            "unterminated string starting at position 12"
        );
        // Positions count characters, not bytes.
        assert_eq!(
            detail(parse_filter(r#"a eq "é" bad"#)),
            r#"expected "and", "or" or the end of the filter at position 9 (near "bad")"#
        );
        assert_eq!(
            detail(parse_filter("1abc pr")),
            r#"expected an attribute path at position 0 (near "1abc pr")"#
        );
        assert_eq!(
            detail(parse_filter("name.given.x pr")),
            r#"expected a sub-attribute name after "." at position 5 (near "given.x pr")"#
        );
        assert_eq!(
            detail(parse_filter("urn:x pr")),
            r#"expected an attribute path (a schema URN followed by ":name") at position 0 (near "urn:x pr")"#
        );
        assert!(detail(parse_filter("a:b pr")).starts_with("expected an attribute path"));
        let long = "é".repeat(30);
        let d = detail(parse_filter(&format!("a pr {long}")));
        assert!(
            d.ends_with(&format!("(near \"{}\")", "é".repeat(20))),
            "{d}"
        );
    }

    #[test]
    fn dollar_ref_is_an_attribute_name() {
        assert_eq!(
            parse_filter(r#"members[$ref eq "x"]"#).unwrap(),
            vp("members", cmp("$ref", Eq, json!("x")))
        );
        assert_eq!(parse_filter("groups.$ref pr").unwrap(), pr("groups.$ref"));
    }

    #[test]
    fn nesting_is_capped_without_overflowing_the_stack() {
        let ok = format!("{}a pr{}", "(".repeat(32), ")".repeat(32));
        assert_eq!(parse_filter(&ok).unwrap(), pr("a"));
        let deep = format!("{}a pr{}", "(".repeat(33), ")".repeat(33));
        assert!(detail(parse_filter(&deep)).starts_with("filter nests deeper than 32 levels"));
        // Far beyond the cap: fails fast instead of recursing once per parenthesis.
        let huge = format!("{}a pr{}", "(".repeat(4000), ")".repeat(4000));
        assert!(detail(parse_filter(&huge)).contains("nests deeper"));
        let nots = format!("{}a pr{}", "not (".repeat(1300), ")".repeat(1300));
        assert!(detail(parse_filter(&nots)).contains("nests deeper"));
        // 10,000 parentheses trip the length cap; 8,000 unclosed ones the depth cap.
        assert!(detail(parse_filter(&"(".repeat(10_000))).contains("longer than"));
        assert!(detail(parse_filter(&"(".repeat(8000))).contains("nests deeper"));
        // A flat chain is built in a loop, so only the length cap bounds it: IdPs and tools
        // send long `id eq … or id eq …` lists.
        let chain = |n: usize| vec!["a pr"; n].join(" or ");
        assert!(parse_filter(&chain(500)).is_ok());
        let mixed = |n: usize| format!("{}a pr{}", "(a pr and ".repeat(n), ")".repeat(n));
        assert!(parse_filter(&mixed(32)).is_ok());
        assert!(detail(parse_filter(&mixed(33))).contains("nests deeper"));
    }

    #[test]
    fn overlong_input_is_rejected() {
        let s = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert_eq!(detail(parse_filter(&s)), "filter is longer than 8192 bytes");
        assert!(matches!(
            parse_patch_path(&"a".repeat(MAX_FILTER_LEN + 1)),
            Err(Error::InvalidPath(_))
        ));
    }

    #[test]
    fn patch_paths_from_rfc7644_and_real_clients() {
        let p = parse_patch_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#)
            .unwrap();
        assert_eq!(p.attr, path("members"));
        assert_eq!(
            p.filter,
            Some(cmp(
                "value",
                Eq,
                json!("2819c223-7f76-453a-919d-413861904646")
            ))
        );
        assert_eq!(p.sub_after_filter, None);

        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, path("emails"));
        assert_eq!(p.filter, Some(cmp("type", Eq, json!("work"))));
        assert_eq!(p.sub_after_filter.as_deref(), Some("value"));

        let p = parse_patch_path(r#"addresses[type eq "work"].formatted"#).unwrap();
        assert_eq!(p.attr, path("addresses"));
        assert_eq!(p.sub_after_filter.as_deref(), Some("formatted"));

        let p = parse_patch_path(r#"manager[value eq "abc"]"#).unwrap();
        assert_eq!(p.filter, Some(cmp("value", Eq, json!("abc"))));

        for (input, want) in [
            ("name.familyName", path("name.familyName")),
            ("members", path("members")),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
                path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"),
            ),
        ] {
            let p = parse_patch_path(input).unwrap();
            assert_eq!(
                p,
                PatchPath {
                    attr: want,
                    filter: None,
                    sub_after_filter: None
                },
                "{input}"
            );
        }
    }

    #[test]
    fn bad_patch_paths_are_invalid_path_and_bad_filters_invalid_filter() {
        for bad in [
            "",
            "  ",
            "name givenName",
            "name.",
            ".name",
            "1name",
            "a.b.c",
            "emails]",
            "[type eq \"x\"]",
            "emails[type eq \"work\"] .value",
            "emails[type eq \"work\"].value.x",
            "emails[type eq \"work\"]x",
            "name.familyName[value eq \"x\"]",
            "urn:x",
            "emails(",
            "name\"",
            "name\"x\"",
        ] {
            path_detail(parse_patch_path(bad));
        }
        for bad in [
            "emails[",
            "emails[]",
            "emails[type eq]",
            "emails[type eq \"work\"",
            "emails[type eq \"work",
            "emails[type[value pr]]",
        ] {
            detail(parse_patch_path(bad));
        }
        assert_eq!(
            path_detail(parse_patch_path("name.")),
            r#"expected a sub-attribute name after "." at position 5 (at the end)"#
        );
    }

    use crate::rng::Rng;

    #[test]
    fn mutated_inputs_never_panic() {
        let seeds = [
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "J\u00e9r\u00f4me""#,
            r#"emails[type eq "work"].value eq "x@y" and meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"members[value eq "2819c223"].display"#,
            "a eq -1.5e3 or b eq true and c eq null",
        ];
        let pieces = [
            "(", ")", "[", "]", "\"", "\\", " ", ".", ":", "$", "é", "😀", "not", "and", "or",
            "pr", "eq", "\\u", "\\ud83d", "-", "1e", "urn:", "\t", "\u{0}",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut parsed = 0;
        for i in 0..4000 {
            let mut s: Vec<char> = seeds[i % seeds.len()].chars().collect();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(s.len() + 1);
                match rng.below(3) {
                    0 if at < s.len() => {
                        s.remove(at);
                    }
                    1 => {
                        let piece = pieces[rng.below(pieces.len())];
                        for (k, c) in piece.chars().enumerate() {
                            s.insert(at + k, c);
                        }
                    }
                    _ => {
                        let end = (at + rng.below(12)).min(s.len());
                        s.drain(at..end);
                    }
                }
            }
            let input: String = s.into_iter().collect();
            if parse_filter(&input).is_ok() {
                parsed += 1;
            }
            let _ = parse_patch_path(&input);
        }
        // Some mutations keep the filter valid, most don't: both paths got exercised.
        assert!(parsed > 0 && parsed < 4000, "{parsed}");
    }
}
