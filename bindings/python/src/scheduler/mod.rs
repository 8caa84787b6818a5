//! `lava_rs.scheduler`: LAVA 2020.05's scheduling pass, or either of its halves, over a lab
//! snapshot given as plain Python data or as LAVA's Django model instances.
//!
//! The three functions mirror `lava_scheduler_app.scheduler`: `schedule` (the whole pass),
//! `schedule_health_checks` (which also says which devices are left available) and
//! `schedule_jobs` (given those available devices). Device dictionaries can be asked
//! lazily through callables, as LAVA asks `Device.is_valid()`, `get_health_check()` and
//! `load_configuration()` only for the devices a pass uses.

mod callbacks;
mod read;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use callbacks::{Callbacks, PyDictionaries};
use lava_core::scheduler::{
    self, Decisions, DeviceDictionaries, DeviceOrder, LabSnapshot, PassOptions,
    SnapshotDictionaries,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors;

fn order(seed: Option<u64>) -> DeviceOrder {
    match seed {
        Some(seed) => DeviceOrder::Shuffled { seed },
        None => DeviceOrder::Hostname,
    }
}

/// LAVA's `available_dt`: an iterable of device type names, or None for all.
fn device_type_names(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<BTreeSet<String>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let bad = || {
        errors::snapshot(
            value.py(),
            "device_types",
            "expected a list of device type names",
        )
    };
    if value.cast::<PyString>().is_ok() {
        return Err(bad());
    }
    value
        .try_iter()
        .map_err(|_| bad())?
        .map(|name| name.and_then(|n| n.extract::<String>()).map_err(|_| bad()))
        .collect::<PyResult<BTreeSet<String>>>()
        .map(Some)
}

/// Runs `pass` over the snapshot: without the GIL when no callable is given, else with it
/// (the callables are Python). An exception a callable raised is raised here.
fn run<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyAny>,
    callbacks: Callbacks<'py>,
    pass: impl Fn(&LabSnapshot, &mut dyn DeviceDictionaries) -> Decisions + Send + Sync,
) -> PyResult<Bound<'py, PyDict>> {
    let read = read::lab_snapshot(snapshot, callbacks.is_valid.is_some())?;
    let decisions = if callbacks.any() {
        let mut dictionaries = PyDictionaries::new(py, &read.lab, &read.device_objects, &callbacks);
        let decisions = pass(&read.lab, &mut dictionaries);
        if let Some(error) = dictionaries.error {
            return Err(error);
        }
        decisions
    } else {
        let lab = read.lab;
        py.detach(|| pass(&lab, &mut SnapshotDictionaries::new(&lab)))
    };
    write::decisions(py, &decisions)
}

fn callbacks<'py>(
    is_valid: Option<Bound<'py, PyAny>>,
    health_check: Option<Bound<'py, PyAny>>,
    vlan_interfaces: Option<Bound<'py, PyAny>>,
) -> PyResult<Callbacks<'py>> {
    for (name, callback) in [
        ("is_valid", &is_valid),
        ("health_check", &health_check),
        ("vlan_interfaces", &vlan_interfaces),
    ] {
        if let Some(callback) = callback {
            if !callback.is_none() && !callback.is_callable() {
                return Err(errors::snapshot(
                    callback.py(),
                    name,
                    "expected a callable or None",
                ));
            }
        }
    }
    let given = |c: Option<Bound<'py, PyAny>>| c.filter(|c| !c.is_none());
    Ok(Callbacks {
        is_valid: given(is_valid),
        health_check: given(health_check),
        vlan_interfaces: given(vlan_interfaces),
    })
}

/// schedule(snapshot, seed=None, *, explain=True, device_types=None, is_valid=None,
///          health_check=None, vlan_interfaces=None) -> dict
///
/// One pass of LAVA's scheduler (`lava_scheduler_app.scheduler.schedule`): health checks,
/// jobs, multinode groups, and, with `explain`, one reason per queued job not started.
/// See `scheduler.pyi` for the snapshot's keys and the returned dict.
///
/// `seed` None offers free devices in hostname order; an int shuffles them with that seed.
/// `device_types` is LAVA's `available_dt` (only those types are looked at). `is_valid`,
/// `health_check`, `vlan_interfaces` are callables taking a device item as given in the
/// snapshot, asked only for the devices the pass uses (LAVA's `Device.is_valid()`,
/// `Device.get_health_check()`, the interfaces of `Device.load_configuration()`).
///
/// Raises `lava_rs.SchedulerError` naming the field at fault (`devices[2].state`), or the
/// exception a callable raised.
#[pyfunction]
#[pyo3(signature = (snapshot, seed=None, *, explain=true, device_types=None, is_valid=None, health_check=None, vlan_interfaces=None))]
#[allow(clippy::too_many_arguments)]
fn schedule<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyAny>,
    seed: Option<u64>,
    explain: bool,
    device_types: Option<Bound<'py, PyAny>>,
    is_valid: Option<Bound<'py, PyAny>>,
    health_check: Option<Bound<'py, PyAny>>,
    vlan_interfaces: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = PassOptions {
        order: order(seed),
        device_types: device_type_names(device_types.as_ref())?,
        explain,
    };
    let callbacks = callbacks(is_valid, health_check, vlan_interfaces)?;
    run(py, snapshot, callbacks, |lab, dictionaries| {
        scheduler::schedule_with(lab, &options, dictionaries)
    })
}

/// schedule_health_checks(snapshot, *, device_types=None, is_valid=None,
///                        health_check=None) -> dict
///
/// The health-check half of a pass (LAVA's `schedule_health_checks`): the returned dict's
/// `health_checks`, `device_health`, `skipped_devices` and `available_devices` ({device
/// type: [hostnames]}, LAVA's first return value) are filled; nothing else.
#[pyfunction]
#[pyo3(signature = (snapshot, *, device_types=None, is_valid=None, health_check=None))]
fn schedule_health_checks<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyAny>,
    device_types: Option<Bound<'py, PyAny>>,
    is_valid: Option<Bound<'py, PyAny>>,
    health_check: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = PassOptions {
        order: DeviceOrder::Hostname,
        device_types: device_type_names(device_types.as_ref())?,
        explain: false,
    };
    let callbacks = callbacks(is_valid, health_check, None)?;
    run(py, snapshot, callbacks, |lab, dictionaries| {
        scheduler::schedule_health_checks(lab, &options, dictionaries)
    })
}

/// schedule_jobs(snapshot, available_devices, seed=None, *, explain=True, is_valid=None,
///               vlan_interfaces=None) -> dict
///
/// The job half of a pass (LAVA's `schedule_jobs(logger, available_devices)`): only the
/// devices listed in `available_devices` ({device type: [hostnames]}) are offered jobs;
/// then multinode groups start, and, with `explain`, the jobs left waiting are explained.
#[pyfunction]
#[pyo3(signature = (snapshot, available_devices, seed=None, *, explain=true, is_valid=None, vlan_interfaces=None))]
#[allow(clippy::too_many_arguments)]
fn schedule_jobs<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyAny>,
    available_devices: &Bound<'py, PyAny>,
    seed: Option<u64>,
    explain: bool,
    is_valid: Option<Bound<'py, PyAny>>,
    vlan_interfaces: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let bad = || {
        errors::snapshot(
            py,
            "available_devices",
            "expected a dict of device type names to lists of hostnames",
        )
    };
    let dict = available_devices.cast::<PyDict>().map_err(|_| bad())?;
    let mut available: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (device_type, hostnames) in dict.iter() {
        let device_type: String = device_type.extract().map_err(|_| bad())?;
        if hostnames.cast::<PyString>().is_ok() {
            return Err(bad());
        }
        let hostnames = hostnames
            .try_iter()
            .map_err(|_| bad())?
            .map(|h| h.and_then(|h| h.extract::<String>()).map_err(|_| bad()))
            .collect::<PyResult<Vec<String>>>()?;
        available.insert(device_type, hostnames);
    }
    let options = PassOptions {
        order: order(seed),
        device_types: None,
        explain,
    };
    let callbacks = callbacks(is_valid, None, vlan_interfaces)?;
    run(py, snapshot, callbacks, |lab, dictionaries| {
        scheduler::schedule_jobs(lab, &available, &options, dictionaries)
    })
}

/// health_check_problem(definition) -> str | None
///
/// Why LAVA 2020.05 could not create a health-check job from `definition` (then the
/// scheduler sends the device Bad, "Invalid health check"), or None.
#[pyfunction]
fn health_check_problem(py: Python<'_>, definition: &str) -> Option<String> {
    py.detach(|| scheduler::health_check_problem(definition))
}

/// Builds the `lava_rs.scheduler` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "scheduler")?;
    m.setattr(
        "__doc__",
        "LAVA 2020.05's scheduling pass (or either half) over a lab snapshot given as plain \
         Python data or Django model instances.",
    )?;
    m.add_function(wrap_pyfunction!(schedule, &m)?)?;
    m.add_function(wrap_pyfunction!(schedule_health_checks, &m)?)?;
    m.add_function(wrap_pyfunction!(schedule_jobs, &m)?)?;
    m.add_function(wrap_pyfunction!(health_check_problem, &m)?)?;
    Ok(m)
}
