//! `scheduler.jobs.*`, `scheduler.submit_job` and `scheduler.cancel_job`.

use super::Call;
use crate::fault::Fault;
use crate::value::{python_datetime_str, StructBuilder, Value};
use lava_core::model::{Job, JobHealth, JobState};
use lava_lab::{JobQuery, JobWait, LabError};

/// LAVA caps one page of `scheduler.jobs.list` at 100 jobs.
const MAX_PAGE: i64 = 100;

/// The job named by argument `index`, if it exists and the caller may see it.
async fn visible_job(call: &Call<'_>, index: usize) -> Result<Job, Fault> {
    let id = call.params.job_id(index)?;
    let job = match call.lab.job(id).await {
        Err(LabError::NotFound(_)) => {
            return Err(Fault::not_found(format!("Job '{id}' was not found.")))
        }
        other => other?,
    };
    if !call.lab.may_view(&job, call.user.as_ref()).await? {
        return Err(Fault::forbidden(format!(
            "Job '{id}' not available to user '{}'.",
            call.who()
        )));
    }
    Ok(job)
}

/// The job's description: `job_name` in its definition, as LAVA stores it at submission.
pub(super) fn description(job: &Job) -> Value {
    job_name(&job.definition).map_or(Value::Nil, Value::String)
}

#[derive(serde::Deserialize)]
struct JobNameOnly {
    job_name: Option<String>,
}

/// `job_name` of a definition. Parsing a whole definition costs far more than the rest of
/// a `jobs.show`, so a block-style top-level `job_name:` line whose value fits on that line
/// is parsed alone; anything else (flow style, block scalars, aliases) takes a full parse.
pub(super) fn job_name(definition: &str) -> Option<String> {
    let mut lines = definition.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("job_name:") {
            continue;
        }
        let continues = lines
            .next()
            .is_some_and(|next| next.starts_with([' ', '\t']));
        if !continues {
            if let Ok(head) = serde_saphyr::from_str::<JobNameOnly>(line) {
                return head.job_name;
            }
        }
        break;
    }
    serde_saphyr::from_str::<JobNameOnly>(definition)
        .ok()
        .and_then(|h| h.job_name)
}

pub(super) async fn submit(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    let user = call.authenticated()?;
    let definition = p.text(0, "definition")?;
    match call.lab.submit(&definition, &user.username).await {
        // LAVA answers `12.0, 12.1, …` for a multinode group; lava-rs does not look sub-ids
        // up (docs/api.md), so each sub-job is answered by the id that `jobs show` and
        // `jobs cancel` take.
        Ok(submitted) if submitted.multinode => Ok(Value::str_array(
            submitted.ids.iter().map(ToString::to_string),
        )),
        Ok(submitted) => match submitted.ids.first() {
            Some(id) => Ok(Value::Int(*id)),
            None => Err(Fault::internal("the store created no job")),
        },
        Err(LabError::NotFound(_)) => Err(Fault::not_found(
            "Specified device or device type not found.",
        )),
        Err(LabError::JobDefinition(e)) if e.path == "(document)" => Err(Fault::bad_request(
            format!("Decoding job submission failed: {}.", e.message),
        )),
        // LAVA's words (the message names the path as voluptuous does), then the line.
        Err(LabError::JobDefinition(e)) => {
            let line = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            Err(Fault::bad_request(format!(
                "Problem with submitted job data: {}{line}",
                e.message
            )))
        }
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
    if !call.lab.may_cancel(&job, user).await? {
        return Err(Fault::forbidden("Permission denied."));
    }
    call.lab.cancel(job.id, user).await?;
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
    let ended_since = (since > 0).then(|| call.lab.now().add_secs(-since.saturating_mul(60)));
    let query = JobQuery {
        state,
        health,
        ended_since,
        start: usize::try_from(start).unwrap_or(usize::MAX),
        limit: Some(usize::try_from(limit).unwrap_or(0)),
        viewer: call.user.clone(),
    };
    let jobs = call.lab.jobs(&query).await?;
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
    // lava-rs' own field, after LAVA's: lavacli prints the fields it knows and ignores
    // the others.
    let waiting_reason = match call.lab.why_job(&job).await? {
        JobWait::NotQueued(_) => Value::Nil,
        why => Value::String(why.to_string()),
    };
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
        .field("waiting_reason", waiting_reason)
        .build())
}

/// `scheduler.jobs.why(job_id)` (lava-rs only): why the job is still waiting, as
/// `{id, state, reason, message}`; `reason` is a stable identifier (`all_devices_busy`,
/// `starts`, `not_queued`, …), `message` the sentence for people.
pub(super) async fn why(call: &Call<'_>) -> Result<Value, Fault> {
    call.params.at_most(1)?;
    let job = visible_job(call, 0).await?;
    let why = call.lab.why_job(&job).await?;
    let state = match &why {
        JobWait::NotQueued(state) => *state,
        _ => job.state,
    };
    Ok(StructBuilder::new()
        .field("id", Value::Int(job.id))
        .field("state", Value::str(state.name()))
        .field("reason", Value::str(why.kind()))
        .field("message", Value::String(why.to_string()))
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
    let count = end.map_or(u64::MAX, |end| end.saturating_sub(start) as u64);
    let lines = call.lab.job_log(&job, start as u64, count).await?;
    // Each record goes back into output.yaml's form, a YAML list item.
    let text: String = lines.iter().map(|line| format!("- {line}\n")).collect();
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
    // LAVA answers with its dispatcher-side schema here, not with the submission checks.
    Ok(match call.lab.schema_issue(&definition, strict) {
        Ok(None) => Value::Struct(Vec::new()),
        Ok(Some(issue)) => {
            let message = match issue.line {
                Some(line) => format!("{} (line {line})", issue.message),
                None => issue.message,
            };
            StructBuilder::new()
                .field("path", Value::String(issue.path))
                .field("msg", Value::String(message))
                .build()
        }
        Err(LabError::JobDefinition(e)) => {
            return Err(Fault::bad_request(format!(
                "Decoding job submission failed: {}.",
                e.message
            )))
        }
        Err(e) => return Err(e.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::job_name;

    #[test]
    fn job_names() {
        let body = "device_type: qemu\nactions: []\n";
        assert_eq!(
            job_name(&format!("job_name: smoke\n{body}")).as_deref(),
            Some("smoke")
        );
        assert_eq!(
            job_name(&format!("{body}job_name: 'a: b' # c\n")).as_deref(),
            Some("a: b")
        );
        assert_eq!(
            job_name(&format!("job_name: >\n  folded\n  name\n{body}")).as_deref(),
            Some("folded name\n")
        );
        assert_eq!(
            job_name("{job_name: flow, device_type: qemu}").as_deref(),
            Some("flow")
        );
        assert_eq!(
            job_name(&format!("x: &n aliased\njob_name: *n\n{body}")).as_deref(),
            Some("aliased")
        );
        assert_eq!(job_name(body), None);
        assert_eq!(job_name("job_name: [unclosed"), None);
    }
}
