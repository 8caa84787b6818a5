//! How Python prints values: `str()` and `repr()` as Jinja2 applies them.
//!
//! Jinja2 turns every `{{ value }}` into `str(value)`, so a `None` prints as `None`, a boolean
//! as `True`, a list as `['a', 1]` and a float in Python's shortest round-trip form. minijinja
//! prints `none`, `true` and `["a", 1]`; a dictionary that prints such a value must give the
//! same YAML as LAVA, so the renderer formats values here instead.

use crate::python::write_str_repr;
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
    out.push_str(&crate::python::float_repr(float));
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
