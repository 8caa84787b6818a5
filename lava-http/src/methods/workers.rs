//! `scheduler.workers.*`.

use super::Call;
use crate::fault::Fault;
use crate::value::{StructBuilder, Value};
use lava_core::model::{check_worker_name, Worker, WorkerHealth};
use lava_lab::{LabError, NewWorker, WorkerFile, WorkerUpdate};

/// The worker named by the first argument, checked as LAVA does before touching its files:
/// 400 for a name that is not one path component, 404 for an unknown worker.
async fn existing(call: &Call<'_>) -> Result<Worker, Fault> {
    let hostname = call.params.string(0, "hostname")?;
    if check_worker_name(&hostname).is_err() {
        return Err(Fault::bad_request("Invalid worker name"));
    }
    lookup(call, &hostname).await
}

async fn get_file(call: &Call<'_>, file: WorkerFile) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let worker = existing(call).await?;
    let hostname = &worker.hostname;
    if file == WorkerFile::Certificate && !call.is_admin() {
        return Err(insufficient());
    }
    match call.lab.worker_file(hostname, file).await? {
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
    match call
        .lab
        .set_worker_file(&worker.hostname, file, &content)
        .await
    {
        Ok(()) => Ok(Value::Bool(true)),
        // LAVA answers False when the file cannot be written.
        Err(LabError::Io { path, source }) => {
            tracing::warn!(path = %path.display(), "cannot write the worker's file: {source}");
            Ok(Value::Bool(false))
        }
        Err(e) => Err(e.into()),
    }
}

/// The worker named `hostname`, or LAVA's "not found" fault.
async fn lookup(call: &Call<'_>, hostname: &str) -> Result<Worker, Fault> {
    match call.lab.worker(hostname).await {
        Err(LabError::NotFound(_)) => Err(Fault::not_found(format!(
            "Worker '{hostname}' was not found."
        ))),
        other => Ok(other?),
    }
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
    let new = NewWorker {
        hostname,
        description,
        // LAVA 2020.05 maps `disabled` to Retired.
        health: if disabled {
            WorkerHealth::Retired
        } else {
            WorkerHealth::Active
        },
        job_limit: 0,
    };
    match call.lab.add_worker(&new).await {
        Ok(_) => Ok(Value::Nil),
        Err(LabError::AlreadyExists(_)) => {
            Err(Fault::bad_request("Bad request: worker already exists?"))
        }
        Err(LabError::WorkerName(e)) => {
            Err(Fault::bad_request(format!("Invalid worker name: {e}")))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn list(call: &Call<'_>) -> Result<Value, Fault> {
    // LAVA 2020.05 takes no argument; later releases take `show_all`, which newer lavacli
    // sends. Retired workers are listed either way, as in 2020.05.
    call.params.at_most(1)?;
    call.params.bool_or(0, "show_all", false)?;
    let workers = call.lab.workers().await?;
    Ok(Value::str_array(workers.iter().map(|w| &w.hostname)))
}

pub(super) async fn show(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let hostname = call.params.string(0, "hostname")?;
    let worker = lookup(call, &hostname).await?;
    let devices: Vec<String> = call
        .lab
        .devices_of(&hostname)
        .await?
        .into_iter()
        .map(|d| d.hostname)
        .collect();
    let mut answer = StructBuilder::new()
        .field("hostname", Value::str(&worker.hostname))
        .field("description", Value::text_or_nil(&worker.description))
        .field("state", Value::str(worker.state.name()))
        .field("health", Value::str(worker.health.name()))
        .field("devices", Value::str_array(devices))
        .field("last_ping", Value::opt_datetime(worker.last_ping))
        .field("job_limit", Value::Int(worker.job_limit.into()));
    // As LAVA 2020.09+: admins get the worker token (for lava-worker's --token).
    if call.is_admin() {
        let token = call.lab.worker_token(&hostname).await?;
        answer = answer.field("token", Value::str(&token));
    }
    Ok(answer.build())
}

pub(super) async fn update(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(4)?;
    let hostname = p.string(0, "hostname")?;
    let description = p.opt_string(1, "description")?;
    let health = p.opt_string(2, "health")?;
    let job_limit = p.get(3).cloned();
    call.require("change_worker")?;
    lookup(call, &hostname).await?;
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
    let update = WorkerUpdate {
        description,
        health,
        job_limit,
    };
    call.lab.update_worker(&hostname, &update).await?;
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
