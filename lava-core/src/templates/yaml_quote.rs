//! LAVA's `yaml_quote` filter: a value as one line of YAML, the way PyYAML writes it.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use super::filters::describe_kind;
use super::python;

/// `yaml_quote`: the value as PyYAML's C `SafeDumper` writes it with `default_style='"'`,
/// flow style and no line width: strings double-quoted with every non-ASCII or non-printable
/// character escaped, other scalars as `! "…"`, lists `[…]`, mappings `{…}` with keys
/// sorted when they compare.
pub(crate) fn yaml_quote(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_yaml(&mut out, value, 0)?;
    Ok(out)
}

/// Deep nesting is refused before it can exhaust the stack.
const MAX_YAML_DEPTH: usize = 256;

fn write_yaml(out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
    if depth > MAX_YAML_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "yaml_quote: value nested too deeply",
        ));
    }
    match value.kind() {
        ValueKind::String => write_yaml_string(out, value.as_str().unwrap_or_default()),
        ValueKind::None => out.push_str("! \"null\""),
        ValueKind::Bool => out.push_str(if value.is_true() {
            "! \"true\""
        } else {
            "! \"false\""
        }),
        ValueKind::Number => {
            out.push_str("! \"");
            if value.is_integer() {
                out.push_str(&value.to_string());
            } else {
                let float = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                write_yaml_float(out, float);
            }
            out.push('"');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_yaml(out, &item, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            sort_like_python(&mut keys);
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_yaml(out, key, depth + 1)?;
                out.push_str(": ");
                write_yaml(out, &value.get_item(key)?, depth + 1)?;
            }
            out.push('}');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("yaml_quote: cannot represent {}", describe_kind(value)),
            ))
        }
    }
    Ok(())
}

/// Python's `sorted()` on mapping keys, which PyYAML tries and abandons (keeping insertion
/// order) when two keys do not compare: strings compare with strings, numbers and
/// booleans with each other.
fn sort_like_python(keys: &mut [Value]) {
    let all_strings = keys.iter().all(|k| k.kind() == ValueKind::String);
    let all_numbers = keys
        .iter()
        .all(|k| matches!(k.kind(), ValueKind::Number | ValueKind::Bool));
    if all_strings {
        // Python compares code points; UTF-8 byte order is the same order.
        keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    } else if all_numbers {
        let as_f64 = |v: &Value| -> f64 {
            if v.kind() == ValueKind::Bool {
                f64::from(u8::from(v.is_true()))
            } else {
                f64::try_from(v.clone()).unwrap_or(f64::NAN)
            }
        };
        keys.sort_by(|a, b| {
            as_f64(a)
                .partial_cmp(&as_f64(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
}

/// PyYAML's float representer: `repr(float).lower()`, with `.0` added to a bare mantissa
/// before the exponent; `.inf`, `-.inf`, `.nan` for the non-finite values.
fn write_yaml_float(out: &mut String, float: f64) {
    if float.is_nan() {
        out.push_str(".nan");
    } else if float.is_infinite() {
        out.push_str(if float > 0.0 { ".inf" } else { "-.inf" });
    } else {
        let mut repr = String::new();
        python::write_float(&mut repr, float);
        if !repr.contains('.') && repr.contains('e') {
            repr = repr.replacen('e', ".0e", 1);
        }
        out.push_str(&repr);
    }
}

/// libyaml's double-quoted scalar with `allow_unicode` off.
fn write_yaml_string(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in text.chars() {
        let escape = match c {
            '\0' => Some("\\0"),
            '\u{7}' => Some("\\a"),
            '\u{8}' => Some("\\b"),
            '\t' => Some("\\t"),
            '\n' => Some("\\n"),
            '\u{b}' => Some("\\v"),
            '\u{c}' => Some("\\f"),
            '\r' => Some("\\r"),
            '\u{1b}' => Some("\\e"),
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{85}' => Some("\\N"),
            '\u{a0}' => Some("\\_"),
            '\u{2028}' => Some("\\L"),
            '\u{2029}' => Some("\\P"),
            _ => None,
        };
        match escape {
            Some(escape) => out.push_str(escape),
            None if (' '..='~').contains(&c) => out.push(c),
            None => {
                let code = c as u32;
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02X}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04X}")
                } else {
                    write!(out, "\\U{code:08X}")
                };
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quote_matches_libyaml_double_quoted_flow() {
        let q = |v: Value| yaml_quote(&v).unwrap_or_else(|e| e.to_string());
        assert_eq!(q(Value::from("foo")), "\"foo\"");
        assert_eq!(q(Value::from("a\"b\\c\td\n")), "\"a\\\"b\\\\c\\td\\n\"");
        assert_eq!(q(Value::from("ünï")), "\"\\xFCn\\xEF\"");
        assert_eq!(q(Value::from("\u{2028}\u{85}\u{a0}")), "\"\\L\\N\\_\"");
        assert_eq!(
            q(Value::from("\u{1F600}\u{d7ff}")),
            "\"\\U0001F600\\uD7FF\""
        );
        assert_eq!(q(Value::from(3)), "! \"3\"");
        assert_eq!(q(Value::from(1e20)), "! \"1.0e+20\"");
        assert_eq!(q(Value::from(f64::INFINITY)), "! \".inf\"");
        assert_eq!(q(Value::from(true)), "! \"true\"");
        assert_eq!(q(Value::from(())), "! \"null\"");
        let nested = Value::from(minijinja::value::Serde(
            serde_json::json!({"b": 1, "a": ["x", [2]], "c": {}}),
        ));
        assert_eq!(
            q(nested),
            "{\"a\": [\"x\", [! \"2\"]], \"b\": ! \"1\", \"c\": {}}"
        );
        assert!(yaml_quote(&Value::UNDEFINED).is_err());
    }
}
