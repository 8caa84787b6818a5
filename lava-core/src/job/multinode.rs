//! Splitting a `lava-multinode` definition into one sub-job per role and count.
//!
//! Each sub-job's definition keeps the submission's `job_name`, `timeouts`, `priority`,
//! `visibility`, `notify`, `metadata` and `reboot_to_fastboot`; takes `device_type` (or
//! `connection` and `host_role`) and `context` from its role; keeps only the actions of its
//! role (with `role` set to the role's name); and carries the group in
//! `protocols.lava-multinode` (`target_group`, `role`, `group_size`, `sub_id`, plus the
//! role's other keys such as `tags`, and the protocol's own keys such as `timeout`). That is
//! what LAVA 2020.05's `split_multinode_yaml` produces.

use super::python;
use super::submission::contains_value;
use super::yaml::{emit, Node, Value};
use super::{JobDefinition, JobDefinitionError};
use std::collections::{BTreeMap, BTreeSet};

/// One sub-job of a multinode group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubJob {
    /// Its role.
    pub role: String,
    /// Its position in the group, from 0.
    pub sub_id: u32,
    /// The device type it needs (`None` for a dynamic connection).
    pub device_type: Option<String>,
    /// Tags its device must carry.
    pub tags: BTreeSet<String>,
    /// Its own definition, as YAML.
    pub definition: String,
}

const COPIED: &[&str] = &[
    "job_name",
    "timeouts",
    "priority",
    "visibility",
    "notify",
    "metadata",
    "reboot_to_fastboot",
];
const FROM_ROLE: &[&str] = &["device_type", "connection", "host_role", "context"];

fn string(s: &str) -> Node {
    Node::new(Value::String(s.to_owned()))
}

fn int(i: i64) -> Node {
    Node::new(Value::Int(i))
}

fn error(path: String, message: String) -> crate::Error {
    crate::Error::JobDefinition(JobDefinitionError {
        path,
        message,
        line: None,
    })
}

/// Writes the group's roles into a sub-job's definition, as LAVA does when the whole group
/// is placed: `protocols.lava-multinode.roles` becomes `{"<job id>": "<role>"}` for every
/// sub-job that has a device of its own (dynamic connections are left out). The dispatcher
/// reads the group's members from it.
pub fn set_multinode_roles(
    definition: &str,
    roles: &BTreeMap<crate::model::JobId, String>,
) -> crate::Result<String> {
    let mut tree = super::yaml::parse(definition).map_err(|e| JobDefinitionError {
        path: "(document)".into(),
        message: format!("not valid YAML: {}", e.message),
        line: e.line,
    })?;
    let path = "protocols.lava-multinode";
    let protocol = tree
        .get_mut("protocols")
        .and_then(|p| p.get_mut("lava-multinode"))
        .filter(|p| p.as_map().is_some())
        .ok_or_else(|| error(path.into(), "missing: not a multinode sub-job".into()))?;
    let entries = roles
        .iter()
        .map(|(id, role)| (string(&id.to_string()), string(role)))
        .collect();
    protocol.insert("roles", Node::new(Value::Map(entries)));
    emit(&tree).map_err(|e| error(path.into(), format!("cannot write the definition: {e}")))
}

/// The most sub-jobs one group is split into. LAVA has no such bound, but refuses a group
/// larger than the lab at submission (lava-lab does the same check before splitting); this
/// keeps a caller that splits first (the Python binding, a fuzzer) from building billions of
/// copies of a definition whose `count` is huge.
pub const MAX_GROUP_SIZE: i64 = 10_000;

/// Splits `definition` into its sub-jobs for the group `target_group`; a definition without
/// the `lava-multinode` protocol gives no sub-job. A group of more than [`MAX_GROUP_SIZE`]
/// sub-jobs is refused.
pub fn split_multinode(
    definition: &JobDefinition,
    target_group: &str,
) -> crate::Result<Vec<SubJob>> {
    let Some(roles) = &definition.multinode else {
        return Ok(Vec::new());
    };
    let tree = &definition.tree;
    let protocol = tree
        .get("protocols")
        .and_then(|p| p.get("lava-multinode"))
        .ok_or_else(|| error("protocols.lava-multinode".into(), "missing".into()))?;
    let role_nodes = protocol
        .get("roles")
        .ok_or_else(|| error("protocols.lava-multinode.roles".into(), "missing".into()))?;
    let group_size: i64 = roles.iter().map(|r| i64::from(r.count)).sum();
    if group_size > MAX_GROUP_SIZE {
        return Err(error(
            "protocols.lava-multinode.roles".into(),
            format!(
                "the group asks for {group_size} devices; lava-rs splits at most \
                 {MAX_GROUP_SIZE} sub-jobs per group"
            ),
        ));
    }
    let actions = tree
        .get("actions")
        .and_then(Node::as_seq)
        .unwrap_or_default();

    // A dynamic connection's host must be a single device.
    for role in roles {
        if let Some(host) = &role.host_role {
            if let Some(host_role) = roles.iter().find(|r| &r.name == host) {
                if host_role.count != 1 {
                    return Err(error(
                        format!("protocols.lava-multinode.roles.{host}.count"),
                        "the count of a role designated as a host_role must be 1".into(),
                    ));
                }
            }
        }
    }

    let role_entries = role_nodes.as_map().unwrap_or_default();
    let mut sub_jobs = Vec::new();
    let mut sub_id: u32 = 0;
    for role in roles {
        let role_node = role_entries
            .iter()
            .find(|(k, _)| python::str(&k.value) == role.name)
            .ok_or_else(|| {
                error(
                    format!("protocols.lava-multinode.roles.{}", role.name),
                    "missing".into(),
                )
            })?;
        let (role_key, role_node) = (&role_node.0, &role_node.1);
        // LAVA's `role in value["role"]`: list membership, a key of a mapping, or a
        // substring of a string.
        let role_actions: Vec<Node> = actions
            .iter()
            .filter_map(|action| {
                let (key, body) = action.as_map()?.first()?;
                let listed = contains_value(body.get("role")?, role_key).ok()?;
                listed.then(|| {
                    let mut body = body.clone();
                    body.insert("role", string(&role.name));
                    Node::new(Value::Map(vec![(key.clone(), body)]))
                })
            })
            .collect();
        if role_actions.is_empty() && role.count > 0 {
            return Err(error(
                "actions".into(),
                format!("no action has the role {:?}", role.name),
            ));
        }

        let mut job = Node::new(Value::Map(Vec::new()));
        job.insert("actions", Node::new(Value::Seq(role_actions)));
        for key in COPIED {
            if let Some(v) = tree.get(key) {
                job.insert(key, v.clone());
            }
        }
        for key in FROM_ROLE {
            if let Some(v) = role_node.get(key) {
                job.insert(key, v.clone());
            }
        }
        let mut params = Node::new(Value::Map(Vec::new()));
        params.insert("target_group", string(target_group));
        params.insert("role", string(&role.name));
        params.insert("group_size", int(group_size));
        params.insert("sub_id", int(0));
        for (key, value) in role_node.as_map().unwrap_or_default() {
            let name = key.as_str().unwrap_or_default();
            if name != "count" && !FROM_ROLE.contains(&name) {
                params.insert(name, value.clone());
            }
        }
        for (key, value) in protocol.as_map().unwrap_or_default() {
            let name = key.as_str().unwrap_or_default();
            if name != "roles" && name != "role" {
                params.insert(name, value.clone());
            }
        }
        let mut protocols = Node::new(Value::Map(Vec::new()));
        protocols.insert("lava-multinode", params);
        // Per-role sections of the other protocols follow their role.
        for other in ["lava-lxc", "lava-vland"] {
            if let Some(section) = tree
                .get("protocols")
                .and_then(|p| p.get(other))
                .and_then(|p| p.get(&role.name))
            {
                protocols.insert(other, section.clone());
            }
        }
        job.insert("protocols", protocols);

        for _ in 0..role.count {
            if let Some(params) = job
                .get_mut("protocols")
                .and_then(|p| p.get_mut("lava-multinode"))
            {
                params.insert("sub_id", int(i64::from(sub_id)));
            }
            let text = emit(&job).map_err(|e| {
                error(
                    format!("protocols.lava-multinode.roles.{}", role.name),
                    format!("cannot write the sub-job: {e}"),
                )
            })?;
            sub_jobs.push(SubJob {
                role: role.name.clone(),
                sub_id,
                device_type: role.device_type.clone(),
                tags: role.tags.clone(),
                definition: text,
            });
            sub_id += 1;
        }
    }
    Ok(sub_jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_larger_than_any_lab_is_refused_before_it_is_split() {
        let text = |count: &str| {
            format!(
                "device_type: qemu\njob_name: mn\nvisibility: public\ntimeouts:\n  job:\n    \
                 minutes: 5\nprotocols:\n  lava-multinode:\n    roles:\n      server:\n        \
                 device_type: qemu\n        count: {count}\n    timeout:\n      minutes: 5\n\
                 actions:\n- command:\n    name: hello\n    role: [server]\n"
            )
        };
        let split = |count: &str| match super::super::parse_submission(&text(count)) {
            Ok(super::super::Submission::Pipeline(definition)) => split_multinode(&definition, "g"),
            other => panic!("not a pipeline definition: {other:?}"),
        };
        assert_eq!(split("3").unwrap().len(), 3);
        let err = split("4000000000").unwrap_err();
        assert!(err.to_string().contains("at most 10000 sub-jobs"), "{err}");
    }

    #[test]
    fn roles_are_written_into_the_protocol() {
        let sub_job =
            "job_name: mn\nprotocols:\n  lava-multinode:\n    role: server\n    target_group: g\n";
        let roles: BTreeMap<i64, String> = [(12, "server".into()), (13, "client".into())].into();
        let text = set_multinode_roles(sub_job, &roles).unwrap();
        let tree = super::super::yaml::parse(&text).unwrap();
        let written = tree
            .get("protocols")
            .and_then(|p| p.get("lava-multinode"))
            .and_then(|p| p.get("roles"))
            .unwrap();
        assert_eq!(written.get("12").and_then(Node::as_str), Some("server"));
        assert_eq!(written.get("13").and_then(Node::as_str), Some("client"));
        // The rest of the definition is kept.
        assert_eq!(tree.get("job_name").and_then(Node::as_str), Some("mn"));

        let err = set_multinode_roles("job_name: single\n", &roles).unwrap_err();
        let crate::Error::JobDefinition(err) = err else {
            panic!("{err}")
        };
        assert_eq!(err.path, "protocols.lava-multinode");
        assert!(set_multinode_roles("job_name: [\n", &roles).is_err());
    }
}
