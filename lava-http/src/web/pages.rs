//! Each page: what it reads from the lab and the values its template shows.

use super::Page;
use lava_core::model::{Device, Job, JobId, JobState, Worker, WorkerProtocol};
use lava_core::protocol::log::LogRecord;
use lava_core::templates::JobContext;
use lava_core::time::Timestamp;
use lava_lab::{can_view, can_view_as, Canceled, JobQuery, Lab, LabError};
use lava_store::{JobFilter, User};
use minijinja::Environment;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Jobs on one page of `/scheduler/alljobs`.
const JOBS_PER_PAGE: usize = 50;
/// Jobs on one page of `/scheduler/queue`.
const QUEUE_PER_PAGE: usize = 100;
/// Log lines shown on a job's page (the whole log is at `log_file/plain`).
const LOG_LINES_SHOWN: u64 = 5_000;
/// Log lines one poll of the live log reads at most.
const LOG_LINES_PER_POLL: u64 = 1_000;
/// Health checks and jobs shown on a device's page.
const DEVICE_HISTORY: usize = 20;

/// Why a page cannot be shown.
#[derive(Debug, thiserror::Error)]
pub(super) enum PageError {
    /// Nothing there (or nothing this viewer may see).
    #[error("{0}")]
    NotFound(String),
    /// Only for a logged-in user.
    #[error("{0}")]
    LoginRequired(String),
    /// Not for this user.
    #[error("{0}")]
    Forbidden(String),
    /// A request that makes no sense.
    #[error("{0}")]
    BadRequest(String),
    /// The lab failed to answer.
    #[error("{0}")]
    Lab(LabError),
    /// A template failed (a bug of this crate).
    #[error("the page could not be rendered: {0}")]
    Template(#[from] minijinja::Error),
}

impl From<LabError> for PageError {
    fn from(e: LabError) -> Self {
        match e {
            LabError::NotFound(what) => PageError::NotFound(format!("{what} was not found")),
            LabError::PermissionDenied(why) => PageError::Forbidden(why),
            e => PageError::Lab(e),
        }
    }
}

type PageResult = Result<Page, PageError>;

/// The templates, parsed once. Names end in `.html`, so minijinja escapes every value.
pub(super) fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_filter("urlencode", url_segment);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("index.html", include_str!("templates/index.html")),
        ("alljobs.html", include_str!("templates/alljobs.html")),
        ("queue.html", include_str!("templates/queue.html")),
        ("alldevices.html", include_str!("templates/alldevices.html")),
        ("allworkers.html", include_str!("templates/allworkers.html")),
        ("job.html", include_str!("templates/job.html")),
        ("device.html", include_str!("templates/device.html")),
        ("worker.html", include_str!("templates/worker.html")),
        ("error.html", include_str!("templates/error.html")),
        ("macros.html", include_str!("templates/macros.html")),
    ] {
        // The templates are part of this crate: a broken one is caught by every test.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("web template {name} is broken: {e}");
        }
    }
    env
}

/// `text` as one segment of a URL path: everything but unreserved characters
/// percent-encoded.
fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `2020-05-01 12:00:00` (UTC), or empty.
fn time(t: Option<Timestamp>) -> String {
    t.map(|t| {
        let text = t.to_string().replacen('T', " ", 1);
        // Seconds are enough for people.
        text.split('.').next().unwrap_or_default().to_owned()
    })
    .unwrap_or_default()
}

/// The value of `key` in a query string (no decoding needed: numbers only).
fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn page_number(query: &str) -> usize {
    query_value(query, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

fn parse_job_id(id: &str) -> Result<JobId, PageError> {
    id.parse::<JobId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| PageError::NotFound(format!("job {id} was not found")))
}

/// `job_name` of a definition, if it has one.
fn job_name(definition: &str) -> String {
    crate::methods::job_description(definition).unwrap_or_default()
}

fn job_row(job: &Job) -> Value {
    json!({
        "id": job.id,
        "name": job_name(&job.definition),
        "state": job.state.name(),
        "health": job.health.name(),
        "device_type": job.requested_device_type,
        "device": job.actual_device,
        "device_href": job.actual_device.as_deref().map(url_segment),
        "submitter": job.submitter,
        "priority": job.priority.to_string(),
        "submit_time": time(Some(job.submit_time)),
        "end_time": time(job.end_time),
        "health_check": job.health_check,
        "public": job.is_public,
    })
}

fn worker_row(worker: &Worker, protocol: WorkerProtocol) -> Value {
    json!({
        "hostname": worker.hostname,
        "state": worker.state.name(),
        "health": worker.health.name(),
        "protocol": protocol.name(),
        "version": worker.version,
        "last_ping": time(worker.last_ping),
        "job_limit": worker.job_limit,
        "description": worker.description,
    })
}

fn device_row(device: &Device, current: &HashMap<&str, JobId>) -> Value {
    json!({
        "hostname": device.hostname,
        "href": url_segment(&device.hostname),
        "device_type": device.device_type,
        "state": device.state.name(),
        "health": device.health.name(),
        "worker": device.worker,
        "worker_href": device.worker.as_deref().map(url_segment),
        "tags": device.tags.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
        "job": current.get(device.hostname.as_str()),
    })
}

/// One log line for people: time, level and message.
fn log_row(number: u64, line: &str) -> Value {
    match LogRecord::parse(line) {
        Ok(record) => json!({
            "n": number,
            "dt": record.dt.unwrap_or_default(),
            "lvl": record.lvl.as_str(),
            "msg": record.msg.as_str().map_or_else(|| record.msg.to_flow_yaml(), str::to_owned),
        }),
        Err(_) => json!({"n": number, "dt": "", "lvl": "", "msg": line}),
    }
}

/// One page being served.
pub(super) struct Pages<'a> {
    pub lab: &'a Lab,
    pub templates: &'a Environment<'static>,
    pub viewer: Option<&'a User>,
    /// What the viewer may see: their groups and the lab's.
    pub groups: &'a lava_lab::Viewer,
}

impl Pages<'_> {
    fn render(&self, template: &str, mut context: Value) -> PageResult {
        if let Value::Object(map) = &mut context {
            map.insert(
                "viewer".into(),
                json!(self.viewer.map(|u| u.username.as_str())),
            );
        }
        let body = self
            .templates
            .get_template(template)?
            .render(minijinja::value::Serde(&context))?;
        Ok(Page::html(200, body))
    }

    /// The page for an error, with its status.
    pub fn error(&self, error: &PageError) -> Page {
        let (status, title) = match error {
            PageError::NotFound(_) => (404, "Not found"),
            PageError::LoginRequired(_) => (401, "Login required"),
            PageError::Forbidden(_) => (403, "Not allowed"),
            PageError::BadRequest(_) => (400, "Bad request"),
            PageError::Lab(_) | PageError::Template(_) => (500, "The lab could not answer"),
        };
        if status == 500 {
            tracing::error!("web page failed: {error}");
        }
        let context = json!({"title": title, "message": error.to_string(), "status": status});
        match self.render("error.html", context) {
            Ok(mut page) => {
                page.status = status;
                page
            }
            // Plain text, still escaped by being text.
            Err(_) => Page {
                status,
                ..Page::text(error.to_string())
            },
        }
    }

    /// Jobs Scheduled to Canceling, by the device they hold.
    async fn current_jobs(&self) -> Result<Vec<Job>, PageError> {
        Ok(self.lab.active_jobs().await?)
    }

    /// `/metrics`.
    pub async fn metrics(&self) -> PageResult {
        let mut page = Page::text(self.lab.metrics_text().await?);
        page.content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        Ok(page)
    }

    /// `/scheduler/`: workers, devices by type, queue depth per type.
    pub async fn index(&self) -> PageResult {
        let mut workers: Vec<Value> = Vec::new();
        for w in self.lab.workers().await? {
            workers.push(worker_row(&w, self.lab.worker_protocol(&w.hostname).await?));
        }
        let active = self.current_jobs().await?;
        let current: HashMap<&str, JobId> = active
            .iter()
            .filter_map(|j| j.actual_device.as_deref().map(|d| (d, j.id)))
            .collect();
        let devices = self.lab.devices().await?;
        // Queue depth as the latest scheduling pass saw it (the master's passes publish it
        // at least every 20 s): no page reads the whole queue to count it.
        let explanations = self
            .lab
            .explanations(lava_lab::EXPLANATIONS_MAX_AGE_SECS)
            .await?;
        let depth = explanations.queue_depth();
        let queued: usize = depth.values().sum();
        let mut by_type: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for device in &devices {
            by_type
                .entry(device.device_type.as_str())
                .or_default()
                .push(device_row(device, &current));
        }
        let types: Vec<Value> = self
            .lab
            .device_types()
            .await?
            .iter()
            .map(|t| {
                let devices = by_type.get(t.name.as_str()).cloned().unwrap_or_default();
                json!({
                    "name": t.name,
                    "queued": depth.get(&t.name).copied().unwrap_or(0),
                    "devices": devices,
                })
            })
            .collect();
        let status = self.lab.status();
        self.render(
            "index.html",
            json!({
                "title": "The lab",
                "workers": workers,
                "types": types,
                "queued": queued,
                "counted_at": time(Some(explanations.at)),
                "running": active.len(),
                "healthy": status.is_healthy(),
                "store_failing": status.store.as_ref().map(|f| f.error.clone()),
                "files_failing": status.files.as_ref().map(|f| f.error.clone()),
            }),
        )
    }

    /// `/scheduler/alljobs?page=N`: every job this viewer may see, newest first.
    pub async fn all_jobs(&self, query: &str) -> PageResult {
        let page = page_number(query);
        let jobs = self
            .lab
            .jobs(&JobQuery {
                start: (page - 1) * JOBS_PER_PAGE,
                // One more tells whether there is a next page.
                limit: Some(JOBS_PER_PAGE + 1),
                viewer: self.viewer.cloned(),
                ..JobQuery::default()
            })
            .await?;
        let more = jobs.len() > JOBS_PER_PAGE;
        let rows: Vec<Value> = jobs.iter().take(JOBS_PER_PAGE).map(job_row).collect();
        self.render(
            "alljobs.html",
            json!({"title": "All jobs", "jobs": rows, "page": page, "more": more}),
        )
    }

    /// `/scheduler/queue?page=N`: the jobs waiting for a device, in LAVA's order, each with
    /// the scheduler's reason. The queue is the latest pass's (the master passes at least
    /// every 20 s and at once after a submission), so that a page reads only its own jobs;
    /// a job that left the queue since is left out.
    pub async fn queue(&self, query: &str) -> PageResult {
        let page = page_number(query);
        let explanations = self
            .lab
            .explanations(lava_lab::EXPLANATIONS_MAX_AGE_SECS)
            .await?;
        let queue = explanations.queue();
        let visible: Vec<&lava_lab::QueuedJob> = queue
            .iter()
            .filter(|j| can_view_as(j.is_public, &j.submitter, self.groups))
            .collect();
        let hidden = queue.len() - visible.len();
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        for job in &visible {
            *depth
                .entry(job.device_type.as_deref().unwrap_or(""))
                .or_default() += 1;
        }
        let mut rows = Vec::new();
        for queued in visible
            .iter()
            .skip((page - 1) * QUEUE_PER_PAGE)
            .take(QUEUE_PER_PAGE)
        {
            let Some(job) = self
                .lab
                .store()
                .job(queued.id)
                .await
                .map_err(LabError::from)?
            else {
                continue;
            };
            if !matches!(job.state, JobState::Submitted | JobState::Scheduling) {
                continue;
            }
            let mut row = job_row(&job);
            let why = explanations
                .about(&job)
                .map(|w| w.to_string())
                .unwrap_or_else(|| "not looked at by the scheduler yet".to_owned());
            row["why"] = json!(why);
            rows.push(row);
        }
        let more = visible.len() > page * QUEUE_PER_PAGE;
        let depth: Vec<Value> = depth
            .into_iter()
            .map(|(t, n)| json!({"device_type": t, "queued": n}))
            .collect();
        self.render(
            "queue.html",
            json!({
                "title": "Queue",
                "jobs": rows,
                "total": visible.len(),
                "hidden": hidden,
                "depth": depth,
                "page": page,
                "more": more,
                "explained_at": time(Some(explanations.at)),
            }),
        )
    }

    /// `/scheduler/alldevices`: every device with its state, health and current job.
    pub async fn all_devices(&self) -> PageResult {
        let active = self.current_jobs().await?;
        let current: HashMap<&str, JobId> = active
            .iter()
            .filter_map(|j| j.actual_device.as_deref().map(|d| (d, j.id)))
            .collect();
        let devices: Vec<Value> = self
            .lab
            .devices()
            .await?
            .iter()
            .map(|d| device_row(d, &current))
            .collect();
        self.render(
            "alldevices.html",
            json!({"title": "All devices", "devices": devices}),
        )
    }

    /// `/scheduler/allworkers`: every worker.
    pub async fn all_workers(&self) -> PageResult {
        let devices = self.lab.devices().await?;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for d in &devices {
            if let Some(w) = d.worker.as_deref() {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut workers: Vec<Value> = Vec::new();
        for w in self.lab.workers().await? {
            let mut row = worker_row(&w, self.lab.worker_protocol(&w.hostname).await?);
            row["devices"] = json!(counts.get(w.hostname.as_str()).copied().unwrap_or(0));
            workers.push(row);
        }
        self.render(
            "allworkers.html",
            json!({"title": "All workers", "workers": workers}),
        )
    }

    /// `/scheduler/login`: asks the browser for a username and token, then goes back.
    pub fn login(&self, query: &str) -> PageResult {
        if self.viewer.is_none() {
            return Err(PageError::LoginRequired(
                "Log in with your username and API token (lava-admin tokens add NAME).".into(),
            ));
        }
        // Only a path of this server: never a redirect to another site.
        let next = query_value(query, "next")
            .filter(|n| n.starts_with("/scheduler/") && !n.contains("//") && !n.contains('\\'))
            .unwrap_or("/scheduler/");
        Ok(Page::redirect(next.to_owned()))
    }

    /// A job this viewer may see: anonymous viewers are asked to log in for a private
    /// job; a user who may not see it finds nothing, as in LAVA.
    async fn visible_job(&self, id: &str) -> Result<Job, PageError> {
        let id = parse_job_id(id)?;
        let job = self.lab.job(id).await?;
        if can_view(&job, self.groups) {
            Ok(job)
        } else if self.viewer.is_none() {
            Err(PageError::LoginRequired(format!(
                "Job {id} is private: log in to see it."
            )))
        } else {
            Err(PageError::NotFound(format!("job {id} was not found")))
        }
    }

    /// `/scheduler/job/<id>`: definition, states, results, log (followed live).
    pub async fn job(&self, id: &str) -> PageResult {
        let job = self.visible_job(id).await?;
        let why = self.lab.why_job(&job).await?;
        let device = match &job.actual_device {
            Some(hostname) => self
                .lab
                .store()
                .device(hostname)
                .await
                .map_err(LabError::from)?,
            None => None,
        };
        let log = self
            .lab
            .job_log(&job, 0, LOG_LINES_SHOWN)
            .await
            .unwrap_or_default();
        let log_rows: Vec<Value> = log
            .iter()
            .enumerate()
            .map(|(n, line)| log_row(n as u64, line))
            .collect();
        let results: Vec<Value> = self
            .lab
            .test_cases(job.id)
            .await?
            .iter()
            .map(|c| {
                json!({
                    "suite": c.suite,
                    "name": c.name,
                    "result": c.result.to_string(),
                    "measurement": c.measurement,
                    "units": c.units,
                    "line": c.start_log_line,
                })
            })
            .collect();
        let group: Vec<Value> = match &job.multinode {
            Some(m) => self
                .lab
                .store()
                .multinode_group(&m.group)
                .await
                .map_err(LabError::from)?
                .iter()
                .map(|j| {
                    json!({"id": j.id, "role": j.multinode.as_ref().map(|m| m.role.clone()), "state": j.state.name()})
                })
                .collect(),
            None => Vec::new(),
        };
        let mut history = vec![json!({"state": "Submitted", "at": time(Some(job.submit_time))})];
        if let Some(start) = job.start_time {
            history.push(json!({"state": "Running", "at": time(Some(start))}));
        }
        if let Some(end) = job.end_time {
            history.push(
                json!({"state": format!("Finished ({})", job.health), "at": time(Some(end))}),
            );
        }
        let finished = job.state == JobState::Finished;
        let can_cancel = match self.viewer {
            Some(user) if !finished && job.state != JobState::Canceling => {
                self.lab.may_cancel(&job, user).await?
            }
            _ => false,
        };
        self.render(
            "job.html",
            json!({
                "title": format!("Job {}", job.id),
                "job": job_row(&job),
                "definition": job.definition,
                "tags": job.tags.iter().collect::<Vec<_>>(),
                "failure_comment": job.failure_comment,
                "worker": device.as_ref().and_then(|d| d.worker.clone()),
                "why": (!matches!(why, lava_lab::JobWait::NotQueued(_))).then(|| why.to_string()),
                "history": history,
                "results": results,
                "log": log_rows,
                "log_truncated": log.len() as u64 >= LOG_LINES_SHOWN,
                "next_line": log.len(),
                "finished": finished,
                "group": group,
                "role": job.multinode.as_ref().map(|m| m.role.clone()),
                "can_cancel": can_cancel,
            }),
        )
    }

    /// `/scheduler/job/<id>/log_file/plain`: the log as `output.yaml` holds it.
    pub async fn log_plain(&self, id: &str) -> PageResult {
        let job = self.visible_job(id).await?;
        let lines = self.lab.job_log(&job, 0, u64::MAX).await?;
        let text: String = lines.iter().map(|l| format!("- {l}\n")).collect();
        Ok(Page::text(text))
    }

    /// `/scheduler/job/<id>/log_pipeline_incremental?line=N`: the log lines from `N` and
    /// whether the job has finished, as JSON, for the job page's live log.
    pub async fn log_incremental(&self, id: &str, query: &str) -> PageResult {
        let job = self.visible_job(id).await?;
        let from = query_value(query, "line")
            .map(|n| {
                n.parse::<u64>()
                    .map_err(|_| PageError::BadRequest(format!("line must be a number, not {n}")))
            })
            .transpose()?
            .unwrap_or(0);
        // Read the state first: lines written before it finished are all in the answer.
        let finished = job.state == JobState::Finished;
        let lines = self
            .lab
            .job_log(&job, from, LOG_LINES_PER_POLL)
            .await
            .unwrap_or_default();
        let rows: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| log_row(from + i as u64, line))
            .collect();
        let more = lines.len() as u64 >= LOG_LINES_PER_POLL;
        Ok(Page::json(
            json!({
                "state": job.state.name(),
                "health": job.health.name(),
                "finished": finished && !more,
                "lines": rows,
            })
            .to_string(),
        ))
    }

    /// POST `/scheduler/job/<id>/cancel`: cancels for a logged-in user who may.
    pub async fn cancel(&self, id: &str) -> PageResult {
        let Some(user) = self.viewer else {
            return Err(PageError::LoginRequired(
                "Log in to cancel a job.".to_owned(),
            ));
        };
        let job = self.visible_job(id).await?;
        match self.lab.cancel(job.id, user).await? {
            Canceled::Now | Canceled::Already | Canceled::Finished => {
                Ok(Page::redirect(format!("/scheduler/job/{}", job.id)))
            }
        }
    }

    /// `/scheduler/device/<hostname>`: dictionary, rendered configuration, health checks.
    pub async fn device(&self, hostname: &str) -> PageResult {
        let device = self.lab.device(hostname).await?;
        let dictionary = self.lab.dictionary(hostname).await;
        let configuration = self
            .lab
            .device_configuration(hostname, &JobContext::empty())
            .await;
        let (dictionary, dictionary_error) = match dictionary {
            Ok(text) => (text, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let (configuration, configuration_error) = match configuration {
            Ok(text) => (text, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let jobs = self
            .lab
            .store()
            .jobs(&JobFilter {
                actual_device: Some(device.hostname.clone()),
                ..JobFilter::default()
            })
            .await
            .map_err(LabError::from)?;
        let checks: Vec<Value> = jobs
            .iter()
            .filter(|j| j.health_check)
            .take(DEVICE_HISTORY)
            .map(job_row)
            .collect();
        let recent: Vec<Value> = jobs
            .iter()
            .filter(|j| can_view(j, self.groups))
            .take(DEVICE_HISTORY)
            .map(job_row)
            .collect();
        let current = self.lab.current_job(&device.hostname).await?;
        let mut current_map = HashMap::new();
        if let Some(job) = &current {
            current_map.insert(device.hostname.as_str(), job.id);
        }
        self.render(
            "device.html",
            json!({
                "title": format!("Device {}", device.hostname),
                "device": device_row(&device, &current_map),
                "description": device.description,
                "last_health_report_job": device.last_health_report_job,
                "dictionary": dictionary,
                "dictionary_error": dictionary_error,
                "configuration": configuration,
                "configuration_error": configuration_error,
                "health_checks": checks,
                "jobs": recent,
            }),
        )
    }

    /// `/scheduler/worker/<hostname>`: the worker and its devices.
    pub async fn worker(&self, hostname: &str) -> PageResult {
        let worker = self.lab.worker(hostname).await?;
        let devices = self.lab.devices_of(hostname).await?;
        let active = self.current_jobs().await?;
        let current: HashMap<&str, JobId> = active
            .iter()
            .filter_map(|j| j.actual_device.as_deref().map(|d| (d, j.id)))
            .collect();
        let rows: Vec<Value> = devices.iter().map(|d| device_row(d, &current)).collect();
        self.render(
            "worker.html",
            json!({
                "title": format!("Worker {}", worker.hostname),
                "worker": worker_row(&worker, self.lab.worker_protocol(hostname).await?),
                "devices": rows,
            }),
        )
    }
}
