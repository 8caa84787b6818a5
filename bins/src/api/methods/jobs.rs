//! `scheduler.jobs.*`, `scheduler.submit_job` and `scheduler.cancel_job`.

use super::Call;
use crate::api::backend::{BackendError, JobQuery, Submitted};
use crate::api::fault::Fault;
use crate::api::value::{python_datetime_str, StructBuilder, Value};
use lava_core::model::{Job, JobHealth, JobState};
use lava_core::time::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// LAVA caps one page of `scheduler.jobs.list` at 100 jobs.
const MAX_PAGE: i64 = 100;

/// Whether the caller may see a job: public jobs, their own, or any job for admins.
pub(super) fn can_view(call: &Call<'_>, job: &Job) -> bool {
    job.is_public
        || call
            .user
            .as_ref()
            .is_some_and(|u| u.is_admin || u.username == job.submitter)
}

/// Whether the caller may cancel a job: its submitter or an admin.
fn can_change(call: &Call<'_>, job: &Job) -> bool {
    call.user
        .as_ref()
        .is_some_and(|u| u.is_admin || u.username == job.submitter)
}

/// The job named by argument `index`, if it exists and the caller may see it.
async fn visible_job(call: &Call<'_>, index: usize) -> Result<Job, Fault> {
    let id = call.params.job_id(index)?;
    let job = call
        .backend
        .job(id)
        .await?
        .ok_or_else(|| Fault::not_found(format!("Job '{id}' was not found.")))?;
    if !can_view(call, &job) {
        return Err(Fault::forbidden(format!(
            "Job '{id}' not available to user '{}'.",
            call.who()
        )));
    }
    Ok(job)
}

/// The job's description: `job_name` in its definition, as LAVA stores it at submission.
pub(super) fn description(job: &Job) -> Value {
    #[derive(serde::Deserialize)]
    struct Head {
        job_name: Option<String>,
    }
    serde_saphyr::from_str::<Head>(&job.definition)
        .ok()
        .and_then(|h| h.job_name)
        .map_or(Value::Nil, Value::String)
}

pub(super) async fn submit(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let user = call.authenticated()?;
    let definition = p.text(0, "definition")?;
    match call.backend.submit_job(user, &definition).await {
        Ok(Submitted::Job(id)) => Ok(Value::Int(id)),
        Ok(Submitted::Multinode(ids)) => Ok(Value::str_array(ids)),
        Err(BackendError::NotFound(_)) => Err(Fault::not_found(
            "Specified device or device type not found.",
        )),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn cancel(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let user = call.authenticated()?;
    match p.get(0) {
        None | Some(Value::Int(0)) => {
            return Err(Fault::bad_request(
                "Bad request: TestJob id was not specified.",
            ))
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(Fault::bad_request(
                "Bad request: TestJob id was not specified.",
            ))
        }
        Some(_) => {}
    }
    let job = visible_job(call, 0).await?;
    if !can_change(call, &job) {
        return Err(Fault::forbidden("Permission denied."));
    }
    call.backend.cancel_job(job.id, user).await?;
    Ok(Value::Bool(true))
}

pub(super) async fn list(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(6)?;
    let state = match p.opt_string(0, "state")?.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            JobState::from_name(&s)
                .ok_or_else(|| Fault::bad_request(format!("Invalid state '{s}'")))?,
        ),
    };
    let health = match p.opt_string(1, "health")?.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            JobHealth::from_name(&s)
                .ok_or_else(|| Fault::bad_request(format!("Invalid health '{s}'")))?,
        ),
    };
    let start = p.opt_int(2, "start")?.unwrap_or(0).max(0);
    let limit = p.opt_int(3, "limit")?.unwrap_or(25).clamp(0, MAX_PAGE);
    let since = p.opt_int(4, "since")?.unwrap_or(0);
    let verbose = p.bool_or(5, "verbose", false)?;
    let ended_since = (since > 0).then(|| now().add_secs(-since.saturating_mul(60)));
    let query = JobQuery {
        state,
        health,
        ended_since,
        start: usize::try_from(start).unwrap_or(usize::MAX),
        limit: usize::try_from(limit).unwrap_or(0),
        viewer: call.user.clone(),
    };
    let jobs = call.backend.jobs(&query).await?;
    Ok(Value::Array(
        jobs.iter()
            .map(|job| {
                let item = StructBuilder::new()
                    .field("id", Value::Int(job.id))
                    .field("description", description(job))
                    .field(
                        "device_type",
                        Value::opt_str(job.requested_device_type.clone()),
                    )
                    .field("health", Value::str(job.health.name()))
                    .field("state", Value::str(job.state.name()))
                    .field("submitter", Value::str(&job.submitter));
                if !verbose {
                    return item.build();
                }
                item.field("actual_device", Value::opt_str(job.actual_device.clone()))
                    .field(
                        "start_time",
                        Value::opt_str(job.start_time.map(python_datetime_str)),
                    )
                    .field(
                        "end_time",
                        Value::opt_str(job.end_time.map(python_datetime_str)),
                    )
                    // Taken from the `lava.job` test case's metadata, which the store does
                    // not expose to the API yet.
                    .field("error_msg", Value::Nil)
                    .field("error_type", Value::Nil)
                    .build()
            })
            .collect(),
    ))
}

pub(super) async fn show(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let job = visible_job(call, 0).await?;
    Ok(StructBuilder::new()
        .field("id", Value::Int(job.id))
        .field("description", description(&job))
        .field("device", Value::opt_str(job.actual_device.clone()))
        .field(
            "device_type",
            Value::opt_str(job.requested_device_type.clone()),
        )
        .field("health_check", Value::Bool(job.health_check))
        .field("pipeline", Value::Bool(true))
        .field("health", Value::str(job.health.name()))
        .field("state", Value::str(job.state.name()))
        .field("submitter", Value::str(&job.submitter))
        .field("submit_time", Value::datetime(job.submit_time))
        .field("start_time", Value::opt_datetime(job.start_time))
        .field("end_time", Value::opt_datetime(job.end_time))
        .field("tags", Value::str_array(&job.tags))
        .field(
            "visibility",
            Value::str(if job.is_public { "Public" } else { "Personal" }),
        )
        .field(
            "failure_comment",
            Value::opt_str(job.failure_comment.clone()),
        )
        .build())
}

pub(super) async fn definition(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let job = visible_job(call, 0).await?;
    Ok(Value::String(job.definition))
}

pub(super) async fn logs(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(3)?;
    let job = visible_job(call, 0).await?;
    let start = p.opt_int(1, "start")?.unwrap_or(0);
    let end = p.opt_int(2, "end")?;
    let to_line = |n: i64, name: &str| {
        usize::try_from(n).map_err(|_| Fault::bad_request(format!("Invalid {name} line: {n}")))
    };
    let start = to_line(start, "start")?;
    let end = end.map(|e| to_line(e, "end")).transpose()?;
    let finished = job.state == JobState::Finished;
    let text = call.backend.job_logs(job.id, start, end).await?;
    Ok(Value::Array(vec![
        Value::Bool(finished),
        Value::binary_text(&text),
    ]))
}

pub(super) async fn validate(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(2)?;
    let definition = p.text(0, "definition")?;
    let strict = p.bool_or(1, "strict", false)?;
    Ok(
        match call.backend.validate_job(&definition, strict).await? {
            None => Value::Struct(Vec::new()),
            Some(issue) => StructBuilder::new()
                .field("path", Value::String(issue.path))
                .field("msg", Value::String(issue.message))
                .build(),
        },
    )
}

/// The wall clock, for `since` (minutes before now) in `scheduler.jobs.list`.
fn now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    Timestamp(micros)
}
