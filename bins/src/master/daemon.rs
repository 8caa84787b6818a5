//! The master daemon: the sans-IO master machine, the scheduler, the store, the ZeroMQ
//! sockets and the log sink, wired together.
//!
//! One task owns everything, so there is no locking: it waits for a control message, a log
//! record, the machine's next deadline, the next housekeeping tick or a signal, feeds what
//! came in to the core, then carries out the core's events (writing to the store) before it
//! sends anything (docs/state-machines.md, "the driver contract").
//!
//! Other processes (lava-admin, the API) write to the same store: a job they submit or
//! cancel is noticed by the one-second housekeeping tick, which schedules at once when the
//! queue changed and tells the machine about cancellations. A full scheduling pass also
//! runs every 20 s, as in LAVA.

use crate::lab::{self, LabError};
use crate::master::job_output::{job_output_dir, JobLog};
use crate::master::options::MasterOptions;
use crate::master::worker_files::{self, WorkerFiles};
use lava_core::master::{
    Event, JobPhase, Master, MasterConfig, PeerId as MachinePeer, StartPayload,
};
use lava_core::model::transitions::{self, ErrorType};
use lava_core::model::{
    Device, DeviceHealth, DeviceState, Job, JobHealth, JobId, JobState, Priority, Worker,
    WorkerHealth, WorkerState,
};
use lava_core::protocol::log::{decode_log_frames, LogLevel, LogRecord, TestOutcome};
use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::Message;
use lava_core::scheduler::{self, DeviceOrder, LabSnapshot, LastHealthCheck};
use lava_core::templates::{JobContext, Renderer, SearchPath};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, JobFilter, Precondition, Store, StoreError, TestCase, TestResult};
use lava_transport::zeromq::{SocketOptions, ZmqLogSink, ZmqMaster, ZmqServer};
use lava_transport::{LogSink, MasterTransport, PeerId};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// How often the daemon looks at the store for work other processes added.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// LAVA's full scheduling period.
const SCHEDULE_INTERVAL: Duration = Duration::from_secs(20);
/// Open job logs not written for this long are closed (LAVA's lava-logs: 60 s).
const LOG_IDLE: Duration = Duration::from_secs(60);
/// The submitter recorded on health-check jobs (LAVA's user `lava-health`).
const HEALTH_CHECK_SUBMITTER: &str = "lava-health";

/// Why the master cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum MasterDaemonError {
    /// The store cannot be opened or failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A socket cannot be bound.
    #[error("{0}")]
    Transport(#[from] lava_transport::TransportError),
    /// A lab operation failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// Anything else, said plainly.
    #[error("{0}")]
    Other(String),
}

/// The master's sockets, once bound (their endpoints tell tests which ports were chosen).
pub struct Sockets {
    /// The control ROUTER.
    pub control: ZmqMaster,
    /// The log PULL.
    pub logs: ZmqLogSink,
}

/// Binds the control and log sockets as the options say (CURVE when `--encrypt`).
pub fn bind(options: &MasterOptions) -> Result<Sockets, MasterDaemonError> {
    let server = if options.encrypt {
        ZmqServer::curve(&options.master_cert, &options.slaves_certs)?
    } else {
        ZmqServer::plain()
    };
    let socket_options = SocketOptions {
        ipv6: options.ipv6,
        socks_proxy: None,
    };
    let control = server.bind_master(&options.master_socket, &socket_options)?;
    let logs = server.bind_log_sink(&options.log_socket, &socket_options)?;
    info!(
        control = control.endpoint(),
        logs = logs.endpoint(),
        encrypt = options.encrypt,
        "sockets bound"
    );
    Ok(Sockets { control, logs })
}

/// An open job log and when it was last written.
struct OpenLog {
    log: JobLog,
    dir: PathBuf,
    last_write: Instant,
}

/// The master's state besides the sockets.
pub struct MasterDaemon {
    store: Arc<dyn Store>,
    machine: Master,
    renderer: Renderer,
    dispatcher_d: PathBuf,
    output_root: PathBuf,
    logs: HashMap<JobId, OpenLog>,
    next_schedule: Instant,
    newest_queued: Option<JobId>,
    seed: u64,
}

impl MasterDaemon {
    /// Prepares the master over an opened store: every worker is Offline until it talks
    /// (as LAVA does at start), and the jobs the store says are active are picked up again.
    pub async fn new(
        options: &MasterOptions,
        store: Arc<dyn Store>,
    ) -> Result<Self, MasterDaemonError> {
        let config_dir = options.dispatcher_config_dir();
        let mut dirs = vec![config_dir.join("devices"), config_dir.join("device-types")];
        dirs.extend(options.device_types.iter().cloned());
        let renderer = Renderer::new(SearchPath::new(dirs));
        let now = Instant::now();
        let mut daemon = MasterDaemon {
            store,
            machine: Master::new(MasterConfig::default()),
            renderer,
            dispatcher_d: options.dispatcher_d_dir(),
            output_root: options.job_output_root(),
            logs: HashMap::new(),
            next_schedule: now,
            newest_queued: None,
            seed: lab::now().as_micros() as u64,
        };
        for mut worker in daemon.store.workers().await? {
            if worker.state != WorkerState::Offline {
                worker.state = WorkerState::Offline;
                daemon.store.apply(&ChangeSet::new().worker(worker)).await?;
            }
        }
        for job in daemon.store.active_jobs().await? {
            daemon.restore_job(job, now).await?;
        }
        Ok(daemon)
    }

    async fn restore_job(&mut self, job: Job, now: Instant) -> Result<(), MasterDaemonError> {
        let Some(worker) = self.worker_of(&job).await? else {
            warn!(
                job = job.id,
                "active job has no device with a worker: it stays as it is"
            );
            return Ok(());
        };
        let end = self.store.job_end(job.id).await?;
        let phase = match job.state {
            JobState::Scheduled => return self.start_job(job, now).await,
            JobState::Running => JobPhase::Running,
            JobState::Canceling => JobPhase::Canceling,
            _ => return Ok(()),
        };
        if let Err(e) = self
            .machine
            .add_job(job.id, &worker, phase, end.processed, now)
        {
            warn!(job = job.id, "cannot track restored job: {e}");
        }
        Ok(())
    }

    async fn worker_of(&self, job: &Job) -> Result<Option<String>, MasterDaemonError> {
        let Some(hostname) = &job.actual_device else {
            return Ok(None);
        };
        Ok(self.store.device(hostname).await?.and_then(|d| d.worker))
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run(mut self, mut sockets: Sockets) -> Result<(), MasterDaemonError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| MasterDaemonError::Other(e.to_string()))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| MasterDaemonError::Other(e.to_string()))?;
        let mut next_housekeeping = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_housekeeping {
                self.housekeeping(now).await?;
                // Jobs scheduled just now get their START without waiting for a wake-up.
                self.drain(&mut sockets.control).await?;
                next_housekeeping = now + HOUSEKEEPING;
            }
            let deadline = self
                .machine
                .poll_timeout()
                .map_or(next_housekeeping, |t| t.min(next_housekeeping));
            tokio::select! {
                received = sockets.control.recv() => {
                    let (peer, frames) = received?;
                    let peer = MachinePeer(peer.into_bytes());
                    let now = Instant::now();
                    match Message::decode(&frames) {
                        Ok(message) => self.machine.handle_message(&peer, message, now),
                        Err(error) => self.machine.handle_malformed(&peer, error, now),
                    }
                }
                received = sockets.logs.recv() => {
                    let frames = received?;
                    self.log_record(&frames).await?;
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.machine.handle_timeout(Instant::now());
                }
                _ = term.recv() => { info!("SIGTERM: stopping"); break; }
                _ = int.recv() => { info!("SIGINT: stopping"); break; }
            }
            self.drain(&mut sockets.control).await?;
        }
        for (job, open) in self.logs.drain() {
            let _ = self.store.set_job_log(job, &job_log_record(&open)).await;
        }
        sockets.control.close().await?;
        sockets.logs.close().await?;
        Ok(())
    }

    /// Carries out the machine's events, then sends what it queued.
    async fn drain(&mut self, control: &mut ZmqMaster) -> Result<(), MasterDaemonError> {
        loop {
            while let Some(event) = self.machine.poll_event() {
                self.event(event).await?;
            }
            let Some((peer, message)) = self.machine.poll_transmit() else {
                break;
            };
            debug!(peer = %peer, action = lava_core::master::action_name(&message), "send");
            control
                .send(&PeerId::from(peer.0), message.encode())
                .await?;
        }
        Ok(())
    }

    async fn event(&mut self, event: Event) -> Result<(), MasterDaemonError> {
        let now = Instant::now();
        match event {
            Event::WorkerOnline { hostname } => {
                info!(worker = %hostname, "worker online");
                self.update_worker(&hostname, |w| {
                    w.state = WorkerState::Online;
                    w.last_ping = Some(lab::now());
                })
                .await?;
                self.next_schedule = now;
            }
            Event::WorkerOffline { hostname } => {
                warn!(worker = %hostname, "worker offline: nothing heard for 60 s");
                self.update_worker(&hostname, |w| w.state = WorkerState::Offline)
                    .await?;
            }
            Event::WorkerHello {
                hostname,
                lava_version,
                restarted,
            } => {
                info!(worker = %hostname, version = lava_version.as_deref().unwrap_or("unknown"), restarted, "HELLO");
                if lava_version.is_none() {
                    warn!(worker = %hostname, "HELLO without a LAVA version (a 2018.x slave)");
                }
                self.update_worker(&hostname, |w| {
                    w.version = lava_version.clone();
                    w.last_ping = Some(lab::now());
                })
                .await?;
            }
            Event::VersionMismatch {
                hostname,
                protocol_version,
            } => {
                error!(worker = %hostname, protocol_version, "HELLO with protocol version {protocol_version}: only version 3 is spoken, the worker will not come online");
            }
            Event::LavaLogsOnline => info!("lava-logs online"),
            Event::LavaLogsOffline => warn!("lava-logs offline"),
            Event::JobStarted { job_id, hostname } => {
                info!(job = job_id, worker = %hostname, "job running");
                self.job_running(job_id).await?;
            }
            Event::JobEnded {
                job_id,
                hostname,
                errors,
                description,
                crashed,
                was_canceling,
            } => {
                info!(job = job_id, worker = %hostname, crashed, "END");
                self.job_ended(job_id, &errors, &description, crashed, was_canceling)
                    .await?;
            }
            Event::FinishOverdue {
                job_id,
                hostname,
                was_canceling,
            } => {
                warn!(job = job_id, worker = %hostname, "no final lava/job result 120 s after END: finishing the job");
                self.finish_overdue(job_id, was_canceling).await?;
            }
            Event::EndForUnknownJob { job_id, hostname } => {
                warn!(job = job_id, worker = %hostname, "END for a job this master does not track: acknowledged");
            }
            Event::JobFailedAtStart {
                job_id,
                hostname,
                error,
            } => {
                error!(job = job_id, worker = %hostname, "cannot send START: {error}");
                self.fail_job(job_id, &error.to_string()).await?;
            }
            Event::PeerRejected { peer, reason } => {
                warn!(peer = %peer, "message dropped: {reason}")
            }
            Event::ProtocolError { hostname, error } => {
                warn!(worker = %hostname, "protocol error: {error}")
            }
            Event::DuplicateIdentitySuspected { hostname, hint } => {
                warn!(worker = %hostname, ?hint, "two slaves may be using the hostname {hostname}")
            }
        }
        Ok(())
    }

    /// Changes a worker row. Admins (lava-admin, the API) write the same row: the change is
    /// applied only if the worker's health is still what was read, and retried on a conflict,
    /// so a health change made meanwhile is never undone. (The store has no precondition on
    /// description or job limit: an edit of those that lands between this read and write is
    /// lost, a one-round-trip window.)
    async fn update_worker(
        &self,
        hostname: &str,
        change: impl Fn(&mut Worker),
    ) -> Result<(), MasterDaemonError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = match self.store.worker(hostname).await? {
                Some(mut worker) => {
                    let read = worker.health;
                    change(&mut worker);
                    let set = ChangeSet::new()
                        .require(Precondition::WorkerHealth(hostname.to_owned(), read))
                        .worker(worker);
                    self.store.apply(&set).await.map(|_| ())
                }
                None => {
                    // LAVA creates the worker on its first valid message.
                    let mut worker = Worker {
                        hostname: hostname.to_owned(),
                        state: WorkerState::Offline,
                        health: WorkerHealth::Active,
                        description: format!("Created by lava-master ({})", lab::now()),
                        job_limit: 0,
                        last_ping: None,
                        version: None,
                    };
                    change(&mut worker);
                    self.store.add_worker(&worker).await
                }
            };
            match result {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict(_)) if attempts < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn job_running(&mut self, job_id: JobId) -> Result<(), MasterDaemonError> {
        let Some(job) = self.store.job(job_id).await? else {
            return Ok(());
        };
        if job.state != JobState::Scheduled {
            return Ok(());
        }
        let device = match &job.actual_device {
            Some(hostname) => self.store.device(hostname).await?,
            None => None,
        };
        let changes =
            transitions::job_running(&job, device.as_ref(), lab::now()).map_err(LabError::from)?;
        let set = change_set(changes).require(Precondition::JobState(job_id, JobState::Scheduled));
        self.store.apply(&set).await?;
        Ok(())
    }

    async fn job_ended(
        &mut self,
        job_id: JobId,
        errors: &str,
        description: &[u8],
        crashed: bool,
        was_canceling: bool,
    ) -> Result<(), MasterDaemonError> {
        let text = if description.is_empty() {
            None
        } else {
            match xz::decompress(description, XzLimits::default()) {
                Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) => {
                    warn!(job = job_id, "END description cannot be decompressed: {e}");
                    None
                }
            }
        };
        if let Some(text) = &text {
            if let Some(dir) = self.output_dir(job_id).await? {
                if let Err(e) = std::fs::create_dir_all(&dir)
                    .and_then(|_| std::fs::write(dir.join("description.yaml"), text))
                {
                    warn!(job = job_id, "cannot write description.yaml: {e}");
                }
            }
        }
        let mut set = ChangeSet::new().end(job_id, text);
        if crashed {
            if let Some(job) = self.store.job(job_id).await? {
                if job.state != JobState::Finished {
                    let health = if was_canceling || job.state == JobState::Canceling {
                        JobHealth::Canceled
                    } else {
                        JobHealth::Incomplete
                    };
                    let comment = if errors.is_empty() {
                        "lava-run crashed or never ran: no job description".to_owned()
                    } else {
                        errors.to_owned()
                    };
                    let finish = self
                        .finish_changes(&job, health, ErrorType::Infrastructure, Some(comment))
                        .await?;
                    set.preconditions.extend(finish.preconditions);
                    set.jobs.extend(finish.jobs);
                    set.devices.extend(finish.devices);
                    let _ = self.machine.finish_job(job_id);
                    self.close_log(job_id).await;
                }
            }
        }
        self.store.apply(&set).await?;
        self.next_schedule = Instant::now();
        Ok(())
    }

    /// The final result never came (lost log records): the job ends Incomplete (Canceled if
    /// it was being canceled) instead of staying Running for ever as in LAVA (§9 #19).
    async fn finish_overdue(
        &mut self,
        job_id: JobId,
        was_canceling: bool,
    ) -> Result<(), MasterDaemonError> {
        let Some(job) = self.store.job(job_id).await? else {
            return Ok(());
        };
        if job.state == JobState::Finished {
            return Ok(());
        }
        let health = if was_canceling || job.state == JobState::Canceling {
            JobHealth::Canceled
        } else {
            JobHealth::Incomplete
        };
        let comment = "lava-run ended but its final result never reached the master".to_owned();
        let set = self
            .finish_changes(&job, health, ErrorType::Infrastructure, Some(comment))
            .await?;
        self.store.apply(&set).await?;
        let _ = self.machine.finish_job(job_id);
        self.close_log(job_id).await;
        self.next_schedule = Instant::now();
        Ok(())
    }

    /// The rows of a job finishing with `health`, with its device freed.
    async fn finish_changes(
        &self,
        job: &Job,
        health: JobHealth,
        error: ErrorType,
        comment: Option<String>,
    ) -> Result<ChangeSet, MasterDaemonError> {
        let device = match &job.actual_device {
            Some(hostname) => self.store.device(hostname).await?,
            None => None,
        };
        let changes = transitions::job_finished(job, device.as_ref(), health, error, lab::now())
            .map_err(LabError::from)?;
        let mut set = change_set(changes).require(Precondition::JobState(job.id, job.state));
        if let Some(comment) = comment {
            for row in &mut set.jobs {
                if row.id == job.id {
                    row.failure_comment = Some(comment.clone());
                }
            }
        }
        Ok(set)
    }

    /// Fails a job with an Infrastructure error: a `lava`/`job` fail result and the reason
    /// as failure comment (the device goes Unknown, so that a health check runs).
    async fn fail_job(&mut self, job_id: JobId, reason: &str) -> Result<(), MasterDaemonError> {
        let _ = self.machine.remove_job(job_id);
        let Some(job) = self.store.job(job_id).await? else {
            return Ok(());
        };
        if job.state == JobState::Finished {
            return Ok(());
        }
        let health = if job.state == JobState::Canceling {
            JobHealth::Canceled
        } else {
            JobHealth::Incomplete
        };
        let set = self
            .finish_changes(
                &job,
                health,
                ErrorType::Infrastructure,
                Some(reason.to_owned()),
            )
            .await?;
        let metadata = format!(
            "{{\"error_type\": \"Infrastructure\", \"error_msg\": {}}}",
            serde_json::Value::String(reason.to_owned())
        );
        self.store
            .add_test_cases(
                job_id,
                &[TestCase {
                    suite: "lava".into(),
                    test_set: None,
                    name: "job".into(),
                    result: TestResult::Fail,
                    measurement: None,
                    units: String::new(),
                    metadata: Some(metadata),
                    logged: lab::now(),
                    start_log_line: None,
                    end_log_line: None,
                }],
            )
            .await?;
        self.store.apply(&set).await?;
        self.next_schedule = Instant::now();
        Ok(())
    }

    /// Builds and hands START to the machine; a job whose START cannot be built fails with
    /// an Infrastructure error naming the file.
    async fn start_job(&mut self, job: Job, now: Instant) -> Result<(), MasterDaemonError> {
        let Some(hostname) = job.actual_device.clone() else {
            warn!(
                job = job.id,
                "scheduled job without a device (multinode dynamic connection): not supported yet"
            );
            return self
                .fail_job(
                    job.id,
                    "multinode dynamic connections are not supported by lava-rs yet",
                )
                .await;
        };
        let Some(device) = self.store.device(&hostname).await? else {
            return self
                .fail_job(job.id, &format!("device {hostname} no longer exists"))
                .await;
        };
        let Some(worker) = device.worker.clone() else {
            return self
                .fail_job(job.id, &format!("device {hostname} has no worker"))
                .await;
        };
        match self.start_payload(&job, &device, &worker) {
            Ok(payload) => {
                if let Err(e) =
                    self.machine
                        .add_job(job.id, &worker, JobPhase::Scheduled(payload), false, now)
                {
                    warn!(job = job.id, "cannot track job: {e}");
                }
                Ok(())
            }
            Err(reason) => {
                error!(job = job.id, device = %hostname, "cannot build START: {reason}");
                self.fail_job(job.id, &reason).await
            }
        }
    }

    fn start_payload(
        &self,
        job: &Job,
        device: &Device,
        worker: &str,
    ) -> Result<StartPayload, String> {
        let context =
            job_context(&job.definition).map_err(|e| format!("job {}: context: {e}", job.id))?;
        let rendered = self
            .renderer
            .render_for_job(&device.hostname, &device.device_type, &context)
            .map_err(|e| format!("device dictionary of {}: {e}", device.hostname))?;
        let WorkerFiles {
            dispatcher,
            env,
            env_dut,
        } = worker_files::load(&self.dispatcher_d, worker).map_err(|e| e.to_string())?;
        Ok(StartPayload {
            job: job.definition.clone(),
            device: rendered,
            dispatcher,
            env,
            env_dut,
        })
    }

    /// Notices what other processes changed, and runs the scheduler when it is due.
    async fn housekeeping(&mut self, now: Instant) -> Result<(), MasterDaemonError> {
        // A new submission (lava-admin, the API) schedules at once.
        let newest = self
            .store
            .jobs(&JobFilter {
                states: vec![JobState::Submitted],
                limit: Some(1),
                ..JobFilter::default()
            })
            .await?
            .first()
            .map(|j| j.id);
        if newest != self.newest_queued {
            self.newest_queued = newest;
            self.next_schedule = now;
        }
        // Cancellations made elsewhere.
        for job in self.store.active_jobs().await? {
            if job.state == JobState::Canceling
                && !matches!(
                    self.machine.job_phase(job.id),
                    Some(JobPhase::Canceling | JobPhase::Finished)
                )
            {
                if self.machine.job_phase(job.id).is_none() {
                    self.restore_job(job, now).await?;
                } else if let Err(e) = self.machine.cancel_job(job.id, now) {
                    warn!(job = job.id, "cannot cancel: {e}");
                }
            }
        }
        if now >= self.next_schedule {
            if let Err(e) = self.schedule(now).await {
                match e {
                    MasterDaemonError::Store(StoreError::Conflict { .. }) => {
                        debug!("scheduling pass raced with another writer: {e}; retrying");
                        self.next_schedule = now + HOUSEKEEPING;
                        return Ok(());
                    }
                    e => return Err(e),
                }
            }
            self.next_schedule = now + SCHEDULE_INTERVAL;
        }
        let idle: Vec<JobId> = self
            .logs
            .iter()
            .filter(|(_, open)| now.duration_since(open.last_write) > LOG_IDLE)
            .map(|(id, _)| *id)
            .collect();
        for job in idle {
            self.close_log(job).await;
        }
        Ok(())
    }

    /// One scheduling pass.
    async fn schedule(&mut self, now: Instant) -> Result<(), MasterDaemonError> {
        let snapshot = self.store.scheduler_snapshot().await?;
        let online: HashSet<&str> = snapshot
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Online && w.health == WorkerHealth::Active)
            .map(|w| w.hostname.as_str())
            .collect();
        // Only devices that may get work this pass need their dictionary checked.
        let valid_dictionaries = snapshot
            .devices
            .iter()
            .filter(|d| {
                d.state == DeviceState::Idle
                    && matches!(
                        d.health,
                        DeviceHealth::Good | DeviceHealth::Unknown | DeviceHealth::Looping
                    )
                    && d.worker.as_deref().is_some_and(|w| online.contains(w))
            })
            .filter(|d| {
                let check = self.renderer.check_device(&d.hostname, &d.device_type);
                if let Err(e) = &check.dictionary {
                    warn!(device = %d.hostname, "device dictionary is invalid: {e}");
                }
                check.is_valid()
            })
            .map(|d| d.hostname.clone())
            .collect();
        let legacy_jobs = snapshot
            .queued_jobs
            .iter()
            .filter(|j| lava_core::job::legacy_reason(&j.definition).is_some())
            .map(|j| j.id)
            .collect();
        let lab_snapshot = LabSnapshot {
            device_types: snapshot.device_types,
            devices: snapshot.devices,
            workers: snapshot.workers,
            jobs: snapshot.queued_jobs,
            last_health_checks: snapshot
                .health_history
                .into_iter()
                .map(|(device, h)| {
                    (
                        device,
                        LastHealthCheck {
                            job: h.last_health_check,
                            submit_time: h.submit_time,
                            jobs_since: u32::try_from(h.jobs_since).unwrap_or(u32::MAX),
                        },
                    )
                })
                .collect(),
            valid_dictionaries,
            legacy_jobs,
            now: lab::now(),
            // Per-device health checks, permissions and VLANs: not read from the store yet.
            ..LabSnapshot::default()
        };
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let decisions =
            scheduler::schedule(&lab_snapshot, DeviceOrder::Shuffled { seed: self.seed });
        if decisions.health_checks.is_empty()
            && decisions.assignments.is_empty()
            && decisions.device_health.is_empty()
        {
            return Ok(());
        }
        let changes = decisions.changes(&lab_snapshot).map_err(LabError::from)?;
        let mut set = change_set(changes);
        let jobs_before: HashMap<JobId, &Job> =
            lab_snapshot.jobs.iter().map(|j| (j.id, j)).collect();
        for job in &set.jobs {
            if let Some(before) = jobs_before.get(&job.id) {
                set.preconditions
                    .push(Precondition::JobState(job.id, before.state));
            }
        }
        let devices_before: HashMap<&str, &Device> = lab_snapshot
            .devices
            .iter()
            .map(|d| (d.hostname.as_str(), d))
            .collect();
        for device in &set.devices {
            if let Some(before) = devices_before.get(device.hostname.as_str()) {
                set.preconditions.push(Precondition::DeviceState(
                    device.hostname.clone(),
                    before.state,
                ));
            }
        }
        let snapshot_now = lab_snapshot.now;
        for check in &decisions.health_checks {
            set.new_jobs.push(health_check_job(check, snapshot_now));
        }
        for change in &decisions.device_health {
            warn!(device = %change.device, from = %change.from, to = %change.to, "device health: {}", change.reason);
        }
        for group in &decisions.waiting_groups {
            info!(group = %group.group, reserved = group.reserved.len(), waiting = group.waiting.len(), "multinode group waits for devices");
        }
        let applied = self.store.apply(&set).await?;
        let mut to_start: Vec<Job> = set
            .jobs
            .into_iter()
            .filter(|j| j.state == JobState::Scheduled)
            .collect();
        for id in applied.new_jobs {
            if let Some(job) = self.store.job(id).await? {
                to_start.push(job);
            }
        }
        for job in to_start {
            info!(
                job = job.id,
                device = job.actual_device.as_deref().unwrap_or("-"),
                health_check = job.health_check,
                "job scheduled"
            );
            self.start_job(job, now).await?;
        }
        Ok(())
    }

    async fn output_dir(&self, job_id: JobId) -> Result<Option<PathBuf>, MasterDaemonError> {
        if let Some(open) = self.logs.get(&job_id) {
            return Ok(Some(open.dir.clone()));
        }
        Ok(self
            .store
            .job(job_id)
            .await?
            .map(|job| job_output_dir(&self.output_root, job.id, job.submit_time.as_secs())))
    }

    /// One record from lava-run: written to the job's log before anything else happens
    /// (LAVA's order), then results stored, and the final `lava`/`job` result finishes the job.
    async fn log_record(&mut self, frames: &[Vec<u8>]) -> Result<(), MasterDaemonError> {
        let (job_id, line) = match decode_log_frames(frames) {
            Ok(decoded) => decoded,
            Err(e) => {
                debug!("log record dropped: {e}");
                return Ok(());
            }
        };
        let record = match LogRecord::parse(line) {
            Ok(record) => record,
            Err(e) => {
                debug!(job = job_id, "log line dropped: {e}");
                return Ok(());
            }
        };
        if !self.logs.contains_key(&job_id) {
            let Some(job) = self.store.job(job_id).await? else {
                debug!(job = job_id, "log record for an unknown job dropped");
                return Ok(());
            };
            let dir = job_output_dir(&self.output_root, job.id, job.submit_time.as_secs());
            let log = JobLog::open(&dir).map_err(|e| {
                MasterDaemonError::Other(format!(
                    "job {job_id}: cannot open its log in {}: {e}",
                    dir.display()
                ))
            })?;
            self.logs.insert(
                job_id,
                OpenLog {
                    log,
                    dir,
                    last_write: Instant::now(),
                },
            );
        }
        if record.lvl == LogLevel::Marker {
            return Ok(());
        }
        let Some(open) = self.logs.get_mut(&job_id) else {
            return Ok(());
        };
        open.log.append(line).map_err(|e| {
            MasterDaemonError::Other(format!(
                "job {job_id}: cannot write {}: {e}",
                open.dir.join("output.yaml").display()
            ))
        })?;
        open.last_write = Instant::now();
        if record.lvl != LogLevel::Results {
            return Ok(());
        }
        let result = match record.test_result() {
            Some(Ok(result)) => result,
            Some(Err(e)) => {
                debug!(job = job_id, "results record dropped: {e}");
                return Ok(());
            }
            None => return Ok(()),
        };
        let case = TestCase {
            suite: result.definition.clone(),
            test_set: None,
            name: result.case.clone(),
            result: TestResult::from_name(result.result.as_str()).unwrap_or(TestResult::Unknown),
            measurement: result.measurement.map(|m| m.to_string()),
            units: result.units.clone().unwrap_or_default(),
            metadata: Some(line.to_owned()),
            logged: lab::now(),
            start_log_line: None,
            end_log_line: None,
        };
        self.store.add_test_cases(job_id, &[case]).await?;
        if result.is_job_result() {
            let Some(job) = self.store.job(job_id).await? else {
                return Ok(());
            };
            if job.state == JobState::Finished {
                return Ok(());
            }
            let health = if job.state == JobState::Canceling {
                JobHealth::Canceled
            } else if result.result == TestOutcome::Pass {
                JobHealth::Complete
            } else {
                JobHealth::Incomplete
            };
            let error = result
                .error_type
                .as_ref()
                .map_or(ErrorType::None, |e| ErrorType::from_name(e.as_str()));
            let comment = result.error_msg.clone();
            let set = self.finish_changes(&job, health, error, comment).await?;
            self.store.apply(&set).await?;
            let _ = self.machine.finish_job(job_id);
            info!(job = job_id, health = %health, "job finished");
            self.close_log(job_id).await;
            self.next_schedule = Instant::now();
        }
        Ok(())
    }

    async fn close_log(&mut self, job_id: JobId) {
        if let Some(open) = self.logs.remove(&job_id) {
            if let Err(e) = self.store.set_job_log(job_id, &job_log_record(&open)).await {
                warn!(job = job_id, "cannot record the log's size: {e}");
            }
        }
    }
}

fn job_log_record(open: &OpenLog) -> lava_store::JobLog {
    lava_store::JobLog {
        output_dir: open.dir.display().to_string(),
        line_count: open.log.lines(),
    }
}

/// A transition's rows as a change set.
fn change_set(changes: transitions::Changes) -> ChangeSet {
    ChangeSet {
        jobs: changes.jobs,
        devices: changes.devices,
        workers: changes.workers,
        ..ChangeSet::default()
    }
}

/// The job's `context:` mapping, the variables its device dictionary is rendered with.
pub fn job_context(definition: &str) -> Result<JobContext, String> {
    let value: serde_json::Value = serde_saphyr::from_str(definition).map_err(|e| e.to_string())?;
    match value.get("context") {
        None | Some(serde_json::Value::Null) => Ok(JobContext::empty()),
        Some(context @ serde_json::Value::Object(_)) => {
            JobContext::from_serialize(context).map_err(|e| e.to_string())
        }
        Some(_) => Err("`context` must be a mapping".into()),
    }
}

fn health_check_job(check: &scheduler::HealthCheck, now: Timestamp) -> Job {
    Job {
        id: 0,
        submitter: HEALTH_CHECK_SUBMITTER.into(),
        definition: check.definition.clone(),
        state: JobState::Scheduled,
        health: JobHealth::Unknown,
        priority: Priority::default(),
        submit_time: now,
        start_time: None,
        end_time: None,
        requested_device_type: Some(check.device_type.clone()),
        tags: BTreeSet::new(),
        multinode: None,
        health_check: true,
        actual_device: Some(check.device.clone()),
        failure_comment: None,
        is_public: true,
    }
}
