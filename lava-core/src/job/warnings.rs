//! What LAVA accepts at submission but its dispatcher side refuses later: the schema of
//! `lava_common.schemas` (`validate(data, strict)`), which LAVA's submission page shows as
//! warnings beside an accepted job and which `scheduler.jobs.validate` answers.
//!
//! It is stricter than the submission schema on the job level (timeouts of at least one
//! unit, namespaces on every action or none and never `common`, a `device_type` or an
//! `environment` beside multinode, a role for every multinode action, `role` as a list,
//! roles with exactly LAVA's keys, string metadata keys) and it dispatches every action to
//! its own schema by `to` / `method` / kind of test (`actions/`).

use super::actions;
use super::schema::{
    all, any, bare, bool_, dict, int, keyed, map, object, one_of, opt, req, schema, seq, str_,
    Extra, Invalid, KeySchema, Mark, Step, S,
};
use super::validate::timeout as parse_timeout;
use super::yaml::{Node, Value};
use super::Warning;
use std::sync::LazyLock;

/// `timeout()`: exactly one unit, at least 1, and maybe `skip`.
pub(crate) fn timeout() -> S {
    let unit = |name| {
        map(vec![
            req(name, S::Range(Some(1), None)),
            opt("skip", bool_()),
        ])
    };
    any(vec![
        unit("days"),
        unit("hours"),
        unit("minutes"),
        unit("seconds"),
    ])
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
    map(vec![
        req(
            "criteria",
            any(vec![
                map(vec![req(
                    "status",
                    one_of(&["finished", "running", "complete", "canceled", "incomplete"]),
                )]),
                map(vec![
                    req("status", one_of(&["complete", "incomplete"])),
                    opt("type", one_of(&["regression", "progression"])),
                ]),
            ]),
        ),
        opt("verbosity", one_of(&["verbose", "quiet", "status-only"])),
        opt(
            "recipients",
            seq(vec![map(vec![req(
                "to",
                map(vec![
                    req("method", one_of(&["email", "irc"])),
                    opt("user", str_()),
                    opt("email", str_()),
                    opt("handle", str_()),
                    opt("server", str_()),
                ]),
            )])]),
        ),
        super::schema::excl("callback", "callback", map(callback())),
        super::schema::excl("callbacks", "callback", seq(vec![map(callback())])),
        opt(
            "compare",
            map(vec![
                opt("blacklist", seq(vec![str_()])),
                opt(
                    "query",
                    any(vec![
                        map(vec![req("username", str_()), req("name", str_())]),
                        map(vec![
                            req("entity", str_()),
                            opt("conditions", map(vec![keyed(str_(), str_())])),
                        ]),
                    ]),
                ),
            ]),
        ),
    ])
}

fn lxc() -> S {
    map(vec![
        req("name", str_()),
        req("distribution", str_()),
        req("release", str_()),
        opt("arch", str_()),
        opt("mirror", str_()),
        opt("persist", bool_()),
        opt("security_mirror", str_()),
        opt("template", str_()),
        opt("timeout", timeout()),
        opt("verbose", bool_()),
    ])
}

fn job() -> S {
    let range0 = || S::Range(Some(0), None);
    let roles = map(vec![keyed(
        str_(),
        any(vec![
            map(vec![
                req("device_type", str_()),
                req("count", range0()),
                opt("context", context()),
                opt("tags", seq(vec![str_()])),
                opt("environment", dict()),
                opt("timeout", timeout()),
            ]),
            map(vec![
                req("connection", str_()),
                req("count", range0()),
                req("expect_role", str_()),
                req("host_role", str_()),
                opt("request", str_()),
                opt("tags", seq(vec![str_()])),
                opt("timeout", timeout()),
                opt("context", context()),
            ]),
        ]),
    )]);
    let tags = || map(vec![req("tags", seq(vec![str_()]))]);
    all(vec![
        map(vec![
            req("job_name", all(vec![str_(), S::Length(Some(1), Some(200))])),
            opt(
                "device_type",
                all(vec![str_(), S::Length(Some(1), Some(200))]),
            ),
            req(
                "timeouts",
                map(vec![
                    req("job", timeout()),
                    opt("action", timeout()),
                    opt("actions", map(vec![keyed(str_(), timeout())])),
                    opt("connection", timeout()),
                    opt("connections", map(vec![keyed(str_(), timeout())])),
                ]),
            ),
            req(
                "visibility",
                any(vec![
                    S::Lit("public"),
                    S::Lit("personal"),
                    map(vec![bare("group", seq(vec![str_()]))]),
                ]),
            ),
            opt("context", context()),
            opt("metadata", map(vec![keyed(str_(), object())])),
            opt(
                "priority",
                any(vec![
                    S::Lit("high"),
                    S::Lit("medium"),
                    S::Lit("low"),
                    S::Range(Some(0), Some(100)),
                ]),
            ),
            opt("tags", seq(vec![str_()])),
            opt("secrets", dict()),
            opt("environment", dict()),
            opt(
                "protocols",
                map(vec![
                    opt(
                        "lava-lxc",
                        any(vec![lxc(), map(vec![keyed(str_(), lxc())])]),
                    ),
                    opt(
                        "lava-multinode",
                        map(vec![req("roles", roles), opt("timeout", timeout())]),
                    ),
                    opt(
                        "lava-vland",
                        any(vec![
                            map(vec![keyed(str_(), map(vec![keyed(str_(), tags())]))]),
                            map(vec![keyed(str_(), tags())]),
                        ]),
                    ),
                    opt(
                        "lava-xnbd",
                        map(vec![
                            req("port", any(vec![S::Lit("auto"), int()])),
                            opt("timeout", timeout()),
                        ]),
                    ),
                ]),
            ),
            opt("notify", notify()),
            opt("reboot_to_fastboot", bool_()),
            req(
                "actions",
                seq(vec![map(vec![keyed(
                    one_of(&["boot", "command", "deploy", "test"]),
                    dict(),
                )])]),
            ),
        ]),
        S::Func(extra_checks),
    ])
}

static JOB: LazyLock<S> = LazyLock::new(job);

fn invalid(msg: &str, path: &[&str], line: usize) -> Invalid {
    Invalid {
        msg: msg.into(),
        path: path.iter().map(|p| Step::name(p)).collect(),
        error_type: None,
        line,
    }
}

/// Python's truthiness.
fn truthy(node: Option<&Node>) -> bool {
    match node.map(|n| &n.value) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(i)) => *i != 0,
        Some(Value::Float(f)) => *f != 0.0,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Bytes(b)) => !b.is_empty(),
        Some(Value::Seq(v) | Value::Set(v)) => !v.is_empty(),
        Some(Value::Map(m) | Value::Pairs(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

/// The body of each action, by its first key (as `next(iter(action.keys()))`).
fn bodies(data: &Node) -> Result<Vec<(&Node, &Node)>, Invalid> {
    let mut out = Vec::new();
    for action in data
        .get("actions")
        .and_then(Node::as_seq)
        .unwrap_or_default()
    {
        let Some((key, body)) = action.as_map().and_then(|m| m.first()) else {
            return Err(invalid(
                "an action without a type (Python's StopIteration)",
                &["actions"],
                action.line,
            ));
        };
        out.push((key, body));
    }
    Ok(out)
}

/// LAVA's `extra_checks` of the job schema.
fn extra_checks(data: &Node) -> Result<(), Invalid> {
    // check_job_timeouts
    let timeouts = data.get("timeouts");
    let job = timeouts.and_then(|t| t.get("job")).map(parse_timeout);
    let larger = |t: &Node| job.is_some_and(|job| parse_timeout(t) > job);
    if let Some(timeouts) = timeouts {
        if let Some(t) = timeouts.get("action").filter(|t| larger(t)) {
            return Err(invalid(
                "Global timeout is larger than job timeout",
                &["timeouts", "action"],
                t.line,
            ));
        }
        for (key, t) in timeouts
            .get("actions")
            .and_then(Node::as_map)
            .unwrap_or_default()
        {
            if larger(t) {
                return Err(Invalid {
                    msg: "Global timeout is larger than job timeout".into(),
                    path: vec![
                        Step::name("timeouts"),
                        Step::name("actions"),
                        Step::key(key),
                    ],
                    error_type: None,
                    line: t.line,
                });
            }
        }
        if let Some(t) = timeouts.get("connection").filter(|t| larger(t)) {
            return Err(invalid(
                "Global timeout is larger than job timeout",
                &["timeouts", "connection"],
                t.line,
            ));
        }
        for (key, t) in timeouts
            .get("connections")
            .and_then(Node::as_map)
            .unwrap_or_default()
        {
            if larger(t) {
                return Err(Invalid {
                    msg: "Global timeout is larger than job timeout".into(),
                    path: vec![
                        Step::name("timeouts"),
                        Step::name("connections"),
                        Step::key(key),
                    ],
                    error_type: None,
                    line: t.line,
                });
            }
        }
    }
    let actions = bodies(data)?;
    for (index, (_, body)) in actions.iter().enumerate() {
        if let Some(t) = body.get("timeout").filter(|t| t.value != Value::Null) {
            if larger(t) {
                return Err(Invalid {
                    msg: "Action timeout is larger than job timeout".into(),
                    path: vec![Step::name("actions"), Step::name(&index.to_string())],
                    error_type: None,
                    line: t.line,
                });
            }
        }
    }
    // check_multinode_or_device_type, check_multinode_or_environment
    let multinode = data.get("protocols").and_then(|p| p.get("lava-multinode"));
    let device_type = data.get("device_type");
    if truthy(device_type) && truthy(multinode) {
        return Err(invalid(
            "\"device_type\" shoud not be used with multinode",
            &[],
            data.line,
        ));
    }
    if !truthy(device_type) && !truthy(multinode) {
        return Err(invalid(
            "\"device_type\" or multinode should be defined",
            &[],
            data.line,
        ));
    }
    if truthy(data.get("environment")) && truthy(multinode) {
        return Err(invalid(
            "\"environment\" shoud not be used with multinode",
            &[],
            data.line,
        ));
    }
    // check_multinode_roles
    if truthy(multinode) {
        for (_, body) in &actions {
            if body.get("role").is_none() {
                return Err(invalid(
                    "Every action of a multinode job should have roles",
                    &[],
                    body.line,
                ));
            }
        }
    }
    // check_namespace
    let with_namespace = actions
        .iter()
        .filter(|(_, b)| b.get("namespace").is_some_and(|n| n.value != Value::Null))
        .count();
    if with_namespace > 0 && with_namespace != actions.len() {
        return Err(invalid(
            "When using namespaces, every action should have a namespace",
            &[],
            data.line,
        ));
    }
    // check_secrets_visibility
    if data.get("secrets").is_some()
        && data.get("visibility").and_then(Node::as_str) == Some("public")
    {
        return Err(invalid(
            "When using \"secrets\", visibility shouldn't be \"public\"",
            &[],
            data.line,
        ));
    }
    Ok(())
}

/// The first thing `lava_common.schemas.validate(data, strict)` finds wrong, if anything:
/// the job schema, then each action's own schema.
pub(crate) fn first_issue(data: &Node, strict: bool) -> Option<Invalid> {
    let extra = if strict { Extra::Prevent } else { Extra::Allow };
    if let Err(errors) = super::schema::validate(&JOB, extra, data) {
        return errors.into_iter().next();
    }
    let actions = data
        .get("actions")
        .and_then(Node::as_seq)
        .unwrap_or_default();
    for (index, action) in actions.iter().enumerate() {
        let Some((kind, body)) = action.as_map().and_then(|m| m.first()) else {
            continue;
        };
        let kind = kind.as_str().unwrap_or_default();
        if let Err(e) = actions::check(index, kind, body, extra) {
            return Some(e);
        }
    }
    None
}

/// The warnings for an accepted definition: what the dispatcher side will refuse.
pub(super) fn check(tree: &Node) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Some(issue) = first_issue(tree, false) {
        warnings.push(Warning {
            path: issue.dotted_path(),
            message: issue.msg.clone(),
            line: (issue.line > 0).then_some(issue.line),
        });
    }
    // The dispatcher refuses `common` beside other namespaces (`Job.validate`).
    let namespaces: Vec<&str> = tree
        .get("actions")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_map()?.first()?.1.get("namespace")?.as_str())
        .collect();
    if namespaces.contains(&"common") && namespaces.iter().any(|n| *n != "common") {
        warnings.push(Warning {
            path: "actions".into(),
            message:
                "'common' is a reserved namespace that should not be present with other namespaces"
                    .into(),
            line: None,
        });
    }
    warnings
}
