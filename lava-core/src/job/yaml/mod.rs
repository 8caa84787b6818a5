//! A YAML tree that remembers lines, read the way LAVA reads job definitions: PyYAML's
//! `SafeLoader` (`yaml.load(text, Loader=CSafeLoader)`), i.e. YAML 1.1.
//!
//! The events come from `granit-parser`; composing them into values follows PyYAML's
//! composer, resolver and `SafeConstructor`, so a definition has here the types it has in
//! LAVA's Python:
//!
//! - plain scalars resolve by PyYAML's implicit resolvers: `yes`/`no`/`on`/`off` are
//!   booleans (`y` and `n` are strings), `0755` is octal, `0x1F`, `0b101`, `1_000` and
//!   `1:20` (base 60) are integers, `1.5` and `.inf` are floats but `1e3` is a string,
//!   `2020-05-01` is a date, `~`/`null`/empty are null;
//! - the explicit tags of `SafeConstructor` (`!!str`, `!!int`, `!!float`, `!!bool`,
//!   `!!null`, `!!binary`, `!!timestamp`, `!!map`, `!!seq`, `!!set`, `!!omap`,
//!   `!!pairs`) construct what Python would, and any other tag (`!foo`,
//!   `!!python/object`) is refused, as `yaml.safe_load` refuses it;
//! - merge keys (`<<`) merge as PyYAML's `flatten_mapping` does, and a repeated key keeps
//!   its first position and its last value (a Python dict); keys compare as Python's do
//!   (`1`, `1.0` and `true` are the same key), and a list or mapping as a key is refused
//!   ("found unhashable key");
//! - a stream with more than one document is refused, an empty one is null.
//!
//! Reading is linear in the input: duplicate keys are found with a hash map (expected O(1)
//! per key, and keyed by std's randomly seeded SipHash so that crafted keys cannot make
//! it quadratic), never by comparing a key with every earlier one.
//!
//! Known differences from PyYAML: the syntax level is granit-parser's, not libyaml's (a few
//! exotic layouts that libyaml refuses may be read, or the reverse, and syntax errors are
//! worded differently); an alias that refers to its own unfinished collection (PyYAML
//! builds a recursive object) reads as an empty collection of that type; aliases that would
//! expand the tree beyond
//! [`MAX_EXPANSION`] times the input's events are refused (PyYAML shares them, but LAVA's
//! validation walks every copy).

mod block;
mod scalar;

use granit_parser::{Event, Parser, ScalarStyle, Span};
use scalar::Kind;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::collections::HashMap;
use std::fmt;

/// A YAML value with the line it came from (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Its line in the submitted text (for an alias, the line of the alias).
    pub line: usize,
}

/// A YAML value, with the Python type PyYAML would give it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`: `null`, `~` or nothing.
    Null,
    /// A `bool`, YAML 1.1 spellings included.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` beyond 64 bits, as decimal text (Python's integers are unbounded).
    BigInt(String),
    /// A `float`.
    Float(f64),
    /// A `str`.
    String(String),
    /// `bytes` (`!!binary`).
    Bytes(Vec<u8>),
    /// A `datetime.date` or `datetime.datetime`.
    Timestamp(Timestamp),
    /// A `list`.
    Seq(Vec<Node>),
    /// A `dict`, in document order (a repeated key keeps its first position and last value).
    Map(Vec<(Node, Node)>),
    /// A `set` (`!!set`), its members in document order.
    Set(Vec<Node>),
    /// A `list` of `(key, value)` tuples (`!!omap`, `!!pairs`).
    Pairs(Vec<(Node, Node)>),
}

/// A `datetime.date` (no time) or `datetime.datetime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Year, month, day.
    pub date: (u16, u8, u8),
    /// Hour, minute, second, microsecond and UTC offset in minutes (`None`: naive).
    pub time: Option<(u8, u8, u8, u32, Option<i16>)>,
}

impl fmt::Display for Timestamp {
    /// As Python's `str()` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.date;
        write!(f, "{y:04}-{m:02}-{d:02}")?;
        if let Some((h, mi, s, us, offset)) = self.time {
            write!(f, " {h:02}:{mi:02}:{s:02}")?;
            if us != 0 {
                write!(f, ".{us:06}")?;
            }
            if let Some(offset) = offset {
                let sign = if offset < 0 { '-' } else { '+' };
                let abs = offset.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)?;
            }
        }
        Ok(())
    }
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::BigInt(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Bytes(_) => "binary data",
            Value::Timestamp(_) => "a date",
            Value::Seq(_) | Value::Pairs(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Set(_) => "a set",
        }
    }
}

impl Node {
    /// A node without a known line.
    pub fn new(value: Value) -> Self {
        Node { value, line: 0 }
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

    /// How many nodes this tree holds (itself included).
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) | Value::Set(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) | Value::Pairs(entries) => {
                entries.iter().map(|(k, v)| k.size() + v.size()).sum()
            }
            _ => 0,
        }
    }
}

/// How many times the input's events the tree may hold once aliases are expanded.
pub const MAX_EXPANSION: usize = 64;

/// Why a text is not YAML that LAVA's loader reads, with the line where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// The Python exception PyYAML lets through when it is not a `YAMLError` (a
    /// `ValueError` for `2020-02-30`, a `KeyError` for `!!bool maybe`): LAVA then fails
    /// with that exception rather than "Loading job submission failed".
    pub python_exception: Option<&'static str>,
}

fn error(message: impl Into<String>, line: usize) -> YamlError {
    YamlError {
        message: message.into(),
        line: (line > 0).then_some(line),
        python_exception: None,
    }
}

/// The characters libyaml's reader accepts (`control characters are not allowed`).
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// Where the first character libyaml's reader refuses is, if any. ASCII (most of a job)
/// is checked a byte at a time; the rest by character.
fn first_unprintable(text: &str) -> Option<usize> {
    let ascii = text
        .bytes()
        .position(|b| !matches!(b, b' '..=b'~' | b'\n' | b'\t' | b'\r'))?;
    if text.as_bytes()[ascii].is_ascii() {
        return Some(ascii);
    }
    text[ascii..]
        .find(|c: char| !printable(c))
        .map(|at| ascii + at)
}

/// A mapping key as Python hashes and compares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HashKey {
    Null,
    /// `bool`, `int` and integral `float` compare equal when their values are (`1 == 1.0 == True`).
    Number(i128),
    Big(String),
    /// A non-integral float, by bits (`-0.0` is `Number(0)`).
    Float(u64),
    /// NaN is never equal to anything, itself included: each gets its own key.
    NaN(usize),
    Str(String),
    Bytes(Vec<u8>),
    Date(u16, u8, u8),
    Naive(u16, u8, u8, u8, u8, u8, u32),
    /// An aware datetime, by its UTC instant in microseconds from 0001-01-01.
    Aware(i128),
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe
}

fn hash_key(node: &Node, nan_counter: &mut usize) -> Option<HashKey> {
    Some(match &node.value {
        Value::Null => HashKey::Null,
        Value::Bool(b) => HashKey::Number(i128::from(*b)),
        Value::Int(i) => HashKey::Number(i128::from(*i)),
        Value::BigInt(s) => HashKey::Big(s.clone()),
        Value::Float(f) if f.is_nan() => {
            *nan_counter += 1;
            HashKey::NaN(*nan_counter)
        }
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e38 => HashKey::Number(*f as i128),
        Value::Float(f) => HashKey::Float(f.to_bits()),
        Value::String(s) => HashKey::Str(s.clone()),
        Value::Bytes(b) => HashKey::Bytes(b.clone()),
        Value::Timestamp(t) => {
            let (y, m, d) = t.date;
            match t.time {
                None => HashKey::Date(y, m, d),
                Some((h, mi, s, us, None)) => HashKey::Naive(y, m, d, h, mi, s, us),
                Some((h, mi, s, us, Some(offset))) => {
                    let days = days_from_civil(i64::from(y), i64::from(m), i64::from(d));
                    let minutes = i128::from(days) * 1440 + i128::from(h) * 60 + i128::from(mi)
                        - i128::from(offset);
                    HashKey::Aware((minutes * 60 + i128::from(s)) * 1_000_000 + i128::from(us))
                }
            }
        }
        Value::Seq(_) | Value::Map(_) | Value::Set(_) | Value::Pairs(_) => return None,
    })
}

/// Python's `==` on two hashable keys.
fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::String(_), _) | (_, Value::String(_)) => false,
        _ => {
            let mut counter = 0;
            let x = hash_key(&Node::new(a.clone()), &mut counter);
            let y = hash_key(&Node::new(b.clone()), &mut counter);
            x.is_some() && x == y
        }
    }
}

/// Builds a `dict` from keys and values in order: a repeated key keeps its first position
/// and takes the last value, as assigning into a Python dict does.
struct DictBuilder {
    entries: Vec<(Node, Node)>,
    /// Only built past a few entries: small mappings (most of a job) compare directly.
    index: Option<HashMap<HashKey, usize>>,
    nan_counter: usize,
}

const INDEX_FROM: usize = 8;

impl DictBuilder {
    fn new() -> Self {
        DictBuilder {
            entries: Vec::new(),
            index: None,
            nan_counter: 0,
        }
    }

    fn insert(&mut self, key: Node, value: Node) -> Result<(), YamlError> {
        if matches!(
            key.value,
            Value::Seq(_) | Value::Map(_) | Value::Set(_) | Value::Pairs(_)
        ) {
            return Err(error(
                "while constructing a mapping: found unhashable key",
                key.line,
            ));
        }
        if self.index.is_none() && self.entries.len() >= INDEX_FROM {
            let mut index = HashMap::with_capacity(self.entries.len() * 2);
            for (i, (k, _)) in self.entries.iter().enumerate() {
                if let Some(h) = hash_key(k, &mut self.nan_counter) {
                    index.insert(h, i);
                }
            }
            self.index = Some(index);
        }
        // Small mappings (most of a job) compare directly, without hashing or copying keys.
        let (found, hk) = match &self.index {
            Some(index) => {
                let hk = hash_key(&key, &mut self.nan_counter);
                (hk.as_ref().and_then(|h| index.get(h).copied()), hk)
            }
            None => (
                self.entries
                    .iter()
                    .position(|(k, _)| same_key(&k.value, &key.value)),
                None,
            ),
        };
        match found {
            Some(i) => self.entries[i].1 = value,
            None => {
                if let (Some(index), Some(hk)) = (&mut self.index, hk) {
                    index.insert(hk, self.entries.len());
                }
                self.entries.push((key, value));
            }
        }
        Ok(())
    }
}

/// A key as the composer met it: a node, or the merge key `<<`.
enum Key {
    Node(Node),
    Merge(usize),
}

/// The tag a node was given, as SafeConstructor dispatches on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// No tag, or the non-specific `!`: resolved from the node's kind (and a plain scalar's text).
    Implicit,
    Core(Kind),
    Map,
    Seq,
    Set,
    Omap,
    Pairs,
}

fn tag_of(tag: Option<&granit_parser::Tag>, line: usize) -> Result<Tag, YamlError> {
    let Some(tag) = tag else {
        return Ok(Tag::Implicit);
    };
    if (tag.handle() == "!" || tag.handle().is_empty()) && tag.suffix().is_empty()
        || tag.handle().is_empty() && tag.suffix() == "!"
    {
        return Ok(Tag::Implicit);
    }
    if tag.handle() == "tag:yaml.org,2002:" {
        let t = match tag.suffix() {
            "null" => Tag::Core(Kind::Null),
            "bool" => Tag::Core(Kind::Bool),
            "int" => Tag::Core(Kind::Int),
            "float" => Tag::Core(Kind::Float),
            "str" => Tag::Core(Kind::Str),
            "binary" => Tag::Core(Kind::Binary),
            "timestamp" => Tag::Core(Kind::Timestamp),
            "merge" => Tag::Core(Kind::Merge),
            "value" => Tag::Core(Kind::ValueKey),
            "map" => Tag::Map,
            "seq" => Tag::Seq,
            "set" => Tag::Set,
            "omap" => Tag::Omap,
            "pairs" => Tag::Pairs,
            other => {
                return Err(error(
                    format!(
                        "could not determine a constructor for the tag 'tag:yaml.org,2002:{other}'"
                    ),
                    line,
                ))
            }
        };
        return Ok(t);
    }
    Err(error(
        format!(
            "could not determine a constructor for the tag '{}{}'",
            tag.handle(),
            tag.suffix()
        ),
        line,
    ))
}

/// What an anchor names.
#[derive(Clone)]
enum Anchored {
    Node(Node, usize),
    /// A scalar that resolved to `<<` (a merge key when aliased as a key).
    MergeKey,
}

enum Frame {
    Seq {
        items: Vec<Node>,
        tag: Tag,
        anchor: usize,
        line: usize,
    },
    Map {
        /// The mapping's own entries, deduplicated as they come.
        dict: DictBuilder,
        /// The values of its merge keys (`<<`), in order, with their lines.
        merges: Vec<(Node, usize)>,
        key: Option<Key>,
        tag: Tag,
        anchor: usize,
        line: usize,
    },
}

struct Composer {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    root: Option<Node>,
    nodes: usize,
    budget: usize,
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Seq(_) | Value::Pairs(_) => "sequence",
        Value::Map(_) | Value::Set(_) => "mapping",
        _ => "scalar",
    }
}

impl Composer {
    fn new() -> Self {
        Composer {
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            nodes: 0,
            budget: 0,
        }
    }

    /// The document's root (null for an empty stream).
    fn finish(self) -> Node {
        self.root.unwrap_or(Node {
            value: Value::Null,
            line: 0,
        })
    }

    fn start_seq(&mut self, tag: Tag, anchor: usize, line: usize) -> Result<(), YamlError> {
        self.count(1, line)?;
        self.stack.push(Frame::Seq {
            items: Vec::new(),
            tag,
            anchor,
            line,
        });
        Ok(())
    }

    fn start_map(&mut self, tag: Tag, anchor: usize, line: usize) -> Result<(), YamlError> {
        self.count(1, line)?;
        self.stack.push(Frame::Map {
            dict: DictBuilder::new(),
            merges: Vec::new(),
            key: None,
            tag,
            anchor,
            line,
        });
        Ok(())
    }

    /// Hands a finished node (or merge key) to its parent.
    fn push(&mut self, item: Key, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            let anchored = match &item {
                Key::Node(n) => Anchored::Node(n.clone(), n.size()),
                Key::Merge(_) => Anchored::MergeKey,
            };
            self.anchors.insert(anchor, anchored);
        }
        match self.stack.last_mut() {
            None => {
                match item {
                    Key::Node(n) => self.root = Some(n),
                    Key::Merge(line) => return Err(error(
                        "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'",
                        line,
                    )),
                }
            }
            Some(Frame::Seq { items, .. }) => {
                match item {
                    Key::Node(n) => items.push(n),
                    Key::Merge(line) => return Err(error(
                        "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'",
                        line,
                    )),
                }
            }
            Some(Frame::Map {
                dict, merges, key, ..
            }) => match key.take() {
                None => *key = Some(item),
                Some(k) => match item {
                    Key::Node(v) => match k {
                        Key::Node(k) => dict.insert(k, v)?,
                        Key::Merge(merge_line) => merges.push((v, merge_line)),
                    },
                    Key::Merge(line) => return Err(error(
                        "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'",
                        line,
                    )),
                },
            },
        }
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > self.budget {
            return Err(error(
                "aliases expand this document beyond what can be validated",
                line,
            ));
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        text: std::borrow::Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&granit_parser::Tag>,
        line: usize,
    ) -> Result<(), YamlError> {
        self.count(1, line)?;
        let explicit_bang = tag.is_some();
        let kind = match tag_of(tag, line)? {
            // A plain scalar, or any scalar tagged `!`, resolves by its text.
            Tag::Implicit if style == ScalarStyle::Plain || explicit_bang => {
                scalar::resolve_plain(&text)
            }
            Tag::Implicit => Kind::Str,
            Tag::Core(kind) => kind,
            Tag::Map | Tag::Set => {
                return Err(error("expected a mapping node, but found scalar", line))
            }
            Tag::Seq | Tag::Omap | Tag::Pairs => {
                return Err(error("expected a sequence node, but found scalar", line))
            }
        };
        let key_position = self.expecting_key();
        let item = match kind {
            Kind::Merge if key_position => Key::Merge(line),
            Kind::ValueKey if key_position => Key::Node(Node {
                value: Value::String(text.into_owned()),
                line,
            }),
            // The common case: the parser's string is the value.
            Kind::Str => Key::Node(Node {
                value: Value::String(text.into_owned()),
                line,
            }),
            _ => Key::Node(Node {
                value: scalar::construct(kind, &text).map_err(|(m, exception)| YamlError {
                    python_exception: exception,
                    ..error(m, line)
                })?,
                line,
            }),
        };
        self.push(item, anchor)
    }

    fn alias(&mut self, id: usize, line: usize) -> Result<(), YamlError> {
        let Some(anchored) = self.anchors.get(&id) else {
            // An alias to a collection still open: PyYAML builds a recursive object. Its
            // type is what LAVA's checks see first; an empty collection of that type stands
            // for it (validating deeper would never end in LAVA either).
            let open = self.stack.iter().find_map(|f| match f {
                Frame::Seq { anchor, .. } if *anchor == id => Some(Value::Seq(Vec::new())),
                Frame::Map { anchor, .. } if *anchor == id => Some(Value::Map(Vec::new())),
                _ => None,
            });
            return match open {
                Some(value) => {
                    self.count(1, line)?;
                    self.push(Key::Node(Node { value, line }), 0)
                }
                None => Err(error("found undefined alias", line)),
            };
        };
        match anchored.clone() {
            Anchored::MergeKey => {
                if self.expecting_key() {
                    self.push(Key::Merge(line), 0)
                } else {
                    Err(error(
                        "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'",
                        line,
                    ))
                }
            }
            Anchored::Node(mut node, size) => {
                self.count(size, line)?;
                node.line = line;
                self.push(Key::Node(node), 0)
            }
        }
    }

    fn end_seq(&mut self) -> Result<(), YamlError> {
        let Some(Frame::Seq {
            items,
            tag,
            anchor,
            line,
        }) = self.stack.pop()
        else {
            return Err(error("unbalanced sequence", 0));
        };
        let value = match tag {
            Tag::Implicit | Tag::Seq => Value::Seq(items),
            Tag::Omap | Tag::Pairs => {
                let mut pairs = Vec::with_capacity(items.len());
                for item in items {
                    match item.value {
                        Value::Map(mut entries) if entries.len() == 1 => {
                            pairs.extend(entries.pop());
                        }
                        Value::Map(entries) => {
                            return Err(error(
                                format!(
                                    "expected a single mapping item, but found {} items",
                                    entries.len()
                                ),
                                item.line,
                            ))
                        }
                        other => {
                            return Err(error(
                                format!(
                                    "expected a mapping of length 1, but found {}",
                                    kind_name(&other)
                                ),
                                item.line,
                            ))
                        }
                    }
                }
                Value::Pairs(pairs)
            }
            Tag::Map | Tag::Set => {
                return Err(error("expected a mapping node, but found sequence", line))
            }
            Tag::Core(_) => return Err(error("expected a scalar node, but found sequence", line)),
        };
        self.push(Key::Node(Node { value, line }), anchor)
    }

    fn end_map(&mut self) -> Result<(), YamlError> {
        let Some(Frame::Map {
            dict,
            merges,
            tag,
            anchor,
            line,
            ..
        }) = self.stack.pop()
        else {
            return Err(error("unbalanced mapping", 0));
        };
        // PyYAML's flatten_mapping: merged entries first (a list of mappings in reverse
        // order, so that the first one wins), then the mapping's own.
        let mut merged: Vec<(Node, Node)> = Vec::new();
        for (value, merge_line) in merges {
            match value.value {
                Value::Map(entries) => merged.extend(entries),
                Value::Set(members) => merged.extend(
                    members.into_iter().map(|m| {
                        let line = m.line;
                        (m, Node { value: Value::Null, line })
                    }),
                ),
                Value::Seq(items) => {
                    let mut sub = Vec::with_capacity(items.len());
                    for item in items {
                        match item.value {
                            Value::Map(entries) => sub.push(entries),
                            Value::Set(members) => sub.push(
                                members
                                    .into_iter()
                                    .map(|m| {
                                        let line = m.line;
                                        (m, Node { value: Value::Null, line })
                                    })
                                    .collect(),
                            ),
                            other => {
                                return Err(error(
                                    format!(
                                        "while constructing a mapping: expected a mapping for merging, but found {}",
                                        kind_name(&other)
                                    ),
                                    item.line,
                                ))
                            }
                        }
                    }
                    for entries in sub.into_iter().rev() {
                        merged.extend(entries);
                    }
                }
                Value::Pairs(pairs) => {
                    for pair in pairs.into_iter().rev() {
                        merged.push(pair);
                    }
                }
                other => {
                    return Err(error(
                        format!(
                            "while constructing a mapping: expected a mapping or list of mappings for merging, but found {}",
                            kind_name(&other)
                        ),
                        merge_line,
                    ))
                }
            }
        }
        let builder = if merged.is_empty() {
            dict
        } else {
            let mut builder = DictBuilder::new();
            for (k, v) in merged.into_iter().chain(dict.entries) {
                builder.insert(k, v)?;
            }
            builder
        };
        let value = match tag {
            Tag::Implicit | Tag::Map => Value::Map(builder.entries),
            Tag::Set => Value::Set(builder.entries.into_iter().map(|(k, _)| k).collect()),
            Tag::Seq | Tag::Omap | Tag::Pairs => {
                return Err(error("expected a sequence node, but found mapping", line))
            }
            Tag::Core(_) => return Err(error("expected a scalar node, but found mapping", line)),
        };
        self.push(Key::Node(Node { value, line }), anchor)
    }
}

fn line_of(span: &Span) -> usize {
    span.start.line()
}

/// Parses `text` into a tree, as LAVA's `yaml_safe_load` reads it.
///
/// Most job definitions are written in plain block style (mappings, lists, one-line
/// scalars): [`block`] reads those directly, several times faster than the general parser,
/// and gives up on anything else, which granit-parser then reads (see [`block`] for why the
/// two always agree).
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if let Some(at) = first_unprintable(text) {
        let line = text[..at].matches('\n').count() + 1;
        return Err(error(
            format!(
                "unacceptable character #x{:04x}: control characters are not allowed",
                u32::from(text[at..].chars().next().unwrap_or('\0'))
            ),
            line,
        ));
    }
    match block::read(text) {
        Some(node) => Ok(node),
        None => parse_events(text),
    }
}

/// Composes granit-parser's events for `text` (already checked for unprintable characters).
fn parse_events(text: &str) -> Result<Node, YamlError> {
    let mut composer = Composer::new();
    let mut events = 0usize;
    let mut documents = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            message: e.info(),
            line: Some(e.marker().line()).filter(|l| *l > 0),
            python_exception: None,
        })?;
        events += 1;
        composer.budget = MAX_EXPANSION.saturating_mul(events).saturating_add(10_000);
        let line = line_of(&span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(error(
                        "expected a single document in the stream: but found another document",
                        line,
                    ));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                composer.scalar(value, style, anchor, tag.as_deref(), line)?
            }
            Event::SequenceStart(_, anchor, tag) => {
                composer.start_seq(tag_of(tag.as_deref(), line)?, anchor, line)?
            }
            Event::SequenceEnd => composer.end_seq()?,
            Event::MappingStart(_, anchor, tag) => {
                composer.start_map(tag_of(tag.as_deref(), line)?, anchor, line)?
            }
            Event::MappingEnd => composer.end_map()?,
            Event::Alias(id) => composer.alias(id, line)?,
            _ => {}
        }
    }
    Ok(composer.finish())
}

/// Writes `node` as YAML text.
///
/// Values YAML's serde data model cannot tag are written as their nearest plain form:
/// `bytes` as base64 text, a set as a mapping to nulls, pairs as single-key mappings.
pub fn emit(node: &Node) -> Result<String, String> {
    serde_saphyr::to_string(node).map_err(|e| e.to_string())
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::BigInt(s) => match s.parse::<i128>() {
                Ok(i) => serializer.serialize_i128(i),
                Err(_) => serializer.serialize_str(s),
            },
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_str(&base64_text(b)),
            Value::Timestamp(t) => serializer.serialize_str(&t.to_string()),
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
            Value::Set(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for m in members {
                    map.serialize_entry(m, &())?;
                }
                map.end()
            }
            Value::Pairs(pairs) => {
                let mut seq = serializer.serialize_seq(Some(pairs.len()))?;
                for (k, v) in pairs {
                    seq.serialize_element(&Node::new(Value::Map(vec![(k.clone(), v.clone())])))?;
                }
                seq.end()
            }
        }
    }
}

fn base64_text(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn octal_quoted_timestamps_and_exponents() {
        assert_eq!(scalar("a: 010\n", "a"), Value::Int(8));
        assert_eq!(scalar("a: 'yes'\n", "a"), Value::String("yes".into()));
        assert_eq!(scalar("a: 1e3\n", "a"), Value::String("1e3".into()));
        assert_eq!(scalar("a: ! 12\n", "a"), Value::Int(12));
        assert_eq!(scalar("a: !!str 12\n", "a"), Value::String("12".into()));
        assert_eq!(scalar("a: !!int '12'\n", "a"), Value::Int(12));
        assert_eq!(
            scalar("a: 2020-05-01\n", "a"),
            Value::Timestamp(Timestamp {
                date: (2020, 5, 1),
                time: None
            })
        );
    }

    #[test]
    fn unknown_tags_are_refused() {
        let err = parse("a: 1\nb: !foo x\n").unwrap_err();
        assert!(err.message.contains("'!foo'"), "{err:?}");
        assert_eq!(err.line, Some(2));
        assert!(parse("a: !!python/object:os.system x\n").is_err());
        assert!(parse("a: <<\n").is_err());
        assert!(parse("a: =\n").is_err());
        assert!(parse("[1, 2]: x\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn anchors_merge_keys_and_lines() {
        let text =
            "base: &b\n  minutes: 5\n  skip: off\nother:\n  <<: *b\n  minutes: 7\nlast: *b\n";
        let tree = parse(text).unwrap();
        let other = tree.get("other").unwrap();
        assert_eq!(other.get("minutes").unwrap().value, Value::Int(7));
        assert_eq!(other.get("skip").unwrap().value, Value::Bool(false));
        // The merged key keeps the merged mapping's position.
        assert_eq!(other.as_map().unwrap()[0].0.as_str(), Some("minutes"));
        assert_eq!(
            tree.get("last").unwrap().get("minutes").unwrap().value,
            Value::Int(5)
        );
        assert_eq!(tree.get("other").unwrap().line, 5);
        assert_eq!(tree.get("base").unwrap().get("skip").unwrap().line, 3);
        let listed = parse("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b]}\n").unwrap();
        let c = listed.get("c").unwrap();
        assert_eq!(c.get("x").unwrap().value, Value::Int(1));
        assert_eq!(c.get("y").unwrap().value, Value::Int(2));
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        let tree = parse("a: 1\nb: 2\na: 3\n").unwrap();
        let keys: Vec<_> = tree
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, [Some("a"), Some("b")]);
        assert_eq!(tree.get("a").unwrap().value, Value::Int(3));
        // Python: 1 == 1.0 == True.
        let mixed = parse("1: a\n1.0: b\ntrue: c\n").unwrap();
        assert_eq!(mixed.as_map().unwrap().len(), 1);
        assert_eq!(
            mixed.as_map().unwrap()[0].1.value,
            Value::String("c".into())
        );
        // Many keys go through the hash index.
        let many: String = (0..100).map(|i| format!("k{}: {i}\n", i % 50)).collect();
        let tree = parse(&many).unwrap();
        assert_eq!(tree.as_map().unwrap().len(), 50);
        assert_eq!(tree.get("k3").unwrap().value, Value::Int(53));
    }

    #[test]
    fn recursive_aliases_read_and_exploding_ones_are_refused() {
        let recursive = parse("a: &x [1, *x]\n").unwrap();
        assert_eq!(
            recursive.get("a").unwrap().as_seq().unwrap()[1].value,
            Value::Seq(Vec::new())
        );
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&bomb).unwrap_err();
        assert!(err.message.contains("aliases"), "{err:?}");
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line.is_some(), "{err:?}");
        assert_eq!(parse("a: \u{1}\n").unwrap_err().line, Some(1));
    }

    #[test]
    fn empty_stream_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# nothing\n").unwrap().value, Value::Null);
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
