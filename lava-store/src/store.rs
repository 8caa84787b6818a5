//! The `Store` trait: everything the master and the admin commands keep across restarts.

use crate::error::Result;
use crate::types::{
    Applied, ChangeSet, Grant, JobEnd, JobFilter, JobLog, SchedulerSnapshot, TestCase, TokenInfo,
    User, WorkerAccess,
};
use async_trait::async_trait;
use lava_core::model::{Device, DeviceType, Job, JobId, Tag, Worker, WorkerProtocol};
use lava_core::time::Timestamp;

/// The lab's persistent state.
///
/// Every method is one transaction: it is applied whole or not at all. Rows are written
/// whole (the caller reads, changes and writes back); state changes that must not race go
/// through [`Store::apply`] with preconditions.
#[async_trait]
pub trait Store: Send + Sync {
    // ---- device types
    /// Adds a device type; fails if the name is taken.
    async fn add_device_type(&self, device_type: &DeviceType) -> Result<()>;
    /// Overwrites a device type (health-check definition, frequency, ...).
    async fn update_device_type(&self, device_type: &DeviceType) -> Result<()>;
    /// One device type, if it exists.
    async fn device_type(&self, name: &str) -> Result<Option<DeviceType>>;
    /// Every device type, by name.
    async fn device_types(&self) -> Result<Vec<DeviceType>>;
    /// Removes a device type that no device and no job refers to.
    async fn remove_device_type(&self, name: &str) -> Result<()>;

    // ---- tags
    /// Adds a tag; fails if the name is taken.
    async fn add_tag(&self, tag: &Tag) -> Result<()>;
    /// Every tag, by name.
    async fn tags(&self) -> Result<Vec<Tag>>;
    /// Removes a tag from the lab, and from every device and job that carries it.
    async fn remove_tag(&self, name: &str) -> Result<()>;

    // ---- workers
    /// Adds a worker; fails if the hostname is taken.
    async fn add_worker(&self, worker: &Worker) -> Result<()>;
    /// Overwrites a worker row.
    async fn update_worker(&self, worker: &Worker) -> Result<()>;
    /// One worker, if it exists.
    async fn worker(&self, hostname: &str) -> Result<Option<Worker>>;
    /// Every worker, by hostname.
    async fn workers(&self) -> Result<Vec<Worker>>;
    /// Removes a worker that no device is attached to.
    async fn remove_worker(&self, hostname: &str) -> Result<()>;
    /// How a worker connects (protocol, token, refusal); `None` if there is no such worker.
    async fn worker_access(&self, hostname: &str) -> Result<Option<WorkerAccess>>;
    /// Sets a worker's token.
    async fn set_worker_token(&self, hostname: &str, token: &str) -> Result<()>;
    /// Records how a worker connected, and why the master refuses it (`None`: it does not).
    async fn set_worker_protocol(
        &self,
        hostname: &str,
        protocol: WorkerProtocol,
        refusal: Option<&str>,
    ) -> Result<()>;

    // ---- devices
    /// Adds a device; its device type, worker and tags must exist.
    async fn add_device(&self, device: &Device) -> Result<()>;
    /// Overwrites a device row, tags included.
    async fn update_device(&self, device: &Device) -> Result<()>;
    /// One device, if it exists.
    async fn device(&self, hostname: &str) -> Result<Option<Device>>;
    /// Every device, by hostname.
    async fn devices(&self) -> Result<Vec<Device>>;
    /// Removes an Idle device; its jobs keep its name as `actual_device`.
    async fn remove_device(&self, hostname: &str) -> Result<()>;

    // ---- users and tokens
    /// Adds a user; fails if the name is taken.
    async fn add_user(&self, user: &User) -> Result<()>;
    /// Overwrites a user (admin flag, email).
    async fn update_user(&self, user: &User) -> Result<()>;
    /// One user, if it exists.
    async fn user(&self, username: &str) -> Result<Option<User>>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>>;
    /// Removes a user and their tokens.
    async fn remove_user(&self, username: &str) -> Result<()>;
    /// Stores a token for a user: only the digest of `secret` is kept
    /// (see [`generate_token`](crate::generate_token)).
    async fn add_token(
        &self,
        username: &str,
        secret: &str,
        description: &str,
        created: Timestamp,
    ) -> Result<TokenInfo>;
    /// A user's tokens, oldest first.
    async fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>>;
    /// Revokes a token.
    async fn remove_token(&self, id: i64) -> Result<()>;
    /// The user that `secret` belongs to, if it is a token of `username`.
    async fn authenticate(&self, username: &str, secret: &str) -> Result<Option<User>>;

    // ---- groups and permissions (LAVA's Django groups and object permissions)
    /// Adds a group; fails if the name is taken.
    async fn add_group(&self, name: &str) -> Result<()>;
    /// Removes a group, its members and its grants.
    async fn remove_group(&self, name: &str) -> Result<()>;
    /// Every group with its members, by name.
    async fn groups(&self) -> Result<Vec<(String, Vec<String>)>>;
    /// Makes a user a member of a group (both must exist; being one already is fine).
    async fn add_group_member(&self, group: &str, username: &str) -> Result<()>;
    /// Removes a user from a group.
    async fn remove_group_member(&self, group: &str, username: &str) -> Result<()>;
    /// Grants a permission (the group and the object must exist; granted already is fine).
    async fn add_grant(&self, grant: &Grant) -> Result<()>;
    /// Revokes a permission.
    async fn remove_grant(&self, grant: &Grant) -> Result<()>;
    /// Every grant, sorted.
    async fn grants(&self) -> Result<Vec<Grant>>;

    // ---- jobs
    /// Stores new jobs in one transaction (a single job, or every sub-job of a multinode
    /// group); their `id` is ignored. Returns the ids given, in order.
    async fn submit(&self, jobs: &[Job]) -> Result<Vec<JobId>>;
    /// One job, if it exists.
    async fn job(&self, id: JobId) -> Result<Option<Job>>;
    /// Jobs matching a filter, newest (highest id) first.
    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Every sub-job of a multinode group, by id.
    async fn multinode_group(&self, group: &str) -> Result<Vec<Job>>;
    /// Jobs Scheduled, Running or Canceling: what the master must pick up after a restart.
    async fn active_jobs(&self) -> Result<Vec<Job>>;
    /// Applies a change set atomically after checking its preconditions.
    async fn apply(&self, changes: &ChangeSet) -> Result<Applied>;
    /// Everything a scheduling pass reads, in one consistent read.
    async fn scheduler_snapshot(&self) -> Result<SchedulerSnapshot>;

    // ---- per-job records
    /// Appends test results to a job.
    async fn add_test_cases(&self, job: JobId, cases: &[TestCase]) -> Result<()>;
    /// A job's test results, in the order they were added.
    async fn test_cases(&self, job: JobId) -> Result<Vec<TestCase>>;
    /// Records where a job's log is and how many lines it has.
    async fn set_job_log(&self, job: JobId, log: &JobLog) -> Result<()>;
    /// Where a job's log is, if recorded.
    async fn job_log(&self, job: JobId) -> Result<Option<JobLog>>;
    /// What the master did with the job's END.
    async fn job_end(&self, job: JobId) -> Result<JobEnd>;
    /// The job's token (LAVA's `TestJob.token`, for lava-worker and lava-run), if it has one.
    async fn job_token(&self, job: JobId) -> Result<Option<String>>;
    /// Gives the job its token.
    async fn set_job_token(&self, job: JobId, token: &str) -> Result<()>;
}
