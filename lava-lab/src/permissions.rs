//! Groups of users and what they may do on devices and device types: LAVA's Django groups
//! with `GroupDevicePermission` and `GroupDeviceTypePermission`, kept in the store.
//!
//! The rules are LAVA 2020.05's, in `lava_core::scheduler::Permissions`: a device (or
//! device type) on which some group holds `submit` takes jobs only from that group's
//! members, holders of `change` and admins; who may cancel a job is its submitter, an admin
//! or a holder of `change` on its device (or, when nobody holds `change` on the device, on
//! its type); a job whose `visibility` names groups is seen by members of all of them.

use crate::error::{LabError, Result};
use crate::lab::Lab;
use lava_core::scheduler::{GroupPermission, ObjectPermission, Permissions, UserAccess};
use lava_store::{Grant, GrantOn};
use std::collections::BTreeSet;

/// A group's name: what LAVA's Django groups accept, kept to characters a command line and
/// a job definition carry safely.
fn check_group_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 150
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(LabError::Invalid(format!(
            "invalid group name {name:?}: use 1 to 150 letters, digits and . _ - @ +"
        )))
    }
}

impl Lab {
    /// The lab's permissions as the scheduler, the submission check and cancel use them:
    /// every user (admins are LAVA's superusers) with their groups, and every grant.
    pub async fn permissions(&self) -> Result<Permissions> {
        let mut permissions = Permissions::default();
        for user in self.store().users().await? {
            permissions.users.insert(
                user.username.clone(),
                UserAccess {
                    is_superuser: user.is_admin,
                    ..UserAccess::default()
                },
            );
        }
        for (group, members) in self.store().groups().await? {
            for member in members {
                if let Some(access) = permissions.users.get_mut(&member) {
                    access.groups.insert(group.clone());
                }
            }
        }
        for grant in self.store().grants().await? {
            let granted = GroupPermission {
                group: grant.group,
                permission: grant.permission,
            };
            let on = match grant.on {
                GrantOn::Device => &mut permissions.devices,
                GrantOn::DeviceType => &mut permissions.device_types,
            };
            on.entry(grant.object).or_default().push(granted);
        }
        Ok(permissions)
    }

    /// The groups `username` belongs to.
    pub async fn user_groups(&self, username: &str) -> Result<BTreeSet<String>> {
        Ok(self
            .store()
            .groups()
            .await?
            .into_iter()
            .filter(|(_, members)| members.iter().any(|m| m == username))
            .map(|(group, _)| group)
            .collect())
    }

    /// Adds a group.
    pub async fn add_group(&self, name: &str) -> Result<()> {
        check_group_name(name)?;
        self.store().add_group(name).await?;
        tracing::info!(group = name, "group added");
        Ok(())
    }

    /// Removes a group, its memberships and its grants.
    pub async fn remove_group(&self, name: &str) -> Result<()> {
        self.store().remove_group(name).await?;
        tracing::info!(group = name, "group removed");
        Ok(())
    }

    /// Every group with its members, by name.
    pub async fn groups(&self) -> Result<Vec<(String, Vec<String>)>> {
        Ok(self.store().groups().await?)
    }

    /// Makes `username` a member of `group`.
    pub async fn add_group_member(&self, group: &str, username: &str) -> Result<()> {
        self.store().add_group_member(group, username).await?;
        tracing::info!(group, user = username, "group member added");
        Ok(())
    }

    /// Takes `username` out of `group`.
    pub async fn remove_group_member(&self, group: &str, username: &str) -> Result<()> {
        self.store().remove_group_member(group, username).await?;
        tracing::info!(group, user = username, "group member removed");
        Ok(())
    }

    /// Grants `permission` on a device or device type to `group`.
    pub async fn grant(
        &self,
        on: GrantOn,
        object: &str,
        group: &str,
        permission: ObjectPermission,
    ) -> Result<()> {
        let grant = Grant {
            on,
            object: object.to_owned(),
            group: group.to_owned(),
            permission,
        };
        self.store().add_grant(&grant).await?;
        tracing::info!(
            object,
            group,
            permission = grant.codename(),
            "permission granted"
        );
        Ok(())
    }

    /// Revokes a grant.
    pub async fn revoke(
        &self,
        on: GrantOn,
        object: &str,
        group: &str,
        permission: ObjectPermission,
    ) -> Result<()> {
        let grant = Grant {
            on,
            object: object.to_owned(),
            group: group.to_owned(),
            permission,
        };
        self.store().remove_grant(&grant).await?;
        tracing::info!(
            object,
            group,
            permission = grant.codename(),
            "permission revoked"
        );
        Ok(())
    }

    /// Every grant (on devices and device types), sorted.
    pub async fn grants(&self) -> Result<Vec<Grant>> {
        Ok(self.store().grants().await?)
    }
}

/// A permission named as lava-admin and LAVA name it: `view`, `submit`, `change`, or a
/// LAVA codename (`submit_to_device`, `change_devicetype`, …).
pub fn parse_permission(text: &str) -> Result<ObjectPermission> {
    match text {
        "view" => Ok(ObjectPermission::View),
        "submit" => Ok(ObjectPermission::Submit),
        "change" => Ok(ObjectPermission::Change),
        other => ObjectPermission::from_codename(other).ok_or_else(|| {
            LabError::Invalid(format!(
                "unknown permission {other:?}: use view, submit or change"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab};

    #[tokio::test]
    async fn groups_and_grants_become_the_labs_permissions() {
        let (_dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        lab.add_user("alice", false, "").await.unwrap();
        lab.add_user("bob", false, "").await.unwrap();
        lab.add_group("lab-team").await.unwrap();
        assert!(lab.add_group("bad name").await.is_err());
        lab.add_group_member("lab-team", "alice").await.unwrap();
        assert!(lab.add_group_member("lab-team", "nobody").await.is_err());
        lab.grant(GrantOn::Device, "d1", "lab-team", ObjectPermission::Submit)
            .await
            .unwrap();
        assert!(lab
            .grant(
                GrantOn::Device,
                "nope",
                "lab-team",
                ObjectPermission::Submit
            )
            .await
            .is_err());
        let p = lab.permissions().await.unwrap();
        let d1 = lab.store().device("d1").await.unwrap().unwrap();
        assert!(p.can_submit(&d1, "alice"));
        assert!(!p.can_submit(&d1, "bob"));
        assert_eq!(
            lab.user_groups("alice").await.unwrap(),
            ["lab-team".to_owned()].into()
        );
        // Removing the group removes its grant: d1 is open again.
        lab.remove_group("lab-team").await.unwrap();
        let p = lab.permissions().await.unwrap();
        assert!(p.can_submit(&d1, "bob"));
        assert!(lab.grants().await.unwrap().is_empty());
    }

    #[test]
    fn permissions_by_name_or_codename() {
        assert_eq!(
            parse_permission("submit").unwrap(),
            ObjectPermission::Submit
        );
        assert_eq!(
            parse_permission("change_devicetype").unwrap(),
            ObjectPermission::Change
        );
        assert!(parse_permission("delete").is_err());
    }
}
