//! A YAML tree that remembers lines, read the way PyYAML reads job definitions.
//!
//! Job definitions are written for PyYAML, i.e. YAML 1.1: `yes`/`no`/`on`/`off` are
//! booleans, `0755` is octal, anchors and merge keys (`<<`) are common, and a repeated key
//! silently replaces the earlier one. serde-saphyr reads all of that when told to; we keep a
//! generic tree (rather than typed structs) so that validation can name the key path and
//! the line of any faulty value, and so that multinode splitting can re-emit the definition.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

/// A YAML value with the line it came from (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Its line in the submitted text.
    pub line: usize,
    /// Where its text is (byte offset and length), when the parser says.
    source: Option<(usize, usize)>,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean, YAML 1.1 spellings included.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (also integers too large for `i64`).
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (a repeated key keeps its last value, as in PyYAML).
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// A node without a known line.
    pub fn new(value: Value) -> Self {
        Node {
            value,
            line: 0,
            source: None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under the string key `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under `key`, for changing it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(m) => m
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` to `value` in a mapping (replacing, or appending at the end).
    pub fn insert(&mut self, key: &str, value: Node) {
        if let Value::Map(m) = &mut self.value {
            match m.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
                Some((_, v)) => *v = value,
                None => m.push((Node::new(Value::String(key.to_owned())), value)),
            }
        }
    }
}

/// Reading options that give PyYAML's (YAML 1.1) semantics.
pub(crate) fn pyyaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    options.legacy_octal_numbers = true;
    options.strict_booleans = false;
    options
}

/// Why a text is not YAML, with the line where the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The parser's message.
    pub message: String,
    /// 1-based line, if known.
    pub line: Option<usize>,
}

/// Parses `text` into a tree.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut tree =
        serde_saphyr::from_str_with_options::<Node>(text, pyyaml_options()).map_err(|e| {
            YamlError {
                line: e
                    .location()
                    .map(|l| l.line())
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|l| *l > 0),
                message: e.to_string(),
            }
        })?;
    restore_pyyaml_strings(&mut tree, text);
    Ok(tree)
}

/// The plain scalars PyYAML reads as booleans; YAML 1.1's `y`/`n` (which serde-saphyr also
/// accepts) are strings to PyYAML.
const PYYAML_BOOLEANS: &[&str] = &[
    "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on",
    "On", "ON", "off", "Off", "OFF",
];

fn restore_pyyaml_strings(node: &mut Node, text: &str) {
    match &mut node.value {
        Value::Bool(_) => {
            let raw = node
                .source
                .and_then(|(offset, len)| text.get(offset..offset.checked_add(len)?))
                .map(str::trim);
            if let Some(raw) = raw {
                if !raw.is_empty() && !raw.starts_with('!') && !PYYAML_BOOLEANS.contains(&raw) {
                    node.value = Value::String(raw.to_owned());
                }
            }
        }
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| restore_pyyaml_strings(n, text)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            restore_pyyaml_strings(k, text);
            restore_pyyaml_strings(v, text);
        }),
        _ => {}
    }
}

/// Writes `node` as YAML text.
pub fn emit(node: &Node) -> Result<String, String> {
    serde_saphyr::to_string(node).map_err(|e| e.to_string())
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Value>::deserialize(deserializer)?;
        let line = usize::try_from(spanned.referenced.line()).unwrap_or(0);
        // An alias's text is at its anchor: `defined` points there.
        let span = spanned.defined.span();
        let source = span
            .byte_offset()
            .zip(span.byte_len())
            .and_then(|(o, l)| Some((usize::try_from(o).ok()?, usize::try_from(l).ok()?)));
        Ok(Node {
            value: spanned.value,
            line,
            source,
        })
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<Node, Node>()? {
            // PyYAML keeps the last of repeated keys.
            match entries.iter_mut().find(|(k, _)| k.value == key.value) {
                Some(entry) => *entry = (key, value),
                None => entries.push((key, value)),
            }
        }
        Ok(Value::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str, key: &str) -> Value {
        parse(text).unwrap().get(key).unwrap().value.clone()
    }

    #[test]
    fn yaml_1_1_booleans() {
        for (word, expected) in [
            ("yes", true),
            ("no", false),
            ("on", true),
            ("off", false),
            ("True", true),
            ("false", false),
        ] {
            assert_eq!(
                scalar(&format!("a: {word}\n"), "a"),
                Value::Bool(expected),
                "{word}"
            );
        }
    }

    #[test]
    fn y_and_n_are_strings_as_in_pyyaml() {
        assert_eq!(scalar("a: y\n", "a"), Value::String("y".into()));
        assert_eq!(scalar("a: N\n", "a"), Value::String("N".into()));
        let aliased = parse("a: &x y\nb: *x\nc: &z on\nd: *z\n").unwrap();
        assert_eq!(aliased.get("b").unwrap().value, Value::String("y".into()));
        assert_eq!(aliased.get("d").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn octal_and_quoted() {
        assert_eq!(scalar("a: 010\n", "a"), Value::Int(8));
        assert_eq!(scalar("a: 'yes'\n", "a"), Value::String("yes".into()));
    }

    #[test]
    fn anchors_merge_keys_and_lines() {
        let text =
            "base: &b\n  minutes: 5\n  skip: off\nother:\n  <<: *b\n  minutes: 7\nlast: *b\n";
        let tree = parse(text).unwrap();
        let other = tree.get("other").unwrap();
        assert_eq!(other.get("minutes").unwrap().value, Value::Int(7));
        assert_eq!(other.get("skip").unwrap().value, Value::Bool(false));
        assert_eq!(
            tree.get("last").unwrap().get("minutes").unwrap().value,
            Value::Int(5)
        );
        assert_eq!(tree.get("other").unwrap().line, 5);
        assert_eq!(tree.get("base").unwrap().get("skip").unwrap().line, 3);
    }

    #[test]
    fn repeated_keys_keep_the_last() {
        assert_eq!(scalar("a: 1\na: 2\n", "a"), Value::Int(2));
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line.is_some(), "{err:?}");
    }

    #[test]
    fn round_trips() {
        let text = "job_name: x\nactions:\n- deploy:\n    to: tftp\n    n: 3\n";
        let tree = parse(text).unwrap();
        let again = parse(&emit(&tree).unwrap()).unwrap();
        assert_eq!(strip(&again), strip(&tree));
    }

    fn strip(node: &Node) -> Node {
        Node::new(match &node.value {
            Value::Seq(items) => Value::Seq(items.iter().map(strip).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (strip(k), strip(v))).collect()),
            other => other.clone(),
        })
    }
}
