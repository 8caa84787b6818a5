//! The XML-RPC API over the real lab: [`StoreBackend`] implements the API's
//! [`Backend`] over lava-store and the files lava-master and lava-admin keep.
//!
//! - Rows (jobs, devices, device types, workers, tags, users and tokens) live in the store.
//!   Jobs go through [`lab::submit`] and [`lab::cancel`], exactly as `lava-admin jobs` does,
//!   so the master (which polls the store every second) schedules and cancels them.
//!   Health changes go through lava-core's transitions (a worker's health cascades to its
//!   devices) and are written with preconditions, retried when the master changed the row
//!   meanwhile.
//! - Files stay where LAVA keeps them (see [`LabPaths`]). A device dictionary is rendered
//!   before it is saved, and only one that renders to a YAML mapping replaces the file;
//!   every write goes through a temporary file and a rename, so the master never reads
//!   half a file and a failed write leaves the old one in place.
//!
//! File access is synchronous: the files are small and renders are bounded by the
//! renderer's fuel, so a request holds a runtime thread for a moment at most.

use crate::api::backend::{
    Backend, BackendError, BackendResult, DeviceUpdate, JobQuery, Submitted, User, ValidationIssue,
    WorkerFile, WorkerUpdate,
};
use crate::api::methods::is_file_name;
use crate::lab::{self, LabError};
use crate::master::job_output::{job_output_dir, read_lines};
use crate::master::options::MasterOptions;
use async_trait::async_trait;
use lava_core::model::{transitions, Device, DeviceType, Job, JobId, JobState, Tag, Worker};
use lava_core::templates::{check_mapping, dictionary_name, JobContext, Renderer, SearchPath};
use lava_store::{ChangeSet, JobFilter, Precondition, Store, StoreError, TestCase};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How often a health change is retried when the master changed the same row meanwhile.
const CONFLICT_RETRIES: usize = 5;

/// Where the lab's files are, as lava-master's options name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPaths {
    /// The dispatcher-config tree: `devices/<hostname>.jinja2`, `device-types/<type>.jinja2`.
    pub dispatcher_config: PathBuf,
    /// Extra device-types directories, searched (read only) after the tree's own.
    pub extra_device_types: Vec<PathBuf>,
    /// Per-worker files: `<worker>/dispatcher.yaml`, `<worker>/env.yaml`.
    pub dispatcher_d: PathBuf,
    /// Slave public certificates: `<worker>.key`.
    pub slaves_certs: PathBuf,
    /// Where job output directories are (`job-output/YYYY/MM/DD/<id>`).
    pub output_root: PathBuf,
}

impl LabPaths {
    /// The paths lava-master uses with `options`.
    pub fn from_options(options: &MasterOptions) -> Self {
        LabPaths {
            dispatcher_config: options.dispatcher_config_dir(),
            extra_device_types: options.device_types.clone(),
            dispatcher_d: options.dispatcher_d_dir(),
            slaves_certs: options.slaves_certs.clone(),
            output_root: options.job_output_root(),
        }
    }

    fn devices_dir(&self) -> PathBuf {
        self.dispatcher_config.join("devices")
    }

    fn device_types_dir(&self) -> PathBuf {
        self.dispatcher_config.join("device-types")
    }

    /// Device-types directories in search order: the tree's own first.
    fn device_types_dirs(&self) -> Vec<PathBuf> {
        std::iter::once(self.device_types_dir())
            .chain(self.extra_device_types.iter().cloned())
            .collect()
    }

    /// The file the API writes for `file` of `worker`.
    fn worker_file(&self, worker: &str, file: WorkerFile) -> PathBuf {
        match file {
            WorkerFile::Config => self.dispatcher_d.join(worker).join("dispatcher.yaml"),
            WorkerFile::Env => self.dispatcher_d.join(worker).join("env.yaml"),
            WorkerFile::Certificate => self.slaves_certs.join(format!("{worker}.key")),
        }
    }

    /// The files read for `file` of `worker`, first match wins: LAVA 2020.05 also reads a
    /// dispatcher configuration from the older `dispatcher.d/<worker>.yaml`.
    fn worker_file_candidates(&self, worker: &str, file: WorkerFile) -> Vec<PathBuf> {
        let mut candidates = vec![self.worker_file(worker, file)];
        if file == WorkerFile::Config {
            candidates.push(self.dispatcher_d.join(format!("{worker}.yaml")));
        }
        candidates
    }
}

/// The real lab behind the XML-RPC API.
pub struct StoreBackend {
    store: Arc<dyn Store>,
    paths: LabPaths,
    renderer: Renderer,
}

impl StoreBackend {
    /// The API's view of the lab in `store` and under `paths`.
    pub fn new(store: Arc<dyn Store>, paths: LabPaths) -> Self {
        // The same search path as the master's: devices first, then every device-types dir.
        let dirs = std::iter::once(paths.devices_dir()).chain(paths.device_types_dirs());
        let renderer = Renderer::new(SearchPath::new(dirs));
        StoreBackend {
            store,
            paths,
            renderer,
        }
    }

    async fn existing_device(&self, hostname: &str) -> BackendResult<Device> {
        self.store
            .device(hostname)
            .await
            .map_err(store_error)?
            .ok_or_else(|| BackendError::NotFound(format!("Device '{hostname}'")))
    }

    async fn existing_worker(&self, hostname: &str) -> BackendResult<Worker> {
        self.store
            .worker(hostname)
            .await
            .map_err(store_error)?
            .ok_or_else(|| BackendError::NotFound(format!("Worker '{hostname}'")))
    }

    /// Renders `dictionary` as the master would for a job without context, and checks that
    /// it gives a YAML mapping.
    fn check_dictionary(&self, device: &Device, dictionary: &str) -> BackendResult<()> {
        let rendered = self
            .renderer
            .render_source_for_job(
                &device.hostname,
                &device.device_type,
                dictionary,
                &JobContext::empty(),
            )
            .and_then(|yaml| check_mapping(&dictionary_name(&device.hostname), &yaml));
        rendered.map_err(|e| {
            BackendError::Invalid(format!(
                "Invalid device dictionary for '{}': {e}",
                device.hostname
            ))
        })
    }

    /// One attempt at a device update: the new row, written only if the master has not
    /// moved the device meanwhile.
    async fn try_update_device(
        &self,
        hostname: &str,
        update: &DeviceUpdate,
    ) -> BackendResult<Result<(), StoreError>> {
        let current = self.existing_device(hostname).await?;
        let mut device = current.clone();
        if let Some(worker) = &update.worker {
            device.worker = Some(worker.clone());
        }
        if let Some(description) = &update.description {
            device.description = description.clone();
        }
        if let Some(health) = update.health.filter(|h| *h != device.health) {
            let changes = transitions::device_health(&device, health)
                .map_err(|e| BackendError::Invalid(e.to_string()))?;
            if let Some(changed) = changes.devices.into_iter().next() {
                device = changed;
            }
        }
        if device == current {
            return Ok(Ok(()));
        }
        let changes = ChangeSet::new()
            .require(Precondition::DeviceState(
                current.hostname.clone(),
                current.state,
            ))
            .require(Precondition::DeviceHealth(
                current.hostname.clone(),
                current.health,
            ))
            .device(device);
        Ok(self.store.apply(&changes).await.map(|_| ()))
    }

    /// One attempt at a worker update (its devices follow a health change).
    async fn try_update_worker(
        &self,
        hostname: &str,
        update: &WorkerUpdate,
    ) -> BackendResult<Result<(), StoreError>> {
        let current = self.existing_worker(hostname).await?;
        let mut worker = current.clone();
        if let Some(description) = &update.description {
            worker.description = description.clone();
        }
        if let Some(limit) = update.job_limit {
            worker.job_limit = limit;
        }
        let mut changes = ChangeSet::new()
            .require(Precondition::WorkerState(
                hostname.to_owned(),
                current.state,
            ))
            .require(Precondition::WorkerHealth(
                hostname.to_owned(),
                current.health,
            ));
        match update.health.filter(|h| *h != worker.health) {
            Some(health) => {
                let devices: Vec<Device> = self
                    .store
                    .devices()
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .filter(|d| d.worker.as_deref() == Some(hostname))
                    .collect();
                let moved = transitions::worker_health(&worker, &devices, health)
                    .map_err(|e| BackendError::Invalid(e.to_string()))?;
                for device in &moved.devices {
                    if let Some(before) = devices.iter().find(|d| d.hostname == device.hostname) {
                        changes = changes
                            .require(Precondition::DeviceState(
                                before.hostname.clone(),
                                before.state,
                            ))
                            .require(Precondition::DeviceHealth(
                                before.hostname.clone(),
                                before.health,
                            ));
                    }
                }
                changes.devices.extend(moved.devices);
                changes.workers.extend(moved.workers);
            }
            None if worker == current => return Ok(Ok(())),
            None => changes = changes.worker(worker),
        }
        Ok(self.store.apply(&changes).await.map(|_| ()))
    }

    /// A job's output directory: where the master recorded it, else LAVA's layout.
    async fn output_dir(&self, job: &Job) -> BackendResult<PathBuf> {
        let recorded = self.store.job_log(job.id).await.map_err(store_error)?;
        Ok(match recorded {
            Some(log) if !log.output_dir.is_empty() => PathBuf::from(log.output_dir),
            _ => job_output_dir(&self.paths.output_root, job.id, job.submit_time.as_secs()),
        })
    }
}

/// Retries `attempt` while it meets a store conflict (the master moved the row).
async fn with_retries<F, Fut>(what: &str, mut attempt: F) -> BackendResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = BackendResult<Result<(), StoreError>>>,
{
    let mut last = None;
    for _ in 0..CONFLICT_RETRIES {
        match attempt().await? {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(why)) => last = Some(why),
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(BackendError::Storage(format!(
        "{what} kept changing while being updated: {}",
        last.unwrap_or_default()
    )))
}

fn store_error(e: StoreError) -> BackendError {
    match e {
        StoreError::NotFound(what) => BackendError::NotFound(what),
        StoreError::AlreadyExists(what) => BackendError::AlreadyExists(what),
        e @ (StoreError::Invalid { .. } | StoreError::InUse { .. }) => {
            BackendError::Invalid(e.to_string())
        }
        e => BackendError::Storage(e.to_string()),
    }
}

fn lab_error(e: LabError) -> BackendError {
    match e {
        LabError::Store(e) => store_error(e),
        LabError::JobDefinition(e) => BackendError::InvalidDefinition(e.to_string()),
        LabError::Transition(e) => BackendError::Invalid(e.to_string()),
        LabError::UnknownJob(id) => BackendError::NotFound(format!("Job '{id}'")),
        LabError::UnknownDeviceType(name) => BackendError::NotFound(format!("DeviceType '{name}'")),
    }
}

/// Refuses a name that would not stay one file name inside its directory (objects added
/// by other means than the API are not checked for that).
fn safe_name<'a>(kind: &str, name: &'a str) -> BackendResult<&'a str> {
    if is_file_name(name) {
        Ok(name)
    } else {
        Err(BackendError::Invalid(format!(
            "{kind} '{name}' cannot name a file"
        )))
    }
}

/// The text of a file, `None` if it does not exist.
fn read_optional(path: &Path) -> BackendResult<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            BackendError::Invalid(format!(
                "{} is not UTF-8 (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BackendError::Storage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so
/// that readers see the old text or the new one, never a mix.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    std::fs::create_dir_all(dir)?;
    // A dot file with a .tmp suffix: never a name the template loader or the master asks for.
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&temp, text)
        .and_then(|()| std::fs::File::open(&temp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// Writes a file for the API: `false` (LAVA's answer) when it cannot, with the reason logged.
fn write_for_api(path: &Path, text: &str) -> bool {
    match write_atomically(path, text) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot write: {e}");
            false
        }
    }
}

/// Checks that a worker's dispatcher configuration or environment is a YAML mapping (the
/// master refuses to send anything else to the worker, so refuse it here first).
fn check_worker_yaml(hostname: &str, file: WorkerFile, text: &str) -> BackendResult<()> {
    if file == WorkerFile::Certificate || text.trim().is_empty() {
        return Ok(());
    }
    let what = match file {
        WorkerFile::Config => "dispatcher configuration",
        _ => "environment",
    };
    match serde_saphyr::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(BackendError::Invalid(format!(
            "Invalid {what} for worker '{hostname}': must be a YAML mapping"
        ))),
        Err(e) => Err(BackendError::Invalid(format!(
            "Invalid {what} for worker '{hostname}': not valid YAML: {e}"
        ))),
    }
}

/// `timeouts.job` as Python prints a key path: `['timeouts', 'job']`.
fn python_path(dotted: &str) -> String {
    let keys: Vec<String> = dotted
        .split('.')
        .filter(|k| !k.is_empty())
        .map(|k| format!("'{k}'"))
        .collect();
    format!("[{}]", keys.join(", "))
}

/// One test case as `results.get_testjob_results_yaml` lists it.
fn test_case_entry(job: JobId, case: &TestCase) -> BTreeMap<&'static str, serde_json::Value> {
    use serde_json::Value;
    let text = |s: String| Value::String(s);
    let line = |l: Option<u64>| l.map_or(Value::Null, |l| Value::String(l.to_string()));
    let metadata = case.metadata.as_deref().map_or(Value::Null, |m| {
        serde_saphyr::from_str::<Value>(m).unwrap_or_else(|_| Value::String(m.to_owned()))
    });
    let level = metadata
        .get("level")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    BTreeMap::from([
        ("job", text(job.to_string())),
        ("suite", text(case.suite.clone())),
        ("name", text(case.name.clone())),
        ("result", text(case.result.name().to_owned())),
        (
            "measurement",
            text(
                case.measurement
                    .clone()
                    .unwrap_or_else(|| "None".to_owned()),
            ),
        ),
        ("unit", text(case.units.clone())),
        ("level", text(level)),
        ("logged", text(case.logged.to_string())),
        ("log_start_line", line(case.start_log_line)),
        ("log_end_line", line(case.end_log_line)),
        ("metadata", metadata),
    ])
}

#[async_trait]
impl Backend for StoreBackend {
    async fn authenticate(&self, username: &str, token: &str) -> BackendResult<Option<User>> {
        let user = self
            .store
            .authenticate(username, token)
            .await
            .map_err(store_error)?;
        Ok(user.map(|u| User {
            username: u.username,
            is_admin: u.is_admin,
        }))
    }

    async fn submit_job(&self, submitter: &User, definition: &str) -> BackendResult<Submitted> {
        let ids = lab::submit(
            self.store.as_ref(),
            definition,
            &submitter.username,
            lab::now(),
        )
        .await
        .map_err(lab_error)?;
        let first = ids
            .first()
            .copied()
            .ok_or_else(|| BackendError::Storage("the store created no job".to_owned()))?;
        let multinode = self
            .store
            .job(first)
            .await
            .map_err(store_error)?
            .is_some_and(|job| job.multinode.is_some());
        if multinode {
            // LAVA answers `12.0, 12.1, …`; lava-rs does not look sub-ids up (docs/api.md),
            // so each sub-job is answered by the id that `jobs show` and `jobs cancel` take.
            Ok(Submitted::Multinode(
                ids.iter().map(ToString::to_string).collect(),
            ))
        } else {
            Ok(Submitted::Job(first))
        }
    }

    async fn validate_job(
        &self,
        definition: &str,
        _strict: bool,
    ) -> BackendResult<Option<ValidationIssue>> {
        match lava_core::job::parse(definition) {
            Ok(_) => Ok(None),
            Err(e) if e.path == "(document)" => Err(BackendError::Invalid(format!(
                "Decoding job submission failed: {}.",
                e.message
            ))),
            Err(e) => Ok(Some(ValidationIssue {
                path: python_path(&e.path),
                message: match e.line {
                    Some(line) => format!("{} (line {line})", e.message),
                    None => e.message,
                },
            })),
        }
    }

    async fn job(&self, id: JobId) -> BackendResult<Option<Job>> {
        self.store.job(id).await.map_err(store_error)
    }

    async fn jobs(&self, query: &JobQuery) -> BackendResult<Vec<Job>> {
        // The store filters by state and counts; the rest is filtered here. When nothing
        // else can drop a job (an admin sees every job), only the page is read.
        let only_state = query.health.is_none()
            && query.ended_since.is_none()
            && query.viewer.as_ref().is_some_and(|u| u.is_admin);
        let filter = JobFilter {
            states: query.state.into_iter().collect(),
            limit: only_state.then(|| query.start.saturating_add(query.limit) as u64),
            ..JobFilter::default()
        };
        let jobs = self.store.jobs(&filter).await.map_err(store_error)?;
        Ok(jobs
            .into_iter()
            .filter(|j| query.matches(j))
            .skip(query.start)
            .take(query.limit)
            .collect())
    }

    async fn cancel_job(&self, id: JobId, by: &User) -> BackendResult<()> {
        let job = self
            .store
            .job(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| BackendError::NotFound(format!("Job '{id}'")))?;
        if matches!(job.state, JobState::Finished | JobState::Canceling) {
            return Ok(());
        }
        tracing::info!(job = id, user = %by.username, "canceled through the API");
        lab::cancel(self.store.as_ref(), id, lab::now())
            .await
            .map_err(lab_error)
    }

    async fn job_logs(&self, id: JobId, start: usize, end: Option<usize>) -> BackendResult<String> {
        let job = self
            .store
            .job(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| BackendError::NotFound(format!("Job '{id}'")))?;
        let dir = self.output_dir(&job).await?;
        let count = end.map_or(u64::MAX, |end| end.saturating_sub(start) as u64);
        let lines = read_lines(&dir, start as u64, count)
            .map_err(|e| BackendError::Storage(format!("cannot read the log of job {id}: {e}")))?;
        // read_lines gives each record without its `- ` list marker: put it back.
        Ok(lines.iter().map(|line| format!("- {line}\n")).collect())
    }

    async fn job_results_yaml(&self, id: JobId) -> BackendResult<String> {
        if self.store.job(id).await.map_err(store_error)?.is_none() {
            return Err(BackendError::NotFound(format!("Job '{id}'")));
        }
        let cases = self.store.test_cases(id).await.map_err(store_error)?;
        let entries: Vec<_> = cases.iter().map(|c| test_case_entry(id, c)).collect();
        if entries.is_empty() {
            return Ok("[]\n".to_owned());
        }
        serde_saphyr::to_string(&entries).map_err(|e| {
            BackendError::Storage(format!("cannot write the results of job {id}: {e}"))
        })
    }

    async fn add_device(&self, device: Device) -> BackendResult<()> {
        safe_name("Device", &device.hostname)?;
        if self
            .store
            .device(&device.hostname)
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Err(BackendError::AlreadyExists(format!(
                "Device '{}'",
                device.hostname
            )));
        }
        if self
            .store
            .device_type(&device.device_type)
            .await
            .map_err(store_error)?
            .is_none()
        {
            return Err(BackendError::NotFound(format!(
                "DeviceType '{}'",
                device.device_type
            )));
        }
        if let Some(worker) = &device.worker {
            self.existing_worker(worker).await?;
        }
        self.store.add_device(&device).await.map_err(store_error)
    }

    async fn device(&self, hostname: &str) -> BackendResult<Option<Device>> {
        self.store.device(hostname).await.map_err(store_error)
    }

    async fn devices(&self) -> BackendResult<Vec<Device>> {
        self.store.devices().await.map_err(store_error)
    }

    async fn update_device(&self, hostname: &str, update: DeviceUpdate) -> BackendResult<()> {
        if let Some(worker) = &update.worker {
            self.existing_worker(worker).await?;
        }
        let what = format!("device {hostname}");
        with_retries(&what, || self.try_update_device(hostname, &update)).await?;
        if let Some(health) = update.health {
            tracing::info!(device = hostname, %health, "health set through the API");
        }
        Ok(())
    }

    async fn current_job(&self, hostname: &str) -> BackendResult<Option<JobId>> {
        let filter = JobFilter {
            states: vec![
                JobState::Scheduling,
                JobState::Scheduled,
                JobState::Running,
                JobState::Canceling,
            ],
            actual_device: Some(hostname.to_owned()),
            limit: Some(1),
            ..JobFilter::default()
        };
        let jobs = self.store.jobs(&filter).await.map_err(store_error)?;
        Ok(jobs.first().map(|j| j.id))
    }

    async fn device_dictionary(&self, hostname: &str) -> BackendResult<Option<String>> {
        let name = safe_name("Device", hostname)?;
        read_optional(&self.paths.devices_dir().join(dictionary_name(name)))
    }

    async fn render_device_configuration(
        &self,
        hostname: &str,
        context: Option<&str>,
    ) -> BackendResult<Option<String>> {
        let device = self.existing_device(hostname).await?;
        let Some(dictionary) = self.device_dictionary(hostname).await? else {
            return Ok(None);
        };
        let context = match context {
            Some(text) => JobContext::from_yaml(text, "job context").map_err(|e| {
                BackendError::Invalid(format!("Job Context '{text}' is not valid: {e}"))
            })?,
            None => JobContext::empty(),
        };
        self.renderer
            .render_source_for_job(hostname, &device.device_type, &dictionary, &context)
            .map(Some)
            .map_err(|e| {
                BackendError::Invalid(format!(
                    "Unable to render the configuration of device '{hostname}': {e}"
                ))
            })
    }

    async fn set_device_dictionary(&self, hostname: &str, dictionary: &str) -> BackendResult<bool> {
        let device = self.existing_device(hostname).await?;
        let path = self
            .paths
            .devices_dir()
            .join(dictionary_name(safe_name("Device", hostname)?));
        if dictionary.is_empty() {
            return Ok(match std::fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot remove: {e}");
                    false
                }
            });
        }
        self.check_dictionary(&device, dictionary)?;
        let written = write_for_api(&path, dictionary);
        if written {
            tracing::info!(
                device = hostname,
                "device dictionary replaced through the API"
            );
        }
        Ok(written)
    }

    async fn add_device_type(&self, device_type: DeviceType) -> BackendResult<()> {
        safe_name("DeviceType", &device_type.name)?;
        self.store
            .add_device_type(&device_type)
            .await
            .map_err(store_error)
    }

    async fn device_type(&self, name: &str) -> BackendResult<Option<DeviceType>> {
        self.store.device_type(name).await.map_err(store_error)
    }

    async fn device_types(&self) -> BackendResult<Vec<DeviceType>> {
        self.store.device_types().await.map_err(store_error)
    }

    async fn device_type_templates(&self) -> BackendResult<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        for dir in self.paths.device_types_dirs() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(BackendError::Storage(format!(
                        "cannot list {}: {e}",
                        dir.display()
                    )))
                }
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let Some(file_name) = file_name.to_str() else {
                    continue;
                };
                if let Some(name) = file_name.strip_suffix(".jinja2") {
                    if is_file_name(name) {
                        names.insert(name.to_owned());
                    }
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    async fn device_type_template(&self, name: &str) -> BackendResult<Option<String>> {
        let file = format!("{}.jinja2", safe_name("DeviceType", name)?);
        for dir in self.paths.device_types_dirs() {
            if let Some(text) = read_optional(&dir.join(&file))? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    async fn set_device_type_template(&self, name: &str, template: &str) -> BackendResult<()> {
        let file = format!("{}.jinja2", safe_name("DeviceType", name)?);
        let path = self.paths.device_types_dir().join(file);
        write_atomically(&path, template)
            .map_err(|e| BackendError::Storage(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(
            device_type = name,
            "device-type template replaced through the API"
        );
        Ok(())
    }

    async fn add_worker(&self, worker: Worker) -> BackendResult<()> {
        safe_name("Worker", &worker.hostname)?;
        self.store.add_worker(&worker).await.map_err(store_error)
    }

    async fn worker(&self, hostname: &str) -> BackendResult<Option<Worker>> {
        self.store.worker(hostname).await.map_err(store_error)
    }

    async fn workers(&self) -> BackendResult<Vec<Worker>> {
        self.store.workers().await.map_err(store_error)
    }

    async fn update_worker(&self, hostname: &str, update: WorkerUpdate) -> BackendResult<()> {
        let what = format!("worker {hostname}");
        with_retries(&what, || self.try_update_worker(hostname, &update)).await?;
        if let Some(health) = update.health {
            tracing::info!(worker = hostname, %health, "health set through the API");
        }
        Ok(())
    }

    async fn worker_file(&self, hostname: &str, file: WorkerFile) -> BackendResult<Option<String>> {
        let name = safe_name("Worker", hostname)?;
        for path in self.paths.worker_file_candidates(name, file) {
            if let Some(text) = read_optional(&path)? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    async fn set_worker_file(
        &self,
        hostname: &str,
        file: WorkerFile,
        content: &str,
    ) -> BackendResult<bool> {
        self.existing_worker(hostname).await?;
        let name = safe_name("Worker", hostname)?;
        check_worker_yaml(name, file, content)?;
        Ok(write_for_api(&self.paths.worker_file(name, file), content))
    }

    async fn add_tag(&self, tag: Tag) -> BackendResult<()> {
        self.store.add_tag(&tag).await.map_err(store_error)
    }

    async fn tags(&self) -> BackendResult<Vec<Tag>> {
        self.store.tags().await.map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_print_as_python_lists() {
        assert_eq!(python_path("timeouts.job"), "['timeouts', 'job']");
        assert_eq!(python_path("job_name"), "['job_name']");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.jinja2");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.jinja2")]);
    }

    #[test]
    fn worker_yaml_must_be_a_mapping() {
        assert!(check_worker_yaml("w", WorkerFile::Config, "a: 1\n").is_ok());
        assert!(check_worker_yaml("w", WorkerFile::Env, "").is_ok());
        let err = check_worker_yaml("w", WorkerFile::Env, "- a\n").unwrap_err();
        assert!(err.to_string().contains("worker 'w'"), "{err}");
        assert!(check_worker_yaml("w", WorkerFile::Config, "a: [\n").is_err());
        // A certificate is not YAML.
        assert!(check_worker_yaml("w", WorkerFile::Certificate, "- [\n").is_ok());
    }

    fn lab() -> (tempfile::TempDir, StoreBackend) {
        let dir = tempfile::tempdir().unwrap();
        let paths = LabPaths {
            dispatcher_config: dir.path().join("dispatcher-config"),
            extra_device_types: Vec::new(),
            dispatcher_d: dir.path().join("dispatcher.d"),
            slaves_certs: dir.path().join("certs"),
            output_root: dir.path().to_path_buf(),
        };
        let backend = StoreBackend::new(Arc::new(lava_store::MemoryStore::new()), paths);
        (dir, backend)
    }

    async fn submitted_job(backend: &StoreBackend) -> Job {
        let device_type = DeviceType {
            name: "shell".into(),
            health_check_definition: None,
            health_frequency: 24,
            health_denominator: lava_core::model::HealthDenominator::Hours,
            disable_health_check: false,
            display: true,
            description: String::new(),
        };
        backend.add_device_type(device_type).await.unwrap();
        let bob = User {
            username: "bob".into(),
            is_admin: false,
        };
        let definition = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";
        let Submitted::Job(id) = backend.submit_job(&bob, definition).await.unwrap() else {
            panic!("not a single job");
        };
        backend.job(id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn logs_are_read_where_the_master_writes_them() {
        let (dir, backend) = lab();
        let job = submitted_job(&backend).await;
        assert_eq!(backend.job_logs(job.id, 0, None).await.unwrap(), "");
        let out = job_output_dir(dir.path(), job.id, job.submit_time.as_secs());
        let mut log = crate::master::job_output::JobLog::open(&out).unwrap();
        for n in 0..4 {
            log.append(&format!("{{dt: t{n}, lvl: info, msg: line {n}}}"))
                .unwrap();
        }
        assert_eq!(
            backend.job_logs(job.id, 1, Some(3)).await.unwrap(),
            "- {dt: t1, lvl: info, msg: line 1}\n- {dt: t2, lvl: info, msg: line 2}\n"
        );
        assert_eq!(
            backend.job_logs(job.id, 3, None).await.unwrap(),
            "- {dt: t3, lvl: info, msg: line 3}\n"
        );
        assert!(matches!(
            backend.job_logs(job.id + 1, 0, None).await,
            Err(BackendError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn results_are_a_yaml_list_of_test_cases() {
        let (_dir, backend) = lab();
        let job = submitted_job(&backend).await;
        assert_eq!(backend.job_results_yaml(job.id).await.unwrap(), "[]\n");
        let case = TestCase {
            suite: "lava".into(),
            test_set: None,
            name: "job".into(),
            result: lava_core::model::TestResult::Pass,
            measurement: None,
            units: String::new(),
            metadata: Some("level: '1.2'\nresult: pass\n".into()),
            logged: job.submit_time,
            start_log_line: Some(4),
            end_log_line: None,
        };
        backend.store.add_test_cases(job.id, &[case]).await.unwrap();
        let yaml = backend.job_results_yaml(job.id).await.unwrap();
        let parsed: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let first = &parsed[0];
        assert_eq!(first["job"], job.id.to_string(), "{yaml}");
        assert_eq!(first["suite"], "lava");
        assert_eq!(first["name"], "job");
        assert_eq!(first["result"], "pass");
        assert_eq!(first["level"], "1.2");
        assert_eq!(first["log_start_line"], "4");
        assert_eq!(first["log_end_line"], serde_json::Value::Null);
    }

    #[test]
    fn unsafe_names_are_refused() {
        assert!(safe_name("Device", "../etc").is_err());
        assert!(safe_name("Device", "qemu01").is_ok());
    }
}
