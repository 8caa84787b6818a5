//! An in-memory [`Backend`] for tests and for the stand-alone API test server.
//!
//! It keeps everything in one mutex-guarded state and has a deterministic clock (one second
//! per event from 2020-05-01T00:00:00Z), so tests can assert on times. Job definitions get a
//! light check only (a YAML mapping with `job_name`, `device_type`, `timeouts`, `actions`
//! and `visibility`); the master's backend uses lava-core's job parser instead. Rendering a
//! device configuration returns the dictionary as stored: there is no template engine here.
//! [`FakeBackend::run_jobs_step`] plays scheduler and slave so that clients can follow a job.

use super::auth::tokens_match;
use super::backend::{
    Backend, BackendError, BackendResult, DeviceUpdate, JobQuery, Submitted, User, ValidationIssue,
    WorkerFile, WorkerUpdate,
};
use async_trait::async_trait;
use lava_core::model::{
    Device, DeviceHealth, DeviceType, Job, JobHealth, JobId, JobState, Priority, Tag, Worker,
};
use lava_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

/// 2020-05-01T00:00:00Z, where the fake clock starts.
const EPOCH: i64 = 1_588_291_200;

#[derive(Default)]
struct State {
    clock: i64,
    /// Tokens and their users (a user may have several tokens).
    tokens: Vec<(String, User)>,
    jobs: BTreeMap<JobId, Job>,
    logs: HashMap<JobId, Vec<String>>,
    results: HashMap<JobId, String>,
    devices: BTreeMap<String, Device>,
    dictionaries: HashMap<String, String>,
    device_types: BTreeMap<String, DeviceType>,
    templates: BTreeMap<String, String>,
    workers: BTreeMap<String, Worker>,
    worker_files: HashMap<(String, WorkerFile), String>,
    tags: BTreeMap<String, Tag>,
}

impl State {
    fn tick(&mut self) -> Timestamp {
        self.clock += 1;
        Timestamp::from_secs(EPOCH + self.clock)
    }
}

/// The in-memory lab.
#[derive(Default)]
pub struct FakeBackend {
    state: Mutex<State>,
}

/// The top-level keys the fake requires in a job definition.
const REQUIRED_KEYS: &[&str] = &[
    "job_name",
    "device_type",
    "timeouts",
    "actions",
    "visibility",
];

/// The top-level keys the fake knows (for strict validation).
const KNOWN_KEYS: &[&str] = &[
    "job_name",
    "device_type",
    "timeouts",
    "actions",
    "visibility",
    "priority",
    "tags",
    "context",
    "metadata",
    "notify",
    "protocols",
    "secrets",
    "environment",
    "reboot_to_fastboot",
];

fn issue(path: &str, message: &str) -> ValidationIssue {
    ValidationIssue {
        path: format!("['{path}']"),
        message: message.to_owned(),
    }
}

/// Parses a definition into a top-level mapping.
fn parse_definition(definition: &str) -> BackendResult<serde_json::Map<String, serde_json::Value>> {
    let value: serde_json::Value = serde_saphyr::from_str(definition)
        .map_err(|e| BackendError::Invalid(format!("Decoding job submission failed: {e}.")))?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(BackendError::InvalidDefinition(
            "the definition is not a mapping".to_owned(),
        )),
    }
}

fn check_definition(
    map: &serde_json::Map<String, serde_json::Value>,
    strict: bool,
) -> Option<ValidationIssue> {
    if let Some(key) = REQUIRED_KEYS.iter().find(|k| !map.contains_key(**k)) {
        return Some(issue(key, "required key not provided"));
    }
    if !map.get("job_name").is_some_and(|v| v.is_string()) {
        return Some(issue("job_name", "expected str"));
    }
    if !map.get("device_type").is_some_and(|v| v.is_string()) {
        return Some(issue("device_type", "expected str"));
    }
    if strict {
        if let Some(key) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Some(issue(key, "extra keys not allowed"));
        }
    }
    None
}

impl FakeBackend {
    /// An empty lab.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data behind (every
        // change is a single insert), so the poison flag can be ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user with a token.
    pub fn add_user(&self, username: &str, token: &str, is_admin: bool) {
        self.lock().tokens.push((
            token.to_owned(),
            User {
                username: username.to_owned(),
                is_admin,
            },
        ));
    }

    /// Moves a job to a state and health, as the scheduler and the slave would.
    pub fn set_job_state(
        &self,
        id: JobId,
        state: JobState,
        health: JobHealth,
        device: Option<&str>,
    ) -> BackendResult<()> {
        let mut st = self.lock();
        let now = st.tick();
        let job = st
            .jobs
            .get_mut(&id)
            .ok_or_else(|| BackendError::NotFound(format!("Job '{id}'")))?;
        job.state = state;
        job.health = health;
        if let Some(d) = device {
            job.actual_device = Some(d.to_owned());
        }
        if state == JobState::Running && job.start_time.is_none() {
            job.start_time = Some(now);
        }
        if state == JobState::Finished {
            job.end_time = Some(now);
        }
        Ok(())
    }

    /// Appends log lines (`- {dt: …, lvl: …, msg: …}`) to a job.
    pub fn append_logs(&self, id: JobId, lines: &[&str]) {
        self.lock()
            .logs
            .entry(id)
            .or_default()
            .extend(lines.iter().map(|l| (*l).to_owned()));
    }

    /// Plays scheduler and slave for one step, so that clients can watch jobs run:
    /// a Submitted job starts Running on a free device of its type whose health is Good or
    /// Unknown, a Running job finishes Complete, a Canceling one finishes Canceled. Each
    /// step writes log lines as lava-run would.
    pub fn run_jobs_step(&self) {
        let mut st = self.lock();
        let now = st.tick();
        let ids: Vec<JobId> = st.jobs.keys().copied().collect();
        for id in ids {
            let Some(job) = st.jobs.get(&id).cloned() else {
                continue;
            };
            let mut lines = Vec::new();
            let mut log = |lvl: &str, msg: &str| {
                lines.push(format!(
                    "- {{\"dt\": \"{now}\", \"lvl\": \"{lvl}\", \"msg\": \"{msg}\"}}"
                ));
            };
            let mut update = job.clone();
            match job.state {
                JobState::Submitted => {
                    let busy: BTreeSet<String> = st
                        .jobs
                        .values()
                        .filter(|j| j.state != JobState::Finished)
                        .filter_map(|j| j.actual_device.clone())
                        .collect();
                    let free = st.devices.values().find(|d| {
                        Some(&d.device_type) == job.requested_device_type.as_ref()
                            && matches!(d.health, DeviceHealth::Good | DeviceHealth::Unknown)
                            && !busy.contains(&d.hostname)
                    });
                    let Some(device) = free else {
                        continue;
                    };
                    update.state = JobState::Running;
                    update.start_time = Some(now);
                    update.actual_device = Some(device.hostname.clone());
                    log("info", "lava-dispatcher, installed at version: 2020.05");
                    log("info", &format!("start: 0 validate on {}", device.hostname));
                }
                JobState::Running => {
                    update.state = JobState::Finished;
                    update.health = JobHealth::Complete;
                    update.end_time = Some(now);
                    log("target", "Hello from the fake device");
                    log("info", "Job finished correctly");
                }
                JobState::Canceling => {
                    update.state = JobState::Finished;
                    update.health = JobHealth::Canceled;
                    update.end_time = Some(now);
                    log("error", "Canceled");
                }
                _ => continue,
            }
            st.jobs.insert(id, update);
            st.logs.entry(id).or_default().extend(lines);
        }
    }

    /// Stores the results YAML of a job.
    pub fn set_results(&self, id: JobId, yaml: &str) {
        self.lock().results.insert(id, yaml.to_owned());
    }
}

#[async_trait]
impl Backend for FakeBackend {
    async fn authenticate(&self, username: &str, token: &str) -> BackendResult<Option<User>> {
        Ok(self
            .lock()
            .tokens
            .iter()
            .find(|(secret, user)| user.username == username && tokens_match(secret, token))
            .map(|(_, user)| user.clone()))
    }

    async fn submit_job(&self, submitter: &User, definition: &str) -> BackendResult<Submitted> {
        let map = parse_definition(definition)?;
        if let Some(problem) = check_definition(&map, false) {
            return Err(BackendError::InvalidDefinition(format!(
                "{}: {}",
                problem.message, problem.path
            )));
        }
        let device_type = map
            .get("device_type")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let mut st = self.lock();
        if !st.device_types.contains_key(&device_type) {
            return Err(BackendError::NotFound(format!(
                "device type '{device_type}'"
            )));
        }
        let priority = match map.get("priority") {
            None => Priority::default(),
            Some(serde_json::Value::String(s)) => Priority::from_name(s).ok_or_else(|| {
                BackendError::InvalidDefinition(format!("invalid priority '{s}'"))
            })?,
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .and_then(Priority::new)
                .ok_or_else(|| BackendError::InvalidDefinition(format!("invalid priority {n}")))?,
            Some(_) => return Err(BackendError::InvalidDefinition("invalid priority".into())),
        };
        let tags: BTreeSet<String> = map
            .get("tags")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let is_public = map.get("visibility").and_then(|v| v.as_str()) == Some("public");
        let id = st.jobs.keys().next_back().map_or(1, |last| last + 1);
        let now = st.tick();
        st.jobs.insert(
            id,
            Job {
                id,
                submitter: submitter.username.clone(),
                definition: definition.to_owned(),
                state: JobState::Submitted,
                health: JobHealth::Unknown,
                priority,
                submit_time: now,
                start_time: None,
                end_time: None,
                requested_device_type: Some(device_type),
                tags,
                multinode: None,
                health_check: false,
                actual_device: None,
                failure_comment: None,
                is_public,
            },
        );
        Ok(Submitted::Job(id))
    }

    async fn validate_job(
        &self,
        definition: &str,
        strict: bool,
    ) -> BackendResult<Option<ValidationIssue>> {
        let map = parse_definition(definition)?;
        Ok(check_definition(&map, strict))
    }

    async fn job(&self, id: JobId) -> BackendResult<Option<Job>> {
        Ok(self.lock().jobs.get(&id).cloned())
    }

    async fn jobs(&self, query: &JobQuery) -> BackendResult<Vec<Job>> {
        let st = self.lock();
        Ok(st
            .jobs
            .values()
            .rev()
            .filter(|j| query.matches(j))
            .skip(query.start)
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn cancel_job(&self, id: JobId, _by: &User) -> BackendResult<()> {
        let mut st = self.lock();
        let now = st.tick();
        let job = st
            .jobs
            .get_mut(&id)
            .ok_or_else(|| BackendError::NotFound(format!("Job '{id}'")))?;
        match job.state {
            JobState::Submitted => {
                job.state = JobState::Finished;
                job.health = JobHealth::Canceled;
                job.end_time = Some(now);
            }
            JobState::Scheduling | JobState::Scheduled | JobState::Running => {
                job.state = JobState::Canceling;
            }
            JobState::Canceling | JobState::Finished => {}
        }
        Ok(())
    }

    async fn job_logs(&self, id: JobId, start: usize, end: Option<usize>) -> BackendResult<String> {
        let st = self.lock();
        let lines = st.logs.get(&id).map(Vec::as_slice).unwrap_or_default();
        let end = end.unwrap_or(lines.len()).min(lines.len());
        let start = start.min(end);
        Ok(lines[start..end].iter().map(|l| format!("{l}\n")).collect())
    }

    async fn job_results_yaml(&self, id: JobId) -> BackendResult<String> {
        Ok(self
            .lock()
            .results
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "[]\n".to_owned()))
    }

    async fn add_device(&self, device: Device) -> BackendResult<()> {
        let mut st = self.lock();
        if st.devices.contains_key(&device.hostname) {
            return Err(BackendError::AlreadyExists(format!(
                "device '{}'",
                device.hostname
            )));
        }
        if !st.device_types.contains_key(&device.device_type) {
            return Err(BackendError::NotFound(format!(
                "DeviceType '{}'",
                device.device_type
            )));
        }
        if let Some(w) = &device.worker {
            if !st.workers.contains_key(w) {
                return Err(BackendError::NotFound(format!("Worker '{w}'")));
            }
        }
        st.devices.insert(device.hostname.clone(), device);
        Ok(())
    }

    async fn device(&self, hostname: &str) -> BackendResult<Option<Device>> {
        Ok(self.lock().devices.get(hostname).cloned())
    }

    async fn devices(&self) -> BackendResult<Vec<Device>> {
        Ok(self.lock().devices.values().cloned().collect())
    }

    async fn update_device(&self, hostname: &str, update: DeviceUpdate) -> BackendResult<()> {
        let mut st = self.lock();
        if let Some(w) = &update.worker {
            if !st.workers.contains_key(w) {
                return Err(BackendError::NotFound(format!("Worker '{w}'")));
            }
        }
        let device = st
            .devices
            .get_mut(hostname)
            .ok_or_else(|| BackendError::NotFound(format!("Device '{hostname}'")))?;
        if let Some(w) = update.worker {
            device.worker = Some(w);
        }
        if let Some(h) = update.health {
            device.health = h;
        }
        if let Some(d) = update.description {
            device.description = d;
        }
        Ok(())
    }

    async fn current_job(&self, hostname: &str) -> BackendResult<Option<JobId>> {
        Ok(self
            .lock()
            .jobs
            .values()
            .find(|j| j.state != JobState::Finished && j.actual_device.as_deref() == Some(hostname))
            .map(|j| j.id))
    }

    async fn device_dictionary(&self, hostname: &str) -> BackendResult<Option<String>> {
        Ok(self.lock().dictionaries.get(hostname).cloned())
    }

    async fn render_device_configuration(
        &self,
        hostname: &str,
        context: Option<&str>,
    ) -> BackendResult<Option<String>> {
        if let Some(ctx) = context {
            serde_saphyr::from_str::<serde_json::Value>(ctx).map_err(|e| {
                BackendError::Invalid(format!("Job Context '{ctx}' is not valid: {e}"))
            })?;
        }
        Ok(self.lock().dictionaries.get(hostname).cloned())
    }

    async fn set_device_dictionary(&self, hostname: &str, dictionary: &str) -> BackendResult<bool> {
        let mut st = self.lock();
        if !st.devices.contains_key(hostname) {
            return Err(BackendError::NotFound(format!("Device '{hostname}'")));
        }
        if dictionary.is_empty() {
            st.dictionaries.remove(hostname);
        } else {
            st.dictionaries
                .insert(hostname.to_owned(), dictionary.to_owned());
        }
        Ok(true)
    }

    async fn add_device_type(&self, device_type: DeviceType) -> BackendResult<()> {
        let mut st = self.lock();
        if st.device_types.contains_key(&device_type.name) {
            return Err(BackendError::AlreadyExists(format!(
                "device type '{}'",
                device_type.name
            )));
        }
        st.device_types
            .insert(device_type.name.clone(), device_type);
        Ok(())
    }

    async fn device_type(&self, name: &str) -> BackendResult<Option<DeviceType>> {
        Ok(self.lock().device_types.get(name).cloned())
    }

    async fn device_types(&self) -> BackendResult<Vec<DeviceType>> {
        Ok(self.lock().device_types.values().cloned().collect())
    }

    async fn device_type_templates(&self) -> BackendResult<Vec<String>> {
        Ok(self.lock().templates.keys().cloned().collect())
    }

    async fn device_type_template(&self, name: &str) -> BackendResult<Option<String>> {
        Ok(self.lock().templates.get(name).cloned())
    }

    async fn set_device_type_template(&self, name: &str, template: &str) -> BackendResult<()> {
        self.lock()
            .templates
            .insert(name.to_owned(), template.to_owned());
        Ok(())
    }

    async fn add_worker(&self, worker: Worker) -> BackendResult<()> {
        let mut st = self.lock();
        if st.workers.contains_key(&worker.hostname) {
            return Err(BackendError::AlreadyExists(format!(
                "worker '{}'",
                worker.hostname
            )));
        }
        st.workers.insert(worker.hostname.clone(), worker);
        Ok(())
    }

    async fn worker(&self, hostname: &str) -> BackendResult<Option<Worker>> {
        Ok(self.lock().workers.get(hostname).cloned())
    }

    async fn workers(&self) -> BackendResult<Vec<Worker>> {
        Ok(self.lock().workers.values().cloned().collect())
    }

    async fn update_worker(&self, hostname: &str, update: WorkerUpdate) -> BackendResult<()> {
        let mut st = self.lock();
        let worker = st
            .workers
            .get_mut(hostname)
            .ok_or_else(|| BackendError::NotFound(format!("Worker '{hostname}'")))?;
        if let Some(d) = update.description {
            worker.description = d;
        }
        if let Some(h) = update.health {
            worker.health = h;
        }
        if let Some(l) = update.job_limit {
            worker.job_limit = l;
        }
        Ok(())
    }

    async fn worker_file(&self, hostname: &str, file: WorkerFile) -> BackendResult<Option<String>> {
        Ok(self
            .lock()
            .worker_files
            .get(&(hostname.to_owned(), file))
            .cloned())
    }

    async fn set_worker_file(
        &self,
        hostname: &str,
        file: WorkerFile,
        content: &str,
    ) -> BackendResult<bool> {
        let mut st = self.lock();
        if !st.workers.contains_key(hostname) {
            return Err(BackendError::NotFound(format!("Worker '{hostname}'")));
        }
        st.worker_files
            .insert((hostname.to_owned(), file), content.to_owned());
        Ok(true)
    }

    async fn add_tag(&self, tag: Tag) -> BackendResult<()> {
        let mut st = self.lock();
        if st.tags.contains_key(&tag.name) {
            return Err(BackendError::AlreadyExists(format!("tag '{}'", tag.name)));
        }
        st.tags.insert(tag.name.clone(), tag);
        Ok(())
    }

    async fn tags(&self) -> BackendResult<Vec<Tag>> {
        Ok(self.lock().tags.values().cloned().collect())
    }
}
