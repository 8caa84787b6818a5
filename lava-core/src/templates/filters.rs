//! The filters LAVA's environment registers, and Jinja2 builtins whose results differ from
//! minijinja's where Python's `str()` shows through (`string`, `join`, `indent`).

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use super::python;

/// Architectures whose QEMU machine has an IDE controller (LAVA's `X86_ARCHS`).
const X86_ARCHS: [&str; 3] = ["amd64", "x86_64", "i386"];

/// `shlex_quote`: Python's `shlex.quote`. Falsy values give `''` (Python tests `if not s`
/// first); other non-strings are a type error, as in Python.
pub(crate) fn shlex_quote(value: &Value) -> Result<String, Error> {
    if !value.is_true() {
        return Ok("''".to_owned());
    }
    let Some(text) = value.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "shlex_quote expects a string, got {}",
                python::to_str(value)
            ),
        ));
    };
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if text.chars().all(safe) {
        return Ok(text.to_owned());
    }
    Ok(format!("'{}'", text.replace('\'', "'\"'\"'")))
}

/// `qemu_guest_fs_interface(arch, guestfs_interface)`: the interface the admin or job chose,
/// else `ide` on x86 (the only PC machines with an IDE controller), else `virtio`.
pub(crate) fn qemu_guest_fs_interface(arch: &Value, guestfs_interface: Option<Value>) -> Value {
    match guestfs_interface {
        Some(chosen) if chosen.is_true() => chosen,
        _ => {
            let x86 = arch.as_str().is_some_and(|arch| X86_ARCHS.contains(&arch));
            Value::from(if x86 { "ide" } else { "virtio" })
        }
    }
}

/// `string`: Python's `str(value)`; undefined gives an empty string.
pub(crate) fn string(value: &Value) -> String {
    python::to_str(value)
}

/// `join(d='', attribute=None)`: Python's `str(d).join(map(str, value))`.
pub(crate) fn join(
    state: &State,
    value: &Value,
    separator: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let separator = match separator {
        Some(separator) => Some(separator),
        None => kwargs.get::<Option<Value>>("d")?,
    };
    let attribute: Option<Value> = kwargs.get("attribute")?;
    kwargs.assert_all_used()?;
    let separator = separator.map(|s| python::to_str(&s)).unwrap_or_default();
    if value.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "join: 'NoneType' object is not iterable",
        ));
    }
    let mut out = String::new();
    for (i, item) in value.try_iter()?.enumerate() {
        if i > 0 {
            out.push_str(&separator);
        }
        let item = match &attribute {
            Some(attribute) => lookup_attribute(&item, attribute)?,
            None => item,
        };
        python::write_str(&mut out, &item);
        state.consume_fuel(1)?;
    }
    Ok(out)
}

/// Jinja2's attribute lookup for `join(attribute=…)`: dotted paths, integer parts index.
fn lookup_attribute(item: &Value, attribute: &Value) -> Result<Value, Error> {
    if attribute.is_integer() {
        return item.get_item(attribute);
    }
    let mut current = item.clone();
    for part in python::to_str(attribute).split('.') {
        current = match part.parse::<i64>() {
            Ok(index) => current.get_item(&Value::from(index))?,
            Err(_) => current.get_attr(part)?,
        };
    }
    Ok(current)
}

/// `indent(width=4, first=False, blank=False)` as Jinja2 3.x writes it: a newline is
/// appended before splitting, so a trailing newline survives, and lines are split the way
/// Python's `str.splitlines` does. `width` may be a string used as the indentation.
pub(crate) fn indent(
    value: &Value,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let width = match width {
        Some(width) => Some(width),
        None => kwargs.get::<Option<Value>>("width")?,
    };
    let first = match first {
        Some(first) => first,
        None => kwargs.get::<Option<bool>>("first")?.unwrap_or(false),
    };
    let blank = match blank {
        Some(blank) => blank,
        None => kwargs.get::<Option<bool>>("blank")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let indention = match width {
        None => "    ".to_owned(),
        Some(width) => match width.as_str() {
            Some(text) => text.to_owned(),
            None => {
                let count = width.as_i64().ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "indent: width must be a number",
                    )
                })?;
                " ".repeat(usize::try_from(count).unwrap_or(0).min(4096))
            }
        },
    };
    let Some(text) = value.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "indent: can only indent a string, got {}",
                describe_kind(value)
            ),
        ));
    };
    let mut text = text.to_owned();
    text.push('\n');
    let lines = python_splitlines(&text);
    let mut out = String::with_capacity(text.len() + indention.len() * lines.len());
    if blank {
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
                out.push_str(&indention);
            }
            out.push_str(line);
        }
    } else {
        let mut lines = lines.iter();
        out.push_str(lines.next().copied().unwrap_or_default());
        for line in lines {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&indention);
            }
            out.push_str(line);
        }
    }
    if first {
        out.insert_str(0, &indention);
    }
    Ok(out)
}

/// `int(default=0, base=10)` as Jinja2 computes it: Python's `int(value)` (strings in
/// `base`), else `int(float(value))`, else the default; an undefined value is an error.
pub(crate) fn int(
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = match default {
        Some(default) => default,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base = match base {
        Some(base) => base,
        None => kwargs.get::<Option<u32>>("base")?.unwrap_or(10),
    };
    kwargs.assert_all_used()?;
    if !(2..=36).contains(&base) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "int: base must be between 2 and 36",
        ));
    }
    match value.kind() {
        ValueKind::Undefined => Err(undefined_error()),
        ValueKind::Bool => Ok(Value::from(i64::from(value.is_true()))),
        ValueKind::Number if value.is_integer() => Ok(value.clone()),
        ValueKind::Number => {
            let float = f64::try_from(value.clone()).unwrap_or(f64::NAN);
            truncate_float(float).map(|v| v.unwrap_or(default))
        }
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            if let Some(parsed) = parse_python_int(text, base) {
                return Ok(Value::from(parsed));
            }
            match parse_python_float(text) {
                Some(float) => truncate_float(float).map(|v| v.unwrap_or(default)),
                None => Ok(default),
            }
        }
        _ => Ok(default),
    }
}

/// `float(default=0.0)`: Python's `float(value)`, else the default; an undefined value is
/// an error.
pub(crate) fn float(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = match default {
        Some(default) => default,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0.0)),
    };
    kwargs.assert_all_used()?;
    match value.kind() {
        ValueKind::Undefined => Err(undefined_error()),
        ValueKind::Bool => Ok(Value::from(if value.is_true() { 1.0 } else { 0.0 })),
        ValueKind::Number => Ok(Value::from(
            f64::try_from(value.clone()).unwrap_or(f64::NAN),
        )),
        ValueKind::String => {
            Ok(parse_python_float(value.as_str().unwrap_or_default()).map_or(default, Value::from))
        }
        _ => Ok(default),
    }
}

fn undefined_error() -> Error {
    Error::new(
        ErrorKind::UndefinedError,
        "an undefined value has no number",
    )
}

/// Python's `int(float)`: truncation; NaN is a ValueError (`None` here, the caller's
/// default), infinity an OverflowError (an error).
fn truncate_float(float: f64) -> Result<Option<Value>, Error> {
    if float.is_nan() {
        return Ok(None);
    }
    if float.is_infinite() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "int: cannot convert float infinity to integer",
        ));
    }
    let truncated = float.trunc();
    if truncated.abs() < 9.0e18 {
        Ok(Some(Value::from(truncated as i64)))
    } else {
        Ok(Some(Value::from(truncated as i128)))
    }
}

/// Python's `int(text, base)`: surrounding whitespace, a sign, the base's `0x`/`0o`/`0b`
/// prefix, single underscores between digits.
fn parse_python_int(text: &str, base: u32) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let prefix = match base {
        16 => Some(["0x", "0X"]),
        8 => Some(["0o", "0O"]),
        2 => Some(["0b", "0B"]),
        _ => None,
    };
    let digits = prefix
        .and_then(|[lower, upper]| {
            digits
                .strip_prefix(lower)
                .or_else(|| digits.strip_prefix(upper))
                .map(|rest| rest.strip_prefix('_').unwrap_or(rest))
        })
        .unwrap_or(digits);
    let cleaned = strip_digit_underscores(digits)?;
    let magnitude = i128::from_str_radix(&cleaned, base).ok()?;
    if cleaned.starts_with(['+', '-']) {
        return None;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// Python's `float(text)`: whitespace, `inf`/`nan` spellings, underscores between digits.
fn parse_python_float(text: &str) -> Option<f64> {
    let text = text.trim();
    let cleaned = strip_digit_underscores(text)?;
    let lower = cleaned.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    let named = matches!(unsigned, "inf" | "infinity" | "nan");
    let numeric = !unsigned.is_empty()
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'));
    if !(named || numeric) {
        return None;
    }
    lower.parse::<f64>().ok()
}

/// Removes underscores that sit between two digits; `None` if any other underscore is found
/// (Python rejects `_1`, `1_`, `1__0`).
fn strip_digit_underscores(text: &str) -> Option<String> {
    if !text.contains('_') {
        return Some(text.to_owned());
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let before = i > 0 && chars[i - 1].is_ascii_alphanumeric();
            let after = chars.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric());
            if !(before && after) {
                return None;
            }
        } else {
            out.push(*c);
        }
    }
    Some(out)
}

pub(crate) fn describe_kind(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => "an undefined value".to_owned(),
        kind => format!("a {kind}"),
    }
}

/// Python's `str.splitlines()`: every Unicode line boundary, `\r\n` as one, no final empty
/// part.
pub(crate) fn python_splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some((_, '\n')) = chars.peek() {
                    chars.next();
                    end += 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(text: &str) -> String {
        shlex_quote(&Value::from(text)).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn shlex_quote_matches_python() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("/dev/ttyUSB0"), "/dev/ttyUSB0");
        assert_eq!(quote("a=b,c:d@e%f+g"), "a=b,c:d@e%f+g");
        assert_eq!(quote("two words"), "'two words'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("é"), "'é'");
        assert_eq!(shlex_quote(&Value::UNDEFINED).ok().as_deref(), Some("''"));
        assert_eq!(shlex_quote(&Value::from(0)).ok().as_deref(), Some("''"));
        assert!(shlex_quote(&Value::from(3)).is_err());
    }

    #[test]
    fn qemu_guest_fs_interface_prefers_the_choice_then_the_architecture() {
        let pick = |arch: &str, chosen: Option<&str>| {
            qemu_guest_fs_interface(&Value::from(arch), chosen.map(Value::from)).to_string()
        };
        assert_eq!(pick("amd64", None), "ide");
        assert_eq!(pick("i386", Some("")), "ide");
        assert_eq!(pick("arm64", None), "virtio");
        assert_eq!(pick("riscv64", None), "virtio");
        assert_eq!(pick("amd64", Some("scsi")), "scsi");
        let undefined_arch = qemu_guest_fs_interface(&Value::UNDEFINED, None);
        assert_eq!(undefined_arch.as_str(), Some("virtio"));
    }

    #[test]
    fn int_and_float_follow_python() {
        let no_kwargs = || Kwargs::from_iter(std::iter::empty::<(&str, Value)>());
        let int_of = |v: Value| int(&v, None, None, no_kwargs()).map(|v| v.to_string());
        assert_eq!(int_of(Value::from(" 42 ")).ok().as_deref(), Some("42"));
        assert_eq!(int_of(Value::from("1_000")).ok().as_deref(), Some("1000"));
        assert_eq!(int_of(Value::from("3.9")).ok().as_deref(), Some("3"));
        assert_eq!(int_of(Value::from("-2.5e1")).ok().as_deref(), Some("-25"));
        assert_eq!(int_of(Value::from("abc")).ok().as_deref(), Some("0"));
        assert_eq!(int_of(Value::from("nan")).ok().as_deref(), Some("0"));
        assert_eq!(int_of(Value::from(-7.9)).ok().as_deref(), Some("-7"));
        assert_eq!(int_of(Value::from(true)).ok().as_deref(), Some("1"));
        assert_eq!(int_of(Value::from(())).ok().as_deref(), Some("0"));
        assert!(int_of(Value::from("inf")).is_err());
        assert!(int_of(Value::UNDEFINED).is_err());
        let hex = int(&Value::from("0x1A"), None, Some(16), no_kwargs());
        assert_eq!(hex.map(|v| v.to_string()).ok().as_deref(), Some("26"));
        let fallback = int(&Value::from("x"), Some(Value::from(-1)), None, no_kwargs());
        assert_eq!(fallback.map(|v| v.to_string()).ok().as_deref(), Some("-1"));

        let float_of =
            |v: Value| float(&v, None, no_kwargs()).map(|v| crate::templates::python::to_str(&v));
        assert_eq!(float_of(Value::from(3)).ok().as_deref(), Some("3.0"));
        assert_eq!(
            float_of(Value::from(" 1e3 ")).ok().as_deref(),
            Some("1000.0")
        );
        assert_eq!(
            float_of(Value::from("-Infinity")).ok().as_deref(),
            Some("-inf")
        );
        assert_eq!(float_of(Value::from("abc")).ok().as_deref(), Some("0.0"));
        assert!(float_of(Value::UNDEFINED).is_err());
    }

    #[test]
    fn splitlines_follows_python() {
        assert_eq!(python_splitlines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(python_splitlines("a\n"), ["a"]);
        assert_eq!(python_splitlines("a\n\n"), ["a", ""]);
        assert_eq!(python_splitlines("a\u{2028}b\u{c}c"), ["a", "b", "c"]);
        assert!(python_splitlines("").is_empty());
    }

    #[test]
    fn indent_keeps_the_trailing_newline_like_jinja2() {
        let ind = |text: &str, first: bool, blank: bool| {
            indent(
                &Value::from(text),
                Some(Value::from(2)),
                Some(first),
                Some(blank),
                Kwargs::from_iter(std::iter::empty::<(&str, Value)>()),
            )
            .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(ind("a\nb\n", false, false), "a\n  b\n");
        assert_eq!(ind("a\n\nb", false, false), "a\n\n  b");
        assert_eq!(ind("a\n\nb", true, true), "  a\n  \n  b");
        assert_eq!(ind("", true, false), "  ");
    }
}
