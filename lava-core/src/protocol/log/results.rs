//! Test results: the `msg` mapping of a `results` record.
//!
//! lava-run logs one per test case (`definition`, `case`, `result`, and optional
//! `measurement`, `units`, `duration`, `level`, `namespace`, `extra`, `error_msg`,
//! `error_type`), and finally `{definition: lava, case: job, result: pass|fail}`, which is
//! what finishes the job on the master.

use super::value::{Mapping, Value};
use super::{LogLevel, LogRecord};
use crate::model::{ErrorType, TestResult};

/// One test case as lava-run reports it in a `results` record.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCaseReport {
    /// The test suite (`lava` for the dispatcher's own results).
    pub definition: String,
    /// The test case.
    pub case: String,
    /// The outcome.
    pub result: TestResult,
    /// A measured value.
    pub measurement: Option<f64>,
    /// The unit of the measurement.
    pub units: Option<String>,
    /// Seconds the action took (lava-run writes it as text, `"0.52"`).
    pub duration: Option<f64>,
    /// The pipeline level of the action (`"1.2.3"`); lava-run requires it with `extra`.
    pub level: Option<String>,
    /// The namespace of the action.
    pub namespace: Option<String>,
    /// Free-form metadata.
    pub extra: Option<Value>,
    /// The error message of a failed job.
    pub error_msg: Option<String>,
    /// The error class of a failed job.
    pub error_type: Option<ErrorType>,
    /// Keys this type does not know, kept so that nothing is lost.
    pub other: Mapping,
}

/// A `results` record whose message is not a usable test result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// The message is not a mapping.
    #[error("results message is {found}, not a mapping")]
    NotAMapping {
        /// What it is.
        found: &'static str,
    },
    /// A required key is absent.
    #[error("results message has no {0:?} key")]
    Missing(&'static str),
    /// A key has the wrong kind of value.
    #[error("{field:?} of the results message is {found}, expected {expected}")]
    WrongType {
        /// The key.
        field: &'static str,
        /// What it is.
        found: String,
        /// What it should be.
        expected: &'static str,
    },
    /// `result` is not one of pass, fail, skip, unknown.
    #[error("result {0:?} is not one of pass, fail, skip, unknown")]
    BadOutcome(String),
    /// `extra` without `level` (lava-run refuses to log such a result).
    #[error("\"extra\" needs \"level\" in a results message")]
    ExtraWithoutLevel,
}

impl TestCaseReport {
    /// A result with only the required fields.
    pub fn new(definition: &str, case: &str, result: TestResult) -> TestCaseReport {
        TestCaseReport {
            definition: definition.to_owned(),
            case: case.to_owned(),
            result,
            measurement: None,
            units: None,
            duration: None,
            level: None,
            namespace: None,
            extra: None,
            error_msg: None,
            error_type: None,
            other: Mapping::new(),
        }
    }

    /// Whether this is the final result of a job (`lava`/`job`), the one that finishes it.
    pub fn is_job_result(&self) -> bool {
        self.definition == "lava" && self.case == "job"
    }

    /// Reads the `msg` of a `results` record.
    pub fn from_msg(msg: &Value) -> Result<TestCaseReport, ResultError> {
        let Value::Map(map) = msg else {
            return Err(ResultError::NotAMapping { found: msg.kind() });
        };
        let mut map = map.clone();
        let definition = required_text(&mut map, "definition")?;
        let case = required_text(&mut map, "case")?;
        let result = match map.remove("result") {
            None => return Err(ResultError::Missing("result")),
            Some(Value::Str(text)) => {
                TestResult::from_record(&text).ok_or(ResultError::BadOutcome(text))?
            }
            Some(other) => return Err(wrong("result", &other, "a string")),
        };
        Ok(TestCaseReport {
            definition,
            case,
            result,
            measurement: number(&mut map, "measurement")?,
            units: text(&mut map, "units")?,
            duration: number(&mut map, "duration")?,
            level: text(&mut map, "level")?,
            namespace: text(&mut map, "namespace")?,
            extra: map.remove("extra"),
            error_msg: text(&mut map, "error_msg")?,
            error_type: text(&mut map, "error_type")?.map(|t| ErrorType::from_name(&t)),
            other: map,
        })
    }

    /// The `msg` mapping for this result, as lava-run would log it.
    pub fn to_msg(&self) -> Result<Value, ResultError> {
        if self.extra.is_some() && self.level.is_none() {
            return Err(ResultError::ExtraWithoutLevel);
        }
        let mut map = self.other.clone();
        let mut put = |key: &str, value: Value| {
            map.insert(key.to_owned(), value);
        };
        put("definition", Value::from(self.definition.as_str()));
        put("case", Value::from(self.case.as_str()));
        put("result", Value::from(self.result.name()));
        if let Some(m) = self.measurement {
            put("measurement", Value::Float(m));
        }
        if let Some(units) = &self.units {
            put("units", Value::from(units.as_str()));
        }
        if let Some(d) = self.duration {
            // lava-run formats durations with two decimals, as text.
            put("duration", Value::Str(format!("{d:.2}")));
        }
        if let Some(level) = &self.level {
            put("level", Value::from(level.as_str()));
        }
        if let Some(namespace) = &self.namespace {
            put("namespace", Value::from(namespace.as_str()));
        }
        if let Some(extra) = &self.extra {
            put("extra", extra.clone());
        }
        if let Some(msg) = &self.error_msg {
            put("error_msg", Value::from(msg.as_str()));
        }
        if let Some(t) = &self.error_type {
            put("error_type", Value::from(t.as_str()));
        }
        Ok(Value::Map(map))
    }

    /// A `results` log record for this result.
    pub fn to_record(&self, dt: &str) -> Result<LogRecord, ResultError> {
        Ok(LogRecord::new(dt, LogLevel::Results, self.to_msg()?))
    }
}

fn wrong(field: &'static str, found: &Value, expected: &'static str) -> ResultError {
    ResultError::WrongType {
        field,
        found: found.kind().to_owned(),
        expected,
    }
}

/// Names may come as other scalars (a case called `42` is dumped as `! "42"`).
fn required_text(map: &mut Mapping, field: &'static str) -> Result<String, ResultError> {
    text(map, field)?.ok_or(ResultError::Missing(field))
}

fn text(map: &mut Mapping, field: &'static str) -> Result<Option<String>, ResultError> {
    match map.remove(field) {
        None => Ok(None),
        Some(value) => value
            .scalar_text()
            .map(Some)
            .ok_or_else(|| wrong(field, &value, "text")),
    }
}

fn number(map: &mut Mapping, field: &'static str) -> Result<Option<f64>, ResultError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(n) => Ok(Some(n)),
            None => Err(ResultError::WrongType {
                field,
                found: match &value {
                    Value::Str(s) => format!("{s:?}"),
                    other => other.kind().to_owned(),
                },
                expected: "a number",
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_job_result_of_a_canceled_job() {
        let line = r#"{"dt": "2026-11-24T14:20:01.1", "lvl": "results", "msg": {"case": "job", "definition": "lava", "error_msg": "The job was canceled", "error_type": "Canceled", "result": "fail"}}"#;
        let record = LogRecord::parse(line).unwrap();
        let result = record.test_result().unwrap().unwrap();
        assert!(result.is_job_result());
        assert_eq!(result.result, TestResult::Fail);
        assert_eq!(result.error_type, Some(ErrorType::Canceled));
        assert!(!ErrorType::Canceled.blames_device());
        assert_eq!(
            result.to_record("2026-11-24T14:20:01.1").unwrap().to_line(),
            line
        );
    }

    #[test]
    fn measurements_durations_and_extra() {
        let line = r#"{"dt": "t", "lvl": "results", "msg": {"case": "bw", "definition": "1_net", "duration": "0.52", "extra": {"k": ! "1"}, "level": "1.2", "measurement": !!python/object/apply:decimal.Decimal ["941.50"], "starttc": ! "12", "units": "Mb/s", "result": "pass"}}"#;
        let result = LogRecord::parse(line)
            .unwrap()
            .test_result()
            .unwrap()
            .unwrap();
        assert_eq!(result.measurement, Some(941.5));
        assert_eq!(result.duration, Some(0.52));
        assert_eq!(result.units.as_deref(), Some("Mb/s"));
        assert_eq!(result.level.as_deref(), Some("1.2"));
        assert_eq!(result.other.get("starttc"), Some(&Value::Int(12)));
        assert!(result.extra.is_some());
    }

    #[test]
    fn clear_errors() {
        let parse = |msg: &str| {
            let line = format!(r#"{{"lvl": "results", "msg": {msg}}}"#);
            LogRecord::parse(&line).unwrap().test_result().unwrap()
        };
        assert_eq!(
            parse(r#""just text""#),
            Err(ResultError::NotAMapping { found: "a string" })
        );
        assert_eq!(
            parse(r#"{"case": "c", "result": "pass"}"#),
            Err(ResultError::Missing("definition"))
        );
        assert_eq!(
            parse(r#"{"case": "c", "definition": "d", "result": "passed"}"#),
            Err(ResultError::BadOutcome("passed".to_owned()))
        );
        assert_eq!(
            parse(r#"{"case": "c", "definition": "d", "result": "pass", "measurement": "fast"}"#)
                .unwrap_err()
                .to_string(),
            "\"measurement\" of the results message is \"fast\", expected a number"
        );
        assert_eq!(
            parse(r#"{"case": ["c"], "definition": "d", "result": "pass"}"#)
                .unwrap_err()
                .to_string(),
            "\"case\" of the results message is a sequence, expected text"
        );
        let mut result = TestCaseReport::new("d", "c", TestResult::Skip);
        result.extra = Some(Value::Null);
        assert_eq!(result.to_msg(), Err(ResultError::ExtraWithoutLevel));
    }

    #[test]
    fn other_levels_have_no_result() {
        let record = LogRecord::new("t", LogLevel::Info, "hello");
        assert!(record.test_result().is_none());
    }
}
