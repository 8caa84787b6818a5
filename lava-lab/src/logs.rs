//! Job logs as the master writes them: each record lava-run sends goes to the job's
//! `output.yaml` / `output.idx` first (LAVA's order), then its test result is stored.
//!
//! The two steps are separate calls, so that a driver can retry each after a disk or store
//! error without writing a line twice: [`JobLogs::write`] appends the line and hands back the
//! result it holds ([`LoggedResult`]), [`Lab::store_result`] stores it. The store keeps, with
//! every result and in the same transaction, how far the log's results are stored
//! ([`lava_store::JobLog::line_count`]); a result that reached `output.yaml` but not the
//! store (the master was killed in between) is read back from the log the next time the
//! log is opened ([`JobLogs::recover`]), and stored then. A job's final `lava`/`job`
//! result, its test case, its log position and the job's end are one transaction.
//!
//! [`JobLogs`] keeps the logs of running jobs open between records and closes those not
//! written for a while.

use crate::error::{LabError, Result};
use crate::job_output::{for_each_line_from, JobLog};
use crate::lab::Lab;
use crate::run::JobEnding;
use lava_core::model::{JobHealth, JobId, JobState, TestResult};
use lava_core::protocol::log::{LogLevel, LogRecord, TestCaseReport};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, TestCase};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

/// A test result that is in a job's `output.yaml` and is to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedResult {
    /// The job.
    pub job: JobId,
    /// The log's directory.
    pub output_dir: PathBuf,
    /// The line of `output.yaml` that holds it (0-based).
    pub line: u64,
    /// The result.
    pub report: TestCaseReport,
    /// Its `msg` mapping, kept as the test case's metadata (LAVA's `TestCase.metadata`).
    pub metadata: String,
}

impl LoggedResult {
    /// Whether this is the job's final `lava`/`job` result.
    pub fn is_job_result(&self) -> bool {
        self.report.is_job_result()
    }

    /// The result of line `line` of `job`'s log, if the line is a results record with a
    /// usable result.
    fn from_line(job: JobId, output_dir: &Path, line: u64, text: &str) -> Option<Self> {
        let record = LogRecord::parse(text).ok()?;
        Self::from_record(job, output_dir, line, &record)
    }

    /// [`LoggedResult::from_line`] for a record parsed already.
    fn from_record(job: JobId, output_dir: &Path, line: u64, record: &LogRecord) -> Option<Self> {
        match record.test_result()? {
            Ok(report) => Some(LoggedResult {
                job,
                output_dir: output_dir.to_path_buf(),
                line,
                report,
                metadata: record.msg.to_flow_yaml(),
            }),
            Err(e) => {
                tracing::debug!(job, line, "results record without a usable result: {e}");
                None
            }
        }
    }
}

/// What [`JobLogs::write`] did with one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Appended to `output.yaml`; what remains to be stored, in this order: the results
    /// the log held from before this process opened it (after a crash), then this
    /// record's own result.
    Logged(Vec<LoggedResult>),
    /// Not written, as lava-logs does not write it (a `marker` record).
    Skipped,
    /// Not usable; the reason says why (a line that is not a record, an unknown job).
    Dropped(String),
}

struct OpenLog {
    log: JobLog,
    dir: PathBuf,
    last_write: Timestamp,
    /// The log's lines from this one on may hold results the store does not have (read
    /// back from `output.yaml` when the log was opened): handed out with the next write or
    /// [`JobLogs::recover`]. Handed out twice (a log closed and opened again while its
    /// results wait) is harmless: [`Lab::store_result`] stores each line once.
    unaccounted: Option<u64>,
}

/// What [`JobLogs::write_batch`] did with one batch of lava-run's records (HTTP).
#[derive(Debug, Default)]
pub struct BatchWritten {
    /// How many of the batch's records are taken, from its first on: already in the log
    /// (a batch sent again), written, or set aside as the ZeroMQ sink sets them aside
    /// (markers, lines that are not records). lava-run is answered `line_count` = this.
    pub consumed: usize,
    /// Leading records the log had already: acknowledged again, not written twice.
    pub duplicates: usize,
    /// Records that are not usable, and why the first was not.
    pub dropped: usize,
    /// Why the first dropped record was dropped.
    pub first_drop: Option<String>,
    /// Records the sender counts as acknowledged that this log never took (its `index` is
    /// ahead of the log): they are lost upstream; the batch is written all the same.
    pub gap: u64,
    /// The results the written records hold, to store with [`Lab::store_result`].
    pub results: Vec<LoggedResult>,
    /// The write failed after `consumed` records; the rest is for lava-run to send again.
    pub error: Option<LabError>,
}

/// The open logs of the jobs that are sending records.
#[derive(Default)]
pub struct JobLogs {
    open: HashMap<JobId, OpenLog>,
    /// For jobs whose records come over HTTP: how many records lava-run has had
    /// acknowledged (its `index` counts them, markers included), kept while the log is
    /// closed for idleness, so that a batch sent again is not written twice.
    received: HashMap<JobId, u64>,
}

impl JobLogs {
    /// No log open.
    pub fn new() -> Self {
        JobLogs::default()
    }

    /// One record line from lava-run for `job`: written to the log, then its result stored.
    /// A driver that must survive disk and store errors calls [`JobLogs::write`] and
    /// [`Lab::store_result`] itself, so that each step can be retried alone.
    pub async fn append(
        &mut self,
        lab: &Lab,
        job: JobId,
        line: &str,
        final_result: FinalResult,
    ) -> Result<Appended> {
        let results = match self.write(lab, job, line).await? {
            Written::Logged(results) => results,
            Written::Skipped => return Ok(Appended::Skipped),
            Written::Dropped(why) => return Ok(Appended::Dropped(why)),
        };
        let mut finished = None;
        for result in &results {
            if let Some(health) = lab.store_result(result, final_result).await? {
                finished = Some(health);
                self.close(lab, job).await;
            }
        }
        Ok(Appended::Stored { finished })
    }

    /// Appends one record line from lava-run to `job`'s log (opening it first, which reads
    /// back the results a previous process wrote but did not store). Returns the results
    /// to store with [`Lab::store_result`], in order. Nothing is written when this fails.
    pub async fn write(&mut self, lab: &Lab, job: JobId, line: &str) -> Result<Written> {
        let record = match LogRecord::parse(line) {
            Ok(record) => record,
            Err(e) => return Ok(Written::Dropped(format!("not a log record: {e}"))),
        };
        if !self.open.contains_key(&job) && !self.open_log(lab, job, true).await? {
            return Ok(Written::Dropped(format!("job {job} does not exist")));
        }
        let Some(open) = self.open.get_mut(&job) else {
            return Ok(Written::Dropped(format!("job {job} has no open log")));
        };
        if record.lvl == LogLevel::Marker {
            return Ok(Written::Skipped);
        }
        let number = open.log.lines();
        open.log
            .append(line)
            .map_err(|e| LabError::io(open.dir.join("output.yaml"), e))?;
        lab.metrics().log_line();
        open.last_write = lab.now();
        let mut results = match open.unaccounted.take() {
            Some(from) => unaccounted_results(job, &open.dir, from, number)?,
            None => Vec::new(),
        };
        results.extend(LoggedResult::from_line(job, &open.dir, number, line));
        Ok(Written::Logged(results))
    }

    /// One batch of lava-run's records for `job` (HTTP, worker-http.md §2.5): the leading
    /// records the log has already are skipped (a batch sent again after a lost answer),
    /// the others written one by one exactly as [`JobLogs::write`] writes a record from the
    /// ZeroMQ log socket. A write that fails stops the batch: what was taken so far is
    /// acknowledged and the rest is for lava-run to send again, so nothing is lost or
    /// written twice. After a master restart the count starts from the log's lines.
    pub async fn write_batch(
        &mut self,
        lab: &Lab,
        job: JobId,
        records: &[&str],
        index: u64,
    ) -> Result<BatchWritten> {
        let stored = match self.received.get(&job) {
            Some(n) => *n,
            None => {
                if !self.open.contains_key(&job) && !self.open_log(lab, job, true).await? {
                    return Err(LabError::NotFound(format!("job {job}")));
                }
                self.open.get(&job).map_or(0, |open| open.log.lines())
            }
        };
        let mut out = BatchWritten {
            gap: index.saturating_sub(stored),
            ..BatchWritten::default()
        };
        let skip = usize::try_from(stored.saturating_sub(index))
            .unwrap_or(usize::MAX)
            .min(records.len());
        out.duplicates = skip;
        out.consumed = skip;
        if !self.open.contains_key(&job) && !self.open_log(lab, job, true).await? {
            return Err(LabError::NotFound(format!("job {job}")));
        }
        let Some(open) = self.open.get_mut(&job) else {
            return Err(LabError::NotFound(format!("job {job}")));
        };
        // What to write, as the ZeroMQ sink would write it one record at a time: markers
        // are not written, lines that are not records are set aside.
        let first = open.log.lines();
        let mut lines: Vec<&str> = Vec::new();
        // For each record after the duplicates: how many lines are written up to it.
        let mut written_after: Vec<usize> = Vec::with_capacity(records.len() - skip);
        let mut results: Vec<(usize, LoggedResult)> = Vec::new();
        for record in &records[skip..] {
            match LogRecord::parse(record) {
                Err(e) => {
                    out.dropped += 1;
                    out.first_drop
                        .get_or_insert_with(|| format!("not a log record: {e}"));
                }
                Ok(parsed) if parsed.lvl == LogLevel::Marker => {}
                Ok(parsed) => {
                    let number = first + lines.len() as u64;
                    if let Some(result) = LoggedResult::from_record(job, &open.dir, number, &parsed)
                    {
                        results.push((lines.len(), result));
                    }
                    lines.push(record);
                }
            }
            written_after.push(lines.len());
        }
        if let Some(from) = open.unaccounted.take() {
            out.results = unaccounted_results(job, &open.dir, from, first)?;
        }
        let written = match open.log.append_all(&lines) {
            Ok(()) => {
                open.last_write = lab.now();
                lines.len()
            }
            Err(e) => {
                // Open the log again: that repairs a torn write and says what is there.
                let path = open.dir.join("output.yaml");
                out.error = Some(LabError::io(&path, e));
                self.open.remove(&job);
                match self.open_log(lab, job, false).await {
                    Ok(true) => self
                        .open
                        .get(&job)
                        .map_or(0, |o| o.log.lines().saturating_sub(first) as usize),
                    _ => 0,
                }
            }
        };
        // Records are taken up to the first one whose line is not written (markers and
        // broken lines before it included).
        out.consumed += written_after
            .iter()
            .position(|after| *after > written)
            .unwrap_or(written_after.len());
        out.results.extend(
            results
                .into_iter()
                .filter(|(at, _)| *at < written)
                .map(|(_, r)| r),
        );
        let now_stored = stored.max(index.saturating_add(out.consumed as u64));
        self.received.insert(job, now_stored);
        Ok(out)
    }

    /// Forgets the HTTP record count of `job` (it finished: lava-run sends no more).
    pub fn forget(&mut self, job: JobId) {
        self.received.remove(&job);
    }

    /// The results that `job`'s log holds but the store does not (a previous process wrote
    /// them and was stopped before storing them), to store with [`Lab::store_result`]. A
    /// job without a log has none.
    pub async fn recover(&mut self, lab: &Lab, job: JobId) -> Result<Vec<LoggedResult>> {
        if !self.open.contains_key(&job) && !self.open_log(lab, job, false).await? {
            return Ok(Vec::new());
        }
        let Some(open) = self.open.get_mut(&job) else {
            return Ok(Vec::new());
        };
        match open.unaccounted.take() {
            Some(from) => unaccounted_results(job, &open.dir, from, open.log.lines()),
            None => Ok(Vec::new()),
        }
    }

    /// Opens `job`'s log (`create`: even if it does not exist yet). False when the job does
    /// not exist, or has no log and `create` is false.
    async fn open_log(&mut self, lab: &Lab, job: JobId, create: bool) -> Result<bool> {
        let Some(row) = lab.store().job(job).await? else {
            return Ok(false);
        };
        let dir = lab.job_output_dir(&row).await?;
        if !create && !dir.join("output.yaml").exists() {
            return Ok(false);
        }
        let stored = lab
            .store()
            .job_log(job)
            .await?
            .map_or(0, |log| log.line_count);
        let log = JobLog::open(&dir).map_err(|e| LabError::io(dir.join("output.yaml"), e))?;
        let unaccounted = (stored < log.lines()).then_some(stored);
        self.open.insert(
            job,
            OpenLog {
                log,
                dir,
                last_write: lab.now(),
                unaccounted,
            },
        );
        Ok(true)
    }

    /// Where the open log of `job` is, if it is open.
    pub fn output_dir(&self, job: JobId) -> Option<&PathBuf> {
        self.open.get(&job).map(|open| &open.dir)
    }

    /// Closes the log of `job`. Where it is gets recorded if nothing was (a job without
    /// results); how far its results are stored is [`Lab::store_result`]'s to record, never
    /// the close's, so closing a log while its results still wait loses nothing.
    pub async fn close(&mut self, lab: &Lab, job: JobId) {
        let Some(open) = self.open.remove(&job) else {
            return;
        };
        // Not worth a retry: the place is LAVA's layout anyway.
        match lab.store().job_log(job).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let record = lava_store::JobLog {
                    output_dir: open.dir.display().to_string(),
                    line_count: 0,
                };
                if let Err(e) = lab.store().set_job_log(job, &record).await {
                    tracing::warn!(job, "cannot record where the job's log is: {e}");
                }
            }
            Err(e) => tracing::warn!(job, "cannot record where the job's log is: {e}"),
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

/// The results of lines `from..to` of the log in `dir`.
fn unaccounted_results(job: JobId, dir: &Path, from: u64, to: u64) -> Result<Vec<LoggedResult>> {
    let mut results = Vec::new();
    for_each_line_from(dir, from, |n, text| {
        if n < to {
            results.extend(LoggedResult::from_line(job, dir, n, text));
        }
    })
    .map_err(|e| LabError::io(dir.join("output.yaml"), e))?;
    if !results.is_empty() {
        tracing::info!(
            job,
            results = results.len(),
            "results read back from output.yaml: the previous master stopped before storing them"
        );
    }
    Ok(results)
}

impl Lab {
    /// Stores a result of a job's log with the log's position (line + 1) in one
    /// transaction; the final `lava`/`job` result (ZeroMQ: [`FinalResult::FinishesJob`])
    /// finishes the job in that same transaction. A result the store has already (its line
    /// is below the stored position: this call was made before, and its answer lost) is not
    /// stored twice. Returns the health the job finished with, if it finished here.
    pub async fn store_result(
        &self,
        result: &LoggedResult,
        final_result: FinalResult,
    ) -> Result<Option<JobHealth>> {
        let id = result.job;
        let case = TestCase {
            suite: result.report.definition.clone(),
            test_set: None,
            name: result.report.case.clone(),
            result: result.report.result,
            measurement: result.report.measurement.map(|m| m.to_string()),
            units: result.report.units.clone().unwrap_or_default(),
            metadata: Some(result.metadata.clone()),
            logged: self.now(),
            start_log_line: None,
            end_log_line: None,
        };
        let position = lava_store::JobLog {
            output_dir: result.output_dir.display().to_string(),
            line_count: result.line + 1,
        };
        let finishes = result.is_job_result() && final_result == FinalResult::FinishesJob;
        let health = self
            .retrying(&format!("job {id}"), || async {
                let stored = self.store().job_log(id).await?;
                if stored.is_some_and(|log| log.line_count > result.line) {
                    return Ok(None);
                }
                let job = self.job(id).await?;
                let (mut set, health) = if finishes && job.state != JobState::Finished {
                    let ending = JobEnding::Result {
                        passed: result.report.result == TestResult::Pass,
                        error_type: result.report.error_type.clone().unwrap_or_default(),
                        error_msg: result.report.error_msg.clone(),
                    };
                    let (set, health) = self.finish_changes(&job, &ending).await?;
                    (set, Some(health))
                } else {
                    (ChangeSet::new(), None)
                };
                set = set.test_case(id, case.clone()).log(id, position.clone());
                self.store().apply(&set).await?;
                Ok(health)
            })
            .await?;
        if let Some(health) = health {
            tracing::info!(job = id, %health, "job finished");
        }
        Ok(health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab};

    const JOB: &str = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";
    const INFO: &str = r#"{"dt": "2020-05-01T10:00:00", "lvl": "info", "msg": "hello"}"#;
    const SMOKE: &str = r#"{"dt": "2020-05-01T10:00:01", "lvl": "results", "msg": {"case": "smoke", "definition": "0_t", "result": "pass"}}"#;
    const PASS: &str = r#"{"dt": "2020-05-01T10:00:02", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}"#;

    /// A lab with one Running job on `d1`.
    async fn running() -> (tempfile::TempDir, Lab, JobId) {
        let (dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        lab.worker_online("w1").await.unwrap();
        let id = lab.submit(JOB, "bob").await.unwrap().ids[0];
        assert_eq!(lab.schedule().await.unwrap().len(), 1);
        lab.job_running(id).await.unwrap();
        (dir, lab, id)
    }

    fn logged(written: Written) -> Vec<LoggedResult> {
        match written {
            Written::Logged(results) => results,
            other => panic!("not written: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_final_result_written_but_not_stored_is_read_back_and_finishes_the_job() {
        let (_dir, lab, id) = running().await;
        let mut logs = JobLogs::new();
        assert!(logged(logs.write(&lab, id, INFO).await.unwrap()).is_empty());
        let results = logged(logs.write(&lab, id, PASS).await.unwrap());
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].line, 1);
        assert!(results[0].is_job_result());
        // The master is killed here: the line is in output.yaml, the store knows nothing.
        drop(logs);
        assert_eq!(lab.job(id).await.unwrap().state, JobState::Running);

        let mut logs = JobLogs::new();
        let recovered = logs.recover(&lab, id).await.unwrap();
        assert_eq!(recovered, results);
        let health = lab
            .store_result(&recovered[0], FinalResult::FinishesJob)
            .await
            .unwrap();
        assert_eq!(health, Some(JobHealth::Complete));
        let job = lab.job(id).await.unwrap();
        assert_eq!(
            (job.state, job.health),
            (JobState::Finished, JobHealth::Complete)
        );
        // Stored once, however often it is handed in (an answer lost with a connection).
        assert_eq!(
            lab.store_result(&recovered[0], FinalResult::FinishesJob)
                .await
                .unwrap(),
            None
        );
        assert_eq!(lab.test_cases(id).await.unwrap().len(), 1);
        logs.close(&lab, id).await;
        assert_eq!(
            lab.store().job_log(id).await.unwrap().unwrap().line_count,
            2
        );
        assert!(JobLogs::new().recover(&lab, id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn results_read_back_come_before_the_next_records_own() {
        let (_dir, lab, id) = running().await;
        let mut logs = JobLogs::new();
        let smoke = logged(logs.write(&lab, id, SMOKE).await.unwrap());
        assert_eq!(
            lab.store_result(&smoke[0], FinalResult::FinishesJob)
                .await
                .unwrap(),
            None
        );
        logged(logs.write(&lab, id, INFO).await.unwrap());
        logged(logs.write(&lab, id, SMOKE).await.unwrap());
        drop(logs);
        // A new process gets a record: the unstored result of line 2 comes first.
        let mut logs = JobLogs::new();
        let results = logged(logs.write(&lab, id, PASS).await.unwrap());
        let lines: Vec<u64> = results.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3]);
        for result in &results {
            lab.store_result(result, FinalResult::FinishesJob)
                .await
                .unwrap();
        }
        let names: Vec<String> = lab
            .test_cases(id)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["smoke", "smoke", "job"]);
        assert_eq!(lab.job(id).await.unwrap().health, JobHealth::Complete);
    }

    #[tokio::test]
    async fn a_log_that_cannot_be_written_writes_nothing_and_can_be_retried() {
        let (dir, lab, id) = running().await;
        // The job output root is a file: no directory can be made under it.
        let root = &lab.paths().job_output;
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join("job-output"), "not a directory").unwrap();
        let mut logs = JobLogs::new();
        let err = logs.write(&lab, id, PASS).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(err.failing_part(), Some(crate::LabPart::Files));
        assert_eq!(lab.job(id).await.unwrap().state, JobState::Running);
        std::fs::remove_file(root.join("job-output")).unwrap();
        let results = logged(logs.write(&lab, id, PASS).await.unwrap());
        assert_eq!(results[0].line, 0, "the failed attempt left no line behind");
        drop(dir);
    }

    #[tokio::test]
    async fn a_batch_sent_again_is_acknowledged_but_not_written_twice() {
        let (_dir, lab, id) = running().await;
        let mut logs = JobLogs::new();
        let first = logs.write_batch(&lab, id, &[INFO, SMOKE], 0).await.unwrap();
        assert_eq!((first.consumed, first.duplicates), (2, 0));
        assert_eq!(first.results.len(), 1);
        // The answer was lost: lava-run sends the same two again with one more.
        let again = logs
            .write_batch(&lab, id, &[INFO, SMOKE, PASS], 0)
            .await
            .unwrap();
        assert_eq!((again.consumed, again.duplicates), (3, 2));
        assert_eq!(again.results.len(), 1, "only the new record's result");
        assert!(!again.results[0].is_job_result() || again.results[0].line == 2);
        let dir = logs.output_dir(id).unwrap().clone();
        assert_eq!(crate::read_lines(&dir, 0, 10).unwrap().len(), 3);
        // A master restart: the count starts again from the log.
        let mut logs = JobLogs::new();
        let after = logs.write_batch(&lab, id, &[PASS, INFO], 2).await.unwrap();
        assert_eq!((after.consumed, after.duplicates), (2, 1));
        assert_eq!(crate::read_lines(&dir, 0, 10).unwrap().len(), 4);
        // An index ahead of the log: records lost upstream, the batch is kept.
        let ahead = logs.write_batch(&lab, id, &[INFO], 10).await.unwrap();
        assert_eq!((ahead.consumed, ahead.gap), (1, 6));
        let bad = logs
            .write_batch(&lab, id, &["not: [a record"], 11)
            .await
            .unwrap();
        assert_eq!((bad.consumed, bad.dropped), (1, 1));
        assert!(bad.first_drop.is_some());
    }

    #[tokio::test]
    async fn append_writes_stores_and_finishes() {
        let (_dir, lab, id) = running().await;
        let mut logs = JobLogs::new();
        let marker =
            r#"{"dt": "x", "lvl": "marker", "msg": {"case": "a", "type": "start_test_case"}}"#;
        assert_eq!(
            logs.append(&lab, id, marker, FinalResult::FinishesJob)
                .await
                .unwrap(),
            Appended::Skipped
        );
        assert_eq!(
            logs.append(&lab, id, SMOKE, FinalResult::FinishesJob)
                .await
                .unwrap(),
            Appended::Stored { finished: None }
        );
        assert_eq!(
            logs.append(&lab, id, PASS, FinalResult::FinishesJob)
                .await
                .unwrap(),
            Appended::Stored {
                finished: Some(JobHealth::Complete)
            }
        );
        assert!(logs.output_dir(id).is_none(), "closed with the job");
        assert!(matches!(
            logs.append(&lab, 999, INFO, FinalResult::FinishesJob)
                .await
                .unwrap(),
            Appended::Dropped(_)
        ));
    }
}
