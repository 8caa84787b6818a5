//! `lava_rs.templates`: device dictionaries rendered as LAVA's Jinja2 environment does.

use std::path::{Path, PathBuf};

use lava_core::templates::{JobContext, Renderer};
use lava_lab::SearchPath;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors;

/// The job context from what Python gave: None, a mapping, or YAML text.
fn job_context(py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<JobContext> {
    let Some(context) = context.filter(|c| !c.is_none()) else {
        return Ok(JobContext::empty());
    };
    let (text, origin) = if let Ok(text) = context.cast::<PyString>() {
        (text.extract::<String>()?, "context")
    } else {
        // JSON is YAML: the dict goes through Python's own encoder, which already refuses
        // what has no YAML form (sets, objects), with Python's own message.
        let json = py.import("json")?.call_method1("dumps", (context,))?;
        (json.extract::<String>()?, "context")
    };
    JobContext::from_yaml(&text, origin).map_err(|e| errors::template(py, &e))
}

/// The dictionary's file name and the search path: its own directory first, then each
/// device-types directory in order (the render contract of `lava-admin templates render`).
fn search_path(dictionary: &Path, device_types: &[PathBuf]) -> (String, SearchPath) {
    let name = dictionary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let own_dir = match dictionary.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dirs = std::iter::once(own_dir).chain(device_types.iter().cloned());
    (name, SearchPath::new(dirs))
}

/// render(dictionary, device_types, context=None) -> str
///
/// Renders the device dictionary file `dictionary` (a path) with `context` (a dict, YAML
/// text or None), its own directory first on the template search path, then each directory
/// of `device_types`. Returns the YAML device configuration, exactly what Jinja2 gives.
///
/// Raises `lava_rs.TemplateError` (with `file`, `line`, `kind`) when it does not render.
#[pyfunction]
#[pyo3(signature = (dictionary, device_types, context=None))]
fn render(
    py: Python<'_>,
    dictionary: PathBuf,
    device_types: Vec<PathBuf>,
    context: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let context = job_context(py, context)?;
    let (name, loader) = search_path(&dictionary, &device_types);
    if name.is_empty() {
        return Err(errors::template(
            py,
            &not_a_file(&dictionary.display().to_string()),
        ));
    }
    py.detach(|| Renderer::new(loader).render(&name, &context))
        .map_err(|e| errors::template(py, &e))
}

fn not_a_file(path: &str) -> lava_core::templates::TemplateError {
    lava_core::templates::TemplateError {
        file: path.to_owned(),
        line: 0,
        message: "not a dictionary file name".into(),
        construct: None,
        kind: lava_core::templates::TemplateErrorKind::NotFound,
    }
}

/// check_device(hostname, device_type, devices, device_types) -> dict
///
/// LAVA's check before health checks: whether `<device_type>.jinja2` exists on the search
/// path (`devices` first, then `device_types`) and whether `<hostname>.jinja2` renders to a
/// YAML mapping. Returns `{"valid": bool, "has_template": bool, "error": str | None,
/// "file": str | None, "line": int | None}`; never raises for a bad dictionary.
#[pyfunction]
fn check_device<'py>(
    py: Python<'py>,
    hostname: &str,
    device_type: &str,
    devices: PathBuf,
    device_types: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let dirs = std::iter::once(devices).chain(device_types);
    let loader = SearchPath::new(dirs);
    let check = py.detach(|| Renderer::new(loader).check_device(hostname, device_type));
    let out = PyDict::new(py);
    out.set_item("valid", check.is_valid())?;
    out.set_item("has_template", check.has_template)?;
    match &check.dictionary {
        Ok(()) => {
            out.set_item("error", py.None())?;
            out.set_item("file", py.None())?;
            out.set_item("line", py.None())?;
        }
        Err(e) => {
            out.set_item("error", e.to_string())?;
            out.set_item("file", &e.file)?;
            out.set_item("line", (e.line > 0).then_some(e.line))?;
        }
    }
    Ok(out)
}

/// Builds the `lava_rs.templates` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "templates")?;
    m.setattr(
        "__doc__",
        "Device dictionaries and device-type templates, rendered as LAVA's Jinja2 does.",
    )?;
    m.add_function(wrap_pyfunction!(render, &m)?)?;
    m.add_function(wrap_pyfunction!(check_device, &m)?)?;
    Ok(m)
}
