//! Who may submit to which device: LAVA 2020.05's group permissions on devices and device
//! types (`Device.can_submit(user)`), as plain data.
//!
//! LAVA grants permissions to *groups*, per object (`GroupDevicePermission`,
//! `GroupDeviceTypePermission`). A device is *restricted* for submission when some group
//! holds `submit_to_device` on it; then only members of the groups holding
//! `submit_to_device` or `change_device` on it (change implies submit), superusers and users
//! holding the permission globally may use it. An unrestricted device of a restricted type
//! follows the same rule one level up, with `submit_to_devicetype`/`change_devicetype`. A
//! device and type without restriction are open to every user.
//!
//! Users are given by name in [`Permissions::users`]; a submitter missing from it is taken
//! as a plain active user in no group (enough for every open device). `lava-health`, the
//! health checks' user, may always submit, as in LAVA.

use crate::model::Device;
use std::collections::{BTreeSet, HashMap};

/// The user LAVA creates health checks as; it may submit to every device.
pub const HEALTH_CHECK_USER: &str = "lava-health";

/// A permission LAVA grants on a device or a device type. Their codenames are
/// `view_device`, `submit_to_device`, `change_device` on devices and `view_devicetype`,
/// `submit_to_devicetype`, `change_devicetype` on device types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectPermission {
    /// May see the object.
    View,
    /// May submit jobs to it.
    Submit,
    /// May change it (which includes submitting and viewing, in LAVA's order of importance).
    Change,
}

impl ObjectPermission {
    /// The permission for a LAVA codename (`submit_to_device`, `change_devicetype`, …),
    /// with or without the `lava_scheduler_app.` prefix.
    pub fn from_codename(codename: &str) -> Option<Self> {
        let codename = codename
            .strip_prefix("lava_scheduler_app.")
            .unwrap_or(codename);
        match codename {
            "view_device" | "view_devicetype" => Some(ObjectPermission::View),
            "submit_to_device" | "submit_to_devicetype" => Some(ObjectPermission::Submit),
            "change_device" | "change_devicetype" => Some(ObjectPermission::Change),
            _ => None,
        }
    }

    /// Whether holding `self` lets a group's members submit.
    const fn allows_submit(self) -> bool {
        matches!(self, ObjectPermission::Submit | ObjectPermission::Change)
    }
}

/// One permission granted to a group on a device or device type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupPermission {
    /// The group's name.
    pub group: String,
    /// What its members may do.
    pub permission: ObjectPermission,
}

/// What the scheduler needs to know of a user (Django's `User`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccess {
    /// The groups the user belongs to.
    pub groups: BTreeSet<String>,
    /// Superusers hold every permission (when active).
    pub is_superuser: bool,
    /// Inactive users hold no permission; they may still use open devices, as in LAVA.
    pub is_active: bool,
    /// Holds `lava_scheduler_app.submit_to_device` globally (for every device).
    pub submit_to_all_devices: bool,
    /// Holds `lava_scheduler_app.submit_to_devicetype` globally (for every device type).
    pub submit_to_all_device_types: bool,
}

impl Default for UserAccess {
    fn default() -> Self {
        UserAccess {
            groups: BTreeSet::new(),
            is_superuser: false,
            is_active: true,
            submit_to_all_devices: false,
            submit_to_all_device_types: false,
        }
    }
}

/// The submit permissions of a lab. The default restricts nothing: every user may submit to
/// every device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Users by username. Only users whose groups or flags matter need to be listed.
    pub users: HashMap<String, UserAccess>,
    /// Group permissions per device hostname (`GroupDevicePermission`).
    pub devices: HashMap<String, Vec<GroupPermission>>,
    /// Group permissions per device type name (`GroupDeviceTypePermission`).
    pub device_types: HashMap<String, Vec<GroupPermission>>,
}

fn restricted(grants: Option<&Vec<GroupPermission>>) -> bool {
    grants.is_some_and(|g| g.iter().any(|p| p.permission == ObjectPermission::Submit))
}

impl Permissions {
    /// Whether no device and no device type is restricted for submission (then every
    /// check passes and the pass skips them).
    pub fn is_open(&self) -> bool {
        !self.devices.values().any(|g| restricted(Some(g)))
            && !self.device_types.values().any(|g| restricted(Some(g)))
    }

    /// Whether `device` is open to every user: neither it nor its type is restricted.
    pub fn device_is_open(&self, device: &Device) -> bool {
        !restricted(self.devices.get(&device.hostname))
            && !restricted(self.device_types.get(&device.device_type))
    }

    /// Whether the user holds `Change` on an object with these grants (LAVA's
    /// `user.has_perm(change_*, object)`: active superusers hold everything, inactive
    /// users nothing, others through their groups).
    fn holds_change(&self, username: &str, grants: Option<&Vec<GroupPermission>>) -> bool {
        let plain = UserAccess::default();
        let user = self.users.get(username).unwrap_or(&plain);
        user.is_active
            && (user.is_superuser
                || grants.is_some_and(|g| {
                    g.iter().any(|p| {
                        p.permission == ObjectPermission::Change && user.groups.contains(&p.group)
                    })
                }))
    }

    /// LAVA's `DeviceType.can_change(user)`: `change_devicetype` on the type.
    pub fn can_change_device_type(&self, device_type: &str, username: &str) -> bool {
        self.holds_change(username, self.device_types.get(device_type))
    }

    /// LAVA's `Device.can_change(user)`: `change_device` on the device, or, when no group
    /// holds `change_device` on it, `change_devicetype` on its type.
    pub fn can_change_device(&self, device: &Device, username: &str) -> bool {
        let grants = self.devices.get(&device.hostname);
        if self.holds_change(username, grants) {
            return true;
        }
        let restricted =
            grants.is_some_and(|g| g.iter().any(|p| p.permission == ObjectPermission::Change));
        !restricted && self.can_change_device_type(&device.device_type, username)
    }

    /// LAVA's `Device.can_submit(user)` for the user named `username`, leaving out its
    /// first rule (a Retired device takes no job): the scheduler never offers a Retired
    /// device, and an explanation counts it by its health, not as a permission problem.
    pub fn can_submit(&self, device: &Device, username: &str) -> bool {
        if username == HEALTH_CHECK_USER {
            return true;
        }
        let plain = UserAccess::default();
        let user = self.users.get(username).unwrap_or(&plain);
        // Django grants nothing to inactive users, everything to active superusers.
        let holds = |global: bool, grants: Option<&Vec<GroupPermission>>| {
            user.is_active
                && (user.is_superuser
                    || global
                    || grants.is_some_and(|g| {
                        g.iter()
                            .any(|p| p.permission.allows_submit() && user.groups.contains(&p.group))
                    }))
        };
        let device_grants = self.devices.get(&device.hostname);
        if holds(user.submit_to_all_devices, device_grants) {
            return true;
        }
        if restricted(device_grants) {
            return false;
        }
        let type_grants = self.device_types.get(&device.device_type);
        // An unrestricted device of an unrestricted type is open to any logged-in user.
        !restricted(type_grants) || holds(user.submit_to_all_device_types, type_grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceHealth, DeviceState};

    fn device(hostname: &str, device_type: &str) -> Device {
        Device {
            hostname: hostname.into(),
            device_type: device_type.into(),
            state: DeviceState::Idle,
            health: DeviceHealth::Good,
            worker: None,
            tags: BTreeSet::new(),
            last_health_report_job: None,
            description: String::new(),
        }
    }

    fn grant(group: &str, permission: ObjectPermission) -> GroupPermission {
        GroupPermission {
            group: group.into(),
            permission,
        }
    }

    fn member(group: &str) -> UserAccess {
        UserAccess {
            groups: [group.to_owned()].into(),
            ..UserAccess::default()
        }
    }

    #[test]
    fn open_lab_lets_everyone_submit() {
        let p = Permissions::default();
        assert!(p.is_open());
        assert!(p.can_submit(&device("panda01", "panda"), "anyone"));
    }

    #[test]
    fn restricted_device_takes_its_groups_only() {
        let mut p = Permissions::default();
        p.devices.insert(
            "panda01".into(),
            vec![grant("lab", ObjectPermission::Submit)],
        );
        p.users.insert("alice".into(), member("lab"));
        p.users.insert("bob".into(), member("other"));
        let d = device("panda01", "panda");
        assert!(!p.is_open());
        assert!(p.can_submit(&d, "alice"));
        assert!(!p.can_submit(&d, "bob"));
        assert!(!p.can_submit(&d, "unknown-user"));
        assert!(p.can_submit(&d, HEALTH_CHECK_USER));
        // Another device of the type stays open.
        assert!(p.can_submit(&device("panda02", "panda"), "bob"));
    }

    #[test]
    fn change_implies_submit_but_does_not_restrict() {
        let mut p = Permissions::default();
        p.devices.insert(
            "panda01".into(),
            vec![
                grant("admins", ObjectPermission::Change),
                grant("lab", ObjectPermission::Submit),
            ],
        );
        p.users.insert("carol".into(), member("admins"));
        let d = device("panda01", "panda");
        assert!(p.can_submit(&d, "carol"));
        // Only a change grant: the device is not restricted for submission.
        p.devices.insert(
            "panda01".into(),
            vec![grant("admins", ObjectPermission::Change)],
        );
        assert!(p.is_open());
        assert!(p.can_submit(&d, "dave"));
    }

    #[test]
    fn restricted_type_applies_to_unrestricted_devices() {
        let mut p = Permissions::default();
        p.device_types
            .insert("panda".into(), vec![grant("lab", ObjectPermission::Submit)]);
        p.users.insert("alice".into(), member("lab"));
        p.devices.insert(
            "panda02".into(),
            vec![grant("other", ObjectPermission::Submit)],
        );
        p.users.insert("erin".into(), member("other"));
        assert!(p.can_submit(&device("panda01", "panda"), "alice"));
        assert!(!p.can_submit(&device("panda01", "panda"), "erin"));
        // A device restricted itself answers for itself: the type's group does not count.
        assert!(!p.can_submit(&device("panda02", "panda"), "alice"));
        assert!(p.can_submit(&device("panda02", "panda"), "erin"));
    }

    #[test]
    fn superusers_and_global_permissions_pass_inactive_users_do_not() {
        let mut p = Permissions::default();
        p.devices.insert(
            "panda01".into(),
            vec![grant("lab", ObjectPermission::Submit)],
        );
        let d = device("panda01", "panda");
        let root = UserAccess {
            is_superuser: true,
            ..UserAccess::default()
        };
        p.users.insert("root".into(), root.clone());
        p.users.insert(
            "global".into(),
            UserAccess {
                submit_to_all_devices: true,
                ..UserAccess::default()
            },
        );
        p.users.insert(
            "retired-root".into(),
            UserAccess {
                is_active: false,
                ..root
            },
        );
        p.users.insert(
            "gone".into(),
            UserAccess {
                is_active: false,
                ..member("lab")
            },
        );
        assert!(p.can_submit(&d, "root"));
        assert!(p.can_submit(&d, "global"));
        assert!(!p.can_submit(&d, "retired-root"));
        assert!(!p.can_submit(&d, "gone"));
        // An inactive user still counts as logged in for an open device.
        assert!(p.can_submit(&device("qemu01", "qemu"), "gone"));
    }

    #[test]
    fn change_on_a_device_or_else_its_type() {
        let mut p = Permissions::default();
        p.device_types.insert(
            "panda".into(),
            vec![grant("type-admins", ObjectPermission::Change)],
        );
        p.devices.insert(
            "panda02".into(),
            vec![grant("dev-admins", ObjectPermission::Change)],
        );
        p.users.insert("tina".into(), member("type-admins"));
        p.users.insert("dora".into(), member("dev-admins"));
        let (one, two) = (device("panda01", "panda"), device("panda02", "panda"));
        assert!(p.can_change_device(&one, "tina"));
        assert!(!p.can_change_device(&one, "dora"));
        // panda02 answers for itself: its type's admins do not count.
        assert!(!p.can_change_device(&two, "tina"));
        assert!(p.can_change_device(&two, "dora"));
        assert!(p.can_change_device_type("panda", "tina"));
        assert!(!p.can_change_device_type("panda", "nobody"));
    }

    #[test]
    fn codenames() {
        assert_eq!(
            ObjectPermission::from_codename("lava_scheduler_app.submit_to_device"),
            Some(ObjectPermission::Submit)
        );
        assert_eq!(
            ObjectPermission::from_codename("change_devicetype"),
            Some(ObjectPermission::Change)
        );
        assert_eq!(ObjectPermission::from_codename("delete_device"), None);
    }
}
