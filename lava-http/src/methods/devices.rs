//! `scheduler.devices.*`.

use super::Call;
use crate::fault::Fault;
use crate::value::{StructBuilder, Value};
use lava_core::model::{Device, DeviceHealth};
use lava_core::templates::JobContext;
use lava_lab::{check_file_name, DeviceUpdate, LabError, NewDevice};
use std::collections::BTreeSet;

/// A health as LAVA's `Device.HEALTH_REVERSE` names it (`GOOD`, `MAINTENANCE`…).
fn parse_health(text: &str) -> Option<DeviceHealth> {
    DeviceHealth::ALL
        .iter()
        .copied()
        .find(|h| h.name().to_ascii_uppercase() == text)
}

async fn existing(call: &Call<'_>, hostname: &str) -> Result<Device, Fault> {
    match call.lab.device(hostname).await {
        Err(LabError::NotFound(_)) => Err(Fault::not_found(format!(
            "Device '{hostname}' was not found."
        ))),
        other => Ok(other?),
    }
}

fn require_change(call: &Call<'_>, hostname: &str) -> Result<(), Fault> {
    if call.is_admin() {
        Ok(())
    } else {
        Err(Fault::forbidden(format!(
            "User '{}' needs admin permission on device {hostname}.",
            call.who()
        )))
    }
}

pub(super) async fn add(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(8)?;
    let hostname = p.string(0, "hostname")?;
    let type_name = p.string(1, "type_name")?;
    let worker = p.string(2, "worker_hostname")?;
    // user_name, group_name and public (3..=5) set owners in LAVA 2020.05; lava-rs has no
    // per-device ownership, so they are read for their type only.
    p.opt_string(3, "user_name")?;
    p.opt_string(4, "group_name")?;
    p.bool_or(5, "public", true)?;
    let health = p.opt_string(6, "health")?;
    let description = p.opt_string(7, "description")?.unwrap_or_default();
    call.require("change_device")?;
    if call
        .lab
        .store()
        .device_type(&type_name)
        .await
        .map_err(LabError::from)?
        .is_none()
    {
        return Err(Fault::not_found(format!(
            "DeviceType '{type_name}' was not found."
        )));
    }
    if call
        .lab
        .store()
        .worker(&worker)
        .await
        .map_err(LabError::from)?
        .is_none()
    {
        return Err(Fault::not_found(format!(
            "Worker '{worker}' was not found."
        )));
    }
    let health = match health {
        None => DeviceHealth::Unknown,
        Some(h) => parse_health(&h).ok_or_else(|| Fault::bad_request("Invalid health"))?,
    };
    if check_file_name("device", &hostname).is_err() {
        return Err(Fault::bad_request(format!(
            "Bad request: invalid device hostname '{hostname}'"
        )));
    }
    let new = NewDevice {
        hostname,
        device_type: type_name,
        worker: Some(worker),
        health,
        tags: BTreeSet::new(),
        description,
    };
    match call.lab.add_device(&new, None).await {
        Ok(_) => Ok(Value::Nil),
        Err(LabError::AlreadyExists(_)) => {
            Err(Fault::bad_request("Bad request: device already exists?"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn list(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(2)?;
    let show_all = p.bool_or(0, "show_all", false)?;
    p.bool_or(1, "offline_info", false)?;
    let mut out = Vec::new();
    for device in call.lab.devices().await? {
        if !show_all && device.health == DeviceHealth::Retired {
            continue;
        }
        let current = call.lab.current_job(&device.hostname).await?.map(|j| j.id);
        out.push(
            StructBuilder::new()
                .field("hostname", Value::str(&device.hostname))
                .field("type", Value::str(&device.device_type))
                .field("health", Value::str(device.health.name()))
                .field("state", Value::str(device.state.name()))
                .field("current_job", current.map_or(Value::Nil, Value::Int))
                .field("pipeline", Value::Bool(true))
                .build(),
        );
    }
    Ok(Value::Array(out))
}

pub(super) async fn show(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let hostname = p.string(0, "hostname")?;
    let device = existing(call, &hostname).await?;
    let health_job = call
        .lab
        .store()
        .device_type(&device.device_type)
        .await
        .map_err(LabError::from)?
        .is_some_and(|dt| dt.health_check_definition.is_some() && !dt.disable_health_check);
    let has_dict = call
        .lab
        .dictionary(&hostname)
        .await?
        .is_some_and(|d| !d.is_empty());
    let current = call.lab.current_job(&hostname).await?.map(|j| j.id);
    Ok(StructBuilder::new()
        .field("hostname", Value::str(&device.hostname))
        .field("device_type", Value::str(&device.device_type))
        .field("health", Value::str(device.health.name()))
        .field("state", Value::str(device.state.name()))
        .field("health_job", Value::Bool(health_job))
        .field("description", Value::text_or_nil(&device.description))
        .field("pipeline", Value::Bool(true))
        .field("has_device_dict", Value::Bool(has_dict))
        .field("worker", Value::opt_str(device.worker.clone()))
        .field("current_job", current.map_or(Value::Nil, Value::Int))
        .field("tags", Value::str_array(&device.tags))
        .build())
}

pub(super) async fn update(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(7)?;
    let hostname = p.string(0, "hostname")?;
    let worker = p.opt_string(1, "worker_hostname")?;
    p.opt_string(2, "user_name")?;
    p.opt_string(3, "group_name")?;
    p.bool_or(4, "public", true)?;
    let health = p.opt_string(5, "health")?;
    let description = p.opt_string(6, "description")?;
    existing(call, &hostname).await?;
    require_change(call, &hostname)?;
    if let Some(w) = &worker {
        if call
            .lab
            .store()
            .worker(w)
            .await
            .map_err(LabError::from)?
            .is_none()
        {
            return Err(Fault::not_found(format!("Unable to find worker '{w}'")));
        }
    }
    let health = health
        .map(|h| {
            parse_health(&h).ok_or_else(|| Fault::bad_request(format!("Health '{h}' is invalid")))
        })
        .transpose()?;
    let update = DeviceUpdate {
        worker,
        health,
        description,
        tags: None,
    };
    call.lab.update_device(&hostname, &update).await?;
    Ok(Value::Nil)
}

pub(super) async fn get_dictionary(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(3)?;
    let hostname = p.string(0, "hostname")?;
    let render = p.bool_or(1, "render", false)?;
    let context = p.opt_string(2, "context")?;
    existing(call, &hostname).await?;
    let config = if render {
        let context = match context.as_deref() {
            Some(text) => JobContext::from_yaml(text, "job context").map_err(|e| {
                Fault::bad_request(format!("Job Context '{text}' is not valid: {e}"))
            })?,
            None => JobContext::empty(),
        };
        call.lab
            .device_configuration(&hostname, &context)
            .await
            .map_err(|e| match e {
                LabError::Template(e) => Fault::bad_request(format!(
                    "Unable to render the configuration of device '{hostname}': {e}"
                )),
                e => e.into(),
            })?
    } else {
        call.lab.dictionary(&hostname).await?
    };
    match config {
        Some(text) if !text.is_empty() => Ok(Value::binary_text(&text)),
        _ => Err(Fault::not_found(format!(
            "Device '{hostname}' does not have a configuration"
        ))),
    }
}

pub(super) async fn set_dictionary(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(2)?;
    let hostname = p.string(0, "hostname")?;
    let dictionary = p.text(1, "dictionary")?;
    existing(call, &hostname).await?;
    require_change(call, &hostname)?;
    match call.lab.set_dictionary(&hostname, &dictionary).await {
        Ok(()) => Ok(Value::Bool(true)),
        // LAVA answers False when the file cannot be written.
        Err(LabError::Io { path, source }) => {
            tracing::warn!(path = %path.display(), "cannot write the device dictionary: {source}");
            Ok(Value::Bool(false))
        }
        Err(
            e @ (LabError::Template(_)
            | LabError::Invalid(_)
            | LabError::DeviceConfiguration { .. }),
        ) => Err(Fault::bad_request(format!(
            "Invalid device dictionary for '{hostname}': {e}"
        ))),
        Err(e) => Err(e.into()),
    }
}
