//! The master daemon: the sans-IO master machine, the lab, the ZeroMQ sockets, the log sink
//! and the XML-RPC API, wired together.
//!
//! One task owns the machine, so there is no locking: it waits for a control message, a log
//! record, the machine's next deadline, the next housekeeping tick or the shutdown signal,
//! feeds what came in to the core, then carries out the core's events through the [`Lab`]
//! (writing to the store) before it sends anything (docs/state-machines.md, "the driver
//! contract"). What a job, a worker or a device becomes is the lab's decision; this module
//! only routes events to it.
//!
//! Other processes (lava-admin, the API) write to the same store: a job they submit or
//! cancel is noticed by the one-second housekeeping tick, which schedules at once when the
//! queue changed and tells the machine about cancellations. A full scheduling pass also
//! runs every 20 s, as in LAVA.

use crate::master::options::MasterOptions;
use lava_core::master::{self as machine, Event, JobPhase, MasterConfig};
use lava_core::model::{Job, JobId, JobState};
use lava_core::protocol::log::decode_log_frames;
use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::Message;
use lava_http::Api;
use lava_lab::{Appended, EndReport, FinalResult, JobEnding, JobLogs, Lab, LabError};
use lava_transport::zeromq::{SocketOptions, ZmqLogSink, ZmqMaster, ZmqServer};
use lava_transport::{LogSink, MasterTransport};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tracing::{debug, error, info, warn};

/// How often the daemon looks at the store for work other processes added.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// LAVA's full scheduling period.
const SCHEDULE_INTERVAL: Duration = Duration::from_secs(20);
/// Open job logs not written for this long are closed (LAVA's lava-logs: 60 s).
const LOG_IDLE_SECS: i64 = 60;
/// How long API requests in flight may take to finish once the master stops.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// Why the master cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum MasterDaemonError {
    /// The lab (its store or files) failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A socket cannot be bound or failed.
    #[error("{0}")]
    Transport(#[from] lava_transport::TransportError),
    /// Anything else, said plainly.
    #[error("{0}")]
    Other(String),
}

/// A master ready to run: its lab open, its sockets and its HTTP port bound.
pub struct MasterDaemon {
    lab: Arc<Lab>,
    control: ZmqMaster,
    logs_socket: ZmqLogSink,
    http: Option<TcpListener>,
    machine: machine::Master,
    logs: JobLogs,
    next_schedule: Instant,
    newest_queued: Option<JobId>,
}

impl MasterDaemon {
    /// Opens the lab (taking the store's single-master lock), binds the control and log
    /// sockets (CURVE with `--encrypt`) and the HTTP port.
    pub async fn start(options: &MasterOptions) -> Result<Self, MasterDaemonError> {
        let data_dir = options.data_dir().map_err(MasterDaemonError::Other)?;
        std::fs::create_dir_all(data_dir).map_err(|e| LabError::io(data_dir, e))?;
        let lab = options.lab.open(true).await?;
        let server = if options.encrypt {
            ZmqServer::curve(&options.master_cert, &options.lab.slaves_certs)?
        } else {
            ZmqServer::plain()
        };
        let socket_options = SocketOptions {
            ipv6: options.ipv6,
            socks_proxy: None,
        };
        let control = server.bind_master(&options.master_socket, &socket_options)?;
        let logs_socket = server.bind_log_sink(&options.log_socket, &socket_options)?;
        let http = TcpListener::bind(&options.http).await.map_err(|e| {
            MasterDaemonError::Other(format!(
                "cannot serve the XML-RPC API on --http {}: {e}",
                options.http
            ))
        })?;
        info!(
            control = control.endpoint(),
            logs = logs_socket.endpoint(),
            encrypt = options.encrypt,
            http = %options.http,
            "sockets bound"
        );
        Ok(MasterDaemon {
            lab,
            control,
            logs_socket,
            http: Some(http),
            machine: machine::Master::new(MasterConfig::default()),
            logs: JobLogs::new(),
            next_schedule: Instant::now(),
            newest_queued: None,
        })
    }

    /// The control socket's endpoint, as bound (tests bind port 0).
    pub fn control_endpoint(&self) -> &str {
        self.control.endpoint()
    }

    /// The log socket's endpoint, as bound.
    pub fn log_endpoint(&self) -> &str {
        self.logs_socket.endpoint()
    }

    /// The HTTP address, as bound.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes: every worker is Offline until it talks (as LAVA
    /// does at start), the jobs the store says are active are picked up again, then the
    /// event loop runs beside the XML-RPC API.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), MasterDaemonError> {
        self.lab.all_workers_offline().await?;
        let now = Instant::now();
        for job in self.lab.active_jobs().await? {
            self.restore_job(job, now).await?;
        }
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let api = Api::new(Arc::clone(&self.lab));
        let http = self
            .http
            .take()
            .ok_or_else(|| MasterDaemonError::Other("the master ran already".into()))?;
        let server = tokio::spawn(api.serve_until(http, async {
            // Dropped sender or a send: either way, stop.
            let _stopped = stopped.await;
        }));
        info!("lava-master started, XML-RPC API on /RPC2");
        let result = self.event_loop(shutdown).await;
        if stop_http.send(()).is_err() {
            debug!("the XML-RPC API had already stopped");
        }
        match tokio::time::timeout(HTTP_GRACE, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => error!("the XML-RPC API failed: {e}"),
            Ok(Err(e)) => error!("the XML-RPC API task failed: {e}"),
            Err(_) => warn!("XML-RPC requests still in flight after {HTTP_GRACE:?}: dropped"),
        }
        self.logs.close_all(&self.lab).await;
        self.control.close().await?;
        self.logs_socket.close().await?;
        result
    }

    async fn event_loop(
        &mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), MasterDaemonError> {
        tokio::pin!(shutdown);
        let mut next_housekeeping = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_housekeeping {
                self.housekeeping(now).await?;
                // Jobs scheduled just now get their START without waiting for a wake-up.
                self.drain().await?;
                next_housekeeping = now + HOUSEKEEPING;
            }
            let deadline = self
                .machine
                .poll_timeout()
                .map_or(next_housekeeping, |t| t.min(next_housekeeping));
            tokio::select! {
                received = self.control.recv() => {
                    let (peer, frames) = received?;
                    let now = Instant::now();
                    match Message::decode(&frames) {
                        Ok(message) => self.machine.handle_message(&peer, message, now),
                        Err(error) => self.machine.handle_malformed(&peer, error, now),
                    }
                }
                received = self.logs_socket.recv() => {
                    let frames = received?;
                    self.log_record(&frames).await?;
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    self.machine.handle_timeout(Instant::now());
                }
                () = &mut shutdown => {
                    info!("stopping");
                    return Ok(());
                }
            }
            self.drain().await?;
        }
    }

    /// Carries out the machine's events, then sends what it queued.
    async fn drain(&mut self) -> Result<(), MasterDaemonError> {
        loop {
            while let Some(event) = self.machine.poll_event() {
                self.event(event).await?;
            }
            let Some((peer, message)) = self.machine.poll_transmit() else {
                break;
            };
            debug!(peer = %peer, action = machine::action_name(&message), "send");
            self.control.send(&peer, message.encode()).await?;
        }
        Ok(())
    }

    async fn event(&mut self, event: Event) -> Result<(), MasterDaemonError> {
        match event {
            Event::WorkerOnline { hostname } => {
                info!(worker = %hostname, "worker online");
                self.lab.worker_online(&hostname).await?;
                self.next_schedule = Instant::now();
            }
            Event::WorkerOffline { hostname } => {
                warn!(worker = %hostname, "worker offline: nothing heard for 60 s");
                self.lab.worker_offline(&hostname).await?;
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
                match self
                    .lab
                    .worker_hello(&hostname, lava_version.as_deref())
                    .await
                {
                    Err(LabError::WorkerName(e)) => {
                        error!(worker = %hostname, "HELLO from a name that cannot be a worker's: {e}")
                    }
                    other => other?,
                }
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
                info!(job = job_id, worker = %hostname, "START_OK");
                self.lab.job_running(job_id).await?;
            }
            Event::JobEnded {
                job_id,
                hostname,
                errors,
                description,
                crashed,
                was_canceling: _,
            } => {
                info!(job = job_id, worker = %hostname, crashed, "END");
                let description = if description.is_empty() {
                    None
                } else {
                    match xz::decompress(&description, XzLimits::default()) {
                        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                        Err(e) => {
                            warn!(job = job_id, "END description cannot be decompressed: {e}");
                            None
                        }
                    }
                };
                let end = EndReport {
                    errors,
                    description,
                };
                if self.lab.job_ended(job_id, &end).await?.is_some() {
                    self.job_finished(job_id).await;
                }
                self.next_schedule = Instant::now();
            }
            Event::FinishOverdue {
                job_id,
                hostname,
                was_canceling: _,
            } => {
                warn!(job = job_id, worker = %hostname, "no final lava/job result 120 s after END: finishing the job");
                self.lab
                    .finish_job(job_id, &JobEnding::ResultMissing)
                    .await?;
                self.job_finished(job_id).await;
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
                let ending = JobEnding::NotStarted {
                    reason: error.to_string(),
                };
                self.lab.finish_job(job_id, &ending).await?;
                self.next_schedule = Instant::now();
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

    /// The lab finished a job: the machine stops tracking it and its log is closed.
    async fn job_finished(&mut self, job_id: JobId) {
        if let Err(e) = self.machine.finish_job(job_id) {
            // The lab and the machine disagree about the job: a bug, reported, not hidden.
            error!(
                job = job_id,
                "the master machine refused to finish the job: {e}"
            );
        }
        self.logs.close(&self.lab, job_id).await;
        self.next_schedule = Instant::now();
    }

    /// Tracks a job the store says is active after a restart.
    async fn restore_job(&mut self, job: Job, now: Instant) -> Result<(), MasterDaemonError> {
        let phase = match job.state {
            JobState::Scheduled => return self.start_job(job, now).await,
            JobState::Running => JobPhase::Running,
            JobState::Canceling => JobPhase::Canceling,
            _ => return Ok(()),
        };
        let Some(worker) = self.lab.worker_of(&job).await? else {
            warn!(
                job = job.id,
                "active job has no device with a worker: it stays as it is"
            );
            return Ok(());
        };
        let end = self
            .lab
            .store()
            .job_end(job.id)
            .await
            .map_err(LabError::from)?;
        if let Err(e) = self
            .machine
            .add_job(job.id, &worker, phase, end.processed, now)
        {
            error!(job = job.id, "cannot track the restored job: {e}");
        }
        Ok(())
    }

    /// Hands START to the machine; a job whose START cannot be built fails with an
    /// Infrastructure error naming the file.
    async fn start_job(&mut self, job: Job, now: Instant) -> Result<(), MasterDaemonError> {
        match self.lab.job_start(&job).await {
            Ok(start) => {
                let phase = JobPhase::Scheduled(start.payload);
                if let Err(e) = self
                    .machine
                    .add_job(job.id, &start.worker, phase, false, now)
                {
                    error!(job = job.id, "cannot track the job: {e}");
                }
            }
            Err(e @ (LabError::Store(_) | LabError::Busy { .. })) => return Err(e.into()),
            Err(reason) => {
                error!(job = job.id, "cannot build START: {reason}");
                let ending = JobEnding::NotStarted {
                    reason: reason.to_string(),
                };
                self.lab.finish_job(job.id, &ending).await?;
            }
        }
        Ok(())
    }

    /// Notices what other processes changed, and runs the scheduler when it is due.
    async fn housekeeping(&mut self, now: Instant) -> Result<(), MasterDaemonError> {
        // A new submission (lava-admin, the API) schedules at once.
        let newest = self.lab.newest_submitted().await?;
        if newest != self.newest_queued {
            self.newest_queued = newest;
            self.next_schedule = now;
        }
        // Cancellations made elsewhere.
        for job in self.lab.active_jobs().await? {
            if job.state != JobState::Canceling {
                continue;
            }
            match self.machine.job_phase(job.id) {
                Some(JobPhase::Canceling | JobPhase::Finished) => {}
                None => self.restore_job(job, now).await?,
                Some(_) => {
                    if let Err(e) = self.machine.cancel_job(job.id, now) {
                        error!(job = job.id, "cannot cancel: {e}");
                    }
                }
            }
        }
        if now >= self.next_schedule {
            for job in self.lab.schedule().await? {
                self.start_job(job, now).await?;
            }
            self.next_schedule = now + SCHEDULE_INTERVAL;
        }
        self.logs.close_idle(&self.lab, LOG_IDLE_SECS).await;
        Ok(())
    }

    /// One record from lava-run, as the ZeroMQ log sink receives it: its final result
    /// finishes the job.
    async fn log_record(&mut self, frames: &[Vec<u8>]) -> Result<(), MasterDaemonError> {
        let (job_id, line) = match decode_log_frames(frames) {
            Ok(decoded) => decoded,
            Err(e) => {
                debug!("log record dropped: {e}");
                return Ok(());
            }
        };
        match self
            .logs
            .append(&self.lab, job_id, line, FinalResult::FinishesJob)
            .await?
        {
            Appended::Stored {
                finished: Some(health),
            } => {
                info!(job = job_id, %health, "final result");
                self.job_finished(job_id).await;
            }
            Appended::Stored { finished: None } | Appended::Skipped => {}
            Appended::Dropped(why) => debug!(job = job_id, "log record dropped: {why}"),
        }
        Ok(())
    }
}
