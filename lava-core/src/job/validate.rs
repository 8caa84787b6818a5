//! The submission schema of LAVA 2020.05 (`lava_common/schemas/__init__.py`), in our words.
//!
//! Only the job level is checked here (keys, types, timeouts, protocols, notify, and LAVA's
//! cross-checks): the per-action schemas are the dispatcher's business, and an action's
//! fields are checked when it runs.

use super::yaml::{Node, Value};
use super::{JobDefinition, JobDefinitionError, Role, Visibility};
use crate::model::Priority;
use std::collections::BTreeSet;
use std::time::Duration;

type Result<T> = std::result::Result<T, JobDefinitionError>;

/// The context variables LAVA accepts in `context` (its `CONTEXT_VARIABLES`).
pub const CONTEXT_VARIABLES: &[&str] = &[
    "arch",
    "boot_console",
    "boot_root",
    "cpu",
    "extra_options",
    "guestfs_driveid",
    "guestfs_interface",
    "guestfs_size",
    "machine",
    "memory",
    "model",
    "monitor",
    "netdevice",
    "no_kvm",
    "serial",
    "vga",
    "booti_dtb_addr",
    "booti_kernel_addr",
    "booti_ramdisk_addr",
    "bootm_dtb_addr",
    "bootm_kernel_addr",
    "bootm_ramdisk_addr",
    "bootz_dtb_addr",
    "bootz_kernel_addr",
    "bootz_ramdisk_addr",
    "boot_character_delay",
    "bootloader_prompt",
    "console_device",
    "custom_kernel_args",
    "extra_kernel_args",
    "extra_nfsroot_args",
    "kernel_loglevel",
    "kernel_start_message",
    "lava_test_results_dir",
    "menu_interrupt_prompt",
    "mustang_menu_list",
    "test_character_delay",
    "tftp_mac_address",
    "uboot_extra_error_message",
    "uboot_needs_interrupt",
];

const TOP_LEVEL: &[&str] = &[
    "job_name",
    "device_type",
    "timeouts",
    "visibility",
    "context",
    "metadata",
    "priority",
    "tags",
    "secrets",
    "environment",
    "protocols",
    "notify",
    "reboot_to_fastboot",
    "actions",
    "compatibility",
];

const ACTION_TYPES: &[&str] = &["boot", "command", "deploy", "test"];

/// A key path being checked, e.g. `protocols.lava-multinode.roles.server`.
#[derive(Clone)]
struct Path(String);

impl Path {
    fn root() -> Self {
        Path(String::new())
    }

    fn key(&self, key: &str) -> Path {
        if self.0.is_empty() {
            Path(key.to_owned())
        } else {
            Path(format!("{}.{key}", self.0))
        }
    }

    fn index(&self, index: usize) -> Path {
        Path(format!("{}[{index}]", self.0))
    }

    fn error(&self, node: &Node, message: impl Into<String>) -> JobDefinitionError {
        JobDefinitionError {
            path: if self.0.is_empty() {
                "(document)".into()
            } else {
                self.0.clone()
            },
            message: message.into(),
            line: (node.line > 0).then_some(node.line),
        }
    }
}

fn key_text(key: &Node) -> String {
    match &key.value {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Null => "null".into(),
        _ => "(complex key)".into(),
    }
}

/// A mapping, checked for string keys and for keys outside `allowed` (if given).
fn map<'a>(path: &Path, node: &'a Node, allowed: Option<&[&str]>) -> Result<&'a [(Node, Node)]> {
    let entries = node.as_map().ok_or_else(|| {
        path.error(
            node,
            format!("expected a mapping, found {}", node.value.kind()),
        )
    })?;
    for (key, _) in entries {
        let Some(name) = key.as_str() else {
            return Err(path.key(&key_text(key)).error(key, "keys must be strings"));
        };
        if let Some(allowed) = allowed {
            if !allowed.contains(&name) {
                return Err(path.key(name).error(key, "extra keys not allowed"));
            }
        }
    }
    Ok(entries)
}

fn required<'a>(path: &Path, node: &'a Node, key: &str) -> Result<&'a Node> {
    node.get(key)
        .ok_or_else(|| path.key(key).error(node, "required key not provided"))
}

fn string<'a>(path: &Path, node: &'a Node) -> Result<&'a str> {
    node.as_str().ok_or_else(|| {
        path.error(
            node,
            format!("expected a string, found {}", node.value.kind()),
        )
    })
}

fn bounded_string<'a>(path: &Path, node: &'a Node) -> Result<&'a str> {
    let s = string(path, node)?;
    if s.is_empty() || s.chars().count() > 200 {
        return Err(path.error(node, "length must be 1 to 200 characters"));
    }
    Ok(s)
}

fn boolean(path: &Path, node: &Node) -> Result<bool> {
    match node.value {
        Value::Bool(b) => Ok(b),
        _ => Err(path.error(
            node,
            format!("expected a boolean, found {}", node.value.kind()),
        )),
    }
}

fn integer(path: &Path, node: &Node, min: i64, max: i64) -> Result<i64> {
    match node.value {
        Value::Int(i) if (min..=max).contains(&i) => Ok(i),
        Value::Int(i) => Err(path.error(node, format!("{i} is not within {min}..{max}"))),
        _ => Err(path.error(
            node,
            format!("expected an integer, found {}", node.value.kind()),
        )),
    }
}

fn string_list(path: &Path, node: &Node) -> Result<BTreeSet<String>> {
    let items = node.as_seq().ok_or_else(|| {
        path.error(
            node,
            format!("expected a list, found {}", node.value.kind()),
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string(&path.index(i), item).map(str::to_owned))
        .collect()
}

fn one_of(path: &Path, node: &Node, choices: &[&str]) -> Result<()> {
    let s = string(path, node)?;
    if choices.contains(&s) {
        Ok(())
    } else {
        Err(path.error(node, format!("{s:?} is not one of {}", choices.join(", "))))
    }
}

/// A timeout: exactly one of days, hours, minutes, seconds (at least 1), and maybe `skip`.
fn timeout(path: &Path, node: &Node) -> Result<Duration> {
    let entries = map(
        path,
        node,
        Some(&["days", "hours", "minutes", "seconds", "skip"]),
    )?;
    let mut duration = None;
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let unit = match name {
            "days" => 86_400,
            "hours" => 3_600,
            "minutes" => 60,
            "seconds" => 1,
            _ => {
                boolean(&path.key(name), value)?;
                continue;
            }
        };
        if duration.is_some() {
            return Err(path
                .key(name)
                .error(key, "give only one of days, hours, minutes or seconds"));
        }
        // LAVA's Range(min=1) takes any number, fractions included (`minutes: 1.5`).
        let count = match value.value {
            Value::Int(i) if i >= 1 => i as f64,
            Value::Float(f) if f >= 1.0 && f.is_finite() => f,
            _ => {
                return Err(path
                    .key(name)
                    .error(value, "expected a number of at least 1"))
            }
        };
        let seconds = (count * unit as f64).min(u64::MAX as f64 / 2.0);
        duration = Some(Duration::from_secs_f64(seconds));
    }
    duration.ok_or_else(|| path.error(node, "a timeout needs days, hours, minutes or seconds"))
}

fn context(path: &Path, node: &Node) -> Result<()> {
    for (key, value) in map(path, node, None)? {
        let name = key.as_str().unwrap_or_default();
        let here = path.key(name);
        if !CONTEXT_VARIABLES.contains(&name) {
            return Err(here.error(key, "not a context variable LAVA accepts"));
        }
        // Python's bool is an int, so LAVA's schema takes `no_kvm: true` as an integer.
        let scalar_ok =
            |v: &Node| matches!(v.value, Value::Int(_) | Value::Bool(_) | Value::String(_));
        let ok = scalar_ok(value)
            || value
                .as_seq()
                .is_some_and(|items| items.iter().all(scalar_ok));
        if !ok {
            return Err(here.error(value, "expected an integer, a string or a list of them"));
        }
    }
    Ok(())
}

fn visibility(path: &Path, node: &Node) -> Result<Visibility> {
    match &node.value {
        Value::String(s) if s == "public" => Ok(Visibility::Public),
        Value::String(s) if s == "personal" => Ok(Visibility::Personal),
        Value::Map(_) => {
            map(path, node, Some(&["group"]))?;
            let groups = string_list(&path.key("group"), required(path, node, "group")?)?;
            Ok(Visibility::Group(groups.into_iter().collect()))
        }
        _ => Err(path.error(node, "expected public, personal or {group: [names]}")),
    }
}

fn priority(path: &Path, node: &Node) -> Result<Priority> {
    match &node.value {
        Value::String(s) => match s.as_str() {
            "high" => Ok(Priority::HIGH),
            "medium" => Ok(Priority::MEDIUM),
            "low" => Ok(Priority::LOW),
            _ => Err(path.error(node, format!("{s:?} is not high, medium, low or 0..100"))),
        },
        _ => integer(path, node, 0, 100)
            .ok()
            .and_then(Priority::new)
            .ok_or_else(|| path.error(node, "expected high, medium, low or an integer 0..100")),
    }
}

fn timeouts(path: &Path, node: &Node) -> Result<Duration> {
    let entries = map(
        path,
        node,
        Some(&["job", "action", "actions", "connection", "connections"]),
    )?;
    let job = timeout(&path.key("job"), required(path, node, "job")?)?;
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let here = path.key(name);
        let check = |path: &Path, value: &Node| -> Result<()> {
            if timeout(path, value)? > job {
                return Err(path.error(value, "Global timeout is larger than job timeout"));
            }
            Ok(())
        };
        match name {
            "action" | "connection" => check(&here, value)?,
            "actions" | "connections" => {
                for (k, v) in map(&here, value, None)? {
                    check(&here.key(k.as_str().unwrap_or_default()), v)?;
                }
            }
            _ => {}
        }
    }
    Ok(job)
}

fn notify(path: &Path, node: &Node) -> Result<()> {
    let entries = map(
        path,
        node,
        Some(&[
            "criteria",
            "verbosity",
            "recipients",
            "callback",
            "callbacks",
            "compare",
        ]),
    )?;
    let criteria_path = path.key("criteria");
    let criteria = required(path, node, "criteria")?;
    map(&criteria_path, criteria, Some(&["status", "type"]))?;
    let status = required(&criteria_path, criteria, "status")?;
    one_of(
        &criteria_path.key("status"),
        status,
        &["finished", "running", "complete", "canceled", "incomplete"],
    )?;
    if let Some(kind) = criteria.get("type") {
        one_of(
            &criteria_path.key("status"),
            status,
            &["complete", "incomplete"],
        )?;
        one_of(
            &criteria_path.key("type"),
            kind,
            &["regression", "progression"],
        )?;
    }
    let callback = |path: &Path, node: &Node| -> Result<()> {
        map(
            path,
            node,
            Some(&["url", "method", "token", "dataset", "content-type"]),
        )?;
        string(&path.key("url"), required(path, node, "url")?)?;
        for (key, choices) in [
            ("method", &["GET", "POST"][..]),
            ("dataset", &["minimal", "logs", "results", "all"][..]),
            ("content-type", &["json", "urlencoded"][..]),
        ] {
            if let Some(v) = node.get(key) {
                one_of(&path.key(key), v, choices)?;
            }
        }
        if let Some(v) = node.get("token") {
            string(&path.key("token"), v)?;
        }
        Ok(())
    };
    if node.get("callback").is_some() && node.get("callbacks").is_some() {
        return Err(path
            .key("callbacks")
            .error(node, "give callback or callbacks, not both"));
    }
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let here = path.key(name);
        match name {
            "verbosity" => one_of(&here, value, &["verbose", "quiet", "status-only"])?,
            "callback" => callback(&here, value)?,
            "callbacks" => {
                let items = value
                    .as_seq()
                    .ok_or_else(|| here.error(value, "expected a list of callbacks"))?;
                for (i, item) in items.iter().enumerate() {
                    callback(&here.index(i), item)?;
                }
            }
            "recipients" => {
                let items = value
                    .as_seq()
                    .ok_or_else(|| here.error(value, "expected a list of recipients"))?;
                for (i, item) in items.iter().enumerate() {
                    let item_path = here.index(i);
                    map(&item_path, item, Some(&["to"]))?;
                    let to_path = item_path.key("to");
                    let to = required(&item_path, item, "to")?;
                    map(
                        &to_path,
                        to,
                        Some(&["method", "user", "email", "handle", "server"]),
                    )?;
                    one_of(
                        &to_path.key("method"),
                        required(&to_path, to, "method")?,
                        &["email", "irc"],
                    )?;
                }
            }
            "compare" => {
                map(&here, value, Some(&["blacklist", "query"]))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn role(path: &Path, name: &str, node: &Node) -> Result<Role> {
    let dynamic = node.get("connection").is_some();
    let allowed: &[&str] = if dynamic {
        &[
            "connection",
            "count",
            "expect_role",
            "host_role",
            "request",
            "tags",
            "timeout",
            "context",
        ]
    } else {
        &[
            "device_type",
            "count",
            "context",
            "tags",
            "environment",
            "timeout",
        ]
    };
    if dynamic && node.get("device_type").is_some() {
        return Err(path.error(node, "a role cannot have both device_type and connection"));
    }
    map(path, node, Some(allowed))?;
    let count = integer(
        &path.key("count"),
        required(path, node, "count")?,
        0,
        i64::from(u32::MAX),
    )?;
    let mut role = Role {
        name: name.to_owned(),
        device_type: None,
        connection: None,
        host_role: None,
        count: u32::try_from(count).unwrap_or(u32::MAX),
        tags: BTreeSet::new(),
    };
    if dynamic {
        role.connection =
            Some(string(&path.key("connection"), required(path, node, "connection")?)?.to_owned());
        role.host_role =
            Some(string(&path.key("host_role"), required(path, node, "host_role")?)?.to_owned());
        string(
            &path.key("expect_role"),
            required(path, node, "expect_role")?,
        )?;
        if let Some(v) = node.get("request") {
            string(&path.key("request"), v)?;
        }
    } else {
        role.device_type = Some(
            string(
                &path.key("device_type"),
                required(path, node, "device_type")?,
            )?
            .to_owned(),
        );
        if let Some(v) = node.get("environment") {
            map(&path.key("environment"), v, None)?;
        }
    }
    if let Some(v) = node.get("tags") {
        role.tags = string_list(&path.key("tags"), v)?;
    }
    if let Some(v) = node.get("context") {
        context(&path.key("context"), v)?;
    }
    if let Some(v) = node.get("timeout") {
        timeout(&path.key("timeout"), v)?;
    }
    Ok(role)
}

fn protocols(path: &Path, node: &Node) -> Result<Option<Vec<Role>>> {
    let entries = map(
        path,
        node,
        Some(&["lava-lxc", "lava-multinode", "lava-vland", "lava-xnbd"]),
    )?;
    let mut roles = None;
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let here = path.key(name);
        match name {
            "lava-multinode" => {
                map(&here, value, Some(&["roles", "timeout"]))?;
                if let Some(t) = value.get("timeout") {
                    timeout(&here.key("timeout"), t)?;
                }
                let roles_path = here.key("roles");
                let role_nodes = map(&roles_path, required(&here, value, "roles")?, None)?;
                let mut parsed = Vec::new();
                for (role_key, role_node) in role_nodes {
                    let role_name = role_key.as_str().unwrap_or_default();
                    parsed.push(role(&roles_path.key(role_name), role_name, role_node)?);
                }
                roles = Some(parsed);
            }
            "lava-xnbd" => {
                map(&here, value, Some(&["port", "timeout"]))?;
                let port = required(&here, value, "port")?;
                if !matches!(&port.value, Value::Int(_)) && port.as_str() != Some("auto") {
                    return Err(here
                        .key("port")
                        .error(port, "expected auto or a port number"));
                }
                if let Some(t) = value.get("timeout") {
                    timeout(&here.key("timeout"), t)?;
                }
            }
            // lava-lxc and lava-vland are checked by the dispatcher's protocol code.
            _ => {
                map(&here, value, None)?;
            }
        }
    }
    Ok(roles)
}

fn action_body<'a>(path: &Path, node: &'a Node) -> Result<(&'a str, &'a Node)> {
    let entries = map(path, node, None)?;
    let [(key, body)] = entries else {
        return Err(path.error(node, "an action is a mapping with exactly one key"));
    };
    let name = key.as_str().unwrap_or_default();
    if !ACTION_TYPES.contains(&name) {
        return Err(path.key(name).error(
            key,
            "unknown action type (expected boot, command, deploy or test)",
        ));
    }
    let here = path.key(name);
    map(&here, body, None)?;
    if let Some(ns) = body.get("namespace") {
        if string(&here.key("namespace"), ns)? == "common" {
            return Err(here.key("namespace").error(ns, "'common' is reserved"));
        }
    }
    if let Some(role) = body.get("role") {
        string_list(&here.key("role"), role)?;
    }
    for key in ["repeat", "failure_retry"] {
        if let Some(v) = body.get(key) {
            integer(&here.key(key), v, 1, i64::MAX)?;
        }
    }
    Ok((name, body))
}

fn actions(path: &Path, node: &Node, job_timeout: Duration, multinode: bool) -> Result<()> {
    let items = node.as_seq().ok_or_else(|| {
        path.error(
            node,
            format!("expected a list, found {}", node.value.kind()),
        )
    })?;
    let mut with_namespace = 0;
    for (index, item) in items.iter().enumerate() {
        let here = path.index(index);
        let (name, body) = action_body(&here, item)?;
        let body_path = here.key(name);
        if let Some(t) = body.get("timeout") {
            if timeout(&body_path.key("timeout"), t)? > job_timeout {
                return Err(body_path
                    .key("timeout")
                    .error(t, "Action timeout is larger than job timeout"));
            }
        }
        if multinode && body.get("role").is_none() {
            return Err(body_path.error(body, "every action of a multinode job needs a role"));
        }
        if body.get("namespace").is_some() {
            with_namespace += 1;
        }
    }
    if with_namespace > 0 && with_namespace != items.len() {
        return Err(path.error(
            node,
            "when one action has a namespace, every action needs one",
        ));
    }
    Ok(())
}

/// Validates a parsed definition and extracts what the lab needs from it.
pub(super) fn definition(tree: Node) -> Result<JobDefinition> {
    let root = Path::root();
    map(&root, &tree, Some(TOP_LEVEL))?;
    let job_name =
        bounded_string(&root.key("job_name"), required(&root, &tree, "job_name")?)?.to_owned();
    let job_timeout = timeouts(&root.key("timeouts"), required(&root, &tree, "timeouts")?)?;
    let visibility = visibility(
        &root.key("visibility"),
        required(&root, &tree, "visibility")?,
    )?;
    let device_type = tree
        .get("device_type")
        .map(|v| bounded_string(&root.key("device_type"), v).map(str::to_owned))
        .transpose()?;
    let priority = tree
        .get("priority")
        .map(|v| priority(&root.key("priority"), v))
        .transpose()?
        .unwrap_or_default();
    let tags = tree
        .get("tags")
        .map(|v| string_list(&root.key("tags"), v))
        .transpose()?
        .unwrap_or_default();
    if let Some(v) = tree.get("context") {
        context(&root.key("context"), v)?;
    }
    for key in ["metadata", "secrets", "environment"] {
        if let Some(v) = tree.get(key) {
            map(&root.key(key), v, None)?;
        }
    }
    if let Some(v) = tree.get("reboot_to_fastboot") {
        boolean(&root.key("reboot_to_fastboot"), v)?;
    }
    if let Some(v) = tree.get("notify") {
        notify(&root.key("notify"), v)?;
    }
    let multinode = tree
        .get("protocols")
        .map(|v| protocols(&root.key("protocols"), v))
        .transpose()?
        .flatten();
    actions(
        &root.key("actions"),
        required(&root, &tree, "actions")?,
        job_timeout,
        multinode.is_some(),
    )?;

    // LAVA's cross-checks.
    match (&device_type, &multinode) {
        (Some(_), Some(_)) => {
            return Err(root
                .key("device_type")
                .error(&tree, "device_type should not be used with multinode"))
        }
        (None, None) => {
            return Err(root
                .key("device_type")
                .error(&tree, "device_type or multinode should be defined"))
        }
        _ => {}
    }
    if multinode.is_some() {
        if let Some(env) = tree.get("environment") {
            return Err(root
                .key("environment")
                .error(env, "environment should not be used with multinode"));
        }
    }
    if let Some(secrets) = tree.get("secrets") {
        if visibility == Visibility::Public {
            return Err(root.key("secrets").error(
                secrets,
                "when using secrets, visibility should not be public",
            ));
        }
    }
    Ok(JobDefinition {
        job_name,
        device_type,
        priority,
        visibility,
        tags,
        job_timeout,
        multinode,
        tree,
    })
}
