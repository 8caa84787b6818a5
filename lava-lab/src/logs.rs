//! Job logs as the master writes them: each record lava-run sends goes to the job's
//! `output.yaml` / `output.idx` first (LAVA's order), then its test result is stored.
//!
//! [`JobLogs`] keeps the logs of running jobs open between records and closes those not
//! written for a while; on close it records the log's place and length in the store.

use crate::error::{LabError, Result};
use crate::job_output::JobLog;
use crate::lab::Lab;
use lava_core::model::{JobHealth, JobId};
use lava_core::protocol::log::{LogLevel, LogRecord};
use lava_core::time::Timestamp;
use std::collections::HashMap;
use std::path::PathBuf;

/// What the final `lava`/`job` result means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalResult {
    /// It finishes the job: the ZeroMQ generation, where lava-logs ends jobs from the log
    /// stream.
    FinishesJob,
    /// It is only a test result: the HTTP generation, where lava-worker's FINISHED ends the
    /// job.
    Recorded,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Written to the log (and its result stored, if it carries one).
    Stored {
        /// The job finished because of it (its final result), with this health.
        finished: Option<JobHealth>,
    },
    /// Not written, as lava-logs does not write it (a `marker` record).
    Skipped,
    /// Not usable; the reason says why (a line that is not a record, an unknown job).
    Dropped(String),
}

struct OpenLog {
    log: JobLog,
    dir: PathBuf,
    last_write: Timestamp,
}

/// The open logs of the jobs that are sending records.
#[derive(Default)]
pub struct JobLogs {
    open: HashMap<JobId, OpenLog>,
}

impl JobLogs {
    /// No log open.
    pub fn new() -> Self {
        JobLogs::default()
    }

    /// One record line from lava-run for `job`.
    pub async fn append(
        &mut self,
        lab: &Lab,
        job: JobId,
        line: &str,
        final_result: FinalResult,
    ) -> Result<Appended> {
        let record = match LogRecord::parse(line) {
            Ok(record) => record,
            Err(e) => return Ok(Appended::Dropped(format!("not a log record: {e}"))),
        };
        let open = match self.open.entry(job) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let Some(row) = lab.store().job(job).await? else {
                    return Ok(Appended::Dropped(format!("job {job} does not exist")));
                };
                let dir = lab.job_output_dir(&row).await?;
                let log =
                    JobLog::open(&dir).map_err(|e| LabError::io(dir.join("output.yaml"), e))?;
                entry.insert(OpenLog {
                    log,
                    dir,
                    last_write: lab.now(),
                })
            }
        };
        if record.lvl == LogLevel::Marker {
            return Ok(Appended::Skipped);
        }
        open.log
            .append(line)
            .map_err(|e| LabError::io(open.dir.join("output.yaml"), e))?;
        open.last_write = lab.now();
        let report = match record.test_result() {
            None => return Ok(Appended::Stored { finished: None }),
            Some(Err(e)) => {
                tracing::debug!(job, "results record without a usable result: {e}");
                return Ok(Appended::Stored { finished: None });
            }
            Some(Ok(report)) => report,
        };
        lab.record_test_case(job, &report, &record.msg.to_flow_yaml())
            .await?;
        let mut finished = None;
        if report.is_job_result() && final_result == FinalResult::FinishesJob {
            finished = lab.final_result(job, &report).await?;
            self.close(lab, job).await;
        }
        Ok(Appended::Stored { finished })
    }

    /// Where the open log of `job` is, if it is open.
    pub fn output_dir(&self, job: JobId) -> Option<&PathBuf> {
        self.open.get(&job).map(|open| &open.dir)
    }

    /// Closes the log of `job`, recording its place and length.
    pub async fn close(&mut self, lab: &Lab, job: JobId) {
        if let Some(open) = self.open.remove(&job) {
            let record = lava_store::JobLog {
                output_dir: open.dir.display().to_string(),
                line_count: open.log.lines(),
            };
            if let Err(e) = lab.store().set_job_log(job, &record).await {
                tracing::warn!(job, "cannot record the size of the job's log: {e}");
            }
        }
    }

    /// Closes the logs not written for `idle_secs` (LAVA's lava-logs: 60 s).
    pub async fn close_idle(&mut self, lab: &Lab, idle_secs: i64) {
        let now = lab.now();
        let idle: Vec<JobId> = self
            .open
            .iter()
            .filter(|(_, open)| open.last_write.add_secs(idle_secs) < now)
            .map(|(id, _)| *id)
            .collect();
        for job in idle {
            self.close(lab, job).await;
        }
    }

    /// Closes every log (the master is stopping).
    pub async fn close_all(&mut self, lab: &Lab) {
        let jobs: Vec<JobId> = self.open.keys().copied().collect();
        for job in jobs {
            self.close(lab, job).await;
        }
    }
}
