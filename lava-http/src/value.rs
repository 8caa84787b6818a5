//! XML-RPC values as they travel in requests and responses.

use base64::Engine;
use lava_core::time::Timestamp;

/// One XML-RPC value.
///
/// Structs keep their members in order: Python's `xmlrpc.client` builds dicts in that order
/// and lavacli's JSON and YAML output follows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>` or `<i8>`.
    Int(i64),
    /// `<boolean>`.
    Bool(bool),
    /// `<string>`, or a bare `<value>` text.
    String(String),
    /// `<double>`.
    Double(f64),
    /// `<dateTime.iso8601>`, as written on the wire (`20200501T12:00:00`).
    DateTime(String),
    /// `<base64>`: bytes (Python's `xmlrpc.client.Binary`).
    Base64(Vec<u8>),
    /// `<struct>`: named members, in order.
    Struct(Vec<(String, Value)>),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<nil/>`: Python's `None`.
    Nil,
}

impl Value {
    /// The XML-RPC type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Bool(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Struct(_) => "struct",
            Value::Array(_) => "array",
            Value::Nil => "nil",
        }
    }

    /// A string value.
    pub fn str(text: impl Into<String>) -> Value {
        Value::String(text.into())
    }

    /// A string, or nil for `None`.
    pub fn opt_str(text: Option<impl Into<String>>) -> Value {
        text.map_or(Value::Nil, |t| Value::String(t.into()))
    }

    /// A string that LAVA stores as a nullable text field: nil when empty.
    pub fn text_or_nil(text: &str) -> Value {
        if text.is_empty() {
            Value::Nil
        } else {
            Value::String(text.to_owned())
        }
    }

    /// A list of strings.
    pub fn str_array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::Array(
            items
                .into_iter()
                .map(|s| Value::String(s.as_ref().to_owned()))
                .collect(),
        )
    }

    /// A `dateTime.iso8601` value, as Python's `xmlrpc.client` writes a `datetime`.
    pub fn datetime(ts: Timestamp) -> Value {
        Value::DateTime(wire_datetime(ts))
    }

    /// A datetime, or nil for `None`.
    pub fn opt_datetime(ts: Option<Timestamp>) -> Value {
        ts.map_or(Value::Nil, Value::datetime)
    }

    /// Base64 of UTF-8 text, as LAVA returns files (`xmlrpc.client.Binary`).
    pub fn binary_text(text: &str) -> Value {
        Value::Base64(text.as_bytes().to_vec())
    }

    /// The base64 text of bytes, as written on the wire.
    pub fn base64_text(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// `YYYYMMDDTHH:MM:SS`: the format Python's `xmlrpc.client` writes (seconds, no zone).
pub fn wire_datetime(ts: Timestamp) -> String {
    let iso = Timestamp::from_secs(ts.as_secs()).to_string();
    match iso.split_once('T') {
        Some((date, time)) => format!("{}T{}", date.replace('-', ""), time),
        None => iso,
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`: what `str()` of an aware Python datetime prints,
/// which LAVA uses in `scheduler.jobs.list(verbose=True)`.
pub fn python_datetime_str(ts: Timestamp) -> String {
    format!("{}+00:00", ts.to_string().replacen('T', " ", 1))
}

/// Builds a struct value member by member.
#[derive(Debug, Default)]
pub struct StructBuilder(Vec<(String, Value)>);

impl StructBuilder {
    /// An empty struct.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a member.
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.0.push((name.to_owned(), value));
        self
    }

    /// Adds members.
    pub fn extend(mut self, fields: Vec<(String, Value)>) -> Self {
        self.0.extend(fields);
        self
    }

    /// The struct.
    pub fn build(self) -> Value {
        Value::Struct(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_as_python_writes_them() {
        // 2020-05-01T12:34:56.5Z
        let ts = Timestamp(1_588_336_496_500_000);
        assert_eq!(wire_datetime(ts), "20200501T12:34:56");
        assert_eq!(python_datetime_str(ts), "2020-05-01 12:34:56.500000+00:00");
        assert_eq!(
            python_datetime_str(Timestamp::from_secs(0)),
            "1970-01-01 00:00:00+00:00"
        );
    }

    #[test]
    fn nullable_text() {
        assert_eq!(Value::text_or_nil(""), Value::Nil);
        assert_eq!(Value::text_or_nil("x"), Value::str("x"));
    }
}
