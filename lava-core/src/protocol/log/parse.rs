//! Reads one log line: a purpose-built parser for YAML flow collections on one line, with
//! serde-saphyr behind it for every other shape of YAML.
//!
//! The fast path covers what any PyYAML dumper writes in flow style: `{…}` and `[…]`,
//! double- and single-quoted scalars with every YAML escape, plain scalars, explicit keys
//! (`? k : v`), the non-specific tag `!` and the tags `!!str !!int !!float !!bool !!null`,
//! `!!python/object/apply:decimal.Decimal [..]` (test measurements), `!!python/unicode`,
//! `!!python/str`, `!!python/tuple` and `!!timestamp` (kept as text). Scalars resolve as
//! PyYAML's YAML 1.1 resolver does (`yes` is a boolean, `0o17`-style octal is not, `010`
//! is 8), except sexagesimal numbers, which stay text.
//!
//! Anything else (block style, anchors, comments, other tags, line breaks in the line)
//! is handed to serde-saphyr. A line that is wrong *as a flow collection* (unbalanced
//! brackets, a bad escape, junk after the value) is an error straight away.

use super::value::{key_text, Mapping, Value};

/// Collections nested deeper than this are refused (no PyYAML dump gets close).
pub const MAX_DEPTH: usize = 64;

/// Why a line could not be read as YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Character offset in the line (0-based).
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

enum Failure {
    /// Not the flow form: let the full YAML parser try.
    Unsupported,
    /// Definitely broken.
    Malformed(usize, String),
}

/// Parses a log line into a value.
pub(crate) fn parse_line(line: &str) -> Result<Value, SyntaxError> {
    let mut parser = Parser {
        text: line,
        pos: 0,
        depth: 0,
    };
    match parser.document() {
        Ok(value) => Ok(value),
        Err(Failure::Malformed(at, reason)) => Err(SyntaxError {
            column: line.get(..at).map_or(at, |s| s.chars().count()),
            reason,
        }),
        Err(Failure::Unsupported) => parse_full_yaml(line),
    }
}

fn parse_full_yaml(line: &str) -> Result<Value, SyntaxError> {
    let mut options = serde_saphyr::options::Options::default();
    options.legacy_octal_numbers = true;
    serde_saphyr::from_str_with_options::<Value>(line, options).map_err(|e| SyntaxError {
        column: 0,
        reason: first_line(&e.to_string()),
    })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("invalid YAML").to_owned()
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

type Parsed<T> = Result<T, Failure>;

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn malformed<T>(&self, reason: impl Into<String>) -> Parsed<T> {
        Err(Failure::Malformed(self.pos, reason.into()))
    }

    fn skip_blanks(&mut self) -> Parsed<()> {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' => self.pos += 1,
                // Comments and line breaks belong to the full parser.
                '#' | '\n' | '\r' => return Err(Failure::Unsupported),
                _ => break,
            }
        }
        Ok(())
    }

    fn document(&mut self) -> Parsed<Value> {
        // Only a flow collection takes the fast path; bare scalars, block style and
        // directives go to the full parser.
        let trimmed = self.text.trim_start_matches([' ', '\t']);
        if !trimmed.starts_with(['{', '[']) {
            return Err(Failure::Unsupported);
        }
        self.skip_blanks()?;
        let value = self.node()?;
        let tail = self.rest();
        if tail.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
            return Ok(value);
        }
        if tail
            .trim_start_matches([' ', '\t'])
            .starts_with(['#', '\n', '\r'])
        {
            return Err(Failure::Unsupported);
        }
        self.malformed("unexpected text after the value")
    }

    /// A node, possibly tagged, at the current position (blanks already skipped).
    fn node(&mut self) -> Parsed<Value> {
        if self.peek() == Some('!') {
            let tag = self.tag()?;
            self.skip_blanks()?;
            return self.tagged(tag);
        }
        self.untagged()
    }

    fn untagged(&mut self) -> Parsed<Value> {
        self.untagged_as(true)
    }

    /// An untagged node; with `resolve` false, scalars stay text (for explicit tags).
    fn untagged_as(&mut self, resolve: bool) -> Parsed<Value> {
        match self.peek() {
            Some('{') => self.mapping(),
            Some('[') => self.sequence(),
            Some('"') => self.double_quoted().map(Value::Str),
            Some('\'') => self.single_quoted().map(Value::Str),
            Some('&' | '*' | '|' | '>' | '%' | '@' | '`') => Err(Failure::Unsupported),
            Some('-' | '?' | ':')
                if matches!(self.rest()[1..].chars().next(), None | Some(' ' | '\t')) =>
            {
                Err(Failure::Unsupported)
            }
            Some(_) if resolve => Ok(resolve_plain(&self.plain()?)),
            Some(_) => Ok(Value::Str(self.plain()?)),
            None => self.malformed("missing value"),
        }
    }

    fn tag(&mut self) -> Parsed<String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || matches!(c, ',' | '[' | ']' | '{' | '}') {
                break;
            }
            self.pos += c.len_utf8();
        }
        Ok(self.text[start..self.pos].to_owned())
    }

    fn tagged(&mut self, tag: String) -> Parsed<Value> {
        let start = self.pos;
        match tag.as_str() {
            // The non-specific tag: resolve as if plain (that is what PyYAML does).
            "!" => match self.untagged_as(false)? {
                Value::Str(text) => Ok(resolve_plain(&text)),
                other => Ok(other),
            },
            "!!str" | "!!python/str" | "!!python/unicode" | "!!timestamp" => {
                match self.untagged_as(false)? {
                    Value::Str(s) => Ok(Value::Str(s)),
                    _ => Err(Failure::Malformed(start, format!("{tag} on a collection"))),
                }
            }
            "!!int" | "!!float" | "!!bool" | "!!null" => {
                let Value::Str(text) = self.untagged_as(false)? else {
                    return Err(Failure::Malformed(start, format!("{tag} on a collection")));
                };
                construct(&tag, &text).ok_or_else(|| {
                    Failure::Malformed(start, format!("{text:?} is not a valid {tag}"))
                })
            }
            "!!python/tuple" => match self.untagged()? {
                seq @ Value::Seq(_) => Ok(seq),
                _ => Err(Failure::Malformed(start, format!("{tag} needs a sequence"))),
            },
            "!!python/object/apply:decimal.Decimal" => match self.untagged()? {
                Value::Seq(args) => match args.as_slice() {
                    [Value::Str(text)] if is_decimal(text) => Ok(Value::Decimal(text.clone())),
                    _ => Err(Failure::Malformed(
                        start,
                        "decimal.Decimal needs one argument, a decimal number as text".to_owned(),
                    )),
                },
                _ => Err(Failure::Malformed(start, format!("{tag} needs a sequence"))),
            },
            _ => Err(Failure::Unsupported),
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.malformed(format!("collections nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn mapping(&mut self) -> Parsed<Value> {
        self.enter()?;
        self.bump(); // '{'
        let mut map = Mapping::new();
        loop {
            self.skip_blanks()?;
            if self.peek() == Some('}') {
                self.bump();
                break;
            }
            let explicit = self.rest().starts_with("? ") || self.rest().starts_with("?\t");
            if explicit {
                self.bump();
                self.skip_blanks()?;
            }
            let key_at = self.pos;
            let key = match self.node()? {
                Value::Str(key) => key,
                other => key_text(&other).ok_or_else(|| {
                    Failure::Malformed(
                        key_at,
                        format!("a mapping key is {}, not a scalar", other.kind()),
                    )
                })?,
            };
            self.skip_blanks()?;
            let value = if self.peek() == Some(':') {
                self.bump();
                self.skip_blanks()?;
                if matches!(self.peek(), Some(',' | '}')) {
                    Value::Null
                } else {
                    self.node()?
                }
            } else if explicit || matches!(self.peek(), Some(',' | '}')) {
                Value::Null
            } else {
                return self.malformed("expected ':' after a mapping key");
            };
            // Duplicate keys: the last one wins, as with PyYAML.
            map.insert(key, value);
            self.skip_blanks()?;
            match self.bump() {
                Some(',') => {}
                Some('}') => break,
                Some(c) => {
                    self.pos -= c.len_utf8();
                    return self
                        .malformed(format!("expected ',' or '}}' in a mapping, found {c:?}"));
                }
                None => return self.malformed("unterminated mapping"),
            }
        }
        self.depth -= 1;
        Ok(Value::Map(map))
    }

    fn sequence(&mut self) -> Parsed<Value> {
        self.enter()?;
        self.bump(); // '['
        let mut items = Vec::new();
        loop {
            self.skip_blanks()?;
            if self.peek() == Some(']') {
                self.bump();
                break;
            }
            if self.peek() == Some('?') {
                // Single-pair mappings inside sequences: rare, leave them to the full parser.
                return Err(Failure::Unsupported);
            }
            let item = self.node()?;
            self.skip_blanks()?;
            if self.peek() == Some(':') {
                return Err(Failure::Unsupported);
            }
            items.push(item);
            match self.bump() {
                Some(',') => {}
                Some(']') => break,
                Some(c) => {
                    self.pos -= c.len_utf8();
                    return self
                        .malformed(format!("expected ',' or ']' in a sequence, found {c:?}"));
                }
                None => return self.malformed("unterminated sequence"),
            }
        }
        self.depth -= 1;
        Ok(Value::Seq(items))
    }

    fn plain(&mut self) -> Parsed<String> {
        let start = self.pos;
        if let Some(c @ (',' | ']' | '}' | '#')) = self.peek() {
            return self.malformed(format!("unexpected {c:?}"));
        }
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else { break };
            match c {
                ',' | '[' | ']' | '{' | '}' => break,
                '\n' | '\r' => return Err(Failure::Unsupported),
                ':' => {
                    let next = rest[1..].chars().next();
                    if matches!(next, None | Some(' ' | '\t' | ',' | '[' | ']' | '{' | '}')) {
                        break;
                    }
                }
                '#' if self.text[..self.pos].ends_with([' ', '\t']) => {
                    return Err(Failure::Unsupported)
                }
                _ => {}
            }
            self.pos += c.len_utf8();
        }
        Ok(self.text[start..self.pos]
            .trim_end_matches([' ', '\t'])
            .to_owned())
    }

    fn single_quoted(&mut self) -> Parsed<String> {
        self.bump(); // '\''
        let mut out = String::new();
        loop {
            match self.bump() {
                Some('\'') => {
                    if self.peek() == Some('\'') {
                        self.bump();
                        out.push('\'');
                    } else {
                        return Ok(out);
                    }
                }
                Some('\n' | '\r') => return Err(Failure::Unsupported),
                Some(c) => out.push(c),
                None => return self.malformed("unterminated single-quoted scalar"),
            }
        }
    }

    fn double_quoted(&mut self) -> Parsed<String> {
        self.bump(); // '"'
        let mut out = String::new();
        loop {
            // Copy runs of ordinary characters in one go: most of a line is plain text.
            let rest = self.rest();
            let run = rest.find(['"', '\\', '\n', '\r']).unwrap_or(rest.len());
            out.push_str(&rest[..run]);
            self.pos += run;
            let escape_at = self.pos;
            match self.bump() {
                Some('"') => return Ok(out),
                Some('\\') => {}
                Some(_) => return Err(Failure::Unsupported), // folded line breaks
                None => return self.malformed("unterminated double-quoted scalar"),
            }
            let c = match self.bump() {
                Some('0') => '\0',
                Some('a') => '\u{7}',
                Some('b') => '\u{8}',
                Some('t' | '\t') => '\t',
                Some('n') => '\n',
                Some('v') => '\u{b}',
                Some('f') => '\u{c}',
                Some('r') => '\r',
                Some('e') => '\u{1b}',
                Some(' ') => ' ',
                Some('"') => '"',
                Some('/') => '/',
                Some('\\') => '\\',
                Some('N') => '\u{85}',
                Some('_') => '\u{a0}',
                Some('L') => '\u{2028}',
                Some('P') => '\u{2029}',
                Some('x') => self.hex_escape(escape_at, 2)?,
                Some('u') => self.hex_escape(escape_at, 4)?,
                Some('U') => self.hex_escape(escape_at, 8)?,
                Some('\n' | '\r') => return Err(Failure::Unsupported),
                Some(other) => {
                    return Err(Failure::Malformed(
                        escape_at,
                        format!("unknown escape \\{other}"),
                    ))
                }
                None => return self.malformed("unterminated double-quoted scalar"),
            };
            out.push(c);
        }
    }

    fn hex_escape(&mut self, escape_at: usize, len: usize) -> Parsed<char> {
        let digits = self.rest().get(..len).unwrap_or("");
        if digits.len() != len || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::Malformed(
                escape_at,
                format!("escape needs {len} hexadecimal digits"),
            ));
        }
        let code = u32::from_str_radix(digits, 16).unwrap_or(u32::MAX);
        self.pos += len;
        char::from_u32(code).ok_or_else(|| {
            Failure::Malformed(
                escape_at,
                format!("escape U+{code:04X} is not a Unicode scalar value"),
            )
        })
    }
}

/// Resolves an untagged plain scalar (or a `!`-tagged one) as PyYAML's YAML 1.1 resolver.
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = yaml11_bool(text) {
        return Value::Bool(b);
    }
    if let Some(value) = yaml11_int(text) {
        return value;
    }
    if let Some(f) = yaml11_float(text) {
        return Value::Float(f);
    }
    Value::Str(text.to_owned())
}

/// What the explicit tags `!!int`, `!!float`, `!!bool` and `!!null` make of their text.
fn construct(tag: &str, text: &str) -> Option<Value> {
    match tag {
        "!!null" => Some(Value::Null),
        "!!bool" => yaml11_bool(text).map(Value::Bool),
        "!!int" => yaml11_int(text),
        "!!float" => {
            let f = yaml11_float(text).or_else(|| text.replace('_', "").parse::<f64>().ok())?;
            Some(Value::Float(f))
        }
        _ => None,
    }
}

fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

fn yaml11_int(text: &str) -> Option<Value> {
    let (negative, body) = split_sign(text);
    let (radix, digits) = if let Some(d) = body.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = body.strip_prefix("0x") {
        (16, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else if body.starts_with(|c: char| c.is_ascii_digit()) {
        (10, body)
    } else {
        return None;
    };
    let valid = |b: u8| b == b'_' || (b as char).is_digit(radix);
    if digits.is_empty() || !digits.bytes().all(valid) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        // `0_` matches PyYAML's octal pattern and constructs as 0.
        return (radix == 8).then_some(Value::Int(0));
    }
    let signed = if negative { format!("-{clean}") } else { clean };
    match i64::from_str_radix(&signed, radix) {
        Ok(n) => Some(Value::Int(n)),
        // Beyond 64 bits: a float, like JSON parsers do with big numbers.
        Err(_) if radix == 10 => signed.parse::<f64>().ok().map(Value::Float),
        Err(_) => None,
    }
}

/// YAML 1.1 floats as PyYAML resolves them: a `.` is required (`1e5` is a string), and an
/// exponent needs its sign.
fn yaml11_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let (negative, body) = split_sign(text);
    let (number, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = number.split_once('.')?;
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let whole_ok = if whole.is_empty() {
        // `.5` is a float, but not `-.5` or `+.5` (PyYAML's pattern has no sign there).
        text.starts_with('.') && !fraction.is_empty()
    } else {
        whole.as_bytes()[0].is_ascii_digit() && digits_ok(whole)
    };
    if !whole_ok || !digits_ok(fraction) {
        return None;
    }
    if let Some(exp) = exponent {
        let (_, exp_digits) = split_sign(exp);
        if !exp.starts_with(['+', '-']) || exp_digits.is_empty() {
            return None;
        }
        if !exp_digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let value: f64 = clean
        .parse()
        .ok()
        .or_else(|| format!("{clean}0").parse().ok())?;
    Some(if negative { -value } else { value })
}

fn is_decimal(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && (t.parse::<f64>().is_ok() || matches!(t, "NaN" | "Infinity" | "-Infinity"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn reads_what_the_c_dumper_writes() {
        let line = r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "results", "msg": {"case": "job", "definition": "lava", "extra": {"z": ! "1"}, "l": [! "1", "a"], "measurement": ! "12.5", "nn": ! "null", "ok": ! "true", "result": "pass"}}"#;
        let value = parse_line(line).unwrap();
        let msg = value.get("msg").unwrap();
        assert_eq!(msg.get("extra"), Some(&map(&[("z", Value::Int(1))])));
        assert_eq!(
            msg.get("l"),
            Some(&Value::Seq(vec![Value::Int(1), Value::from("a")]))
        );
        assert_eq!(msg.get("measurement"), Some(&Value::Float(12.5)));
        assert_eq!(msg.get("nn"), Some(&Value::Null));
        assert_eq!(msg.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(value.get("lvl"), Some(&Value::from("results")));
    }

    #[test]
    fn every_escape() {
        let line = r#"{"m": "\0\a\b\t\	\n\v\f\r\e\ \"\/\\\N\_\L\P\xE9\u2713\U0001F600"}"#;
        let value = parse_line(line).unwrap();
        assert_eq!(
            value.get("m").and_then(Value::as_str),
            Some("\0\u{7}\u{8}\t\t\n\u{b}\u{c}\r\u{1b} \"/\\\u{85}\u{a0}\u{2028}\u{2029}é✓😀")
        );
    }

    #[test]
    fn bad_escapes_name_the_column() {
        let err = parse_line(r#"{"m": "ab\q"}"#).unwrap_err();
        assert_eq!(err.column, 9);
        assert_eq!(err.reason, "unknown escape \\q");
        let err = parse_line(r#"{"m": "\uD83D"}"#).unwrap_err();
        assert!(err.reason.contains("not a Unicode scalar value"), "{err:?}");
        let err = parse_line(r#"{"m": "\x4"}"#).unwrap_err();
        assert!(err.reason.contains("2 hexadecimal digits"), "{err:?}");
    }

    #[test]
    fn structural_errors() {
        for (line, reason) in [
            (r#"{"a": "b""#, "unterminated mapping"),
            (r#"{"a": "b"} x"#, "unexpected text after the value"),
            (r#"{"a" "b"}"#, "expected ':' after a mapping key"),
            (
                r#"["a" "b"]"#,
                "expected ',' or ']' in a sequence, found '\"'",
            ),
            (r#"{"a": "b}"#, "unterminated double-quoted scalar"),
            (r#"{[a]: b}"#, "a mapping key is a sequence, not a scalar"),
        ] {
            assert_eq!(
                parse_line(line).map_err(|e| e.reason),
                Err(reason.to_owned()),
                "{line}"
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_line(&deep).unwrap_err();
        assert_eq!(err.column, MAX_DEPTH);
    }

    #[test]
    fn plain_and_explicit_forms() {
        let value = parse_line("{dt: 2020-01-01T00:00:00, lvl: info, n: 010, h: 0x1F, f: 1.5, e: 1e5, y: yes, url: http://x:80/a, '': 'it''s', ? k : v, bare}").unwrap();
        assert_eq!(value.get("lvl"), Some(&Value::from("info")));
        assert_eq!(value.get("n"), Some(&Value::Int(8)));
        assert_eq!(value.get("h"), Some(&Value::Int(31)));
        assert_eq!(value.get("f"), Some(&Value::Float(1.5)));
        assert_eq!(value.get("e"), Some(&Value::from("1e5")));
        assert_eq!(value.get("y"), Some(&Value::Bool(true)));
        assert_eq!(value.get("url"), Some(&Value::from("http://x:80/a")));
        assert_eq!(value.get(""), Some(&Value::from("it's")));
        assert_eq!(value.get("k"), Some(&Value::from("v")));
        assert_eq!(value.get("bare"), Some(&Value::Null));
        assert_eq!(value.get("dt"), Some(&Value::from("2020-01-01T00:00:00")));
    }

    #[test]
    fn explicit_tags() {
        let value = parse_line(r#"{"a": !!int "12", "b": !!float "1e3", "c": !!str "12", "d": !!python/object/apply:decimal.Decimal ["1.50"], "e": !!bool "off", "f": !!python/tuple [! "1"]}"#).unwrap();
        assert_eq!(value.get("a"), Some(&Value::Int(12)));
        assert_eq!(value.get("b"), Some(&Value::Float(1000.0)));
        assert_eq!(value.get("c"), Some(&Value::from("12")));
        assert_eq!(value.get("d"), Some(&Value::Decimal("1.50".to_owned())));
        assert_eq!(value.get("e"), Some(&Value::Bool(false)));
        assert_eq!(value.get("f"), Some(&Value::Seq(vec![Value::Int(1)])));
        let err = parse_line(r#"{"a": !!int "twelve"}"#).unwrap_err();
        assert_eq!(err.reason, "\"twelve\" is not a valid !!int");
    }

    #[test]
    fn yaml11_resolution() {
        assert_eq!(resolve_plain("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(resolve_plain(".5"), Value::Float(0.5));
        assert_eq!(resolve_plain("-.5"), Value::from("-.5"));
        assert_eq!(resolve_plain("1.0e+20"), Value::Float(1e20));
        assert_eq!(resolve_plain("1.0e20"), Value::from("1.0e20"));
        assert_eq!(resolve_plain("1_000"), Value::Int(1000));
        assert_eq!(resolve_plain("0b101"), Value::Int(5));
        assert_eq!(resolve_plain("-0"), Value::Int(0));
        assert_eq!(resolve_plain("09"), Value::from("09"));
        assert_eq!(resolve_plain("0_"), Value::Int(0));
        assert_eq!(resolve_plain("0x_"), Value::from("0x_"));
        assert_eq!(resolve_plain("1."), Value::Float(1.0));
        assert_eq!(resolve_plain("100000000000000000000"), Value::Float(1e20));
        assert_eq!(resolve_plain("Off"), Value::Bool(false));
        assert_eq!(resolve_plain("~"), Value::Null);
    }

    #[test]
    fn other_shapes_go_to_the_full_parser() {
        let value = parse_line("dt: x\nlvl: info\nmsg: hello\n").unwrap();
        assert_eq!(value.get("msg"), Some(&Value::from("hello")));
        let value = parse_line("{a: &x 1, b: *x}").unwrap();
        assert_eq!(value.get("b"), Some(&Value::Int(1)));
    }
}
