//! The in-memory store, for unit tests: the same behaviour as the SQL stores (the shared
//! test suite checks that), nothing on disk.
//!
//! Each operation works on a copy of the state and swaps it in only if it succeeds, which
//! makes every operation all-or-nothing like a transaction. That copy is cheap for the small
//! labs of unit tests; do not use this store for large ones.

use crate::error::short_list;
use crate::error::{Result, StoreError};
use crate::store::Store;
use crate::token::digest;
use crate::types::{
    Applied, ChangeSet, Grant, GrantOn, HealthHistory, JobEnd, JobFilter, JobLog, Precondition,
    SchedulerSnapshot, TestCase, TokenInfo, User, WorkerAccess,
};
use async_trait::async_trait;
use lava_core::model::{Device, DeviceType, Job, JobId, JobState, Tag, Worker, WorkerProtocol};
use lava_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

#[derive(Debug, Clone, Default)]
struct JobRow {
    job: Option<Job>,
    end: JobEnd,
    log: Option<JobLog>,
    cases: Vec<TestCase>,
    token: Option<String>,
}

#[derive(Debug, Clone)]
struct Token {
    info: TokenInfo,
    digest: String,
}

#[derive(Debug, Clone, Default)]
struct State {
    device_types: BTreeMap<String, DeviceType>,
    tags: BTreeMap<String, Tag>,
    workers: BTreeMap<String, Worker>,
    /// Beside each worker row, as the SQL stores keep it in extra columns.
    access: BTreeMap<String, WorkerAccess>,
    devices: BTreeMap<String, Device>,
    users: BTreeMap<String, User>,
    tokens: BTreeMap<i64, Token>,
    next_token: i64,
    jobs: BTreeMap<JobId, JobRow>,
    next_job: JobId,
    /// Groups and their members.
    groups: BTreeMap<String, BTreeSet<String>>,
    grants: BTreeSet<Grant>,
}

/// A [`Store`] in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> Result<T>) -> Result<T> {
        let state = self
            .state
            .lock()
            .map_err(|_| StoreError::Worker("a previous operation panicked".into()))?;
        f(&state)
    }

    fn write<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| StoreError::Worker("a previous operation panicked".into()))?;
        let mut draft = state.clone();
        let out = f(&mut draft)?;
        *state = draft;
        Ok(out)
    }
}

/// The queue (Submitted and Scheduling jobs) with every sub-job of the multinode groups it
/// holds, in id order: what [`SchedulerSnapshot::queued_jobs`] promises.
fn queue_with_groups<'a>(jobs: impl Iterator<Item = &'a Job>) -> Vec<Job> {
    let jobs: Vec<&Job> = jobs.collect();
    let queued = |j: &Job| matches!(j.state, JobState::Submitted | JobState::Scheduling);
    let groups: HashSet<&str> = jobs
        .iter()
        .filter(|j| queued(j))
        .filter_map(|j| j.multinode.as_ref().map(|m| m.group.as_str()))
        .collect();
    jobs.into_iter()
        .filter(|j| {
            queued(j)
                || j.multinode
                    .as_ref()
                    .is_some_and(|m| groups.contains(m.group.as_str()))
        })
        .cloned()
        .collect()
}

impl State {
    fn job(&self, id: JobId) -> Result<&JobRow> {
        self.jobs
            .get(&id)
            .filter(|row| row.job.is_some())
            .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
    }

    fn job_mut(&mut self, id: JobId) -> Result<&mut JobRow> {
        self.jobs
            .get_mut(&id)
            .filter(|row| row.job.is_some())
            .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
    }

    fn jobs(&self) -> impl DoubleEndedIterator<Item = &Job> {
        self.jobs.values().filter_map(|row| row.job.as_ref())
    }

    fn check_device_refs(&self, d: &Device) -> Result<()> {
        let owner = format!("device {}", d.hostname);
        if !self.device_types.contains_key(&d.device_type) {
            return Err(StoreError::NotFound(format!(
                "device type {} (of {owner})",
                d.device_type
            )));
        }
        if let Some(w) = &d.worker {
            if !self.workers.contains_key(w) {
                return Err(StoreError::NotFound(format!("worker {w} (of {owner})")));
            }
        }
        self.check_tags(d.tags.iter(), &owner)
    }

    fn check_tags<'a>(&self, tags: impl Iterator<Item = &'a String>, owner: &str) -> Result<()> {
        for tag in tags {
            if !self.tags.contains_key(tag) {
                return Err(StoreError::NotFound(format!("tag {tag} (of {owner})")));
            }
        }
        Ok(())
    }

    fn check_job_refs(&self, job: &Job, owner: &str) -> Result<()> {
        if let Some(dt) = &job.requested_device_type {
            if !self.device_types.contains_key(dt) {
                return Err(StoreError::NotFound(format!(
                    "device type {dt} (of {owner})"
                )));
            }
        }
        self.check_tags(job.tags.iter(), owner)
    }

    fn insert_job(&mut self, job: &Job, index: usize) -> Result<JobId> {
        self.check_job_refs(job, &format!("new job #{}", index + 1))?;
        self.next_job += 1;
        let id = self.next_job;
        let mut job = job.clone();
        job.id = id;
        self.jobs.insert(
            id,
            JobRow {
                job: Some(job),
                ..JobRow::default()
            },
        );
        Ok(id)
    }

    fn write_job(&mut self, job: &Job) -> Result<()> {
        self.check_job_refs(job, &format!("job {}", job.id))?;
        self.job_mut(job.id)?.job = Some(job.clone());
        Ok(())
    }

    fn write_device(&mut self, d: &Device) -> Result<()> {
        self.check_device_refs(d)?;
        let slot = self
            .devices
            .get_mut(&d.hostname)
            .ok_or_else(|| StoreError::NotFound(format!("device {}", d.hostname)))?;
        *slot = d.clone();
        Ok(())
    }

    fn access_mut(&mut self, hostname: &str) -> Result<&mut WorkerAccess> {
        if !self.workers.contains_key(hostname) {
            return Err(StoreError::NotFound(format!("worker {hostname}")));
        }
        Ok(self.access.entry(hostname.to_owned()).or_default())
    }

    fn write_worker(&mut self, w: &Worker) -> Result<()> {
        let slot = self
            .workers
            .get_mut(&w.hostname)
            .ok_or_else(|| StoreError::NotFound(format!("worker {}", w.hostname)))?;
        *slot = w.clone();
        Ok(())
    }

    fn check(&self, p: &Precondition) -> Result<()> {
        let found: Option<&'static str> = match p {
            Precondition::JobState(id, _) => self
                .jobs
                .get(id)
                .and_then(|r| r.job.as_ref())
                .map(|j| j.state.name()),
            Precondition::DeviceState(h, _) => self.devices.get(h).map(|d| d.state.name()),
            Precondition::DeviceHealth(h, _) => self.devices.get(h).map(|d| d.health.name()),
            Precondition::WorkerState(h, _) => self.workers.get(h).map(|w| w.state.name()),
            Precondition::WorkerHealth(h, _) => self.workers.get(h).map(|w| w.health.name()),
        };
        let (expected, object) = match p {
            Precondition::JobState(id, s) => (s.name(), format!("job {id}")),
            Precondition::DeviceState(h, s) => (s.name(), format!("device {h}")),
            Precondition::DeviceHealth(h, s) => (s.name(), format!("device {h}")),
            Precondition::WorkerState(h, s) => (s.name(), format!("worker {h}")),
            Precondition::WorkerHealth(h, s) => (s.name(), format!("worker {h}")),
        };
        match found {
            None => Err(StoreError::Conflict(format!(
                "expected {p}, but {object} does not exist"
            ))),
            Some(found) if found == expected => Ok(()),
            Some(found) => Err(StoreError::Conflict(format!(
                "expected {p}, but it is {found}"
            ))),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn add_device_type(&self, device_type: &DeviceType) -> Result<()> {
        self.write(|s| {
            if s.device_types.contains_key(&device_type.name) {
                return Err(StoreError::AlreadyExists(format!(
                    "device type {}",
                    device_type.name
                )));
            }
            s.device_types
                .insert(device_type.name.clone(), device_type.clone());
            Ok(())
        })
    }

    async fn update_device_type(&self, device_type: &DeviceType) -> Result<()> {
        self.write(|s| {
            let slot = s
                .device_types
                .get_mut(&device_type.name)
                .ok_or_else(|| StoreError::NotFound(format!("device type {}", device_type.name)))?;
            *slot = device_type.clone();
            Ok(())
        })
    }

    async fn device_type(&self, name: &str) -> Result<Option<DeviceType>> {
        self.read(|s| Ok(s.device_types.get(name).cloned()))
    }

    async fn device_types(&self) -> Result<Vec<DeviceType>> {
        self.read(|s| Ok(s.device_types.values().cloned().collect()))
    }

    async fn remove_device_type(&self, name: &str) -> Result<()> {
        self.write(|s| {
            let what = format!("device type {name}");
            let devices: Vec<String> = s
                .devices
                .values()
                .filter(|d| d.device_type == name)
                .map(|d| d.hostname.clone())
                .collect();
            if !devices.is_empty() {
                return Err(StoreError::InUse {
                    what,
                    by: format!("devices {}", short_list(&devices)),
                });
            }
            let jobs: Vec<String> = s
                .jobs()
                .filter(|j| j.requested_device_type.as_deref() == Some(name))
                .map(|j| j.id.to_string())
                .collect();
            if !jobs.is_empty() {
                return Err(StoreError::InUse {
                    what,
                    by: format!("jobs {}", short_list(&jobs)),
                });
            }
            s.device_types
                .remove(name)
                .ok_or(StoreError::NotFound(what))?;
            s.grants
                .retain(|g| !(g.on == GrantOn::DeviceType && g.object == name));
            Ok(())
        })
    }

    async fn add_tag(&self, tag: &Tag) -> Result<()> {
        self.write(|s| {
            if s.tags.contains_key(&tag.name) {
                return Err(StoreError::AlreadyExists(format!("tag {}", tag.name)));
            }
            s.tags.insert(tag.name.clone(), tag.clone());
            Ok(())
        })
    }

    async fn tags(&self) -> Result<Vec<Tag>> {
        self.read(|s| Ok(s.tags.values().cloned().collect()))
    }

    async fn remove_tag(&self, name: &str) -> Result<()> {
        self.write(|s| {
            s.tags
                .remove(name)
                .ok_or_else(|| StoreError::NotFound(format!("tag {name}")))?;
            for d in s.devices.values_mut() {
                d.tags.remove(name);
            }
            for row in s.jobs.values_mut() {
                if let Some(j) = &mut row.job {
                    j.tags.remove(name);
                }
            }
            Ok(())
        })
    }

    async fn add_worker(&self, worker: &Worker) -> Result<()> {
        self.write(|s| {
            if s.workers.contains_key(&worker.hostname) {
                return Err(StoreError::AlreadyExists(format!(
                    "worker {}",
                    worker.hostname
                )));
            }
            s.workers.insert(worker.hostname.clone(), worker.clone());
            Ok(())
        })
    }

    async fn update_worker(&self, worker: &Worker) -> Result<()> {
        self.write(|s| s.write_worker(worker))
    }

    async fn worker(&self, hostname: &str) -> Result<Option<Worker>> {
        self.read(|s| Ok(s.workers.get(hostname).cloned()))
    }

    async fn workers(&self) -> Result<Vec<Worker>> {
        self.read(|s| Ok(s.workers.values().cloned().collect()))
    }

    async fn remove_worker(&self, hostname: &str) -> Result<()> {
        self.write(|s| {
            let devices: Vec<String> = s
                .devices
                .values()
                .filter(|d| d.worker.as_deref() == Some(hostname))
                .map(|d| d.hostname.clone())
                .collect();
            if !devices.is_empty() {
                return Err(StoreError::InUse {
                    what: format!("worker {hostname}"),
                    by: format!("devices {}", short_list(&devices)),
                });
            }
            s.access.remove(hostname);
            s.workers
                .remove(hostname)
                .map(drop)
                .ok_or_else(|| StoreError::NotFound(format!("worker {hostname}")))
        })
    }

    async fn add_device(&self, device: &Device) -> Result<()> {
        self.write(|s| {
            if s.devices.contains_key(&device.hostname) {
                return Err(StoreError::AlreadyExists(format!(
                    "device {}",
                    device.hostname
                )));
            }
            s.check_device_refs(device)?;
            s.devices.insert(device.hostname.clone(), device.clone());
            Ok(())
        })
    }

    async fn update_device(&self, device: &Device) -> Result<()> {
        self.write(|s| s.write_device(device))
    }

    async fn device(&self, hostname: &str) -> Result<Option<Device>> {
        self.read(|s| Ok(s.devices.get(hostname).cloned()))
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        self.read(|s| Ok(s.devices.values().cloned().collect()))
    }

    async fn remove_device(&self, hostname: &str) -> Result<()> {
        self.write(|s| {
            let active: Vec<String> = s
                .jobs()
                .filter(|j| {
                    j.actual_device.as_deref() == Some(hostname)
                        && matches!(
                            j.state,
                            JobState::Scheduling
                                | JobState::Scheduled
                                | JobState::Running
                                | JobState::Canceling
                        )
                })
                .map(|j| j.id.to_string())
                .collect();
            if !active.is_empty() {
                return Err(StoreError::InUse {
                    what: format!("device {hostname}"),
                    by: format!("active jobs {}", short_list(&active)),
                });
            }
            s.devices
                .remove(hostname)
                .ok_or_else(|| StoreError::NotFound(format!("device {hostname}")))?;
            s.grants
                .retain(|g| !(g.on == GrantOn::Device && g.object == hostname));
            Ok(())
        })
    }

    async fn add_user(&self, user: &User) -> Result<()> {
        self.write(|s| {
            if s.users.contains_key(&user.username) {
                return Err(StoreError::AlreadyExists(format!("user {}", user.username)));
            }
            s.users.insert(user.username.clone(), user.clone());
            Ok(())
        })
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        self.write(|s| {
            let slot = s
                .users
                .get_mut(&user.username)
                .ok_or_else(|| StoreError::NotFound(format!("user {}", user.username)))?;
            *slot = user.clone();
            Ok(())
        })
    }

    async fn user(&self, username: &str) -> Result<Option<User>> {
        self.read(|s| Ok(s.users.get(username).cloned()))
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.read(|s| Ok(s.users.values().cloned().collect()))
    }

    async fn remove_user(&self, username: &str) -> Result<()> {
        self.write(|s| {
            s.users
                .remove(username)
                .ok_or_else(|| StoreError::NotFound(format!("user {username}")))?;
            s.tokens.retain(|_, t| t.info.username != username);
            for members in s.groups.values_mut() {
                members.remove(username);
            }
            Ok(())
        })
    }

    async fn add_group(&self, name: &str) -> Result<()> {
        self.write(|s| {
            if s.groups.contains_key(name) {
                return Err(StoreError::AlreadyExists(format!("group {name}")));
            }
            s.groups.insert(name.to_owned(), BTreeSet::new());
            Ok(())
        })
    }

    async fn remove_group(&self, name: &str) -> Result<()> {
        self.write(|s| {
            s.groups
                .remove(name)
                .ok_or_else(|| StoreError::NotFound(format!("group {name}")))?;
            s.grants.retain(|g| g.group != name);
            Ok(())
        })
    }

    async fn groups(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.read(|s| {
            Ok(s.groups
                .iter()
                .map(|(g, members)| (g.clone(), members.iter().cloned().collect()))
                .collect())
        })
    }

    async fn add_group_member(&self, group: &str, username: &str) -> Result<()> {
        self.write(|s| {
            if !s.users.contains_key(username) {
                return Err(StoreError::NotFound(format!("user {username}")));
            }
            s.groups
                .get_mut(group)
                .ok_or_else(|| StoreError::NotFound(format!("group {group}")))?
                .insert(username.to_owned());
            Ok(())
        })
    }

    async fn remove_group_member(&self, group: &str, username: &str) -> Result<()> {
        self.write(|s| {
            let members = s
                .groups
                .get_mut(group)
                .ok_or_else(|| StoreError::NotFound(format!("group {group}")))?;
            if !members.remove(username) {
                return Err(StoreError::NotFound(format!(
                    "user {username} in group {group}"
                )));
            }
            Ok(())
        })
    }

    async fn add_grant(&self, grant: &Grant) -> Result<()> {
        self.write(|s| {
            if !s.groups.contains_key(&grant.group) {
                return Err(StoreError::NotFound(format!("group {}", grant.group)));
            }
            let exists = match grant.on {
                GrantOn::Device => s.devices.contains_key(&grant.object),
                GrantOn::DeviceType => s.device_types.contains_key(&grant.object),
            };
            if !exists {
                return Err(StoreError::NotFound(format!(
                    "{} {}",
                    grant.on.name().replace('_', " "),
                    grant.object
                )));
            }
            s.grants.insert(grant.clone());
            Ok(())
        })
    }

    async fn remove_grant(&self, grant: &Grant) -> Result<()> {
        self.write(|s| {
            if !s.grants.remove(grant) {
                return Err(StoreError::NotFound(format!(
                    "permission {} of group {} on {}",
                    grant.codename(),
                    grant.group,
                    grant.object
                )));
            }
            Ok(())
        })
    }

    async fn grants(&self) -> Result<Vec<Grant>> {
        self.read(|s| Ok(s.grants.iter().cloned().collect()))
    }

    async fn add_token(
        &self,
        username: &str,
        secret: &str,
        description: &str,
        created: Timestamp,
    ) -> Result<TokenInfo> {
        self.write(|s| {
            if secret.is_empty() {
                return Err(StoreError::Invalid {
                    field: format!("token of user {username}"),
                    reason: "the secret is empty".into(),
                });
            }
            if !s.users.contains_key(username) {
                return Err(StoreError::NotFound(format!("user {username}")));
            }
            let digest = digest(secret);
            if s.tokens.values().any(|t| t.digest == digest) {
                return Err(StoreError::AlreadyExists(
                    "a token with this secret".to_owned(),
                ));
            }
            s.next_token += 1;
            let info = TokenInfo {
                id: s.next_token,
                username: username.to_owned(),
                description: description.to_owned(),
                created,
            };
            s.tokens.insert(
                info.id,
                Token {
                    info: info.clone(),
                    digest,
                },
            );
            Ok(info)
        })
    }

    async fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>> {
        self.read(|s| {
            Ok(s.tokens
                .values()
                .filter(|t| t.info.username == username)
                .map(|t| t.info.clone())
                .collect())
        })
    }

    async fn remove_token(&self, id: i64) -> Result<()> {
        self.write(|s| {
            s.tokens
                .remove(&id)
                .map(drop)
                .ok_or_else(|| StoreError::NotFound(format!("token {id}")))
        })
    }

    async fn authenticate(&self, username: &str, secret: &str) -> Result<Option<User>> {
        let digest = digest(secret);
        self.read(|s| {
            Ok(s.tokens
                .values()
                .find(|t| t.digest == digest && t.info.username == username)
                .and_then(|t| s.users.get(&t.info.username).cloned()))
        })
    }

    async fn submit(&self, jobs: &[Job]) -> Result<Vec<JobId>> {
        self.write(|s| {
            jobs.iter()
                .enumerate()
                .map(|(index, job)| s.insert_job(job, index))
                .collect()
        })
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.read(|s| Ok(s.jobs.get(&id).and_then(|r| r.job.clone())))
    }

    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        self.read(|s| {
            let limit = filter
                .limit
                .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
            Ok(s.jobs()
                .rev()
                .filter(|j| filter.states.is_empty() || filter.states.contains(&j.state))
                .filter(|j| {
                    filter.device_type.is_none() || j.requested_device_type == filter.device_type
                })
                .filter(|j| {
                    filter.actual_device.is_none() || j.actual_device == filter.actual_device
                })
                .filter(|j| {
                    filter
                        .submitter
                        .as_ref()
                        .is_none_or(|sub| &j.submitter == sub)
                })
                .take(limit)
                .cloned()
                .collect())
        })
    }

    async fn multinode_group(&self, group: &str) -> Result<Vec<Job>> {
        self.read(|s| {
            Ok(s.jobs()
                .filter(|j| j.multinode.as_ref().is_some_and(|m| m.group == group))
                .cloned()
                .collect())
        })
    }

    async fn active_jobs(&self) -> Result<Vec<Job>> {
        self.read(|s| {
            Ok(s.jobs()
                .filter(|j| {
                    matches!(
                        j.state,
                        JobState::Scheduled | JobState::Running | JobState::Canceling
                    )
                })
                .cloned()
                .collect())
        })
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<Applied> {
        self.write(|s| {
            for p in &changes.preconditions {
                s.check(p)?;
            }
            let mut applied = Applied::default();
            for (index, job) in changes.new_jobs.iter().enumerate() {
                applied.new_jobs.push(s.insert_job(job, index)?);
            }
            for job in &changes.jobs {
                s.write_job(job)?;
            }
            for device in &changes.devices {
                s.write_device(device)?;
            }
            for worker in &changes.workers {
                s.write_worker(worker)?;
            }
            for end in &changes.ends {
                s.job_mut(end.job)?.end = JobEnd {
                    processed: true,
                    description: end.description.clone(),
                    processed_at: Some(end.at),
                };
            }
            for (job, case) in &changes.test_cases {
                s.job_mut(*job)?.cases.push(case.clone());
            }
            for (job, log) in &changes.logs {
                s.job_mut(*job)?.log = Some(log.clone());
            }
            Ok(applied)
        })
    }

    async fn scheduler_snapshot(&self) -> Result<SchedulerSnapshot> {
        self.read(|s| {
            let mut health_history = BTreeMap::new();
            for d in s.devices.values() {
                let Some(hc) = d
                    .last_health_report_job
                    .and_then(|id| s.jobs.get(&id))
                    .and_then(|r| r.job.as_ref())
                else {
                    continue;
                };
                let jobs_since = s
                    .jobs()
                    .filter(|j| {
                        j.actual_device.as_deref() == Some(d.hostname.as_str())
                            && !j.health_check
                            && j.start_time.is_some_and(|t| t >= hc.submit_time)
                    })
                    .count() as u64;
                health_history.insert(
                    d.hostname.clone(),
                    HealthHistory {
                        last_health_check: hc.id,
                        submit_time: hc.submit_time,
                        jobs_since,
                    },
                );
            }
            Ok(SchedulerSnapshot {
                device_types: s.device_types.values().cloned().collect(),
                devices: s.devices.values().cloned().collect(),
                workers: s.workers.values().cloned().collect(),
                queued_jobs: queue_with_groups(s.jobs()),
                health_history,
            })
        })
    }

    async fn add_test_cases(&self, job: JobId, cases: &[TestCase]) -> Result<()> {
        self.write(|s| {
            s.job_mut(job)?.cases.extend_from_slice(cases);
            Ok(())
        })
    }

    async fn test_cases(&self, job: JobId) -> Result<Vec<TestCase>> {
        self.read(|s| Ok(s.job(job)?.cases.clone()))
    }

    async fn set_job_log(&self, job: JobId, log: &JobLog) -> Result<()> {
        self.write(|s| {
            s.job_mut(job)?.log = Some(log.clone());
            Ok(())
        })
    }

    async fn job_log(&self, job: JobId) -> Result<Option<JobLog>> {
        self.read(|s| Ok(s.job(job)?.log.clone()))
    }

    async fn job_end(&self, job: JobId) -> Result<JobEnd> {
        self.read(|s| Ok(s.job(job)?.end.clone()))
    }

    async fn job_token(&self, job: JobId) -> Result<Option<String>> {
        self.read(|s| Ok(s.job(job)?.token.clone()))
    }

    async fn set_job_token(&self, job: JobId, token: &str) -> Result<()> {
        self.write(|s| {
            s.job_mut(job)?.token = Some(token.to_owned());
            Ok(())
        })
    }

    async fn worker_access(&self, hostname: &str) -> Result<Option<WorkerAccess>> {
        self.read(|s| {
            Ok(s.workers
                .contains_key(hostname)
                .then(|| s.access.get(hostname).cloned().unwrap_or_default()))
        })
    }

    async fn set_worker_token(&self, hostname: &str, token: &str) -> Result<()> {
        self.write(|s| {
            s.access_mut(hostname)?.token = Some(token.to_owned());
            Ok(())
        })
    }

    async fn set_worker_protocol(
        &self,
        hostname: &str,
        protocol: WorkerProtocol,
        refusal: Option<&str>,
    ) -> Result<()> {
        self.write(|s| {
            let access = s.access_mut(hostname)?;
            access.protocol = Some(protocol);
            access.refusal = refusal.map(str::to_owned);
            Ok(())
        })
    }
}
