//! `lava-admin workers …`: add, update, list and show workers.

use crate::admin::lab::{block_on, print_json, LabArgs};
use crate::admin::AdminError;
use clap::{Args, Subcommand};
use lava_core::model::{transitions, Worker, WorkerHealth, WorkerState};
use lava_store::{ChangeSet, Precondition, Store};
use serde_json::json;

/// `lava-admin workers`.
#[derive(Debug, Args)]
pub struct WorkersArgs {
    #[command(subcommand)]
    command: WorkersCommand,
}

#[derive(Debug, Subcommand)]
enum WorkersCommand {
    /// Add a worker (a slave that will connect with this hostname).
    Add {
        /// The worker's hostname, as its slave's --hostname.
        hostname: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Add it retired, as LAVA's `--disabled` (no job is scheduled on its devices).
        #[arg(long)]
        disabled: bool,
        /// The most devices Reserved or Running at once (0: no limit).
        #[arg(long, default_value_t = 0)]
        job_limit: u32,
    },
    /// Change a worker.
    Update {
        /// The worker.
        hostname: String,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New health: active, maintenance or retired (devices follow, as in LAVA).
        #[arg(long)]
        health: Option<String>,
        /// New job limit (0: no limit).
        #[arg(long)]
        job_limit: Option<u32>,
    },
    /// List workers (retired ones only with --all).
    List {
        /// Include retired workers.
        #[arg(short, long)]
        all: bool,
    },
    /// Show one worker and its devices.
    Show {
        /// The worker.
        hostname: String,
    },
}

fn worker_json(worker: &Worker, devices: &[String]) -> serde_json::Value {
    json!({
        "hostname": worker.hostname,
        "description": worker.description,
        "state": worker.state.name(),
        "health": worker.health.name(),
        "job_limit": worker.job_limit,
        "last_ping": worker.last_ping.map(|t| t.to_string()),
        "version": worker.version,
        "devices": devices,
    })
}

async fn worker(store: &dyn Store, hostname: &str) -> Result<Worker, AdminError> {
    store
        .worker(hostname)
        .await
        .map_err(store_error)?
        .ok_or_else(|| AdminError::Input(format!("worker {hostname} does not exist")))
}

/// A store error as lava-admin prints it.
pub fn store_error(e: lava_store::StoreError) -> AdminError {
    AdminError::Input(e.to_string())
}

/// Parses a worker health as people type it.
pub fn parse_worker_health(text: &str) -> Result<WorkerHealth, AdminError> {
    WorkerHealth::from_name(text).ok_or_else(|| {
        AdminError::Input(format!(
            "invalid worker health {text:?}: use active, maintenance or retired"
        ))
    })
}

/// Runs `lava-admin workers …`.
pub fn run(args: WorkersArgs, lab: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let store = lab.open().await?;
        match args.command {
            WorkersCommand::Add {
                hostname,
                description,
                disabled,
                job_limit,
            } => {
                lava_core::model::check_worker_name(&hostname)
                    .map_err(|e| AdminError::Input(e.to_string()))?;
                let worker = Worker {
                    hostname: hostname.clone(),
                    state: WorkerState::Offline,
                    health: if disabled {
                        WorkerHealth::Retired
                    } else {
                        WorkerHealth::Active
                    },
                    description,
                    job_limit,
                    last_ping: None,
                    version: None,
                };
                store.add_worker(&worker).await.map_err(store_error)?;
                if !lab.json {
                    println!("worker {hostname} added ({})", worker.health);
                }
            }
            WorkersCommand::Update {
                hostname,
                description,
                health,
                job_limit,
            } => {
                let mut current = worker(&*store, &hostname).await?;
                let mut set = ChangeSet::new()
                    .require(Precondition::WorkerHealth(hostname.clone(), current.health));
                if let Some(health) = health {
                    let health = parse_worker_health(&health)?;
                    if health != current.health {
                        let devices = store.devices().await.map_err(store_error)?;
                        let devices: Vec<_> = devices
                            .into_iter()
                            .filter(|d| d.worker.as_deref() == Some(hostname.as_str()))
                            .collect();
                        let changes = transitions::worker_health(&current, &devices, health)
                            .map_err(|e| AdminError::Input(e.to_string()))?;
                        set.devices.extend(changes.devices);
                        if let Some(w) = changes.workers.into_iter().next() {
                            current = w;
                        }
                    }
                }
                if let Some(description) = description {
                    current.description = description;
                }
                if let Some(limit) = job_limit {
                    current.job_limit = limit;
                }
                set.workers.push(current);
                store.apply(&set).await.map_err(store_error)?;
                if !lab.json {
                    println!("worker {hostname} updated");
                }
            }
            WorkersCommand::List { all } => {
                let workers: Vec<_> = store
                    .workers()
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .filter(|w| all || w.health != WorkerHealth::Retired)
                    .collect();
                if lab.json {
                    print_json(&json!(workers
                        .iter()
                        .map(|w| worker_json(w, &[]))
                        .collect::<Vec<_>>()));
                } else {
                    for w in &workers {
                        println!(
                            "{:<30} {:<8} {:<12} {}",
                            w.hostname, w.state, w.health, w.description
                        );
                    }
                }
            }
            WorkersCommand::Show { hostname } => {
                let w = worker(&*store, &hostname).await?;
                let devices: Vec<String> = store
                    .devices()
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .filter(|d| d.worker.as_deref() == Some(hostname.as_str()))
                    .map(|d| d.hostname)
                    .collect();
                if lab.json {
                    print_json(&worker_json(&w, &devices));
                } else {
                    println!("hostname    : {}", w.hostname);
                    println!("description : {}", w.description);
                    println!("state       : {}", w.state);
                    println!("health      : {}", w.health);
                    println!("job limit   : {}", w.job_limit);
                    println!(
                        "last ping   : {}",
                        w.last_ping.map(|t| t.to_string()).unwrap_or_default()
                    );
                    println!("version     : {}", w.version.unwrap_or_default());
                    println!("devices     : {}", devices.join(", "));
                }
            }
        }
        Ok(())
    })
}
