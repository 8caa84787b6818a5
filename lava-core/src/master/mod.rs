//! The master state machine: worker sessions, START/CANCEL re-sends, END/END_OK, STATUS after a
//! restart (protocol.md §3.3, §4.1, §4.2, §4.5).
//!
//! [`Master`] is sans-IO. The driver owns the socket, the store and the clock, and loops:
//!
//! 1. feed what happened: [`Master::handle_message`] for a decoded message,
//!    [`Master::handle_malformed`] for frames the codec refused, [`Master::handle_timeout`]
//!    when the deadline of [`Master::poll_timeout`] has passed, and the job calls
//!    ([`Master::add_job`], [`Master::cancel_job`], [`Master::finish_job`]) when the
//!    scheduler, a user or the log sink changed a job;
//! 2. drain [`Master::poll_event`] **and persist every event** (job started, END processed…);
//! 3. only then drain [`Master::poll_transmit`] and send.
//!
//! The order of 2 and 3 is the contract that makes a crash at any point safe: every state
//! change is stored before the message that depends on it leaves. Above all, END_OK is only
//! sent once "END processed" ([`Event::JobEnded`]) is stored, so a restarted master restored
//! with `end_processed = true` never sends START for that job again (trap §9 #14).
//!
//! # Timers
//!
//! * PONG carries [`MasterConfig::ping_interval`] (20 s).
//! * A worker goes offline when nothing valid was heard for [`MasterConfig::worker_timeout`]
//!   (60 s). LAVA checks every 20 s (detection 60–80 s); this machine keeps one deadline per
//!   worker, so detection is exactly 60 s after the last message.
//! * START (Scheduled jobs) and CANCEL (Canceling jobs) are sent at once when the job is added
//!   or canceled, or when its worker comes (back) online, then every
//!   [`MasterConfig::resend_interval`] (20 s) while the worker is online, and never again once
//!   any END for the job was seen.
//! * After an END with a description, the log sink has [`MasterConfig::finish_grace`]
//!   (120 s) to finish the job, else [`Event::FinishOverdue`] (§9 #19).
//!
//! # Duplicate identities: what can be seen here
//!
//! Two slaves with one hostname share one routing identity, and the master only sees
//! messages. It reports [`Event::DuplicateIdentitySuspected`] when
//! * a HELLO (not HELLO_RETRY) comes from a worker that is online with jobs running on it: a
//!   slave that restarted within 60 s looks the same, so this is a suspicion for the admin,
//!   not a verdict (no job is touched, as in LAVA since 2018.4);
//! * two PINGs arrive between 1 s and 4 s apart: one slave never pings faster than every 5 s
//!   (it refuses PONG intervals under 5), and PINGs queued during an outage arrive in one
//!   burst (under 1 s apart). Two slaves pinging every 20 s with phases more than 4 s apart
//!   are not caught this way.
//!
//! Reliable detection needs the transport (a second connection with an identity already in
//! use, ZMQ's handover), which is outside this machine.
//!
//! # Traps of protocol.md §9 and where they are handled
//!
//! Tests named `trap_NN_…` in `lava-core/tests/sim_traps.rs` cover #1, #3, #5, #7, #11, #12,
//! #14, #15, #16, #17, #18 (with #33: an END whose errors are not UTF-8 is refused by the
//! codec and never acked), #19, #20, #22, #23, #27, #29, #31 and #32; `sim_network.rs` covers
//! #2 (every loss is recovered). The others do not apply to the machines:
//! #1 beyond the suspicion above is the transport's (handover); #4, #8, #9, #10 are socket
//! behaviour;
//! #6 and #13 are decoding (the codec; malformed frames reach [`Master::handle_malformed`]);
//! #21 is the scheduler's (multinode sub-jobs must be added with their worker);
//! #24, #25, #28 are history (END is always re-sent; crash = empty description; raw text);
//! #26 (DNS before HELLO_RETRY, signals) and #36, #37, #38 are the slave driver's;
//! #30 and #34 hold by construction (safe YAML only; descriptions are opaque bytes here);
//! #35 is the log sink's; #39–#44 are configuration and documentation.

mod payload;

pub use payload::{
    dispatcher_prefix, yaml_kind, PayloadError, PayloadFile, StartPayload, YamlKind,
};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::model::JobId;
use crate::protocol::{
    FrameError, IdentityError, Message, PeerId, LAVA_LOGS_IDENTITY as LAVA_LOGS, PROTOCOL_VERSION,
};

/// The master's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterConfig {
    /// The interval announced in PONG (LAVA: 20 s). Slaves ignore values under 5 s and
    /// lava-logs values under 10 s.
    pub ping_interval: Duration,
    /// Silence after which a worker goes offline (LAVA: 60 s).
    pub worker_timeout: Duration,
    /// Period of START and CANCEL re-sends (LAVA: 20 s).
    pub resend_interval: Duration,
    /// How long the log sink has, after an END with a description, to finish the job with
    /// its final `lava`/`job` result before [`Event::FinishOverdue`] (LAVA has no such
    /// reconciliation and leaves the job Running for ever, §9 #19). lava-run only writes its
    /// description after every log record was delivered, so the result is at the sink by then.
    pub finish_grace: Duration,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            ping_interval: Duration::from_secs(20),
            worker_timeout: Duration::from_secs(60),
            resend_interval: Duration::from_secs(20),
            finish_grace: Duration::from_secs(120),
        }
    }
}

/// Where a job stands, as far as the protocol is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPhase {
    /// Waiting for START_OK: START is (re-)sent with this payload.
    Scheduled(StartPayload),
    /// START_OK was received.
    Running,
    /// Canceled by a user: CANCEL is (re-)sent.
    Canceling,
    /// Finished (by the log sink or a crash END); only END is still expected.
    Finished,
}

/// Why an identity was refused before its message was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerRejection {
    /// The identity cannot be a hostname (not UTF-8, a NUL byte as in ZeroMQ's generated ids
    /// for anonymous peers, empty, too long).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The identity is a hostname that can never be a worker's (`workers add` refuses it):
    /// not even HELLO is answered, so no worker is created for it.
    #[error(transparent)]
    WorkerName(#[from] crate::model::WorkerNameError),
    /// `lava-logs` sent something other than PING.
    #[error("lava-logs may only send PING, not {action}")]
    LavaLogsAction {
        /// The action it sent.
        action: &'static str,
    },
}

/// A message that broke the protocol and was dropped (or answered only as LAVA does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The codec refused the frames.
    #[error("malformed message: {0}")]
    Malformed(FrameError),
    /// An action that only the master sends (HELLO_OK, PONG, START, CANCEL, STATUS, END_OK).
    #[error("unexpected action {action} from a worker")]
    UnexpectedAction {
        /// The action.
        action: &'static str,
    },
    /// START_OK for a job this master does not know.
    #[error("START_OK for unknown job {job_id}")]
    StartOkForUnknownJob {
        /// The job.
        job_id: JobId,
    },
    /// START_OK or END for a job that belongs to another worker.
    #[error("{action} for job {job_id}, which belongs to worker {owner}")]
    WrongWorker {
        /// The action.
        action: &'static str,
        /// The job.
        job_id: JobId,
        /// The worker the job was sent to.
        owner: String,
    },
}

/// Why two slaves are suspected of sharing one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuplicateHint {
    /// HELLO from a worker already online, with these jobs running on it.
    HelloWhileOnline {
        /// The jobs the master believes are running there.
        running_jobs: Vec<JobId>,
    },
    /// Two PINGs closer than one slave ever sends them.
    PingsTooClose {
        /// The gap between them.
        gap: Duration,
    },
}

/// What the driver must persist or show; drain with [`Master::poll_event`] before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The worker sent a valid message after silence (or for the first time): state Online.
    WorkerOnline {
        /// The worker.
        hostname: String,
    },
    /// Nothing valid heard for the worker timeout: state Offline.
    WorkerOffline {
        /// The worker.
        hostname: String,
    },
    /// A valid HELLO or HELLO_RETRY; the driver stores the version (`Worker.version`).
    WorkerHello {
        /// The worker.
        hostname: String,
        /// The LAVA version the slave announced (absent from 2018.x slaves).
        lava_version: Option<String>,
        /// True for HELLO from a worker this process already knew: the slave restarted.
        restarted: bool,
    },
    /// HELLO with a protocol version other than 3: no reply, so the slave never comes online.
    VersionMismatch {
        /// The worker.
        hostname: String,
        /// The version it announced.
        protocol_version: i64,
    },
    /// `lava-logs` pinged after silence.
    LavaLogsOnline,
    /// `lava-logs` silent for the worker timeout.
    LavaLogsOffline,
    /// END (with a description) was processed long ago and the log sink never finished the
    /// job: its final result was lost. The driver finishes it (Incomplete, or Canceled when
    /// `was_canceling`) with a failure comment; the machine stops tracking it.
    FinishOverdue {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
        /// The job was Canceling.
        was_canceling: bool,
    },
    /// START_OK: the job goes Running (device Running, start time).
    JobStarted {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
    },
    /// The first END for a job. Persist "END processed" (and the description) before sending
    /// the END_OK that follows.
    JobEnded {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
        /// lava-run's stderr.
        errors: String,
        /// `description.yaml`, xz-compressed; empty when lava-run crashed or never ran.
        description: Vec<u8>,
        /// True when the description is empty: the job finishes Incomplete (Canceled when
        /// `was_canceling`), with `errors` as failure comment.
        crashed: bool,
        /// The job was Canceling when it ended.
        was_canceling: bool,
    },
    /// END for a job this master does not track (answered with END_OK, as LAVA does).
    EndForUnknownJob {
        /// The job.
        job_id: JobId,
        /// The worker that sent it.
        hostname: String,
    },
    /// The START payload cannot be sent: the job fails with an Infrastructure error (a
    /// `lava`/`job` result with `error_type: Infrastructure`, device health Unknown).
    JobFailedAtStart {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
        /// The file at fault and why.
        error: PayloadError,
    },
    /// A message from this identity was dropped without looking at it.
    PeerRejected {
        /// The identity.
        peer: PeerId,
        /// Why.
        reason: PeerRejection,
    },
    /// A message broke the protocol.
    ProtocolError {
        /// The worker.
        hostname: String,
        /// What was wrong.
        error: ProtocolError,
    },
    /// Two slaves may be using the same hostname (see the module docs for the limits).
    DuplicateIdentitySuspected {
        /// The hostname.
        hostname: String,
        /// What was seen.
        hint: DuplicateHint,
    },
}

/// A driver call that does not fit the machine's state (a bug in the driver, not bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterError {
    /// The job is already tracked.
    #[error("job {0} is already tracked by the master")]
    JobExists(JobId),
    /// The job is not tracked.
    #[error("job {0} is not tracked by the master")]
    UnknownJob(JobId),
    /// The worker name is not a valid identity.
    #[error("worker {hostname:?} cannot be used: {reason}")]
    BadWorker {
        /// The name.
        hostname: String,
        /// Why.
        reason: PeerRejection,
    },
}

#[derive(Debug)]
struct Session {
    last_msg: Instant,
    online: bool,
    last_ping: Option<Instant>,
    duplicate_reported: bool,
}

#[derive(Debug)]
struct TrackedJob {
    hostname: String,
    phase: JobPhase,
    /// Any END was seen: START and CANCEL are never sent again.
    end_seen: bool,
    /// When START or CANCEL is due next; `Some` exactly when the job is in the send queue
    /// (it wants sending and its worker is online).
    next_send: Option<Instant>,
    /// When the log sink is overdue to finish the job (END processed, job not Finished).
    finish_due: Option<Instant>,
}

impl TrackedJob {
    fn wants_sending(&self) -> bool {
        !self.end_seen && matches!(self.phase, JobPhase::Scheduled(_) | JobPhase::Canceling)
    }
}

/// The master side of the protocol. See the module docs for the driver loop.
///
/// Every operation costs O(log n) in the number of workers and jobs, except those that
/// concern all the jobs of one worker (it comes online, goes offline, first contact).
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    /// Hosts heard from by this process (LAVA's in-memory table), including `lava-logs`.
    sessions: BTreeMap<String, Session>,
    /// When each online host goes offline, soonest first.
    offline_at: BTreeSet<(Instant, String)>,
    jobs: BTreeMap<JobId, TrackedJob>,
    /// The jobs of each worker.
    by_worker: BTreeMap<String, BTreeSet<JobId>>,
    /// START/CANCEL deadlines of the jobs that want sending to an online worker.
    send_queue: BTreeSet<(Instant, JobId)>,
    /// Finish deadlines of jobs whose END was processed but that the log sink has not finished.
    finish_queue: BTreeSet<(Instant, JobId)>,
    transmits: VecDeque<(PeerId, Message)>,
    events: VecDeque<Event>,
}

impl Master {
    /// A master that has heard from nobody yet (a fresh process).
    pub fn new(config: MasterConfig) -> Self {
        Master {
            config,
            sessions: BTreeMap::new(),
            offline_at: BTreeSet::new(),
            jobs: BTreeMap::new(),
            by_worker: BTreeMap::new(),
            send_queue: BTreeSet::new(),
            finish_queue: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Tracks a job on `hostname`: a newly scheduled one, or one restored from the store after
    /// a restart (in which case `end_processed` says whether its END was already recorded).
    ///
    /// A Scheduled payload is validated first; if it is unsafe to send, the job is not
    /// tracked and [`Event::JobFailedAtStart`] is emitted. START goes out at once when the
    /// worker is online.
    pub fn add_job(
        &mut self,
        job_id: JobId,
        hostname: &str,
        phase: JobPhase,
        end_processed: bool,
        now: Instant,
    ) -> Result<(), MasterError> {
        let ended = end_processed.then_some(Duration::ZERO);
        self.add_restored_job(job_id, hostname, phase, ended, now)
    }

    /// [`Master::add_job`] for a job restored from the store whose END was processed
    /// `ended` ago (`None`: not processed): the log sink's grace runs from that END, not
    /// from the restart, so restarts do not hold a device for ever (a negative age counts
    /// as zero).
    pub fn add_restored_job(
        &mut self,
        job_id: JobId,
        hostname: &str,
        phase: JobPhase,
        ended: Option<Duration>,
        now: Instant,
    ) -> Result<(), MasterError> {
        let end_processed = ended.is_some();
        if self.jobs.contains_key(&job_id) {
            return Err(MasterError::JobExists(job_id));
        }
        if let Err(e) = PeerId::from_hostname(hostname).hostname() {
            return Err(MasterError::BadWorker {
                hostname: hostname.to_owned(),
                reason: e.into(),
            });
        }
        if let JobPhase::Scheduled(payload) = &phase {
            if let Err(error) = payload.validate() {
                self.events.push_back(Event::JobFailedAtStart {
                    job_id,
                    hostname: hostname.to_owned(),
                    error,
                });
                return Ok(());
            }
        }
        self.jobs.insert(
            job_id,
            TrackedJob {
                hostname: hostname.to_owned(),
                phase,
                end_seen: end_processed,
                next_send: None,
                finish_due: None,
            },
        );
        if let Some(ago) = ended {
            if self.jobs.get(&job_id).map(|j| &j.phase) != Some(&JobPhase::Finished) {
                let left = self.config.finish_grace.saturating_sub(ago);
                self.await_finish_for(job_id, now, left);
            }
        }
        self.by_worker
            .entry(hostname.to_owned())
            .or_default()
            .insert(job_id);
        self.queue_send(job_id, now);
        self.send_due(now);
        Ok(())
    }

    /// A user canceled the job: CANCEL goes out at once (worker online) and every 20 s.
    ///
    /// Canceling a Finished job does nothing.
    pub fn cancel_job(&mut self, job_id: JobId, now: Instant) -> Result<(), MasterError> {
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or(MasterError::UnknownJob(job_id))?;
        if job.phase != JobPhase::Finished && job.phase != JobPhase::Canceling {
            job.phase = JobPhase::Canceling;
            self.queue_send(job_id, now);
            self.send_due(now);
        }
        Ok(())
    }

    /// The log sink finished the job (the `lava`/`job` result): no more START or CANCEL. The
    /// job stays tracked until its END was processed, so that END is still recorded once.
    pub fn finish_job(&mut self, job_id: JobId) -> Result<(), MasterError> {
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or(MasterError::UnknownJob(job_id))?;
        job.phase = JobPhase::Finished;
        if job.end_seen {
            self.untrack(job_id);
        } else {
            self.unqueue_send(job_id);
        }
        Ok(())
    }

    /// Stops tracking a job (e.g. deleted by an admin). A later END for it is still acked.
    pub fn remove_job(&mut self, job_id: JobId) -> Result<(), MasterError> {
        if self.jobs.contains_key(&job_id) {
            self.untrack(job_id);
            Ok(())
        } else {
            Err(MasterError::UnknownJob(job_id))
        }
    }

    /// The protocol phase of a tracked job.
    pub fn job_phase(&self, job_id: JobId) -> Option<&JobPhase> {
        self.jobs.get(&job_id).map(|j| &j.phase)
    }

    /// The worker a tracked job runs on (`None` for a job the machine does not track).
    pub fn job_worker(&self, job_id: JobId) -> Option<&str> {
        self.jobs.get(&job_id).map(|j| j.hostname.as_str())
    }

    /// Whether `hostname` is online (a valid message within the worker timeout).
    pub fn is_online(&self, hostname: &str) -> bool {
        self.sessions.get(hostname).is_some_and(|s| s.online)
    }

    /// Whether `lava-logs` is online (LAVA only schedules while it is).
    pub fn lava_logs_online(&self) -> bool {
        self.is_online(LAVA_LOGS)
    }

    /// Frames from `peer` that the codec refused: reported, never answered (an END that cannot
    /// be decoded gets no END_OK, as in LAVA; the slave re-sends it).
    pub fn handle_malformed(&mut self, peer: &PeerId, error: FrameError, _now: Instant) {
        match peer.hostname().map_err(PeerRejection::from) {
            Ok(hostname) => self.events.push_back(Event::ProtocolError {
                hostname: hostname.to_owned(),
                error: ProtocolError::Malformed(error),
            }),
            Err(reason) => self.events.push_back(Event::PeerRejected {
                peer: peer.clone(),
                reason,
            }),
        }
    }

    /// A decoded message from `peer`.
    pub fn handle_message(&mut self, peer: &PeerId, message: Message, now: Instant) {
        let hostname = match peer.hostname().map_err(PeerRejection::from) {
            Ok(h) => h.to_owned(),
            Err(reason) => {
                self.events.push_back(Event::PeerRejected {
                    peer: peer.clone(),
                    reason,
                });
                return;
            }
        };
        if hostname == LAVA_LOGS {
            if message == Message::Ping {
                self.transmits.push_back((peer.clone(), self.pong()));
                self.mark_alive(&hostname, now);
            } else {
                self.events.push_back(Event::PeerRejected {
                    peer: peer.clone(),
                    reason: PeerRejection::LavaLogsAction {
                        action: action_name(&message),
                    },
                });
            }
            return;
        }
        if let Err(e) = crate::model::check_worker_name(&hostname) {
            self.events.push_back(Event::PeerRejected {
                peer: peer.clone(),
                reason: PeerRejection::WorkerName(e),
            });
            return;
        }
        match message {
            Message::Hello {
                protocol_version,
                lava_version,
            } => self.on_hello(peer, hostname, protocol_version, lava_version, false, now),
            Message::HelloRetry {
                protocol_version,
                lava_version,
            } => self.on_hello(peer, hostname, protocol_version, lava_version, true, now),
            Message::Ping => {
                self.transmits.push_back((peer.clone(), self.pong()));
                self.check_ping_gap(&hostname, now);
                self.mark_alive(&hostname, now);
            }
            Message::StartOk { job_id } => self.on_start_ok(hostname, job_id, now),
            Message::End {
                job_id,
                errors,
                description,
            } => self.on_end(peer, hostname, job_id, errors, description, now),
            other => self.events.push_back(Event::ProtocolError {
                hostname,
                error: ProtocolError::UnexpectedAction {
                    action: action_name(&other),
                },
            }),
        }
    }

    /// The deadline of [`Master::poll_timeout`] has passed: offline checks and re-sends.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, hostname)) = self.offline_at.first().cloned() {
            if at > now {
                break;
            }
            self.offline_at.remove(&(at, hostname.clone()));
            if let Some(session) = self.sessions.get_mut(&hostname) {
                session.online = false;
                session.last_ping = None;
                session.duplicate_reported = false;
            }
            for job_id in self.jobs_of(&hostname) {
                self.unqueue_send(job_id);
            }
            self.events.push_back(if hostname == LAVA_LOGS {
                Event::LavaLogsOffline
            } else {
                Event::WorkerOffline { hostname }
            });
        }
        while let Some(&(at, job_id)) = self.finish_queue.first() {
            if at > now {
                break;
            }
            if let Some(job) = self.jobs.get(&job_id) {
                self.events.push_back(Event::FinishOverdue {
                    job_id,
                    hostname: job.hostname.clone(),
                    was_canceling: job.phase == JobPhase::Canceling,
                });
            }
            self.untrack(job_id);
        }
        self.send_due(now);
    }

    /// The next message to send, with its destination.
    pub fn poll_transmit(&mut self) -> Option<(PeerId, Message)> {
        self.transmits.pop_front()
    }

    /// The next event to persist or show. Drain these before [`Master::poll_transmit`].
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Master::handle_timeout`] must be called next, if anything is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let offline = self.offline_at.first().map(|(at, _)| *at);
        let send = self.send_queue.first().map(|(at, _)| *at);
        let finish = self.finish_queue.first().map(|(at, _)| *at);
        [offline, send, finish].into_iter().flatten().min()
    }

    fn pong(&self) -> Message {
        Message::Pong {
            interval: i64::try_from(self.config.ping_interval.as_secs()).unwrap_or(i64::MAX),
        }
    }

    fn on_hello(
        &mut self,
        peer: &PeerId,
        hostname: String,
        protocol_version: i64,
        lava_version: Option<String>,
        retry: bool,
        now: Instant,
    ) {
        if protocol_version != PROTOCOL_VERSION {
            self.events.push_back(Event::VersionMismatch {
                hostname,
                protocol_version,
            });
            return;
        }
        self.transmits.push_back((peer.clone(), Message::HelloOk));
        let known = self.sessions.get(&hostname);
        let restarted = known.is_some() && !retry;
        if !retry && known.is_some_and(|s| s.online) {
            let running_jobs = self.running_jobs_of(&hostname);
            if !running_jobs.is_empty() {
                self.events.push_back(Event::DuplicateIdentitySuspected {
                    hostname: hostname.clone(),
                    hint: DuplicateHint::HelloWhileOnline { running_jobs },
                });
            }
        }
        self.events.push_back(Event::WorkerHello {
            hostname: hostname.clone(),
            lava_version,
            restarted,
        });
        self.mark_alive(&hostname, now);
    }

    fn on_start_ok(&mut self, hostname: String, job_id: JobId, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            // LAVA does not mark the host alive for an unknown job either.
            self.events.push_back(Event::ProtocolError {
                hostname,
                error: ProtocolError::StartOkForUnknownJob { job_id },
            });
            return;
        };
        if job.hostname != hostname {
            let owner = job.hostname.clone();
            self.events.push_back(Event::ProtocolError {
                hostname,
                error: ProtocolError::WrongWorker {
                    action: "START_OK",
                    job_id,
                    owner,
                },
            });
            return;
        }
        // After an END the job's fate is decided (END, log sink): a late START_OK changes nothing.
        if matches!(job.phase, JobPhase::Scheduled(_)) && !job.end_seen {
            job.phase = JobPhase::Running;
            self.unqueue_send(job_id);
            self.events.push_back(Event::JobStarted {
                job_id,
                hostname: hostname.clone(),
            });
        }
        self.mark_alive(&hostname, now);
    }

    fn on_end(
        &mut self,
        peer: &PeerId,
        hostname: String,
        job_id: JobId,
        errors: String,
        description: Vec<u8>,
        now: Instant,
    ) {
        match self.jobs.get_mut(&job_id) {
            None => self.events.push_back(Event::EndForUnknownJob {
                job_id,
                hostname: hostname.clone(),
            }),
            Some(job) if job.hostname != hostname => {
                // Acked all the same: the sender will otherwise re-send it forever, and the
                // job's own worker still owes its END.
                let owner = job.hostname.clone();
                self.events.push_back(Event::ProtocolError {
                    hostname: hostname.clone(),
                    error: ProtocolError::WrongWorker {
                        action: "END",
                        job_id,
                        owner,
                    },
                });
            }
            Some(job) if job.end_seen => {}
            Some(job) => {
                job.end_seen = true;
                let crashed = description.is_empty();
                let was_canceling = job.phase == JobPhase::Canceling;
                if crashed || job.phase == JobPhase::Finished {
                    self.untrack(job_id);
                } else {
                    self.unqueue_send(job_id);
                    self.await_finish(job_id, now);
                }
                self.events.push_back(Event::JobEnded {
                    job_id,
                    hostname: hostname.clone(),
                    errors,
                    description,
                    crashed,
                    was_canceling,
                });
            }
        }
        self.transmits
            .push_back((peer.clone(), Message::EndOk { job_id }));
        self.mark_alive(&hostname, now);
    }

    /// PINGs from one slave are at least 5 s apart unless queued during an outage (then they
    /// come in one burst): a gap of 1 to 4 s means two slaves share the identity.
    fn check_ping_gap(&mut self, hostname: &str, now: Instant) {
        let Some(session) = self.sessions.get_mut(hostname) else {
            return;
        };
        if let Some(previous) = session.last_ping {
            let gap = now.saturating_duration_since(previous);
            if gap >= Duration::from_secs(1)
                && gap < Duration::from_secs(4)
                && !session.duplicate_reported
            {
                session.duplicate_reported = true;
                self.events.push_back(Event::DuplicateIdentitySuspected {
                    hostname: hostname.to_owned(),
                    hint: DuplicateHint::PingsTooClose { gap },
                });
            }
        }
        session.last_ping = Some(now);
    }

    /// LAVA's "alive" bookkeeping: online, last message now, and STATUS for the jobs believed
    /// Running the first time this process hears from the host.
    fn mark_alive(&mut self, hostname: &str, now: Instant) {
        let first_time = !self.sessions.contains_key(hostname);
        let session = self
            .sessions
            .entry(hostname.to_owned())
            .or_insert_with(|| Session {
                last_msg: now,
                online: false,
                last_ping: None,
                duplicate_reported: false,
            });
        let came_online = !session.online;
        if session.online {
            let old = session.last_msg + self.config.worker_timeout;
            self.offline_at.remove(&(old, hostname.to_owned()));
        }
        session.last_msg = now;
        session.online = true;
        self.offline_at
            .insert((now + self.config.worker_timeout, hostname.to_owned()));
        if first_time && hostname != LAVA_LOGS {
            let peer = PeerId::from_hostname(hostname);
            for job_id in self.running_jobs_of(hostname) {
                self.transmits
                    .push_back((peer.clone(), Message::Status { job_id }));
            }
        }
        if came_online {
            self.events.push_back(if hostname == LAVA_LOGS {
                Event::LavaLogsOnline
            } else {
                Event::WorkerOnline {
                    hostname: hostname.to_owned(),
                }
            });
            // Pending STARTs and CANCELs go out now rather than at the next 20 s tick.
            for job_id in self.jobs_of(hostname) {
                self.queue_send(job_id, now);
            }
            self.send_due(now);
        }
    }

    fn jobs_of(&self, hostname: &str) -> Vec<JobId> {
        self.by_worker
            .get(hostname)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    fn running_jobs_of(&self, hostname: &str) -> Vec<JobId> {
        self.jobs_of(hostname)
            .into_iter()
            .filter(|id| {
                self.jobs
                    .get(id)
                    .is_some_and(|j| j.phase == JobPhase::Running)
            })
            .collect()
    }

    /// Puts the job in the send queue at `at` if it wants sending and its worker is online,
    /// else takes it out.
    fn queue_send(&mut self, job_id: JobId, at: Instant) {
        self.unqueue_send(job_id);
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let online = self.sessions.get(&job.hostname).is_some_and(|s| s.online);
        if online && job.wants_sending() {
            job.next_send = Some(at);
            self.send_queue.insert((at, job_id));
        }
    }

    fn unqueue_send(&mut self, job_id: JobId) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            if let Some(at) = job.next_send.take() {
                self.send_queue.remove(&(at, job_id));
            }
        }
    }

    /// Gives the log sink [`MasterConfig::finish_grace`] to finish the job.
    fn await_finish(&mut self, job_id: JobId, now: Instant) {
        self.await_finish_for(job_id, now, self.config.finish_grace);
    }

    /// The log sink has `grace` from `now` to finish the job.
    fn await_finish_for(&mut self, job_id: JobId, now: Instant, grace: Duration) {
        let due = now + grace;
        if let Some(job) = self.jobs.get_mut(&job_id) {
            if let Some(old) = job.finish_due.replace(due) {
                self.finish_queue.remove(&(old, job_id));
            }
            self.finish_queue.insert((due, job_id));
        }
    }

    fn untrack(&mut self, job_id: JobId) {
        self.unqueue_send(job_id);
        if let Some(due) = self.jobs.get_mut(&job_id).and_then(|j| j.finish_due.take()) {
            self.finish_queue.remove(&(due, job_id));
        }
        if let Some(job) = self.jobs.remove(&job_id) {
            if let Some(ids) = self.by_worker.get_mut(&job.hostname) {
                ids.remove(&job_id);
                if ids.is_empty() {
                    self.by_worker.remove(&job.hostname);
                }
            }
        }
    }

    /// Sends START or CANCEL for every queued job that is due, and queues its re-send.
    fn send_due(&mut self, now: Instant) {
        while let Some(&(at, job_id)) = self.send_queue.first() {
            if at > now {
                break;
            }
            self.send_queue.remove(&(at, job_id));
            let Some(job) = self.jobs.get_mut(&job_id) else {
                continue;
            };
            job.next_send = None;
            let message = match &job.phase {
                JobPhase::Scheduled(payload) => payload.to_message(job_id),
                JobPhase::Canceling => Message::Cancel { job_id },
                JobPhase::Running | JobPhase::Finished => continue,
            };
            self.transmits
                .push_back((PeerId::from_hostname(&job.hostname), message));
            self.queue_send(job_id, now + self.config.resend_interval);
        }
    }
}

/// The identity as a hostname, or why it cannot be one.
/// The wire name of a message's action.
pub fn action_name(message: &Message) -> &'static str {
    match message {
        Message::Hello { .. } => "HELLO",
        Message::HelloRetry { .. } => "HELLO_RETRY",
        Message::HelloOk => "HELLO_OK",
        Message::Ping => "PING",
        Message::Pong { .. } => "PONG",
        Message::Start { .. } => "START",
        Message::StartOk { .. } => "START_OK",
        Message::Cancel { .. } => "CANCEL",
        Message::Status { .. } => "STATUS",
        Message::End { .. } => "END",
        Message::EndOk { .. } => "END_OK",
    }
}
