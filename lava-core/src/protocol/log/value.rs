//! The YAML values a log record carries (what PyYAML's loader would build from a line).

use std::collections::BTreeMap;

/// A mapping of a log record. Keys are kept sorted, as PyYAML dumps them.
pub type Mapping = BTreeMap<String, Value>;

/// One YAML value of a log line.
///
/// Mapping keys are text: a non-string scalar key (`! "1": …`) keeps its text. Integers that
/// do not fit 64 bits become floats, as in JSON parsers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (Python `None`).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (`.inf`, `.nan` included).
    Float(f64),
    /// A string.
    Str(String),
    /// A `decimal.Decimal`, kept as its text: lava-run's full (non-safe) dumper writes test
    /// measurements as `!!python/object/apply:decimal.Decimal ["1.50"]`.
    Decimal(String),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping.
    Map(Mapping),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The mapping, if this is one.
    pub fn as_map(&self) -> Option<&Mapping> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value at `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// The number, for integers, floats, decimals and strings that hold a number (LAVA
    /// writes durations as `"0.52"` and measurements as decimals).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(text) | Value::Str(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        }
    }

    /// The text of a scalar as Python's `str()` would give it (`None` for collections).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some("None".to_owned()),
            Value::Bool(true) => Some("True".to_owned()),
            Value::Bool(false) => Some("False".to_owned()),
            Value::Int(n) => Some(n.to_string()),
            Value::Float(f) => Some(crate::python::float_repr(*f)),
            Value::Str(s) | Value::Decimal(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value as one line of YAML flow style, as lava-run writes it in a record.
    pub fn to_flow_yaml(&self) -> String {
        let mut out = String::new();
        super::emit::emit(self, &mut out);
        out
    }

    /// A short name of the kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Decimal(_) => "a decimal",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<Mapping> for Value {
    fn from(m: Mapping) -> Self {
        Value::Map(m)
    }
}

/// Builds [`Value`]s from any serde deserializer: the full-YAML fallback goes through
/// serde-saphyr with this.
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Mapping::new();
        while let Some((key, value)) = map.next_entry::<Value, Value>()? {
            let Some(key) = key_text(&key) else {
                return Err(serde::de::Error::custom(format!(
                    "a mapping key is {}, not a scalar",
                    key.kind()
                )));
            };
            // Duplicate keys: the last one wins, as with PyYAML.
            out.insert(key, value);
        }
        Ok(Value::Map(out))
    }
}

/// The text a scalar key is stored under (its YAML text, not Python's `str()`).
pub(crate) fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(f) => Some(super::emit::yaml_float_text(*f)),
        other => other.scalar_text(),
    }
}
