//! lava-run's log batches: the `lines` and `index` fields of `POST jobs/<id>/logs/`.
//!
//! lava-run sends up to 1000 records joined into a YAML block list, `"- " + "\n- ".join(records)`.
//! Each record is one line (PyYAML's flow style with a width of 10⁶, longer records
//! replaced by a stub), so the list is split on its line breaks rather than parsed as a
//! whole: every record is then handled exactly as one from the ZeroMQ log socket, and one
//! broken record does not cost the others.

use super::form::Form;

/// A batch as sent: the records and how many the server had acknowledged before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBatch<'a> {
    /// The records, in order, each a YAML flow mapping on one line.
    pub records: Vec<&'a str>,
    /// The count of this job's records the sender believes the server has (`index`).
    pub index: u64,
}

/// Why a batch is refused (LAVA answers 400 with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No `lines` field.
    #[error("Missing 'lines'")]
    MissingLines,
    /// No `index` field.
    #[error("Missing 'index'")]
    MissingIndex,
    /// `index` is not a count.
    #[error("Invalid 'index'")]
    InvalidIndex,
    /// `lines` is not a list of one-line records.
    #[error("Invalid 'lines': line {line} does not start with '- '")]
    NotAList {
        /// The 1-based line.
        line: usize,
    },
}

impl<'a> LogBatch<'a> {
    /// The batch a decoded form holds.
    pub fn from_form(form: &'a Form) -> Result<LogBatch<'a>, BatchError> {
        let lines = form.get("lines").ok_or(BatchError::MissingLines)?;
        let index = form.get("index").ok_or(BatchError::MissingIndex)?;
        let index = index
            .trim()
            .parse::<u64>()
            .map_err(|_| BatchError::InvalidIndex)?;
        Ok(LogBatch {
            records: split_records(lines)?,
            index,
        })
    }

    /// How many leading records the server has already (`stored` of this job's records
    /// consumed so far): they are acknowledged again but not written twice.
    pub fn already_stored(&self, stored: u64) -> usize {
        let skip = stored.saturating_sub(self.index);
        usize::try_from(skip)
            .unwrap_or(usize::MAX)
            .min(self.records.len())
    }
}

/// The records of a `lines` field. An empty field is an empty batch.
pub fn split_records(lines: &str) -> Result<Vec<&str>, BatchError> {
    let lines = lines.strip_suffix('\n').unwrap_or(lines);
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    lines
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            line.strip_prefix("- ")
                .or_else(|| (line == "-").then_some(""))
                .ok_or(BatchError::NotAList { line: i + 1 })
        })
        .collect()
}

/// Joins records as lava-run does (for tests, benchmarks and clients).
pub fn join_records<S: AsRef<str>>(records: &[S]) -> String {
    let mut out = String::new();
    for (i, record) in records.iter().enumerate() {
        out.push_str(if i == 0 { "- " } else { "\n- " });
        out.push_str(record.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"dt": "2023-01-01T00:00:00.000000", "lvl": "info", "msg": "a - b\n- c"}"#;
    const B: &str = r#"{"dt": "2023-01-01T00:00:01.000000", "lvl": "results", "msg": {"case": "x", "definition": "lava", "result": "pass", "size": ! "14"}}"#;

    #[test]
    fn splits_what_lava_run_joins() {
        let joined = join_records(&[A, B]);
        assert_eq!(split_records(&joined).unwrap(), [A, B]);
        assert_eq!(split_records("").unwrap(), Vec::<&str>::new());
        assert_eq!(split_records("- x\n").unwrap(), ["x"]);
    }

    #[test]
    fn refuses_what_is_not_a_list_of_lines() {
        assert_eq!(
            split_records("- a\n  b"),
            Err(BatchError::NotAList { line: 2 })
        );
        assert_eq!(split_records("{}"), Err(BatchError::NotAList { line: 1 }));
    }

    #[test]
    fn index_and_lines_are_required() {
        let form = Form::parse(b"lines=-+x").unwrap();
        assert_eq!(LogBatch::from_form(&form), Err(BatchError::MissingIndex));
        let form = Form::parse(b"index=1").unwrap();
        assert_eq!(LogBatch::from_form(&form), Err(BatchError::MissingLines));
        let form = Form::parse(b"index=-1&lines=").unwrap();
        assert_eq!(LogBatch::from_form(&form), Err(BatchError::InvalidIndex));
        let form = Form::parse(b"index=2&lines=-+x%0A-+y%0A-+z").unwrap();
        let batch = LogBatch::from_form(&form).unwrap();
        assert_eq!(batch.records, ["x", "y", "z"]);
        assert_eq!(batch.already_stored(0), 0);
        assert_eq!(batch.already_stored(3), 1);
        assert_eq!(batch.already_stored(99), 3);
    }
}
