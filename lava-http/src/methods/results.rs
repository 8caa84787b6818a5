//! `results.*`.

use super::Call;
use crate::fault::{codes, Fault};
use crate::value::Value;
use lava_core::model::JobId;
use lava_lab::LabError;
use lava_store::TestCase;
use std::collections::BTreeMap;

pub(super) async fn get_testjob_results_yaml(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    call.authenticated()?;
    let id = p.job_id(0)?;
    let job = match call.lab.job(id).await {
        Err(LabError::NotFound(_)) => return Err(Fault::not_found("Specified job not found.")),
        other => other?,
    };
    if !call.lab.may_view(&job, call.user.as_ref()).await? {
        // LAVA answers 401 here, not 403.
        return Err(Fault::new(
            codes::AUTH_REQUIRED,
            format!("Permission denied for user to job {id}"),
        ));
    }
    let cases = call.lab.test_cases(id).await?;
    if cases.is_empty() {
        return Ok(Value::str("[]\n"));
    }
    let entries: Vec<_> = cases.iter().map(|c| test_case_entry(id, c)).collect();
    serde_saphyr::to_string(&entries)
        .map(Value::String)
        .map_err(|e| Fault::internal(format!("cannot write the results of job {id}: {e}")))
}

/// One test case as `results.get_testjob_results_yaml` lists it.
fn test_case_entry(job: JobId, case: &TestCase) -> BTreeMap<&'static str, serde_json::Value> {
    use serde_json::Value;
    let text = |s: String| Value::String(s);
    let line = |l: Option<u64>| l.map_or(Value::Null, |l| Value::String(l.to_string()));
    let metadata = case.metadata.as_deref().map_or(Value::Null, |m| {
        serde_saphyr::from_str::<Value>(m).unwrap_or_else(|_| Value::String(m.to_owned()))
    });
    let level = metadata
        .get("level")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    BTreeMap::from([
        ("job", text(job.to_string())),
        ("suite", text(case.suite.clone())),
        ("name", text(case.name.clone())),
        ("result", text(case.result.name().to_owned())),
        (
            "measurement",
            text(
                case.measurement
                    .clone()
                    .unwrap_or_else(|| "None".to_owned()),
            ),
        ),
        ("unit", text(case.units.clone())),
        ("level", text(level)),
        ("logged", text(case.logged.to_string())),
        ("log_start_line", line(case.start_log_line)),
        ("log_end_line", line(case.end_log_line)),
        ("metadata", metadata),
    ])
}
