//! Per-job records: test cases, log metadata, END bookkeeping.

use super::*;
use crate::error::{Result, StoreError};
use crate::sql::{Cols, Param, SqlTx};
use crate::types::{JobEnd, JobLog, TestCase};
use lava_core::model::JobId;
use lava_core::model::TestResult;
use lava_core::time::Timestamp;

fn require_job(tx: &mut dyn SqlTx, id: JobId) -> Result<()> {
    if exists(tx, "SELECT 1 FROM jobs WHERE id = ?", Param::Int(id))? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("job {id}")))
    }
}

fn line(v: Option<u64>, what: &str) -> Result<Param<'static>> {
    v.map(|n| {
        i64::try_from(n)
            .map(Param::Int)
            .map_err(|_| StoreError::Invalid {
                field: what.to_owned(),
                reason: format!("{n} is too large"),
            })
    })
    .transpose()
    .map(|p| p.unwrap_or(Param::Null))
}

pub(crate) fn add_test_cases(tx: &mut dyn SqlTx, job: JobId, cases: &[TestCase]) -> Result<()> {
    require_job(tx, job)?;
    for case in cases {
        let start = line(case.start_log_line, "start_log_line")?;
        let end = line(case.end_log_line, "end_log_line")?;
        tx.execute(
            "INSERT INTO test_cases (job, suite, test_set, name, result, measurement, units, \
             metadata, logged, start_log_line, end_log_line) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                Param::Int(job),
                (&case.suite).into(),
                case.test_set.as_ref().into(),
                (&case.name).into(),
                Param::Int(i64::from(case.result.code())),
                case.measurement.as_ref().into(),
                (&case.units).into(),
                case.metadata.as_ref().into(),
                Param::Int(case.logged.0),
                start,
                end,
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn test_cases(tx: &mut dyn SqlTx, job: JobId) -> Result<Vec<TestCase>> {
    require_job(tx, job)?;
    tx.query(
        "SELECT suite, test_set, name, result, measurement, units, metadata, logged, \
         start_log_line, end_log_line FROM test_cases WHERE job = ? ORDER BY id",
        &[Param::Int(job)],
    )?
    .into_iter()
    .map(|row| {
        let what = || format!("a test case of job {job}");
        let mut c = Cols::new(row, &what);
        Ok(TestCase {
            suite: c.text()?,
            test_set: c.opt_text()?,
            name: c.text()?,
            result: c.code("result", TestResult::from_code)?,
            measurement: c.opt_text()?,
            units: c.text()?,
            metadata: c.opt_text()?,
            logged: Timestamp(c.int()?),
            start_log_line: c.opt_count("start_log_line")?,
            end_log_line: c.opt_count("end_log_line")?,
        })
    })
    .collect()
}

pub(crate) fn set_job_log(tx: &mut dyn SqlTx, job: JobId, log: &JobLog) -> Result<()> {
    let lines = line(Some(log.line_count), "line_count")?;
    let n = tx.execute(
        "UPDATE jobs SET log_dir = ?, log_lines = ? WHERE id = ?",
        &[(&log.output_dir).into(), lines, Param::Int(job)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("job {job}")));
    }
    Ok(())
}

pub(crate) fn job_log(tx: &mut dyn SqlTx, job: JobId) -> Result<Option<JobLog>> {
    let rows = tx.query(
        "SELECT log_dir, log_lines FROM jobs WHERE id = ?",
        &[Param::Int(job)],
    )?;
    let Some(row) = rows.into_iter().next() else {
        return Err(StoreError::NotFound(format!("job {job}")));
    };
    let what = || format!("the log of job {job}");
    let mut c = Cols::new(row, &what);
    match (c.opt_text()?, c.opt_count("log_lines")?) {
        (Some(output_dir), lines) => Ok(Some(JobLog {
            output_dir,
            line_count: lines.unwrap_or(0),
        })),
        (None, _) => Ok(None),
    }
}

pub(crate) fn job_end(tx: &mut dyn SqlTx, job: JobId) -> Result<JobEnd> {
    let rows = tx.query(
        "SELECT end_processed, end_description, end_processed_at FROM jobs WHERE id = ?",
        &[Param::Int(job)],
    )?;
    let Some(row) = rows.into_iter().next() else {
        return Err(StoreError::NotFound(format!("job {job}")));
    };
    let what = || format!("the END record of job {job}");
    let mut c = Cols::new(row, &what);
    Ok(JobEnd {
        processed: c.bool()?,
        description: c.opt_text()?,
        processed_at: c.opt_int()?.map(Timestamp),
    })
}

pub(crate) fn job_token(tx: &mut dyn SqlTx, job: JobId) -> Result<Option<String>> {
    let rows = tx.query("SELECT token FROM jobs WHERE id = ?", &[Param::Int(job)])?;
    let Some(row) = rows.into_iter().next() else {
        return Err(StoreError::NotFound(format!("job {job}")));
    };
    let what = || format!("the token of job {job}");
    Cols::new(row, &what).opt_text()
}

pub(crate) fn set_job_token(tx: &mut dyn SqlTx, job: JobId, token: &str) -> Result<()> {
    let n = tx.execute(
        "UPDATE jobs SET token = ? WHERE id = ?",
        &[token.into(), Param::Int(job)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("job {job}")));
    }
    Ok(())
}
