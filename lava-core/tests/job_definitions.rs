//! Job definitions as users write them for LAVA (PyYAML, YAML 1.1), validated as LAVA's
//! submission schema does, and multinode definitions split into sub-jobs.

use lava_core::job::yaml::{self, Value};
use lava_core::job::{
    parse, parse_submission, split_multinode, JobDefinitionError, Submission, Validated,
    Visibility, LEGACY_REASON,
};

fn validate(text: &str) -> Result<Validated, lava_core::Error> {
    lava_core::job::validate(text)
}
use lava_core::model::Priority;
use std::time::Duration;

const MINIMAL: &str = "\
job_name: qemu smoke
device_type: qemu
visibility: public
timeouts:
  job:
    minutes: 30
actions:
- deploy:
    to: tmpfs
    timeout:
      minutes: 5
- boot:
    method: qemu
- test:
    definitions: []
";

fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

fn refused(text: &str) -> JobDefinitionError {
    match parse(text) {
        Ok(def) => panic!("accepted: {def:?}"),
        Err(lava_core::Error::JobDefinition(e)) => e,
        Err(e) => panic!("not a job definition error: {e}"),
    }
}

#[test]
fn minimal_job_is_accepted_with_lava_defaults() {
    let def = parse(MINIMAL).unwrap();
    assert_eq!(def.job_name, "qemu smoke");
    assert_eq!(def.device_type.as_deref(), Some("qemu"));
    assert_eq!(def.priority, Priority::MEDIUM);
    assert_eq!(def.visibility, Visibility::Public);
    assert_eq!(def.job_timeout, Duration::from_secs(1800));
    assert!(def.multinode.is_none());
}

#[test]
fn priority_by_name_or_number() {
    assert_eq!(
        parse(&with("priority: high\n")).unwrap().priority,
        Priority::HIGH
    );
    assert_eq!(
        parse(&with("priority: low\n")).unwrap().priority,
        Priority::LOW
    );
    assert_eq!(parse(&with("priority: 42\n")).unwrap().priority.value(), 42);
    let e = refused(&with("priority: 101\n"));
    assert_eq!((e.path.as_str(), e.line), ("priority", Some(16)));
    let e = refused(&with("priority: urgent\n"));
    assert_eq!(e.path, "priority");
}

#[test]
fn yaml_1_1_booleans_are_booleans() {
    let def = parse(&with("reboot_to_fastboot: yes\n")).unwrap();
    assert_eq!(
        def.tree.get("reboot_to_fastboot").map(|n| n.value.clone()),
        Some(Value::Bool(true))
    );
    assert!(parse(&with("reboot_to_fastboot: off\n")).is_ok());
    // A string where a boolean is required is refused, as voluptuous does.
    assert_eq!(
        refused(&with("reboot_to_fastboot: 'yes'\n")).path,
        "reboot_to_fastboot"
    );
}

#[test]
fn anchors_and_merge_keys_are_expanded() {
    let text = "\
job_name: anchors
device_type: qemu
visibility: public
timeouts:
  job: &long
    minutes: 30
  action:
    <<: *long
    skip: on
actions:
- boot:
    method: qemu
    timeout: *long
";
    let def = parse(text).unwrap();
    let action = def
        .tree
        .get("timeouts")
        .and_then(|t| t.get("action"))
        .unwrap();
    assert_eq!(action.get("minutes").unwrap().value, Value::Int(30));
    assert_eq!(action.get("skip").unwrap().value, Value::Bool(true));
}

#[test]
fn unknown_top_level_key_is_refused_with_its_line() {
    let e = refused(&with("colour: blue\n"));
    assert_eq!(e.path, "colour");
    assert_eq!(e.line, Some(16));
    assert!(e.to_string().contains("colour"), "{e}");
    assert!(e.to_string().contains("line 16"), "{e}");
}

#[test]
fn required_keys_are_named() {
    for key in ["job_name", "visibility", "timeouts", "actions"] {
        let text: String = MINIMAL
            .lines()
            .filter(|l| !l.starts_with(key))
            .map(|l| format!("{l}\n"))
            .collect();
        // Dropping `timeouts:` leaves its children dangling under the previous key.
        let text = if key == "timeouts" {
            text.replace("  job:\n    minutes: 30\n", "")
        } else if key == "actions" {
            text.split("- deploy").next().unwrap_or_default().to_owned()
        } else {
            text
        };
        let e = refused(&text);
        assert_eq!(e.path, key, "{e}");
        assert!(e.message.contains("required"), "{e}");
    }
}

#[test]
fn timeouts_are_checked_against_the_job_timeout() {
    // LAVA's server accepts an action timeout above the job's; its dispatcher side warns.
    let text = MINIMAL.replace("    minutes: 5\n", "    hours: 1\n");
    let v = validate(&text).unwrap();
    assert_eq!(
        v.warnings[0].message,
        "Action timeout is larger than job timeout"
    );
    assert_eq!(v.warnings[0].path, "actions.0");

    let e = refused(&with("").replace(
        "  job:\n    minutes: 30\n",
        "  job:\n    minutes: 30\n    seconds: 4\n",
    ));
    assert_eq!(e.path, "timeouts.job.<timeout_unit>");
    assert!(e
        .message
        .starts_with("two or more values in the same group of exclusion"));

    // Zero is accepted (the dispatcher's default applies), with a warning.
    let zero = validate(&with("").replace("    minutes: 30\n", "    minutes: 0\n")).unwrap();
    // (voluptuous reports the first of the equally deep errors of `Any(days, hours, ...)`.)
    assert_eq!(zero.warnings[0].path, "timeouts.job.days");
    // A fraction is not an int to LAVA's submission schema.
    let e = refused(&with("").replace("    minutes: 30\n", "    minutes: 30.5\n"));
    assert_eq!(
        e.message,
        "expected int for dictionary value @ data['timeouts']['job']['minutes']"
    );
    assert_eq!(e.path, "timeouts.job.minutes");

    let text = MINIMAL.replace("timeouts:\n", "timeouts:\n  connection:\n    hours: 2\n");
    let v = validate(&text).unwrap();
    assert_eq!(v.warnings[0].path, "timeouts.connection");
}

#[test]
fn visibility_forms() {
    let group = MINIMAL.replace("visibility: public", "visibility:\n  group: [lkft, qa]");
    assert_eq!(
        parse(&group).unwrap().visibility,
        Visibility::Group(vec!["lkft".into(), "qa".into()])
    );
    let personal = MINIMAL.replace("visibility: public", "visibility: personal");
    assert_eq!(parse(&personal).unwrap().visibility, Visibility::Personal);
    assert_eq!(
        refused(&MINIMAL.replace("visibility: public", "visibility: secret")).path,
        "visibility"
    );
    // Secrets must not be public.
    assert_eq!(refused(&with("secrets:\n  token: x\n")).path, "secrets");
    assert!(parse(&personal.replace("actions:", "secrets:\n  token: x\nactions:")).is_ok());
}

#[test]
fn actions_are_checked() {
    let e = refused(&MINIMAL.replace("- boot:", "- flash:"));
    assert_eq!((e.path.as_str(), e.line), ("actions[1].flash", Some(12)));
    assert_eq!(
        e.message,
        "extra keys not allowed @ data['actions'][1]['flash']"
    );
    // A namespace on some actions only: LAVA accepts; its dispatcher side refuses.
    let v = validate(&MINIMAL.replace(
        "    method: qemu\n",
        "    method: qemu\n    namespace: target\n",
    ))
    .unwrap();
    assert_eq!(
        v.warnings[0].message,
        "When using namespaces, every action should have a namespace"
    );
    let e = refused(&with("context:\n  colour: blue\n"));
    assert_eq!(e.path, "context.colour");
    assert!(parse(&with(
        "context:\n  arch: arm64\n  memory: 1024\n  no_kvm: True\n"
    ))
    .is_ok());
    let e = refused(&with("context:\n  extra_options: {a: 1}\n"));
    assert_eq!(e.path, "context.extra_options");
    assert!(parse(&with("tags: [usb-eth, 4gb]\n"))
        .unwrap()
        .tags
        .contains("4gb"));
    let e = refused(&MINIMAL.replace("    to: tmpfs\n", ""));
    assert_eq!(
        e.message,
        "required key not provided @ data['actions'][0]['deploy']['to']"
    );
    assert_eq!(e.line, Some(9));
}

#[test]
fn notify_is_checked() {
    assert!(parse(&with(
        "notify:\n  criteria:\n    status: complete\n  verbosity: quiet\n"
    ))
    .is_ok());
    let e = refused(&with("notify:\n  criteria:\n    status: done\n"));
    assert_eq!(e.path, "notify.criteria.status");
    assert_eq!(
        refused(&with("notify:\n  verbosity: quiet\n")).path,
        "notify.criteria"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let e = refused("job_name: x\nactions: [\n  - boot\n");
    assert_eq!(e.path, "(document)");
    assert!(e.line.is_some(), "{e}");
    assert_eq!(refused("- a\n- b\n").path, "(document)");
}

const MULTINODE: &str = "\
job_name: client-server
visibility: public
priority: high
timeouts:
  job:
    minutes: 30
protocols:
  lava-multinode:
    timeout:
      minutes: 10
    roles:
      server:
        device_type: x86
        count: 1
        tags: [lab-a]
      client:
        device_type: qemu
        count: 2
        context:
          arch: arm64
actions:
- deploy:
    to: tmpfs
    role: [server, client]
- test:
    role: [client]
    definitions: []
";

#[test]
fn multinode_splits_into_one_sub_job_per_role_and_count() {
    let def = parse(MULTINODE).unwrap();
    let roles = def.multinode.as_ref().unwrap();
    assert_eq!(roles.len(), 2);
    let subs = split_multinode(&def, "g-1").unwrap();
    let summary: Vec<_> = subs
        .iter()
        .map(|s| {
            (
                s.role.as_str(),
                s.sub_id,
                s.device_type.as_deref(),
                s.tags.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("server", 0, Some("x86"), 1),
            ("client", 1, Some("qemu"), 0),
            ("client", 2, Some("qemu"), 0)
        ]
    );
    for sub in &subs {
        let tree = yaml::parse(&sub.definition).unwrap();
        let proto = tree
            .get("protocols")
            .and_then(|p| p.get("lava-multinode"))
            .unwrap();
        assert_eq!(proto.get("target_group").unwrap().as_str(), Some("g-1"));
        assert_eq!(proto.get("group_size").unwrap().value, Value::Int(3));
        assert_eq!(
            proto.get("sub_id").unwrap().value,
            Value::Int(i64::from(sub.sub_id))
        );
        assert_eq!(proto.get("role").unwrap().as_str(), Some(sub.role.as_str()));
        assert!(proto.get("timeout").is_some());
        assert_eq!(
            tree.get("device_type").unwrap().as_str(),
            sub.device_type.as_deref()
        );
        assert_eq!(tree.get("priority").unwrap().as_str(), Some("high"));
        let actions = tree.get("actions").and_then(|a| a.as_seq()).unwrap();
        let expected = if sub.role == "server" { 1 } else { 2 };
        assert_eq!(actions.len(), expected, "{}", sub.definition);
        for action in actions {
            let (_, body) = &action.as_map().unwrap()[0];
            assert_eq!(body.get("role").unwrap().as_str(), Some(sub.role.as_str()));
        }
    }
    let client = yaml::parse(&subs[1].definition).unwrap();
    assert!(client.get("context").and_then(|c| c.get("arch")).is_some());
    let server = yaml::parse(&subs[0].definition).unwrap();
    let proto = server
        .get("protocols")
        .and_then(|p| p.get("lava-multinode"))
        .unwrap();
    assert!(proto.get("tags").is_some());
}

#[test]
fn multinode_rules() {
    let e = refused(&MULTINODE.replace("    role: [client]\n", ""));
    assert_eq!(e.path, "actions[1].test");
    assert!(e
        .message
        .starts_with("Invalid YAML - Did not find a role in action 'test'"));
    // A device_type beside multinode: LAVA accepts, its dispatcher side refuses.
    let v =
        validate(&MULTINODE.replace("job_name: client-server", "job_name: c\ndevice_type: x86"))
            .unwrap();
    assert_eq!(
        v.warnings[0].message,
        "\"device_type\" shoud not be used with multinode"
    );
    let e = refused(&MULTINODE.replace("        count: 2\n", ""));
    assert_eq!(e.path, "protocols.lava-multinode.roles.client");
    assert!(e.message.starts_with("KeyError: 'count'"), "{e}");
    let e = refused(&MINIMAL.replace("device_type: qemu\n", ""));
    assert_eq!(e.path, "device_type");
}

#[test]
fn dynamic_connection_roles() {
    let text = MULTINODE.replace(
        "      client:\n        device_type: qemu\n        count: 2\n",
        "      client:\n        connection: ssh\n        host_role: server\n        expect_role: server\n        count: 2\n",
    );
    let def = parse(&text).unwrap();
    let subs = split_multinode(&def, "g").unwrap();
    assert_eq!(subs[1].device_type, None);
    let tree = yaml::parse(&subs[1].definition).unwrap();
    assert_eq!(tree.get("connection").unwrap().as_str(), Some("ssh"));
    // The host of a dynamic connection must be a single device.
    let two_hosts = text.replace("        count: 1\n", "        count: 2\n");
    let e = refused(&two_hosts);
    assert_eq!(e.path, "protocols.lava-multinode.roles.server.count");
    assert_eq!(
        e.message,
        "The count for a role designated as a host_role must be 1."
    );
}

#[test]
fn legacy_json_submission_is_kept_but_marked() {
    let text = r#"{"job_name": "old", "device_type": "panda", "timeout": 900,
        "actions": [{"command": "deploy_linaro_image", "parameters": {"image": "x"}}]}"#;
    match parse_submission(text).unwrap() {
        Submission::Legacy(job) => {
            assert_eq!(job.device_type.as_deref(), Some("panda"));
            assert_eq!(job.reason, LEGACY_REASON);
        }
        other => panic!("not legacy: {other:?}"),
    }
    assert!(matches!(
        parse_submission(MINIMAL).unwrap(),
        Submission::Pipeline(_)
    ));
    // parse() accepts pipeline jobs only.
    assert!(parse(text).is_err());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Text that looks enough like YAML to reach the validator often.
        #[test]
        fn any_text_is_accepted_or_refused(
            text in "([a-z_]{1,12}|-|:|&a|\\*a|<<|\\[|\\]|\\{|\\}|,|'|\"|#|[0-9]{1,4}|yes|off| |\n|  ){0,60}"
        ) {
            let _ = lava_core::job::legacy_reason(&text);
            let _ = parse_submission(&text);
        }

        #[test]
        fn damaged_definitions_are_refused_cleanly(cut in 0usize..MULTINODE.len(), insert in "[ :\n\\-\\[{]{0,3}") {
            let mut text = MULTINODE.to_owned();
            if text.is_char_boundary(cut) {
                text.insert_str(cut, &insert);
            }
            if let Ok(Submission::Pipeline(def)) = parse_submission(&text) {
                for sub in split_multinode(&def, "g").unwrap_or_default() {
                    prop_assert!(yaml::parse(&sub.definition).is_ok(), "{}", sub.definition);
                }
            }
        }
    }
}

#[test]
fn submissions_become_job_rows() {
    use lava_core::model::JobState;
    use lava_core::time::Timestamp;
    let now = Timestamp::from_secs(100);
    let single = parse(&with("tags: [usb]\npriority: 7\n")).unwrap();
    let rows = single.jobs(MINIMAL, "alice", now, "unused").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].requested_device_type.as_deref(), Some("qemu"));
    assert_eq!(rows[0].priority.value(), 7);
    assert!(rows[0].tags.contains("usb") && rows[0].is_public);
    assert_eq!(
        (rows[0].state, rows[0].submit_time),
        (JobState::Submitted, now)
    );

    let multi = parse(MULTINODE).unwrap();
    let rows = multi.jobs(MULTINODE, "bob", now, "g-7").unwrap();
    let roles: Vec<_> = rows
        .iter()
        .map(|j| {
            let m = j.multinode.as_ref().unwrap();
            (
                m.group.as_str(),
                m.role.as_str(),
                j.requested_device_type.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("g-7", "server", Some("x86")),
            ("g-7", "client", Some("qemu")),
            ("g-7", "client", Some("qemu"))
        ]
    );
    assert!(rows
        .iter()
        .all(|j| j.priority.value() == 100 && j.definition != MULTINODE));

    let legacy = r#"{"job_name": "old", "device_type": "panda", "timeout": 900, "actions": []}"#;
    let Submission::Legacy(old) = parse_submission(legacy).unwrap() else {
        panic!("not legacy");
    };
    let row = old.job(legacy, "carol", now);
    assert_eq!(row.failure_comment.as_deref(), Some(LEGACY_REASON));
    assert_eq!(row.requested_device_type.as_deref(), Some("panda"));
}
