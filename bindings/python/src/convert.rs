//! Core values to Python objects and back.

use lava_core::job::yaml::{Node, Value as YamlValue};
use lava_core::protocol::log::{Mapping, Value as LogValue};
use pyo3::prelude::*;
use pyo3::types::IntoPyDict;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

/// A job definition's YAML tree as plain Python data (dict, list, str, int, float, bool,
/// None); mapping keys that are not strings keep their Python type.
pub fn yaml_node<'py>(py: Python<'py>, node: &Node) -> PyResult<Bound<'py, PyAny>> {
    match &node.value {
        YamlValue::Null => Ok(py.None().into_bound(py)),
        YamlValue::Bool(b) => b.into_bound_py_any(py),
        YamlValue::Int(i) => i.into_bound_py_any(py),
        YamlValue::BigInt(digits) => py
            .import("builtins")?
            .getattr("int")?
            .call1((digits.as_str(),)),
        YamlValue::Bytes(b) => pyo3::types::PyBytes::new(py, b).into_bound_py_any(py),
        YamlValue::Timestamp(t) => {
            let datetime = py.import("datetime")?;
            let (y, m, d) = t.date;
            match t.time {
                None => datetime.getattr("date")?.call1((y, m, d)),
                Some((h, mi, s, us, offset)) => {
                    let tz = match offset {
                        None => py.None().into_bound(py),
                        Some(minutes) => datetime.getattr("timezone")?.call1((datetime
                            .getattr("timedelta")?
                            .call((), Some(&[("minutes", minutes)].into_py_dict(py)?))?,))?,
                    };
                    datetime
                        .getattr("datetime")?
                        .call1((y, m, d, h, mi, s, us, tz))
                }
            }
        }
        YamlValue::Set(members) => {
            let set = pyo3::types::PySet::empty(py)?;
            for m in members {
                set.add(yaml_node(py, m)?)?;
            }
            Ok(set.into_any())
        }
        YamlValue::Pairs(pairs) => {
            let list = PyList::empty(py);
            for (k, v) in pairs {
                list.append(PyTuple::new(py, [yaml_node(py, k)?, yaml_node(py, v)?])?)?;
            }
            Ok(list.into_any())
        }
        YamlValue::Float(f) => f.into_bound_py_any(py),
        YamlValue::String(s) => s.into_bound_py_any(py),
        YamlValue::Seq(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(yaml_node(py, item)?)?;
            }
            Ok(list.into_any())
        }
        YamlValue::Map(entries) => {
            let dict = PyDict::new(py);
            for (key, value) in entries {
                let key = yaml_node(py, key)?;
                // A mapping or sequence key (legal YAML) is unhashable in Python: use its repr.
                let key = if key.hash().is_ok() {
                    key
                } else {
                    key.repr()?.into_any()
                };
                dict.set_item(key, yaml_node(py, value)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

/// A log record's value as plain Python data; a `decimal.Decimal` stays a `Decimal`.
pub fn log_value<'py>(py: Python<'py>, value: &LogValue) -> PyResult<Bound<'py, PyAny>> {
    match value {
        LogValue::Null => Ok(py.None().into_bound(py)),
        LogValue::Bool(b) => b.into_bound_py_any(py),
        LogValue::Int(i) => i.into_bound_py_any(py),
        LogValue::Float(f) => f.into_bound_py_any(py),
        LogValue::Str(s) => s.into_bound_py_any(py),
        LogValue::Decimal(text) => py
            .import("decimal")?
            .getattr("Decimal")?
            .call1((text.as_str(),)),
        LogValue::Seq(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(log_value(py, item)?)?;
            }
            Ok(list.into_any())
        }
        LogValue::Map(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, log_value(py, item)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

/// Python data to a log record value; `what` names the place for the error message.
pub fn to_log_value(obj: &Bound<'_, PyAny>, what: &str) -> Result<LogValue, String> {
    if obj.is_none() {
        return Ok(LogValue::Null);
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(LogValue::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        return obj
            .extract::<i64>()
            .map(LogValue::Int)
            .map_err(|_| format!("{what}: integer does not fit 64 bits"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(LogValue::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .extract::<String>()
            .map(LogValue::Str)
            .map_err(|e| format!("{what}: {e}"));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Mapping::new();
        for (key, item) in dict.iter() {
            let key: String = key
                .extract()
                .map_err(|_| format!("{what}: mapping keys must be str"))?;
            let item = to_log_value(&item, &format!("{what}.{key}"))?;
            map.insert(key, item);
        }
        return Ok(LogValue::Map(map));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        let mut items = Vec::new();
        for (index, item) in obj.try_iter().map_err(|e| e.to_string())?.enumerate() {
            let item = item.map_err(|e| e.to_string())?;
            items.push(to_log_value(&item, &format!("{what}[{index}]"))?);
        }
        return Ok(LogValue::Seq(items));
    }
    let decimal = obj
        .py()
        .import("decimal")
        .and_then(|m| m.getattr("Decimal"))
        .map_err(|e| e.to_string())?;
    let is_decimal = obj.is_instance(&decimal).map_err(|e| e.to_string())?;
    if is_decimal {
        let text = obj.str().map_err(|e| e.to_string())?;
        return Ok(LogValue::Decimal(text.to_string()));
    }
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(format!(
        "{what}: a {type_name} has no place in a log record"
    ))
}

/// Frames from Python: any iterable of bytes-like objects (bytes, bytearray, memoryview),
/// copied once.
pub fn frames_of(frames: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for frame in frames.try_iter()? {
        out.push(frame?.extract::<Vec<u8>>()?);
    }
    Ok(out)
}
