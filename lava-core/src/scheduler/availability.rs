//! Whether a lab has enough devices for a multinode group: LAVA 2020.05's availability
//! check at submission, also used by the scheduler to keep a group that can never start
//! from holding devices.
//!
//! LAVA checks each role on its own (`_pipeline_protocols`): the type's devices that are
//! not Retired, the ones among them the submitter may submit to ([`Permissions`]), and, when
//! the role asks for tags, the ones carrying every tag. lava-rs adds one rule LAVA lacks:
//! the roles of one device type (and of one tag set) together may not ask for more devices
//! than the type has for the submitter, since a group starts only when every sub-job holds
//! a device at the same time. Two roles of two devices each on a type of three devices
//! pass LAVA's check and then wait forever; they are refused here.
//!
//! Device state and health other than Retired do not matter: a busy or Bad device may be
//! back tomorrow. The check is about what can ever be reached.

use super::permissions::Permissions;
use crate::model::{Device, DeviceHealth};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// What a role (or a group's sub-jobs of one kind) needs: `count` devices of `device_type`
/// carrying every tag in `tags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need<'a> {
    /// The device type.
    pub device_type: &'a str,
    /// How many devices at once.
    pub count: u32,
    /// Tags each device must carry.
    pub tags: &'a BTreeSet<String>,
}

/// Why a group cannot get its devices. The texts are LAVA's (its `DevicesUnavailableException`
/// messages), except [`Unavailable::NotEnoughTogether`], lava-rs' own rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The type has devices but the submitter may submit to none of them.
    NonePermitted {
        /// The type's devices (not Retired), in hostname order.
        hostnames: Vec<String>,
        /// The submitter.
        user: String,
    },
    /// A role asks for more devices than the submitter may use.
    NotEnough {
        /// The device type.
        device_type: String,
        /// The submitter.
        user: String,
    },
    /// No device of the type carries every tag a role asks for.
    NoneTagged {
        /// The device type.
        device_type: String,
        /// The tags, sorted.
        tags: Vec<String>,
    },
    /// Fewer devices the submitter may use carry the tags than a role asks for.
    NotEnoughTagged,
    /// Each role fits, but the roles on one type together ask for more devices than the
    /// submitter may use at once.
    NotEnoughTogether {
        /// The device type.
        device_type: String,
        /// The submitter.
        user: String,
        /// Devices the group's roles ask for on the type.
        needed: u32,
        /// Devices of the type (with the tags, if any) the submitter may use.
        usable: u32,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NonePermitted { hostnames, user } => {
                let list: Vec<String> = hostnames.iter().map(|h| format!("'{h}'")).collect();
                write!(
                    f,
                    "No devices from [{}] pool are currently available to user {user}",
                    list.join(", ")
                )
            }
            Unavailable::NotEnough { device_type, user } => write!(
                f,
                "Not enough devices of type {device_type} are currently available to user {user}"
            ),
            Unavailable::NoneTagged { device_type, tags } => write!(
                f,
                "No devices of type {device_type} are available which have all of the tags '{}'.",
                tags.join(", ")
            ),
            Unavailable::NotEnoughTagged => {
                f.write_str("Not enough devices available matching the requested tags.")
            }
            Unavailable::NotEnoughTogether {
                device_type,
                user,
                needed,
                usable,
            } => write!(
                f,
                "Not enough devices of type {device_type} are currently available to user \
                 {user}: the group needs {needed} at once, {usable} can be used"
            ),
        }
    }
}

impl std::error::Error for Unavailable {}

/// The lab's devices as the check sees them: per type, those not Retired.
#[derive(Debug)]
pub struct Availability<'a> {
    permissions: &'a Permissions,
    by_type: HashMap<&'a str, Vec<&'a Device>>,
}

impl<'a> Availability<'a> {
    /// Indexes `devices` by type, leaving out Retired ones.
    pub fn new(devices: &'a [Device], permissions: &'a Permissions) -> Self {
        let mut by_type: HashMap<&str, Vec<&Device>> = HashMap::new();
        for device in devices {
            if device.health != DeviceHealth::Retired {
                by_type
                    .entry(device.device_type.as_str())
                    .or_default()
                    .push(device);
            }
        }
        for list in by_type.values_mut() {
            list.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        }
        Availability {
            permissions,
            by_type,
        }
    }

    /// Checks a group's needs (in role order) for `submitter`: each need alone, in LAVA's
    /// order and words, then the needs of one type together. Cost: linear in the devices
    /// of the types named, per need.
    pub fn check(&self, needs: &[Need<'_>], submitter: &str) -> Result<(), Unavailable> {
        let mut together: BTreeMap<(&str, &BTreeSet<String>), u32> = BTreeMap::new();
        let mut per_type: BTreeMap<&str, u32> = BTreeMap::new();
        for need in needs {
            let devices = self
                .by_type
                .get(need.device_type)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let allowed: Vec<&Device> = devices
                .iter()
                .copied()
                .filter(|d| self.permissions.can_submit(d, submitter))
                .collect();
            if !devices.is_empty() && allowed.is_empty() {
                return Err(Unavailable::NonePermitted {
                    hostnames: devices.iter().map(|d| d.hostname.clone()).collect(),
                    user: submitter.to_owned(),
                });
            }
            if allowed.len() < need.count as usize {
                return Err(Unavailable::NotEnough {
                    device_type: need.device_type.to_owned(),
                    user: submitter.to_owned(),
                });
            }
            if !need.tags.is_empty() {
                let carries = |d: &Device| need.tags.is_subset(&d.tags);
                if !devices.iter().any(|d| carries(d)) {
                    return Err(Unavailable::NoneTagged {
                        device_type: need.device_type.to_owned(),
                        tags: need.tags.iter().cloned().collect(),
                    });
                }
                if allowed.iter().filter(|d| carries(d)).count() < need.count as usize {
                    return Err(Unavailable::NotEnoughTagged);
                }
            }
            *together.entry((need.device_type, need.tags)).or_default() += need.count;
            *per_type.entry(need.device_type).or_default() += need.count;
        }
        for (device_type, needed) in per_type {
            self.enough(device_type, &BTreeSet::new(), needed, submitter)?;
        }
        for ((device_type, tags), needed) in together {
            if !tags.is_empty() {
                self.enough(device_type, tags, needed, submitter)?;
            }
        }
        Ok(())
    }

    fn enough(
        &self,
        device_type: &str,
        tags: &BTreeSet<String>,
        needed: u32,
        submitter: &str,
    ) -> Result<(), Unavailable> {
        let usable = self.by_type.get(device_type).map_or(0, |devices| {
            devices
                .iter()
                .filter(|d| tags.is_subset(&d.tags) && self.permissions.can_submit(d, submitter))
                .count()
        });
        let usable = u32::try_from(usable).unwrap_or(u32::MAX);
        if needed > usable {
            return Err(Unavailable::NotEnoughTogether {
                device_type: device_type.to_owned(),
                user: submitter.to_owned(),
                needed,
                usable,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeviceState;
    use crate::scheduler::{GroupPermission, ObjectPermission};

    fn device(hostname: &str, device_type: &str, tags: &[&str]) -> Device {
        Device {
            hostname: hostname.into(),
            device_type: device_type.into(),
            state: DeviceState::Idle,
            health: DeviceHealth::Good,
            worker: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            last_health_report_job: None,
            description: String::new(),
        }
    }

    fn need<'a>(device_type: &'a str, count: u32, tags: &'a BTreeSet<String>) -> Need<'a> {
        Need {
            device_type,
            count,
            tags,
        }
    }

    #[test]
    fn a_role_asking_more_than_the_type_has_is_refused_in_lavas_words() {
        let devices = vec![device("qemu01", "qemu", &[])];
        let open = Permissions::default();
        let lab = Availability::new(&devices, &open);
        let none = BTreeSet::new();
        assert_eq!(lab.check(&[need("qemu", 1, &none)], "bob"), Ok(()));
        let err = lab.check(&[need("qemu", 2, &none)], "bob").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Not enough devices of type qemu are currently available to user bob"
        );
        // A type without devices at all: not enough either.
        assert!(matches!(
            lab.check(&[need("panda", 1, &none)], "bob"),
            Err(Unavailable::NotEnough { .. })
        ));
    }

    #[test]
    fn retired_devices_do_not_count_busy_and_bad_ones_do() {
        let mut devices = vec![
            device("qemu01", "qemu", &[]),
            device("qemu02", "qemu", &[]),
            device("qemu03", "qemu", &[]),
        ];
        devices[0].health = DeviceHealth::Retired;
        devices[1].health = DeviceHealth::Bad;
        devices[2].state = DeviceState::Running;
        let open = Permissions::default();
        let lab = Availability::new(&devices, &open);
        let none = BTreeSet::new();
        assert_eq!(lab.check(&[need("qemu", 2, &none)], "bob"), Ok(()));
        assert!(lab.check(&[need("qemu", 3, &none)], "bob").is_err());
    }

    #[test]
    fn roles_of_one_type_together_must_fit() {
        let devices = vec![device("qemu01", "qemu", &[])];
        let open = Permissions::default();
        let lab = Availability::new(&devices, &open);
        let none = BTreeSet::new();
        let err = lab
            .check(&[need("qemu", 1, &none), need("qemu", 1, &none)], "bob")
            .unwrap_err();
        assert_eq!(
            err,
            Unavailable::NotEnoughTogether {
                device_type: "qemu".into(),
                user: "bob".into(),
                needed: 2,
                usable: 1
            }
        );
        assert!(err
            .to_string()
            .starts_with("Not enough devices of type qemu"));
    }

    #[test]
    fn tags_are_checked_per_role_and_together() {
        let devices = vec![
            device("qemu01", "qemu", &["usb"]),
            device("qemu02", "qemu", &[]),
        ];
        let open = Permissions::default();
        let lab = Availability::new(&devices, &open);
        let usb: BTreeSet<String> = ["usb".to_owned()].into();
        let wifi: BTreeSet<String> = ["wifi".to_owned()].into();
        assert_eq!(lab.check(&[need("qemu", 1, &usb)], "bob"), Ok(()));
        assert_eq!(
            lab.check(&[need("qemu", 2, &usb)], "bob")
                .unwrap_err()
                .to_string(),
            "Not enough devices available matching the requested tags."
        );
        assert_eq!(
            lab.check(&[need("qemu", 1, &wifi)], "bob")
                .unwrap_err()
                .to_string(),
            "No devices of type qemu are available which have all of the tags 'wifi'."
        );
        assert!(matches!(
            lab.check(&[need("qemu", 1, &usb), need("qemu", 1, &usb)], "bob"),
            Err(Unavailable::NotEnoughTogether {
                needed: 2,
                usable: 1,
                ..
            })
        ));
    }

    #[test]
    fn permissions_limit_what_a_user_may_count() {
        let devices = vec![device("qemu01", "qemu", &[]), device("qemu02", "qemu", &[])];
        let mut permissions = Permissions::default();
        for host in ["qemu01", "qemu02"] {
            permissions.devices.insert(
                host.into(),
                vec![GroupPermission {
                    group: "lab".into(),
                    permission: ObjectPermission::Submit,
                }],
            );
        }
        let lab = Availability::new(&devices, &permissions);
        let none = BTreeSet::new();
        assert_eq!(
            lab.check(&[need("qemu", 1, &none)], "eve")
                .unwrap_err()
                .to_string(),
            "No devices from ['qemu01', 'qemu02'] pool are currently available to user eve"
        );
        assert_eq!(lab.check(&[need("qemu", 2, &none)], "lava-health"), Ok(()));
    }
}
