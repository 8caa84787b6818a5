//! Device configurations judged as LAVA 2020.05 judges them.
//!
//! A device's configuration is its dictionary rendered through its device-type template
//! (`crate::templates`), read as YAML. LAVA's scheduler checks it with `Device.is_valid()`
//! before it gives the device a job (`lava_scheduler_app/schema.py`'s device schema: a
//! fixed set of top-level keys, `commands`, `actions.deploy`/`actions.boot` with their
//! `methods` and `connections`, `timeouts` with LAVA's action names, and no power
//! commands beside a primary SSH connection); a configuration that fails makes the device
//! Bad with "Invalid device configuration". [`validate_configuration`] is that check, and
//! more: the error names the key path and the line of the rendered text.
//!
//! Its `Ok` carries the warnings of the stricter `lava_common.schemas.device` (what
//! `lava-server manage devices check` reports), which LAVA does not act on.
//!
//! Pure: the caller renders the dictionary and hands the text over.

use crate::job::schema::{
    all, any, bare, bool_, dict, int, keyed, list, map, one_of, opt, req, schema, seq, str_, Extra,
    Invalid, KeySchema, Mark, S,
};
use crate::job::yaml::{self, Node, Value};
use std::sync::LazyLock;

/// A rendered device configuration that LAVA's scheduler refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid device configuration: {path}: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct DeviceConfigurationError {
    /// The key path at fault (`commands.users.reboot.do`), or `(document)`.
    pub path: String,
    /// What is wrong, in LAVA's words (`extra keys not allowed @ data['hostname']`).
    pub message: String,
    /// The line in the rendered configuration, where known.
    pub line: Option<usize>,
}

/// What `lava-server manage devices check` would report about an accepted configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceWarning {
    /// The key path.
    pub path: String,
    /// LAVA's message.
    pub message: String,
    /// The line, where known.
    pub line: Option<usize>,
}

fn timeout() -> S {
    schema(
        map(vec![
            crate::job::schema::excl("days", "timeout_unit", int()),
            crate::job::schema::excl("hours", "timeout_unit", int()),
            crate::job::schema::excl("minutes", "timeout_unit", int()),
            crate::job::schema::excl("seconds", "timeout_unit", int()),
            opt("skip", bool_()),
        ]),
        Extra::Prevent,
    )
}

fn action_names() -> S {
    all(vec![S::Func(crate::job::submission::action_name)])
}

/// `lava_scheduler_app.schema._device_schema`.
fn scheduler_schema() -> S {
    let simple_params = schema(
        map(vec![keyed(any(vec![str_()]), any(vec![str_(), bool_()]))]),
        Extra::Prevent,
    );
    let commands = schema(
        map(vec![
            keyed(all(vec![str_()]), any(vec![list(), dict(), str_()])),
            opt(
                "connections",
                schema(
                    map(vec![keyed(
                        all(vec![str_()]),
                        map(vec![bare("connect", str_()), opt("tags", list())]),
                    )]),
                    Extra::Prevent,
                ),
            ),
            opt(
                "users",
                schema(
                    map(vec![keyed(
                        all(vec![str_()]),
                        map(vec![req("do", str_()), opt("undo", str_())]),
                    )]),
                    Extra::Prevent,
                ),
            ),
        ]),
        Extra::Prevent,
    );
    let actions = schema(
        map(vec![
            bare(
                "deploy",
                schema(
                    map(vec![
                        bare("connections", dict()),
                        req("methods", dict()),
                        opt("parameters", simple_params),
                    ]),
                    Extra::Prevent,
                ),
            ),
            bare(
                "boot",
                schema(
                    map(vec![req("connections", dict()), req("methods", dict())]),
                    Extra::Prevent,
                ),
            ),
        ]),
        Extra::Prevent,
    );
    let timeouts = schema(
        map(vec![
            opt("actions", map(vec![keyed(action_names(), timeout())])),
            opt("connections", map(vec![keyed(action_names(), timeout())])),
        ]),
        Extra::Prevent,
    );
    let usb_id = || all(vec![str_(), S::Length(Some(4), Some(4))]);
    map(vec![
        bare("character_delays", dict()),
        bare("commands", commands),
        bare("constants", dict()),
        bare("adb_serial_number", str_()),
        bare("fastboot_serial_number", str_()),
        bare("fastboot_options", seq(vec![str_()])),
        bare("fastboot_via_uboot", bool_()),
        bare("device_info", seq(vec![dict()])),
        bare("static_info", seq(vec![dict()])),
        bare("storage_info", seq(vec![dict()])),
        bare("environment", dict()),
        bare("flash_cmds_order", list()),
        bare("parameters", dict()),
        bare("board_id", str_()),
        bare("usb_vendor_id", usb_id()),
        bare("usb_product_id", usb_id()),
        bare("usb_sleep", int()),
        bare("usb_filesystem_label", str_()),
        bare("usb_serial_driver", str_()),
        bare("actions", actions),
        bare("timeouts", timeouts),
        bare("available_architectures", list()),
        bare("uuu_usb_otg_path", str_()),
        bare("uuu_corrupt_boot_media_command", seq(vec![str_()])),
    ])
}

/// `lava_common.schemas.device.device()`.
fn common_schema() -> S {
    let timeout = crate::job::warnings::timeout;
    let str_or_strs = || any(vec![str_(), seq(vec![str_()])]);
    let media = |uuid_required: Mark, inner: S| {
        map(vec![
            (uuid_required, KeySchema::Lit("UUID-required"), bool_()),
            (Mark::Required(None), KeySchema::Validator(str_()), inner),
        ])
    };
    map(vec![
        opt(
            "character_delays",
            map(vec![opt("boot", int()), opt("test", int())]),
        ),
        opt(
            "commands",
            map(vec![
                opt("connect", str_()),
                opt(
                    "connections",
                    map(vec![keyed(
                        str_(),
                        map(vec![req("connect", str_()), opt("tags", seq(vec![str_()]))]),
                    )]),
                ),
                opt("hard_reset", str_or_strs()),
                opt("soft_reset", str_or_strs()),
                opt("soft_reboot", str_or_strs()),
                opt("power_off", str_or_strs()),
                opt("power_on", str_or_strs()),
                opt("pre_power_command", str_or_strs()),
                opt("pre_os_command", str_or_strs()),
                opt(
                    "users",
                    map(vec![keyed(
                        str_(),
                        map(vec![req("do", str_()), opt("undo", str_())]),
                    )]),
                ),
            ]),
        ),
        opt("constants", dict()),
        opt("adb_serial_number", str_()),
        opt("fastboot_serial_number", str_()),
        opt("fastboot_options", seq(vec![str_()])),
        opt("fastboot_via_uboot", bool_()),
        opt("device_info", seq(vec![dict()])),
        opt("static_info", seq(vec![dict()])),
        opt("storage_info", seq(vec![dict()])),
        opt("environment", dict()),
        opt("flash_cmds_order", seq(vec![str_()])),
        opt(
            "parameters",
            map(vec![
                opt("interfaces", dict()),
                opt(
                    "media",
                    map(vec![
                        opt(
                            "sata",
                            media(
                                Mark::Required(None),
                                map(vec![
                                    req("uuid", str_()),
                                    req("device_id", int()),
                                    req("uboot_interface", str_()),
                                    req("grub_interface", str_()),
                                    req("boot_part", int()),
                                ]),
                            ),
                        ),
                        opt(
                            "sd",
                            media(
                                Mark::Optional,
                                map(vec![req("uuid", str_()), req("device_id", int())]),
                            ),
                        ),
                        opt(
                            "usb",
                            media(
                                Mark::Optional,
                                map(vec![req("uuid", str_()), req("device_id", int())]),
                            ),
                        ),
                    ]),
                ),
                (
                    Mark::Optional,
                    KeySchema::Validator(one_of(&[
                        "image", "booti", "uimage", "bootm", "zimage", "bootz",
                    ])),
                    map(vec![
                        req("kernel", str_()),
                        req("ramdisk", str_()),
                        req("dtb", str_()),
                    ]),
                ),
                opt("pass", S::LitNone),
            ]),
        ),
        opt("board_id", str_()),
        opt(
            "usb_vendor_id",
            all(vec![str_(), S::Length(Some(4), Some(4))]),
        ),
        opt(
            "usb_product_id",
            all(vec![str_(), S::Length(Some(4), Some(4))]),
        ),
        opt("usb_sleep", int()),
        opt("usb_filesystem_label", str_()),
        opt("usb_serial_driver", str_()),
        opt(
            "actions",
            map(vec![
                req(
                    "deploy",
                    map(vec![
                        req("methods", dict()),
                        opt("connections", dict()),
                        opt("parameters", dict()),
                    ]),
                ),
                req(
                    "boot",
                    map(vec![req("connections", dict()), req("methods", dict())]),
                ),
            ]),
        ),
        opt(
            "timeouts",
            map(vec![
                req("actions", map(vec![keyed(str_(), timeout())])),
                req("connections", map(vec![keyed(str_(), timeout())])),
            ]),
        ),
        opt("available_architectures", seq(vec![str_()])),
    ])
}

static SCHEDULER: LazyLock<S> = LazyLock::new(scheduler_schema);
static COMMON: LazyLock<S> = LazyLock::new(common_schema);

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::Seq(v) | Value::Set(v) => !v.is_empty(),
        Value::Map(m) | Value::Pairs(m) => !m.is_empty(),
        _ => true,
    }
}

/// No power commands beside a primary SSH connection (LAVA's
/// `_validate_primary_connection_power_commands`): the message and where.
fn primary_connection(data: &Node) -> Option<(String, usize)> {
    let host = data
        .get("actions")?
        .get("deploy")?
        .get("methods")?
        .get("ssh")?
        .get("host")?;
    if !truthy(&host.value) {
        return None;
    }
    let commands = data.get("commands")?;
    ["power_off", "power_on", "hard_reset"]
        .iter()
        .any(|c| commands.get(c).is_some())
        .then(|| {
            (
                "When primary connection is used, power control commands (power_off, power_on, hard_reset) should not be specified.".to_owned(),
                commands.line,
            )
        })
}

fn error_from(e: &Invalid) -> DeviceConfigurationError {
    DeviceConfigurationError {
        path: e.dotted_path(),
        message: e.text(),
        line: (e.line > 0).then_some(e.line),
    }
}

/// Judges a rendered device configuration as LAVA's scheduler does (`Device.is_valid()`):
/// `Err` ([`crate::Error::DeviceConfiguration`]) when LAVA would make the device Bad
/// ("Invalid device configuration"), naming the key path, LAVA's reason and the line;
/// `Ok` with what `lava-server manage devices check` would still report.
///
/// Top-level keys outside LAVA's list are refused (a dictionary that sets
/// `device_type` or `hostname` at the top level renders them there), as is a text that is
/// not YAML LAVA reads, or not a mapping.
pub fn validate_configuration(text: &str) -> crate::Result<Vec<DeviceWarning>> {
    let tree = yaml::parse(text).map_err(|e| DeviceConfigurationError {
        path: "(document)".into(),
        message: e.message,
        line: e.line,
    })?;
    crate::job::schema::validate(&SCHEDULER, Extra::Prevent, &tree)
        .map_err(|errors| error_from(&errors[0]))?;
    if let Some((message, line)) = primary_connection(&tree) {
        return Err(DeviceConfigurationError {
            path: "commands".into(),
            message,
            line: (line > 0).then_some(line),
        }
        .into());
    }
    let warnings = match crate::job::schema::validate(&COMMON, Extra::Allow, &tree) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .take(1)
            .map(|e| DeviceWarning {
                path: e.dotted_path(),
                message: e.msg.clone(),
                line: (e.line > 0).then_some(e.line),
            })
            .collect(),
    };
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
commands:
  connect: telnet localhost 7000
  hard_reset: pduclient --command reboot
  users:
    hello: {do: echo hello}
actions:
  deploy:
    methods:
      tftp: {}
    connections:
      serial: {}
  boot:
    connections:
      serial: {}
    methods:
      u-boot: {}
timeouts:
  actions:
    apply-overlay-image:
      minutes: 2
  connections:
    lava-test-shell: {seconds: 30}
parameters:
  interfaces: {}
";

    fn refused(text: &str) -> DeviceConfigurationError {
        match validate_configuration(text) {
            Err(crate::Error::DeviceConfiguration(e)) => e,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_rendered_configuration_passes() {
        assert_eq!(validate_configuration(GOOD).unwrap(), Vec::new());
    }

    #[test]
    fn top_level_device_type_and_hostname_are_refused() {
        let e = refused(&format!("{GOOD}device_type: bbb\n"));
        assert_eq!(e.path, "device_type");
        assert_eq!(e.message, "extra keys not allowed @ data['device_type']");
        assert_eq!(e.line, Some(GOOD.lines().count() + 1));
        assert_eq!(refused(&format!("hostname: bbb-01\n{GOOD}")).line, Some(1));
    }

    #[test]
    fn lava_rules() {
        let e = refused(&GOOD.replace("hello: {do: echo hello}", "hello: {undo: x}"));
        assert_eq!(
            e.message,
            "required key not provided @ data['commands']['users']['hello']['do']"
        );
        let e = refused(&GOOD.replace("apply-overlay-image", "Apply_Overlay"));
        assert_eq!(e.path, "timeouts.actions.Apply_Overlay");
        let e = refused(&format!("{GOOD}usb_vendor_id: '12345'\n"));
        assert_eq!(e.path, "usb_vendor_id");
        let ssh = GOOD.replace("tftp: {}", "ssh: {host: 10.0.0.1}");
        assert_eq!(refused(&ssh).path, "commands");
        assert!(validate_configuration(
            &ssh.replace("  hard_reset: pduclient --command reboot\n", "")
        )
        .is_ok());
        assert_eq!(refused("").message, "expected a dictionary");
        assert_eq!(refused("a: [\n").path, "(document)");
    }

    #[test]
    fn lava_common_schema_gives_warnings() {
        let w =
            validate_configuration(&format!("{GOOD}character_delays: {{boot: slow}}\n")).unwrap();
        assert_eq!(w[0].path, "character_delays.boot");
        assert_eq!(w[0].message, "expected int");
    }
}
