//! Job definitions: judging the YAML a user submits as LAVA 2020.05 does, and multinode
//! splitting.
//!
//! [`validate`] gives LAVA's verdict: the text is read as LAVA's `yaml.safe_load` reads it
//! ([`yaml`]), then judged by what `scheduler.submit_job` runs — the submission schema of
//! `lava_scheduler_app/schema.py` with each action kind's own schema (deploy, boot, test,
//! command), notify, metadata, timeouts, visibility, the multinode and vland rules of the
//! split — and nothing stricter. A refusal names the key path and the line, in LAVA's words
//! (`expected str for dictionary value @ data['actions'][0]['deploy']['to']`).
//! What LAVA accepts but its dispatcher side refuses later (the stricter schemas of
//! `lava_common.schemas`, which LAVA's submission page shows as warnings) comes back as
//! [`Validated::warnings`]. [`dispatcher_schema_issue`] answers what LAVA's
//! `scheduler.jobs.validate` answers.
//!
//! A submission in the old dispatcher's JSON format is not refused by [`parse_submission`]:
//! it is recognised as [`Submission::Legacy`], to be stored but never scheduled (the
//! scheduler skips jobs in [`crate::scheduler::LabSnapshot::legacy_jobs`]); [`legacy_reason`]
//! tells anyone who looks at such a job why it waits. (LAVA 2020.05 itself refuses them:
//! [`validate`] does.)
//!
//! A multinode definition ([`JobDefinition::multinode`]) is split into one sub-job per role
//! and count by [`split_multinode`], each with its own definition text.

mod actions;
mod legacy;
mod multinode;
mod python;
pub(crate) mod schema;
pub(crate) mod submission;
mod validate;
pub(crate) mod warnings;
pub mod yaml;

pub use legacy::{legacy_reason, LEGACY_REASON};
pub use multinode::{set_multinode_roles, split_multinode, SubJob};
pub use validate::{definition_visibility, CONTEXT_VARIABLES};

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

/// Something LAVA accepts at submission but its dispatcher side will refuse: the job is
/// stored and may be scheduled, and is expected to fail when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The key path at fault (`actions[0].deploy.images`), or `(document)`.
    pub path: String,
    /// What LAVA says (`lava_common.schemas`' message).
    pub message: String,
    /// The line in the submitted text, where known.
    pub line: Option<usize>,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// A definition LAVA accepts, and what its dispatcher side will say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The definition.
    pub definition: JobDefinition,
    /// What LAVA's dispatcher side will refuse later (empty for a definition that runs).
    pub warnings: Vec<Warning>,
}

/// What LAVA's `scheduler.jobs.validate` (`lava_common.schemas.validate`) finds wrong first:
/// the key path as LAVA writes it (`['actions[0]', 'deploy', 'tmpfs', 'images']`) and its
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIssue {
    /// The path, as Python's `str()` of voluptuous' path list.
    pub path: String,
    /// The message.
    pub message: String,
    /// The line in the text, where known.
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
pub fn parse_submission(text: &str) -> crate::Result<Submission> {
    if let Some(job) = legacy::recognise(text) {
        return Ok(Submission::Legacy(job));
    }
    parse(text).map(Submission::Pipeline)
}

/// Reads and validates a pipeline job definition (legacy JSON jobs are refused), dropping
/// the warnings; [`validate`] keeps them.
pub fn parse(text: &str) -> crate::Result<JobDefinition> {
    Ok(judge(text)?.definition)
}

/// LAVA 2020.05's verdict on a job definition: `Ok` with the definition and the warnings
/// of LAVA's dispatcher-side schema when `scheduler.submit_job` would accept it (in a lab
/// that has the device types, devices, tags, groups and users it names), else
/// [`crate::Error::JobDefinition`] naming the key path, the line and LAVA's reason.
pub fn validate(text: &str) -> crate::Result<Validated> {
    Ok(judge(text)?)
}

/// What LAVA's `scheduler.jobs.validate(definition, strict)` answers: `None` when
/// `lava_common.schemas.validate` passes, else its first issue. A text that is not YAML is
/// an error, as it is for LAVA.
pub fn dispatcher_schema_issue(text: &str, strict: bool) -> crate::Result<Option<SchemaIssue>> {
    let tree = read(text)?;
    Ok(warnings::first_issue(&tree, strict).map(|e| SchemaIssue {
        path: format!(
            "[{}]",
            e.path
                .iter()
                .map(|s| match s {
                    schema::Step::Key { text, .. } => python::repr_str(text),
                    schema::Step::Index(i) => i.to_string(),
                    schema::Step::Virtual(g) => format!("<{g}>"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        message: e.msg,
        line: (e.line > 0).then_some(e.line),
    }))
}

fn read(text: &str) -> Result<Node, JobDefinitionError> {
    yaml::parse(text).map_err(|e| JobDefinitionError {
        path: "(document)".into(),
        message: match e.python_exception {
            Some(class) => format!("{class}: {}", e.message),
            None => format!("Loading job submission failed: {}.", e.message),
        },
        line: e.line,
    })
}

fn judge(text: &str) -> Result<Validated, JobDefinitionError> {
    validate::definition(read(text)?)
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
    ) -> crate::Result<Vec<Job>> {
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
