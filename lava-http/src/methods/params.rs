//! Positional parameters of a call, read with the types each method expects.
//!
//! LAVA's methods are Python functions: a missing argument without a default, an extra
//! argument or a value of the wrong type is the caller's mistake. Each is answered with
//! fault -32602 naming the method and the argument.

use crate::fault::Fault;
use crate::value::Value;
use lava_core::model::JobId;

/// The parameters of one call.
#[derive(Debug, Clone)]
pub struct Params {
    method: String,
    values: Vec<Value>,
}

impl Params {
    /// Parameters of `method`.
    pub fn new(method: impl Into<String>, values: Vec<Value>) -> Self {
        Params {
            method: method.into(),
            values,
        }
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.method
    }

    fn wrong(&self, name: &str, expected: &str, got: &Value) -> Fault {
        Fault::invalid_params(format!(
            "{}: argument '{name}' must be {expected}, not {}",
            self.method,
            got.type_name()
        ))
    }

    /// Refuses calls with more than `max` arguments.
    pub fn at_most(&self, max: usize) -> Result<(), Fault> {
        if self.values.len() > max {
            return Err(Fault::invalid_params(format!(
                "{}: takes at most {max} argument{}, {} given",
                self.method,
                if max == 1 { "" } else { "s" },
                self.values.len()
            )));
        }
        Ok(())
    }

    /// The argument at `index`; `None` when absent or nil (Python's `None`).
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).filter(|v| **v != Value::Nil)
    }

    fn required(&self, index: usize, name: &str) -> Result<&Value, Fault> {
        self.values.get(index).ok_or_else(|| {
            Fault::invalid_params(format!(
                "{}: missing required argument '{name}'",
                self.method
            ))
        })
    }

    /// A required string.
    pub fn string(&self, index: usize, name: &str) -> Result<String, Fault> {
        match self.required(index, name)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.wrong(name, "a string", other)),
        }
    }

    /// An optional string (absent or nil: `None`).
    pub fn opt_string(&self, index: usize, name: &str) -> Result<Option<String>, Fault> {
        match self.get(index) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    /// A required file content: a string, or base64 holding UTF-8.
    pub fn text(&self, index: usize, name: &str) -> Result<String, Fault> {
        match self.required(index, name)? {
            Value::String(s) => Ok(s.clone()),
            Value::Base64(bytes) => String::from_utf8(bytes.clone()).map_err(|_| {
                Fault::bad_request(format!("{}: '{name}' is not UTF-8 text", self.method))
            }),
            other => Err(self.wrong(name, "a string", other)),
        }
    }

    /// A required boolean.
    pub fn bool(&self, index: usize, name: &str) -> Result<bool, Fault> {
        let value = self.required(index, name)?;
        self.truth(name, value)
    }

    /// An optional boolean (absent or nil: `default`).
    pub fn bool_or(&self, index: usize, name: &str, default: bool) -> Result<bool, Fault> {
        match self.get(index) {
            None => Ok(default),
            Some(value) => self.truth(name, value),
        }
    }

    /// An optional boolean that stays `None` when absent or nil.
    pub fn opt_bool(&self, index: usize, name: &str) -> Result<Option<bool>, Fault> {
        self.get(index).map(|v| self.truth(name, v)).transpose()
    }

    /// Booleans, and integers as Python's truth test reads them.
    fn truth(&self, name: &str, value: &Value) -> Result<bool, Fault> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Int(i) => Ok(*i != 0),
            other => Err(self.wrong(name, "a boolean", other)),
        }
    }

    /// A required integer.
    pub fn int(&self, index: usize, name: &str) -> Result<i64, Fault> {
        match self.required(index, name)? {
            Value::Int(i) => Ok(*i),
            other => Err(self.wrong(name, "an integer", other)),
        }
    }

    /// An optional integer (absent or nil: `None`).
    pub fn opt_int(&self, index: usize, name: &str) -> Result<Option<i64>, Fault> {
        match self.get(index) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(self.wrong(name, "an integer", other)),
        }
    }

    /// A job id: an integer, or a string of digits as lavacli sends it. Anything else names
    /// no job (404, as LAVA answers for unknown ids).
    pub fn job_id(&self, index: usize) -> Result<JobId, Fault> {
        let value = self.required(index, "job_id")?;
        let text = match value {
            Value::Int(i) => return Ok(*i),
            Value::String(s) => s.trim(),
            other => return Err(self.wrong("job_id", "an integer or a string", other)),
        };
        text.parse::<JobId>()
            .map_err(|_| Fault::not_found(format!("Job '{text}' was not found.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::codes;

    #[test]
    fn types_and_defaults() {
        let p = Params::new(
            "m",
            vec![Value::str("a"), Value::Nil, Value::Int(0), Value::str("12")],
        );
        assert_eq!(p.string(0, "a").unwrap(), "a");
        assert_eq!(p.opt_string(1, "b").unwrap(), None);
        assert!(!p.bool(2, "c").unwrap());
        assert!(p.bool_or(9, "d", true).unwrap());
        assert_eq!(p.job_id(3).unwrap(), 12);
        assert_eq!(p.string(2, "c").unwrap_err().code, codes::INVALID_PARAMS);
        assert_eq!(p.string(7, "x").unwrap_err().code, codes::INVALID_PARAMS);
        assert_eq!(p.job_id(0).unwrap_err().code, codes::NOT_FOUND);
        assert!(p.at_most(4).is_ok());
        assert_eq!(p.at_most(3).unwrap_err().code, codes::INVALID_PARAMS);
    }
}
