//! Python's `str()` and `repr()` of the values PyYAML gives, for LAVA's messages (which
//! show keys with `repr`) and for the places where LAVA's code calls `str()` on a value.

use super::yaml::Value;

/// `repr()` of a Python `str`.
pub(crate) fn repr_str(s: &str) -> String {
    crate::python::str_repr(s)
}

/// `str()` of a value.
pub(crate) fn str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Timestamp(t) => t.to_string(),
        other => repr(other),
    }
}

/// `repr()` of a value.
pub(crate) fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(s) => s.clone(),
        Value::Float(f) => crate::python::float_repr(*f),
        Value::String(s) => repr_str(s),
        Value::Bytes(b) => {
            let mut out = String::from("b'");
            for &byte in b {
                match byte {
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    0x20..=0x7e => out.push(char::from(byte)),
                    _ => out.push_str(&format!("\\x{byte:02x}")),
                }
            }
            out.push('\'');
            out
        }
        Value::Timestamp(t) => {
            let (y, m, d) = t.date;
            match t.time {
                None => format!("datetime.date({y}, {m}, {d})"),
                Some((h, mi, s, us, _)) => {
                    let mut parts = format!("datetime.datetime({y}, {m}, {d}, {h}, {mi}");
                    if s != 0 || us != 0 {
                        parts.push_str(&format!(", {s}"));
                    }
                    if us != 0 {
                        parts.push_str(&format!(", {us}"));
                    }
                    parts.push(')');
                    parts
                }
            }
        }
        Value::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|n| repr(&n.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Set(items) if items.is_empty() => "set()".into(),
        Value::Set(items) => format!(
            "{{{}}}",
            items
                .iter()
                .map(|n| repr(&n.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(&k.value), repr(&v.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Pairs(pairs) => format!(
            "[{}]",
            pairs
                .iter()
                .map(|(k, v)| format!("({}, {})", repr(&k.value), repr(&v.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_as_python_quotes_them() {
        assert_eq!(repr_str("abc"), "'abc'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a\nb"), "'a\\nb'");
        assert_eq!(repr_str("both ' and \""), "'both \\' and \"'");
    }
}
