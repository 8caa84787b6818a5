//! [`HttpMaster`]: the master's side of lava-worker's protocol, as a state machine.
//!
//! The ZeroMQ master pushes (START, CANCEL, STATUS); lava-worker pulls. Every ping is
//! answered from the machine's job table with three lists (worker-http.md §2.2), and the
//! worker's requests become the same events the ZeroMQ machine emits for START_OK and END:
//!
//! | lava-worker | machine | event |
//! |---|---|---|
//! | ping after silence | [`HttpMaster::handle_ping`] | [`Event::WorkerOnline`] (+ [`Event::WorkerVersion`]) |
//! | 60 s without a ping | [`HttpMaster::handle_timeout`] | [`Event::WorkerOffline`] |
//! | `GET jobs/<id>/` | [`HttpMaster::handle_fetch`] | the START payload, or [`Event::JobLost`] |
//! | `state=RUNNING` | [`HttpMaster::handle_running`] | [`Event::JobStarted`] (once) |
//! | `state=FINISHED` | [`HttpMaster::handle_finished`] | [`Event::JobFinished`] (once) |
//!
//! The driver persists each event before it answers the request that caused it, exactly as
//! it persists ZeroMQ events before sending (docs/state-machines.md).
//!
//! # Restarts
//!
//! * **The worker restarts** with its state directory: it knows its jobs (its sqlite table)
//!   and only re-posts RUNNING (idempotent) and, later, FINISHED. Nothing to do here but
//!   keep listing the job in `running` or `cancel`.
//! * **The master restarts**: the driver adds the active jobs back from the store
//!   ([`HttpMaster::add_job`] with their phase and token); the worker's next ping finds
//!   them listed as before, and its FINISHED finishes them once.
//! * **The worker lost its state directory**: lava-worker starts every job listed in
//!   `running` that it does not know from scratch, and the first thing it does is fetch the
//!   job. A job is fetched only while Scheduled; a fetch of a job that is already Running
//!   can only come from a worker that lost it (or from a second worker using the same
//!   token), so it is refused and reported as [`Event::JobLost`]: the job ends Incomplete
//!   instead of running twice (LAVA runs it again and drops the re-run's first log lines,
//!   worker-http.md trap 9). A job lost while Canceling is reported FINISHED by the worker
//!   itself (`cancel` entries it does not know).
//!
//! # Versions
//!
//! Every ping carries the worker's version. It is reported ([`Event::WorkerVersion`]) the
//! first time this process sees the worker and whenever it changes. By default every version
//! is accepted; with [`HttpMasterConfig::required_version`] the machine is as strict as
//! LAVA: a worker with another version goes Offline, gets no new jobs and is answered 409
//! ([`PingAnswer::VersionMismatch`]) unless it still has jobs to drain.

use crate::master::{JobPhase, MasterError, StartPayload};
use crate::model::{ErrorType, JobId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// The machine's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMasterConfig {
    /// Silence after which a worker goes Offline (LAVA: 60 s).
    pub worker_timeout: Duration,
    /// `None`: every worker version is accepted (lava-rs's default). `Some(v)`: only `v`,
    /// byte for byte, as LAVA without `ALLOW_VERSION_MISMATCH`.
    pub required_version: Option<String>,
}

impl Default for HttpMasterConfig {
    fn default() -> Self {
        HttpMasterConfig {
            worker_timeout: Duration::from_secs(60),
            required_version: None,
        }
    }
}

/// A job as a ping lists it: `{"id": 12, "token": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobRef {
    /// The job.
    pub id: JobId,
    /// Its job token: lava-worker and lava-run use it for every `jobs/<id>/` call.
    pub token: String,
}

/// The three lists of a ping's answer (`{"cancel": […], "running": […], "start": […]}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobLists {
    /// Jobs being canceled: lava-worker stops lava-run.
    pub cancel: Vec<JobRef>,
    /// Jobs Running: a worker that does not know one starts it (and is refused, see the
    /// module docs).
    pub running: Vec<JobRef>,
    /// Jobs Scheduled: lava-worker fetches and starts them.
    pub start: Vec<JobRef>,
}

/// The answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingAnswer {
    /// 200 with the lists.
    Jobs(JobLists),
    /// 409 `Version mismatch '<worker>' vs '<server>'`: the worker's version is refused and
    /// it has nothing to drain.
    VersionMismatch {
        /// What the worker sent.
        worker: String,
        /// What the master requires.
        server: String,
    },
}

/// The answer to `GET jobs/<id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAnswer {
    /// 200 with the five texts of START.
    Payload(StartPayload),
    /// Refused: the job started already (its worker lost it); see [`Event::JobLost`].
    AlreadyStarted,
    /// Refused: the job has finished (its FINISHED was received).
    Finished,
    /// The machine does not track the job: the driver answers from the store.
    NotTracked,
}

/// The answer to a RUNNING or FINISHED report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAnswer {
    /// Taken (or a repeat of one taken): 200 `{}` once the events are stored.
    Done,
    /// The machine does not track the job: the driver answers from the store.
    NotTracked,
}

/// What lava-worker's FINISHED says (worker-http.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedReport {
    /// `result=pass`.
    pub passed: bool,
    /// `error_type` (empty on a pass).
    pub error_type: ErrorType,
    /// `errors`: lava-run's stderr.
    pub errors: String,
    /// `description`: `description.yaml` as plain text, empty when lava-run wrote none.
    pub description: String,
}

/// What the driver must persist or show; drain with [`HttpMaster::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A ping after silence (or the first one): Online.
    WorkerOnline {
        /// The worker.
        hostname: String,
    },
    /// No ping for the worker timeout, or a refused version: Offline.
    WorkerOffline {
        /// The worker.
        hostname: String,
    },
    /// The worker's version, the first time this process sees it or when it changed.
    WorkerVersion {
        /// The worker.
        hostname: String,
        /// What it sent.
        version: String,
        /// The version the master requires when it refuses this one.
        refused_for: Option<String>,
    },
    /// RUNNING for a Scheduled job: it goes Running.
    JobStarted {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
    },
    /// The first FINISHED for a job: it finishes as the report says (Canceled if it was
    /// being canceled).
    JobFinished {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
        /// What the worker said.
        report: FinishedReport,
        /// The job was Canceling.
        was_canceling: bool,
    },
    /// A FINISHED after the first: answered 200 and otherwise ignored.
    DuplicateFinished {
        /// The job.
        job_id: JobId,
    },
    /// The job was fetched again after it started: its worker lost it. It ends Incomplete
    /// rather than running twice.
    JobLost {
        /// The job.
        job_id: JobId,
        /// Its worker.
        hostname: String,
        /// The job was Canceling.
        was_canceling: bool,
    },
}

#[derive(Debug)]
struct Session {
    last_ping: Instant,
    online: bool,
    version: Option<String>,
}

#[derive(Debug)]
struct TrackedJob {
    hostname: String,
    token: String,
    phase: JobPhase,
    /// FINISHED was received (the job leaves every list).
    finished: bool,
    /// [`Event::JobLost`] was emitted.
    lost: bool,
}

/// The master's side of lava-worker's protocol. See the module docs.
///
/// A ping costs O(jobs of the worker + log n); everything else O(log n).
#[derive(Debug)]
pub struct HttpMaster {
    config: HttpMasterConfig,
    sessions: BTreeMap<String, Session>,
    offline_at: BTreeSet<(Instant, String)>,
    jobs: BTreeMap<JobId, TrackedJob>,
    by_worker: BTreeMap<String, BTreeSet<JobId>>,
    events: VecDeque<Event>,
}

impl HttpMaster {
    /// A machine that has heard from nobody (a fresh process).
    pub fn new(config: HttpMasterConfig) -> Self {
        HttpMaster {
            config,
            sessions: BTreeMap::new(),
            offline_at: BTreeSet::new(),
            jobs: BTreeMap::new(),
            by_worker: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &HttpMasterConfig {
        &self.config
    }

    /// Tracks a job of `hostname` with its job token: newly scheduled, or restored from the
    /// store after a restart. The driver checks a Scheduled payload first
    /// ([`StartPayload::validate`]) and fails the job if it cannot be sent, as for ZeroMQ.
    pub fn add_job(
        &mut self,
        job_id: JobId,
        hostname: &str,
        phase: JobPhase,
        token: &str,
    ) -> Result<(), MasterError> {
        if self.jobs.contains_key(&job_id) {
            return Err(MasterError::JobExists(job_id));
        }
        let finished = phase == JobPhase::Finished;
        self.jobs.insert(
            job_id,
            TrackedJob {
                hostname: hostname.to_owned(),
                token: token.to_owned(),
                phase,
                finished,
                lost: false,
            },
        );
        self.by_worker
            .entry(hostname.to_owned())
            .or_default()
            .insert(job_id);
        Ok(())
    }

    /// A user canceled the job: it is listed in `cancel` until its FINISHED.
    pub fn cancel_job(&mut self, job_id: JobId) -> Result<(), MasterError> {
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or(MasterError::UnknownJob(job_id))?;
        if !job.finished && job.phase != JobPhase::Finished {
            job.phase = JobPhase::Canceling;
        }
        Ok(())
    }

    /// The lab finished the job: the machine forgets it. A later FINISHED is answered by
    /// the driver from the store (a duplicate).
    pub fn finish_job(&mut self, job_id: JobId) -> Result<(), MasterError> {
        let job = self
            .jobs
            .remove(&job_id)
            .ok_or(MasterError::UnknownJob(job_id))?;
        if let Some(ids) = self.by_worker.get_mut(&job.hostname) {
            ids.remove(&job_id);
            if ids.is_empty() {
                self.by_worker.remove(&job.hostname);
            }
        }
        Ok(())
    }

    /// The phase of a tracked job.
    pub fn job_phase(&self, job_id: JobId) -> Option<&JobPhase> {
        self.jobs.get(&job_id).map(|j| &j.phase)
    }

    /// Whether `hostname` pinged within the worker timeout with an accepted version.
    pub fn is_online(&self, hostname: &str) -> bool {
        self.sessions.get(hostname).is_some_and(|s| s.online)
    }

    /// Whether this process has heard `hostname` ping.
    pub fn knows_worker(&self, hostname: &str) -> bool {
        self.sessions.contains_key(hostname)
    }

    /// A ping from `hostname` with its `version` (already authenticated by its token).
    pub fn handle_ping(&mut self, hostname: &str, version: &str, now: Instant) -> PingAnswer {
        let refused_for = self
            .config
            .required_version
            .as_ref()
            .filter(|required| required.as_str() != version)
            .cloned();
        let session = self
            .sessions
            .entry(hostname.to_owned())
            .or_insert_with(|| Session {
                last_ping: now,
                online: false,
                version: None,
            });
        if session.version.as_deref() != Some(version) {
            session.version = Some(version.to_owned());
            self.events.push_back(Event::WorkerVersion {
                hostname: hostname.to_owned(),
                version: version.to_owned(),
                refused_for: refused_for.clone(),
            });
        }
        if let Some(server) = refused_for {
            // As LAVA: Offline, no last ping, no new job; running jobs may still drain.
            if session.online {
                session.online = false;
                let at = session.last_ping + self.config.worker_timeout;
                self.offline_at.remove(&(at, hostname.to_owned()));
                self.events.push_back(Event::WorkerOffline {
                    hostname: hostname.to_owned(),
                });
            }
            let mut lists = self.lists(hostname);
            lists.start.clear();
            if lists.cancel.is_empty() && lists.running.is_empty() {
                return PingAnswer::VersionMismatch {
                    worker: version.to_owned(),
                    server,
                };
            }
            return PingAnswer::Jobs(lists);
        }
        if session.online {
            let at = session.last_ping + self.config.worker_timeout;
            self.offline_at.remove(&(at, hostname.to_owned()));
        } else {
            session.online = true;
            self.events.push_back(Event::WorkerOnline {
                hostname: hostname.to_owned(),
            });
        }
        session.last_ping = now;
        self.offline_at
            .insert((now + self.config.worker_timeout, hostname.to_owned()));
        PingAnswer::Jobs(self.lists(hostname))
    }

    /// `GET jobs/<id>/` (job token already checked).
    pub fn handle_fetch(&mut self, job_id: JobId) -> FetchAnswer {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return FetchAnswer::NotTracked;
        };
        if job.finished || job.phase == JobPhase::Finished {
            return FetchAnswer::Finished;
        }
        match &job.phase {
            JobPhase::Scheduled(payload) => FetchAnswer::Payload(payload.clone()),
            _ => {
                if !job.lost {
                    job.lost = true;
                    self.events.push_back(Event::JobLost {
                        job_id,
                        hostname: job.hostname.clone(),
                        was_canceling: job.phase == JobPhase::Canceling,
                    });
                }
                FetchAnswer::AlreadyStarted
            }
        }
    }

    /// `state=RUNNING` (job token already checked). Idempotent.
    pub fn handle_running(&mut self, job_id: JobId) -> ReportAnswer {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return ReportAnswer::NotTracked;
        };
        if matches!(job.phase, JobPhase::Scheduled(_)) && !job.finished {
            job.phase = JobPhase::Running;
            self.events.push_back(Event::JobStarted {
                job_id,
                hostname: job.hostname.clone(),
            });
        }
        ReportAnswer::Done
    }

    /// `state=FINISHED` (job token already checked). The first one finishes the job; the
    /// others change nothing.
    pub fn handle_finished(&mut self, job_id: JobId, report: FinishedReport) -> ReportAnswer {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return ReportAnswer::NotTracked;
        };
        if job.finished || job.lost {
            self.events.push_back(Event::DuplicateFinished { job_id });
            return ReportAnswer::Done;
        }
        job.finished = true;
        let was_canceling = job.phase == JobPhase::Canceling;
        self.events.push_back(Event::JobFinished {
            job_id,
            hostname: job.hostname.clone(),
            report,
            was_canceling,
        });
        ReportAnswer::Done
    }

    /// Workers silent for the worker timeout go Offline (their jobs are left alone).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, hostname)) = self.offline_at.first().cloned() {
            if at > now {
                break;
            }
            self.offline_at.remove(&(at, hostname.clone()));
            if let Some(session) = self.sessions.get_mut(&hostname) {
                session.online = false;
            }
            self.events.push_back(Event::WorkerOffline { hostname });
        }
    }

    /// When [`HttpMaster::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.offline_at.first().map(|(at, _)| *at)
    }

    /// The next event to persist or show.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The lists a ping of `hostname` gets now.
    fn lists(&self, hostname: &str) -> JobLists {
        let mut lists = JobLists::default();
        for id in self.by_worker.get(hostname).into_iter().flatten() {
            let Some(job) = self.jobs.get(id) else {
                continue;
            };
            if job.finished || job.lost {
                continue;
            }
            let entry = JobRef {
                id: *id,
                token: job.token.clone(),
            };
            match job.phase {
                JobPhase::Scheduled(_) => lists.start.push(entry),
                JobPhase::Running => lists.running.push(entry),
                JobPhase::Canceling => lists.cancel.push(entry),
                JobPhase::Finished => {}
            }
        }
        lists
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> StartPayload {
        StartPayload {
            job: "job_name: t\n".into(),
            device: "actions: {}\n".into(),
            dispatcher: String::new(),
            env: String::new(),
            env_dut: String::new(),
        }
    }

    fn events(m: &mut HttpMaster) -> Vec<Event> {
        std::iter::from_fn(|| m.poll_event()).collect()
    }

    fn jobs(answer: PingAnswer) -> JobLists {
        match answer {
            PingAnswer::Jobs(lists) => lists,
            other => panic!("not lists: {other:?}"),
        }
    }

    fn report(passed: bool) -> FinishedReport {
        FinishedReport {
            passed,
            error_type: ErrorType::None,
            errors: String::new(),
            description: "x: 1\n".into(),
        }
    }

    #[test]
    fn a_job_goes_start_running_finished_once() {
        let t0 = Instant::now();
        let mut m = HttpMaster::new(HttpMasterConfig::default());
        m.add_job(7, "w1", JobPhase::Scheduled(payload()), "tok")
            .unwrap();
        let lists = jobs(m.handle_ping("w1", "2023.01", t0));
        assert_eq!(
            lists.start,
            [JobRef {
                id: 7,
                token: "tok".into()
            }]
        );
        assert!(matches!(m.handle_fetch(7), FetchAnswer::Payload(_)));
        assert_eq!(m.handle_running(7), ReportAnswer::Done);
        assert_eq!(m.handle_running(7), ReportAnswer::Done);
        let lists = jobs(m.handle_ping("w1", "2023.01", t0 + Duration::from_secs(20)));
        assert!(lists.start.is_empty());
        assert_eq!(lists.running.len(), 1);
        assert_eq!(m.handle_finished(7, report(true)), ReportAnswer::Done);
        assert_eq!(m.handle_finished(7, report(false)), ReportAnswer::Done);
        let lists = jobs(m.handle_ping("w1", "2023.01", t0 + Duration::from_secs(40)));
        assert_eq!(lists, JobLists::default());
        let seen = events(&mut m);
        assert_eq!(
            seen,
            [
                Event::WorkerVersion {
                    hostname: "w1".into(),
                    version: "2023.01".into(),
                    refused_for: None
                },
                Event::WorkerOnline {
                    hostname: "w1".into()
                },
                Event::JobStarted {
                    job_id: 7,
                    hostname: "w1".into()
                },
                Event::JobFinished {
                    job_id: 7,
                    hostname: "w1".into(),
                    report: report(true),
                    was_canceling: false
                },
                Event::DuplicateFinished { job_id: 7 },
            ]
        );
        m.finish_job(7).unwrap();
        assert_eq!(m.handle_finished(7, report(true)), ReportAnswer::NotTracked);
    }

    #[test]
    fn silence_for_the_timeout_is_offline_and_a_ping_brings_it_back() {
        let t0 = Instant::now();
        let mut m = HttpMaster::new(HttpMasterConfig::default());
        m.handle_ping("w1", "v", t0);
        m.handle_ping("w1", "v", t0 + Duration::from_secs(20));
        assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(80)));
        m.handle_timeout(t0 + Duration::from_secs(79));
        assert!(m.is_online("w1"));
        m.handle_timeout(t0 + Duration::from_secs(80));
        assert!(!m.is_online("w1"));
        assert_eq!(m.poll_timeout(), None);
        m.handle_ping("w1", "v", t0 + Duration::from_secs(100));
        let seen = events(&mut m);
        let names: Vec<&str> = seen
            .iter()
            .map(|e| match e {
                Event::WorkerOnline { .. } => "online",
                Event::WorkerOffline { .. } => "offline",
                Event::WorkerVersion { .. } => "version",
                _ => "other",
            })
            .collect();
        assert_eq!(names, ["version", "online", "offline", "online"]);
    }

    #[test]
    fn a_job_fetched_after_it_started_is_lost_not_run_twice() {
        let t0 = Instant::now();
        let mut m = HttpMaster::new(HttpMasterConfig::default());
        // Restored after a master restart: Running.
        m.add_job(3, "w1", JobPhase::Running, "tok").unwrap();
        let lists = jobs(m.handle_ping("w1", "v", t0));
        assert_eq!(lists.running.len(), 1);
        // A worker with a fresh state directory fetches it to start it again.
        assert_eq!(m.handle_fetch(3), FetchAnswer::AlreadyStarted);
        assert_eq!(m.handle_fetch(3), FetchAnswer::AlreadyStarted);
        let lost: Vec<Event> = events(&mut m)
            .into_iter()
            .filter(|e| matches!(e, Event::JobLost { .. }))
            .collect();
        assert_eq!(
            lost,
            [Event::JobLost {
                job_id: 3,
                hostname: "w1".into(),
                was_canceling: false
            }]
        );
        assert_eq!(jobs(m.handle_ping("w1", "v", t0)), JobLists::default());
    }

    #[test]
    fn cancel_is_listed_until_finished_and_finishes_canceled() {
        let t0 = Instant::now();
        let mut m = HttpMaster::new(HttpMasterConfig::default());
        m.add_job(4, "w1", JobPhase::Running, "tok").unwrap();
        m.cancel_job(4).unwrap();
        assert_eq!(jobs(m.handle_ping("w1", "v", t0)).cancel.len(), 1);
        assert_eq!(jobs(m.handle_ping("w1", "v", t0)).cancel.len(), 1);
        m.handle_finished(4, report(false));
        assert!(events(&mut m).contains(&Event::JobFinished {
            job_id: 4,
            hostname: "w1".into(),
            report: report(false),
            was_canceling: true
        }));
        assert!(jobs(m.handle_ping("w1", "v", t0)).cancel.is_empty());
        assert!(m.cancel_job(99).is_err());
    }

    #[test]
    fn a_strict_master_refuses_other_versions_but_lets_jobs_drain() {
        let t0 = Instant::now();
        let mut m = HttpMaster::new(HttpMasterConfig {
            required_version: Some("2023.01".into()),
            ..HttpMasterConfig::default()
        });
        m.handle_ping("w1", "2023.01", t0);
        assert!(m.is_online("w1"));
        m.add_job(1, "w1", JobPhase::Running, "a").unwrap();
        m.add_job(2, "w1", JobPhase::Scheduled(payload()), "b")
            .unwrap();
        let lists = jobs(m.handle_ping("w1", "2026.07", t0));
        assert!(!m.is_online("w1"));
        assert_eq!(lists.running.len(), 1);
        assert!(lists.start.is_empty(), "no new job for a refused version");
        m.finish_job(1).unwrap();
        assert_eq!(
            m.handle_ping("w1", "2026.07", t0),
            PingAnswer::VersionMismatch {
                worker: "2026.07".into(),
                server: "2023.01".into()
            }
        );
        let seen = events(&mut m);
        assert!(seen.contains(&Event::WorkerVersion {
            hostname: "w1".into(),
            version: "2026.07".into(),
            refused_for: Some("2023.01".into())
        }));
        assert!(seen.contains(&Event::WorkerOffline {
            hostname: "w1".into()
        }));
        assert_eq!(
            m.poll_timeout(),
            None,
            "no offline deadline for a refused worker"
        );
    }

    #[test]
    fn jobs_are_listed_to_their_own_worker_only() {
        let t0 = Instant::now();
        let mut m = HttpMaster::new(HttpMasterConfig::default());
        m.add_job(1, "w1", JobPhase::Scheduled(payload()), "a")
            .unwrap();
        assert!(m.add_job(1, "w2", JobPhase::Running, "b").is_err());
        assert_eq!(jobs(m.handle_ping("w2", "v", t0)), JobLists::default());
        assert_eq!(m.handle_fetch(5), FetchAnswer::NotTracked);
        assert_eq!(m.handle_running(5), ReportAnswer::NotTracked);
    }
}
