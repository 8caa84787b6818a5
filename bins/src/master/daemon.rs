//! The master daemon: the sans-IO master machine, the lab, the ZeroMQ sockets, the log sink
//! and the XML-RPC API, wired together.
//!
//! One task owns the machine, so there is no locking: it waits for a control message, a log
//! record, the machine's next deadline, the next housekeeping tick, the next retry of
//! pending operations or the shutdown signal, feeds what came in to the core, then carries
//! out the core's events through the [`Lab`] (writing to the store) before it sends anything
//! (docs/state-machines.md, "the driver contract"). What a job, a worker or a device
//! becomes is the lab's decision; this module only routes events to it.
//!
//! Other processes (lava-admin, the API) write to the same store: a job they submit or
//! cancel is noticed by the one-second housekeeping tick, which schedules at once when the
//! queue changed and tells the machine about cancellations. A full scheduling pass also
//! runs every 20 s, as in LAVA.
//!
//! **Disk and store errors never stop the master.** Every change is an [`Operation`]; one
//! the store or the disk refuses waits in [`Pending`] and is tried again with backoff, in
//! order per job and per worker, while everything else goes on. What depends on a change
//! waits for it: an END's END_OK is held back until the END is stored, and the log socket is
//! not read while too many records wait. Housekeeping re-derives the rest from the store
//! each tick: an active job the machine does not track (its START could not be built, the
//! store was down at start) is picked up again. The failing part, since when and what
//! waits is published as the lab's [`LabStatus`].

use crate::master::options::MasterOptions;
use crate::master::pending::{Entry, Key, Operation, Pending};
use lava_core::master::{self as machine, Event, JobPhase, MasterConfig, StartPayload};
use lava_core::model::{Job, JobId, JobState, WorkerProtocol};
use lava_core::protocol::log::decode_log_frames;
use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::{Message, PeerId};
use lava_core::worker_http::{
    self as http_machine, FetchAnswer, HttpMaster, HttpMasterConfig, PingAnswer, ReportAnswer,
};
use lava_http::worker_api::{Refusal, Reply};
use lava_http::{Api, WorkerApi, WorkerRequest};
use lava_lab::{
    AutoRegistration, Direction, EndReport, FinalResult, JobEnding, JobLogs, Lab, LabError,
    LabPart, LabStatus, Written,
};
use lava_transport::zeromq::{SocketOptions, ZmqLogSink, ZmqMaster, ZmqServer};
use lava_transport::{LogSink, MasterTransport};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
/// While this many bytes of log records wait for the disk, the log socket is not read:
/// lava-run's records wait in ZeroMQ's queues (and lava-run's sends block) rather than
/// the master's memory growing.
const MAX_PENDING_LOG_BYTES: usize = 64 << 20;
/// The first wait before opening the store again at start; it doubles up to
/// [`MAX_START_WAIT`].
const FIRST_START_WAIT: Duration = Duration::from_secs(1);
/// The longest wait between two attempts to open the store at start.
const MAX_START_WAIT: Duration = Duration::from_secs(30);
/// A failure that goes on is reported again this often (each attempt is at debug level).
const REPORT_AGAIN: Duration = Duration::from_secs(60);

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
    /// Log records refused because their job runs on another worker (CURVE).
    foreign_log_records: u64,
    http: Option<TcpListener>,
    machine: machine::Master,
    /// lava-worker's side (HTTP): the workers that poll, and their jobs.
    http_machine: HttpMaster,
    /// lava-worker's requests, from the HTTP API; `None` until [`MasterDaemon::run`].
    worker_requests: Option<tokio::sync::mpsc::Receiver<WorkerRequest>>,
    /// Who may register a worker by itself.
    registration: AutoRegistration,
    /// Job events for lava-worker's event socket (`/ws/`); `None` until [`MasterDaemon::run`].
    worker_events: Option<tokio::sync::broadcast::Sender<String>>,
    logs: JobLogs,
    next_schedule: Instant,
    newest_queued: Option<JobId>,
    /// Every worker was set Offline at start: until then the sockets are not read.
    started: bool,
    /// Operations the store or the disk refused, to try again.
    pending: Pending,
    /// END_OKs held back until their END is stored: job → its worker.
    held_end_oks: BTreeMap<JobId, String>,
    /// END_OKs released by a retry, to send.
    released: Vec<(PeerId, Message)>,
    /// Active jobs the machine cannot track (no worker, a name that cannot be one): said
    /// once, not every tick.
    untrackable: BTreeSet<JobId>,
    /// The master's health, as published to the lab.
    status: LabStatus,
    /// When a failure that goes on was last reported.
    last_report: Option<Instant>,
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
        let config = MasterConfig {
            ping_interval: Duration::from_secs(options.ping_interval),
            ..MasterConfig::default()
        };
        Ok(MasterDaemon {
            lab,
            control,
            logs_socket,
            foreign_log_records: 0,
            http: Some(http),
            machine: machine::Master::new(config),
            http_machine: HttpMaster::new(HttpMasterConfig {
                required_version: options.strict_worker_version.clone(),
                ..HttpMasterConfig::default()
            }),
            worker_requests: None,
            worker_events: None,
            registration: AutoRegistration {
                enabled: options.worker_auto_register,
                netmasks: options.worker_auto_register_netmask.clone(),
            },
            logs: JobLogs::new(),
            next_schedule: Instant::now(),
            newest_queued: None,
            started: false,
            pending: Pending::new(),
            held_end_oks: BTreeMap::new(),
            released: Vec::new(),
            untrackable: BTreeSet::new(),
            status: LabStatus::default(),
            last_report: None,
        })
    }

    /// [`MasterDaemon::start`], waiting while the store cannot be opened for a reason that
    /// may pass (PostgreSQL not up yet, a full or read-only disk): said once, then tried
    /// again with backoff. Another master holding the store, or anything else, is an error
    /// at once. `None` when `stop` completes first.
    pub async fn start_waiting(
        options: &MasterOptions,
        mut stop: std::pin::Pin<&mut (impl Future<Output = ()> + ?Sized)>,
    ) -> Result<Option<Self>, MasterDaemonError> {
        let mut wait = FIRST_START_WAIT;
        loop {
            match Self::start(options).await {
                Ok(daemon) => return Ok(Some(daemon)),
                Err(MasterDaemonError::Lab(e))
                    if e.is_transient()
                        && !matches!(e, LabError::Store(lava_store::StoreError::Locked { .. })) =>
                {
                    error!("cannot open the lab: {e}; trying again in {wait:?}");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.as_mut() => return Ok(None),
            }
            wait = (wait * 2).min(MAX_START_WAIT);
        }
    }

    /// The control socket's endpoint, as bound (tests bind port 0).
    pub fn control_endpoint(&self) -> &str {
        self.control.endpoint()
    }

    /// The log socket's endpoint, as bound.
    pub fn log_endpoint(&self) -> &str {
        self.logs_socket.endpoint()
    }

    /// The lab the master runs: its [`Lab::status`] is the master's health.
    pub fn lab(&self) -> Arc<Lab> {
        Arc::clone(&self.lab)
    }

    /// The HTTP address, as bound.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes: the XML-RPC API at once; then, once every worker
    /// is Offline in the store (as LAVA does at start; retried while the store refuses),
    /// the jobs the store says are active are picked up again and the sockets are read.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), MasterDaemonError> {
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let (workers, requests) = WorkerApi::new(Arc::clone(&self.lab), self.registration.clone());
        self.worker_requests = Some(requests);
        self.worker_events = Some(workers.events());
        let api = Api::new(Arc::clone(&self.lab)).with_workers(workers);
        let http = self
            .http
            .take()
            .ok_or_else(|| MasterDaemonError::Other("the master ran already".into()))?;
        let server = tokio::spawn(api.serve_until(http, async {
            // Dropped sender or a send: either way, stop.
            let _stopped = stopped.await;
        }));
        info!(
            "lava-master started, XML-RPC API on /RPC2, lava-worker API on /scheduler/internal/v1/"
        );
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
        if !self.pending.is_empty() {
            // Nothing of it was acknowledged: ENDs are sent again by the slaves, results
            // are read back from output.yaml, states are derived again at the next start.
            warn!(
                operations = self.pending.len(),
                log_records = self.pending.log_records(),
                "stopping with operations the store or the disk refused; the next start redoes them"
            );
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
                self.housekeeping(now).await;
                // Jobs scheduled just now get their START without waiting for a wake-up.
                self.drain().await?;
                next_housekeeping = now + HOUSEKEEPING;
            }
            if self.pending.next_pass().is_some_and(|at| at <= now) {
                self.retry_pending().await;
                self.drain().await?;
            }
            self.publish_status();
            let deadline = [
                self.machine.poll_timeout(),
                self.http_machine.poll_timeout(),
                self.pending.next_pass(),
                Some(next_housekeeping),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_housekeeping);
            let reading = self.started;
            let reading_logs = reading && self.pending.log_bytes() < MAX_PENDING_LOG_BYTES;
            tokio::select! {
                received = self.control.recv(), if reading => {
                    let (peer, frames) = received?;
                    let now = Instant::now();
                    match Message::decode(&frames) {
                        Ok(message) => {
                            self.count(&message, Direction::Received);
                            self.machine.handle_message(&peer, message, now)
                        }
                        Err(error) => self.machine.handle_malformed(&peer, error, now),
                    }
                }
                received = self.logs_socket.recv_from(), if reading_logs => {
                    let (sender, frames) = received?;
                    self.log_record(sender.as_deref(), &frames).await;
                }
                Some(request) = next_request(&mut self.worker_requests) => {
                    self.worker_request(request).await;
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.machine.handle_timeout(now);
                    self.http_machine.handle_timeout(now);
                }
                () = &mut shutdown => {
                    info!("stopping");
                    return Ok(());
                }
            }
            self.drain().await?;
        }
    }

    /// Counts a ZeroMQ message for `/metrics`.
    fn count(&self, message: &Message, direction: Direction) {
        self.lab
            .metrics()
            .protocol_message("zmq", machine::action_name(message), direction);
    }

    /// Carries out the machine's events, then sends what it queued (END_OKs of ENDs not
    /// stored yet are held back).
    async fn drain(&mut self) -> Result<(), MasterDaemonError> {
        self.drain_http().await;
        loop {
            while let Some(event) = self.machine.poll_event() {
                self.event(event).await;
            }
            let Some((peer, message)) = self.machine.poll_transmit() else {
                break;
            };
            if let Message::EndOk { job_id } = &message {
                if self.held_end_oks.contains_key(job_id) {
                    debug!(job = job_id, "END_OK held back until the END is stored");
                    continue;
                }
            }
            debug!(peer = %peer, action = machine::action_name(&message), "send");
            self.count(&message, Direction::Sent);
            self.control.send(&peer, message.encode()).await?;
        }
        for (peer, message) in std::mem::take(&mut self.released) {
            debug!(peer = %peer, action = machine::action_name(&message), "send (released)");
            self.count(&message, Direction::Sent);
            self.control.send(&peer, message.encode()).await?;
        }
        Ok(())
    }

    async fn event(&mut self, event: Event) {
        match event {
            Event::WorkerOnline { hostname } => {
                info!(worker = %hostname, "worker online");
                self.submit(Operation::WorkerState { hostname }).await;
                self.next_schedule = Instant::now();
            }
            Event::WorkerOffline { hostname } => {
                warn!(worker = %hostname, "worker offline: nothing heard for 60 s");
                self.submit(Operation::WorkerState { hostname }).await;
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
                self.submit(Operation::WorkerHello {
                    hostname,
                    version: lava_version,
                })
                .await;
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
                self.submit(Operation::JobRunning { job_id }).await;
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
                let operation = Operation::JobEnded {
                    job_id,
                    hostname: hostname.clone(),
                    end,
                };
                if !self.submit(operation).await {
                    // The END is not stored: no END_OK, so the slave keeps it and sends it
                    // again (and a restarted master processes it).
                    self.held_end_oks.insert(job_id, hostname);
                }
                self.next_schedule = Instant::now();
            }
            Event::FinishOverdue {
                job_id,
                hostname,
                was_canceling: _,
            } => {
                warn!(job = job_id, worker = %hostname, "no final lava/job result 120 s after END: finishing the job");
                self.submit(Operation::FinishJob {
                    job_id,
                    ending: JobEnding::ResultMissing,
                })
                .await;
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
                self.submit(Operation::FinishJob { job_id, ending }).await;
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
    }

    /// Carries out `operation` now, unless operations on the same object wait (then it
    /// waits behind them). Returns whether it is done (false: it waits).
    async fn submit(&mut self, operation: Operation) -> bool {
        let entry = Entry::new(operation);
        if self.pending.holds(&entry.operation.key()) {
            debug!(
                "{}: waits behind earlier operations on the same object",
                entry.operation.describe()
            );
            self.pending.push(entry, Instant::now());
            return false;
        }
        let (failed, _) = self.run_entries(VecDeque::from([entry])).await;
        let done = failed.is_empty();
        let now = Instant::now();
        for entry in failed {
            self.pending.push(entry, now);
        }
        done
    }

    /// Tries every pending operation again, in order.
    async fn retry_pending(&mut self) {
        let work = self.pending.start_pass();
        let count = work.len();
        let (failed, progressed) = self.run_entries(work).await;
        debug!(
            tried = count,
            waiting = failed.len(),
            "retried pending operations"
        );
        self.pending.end_pass(failed, progressed, Instant::now());
    }

    /// Carries out `work` in order. An operation that fails with a transient error stops
    /// the operations behind it on the same object, and a failing store stops them all
    /// (each attempt could wait for a connection timeout); they are returned, in order, to
    /// wait. An operation that fails for good is reported and dropped. Also returns whether
    /// anything was done.
    async fn run_entries(&mut self, mut work: VecDeque<Entry>) -> (VecDeque<Entry>, bool) {
        let mut failed = VecDeque::new();
        let mut stopped: BTreeSet<Key> = BTreeSet::new();
        let mut store_failed = false;
        let mut progressed = false;
        while let Some(mut entry) = work.pop_front() {
            let key = entry.operation.key();
            if store_failed || stopped.contains(&key) {
                failed.push_back(entry);
                continue;
            }
            match self.perform(&entry.operation).await {
                Ok(next) => {
                    progressed = true;
                    self.worked(&entry.operation);
                    // Follow-ups (a logged record's results) come before anything else on
                    // the same object.
                    for operation in next.into_iter().rev() {
                        work.push_front(Entry::new(operation));
                    }
                }
                Err(error) if error.is_transient() => {
                    entry.attempts += 1;
                    let what = format!(
                        "{} (attempt {})",
                        entry.operation.describe(),
                        entry.attempts
                    );
                    self.report_failure(&what, &error);
                    store_failed = error.failing_part() == Some(LabPart::Store);
                    stopped.insert(key);
                    failed.push_back(entry);
                }
                Err(error) => {
                    error!("{}: {error}; not retried", entry.operation.describe());
                    if let Operation::JobEnded { job_id, .. } = &entry.operation {
                        // It can never be stored (e.g. the job was deleted): acknowledge
                        // it as an END for an unknown job.
                        self.release_end_ok(*job_id);
                    }
                }
            }
        }
        (failed, progressed)
    }

    /// Carries out one operation through the lab. Returns the operations that must follow
    /// it at once (the results a written log record holds).
    async fn perform(&mut self, operation: &Operation) -> Result<Vec<Operation>, LabError> {
        match operation {
            Operation::WorkerHello { hostname, version } => {
                match self.lab.worker_hello(hostname, version.as_deref()).await {
                    Err(LabError::WorkerName(e)) => {
                        error!(worker = %hostname, "HELLO from a name that cannot be a worker's: {e}")
                    }
                    other => other?,
                }
            }
            Operation::WorkerState { hostname } => {
                if self.machine.is_online(hostname) || self.http_machine.is_online(hostname) {
                    self.lab.worker_online(hostname).await?;
                } else {
                    self.lab.worker_offline(hostname).await?;
                }
            }
            Operation::JobRunning { job_id } => self.lab.job_running(*job_id).await?,
            Operation::WorkerVersion {
                hostname,
                version,
                refused_for,
            } => {
                self.lab
                    .worker_connected(
                        hostname,
                        WorkerProtocol::Http,
                        Some(version),
                        refused_for.as_deref(),
                    )
                    .await?
            }
            Operation::WorkerFinished { job_id, report } => {
                self.lab.job_finished_by_worker(*job_id, report).await?;
                self.job_finished(*job_id).await;
            }
            Operation::JobEnded { job_id, end, .. } => {
                let finished = self.lab.job_ended(*job_id, end).await?;
                self.release_end_ok(*job_id);
                if finished.is_some() {
                    self.job_finished(*job_id).await;
                }
            }
            Operation::FinishJob { job_id, ending } => {
                self.lab.finish_job(*job_id, ending).await?;
                self.job_finished(*job_id).await;
            }
            Operation::LogRecord { job_id, line } => {
                return Ok(match self.logs.write(&self.lab, *job_id, line).await? {
                    Written::Logged(results) => results
                        .into_iter()
                        .map(|r| Operation::StoreResult(Box::new(r), FinalResult::FinishesJob))
                        .collect(),
                    Written::Skipped => Vec::new(),
                    Written::Dropped(why) => {
                        debug!(job = job_id, "log record dropped: {why}");
                        Vec::new()
                    }
                });
            }
            Operation::RecoverResults { job_id } => {
                let results = self.logs.recover(&self.lab, *job_id).await?;
                // lava-worker's jobs end by FINISHED, not by their final result.
                let tracked_by_http = self.http_machine.job_phase(*job_id).is_some();
                let final_result = if tracked_by_http {
                    FinalResult::Recorded
                } else {
                    FinalResult::FinishesJob
                };
                return Ok(results
                    .into_iter()
                    .map(|r| Operation::StoreResult(Box::new(r), final_result))
                    .collect());
            }
            Operation::StoreResult(result, final_result) => {
                let finished = self.lab.store_result(result, *final_result).await?;
                if let Some(health) = finished {
                    info!(job = result.job, %health, "final result");
                }
                if result.is_job_result() && *final_result == FinalResult::FinishesJob {
                    self.job_finished(result.job).await;
                }
            }
        }
        Ok(Vec::new())
    }

    /// The END of `job_id` is stored (or can never be): its END_OK, if held back, goes.
    fn release_end_ok(&mut self, job_id: JobId) {
        if let Some(hostname) = self.held_end_oks.remove(&job_id) {
            self.released
                .push((PeerId::from_hostname(&hostname), Message::EndOk { job_id }));
        }
    }

    /// The lab finished a job: the machine stops tracking it and its log is closed.
    async fn job_finished(&mut self, job_id: JobId) {
        // A job finished by a crash END or an overdue result is no longer tracked.
        if self.machine.job_phase(job_id).is_some() {
            if let Err(e) = self.machine.finish_job(job_id) {
                error!(
                    job = job_id,
                    "the master machine refused to finish the job: {e}"
                );
            }
        }
        if self.http_machine.job_phase(job_id).is_some() {
            if let Err(e) = self.http_machine.finish_job(job_id) {
                error!(
                    job = job_id,
                    "the lava-worker machine refused to finish the job: {e}"
                );
            }
        }
        self.logs.close(&self.lab, job_id).await;
        self.logs.forget(job_id);
        self.next_schedule = Instant::now();
    }

    /// Tracks a job the store says is active but the machine does not know (after a
    /// restart, or when an earlier attempt failed), and reads back the results its log
    /// holds that the store lost.
    async fn restore_job(&mut self, job: Job, now: Instant) -> Result<(), LabError> {
        let phase = match job.state {
            JobState::Scheduled => None,
            JobState::Running => Some(JobPhase::Running),
            JobState::Canceling => Some(JobPhase::Canceling),
            _ => return Ok(()),
        };
        let id = job.id;
        match phase {
            None => self.start_job(job, now).await?,
            Some(phase) => {
                let Some(worker) = self.lab.worker_of(&job).await? else {
                    warn!(
                        job = id,
                        "active job has no device with a worker: it stays as it is"
                    );
                    self.untrackable.insert(id);
                    return Ok(());
                };
                if self.lab.worker_protocol(&worker).await? == WorkerProtocol::Http {
                    let token = self.lab.job_token(id).await?;
                    if let Err(e) = self.http_machine.add_job(id, &worker, phase, &token) {
                        error!(job = id, "cannot track the restored job: {e}");
                        self.untrackable.insert(id);
                        return Ok(());
                    }
                    self.submit(Operation::RecoverResults { job_id: id }).await;
                    return Ok(());
                }
                let end = self.lab.store().job_end(id).await?;
                // The grace for the final result runs from the stored END (wall clock).
                let ended = end.processed.then(|| {
                    let at = end.processed_at.unwrap_or_else(|| self.lab.now());
                    let ago = self.lab.now().as_micros().saturating_sub(at.as_micros());
                    Duration::from_micros(u64::try_from(ago).unwrap_or(0))
                });
                if let Err(e) = self
                    .machine
                    .add_restored_job(id, &worker, phase, ended, now)
                {
                    error!(job = id, "cannot track the restored job: {e}");
                    self.untrackable.insert(id);
                    return Ok(());
                }
            }
        }
        self.submit(Operation::RecoverResults { job_id: id }).await;
        Ok(())
    }

    /// Hands START to the machine; a job whose START cannot be built fails with an
    /// Infrastructure error naming the file. A transient failure leaves it Scheduled and
    /// untracked, for the next housekeeping to try again.
    async fn start_job(&mut self, job: Job, now: Instant) -> Result<(), LabError> {
        match self.lab.job_start(&job).await {
            Ok(start) if self.serves_over_http(&start.worker, start.protocol) => {
                self.start_http_job(job.id, &start.worker, start.payload)
                    .await?;
            }
            Ok(start) => {
                let phase = JobPhase::Scheduled(start.payload);
                if let Err(e) = self
                    .machine
                    .add_job(job.id, &start.worker, phase, false, now)
                {
                    error!(job = job.id, "cannot track the job: {e}");
                    self.untrackable.insert(job.id);
                }
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(reason) => {
                error!(job = job.id, "cannot build START: {reason}");
                let ending = JobEnding::NotStarted {
                    reason: reason.to_string(),
                };
                self.submit(Operation::FinishJob {
                    job_id: job.id,
                    ending,
                })
                .await;
            }
        }
        Ok(())
    }

    /// Sets every worker Offline once at start, then notices what other processes
    /// changed, picks up active jobs the machine does not track, and runs the scheduler
    /// when it is due. Failures are reported and tried again at the next tick.
    async fn housekeeping(&mut self, now: Instant) {
        if !self.started {
            match self.lab.all_workers_offline().await {
                Ok(()) => {
                    self.started = true;
                    info!("every worker is Offline until it speaks; reading the sockets");
                }
                Err(e) => {
                    self.report_failure("set every worker Offline at start", &e);
                    return;
                }
            }
        }
        match self.try_housekeeping(now).await {
            Ok(()) if self.pending.is_empty() => self.recovered(LabPart::Store),
            Ok(()) => {}
            Err(e) => self.report_failure("housekeeping", &e),
        }
        self.logs.close_idle(&self.lab, LOG_IDLE_SECS).await;
    }

    async fn try_housekeeping(&mut self, now: Instant) -> Result<(), LabError> {
        // A new submission (lava-admin, the API) schedules at once.
        let newest = self.lab.newest_submitted().await?;
        if newest != self.newest_queued {
            self.newest_queued = newest;
            self.next_schedule = now;
        }
        // Cancellations made elsewhere, and active jobs the machine does not track.
        for job in self.lab.active_jobs().await? {
            if self.pending.holds(&Key::Job(job.id)) || self.pending.holds(&Key::JobLog(job.id)) {
                continue;
            }
            if let Some(phase) = self.http_machine.job_phase(job.id) {
                if job.state == JobState::Canceling
                    && !matches!(phase, JobPhase::Canceling | JobPhase::Finished)
                {
                    info!(job = job.id, "canceling: listed to lava-worker as cancel");
                    if let Err(e) = self.http_machine.cancel_job(job.id) {
                        error!(job = job.id, "cannot cancel: {e}");
                    }
                    if let Ok(Some(worker)) = self.lab.worker_of(&job).await {
                        self.wake_worker(job.id, &worker, "Canceling");
                    }
                }
                continue;
            }
            match self.machine.job_phase(job.id) {
                Some(JobPhase::Canceling | JobPhase::Finished) => {}
                Some(_) if job.state == JobState::Canceling => {
                    if let Err(e) = self.machine.cancel_job(job.id, now) {
                        error!(job = job.id, "cannot cancel: {e}");
                    }
                }
                Some(_) => {}
                None if self.untrackable.contains(&job.id) => {}
                None => {
                    let id = job.id;
                    if let Err(e) = self.restore_job(job, now).await {
                        self.report_failure(&format!("pick up job {id}"), &e);
                    }
                }
            }
        }
        if now >= self.next_schedule {
            for job in self.lab.schedule().await? {
                let id = job.id;
                // Left Scheduled: picked up at the next tick.
                if let Err(e) = self.start_job(job, now).await {
                    self.report_failure(&format!("send START of job {id}"), &e);
                }
            }
            self.next_schedule = now + SCHEDULE_INTERVAL;
        }
        Ok(())
    }

    /// One record from lava-run, as the ZeroMQ log sink receives it: written to the job's
    /// log, its result stored, its final result finishing the job.
    ///
    /// With CURVE the transport tells which workers the sender's certificate names
    /// (`sender`): a record for a job that runs on another worker is dropped and logged,
    /// so that one admitted key cannot write into another worker's jobs.
    async fn log_record(&mut self, sender: Option<&[String]>, frames: &[Vec<u8>]) {
        let (job_id, line) = match decode_log_frames(frames) {
            Ok(decoded) => decoded,
            Err(e) => {
                debug!("log record dropped: {e}");
                return;
            }
        };
        if let (Some(names), Some(worker)) = (sender, self.machine.job_worker(job_id)) {
            if !names.iter().any(|n| n == worker) {
                self.foreign_log_records += 1;
                if self.foreign_log_records % 1000 == 1 {
                    warn!(
                        job = job_id,
                        worker,
                        certificate = %names.join(" "),
                        refused = self.foreign_log_records,
                        "log record refused: job {job_id} runs on '{worker}', the sender's CURVE certificate is for '{}'",
                        names.join(" ")
                    );
                }
                return;
            }
        }
        self.submit(Operation::LogRecord {
            job_id,
            line: line.to_owned(),
        })
        .await;
    }

    /// Reports a failure: loudly when a part of the lab starts failing, then at most every
    /// [`REPORT_AGAIN`].
    fn report_failure(&mut self, what: &str, error: &LabError) {
        let now = Instant::now();
        if !error.is_transient() {
            error!("{what}: {error}");
            return;
        }
        match self.status.failed(error, self.lab.now()) {
            Some(part) => {
                error!(
                    "the lab's {part} is failing: {what}: {error}; the master goes on, and tries again"
                );
                self.last_report = Some(now);
            }
            None if self
                .last_report
                .is_none_or(|at| now.duration_since(at) >= REPORT_AGAIN) =>
            {
                warn!(
                    waiting = self.pending.len(),
                    log_records = self.pending.log_records(),
                    "still failing: {what}: {error}"
                );
                self.last_report = Some(now);
            }
            None => debug!("{what}: {error}"),
        }
    }

    /// `operation` was carried out: the parts it writes work.
    fn worked(&mut self, operation: &Operation) {
        let (store, disk) = match operation {
            Operation::LogRecord { .. } | Operation::RecoverResults { .. } => (false, true),
            Operation::JobEnded { .. } | Operation::WorkerFinished { .. } => (true, true),
            Operation::WorkerHello { .. }
            | Operation::WorkerState { .. }
            | Operation::JobRunning { .. }
            | Operation::FinishJob { .. }
            | Operation::WorkerVersion { .. }
            | Operation::StoreResult(..) => (true, false),
        };
        if store {
            self.recovered(LabPart::Store);
        }
        if disk {
            self.recovered(LabPart::Files);
        }
    }

    fn recovered(&mut self, part: LabPart) {
        if let Some(failing) = self.status.recovered(part) {
            let secs = (self.lab.now().as_micros() - failing.since.as_micros()) / 1_000_000;
            info!(
                failures = failing.failures,
                "the lab's {part} works again after {secs} s of failures"
            );
        }
    }

    /// Whether `worker`'s jobs go to lava-worker's machine: a worker polling this process
    /// over HTTP (and not connected over ZeroMQ), else how it last connected.
    fn serves_over_http(&self, worker: &str, recorded: WorkerProtocol) -> bool {
        if self.http_machine.is_online(worker) {
            return true;
        }
        if self.machine.is_online(worker) {
            return false;
        }
        recorded == WorkerProtocol::Http
    }

    /// Hands a Scheduled job to lava-worker's machine with its job token: the worker's
    /// next ping lists it in `start`.
    async fn start_http_job(
        &mut self,
        id: JobId,
        worker: &str,
        payload: StartPayload,
    ) -> Result<(), LabError> {
        if let Err(error) = payload.validate() {
            error!(
                job = id,
                worker, "cannot hand the job to lava-worker: {error}"
            );
            let ending = JobEnding::NotStarted {
                reason: error.to_string(),
            };
            self.submit(Operation::FinishJob { job_id: id, ending })
                .await;
            return Ok(());
        }
        let token = self.lab.job_token(id).await?;
        if let Err(e) = self
            .http_machine
            .add_job(id, worker, JobPhase::Scheduled(payload), &token)
        {
            error!(job = id, "cannot track the job: {e}");
            self.untrackable.insert(id);
        } else {
            debug!(job = id, worker, "listed to lava-worker as start");
            self.wake_worker(id, worker, "Scheduled");
        }
        Ok(())
    }

    /// Tells `worker` through the event socket to poll now (it would at its next ping).
    fn wake_worker(&self, job: JobId, worker: &str, state: &str) {
        if let Some(events) = &self.worker_events {
            let now = self.lab.now().to_string();
            let event = lava_core::worker_http::websocket::job_event(job, worker, state, &now);
            // No listener is no error: the worker polls anyway.
            let _ = events.send(event);
        }
    }

    /// Carries out lava-worker's machine's events through the lab.
    async fn drain_http(&mut self) {
        while let Some(event) = self.http_machine.poll_event() {
            self.http_event(event).await;
        }
    }

    async fn http_event(&mut self, event: http_machine::Event) {
        use http_machine::Event as E;
        match event {
            E::WorkerOnline { hostname } => {
                info!(worker = %hostname, "worker online (lava-worker)");
                self.submit(Operation::WorkerState { hostname }).await;
                self.next_schedule = Instant::now();
            }
            E::WorkerOffline { hostname } => {
                warn!(worker = %hostname, "worker offline (lava-worker): no accepted ping for 60 s");
                self.submit(Operation::WorkerState { hostname }).await;
            }
            E::WorkerVersion {
                hostname,
                version,
                refused_for,
            } => {
                match &refused_for {
                    Some(required) => {
                        error!(worker = %hostname, version, "lava-worker version {version} refused: this master requires {required} (--strict-worker-version); the worker stays Offline")
                    }
                    None => info!(worker = %hostname, version, "lava-worker version"),
                }
                self.submit(Operation::WorkerVersion {
                    hostname,
                    version,
                    refused_for,
                })
                .await;
            }
            E::JobStarted { job_id, hostname } => {
                info!(job = job_id, worker = %hostname, "RUNNING (lava-worker)");
                self.submit(Operation::JobRunning { job_id }).await;
            }
            E::JobFinished {
                job_id,
                hostname,
                report,
                was_canceling,
            } => {
                info!(job = job_id, worker = %hostname, passed = report.passed, error_type = %report.error_type, was_canceling, "FINISHED (lava-worker)");
                self.submit(Operation::WorkerFinished { job_id, report })
                    .await;
                self.next_schedule = Instant::now();
            }
            E::DuplicateFinished { job_id } => {
                info!(
                    job = job_id,
                    "FINISHED again (lava-worker): answered, nothing changed"
                );
            }
            E::JobLost {
                job_id,
                hostname,
                was_canceling: _,
            } => {
                error!(job = job_id, worker = %hostname, "lava-worker asked for job {job_id} again after it started: the worker lost it (state directory?); the job ends instead of running twice");
                self.submit(Operation::FinishJob {
                    job_id,
                    ending: JobEnding::WorkerLost { worker: hostname },
                })
                .await;
                self.next_schedule = Instant::now();
            }
        }
    }

    /// Answers one of lava-worker's requests once what it changed is stored.
    async fn worker_request(&mut self, request: WorkerRequest) {
        if !self.started {
            let refusal = Refusal::unavailable("the master is starting");
            match request {
                WorkerRequest::Ping { reply, .. } => drop(reply.send(Err(refusal))),
                WorkerRequest::Fetch { reply, .. } => drop(reply.send(Err(refusal))),
                WorkerRequest::Running { reply, .. } | WorkerRequest::Finished { reply, .. } => {
                    drop(reply.send(Err(refusal)))
                }
                WorkerRequest::Logs { reply, .. } => drop(reply.send(Err(refusal))),
            }
            return;
        }
        match request {
            WorkerRequest::Ping {
                worker,
                version,
                reply,
            } => {
                let answer = self
                    .http_machine
                    .handle_ping(&worker, &version, Instant::now());
                self.drain_http().await;
                if let PingAnswer::Jobs(lists) = &answer {
                    if !(lists.start.is_empty() && lists.cancel.is_empty()) {
                        debug!(worker = %worker, start = lists.start.len(), running = lists.running.len(), cancel = lists.cancel.len(), "ping answered");
                    }
                }
                drop(reply.send(Ok(answer)));
            }
            WorkerRequest::Fetch { job, reply } => {
                let answer = match self.http_machine.handle_fetch(job) {
                    FetchAnswer::Payload(payload) => Ok(payload),
                    FetchAnswer::AlreadyStarted => Err(Refusal::new(
                        409,
                        format!("Job {job} has started already: it is not started twice"),
                    )),
                    FetchAnswer::Finished => {
                        Err(Refusal::new(409, format!("Job {job} has finished")))
                    }
                    FetchAnswer::NotTracked => Err(self.untracked(job).await),
                };
                self.drain_http().await;
                drop(reply.send(answer));
            }
            WorkerRequest::Running { job, reply } => {
                let answer = match self.http_machine.handle_running(job) {
                    ReportAnswer::Done => {
                        self.drain_http().await;
                        self.stored(job)
                    }
                    ReportAnswer::NotTracked => self.finished_or_untracked(job).await,
                };
                drop(reply.send(answer));
            }
            WorkerRequest::Finished { job, report, reply } => {
                let answer = match self.http_machine.handle_finished(job, report) {
                    ReportAnswer::Done => {
                        self.drain_http().await;
                        self.stored(job)
                    }
                    ReportAnswer::NotTracked => self.finished_or_untracked(job).await,
                };
                drop(reply.send(answer));
            }
            WorkerRequest::Logs {
                job,
                lines,
                index,
                reply,
            } => {
                let answer = self.log_batch(job, &lines, index).await;
                drop(reply.send(answer));
            }
        }
    }

    /// 200 once nothing about `job` waits for the store, else 503 (the worker sends the
    /// report again; the machine answers a repeat without changing anything).
    fn stored(&self, job: JobId) -> Reply<()> {
        if self.pending.holds(&Key::Job(job)) {
            Err(Refusal::unavailable(format!(
                "the master cannot store the state of job {job} yet; try again"
            )))
        } else {
            Ok(())
        }
    }

    /// RUNNING or FINISHED for a job the machine does not track: a repeat for a job that
    /// has finished (200, as LAVA), or a job this master has not picked up (yet).
    async fn finished_or_untracked(&mut self, job: JobId) -> Reply<()> {
        match self.lab.job(job).await {
            Ok(row) if row.state == JobState::Finished => {
                info!(job, "report for a finished job: answered, nothing changed");
                Ok(())
            }
            Ok(_) => Err(self.untracked(job).await),
            Err(e) => Err(Refusal::unavailable(format!("cannot read job {job}: {e}"))),
        }
    }

    /// Why a request about `job` cannot be served by lava-worker's machine.
    async fn untracked(&mut self, job: JobId) -> Refusal {
        match self.lab.job(job).await {
            Ok(row) if row.state == JobState::Finished => {
                Refusal::new(409, format!("Job {job} has finished"))
            }
            Ok(row) if row.state == JobState::Submitted => {
                Refusal::new(409, format!("Job {job} is not scheduled"))
            }
            Ok(_) if self.machine.job_phase(job).is_some() => Refusal::new(
                409,
                format!("Job {job} runs on a ZeroMQ worker (lava-slave), not on lava-worker"),
            ),
            Ok(_) => Refusal::unavailable(format!(
                "the master has not picked job {job} up yet; try again"
            )),
            Err(e) => Refusal::unavailable(format!("cannot read job {job}: {e}")),
        }
    }

    /// A batch of lava-run's records (HTTP): written through the one log path the ZeroMQ
    /// sink uses, its results stored (they do not end the job: FINISHED does).
    async fn log_batch(&mut self, job: JobId, lines: &str, index: u64) -> Reply<usize> {
        let records = match lava_core::worker_http::batch::split_records(lines) {
            Ok(records) => records,
            Err(e) => return Err(Refusal::new(400, e.to_string())),
        };
        let written = match self.logs.write_batch(&self.lab, job, &records, index).await {
            Ok(written) => written,
            Err(e) => {
                self.report_failure(&format!("write the log of job {job}"), &e);
                return Err(Refusal::unavailable(format!(
                    "cannot write the log of job {job}: {e}"
                )));
            }
        };
        if written.duplicates > 0 {
            info!(
                job,
                duplicates = written.duplicates,
                index,
                "log batch sent again: records the log has already were not written twice"
            );
        }
        if written.gap > 0 {
            warn!(job, gap = written.gap, index, "log batch index is ahead of the log: lava-run counts records this master never took (lost upstream)");
        }
        if let Some(why) = &written.first_drop {
            warn!(
                job,
                dropped = written.dropped,
                "log records not usable: {why}"
            );
        }
        for result in written.results {
            self.submit(Operation::StoreResult(
                Box::new(result),
                FinalResult::Recorded,
            ))
            .await;
        }
        match written.error {
            None => {
                self.recovered(LabPart::Files);
                Ok(written.consumed)
            }
            Some(e) => {
                self.report_failure(&format!("write the log of job {job}"), &e);
                if written.consumed == 0 {
                    Err(Refusal::unavailable(format!(
                        "cannot write the log of job {job}: {e}"
                    )))
                } else {
                    Ok(written.consumed)
                }
            }
        }
    }

    /// Publishes the master's health for the API, web pages and metrics.
    fn publish_status(&mut self) {
        self.status.pending_operations = self.pending.len();
        self.status.pending_log_records = self.pending.log_records();
        if self.status != self.lab.status() {
            self.lab.publish_status(&self.status);
        }
    }
}

/// The next request from lava-worker's API; never, when there is no API.
async fn next_request(
    requests: &mut Option<tokio::sync::mpsc::Receiver<WorkerRequest>>,
) -> Option<WorkerRequest> {
    match requests {
        Some(requests) => requests.recv().await,
        None => std::future::pending().await,
    }
}
