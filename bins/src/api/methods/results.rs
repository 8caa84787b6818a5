//! `results.*`.

use super::jobs::can_view;
use super::Call;
use crate::api::fault::{codes, Fault};
use crate::api::value::Value;

pub(super) async fn get_testjob_results_yaml(call: &Call<'_>) -> Result<Value, Fault> {
    let p = &call.params;
    p.at_most(1)?;
    call.authenticated()?;
    let id = p.job_id(0)?;
    let job = call
        .backend
        .job(id)
        .await?
        .ok_or_else(|| Fault::not_found("Specified job not found."))?;
    if !can_view(call, &job) {
        // LAVA answers 401 here, not 403.
        return Err(Fault::new(
            codes::AUTH_REQUIRED,
            format!("Permission denied for user to job {id}"),
        ));
    }
    Ok(Value::String(call.backend.job_results_yaml(id).await?))
}
