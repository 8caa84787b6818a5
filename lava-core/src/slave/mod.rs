//! The slave state machine: HELLO/HELLO_RETRY, PING, the job table, END re-sends and cancel
//! escalation (protocol.md §3.4, §4.3, §4.5, §5.2).
//!
//! [`Slave`] is sans-IO. The driver owns the socket, the SQLite job table, the processes and
//! the clock, and loops:
//!
//! 1. feed what happened: [`Slave::handle_message`], [`Slave::handle_malformed`],
//!    [`Slave::handle_timeout`] (at [`Slave::poll_timeout`]), and the answers to the machine's
//!    requests: [`Slave::spawned`], [`Slave::process_alive`], [`Slave::process_exited`];
//! 2. drain [`Slave::poll_event`] and carry out every event **in order** (write or delete a
//!    row, spawn lava-run, signal, remove a directory, read a job's result);
//! 3. only then drain [`Slave::poll_transmit`] and send to `master`.
//!
//! # Crash safety
//!
//! The job table is the slave's only memory, and each step is ordered so that a crash
//! between any two of them loses nothing:
//! * the row is written (RUNNING, pid 0) **before** lava-run is spawned, and updated with the
//!   pid after; a restarted slave that finds pid 0 asks the driver to look for the job's
//!   process by job id ([`Event::CheckProcess`] with `pid: None`), so a job is never started
//!   twice, even if the crash came between spawn and pid update;
//! * START_OK leaves after the row is stored, END after FINISHED is stored;
//! * the row is deleted (and the work dir removed) only on END_OK;
//! * [`Slave::restore`] rebuilds the machine from the rows alone: RUNNING and CANCELING rows
//!   are re-checked at once, FINISHED rows get their result read again
//!   ([`Event::CollectResult`]) and END re-sent.
//!
//! # Where this slave deliberately differs from LAVA 2020.05
//!
//! * CANCEL for a FINISHED job re-sends END (LAVA: no answer) — the master wants that END.
//! * A canceled job whose lava-run exited becomes FINISHED (LAVA leaves it CANCELING, so a
//!   STATUS after a master restart answers START_OK for a job that is over; §9 #15).
//! * END goes out as soon as the driver reports the exit (LAVA: at the next 5 s check).
//! * An env that is not a mapping of the expected shape, a dispatcher configuration that is
//!   not a mapping, or a `prefix` with `/` or NUL fails the job with END (errors naming the
//!   file, empty description) instead of killing the slave (§9 #31) or escaping the work dir.
//! * A spawn failure is reported in END's errors (LAVA 2020.05 crashes on it, §9 #32).
//! * END_OK for a job that is not FINISHED is ignored (LAVA deletes the row of a running job).
//!   END_OK for an unknown job removes nothing: with no row there is no prefix to trust.
//! * A START for a job that this process already ran and saw END_OK for (the last
//!   [`ACKNOWLEDGED_MEMORY`] ids) is not run again: it is answered like a STATUS for an
//!   unknown job (`END id "" ""`). Over one ZeroMQ connection a START sent before the END
//!   was processed always arrives before END_OK, so this only matters when messages are
//!   reordered (the simulation does) — the master's side of trap §9 #14 is the real guard.
//! * The cancel escalation, END re-sends and liveness checks are those of LAVA (TERM, TERM
//!   after 60 s, KILL after 120 s, each repeated at every 5 s check).
//!
//! What stays as in LAVA: messages before HELLO_OK are dropped (and trigger a HELLO_RETRY);
//! HELLO is never sent again after HELLO_OK; PONG values under 5 are ignored; END_OK,
//! HELLO_OK (after bootstrap), invalid PONGs and unknown actions do not mark the master alive.

mod env;
pub mod lava_run;
mod table;

pub use env::{EnvError, JobEnvironment};
pub use table::{JobRow, JobStatus, UnknownStatus};

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::master::{dispatcher_prefix, yaml_kind, StartPayload, YamlKind};
use crate::model::JobId;
use crate::protocol::{FrameError, Message, PeerId, PROTOCOL_VERSION};

/// How many END_OK'd job ids the slave remembers, to refuse a late START for them.
pub const ACKNOWLEDGED_MEMORY: usize = 1024;

/// The slave's timers (LAVA's values by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveConfig {
    /// The LAVA version announced in HELLO (`None` sends 3-frame HELLOs, like 2018.x).
    pub lava_version: Option<String>,
    /// Period of HELLO_RETRY until HELLO_OK (LAVA: 5 s).
    pub hello_retry_interval: Duration,
    /// Ping interval until the first valid PONG, and the smallest PONG value accepted (5 s).
    pub min_ping_interval: Duration,
    /// Period of job checks and END re-sends (LAVA: 5 s).
    pub job_check_interval: Duration,
    /// Time after CANCEL from which TERM is sent again at every check (LAVA: 60 s).
    pub cancel_term_again: Duration,
    /// Time after CANCEL from which KILL is sent at every check (LAVA: 120 s).
    pub cancel_kill: Duration,
}

impl Default for SlaveConfig {
    fn default() -> Self {
        SlaveConfig {
            lava_version: None,
            hello_retry_interval: Duration::from_secs(5),
            min_ping_interval: Duration::from_secs(5),
            job_check_interval: Duration::from_secs(5),
            cancel_term_again: Duration::from_secs(60),
            cancel_kill: Duration::from_secs(120),
        }
    }
}

/// A signal for a job's lava-run (its process group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: lava-run cancels the job.
    Term,
    /// SIGKILL: lava-run ignored TERM for too long.
    Kill,
}

/// What lava-run left behind: the END payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The job's stderr file, as text (`""` if unreadable; lossy if not UTF-8, §9 #33).
    pub errors: String,
    /// `description.yaml`, xz-compressed; `None` when the file is missing (crash, never ran).
    pub description: Option<Vec<u8>>,
}

/// What the driver must do, in order, before sending anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Insert or replace the job's row (stamping `last_update` with the wall clock).
    SaveJob(JobRow),
    /// Delete the job's row.
    DeleteJob {
        /// The job.
        job_id: JobId,
    },
    /// Write the files under `<slave-dir>/tmp/<prefix><id>` and start lava-run in its own
    /// process group; answer with [`Slave::spawned`].
    Spawn {
        /// The job.
        job_id: JobId,
        /// The dispatcher configuration's `prefix`.
        prefix: String,
        /// The texts to write verbatim (`job.yaml`, `device.yaml`, `dispatcher.yaml`,
        /// `env.dut.yaml` when not empty).
        files: StartPayload,
        /// lava-run's environment, from the env text (apply it to the slave's own).
        environment: JobEnvironment,
    },
    /// Is the job's lava-run still alive? With `pid: None` (a restart found a row written
    /// just before a spawn) look for a lava-run of this job id. Answer with
    /// [`Slave::process_alive`] or [`Slave::process_exited`].
    CheckProcess {
        /// The job.
        job_id: JobId,
        /// lava-run's pid, when known.
        pid: Option<u32>,
    },
    /// Read the job's stderr and `description.yaml` (after a restart, the machine has no
    /// result in memory); answer with [`Slave::process_exited`].
    CollectResult {
        /// The job.
        job_id: JobId,
        /// The dispatcher prefix of its directory.
        prefix: String,
    },
    /// Signal the job's lava-run (the driver checks the pid is still that lava-run first).
    Signal {
        /// The job.
        job_id: JobId,
        /// lava-run's pid.
        pid: u32,
        /// Which signal.
        signal: Signal,
    },
    /// Remove the job's directories (`<prefix><id>` under the slave and download tmp dirs).
    RemoveWorkDir {
        /// The job.
        job_id: JobId,
        /// The dispatcher prefix.
        prefix: String,
    },
    /// A START could not be run (the reason also goes to the master in END's errors).
    JobRejected {
        /// The job.
        job_id: JobId,
        /// Why.
        reason: String,
    },
    /// HELLO_OK received: the slave is registered.
    Connected,
    /// Nothing heard from the master for 4 ping intervals (informational, as in LAVA).
    MasterOffline,
    /// The master was heard from again after [`Event::MasterOffline`].
    MasterOnline,
    /// A message was dropped.
    ProtocolError {
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
enum Link {
    /// Waiting for HELLO_OK.
    Bootstrap { next_retry: Instant },
    /// Registered.
    Connected {
        last_msg: Instant,
        last_ping: Instant,
        interval: Duration,
        offline: bool,
    },
}

#[derive(Debug)]
struct SlaveJob {
    row: JobRow,
    /// Spawn requested, no answer yet.
    spawning: bool,
    /// When CANCEL was received (escalation clock).
    canceled_at: Option<Instant>,
    /// The END payload, once known.
    result: Option<JobResult>,
    /// When END is due (FINISHED jobs with a result).
    next_end: Instant,
}

/// The slave side of the protocol. See the module docs for the driver loop.
#[derive(Debug)]
pub struct Slave {
    config: SlaveConfig,
    link: Link,
    jobs: BTreeMap<JobId, SlaveJob>,
    /// Jobs acknowledged by END_OK in this process, oldest first (bounded).
    acknowledged: VecDeque<JobId>,
    next_check: Instant,
    transmits: VecDeque<Message>,
    events: VecDeque<Event>,
}

impl Slave {
    /// A slave with an empty job table; HELLO is queued at once.
    pub fn new(config: SlaveConfig, now: Instant) -> Self {
        Self::restore(config, Vec::new(), now)
    }

    /// A slave rebuilt from its persisted rows, each with its age (now − `last_update`).
    ///
    /// RUNNING and CANCELING rows are re-checked at once; FINISHED rows have their result
    /// collected again and END re-sent once connected. HELLO is queued.
    pub fn restore(
        config: SlaveConfig,
        rows: impl IntoIterator<Item = (JobRow, Duration)>,
        now: Instant,
    ) -> Self {
        let jobs = rows
            .into_iter()
            .map(|(row, age)| {
                let canceled_at = (row.status == JobStatus::Canceling)
                    .then(|| now.checked_sub(age).unwrap_or(now));
                let job = SlaveJob {
                    row,
                    spawning: false,
                    canceled_at,
                    result: None,
                    next_end: now,
                };
                (job.row.id, job)
            })
            .collect();
        let hello = Message::Hello {
            protocol_version: PROTOCOL_VERSION,
            lava_version: config.lava_version.clone(),
        };
        Slave {
            link: Link::Bootstrap {
                next_retry: now + config.hello_retry_interval,
            },
            config,
            jobs,
            acknowledged: VecDeque::new(),
            next_check: now,
            transmits: VecDeque::from([hello]),
            events: VecDeque::new(),
        }
    }

    /// Whether HELLO_OK was received.
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Connected { .. })
    }

    /// The current ping interval (the last valid PONG value, 5 s before).
    pub fn ping_interval(&self) -> Duration {
        match self.link {
            Link::Connected { interval, .. } => interval,
            Link::Bootstrap { .. } => self.config.min_ping_interval,
        }
    }

    /// The job table as the machine sees it (what the driver should have persisted).
    pub fn rows(&self) -> impl Iterator<Item = &JobRow> {
        self.jobs.values().map(|j| &j.row)
    }

    /// Frames from the master that the codec refused: dropped (LAVA: "Invalid message").
    /// During bootstrap it is answered by a HELLO_RETRY, as any message but HELLO_OK is.
    pub fn handle_malformed(&mut self, error: FrameError, now: Instant) {
        self.events.push_back(Event::ProtocolError {
            reason: format!("invalid message from the master: {error}"),
        });
        if let Link::Bootstrap { next_retry } = &mut self.link {
            *next_retry = now + self.config.hello_retry_interval;
            let retry = self.hello_retry();
            self.transmits.push_back(retry);
        }
    }

    /// A decoded message; `from` is its routing frame, which must be `master`.
    pub fn handle_message(&mut self, from: &PeerId, message: Message, now: Instant) {
        if *from != PeerId::master() {
            self.events.push_back(Event::ProtocolError {
                reason: format!(
                    "message from {:?} dropped: only \"master\" is listened to",
                    from.to_string()
                ),
            });
            return;
        }
        if let Link::Bootstrap { next_retry } = &mut self.link {
            if message == Message::HelloOk {
                self.link = Link::Connected {
                    last_msg: now,
                    last_ping: now,
                    interval: self.config.min_ping_interval,
                    offline: false,
                };
                self.events.push_back(Event::Connected);
                for job in self.jobs.values_mut() {
                    job.next_end = now;
                }
                self.send_due_ends(now);
            } else {
                // As LAVA: anything else before HELLO_OK is discarded and answered by a retry.
                *next_retry = now + self.config.hello_retry_interval;
                self.transmits.push_back(self.hello_retry());
                self.events.push_back(Event::ProtocolError {
                    reason: format!(
                        "{} before HELLO_OK dropped",
                        crate::master::action_name(&message)
                    ),
                });
            }
            return;
        }
        match message {
            Message::HelloOk => {}
            Message::Pong { interval } => self.on_pong(interval, now),
            Message::Start {
                job_id,
                job,
                device,
                dispatcher,
                env,
                env_dut,
            } => {
                let files = StartPayload {
                    job,
                    device,
                    dispatcher,
                    env,
                    env_dut,
                };
                self.on_start(job_id, files, now);
                self.master_alive(now);
            }
            Message::Cancel { job_id } => {
                self.on_cancel(job_id, now);
                self.master_alive(now);
            }
            Message::Status { job_id } => {
                self.on_status(job_id, now);
                self.master_alive(now);
            }
            Message::EndOk { job_id } => self.on_end_ok(job_id),
            other => self.events.push_back(Event::ProtocolError {
                reason: format!(
                    "unexpected action {} from the master",
                    crate::master::action_name(&other)
                ),
            }),
        }
    }

    /// The deadline of [`Slave::poll_timeout`] has passed: HELLO_RETRY, PING, job checks,
    /// cancel escalation and END re-sends.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.link {
            Link::Bootstrap { next_retry } => {
                if now >= *next_retry {
                    *next_retry = now + self.config.hello_retry_interval;
                    let retry = self.hello_retry();
                    self.transmits.push_back(retry);
                }
            }
            Link::Connected {
                last_msg,
                last_ping,
                interval,
                offline,
            } => {
                if now >= (*last_msg).max(*last_ping) + *interval {
                    *last_ping = now;
                    self.transmits.push_back(Message::Ping);
                }
                if !*offline && now.saturating_duration_since(*last_msg) > *interval * 4 {
                    *offline = true;
                    self.events.push_back(Event::MasterOffline);
                }
            }
        }
        if now >= self.next_check {
            self.next_check = now + self.config.job_check_interval;
            self.check_jobs(now);
        }
        self.send_due_ends(now);
    }

    /// The next message for the master.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmits.pop_front()
    }

    /// The next thing for the driver to do. Drain these before [`Slave::poll_transmit`].
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Slave::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Bootstrap { next_retry } => next_retry,
            Link::Connected {
                last_msg,
                last_ping,
                interval,
                ..
            } => last_msg.max(last_ping) + interval,
        };
        let check = (!self.jobs.is_empty()).then_some(self.next_check);
        // END re-sends keep their own 5 s rhythm rather than waiting for a job check.
        let end = self
            .jobs
            .values()
            .filter(|j| self.is_connected() && j.row.status == JobStatus::Finished)
            .filter(|j| j.result.is_some())
            .map(|j| j.next_end)
            .min();
        [Some(link), check, end].into_iter().flatten().min()
    }

    /// The driver's answer to [`Event::Spawn`]: lava-run's pid, or why it could not start.
    pub fn spawned(&mut self, job_id: JobId, outcome: Result<u32, String>, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if !job.spawning {
            return;
        }
        job.spawning = false;
        match outcome {
            Ok(pid) => {
                job.row.pid = pid;
                self.events.push_back(Event::SaveJob(job.row.clone()));
                if job.row.status == JobStatus::Canceling {
                    // CANCEL arrived while lava-run was being started.
                    self.events.push_back(Event::Signal {
                        job_id,
                        pid,
                        signal: Signal::Term,
                    });
                }
            }
            Err(reason) => {
                let result = JobResult {
                    errors: format!("lava-run could not be started: {reason}\n"),
                    description: None,
                };
                self.finish(job_id, Some(result), now);
            }
        }
    }

    /// The driver's answer to [`Event::CheckProcess`]: the job's lava-run is alive (with its
    /// pid, when the check had to look it up by job id).
    pub fn process_alive(&mut self, job_id: JobId, pid: u32) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        if job.row.status != JobStatus::Finished && job.row.pid != pid {
            let first_sight = job.row.pid == 0;
            job.row.pid = pid;
            self.events.push_back(Event::SaveJob(job.row.clone()));
            if first_sight && job.row.status == JobStatus::Canceling {
                // CANCEL came while the pid was unknown (restored pid-0 row): TERM it now.
                self.events.push_back(Event::Signal {
                    job_id,
                    pid,
                    signal: Signal::Term,
                });
            }
        }
    }

    /// lava-run of the job has exited (or was never found), with what it left behind. Also
    /// the answer to [`Event::CollectResult`]. The first END goes out at once.
    pub fn process_exited(&mut self, job_id: JobId, result: JobResult, now: Instant) {
        self.finish(job_id, Some(result), now);
    }

    fn finish(&mut self, job_id: JobId, result: Option<JobResult>, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        job.spawning = false;
        if job.result.is_none() {
            job.result = result;
        }
        if job.row.status != JobStatus::Finished {
            job.row.status = JobStatus::Finished;
            job.canceled_at = None;
            self.events.push_back(Event::SaveJob(job.row.clone()));
        }
        job.next_end = now;
        self.send_due_ends(now);
    }

    fn hello_retry(&self) -> Message {
        Message::HelloRetry {
            protocol_version: PROTOCOL_VERSION,
            lava_version: self.config.lava_version.clone(),
        }
    }

    fn master_alive(&mut self, now: Instant) {
        if let Link::Connected {
            last_msg, offline, ..
        } = &mut self.link
        {
            *last_msg = now;
            if *offline {
                *offline = false;
                self.events.push_back(Event::MasterOnline);
            }
        }
    }

    fn on_pong(&mut self, interval: i64, now: Instant) {
        let min = self.config.min_ping_interval;
        let accepted = u64::try_from(interval)
            .ok()
            .map(Duration::from_secs)
            .filter(|d| *d >= min);
        let Some(interval) = accepted else {
            self.events.push_back(Event::ProtocolError {
                reason: format!(
                    "invalid ping interval ({interval}) too small, keeping {}s",
                    self.ping_interval().as_secs()
                ),
            });
            return;
        };
        if let Link::Connected { interval: mine, .. } = &mut self.link {
            // Capped so that deadlines never overflow an Instant.
            *mine = interval.min(Duration::from_secs(86_400));
        }
        self.master_alive(now);
    }

    fn on_start(&mut self, job_id: JobId, files: StartPayload, now: Instant) {
        if let Some(job) = self.jobs.get_mut(&job_id) {
            if job.row.status == JobStatus::Finished {
                job.next_end = now;
                self.send_due_ends(now);
            } else {
                self.transmits.push_back(Message::StartOk { job_id });
            }
            return;
        }
        if self.acknowledged.contains(&job_id) {
            // A START overtaken by our END and its END_OK: this job already ran here. Answer
            // as for an unknown STATUS rather than run it a second time.
            self.events.push_back(Event::ProtocolError {
                reason: format!("START for job {job_id}, which already ended here: not run again"),
            });
            self.finished_stub(job_id, now);
            return;
        }
        let prefix = dispatcher_prefix(&files.dispatcher);
        let row = JobRow {
            id: job_id,
            pid: 0,
            status: JobStatus::Running,
            prefix: prefix.clone(),
        };
        let environment = match check_config(&files) {
            Ok(environment) => environment,
            Err(reason) => {
                self.reject(job_id, row, reason, now);
                return;
            }
        };
        self.events.push_back(Event::SaveJob(row.clone()));
        self.events.push_back(Event::Spawn {
            job_id,
            prefix,
            files,
            environment,
        });
        self.jobs.insert(
            job_id,
            SlaveJob {
                row,
                spawning: true,
                canceled_at: None,
                result: None,
                next_end: now,
            },
        );
        self.transmits.push_back(Message::StartOk { job_id });
    }

    /// A START whose env or dispatcher configuration lava-run cannot be given: FINISHED at
    /// once, START_OK, then END with the reason (LAVA 2020.05 dies instead, §9 #31).
    fn reject(&mut self, job_id: JobId, mut row: JobRow, reason: String, now: Instant) {
        row.status = JobStatus::Finished;
        self.events.push_back(Event::JobRejected {
            job_id,
            reason: reason.clone(),
        });
        self.events.push_back(Event::SaveJob(row.clone()));
        self.jobs.insert(
            job_id,
            SlaveJob {
                row,
                spawning: false,
                canceled_at: None,
                result: Some(JobResult {
                    errors: format!("{reason}\n"),
                    description: None,
                }),
                next_end: now,
            },
        );
        self.transmits.push_back(Message::StartOk { job_id });
        self.send_due_ends(now);
    }

    fn on_cancel(&mut self, job_id: JobId, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            self.finished_stub(job_id, now);
            return;
        };
        match job.row.status {
            JobStatus::Running => {
                job.row.status = JobStatus::Canceling;
                job.canceled_at = Some(now);
                self.events.push_back(Event::SaveJob(job.row.clone()));
                if job.row.pid != 0 && !job.spawning {
                    self.events.push_back(Event::Signal {
                        job_id,
                        pid: job.row.pid,
                        signal: Signal::Term,
                    });
                }
            }
            // Already signalled; the escalation timer runs.
            JobStatus::Canceling => {}
            JobStatus::Finished => {
                job.next_end = now;
                self.send_due_ends(now);
            }
        }
    }

    fn on_status(&mut self, job_id: JobId, now: Instant) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            self.finished_stub(job_id, now);
            return;
        };
        if job.row.status == JobStatus::Finished {
            job.next_end = now;
            self.send_due_ends(now);
        } else {
            self.transmits.push_back(Message::StartOk { job_id });
        }
    }

    fn on_end_ok(&mut self, job_id: JobId) {
        let finished = self
            .jobs
            .get(&job_id)
            .is_some_and(|j| j.row.status == JobStatus::Finished);
        if !finished {
            self.events.push_back(Event::ProtocolError {
                reason: format!("END_OK for job {job_id}, which has not ended here: ignored"),
            });
            return;
        }
        if let Some(job) = self.jobs.remove(&job_id) {
            if !self.acknowledged.contains(&job_id) {
                if self.acknowledged.len() >= ACKNOWLEDGED_MEMORY {
                    self.acknowledged.pop_front();
                }
                self.acknowledged.push_back(job_id);
            }
            self.events.push_back(Event::DeleteJob { job_id });
            self.events.push_back(Event::RemoveWorkDir {
                job_id,
                prefix: job.row.prefix,
            });
        }
    }

    /// CANCEL or STATUS for an unknown job: a FINISHED row so that `END id "" ""` is re-sent
    /// until END_OK (the master then finishes the job as crashed).
    fn finished_stub(&mut self, job_id: JobId, now: Instant) {
        let row = JobRow {
            id: job_id,
            pid: 0,
            status: JobStatus::Finished,
            prefix: String::new(),
        };
        self.events.push_back(Event::SaveJob(row.clone()));
        self.jobs.insert(
            job_id,
            SlaveJob {
                row,
                spawning: false,
                canceled_at: None,
                result: Some(JobResult {
                    errors: String::new(),
                    description: None,
                }),
                next_end: now,
            },
        );
        self.send_due_ends(now);
    }

    /// The 5 s job check: liveness, cancel escalation, result collection, END re-sends.
    fn check_jobs(&mut self, now: Instant) {
        for (job_id, job) in &mut self.jobs {
            let job_id = *job_id;
            match job.row.status {
                JobStatus::Running | JobStatus::Canceling if job.spawning => {}
                JobStatus::Running | JobStatus::Canceling => {
                    let pid = (job.row.pid != 0).then_some(job.row.pid);
                    self.events.push_back(Event::CheckProcess { job_id, pid });
                    if let (Some(pid), Some(since)) = (pid, job.canceled_at) {
                        let elapsed = now.saturating_duration_since(since);
                        let signal = if elapsed >= self.config.cancel_kill {
                            Some(Signal::Kill)
                        } else if elapsed >= self.config.cancel_term_again {
                            Some(Signal::Term)
                        } else {
                            None
                        };
                        if let Some(signal) = signal {
                            self.events.push_back(Event::Signal {
                                job_id,
                                pid,
                                signal,
                            });
                        }
                    }
                }
                JobStatus::Finished if job.result.is_none() => {
                    self.events.push_back(Event::CollectResult {
                        job_id,
                        prefix: job.row.prefix.clone(),
                    });
                }
                JobStatus::Finished => {}
            }
        }
        self.send_due_ends(now);
    }

    /// END for every FINISHED job with a known result whose re-send is due (connected only).
    fn send_due_ends(&mut self, now: Instant) {
        if !self.is_connected() {
            return;
        }
        let period = self.config.job_check_interval;
        for (job_id, job) in &mut self.jobs {
            if job.row.status != JobStatus::Finished || job.next_end > now {
                continue;
            }
            let Some(result) = &job.result else {
                continue;
            };
            job.next_end = now + period;
            self.transmits.push_back(Message::End {
                job_id: *job_id,
                errors: result.errors.clone(),
                description: result.description.clone().unwrap_or_default(),
            });
        }
    }
}

/// Why lava-run cannot be given this env or dispatcher configuration, if it cannot.
fn check_config(files: &StartPayload) -> Result<JobEnvironment, String> {
    match yaml_kind(&files.dispatcher) {
        Ok(YamlKind::Mapping | YamlKind::Empty) => {}
        Ok(kind) => return Err(format!("dispatcher.yaml is {kind}, a mapping is required")),
        Err(reason) => return Err(format!("dispatcher.yaml is not valid YAML: {reason}")),
    }
    let prefix = dispatcher_prefix(&files.dispatcher);
    if !lava_run::prefix_is_safe(&prefix) {
        return Err(format!(
            "dispatcher.yaml: prefix {prefix:?} cannot be part of a directory name ('/' or NUL)"
        ));
    }
    JobEnvironment::parse(&files.env).map_err(|e| e.to_string())
}
