//! `lava-admin groups …` and the `perm` commands of `devices` and `device-types`: LAVA's
//! groups of users and the permissions granted to them (view, submit, change) on a device
//! or a device type.

use crate::admin::lab::{block_on, print_json, LabArgs};
use crate::admin::AdminError;
use clap::{Args, Subcommand};
use lava_lab::{parse_permission, Lab};
use lava_store::GrantOn;
use serde_json::json;

/// `lava-admin groups`.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(Debug, Subcommand)]
enum GroupsCommand {
    /// Add a group.
    Add {
        /// Its name.
        name: String,
    },
    /// List groups with their members.
    List,
    /// Remove a group (its members stay users; its permissions go).
    Remove {
        /// The group.
        name: String,
    },
    /// Change a group's members.
    Update {
        /// The group.
        name: String,
        /// Make this user a member (repeat for more).
        #[arg(long = "add-user", value_name = "USER")]
        add: Vec<String>,
        /// Take this user out (repeat for more).
        #[arg(long = "remove-user", value_name = "USER")]
        remove: Vec<String>,
    },
}

/// `perm` under `devices` and `device-types`.
#[derive(Debug, Subcommand)]
pub enum PermCommand {
    /// Grant a group a permission on it: view, submit or change (or LAVA's codename,
    /// e.g. submit_to_device). Once a group holds submit, only that group's members,
    /// holders of change and admins may submit to it.
    Add {
        /// The device (hostname) or device type (name).
        object: String,
        /// The group.
        group: String,
        /// view, submit or change.
        permission: String,
    },
    /// Revoke a permission.
    Remove {
        /// The device or device type.
        object: String,
        /// The group.
        group: String,
        /// view, submit or change.
        permission: String,
    },
    /// List the permissions granted (on one object, or on all of this kind).
    List {
        /// Only this device or device type.
        object: Option<String>,
    },
}

/// Runs `lava-admin groups …`.
pub fn run(args: GroupsArgs, lab_args: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            GroupsCommand::Add { name } => {
                lab.add_group(&name).await?;
                println!("group {name} added");
            }
            GroupsCommand::List => {
                let groups = lab.groups().await?;
                if lab_args.json {
                    let list: Vec<_> = groups
                        .iter()
                        .map(|(name, members)| json!({"name": name, "members": members}))
                        .collect();
                    print_json(&json!(list));
                } else {
                    for (name, members) in groups {
                        println!("{:<30} {}", name, members.join(", "));
                    }
                }
            }
            GroupsCommand::Remove { name } => {
                lab.remove_group(&name).await?;
                println!("group {name} removed");
            }
            GroupsCommand::Update { name, add, remove } => {
                for user in &add {
                    lab.add_group_member(&name, user).await?;
                    println!("user {user} added to group {name}");
                }
                for user in &remove {
                    lab.remove_group_member(&name, user).await?;
                    println!("user {user} removed from group {name}");
                }
            }
        }
        Ok(())
    })
}

/// Runs a `perm` command on devices or device types, inside the caller's runtime.
pub async fn run_perm(
    lab: &Lab,
    on: GrantOn,
    command: PermCommand,
    json_output: bool,
) -> Result<(), AdminError> {
    let what = match on {
        GrantOn::Device => "device",
        GrantOn::DeviceType => "device type",
    };
    match command {
        PermCommand::Add {
            object,
            group,
            permission,
        } => {
            let permission = parse_permission(&permission)?;
            lab.grant(on, &object, &group, permission).await?;
            println!("group {group} may now {} {what} {object}", verb(permission));
        }
        PermCommand::Remove {
            object,
            group,
            permission,
        } => {
            let permission = parse_permission(&permission)?;
            lab.revoke(on, &object, &group, permission).await?;
            println!("permission revoked: {what} {object}, group {group}");
        }
        PermCommand::List { object } => {
            let grants: Vec<_> = lab
                .grants()
                .await?
                .into_iter()
                .filter(|g| g.on == on && object.as_ref().is_none_or(|o| *o == g.object))
                .collect();
            if json_output {
                let list: Vec<_> = grants
                    .iter()
                    .map(|g| {
                        json!({"object": g.object, "group": g.group, "permission": g.codename()})
                    })
                    .collect();
                print_json(&json!(list));
            } else {
                for g in grants {
                    println!("{:<30} {:<30} {}", g.object, g.group, g.codename());
                }
            }
        }
    }
    Ok(())
}

fn verb(permission: lava_core::scheduler::ObjectPermission) -> &'static str {
    use lava_core::scheduler::ObjectPermission::{Change, Submit, View};
    match permission {
        View => "view",
        Submit => "submit to",
        Change => "change",
    }
}
