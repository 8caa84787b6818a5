//! `SqlStore`: the [`Store`] trait over any SQL backend, queries run on blocking threads.

use super::{ops, SqlTx};
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::types::{
    Applied, ChangeSet, Grant, JobEnd, JobFilter, JobLog, SchedulerSnapshot, TestCase, TokenInfo,
    User, WorkerAccess,
};
use async_trait::async_trait;
use lava_core::model::{Device, DeviceType, Job, JobId, Tag, Worker, WorkerProtocol};
use lava_core::time::Timestamp;
use std::sync::Arc;

/// What a transaction may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxMode {
    /// Reads only, from one consistent snapshot.
    Read,
    /// Reads and writes; writers are serialized.
    Write,
}

/// The work of one transaction.
pub(crate) type TxFn<'a, T> = Box<dyn FnOnce(&mut dyn SqlTx) -> Result<T> + Send + 'a>;

/// A database connection that can run a closure inside one transaction.
pub trait Backend: Send + Sync + 'static {
    /// Runs `f` in a transaction: commit if it returns `Ok`, roll back otherwise.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn transaction<T>(&self, mode: TxMode, f: TxFn<'_, T>) -> Result<T>;
}

/// A [`Store`] over an SQL database ([`SqliteStore`](crate::SqliteStore) or
/// [`PostgresStore`](crate::PostgresStore)).
pub struct SqlStore<B> {
    pub(crate) backend: Arc<B>,
}

impl<B: std::fmt::Debug> std::fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.backend.fmt(f)
    }
}

impl<B: Backend> SqlStore<B> {
    pub(crate) fn from_backend(backend: B) -> Self {
        SqlStore {
            backend: Arc::new(backend),
        }
    }

    /// Runs `f` in a transaction on a blocking thread: SQLite and the blocking PostgreSQL
    /// client must not stall the async runtime.
    async fn run<T, F>(&self, mode: TxMode, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn SqlTx) -> Result<T> + Send + 'static,
    {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.transaction(mode, Box::new(f)))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn SqlTx) -> Result<T> + Send + 'static,
    {
        self.run(TxMode::Read, f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn SqlTx) -> Result<T> + Send + 'static,
    {
        self.run(TxMode::Write, f).await
    }
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn add_device_type(&self, device_type: &DeviceType) -> Result<()> {
        let dt = device_type.clone();
        self.write(move |tx| ops::add_device_type(tx, &dt)).await
    }

    async fn update_device_type(&self, device_type: &DeviceType) -> Result<()> {
        let dt = device_type.clone();
        self.write(move |tx| ops::update_device_type(tx, &dt)).await
    }

    async fn device_type(&self, name: &str) -> Result<Option<DeviceType>> {
        let name = name.to_owned();
        self.read(move |tx| ops::device_type(tx, &name)).await
    }

    async fn device_types(&self) -> Result<Vec<DeviceType>> {
        self.read(ops::device_types).await
    }

    async fn remove_device_type(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| ops::remove_device_type(tx, &name))
            .await
    }

    async fn add_tag(&self, tag: &Tag) -> Result<()> {
        let tag = tag.clone();
        self.write(move |tx| ops::add_tag(tx, &tag)).await
    }

    async fn tags(&self) -> Result<Vec<Tag>> {
        self.read(ops::tags).await
    }

    async fn remove_tag(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| ops::remove_tag(tx, &name)).await
    }

    async fn add_worker(&self, worker: &Worker) -> Result<()> {
        let w = worker.clone();
        self.write(move |tx| ops::add_worker(tx, &w)).await
    }

    async fn update_worker(&self, worker: &Worker) -> Result<()> {
        let w = worker.clone();
        self.write(move |tx| ops::update_worker(tx, &w)).await
    }

    async fn worker(&self, hostname: &str) -> Result<Option<Worker>> {
        let h = hostname.to_owned();
        self.read(move |tx| ops::worker(tx, &h)).await
    }

    async fn workers(&self) -> Result<Vec<Worker>> {
        self.read(ops::workers).await
    }

    async fn remove_worker(&self, hostname: &str) -> Result<()> {
        let h = hostname.to_owned();
        self.write(move |tx| ops::remove_worker(tx, &h)).await
    }

    async fn worker_access(&self, hostname: &str) -> Result<Option<WorkerAccess>> {
        let h = hostname.to_owned();
        self.read(move |tx| ops::worker_access(tx, &h)).await
    }

    async fn set_worker_token(&self, hostname: &str, token: &str) -> Result<()> {
        let (h, t) = (hostname.to_owned(), token.to_owned());
        self.write(move |tx| ops::set_worker_token(tx, &h, &t))
            .await
    }

    async fn set_worker_protocol(
        &self,
        hostname: &str,
        protocol: WorkerProtocol,
        refusal: Option<&str>,
    ) -> Result<()> {
        let h = hostname.to_owned();
        let r = refusal.map(str::to_owned);
        self.write(move |tx| ops::set_worker_protocol(tx, &h, protocol, r.as_deref()))
            .await
    }

    async fn add_device(&self, device: &Device) -> Result<()> {
        let d = device.clone();
        self.write(move |tx| ops::add_device(tx, &d)).await
    }

    async fn update_device(&self, device: &Device) -> Result<()> {
        let d = device.clone();
        self.write(move |tx| ops::update_device(tx, &d)).await
    }

    async fn device(&self, hostname: &str) -> Result<Option<Device>> {
        let h = hostname.to_owned();
        self.read(move |tx| ops::device(tx, &h)).await
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        self.read(ops::devices).await
    }

    async fn remove_device(&self, hostname: &str) -> Result<()> {
        let h = hostname.to_owned();
        self.write(move |tx| ops::remove_device(tx, &h)).await
    }

    async fn add_user(&self, user: &User) -> Result<()> {
        let u = user.clone();
        self.write(move |tx| ops::add_user(tx, &u)).await
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let u = user.clone();
        self.write(move |tx| ops::update_user(tx, &u)).await
    }

    async fn user(&self, username: &str) -> Result<Option<User>> {
        let u = username.to_owned();
        self.read(move |tx| ops::user(tx, &u)).await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.read(ops::users).await
    }

    async fn remove_user(&self, username: &str) -> Result<()> {
        let u = username.to_owned();
        self.write(move |tx| ops::remove_user(tx, &u)).await
    }

    async fn add_group(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| ops::add_group(tx, &name)).await
    }

    async fn remove_group(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| ops::remove_group(tx, &name)).await
    }

    async fn groups(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.read(ops::groups).await
    }

    async fn add_group_member(&self, group: &str, username: &str) -> Result<()> {
        let (group, username) = (group.to_owned(), username.to_owned());
        self.write(move |tx| ops::add_group_member(tx, &group, &username))
            .await
    }

    async fn remove_group_member(&self, group: &str, username: &str) -> Result<()> {
        let (group, username) = (group.to_owned(), username.to_owned());
        self.write(move |tx| ops::remove_group_member(tx, &group, &username))
            .await
    }

    async fn add_grant(&self, grant: &Grant) -> Result<()> {
        let grant = grant.clone();
        self.write(move |tx| ops::add_grant(tx, &grant)).await
    }

    async fn remove_grant(&self, grant: &Grant) -> Result<()> {
        let grant = grant.clone();
        self.write(move |tx| ops::remove_grant(tx, &grant)).await
    }

    async fn grants(&self) -> Result<Vec<Grant>> {
        self.read(ops::grants).await
    }

    async fn add_token(
        &self,
        username: &str,
        secret: &str,
        description: &str,
        created: Timestamp,
    ) -> Result<TokenInfo> {
        let (u, s, d) = (
            username.to_owned(),
            secret.to_owned(),
            description.to_owned(),
        );
        self.write(move |tx| ops::add_token(tx, &u, &s, &d, created))
            .await
    }

    async fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>> {
        let u = username.to_owned();
        self.read(move |tx| ops::tokens(tx, &u)).await
    }

    async fn remove_token(&self, id: i64) -> Result<()> {
        self.write(move |tx| ops::remove_token(tx, id)).await
    }

    async fn authenticate(&self, username: &str, secret: &str) -> Result<Option<User>> {
        let (u, s) = (username.to_owned(), secret.to_owned());
        self.read(move |tx| ops::authenticate(tx, &u, &s)).await
    }

    async fn submit(&self, jobs: &[Job]) -> Result<Vec<JobId>> {
        let jobs = jobs.to_vec();
        self.write(move |tx| ops::submit(tx, &jobs)).await
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.read(move |tx| ops::job(tx, id)).await
    }

    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let filter = filter.clone();
        self.read(move |tx| ops::jobs(tx, &filter)).await
    }

    async fn multinode_group(&self, group: &str) -> Result<Vec<Job>> {
        let g = group.to_owned();
        self.read(move |tx| ops::multinode_group(tx, &g)).await
    }

    async fn active_jobs(&self) -> Result<Vec<Job>> {
        self.read(ops::active_jobs).await
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<Applied> {
        let changes = changes.clone();
        self.write(move |tx| ops::apply(tx, &changes)).await
    }

    async fn scheduler_snapshot(&self) -> Result<SchedulerSnapshot> {
        self.read(ops::scheduler_snapshot).await
    }

    async fn add_test_cases(&self, job: JobId, cases: &[TestCase]) -> Result<()> {
        let cases = cases.to_vec();
        self.write(move |tx| ops::add_test_cases(tx, job, &cases))
            .await
    }

    async fn test_cases(&self, job: JobId) -> Result<Vec<TestCase>> {
        self.read(move |tx| ops::test_cases(tx, job)).await
    }

    async fn set_job_log(&self, job: JobId, log: &JobLog) -> Result<()> {
        let log = log.clone();
        self.write(move |tx| ops::set_job_log(tx, job, &log)).await
    }

    async fn job_log(&self, job: JobId) -> Result<Option<JobLog>> {
        self.read(move |tx| ops::job_log(tx, job)).await
    }

    async fn job_end(&self, job: JobId) -> Result<JobEnd> {
        self.read(move |tx| ops::job_end(tx, job)).await
    }

    async fn job_token(&self, job: JobId) -> Result<Option<String>> {
        self.read(move |tx| ops::job_token(tx, job)).await
    }

    async fn set_job_token(&self, job: JobId, token: &str) -> Result<()> {
        let t = token.to_owned();
        self.write(move |tx| ops::set_job_token(tx, job, &t)).await
    }
}
