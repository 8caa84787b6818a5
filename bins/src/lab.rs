//! Lab operations shared by lava-master, lava-admin and the API: opening the store, turning
//! a submission into stored jobs, canceling.
//!
//! The decisions are the core's (`lava_core::job`, `lava_core::model::transitions`); this
//! module only reads and writes the store around them.

use lava_core::job::{self, Submission};
use lava_core::model::{
    transitions, Job, JobHealth, JobId, JobState, MultinodeMembership, Priority,
};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, Precondition, SqliteStore, Store, StoreError};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Why a lab operation failed, in terms a lab admin or user understands.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job definition cannot be accepted.
    #[error(transparent)]
    JobDefinition(#[from] lava_core::job::JobDefinitionError),
    /// A state change LAVA does not allow.
    #[error(transparent)]
    Transition(#[from] lava_core::model::TransitionError),
    /// No such job.
    #[error("job {0} does not exist")]
    UnknownJob(JobId),
    /// The job's device type is not in the lab.
    #[error("device type {0:?} does not exist: add it first (lava-admin device-types add)")]
    UnknownDeviceType(String),
}

/// Opens the store named by `url`: a `postgres://`/`postgresql://` URL, or a SQLite file
/// path (optionally `sqlite://PATH`). `master` takes the single-master lock.
pub async fn open_store(url: &str, master: bool) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = if master {
            lava_store::PostgresStore::connect_master(url).await?
        } else {
            lava_store::PostgresStore::connect(url).await?
        };
        return Ok(Arc::new(store));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url).to_owned();
    if let Some(dir) = Path::new(&path).parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Invalid {
                field: "store".into(),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
    }
    let store = tokio::task::spawn_blocking(move || {
        if master {
            SqliteStore::open_master(&path)
        } else {
            SqliteStore::open(&path)
        }
    })
    .await
    .map_err(|e| StoreError::Worker(e.to_string()))??;
    Ok(Arc::new(store))
}

/// Validates a submission and stores it: one job, or one job per multinode sub-job (in one
/// transaction). Legacy JSON jobs are stored but will never be scheduled.
pub async fn submit(
    store: &dyn Store,
    text: &str,
    submitter: &str,
    now: Timestamp,
) -> Result<Vec<JobId>, LabError> {
    let base = |definition: String| Job {
        id: 0,
        submitter: submitter.to_owned(),
        definition,
        state: JobState::Submitted,
        health: JobHealth::Unknown,
        priority: Priority::default(),
        submit_time: now,
        start_time: None,
        end_time: None,
        requested_device_type: None,
        tags: BTreeSet::new(),
        multinode: None,
        health_check: false,
        actual_device: None,
        failure_comment: None,
        is_public: true,
    };
    let jobs = match job::parse_submission(text)? {
        Submission::Legacy(legacy) => {
            let mut job = base(text.to_owned());
            job.requested_device_type = legacy.device_type;
            job.failure_comment = Some(legacy.reason.to_owned());
            vec![job]
        }
        Submission::Pipeline(definition) => {
            let public = matches!(definition.visibility, lava_core::job::Visibility::Public);
            if definition.multinode.is_some() {
                let group = multinode_group_id(store, now).await?;
                let sub_jobs = job::split_multinode(&definition, &group)?;
                let mut jobs = Vec::with_capacity(sub_jobs.len());
                for sub in sub_jobs {
                    let mut job = base(sub.definition);
                    job.priority = definition.priority;
                    job.is_public = public;
                    job.requested_device_type = sub.device_type;
                    job.tags = sub.tags;
                    job.multinode = Some(MultinodeMembership {
                        group: group.clone(),
                        role: sub.role,
                    });
                    jobs.push(job);
                }
                jobs
            } else {
                let mut job = base(text.to_owned());
                job.priority = definition.priority;
                job.is_public = public;
                job.requested_device_type = definition.device_type.clone();
                job.tags = definition.tags.clone();
                vec![job]
            }
        }
    };
    for job in &jobs {
        if let Some(device_type) = &job.requested_device_type {
            if store.device_type(device_type).await?.is_none() {
                return Err(LabError::UnknownDeviceType(device_type.clone()));
            }
        }
    }
    Ok(store.submit(&jobs).await?)
}

/// A fresh multinode group id (LAVA uses a UUID; ours is unique per store and time).
async fn multinode_group_id(store: &dyn Store, now: Timestamp) -> Result<String, LabError> {
    let mut n = now.as_micros();
    loop {
        let group = format!("group-{n:x}");
        if store.multinode_group(&group).await?.is_empty() {
            return Ok(group);
        }
        n += 1;
    }
}

/// Cancels a job (every sub-job, for multinode). A Submitted job is Finished/Canceled at
/// once; one that holds a device goes Canceling and the master tells its worker.
pub async fn cancel(store: &dyn Store, id: JobId, now: Timestamp) -> Result<(), LabError> {
    let job = store.job(id).await?.ok_or(LabError::UnknownJob(id))?;
    let jobs = match &job.multinode {
        Some(m) => store.multinode_group(&m.group).await?,
        None => vec![job],
    };
    let mut changes = ChangeSet::new();
    let mut any = false;
    for job in &jobs {
        if matches!(job.state, JobState::Finished | JobState::Canceling) {
            continue;
        }
        let c = transitions::job_canceling(job, now)?;
        changes = changes.require(Precondition::JobState(job.id, job.state));
        changes.jobs.extend(c.jobs);
        changes.devices.extend(c.devices);
        changes.workers.extend(c.workers);
        any = true;
    }
    if !any {
        return Err(lava_core::model::TransitionError {
            object: format!("job {id}"),
            from: JobState::Finished.to_string(),
            to: JobState::Canceling.to_string(),
        }
        .into());
    }
    store.apply(&changes).await?;
    Ok(())
}

/// Now, as the store records times.
pub fn now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
}
