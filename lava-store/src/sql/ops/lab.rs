//! Device types, tags, workers and devices.

use super::*;
use crate::error::{short_list, Result, StoreError};
use crate::sql::{Cols, Param, SqlTx, Value};
use crate::types::WorkerAccess;
use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, JobState, Tag, Worker,
    WorkerHealth, WorkerProtocol, WorkerState,
};
use lava_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

const DEVICE_TYPE_COLUMNS: &str = "name, health_check_definition, health_frequency, \
    health_denominator, disable_health_check, display, description";

fn device_type_from_row(row: Vec<Value>) -> Result<DeviceType> {
    let what = || "a row of device_types".to_owned();
    let mut c = Cols::new(row, &what);
    let name = c.text()?;
    Ok(DeviceType {
        health_check_definition: c.opt_text()?,
        health_frequency: u32_field(c.int()?, &format!("device type {name} health_frequency"))?,
        health_denominator: c.code("health_denominator", HealthDenominator::from_code)?,
        disable_health_check: c.bool()?,
        display: c.bool()?,
        description: c.text()?,
        name,
    })
}

fn device_type_params(dt: &DeviceType) -> [Param<'_>; 7] {
    [
        Param::Text(&dt.name),
        dt.health_check_definition.as_ref().into(),
        Param::Int(i64::from(dt.health_frequency)),
        Param::Int(i64::from(dt.health_denominator.code())),
        Param::Bool(dt.disable_health_check),
        Param::Bool(dt.display),
        Param::Text(&dt.description),
    ]
}

pub(crate) fn add_device_type(tx: &mut dyn SqlTx, dt: &DeviceType) -> Result<()> {
    if exists(
        tx,
        "SELECT 1 FROM device_types WHERE name = ?",
        (&dt.name).into(),
    )? {
        return Err(StoreError::AlreadyExists(format!(
            "device type {}",
            dt.name
        )));
    }
    tx.execute(
        &format!("INSERT INTO device_types ({DEVICE_TYPE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        &device_type_params(dt),
    )?;
    Ok(())
}

pub(crate) fn update_device_type(tx: &mut dyn SqlTx, dt: &DeviceType) -> Result<()> {
    let [name, rest @ ..] = device_type_params(dt);
    let mut params = rest.to_vec();
    params.push(name);
    let n = tx.execute(
        "UPDATE device_types SET health_check_definition = ?, health_frequency = ?, \
         health_denominator = ?, disable_health_check = ?, display = ?, description = ? \
         WHERE name = ?",
        &params,
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("device type {}", dt.name)));
    }
    Ok(())
}

pub(crate) fn device_type(tx: &mut dyn SqlTx, name: &str) -> Result<Option<DeviceType>> {
    let rows = tx.query(
        &format!("SELECT {DEVICE_TYPE_COLUMNS} FROM device_types WHERE name = ?"),
        &[name.into()],
    )?;
    rows.into_iter()
        .next()
        .map(device_type_from_row)
        .transpose()
}

pub(crate) fn device_types(tx: &mut dyn SqlTx) -> Result<Vec<DeviceType>> {
    tx.query(
        &format!("SELECT {DEVICE_TYPE_COLUMNS} FROM device_types ORDER BY name"),
        &[],
    )?
    .into_iter()
    .map(device_type_from_row)
    .collect()
}

pub(crate) fn remove_device_type(tx: &mut dyn SqlTx, name: &str) -> Result<()> {
    let what = format!("device type {name}");
    let devices = texts(tx.query(
        "SELECT hostname FROM devices WHERE device_type = ? ORDER BY hostname",
        &[name.into()],
    )?);
    if !devices.is_empty() {
        return Err(StoreError::InUse {
            what,
            by: format!("devices {}", short_list(&devices)),
        });
    }
    let jobs = texts(tx.query(
        "SELECT id FROM jobs WHERE requested_device_type = ? ORDER BY id",
        &[name.into()],
    )?);
    if !jobs.is_empty() {
        return Err(StoreError::InUse {
            what,
            by: format!("jobs {}", short_list(&jobs)),
        });
    }
    if tx.execute("DELETE FROM device_types WHERE name = ?", &[name.into()])? == 0 {
        return Err(StoreError::NotFound(what));
    }
    remove_grants_on(tx, crate::types::GrantOn::DeviceType, name)
}

// ---------------------------------------------------------------- tags

pub(crate) fn add_tag(tx: &mut dyn SqlTx, tag: &Tag) -> Result<()> {
    if exists(tx, "SELECT 1 FROM tags WHERE name = ?", (&tag.name).into())? {
        return Err(StoreError::AlreadyExists(format!("tag {}", tag.name)));
    }
    tx.execute(
        "INSERT INTO tags (name, description) VALUES (?, ?)",
        &[(&tag.name).into(), (&tag.description).into()],
    )?;
    Ok(())
}

pub(crate) fn tags(tx: &mut dyn SqlTx) -> Result<Vec<Tag>> {
    tx.query("SELECT name, description FROM tags ORDER BY name", &[])?
        .into_iter()
        .map(|row| {
            let what = || "a row of tags".to_owned();
            let mut c = Cols::new(row, &what);
            Ok(Tag {
                name: c.text()?,
                description: c.text()?,
            })
        })
        .collect()
}

pub(crate) fn remove_tag(tx: &mut dyn SqlTx, name: &str) -> Result<()> {
    tx.execute("DELETE FROM device_tags WHERE tag = ?", &[name.into()])?;
    tx.execute("DELETE FROM job_tags WHERE tag = ?", &[name.into()])?;
    if tx.execute("DELETE FROM tags WHERE name = ?", &[name.into()])? == 0 {
        return Err(StoreError::NotFound(format!("tag {name}")));
    }
    Ok(())
}

// ---------------------------------------------------------------- workers

const WORKER_COLUMNS: &str = "hostname, state, health, description, job_limit, last_ping, version";

fn worker_from_row(row: Vec<Value>) -> Result<Worker> {
    let what = || "a row of workers".to_owned();
    let mut c = Cols::new(row, &what);
    let hostname = c.text()?;
    Ok(Worker {
        state: c.code("state", WorkerState::from_code)?,
        health: c.code("health", WorkerHealth::from_code)?,
        description: c.text()?,
        job_limit: u32_field(c.int()?, &format!("worker {hostname} job_limit"))?,
        last_ping: c.opt_int()?.map(Timestamp),
        version: c.opt_text()?,
        hostname,
    })
}

fn worker_params(w: &Worker) -> [Param<'_>; 7] {
    [
        Param::Text(&w.hostname),
        Param::Int(i64::from(w.state.code())),
        Param::Int(i64::from(w.health.code())),
        Param::Text(&w.description),
        Param::Int(i64::from(w.job_limit)),
        w.last_ping.map(|t| t.0).into(),
        w.version.as_ref().into(),
    ]
}

pub(crate) fn add_worker(tx: &mut dyn SqlTx, w: &Worker) -> Result<()> {
    if exists(
        tx,
        "SELECT 1 FROM workers WHERE hostname = ?",
        (&w.hostname).into(),
    )? {
        return Err(StoreError::AlreadyExists(format!("worker {}", w.hostname)));
    }
    tx.execute(
        &format!("INSERT INTO workers ({WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        &worker_params(w),
    )?;
    Ok(())
}

pub(crate) fn update_worker(tx: &mut dyn SqlTx, w: &Worker) -> Result<()> {
    let [hostname, rest @ ..] = worker_params(w);
    let mut params = rest.to_vec();
    params.push(hostname);
    let n = tx.execute(
        "UPDATE workers SET state = ?, health = ?, description = ?, job_limit = ?, \
         last_ping = ?, version = ? WHERE hostname = ?",
        &params,
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("worker {}", w.hostname)));
    }
    Ok(())
}

pub(crate) fn worker(tx: &mut dyn SqlTx, hostname: &str) -> Result<Option<Worker>> {
    tx.query(
        &format!("SELECT {WORKER_COLUMNS} FROM workers WHERE hostname = ?"),
        &[hostname.into()],
    )?
    .into_iter()
    .next()
    .map(worker_from_row)
    .transpose()
}

pub(crate) fn workers(tx: &mut dyn SqlTx) -> Result<Vec<Worker>> {
    tx.query(
        &format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY hostname"),
        &[],
    )?
    .into_iter()
    .map(worker_from_row)
    .collect()
}

pub(crate) fn worker_access(tx: &mut dyn SqlTx, hostname: &str) -> Result<Option<WorkerAccess>> {
    let Some(row) = tx
        .query(
            "SELECT protocol, token, refusal FROM workers WHERE hostname = ?",
            &[hostname.into()],
        )?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let what = || format!("the access of worker {hostname}");
    let mut c = Cols::new(row, &what);
    let protocol = match c.opt_text()? {
        None => None,
        Some(name) => Some(WorkerProtocol::from_name(&name).ok_or_else(|| {
            StoreError::BadValue(format!("worker {hostname}: unknown protocol {name:?}"))
        })?),
    };
    Ok(Some(WorkerAccess {
        protocol,
        token: c.opt_text()?,
        refusal: c.opt_text()?,
    }))
}

pub(crate) fn set_worker_token(tx: &mut dyn SqlTx, hostname: &str, token: &str) -> Result<()> {
    let n = tx.execute(
        "UPDATE workers SET token = ? WHERE hostname = ?",
        &[token.into(), hostname.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("worker {hostname}")));
    }
    Ok(())
}

pub(crate) fn set_worker_protocol(
    tx: &mut dyn SqlTx,
    hostname: &str,
    protocol: WorkerProtocol,
    refusal: Option<&str>,
) -> Result<()> {
    let n = tx.execute(
        "UPDATE workers SET protocol = ?, refusal = ? WHERE hostname = ?",
        &[protocol.name().into(), refusal.into(), hostname.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("worker {hostname}")));
    }
    Ok(())
}

pub(crate) fn remove_worker(tx: &mut dyn SqlTx, hostname: &str) -> Result<()> {
    let devices = texts(tx.query(
        "SELECT hostname FROM devices WHERE worker = ? ORDER BY hostname",
        &[hostname.into()],
    )?);
    if !devices.is_empty() {
        return Err(StoreError::InUse {
            what: format!("worker {hostname}"),
            by: format!("devices {}", short_list(&devices)),
        });
    }
    if tx.execute("DELETE FROM workers WHERE hostname = ?", &[hostname.into()])? == 0 {
        return Err(StoreError::NotFound(format!("worker {hostname}")));
    }
    Ok(())
}

// ---------------------------------------------------------------- devices

const DEVICE_COLUMNS: &str =
    "hostname, device_type, state, health, worker, last_health_report_job, description";

fn device_from_row(row: Vec<Value>) -> Result<Device> {
    let what = || "a row of devices".to_owned();
    let mut c = Cols::new(row, &what);
    Ok(Device {
        hostname: c.text()?,
        device_type: c.text()?,
        state: c.code("state", DeviceState::from_code)?,
        health: c.code("health", DeviceHealth::from_code)?,
        worker: c.opt_text()?,
        last_health_report_job: c.opt_int()?,
        description: c.text()?,
        tags: BTreeSet::new(),
    })
}

/// Loads devices matching `condition` (on table `devices`), with their tags.
fn load_devices(tx: &mut dyn SqlTx, condition: &str, params: &[Param<'_>]) -> Result<Vec<Device>> {
    let mut devices: Vec<Device> = tx
        .query(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE {condition} ORDER BY hostname"),
            params,
        )?
        .into_iter()
        .map(device_from_row)
        .collect::<Result<_>>()?;
    if devices.is_empty() {
        return Ok(devices);
    }
    let rows = tx.query(
        &format!(
            "SELECT device_tags.device, device_tags.tag FROM device_tags \
             JOIN devices ON devices.hostname = device_tags.device WHERE {condition}"
        ),
        params,
    )?;
    let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        let what = || "a row of device_tags".to_owned();
        let mut c = Cols::new(row, &what);
        let device = c.text()?;
        tags.entry(device).or_default().insert(c.text()?);
    }
    for device in &mut devices {
        if let Some(t) = tags.remove(&device.hostname) {
            device.tags = t;
        }
    }
    Ok(devices)
}

fn check_device_refs(tx: &mut dyn SqlTx, known: &mut Known, d: &Device) -> Result<()> {
    let owner = format!("device {}", d.hostname);
    known.device_type(tx, &d.device_type, &owner)?;
    if let Some(worker) = &d.worker {
        known.worker(tx, worker, &owner)?;
    }
    for tag in &d.tags {
        known.tag(tx, tag, &owner)?;
    }
    Ok(())
}

fn write_device_tags(tx: &mut dyn SqlTx, d: &Device, replace: bool) -> Result<()> {
    if replace {
        tx.execute(
            "DELETE FROM device_tags WHERE device = ?",
            &[(&d.hostname).into()],
        )?;
    }
    for tag in &d.tags {
        tx.execute(
            "INSERT INTO device_tags (device, tag) VALUES (?, ?)",
            &[(&d.hostname).into(), tag.into()],
        )?;
    }
    Ok(())
}

fn device_params(d: &Device) -> [Param<'_>; 7] {
    [
        Param::Text(&d.hostname),
        Param::Text(&d.device_type),
        Param::Int(i64::from(d.state.code())),
        Param::Int(i64::from(d.health.code())),
        d.worker.as_ref().into(),
        d.last_health_report_job.into(),
        Param::Text(&d.description),
    ]
}

pub(crate) fn add_device(tx: &mut dyn SqlTx, d: &Device) -> Result<()> {
    if exists(
        tx,
        "SELECT 1 FROM devices WHERE hostname = ?",
        (&d.hostname).into(),
    )? {
        return Err(StoreError::AlreadyExists(format!("device {}", d.hostname)));
    }
    check_device_refs(tx, &mut Known::default(), d)?;
    tx.execute(
        &format!("INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        &device_params(d),
    )?;
    write_device_tags(tx, d, false)
}

pub(super) fn write_device(tx: &mut dyn SqlTx, known: &mut Known, d: &Device) -> Result<()> {
    write_device_row(tx, known, d)?;
    write_device_tags(tx, d, true)
}

/// Writes many device rows: the old tags of all of them go in one statement per chunk.
pub(super) fn write_devices(
    tx: &mut dyn SqlTx,
    known: &mut Known,
    devices: &[Device],
) -> Result<()> {
    let mut seen = HashSet::new();
    if !devices.iter().all(|d| seen.insert(d.hostname.as_str())) {
        // The same device twice: write row by row so that the last row's tags win.
        return devices.iter().try_for_each(|d| write_device(tx, known, d));
    }
    let keys: Vec<Param<'_>> = devices.iter().map(|d| Param::Text(&d.hostname)).collect();
    for d in devices {
        write_device_row(tx, known, d)?;
    }
    execute_in(
        tx,
        "DELETE FROM device_tags WHERE device IN ({keys})",
        &keys,
    )?;
    devices
        .iter()
        .try_for_each(|d| write_device_tags(tx, d, false))
}

/// Writes a device row, tags aside.
fn write_device_row(tx: &mut dyn SqlTx, known: &mut Known, d: &Device) -> Result<()> {
    check_device_refs(tx, known, d)?;
    let [hostname, rest @ ..] = device_params(d);
    let mut params = rest.to_vec();
    params.push(hostname);
    let n = tx.execute(
        "UPDATE devices SET device_type = ?, state = ?, health = ?, worker = ?, \
         last_health_report_job = ?, description = ? WHERE hostname = ?",
        &params,
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("device {}", d.hostname)));
    }
    Ok(())
}

pub(crate) fn update_device(tx: &mut dyn SqlTx, d: &Device) -> Result<()> {
    write_device(tx, &mut Known::default(), d)
}

pub(crate) fn device(tx: &mut dyn SqlTx, hostname: &str) -> Result<Option<Device>> {
    Ok(
        load_devices(tx, "devices.hostname = ?", &[hostname.into()])?
            .into_iter()
            .next(),
    )
}

pub(crate) fn devices(tx: &mut dyn SqlTx) -> Result<Vec<Device>> {
    load_devices(tx, "1 = 1", &[])
}

pub(crate) fn remove_device(tx: &mut dyn SqlTx, hostname: &str) -> Result<()> {
    let active = texts(tx.query(
        "SELECT id FROM jobs WHERE actual_device = ? AND state IN (?, ?, ?, ?) ORDER BY id",
        &[
            hostname.into(),
            Param::Int(i64::from(JobState::Scheduling.code())),
            Param::Int(i64::from(JobState::Scheduled.code())),
            Param::Int(i64::from(JobState::Running.code())),
            Param::Int(i64::from(JobState::Canceling.code())),
        ],
    )?);
    if !active.is_empty() {
        return Err(StoreError::InUse {
            what: format!("device {hostname}"),
            by: format!("active jobs {}", short_list(&active)),
        });
    }
    tx.execute(
        "DELETE FROM device_tags WHERE device = ?",
        &[hostname.into()],
    )?;
    if tx.execute("DELETE FROM devices WHERE hostname = ?", &[hostname.into()])? == 0 {
        return Err(StoreError::NotFound(format!("device {hostname}")));
    }
    remove_grants_on(tx, crate::types::GrantOn::Device, hostname)
}
