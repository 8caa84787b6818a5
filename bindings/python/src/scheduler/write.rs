//! A pass's decisions as plain Python data.

use lava_core::scheduler::{Decisions, Phase, WaitReason};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// One reason as a dict: `job`, `reason` (its kind), `message` (the text for people) and
/// the numbers of its kind.
fn waiting_job<'py>(
    py: Python<'py>,
    job: i64,
    reason: &WaitReason,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("job", job)?;
    d.set_item("reason", reason.kind())?;
    d.set_item("message", reason.to_string())?;
    match reason {
        WaitReason::LegacyJson => {}
        WaitReason::NoDevice { device_type } | WaitReason::DeviceTypeHidden { device_type } => {
            d.set_item("device_type", &**device_type)?;
        }
        WaitReason::NoDeviceWithTags { device_type, tags } => {
            d.set_item("device_type", &**device_type)?;
            d.set_item("tags", tags.to_vec())?;
        }
        WaitReason::NotAllowed {
            device_type,
            submitter,
            devices,
        } => {
            d.set_item("device_type", &**device_type)?;
            d.set_item("submitter", submitter)?;
            d.set_item("devices", devices)?;
        }
        WaitReason::NoVlanInterfaces {
            device_type,
            devices,
        } => {
            d.set_item("device_type", &**device_type)?;
            d.set_item("devices", devices)?;
        }
        WaitReason::AllDevicesBusy {
            device_type,
            busy,
            position,
            higher_priority_ahead,
        } => {
            d.set_item("device_type", &**device_type)?;
            d.set_item("busy", busy)?;
            d.set_item("position", position)?;
            d.set_item("higher_priority_ahead", higher_priority_ahead)?;
        }
        WaitReason::WorkersUnavailable {
            device_type,
            offline,
            at_job_limit,
        } => {
            d.set_item("device_type", &**device_type)?;
            d.set_item("offline", offline)?;
            d.set_item("at_job_limit", at_job_limit)?;
        }
        WaitReason::DevicesNotGood {
            device_type,
            health,
        } => {
            d.set_item("device_type", &**device_type)?;
            let counts = PyDict::new(py);
            for (h, n) in health.iter() {
                counts.set_item(h.name(), n)?;
            }
            d.set_item("health", counts)?;
        }
        WaitReason::NotOffered { device_type, free } => {
            d.set_item("device_type", &**device_type)?;
            d.set_item("free", free)?;
        }
        WaitReason::MultinodeGroupIncomplete {
            group,
            waiting_roles,
            blocking,
        } => {
            d.set_item("group", &**group)?;
            d.set_item("waiting_roles", waiting_roles.to_vec())?;
            let blocking: Vec<(i64, &str)> = blocking
                .iter()
                .map(|(id, state)| (*id, state.name()))
                .collect();
            d.set_item("blocking", blocking)?;
        }
        WaitReason::MultinodeGroupCannotStart { group, why } => {
            d.set_item("group", &**group)?;
            d.set_item("why", &**why)?;
        }
    }
    Ok(d)
}

/// The decisions as a dict of lists (see `scheduler.pyi`).
pub fn decisions<'py>(py: Python<'py>, decisions: &Decisions) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let assignments = PyList::empty(py);
    for a in &decisions.assignments {
        let d = PyDict::new(py);
        d.set_item("job", a.job)?;
        d.set_item("device", a.device.as_deref())?;
        d.set_item("state", a.state.name())?;
        assignments.append(d)?;
    }
    out.set_item("assignments", assignments)?;
    let checks = PyList::empty(py);
    for c in &decisions.health_checks {
        let d = PyDict::new(py);
        d.set_item("device", &c.device)?;
        d.set_item("device_type", &c.device_type)?;
        d.set_item("definition", &c.definition)?;
        d.set_item("reason", c.reason.describe())?;
        checks.append(d)?;
    }
    out.set_item("health_checks", checks)?;
    let health = PyList::empty(py);
    for h in &decisions.device_health {
        let d = PyDict::new(py);
        d.set_item("device", &h.device)?;
        d.set_item("from", h.from.name())?;
        d.set_item("to", h.to.name())?;
        d.set_item("reason", h.reason)?;
        d.set_item("detail", h.detail.as_deref())?;
        health.append(d)?;
    }
    out.set_item("device_health", health)?;
    let groups = PyList::empty(py);
    for g in &decisions.waiting_groups {
        let d = PyDict::new(py);
        d.set_item("group", &g.group)?;
        d.set_item("reserved", g.reserved.clone())?;
        d.set_item("waiting", g.waiting.clone())?;
        let blocking: Vec<(i64, &str)> = g
            .blocking
            .iter()
            .map(|(id, state)| (*id, state.name()))
            .collect();
        d.set_item("blocking", blocking)?;
        groups.append(d)?;
    }
    out.set_item("waiting_groups", groups)?;
    let started = PyList::empty(py);
    for g in &decisions.started_groups {
        let d = PyDict::new(py);
        d.set_item("group", &g.group)?;
        // As LAVA writes them into protocols.lava-multinode.roles: job ids as str.
        let roles = PyDict::new(py);
        for (id, role) in &g.roles {
            roles.set_item(id.to_string(), role)?;
        }
        d.set_item("roles", roles)?;
        started.append(d)?;
    }
    out.set_item("started_groups", started)?;
    let released = PyList::empty(py);
    for r in &decisions.released {
        let d = PyDict::new(py);
        d.set_item("job", r.job)?;
        d.set_item("device", &r.device)?;
        d.set_item("group", &r.group)?;
        d.set_item("reason", &r.reason)?;
        released.append(d)?;
    }
    out.set_item("released", released)?;
    let available = PyDict::new(py);
    for (device_type, hostnames) in &decisions.available_devices {
        available.set_item(device_type, hostnames.clone())?;
    }
    out.set_item("available_devices", available)?;
    let skipped = PyList::empty(py);
    for s in &decisions.skipped_devices {
        let d = PyDict::new(py);
        d.set_item("device", &s.device)?;
        d.set_item("worker", &s.worker)?;
        d.set_item("busy", s.busy)?;
        d.set_item("job_limit", s.job_limit)?;
        d.set_item(
            "phase",
            match s.phase {
                Phase::HealthChecks => "health_checks",
                Phase::Jobs => "jobs",
            },
        )?;
        skipped.append(d)?;
    }
    out.set_item("skipped_devices", skipped)?;
    let waiting = PyList::empty(py);
    for w in &decisions.waiting_jobs {
        waiting.append(waiting_job(py, w.job, &w.reason)?)?;
    }
    out.set_item("waiting_jobs", waiting)?;
    Ok(out)
}
