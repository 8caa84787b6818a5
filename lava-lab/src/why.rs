//! "Why is my job still waiting?": the scheduler's explanation of a queued job, for
//! lava-admin, the API and the web pages alike.
//!
//! The reasons are the pure scheduler's ([`WaitReason`]); this module keeps the latest
//! pass's answers and runs a pass that changes nothing when there are none fresh enough.
//! lava-master's own passes publish theirs ([`Lab::publish_explanations`]), so its API and
//! pages answer from the pass that really ran; another process (lava-admin) runs a dry pass
//! over the store's rows.

use crate::error::Result;
use crate::lab::Lab;
use lava_core::model::{Job, JobId, JobState};
use lava_core::scheduler::{queue_order, Decisions, DeviceOrder, LabSnapshot, WaitReason};
use lava_core::time::Timestamp;
use lava_store::User;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// How old (seconds) the explanations of a pass may be before a question about a job runs a
/// new dry pass. The master passes at least every 20 s (and at once after a change), so its
/// own pages always find one; a page that answers from a pass a few seconds old is as true
/// as the queue it shows.
pub const EXPLANATIONS_MAX_AGE_SECS: i64 = 30;

/// What the scheduler says about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobWait {
    /// The job is not waiting for a device: it is in this state (Scheduled, Running, …).
    NotQueued(JobState),
    /// The job is queued and a device is free for it: the next pass starts it.
    Starts,
    /// The job waits, for this reason.
    Waits(WaitReason),
}

impl JobWait {
    /// A stable identifier: the reason's kind, `starts` or `not_queued`.
    pub fn kind(&self) -> &'static str {
        match self {
            JobWait::NotQueued(_) => "not_queued",
            JobWait::Starts => "starts",
            JobWait::Waits(reason) => reason.kind(),
        }
    }
}

impl fmt::Display for JobWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobWait::NotQueued(JobState::Finished) => {
                f.write_str("the job is not waiting: it has finished")
            }
            JobWait::NotQueued(state) => {
                write!(f, "the job is not waiting for a device: it is {state}")
            }
            JobWait::Starts => {
                f.write_str("a device is free for the job: the next scheduling pass starts it")
            }
            JobWait::Waits(reason) => reason.fmt(f),
        }
    }
}

/// A job in the queue as a pass saw it: enough to order, filter and count the queue
/// without reading every queued job again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    /// The job.
    pub id: JobId,
    /// The device type it asked for.
    pub device_type: Option<String>,
    /// Whether everybody may see it.
    pub is_public: bool,
    /// Who submitted it.
    pub submitter: String,
}

/// The explanations of one pass: a reason for each queued job it did not start.
#[derive(Debug, Clone, Default)]
pub struct Explanations {
    /// When the pass ran.
    pub at: Timestamp,
    reasons: HashMap<JobId, WaitReason>,
    /// Every job the pass looked at (queued, and the sub-jobs of queued groups).
    seen: HashSet<JobId>,
    /// Submitted jobs by requested device type (empty: none named).
    queued: BTreeMap<String, usize>,
    /// The queued jobs (Submitted, Scheduling) in LAVA's queue order.
    queue: Vec<QueuedJob>,
}

impl Explanations {
    /// The explanations of a pass over `snapshot` that decided `decisions` (with `explain`).
    pub fn from_pass(snapshot: &LabSnapshot, decisions: &Decisions) -> Self {
        Explanations {
            at: snapshot.now,
            reasons: decisions
                .waiting_jobs
                .iter()
                .map(|w| (w.job, w.reason.clone()))
                .collect(),
            seen: snapshot.jobs.iter().map(|j| j.id).collect(),
            queued: snapshot
                .jobs
                .iter()
                .filter(|j| j.state == JobState::Submitted)
                .fold(BTreeMap::new(), |mut queued, j| {
                    let device_type = j.requested_device_type.clone().unwrap_or_default();
                    *queued.entry(device_type).or_default() += 1;
                    queued
                }),
            queue: {
                let mut queued: Vec<&Job> = snapshot
                    .jobs
                    .iter()
                    .filter(|j| matches!(j.state, JobState::Submitted | JobState::Scheduling))
                    .collect();
                queued.sort_by(|a, b| queue_order(a, b));
                queued
                    .into_iter()
                    .map(|j| QueuedJob {
                        id: j.id,
                        device_type: j.requested_device_type.clone(),
                        is_public: j.is_public,
                        submitter: j.submitter.clone(),
                    })
                    .collect()
            },
        }
    }

    /// The queued jobs when the pass ran (Submitted, Scheduling), in LAVA's queue order.
    pub fn queue(&self) -> &[QueuedJob] {
        &self.queue
    }

    /// Submitted jobs by requested device type when the pass ran (the queue depth).
    pub fn queue_depth(&self) -> &BTreeMap<String, usize> {
        &self.queued
    }

    /// The reason `id` waits, if the pass left it waiting.
    pub fn reason(&self, id: JobId) -> Option<&WaitReason> {
        self.reasons.get(&id)
    }

    /// What the pass said about `job`; `None` when the pass did not see it (submitted
    /// after the pass).
    pub fn about(&self, job: &Job) -> Option<JobWait> {
        if !matches!(job.state, JobState::Submitted | JobState::Scheduling) {
            return Some(JobWait::NotQueued(job.state));
        }
        if let Some(reason) = self.reasons.get(&job.id) {
            return Some(JobWait::Waits(reason.clone()));
        }
        self.seen.contains(&job.id).then_some(JobWait::Starts)
    }

    /// How many jobs the pass left waiting.
    pub fn waiting(&self) -> usize {
        self.reasons.len()
    }
}

impl Lab {
    /// Keeps a pass's explanations for [`Lab::explanations`] (lava-master's passes).
    pub fn publish_explanations(&self, explanations: Explanations) {
        let explanations = Arc::new(explanations);
        match self.explanations.lock() {
            Ok(mut slot) => *slot = Some(explanations),
            Err(poisoned) => *poisoned.into_inner() = Some(explanations),
        }
    }

    fn published_explanations(&self) -> Option<Arc<Explanations>> {
        match self.explanations.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The explanations of the latest pass if it ran at most `max_age_secs` ago, else of a
    /// new pass that changes nothing (kept for the next question).
    pub async fn explanations(&self, max_age_secs: i64) -> Result<Arc<Explanations>> {
        if let Some(latest) = self.published_explanations() {
            if self.now().as_secs() - latest.at.as_secs() <= max_age_secs {
                return Ok(latest);
            }
        }
        self.explain_now().await
    }

    /// Runs a pass that changes nothing, with explanations, and keeps them.
    async fn explain_now(&self) -> Result<Arc<Explanations>> {
        let snapshot = self.pass_snapshot().await?;
        // Hostname order: the dry pass's answer does not depend on a draw.
        let decisions = self.decide(&snapshot, DeviceOrder::Hostname);
        let explanations = Explanations::from_pass(&snapshot, &decisions);
        self.publish_explanations(explanations);
        Ok(self
            .published_explanations()
            .unwrap_or_else(|| Arc::new(Explanations::default())))
    }

    /// Why job `id` (visible to `viewer`, as [`Lab::visible_job`]) is still waiting, from a
    /// pass at most [`EXPLANATIONS_MAX_AGE_SECS`] old, or a new one when that pass did not
    /// see the job.
    pub async fn why(&self, id: JobId, viewer: Option<&User>) -> Result<JobWait> {
        let job = self.visible_job(id, viewer).await?;
        self.why_job(&job).await
    }

    /// [`Lab::why`] for a job already read (and checked for visibility by the caller).
    pub async fn why_job(&self, job: &Job) -> Result<JobWait> {
        if !matches!(job.state, JobState::Submitted | JobState::Scheduling) {
            return Ok(JobWait::NotQueued(job.state));
        }
        let latest = self.explanations(EXPLANATIONS_MAX_AGE_SECS).await?;
        if let Some(answer) = latest.about(job) {
            return Ok(answer);
        }
        let fresh = self.explain_now().await?;
        // The job may have started (or gone) between reading it and the new pass.
        let job = self.job(job.id).await?;
        Ok(fresh.about(&job).unwrap_or(JobWait::NotQueued(job.state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab};

    const JOB: &str = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";

    #[tokio::test]
    async fn a_job_for_an_offline_worker_says_so_and_a_finished_one_is_not_queued() {
        let (_dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        let id = lab.submit(JOB, "bob").await.unwrap().ids[0];
        let why = lab.why(id, None).await.unwrap();
        assert_eq!(why.kind(), "workers_unavailable", "{why}");
        assert!(why.to_string().contains("offline worker"), "{why}");
        let tagged = JOB.replace("actions:", "tags: [usb]\nactions:");
        lab.add_tag("usb", "").await.unwrap();
        // LAVA refuses a submission no device's tags can satisfy: the tag goes after it.
        let with_tag = |tags: &[&str]| crate::DeviceUpdate {
            tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            ..crate::DeviceUpdate::default()
        };
        lab.update_device("d1", &with_tag(&["usb"])).await.unwrap();
        let tagged = lab.submit(&tagged, "bob").await.unwrap().ids[0];
        lab.update_device("d1", &with_tag(&[])).await.unwrap();
        // Submitted after the published pass: a new pass explains it.
        let why = lab.why(tagged, None).await.unwrap();
        assert_eq!(why.kind(), "no_device_with_tags", "{why}");
        assert!(why.to_string().contains("usb"), "{why}");
        lab.cancel(id, &crate::testing::user("bob", false))
            .await
            .unwrap();
        let why = lab.why(id, None).await.unwrap();
        assert_eq!(why, JobWait::NotQueued(JobState::Finished));
    }
}
