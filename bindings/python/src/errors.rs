//! Python exceptions: `lava_rs.LavaError` and one subclass per kind of Rust error.
//!
//! Each exception carries the details of the Rust error as attributes (`file`, `line`,
//! `field`, `frame`, …) so that a Django view can point at the fault without parsing the
//! message; the message itself is the Rust error's `Display`, which already names them.

use lava_core::job::JobDefinitionError as CoreJobDefinitionError;
use lava_core::protocol::log::{LogFrameError, LogLineError};
use lava_core::protocol::{FrameError as CoreFrameError, IdentityError, RoutedError};
use lava_core::templates::{TemplateError as CoreTemplateError, TemplateErrorKind};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

pyo3::create_exception!(
    lava_rs,
    LavaError,
    pyo3::exceptions::PyException,
    "Base class of every error raised by lava_rs."
);
pyo3::create_exception!(
    lava_rs,
    TemplateError,
    LavaError,
    "A device dictionary or device-type template that does not render.\n\n\
     Attributes: `file` (str), `line` (int or None), `kind` (str), `construct` (str or None)."
);
pyo3::create_exception!(
    lava_rs,
    JobDefinitionError,
    LavaError,
    "A job definition that cannot be accepted.\n\n\
     Attributes: `field` (the key path, e.g. `timeouts.job`), `line` (int or None)."
);
pyo3::create_exception!(
    lava_rs,
    FrameError,
    LavaError,
    "A ZeroMQ message that does not follow protocol version 3.\n\n\
     Attributes: `frame` (index of the frame at fault, the routing frame being -1), \
     `peer` (str or None)."
);
pyo3::create_exception!(
    lava_rs,
    LogError,
    LavaError,
    "A log record (frames or line) that lava-logs cannot use.\n\n\
     Attributes: `frame` (int or None)."
);
/// Registers the exception classes under their Python names.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LavaError", py.get_type::<LavaError>())?;
    m.add("TemplateError", py.get_type::<TemplateError>())?;
    m.add("JobDefinitionError", py.get_type::<JobDefinitionError>())?;
    m.add("FrameError", py.get_type::<FrameError>())?;
    m.add("LogError", py.get_type::<LogError>())?;
    Ok(())
}

/// Sets attributes on a freshly made exception; failing that, the exception stays usable.
fn with_attrs<'py>(py: Python<'py>, err: PyErr, attrs: &[(&str, Bound<'py, PyAny>)]) -> PyErr {
    let value = err.value(py);
    for (name, attr) in attrs {
        if let Err(set) = value.setattr(*name, attr) {
            return set;
        }
    }
    err
}

fn kind_name(kind: TemplateErrorKind) -> &'static str {
    match kind {
        TemplateErrorKind::NotFound => "not_found",
        TemplateErrorKind::Unreadable => "unreadable",
        TemplateErrorKind::Syntax => "syntax",
        TemplateErrorKind::Render => "render",
        TemplateErrorKind::OutOfFuel => "out_of_fuel",
        TemplateErrorKind::OutputTooLarge => "output_too_large",
        TemplateErrorKind::NotAMapping => "not_a_mapping",
        TemplateErrorKind::BadContext => "bad_context",
        _ => "other",
    }
}

/// `lava_rs.TemplateError` from a template error.
pub fn template(py: Python<'_>, e: &CoreTemplateError) -> PyErr {
    let line = (e.line > 0).then_some(e.line);
    let attrs = [
        ("file", e.file.as_str().into_bound_py_any(py)),
        ("line", line.into_bound_py_any(py)),
        ("kind", kind_name(e.kind).into_bound_py_any(py)),
        ("construct", e.construct.as_deref().into_bound_py_any(py)),
    ];
    build(py, TemplateError::new_err(e.to_string()), attrs)
}

/// `lava_rs.JobDefinitionError` from a job definition error.
pub fn job_definition(py: Python<'_>, e: &CoreJobDefinitionError) -> PyErr {
    let attrs = [
        ("field", e.path.as_str().into_bound_py_any(py)),
        ("line", e.line.into_bound_py_any(py)),
    ];
    build(py, JobDefinitionError::new_err(e.to_string()), attrs)
}

fn frame_with_peer(py: Python<'_>, e: &CoreFrameError, peer: Option<&str>) -> PyErr {
    let message = match peer {
        Some(peer) => format!("from {peer}: {e}"),
        None => e.to_string(),
    };
    let attrs = [
        ("frame", e.frame.into_bound_py_any(py)),
        ("peer", peer.into_bound_py_any(py)),
    ];
    build(py, FrameError::new_err(message), attrs)
}

/// `lava_rs.FrameError` from a routed message's error (bad identity or bad frames).
pub fn routed(py: Python<'_>, e: &RoutedError) -> PyErr {
    match e {
        RoutedError::Identity(identity) => self::identity(py, identity),
        RoutedError::Frame { peer, error } => frame_with_peer(py, error, Some(&peer.to_string())),
    }
}

/// `lava_rs.FrameError` for a routing frame that cannot name a peer.
pub fn identity(py: Python<'_>, e: &IdentityError) -> PyErr {
    let attrs = [
        ("frame", (-1i64).into_bound_py_any(py)),
        ("peer", None::<&str>.into_bound_py_any(py)),
    ];
    build(
        py,
        FrameError::new_err(format!("routing frame: {e}")),
        attrs,
    )
}

/// `lava_rs.LogError` from a log line that does not parse.
pub fn log_line(py: Python<'_>, e: &LogLineError) -> PyErr {
    let attrs = [("frame", None::<usize>.into_bound_py_any(py))];
    build(py, LogError::new_err(e.to_string()), attrs)
}

/// `lava_rs.LogError` from log frames that do not follow the log channel's framing.
pub fn log_frames(py: Python<'_>, e: &LogFrameError) -> PyErr {
    let frame = match e {
        LogFrameError::Count(_) => None,
        LogFrameError::BadJobId(_) => Some(0usize),
        LogFrameError::LineNotUtf8 { .. } => Some(1),
    };
    let attrs = [("frame", frame.into_bound_py_any(py))];
    build(py, LogError::new_err(e.to_string()), attrs)
}

fn build<'py, const N: usize>(
    py: Python<'py>,
    err: PyErr,
    attrs: [(&str, PyResult<Bound<'py, PyAny>>); N],
) -> PyErr {
    let mut ready = Vec::with_capacity(N);
    for (name, attr) in attrs {
        match attr {
            Ok(attr) => ready.push((name, attr)),
            Err(conversion) => return conversion,
        }
    }
    with_attrs(py, err, &ready)
}

/// `lava_rs.FrameError` for a message dict that cannot be encoded (names the key).
pub fn message_field(py: Python<'_>, key: &str, message: &str) -> PyErr {
    let attrs = [
        ("frame", None::<usize>.into_bound_py_any(py)),
        ("peer", None::<&str>.into_bound_py_any(py)),
        ("field", key.into_bound_py_any(py)),
    ];
    build(
        py,
        FrameError::new_err(format!("message {key:?}: {message}")),
        attrs,
    )
}

/// `lava_rs.LogError` for a record dict that cannot be written (names the key).
pub fn log_field(py: Python<'_>, message: &str) -> PyErr {
    let attrs = [("frame", None::<usize>.into_bound_py_any(py))];
    build(py, LogError::new_err(message.to_owned()), attrs)
}

pyo3::create_exception!(
    lava_rs,
    SchedulerError,
    LavaError,
    "A scheduler snapshot given from Python that is not well formed.\n\n\
     Attributes: `field` (where in the snapshot, e.g. `devices[2].state`)."
);

/// Registers the scheduler's exception (kept apart so the scheduler module owns it).
pub fn register_scheduler(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SchedulerError", m.py().get_type::<SchedulerError>())
}

/// `lava_rs.SchedulerError` naming the place in the snapshot at fault.
pub fn snapshot(py: Python<'_>, field: &str, message: &str) -> PyErr {
    let attrs = [("field", field.into_bound_py_any(py))];
    build(
        py,
        SchedulerError::new_err(format!("snapshot {field}: {message}")),
        attrs,
    )
}

pyo3::create_exception!(
    lava_rs,
    MasterError,
    LavaError,
    "A call on lava_rs.master.Master that does not fit its state (job already tracked, \
     unknown job, unusable worker name).\n\nAttributes: `job_id` (int or None)."
);

/// Registers the master's exception.
pub fn register_master(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MasterError", m.py().get_type::<MasterError>())
}

/// `lava_rs.MasterError` from a driver call the master refused.
pub fn master(py: Python<'_>, e: &lava_core::master::MasterError) -> PyErr {
    use lava_core::master::MasterError as Core;
    let job_id = match e {
        Core::JobExists(id) | Core::UnknownJob(id) => Some(*id),
        Core::BadWorker { .. } => None,
    };
    let attrs = [("job_id", job_id.into_bound_py_any(py))];
    build(py, MasterError::new_err(e.to_string()), attrs)
}
