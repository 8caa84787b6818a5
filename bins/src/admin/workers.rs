//! `lava-admin workers …`: add, update, list and show workers.

use crate::admin::lab::{block_on, print_json, LabArgs};
use crate::admin::AdminError;
use clap::{Args, Subcommand};
use lava_core::model::{Worker, WorkerHealth};
use lava_lab::{NewWorker, WorkerUpdate};
use lava_store::WorkerAccess;
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
    /// Print the worker's token alone (for lava-worker's --token), making one for a worker
    /// that has none.
    Token {
        /// The worker.
        hostname: String,
    },
}

fn worker_json(worker: &Worker, access: &WorkerAccess, devices: &[String]) -> serde_json::Value {
    json!({
        "protocol": access.protocol.map(|p| p.name()),
        "refusal": access.refusal,
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

/// Parses a worker health as people type it.
pub fn parse_worker_health(text: &str) -> Result<WorkerHealth, AdminError> {
    WorkerHealth::from_name(text).ok_or_else(|| {
        AdminError::Input(format!(
            "invalid worker health {text:?}: use active, maintenance or retired"
        ))
    })
}

/// Runs `lava-admin workers …`.
pub fn run(args: WorkersArgs, lab_args: LabArgs) -> Result<(), AdminError> {
    block_on(async move {
        let lab = lab_args.open().await?;
        match args.command {
            WorkersCommand::Add {
                hostname,
                description,
                disabled,
                job_limit,
            } => {
                let new = NewWorker {
                    hostname: hostname.clone(),
                    description,
                    health: if disabled {
                        WorkerHealth::Retired
                    } else {
                        WorkerHealth::Active
                    },
                    job_limit,
                };
                let worker = lab.add_worker(&new).await?;
                let token = lab.worker_token(&hostname).await?;
                if lab_args.json {
                    print_json(&json!({"hostname": hostname, "token": token}));
                } else {
                    println!("worker {hostname} added ({})", worker.health);
                    // As LAVA's `manage workers add`: lava-worker's --token.
                    println!("Token: {token}");
                }
            }
            WorkersCommand::Update {
                hostname,
                description,
                health,
                job_limit,
            } => {
                let update = WorkerUpdate {
                    description,
                    health: health.as_deref().map(parse_worker_health).transpose()?,
                    job_limit,
                };
                lab.update_worker(&hostname, &update).await?;
                if !lab_args.json {
                    println!("worker {hostname} updated");
                }
            }
            WorkersCommand::List { all } => {
                let workers: Vec<_> = lab
                    .workers()
                    .await?
                    .into_iter()
                    .filter(|w| all || w.health != WorkerHealth::Retired)
                    .collect();
                let mut accesses = Vec::with_capacity(workers.len());
                for w in &workers {
                    accesses.push(lab.worker_access(&w.hostname).await?);
                }
                if lab_args.json {
                    print_json(&json!(workers
                        .iter()
                        .zip(&accesses)
                        .map(|(w, a)| worker_json(w, a, &[]))
                        .collect::<Vec<_>>()));
                } else {
                    for (w, a) in workers.iter().zip(&accesses) {
                        println!(
                            "{:<30} {:<8} {:<12} {:<5} {:<10} {}",
                            w.hostname,
                            w.state,
                            w.health,
                            a.protocol.map_or("-", |p| p.name()),
                            w.version.as_deref().unwrap_or("-"),
                            w.description
                        );
                    }
                }
            }
            WorkersCommand::Show { hostname } => {
                let w = lab.worker(&hostname).await?;
                let devices: Vec<String> = lab
                    .devices_of(&hostname)
                    .await?
                    .into_iter()
                    .map(|d| d.hostname)
                    .collect();
                let access = lab.worker_access(&hostname).await?;
                if lab_args.json {
                    print_json(&worker_json(&w, &access, &devices));
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
                    println!("protocol    : {}", access.protocol.map_or("", |p| p.name()));
                    if let Some(refusal) = &access.refusal {
                        println!("refused     : {refusal}");
                    }
                    println!("devices     : {}", devices.join(", "));
                }
            }
            WorkersCommand::Token { hostname } => {
                let token = lab.worker_token(&hostname).await?;
                if lab_args.json {
                    print_json(&json!({"hostname": hostname, "token": token}));
                } else {
                    println!("{token}");
                }
            }
        }
        Ok(())
    })
}
