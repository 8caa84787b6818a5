//! `lava_rs.scheduler`: one scheduling pass over a lab snapshot given as plain Python data.
//!
//! The snapshot is read from dicts or from objects with attributes (dataclasses, Django
//! model instances), so a Django caller can pass querysets' rows without copying them into
//! a schema first. States and healths are LAVA's names ("Idle") or database codes (0).

use std::collections::{BTreeSet, HashMap, HashSet};

use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobState,
    MultinodeMembership, Priority, Worker, WorkerHealth, WorkerState,
};
use lava_core::scheduler::{self, DeviceOrder, LabSnapshot, LastHealthCheck};
use lava_core::time::Timestamp;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::errors;

/// Reads fields of one snapshot item, naming `path.key` in every error.
struct Item<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    path: String,
}

impl<'py> Item<'_, 'py> {
    fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn err(&self, key: &str, message: &str) -> PyErr {
        errors::snapshot(self.obj.py(), &self.field_path(key), message)
    }

    /// The value of `key` (dict item or attribute), `None` when absent or None.
    fn get(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let value = if let Ok(dict) = self.obj.cast::<PyDict>() {
            dict.get_item(key)?
        } else if self.obj.hasattr(key)? {
            Some(self.obj.getattr(key)?)
        } else {
            None
        };
        Ok(value.filter(|v| !v.is_none()))
    }

    fn required(&self, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.get(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    fn extract<T: FromPyObjectOwned<'py>>(
        &self,
        key: &str,
        value: &Bound<'py, PyAny>,
        what: &str,
    ) -> PyResult<T> {
        value
            .extract::<T>()
            .map_err(|_| self.err(key, &format!("expected {what}")))
    }

    fn string(&self, key: &str) -> PyResult<String> {
        let value = self.required(key)?;
        self.extract(key, &value, "a str")
    }

    fn opt_string(&self, key: &str) -> PyResult<Option<String>> {
        match self.get(key)? {
            Some(value) => self.extract(key, &value, "a str or None").map(Some),
            None => Ok(None),
        }
    }

    fn int_or<T: FromPyObjectOwned<'py>>(&self, key: &str, default: T) -> PyResult<T> {
        match self.get(key)? {
            Some(value) => self.extract(key, &value, "an integer in range"),
            None => Ok(default),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> PyResult<bool> {
        match self.get(key)? {
            Some(value) => value.is_truthy(),
            None => Ok(default),
        }
    }

    fn tags(&self, key: &str) -> PyResult<BTreeSet<String>> {
        let Some(value) = self.get(key)? else {
            return Ok(BTreeSet::new());
        };
        if value.cast::<PyString>().is_ok() {
            return Err(self.err(key, "expected a list of tag names, not a str"));
        }
        let mut tags = BTreeSet::new();
        for tag in value
            .try_iter()
            .map_err(|_| self.err(key, "expected a list of tag names"))?
        {
            let tag = tag?;
            // A Django Tag object has a `name`; a plain list has strings.
            let name = match tag.extract::<String>() {
                Ok(name) => name,
                Err(_) => tag
                    .getattr("name")
                    .and_then(|n| n.extract::<String>())
                    .map_err(|_| self.err(key, "expected tag names"))?,
            };
            tags.insert(name);
        }
        Ok(tags)
    }

    /// A moment: float seconds since the epoch, or a `datetime` (aware, or naive UTC).
    fn time(&self, key: &str) -> PyResult<Option<Timestamp>> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        timestamp(&value).map(Some).map_err(|m| self.err(key, &m))
    }
}

fn timestamp(value: &Bound<'_, PyAny>) -> Result<Timestamp, String> {
    let secs: f64 = if let Ok(secs) = value.extract::<f64>() {
        secs
    } else if value.hasattr("utcoffset").unwrap_or(false) {
        let aware = value
            .call_method0("utcoffset")
            .map(|o| !o.is_none())
            .unwrap_or(false);
        let value = if aware {
            value.clone()
        } else {
            let utc = value
                .py()
                .import("datetime")
                .and_then(|m| m.getattr("timezone"))
                .and_then(|tz| tz.getattr("utc"))
                .map_err(|e| e.to_string())?;
            let kwargs = PyDict::new(value.py());
            kwargs.set_item("tzinfo", utc).map_err(|e| e.to_string())?;
            value
                .call_method("replace", (), Some(&kwargs))
                .map_err(|e| e.to_string())?
        };
        value
            .call_method0("timestamp")
            .and_then(|t| t.extract::<f64>())
            .map_err(|e| e.to_string())?
    } else {
        return Err("expected seconds since the epoch or a datetime".into());
    };
    if !secs.is_finite() || secs.abs() > 1e13 {
        return Err(format!("{secs} is not a usable time"));
    }
    Ok(Timestamp((secs * 1e6).round() as i64))
}

/// Reads a LAVA enum given by name ("Idle", case-insensitive) or database code (0).
macro_rules! lava_enum_field {
    ($item:expr, $key:expr, $ty:ty, $default:expr) => {{
        match $item.get($key)? {
            None => Ok($default),
            Some(value) => {
                let found = if let Ok(code) = value.extract::<i32>() {
                    <$ty>::from_code(code)
                } else if let Ok(name) = value.extract::<String>() {
                    <$ty>::from_name(&name)
                } else {
                    None
                };
                let names: Vec<&str> = <$ty>::ALL.iter().map(|v| v.name()).collect();
                found.ok_or_else(|| {
                    $item.err(
                        $key,
                        &format!("expected one of {} or its code", names.join(", ")),
                    )
                })
            }
        }
    }};
}

fn items<'py>(snapshot: &Item<'_, 'py>, key: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let Some(list) = snapshot.get(key)? else {
        return Ok(Vec::new());
    };
    let iter = list
        .try_iter()
        .map_err(|_| snapshot.err(key, "expected a list"))?;
    iter.collect()
}

fn device_type(item: &Item<'_, '_>) -> PyResult<DeviceType> {
    Ok(DeviceType {
        name: item.string("name")?,
        health_check_definition: item.opt_string("health_check_definition")?,
        health_frequency: item.int_or("health_frequency", 24u32)?,
        health_denominator: lava_enum_field!(
            item,
            "health_denominator",
            HealthDenominator,
            HealthDenominator::Hours
        )?,
        disable_health_check: item.bool_or("disable_health_check", false)?,
        display: item.bool_or("display", true)?,
        description: item.opt_string("description")?.unwrap_or_default(),
    })
}

fn device(item: &Item<'_, '_>) -> PyResult<Device> {
    Ok(Device {
        hostname: item.string("hostname")?,
        device_type: item.string("device_type")?,
        state: lava_enum_field!(item, "state", DeviceState, DeviceState::Idle)?,
        health: lava_enum_field!(item, "health", DeviceHealth, DeviceHealth::Good)?,
        worker: item.opt_string("worker")?,
        tags: item.tags("tags")?,
        last_health_report_job: item.int_or("last_health_report_job", None)?,
        description: item.opt_string("description")?.unwrap_or_default(),
    })
}

fn worker(item: &Item<'_, '_>) -> PyResult<Worker> {
    Ok(Worker {
        hostname: item.string("hostname")?,
        state: lava_enum_field!(item, "state", WorkerState, WorkerState::Online)?,
        health: lava_enum_field!(item, "health", WorkerHealth, WorkerHealth::Active)?,
        description: item.opt_string("description")?.unwrap_or_default(),
        job_limit: item.int_or("job_limit", 0u32)?,
        last_ping: item.time("last_ping")?,
        version: item.opt_string("version")?,
    })
}

fn priority(item: &Item<'_, '_>) -> PyResult<Priority> {
    let Some(value) = item.get("priority")? else {
        return Ok(Priority::MEDIUM);
    };
    let found = if let Ok(number) = value.extract::<i64>() {
        Priority::new(number)
    } else if let Ok(name) = value.extract::<String>() {
        Priority::from_name(&name)
    } else {
        None
    };
    found.ok_or_else(|| item.err("priority", "expected 0..100, low, medium or high"))
}

fn job(item: &Item<'_, '_>) -> PyResult<Job> {
    let multinode = match item.get("multinode")? {
        None => None,
        Some(value) => {
            let group = Item {
                obj: &value,
                path: item.field_path("multinode"),
            };
            Some(MultinodeMembership {
                group: group.string("group")?,
                role: group.string("role")?,
            })
        }
    };
    Ok(Job {
        id: item
            .int_or("id", None)?
            .ok_or_else(|| item.err("id", "missing"))?,
        submitter: item.opt_string("submitter")?.unwrap_or_default(),
        definition: item.opt_string("definition")?.unwrap_or_default(),
        state: lava_enum_field!(item, "state", JobState, JobState::Submitted)?,
        health: lava_enum_field!(item, "health", JobHealth, JobHealth::Unknown)?,
        priority: priority(item)?,
        submit_time: item.time("submit_time")?.unwrap_or_default(),
        start_time: item.time("start_time")?,
        end_time: item.time("end_time")?,
        requested_device_type: item.opt_string("requested_device_type")?,
        tags: item.tags("tags")?,
        multinode,
        health_check: item.bool_or("health_check", false)?,
        actual_device: item.opt_string("actual_device")?,
        failure_comment: item.opt_string("failure_comment")?,
        is_public: item.bool_or("is_public", true)?,
    })
}

fn read_list<'py, T>(
    snapshot: &Item<'_, 'py>,
    key: &str,
    read: impl Fn(&Item<'_, 'py>) -> PyResult<T>,
) -> PyResult<Vec<T>> {
    items(snapshot, key)?
        .iter()
        .enumerate()
        .map(|(index, obj)| {
            read(&Item {
                obj,
                path: format!("{key}[{index}]"),
            })
        })
        .collect()
}

fn lab_snapshot(obj: &Bound<'_, PyAny>) -> PyResult<LabSnapshot> {
    let root = Item {
        obj,
        path: String::new(),
    };
    let device_types = read_list(&root, "device_types", device_type)?;
    let devices = read_list(&root, "devices", device)?;
    let workers = read_list(&root, "workers", worker)?;
    let jobs = read_list(&root, "jobs", job)?;
    let now = root
        .time("now")?
        .ok_or_else(|| root.err("now", "missing"))?;

    let mut last_health_checks = HashMap::new();
    if let Some(checks) = root.get("last_health_checks")? {
        let checks = checks.cast::<PyDict>().map_err(|_| {
            errors::snapshot(
                obj.py(),
                "last_health_checks",
                "expected a dict by hostname",
            )
        })?;
        for (hostname, check) in checks.iter() {
            let hostname: String = hostname.extract().map_err(|_| {
                errors::snapshot(obj.py(), "last_health_checks", "keys must be hostnames")
            })?;
            let item = Item {
                obj: &check,
                path: format!("last_health_checks[{hostname:?}]"),
            };
            let check = LastHealthCheck {
                job: item
                    .int_or("job", None)?
                    .ok_or_else(|| item.err("job", "missing"))?,
                submit_time: item
                    .time("submit_time")?
                    .ok_or_else(|| item.err("submit_time", "missing"))?,
                jobs_since: item.int_or("jobs_since", 0u32)?,
            };
            last_health_checks.insert(hostname, check);
        }
    }

    // Absent: every device's dictionary is taken as valid (the caller checked them).
    let valid_dictionaries: HashSet<String> = match root.get("valid_dictionaries")? {
        None => devices.iter().map(|d| d.hostname.clone()).collect(),
        Some(names) => names
            .try_iter()
            .and_then(|it| it.map(|n| n.and_then(|n| n.extract::<String>())).collect())
            .map_err(|_| {
                errors::snapshot(
                    obj.py(),
                    "valid_dictionaries",
                    "expected a list of hostnames",
                )
            })?,
    };
    let legacy_jobs: HashSet<i64> = match root.get("legacy_jobs")? {
        None => HashSet::new(),
        Some(ids) => ids
            .try_iter()
            .and_then(|it| it.map(|n| n.and_then(|n| n.extract::<i64>())).collect())
            .map_err(|_| errors::snapshot(obj.py(), "legacy_jobs", "expected a list of job ids"))?,
    };

    Ok(LabSnapshot {
        device_types,
        devices,
        workers,
        jobs,
        last_health_checks,
        valid_dictionaries,
        legacy_jobs,
        now,
        ..LabSnapshot::default()
    })
}

/// schedule(snapshot, seed=None) -> dict
///
/// One pass of LAVA's scheduler over `snapshot`, a dict (or object) with `device_types`,
/// `devices`, `workers`, `jobs` (queued: Submitted and Scheduling, plus every unfinished
/// sub-job of their multinode groups), `now` (float seconds or datetime), and optionally
/// `last_health_checks` ({hostname: {job, submit_time, jobs_since}}), `valid_dictionaries`
/// (hostnames; default: all devices) and `legacy_jobs` (ids). Items are dicts or objects
/// with the model's field names; states and healths are LAVA's names or database codes.
///
/// `seed` None offers free devices in hostname order; an int shuffles them with that seed.
///
/// Returns `{"assignments": [{"job", "device", "state"}], "health_checks": [{"device",
/// "device_type", "definition", "reason"}], "device_health": [{"device", "from", "to",
/// "reason"}], "waiting_groups": [{"group", "reserved", "waiting"}]}`.
///
/// Raises `lava_rs.SchedulerError` naming the field at fault (`devices[2].state`).
#[pyfunction]
#[pyo3(signature = (snapshot, seed=None))]
fn schedule<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyAny>,
    seed: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    let lab = lab_snapshot(snapshot)?;
    let order = match seed {
        Some(seed) => DeviceOrder::Shuffled { seed },
        None => DeviceOrder::Hostname,
    };
    let decisions = py.detach(|| scheduler::schedule(&lab, order));

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
        health.append(d)?;
    }
    out.set_item("device_health", health)?;
    let groups = PyList::empty(py);
    for g in &decisions.waiting_groups {
        let d = PyDict::new(py);
        d.set_item("group", &g.group)?;
        d.set_item("reserved", g.reserved.clone())?;
        d.set_item("waiting", g.waiting.clone())?;
        groups.append(d)?;
    }
    out.set_item("waiting_groups", groups)?;
    Ok(out)
}

/// Builds the `lava_rs.scheduler` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "scheduler")?;
    m.setattr(
        "__doc__",
        "One pass of LAVA's scheduler over a lab snapshot given as plain Python data.",
    )?;
    m.add_function(wrap_pyfunction!(schedule, &m)?)?;
    Ok(m)
}
