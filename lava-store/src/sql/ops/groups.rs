//! Groups, their members and the permissions granted to them on devices and device types.

use super::*;
use crate::sql::{Cols, SqlTx};
use crate::types::{Grant, GrantOn};
use lava_core::scheduler::ObjectPermission;

pub(crate) fn add_group(tx: &mut dyn SqlTx, name: &str) -> Result<()> {
    if exists(tx, "SELECT 1 FROM lab_groups WHERE name = ?", name.into())? {
        return Err(StoreError::AlreadyExists(format!("group {name}")));
    }
    tx.execute("INSERT INTO lab_groups (name) VALUES (?)", &[name.into()])?;
    Ok(())
}

pub(crate) fn remove_group(tx: &mut dyn SqlTx, name: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM group_members WHERE group_name = ?",
        &[name.into()],
    )?;
    tx.execute("DELETE FROM grants WHERE group_name = ?", &[name.into()])?;
    if tx.execute("DELETE FROM lab_groups WHERE name = ?", &[name.into()])? == 0 {
        return Err(StoreError::NotFound(format!("group {name}")));
    }
    Ok(())
}

pub(crate) fn groups(tx: &mut dyn SqlTx) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> =
        texts(tx.query("SELECT name FROM lab_groups ORDER BY name", &[])?)
            .into_iter()
            .map(|g| (g, Vec::new()))
            .collect();
    let rows = tx.query(
        "SELECT group_name, username FROM group_members ORDER BY group_name, username",
        &[],
    )?;
    for row in rows {
        let what = || "a row of group_members".to_owned();
        let mut c = Cols::new(row, &what);
        let (group, user) = (c.text()?, c.text()?);
        if let Some((_, members)) = out.iter_mut().find(|(g, _)| *g == group) {
            members.push(user);
        }
    }
    Ok(out)
}

pub(crate) fn add_group_member(tx: &mut dyn SqlTx, group: &str, username: &str) -> Result<()> {
    if !exists(tx, "SELECT 1 FROM lab_groups WHERE name = ?", group.into())? {
        return Err(StoreError::NotFound(format!("group {group}")));
    }
    if !exists(
        tx,
        "SELECT 1 FROM users WHERE username = ?",
        username.into(),
    )? {
        return Err(StoreError::NotFound(format!("user {username}")));
    }
    let member = tx.query(
        "SELECT 1 FROM group_members WHERE group_name = ? AND username = ?",
        &[group.into(), username.into()],
    )?;
    if member.is_empty() {
        tx.execute(
            "INSERT INTO group_members (group_name, username) VALUES (?, ?)",
            &[group.into(), username.into()],
        )?;
    }
    Ok(())
}

pub(crate) fn remove_group_member(tx: &mut dyn SqlTx, group: &str, username: &str) -> Result<()> {
    if !exists(tx, "SELECT 1 FROM lab_groups WHERE name = ?", group.into())? {
        return Err(StoreError::NotFound(format!("group {group}")));
    }
    let n = tx.execute(
        "DELETE FROM group_members WHERE group_name = ? AND username = ?",
        &[group.into(), username.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "user {username} in group {group}"
        )));
    }
    Ok(())
}

fn permission_name(p: ObjectPermission) -> &'static str {
    match p {
        ObjectPermission::View => "view",
        ObjectPermission::Submit => "submit",
        ObjectPermission::Change => "change",
    }
}

pub(crate) fn add_grant(tx: &mut dyn SqlTx, g: &Grant) -> Result<()> {
    if !exists(
        tx,
        "SELECT 1 FROM lab_groups WHERE name = ?",
        (&g.group).into(),
    )? {
        return Err(StoreError::NotFound(format!("group {}", g.group)));
    }
    let (sql, what) = match g.on {
        GrantOn::Device => ("SELECT 1 FROM devices WHERE hostname = ?", "device"),
        GrantOn::DeviceType => ("SELECT 1 FROM device_types WHERE name = ?", "device type"),
    };
    if !exists(tx, sql, (&g.object).into())? {
        return Err(StoreError::NotFound(format!("{what} {}", g.object)));
    }
    let params = [
        g.on.name().into(),
        (&g.object).into(),
        (&g.group).into(),
        permission_name(g.permission).into(),
    ];
    let present = tx.query(
        "SELECT 1 FROM grants WHERE kind = ? AND object = ? AND group_name = ? AND permission = ?",
        &params,
    )?;
    if present.is_empty() {
        tx.execute(
            "INSERT INTO grants (kind, object, group_name, permission) VALUES (?, ?, ?, ?)",
            &params,
        )?;
    }
    Ok(())
}

pub(crate) fn remove_grant(tx: &mut dyn SqlTx, g: &Grant) -> Result<()> {
    let n = tx.execute(
        "DELETE FROM grants WHERE kind = ? AND object = ? AND group_name = ? AND permission = ?",
        &[
            g.on.name().into(),
            (&g.object).into(),
            (&g.group).into(),
            permission_name(g.permission).into(),
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "permission {} of group {} on {}",
            g.codename(),
            g.group,
            g.object
        )));
    }
    Ok(())
}

pub(crate) fn grants(tx: &mut dyn SqlTx) -> Result<Vec<Grant>> {
    let rows = tx.query(
        "SELECT kind, object, group_name, permission FROM grants",
        &[],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let what = || "a row of grants".to_owned();
        let mut c = Cols::new(row, &what);
        let (kind, object, group, permission) = (c.text()?, c.text()?, c.text()?, c.text()?);
        let on = GrantOn::from_name(&kind)
            .ok_or_else(|| StoreError::BadValue(format!("grants: unknown kind {kind:?}")))?;
        let permission = match permission.as_str() {
            "view" => ObjectPermission::View,
            "submit" => ObjectPermission::Submit,
            "change" => ObjectPermission::Change,
            other => {
                return Err(StoreError::BadValue(format!(
                    "grants: unknown permission {other:?}"
                )))
            }
        };
        out.push(Grant {
            on,
            object,
            group,
            permission,
        });
    }
    out.sort();
    Ok(out)
}

/// Drops the grants on an object being removed.
pub(crate) fn remove_grants_on(tx: &mut dyn SqlTx, on: GrantOn, object: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM grants WHERE kind = ? AND object = ?",
        &[on.name().into(), object.into()],
    )?;
    Ok(())
}
