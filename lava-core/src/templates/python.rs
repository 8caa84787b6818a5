//! How Python prints values: `str()` and `repr()` as Jinja2 applies them.
//!
//! Jinja2 turns every `{{ value }}` into `str(value)`, so a `None` prints as `None`, a boolean
//! as `True`, a list as `['a', 1]` and a float in Python's shortest round-trip form. minijinja
//! prints `none`, `true` and `["a", 1]`; a dictionary that prints such a value must give the
//! same YAML as LAVA, so the renderer formats values here instead.

use std::fmt::Write;

use minijinja::value::{Value, ValueKind};

/// Appends Python's `str(value)` to `out` (undefined prints as nothing, as Jinja2's
/// default `Undefined` does).
pub(crate) fn write_str(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        _ => write_repr(out, value),
    }
}

/// Python's `str(value)` as a new string.
pub(crate) fn to_str(value: &Value) -> String {
    let mut out = String::new();
    write_str(&mut out, value);
    out
}

/// Appends Python's `repr(value)` to `out`: what `str()` gives for containers and scalars
/// other than strings.
pub(crate) fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        // `repr()` of Jinja2's `Undefined`, e.g. a list built from an unset variable.
        ValueKind::Undefined => out.push_str("Undefined"),
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => write_number(out, value),
        ValueKind::String => write_str_repr(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let (open, close) = if value.is_tuple() {
                ('(', ')')
            } else {
                ('[', ']')
            };
            out.push(open);
            let mut count = 0usize;
            if let Ok(items) = value.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &item);
                    count += 1;
                }
            }
            if value.is_tuple() && count == 1 {
                out.push(',');
            }
            out.push(close);
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = value.try_iter() {
                for (i, key) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &key);
                    out.push_str(": ");
                    let item = value.get_item(&key).unwrap_or_default();
                    write_repr(out, &item);
                }
            }
            out.push('}');
        }
        // Bytes, callables and plain objects do not come from YAML contexts; minijinja's own
        // rendering is the closest there is.
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

fn write_number(out: &mut String, value: &Value) {
    if value.is_integer() {
        let _ = write!(out, "{value}");
    } else if let Ok(float) = f64::try_from(value.clone()) {
        write_float(out, float);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Appends Python's `repr(float)`: the shortest digits that round-trip, positional between
/// 1e-4 and 1e16, scientific (`1e+16`, `1e-05`) outside.
pub(crate) fn write_float(out: &mut String, float: f64) {
    out.push_str(&crate::protocol::log::python_float_repr(float));
}

/// Appends Python's `repr(str)`: single quotes unless the text has a single quote and no
/// double quote; backslash escapes for the quote, backslash, `\n`, `\r`, `\t` and for
/// characters Python does not consider printable.
pub(crate) fn write_str_repr(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = c as u32;
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for the characters that matter in lab configuration: control
/// characters, separators other than the space, and unassigned/private code points are
/// escaped. (Python consults the full Unicode database; outside these ranges we treat
/// characters as printable.)
fn is_printable(c: char) -> bool {
    let code = c as u32;
    !(code < 0x20
        || (0x7f..=0xa0).contains(&code)
        || code == 0xad
        || (0x2028..=0x2029).contains(&code)
        || (0x200b..=0x200f).contains(&code)
        || (0x202a..=0x202e).contains(&code)
        || (0x2060..=0x2064).contains(&code)
        || code == 0xfeff
        || (0xd800..=0xdfff).contains(&code)
        || (0xe000..=0xf8ff).contains(&code)
        || (0xfff9..=0xfffb).contains(&code)
        || code == 0xfffe
        || code == 0xffff
        || code >= 0xf0000
        || c == '\u{3000}'
        || (0x2000..=0x200a).contains(&code)
        || c == '\u{1680}'
        || c == '\u{202f}'
        || c == '\u{205f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> String {
        let mut out = String::new();
        write_float(&mut out, f);
        out
    }

    #[test]
    fn floats_print_as_python_repr() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(-0.0), "-0.0");
        assert_eq!(float(1e16), "1e+16");
        assert_eq!(float(1234567890123456.0), "1234567890123456.0");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(1.5e-7), "1.5e-07");
        assert_eq!(float(1.2345678901234567e19), "1.2345678901234567e+19");
        assert_eq!(float(1e100), "1e+100");
        assert_eq!(float(f64::INFINITY), "inf");
        assert_eq!(float(f64::NEG_INFINITY), "-inf");
        assert_eq!(float(f64::NAN), "nan");
    }

    #[test]
    fn scalars_and_containers_print_as_python_str() {
        assert_eq!(to_str(&Value::from(())), "None");
        assert_eq!(to_str(&Value::UNDEFINED), "");
        assert_eq!(to_str(&Value::from(true)), "True");
        assert_eq!(to_str(&Value::from(false)), "False");
        assert_eq!(to_str(&Value::from(115200)), "115200");
        assert_eq!(to_str(&Value::from("plain text")), "plain text");
        let list = Value::from(minijinja::value::Serde(vec![
            Value::from("a"),
            Value::from(1),
            Value::from(()),
            Value::from(2.0),
            Value::from(vec!["it's"]),
        ]));
        assert_eq!(to_str(&list), "['a', 1, None, 2.0, [\"it's\"]]");
        let map = Value::from(minijinja::value::Serde(
            serde_json::json!({"k": "v", "n": [true]}),
        ));
        assert_eq!(to_str(&map), "{'k': 'v', 'n': [True]}");
    }

    #[test]
    fn string_repr_escapes_like_python() {
        let mut out = String::new();
        write_str_repr(&mut out, "a'b\"c\\\n\t\u{7}é\u{2028}");
        assert_eq!(out, "'a\\'b\"c\\\\\\n\\t\\x07é\\u2028'");
    }
}
