//! From a parsed definition to a [`JobDefinition`]: LAVA's verdict first
//! ([`super::submission`]), then what the lab needs, read the way LAVA reads it (a `bool`
//! priority is an integer, a timeout of zero is LAVA's default, a role's count is a number).

use super::python;
use super::submission::{self, Refusal};
use super::warnings;
use super::yaml::{Node, Value};
use super::{JobDefinition, JobDefinitionError, Role, Validated, Visibility};
use crate::model::Priority;
use std::collections::BTreeSet;
use std::time::Duration;

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

/// The dispatcher's default action timeout, which a zero job timeout falls back to.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl From<Refusal> for JobDefinitionError {
    fn from(r: Refusal) -> Self {
        JobDefinitionError {
            path: r.path,
            message: r.message,
            line: (r.line > 0).then_some(r.line),
        }
    }
}

fn number(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Float(f) => *f,
        Value::BigInt(s) if s.starts_with('-') => f64::MIN,
        Value::BigInt(_) => f64::MAX,
        _ => 0.0,
    }
}

/// LAVA's `Timeout.parse`: the sum of the units given, LAVA's default when that is zero.
/// A negative sum gives zero here (the dispatcher times out at once).
pub(super) fn timeout(node: &Node) -> Duration {
    let seconds: f64 = [
        ("days", 86_400.0),
        ("hours", 3_600.0),
        ("minutes", 60.0),
        ("seconds", 1.0),
    ]
    .iter()
    .map(|(unit, scale)| node.get(unit).map_or(0.0, |v| number(&v.value)) * scale)
    .sum();
    if seconds == 0.0 || seconds.is_nan() {
        DEFAULT_TIMEOUT
    } else {
        Duration::from_secs_f64(seconds.clamp(0.0, 1e15))
    }
}

fn priority(tree: &Node) -> Priority {
    match tree.get("priority").map(|p| &p.value) {
        Some(Value::String(s)) => match s.as_str() {
            "high" => Priority::HIGH,
            "low" => Priority::LOW,
            _ => Priority::MEDIUM,
        },
        Some(v @ (Value::Int(_) | Value::Bool(_))) => u8::try_from(number(v) as i64)
            .ok()
            .and_then(|p| Priority::new(i64::from(p)))
            .unwrap_or_default(),
        _ => Priority::default(),
    }
}

/// A stored definition's `visibility` (Personal when it cannot be read): who may see the
/// job, for a viewer who is neither its submitter nor an admin.
pub fn definition_visibility(definition: &str) -> Visibility {
    super::yaml::parse(definition)
        .map(|tree| visibility(&tree))
        .unwrap_or(Visibility::Personal)
}

fn visibility(tree: &Node) -> Visibility {
    match tree.get("visibility") {
        Some(v) if v.as_str() == Some("public") => Visibility::Public,
        Some(v) => match v.get("group").and_then(Node::as_seq) {
            Some(groups) => {
                Visibility::Group(groups.iter().map(|g| python::str(&g.value)).collect())
            }
            None => Visibility::Personal,
        },
        None => Visibility::Personal,
    }
}

fn strings(node: Option<&Node>) -> BTreeSet<String> {
    node.and_then(Node::as_seq)
        .map(|items| items.iter().map(|i| python::str(&i.value)).collect())
        .unwrap_or_default()
}

fn roles(tree: &Node) -> Option<Vec<Role>> {
    let roles = tree
        .get("protocols")?
        .get("lava-multinode")?
        .get("roles")?
        .as_map()?;
    let roles: Vec<Role> = roles
        .iter()
        .map(|(name, role)| {
            let text = |key| role.get(key).map(|v| python::str(&v.value));
            let count = role.get("count").map_or(0.0, |c| number(&c.value));
            Role {
                name: python::str(&name.value),
                device_type: text("device_type"),
                connection: text("connection"),
                host_role: text("host_role"),
                count: count.clamp(0.0, f64::from(u32::MAX)) as u32,
                tags: strings(role.get("tags")),
            }
        })
        .collect();
    // A group of no job at all is, to LAVA, a single-node job.
    roles.iter().any(|r| r.count > 0).then_some(roles)
}

/// Judges a parsed definition as LAVA does and extracts what the lab needs from it.
pub(super) fn definition(tree: Node) -> Result<Validated, JobDefinitionError> {
    submission::verdict(&tree)?;
    let warnings = warnings::check(&tree);
    let definition = JobDefinition {
        job_name: tree
            .get("job_name")
            .map(|n| python::str(&n.value))
            .unwrap_or_default(),
        device_type: tree.get("device_type").map(|n| python::str(&n.value)),
        priority: priority(&tree),
        visibility: visibility(&tree),
        tags: strings(tree.get("tags")),
        job_timeout: tree
            .get("timeouts")
            .and_then(|t| t.get("job"))
            .map_or(DEFAULT_TIMEOUT, timeout),
        multinode: roles(&tree),
        tree,
    };
    Ok(Validated {
        definition,
        warnings,
    })
}
