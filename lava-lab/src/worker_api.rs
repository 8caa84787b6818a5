//! The lab's rules for lava-worker (LAVA's HTTP worker API): worker and job tokens,
//! auto-registration, how each worker connects and which version it runs, and how a
//! worker's FINISHED report or a lost job ends a job.
//!
//! Tokens are LAVA's: 32 letters and digits from the lab's seeded [`Random`](crate::Random),
//! kept in clear (admins read worker tokens again, lava-worker keeps job tokens), and
//! compared in constant time ([`tokens_match`]).

use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::run::JobEnding;
use crate::workers::NewWorker;
use lava_core::model::{
    check_worker_name, ErrorType, Job, JobHealth, JobId, JobState, WorkerProtocol,
};
use lava_core::worker_http::{tokens_match, FinishedReport, Netmask};
use lava_store::{ChangeSet, WorkerAccess};
use std::fmt;
use std::net::IpAddr;

/// Why a worker API request is refused before anything is looked at (LAVA's texts: lava-worker
/// and lava-run from 2025.02 match `Unknown job '<id>'` literally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// 404: no such worker.
    UnknownWorker(String),
    /// 404: no such job.
    UnknownJob(JobId),
    /// 400: no `LAVA-Token` header.
    Missing,
    /// 400: a token that is not this worker's or this job's.
    Invalid,
}

impl TokenRefusal {
    /// The HTTP status LAVA answers.
    pub fn status(&self) -> u16 {
        match self {
            TokenRefusal::UnknownWorker(_) | TokenRefusal::UnknownJob(_) => 404,
            TokenRefusal::Missing | TokenRefusal::Invalid => 400,
        }
    }
}

impl fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenRefusal::UnknownWorker(name) => write!(f, "Unknown worker '{name}'"),
            TokenRefusal::UnknownJob(id) => write!(f, "Unknown job '{id}'"),
            TokenRefusal::Missing => f.write_str("Missing 'token'"),
            TokenRefusal::Invalid => f.write_str("Invalid 'token'"),
        }
    }
}

/// Who may register a worker by itself (`POST workers/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoRegistration {
    /// Off by default (LAVA turned it off in 2026.04).
    pub enabled: bool,
    /// The networks a worker may register from (default: loopback only).
    pub netmasks: Vec<Netmask>,
}

impl Default for AutoRegistration {
    fn default() -> Self {
        AutoRegistration {
            enabled: false,
            netmasks: Netmask::loopback(),
        }
    }
}

/// A registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration<'a> {
    /// The worker's name.
    pub name: &'a str,
    /// The client's address (the first `X-Forwarded-For` entry if any, as LAVA takes it).
    pub from: IpAddr,
    /// An admin's username and API token (LAVA: username and password), which lets an
    /// admin get the token of a worker that exists already.
    pub credentials: Option<(&'a str, &'a str)>,
}

/// Why a registration is refused (LAVA answers 403; a bad name 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationRefusal {
    /// Auto-registration is off.
    Disabled,
    /// The client is outside the allowed networks.
    OutsideNetmask(IpAddr),
    /// The name is taken (and no admin credentials were given).
    AlreadyRegistered(String),
    /// The credentials are wrong or not an admin's.
    BadCredentials,
    /// The name can never be a worker's (400).
    BadName(String),
}

impl RegistrationRefusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RegistrationRefusal::BadName(_) => 400,
            _ => 403,
        }
    }
}

impl fmt::Display for RegistrationRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationRefusal::Disabled => f.write_str(
                "Auto registration is disabled: add the worker with `lava-admin workers add`",
            ),
            RegistrationRefusal::OutsideNetmask(ip) => {
                write!(f, "Auto registration is not allowed from {ip}")
            }
            RegistrationRefusal::AlreadyRegistered(name) => {
                write!(f, "Worker '{name}' is already registered")
            }
            RegistrationRefusal::BadCredentials => f.write_str("Invalid username or password"),
            RegistrationRefusal::BadName(why) => f.write_str(why),
        }
    }
}

impl Lab {
    /// The token of worker `hostname`, made now if it has none (a worker added before
    /// tokens existed).
    pub async fn worker_token(&self, hostname: &str) -> Result<String> {
        let access = self.worker_access(hostname).await?;
        if let Some(token) = access.token {
            return Ok(token);
        }
        let token = self.random().token();
        self.store().set_worker_token(hostname, &token).await?;
        tracing::info!(worker = hostname, "worker token created");
        Ok(token)
    }

    /// How `hostname` connects (protocol, token, why it is refused).
    pub async fn worker_access(&self, hostname: &str) -> Result<WorkerAccess> {
        self.store()
            .worker_access(hostname)
            .await?
            .ok_or_else(|| LabError::NotFound(format!("worker '{hostname}'")))
    }

    /// Checks a worker's ping credentials: the worker exists and `token` is its token.
    pub async fn check_worker_token(
        &self,
        hostname: &str,
        token: Option<&str>,
    ) -> Result<std::result::Result<(), TokenRefusal>> {
        let Some(access) = self.store().worker_access(hostname).await? else {
            return Ok(Err(TokenRefusal::UnknownWorker(hostname.to_owned())));
        };
        let Some(given) = token else {
            return Ok(Err(TokenRefusal::Missing));
        };
        match access.token {
            Some(expected) if tokens_match(given, &expected) => Ok(Ok(())),
            _ => Ok(Err(TokenRefusal::Invalid)),
        }
    }

    /// Checks a `jobs/<id>/…` call's credentials: the job exists and `token` is its token.
    /// A job token never opens another job.
    pub async fn check_job_token(
        &self,
        id: JobId,
        token: Option<&str>,
    ) -> Result<std::result::Result<Job, TokenRefusal>> {
        let Some(job) = self.store().job(id).await? else {
            return Ok(Err(TokenRefusal::UnknownJob(id)));
        };
        let Some(given) = token else {
            return Ok(Err(TokenRefusal::Missing));
        };
        match self.store().job_token(id).await? {
            Some(expected) if tokens_match(given, &expected) => Ok(Ok(job)),
            _ => Ok(Err(TokenRefusal::Invalid)),
        }
    }

    /// The token of job `id`, made now if it has none (when the job is handed to an HTTP
    /// worker).
    pub async fn job_token(&self, id: JobId) -> Result<String> {
        if let Some(token) = self.store().job_token(id).await? {
            return Ok(token);
        }
        let token = self.random().token();
        self.store().set_job_token(id, &token).await?;
        Ok(token)
    }

    /// A worker registers itself (`POST workers/`): its token, or why not.
    pub async fn register_worker(
        &self,
        request: &Registration<'_>,
        policy: &AutoRegistration,
    ) -> Result<std::result::Result<String, RegistrationRefusal>> {
        if !policy.enabled {
            return Ok(Err(RegistrationRefusal::Disabled));
        }
        if !policy.netmasks.iter().any(|n| n.contains(request.from)) {
            return Ok(Err(RegistrationRefusal::OutsideNetmask(request.from)));
        }
        let admin = match request.credentials {
            None => false,
            Some((username, secret)) => match self.authenticate(username, secret).await? {
                Some(user) if user.is_admin => true,
                _ => return Ok(Err(RegistrationRefusal::BadCredentials)),
            },
        };
        if let Err(e) = check_worker_name(request.name) {
            return Ok(Err(RegistrationRefusal::BadName(e.to_string())));
        }
        if self.store().worker(request.name).await?.is_some() {
            if admin {
                return self.worker_token(request.name).await.map(Ok);
            }
            return Ok(Err(RegistrationRefusal::AlreadyRegistered(
                request.name.to_owned(),
            )));
        }
        let mut new = NewWorker::named(request.name);
        new.description = format!("Registered by lava-worker from {}", request.from);
        match self.add_worker(&new).await {
            Ok(_) => {}
            Err(LabError::AlreadyExists(_)) => {
                return Ok(Err(RegistrationRefusal::AlreadyRegistered(
                    request.name.to_owned(),
                )))
            }
            Err(e) => return Err(e),
        }
        tracing::info!(worker = request.name, from = %request.from, "worker registered itself");
        self.worker_token(request.name).await.map(Ok)
    }

    /// The master heard a worker over `protocol` with `version`; `refused_for` is the
    /// version the master requires when it refuses this one (the admin sees why).
    pub async fn worker_connected(
        &self,
        hostname: &str,
        protocol: WorkerProtocol,
        version: Option<&str>,
        refused_for: Option<&str>,
    ) -> Result<()> {
        let access = self.worker_access(hostname).await?;
        if access.protocol.is_some_and(|p| p != protocol) {
            tracing::warn!(
                worker = hostname,
                from = %access.protocol.map_or("?", |p| p.name()),
                to = %protocol,
                "the worker changed protocol"
            );
        }
        let refusal = refused_for.map(|required| {
            format!(
                "version {} refused: this master requires {required}",
                version.unwrap_or("(none)")
            )
        });
        if access.protocol != Some(protocol) || access.refusal != refusal {
            self.store()
                .set_worker_protocol(hostname, protocol, refusal.as_deref())
                .await?;
        }
        let version = version.map(str::to_owned);
        self.change_worker_as_master(hostname, |w| w.version = version.clone())
            .await
    }

    /// lava-worker's FINISHED: the description is kept beside the log and the job
    /// finishes as the report says (Canceled if it was being canceled), with the END
    /// recorded in the same write. A job that finished already is left alone (`None`).
    pub async fn job_finished_by_worker(
        &self,
        id: JobId,
        report: &FinishedReport,
    ) -> Result<Option<JobHealth>> {
        let job = self.job(id).await?;
        if job.state == JobState::Finished {
            return Ok(None);
        }
        let description = (!report.description.is_empty()).then(|| report.description.clone());
        if let Some(text) = &description {
            let dir = self.job_output_dir(&job).await?;
            let path = dir.join("description.yaml");
            crate::files::write_atomically(&path, text).map_err(|e| LabError::io(&path, e))?;
        }
        let ending = JobEnding::Result {
            passed: report.passed,
            error_type: if report.passed {
                ErrorType::None
            } else {
                report.error_type.clone()
            },
            error_msg: (!report.errors.is_empty()).then(|| report.errors.clone()),
        };
        let health = self
            .retrying(&format!("job {id}"), || async {
                let job = self.job(id).await?;
                if job.state == JobState::Finished {
                    return Ok(None);
                }
                let mut set = ChangeSet::new().end(id, description.clone(), self.now());
                let (finish, health) = self.finish_changes(&job, &ending).await?;
                set.preconditions.extend(finish.preconditions);
                set.jobs.extend(finish.jobs);
                set.devices.extend(finish.devices);
                set.workers.extend(finish.workers);
                self.store().apply(&set).await?;
                Ok(Some(health))
            })
            .await?;
        if let Some(health) = health {
            tracing::info!(job = id, %health, "job finished (lava-worker's FINISHED)");
        }
        Ok(health)
    }

    /// lava-worker asked for a job that had started already: it lost it. The job ends
    /// (Incomplete, or Canceled if it was being canceled) rather than run twice.
    pub async fn job_lost_by_worker(&self, id: JobId, worker: &str) -> Result<Option<JobHealth>> {
        tracing::warn!(
            job = id,
            worker,
            "the worker asked for a job it had started already: it lost it, the job ends rather than run twice"
        );
        self.finish_job(
            id,
            &JobEnding::WorkerLost {
                worker: worker.to_owned(),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab};
    use lava_store::User;

    const JOB: &str = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";

    fn loopback() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[tokio::test]
    async fn workers_get_a_token_when_added_and_it_is_checked() {
        let (_tmp, lab) = lab().await;
        lab.add_worker(&NewWorker::named("w1")).await.unwrap();
        let token = lab.worker_token("w1").await.unwrap();
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(lab.worker_token("w1").await.unwrap(), token, "stable");
        assert_eq!(
            lab.check_worker_token("w1", Some(&token)).await.unwrap(),
            Ok(())
        );
        assert_eq!(
            lab.check_worker_token("w1", Some("x")).await.unwrap(),
            Err(TokenRefusal::Invalid)
        );
        assert_eq!(
            lab.check_worker_token("w1", None).await.unwrap(),
            Err(TokenRefusal::Missing)
        );
        let unknown = lab.check_worker_token("w9", Some(&token)).await.unwrap();
        assert_eq!(unknown, Err(TokenRefusal::UnknownWorker("w9".into())));
        assert_eq!(unknown.unwrap_err().to_string(), "Unknown worker 'w9'");
    }

    #[tokio::test]
    async fn a_job_token_opens_its_own_job_only() {
        let (_tmp, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        let a = lab.submit(JOB, "bob").await.unwrap().ids[0];
        let b = lab.submit(JOB, "bob").await.unwrap().ids[0];
        let ta = lab.job_token(a).await.unwrap();
        let tb = lab.job_token(b).await.unwrap();
        assert_ne!(ta, tb);
        assert_eq!(lab.job_token(a).await.unwrap(), ta);
        assert!(lab.check_job_token(a, Some(&ta)).await.unwrap().is_ok());
        assert_eq!(
            lab.check_job_token(a, Some(&tb)).await.unwrap(),
            Err(TokenRefusal::Invalid)
        );
        let gone = lab.check_job_token(999, Some(&ta)).await.unwrap();
        assert_eq!(gone.unwrap_err().to_string(), "Unknown job '999'");
    }

    #[tokio::test]
    async fn registration_is_off_by_default_and_loopback_only() {
        let (_tmp, lab) = lab().await;
        let request = Registration {
            name: "w1",
            from: loopback(),
            credentials: None,
        };
        let off = AutoRegistration::default();
        assert_eq!(
            lab.register_worker(&request, &off).await.unwrap(),
            Err(RegistrationRefusal::Disabled)
        );
        let on = AutoRegistration {
            enabled: true,
            ..AutoRegistration::default()
        };
        let far = Registration {
            from: "10.1.2.3".parse().unwrap(),
            ..request.clone()
        };
        assert_eq!(
            lab.register_worker(&far, &on)
                .await
                .unwrap()
                .unwrap_err()
                .status(),
            403
        );
        let token = lab.register_worker(&request, &on).await.unwrap().unwrap();
        assert_eq!(lab.worker_token("w1").await.unwrap(), token);
        assert_eq!(
            lab.register_worker(&request, &on).await.unwrap(),
            Err(RegistrationRefusal::AlreadyRegistered("w1".into()))
        );
        // An admin gets the existing token back.
        lab.store()
            .add_user(&User {
                username: "admin".into(),
                is_admin: true,
                email: String::new(),
            })
            .await
            .unwrap();
        let secret = lab.add_token("admin", "test").await.unwrap();
        let with_admin = Registration {
            credentials: Some(("admin", &secret)),
            ..request.clone()
        };
        assert_eq!(
            lab.register_worker(&with_admin, &on).await.unwrap(),
            Ok(token)
        );
        let wrong = Registration {
            credentials: Some(("admin", "nope")),
            ..request
        };
        assert_eq!(
            lab.register_worker(&wrong, &on).await.unwrap(),
            Err(RegistrationRefusal::BadCredentials)
        );
        let bad = Registration {
            name: "bad name",
            from: loopback(),
            credentials: None,
        };
        assert_eq!(
            lab.register_worker(&bad, &on)
                .await
                .unwrap()
                .unwrap_err()
                .status(),
            400
        );
    }

    #[tokio::test]
    async fn protocol_version_and_refusal_are_recorded() {
        let (_tmp, lab) = lab().await;
        lab.add_worker(&NewWorker::named("w1")).await.unwrap();
        lab.worker_connected("w1", WorkerProtocol::Http, Some("2026.07"), Some("2023.01"))
            .await
            .unwrap();
        let access = lab.worker_access("w1").await.unwrap();
        assert_eq!(access.protocol, Some(WorkerProtocol::Http));
        assert_eq!(
            access.refusal.as_deref(),
            Some("version 2026.07 refused: this master requires 2023.01")
        );
        assert_eq!(
            lab.worker("w1").await.unwrap().version.as_deref(),
            Some("2026.07")
        );
        lab.worker_connected("w1", WorkerProtocol::Http, Some("2023.01"), None)
            .await
            .unwrap();
        assert_eq!(lab.worker_access("w1").await.unwrap().refusal, None);
    }

    #[tokio::test]
    async fn finished_finishes_once_with_the_workers_verdict() {
        let (_tmp, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        lab.worker_online("w1").await.unwrap();
        let id = lab.submit(JOB, "bob").await.unwrap().ids[0];
        assert_eq!(lab.schedule().await.unwrap().len(), 1);
        lab.job_running(id).await.unwrap();
        let report = FinishedReport {
            passed: false,
            error_type: ErrorType::Job,
            errors: "boom\n".into(),
            description: "pipeline: []\n".into(),
        };
        assert_eq!(
            lab.job_finished_by_worker(id, &report).await.unwrap(),
            Some(JobHealth::Incomplete)
        );
        let job = lab.job(id).await.unwrap();
        assert_eq!(job.failure_comment.as_deref(), Some("boom\n"));
        let dir = lab.job_output_dir(&job).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("description.yaml")).unwrap(),
            "pipeline: []\n"
        );
        assert!(lab.store().job_end(id).await.unwrap().processed);
        let pass = FinishedReport {
            passed: true,
            ..report
        };
        assert_eq!(lab.job_finished_by_worker(id, &pass).await.unwrap(), None);
        assert_eq!(lab.job(id).await.unwrap().health, JobHealth::Incomplete);
    }
}
