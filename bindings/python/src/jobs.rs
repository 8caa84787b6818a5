//! `lava_rs.jobs`: job definitions validated as LAVA's submission schema does, and multinode
//! splitting.

use lava_core::job::{self, JobDefinition, Role, SubJob, Validated, Visibility, Warning};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::{convert, errors};

fn parse(py: Python<'_>, text: &str) -> PyResult<JobDefinition> {
    py.detach(|| job::parse(text)).map_err(|e| job_error(py, e))
}

fn judge(py: Python<'_>, text: &str) -> PyResult<Validated> {
    py.detach(|| job::validate(text))
        .map_err(|e| job_error(py, e))
}

/// `lava_rs.JobDefinitionError` for a refused definition (anything else is a bug).
fn job_error(py: Python<'_>, e: lava_core::Error) -> PyErr {
    match e {
        lava_core::Error::JobDefinition(e) => errors::job_definition(py, &e),
        e => pyo3::exceptions::PyRuntimeError::new_err(e.to_string()),
    }
}

fn warning<'py>(py: Python<'py>, warning: &Warning) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("path", &warning.path)?;
    out.set_item("message", &warning.message)?;
    out.set_item("line", warning.line)?;
    Ok(out)
}

fn role<'py>(py: Python<'py>, role: &Role) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("name", &role.name)?;
    out.set_item("device_type", role.device_type.as_deref())?;
    out.set_item("connection", role.connection.as_deref())?;
    out.set_item("host_role", role.host_role.as_deref())?;
    out.set_item("count", role.count)?;
    out.set_item("tags", PyList::new(py, &role.tags)?)?;
    Ok(out)
}

fn visibility<'py>(py: Python<'py>, visibility: &Visibility) -> PyResult<Bound<'py, PyAny>> {
    Ok(match visibility {
        Visibility::Public => "public".into_pyobject(py)?.into_any(),
        Visibility::Personal => "personal".into_pyobject(py)?.into_any(),
        Visibility::Group(groups) => {
            let out = PyDict::new(py);
            out.set_item("group", PyList::new(py, groups)?)?;
            out.into_any()
        }
    })
}

/// validate(text) -> dict
///
/// Judges a pipeline job definition as LAVA 2020.05's submission does (YAML read as
/// PyYAML's safe loader reads it) and returns `{"job_name", "device_type", "priority"
/// (0..100), "visibility" ("public", "personal" or {"group": [...]}), "tags" (list),
/// "job_timeout" (seconds, float), "multinode" (list of role dicts, or None), "definition"
/// (the whole tree as plain data), "warnings" (what LAVA's dispatcher side will refuse:
/// a list of {"path", "message", "line"})}`.
///
/// Raises `lava_rs.JobDefinitionError` naming the field (`.field`), the line (`.line`) and
/// LAVA's reason.
#[pyfunction]
fn validate<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyDict>> {
    let validated = judge(py, text)?;
    let definition = &validated.definition;
    let out = PyDict::new(py);
    let warnings = PyList::empty(py);
    for w in &validated.warnings {
        warnings.append(warning(py, w)?)?;
    }
    out.set_item("warnings", warnings)?;
    out.set_item("job_name", &definition.job_name)?;
    out.set_item("device_type", definition.device_type.as_deref())?;
    out.set_item("priority", definition.priority.value())?;
    out.set_item("visibility", visibility(py, &definition.visibility)?)?;
    out.set_item("tags", PyList::new(py, &definition.tags)?)?;
    out.set_item("job_timeout", definition.job_timeout.as_secs_f64())?;
    match &definition.multinode {
        Some(roles) => {
            let list = PyList::empty(py);
            for r in roles {
                list.append(role(py, r)?)?;
            }
            out.set_item("multinode", list)?;
        }
        None => out.set_item("multinode", py.None())?,
    }
    out.set_item("definition", convert::yaml_node(py, &definition.tree)?)?;
    Ok(out)
}

fn sub_job<'py>(py: Python<'py>, sub: &SubJob) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("role", &sub.role)?;
    out.set_item("sub_id", sub.sub_id)?;
    out.set_item("device_type", sub.device_type.as_deref())?;
    out.set_item("tags", PyList::new(py, &sub.tags)?)?;
    out.set_item("definition", &sub.definition)?;
    Ok(out)
}

/// split_multinode(text, target_group) -> list[dict]
///
/// Splits a multinode job definition into one sub-job per role and count, for the group
/// `target_group`: `[{"role", "sub_id", "device_type", "tags", "definition" (YAML text)}]`.
/// A definition without the `lava-multinode` protocol gives an empty list.
///
/// Raises `lava_rs.JobDefinitionError` when the definition is invalid.
#[pyfunction]
fn split_multinode<'py>(
    py: Python<'py>,
    text: &str,
    target_group: &str,
) -> PyResult<Bound<'py, PyList>> {
    let definition = parse(py, text)?;
    let subs = py
        .detach(|| job::split_multinode(&definition, target_group))
        .map_err(|e| job_error(py, e))?;
    let out = PyList::empty(py);
    for sub in &subs {
        out.append(sub_job(py, sub)?)?;
    }
    Ok(out)
}

/// Builds the `lava_rs.jobs` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "jobs")?;
    m.setattr(
        "__doc__",
        "Job definitions: validation as LAVA's submission schema, and multinode splitting.",
    )?;
    m.add_function(wrap_pyfunction!(validate, &m)?)?;
    m.add_function(wrap_pyfunction!(split_multinode, &m)?)?;
    Ok(m)
}
