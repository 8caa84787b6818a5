//! A job's run as the master sees it: what START carries, Running, the dispatcher's END, and
//! how the job finishes.
//!
//! [`JobEnding`] names every way a run ends and [`finished_health`] is the one rule for the
//! health a finished job gets, whichever protocol reported the end.

use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::worker_files::WorkerFiles;
use lava_core::master::StartPayload;
use lava_core::model::{
    transitions, ErrorType, Job, JobHealth, JobId, JobState, TestResult, WorkerProtocol,
};
use lava_core::templates::JobContext;
use lava_store::{ChangeSet, Precondition, TestCase};

/// How a job's run ended, as the master learnt it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnding {
    /// The dispatcher's verdict: lava-run's final `lava`/`job` result (ZeroMQ log records),
    /// or lava-worker's FINISHED report (HTTP).
    Result {
        /// `pass`.
        passed: bool,
        /// The error class it gave (none on a pass).
        error_type: ErrorType,
        /// The error message it gave, if any.
        error_msg: Option<String>,
    },
    /// lava-run crashed or never ran: its END carried no description.
    Crashed {
        /// lava-run's stderr, possibly empty.
        errors: String,
    },
    /// lava-run ended but its final result never reached the master in time (lost log
    /// records): the job ends rather than staying Running for ever as in LAVA.
    ResultMissing,
    /// The master could not start the job (its START could not be built).
    NotStarted {
        /// Why, naming the file or the dictionary.
        reason: String,
    },
    /// lava-worker fetched the job again after it had started: the worker lost it (its
    /// state directory), and would run it a second time. The job ends rather than run twice.
    WorkerLost {
        /// The worker.
        worker: String,
    },
}

impl JobEnding {
    /// The error class recorded for this ending.
    fn error_type(&self) -> ErrorType {
        match self {
            JobEnding::Result { error_type, .. } => error_type.clone(),
            _ => ErrorType::Infrastructure,
        }
    }

    /// The failure comment recorded on the job, if any.
    fn comment(&self) -> Option<String> {
        match self {
            JobEnding::Result { error_msg, .. } => error_msg.clone(),
            JobEnding::Crashed { errors } if errors.is_empty() => {
                Some("lava-run crashed or never ran: no job description".to_owned())
            }
            JobEnding::Crashed { errors } => Some(errors.clone()),
            JobEnding::ResultMissing => {
                Some("lava-run ended but its final result never reached the master".to_owned())
            }
            JobEnding::NotStarted { reason } => Some(reason.clone()),
            JobEnding::WorkerLost { worker } => Some(format!(
                "worker {worker} lost this job while it ran (its state directory?) and asked for it again: not run twice"
            )),
        }
    }
}

/// The health a job gets when it finishes: Canceled if it was being canceled, whatever the
/// dispatcher said (LAVA's `go_state_finished`); otherwise Complete only on a passing result.
pub fn finished_health(job: &Job, ending: &JobEnding) -> JobHealth {
    if job.state == JobState::Canceling {
        return JobHealth::Canceled;
    }
    match ending {
        JobEnding::Result { passed: true, .. } => JobHealth::Complete,
        _ => JobHealth::Incomplete,
    }
}

/// What a job's END said, as the lab records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndReport {
    /// lava-run's stderr.
    pub errors: String,
    /// `description.yaml` as text; `None` when lava-run crashed or never ran (or the
    /// description could not be read).
    pub description: Option<String>,
}

/// Where and with what a job starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStart {
    /// The worker of the job's device.
    pub worker: String,
    /// What START carries.
    pub payload: StartPayload,
    /// How that worker last connected (ZeroMQ when it never did): which of the master's
    /// machines serves the job.
    pub protocol: WorkerProtocol,
}

impl Lab {
    /// What START carries for `job` and where it goes: its definition, its device's
    /// dictionary rendered with the job's context, and its worker's files.
    pub async fn job_start(&self, job: &Job) -> Result<JobStart> {
        let hostname = job.actual_device.as_deref().ok_or_else(|| {
            LabError::Invalid(format!(
                "job {} has no device (a multinode dynamic connection, which lava-rs does not run yet)",
                job.id
            ))
        })?;
        let device = self.device(hostname).await?;
        let worker = device.worker.as_deref().ok_or_else(|| {
            LabError::Invalid(format!("device '{hostname}' is not attached to a worker"))
        })?;
        let context = job_context(&job.definition)
            .map_err(|e| LabError::Invalid(format!("job {}: context: {e}", job.id)))?;
        let rendered =
            self.renderer()
                .render_for_job(&device.hostname, &device.device_type, &context)?;
        let WorkerFiles {
            dispatcher,
            env,
            env_dut,
        } = self.worker_files(worker)?;
        let protocol = self.worker_protocol(worker).await?;
        Ok(JobStart {
            protocol,
            worker: worker.to_owned(),
            payload: StartPayload {
                job: job.definition.clone(),
                device: rendered,
                dispatcher,
                env,
                env_dut,
            },
        })
    }

    /// How `worker` last connected; ZeroMQ for a worker that never did (or is gone).
    pub async fn worker_protocol(&self, worker: &str) -> Result<WorkerProtocol> {
        Ok(self
            .store()
            .worker_access(worker)
            .await?
            .and_then(|a| a.protocol)
            .unwrap_or(WorkerProtocol::Zmq))
    }

    /// The worker of the device a job holds, if it holds one on a worker.
    pub async fn worker_of(&self, job: &Job) -> Result<Option<String>> {
        let Some(hostname) = &job.actual_device else {
            return Ok(None);
        };
        Ok(self.store().device(hostname).await?.and_then(|d| d.worker))
    }

    /// The dispatcher started the job (START_OK, or lava-worker's RUNNING): Scheduled →
    /// Running. Anything else (a repeat, a job canceled meanwhile) changes nothing.
    pub async fn job_running(&self, id: JobId) -> Result<()> {
        self.retrying(&format!("job {id}"), || async {
            let job = self.job(id).await?;
            if job.state != JobState::Scheduled {
                return Ok(());
            }
            let device = match &job.actual_device {
                Some(hostname) => Some(self.device(hostname).await?),
                None => None,
            };
            let changes = transitions::job_running(&job, device.as_ref(), self.now())?;
            let set = change_set(changes).require(Precondition::JobState(id, JobState::Scheduled));
            self.store().apply(&set).await?;
            tracing::info!(job = id, "job running");
            Ok(())
        })
        .await
    }

    /// lava-run's END: the description is kept beside the log, the END is recorded as
    /// processed, and a job whose lava-run crashed (no description) finishes in the same
    /// write. Returns the health the job finished with, if it finished here.
    pub async fn job_ended(&self, id: JobId, end: &EndReport) -> Result<Option<JobHealth>> {
        let job = self.job(id).await?;
        if let Some(text) = &end.description {
            let dir = self.job_output_dir(&job).await?;
            let path = dir.join("description.yaml");
            crate::files::write_atomically(&path, text).map_err(|e| LabError::io(&path, e))?;
        }
        let crashed = end.description.is_none();
        self.retrying(&format!("job {id}"), || async {
            let job = self.job(id).await?;
            let mut set = ChangeSet::new().end(id, end.description.clone(), self.now());
            let mut health = None;
            if crashed && job.state != JobState::Finished {
                let ending = JobEnding::Crashed {
                    errors: end.errors.clone(),
                };
                let (finish, h) = self.finish_changes(&job, &ending).await?;
                set.preconditions.extend(finish.preconditions);
                set.jobs.extend(finish.jobs);
                set.devices.extend(finish.devices);
                health = Some(h);
            }
            self.store().apply(&set).await?;
            Ok(health)
        })
        .await
    }

    /// Finishes a job as `ending` says (see [`finished_health`]), freeing its device and
    /// setting the device's health as LAVA does. A job that finished already is left as it
    /// is: `None`.
    pub async fn finish_job(&self, id: JobId, ending: &JobEnding) -> Result<Option<JobHealth>> {
        let health = self
            .retrying(&format!("job {id}"), || async {
                let job = self.job(id).await?;
                if job.state == JobState::Finished {
                    return Ok(None);
                }
                let (set, health) = self.finish_changes(&job, ending).await?;
                self.store().apply(&set).await?;
                Ok(Some(health))
            })
            .await?;
        if let Some(health) = health {
            if let JobEnding::NotStarted { reason } = ending {
                self.store()
                    .add_test_cases(id, &[self.not_started_case(reason)])
                    .await?;
            }
            tracing::info!(job = id, %health, "job finished");
        }
        Ok(health)
    }

    /// The rows of `job` finishing as `ending` says, with its device freed, and the health it
    /// gets.
    pub(crate) async fn finish_changes(
        &self,
        job: &Job,
        ending: &JobEnding,
    ) -> Result<(ChangeSet, JobHealth)> {
        let device = match &job.actual_device {
            Some(hostname) => self.store().device(hostname).await?,
            None => None,
        };
        let health = finished_health(job, ending);
        let changes = transitions::job_finished(
            job,
            device.as_ref(),
            health,
            &ending.error_type(),
            self.now(),
        )?;
        let mut set = change_set(changes).require(Precondition::JobState(job.id, job.state));
        if let Some(comment) = ending.comment() {
            for row in &mut set.jobs {
                if row.id == job.id {
                    row.failure_comment = Some(comment.clone());
                }
            }
        }
        Ok((set, health))
    }

    /// The `lava`/`job` fail result recorded for a job that could not be started, as
    /// lava-run would have logged it.
    fn not_started_case(&self, reason: &str) -> TestCase {
        let metadata = serde_json::json!({
            "definition": "lava",
            "case": "job",
            "result": "fail",
            "error_type": "Infrastructure",
            "error_msg": reason,
        });
        TestCase {
            suite: "lava".into(),
            test_set: None,
            name: "job".into(),
            result: TestResult::Fail,
            measurement: None,
            units: String::new(),
            metadata: Some(metadata.to_string()),
            logged: self.now(),
            start_log_line: None,
            end_log_line: None,
        }
    }
}

/// A transition's rows as a change set.
pub(crate) fn change_set(changes: transitions::Changes) -> ChangeSet {
    ChangeSet {
        jobs: changes.jobs,
        devices: changes.devices,
        workers: changes.workers,
        ..ChangeSet::default()
    }
}

/// The job's `context:` mapping: the variables its device dictionary is rendered with.
fn job_context(definition: &str) -> std::result::Result<JobContext, String> {
    let value: serde_json::Value = serde_saphyr::from_str(definition).map_err(|e| e.to_string())?;
    match value.get("context") {
        None | Some(serde_json::Value::Null) => Ok(JobContext::empty()),
        Some(context @ serde_json::Value::Object(_)) => {
            JobContext::from_serialize(context).map_err(|e| e.to_string())
        }
        Some(_) => Err("`context` must be a mapping".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lava_core::model::{JobHealth, JobState};

    fn job(state: JobState) -> Job {
        Job {
            id: 1,
            submitter: "bob".into(),
            definition: String::new(),
            state,
            health: JobHealth::Unknown,
            priority: Default::default(),
            submit_time: Default::default(),
            start_time: None,
            end_time: None,
            requested_device_type: None,
            tags: Default::default(),
            multinode: None,
            health_check: false,
            actual_device: None,
            failure_comment: None,
            is_public: true,
        }
    }

    #[test]
    fn one_rule_for_a_finished_jobs_health() {
        let pass = JobEnding::Result {
            passed: true,
            error_type: ErrorType::None,
            error_msg: None,
        };
        let fail = JobEnding::Result {
            passed: false,
            error_type: ErrorType::Test,
            error_msg: None,
        };
        let running = job(JobState::Running);
        assert_eq!(finished_health(&running, &pass), JobHealth::Complete);
        assert_eq!(finished_health(&running, &fail), JobHealth::Incomplete);
        for ending in [
            JobEnding::Crashed {
                errors: String::new(),
            },
            JobEnding::ResultMissing,
            JobEnding::NotStarted { reason: "x".into() },
            JobEnding::WorkerLost { worker: "w".into() },
        ] {
            assert_eq!(finished_health(&running, &ending), JobHealth::Incomplete);
            assert_eq!(ending.error_type(), ErrorType::Infrastructure);
            assert!(ending.comment().is_some());
        }
        let canceling = job(JobState::Canceling);
        assert_eq!(finished_health(&canceling, &pass), JobHealth::Canceled);
        assert_eq!(
            finished_health(&canceling, &JobEnding::ResultMissing),
            JobHealth::Canceled
        );
    }

    #[test]
    fn context_is_the_definitions_context_mapping() {
        assert!(job_context("job_name: x\n").is_ok());
        assert!(job_context("context: {arch: arm64}\n").is_ok());
        assert!(job_context("context: [a]\n").is_err());
    }
}
