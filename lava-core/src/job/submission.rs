//! LAVA 2020.05's submission verdict: what `scheduler.submit_job` (`testjob_submission`)
//! refuses, in LAVA's words.
//!
//! The steps, in LAVA's order: the submission schema (`lava_scheduler_app/schema.py`,
//! written with [`super::schema`]), its checks on secrets, on `revision` with
//! `shallow`, and on multinode roles, the notification checks (`validate_yaml`), then what
//! creating the jobs checks (`from_yaml_and_user`: the multinode split, vland, priority,
//! visibility groups). LAVA's code does not only raise its own messages: where it fails on
//! a Python error for data its schema let through (a `KeyError`, a `TypeError`), the
//! submission is refused all the same, and so it is here, with the Python error named.
//!
//! What depends on the lab's database is not checked here (see `docs/scheduler.md`): that
//! the device types exist and have enough devices for each role, that tags, viewing groups,
//! notified users and compared queries exist.

use super::python;
use super::schema::{
    all, any, bare, bool_, dict, excl, int, keyed, list, map, one_of, opt, req, schema, seq, str_,
    Extra, Invalid, KeySchema, Mark, Step, S,
};
use super::yaml::{Node, Value};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Why LAVA refuses a submission: its message, and where in the definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    /// LAVA's message (for a schema error, voluptuous' text with its `@ data[...]` path).
    pub message: String,
    /// Where: the key path in lava-rs' dotted form.
    pub path: String,
    /// The line in the submitted text (0 when unknown).
    pub line: usize,
}

fn refusal(message: impl Into<String>, path: impl Into<String>, line: usize) -> Refusal {
    Refusal {
        message: message.into(),
        path: path.into(),
        line,
    }
}

impl From<Invalid> for Refusal {
    fn from(e: Invalid) -> Self {
        Refusal {
            message: e.text(),
            path: e.dotted_path(),
            line: e.line,
        }
    }
}

// ------------------------------------------------------------------ the schema

fn timeout() -> S {
    schema(
        map(vec![
            excl("days", "timeout_unit", int()),
            excl("hours", "timeout_unit", int()),
            excl("minutes", "timeout_unit", int()),
            excl("seconds", "timeout_unit", int()),
            opt("skip", bool_()),
        ]),
        Extra::Prevent,
    )
}

fn url() -> S {
    map(vec![req("url", str_())])
}

fn deploy() -> S {
    let tftp = schema(
        map(vec![
            req("to", S::Lit("tftp")),
            opt("timeout", timeout()),
            opt("kernel", url()),
            opt("ramdisk", url()),
            opt("nbdroot", url()),
            opt("initrd", url()),
            opt("nfsrootfs", url()),
            opt("dtb", url()),
            opt("modules", url()),
        ]),
        Extra::Allow,
    );
    let any_deploy = schema(
        map(vec![req("to", str_()), opt("timeout", timeout())]),
        Extra::Allow,
    );
    any(vec![tftp, any_deploy])
}

fn boot() -> S {
    let auto_login = schema(
        map(vec![
            req("login_prompt", str_()),
            req("username", str_()),
            opt("password_prompt", str_()),
            opt("password", str_()),
            opt("login_commands", list()),
        ]),
        Extra::Prevent,
    );
    let simple_params = schema(
        map(vec![keyed(any(vec![str_()]), any(vec![str_(), bool_()]))]),
        Extra::Prevent,
    );
    schema(
        map(vec![
            req("method", str_()),
            opt("timeout", timeout()),
            opt("auto_login", auto_login),
            opt("parameters", simple_params),
            opt("commands", any(vec![str_(), list()])),
        ]),
        Extra::Allow,
    )
}

/// `^[a-zA-Z0-9-_]+$` (Python's `$` also matches before a final newline).
fn name_chars(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn name() -> S {
    S::Match(name_chars, "^[a-zA-Z0-9-_]+$", Some("Invalid character"))
}

fn test() -> S {
    let monitors = schema(
        seq(vec![map(vec![
            req("name", name()),
            req("start", str_()),
            req("end", str_()),
            req("pattern", str_()),
            opt("fixupdict", dict()),
        ])]),
        Extra::Prevent,
    );
    let script = schema(
        seq(vec![map(vec![
            opt("name", name()),
            opt("command", any(vec![S::LitNone, str_()])),
            opt("delay", int()),
            opt("lava-send", str_()),
            opt("lava-sync", str_()),
            opt("lava-wait", str_()),
            opt("lava-wait-all", str_()),
            opt(
                "failures",
                seq(vec![map(vec![
                    req("message", str_()),
                    opt(
                        "exception",
                        one_of(&["InfrastructureError", "JobError", "TestError"]),
                    ),
                    opt("error", str_()),
                ])]),
            ),
            opt("successes", seq(vec![map(vec![req("message", str_())])])),
        ])]),
        Extra::Prevent,
    );
    let interactive = schema(
        seq(vec![map(vec![
            req("name", name()),
            req("prompts", list()),
            opt("echo", S::Lit("discard")),
            req("script", script),
        ])]),
        Extra::Prevent,
    );
    let inline = schema(
        map(vec![
            bare("metadata", dict()),
            bare("install", dict()),
            bare("run", dict()),
            bare("parse", dict()),
        ]),
        Extra::Prevent,
    );
    let definitions = schema(
        seq(vec![map(vec![
            req("repository", any(vec![inline, str_()])),
            req("from", str_()),
            req("name", str_()),
            req("path", str_()),
            opt("parameters", dict()),
            opt("timeout", timeout()),
        ])]),
        Extra::Allow,
    );
    any(vec![
        schema(
            map(vec![req("monitors", monitors), opt("timeout", timeout())]),
            Extra::Allow,
        ),
        schema(
            map(vec![
                req("interactive", interactive),
                opt("timeout", timeout()),
            ]),
            Extra::Allow,
        ),
        schema(
            map(vec![
                req("definitions", definitions),
                opt("timeout", timeout()),
            ]),
            Extra::Allow,
        ),
    ])
}

fn command() -> S {
    schema(
        map(vec![
            req("name", str_()),
            opt("timeout", timeout()),
            opt("namespace", str_()),
        ]),
        Extra::Allow,
    )
}

fn callback() -> Vec<(Mark, KeySchema, S)> {
    vec![
        req("url", str_()),
        opt("method", one_of(&["GET", "POST"])),
        opt("token", str_()),
        opt("dataset", one_of(&["minimal", "logs", "results", "all"])),
        opt("content-type", one_of(&["json", "urlencoded"])),
    ]
}

fn notify() -> S {
    let recipients = schema(
        seq(vec![map(vec![req(
            "to",
            map(vec![
                req("method", one_of(&["email", "irc"])),
                bare("user", str_()),
                bare("email", str_()),
                bare("server", str_()),
                bare("handle", str_()),
            ]),
        )])]),
        Extra::Prevent,
    );
    let criteria = schema(
        map(vec![
            req(
                "status",
                one_of(&["running", "complete", "incomplete", "canceled", "finished"]),
            ),
            bare("type", one_of(&["progression", "regression"])),
        ]),
        Extra::Allow,
    );
    let query = any(vec![
        schema(
            map(vec![req("username", str_()), req("name", str_())]),
            Extra::Prevent,
        ),
        schema(
            map(vec![req("entity", str_()), bare("conditions", dict())]),
            Extra::Prevent,
        ),
    ]);
    let compare = schema(
        map(vec![
            bare("query", query),
            bare("blacklist", seq(vec![str_()])),
        ]),
        Extra::Allow,
    );
    schema(
        map(vec![
            req("criteria", criteria),
            bare("recipients", recipients),
            excl(
                "callback",
                "legacy_callback",
                schema(map(callback()), Extra::Allow),
            ),
            excl(
                "callbacks",
                "legacy_callback",
                schema(seq(vec![map(callback())]), Extra::Allow),
            ),
            bare("verbosity", one_of(&["verbose", "quiet", "status-only"])),
            bare("compare", compare),
        ]),
        Extra::Allow,
    )
}

/// `str(value)` matches `^[_a-zA-Z0-9]+$`: LAVA's `vlan_name` key check.
fn vlan_name(key: &Node) -> Result<(), Invalid> {
    let text = python::str(&key.value);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(Invalid::new(python::str(&key.value), key.line))
    }
}

/// `str(value)` matches `^[a-z-]+$`: LAVA's `action_name` key check.
pub(crate) fn action_name(key: &Node) -> Result<(), Invalid> {
    let text = python::str(&key.value);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        Ok(())
    } else {
        Err(Invalid::new(python::str(&key.value), key.line))
    }
}

fn context() -> S {
    schema(
        map(vec![keyed(
            S::In(super::CONTEXT_VARIABLES),
            any(vec![int(), str_(), seq(vec![int(), str_()])]),
        )]),
        Extra::Prevent,
    )
}

fn job_schema() -> S {
    let protocols = schema(
        map(vec![
            bare(
                "lava-multinode",
                map(vec![bare("timeout", timeout()), bare("roles", dict())]),
            ),
            bare(
                "lava-vland",
                map(vec![keyed(
                    str_(),
                    map(vec![keyed(
                        S::Func(vlan_name),
                        map(vec![bare("tags", seq(vec![str_()]))]),
                    )]),
                )]),
            ),
            bare("lava-lxc", dict()),
            bare("lava-xnbd", dict()),
        ]),
        Extra::Prevent,
    );
    let timeouts = schema(
        map(vec![
            req("job", timeout()),
            opt("action", timeout()),
            opt("connection", timeout()),
            opt(
                "actions",
                map(vec![keyed(all(vec![S::Func(action_name)]), timeout())]),
            ),
            opt(
                "connections",
                map(vec![keyed(all(vec![S::Func(action_name)]), timeout())]),
            ),
        ]),
        Extra::Prevent,
    );
    let visibility = schema(
        any(vec![
            S::Lit("public"),
            S::Lit("personal"),
            map(vec![bare("group", seq(vec![str_()]))]),
        ]),
        Extra::Prevent,
    );
    let actions = schema(
        seq(vec![map(vec![
            bare("deploy", deploy()),
            bare("boot", boot()),
            bare("test", test()),
            bare("command", command()),
        ])]),
        Extra::Prevent,
    );
    map(vec![
        bare("device_type", all(vec![str_(), S::Length(Some(1), None)])),
        req("job_name", all(vec![str_(), S::Length(Some(1), Some(200))])),
        opt(
            "priority",
            any(vec![S::Lit("high"), S::Lit("medium"), S::Lit("low"), int()]),
        ),
        opt("protocols", protocols),
        opt("context", context()),
        opt(
            "metadata",
            all(vec![map(vec![keyed(
                any(vec![str_(), int()]),
                any(vec![str_(), int()]),
            )])]),
        ),
        opt("secrets", dict()),
        opt("environment", dict()),
        opt("tags", seq(vec![str_()])),
        req("visibility", visibility),
        req("timeouts", timeouts),
        req("actions", actions),
        opt("notify", notify()),
        opt("reboot_to_fastboot", bool_()),
    ])
}

static JOB_SCHEMA: LazyLock<S> = LazyLock::new(job_schema);
static CONTEXT_SCHEMA: LazyLock<S> = LazyLock::new(context);

// ------------------------------------------------------------------ Python semantics

/// A Python exception raised by LAVA's code on data its schema let through: `KeyError:
/// 'count'` (the exception and its text, as LAVA's log shows them), and why.
fn python_error(kind: &str, detail: &str, path: &str, line: usize) -> Refusal {
    let (detail, why) = match detail.split_once(" (") {
        Some((d, w)) => (d, format!(" ({w}")),
        None => (detail, String::new()),
    };
    refusal(
        format!(
            "{kind}: {detail}{why} [LAVA 2020.05 fails on this definition with this Python error]"
        ),
        path,
        line,
    )
}

/// `key in container`, for a string key.
fn contains(container: &Node, key: &str) -> Result<bool, &'static str> {
    Ok(match &container.value {
        Value::Map(entries) => entries.iter().any(|(k, _)| k.as_str() == Some(key)),
        Value::Set(members) => members.iter().any(|m| m.as_str() == Some(key)),
        Value::Seq(items) => items.iter().any(|i| i.as_str() == Some(key)),
        Value::Pairs(_) => false,
        Value::String(s) => s.contains(key),
        Value::Bytes(_) => return Err("a bytes-like object is required, not 'str'"),
        _ => return Err("argument of type is not iterable"),
    })
}

/// `item in container` for any hashable item (dict membership compares as Python does).
pub(crate) fn contains_value(container: &Node, item: &Node) -> Result<bool, String> {
    let same = |a: &Node| python_eq(&a.value, &item.value);
    Ok(match &container.value {
        Value::Map(entries) => {
            if matches!(
                item.value,
                Value::Seq(_) | Value::Map(_) | Value::Set(_) | Value::Pairs(_)
            ) {
                return Err(format!("unhashable type: '{}'", python_type(&item.value)));
            }
            entries.iter().any(|(k, _)| same(k))
        }
        Value::Seq(items) => items.iter().any(same),
        Value::String(s) => match &item.value {
            Value::String(i) => s.contains(i.as_str()),
            _ => {
                return Err(format!(
                    "'in <string>' requires string as left operand, not {}",
                    python_type(&item.value)
                ))
            }
        },
        other => {
            return Err(format!(
                "argument of type '{}' is not iterable",
                python_type(other)
            ))
        }
    })
}

/// Python's `==` between two values (scalars; containers by content).
fn python_eq(a: &Value, b: &Value) -> bool {
    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| python_eq(&p.value, &q.value))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter().any(|(k2, v2)| {
                        python_eq(&k.value, &k2.value) && python_eq(&v.value, &v2.value)
                    })
                })
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// Iterating a value as Python's `for x in value` does: a list's items, a dict's keys, a
/// string's characters (borrowed where the tree holds them).
fn iterate(value: &Node) -> Result<Vec<Cow<'_, Node>>, &'static str> {
    Ok(match &value.value {
        Value::Seq(items) | Value::Set(items) => items.iter().map(Cow::Borrowed).collect(),
        Value::Map(entries) => entries.iter().map(|(k, _)| Cow::Borrowed(k)).collect(),
        Value::Pairs(pairs) => pairs
            .iter()
            .map(|(k, v)| {
                Cow::Owned(Node {
                    value: Value::Seq(vec![k.clone(), v.clone()]),
                    line: k.line,
                })
            })
            .collect(),
        Value::String(s) => s
            .chars()
            .map(|c| {
                Cow::Owned(Node {
                    value: Value::String(c.to_string()),
                    line: value.line,
                })
            })
            .collect(),
        Value::Bytes(b) => b
            .iter()
            .map(|&x| {
                Cow::Owned(Node {
                    value: Value::Int(i64::from(x)),
                    line: value.line,
                })
            })
            .collect(),
        _ => return Err("object is not iterable"),
    })
}

/// `value[key]` for a string key.
fn index<'a>(value: &'a Node, key: &str) -> Result<&'a Node, &'static str> {
    match &value.value {
        Value::Map(_) => value.get(key).ok_or("KeyError"),
        _ => Err("TypeError"),
    }
}

/// `int(v)`-like view of a count: Python compares and `range()`s it.
#[derive(Clone, Copy)]
enum Count {
    Int(i64),
    /// A float (compares; `range()` refuses it).
    Float(f64),
}

fn count_of(value: &Value) -> Option<Count> {
    match value {
        Value::Int(i) => Some(Count::Int(*i)),
        Value::Bool(b) => Some(Count::Int(i64::from(*b))),
        Value::BigInt(s) => Some(Count::Int(if s.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        })),
        Value::Float(f) => Some(Count::Float(*f)),
        _ => None,
    }
}

// ------------------------------------------------------------------ the checks

/// `_validate_secrets`.
fn secrets(tree: &Node) -> Result<(), Refusal> {
    if let (Some(secrets), Some(visibility)) = (tree.get("secrets"), tree.get("visibility")) {
        if visibility.as_str() == Some("public") {
            return Err(refusal(
                "When 'secrets' is used, 'visibility' shouldn't be 'public'",
                "secrets",
                secrets.line,
            ));
        }
    }
    Ok(())
}

/// `_validate_vcs_parameters`.
fn vcs_parameters(tree: &Node) -> Result<(), Refusal> {
    let Some(actions) = tree.get("actions").and_then(Node::as_seq) else {
        return Ok(());
    };
    for (i, action) in actions.iter().enumerate() {
        let Some(test) = action.get("test") else {
            continue;
        };
        let Some(definitions) = test.get("definitions") else {
            continue;
        };
        // The paths are for refusals only: written when one is made.
        let here = || format!("actions[{i}].test.definitions");
        let items = iterate(definitions)
            .map_err(|e| python_error("TypeError", e, &here(), definitions.line))?;
        for (j, definition) in items.iter().enumerate() {
            let at = || format!("{}[{j}]", here());
            let has = |key| {
                contains(definition, key)
                    .map_err(|e| python_error("TypeError", e, &at(), definition.line))
            };
            if has("revision")? && has("shallow")? {
                let shallow = index(definition, "shallow").map_err(|e| {
                    python_error(e, "string indices must be integers", &at(), definition.line)
                })?;
                if shallow.value == Value::Bool(true) {
                    return Err(refusal(
                        "When 'revision' is used, 'shallow' shouldn't be 'True'",
                        format!("{}.shallow", at()),
                        shallow.line,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The roles of `protocols.lava-multinode`, if the protocol is used.
fn multinode(tree: &Node) -> Option<&Node> {
    tree.get("protocols")?
        .get("lava-multinode")
        .filter(|m| m.value != Value::Null)
}

/// `_validate_multinode`.
fn multinode_roles(tree: &Node) -> Result<(), Refusal> {
    let Some(multi) = multinode(tree) else {
        return Ok(());
    };
    let base = "protocols.lava-multinode";
    let roles = multi
        .get("roles")
        .ok_or_else(|| python_error("KeyError", "'roles'", base, multi.line))?;
    let Some(entries) = roles.as_map() else {
        return Ok(());
    };
    for (name, role) in entries {
        let here = format!("{base}.roles.{}", python::str(&name.value));
        if role.as_map().is_none() {
            return Err(python_error(
                "AttributeError",
                &format!(
                    "'{}' object has no attribute 'get'",
                    python_type(&role.value)
                ),
                &here,
                role.line,
            ));
        }
        let get = |key| role.get(key).filter(|v| v.value != Value::Null);
        match (get("host_role"), get("expect_role")) {
            (Some(host), expect) => {
                let exists = contains_value(roles, host)
                    .map_err(|e| python_error("TypeError", &e, &here, host.line))?;
                if !exists {
                    return Err(refusal(
                        format!("'host_role' '{}' does not exist", python::str(&host.value)),
                        format!("{here}.host_role"),
                        host.line,
                    ));
                }
                let Some(expect) = expect else {
                    return Err(refusal(
                        "'expect_role' is required when 'host_role' is used",
                        here,
                        role.line,
                    ));
                };
                let exists = contains_value(roles, expect)
                    .map_err(|e| python_error("TypeError", &e, &here, expect.line))?;
                if !exists {
                    return Err(refusal(
                        format!(
                            "'expect_role' '{}' does not exist",
                            python::str(&expect.value)
                        ),
                        format!("{here}.expect_role"),
                        expect.line,
                    ));
                }
            }
            (None, Some(expect)) => {
                return Err(refusal(
                    "'expect_role' without 'host_role'",
                    format!("{here}.expect_role"),
                    expect.line,
                ))
            }
            (None, None) => {}
        }
        if let Some(context) = role.get("context") {
            if let Err(errors) = super::schema::validate(&CONTEXT_SCHEMA, Extra::Prevent, context) {
                let e = &errors[0];
                return Err(refusal(
                    e.text(),
                    format!("{here}.context{}", dotted_suffix(&e.path)),
                    e.line,
                ));
            }
        }
    }
    Ok(())
}

fn dotted_suffix(path: &[Step]) -> String {
    let d = super::schema::dotted(path);
    if d == "(document)" {
        String::new()
    } else if d.starts_with('[') {
        d
    } else {
        format!(".{d}")
    }
}

fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::BigInt(_) => "int",
        Value::Float(_) => "float",
        Value::String(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::Timestamp(t) if t.time.is_none() => "datetime.date",
        Value::Timestamp(_) => "datetime.datetime",
        Value::Seq(_) | Value::Pairs(_) => "list",
        Value::Map(_) => "dict",
        Value::Set(_) => "set",
    }
}

/// Django 2.2's `validate_email`.
fn valid_email(value: &str) -> bool {
    let Some((user, domain)) = value.rsplit_once('@') else {
        return false;
    };
    let atom = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-!#$%&'*+/=?^_`{}|~".contains(c))
    };
    // Python's `\Z` is the very end: no trailing newline allowed.
    let user_ok = user.split('.').all(atom)
        || (user.len() >= 2
            && user.starts_with('"')
            && user.ends_with('"')
            && quoted_ok(&user[1..user.len() - 1]));
    if !user_ok {
        return false;
    }
    domain == "localhost" || domain_ok(domain) || literal_ok(domain)
}

fn quoted_ok(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let n = c as u32;
        if c == '\\' {
            match chars.next() {
                Some(e) if matches!(e as u32, 1..=9 | 11 | 12 | 14..=127) => {}
                _ => return false,
            }
        } else if !matches!(n, 1..=8 | 11 | 12 | 14..=31 | 33 | 35..=91 | 93..=127) {
            return false;
        }
    }
    true
}

fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, rest)) = labels.split_last() else {
        return false;
    };
    if rest.is_empty() {
        return false;
    }
    // A non-ASCII label stands for its IDNA form, which Django tries too.
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = (2..=63).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !tld.ends_with('-');
    rest.iter().all(|l| label_ok(l)) && tld_ok
}

fn literal_ok(domain: &str) -> bool {
    let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
        return false;
    };
    inner.parse::<std::net::IpAddr>().is_ok()
}

/// `validate_yaml`: the notification recipients and comparison query.
fn notify_checks(tree: &Node) -> Result<(), Refusal> {
    let Some(notify) = tree.get("notify") else {
        return Ok(());
    };
    if let Some(recipients) = notify.get("recipients").and_then(Node::as_seq) {
        for (i, recipient) in recipients.iter().enumerate() {
            let Some(to) = recipient.get("to") else {
                continue;
            };
            let here = format!("notify.recipients[{i}].to");
            let has = |k| to.get(k).is_some();
            if to.get("method").and_then(Node::as_str) == Some("email") {
                if !has("email") && !has("user") {
                    return Err(refusal(
                        "No valid user or email address specified.",
                        here,
                        to.line,
                    ));
                }
            } else if !has("handle") && !has("user") {
                return Err(refusal(
                    "No valid user or IRC handle specified.",
                    here,
                    to.line,
                ));
            }
            if has("user") {
                // Whether the user exists is the lab's to say.
            } else if let Some(email) = to.get("email") {
                let text = email.as_str().unwrap_or_default();
                if !valid_email(text) {
                    return Err(refusal(
                        format!(
                            "{} is not a valid email address.",
                            python::repr(&email.value)
                        ),
                        format!("{here}.email"),
                        email.line,
                    ));
                }
            }
        }
    }
    if let Some(query) = notify.get("compare").and_then(|c| c.get("query")) {
        let here = "notify.compare.query";
        if query.get("username").is_none() {
            let entity = query.get("entity");
            if entity.and_then(Node::as_str) != Some("testjob") {
                return Err(refusal("Only TestJob queries allowed.", here, query.line));
            }
            let Some(conditions) = query.get("conditions").and_then(Node::as_map) else {
                return Err(refusal(
                    "'NoneType' object is not iterable",
                    format!("{here}.conditions"),
                    query.line,
                ));
            };
            let text: Vec<String> = conditions
                .iter()
                .map(|(k, v)| format!("{}__{}", python::str(&k.value), python::str(&v.value)))
                .collect();
            let text = text.join(",");
            if !text.is_empty() {
                for condition in text.split(',') {
                    let fields: Vec<&str> = condition.split("__").collect();
                    let ok = match fields.len() {
                        2 | 3 => true,
                        4 => matches!(
                            fields[0],
                            "testjob" | "testsuite" | "testcase" | "namedtestattribute"
                        ),
                        _ => false,
                    };
                    if !ok {
                        let message = if fields.len() == 4 {
                            "Wrong table name in conditions parameter. Please refer to query docs."
                        } else {
                            "Conditions URL incorrect. Please refer to query docs."
                        };
                        return Err(refusal(message, format!("{here}.conditions"), query.line));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `_create_pipeline_job`'s priority and visibility checks.
fn create_job_checks(tree: &Node) -> Result<(), Refusal> {
    if let Some(priority) = tree.get("priority") {
        if let Some(Count::Int(p)) = count_of(&priority.value) {
            if !(0..=100).contains(&p) {
                return Err(refusal(
                    format!(
                        "Invalid job priority: {}. Should be in [0, 100]",
                        python::str(&priority.value)
                    ),
                    "priority",
                    priority.line,
                ));
            }
        }
    }
    if let Some(groups) = tree.get("visibility").and_then(|v| v.get("group")) {
        if groups.as_seq().is_some_and(<[Node]>::is_empty) {
            return Err(refusal(
                "No known groups were found in the visibility list.",
                "visibility.group",
                groups.line,
            ));
        }
    }
    Ok(())
}

/// What `_pipeline_protocols` and `split_multinode_yaml` refuse; `Ok(jobs)` is how many
/// jobs the group makes (0 sends LAVA on to its single-node path).
fn multinode_split(tree: &Node, multi: &Node) -> Result<usize, Refusal> {
    let base = "protocols.lava-multinode";
    let roles = multi
        .get("roles")
        .and_then(Node::as_map)
        .unwrap_or_default();
    let role_path = |name: &Node| format!("{base}.roles.{}", python::str(&name.value));

    // _pipeline_protocols: per role, before the split.
    for (name, role) in roles {
        let here = role_path(name);
        let has = |k| role.get(k).is_some();
        if has("device_type") && has("connection") {
            return Err(refusal(
                "lava-multinode protocol cannot support device_type and connection for a single role.",
                here,
                role.line,
            ));
        }
        if !has("device_type") && has("connection") {
            if !has("host_role") {
                return Err(refusal(
                    "connection specified without a host_role",
                    here,
                    role.line,
                ));
            }
            continue;
        }
        let device_type = role
            .get("device_type")
            .ok_or_else(|| python_error("KeyError", "'device_type'", &here, role.line))?;
        if matches!(
            device_type.value,
            Value::Seq(_) | Value::Map(_) | Value::Set(_) | Value::Pairs(_) | Value::Null
        ) {
            return Err(refusal(
                format!(
                    "Device type '{}' is unavailable.",
                    python::str(&device_type.value)
                ),
                format!("{here}.device_type"),
                device_type.line,
            ));
        }
        let count = role
            .get("count")
            .ok_or_else(|| python_error("KeyError", "'count'", &here, role.line))?;
        if count_of(&count.value).is_none() {
            return Err(python_error(
                "TypeError",
                &format!(
                    "'<' not supported between instances of 'int' and '{}'",
                    python_type(&count.value)
                ),
                &format!("{here}.count"),
                count.line,
            ));
        }
        if let Some(tags) = role.get("tags") {
            let Some(items) = tags.as_seq() else {
                return Err(refusal(
                    format!(
                        "'device_tags' needs to be a list - received <class '{}'>",
                        python_type(&tags.value)
                    ),
                    format!("{here}.tags"),
                    tags.line,
                ));
            };
            for item in items {
                if !matches!(
                    item.value,
                    Value::String(_) | Value::Int(_) | Value::Bool(_) | Value::Float(_)
                ) {
                    return Err(refusal(
                        format!(
                            "Device tag '{}' does not exist in the database.",
                            python::str(&item.value)
                        ),
                        format!("{here}.tags"),
                        item.line,
                    ));
                }
            }
        }
    }

    // split_multinode_yaml.
    // (LAVA sums the counts for group_size first: a count that is not a number fails there.)
    for (name, role) in roles {
        if let Some(count) = role.get("count") {
            match count_of(&count.value) {
                Some(_) => {}
                None => {
                    return Err(python_error(
                        "TypeError",
                        &format!(
                            "unsupported operand type(s) for +: 'int' and '{}'",
                            python_type(&count.value)
                        ),
                        &format!("{}.count", role_path(name)),
                        count.line,
                    ))
                }
            }
        }
    }
    let actions = tree
        .get("actions")
        .and_then(Node::as_seq)
        .unwrap_or_default();
    // Which roles have actions (each action must name its roles).
    let mut with_actions = vec![false; roles.len()];
    for (r, (name, _)) in roles.iter().enumerate() {
        for (at, action) in actions.iter().enumerate() {
            for (key, body) in action.as_map().unwrap_or_default() {
                let role_list = index(body, "role").map_err(|_| {
                    refusal(
                        format!(
                            "Invalid YAML - Did not find a role in action '{}', check for consistent use of whitespace indents.",
                            action
                                .as_map()
                                .and_then(|m| m.first())
                                .map(|(k, _)| python::str(&k.value))
                                .unwrap_or_default()
                        ),
                        format!("actions[{at}].{}", python::str(&key.value)),
                        body.line,
                    )
                })?;
                let listed = contains_value(role_list, name).map_err(|e| {
                    python_error(
                        "TypeError",
                        &e,
                        &format!("actions[{at}].{}.role", python::str(&key.value)),
                        role_list.line,
                    )
                })?;
                if listed {
                    with_actions[r] = true;
                }
            }
        }
    }
    // The count of the (last named) host role must be 1.
    let host = roles
        .iter()
        .rev()
        .find_map(|(_, role)| role.get("host_role"));
    if let Some(host) = host {
        for (name, role) in roles {
            if python_eq(&name.value, &host.value) {
                let count = role.get("count").ok_or_else(|| {
                    python_error("KeyError", "'count'", &role_path(name), role.line)
                })?;
                let one = matches!(count_of(&count.value), Some(Count::Int(1)))
                    || matches!(count_of(&count.value), Some(Count::Float(f)) if f == 1.0);
                if !one {
                    return Err(refusal(
                        "The count for a role designated as a host_role must be 1.",
                        format!("{}.count", role_path(name)),
                        count.line,
                    ));
                }
            }
        }
    }
    let mut jobs = 0usize;
    let mut per_role = Vec::with_capacity(roles.len());
    for (r, (name, role)) in roles.iter().enumerate() {
        let here = role_path(name);
        let count = role
            .get("count")
            .ok_or_else(|| python_error("KeyError", "'count'", &here, role.line))?;
        let n = match count_of(&count.value) {
            Some(Count::Int(i)) => i.max(0) as usize,
            _ => {
                return Err(python_error(
                    "TypeError",
                    &format!(
                        "'{}' object cannot be interpreted as an integer",
                        python_type(&count.value)
                    ),
                    &format!("{here}.count"),
                    count.line,
                ))
            }
        };
        if n > 0 && !with_actions[r] {
            return Err(python_error(
                "KeyError",
                &format!("{} (no action has this role)", python::repr(&name.value)),
                &here,
                role.line,
            ));
        }
        per_role.push(n);
        jobs = jobs.saturating_add(n);
    }
    if let Some(vland) = tree.get("protocols").and_then(|p| p.get("lava-vland")) {
        for ((name, role), n) in roles.iter().zip(&per_role) {
            let here = role_path(name);
            if *n != 1 {
                return Err(refusal(
                    "vland protocol only supports one device per role.",
                    here,
                    role.line,
                ));
            }
            let present = vland
                .as_map()
                .is_some_and(|m| m.iter().any(|(k, _)| python_eq(&k.value, &name.value)));
            if !present {
                return Err(python_error(
                    "KeyError",
                    &format!(
                        "{} (no lava-vland section for this role)",
                        python::repr(&name.value)
                    ),
                    "protocols.lava-vland",
                    vland.line,
                ));
            }
        }
    }
    if roles.is_empty() {
        return Err(refusal(
            "Unable to split multinode job submission.",
            format!("{base}.roles"),
            multi.line,
        ));
    }
    Ok(jobs)
}

/// LAVA 2020.05's verdict on a parsed definition: `Ok` if `testjob_submission` accepts it
/// (in a lab that has what it asks for), else the first reason it gives.
pub(crate) fn verdict(tree: &Node) -> Result<(), Refusal> {
    super::schema::validate(&JOB_SCHEMA, Extra::Prevent, tree)
        .map_err(|errors| Refusal::from(errors[0].clone()))?;
    secrets(tree)?;
    vcs_parameters(tree)?;
    multinode_roles(tree)?;
    notify_checks(tree)?;
    // from_yaml_and_user
    let group_jobs = match multinode(tree) {
        Some(multi) => multinode_split(tree, multi)?,
        None => 0,
    };
    if group_jobs == 0 && tree.get("device_type").is_none() {
        return Err(python_error(
            "KeyError",
            "'device_type' (a single-node job needs a device_type)",
            "device_type",
            tree.line,
        ));
    }
    create_job_checks(tree)?;
    Ok(())
}
