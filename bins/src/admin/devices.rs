//! `lava-admin device-types …` and `lava-admin devices …`, dictionaries included.
//!
//! Dictionaries and templates stay files where LAVA keeps them (see `lava_lab::LabPaths`);
//! the lab checks a dictionary (it renders to a YAML mapping, with every device-types
//! directory of the lab) before it replaces the one on disk.

use crate::admin::groups::{run_perm, PermCommand};
use crate::admin::lab::{block_on, print_json, read_file, LabArgs};
use crate::admin::AdminError;
use clap::{Args, Subcommand};
use lava_core::model::{Device, DeviceHealth, DeviceType, HealthDenominator};
use lava_core::templates::JobContext;
use lava_lab::{DeviceUpdate, NewDevice, NewDeviceType};
use lava_store::GrantOn;
use serde_json::json;
use std::path::PathBuf;

/// `lava-admin device-types`.
#[derive(Debug, Args)]
pub struct DeviceTypesArgs {
    #[command(subcommand)]
    command: DeviceTypesCommand,
}

#[derive(Debug, Subcommand)]
enum DeviceTypesCommand {
    /// Add a device type.
    Add {
        /// Its name (the template is device-types/NAME.jinja2).
        name: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// A health-check job definition (YAML file).
        #[arg(long, value_name = "FILE")]
        health_check: Option<PathBuf>,
        /// How often a health check is due.
        #[arg(long, default_value_t = 24)]
        health_frequency: u32,
        /// The unit of --health-frequency: hours or jobs.
        #[arg(long, default_value = "hours")]
        health_denominator: String,
        /// Never run health checks on this type.
        #[arg(long)]
        disable_health_check: bool,
        /// Hide the type from lists (LAVA's `display: false`).
        #[arg(long)]
        hidden: bool,
    },
    /// List device types.
    List,
    /// Show a device type.
    Show {
        /// The device type.
        name: String,
    },
    /// Device-type templates (device-types/NAME.jinja2).
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Group permissions on device types (view, submit, change).
    #[command(subcommand)]
    Perm(PermCommand),
}

#[derive(Debug, Subcommand)]
enum TemplateCommand {
    /// Install a device-type template from a file.
    Set {
        /// The device type.
        name: String,
        /// The Jinja2 template.
        file: PathBuf,
    },
    /// Print a device-type template.
    Get {
        /// The device type.
        name: String,
    },
}

/// `lava-admin devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    command: DevicesCommand,
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Add a device.
    Add {
        /// Its hostname (the dictionary is devices/HOSTNAME.jinja2).
        hostname: String,
        /// Its device type.
        #[arg(long = "device-type", visible_alias = "type")]
        device_type: String,
        /// The worker it is attached to.
        #[arg(long)]
        worker: String,
        /// Tags (repeat, or separate with commas).
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Initial health (LAVA's default for new devices here: unknown, so a health check
        /// runs first when the type has one).
        #[arg(long, default_value = "unknown")]
        health: String,
        /// Install this device dictionary too, checked and in place before the device exists:
        /// a scheduling pass in between would otherwise find no dictionary and make the
        /// device Bad, as LAVA's scheduler does.
        #[arg(long, value_name = "FILE")]
        dictionary: Option<PathBuf>,
    },
    /// Change a device.
    Update {
        /// The device.
        hostname: String,
        /// Move it to another worker.
        #[arg(long)]
        worker: Option<String>,
        /// New health: good, unknown, looping, bad, maintenance or retired.
        #[arg(long)]
        health: Option<String>,
        /// Replace its tags (repeat, or separate with commas).
        #[arg(long, value_delimiter = ',')]
        tags: Option<Vec<String>>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List devices.
    List,
    /// Show a device.
    Show {
        /// The device.
        hostname: String,
    },
    /// Device dictionaries.
    #[command(subcommand)]
    Dict(DictCommand),
    /// Group permissions on devices (view, submit, change).
    #[command(subcommand)]
    Perm(PermCommand),
}

#[derive(Debug, Subcommand)]
enum DictCommand {
    /// Install a device dictionary from a file, after checking that it renders to a mapping.
    Set {
        /// The device.
        hostname: String,
        /// The Jinja2 dictionary.
        file: PathBuf,
    },
    /// Print a device dictionary.
    Get {
        /// The device.
        hostname: String,
    },
    /// Render a device dictionary as the master does for a job (with scheduled_device_name
    /// and scheduled_device_type), optionally with a job context.
    Render {
        /// The device.
        hostname: String,
        /// A YAML file holding the job's `context:` mapping.
        #[arg(long, value_name = "FILE")]
        context: Option<PathBuf>,
    },
}

fn denominator(text: &str) -> Result<HealthDenominator, AdminError> {
    HealthDenominator::from_name(text).ok_or_else(|| {
        AdminError::Input(format!(
            "invalid health denominator {text:?}: use hours or jobs"
        ))
    })
}

fn device_health(text: &str) -> Result<DeviceHealth, AdminError> {
    DeviceHealth::from_name(text).ok_or_else(|| {
        AdminError::Input(format!(
            "invalid device health {text:?}: use good, unknown, looping, bad, maintenance or retired"
        ))
    })
}

fn device_type_json(t: &DeviceType) -> serde_json::Value {
    json!({
        "name": t.name,
        "description": t.description,
        "health_check": t.health_check_definition.is_some(),
        "health_frequency": t.health_frequency,
        "health_denominator": t.health_denominator.name(),
        "disable_health_check": t.disable_health_check,
        "display": t.display,
    })
}

fn device_json(d: &Device) -> serde_json::Value {
    json!({
        "hostname": d.hostname,
        "device_type": d.device_type,
        "worker": d.worker,
        "state": d.state.name(),
        "health": d.health.name(),
        "tags": d.tags,
        "description": d.description,
        "last_health_report_job": d.last_health_report_job,
    })
}

/// Runs `lava-admin device-types …`.
pub fn run_device_types(args: DeviceTypesArgs, lab_args: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            DeviceTypesCommand::Add {
                name,
                description,
                health_check,
                health_frequency,
                health_denominator,
                disable_health_check,
                hidden,
            } => {
                let health_check = match health_check {
                    Some(path) => {
                        let text = read_file(&path)?;
                        lab.validate(&text)
                            .map_err(|e| AdminError::Input(format!("{}: {e}", path.display())))?;
                        Some(text)
                    }
                    None => None,
                };
                let new = NewDeviceType {
                    name: name.clone(),
                    description,
                    health_check,
                    health_frequency,
                    health_denominator: denominator(&health_denominator)?,
                    disable_health_check,
                    display: !hidden,
                };
                lab.add_device_type(&new).await?;
                if !lab_args.json {
                    println!("device type {name} added");
                }
            }
            DeviceTypesCommand::List => {
                let types = lab.device_types().await?;
                if lab_args.json {
                    print_json(&json!(types
                        .iter()
                        .map(device_type_json)
                        .collect::<Vec<_>>()));
                } else {
                    for t in types {
                        let check = if t.health_check_definition.is_some() {
                            "health check"
                        } else {
                            ""
                        };
                        println!("{:<30} {}", t.name, check);
                    }
                }
            }
            DeviceTypesCommand::Show { name } => {
                print_json(&device_type_json(&lab.device_type(&name).await?));
            }
            DeviceTypesCommand::Perm(command) => {
                run_perm(&lab, GrantOn::DeviceType, command, lab_args.json).await?;
            }
            DeviceTypesCommand::Template(TemplateCommand::Set { name, file }) => {
                let text = read_file(&file)?;
                lab.set_device_type_template(&name, &text)
                    .await
                    .map_err(|e| AdminError::Input(format!("{}: {e}", file.display())))?;
                println!("template of {name} installed");
            }
            DeviceTypesCommand::Template(TemplateCommand::Get { name }) => {
                match lab.device_type_template(&name)? {
                    Some(text) => print!("{text}"),
                    None => {
                        return Err(AdminError::Input(format!(
                            "device type {name} has no template in {}",
                            lab.paths()
                                .device_types_dirs()
                                .iter()
                                .map(|d| d.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )))
                    }
                }
            }
        }
        Ok(())
    })
}

/// Runs `lava-admin devices …`.
pub fn run_devices(args: DevicesArgs, lab_args: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            DevicesCommand::Add {
                hostname,
                device_type,
                worker,
                tags,
                description,
                health,
                dictionary,
            } => {
                let dictionary = dictionary.as_deref().map(read_file).transpose()?;
                let new = NewDevice {
                    hostname: hostname.clone(),
                    device_type,
                    worker: Some(worker),
                    health: device_health(&health)?,
                    tags: tags.into_iter().collect(),
                    description,
                };
                lab.add_device(&new, dictionary.as_deref()).await?;
                if !lab_args.json {
                    println!("device {hostname} added");
                }
            }
            DevicesCommand::Update {
                hostname,
                worker,
                health,
                tags,
                description,
            } => {
                let update = DeviceUpdate {
                    worker,
                    health: health.as_deref().map(device_health).transpose()?,
                    tags: tags.map(|t| t.into_iter().collect()),
                    description,
                };
                lab.update_device(&hostname, &update).await?;
                if !lab_args.json {
                    println!("device {hostname} updated");
                }
            }
            DevicesCommand::List => {
                let devices = lab.devices().await?;
                if lab_args.json {
                    print_json(&json!(devices.iter().map(device_json).collect::<Vec<_>>()));
                } else {
                    for d in devices {
                        println!(
                            "{:<30} {:<20} {:<20} {:<9} {}",
                            d.hostname,
                            d.device_type,
                            d.worker.as_deref().unwrap_or("-"),
                            d.state,
                            d.health
                        );
                    }
                }
            }
            DevicesCommand::Show { hostname } => {
                print_json(&device_json(&lab.device(&hostname).await?));
            }
            DevicesCommand::Perm(command) => {
                run_perm(&lab, GrantOn::Device, command, lab_args.json).await?;
            }
            DevicesCommand::Dict(DictCommand::Set { hostname, file }) => {
                let text = read_file(&file)?;
                lab.set_dictionary(&hostname, &text)
                    .await
                    .map_err(|e| AdminError::Input(format!("{}: {e}", file.display())))?;
                println!("device dictionary of {hostname} installed");
            }
            DevicesCommand::Dict(DictCommand::Get { hostname }) => {
                match lab.dictionary(&hostname).await? {
                    Some(text) => print!("{text}"),
                    None => {
                        return Err(AdminError::Input(format!(
                            "device {hostname} has no dictionary"
                        )))
                    }
                }
            }
            DevicesCommand::Dict(DictCommand::Render { hostname, context }) => {
                let context = match context {
                    Some(path) => {
                        JobContext::from_yaml(&read_file(&path)?, &path.display().to_string())?
                    }
                    None => JobContext::empty(),
                };
                let yaml = lab
                    .device_configuration(&hostname, &context)
                    .await?
                    .ok_or_else(|| {
                        AdminError::Input(format!("device {hostname} has no dictionary"))
                    })?;
                if yaml.ends_with('\n') {
                    print!("{yaml}");
                } else {
                    println!("{yaml}");
                }
            }
        }
        Ok(())
    })
}
