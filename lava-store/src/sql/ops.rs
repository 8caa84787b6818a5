//! Every store operation, written once against [`SqlTx`].
//!
//! The caller opens the transaction; each function reads or writes inside it and leaves
//! commit or rollback to the caller, so an error anywhere undoes the whole operation.

use super::{Cols, Dialect, Param, SqlTx, Value};
use crate::error::{Result, StoreError};
use crate::token::digest;
use crate::types::{
    Applied, ChangeSet, HealthHistory, JobEnd, JobFilter, JobLog, Precondition, SchedulerSnapshot,
    TestCase, TestResult, TokenInfo, User,
};
use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobId,
    JobState, MultinodeMembership, Priority, Tag, Worker, WorkerHealth, WorkerState,
};
use lava_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashSet};

// ---------------------------------------------------------------- helpers

fn first_int(rows: &[Vec<Value>]) -> Option<i64> {
    match rows.first().and_then(|r| r.first()) {
        Some(Value::Int(v)) => Some(*v),
        _ => None,
    }
}

fn exists(tx: &mut dyn SqlTx, sql: &str, key: Param<'_>) -> Result<bool> {
    Ok(!tx.query(sql, &[key])?.is_empty())
}

fn texts(rows: Vec<Vec<Value>>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|r| match r.into_iter().next() {
            Some(Value::Text(t)) => Some(t),
            Some(Value::Int(i)) => Some(i.to_string()),
            _ => None,
        })
        .collect()
}

/// A short list for messages: "a, b, c and 12 more".
fn short_list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!(
            "{} and {} more",
            items[..SHOWN].join(", "),
            items.len() - SHOWN
        )
    }
}

fn u32_field(raw: i64, what: &str) -> Result<u32> {
    u32::try_from(raw).map_err(|_| StoreError::BadValue(format!("{what} {raw} is out of range")))
}

/// `FOR UPDATE` where the dialect has it: PostgreSQL locks the rows a precondition read, so
/// nobody changes them before commit; SQLite's write transaction already excludes writers.
fn for_update(tx: &dyn SqlTx) -> &'static str {
    match tx.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    }
}

/// Names that exist, remembered across the rows of one transaction so that a bulk
/// submission checks each device type and tag once.
#[derive(Default)]
struct Known {
    device_types: HashSet<String>,
    tags: HashSet<String>,
    workers: HashSet<String>,
}

impl Known {
    fn device_type(&mut self, tx: &mut dyn SqlTx, name: &str, owner: &str) -> Result<()> {
        if self.device_types.contains(name) {
            return Ok(());
        }
        if !exists(tx, "SELECT 1 FROM device_types WHERE name = ?", name.into())? {
            return Err(StoreError::NotFound(format!(
                "device type {name} (of {owner})"
            )));
        }
        self.device_types.insert(name.to_owned());
        Ok(())
    }

    fn tag(&mut self, tx: &mut dyn SqlTx, name: &str, owner: &str) -> Result<()> {
        if self.tags.contains(name) {
            return Ok(());
        }
        if !exists(tx, "SELECT 1 FROM tags WHERE name = ?", name.into())? {
            return Err(StoreError::NotFound(format!("tag {name} (of {owner})")));
        }
        self.tags.insert(name.to_owned());
        Ok(())
    }

    fn worker(&mut self, tx: &mut dyn SqlTx, name: &str, owner: &str) -> Result<()> {
        if self.workers.contains(name) {
            return Ok(());
        }
        if !exists(tx, "SELECT 1 FROM workers WHERE hostname = ?", name.into())? {
            return Err(StoreError::NotFound(format!("worker {name} (of {owner})")));
        }
        self.workers.insert(name.to_owned());
        Ok(())
    }
}

// ---------------------------------------------------------------- device types

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
    Ok(())
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

fn write_device(tx: &mut dyn SqlTx, known: &mut Known, d: &Device) -> Result<()> {
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
    write_device_tags(tx, d, true)
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
    Ok(())
}

// ---------------------------------------------------------------- users and tokens

fn user_from_row(row: Vec<Value>) -> Result<User> {
    let what = || "a row of users".to_owned();
    let mut c = Cols::new(row, &what);
    Ok(User {
        username: c.text()?,
        is_admin: c.bool()?,
        email: c.text()?,
    })
}

pub(crate) fn add_user(tx: &mut dyn SqlTx, u: &User) -> Result<()> {
    if exists(
        tx,
        "SELECT 1 FROM users WHERE username = ?",
        (&u.username).into(),
    )? {
        return Err(StoreError::AlreadyExists(format!("user {}", u.username)));
    }
    tx.execute(
        "INSERT INTO users (username, is_admin, email) VALUES (?, ?, ?)",
        &[(&u.username).into(), u.is_admin.into(), (&u.email).into()],
    )?;
    Ok(())
}

pub(crate) fn update_user(tx: &mut dyn SqlTx, u: &User) -> Result<()> {
    let n = tx.execute(
        "UPDATE users SET is_admin = ?, email = ? WHERE username = ?",
        &[u.is_admin.into(), (&u.email).into(), (&u.username).into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("user {}", u.username)));
    }
    Ok(())
}

pub(crate) fn user(tx: &mut dyn SqlTx, username: &str) -> Result<Option<User>> {
    tx.query(
        "SELECT username, is_admin, email FROM users WHERE username = ?",
        &[username.into()],
    )?
    .into_iter()
    .next()
    .map(user_from_row)
    .transpose()
}

pub(crate) fn users(tx: &mut dyn SqlTx) -> Result<Vec<User>> {
    tx.query(
        "SELECT username, is_admin, email FROM users ORDER BY username",
        &[],
    )?
    .into_iter()
    .map(user_from_row)
    .collect()
}

pub(crate) fn remove_user(tx: &mut dyn SqlTx, username: &str) -> Result<()> {
    tx.execute("DELETE FROM tokens WHERE username = ?", &[username.into()])?;
    if tx.execute("DELETE FROM users WHERE username = ?", &[username.into()])? == 0 {
        return Err(StoreError::NotFound(format!("user {username}")));
    }
    Ok(())
}

fn token_from_row(row: Vec<Value>) -> Result<TokenInfo> {
    let what = || "a row of tokens".to_owned();
    let mut c = Cols::new(row, &what);
    Ok(TokenInfo {
        id: c.int()?,
        username: c.text()?,
        description: c.text()?,
        created: Timestamp(c.int()?),
    })
}

pub(crate) fn add_token(
    tx: &mut dyn SqlTx,
    username: &str,
    secret: &str,
    description: &str,
    created: Timestamp,
) -> Result<TokenInfo> {
    if secret.is_empty() {
        return Err(StoreError::Invalid {
            field: format!("token of user {username}"),
            reason: "the secret is empty".into(),
        });
    }
    if !exists(
        tx,
        "SELECT 1 FROM users WHERE username = ?",
        username.into(),
    )? {
        return Err(StoreError::NotFound(format!("user {username}")));
    }
    let digest = digest(secret);
    if exists(
        tx,
        "SELECT 1 FROM tokens WHERE digest = ?",
        (&digest).into(),
    )? {
        return Err(StoreError::AlreadyExists(
            "a token with this secret".to_owned(),
        ));
    }
    let rows = tx.query(
        "INSERT INTO tokens (username, digest, description, created) VALUES (?, ?, ?, ?) \
         RETURNING id, username, description, created",
        &[
            username.into(),
            (&digest).into(),
            description.into(),
            Param::Int(created.0),
        ],
    )?;
    rows.into_iter()
        .next()
        .map(token_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::BadValue("INSERT INTO tokens returned no row".into()))
}

pub(crate) fn tokens(tx: &mut dyn SqlTx, username: &str) -> Result<Vec<TokenInfo>> {
    tx.query(
        "SELECT id, username, description, created FROM tokens WHERE username = ? ORDER BY id",
        &[username.into()],
    )?
    .into_iter()
    .map(token_from_row)
    .collect()
}

pub(crate) fn remove_token(tx: &mut dyn SqlTx, id: i64) -> Result<()> {
    if tx.execute("DELETE FROM tokens WHERE id = ?", &[Param::Int(id)])? == 0 {
        return Err(StoreError::NotFound(format!("token {id}")));
    }
    Ok(())
}

pub(crate) fn authenticate(
    tx: &mut dyn SqlTx,
    username: &str,
    secret: &str,
) -> Result<Option<User>> {
    let digest = digest(secret);
    tx.query(
        "SELECT users.username, users.is_admin, users.email FROM tokens \
         JOIN users ON users.username = tokens.username \
         WHERE tokens.digest = ? AND tokens.username = ?",
        &[(&digest).into(), username.into()],
    )?
    .into_iter()
    .next()
    .map(user_from_row)
    .transpose()
}

// ---------------------------------------------------------------- jobs

const JOB_COLUMNS: &str = "jobs.id, jobs.submitter, jobs.definition, jobs.state, jobs.health, \
    jobs.priority, jobs.submit_time, jobs.start_time, jobs.end_time, \
    jobs.requested_device_type, jobs.target_group, jobs.role, jobs.health_check, \
    jobs.actual_device, jobs.failure_comment, jobs.is_public";

fn job_from_row(row: Vec<Value>) -> Result<Job> {
    let what = || "a row of jobs".to_owned();
    let mut c = Cols::new(row, &what);
    let id = c.int()?;
    let submitter = c.text()?;
    let definition = c.text()?;
    let state = c.code("state", JobState::from_code)?;
    let health = c.code("health", JobHealth::from_code)?;
    let raw_priority = c.int()?;
    let priority = Priority::new(raw_priority)
        .ok_or_else(|| StoreError::BadValue(format!("job {id}: priority {raw_priority}")))?;
    let submit_time = Timestamp(c.int()?);
    let start_time = c.opt_int()?.map(Timestamp);
    let end_time = c.opt_int()?.map(Timestamp);
    let requested_device_type = c.opt_text()?;
    let multinode = match (c.opt_text()?, c.opt_text()?) {
        (Some(group), Some(role)) => Some(MultinodeMembership { group, role }),
        (None, None) => None,
        (group, role) => {
            return Err(StoreError::BadValue(format!(
                "job {id}: target_group {group:?} without role {role:?}"
            )))
        }
    };
    Ok(Job {
        id,
        submitter,
        definition,
        state,
        health,
        priority,
        submit_time,
        start_time,
        end_time,
        requested_device_type,
        tags: BTreeSet::new(),
        multinode,
        health_check: c.bool()?,
        actual_device: c.opt_text()?,
        failure_comment: c.opt_text()?,
        is_public: c.bool()?,
    })
}

/// In which order [`load_jobs`] returns jobs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Oldest,
    Newest,
}

/// Loads jobs matching `condition` (on table `jobs`), with their tags, sorted by id.
fn load_jobs(
    tx: &mut dyn SqlTx,
    condition: &str,
    params: &[Param<'_>],
    order: Order,
) -> Result<Vec<Job>> {
    // Sorted here rather than with ORDER BY: through the state index, SQLite would copy every
    // row, definitions included, into a temporary sorter.
    let mut jobs: Vec<Job> = tx
        .query(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {condition}"),
            params,
        )?
        .into_iter()
        .map(job_from_row)
        .collect::<Result<_>>()?;
    match order {
        Order::Oldest => jobs.sort_unstable_by_key(|j| j.id),
        Order::Newest => jobs.sort_unstable_by_key(|j| std::cmp::Reverse(j.id)),
    }
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let rows = tx.query(
        &format!(
            "SELECT job_tags.job, job_tags.tag FROM job_tags \
             JOIN jobs ON jobs.id = job_tags.job WHERE {condition}"
        ),
        params,
    )?;
    if rows.is_empty() {
        return Ok(jobs);
    }
    let mut tags: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        let what = || "a row of job_tags".to_owned();
        let mut c = Cols::new(row, &what);
        let job = c.int()?;
        tags.entry(job).or_default().insert(c.text()?);
    }
    for job in &mut jobs {
        if let Some(t) = tags.remove(&job.id) {
            job.tags = t;
        }
    }
    Ok(jobs)
}

fn job_params(job: &Job) -> [Param<'_>; 15] {
    let (group, role) = match &job.multinode {
        Some(m) => (Param::Text(&m.group), Param::Text(&m.role)),
        None => (Param::Null, Param::Null),
    };
    [
        Param::Text(&job.submitter),
        Param::Text(&job.definition),
        Param::Int(i64::from(job.state.code())),
        Param::Int(i64::from(job.health.code())),
        Param::Int(i64::from(job.priority.value())),
        Param::Int(job.submit_time.0),
        job.start_time.map(|t| t.0).into(),
        job.end_time.map(|t| t.0).into(),
        job.requested_device_type.as_ref().into(),
        group,
        role,
        Param::Bool(job.health_check),
        job.actual_device.as_ref().into(),
        job.failure_comment.as_ref().into(),
        Param::Bool(job.is_public),
    ]
}

fn check_job_refs(tx: &mut dyn SqlTx, known: &mut Known, job: &Job, owner: &str) -> Result<()> {
    if let Some(dt) = &job.requested_device_type {
        known.device_type(tx, dt, owner)?;
    }
    for tag in &job.tags {
        known.tag(tx, tag, owner)?;
    }
    Ok(())
}

fn write_job_tags(tx: &mut dyn SqlTx, id: JobId, tags: &BTreeSet<String>) -> Result<()> {
    for tag in tags {
        tx.execute(
            "INSERT INTO job_tags (job, tag) VALUES (?, ?)",
            &[Param::Int(id), tag.into()],
        )?;
    }
    Ok(())
}

fn insert_job(tx: &mut dyn SqlTx, known: &mut Known, job: &Job, index: usize) -> Result<JobId> {
    check_job_refs(tx, known, job, &format!("new job #{}", index + 1))?;
    let rows = tx.query(
        "INSERT INTO jobs (submitter, definition, state, health, priority, submit_time, \
         start_time, end_time, requested_device_type, target_group, role, health_check, \
         actual_device, failure_comment, is_public) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        &job_params(job),
    )?;
    let id = first_int(&rows)
        .ok_or_else(|| StoreError::BadValue("INSERT INTO jobs returned no id".into()))?;
    write_job_tags(tx, id, &job.tags)?;
    Ok(id)
}

fn write_job(tx: &mut dyn SqlTx, known: &mut Known, job: &Job) -> Result<()> {
    check_job_refs(tx, known, job, &format!("job {}", job.id))?;
    let mut params = job_params(job).to_vec();
    params.push(Param::Int(job.id));
    let n = tx.execute(
        "UPDATE jobs SET submitter = ?, definition = ?, state = ?, health = ?, priority = ?, \
         submit_time = ?, start_time = ?, end_time = ?, requested_device_type = ?, \
         target_group = ?, role = ?, health_check = ?, actual_device = ?, \
         failure_comment = ?, is_public = ? WHERE id = ?",
        &params,
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("job {}", job.id)));
    }
    tx.execute("DELETE FROM job_tags WHERE job = ?", &[Param::Int(job.id)])?;
    write_job_tags(tx, job.id, &job.tags)
}

pub(crate) fn submit(tx: &mut dyn SqlTx, jobs: &[Job]) -> Result<Vec<JobId>> {
    let mut known = Known::default();
    jobs.iter()
        .enumerate()
        .map(|(index, job)| insert_job(tx, &mut known, job, index))
        .collect()
}

pub(crate) fn job(tx: &mut dyn SqlTx, id: JobId) -> Result<Option<Job>> {
    Ok(
        load_jobs(tx, "jobs.id = ?", &[Param::Int(id)], Order::Oldest)?
            .into_iter()
            .next(),
    )
}

fn state_list(states: &[JobState]) -> String {
    states
        .iter()
        .map(|s| s.code().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn jobs(tx: &mut dyn SqlTx, filter: &JobFilter) -> Result<Vec<Job>> {
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut params: Vec<Param<'_>> = Vec::new();
    if !filter.states.is_empty() {
        // Codes are integers from a closed enum, so inlining them is safe.
        conditions.push(format!("jobs.state IN ({})", state_list(&filter.states)));
    }
    if let Some(dt) = &filter.device_type {
        conditions.push("jobs.requested_device_type = ?".into());
        params.push(dt.into());
    }
    if let Some(device) = &filter.actual_device {
        conditions.push("jobs.actual_device = ?".into());
        params.push(device.into());
    }
    if let Some(submitter) = &filter.submitter {
        conditions.push("jobs.submitter = ?".into());
        params.push(submitter.into());
    }
    if let Some(limit) = filter.limit {
        // The newest `limit` ids, found without loading the rest.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let inner = conditions.join(" AND ");
        conditions = vec![format!(
            "jobs.id IN (SELECT jobs.id FROM jobs WHERE {inner} ORDER BY jobs.id DESC LIMIT {limit})"
        )];
    }
    load_jobs(tx, &conditions.join(" AND "), &params, Order::Newest)
}

pub(crate) fn multinode_group(tx: &mut dyn SqlTx, group: &str) -> Result<Vec<Job>> {
    load_jobs(tx, "jobs.target_group = ?", &[group.into()], Order::Oldest)
}

pub(crate) fn active_jobs(tx: &mut dyn SqlTx) -> Result<Vec<Job>> {
    let condition = format!(
        "jobs.state IN ({})",
        state_list(&[JobState::Scheduled, JobState::Running, JobState::Canceling])
    );
    load_jobs(tx, &condition, &[], Order::Oldest)
}

// ---------------------------------------------------------------- change sets

fn check(tx: &mut dyn SqlTx, p: &Precondition) -> Result<()> {
    let lock = for_update(tx);
    let (sql, key, expected, object) = match p {
        Precondition::JobState(id, s) => (
            "SELECT state FROM jobs WHERE id = ?",
            Param::Int(*id),
            (s.code(), s.name()),
            format!("job {id}"),
        ),
        Precondition::DeviceState(h, s) => (
            "SELECT state FROM devices WHERE hostname = ?",
            Param::Text(h),
            (s.code(), s.name()),
            format!("device {h}"),
        ),
        Precondition::DeviceHealth(h, s) => (
            "SELECT health FROM devices WHERE hostname = ?",
            Param::Text(h),
            (s.code(), s.name()),
            format!("device {h}"),
        ),
        Precondition::WorkerState(h, s) => (
            "SELECT state FROM workers WHERE hostname = ?",
            Param::Text(h),
            (s.code(), s.name()),
            format!("worker {h}"),
        ),
        Precondition::WorkerHealth(h, s) => (
            "SELECT health FROM workers WHERE hostname = ?",
            Param::Text(h),
            (s.code(), s.name()),
            format!("worker {h}"),
        ),
    };
    let rows = tx.query(&format!("{sql}{lock}"), &[key])?;
    let Some(found) = first_int(&rows) else {
        return Err(StoreError::Conflict(format!(
            "expected {p}, but {object} does not exist"
        )));
    };
    if found == i64::from(expected.0) {
        return Ok(());
    }
    let found_name = i32::try_from(found)
        .ok()
        .and_then(|code| match p {
            Precondition::JobState(..) => JobState::from_code(code).map(|s| s.name()),
            Precondition::DeviceState(..) => DeviceState::from_code(code).map(|s| s.name()),
            Precondition::DeviceHealth(..) => DeviceHealth::from_code(code).map(|s| s.name()),
            Precondition::WorkerState(..) => WorkerState::from_code(code).map(|s| s.name()),
            Precondition::WorkerHealth(..) => WorkerHealth::from_code(code).map(|s| s.name()),
        })
        .map_or_else(|| format!("code {found}"), str::to_owned);
    Err(StoreError::Conflict(format!(
        "expected {p}, but it is {found_name}"
    )))
}

pub(crate) fn apply(tx: &mut dyn SqlTx, changes: &ChangeSet) -> Result<Applied> {
    for p in &changes.preconditions {
        check(tx, p)?;
    }
    let mut known = Known::default();
    let mut applied = Applied::default();
    for (index, job) in changes.new_jobs.iter().enumerate() {
        applied
            .new_jobs
            .push(insert_job(tx, &mut known, job, index)?);
    }
    for job in &changes.jobs {
        write_job(tx, &mut known, job)?;
    }
    for device in &changes.devices {
        write_device(tx, &mut known, device)?;
    }
    for worker in &changes.workers {
        update_worker(tx, worker)?;
    }
    for (id, description) in &changes.ends {
        let n = tx.execute(
            "UPDATE jobs SET end_processed = ?, end_description = ? WHERE id = ?",
            &[
                Param::Bool(true),
                description.as_ref().into(),
                Param::Int(*id),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("job {id}")));
        }
    }
    Ok(applied)
}

pub(crate) fn scheduler_snapshot(tx: &mut dyn SqlTx) -> Result<SchedulerSnapshot> {
    let device_types = device_types(tx)?;
    let devices = devices(tx)?;
    let workers = workers(tx)?;
    let condition = format!(
        "jobs.state IN ({})",
        state_list(&[JobState::Submitted, JobState::Scheduling])
    );
    let queued_jobs = load_jobs(tx, &condition, &[], Order::Oldest)?;
    let rows = tx.query(
        "SELECT devices.hostname, hc.id, hc.submit_time, \
         (SELECT COUNT(*) FROM jobs AS since WHERE since.actual_device = devices.hostname \
          AND since.health_check = ? AND since.start_time >= hc.submit_time) \
         FROM devices JOIN jobs AS hc ON hc.id = devices.last_health_report_job",
        &[Param::Bool(false)],
    )?;
    let mut health_history = BTreeMap::new();
    for row in rows {
        let what = || "a health-check history row".to_owned();
        let mut c = Cols::new(row, &what);
        let hostname = c.text()?;
        let history = HealthHistory {
            last_health_check: c.int()?,
            submit_time: Timestamp(c.int()?),
            jobs_since: c.count("job count")?,
        };
        health_history.insert(hostname, history);
    }
    Ok(SchedulerSnapshot {
        device_types,
        devices,
        workers,
        queued_jobs,
        health_history,
    })
}

// ---------------------------------------------------------------- per-job records

fn require_job(tx: &mut dyn SqlTx, id: JobId) -> Result<()> {
    if exists(tx, "SELECT 1 FROM jobs WHERE id = ?", Param::Int(id))? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("job {id}")))
    }
}

fn line(v: Option<u64>, what: &str) -> Result<Param<'static>> {
    v.map(|n| {
        i64::try_from(n)
            .map(Param::Int)
            .map_err(|_| StoreError::Invalid {
                field: what.to_owned(),
                reason: format!("{n} is too large"),
            })
    })
    .transpose()
    .map(|p| p.unwrap_or(Param::Null))
}

pub(crate) fn add_test_cases(tx: &mut dyn SqlTx, job: JobId, cases: &[TestCase]) -> Result<()> {
    require_job(tx, job)?;
    for case in cases {
        let start = line(case.start_log_line, "start_log_line")?;
        let end = line(case.end_log_line, "end_log_line")?;
        tx.execute(
            "INSERT INTO test_cases (job, suite, test_set, name, result, measurement, units, \
             metadata, logged, start_log_line, end_log_line) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                Param::Int(job),
                (&case.suite).into(),
                case.test_set.as_ref().into(),
                (&case.name).into(),
                Param::Int(i64::from(case.result.code())),
                case.measurement.as_ref().into(),
                (&case.units).into(),
                case.metadata.as_ref().into(),
                Param::Int(case.logged.0),
                start,
                end,
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn test_cases(tx: &mut dyn SqlTx, job: JobId) -> Result<Vec<TestCase>> {
    require_job(tx, job)?;
    tx.query(
        "SELECT suite, test_set, name, result, measurement, units, metadata, logged, \
         start_log_line, end_log_line FROM test_cases WHERE job = ? ORDER BY id",
        &[Param::Int(job)],
    )?
    .into_iter()
    .map(|row| {
        let what = || format!("a test case of job {job}");
        let mut c = Cols::new(row, &what);
        Ok(TestCase {
            suite: c.text()?,
            test_set: c.opt_text()?,
            name: c.text()?,
            result: c.code("result", TestResult::from_code)?,
            measurement: c.opt_text()?,
            units: c.text()?,
            metadata: c.opt_text()?,
            logged: Timestamp(c.int()?),
            start_log_line: c.opt_count("start_log_line")?,
            end_log_line: c.opt_count("end_log_line")?,
        })
    })
    .collect()
}

pub(crate) fn set_job_log(tx: &mut dyn SqlTx, job: JobId, log: &JobLog) -> Result<()> {
    let lines = line(Some(log.line_count), "line_count")?;
    let n = tx.execute(
        "UPDATE jobs SET log_dir = ?, log_lines = ? WHERE id = ?",
        &[(&log.output_dir).into(), lines, Param::Int(job)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("job {job}")));
    }
    Ok(())
}

pub(crate) fn job_log(tx: &mut dyn SqlTx, job: JobId) -> Result<Option<JobLog>> {
    let rows = tx.query(
        "SELECT log_dir, log_lines FROM jobs WHERE id = ?",
        &[Param::Int(job)],
    )?;
    let Some(row) = rows.into_iter().next() else {
        return Err(StoreError::NotFound(format!("job {job}")));
    };
    let what = || format!("the log of job {job}");
    let mut c = Cols::new(row, &what);
    match (c.opt_text()?, c.opt_count("log_lines")?) {
        (Some(output_dir), lines) => Ok(Some(JobLog {
            output_dir,
            line_count: lines.unwrap_or(0),
        })),
        (None, _) => Ok(None),
    }
}

pub(crate) fn job_end(tx: &mut dyn SqlTx, job: JobId) -> Result<JobEnd> {
    let rows = tx.query(
        "SELECT end_processed, end_description FROM jobs WHERE id = ?",
        &[Param::Int(job)],
    )?;
    let Some(row) = rows.into_iter().next() else {
        return Err(StoreError::NotFound(format!("job {job}")));
    };
    let what = || format!("the END record of job {job}");
    let mut c = Cols::new(row, &what);
    Ok(JobEnd {
        processed: c.bool()?,
        description: c.opt_text()?,
    })
}
