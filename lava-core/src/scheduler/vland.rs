//! `lava-vland`: a job that asks for VLANs runs only on a device with one network interface
//! per VLAN, each carrying the VLAN's tags (LAVA 2020.05's `match_vlan_interface`).
//!
//! The match is LAVA's greedy one: the VLANs are taken in the order of the job definition;
//! each takes the first interface, in the device dictionary's order, that carries all its
//! tags and that no earlier VLAN took. Interfaces without tags never match. A device whose
//! dictionary has no `parameters.interfaces` matches no VLAN request.

use crate::job::yaml::{self, Node};

/// One VLAN a job asks for (`protocols.lava-vland.<name>.tags`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vlan {
    /// The VLAN's name in the job definition.
    pub name: String,
    /// The tags the interface must carry.
    pub tags: Vec<String>,
}

/// A network interface of a device (`parameters.interfaces.<name>.tags` of its rendered
/// dictionary).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VlanInterface {
    /// The interface's name, e.g. `eth1`.
    pub name: String,
    /// Its tags; an interface without tags serves no VLAN.
    pub tags: Vec<String>,
}

/// Whether a device with `interfaces` (in dictionary order; `None` when its dictionary has
/// none) can serve every VLAN of `request` (in definition order).
pub fn match_vlan_interface(request: &[Vlan], interfaces: Option<&[VlanInterface]>) -> bool {
    let Some(interfaces) = interfaces else {
        return false;
    };
    let mut used = vec![false; interfaces.len()];
    request.iter().all(|vlan| {
        let found = interfaces.iter().enumerate().position(|(i, interface)| {
            !used[i]
                && !interface.tags.is_empty()
                && vlan.tags.iter().all(|t| interface.tags.contains(t))
        });
        match found {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

/// Which text a [`VlandError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlandSource {
    /// A job definition's `protocols.lava-vland`.
    JobDefinition,
    /// A device's rendered configuration (`parameters.interfaces`).
    DeviceConfiguration,
}

impl std::fmt::Display for VlandSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VlandSource::JobDefinition => "job definition",
            VlandSource::DeviceConfiguration => "device configuration",
        })
    }
}

/// A `lava-vland` request or a device's interface list that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lava-vland: {source_text}: {path}: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct VlandError {
    /// The text at fault.
    pub source_text: VlandSource,
    /// The key path at fault, e.g. `protocols.lava-vland.vlan_one.tags`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The line, where the parser knows it.
    pub line: Option<usize>,
}

struct Reader {
    source: VlandSource,
}

impl Reader {
    fn error(&self, path: &str, message: impl Into<String>, node: Option<&Node>) -> VlandError {
        VlandError {
            source_text: self.source,
            path: path.into(),
            message: message.into(),
            line: node.map(|n| n.line).filter(|l| *l > 0),
        }
    }

    fn parse(&self, text: &str) -> Result<Node, VlandError> {
        yaml::parse(text).map_err(|e| VlandError {
            source_text: self.source,
            path: "(document)".into(),
            message: format!("not valid YAML: {}", e.message),
            line: e.line,
        })
    }

    fn string_list(&self, node: &Node, path: &str) -> Result<Vec<String>, VlandError> {
        let items = node
            .as_seq()
            .ok_or_else(|| self.error(path, "expected a list of tag names", Some(node)))?;
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.error(path, "expected tag names", Some(item)))
            })
            .collect()
    }

    /// The `(name, tags node)` entries of the mapping at `path`.
    fn entries<'n>(
        &self,
        section: &'n Node,
        path: &str,
        what: &str,
    ) -> Result<Vec<(String, &'n Node, String)>, VlandError> {
        let entries = section.as_map().ok_or_else(|| {
            self.error(
                path,
                format!("expected a mapping of {what} names"),
                Some(section),
            )
        })?;
        entries
            .iter()
            .map(|(key, body)| {
                let name = key.as_str().ok_or_else(|| {
                    self.error(path, format!("{what} names must be strings"), Some(key))
                })?;
                let tags_path = format!("{path}.{name}.tags");
                let tags = body
                    .get("tags")
                    .ok_or_else(|| self.error(&tags_path, "missing", Some(body)))?;
                Ok((name.to_owned(), tags, tags_path))
            })
            .collect()
    }
}

/// The VLANs a job definition asks for in `protocols.lava-vland`, or `None` when it asks
/// for none. A VLAN without a `tags` list is an error (LAVA's scheduler fails on it).
pub fn vlan_request(definition: &str) -> Result<Option<Vec<Vlan>>, VlandError> {
    let reader = Reader {
        source: VlandSource::JobDefinition,
    };
    let tree = reader.parse(definition)?;
    let Some(section) = tree.get("protocols").and_then(|p| p.get("lava-vland")) else {
        return Ok(None);
    };
    reader
        .entries(section, "protocols.lava-vland", "VLAN")?
        .into_iter()
        .map(|(name, tags, path)| {
            Ok(Vlan {
                name,
                tags: reader.string_list(tags, &path)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The interfaces of a rendered device configuration (`parameters.interfaces`), or `None`
/// when it has none. An interface without a `tags` key is an error (LAVA's scheduler fails
/// on it); `tags: null` or `[]` is an interface without tags.
pub fn vlan_interfaces(configuration: &str) -> Result<Option<Vec<VlanInterface>>, VlandError> {
    let reader = Reader {
        source: VlandSource::DeviceConfiguration,
    };
    let tree = reader.parse(configuration)?;
    let Some(section) = tree
        .get("parameters")
        .and_then(|p| p.get("interfaces"))
        .filter(|n| !matches!(n.value, yaml::Value::Null))
    else {
        return Ok(None);
    };
    reader
        .entries(section, "parameters.interfaces", "interface")?
        .into_iter()
        .map(|(name, tags, path)| {
            let tags = match tags.value {
                yaml::Value::Null => Vec::new(),
                _ => reader.string_list(tags, &path)?,
            };
            Ok(VlanInterface { name, tags })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan(name: &str, tags: &[&str]) -> Vlan {
        Vlan {
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn interface(name: &str, tags: &[&str]) -> VlanInterface {
        VlanInterface {
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn each_vlan_needs_its_own_tagged_interface() {
        let interfaces = [
            interface("eth0", &[]),
            interface("eth1", &["10G", "public"]),
            interface("eth2", &["1G"]),
        ];
        let fits = |request: &[Vlan]| match_vlan_interface(request, Some(&interfaces));
        assert!(fits(&[vlan("a", &["10G"])]));
        assert!(fits(&[vlan("a", &["10G"]), vlan("b", &["1G"])]));
        // Two VLANs cannot share eth1.
        assert!(!fits(&[vlan("a", &["10G"]), vlan("b", &["public"])]));
        assert!(!fits(&[vlan("a", &["100G"])]));
        // An empty tag list takes the first tagged interface; eth0 (untagged) never serves.
        assert!(fits(&[vlan("a", &[]), vlan("b", &[]),]));
        assert!(!fits(&[vlan("a", &[]), vlan("b", &[]), vlan("c", &[])]));
        assert!(!match_vlan_interface(&[vlan("a", &[])], None));
    }

    #[test]
    fn greedy_in_definition_order_as_lava() {
        // LAVA gives eth1 to the first VLAN although eth2 would have left eth1 for the
        // second: the request fails, as it does in LAVA.
        let interfaces = [interface("eth1", &["a", "b"]), interface("eth2", &["a"])];
        assert!(!match_vlan_interface(
            &[vlan("first", &["a"]), vlan("second", &["b"])],
            Some(&interfaces)
        ));
        assert!(match_vlan_interface(
            &[vlan("second", &["b"]), vlan("first", &["a"])],
            Some(&interfaces)
        ));
    }

    #[test]
    fn reads_requests_and_interfaces() {
        let job = "job_name: j\nprotocols:\n  lava-vland:\n    vlan_one:\n      tags: [10G]\n    vlan_two:\n      tags: []\n";
        assert_eq!(
            vlan_request(job).unwrap(),
            Some(vec![vlan("vlan_one", &["10G"]), vlan("vlan_two", &[])])
        );
        assert_eq!(vlan_request("job_name: j\n").unwrap(), None);
        let err = vlan_request("protocols:\n  lava-vland:\n    v: {}\n").unwrap_err();
        assert_eq!(err.path, "protocols.lava-vland.v.tags");

        let config = "parameters:\n  interfaces:\n    eth0:\n      tags: null\n    eth1:\n      tags: [10G]\n";
        assert_eq!(
            vlan_interfaces(config).unwrap(),
            Some(vec![interface("eth0", &[]), interface("eth1", &["10G"])])
        );
        assert_eq!(vlan_interfaces("parameters: {}\n").unwrap(), None);
        let err = vlan_interfaces("parameters:\n  interfaces:\n    eth0: {}\n").unwrap_err();
        assert_eq!(err.path, "parameters.interfaces.eth0.tags");
    }
}
