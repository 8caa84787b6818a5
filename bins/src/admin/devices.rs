//! `lava-admin device-types …` and `lava-admin devices …`, dictionaries included.
//!
//! Device dictionaries live where LAVA keeps them, as files
//! `<dispatcher-config>/devices/<hostname>.jinja2`, and device-type templates as
//! `<dispatcher-config>/device-types/<type>.jinja2`, so that the master can be pointed at an
//! existing `/etc/lava-server/dispatcher-config`. A dictionary is checked (it renders to a
//! YAML mapping) before it replaces the one on disk: a bad one never overwrites a good one.

use crate::admin::lab::{block_on, print_json, LabArgs};
use crate::admin::workers::store_error;
use crate::admin::AdminError;
use clap::{Args, Subcommand};
use lava_core::model::{
    transitions, Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator,
};
use lava_core::templates::{check_mapping, JobContext, Preloaded, Renderer, SearchPath};
use lava_store::{ChangeSet, Precondition};
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

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

fn read(path: &Path) -> Result<String, AdminError> {
    fs::read_to_string(path).map_err(|source| AdminError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), AdminError> {
    let io = |source| AdminError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    // Written beside and renamed, so a crash never leaves half a file.
    let tmp = path.with_extension("jinja2.tmp");
    fs::write(&tmp, text).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

fn template_path(config: &Path, device_type: &str) -> PathBuf {
    config
        .join("device-types")
        .join(format!("{device_type}.jinja2"))
}

fn dictionary_path(config: &Path, hostname: &str) -> PathBuf {
    config.join("devices").join(format!("{hostname}.jinja2"))
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
pub fn run_device_types(args: DeviceTypesArgs, lab: LabArgs) -> Result<(), AdminError> {
    if let DeviceTypesCommand::Template(command) = args.command {
        let config = lab.dispatcher_config()?;
        return match command {
            TemplateCommand::Set { name, file } => {
                let text = read(&file)?;
                // The template must at least compile.
                let renderer =
                    Renderer::new(Preloaded::new().with(format!("{name}.jinja2"), text.clone()));
                if let Err(e) = renderer.render_source(
                    "check.jinja2",
                    &format!("{{% extends '{name}.jinja2' %}}"),
                    &JobContext::empty(),
                ) {
                    return Err(AdminError::Input(format!("{}: {e}", file.display())));
                }
                write(&template_path(&config, &name), &text)?;
                println!("template of {name} installed");
                Ok(())
            }
            TemplateCommand::Get { name } => {
                print!("{}", read(&template_path(&config, &name))?);
                Ok(())
            }
        };
    }
    block_on(async move {
        let store = lab.open().await?;
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
                let health_check_definition = match health_check {
                    Some(path) => {
                        let text = read(&path)?;
                        lava_core::job::parse(&text)
                            .map_err(|e| AdminError::Input(format!("{}: {e}", path.display())))?;
                        Some(text)
                    }
                    None => None,
                };
                let device_type = DeviceType {
                    name: name.clone(),
                    health_check_definition,
                    health_frequency,
                    health_denominator: denominator(&health_denominator)?,
                    disable_health_check,
                    display: !hidden,
                    description,
                };
                store
                    .add_device_type(&device_type)
                    .await
                    .map_err(store_error)?;
                if !lab.json {
                    println!("device type {name} added");
                }
            }
            DeviceTypesCommand::List => {
                let types = store.device_types().await.map_err(store_error)?;
                if lab.json {
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
                let t = store
                    .device_type(&name)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| {
                        AdminError::Input(format!("device type {name} does not exist"))
                    })?;
                print_json(&device_type_json(&t));
            }
            DeviceTypesCommand::Template(_) => {}
        }
        Ok(())
    })
}

/// Runs `lava-admin devices …`.
pub fn run_devices(args: DevicesArgs, lab: LabArgs) -> Result<(), AdminError> {
    if let DevicesCommand::Dict(DictCommand::Set { hostname, file }) = &args.command {
        let device = block_on(async {
            let store = lab.open().await?;
            existing_device(&*store, hostname).await
        })?;
        install_dictionary(&lab, hostname, &device.device_type, file)?;
        println!("device dictionary of {hostname} installed");
        return Ok(());
    }
    block_on(async move {
        let store = lab.open().await?;
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
                if store
                    .device_type(&device_type)
                    .await
                    .map_err(store_error)?
                    .is_none()
                {
                    return Err(AdminError::Input(format!(
                        "device type {device_type} does not exist: add it first (lava-admin device-types add)"
                    )));
                }
                if store.worker(&worker).await.map_err(store_error)?.is_none() {
                    return Err(AdminError::Input(format!(
                        "worker {worker} does not exist: add it first (lava-admin workers add)"
                    )));
                }
                let health = device_health(&health)?;
                if let Some(file) = &dictionary {
                    install_dictionary(&lab, &hostname, &device_type, file)?;
                }
                let device = Device {
                    hostname: hostname.clone(),
                    device_type,
                    state: DeviceState::Idle,
                    health,
                    worker: Some(worker),
                    tags: tags
                        .into_iter()
                        .filter(|t| !t.is_empty())
                        .collect::<BTreeSet<_>>(),
                    last_health_report_job: None,
                    description,
                };
                store.add_device(&device).await.map_err(store_error)?;
                if !lab.json {
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
                let current = existing_device(&*store, &hostname).await?;
                let mut set = ChangeSet::new()
                    .require(Precondition::DeviceState(hostname.clone(), current.state))
                    .require(Precondition::DeviceHealth(hostname.clone(), current.health));
                let mut device = current.clone();
                if let Some(health) = health {
                    let health = device_health(&health)?;
                    if health != current.health {
                        let changes = transitions::device_health(&current, health)
                            .map_err(|e| AdminError::Input(e.to_string()))?;
                        if let Some(d) = changes.devices.into_iter().next() {
                            device = d;
                        }
                    }
                }
                if let Some(worker) = worker {
                    if store.worker(&worker).await.map_err(store_error)?.is_none() {
                        return Err(AdminError::Input(format!("worker {worker} does not exist")));
                    }
                    device.worker = Some(worker);
                }
                if let Some(tags) = tags {
                    device.tags = tags.into_iter().filter(|t| !t.is_empty()).collect();
                }
                if let Some(description) = description {
                    device.description = description;
                }
                set.devices.push(device);
                store.apply(&set).await.map_err(store_error)?;
                if !lab.json {
                    println!("device {hostname} updated");
                }
            }
            DevicesCommand::List => {
                let devices = store.devices().await.map_err(store_error)?;
                if lab.json {
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
                let d = existing_device(&*store, &hostname).await?;
                print_json(&device_json(&d));
            }
            DevicesCommand::Dict(DictCommand::Get { hostname }) => {
                let config = lab.dispatcher_config()?;
                print!("{}", read(&dictionary_path(&config, &hostname))?);
            }
            DevicesCommand::Dict(DictCommand::Render { hostname, context }) => {
                let config = lab.dispatcher_config()?;
                let device = existing_device(&*store, &hostname).await?;
                let context = match context {
                    Some(path) => {
                        JobContext::from_yaml(&read(&path)?, &path.display().to_string())?
                    }
                    None => JobContext::empty(),
                };
                let yaml =
                    renderer(&config).render_for_job(&hostname, &device.device_type, &context)?;
                if yaml.ends_with('\n') {
                    print!("{yaml}");
                } else {
                    println!("{yaml}");
                }
            }
            DevicesCommand::Dict(DictCommand::Set { .. }) => {}
        }
        Ok(())
    })
}

/// Checks that `file` renders, for a device of `device_type`, to a YAML mapping, then puts it
/// in place as the device's dictionary; a dictionary that fails never replaces one on disk.
fn install_dictionary(
    lab: &LabArgs,
    hostname: &str,
    device_type: &str,
    file: &Path,
) -> Result<(), AdminError> {
    let config = lab.dispatcher_config()?;
    let text = read(file)?;
    let yaml = renderer(&config)
        .render_source(
            &format!("{hostname}.jinja2"),
            &text,
            &JobContext::empty().for_device(hostname, device_type),
        )
        .map_err(|e| AdminError::Input(format!("{}: {e}", file.display())))?;
    check_mapping(&file.display().to_string(), &yaml)?;
    write(&dictionary_path(&config, hostname), &text)
}

/// The device, or an error saying it does not exist.
async fn existing_device(
    store: &dyn lava_store::Store,
    hostname: &str,
) -> Result<Device, AdminError> {
    store
        .device(hostname)
        .await
        .map_err(store_error)?
        .ok_or_else(|| AdminError::Input(format!("device {hostname} does not exist")))
}

fn renderer(config: &Path) -> Renderer {
    let search = SearchPath::new([config.join("devices"), config.join("device-types")]);
    Renderer::new(search)
}
