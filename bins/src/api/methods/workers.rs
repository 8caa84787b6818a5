//! `scheduler.workers.*`.

use super::{is_file_name, Call};
use crate::api::backend::{BackendError, WorkerFile, WorkerUpdate};
use crate::api::fault::Fault;
use crate::api::value::{StructBuilder, Value};
use lava_core::model::{Worker, WorkerHealth, WorkerState};

/// The worker named by the first argument, checked as LAVA does before touching its files:
/// 400 for a name that is not one path component, 404 for an unknown worker.
async fn existing(call: &Call<'_>) -> Result<Worker, Fault> {
    let hostname = call.params.string(0, "hostname")?;
    if !is_file_name(&hostname) {
        return Err(Fault::bad_request("Invalid worker name"));
    }
    call.backend
        .worker(&hostname)
        .await?
        .ok_or_else(|| Fault::not_found(format!("Worker '{hostname}' was not found.")))
}

async fn get_file(call: &Call<'_>, file: WorkerFile) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let worker = existing(call).await?;
    let hostname = &worker.hostname;
    if file == WorkerFile::Certificate && !call.is_admin() {
        return Err(insufficient());
    }
    match call.backend.worker_file(hostname, file).await? {
        Some(text) => Ok(Value::binary_text(&text)),
        None => Err(Fault::not_found(match file {
            WorkerFile::Config => {
                format!("Worker '{hostname}' does not have a dispatcher configuration")
            }
            WorkerFile::Env => format!("Worker '{hostname}' does not have an env file"),
            WorkerFile::Certificate => {
                format!("Worker '{hostname}' does not have a certificate uploaded")
            }
        })),
    }
}

async fn set_file(call: &Call<'_>, file: WorkerFile, arg: &str) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(2)?;
    let content = p.text(1, arg)?;
    if file != WorkerFile::Certificate {
        call.require("change_worker")?;
    }
    let worker = existing(call).await?;
    if file == WorkerFile::Certificate && !call.is_admin() {
        return Err(insufficient());
    }
    Ok(Value::Bool(
        call.backend
            .set_worker_file(&worker.hostname, file, &content)
            .await?,
    ))
}

fn insufficient() -> Fault {
    Fault::forbidden("Insufficient permissions. Please contact system administrator.")
}

pub(super) async fn add(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(3)?;
    let hostname = p.string(0, "hostname")?;
    let description = p.opt_string(1, "description")?.unwrap_or_default();
    let disabled = p.bool_or(2, "disabled", false)?;
    call.require("add_worker")?;
    if !is_file_name(&hostname) {
        return Err(Fault::bad_request("Invalid worker name"));
    }
    let worker = Worker {
        hostname,
        state: WorkerState::Offline,
        // LAVA 2020.05 maps `disabled` to Retired.
        health: if disabled {
            WorkerHealth::Retired
        } else {
            WorkerHealth::Active
        },
        description,
        job_limit: 0,
        last_ping: None,
        version: None,
    };
    match call.backend.add_worker(worker).await {
        Ok(()) => Ok(Value::Nil),
        Err(BackendError::AlreadyExists(_)) => {
            Err(Fault::bad_request("Bad request: worker already exists?"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn list(call: &Call<'_>) -> Result<Value, Fault> {
    // LAVA 2020.05 takes no argument; later releases take `show_all`, which newer lavacli
    // sends. Retired workers are listed either way, as in 2020.05.
    call.params.at_most(1)?;
    call.params.bool_or(0, "show_all", false)?;
    let workers = call.backend.workers().await?;
    Ok(Value::str_array(workers.iter().map(|w| &w.hostname)))
}

pub(super) async fn show(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let hostname = call.params.string(0, "hostname")?;
    let worker = call
        .backend
        .worker(&hostname)
        .await?
        .ok_or_else(|| Fault::not_found(format!("Worker '{hostname}' was not found.")))?;
    let devices: Vec<String> = call
        .backend
        .devices()
        .await?
        .into_iter()
        .filter(|d| d.worker.as_deref() == Some(hostname.as_str()))
        .map(|d| d.hostname)
        .collect();
    Ok(StructBuilder::new()
        .field("hostname", Value::str(&worker.hostname))
        .field("description", Value::text_or_nil(&worker.description))
        .field("state", Value::str(worker.state.name()))
        .field("health", Value::str(worker.health.name()))
        .field("devices", Value::str_array(devices))
        .field("last_ping", Value::opt_datetime(worker.last_ping))
        .field("job_limit", Value::Int(worker.job_limit.into()))
        .build())
}

pub(super) async fn update(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(4)?;
    let hostname = p.string(0, "hostname")?;
    let description = p.opt_string(1, "description")?;
    let health = p.opt_string(2, "health")?;
    let job_limit = p.get(3).cloned();
    call.require("change_worker")?;
    if call.backend.worker(&hostname).await?.is_none() {
        return Err(Fault::not_found(format!(
            "Worker '{hostname}' was not found."
        )));
    }
    // LAVA compares the exact upper-case names.
    let health = match health.as_deref() {
        None => None,
        Some("ACTIVE") => Some(WorkerHealth::Active),
        Some("MAINTENANCE") => Some(WorkerHealth::Maintenance),
        Some("RETIRED") => Some(WorkerHealth::Retired),
        Some(other) => return Err(Fault::bad_request(format!("Invalid health: {other}"))),
    };
    let job_limit = match job_limit {
        None => None,
        Some(Value::Int(n)) => {
            Some(u32::try_from(n).map_err(|_| Fault::bad_request("Invalid job limit"))?)
        }
        Some(_) => return Err(Fault::bad_request("Invalid job limit")),
    };
    call.backend
        .update_worker(
            &hostname,
            WorkerUpdate {
                description,
                health,
                job_limit,
            },
        )
        .await?;
    Ok(Value::Nil)
}

pub(super) async fn get_config(call: &Call<'_>) -> Result<Value, Fault> {
    get_file(call, WorkerFile::Config).await
}

pub(super) async fn set_config(call: &Call<'_>) -> Result<Value, Fault> {
    set_file(call, WorkerFile::Config, "config").await
}

pub(super) async fn get_env(call: &Call<'_>) -> Result<Value, Fault> {
    get_file(call, WorkerFile::Env).await
}

pub(super) async fn set_env(call: &Call<'_>) -> Result<Value, Fault> {
    set_file(call, WorkerFile::Env, "env").await
}

pub(super) async fn get_certificate(call: &Call<'_>) -> Result<Value, Fault> {
    get_file(call, WorkerFile::Certificate).await
}

pub(super) async fn set_certificate(call: &Call<'_>) -> Result<Value, Fault> {
    set_file(call, WorkerFile::Certificate, "key").await
}
