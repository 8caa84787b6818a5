//! Legacy JSON submissions: the format of the dispatcher LAVA had before the pipeline.
//!
//! Such a job has a top-level integer `timeout` and actions of the form
//! `{"command": "deploy_linaro_image", "parameters": {…}}`. The pipeline documentation says
//! they are accepted and kept, but never run on pipeline devices: they stay Submitted until
//! someone cancels them.

use super::LegacyJob;
use serde_json::Value;

/// Why a legacy job never runs.
pub const LEGACY_REASON: &str = "legacy JSON job definition (the old dispatcher's format): \
     it is kept, but pipeline devices never run it; it stays Submitted until canceled. \
     Resubmit it as a YAML pipeline job.";

/// The legacy job in `text`, if `text` is one.
pub(super) fn recognise(text: &str) -> Option<LegacyJob> {
    // Pipeline YAML rarely starts with a brace; only then is JSON parsing worth it.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let Value::Object(job) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let old_actions = job
        .get("actions")
        .and_then(Value::as_array)
        .is_some_and(|actions| {
            actions
                .iter()
                .any(|a| a.get("command").is_some_and(Value::is_string))
        });
    let old_timeout =
        job.get("timeout").is_some_and(Value::is_number) && !job.contains_key("timeouts");
    (old_actions || old_timeout).then(|| LegacyJob {
        device_type: job
            .get("device_type")
            .and_then(Value::as_str)
            .map(str::to_owned),
        job_name: job
            .get("job_name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        reason: LEGACY_REASON,
    })
}

/// Why the job with this stored definition will never be scheduled, if it is a legacy job.
pub fn legacy_reason(definition: &str) -> Option<&'static str> {
    recognise(definition).map(|job| job.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_dispatcher_json_is_legacy() {
        let text = r#"{"job_name": "old", "device_type": "panda", "timeout": 900,
            "actions": [{"command": "deploy_linaro_image", "parameters": {"image": "x"}}]}"#;
        let job = recognise(text).unwrap();
        assert_eq!(job.device_type.as_deref(), Some("panda"));
        assert_eq!(legacy_reason(text), Some(LEGACY_REASON));
    }

    #[test]
    fn pipeline_job_written_as_json_is_not_legacy() {
        let text = r#"{"job_name": "new", "device_type": "qemu", "visibility": "public",
            "timeouts": {"job": {"minutes": 5}},
            "actions": [{"command": {"name": "pre_power_command"}}]}"#;
        assert_eq!(recognise(text), None);
        assert_eq!(legacy_reason("job_name: x\n"), None);
    }
}
