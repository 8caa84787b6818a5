//! The records a store keeps beside the lab model of `lava_core::model`: users and tokens,
//! test results, log metadata, END bookkeeping, change sets and the scheduler snapshot.

use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, Job, JobId, JobState, TestResult, Worker,
    WorkerHealth, WorkerProtocol, WorkerState,
};
use lava_core::time::Timestamp;
use std::collections::BTreeMap;
use std::fmt;

/// A user of the lab (LAVA: Django's `User`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Unique login name.
    pub username: String,
    /// Admins may change the lab (workers, devices, device types, other users' jobs).
    pub is_admin: bool,
    /// Contact address, possibly empty.
    pub email: String,
}

/// What a group permission is granted on (LAVA's `GroupDevicePermission` and
/// `GroupDeviceTypePermission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantOn {
    /// A device, by hostname.
    Device,
    /// A device type, by name.
    DeviceType,
}

impl GrantOn {
    /// The name stored (`device`, `device_type`).
    pub const fn name(self) -> &'static str {
        match self {
            GrantOn::Device => "device",
            GrantOn::DeviceType => "device_type",
        }
    }

    /// The kind for a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "device" => Some(GrantOn::Device),
            "device_type" => Some(GrantOn::DeviceType),
            _ => None,
        }
    }
}

/// One permission granted to a group's members on a device or a device type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// A device or a device type.
    pub on: GrantOn,
    /// Its hostname or name.
    pub object: String,
    /// The group.
    pub group: String,
    /// What the group's members may do (view, submit, change).
    pub permission: lava_core::scheduler::ObjectPermission,
}

impl Grant {
    /// LAVA's codename of the permission (`submit_to_device`, `change_devicetype`, …).
    pub fn codename(&self) -> &'static str {
        use lava_core::scheduler::ObjectPermission::{Change, Submit, View};
        match (self.on, self.permission) {
            (GrantOn::Device, View) => "view_device",
            (GrantOn::Device, Submit) => "submit_to_device",
            (GrantOn::Device, Change) => "change_device",
            (GrantOn::DeviceType, View) => "view_devicetype",
            (GrantOn::DeviceType, Submit) => "submit_to_devicetype",
            (GrantOn::DeviceType, Change) => "change_devicetype",
        }
    }
}

/// An API token as the store shows it: the secret itself is never stored, only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Database id, used to revoke the token.
    pub id: i64,
    /// Whose token it is.
    pub username: String,
    /// Free text, e.g. `lavacli on my laptop`.
    pub description: String,
    /// When it was created.
    pub created: Timestamp,
}

/// One test case result of a job (LAVA: `TestCase` inside a `TestSuite`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The suite (`lava` for the dispatcher's own results, else the test definition name).
    pub suite: String,
    /// The test set inside the suite, if any.
    pub test_set: Option<String>,
    /// The case name.
    pub name: String,
    /// Pass, fail, skip or unknown.
    pub result: TestResult,
    /// The measurement exactly as reported (a decimal number as text, so nothing is rounded).
    pub measurement: Option<String>,
    /// The measurement's units, possibly empty.
    pub units: String,
    /// Extra data as reported (YAML or JSON text).
    pub metadata: Option<String>,
    /// When the result was logged.
    pub logged: Timestamp,
    /// First log line (0-based, in `output.yaml`) that belongs to the case.
    pub start_log_line: Option<u64>,
    /// Last log line that belongs to the case.
    pub end_log_line: Option<u64>,
}

/// Where a job's log is, and how much of it the store has taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLog {
    /// The directory holding `output.yaml` and `output.idx`.
    pub output_dir: String,
    /// The log's lines `0..line_count` are accounted for: every test result they hold is
    /// stored. The master writes it with each result (in the same transaction) and when it
    /// closes the log; after a crash, the results of the lines from here on are read back
    /// from `output.yaml`.
    pub line_count: u64,
}

/// How a worker connects, beside its [`Worker`] row: its protocol, its worker token and why
/// the master refuses it, if it does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerAccess {
    /// How it last connected (`None`: never since this was recorded).
    pub protocol: Option<WorkerProtocol>,
    /// Its worker token (LAVA's `Worker.token`: 32 letters and digits, kept in clear as
    /// LAVA keeps it, so that admins can read it again). `None` for a worker added before
    /// tokens existed: one is made when asked for.
    pub token: Option<String>,
    /// Why the master refuses the worker (a version it does not accept), for the admin.
    pub refusal: Option<String>,
}

/// What the master did with a job's END message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobEnd {
    /// END was processed: a re-sent END is answered with END_OK and otherwise ignored.
    pub processed: bool,
    /// The job's description (`description.yaml`, decompressed) as END carried it.
    pub description: Option<String>,
    /// When END was processed (`None` for ENDs stored before lava-rs kept the time): the
    /// grace the log sink has to deliver the final result runs from here, across restarts.
    pub processed_at: Option<Timestamp>,
}

/// A job's END, processed: what [`ChangeSet::ends`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedEnd {
    /// The job.
    pub job: JobId,
    /// The description END carried (`None`: lava-run crashed or never ran).
    pub description: Option<String>,
    /// When the master processed it.
    pub at: Timestamp,
}

/// Something that must still hold for a [`ChangeSet`] to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The job is still in this state.
    JobState(JobId, JobState),
    /// The device is still in this state.
    DeviceState(String, DeviceState),
    /// The device still has this health.
    DeviceHealth(String, DeviceHealth),
    /// The worker is still in this state.
    WorkerState(String, WorkerState),
    /// The worker still has this health.
    WorkerHealth(String, WorkerHealth),
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::JobState(id, s) => write!(f, "job {id} in state {s}"),
            Self::DeviceState(h, s) => write!(f, "device {h} in state {s}"),
            Self::DeviceHealth(h, s) => write!(f, "device {h} with health {s}"),
            Self::WorkerState(h, s) => write!(f, "worker {h} in state {s}"),
            Self::WorkerHealth(h, s) => write!(f, "worker {h} with health {s}"),
        }
    }
}

/// A batch of rows that the core computed, written in one transaction or not at all.
///
/// The core's transition functions return the new rows; the store checks the preconditions
/// (what the core assumed when it computed them) inside the same transaction, so a change
/// made meanwhile by someone else fails with [`StoreError::Conflict`](crate::StoreError)
/// instead of being overwritten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Checked first; any that fails aborts the whole set.
    pub preconditions: Vec<Precondition>,
    /// New jobs (e.g. the health checks the scheduler creates); their `id` is ignored and the
    /// assigned ids are returned in [`Applied::new_jobs`], in order.
    pub new_jobs: Vec<Job>,
    /// Whole job rows to write over existing ones (matched by id).
    pub jobs: Vec<Job>,
    /// Whole device rows to write over existing ones (matched by hostname), tags included.
    pub devices: Vec<Device>,
    /// Whole worker rows to write over existing ones (matched by hostname).
    pub workers: Vec<Worker>,
    /// END messages processed, with the description they carried.
    pub ends: Vec<ProcessedEnd>,
    /// Test results to add to jobs (after the existing ones).
    pub test_cases: Vec<(JobId, TestCase)>,
    /// Where jobs' logs are and how far their results are stored (see [`JobLog`]).
    pub logs: Vec<(JobId, JobLog)>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a precondition.
    pub fn require(mut self, precondition: Precondition) -> Self {
        self.preconditions.push(precondition);
        self
    }

    /// Adds a job row to write.
    pub fn job(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }

    /// Adds a job to create.
    pub fn new_job(mut self, job: Job) -> Self {
        self.new_jobs.push(job);
        self
    }

    /// Adds a device row to write.
    pub fn device(mut self, device: Device) -> Self {
        self.devices.push(device);
        self
    }

    /// Adds a worker row to write.
    pub fn worker(mut self, worker: Worker) -> Self {
        self.workers.push(worker);
        self
    }

    /// Marks a job's END as processed at `at`.
    pub fn end(mut self, job: JobId, description: Option<String>, at: Timestamp) -> Self {
        self.ends.push(ProcessedEnd {
            job,
            description,
            at,
        });
        self
    }

    /// Adds a test result to a job.
    pub fn test_case(mut self, job: JobId, case: TestCase) -> Self {
        self.test_cases.push((job, case));
        self
    }

    /// Records where a job's log is and how far its results are stored.
    pub fn log(mut self, job: JobId, log: JobLog) -> Self {
        self.logs.push((job, log));
        self
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.new_jobs.is_empty()
            && self.jobs.is_empty()
            && self.devices.is_empty()
            && self.workers.is_empty()
            && self.ends.is_empty()
            && self.test_cases.is_empty()
            && self.logs.is_empty()
    }
}

/// What applying a [`ChangeSet`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The ids given to [`ChangeSet::new_jobs`], in the same order.
    pub new_jobs: Vec<JobId>,
}

/// The last health check that ran on a device and what happened since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthHistory {
    /// The job named by the device's `last_health_report_job`.
    pub last_health_check: JobId,
    /// That job's submit time: LAVA measures "per hours" frequency from it.
    pub submit_time: Timestamp,
    /// Non-health-check jobs started on the device at or after that submit time, which LAVA
    /// compares with a "per jobs" frequency.
    pub jobs_since: u64,
}

/// Everything one scheduling pass reads, taken in one consistent read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerSnapshot {
    /// Every device type, by name.
    pub device_types: Vec<DeviceType>,
    /// Every device, by hostname.
    pub devices: Vec<Device>,
    /// Every worker, by hostname.
    pub workers: Vec<Worker>,
    /// Jobs Submitted or Scheduling, with every other sub-job of their multinode groups
    /// whatever its state (a sub-job that left the queue keeps its group from starting), by id.
    pub queued_jobs: Vec<Job>,
    /// Per device hostname whose `last_health_report_job` names a stored job: that job and
    /// what happened since. A device absent here has never reported (or its report job is
    /// gone), which LAVA treats as "health check due".
    pub health_history: BTreeMap<String, HealthHistory>,
}

/// Which jobs [`Store::jobs`](crate::Store::jobs) lists. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in one of these states.
    pub states: Vec<JobState>,
    /// Only jobs that asked for this device type.
    pub device_type: Option<String>,
    /// Only jobs given this device.
    pub actual_device: Option<String>,
    /// Only jobs of this submitter.
    pub submitter: Option<String>,
    /// At most this many (newest first); `None` for all.
    pub limit: Option<u64>,
}
