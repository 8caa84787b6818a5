//! Writes values the way lava-run's dumper does, byte for byte.
//!
//! lava-run calls PyYAML's `dump` with the libyaml emitter (`CDumper`),
//! `default_flow_style=True`, `default_style='"'`, `width=10**6` and the defaults
//! `allow_unicode=False`, `sort_keys=True`. What that produces:
//! - every string double-quoted; everything but printable ASCII escaped (`\e`, `\xE9`,
//!   `\u2713`, `\U0001F600`, and the short forms `\0 \a \b \t \n \v \f \r \N \_ \L \P`);
//! - other scalars as their Python representation, quoted and tagged `!` (`! "12"`,
//!   `! "true"`, `! "null"`, `! "1.0e+20"`), which a loader resolves like plain scalars;
//! - flow collections `{"a": x, "b": y}` and `[x, y]` with keys sorted by code point;
//! - keys longer than 128 bytes, or holding a line break, as explicit keys `? "k" : v`.

use std::fmt::Write;

use super::value::Value;

/// Appends the YAML flow form of `value`.
pub(crate) fn emit(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("! \"null\""),
        Value::Bool(b) => {
            out.push_str(if *b { "! \"true\"" } else { "! \"false\"" });
        }
        Value::Int(n) => {
            let _ = write!(out, "! \"{n}\"");
        }
        Value::Float(f) => {
            out.push_str("! \"");
            out.push_str(&yaml_float_text(*f));
            out.push('"');
        }
        Value::Str(s) => emit_str(s, out),
        Value::Decimal(text) => {
            out.push_str("!!python/object/apply:decimal.Decimal [");
            emit_str(text, out);
            out.push(']');
        }
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if is_simple_key(key) {
                    emit_str(key, out);
                    out.push_str(": ");
                } else {
                    out.push_str("? ");
                    emit_str(key, out);
                    out.push_str(" : ");
                }
                emit(item, out);
            }
            out.push('}');
        }
    }
}

/// libyaml writes a key inline only when it is at most 128 bytes and on one line.
fn is_simple_key(key: &str) -> bool {
    key.len() <= 128 && !key.chars().any(is_break)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Appends a double-quoted scalar with libyaml's escapes (`allow_unicode=False`).
pub(crate) fn emit_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

/// A float as PyYAML represents it: `.nan`, `.inf`, `-.inf`, else Python's `repr` in lower
/// case with `.0` forced into a bare exponent form (`1e+20` → `1.0e+20`).
pub(crate) fn yaml_float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let repr = crate::python::float_repr(f);
    if !repr.contains('.') && repr.contains('e') {
        repr.replacen('e', ".0e", 1)
    } else {
        repr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_python_repr() {
        // Pairs checked against CPython 3.11 `repr` and PyYAML's representer.
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1.0e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (1e300, "1.0e+300"),
            (5e-324, "5.0e-324"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
        ];
        for (value, text) in cases {
            assert_eq!(yaml_float_text(value), text, "{value:?}");
        }
    }

    #[test]
    fn strings_escape_like_libyaml() {
        let mut out = String::new();
        emit_str(
            "a\u{1b}\0\u{7}\u{2028}\u{85}\u{2029}\u{a0}é✓😀\t\n\r\\\"'\u{7f}\u{8}\u{b}\u{c}\u{feff}",
            &mut out,
        );
        assert_eq!(
            out,
            r#""a\e\0\a\L\N\P\_\xE9\u2713\U0001F600\t\n\r\\\"'\x7F\b\v\f\uFEFF""#
        );
    }

    #[test]
    fn long_and_multiline_keys_are_explicit() {
        let mut map = super::super::value::Mapping::new();
        map.insert("k".repeat(129), Value::from("v"));
        map.insert("b".repeat(128), Value::Int(1));
        map.insert("a\nb".to_owned(), Value::Null);
        let mut out = String::new();
        emit(&Value::Map(map), &mut out);
        let expected = format!(
            "{{? \"a\\nb\" : ! \"null\", \"{}\": ! \"1\", ? \"{}\" : \"v\"}}",
            "b".repeat(128),
            "k".repeat(129)
        );
        assert_eq!(out, expected);
    }
}
