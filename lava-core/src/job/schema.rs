//! A schema checker that behaves as voluptuous (0.13) does on the data PyYAML gives: the
//! library LAVA writes its job, action and device schemas with.
//!
//! LAVA's verdicts and messages come from voluptuous' algorithm as much as from the
//! schemas: which candidate key a data key is checked against (literal keys first, then
//! markers, callables, types), that `bool` passes for `int`, that `Any` reports the error
//! that went deepest, that a list item is tried against each alternative, how a nested
//! `Schema` object carries its own extra-keys policy, and the exact wording of each
//! message (`expected str for dictionary value @ data['a']`). [`S`] mirrors those building
//! blocks; the schemas themselves are written with it in `submission.rs` and `actions/`.

use super::python;
use super::yaml::{Node, Value};
use std::borrow::Cow;

/// What a mapping does with keys its schema does not name (voluptuous' `extra`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    /// `PREVENT_EXTRA`: "extra keys not allowed".
    Prevent,
    /// `ALLOW_EXTRA`.
    Allow,
}

/// A Python type for `isinstance` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Str,
    /// `int` (a `bool` is one too).
    Int,
    Bool,
    Dict,
    List,
    /// `object`: anything.
    Object,
}

impl Type {
    /// voluptuous' message when a value is not of this type.
    fn expected(self) -> &'static str {
        match self {
            Type::Str => "expected str",
            Type::Int => "expected int",
            Type::Bool => "expected bool",
            Type::Dict => "expected dict",
            Type::List => "expected list",
            Type::Object => "expected object",
        }
    }

    fn admits(self, value: &Value) -> bool {
        match self {
            Type::Str => matches!(value, Value::String(_)),
            Type::Int => matches!(value, Value::Int(_) | Value::BigInt(_) | Value::Bool(_)),
            Type::Bool => matches!(value, Value::Bool(_)),
            Type::Dict => matches!(value, Value::Map(_)),
            Type::List => matches!(value, Value::Seq(_) | Value::Pairs(_)),
            Type::Object => true,
        }
    }
}

/// A check that a plain Python function does (`extra_checks`, `vlan_name`, ...): `Err`
/// is an `Invalid` raised with the message and a path relative to the checked value.
pub(crate) type Check = fn(&Node) -> Result<(), Invalid>;

/// A schema, as voluptuous composes them.
pub(crate) enum S {
    /// `str`, `int`, `dict`... : `isinstance`.
    Type(Type),
    /// A string literal: `data == "tftp"`.
    Lit(&'static str),
    /// The literal `None`.
    LitNone,
    /// `Any(...)`, with its optional `msg`.
    Any(Vec<S>, Option<&'static str>),
    /// `All(...)`.
    All(Vec<S>),
    /// `Length(min, max)`.
    Length(Option<usize>, Option<usize>),
    /// `Range(min, max)` (inclusive).
    Range(Option<i64>, Option<i64>),
    /// `NotIn([...], msg)`.
    NotIn(&'static [&'static str], &'static str),
    /// `Match(regex, msg)`: the function is the regex; the text is for the default message.
    Match(fn(&str) -> bool, &'static str, Option<&'static str>),
    /// `In([...])` (used as a key).
    In(&'static [&'static str]),
    /// A plain function.
    Func(Check),
    /// A `dict` schema.
    Map(MapSchema),
    /// A `list` schema: each item must pass one of these.
    Seq(Vec<S>),
    /// A nested `Schema(...)` object: its own extra-keys policy, called as a function.
    Schema(Box<S>, Extra),
    /// `Msg(schema, msg)`.
    Msg(Box<S>, &'static str),
}

/// How a key of a mapping schema is marked.
#[derive(Clone, Copy)]
pub(crate) enum Mark {
    /// A bare key.
    Plain,
    /// `Required(key, msg=...)`.
    Required(Option<&'static str>),
    /// `Optional(key)`.
    Optional,
    /// `Exclusive(key, group)`.
    Exclusive(&'static str),
}

/// A key of a mapping schema: a literal, or a validator every data key is tried against.
pub(crate) enum KeySchema {
    Lit(&'static str),
    Validator(S),
}

/// A `dict` schema: its keys in the order voluptuous tries them.
pub(crate) struct MapSchema {
    entries: Vec<(Mark, KeySchema, S)>,
    /// The literal keys (tried first for an equal data key) and their entries. (Found by a
    /// scan: schemas are small and most keys differ in length, which is checked first.)
    literals: Vec<(&'static str, usize)>,
    /// The other entries, in voluptuous' priority order (markers, callables, types).
    others: Vec<usize>,
    /// The exclusion groups, in the order the schema names them.
    groups: Vec<&'static str>,
}

fn priority(mark: Mark, key: &KeySchema) -> u8 {
    match (mark, key) {
        (Mark::Plain, KeySchema::Lit(_)) => 0,
        (Mark::Plain, KeySchema::Validator(S::Type(_))) => 4,
        (Mark::Plain, KeySchema::Validator(_)) => 3,
        _ => 2,
    }
}

impl MapSchema {
    /// A mapping schema from `(mark, key, value)` entries, in the order the Python dict has
    /// them (a later entry with the same literal key replaces an earlier one, as `{**a, **b}`
    /// does).
    pub(crate) fn new(entries: Vec<(Mark, KeySchema, S)>) -> Self {
        let mut deduped: Vec<(Mark, KeySchema, S)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let same = |e: &(Mark, KeySchema, S)| match (&e.1, &entry.1) {
                (KeySchema::Lit(a), KeySchema::Lit(b)) => a == b,
                _ => false,
            };
            // `{**a, **b}`: the key object (and so its marker) of `a` stays, `b`'s value wins.
            match deduped.iter().position(same) {
                Some(i) => deduped[i].2 = entry.2,
                None => deduped.push(entry),
            }
        }
        let mut others: Vec<usize> = (0..deduped.len())
            .filter(|&i| !matches!(deduped[i].1, KeySchema::Lit(_)))
            .collect();
        others.sort_by_key(|&i| priority(deduped[i].0, &deduped[i].1));
        let literals: Vec<(&'static str, usize)> = deduped
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e.1 {
                KeySchema::Lit(name) => Some((name, i)),
                KeySchema::Validator(_) => None,
            })
            .collect();
        let mut groups = Vec::new();
        for (mark, _, _) in &deduped {
            if let Mark::Exclusive(g) = mark {
                if !groups.contains(g) {
                    groups.push(*g);
                }
            }
        }
        MapSchema {
            entries: deduped,
            literals,
            others,
            groups,
        }
    }

    /// The entry of the literal key equal to `key`, if any.
    fn literal(&self, key: &str) -> Option<usize> {
        self.literals
            .iter()
            .find(|(name, _)| *name == key)
            .map(|&(_, i)| i)
    }
}

/// One step of a path into the data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// A mapping key, as Python's `repr` writes it, and as `str` does.
    Key { repr: String, text: String },
    /// A list index.
    Index(usize),
    /// voluptuous' `<group>` for an exclusion group.
    Virtual(&'static str),
}

impl Step {
    pub(crate) fn key(node: &Node) -> Step {
        Step::Key {
            repr: python::repr(&node.value),
            text: python::str(&node.value),
        }
    }

    pub(crate) fn name(name: &str) -> Step {
        Step::Key {
            repr: python::repr_str(name),
            text: name.to_owned(),
        }
    }
}

/// A step of the path being checked, borrowed from the data: made into a [`Step`] (with
/// Python's `repr`) only when an error is reported.
#[derive(Clone)]
pub(crate) enum At<'a> {
    Key(&'a Node),
    Name(&'static str),
    Index(usize),
    Virtual(&'static str),
    /// A step a plain function reported.
    Step(Step),
}

fn owned(path: &[At<'_>]) -> Vec<Step> {
    path.iter()
        .map(|at| match at {
            At::Key(node) => Step::key(node),
            At::Name(name) => Step::name(name),
            At::Index(i) => Step::Index(*i),
            At::Virtual(g) => Step::Virtual(g),
            At::Step(step) => step.clone(),
        })
        .collect()
}

/// A voluptuous `Invalid`: its message, path and `error_type`, and the line of the data it
/// is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invalid {
    pub msg: String,
    pub path: Vec<Step>,
    pub error_type: Option<&'static str>,
    pub line: usize,
}

impl Invalid {
    pub(crate) fn new(msg: impl Into<String>, line: usize) -> Self {
        Invalid {
            msg: msg.into(),
            path: Vec::new(),
            error_type: None,
            line,
        }
    }

    /// `str(exc)` as voluptuous writes it.
    pub(crate) fn text(&self) -> String {
        let mut out = self.msg.clone();
        if let Some(t) = self.error_type {
            out.push_str(" for ");
            out.push_str(t);
        }
        if !self.path.is_empty() {
            out.push_str(" @ data[");
            out.push_str(&python_path(&self.path));
            out.push(']');
        }
        out
    }

    /// The path in lava-rs' dotted form (`actions[2].deploy.to`).
    pub(crate) fn dotted_path(&self) -> String {
        dotted(&self.path)
    }
}

/// `']['.join(map(repr, path))`.
pub(crate) fn python_path(path: &[Step]) -> String {
    let mut out = String::new();
    for (i, step) in path.iter().enumerate() {
        if i > 0 {
            out.push_str("][");
        }
        match step {
            Step::Key { repr, .. } => out.push_str(repr),
            Step::Index(i) => out.push_str(&i.to_string()),
            Step::Virtual(g) => {
                out.push('<');
                out.push_str(g);
                out.push('>');
            }
        }
    }
    out
}

/// `timeouts.job.minutes`, `actions[2].deploy`.
pub(crate) fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key { text, .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(text);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Virtual(g) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('<');
                out.push_str(g);
                out.push('>');
            }
        }
    }
    if out.is_empty() {
        "(document)".into()
    } else {
        out
    }
}

/// A failed validation: voluptuous' `MultipleInvalid` (never empty).
pub(crate) type Errors = Vec<Invalid>;

/// An `Invalid` while checking: its path still borrowed from the data, its message static
/// where it can be (most alternatives of an `Any` fail, and are dropped).
struct Fail<'a> {
    msg: Cow<'static, str>,
    path: Vec<At<'a>>,
    error_type: Option<&'static str>,
    line: usize,
}

type Fails<'a> = Vec<Fail<'a>>;

fn one<'a>(msg: impl Into<Cow<'static, str>>, path: &[At<'a>], line: usize) -> Fails<'a> {
    vec![Fail {
        msg: msg.into(),
        path: path.to_vec(),
        error_type: None,
        line,
    }]
}

fn depth(errors: &Fails<'_>) -> usize {
    errors.first().map_or(0, |e| e.path.len())
}

/// Validates `data` against `schema` as `Schema(schema, extra=extra)(data)` does.
pub(crate) fn validate(schema: &S, extra: Extra, data: &Node) -> Result<(), Errors> {
    // Deep enough for a job's nesting without growing.
    let mut path = Vec::with_capacity(16);
    check(schema, extra, data, &mut path).map_err(|fails| {
        fails
            .into_iter()
            .map(|f| Invalid {
                msg: f.msg.into_owned(),
                path: owned(&f.path),
                error_type: f.error_type,
                line: f.line,
            })
            .collect()
    })
}

/// Python's `len()`, if the value has one.
fn python_len(value: &Value) -> Option<usize> {
    match value {
        Value::String(s) => Some(s.chars().count()),
        Value::Bytes(b) => Some(b.len()),
        Value::Seq(items) | Value::Set(items) => Some(items.len()),
        Value::Map(entries) | Value::Pairs(entries) => Some(entries.len()),
        _ => None,
    }
}

/// Python's `v >= bound` (`at_least`) or `v <= bound`: `None` when Python raises
/// TypeError (no ordering between the types); NaN compares false both ways.
fn within(value: &Value, bound: i64, at_least: bool) -> Option<bool> {
    let ordering = match value {
        Value::Int(i) => i.cmp(&bound),
        Value::Bool(b) => i64::from(*b).cmp(&bound),
        Value::BigInt(s) => {
            if s.starts_with('-') {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        }
        Value::Float(f) => match f.partial_cmp(&(bound as f64)) {
            Some(o) => o,
            None => return Some(false),
        },
        _ => return None,
    };
    Some(if at_least {
        ordering.is_ge()
    } else {
        ordering.is_le()
    })
}

fn check<'a>(
    schema: &S,
    extra: Extra,
    data: &'a Node,
    path: &mut Vec<At<'a>>,
) -> Result<(), Fails<'a>> {
    match schema {
        S::Type(t) => {
            if t.admits(&data.value) {
                Ok(())
            } else {
                Err(one(t.expected(), path, data.line))
            }
        }
        S::Lit(lit) => match &data.value {
            Value::String(s) if s == lit => Ok(()),
            _ => Err(one("not a valid value", path, data.line)),
        },
        S::LitNone => match data.value {
            Value::Null => Ok(()),
            _ => Err(one("not a valid value", path, data.line)),
        },
        S::Any(alternatives, msg) => {
            let mut best: Option<Fails<'a>> = None;
            for alternative in alternatives {
                match check(alternative, extra, data, path) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        if best.as_ref().is_none_or(|b| depth(&e) > depth(b)) {
                            best = Some(e);
                        }
                    }
                }
            }
            match (msg, best) {
                (Some(msg), _) => Err(one(*msg, path, data.line)),
                (None, Some(best)) => Err(best),
                (None, None) => Err(one("no valid value found", path, data.line)),
            }
        }
        S::All(parts) => {
            for part in parts {
                check(part, extra, data, path)?;
            }
            Ok(())
        }
        S::Length(min, max) => {
            let Some(len) = python_len(&data.value) else {
                return Err(one(
                    "invalid value or type (must have a length)",
                    path,
                    data.line,
                ));
            };
            if let Some(min) = min {
                if len < *min {
                    return Err(one(
                        format!("length of value must be at least {min}"),
                        path,
                        data.line,
                    ));
                }
            }
            if let Some(max) = max {
                if len > *max {
                    return Err(one(
                        format!("length of value must be at most {max}"),
                        path,
                        data.line,
                    ));
                }
            }
            Ok(())
        }
        S::Range(min, max) => {
            for (bound, at_least) in [(min, true), (max, false)] {
                let Some(bound) = bound else { continue };
                match within(&data.value, *bound, at_least) {
                    None => {
                        return Err(one(
                            "invalid value or type (must have a partial ordering)",
                            path,
                            data.line,
                        ))
                    }
                    Some(false) => {
                        let word = if at_least { "least" } else { "most" };
                        return Err(one(
                            format!("value must be at {word} {bound}"),
                            path,
                            data.line,
                        ));
                    }
                    Some(true) => {}
                }
            }
            Ok(())
        }
        S::NotIn(container, msg) => match &data.value {
            Value::String(s) if container.contains(&s.as_str()) => Err(one(*msg, path, data.line)),
            // A list or mapping is unhashable but `in` on a list only compares: no TypeError.
            _ => Ok(()),
        },
        S::In(container) => match &data.value {
            Value::String(s) if container.contains(&s.as_str()) => Ok(()),
            _ => {
                let mut sorted: Vec<&str> = container.to_vec();
                sorted.sort_unstable();
                let list: Vec<String> = sorted.iter().map(|s| python::repr_str(s)).collect();
                Err(one(
                    format!("value must be one of [{}]", list.join(", ")),
                    path,
                    data.line,
                ))
            }
        },
        S::Match(regex, pattern, msg) => match &data.value {
            Value::String(s) => {
                if regex(s) {
                    Ok(())
                } else {
                    Err(one(
                        msg.map(str::to_owned).unwrap_or_else(|| {
                            format!("does not match regular expression {pattern}")
                        }),
                        path,
                        data.line,
                    ))
                }
            }
            _ => Err(one("expected string or buffer", path, data.line)),
        },
        S::Func(f) => f(data).map_err(|e| {
            let mut full = Vec::with_capacity(path.len() + e.path.len());
            full.extend_from_slice(path);
            full.extend(e.path.into_iter().map(At::Step));
            vec![Fail {
                msg: e.msg.into(),
                path: full,
                error_type: e.error_type,
                line: if e.line == 0 { data.line } else { e.line },
            }]
        }),
        S::Map(map) => check_map(map, extra, data, path),
        S::Seq(alternatives) => check_seq(alternatives, extra, data, path),
        S::Schema(inner, own_extra) => check(inner, *own_extra, data, path),
        S::Msg(inner, msg) => {
            let base = path.len();
            match check(inner, extra, data, path) {
                Ok(()) => Ok(()),
                Err(e) if depth(&e) > base + 1 => Err(e),
                Err(_) => Err(one(*msg, path, data.line)),
            }
        }
    }
}

fn check_seq<'a>(
    alternatives: &[S],
    extra: Extra,
    data: &'a Node,
    path: &mut Vec<At<'a>>,
) -> Result<(), Fails<'a>> {
    let items: &[Node] = match &data.value {
        Value::Seq(items) => items,
        // A list of tuples: each item a tuple, which no schema here admits but `object`.
        Value::Pairs(pairs) => {
            let mut errors = Vec::new();
            for (i, (k, _)) in pairs.iter().enumerate() {
                if !alternatives
                    .iter()
                    .any(|a| matches!(a, S::Type(Type::Object)))
                {
                    path.push(At::Index(i));
                    errors.push(Fail {
                        msg: "expected a tuple to match".into(),
                        path: path.clone(),
                        error_type: None,
                        line: k.line,
                    });
                    path.pop();
                }
            }
            return if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            };
        }
        _ => return Err(one("expected a list", path, data.line)),
    };
    if alternatives.is_empty() {
        return if items.is_empty() {
            Ok(())
        } else {
            Err(one("not a valid value", path, data.line))
        };
    }
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        path.push(At::Index(i));
        let index_depth = path.len();
        let mut invalid = None;
        let mut passed = false;
        for alternative in alternatives {
            match check(alternative, extra, item, path) {
                Ok(()) => {
                    passed = true;
                    break;
                }
                Err(e) => {
                    if depth(&e) > index_depth {
                        path.pop();
                        return Err(e);
                    }
                    invalid = Some(e);
                }
            }
        }
        path.pop();
        if !passed {
            errors.extend(invalid.unwrap_or_default());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Which entries of a mapping schema some data key went to: bits for the usual small
/// schema, a vector past that.
enum Found {
    Bits(u64),
    Many(Vec<bool>),
}

impl Found {
    fn new(entries: usize) -> Self {
        if entries <= 64 {
            Found::Bits(0)
        } else {
            Found::Many(vec![false; entries])
        }
    }

    fn set(&mut self, i: usize) {
        match self {
            Found::Bits(bits) => *bits |= 1 << i,
            Found::Many(found) => found[i] = true,
        }
    }

    fn get(&self, i: usize) -> bool {
        match self {
            Found::Bits(bits) => bits & (1 << i) != 0,
            Found::Many(found) => found[i],
        }
    }
}

fn check_map<'a>(
    map: &MapSchema,
    extra: Extra,
    data: &'a Node,
    path: &mut Vec<At<'a>>,
) -> Result<(), Fails<'a>> {
    let Value::Map(entries) = &data.value else {
        return Err(one("expected a dictionary", path, data.line));
    };
    // Exclusion groups, in the order the schema names them.
    let mut errors = Vec::new();
    for &group in &map.groups {
        let mut exists = false;
        for (mark, key, _) in &map.entries {
            let (Mark::Exclusive(g), KeySchema::Lit(name)) = (mark, key) else {
                continue;
            };
            if *g != group || !entries.iter().any(|(k, _)| k.as_str() == Some(name)) {
                continue;
            }
            if exists {
                path.push(At::Virtual(group));
                errors.push(Fail {
                    msg: format!("two or more values in the same group of exclusion '{group}'")
                        .into(),
                    path: path.clone(),
                    error_type: None,
                    line: data.line,
                });
                path.pop();
                break;
            }
            exists = true;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut found = Found::new(map.entries.len());
    for (key, value) in entries {
        path.push(At::Key(key));
        let key_depth = path.len();
        let literal = key.as_str().and_then(|k| map.literal(k));
        let mut matched = false;
        for i in literal.into_iter().chain(map.others.iter().copied()) {
            let (_, key_schema, value_schema) = &map.entries[i];
            if let KeySchema::Validator(v) = key_schema {
                if let Err(e) = check(v, extra, key, path) {
                    if depth(&e) > key_depth {
                        path.pop();
                        return Err(e);
                    }
                    continue;
                }
            }
            matched = true;
            found.set(i);
            if let Err(mut e) = check(value_schema, extra, value, path) {
                for err in &mut e {
                    if err.path.len() <= key_depth && err.error_type.is_none() {
                        err.error_type = Some("dictionary value");
                    }
                }
                errors.extend(e);
            }
            break;
        }
        if !matched && extra == Extra::Prevent {
            errors.push(Fail {
                msg: "extra keys not allowed".into(),
                path: path.clone(),
                error_type: None,
                line: key.line,
            });
        }
        path.pop();
    }
    for (i, (mark, key, _)) in map.entries.iter().enumerate() {
        if let (Mark::Required(msg), false) = (mark, found.get(i)) {
            let mut full = Vec::with_capacity(path.len() + 1);
            full.extend_from_slice(path);
            full.push(match key {
                KeySchema::Lit(name) => At::Name(name),
                KeySchema::Validator(_) => At::Step(Step::Key {
                    repr: "<class 'str'>".into(),
                    text: "(any key)".into(),
                }),
            });
            errors.push(Fail {
                msg: msg.unwrap_or("required key not provided").into(),
                path: full,
                error_type: None,
                line: data.line,
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------- building blocks

/// `str`.
pub(crate) fn str_() -> S {
    S::Type(Type::Str)
}
/// `int`.
pub(crate) fn int() -> S {
    S::Type(Type::Int)
}
/// `bool`.
pub(crate) fn bool_() -> S {
    S::Type(Type::Bool)
}
/// `dict`.
pub(crate) fn dict() -> S {
    S::Type(Type::Dict)
}
/// `list`.
pub(crate) fn list() -> S {
    S::Type(Type::List)
}
/// `object`.
pub(crate) fn object() -> S {
    S::Type(Type::Object)
}
/// `Any(...)`.
pub(crate) fn any(alternatives: Vec<S>) -> S {
    S::Any(alternatives, None)
}
/// `All(...)`.
pub(crate) fn all(parts: Vec<S>) -> S {
    S::All(parts)
}
/// `[...]`.
pub(crate) fn seq(alternatives: Vec<S>) -> S {
    S::Seq(alternatives)
}
/// `Any("a", "b", ...)` of string literals.
pub(crate) fn one_of(choices: &[&'static str]) -> S {
    S::Any(choices.iter().map(|c| S::Lit(c)).collect(), None)
}
/// A `dict` schema.
pub(crate) fn map(entries: Vec<(Mark, KeySchema, S)>) -> S {
    S::Map(MapSchema::new(entries))
}
/// `Schema(schema, extra=...)`.
pub(crate) fn schema(inner: S, extra: Extra) -> S {
    S::Schema(Box::new(inner), extra)
}
/// `Required("key"): value`.
pub(crate) fn req(key: &'static str, value: S) -> (Mark, KeySchema, S) {
    (Mark::Required(None), KeySchema::Lit(key), value)
}
/// `Optional("key"): value`.
pub(crate) fn opt(key: &'static str, value: S) -> (Mark, KeySchema, S) {
    (Mark::Optional, KeySchema::Lit(key), value)
}
/// `"key": value` (a bare key: optional).
pub(crate) fn bare(key: &'static str, value: S) -> (Mark, KeySchema, S) {
    (Mark::Plain, KeySchema::Lit(key), value)
}
/// `Exclusive("key", group): value`.
pub(crate) fn excl(key: &'static str, group: &'static str, value: S) -> (Mark, KeySchema, S) {
    (Mark::Exclusive(group), KeySchema::Lit(key), value)
}
/// `validator: value`, a key every data key is tried against.
pub(crate) fn keyed(key: S, value: S) -> (Mark, KeySchema, S) {
    (Mark::Plain, KeySchema::Validator(key), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::yaml::parse;

    fn first(schema: &S, extra: Extra, text: &str) -> Option<String> {
        validate(schema, extra, &parse(text).unwrap())
            .err()
            .map(|e| e[0].text())
    }

    #[test]
    fn messages_are_voluptuous_messages() {
        let s = map(vec![
            req("to", str_()),
            opt("n", int()),
            bare("t", map(vec![req("minutes", int())])),
        ]);
        assert_eq!(first(&s, Extra::Prevent, "to: x\n"), None);
        assert_eq!(
            first(&s, Extra::Prevent, "{}").as_deref(),
            Some("required key not provided @ data['to']")
        );
        assert_eq!(
            first(&s, Extra::Prevent, "to: 1\n").as_deref(),
            Some("expected str for dictionary value @ data['to']")
        );
        // bool is an int.
        assert_eq!(first(&s, Extra::Prevent, "to: x\nn: yes\n"), None);
        assert_eq!(
            first(&s, Extra::Prevent, "to: x\nz: 1\n").as_deref(),
            Some("extra keys not allowed @ data['z']")
        );
        assert_eq!(first(&s, Extra::Allow, "to: x\nz: 1\n"), None);
        assert_eq!(
            first(&s, Extra::Prevent, "to: x\nt: {}\n").as_deref(),
            Some("required key not provided @ data['t']['minutes']")
        );
        assert_eq!(
            first(&s, Extra::Prevent, "to: x\nt: 3\n").as_deref(),
            Some("expected a dictionary for dictionary value @ data['t']")
        );
    }

    #[test]
    fn lists_and_any() {
        let s = map(vec![bare("tags", seq(vec![str_()]))]);
        assert_eq!(
            first(&s, Extra::Prevent, "tags: [a, 1]\n").as_deref(),
            Some("expected str @ data['tags'][1]")
        );
        assert_eq!(
            first(&s, Extra::Prevent, "tags: a\n").as_deref(),
            Some("expected a list for dictionary value @ data['tags']")
        );
        let a = any(vec![
            one_of(&["a", "b"]),
            map(vec![req("group", seq(vec![str_()]))]),
        ]);
        assert_eq!(
            first(&a, Extra::Prevent, "group: [1]\n").as_deref(),
            Some("expected str @ data['group'][0]")
        );
        assert_eq!(
            first(&a, Extra::Prevent, "c\n").as_deref(),
            Some("not a valid value")
        );
    }

    #[test]
    fn exclusion_groups() {
        let s = map(vec![excl("a", "g", int()), excl("b", "g", int())]);
        assert_eq!(
            first(&s, Extra::Prevent, "a: 1\nb: 2\n").as_deref(),
            Some("two or more values in the same group of exclusion 'g' @ data[<g>]")
        );
    }
}
