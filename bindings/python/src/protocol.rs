//! `lava_rs.protocol`: the control messages of protocol version 3 and lava-run's log records,
//! as frames in the shape pyzmq gives and takes them.

use lava_core::protocol::log::{self, LogLevel, LogRecord};
use lava_core::protocol::{Action, Message, PeerId};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::convert::{self, frames_of};
use crate::errors;

fn bytes_list<'py>(py: Python<'py>, frames: &[Vec<u8>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, frames.iter().map(|f| PyBytes::new(py, f)))
}

/// The message as a dict: `action` (its wire name) and its fields.
fn message_dict<'py>(py: Python<'py>, message: &Message) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("action", message.action().as_str())?;
    match message {
        Message::Hello {
            protocol_version,
            lava_version,
        }
        | Message::HelloRetry {
            protocol_version,
            lava_version,
        } => {
            out.set_item("protocol_version", protocol_version)?;
            out.set_item("lava_version", lava_version.as_deref())?;
        }
        Message::HelloOk | Message::Ping => {}
        Message::Pong { interval } => out.set_item("interval", interval)?,
        Message::Start {
            job_id,
            job,
            device,
            dispatcher,
            env,
            env_dut,
        } => {
            out.set_item("job_id", job_id)?;
            out.set_item("job", job)?;
            out.set_item("device", device)?;
            out.set_item("dispatcher", dispatcher)?;
            out.set_item("env", env)?;
            out.set_item("env_dut", env_dut)?;
        }
        Message::StartOk { job_id }
        | Message::Cancel { job_id }
        | Message::Status { job_id }
        | Message::EndOk { job_id } => out.set_item("job_id", job_id)?,
        Message::End {
            job_id,
            errors,
            description,
        } => {
            out.set_item("job_id", job_id)?;
            out.set_item("errors", errors)?;
            out.set_item("description", PyBytes::new(py, description))?;
        }
    }
    Ok(out)
}

/// Reads `key` of a message dict, naming it when it is missing or of the wrong type.
fn field<'py, T: FromPyObjectOwned<'py>>(
    py: Python<'py>,
    dict: &Bound<'py, PyDict>,
    key: &str,
    default: Option<T>,
) -> PyResult<T> {
    match dict.get_item(key)? {
        Some(value) if !value.is_none() => value.extract::<T>().map_err(|e| {
            let e: PyErr = e.into();
            errors::message_field(py, key, &e.to_string())
        }),
        _ => default.ok_or_else(|| errors::message_field(py, key, "missing")),
    }
}

fn message_of<'py>(py: Python<'py>, dict: &Bound<'py, PyDict>) -> PyResult<Message> {
    let action: String = field(py, dict, "action", None)?;
    let action = Action::from_frame(action.as_bytes()).ok_or_else(|| {
        errors::message_field(py, "action", &format!("unknown action {action:?}"))
    })?;
    let job_id = || field::<i64>(py, dict, "job_id", None);
    let text = |key: &str| field::<String>(py, dict, key, Some(String::new()));
    Ok(match action {
        Action::Hello | Action::HelloRetry => {
            let protocol_version = field(py, dict, "protocol_version", None)?;
            let lava_version = field::<Option<String>>(py, dict, "lava_version", Some(None))?;
            if action == Action::Hello {
                Message::Hello {
                    protocol_version,
                    lava_version,
                }
            } else {
                Message::HelloRetry {
                    protocol_version,
                    lava_version,
                }
            }
        }
        Action::HelloOk => Message::HelloOk,
        Action::Ping => Message::Ping,
        Action::Pong => Message::Pong {
            interval: field(py, dict, "interval", None)?,
        },
        Action::Start => Message::Start {
            job_id: job_id()?,
            job: field(py, dict, "job", None)?,
            device: field(py, dict, "device", None)?,
            dispatcher: text("dispatcher")?,
            env: text("env")?,
            env_dut: text("env_dut")?,
        },
        Action::StartOk => Message::StartOk { job_id: job_id()? },
        Action::Cancel => Message::Cancel { job_id: job_id()? },
        Action::Status => Message::Status { job_id: job_id()? },
        Action::EndOk => Message::EndOk { job_id: job_id()? },
        Action::End => Message::End {
            job_id: job_id()?,
            errors: text("errors")?,
            description: field(py, dict, "description", Some(Vec::new()))?,
        },
    })
}

/// decode(frames) -> dict
///
/// Decodes a control message as a ROUTER socket receives it (`socket.recv_multipart()`):
/// the peer's identity first, then the action and its arguments. Returns a dict with
/// `peer` (str), `action` (e.g. "START") and the action's fields (`job_id`, `job`,
/// `device`, ..., END's `description` as bytes).
///
/// Raises `lava_rs.FrameError` (with `.frame`, the routing frame being -1, and `.peer`).
#[pyfunction]
fn decode<'py>(py: Python<'py>, frames: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let frames = frames_of(frames)?;
    let (peer, message) = Message::decode_routed(&frames).map_err(|e| errors::routed(py, &e))?;
    let out = message_dict(py, &message)?;
    // decode_routed only returns identities that are hostnames.
    let hostname = peer.hostname().map_err(|e| errors::identity(py, &e))?;
    out.set_item("peer", hostname)?;
    Ok(out)
}

/// encode(message) -> list[bytes]
///
/// The frames to hand a ROUTER socket (`socket.send_multipart(...)`) for a message dict as
/// `decode` gives it: `peer` first, then the action and its arguments. Optional text
/// fields (`dispatcher`, `env`, `env_dut`, `errors`) default to empty, `description` to b"".
///
/// Raises `lava_rs.FrameError` naming the key (`.field`) that is missing or wrong.
#[pyfunction]
fn encode<'py>(py: Python<'py>, message: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyList>> {
    let peer: String = field(py, message, "peer", None)?;
    let peer = PeerId::from_hostname(&peer);
    peer.hostname().map_err(|e| errors::identity(py, &e))?;
    let decoded = message_of(py, message)?;
    bytes_list(py, &decoded.encode_routed(&peer))
}

/// decode_log(frames) -> tuple[int, str]
///
/// Splits a message of the log socket (`[job_id, line]`, as a PULL socket receives it)
/// into the job id and the line (not parsed: see `parse_log_line`).
///
/// Raises `lava_rs.LogError` (with `.frame`).
#[pyfunction]
fn decode_log(py: Python<'_>, frames: &Bound<'_, PyAny>) -> PyResult<(i64, String)> {
    let frames = frames_of(frames)?;
    let (job_id, line) = log::decode_log_frames(&frames).map_err(|e| errors::log_frames(py, &e))?;
    Ok((job_id, line.to_owned()))
}

/// encode_log(job_id, line) -> list[bytes]
///
/// The frames of a log message: the decimal job id, then the line.
#[pyfunction]
fn encode_log<'py>(py: Python<'py>, job_id: i64, line: &str) -> PyResult<Bound<'py, PyList>> {
    bytes_list(py, &log::encode_log_frames(job_id, line))
}

/// parse_log_line(line) -> dict
///
/// Reads one of lava-run's log lines (a YAML flow mapping) into `{"dt": str | None,
/// "lvl": str, "msg": str | dict | ...}`; `decimal.Decimal` measurements stay Decimals.
///
/// Raises `lava_rs.LogError` naming what is wrong (column, missing key).
#[pyfunction]
fn parse_log_line<'py>(py: Python<'py>, line: &str) -> PyResult<Bound<'py, PyDict>> {
    let record = py
        .detach(|| LogRecord::parse(line))
        .map_err(|e| errors::log_line(py, &e))?;
    let out = PyDict::new(py);
    out.set_item("dt", record.dt.as_deref())?;
    out.set_item("lvl", record.lvl.as_str())?;
    out.set_item("msg", convert::log_value(py, &record.msg)?)?;
    Ok(out)
}

/// format_log_line(record) -> str
///
/// Writes a record dict (`dt` optional, `lvl`, `msg`) byte for byte as lava-run does.
///
/// Raises `lava_rs.LogError` naming the key whose value cannot be written.
#[pyfunction]
fn format_log_line(py: Python<'_>, record: &Bound<'_, PyDict>) -> PyResult<String> {
    let lvl: String = match record.get_item("lvl")? {
        Some(lvl) => lvl
            .extract()
            .map_err(|_| errors::log_field(py, "lvl: expected a str"))?,
        None => return Err(errors::log_field(py, "lvl: missing")),
    };
    let dt: Option<String> = match record.get_item("dt")? {
        Some(dt) if !dt.is_none() => Some(
            dt.extract()
                .map_err(|_| errors::log_field(py, "dt: expected a str"))?,
        ),
        _ => None,
    };
    let msg = match record.get_item("msg")? {
        Some(msg) => convert::to_log_value(&msg, "msg").map_err(|e| errors::log_field(py, &e))?,
        None => return Err(errors::log_field(py, "msg: missing")),
    };
    let record = LogRecord {
        dt,
        lvl: LogLevel::from_name(&lvl),
        msg,
    };
    Ok(py.detach(|| record.to_line()))
}

/// Builds the `lava_rs.protocol` submodule.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "protocol")?;
    m.setattr(
        "__doc__",
        "Protocol version 3: control messages and log records as pyzmq frames.",
    )?;
    m.add("PROTOCOL_VERSION", lava_core::protocol::PROTOCOL_VERSION)?;
    m.add_function(wrap_pyfunction!(decode, &m)?)?;
    m.add_function(wrap_pyfunction!(encode, &m)?)?;
    m.add_function(wrap_pyfunction!(decode_log, &m)?)?;
    m.add_function(wrap_pyfunction!(encode_log, &m)?)?;
    m.add_function(wrap_pyfunction!(parse_log_line, &m)?)?;
    m.add_function(wrap_pyfunction!(format_log_line, &m)?)?;
    Ok(m)
}
