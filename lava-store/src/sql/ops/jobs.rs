//! Jobs: submission, queries, change sets and the scheduler snapshot.

use super::*;
use crate::error::{Result, StoreError};
use crate::sql::{Cols, Param, SqlTx, Value};
use crate::types::{Applied, ChangeSet, HealthHistory, JobFilter, Precondition, SchedulerSnapshot};
use lava_core::model::{
    DeviceHealth, DeviceState, Job, JobHealth, JobId, JobState, MultinodeMembership, Priority,
    WorkerHealth, WorkerState,
};
use lava_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// Writes many job rows: the old tags of all of them go in one statement per chunk.
fn write_jobs(tx: &mut dyn SqlTx, known: &mut Known, jobs: &[Job]) -> Result<()> {
    let mut seen = HashSet::new();
    let unique = jobs.iter().all(|j| seen.insert(j.id));
    for job in jobs {
        write_job_row(tx, known, job)?;
        if !unique {
            // The same job twice: replace tags row by row so that the last row's win.
            tx.execute("DELETE FROM job_tags WHERE job = ?", &[Param::Int(job.id)])?;
            write_job_tags(tx, job.id, &job.tags)?;
        }
    }
    if unique {
        let keys: Vec<Param<'_>> = jobs.iter().map(|j| Param::Int(j.id)).collect();
        execute_in(tx, "DELETE FROM job_tags WHERE job IN ({keys})", &keys)?;
        for job in jobs {
            write_job_tags(tx, job.id, &job.tags)?;
        }
    }
    Ok(())
}

/// Writes a job row, tags aside.
fn write_job_row(tx: &mut dyn SqlTx, known: &mut Known, job: &Job) -> Result<()> {
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
    Ok(())
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

/// Current state and health codes, by key, of the rows the preconditions name.
#[derive(Default)]
struct Current {
    jobs: HashMap<i64, i64>,
    devices: HashMap<String, (i64, i64)>,
    workers: HashMap<String, (i64, i64)>,
}

/// Reads (and on PostgreSQL locks) every row the preconditions name, a chunk at a time.
fn read_current(tx: &mut dyn SqlTx, preconditions: &[Precondition]) -> Result<Current> {
    let lock = for_update(tx);
    let mut jobs = Vec::new();
    let mut devices = Vec::new();
    let mut workers = Vec::new();
    for p in preconditions {
        match p {
            Precondition::JobState(id, _) => jobs.push(Param::Int(*id)),
            Precondition::DeviceState(h, _) | Precondition::DeviceHealth(h, _) => {
                devices.push(Param::Text(h))
            }
            Precondition::WorkerState(h, _) | Precondition::WorkerHealth(h, _) => {
                workers.push(Param::Text(h))
            }
        }
    }
    let mut current = Current::default();
    let what = || "a precondition row".to_owned();
    let sql = format!("SELECT id, state FROM jobs WHERE id IN ({{keys}}){lock}");
    for row in query_in(tx, &sql, &jobs)? {
        let mut c = Cols::new(row, &what);
        current.jobs.insert(c.int()?, c.int()?);
    }
    let sql =
        format!("SELECT hostname, state, health FROM devices WHERE hostname IN ({{keys}}){lock}");
    for row in query_in(tx, &sql, &devices)? {
        let mut c = Cols::new(row, &what);
        current.devices.insert(c.text()?, (c.int()?, c.int()?));
    }
    let sql =
        format!("SELECT hostname, state, health FROM workers WHERE hostname IN ({{keys}}){lock}");
    for row in query_in(tx, &sql, &workers)? {
        let mut c = Cols::new(row, &what);
        current.workers.insert(c.text()?, (c.int()?, c.int()?));
    }
    Ok(current)
}

/// Checks one precondition against the rows read by [`read_current`].
fn check(current: &Current, p: &Precondition) -> Result<()> {
    let (found, expected, object) = match p {
        Precondition::JobState(id, s) => {
            (current.jobs.get(id).copied(), s.code(), format!("job {id}"))
        }
        Precondition::DeviceState(h, s) => (
            current.devices.get(h).map(|c| c.0),
            s.code(),
            format!("device {h}"),
        ),
        Precondition::DeviceHealth(h, s) => (
            current.devices.get(h).map(|c| c.1),
            s.code(),
            format!("device {h}"),
        ),
        Precondition::WorkerState(h, s) => (
            current.workers.get(h).map(|c| c.0),
            s.code(),
            format!("worker {h}"),
        ),
        Precondition::WorkerHealth(h, s) => (
            current.workers.get(h).map(|c| c.1),
            s.code(),
            format!("worker {h}"),
        ),
    };
    let Some(found) = found else {
        return Err(StoreError::Conflict(format!(
            "expected {p}, but {object} does not exist"
        )));
    };
    if found == i64::from(expected) {
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
    let current = read_current(tx, &changes.preconditions)?;
    for p in &changes.preconditions {
        check(&current, p)?;
    }
    let mut known = Known::default();
    let mut applied = Applied::default();
    for (index, job) in changes.new_jobs.iter().enumerate() {
        applied
            .new_jobs
            .push(insert_job(tx, &mut known, job, index)?);
    }
    write_jobs(tx, &mut known, &changes.jobs)?;
    write_devices(tx, &mut known, &changes.devices)?;
    for worker in &changes.workers {
        update_worker(tx, worker)?;
    }
    for end in &changes.ends {
        let n = tx.execute(
            "UPDATE jobs SET end_processed = ?, end_description = ?, end_processed_at = ? \
             WHERE id = ?",
            &[
                Param::Bool(true),
                end.description.as_ref().into(),
                Param::Int(end.at.0),
                Param::Int(end.job),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("job {}", end.job)));
        }
    }
    for (job, case) in &changes.test_cases {
        super::add_test_cases(tx, *job, std::slice::from_ref(case))?;
    }
    for (job, log) in &changes.logs {
        super::set_job_log(tx, *job, log)?;
    }
    Ok(applied)
}

pub(crate) fn scheduler_snapshot(tx: &mut dyn SqlTx) -> Result<SchedulerSnapshot> {
    let device_types = device_types(tx)?;
    let devices = devices(tx)?;
    let workers = workers(tx)?;
    // The queue, and every sub-job of a multinode group with a member in it: a sub-job that
    // already left the queue (Finished, Canceling) keeps the group from starting.
    let queued = state_list(&[JobState::Submitted, JobState::Scheduling]);
    // A UNION of two index searches: an OR would scan the whole job history.
    let condition = format!(
        "jobs.id IN (SELECT id FROM jobs WHERE state IN ({queued}) \
         UNION SELECT member.id FROM jobs AS queued \
         JOIN jobs AS member ON member.target_group = queued.target_group \
         WHERE queued.state IN ({queued}))"
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
