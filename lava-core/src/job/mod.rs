//! Job definitions: parsing and validating the YAML a user submits, and multinode splitting.
//!
//! [`parse_submission`] reads a submission as LAVA 2020.05 does (PyYAML, YAML 1.1) and checks
//! it against LAVA's submission schema (`lava_common/schemas`): required keys, priority,
//! visibility, timeouts, actions, protocols, notify; unknown top-level keys are refused.
//! Every error names the key path (`timeouts.job.minutes`, `actions[2].deploy`) and, when
//! the parser knows it, the line.
//!
//! A submission in the old dispatcher's JSON format is not refused: it is recognised as
//! [`Submission::Legacy`], to be stored but never scheduled (the scheduler skips jobs in
//! [`crate::scheduler::LabSnapshot::legacy_jobs`]); [`legacy_reason`] tells anyone who looks
//! at such a job why it waits.
//!
//! A multinode definition ([`JobDefinition::multinode`]) is split into one sub-job per role
//! and count by [`split_multinode`], each with its own definition text.

mod legacy;
mod multinode;
mod validate;
pub mod yaml;

pub use legacy::{legacy_reason, LEGACY_REASON};
pub use multinode::{set_multinode_roles, split_multinode, SubJob};

use crate::model::{Job, JobHealth, JobState, MultinodeMembership, Priority};
use crate::time::Timestamp;
use std::collections::BTreeSet;
use std::time::Duration;
use yaml::Node;

/// A job definition that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job definition: {path}: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct JobDefinitionError {
    /// The key path at fault, e.g. `timeouts.job`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The line in the submitted text, where the parser knows it.
    pub line: Option<usize>,
}

/// Who may see a job (`visibility`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Everyone.
    Public,
    /// The submitter only.
    Personal,
    /// Members of all these groups.
    Group(Vec<String>),
}

/// One role of a `lava-multinode` protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role's name.
    pub name: String,
    /// The device type its sub-jobs need (`None` for a dynamic connection).
    pub device_type: Option<String>,
    /// For a dynamic connection: how it connects (e.g. `ssh`).
    pub connection: Option<String>,
    /// For a dynamic connection: the role whose device hosts it.
    pub host_role: Option<String>,
    /// How many sub-jobs of this role.
    pub count: u32,
    /// Tags each of its devices must carry.
    pub tags: BTreeSet<String>,
}

/// A validated pipeline job definition.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDefinition {
    /// `job_name`.
    pub job_name: String,
    /// `device_type` (absent for multinode, whose roles name theirs).
    pub device_type: Option<String>,
    /// `priority`, medium when absent.
    pub priority: Priority,
    /// `visibility`.
    pub visibility: Visibility,
    /// `tags`.
    pub tags: BTreeSet<String>,
    /// `timeouts.job`.
    pub job_timeout: Duration,
    /// The roles of the `lava-multinode` protocol, in definition order, if it is used.
    pub multinode: Option<Vec<Role>>,
    /// The whole definition, for splitting and for the dispatcher.
    pub tree: Node,
}

/// What a submission turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// A pipeline (YAML) job: validated, ready to store and schedule.
    Pipeline(JobDefinition),
    /// A job in the old dispatcher's JSON format: stored, never scheduled.
    Legacy(LegacyJob),
}

/// What is known of a legacy JSON submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyJob {
    /// Its `device_type`, if it names one.
    pub device_type: Option<String>,
    /// Its `job_name`, if it has one.
    pub job_name: Option<String>,
    /// Why it will not run, for anyone who looks at it.
    pub reason: &'static str,
}

/// Reads and validates a submission: a pipeline job, or a legacy JSON job.
pub fn parse_submission(text: &str) -> Result<Submission, JobDefinitionError> {
    if let Some(job) = legacy::recognise(text) {
        return Ok(Submission::Legacy(job));
    }
    parse(text).map(Submission::Pipeline)
}

/// Reads and validates a pipeline job definition (legacy JSON jobs are refused).
pub fn parse(text: &str) -> Result<JobDefinition, JobDefinitionError> {
    let tree = yaml::parse(text).map_err(|e| JobDefinitionError {
        path: "(document)".into(),
        message: format!("not valid YAML: {}", e.message),
        line: e.line,
    })?;
    validate::definition(tree)
}

impl JobDefinition {
    /// Whether everyone may see the job.
    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public
    }

    /// The rows to store for this submission, Submitted at `now`, with id 0 (the store
    /// allocates ids): one job, or one per sub-job of the multinode group `group`, each
    /// with its own definition. `text` is the submitted definition, kept as written.
    pub fn jobs(
        &self,
        text: &str,
        submitter: &str,
        now: Timestamp,
        group: &str,
    ) -> Result<Vec<Job>, JobDefinitionError> {
        let job = |definition: String, device_type: Option<String>, tags: BTreeSet<String>| Job {
            id: 0,
            submitter: submitter.to_owned(),
            definition,
            state: JobState::Submitted,
            health: JobHealth::Unknown,
            priority: self.priority,
            submit_time: now,
            start_time: None,
            end_time: None,
            requested_device_type: device_type,
            tags,
            multinode: None,
            health_check: false,
            actual_device: None,
            failure_comment: None,
            is_public: self.is_public(),
        };
        if self.multinode.is_none() {
            return Ok(vec![job(
                text.to_owned(),
                self.device_type.clone(),
                self.tags.clone(),
            )]);
        }
        Ok(split_multinode(self, group)?
            .into_iter()
            .map(|sub| Job {
                multinode: Some(MultinodeMembership {
                    group: group.to_owned(),
                    role: sub.role.clone(),
                }),
                ..job(sub.definition, sub.device_type, sub.tags)
            })
            .collect())
    }
}

impl LegacyJob {
    /// The row to store for this submission, Submitted at `now`, with id 0. Its failure
    /// comment tells anyone who looks why it waits; also list its id in
    /// [`crate::scheduler::LabSnapshot::legacy_jobs`] so that it is never scheduled.
    pub fn job(&self, text: &str, submitter: &str, now: Timestamp) -> Job {
        Job {
            id: 0,
            submitter: submitter.to_owned(),
            definition: text.to_owned(),
            state: JobState::Submitted,
            health: JobHealth::Unknown,
            priority: Priority::default(),
            submit_time: now,
            start_time: None,
            end_time: None,
            requested_device_type: self.device_type.clone(),
            tags: BTreeSet::new(),
            multinode: None,
            health_check: false,
            actual_device: None,
            failure_comment: Some(self.reason.to_owned()),
            is_public: false,
        }
    }
}
