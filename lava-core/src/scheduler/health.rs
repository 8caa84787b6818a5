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
