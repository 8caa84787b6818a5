//! `scheduler.device_types.*`.

use super::Call;
use crate::fault::Fault;
use crate::value::{StructBuilder, Value};
use lava_core::model::HealthDenominator;
use lava_lab::{check_device_type_name, check_file_name, LabError, NewDeviceType};

fn parse_denominator(text: &str) -> Result<HealthDenominator, Fault> {
    match text {
        "hours" => Ok(HealthDenominator::Hours),
        "jobs" => Ok(HealthDenominator::Jobs),
        _ => Err(Fault::bad_request(
            "Bad request: invalid health_denominator.",
        )),
    }
}

fn check_template_name(name: &str) -> Result<(), Fault> {
    if check_file_name("device type", name).is_ok() {
        Ok(())
    } else {
        Err(Fault::bad_request(format!("Invalid device-type '{name}'")))
    }
}

pub(super) async fn add(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(6)?;
    let name = p.string(0, "name")?;
    let description = p.opt_string(1, "description")?.unwrap_or_default();
    let display = p.bool(2, "display")?;
    // owners_only restricted visibility in LAVA 2020.05; lava-rs has no device-type owners.
    p.opt_bool(3, "owners_only")?;
    let frequency = p.int(4, "health_frequency")?;
    let denominator = p.string(5, "health_denominator")?;
    call.require("change_devicetype")?;
    let health_denominator = parse_denominator(&denominator)?;
    let health_frequency = u32::try_from(frequency).map_err(|_| {
        Fault::bad_request(format!(
            "Bad request: invalid health_frequency {frequency}."
        ))
    })?;
    if check_device_type_name(&name).is_err() {
        return Err(Fault::bad_request(format!(
            "Bad request: invalid device-type name '{name}' (letters, digits, '-' and '_')."
        )));
    }
    let new = NewDeviceType {
        health_frequency,
        health_denominator,
        display,
        description,
        ..NewDeviceType::named(&name)
    };
    match call.lab.add_device_type(&new).await {
        Ok(_) => Ok(Value::Nil),
        Err(LabError::AlreadyExists(_)) => Err(Fault::bad_request(
            "Bad request: device-type name is already used.",
        )),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn list(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let show_all = p.bool_or(0, "show_all", false)?;
    let templates = call.lab.device_type_templates()?;
    let devices = call.lab.devices().await?;
    let types = call.lab.device_types().await?;
    let mut out: Vec<Value> = types
        .iter()
        .map(|dt| {
            let count = devices.iter().filter(|d| d.device_type == dt.name).count();
            StructBuilder::new()
                .field("name", Value::str(&dt.name))
                .field(
                    "devices",
                    Value::Int(i64::try_from(count).unwrap_or(i64::MAX)),
                )
                .field("installed", Value::Bool(true))
                .field("template", Value::Bool(templates.contains(&dt.name)))
                .build()
        })
        .collect();
    if show_all {
        for name in templates
            .iter()
            .filter(|t| !t.starts_with("base") && !types.iter().any(|dt| &dt.name == *t))
        {
            out.push(
                StructBuilder::new()
                    .field("name", Value::str(name))
                    .field("devices", Value::Int(0))
                    .field("installed", Value::Bool(false))
                    .field("template", Value::Bool(true))
                    .build(),
            );
        }
    }
    Ok(Value::Array(out))
}

pub(super) async fn show(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let name = p.string(0, "name")?;
    let dt = match call.lab.device_type(&name).await {
        Err(LabError::NotFound(_)) => {
            return Err(Fault::not_found(format!(
                "Device-type '{name}' was not found."
            )))
        }
        other => other?,
    };
    let devices: Vec<String> = call
        .lab
        .devices()
        .await?
        .into_iter()
        .filter(|d| d.device_type == dt.name)
        .map(|d| d.hostname)
        .collect();
    Ok(StructBuilder::new()
        .field("name", Value::str(&dt.name))
        .field("description", Value::text_or_nil(&dt.description))
        .field("display", Value::Bool(dt.display))
        .field("health_disabled", Value::Bool(dt.disable_health_check))
        .field("aliases", Value::Array(Vec::new()))
        .field("devices", Value::str_array(devices))
        .build())
}

pub(super) async fn get_template(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let name = p.string(0, "name")?;
    check_template_name(&name)?;
    match call.lab.device_type_template(&name)? {
        Some(text) => Ok(Value::binary_text(&text)),
        None => Err(Fault::not_found(format!(
            "Device-type '{name}' was not found."
        ))),
    }
}

pub(super) async fn set_template(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(2)?;
    let name = p.string(0, "name")?;
    let config = p.text(1, "config")?;
    call.require("change_devicetype")?;
    check_template_name(&name)?;
    call.lab.set_device_type_template(&name, &config).await?;
    Ok(Value::Nil)
}
