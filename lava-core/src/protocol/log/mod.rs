//! lava-run's log records: `[job_id, line]` on the PUSH→PULL log socket.
//!
//! The line is a one-line YAML flow mapping `{"dt": …, "lvl": …, "msg": …}` written by
//! PyYAML (protocol.md §6.1). It looks like JSON but is YAML: strings use YAML escapes
//! (`\e`, `\xE9`, `\L`…), and non-string scalars carry a `!` tag (`! "12"`). `msg` is a
//! string, or a mapping for `results`, `marker` and some `event` records.
//!
//! [`LogRecord::parse`] reads a line (see [`parse`] for what is accepted);
//! [`LogRecord::to_line`] writes one byte for byte as lava-run does, including its rule for
//! lines of 10⁶ characters or more; [`LogRecord::test_result`] reads a `results` record.

mod emit;

/// Python's `repr(float)`, shared with the template filters that print floats as Jinja2 does.
pub mod parse;
pub mod results;
pub mod value;

use std::fmt;

pub use results::{ResultError, TestCaseReport};
pub use value::{Mapping, Value};

use crate::model::JobId;

/// lava-run replaces `msg` when the dumped line reaches this many characters.
pub const MAX_LINE_CHARS: usize = 1_000_000;

/// What replaces a string `msg` on an over-long line.
pub const LINE_TOO_LONG: &str = "<line way too long ...>";

/// What replaces a non-string `msg` on an over-long line, under the key `skip`.
pub const LINE_TOO_LONG_SKIP: &str = "line way too long ...";

/// The `lvl` of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// `exception`
    Exception,
    /// `error`
    Error,
    /// `warning`
    Warning,
    /// `info`
    Info,
    /// `debug`
    Debug,
    /// `input`: what was sent to the device.
    Input,
    /// `target`: what the device printed.
    Target,
    /// `feedback`: output from a secondary connection.
    Feedback,
    /// `event`: published by lava-logs as an event.
    Event,
    /// `marker`: test case boundaries; lava-logs does not write these to the log.
    Marker,
    /// `results`: a test result.
    Results,
    /// A level lava-run does not use; lava-logs still stores such lines.
    Other(String),
}

impl LogLevel {
    /// The level as written in `lvl`.
    pub fn as_str(&self) -> &str {
        match self {
            LogLevel::Exception => "exception",
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Input => "input",
            LogLevel::Target => "target",
            LogLevel::Feedback => "feedback",
            LogLevel::Event => "event",
            LogLevel::Marker => "marker",
            LogLevel::Results => "results",
            LogLevel::Other(other) => other,
        }
    }

    /// The level named `name`.
    pub fn from_name(name: &str) -> LogLevel {
        match name {
            "exception" => LogLevel::Exception,
            "error" => LogLevel::Error,
            "warning" => LogLevel::Warning,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "input" => LogLevel::Input,
            "target" => LogLevel::Target,
            "feedback" => LogLevel::Feedback,
            "event" => LogLevel::Event,
            "marker" => LogLevel::Marker,
            "results" => LogLevel::Results,
            other => LogLevel::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One log record of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// `datetime.utcnow().isoformat()` of lava-run (UTC, no zone, microseconds omitted when
    /// zero). Kept as text. lava-logs does not require it, so neither do we.
    pub dt: Option<String>,
    /// The level.
    pub lvl: LogLevel,
    /// The message: a string, or a mapping for results, markers and some events.
    pub msg: Value,
}

/// A log line that cannot be used (lava-logs drops such lines).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogLineError {
    /// The line is not YAML.
    #[error("log line is not valid YAML at column {column}: {reason}")]
    Syntax {
        /// Character offset in the line (0-based; 0 when the full YAML parser reports it).
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// The line is YAML but not a mapping.
    #[error("log line is {found}, not a mapping")]
    NotAMapping {
        /// What it is.
        found: &'static str,
    },
    /// A required key is absent.
    #[error("log line has no {0:?} key")]
    Missing(&'static str),
    /// A key has the wrong kind of value.
    #[error("{field:?} of the log line is {found}, expected a string")]
    NotAString {
        /// The key.
        field: &'static str,
        /// What it is.
        found: &'static str,
    },
}

/// A log message `[job_id, line]` that does not follow the log channel's framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogFrameError {
    /// Not exactly two frames.
    #[error("a log record takes 2 frames (job id, line), got {0}")]
    Count(usize),
    /// The job id frame is not a decimal integer.
    #[error("frame 0: job id is not a decimal integer: {0:?}")]
    BadJobId(String),
    /// The line is not UTF-8.
    #[error("frame 1: log line is not UTF-8 (bad byte at offset {valid_up_to})")]
    LineNotUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        valid_up_to: usize,
    },
}

/// Splits a log message into its job id and its line (not parsed: lava-logs stores the line
/// verbatim; parse it with [`LogRecord::parse`]).
pub fn decode_log_frames<F: AsRef<[u8]>>(frames: &[F]) -> Result<(JobId, &str), LogFrameError> {
    let [job, line] = frames else {
        return Err(LogFrameError::Count(frames.len()));
    };
    let job = job.as_ref();
    let job_id = std::str::from_utf8(job)
        .ok()
        .and_then(|text| text.parse::<JobId>().ok())
        .ok_or_else(|| {
            let text = String::from_utf8_lossy(&job[..job.len().min(64)]).into_owned();
            LogFrameError::BadJobId(text)
        })?;
    let line = std::str::from_utf8(line.as_ref()).map_err(|e| LogFrameError::LineNotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    Ok((job_id, line))
}

/// The frames of a log message: the decimal job id, then the line.
pub fn encode_log_frames(job_id: JobId, line: &str) -> [Vec<u8>; 2] {
    [job_id.to_string().into_bytes(), line.as_bytes().to_vec()]
}

impl LogRecord {
    /// A record with a time stamp.
    pub fn new(dt: impl Into<String>, lvl: LogLevel, msg: impl Into<Value>) -> LogRecord {
        LogRecord {
            dt: Some(dt.into()),
            lvl,
            msg: msg.into(),
        }
    }

    /// Reads a log line. Keys other than `dt`, `lvl` and `msg` are ignored, as lava-logs does.
    pub fn parse(line: &str) -> Result<LogRecord, LogLineError> {
        let value = parse::parse_line(line).map_err(|e| LogLineError::Syntax {
            column: e.column,
            reason: e.reason,
        })?;
        let Value::Map(mut map) = value else {
            return Err(LogLineError::NotAMapping {
                found: value.kind(),
            });
        };
        let lvl = match map.remove("lvl") {
            Some(Value::Str(lvl)) => LogLevel::from_name(&lvl),
            Some(other) => {
                return Err(LogLineError::NotAString {
                    field: "lvl",
                    found: other.kind(),
                })
            }
            None => return Err(LogLineError::Missing("lvl")),
        };
        let msg = map.remove("msg").ok_or(LogLineError::Missing("msg"))?;
        let dt = match map.remove("dt") {
            None => None,
            Some(Value::Str(dt)) => Some(dt),
            Some(other) => {
                return Err(LogLineError::NotAString {
                    field: "dt",
                    found: other.kind(),
                })
            }
        };
        Ok(LogRecord { dt, lvl, msg })
    }

    /// The line lava-run would send for this record.
    ///
    /// Like lava-run, a line of [`MAX_LINE_CHARS`] characters or more gets its `msg`
    /// replaced: by [`LINE_TOO_LONG`] when it is a string, else by
    /// `{"skip": LINE_TOO_LONG_SKIP}`.
    pub fn to_line(&self) -> String {
        let line = self.dump(&self.msg);
        if line.len() < MAX_LINE_CHARS {
            // Every character of the dump is ASCII, so bytes count characters.
            return line;
        }
        let replacement = match self.msg {
            Value::Str(_) => Value::from(LINE_TOO_LONG),
            _ => Value::Map(Mapping::from([(
                "skip".to_owned(),
                Value::from(LINE_TOO_LONG_SKIP),
            )])),
        };
        self.dump(&replacement)
    }

    fn dump(&self, msg: &Value) -> String {
        let mut out = String::with_capacity(64);
        out.push('{');
        if let Some(dt) = &self.dt {
            emit::emit_str("dt", &mut out);
            out.push_str(": ");
            emit::emit_str(dt, &mut out);
            out.push_str(", ");
        }
        emit::emit_str("lvl", &mut out);
        out.push_str(": ");
        emit::emit_str(self.lvl.as_str(), &mut out);
        out.push_str(", ");
        emit::emit_str("msg", &mut out);
        out.push_str(": ");
        emit::emit(msg, &mut out);
        out.push('}');
        out
    }

    /// The test result of a `results` record (`None` for other levels).
    pub fn test_result(&self) -> Option<Result<TestCaseReport, ResultError>> {
        (self.lvl == LogLevel::Results).then(|| TestCaseReport::from_msg(&self.msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_first_record_round_trips() {
        let line = r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "lava-dispatcher, installed at version: 2020.05"}"#;
        let record = LogRecord::parse(line).unwrap();
        assert_eq!(record.lvl, LogLevel::Info);
        assert_eq!(record.dt.as_deref(), Some("2026-11-24T14:18:12.827439"));
        assert_eq!(record.to_line(), line);
    }

    #[test]
    fn required_keys() {
        assert_eq!(
            LogRecord::parse(r#"{"dt": "x", "msg": "m"}"#),
            Err(LogLineError::Missing("lvl"))
        );
        assert_eq!(
            LogRecord::parse(r#"{"lvl": "info"}"#),
            Err(LogLineError::Missing("msg"))
        );
        assert_eq!(
            LogRecord::parse(r#"{"lvl": ! "3", "msg": "m"}"#),
            Err(LogLineError::NotAString {
                field: "lvl",
                found: "an integer"
            })
        );
        assert_eq!(
            LogRecord::parse(r#"["lvl", "msg"]"#),
            Err(LogLineError::NotAMapping {
                found: "a sequence"
            })
        );
        let record = LogRecord::parse(r#"{"lvl": "custom", "msg": "m", "x": "y"}"#).unwrap();
        assert_eq!(record.lvl, LogLevel::Other("custom".to_owned()));
        assert_eq!(record.dt, None);
    }

    #[test]
    fn long_lines_are_replaced_like_lava_run() {
        let record = LogRecord::new("t", LogLevel::Target, "x".repeat(MAX_LINE_CHARS));
        assert_eq!(
            record.to_line(),
            r#"{"dt": "t", "lvl": "target", "msg": "<line way too long ...>"}"#
        );
        let mut map = Mapping::new();
        map.insert(
            "case".to_owned(),
            Value::from("é".repeat(MAX_LINE_CHARS / 4)),
        );
        let record = LogRecord::new("t", LogLevel::Results, map);
        assert_eq!(
            record.to_line(),
            r#"{"dt": "t", "lvl": "results", "msg": {"skip": "line way too long ..."}}"#
        );
    }

    #[test]
    fn the_limit_is_on_the_dumped_length() {
        // 37 characters of frame around the message: the dump is exactly at the limit.
        let frame = r#"{"dt": "t", "lvl": "info", "msg": ""}"#.len();
        let at_limit = LogRecord::new("t", LogLevel::Info, "a".repeat(MAX_LINE_CHARS - frame));
        assert_eq!(
            at_limit.to_line(),
            r#"{"dt": "t", "lvl": "info", "msg": "<line way too long ...>"}"#
        );
        let below = LogRecord::new("t", LogLevel::Info, "a".repeat(MAX_LINE_CHARS - frame - 1));
        assert_eq!(below.to_line().len(), MAX_LINE_CHARS - 1);
    }

    #[test]
    fn log_frames() {
        let frames = encode_log_frames(1001, "{}");
        assert_eq!(decode_log_frames(&frames), Ok((1001, "{}")));
        assert_eq!(
            decode_log_frames(&[b"1001".to_vec()]),
            Err(LogFrameError::Count(1))
        );
        assert_eq!(
            decode_log_frames(&[&b"x1"[..], b"{}"]),
            Err(LogFrameError::BadJobId("x1".to_owned()))
        );
        assert_eq!(
            decode_log_frames(&[&b"1"[..], b"{\xff}"]),
            Err(LogFrameError::LineNotUtf8 { valid_up_to: 1 })
        );
    }
}
