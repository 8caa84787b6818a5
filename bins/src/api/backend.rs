//! What the API needs from the lab: the [`Backend`] trait.
//!
//! The XML-RPC methods are written against this trait only. The master implements it over
//! lava-store (and lava-core's job parsing for submission and validation); the tests use
//! [`FakeBackend`](super::fake::FakeBackend). Objects travel as lava-core's model types.
//!
//! Permissions are the API layer's business: by the time a backend method is called, the
//! caller has been authenticated and allowed.

use async_trait::async_trait;
use lava_core::model::{
    Device, DeviceHealth, DeviceType, Job, JobHealth, JobId, JobState, Tag, Worker, WorkerHealth,
};
use lava_core::time::Timestamp;
use thiserror::Error;

/// Who is calling: an authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The username.
    pub username: String,
    /// Superusers may administer the lab (LAVA's `is_superuser`: every permission).
    pub is_admin: bool,
}

/// Why a backend call failed. The API turns each kind into the fault LAVA answers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackendError {
    /// The object does not exist (names it, e.g. `worker 'w1'`).
    #[error("{0} was not found")]
    NotFound(String),
    /// The object exists already (names it).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The input is invalid (says why).
    #[error("{0}")]
    Invalid(String),
    /// A job definition that cannot be accepted (says which field and why).
    #[error("{0}")]
    InvalidDefinition(String),
    /// No device can ever run the job (says why).
    #[error("{0}")]
    DevicesUnavailable(String),
    /// The store failed (says how); the API answers an internal error.
    #[error("{0}")]
    Storage(String),
}

/// The result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;

/// What a submission created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// One job.
    Job(JobId),
    /// A multinode group: the sub-job ids as LAVA displays them (`12.0`, `12.1`…).
    Multinode(Vec<String>),
}

/// Where a job definition fails the schema (`scheduler.jobs.validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// The key path, e.g. `['timeouts', 'job']`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Which jobs `scheduler.jobs.list` wants, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs with this health.
    pub health: Option<JobHealth>,
    /// Only jobs that ended at or after this time.
    pub ended_since: Option<Timestamp>,
    /// Skip this many jobs.
    pub start: usize,
    /// Return at most this many jobs.
    pub limit: usize,
    /// Only jobs this caller may see (`None`: anonymous, public jobs only).
    pub viewer: Option<User>,
}

impl JobQuery {
    /// Whether `job` passes the query's filters (state, health, end time, visibility);
    /// `start` and `limit` page the matching jobs and are applied by the caller.
    pub fn matches(&self, job: &Job) -> bool {
        self.state.is_none_or(|s| job.state == s)
            && self.health.is_none_or(|h| job.health == h)
            && self
                .ended_since
                .is_none_or(|since| job.end_time.is_some_and(|end| end >= since))
            && (job.is_public
                || self
                    .viewer
                    .as_ref()
                    .is_some_and(|u| u.is_admin || u.username == job.submitter))
    }
}

/// Changes to a device (`scheduler.devices.update`); `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceUpdate {
    /// Move the device to this worker.
    pub worker: Option<String>,
    /// Set the health (an admin decision, logged by the backend).
    pub health: Option<DeviceHealth>,
    /// Replace the description.
    pub description: Option<String>,
}

/// Changes to a worker (`scheduler.workers.update`); `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerUpdate {
    /// Replace the description.
    pub description: Option<String>,
    /// Set the health (LAVA's `go_health_*`, which also moves its devices).
    pub health: Option<WorkerHealth>,
    /// Set the job limit (0 = unlimited).
    pub job_limit: Option<u32>,
}

/// The files an admin keeps per worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerFile {
    /// `dispatcher.d/<hostname>.yaml`: the dispatcher configuration.
    Config,
    /// `dispatcher.d/<hostname>/env.yaml`: the environment of lava-run.
    Env,
    /// `<SLAVES_CERTS>/<hostname>.key`: the worker's public ZMQ certificate.
    Certificate,
}

/// The lab as the API sees it.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user owning this token, or `None` when the pair does not match.
    async fn authenticate(&self, username: &str, token: &str) -> BackendResult<Option<User>>;

    /// Parses, validates and stores a job definition submitted by `submitter`.
    async fn submit_job(&self, submitter: &User, definition: &str) -> BackendResult<Submitted>;
    /// Checks a definition against the schema without storing it (`strict`: no unknown keys).
    async fn validate_job(
        &self,
        definition: &str,
        strict: bool,
    ) -> BackendResult<Option<ValidationIssue>>;
    /// A job by id.
    async fn job(&self, id: JobId) -> BackendResult<Option<Job>>;
    /// Jobs matching a query, newest first.
    async fn jobs(&self, query: &JobQuery) -> BackendResult<Vec<Job>>;
    /// Cancels a job as LAVA does: a Submitted job finishes as Canceled, a Scheduled or
    /// Running one goes to Canceling, a Finished one is left alone.
    async fn cancel_job(&self, id: JobId, by: &User) -> BackendResult<()>;
    /// Log lines `start..end` of a job (`output.yaml` lines, each a YAML list item) as text.
    async fn job_logs(&self, id: JobId, start: usize, end: Option<usize>) -> BackendResult<String>;
    /// The test results of a job as a YAML list (`results.get_testjob_results_yaml`).
    async fn job_results_yaml(&self, id: JobId) -> BackendResult<String>;

    /// Adds a device; its device type and worker must exist.
    async fn add_device(&self, device: Device) -> BackendResult<()>;
    /// A device by hostname.
    async fn device(&self, hostname: &str) -> BackendResult<Option<Device>>;
    /// Every device, by hostname.
    async fn devices(&self) -> BackendResult<Vec<Device>>;
    /// Changes a device.
    async fn update_device(&self, hostname: &str, update: DeviceUpdate) -> BackendResult<()>;
    /// The unfinished job holding the device, if any.
    async fn current_job(&self, hostname: &str) -> BackendResult<Option<JobId>>;
    /// The device dictionary as stored (jinja2 text), if there is one.
    async fn device_dictionary(&self, hostname: &str) -> BackendResult<Option<String>>;
    /// The device configuration rendered from its dictionary and device-type template, with
    /// an optional job context (YAML text); `None` without a dictionary.
    async fn render_device_configuration(
        &self,
        hostname: &str,
        context: Option<&str>,
    ) -> BackendResult<Option<String>>;
    /// Stores a device dictionary; an empty text deletes it. `false` if it could not be
    /// written (LAVA answers `False` then, not a fault).
    async fn set_device_dictionary(&self, hostname: &str, dictionary: &str) -> BackendResult<bool>;

    /// Adds a device type.
    async fn add_device_type(&self, device_type: DeviceType) -> BackendResult<()>;
    /// A device type by name.
    async fn device_type(&self, name: &str) -> BackendResult<Option<DeviceType>>;
    /// Every device type, by name.
    async fn device_types(&self) -> BackendResult<Vec<DeviceType>>;
    /// The names of the installed device-type templates (`device-types/<name>.jinja2`).
    async fn device_type_templates(&self) -> BackendResult<Vec<String>>;
    /// A device-type template, if installed.
    async fn device_type_template(&self, name: &str) -> BackendResult<Option<String>>;
    /// Installs (replaces) a device-type template.
    async fn set_device_type_template(&self, name: &str, template: &str) -> BackendResult<()>;

    /// Adds a worker.
    async fn add_worker(&self, worker: Worker) -> BackendResult<()>;
    /// A worker by hostname.
    async fn worker(&self, hostname: &str) -> BackendResult<Option<Worker>>;
    /// Every worker, by hostname.
    async fn workers(&self) -> BackendResult<Vec<Worker>>;
    /// Changes a worker.
    async fn update_worker(&self, hostname: &str, update: WorkerUpdate) -> BackendResult<()>;
    /// One of a worker's files, if it exists.
    async fn worker_file(&self, hostname: &str, file: WorkerFile) -> BackendResult<Option<String>>;
    /// Writes one of a worker's files; `false` if it could not be written.
    async fn set_worker_file(
        &self,
        hostname: &str,
        file: WorkerFile,
        content: &str,
    ) -> BackendResult<bool>;

    /// Adds a tag.
    async fn add_tag(&self, tag: Tag) -> BackendResult<()>;
    /// Every tag, by name.
    async fn tags(&self) -> BackendResult<Vec<Tag>>;
}
