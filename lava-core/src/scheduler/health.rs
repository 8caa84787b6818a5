//! When a device is due for a health check.

use crate::model::{Device, DeviceHealth, DeviceType, HealthDenominator, JobId};
use crate::time::Timestamp;

/// What the store knows about a device's last health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastHealthCheck {
    /// The health-check job (`Device.last_health_report_job`).
    pub job: JobId,
    /// When that job was submitted: LAVA measures the frequency from the submission.
    pub submit_time: Timestamp,
    /// Non-health-check jobs started on the device since that submit time.
    pub jobs_since: u32,
}

/// Why a health check is due, for the admin log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DueReason {
    /// The device's health is Unknown.
    HealthUnknown,
    /// The device is Looping: it runs health checks back to back.
    Looping,
    /// The device never reported a health check.
    NeverChecked,
    /// The last check is older than the type's frequency in hours.
    HoursElapsed,
    /// The type's frequency in jobs ran since the last check.
    JobsElapsed,
}

impl DueReason {
    /// A short text for logs.
    pub const fn describe(self) -> &'static str {
        match self {
            DueReason::HealthUnknown => "device health is Unknown",
            DueReason::Looping => "device is Looping",
            DueReason::NeverChecked => "device never ran a health check",
            DueReason::HoursElapsed => "health-check frequency (hours) elapsed",
            DueReason::JobsElapsed => "health-check frequency (jobs) reached",
        }
    }
}

/// Whether `device` of type `device_type` needs a health check at `now`, and why.
pub fn health_check_due(
    device: &Device,
    device_type: &DeviceType,
    last: Option<&LastHealthCheck>,
    now: Timestamp,
) -> Option<DueReason> {
    match device.health {
        DeviceHealth::Unknown => return Some(DueReason::HealthUnknown),
        DeviceHealth::Looping => return Some(DueReason::Looping),
        _ => {}
    }
    let last = match (device.last_health_report_job, last) {
        (Some(_), Some(last)) => last,
        _ => return Some(DueReason::NeverChecked),
    };
    let frequency = i64::from(device_type.health_frequency);
    match device_type.health_denominator {
        HealthDenominator::Jobs => {
            (i64::from(last.jobs_since) >= frequency).then_some(DueReason::JobsElapsed)
        }
        // Strictly after, as LAVA compares `submit_time + frequency < now`.
        HealthDenominator::Hours => (last.submit_time.add_secs(frequency.saturating_mul(3600))
            < now)
            .then_some(DueReason::HoursElapsed),
    }
}

/// Why LAVA would fail to create a health-check job from `definition`, if it would: then
/// the device goes Bad ("Invalid health check") instead of running it.
///
/// These are the checks LAVA 2020.05 makes when it creates the job (`_create_pipeline_job`,
/// not the submission schema): the text is YAML, a mapping, with `job_name` (whose text
/// fits the 200 characters of `TestJob.description`) and `visibility`, and a `priority`, if
/// any, that is an integer within 0..100 or one of `low`, `medium`, `high`. (LAVA also
/// refuses `visibility: {group: [...]}` naming no existing group; the scheduler does not
/// know the lab's groups and leaves that to the job's creation.)
pub fn health_check_problem(definition: &str) -> Option<String> {
    use crate::job::yaml::{self, Value};
    // Read as LAVA reads it (PyYAML's safe loader): types, repeated keys and merge keys
    // come out as in Python.
    let tree = match yaml::parse(definition) {
        Ok(tree) => tree,
        Err(e) => {
            let line = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            return Some(format!("not valid YAML: {}{line}", e.message));
        }
    };
    if tree.as_map().is_none() {
        return Some(format!("expected a mapping, found {}", tree.value.kind()));
    }
    let Some(job_name) = tree.get("job_name") else {
        return Some("job_name: missing".into());
    };
    if tree.get("visibility").is_none() {
        return Some("visibility: missing".into());
    }
    if let Value::String(name) = &job_name.value {
        let length = name.chars().count();
        if length > 200 {
            return Some(format!(
                "job_name: {length} characters, more than the 200 LAVA stores"
            ));
        }
    }
    match tree.get("priority").map(|p| &p.value) {
        // Python's bool is an int: `priority: yes` is 1.
        None | Some(Value::Bool(_)) => None,
        Some(Value::Int(n)) if (0..=100).contains(n) => None,
        Some(Value::Int(n)) => Some(format!("priority: {n} is not within 0..100")),
        Some(Value::BigInt(n)) => Some(format!("priority: {n} is not within 0..100")),
        Some(Value::String(s)) if crate::model::Priority::from_name(s).is_some() => None,
        Some(Value::String(s)) => Some(format!(
            "priority: expected 0..100, low, medium or high, found {s:?}"
        )),
        Some(other) => Some(format!(
            "priority: expected 0..100, low, medium or high, found {}",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str =
        "job_name: hc\nvisibility: public\ntimeouts: {job: {minutes: 5}}\nactions: []\n";

    #[test]
    fn lavas_creation_checks() {
        assert_eq!(health_check_problem(VALID), None);
        // Nothing beyond what LAVA checks when it creates the job: no timeouts is fine.
        assert_eq!(
            health_check_problem("job_name: x\nvisibility: personal\n"),
            None
        );
        assert_eq!(
            health_check_problem("job_name: x\nvisibility: public\npriority: HIGH\n"),
            None
        );
        assert_eq!(
            health_check_problem("job_name: x\nvisibility: public\npriority: yes\n"),
            None
        );
        // PyYAML keeps the last of repeated keys, and reads JSON.
        assert_eq!(
            health_check_problem("job_name: x\njob_name: y\nvisibility: public\n"),
            None
        );
        assert_eq!(
            health_check_problem(r#"{"job_name": "x", "visibility": {"group": ["lab"]}}"#),
            None
        );
        assert_eq!(
            health_check_problem("job_name: x\nvisibility: ~\n"),
            None,
            "a null visibility is present: LAVA accepts it"
        );
        for (text, problem) in [
            ("job_name: [unclosed\n", "not valid YAML"),
            ("- a list\n", "expected a mapping, found a list"),
            ("", "expected a mapping, found null"),
            ("visibility: public\n", "job_name: missing"),
            ("job_name: x\n", "visibility: missing"),
            (
                "job_name: x\nvisibility: public\npriority: 101\n",
                "priority: 101",
            ),
            (
                "job_name: x\nvisibility: public\npriority: urgent\n",
                "\"urgent\"",
            ),
            (
                "job_name: x\nvisibility: public\npriority: 5.5\n",
                "a float",
            ),
            ("job_name: x\nvisibility: public\npriority:\n", "null"),
        ] {
            let found = health_check_problem(text);
            assert!(
                found.as_deref().is_some_and(|p| p.contains(problem)),
                "{text:?}: {found:?}"
            );
        }
        let long = format!("job_name: {}\nvisibility: public\n", "x".repeat(201));
        assert!(health_check_problem(&long).is_some());
    }
}
