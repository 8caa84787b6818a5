//! `lava_rs.templates`: device dictionaries rendered as LAVA's Jinja2 environment does.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use lava_core::templates::{JobContext, Renderer};
use lava_lab::SearchPath;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::errors;

/// A Python value read through serde without a copy: dict with str keys, list, tuple, str,
/// bool, int (64 bits), float, None. Anything else fails, and the caller takes the slower
/// JSON path, which accepts what JSON does and raises Python's own error otherwise.
/// `failed` is set by any value that cannot be read: minijinja keeps a nested failure as an
/// invalid value inside the map rather than failing the whole conversion.
struct PyData<'a, 'py> {
    value: &'a Bound<'py, PyAny>,
    failed: &'a Cell<bool>,
}

impl<'a, 'py> PyData<'a, 'py> {
    fn nested(&self, value: &'a Bound<'py, PyAny>) -> Self {
        PyData {
            value,
            failed: self.failed,
        }
    }

    fn fail<E: serde::ser::Error>(&self, why: impl std::fmt::Display) -> E {
        self.failed.set(true);
        E::custom(why)
    }
}

impl Serialize for PyData<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.value;
        if value.is_none() {
            serializer.serialize_none()
        } else if let Ok(b) = value.cast::<PyBool>() {
            serializer.serialize_bool(b.is_true())
        } else if let Ok(s) = value.cast::<PyString>() {
            serializer.serialize_str(&s.to_cow().map_err(|e| self.fail::<S::Error>(e))?)
        } else if value.is_instance_of::<PyInt>() {
            serializer.serialize_i64(
                value
                    .extract::<i64>()
                    .map_err(|e| self.fail::<S::Error>(e))?,
            )
        } else if let Ok(f) = value.cast::<PyFloat>() {
            serializer.serialize_f64(f.value())
        } else if let Ok(dict) = value.cast::<PyDict>() {
            let mut map = serializer.serialize_map(Some(dict.len()))?;
            for (k, v) in dict.iter() {
                let key = k.cast::<PyString>().map_err(|e| self.fail::<S::Error>(e))?;
                let key = key.to_cow().map_err(|e| self.fail::<S::Error>(e))?;
                map.serialize_entry(&*key, &self.nested(&v))?;
            }
            map.end()
        } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            let items: Vec<Bound<'_, PyAny>> = value
                .try_iter()
                .and_then(|it| it.collect())
                .map_err(|e| self.fail::<S::Error>(e))?;
            let mut seq = serializer.serialize_seq(Some(items.len()))?;
            for item in &items {
                seq.serialize_element(&self.nested(item))?;
            }
            seq.end()
        } else {
            Err(self.fail("not plain data"))
        }
    }
}

/// The job context from what Python gave: None, a mapping, or YAML text.
fn job_context(py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<JobContext> {
    let Some(context) = context.filter(|c| !c.is_none()) else {
        return Ok(JobContext::empty());
    };
    // Plain data (what LAVA's job contexts are) goes straight through serde.
    if context.is_instance_of::<PyDict>() {
        let failed = Cell::new(false);
        let data = PyData {
            value: context,
            failed: &failed,
        };
        if let Ok(context) = JobContext::from_serialize(&data) {
            if !failed.get() {
                return Ok(context);
            }
        }
    }
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

/// Environment(search_path, remember_outputs=True)
///
/// A long-lived rendering environment over the directories of `search_path`, searched in
/// order as Jinja2's `FileSystemLoader` does (LAVA: the devices directory, then the
/// device-types directories). Parsed templates are kept between renders and reloaded when a
/// file changes; with `remember_outputs`, each output is kept per (dictionary, context)
/// while every template it came from is unchanged. This is what stands in for LAVA's
/// Jinja2 environments in Django (`lava_rs.lava_server.templates`).
#[pyclass(module = "lava_rs.templates", name = "Environment", frozen)]
pub struct PyEnvironment {
    renderer: Renderer,
    search_path: Vec<PathBuf>,
}

#[pymethods]
impl PyEnvironment {
    #[new]
    #[pyo3(signature = (search_path, remember_outputs=true))]
    fn new(search_path: Vec<PathBuf>, remember_outputs: bool) -> Self {
        let mut renderer = Renderer::new(SearchPath::new(search_path.iter().cloned()));
        renderer.set_remember_outputs(remember_outputs);
        PyEnvironment {
            renderer,
            search_path,
        }
    }

    /// render(name, context=None) -> str
    ///
    /// Renders the template `name` (e.g. `qemu01.jinja2`) with `context` (a dict, YAML text
    /// or None), exactly as Jinja2 renders it. Raises `lava_rs.TemplateError` (`kind`
    /// `not_found` when no directory has it).
    #[pyo3(signature = (name, context=None))]
    fn render(
        &self,
        py: Python<'_>,
        name: &str,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let context = job_context(py, context)?;
        py.detach(|| self.renderer.render(name, &context))
            .map_err(|e| errors::template(py, &e))
    }

    /// find(name) -> str | None: the file `name` comes from (the first directory that has it).
    fn find(&self, name: &str) -> Option<String> {
        SearchPath::new(self.search_path.iter().cloned())
            .resolve(name)
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// The directories searched, in order.
    #[getter]
    fn search_path(&self) -> Vec<PathBuf> {
        self.search_path.clone()
    }
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
    m.add_class::<PyEnvironment>()?;
    Ok(m)
}
