//! Jobs as users see them: submitting, validating, canceling, who may see which job, and
//! reading a job's log and results.

use crate::error::{LabError, Result};
use crate::job_output::{job_output_dir, read_lines};
use crate::lab::Lab;
use lava_core::job::{self, JobDefinition, SchemaIssue, Submission, Validated, Visibility};
use lava_core::model::{transitions, Device, DeviceHealth, Job, JobHealth, JobId, JobState};
use lava_core::scheduler::{Availability, Need, Permissions};
use lava_core::time::Timestamp;
use lava_store::{ChangeSet, JobFilter, Precondition, TestCase, User};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What a submission created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The ids of the stored jobs: one, or one per multinode sub-job in role order.
    pub ids: Vec<JobId>,
    /// Whether they form a multinode group.
    pub multinode: bool,
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceled {
    /// The job (every sub-job of its group) is Canceling, or Finished/Canceled if it never
    /// got a device.
    Now,
    /// It was being canceled already.
    Already,
    /// It had finished: nothing to cancel (LAVA answers this without an error).
    Finished,
}

/// Which jobs a list shows, newest first. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs with this health.
    pub health: Option<JobHealth>,
    /// Only jobs that ended at or after this time.
    pub ended_since: Option<Timestamp>,
    /// Skip this many matching jobs.
    pub start: usize,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
    /// Only jobs this user may see (`None`: anonymous, public jobs only).
    pub viewer: Option<User>,
}

impl JobQuery {
    /// Whether `job` passes the filters (state, health, end time, visibility for
    /// `viewer`); `start` and `limit` page the matching jobs.
    pub fn matches(&self, job: &Job, viewer: &Viewer) -> bool {
        self.state.is_none_or(|s| job.state == s)
            && self.health.is_none_or(|h| job.health == h)
            && self
                .ended_since
                .is_none_or(|since| job.end_time.is_some_and(|end| end >= since))
            && can_view(job, viewer)
    }
}

/// Who is looking at jobs: the user (`None`: anonymous), the groups they belong to, and
/// the groups the lab knows (a job's `visibility` may name groups that do not exist: LAVA
/// keeps only the known ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Viewer {
    /// The user, if logged in.
    pub user: Option<User>,
    /// Their groups.
    pub groups: BTreeSet<String>,
    /// Every group of the lab.
    pub known_groups: BTreeSet<String>,
}

/// Whether `viewer` may see `job` (LAVA 2020.05's `TestJob.can_view`): its submitter and
/// admins always; everyone a public job; a job whose `visibility` names groups, users in
/// every one of those groups (the known ones); nobody else a personal job.
pub fn can_view(job: &Job, viewer: &Viewer) -> bool {
    if can_view_as(job.is_public, &job.submitter, viewer) {
        return true;
    }
    if viewer.groups.is_empty() {
        return false;
    }
    match job::definition_visibility(&job.definition) {
        Visibility::Group(groups) => {
            let known: Vec<&String> = groups
                .iter()
                .filter(|g| viewer.known_groups.contains(*g))
                .collect();
            !known.is_empty() && known.iter().all(|g| viewer.groups.contains(*g))
        }
        Visibility::Public | Visibility::Personal => false,
    }
}

/// [`can_view`] for a job known by its visibility and submitter only (lists that do not
/// read definitions): public jobs, and any job for its submitter and admins. A job visible
/// to groups is not shown to their members by this check; [`can_view`] shows it.
pub fn can_view_as(is_public: bool, submitter: &str, viewer: &Viewer) -> bool {
    is_public
        || viewer
            .user
            .as_ref()
            .is_some_and(|u| u.is_admin || u.username == submitter)
}

/// Whether `user` may cancel `job` (LAVA's `can_cancel`, without its state condition):
/// its submitter, an admin, or a holder of `change` on the job's device — on its type
/// when nobody holds `change` on the device, or when the job has no device yet.
pub fn can_cancel(
    job: &Job,
    user: &User,
    permissions: &Permissions,
    device: Option<&Device>,
) -> bool {
    if user.is_admin || user.username == job.submitter {
        return true;
    }
    match device {
        Some(device) => permissions.can_change_device(device, &user.username),
        None => job
            .requested_device_type
            .as_deref()
            .is_some_and(|t| permissions.can_change_device_type(t, &user.username)),
    }
}

impl Lab {
    /// Validates a submission and stores it: one job, or one job per multinode sub-job (in
    /// one transaction). A legacy JSON job is stored but never scheduled.
    pub async fn submit(&self, text: &str, submitter: &str) -> Result<Submitted> {
        let now = self.now();
        let (jobs, multinode) = match job::parse_submission(text)? {
            Submission::Legacy(legacy) => {
                let job = legacy.job(text, submitter, now);
                if let Some(device_type) = &job.requested_device_type {
                    self.check_device_type_known(device_type).await?;
                }
                (vec![job], false)
            }
            Submission::Pipeline(definition) => {
                // Before the group is split: a refused group costs no sub-job rows. This
                // also checks every device type the sub-jobs will name.
                self.check_devices_available(&definition, submitter).await?;
                self.check_visibility(&definition).await?;
                let group = self.random().uuid();
                let multinode = definition.multinode.is_some();
                (definition.jobs(text, submitter, now, &group)?, multinode)
            }
        };
        let ids = self.store().submit(&jobs).await?;
        tracing::info!(jobs = ?ids, submitter, "submitted");
        Ok(Submitted { ids, multinode })
    }

    /// LAVA's availability check for a multinode definition (see
    /// [`lava_core::scheduler::Availability`]): every role's device type must be known and
    /// have enough devices, not Retired, that `submitter` may submit to, with the role's
    /// tags; and the roles of one type together must fit at once. A single-node definition
    /// goes to [`Lab::check_single_node`].
    async fn check_devices_available(
        &self,
        definition: &JobDefinition,
        submitter: &str,
    ) -> Result<()> {
        let Some(roles) = &definition.multinode else {
            return self.check_single_node(definition, submitter).await;
        };
        let mut needs = Vec::with_capacity(roles.len());
        for role in roles {
            let Some(device_type) = role.device_type.as_deref() else {
                continue; // a dynamic connection needs no device
            };
            self.check_device_type_known(device_type).await?;
            needs.push(Need {
                device_type,
                count: role.count,
                tags: &role.tags,
            });
        }
        let devices = self.store().devices().await?;
        let permissions = self.permissions().await?;
        Availability::new(&devices, &permissions)
            .check(&needs, submitter)
            .map_err(|e| {
                tracing::info!(submitter, "multinode submission refused: {e}");
                LabError::DevicesUnavailable(e.to_string())
            })
    }

    /// LAVA's check of a single-node job (`TestJob.from_yaml_and_user`): its device type
    /// is known and has a device that is not Retired, and the submitter is allowed on one
    /// of them carrying the job's tags. A job for a type whose devices are all Retired (or
    /// that has none yet) is refused, as LAVA refuses it, rather than left waiting for a
    /// device that may never come.
    async fn check_single_node(&self, definition: &JobDefinition, submitter: &str) -> Result<()> {
        let Some(device_type) = definition.device_type.as_deref() else {
            return Ok(());
        };
        self.check_device_type_known(device_type).await?;
        let devices = self.store().devices().await?;
        let of_type = devices
            .iter()
            .any(|d| d.device_type == device_type && d.health != DeviceHealth::Retired);
        if !of_type {
            tracing::info!(
                submitter,
                device_type,
                "submission refused: no device of the type"
            );
            return Err(LabError::DevicesUnavailable(format!(
                "No devices of type {device_type} are available."
            )));
        }
        let permissions = self.permissions().await?;
        let need = Need {
            device_type,
            count: 1,
            tags: &definition.tags,
        };
        Availability::new(&devices, &permissions)
            .check(&[need], submitter)
            .map_err(|e| {
                tracing::info!(submitter, "submission refused: {e}");
                LabError::DevicesUnavailable(e.to_string())
            })
    }

    /// A submission naming a device type the lab does not have is refused in LAVA's words
    /// (`_get_device_type`: "Device type 'x' is unavailable.", answered by the API as
    /// "Device unavailable: …", code 400).
    async fn check_device_type_known(&self, device_type: &str) -> Result<()> {
        if self.store().device_type(device_type).await?.is_some() {
            return Ok(());
        }
        Err(LabError::DevicesUnavailable(format!(
            "Device type '{device_type}' is unavailable."
        )))
    }

    /// LAVA's check of `visibility: {group: [...]}`: at least one of the groups exists.
    async fn check_visibility(&self, definition: &JobDefinition) -> Result<()> {
        let Visibility::Group(groups) = &definition.visibility else {
            return Ok(());
        };
        let known: BTreeSet<String> = self
            .store()
            .groups()
            .await?
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        if groups.iter().any(|g| known.contains(g)) {
            Ok(())
        } else {
            Err(LabError::Invalid(
                "No known groups were found in the visibility list.".into(),
            ))
        }
    }

    /// Checks a definition as a submission would, without storing anything: the
    /// definition, and the warnings of what LAVA's dispatcher would refuse later.
    pub fn validate(&self, text: &str) -> Result<Validated> {
        Ok(job::validate(text)?)
    }

    /// What LAVA's `scheduler.jobs.validate` answers: the first issue of the dispatcher's
    /// schema (`strict`: unknown keys too), or none.
    pub fn schema_issue(&self, text: &str, strict: bool) -> Result<Option<SchemaIssue>> {
        Ok(job::dispatcher_schema_issue(text, strict)?)
    }

    /// Cancels a job for `by` (every sub-job, for multinode): a job without a device ends
    /// Canceled at once; one that holds a device goes Canceling and the master tells its
    /// worker.
    pub async fn cancel(&self, id: JobId, by: &User) -> Result<Canceled> {
        let job = self.job(id).await?;
        if !self.may_cancel(&job, by).await? {
            return Err(LabError::PermissionDenied(format!(
                "user '{}' may not cancel job {id}: only its submitter, an admin or a member \
                 of a group with the change permission on its device or device type may",
                by.username
            )));
        }
        let outcome = self
            .retrying(&format!("job {id}"), || self.try_cancel(&job))
            .await?;
        if outcome == Canceled::Now {
            tracing::info!(job = id, user = %by.username, "canceled");
        }
        Ok(outcome)
    }

    async fn try_cancel(&self, job: &Job) -> Result<Canceled> {
        let group = match &job.multinode {
            Some(m) => self.store().multinode_group(&m.group).await?,
            None => vec![self.job(job.id).await?],
        };
        let mut changes = ChangeSet::new();
        let mut state = Canceled::Finished;
        for sub in &group {
            match sub.state {
                JobState::Finished => continue,
                JobState::Canceling => {
                    state = Canceled::Already;
                    continue;
                }
                _ => {}
            }
            let c = transitions::job_canceling(sub, self.now())?;
            changes = changes.require(Precondition::JobState(sub.id, sub.state));
            changes.jobs.extend(c.jobs);
            changes.devices.extend(c.devices);
            changes.workers.extend(c.workers);
            state = Canceled::Now;
        }
        if state == Canceled::Now {
            self.store().apply(&changes).await?;
        }
        Ok(state)
    }

    /// Who `user` is for [`can_view`]: their groups and the lab's.
    pub async fn viewer(&self, user: Option<&User>) -> Result<Viewer> {
        let Some(user) = user else {
            return Ok(Viewer::default());
        };
        let mut viewer = Viewer {
            user: Some(user.clone()),
            ..Viewer::default()
        };
        for (group, members) in self.store().groups().await? {
            if members.contains(&user.username) {
                viewer.groups.insert(group.clone());
            }
            viewer.known_groups.insert(group);
        }
        Ok(viewer)
    }

    /// Whether `user` (`None`: anonymous) may see `job`: [`can_view`] with their groups.
    pub async fn may_view(&self, job: &Job, user: Option<&User>) -> Result<bool> {
        Ok(can_view(job, &self.viewer(user).await?))
    }

    /// Whether `user` may cancel `job`: [`can_cancel`] with the lab's permissions.
    pub async fn may_cancel(&self, job: &Job, user: &User) -> Result<bool> {
        if user.is_admin || user.username == job.submitter {
            return Ok(true);
        }
        let device = match &job.actual_device {
            Some(hostname) => self.store().device(hostname).await?,
            None => None,
        };
        let permissions = self.permissions().await?;
        Ok(can_cancel(job, user, &permissions, device.as_ref()))
    }

    /// Jobs matching `query`, newest first.
    pub async fn jobs(&self, query: &JobQuery) -> Result<Vec<Job>> {
        let viewer = self.viewer(query.viewer.as_ref()).await?;
        // The store filters by state and counts; the rest is filtered here. A page is read
        // from the newest jobs on, asking for more while too few of them match (most jobs
        // are public: one read is the rule), so that a page does not read the whole
        // history.
        let wanted = query.limit.map(|limit| query.start.saturating_add(limit));
        let mut read = wanted.map(|w| w.saturating_mul(2).max(64));
        loop {
            let filter = JobFilter {
                states: query.state.into_iter().collect(),
                limit: read.map(|n| n as u64),
                ..JobFilter::default()
            };
            let jobs = self.store().jobs(&filter).await?;
            let complete = read.is_none_or(|n| jobs.len() < n);
            let matching: Vec<Job> = jobs
                .into_iter()
                .filter(|j| query.matches(j, &viewer))
                .collect();
            if complete || wanted.is_some_and(|w| matching.len() >= w) {
                return Ok(matching
                    .into_iter()
                    .skip(query.start)
                    .take(query.limit.unwrap_or(usize::MAX))
                    .collect());
            }
            read = read.map(|n| n.saturating_mul(4));
        }
    }

    /// A job that `viewer` may see; a job they may not see is "not found", as in LAVA.
    pub async fn visible_job(&self, id: JobId, viewer: Option<&User>) -> Result<Job> {
        let job = self.job(id).await?;
        if self.may_view(&job, viewer).await? {
            Ok(job)
        } else {
            Err(LabError::NotFound(format!("job {id}")))
        }
    }

    /// Jobs Scheduled, Running or Canceling: what the master tracks.
    pub async fn active_jobs(&self) -> Result<Vec<Job>> {
        Ok(self.store().active_jobs().await?)
    }

    /// The newest job still waiting (Submitted), if any: the master schedules at once when
    /// it changes.
    pub async fn newest_submitted(&self) -> Result<Option<JobId>> {
        let filter = JobFilter {
            states: vec![JobState::Submitted],
            limit: Some(1),
            ..JobFilter::default()
        };
        Ok(self.store().jobs(&filter).await?.first().map(|j| j.id))
    }

    /// The job that holds `hostname` now (Scheduling to Canceling), if any.
    pub async fn current_job(&self, hostname: &str) -> Result<Option<Job>> {
        let filter = JobFilter {
            states: vec![
                JobState::Scheduling,
                JobState::Scheduled,
                JobState::Running,
                JobState::Canceling,
            ],
            actual_device: Some(hostname.to_owned()),
            limit: Some(1),
            ..JobFilter::default()
        };
        Ok(self.store().jobs(&filter).await?.into_iter().next())
    }

    /// Where a job's output is: where the master recorded it, else LAVA's layout.
    pub async fn job_output_dir(&self, job: &Job) -> Result<PathBuf> {
        Ok(match self.store().job_log(job.id).await? {
            Some(log) if !log.output_dir.is_empty() => PathBuf::from(log.output_dir),
            _ => job_output_dir(&self.paths().job_output, job.id, job.submit_time.as_secs()),
        })
    }

    /// Log records `start..` of a job (at most `count`), each as lava-run sent it (without
    /// `output.yaml`'s `- ` list marker).
    pub async fn job_log(&self, job: &Job, start: u64, count: u64) -> Result<Vec<String>> {
        let dir = self.job_output_dir(job).await?;
        read_lines(&dir, start, count).map_err(|e| LabError::io(dir.join("output.yaml"), e))
    }

    /// A job's test results, in the order they were recorded.
    pub async fn test_cases(&self, job: JobId) -> Result<Vec<TestCase>> {
        Ok(self.store().test_cases(job).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab, user};

    const JOB: &str = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";

    #[tokio::test]
    async fn submit_needs_a_known_device_type_with_a_device_that_is_not_retired() {
        let (_dir, lab) = lab().await;
        let refused = |text: String| {
            let lab = &lab;
            async move {
                let err = lab.submit(&text, "bob").await.unwrap_err();
                assert!(matches!(err, LabError::DevicesUnavailable(_)), "{err:?}");
                err.to_string()
            }
        };
        // LAVA 2020.05's words (`_get_device_type`, `from_yaml_and_user`).
        assert_eq!(
            refused(JOB.replace("shell", "nope")).await,
            "Device type 'nope' is unavailable."
        );
        assert_eq!(
            refused(JOB.to_owned()).await,
            "No devices of type shell are available."
        );
        device(&lab, "shell01", "worker01").await;
        let mut retired = lab.store().device("shell01").await.unwrap().unwrap();
        retired.health = DeviceHealth::Retired;
        lab.store().update_device(&retired).await.unwrap();
        assert_eq!(
            refused(JOB.to_owned()).await,
            "No devices of type shell are available."
        );
        assert!(lab.jobs(&JobQuery::default()).await.unwrap().is_empty());
        // A Bad device may be back tomorrow: the job is taken and waits for it.
        retired.health = DeviceHealth::Bad;
        lab.store().update_device(&retired).await.unwrap();
        let done = lab.submit(JOB, "bob").await.unwrap();
        assert_eq!(done.ids.len(), 1);
        assert!(!done.multinode);
        let job = lab.job(done.ids[0]).await.unwrap();
        assert_eq!(
            (job.state, job.submitter.as_str()),
            (JobState::Submitted, "bob")
        );
    }

    fn multinode(server: u32, client: u32) -> String {
        format!(
            "job_name: mn\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\n\
             protocols:\n  lava-multinode:\n    roles:\n      server:\n        \
             device_type: shell\n        count: {server}\n      client:\n        \
             device_type: shell\n        count: {client}\n\
             actions:\n- command:\n    name: hello\n    role: [server, client]\n"
        )
    }

    #[tokio::test]
    async fn a_group_larger_than_its_device_type_is_refused_and_nothing_is_stored() {
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        // LAVA's rule: one role asks for more than the type has.
        let err = lab.submit(&multinode(2, 2), "bob").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "Not enough devices of type shell are currently available to user bob"
        );
        assert!(matches!(err, LabError::DevicesUnavailable(_)));
        // lava-rs' rule: the roles together ask for more.
        let err = lab.submit(&multinode(1, 1), "bob").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("the group needs 2 at once, 1 can be used"),
            "{err}"
        );
        // A caller asking for 10,000 devices is refused before any sub-job is made.
        let err = lab.submit(&multinode(5000, 5000), "bob").await.unwrap_err();
        assert!(matches!(err, LabError::DevicesUnavailable(_)), "{err}");
        assert!(lab.jobs(&JobQuery::default()).await.unwrap().is_empty());
        // With a second device the group fits.
        device(&lab, "shell02", "worker01").await;
        let done = lab.submit(&multinode(1, 1), "bob").await.unwrap();
        assert_eq!((done.ids.len(), done.multinode), (2, true));
    }

    #[tokio::test]
    async fn retired_devices_do_not_count_for_a_group() {
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        device(&lab, "shell02", "worker01").await;
        let mut retired = lab.store().device("shell02").await.unwrap().unwrap();
        retired.health = lava_core::model::DeviceHealth::Retired;
        lab.store().update_device(&retired).await.unwrap();
        assert!(lab.submit(&multinode(1, 1), "bob").await.is_err());
        retired.health = lava_core::model::DeviceHealth::Bad;
        lab.store().update_device(&retired).await.unwrap();
        // A Bad device may be back tomorrow: it counts.
        assert!(lab.submit(&multinode(1, 1), "bob").await.is_ok());
    }

    #[tokio::test]
    async fn group_visibility_lets_members_of_every_listed_group_see_the_job() {
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        for name in ["bob", "gina", "hal", "ivy"] {
            lab.add_user(name, false, "").await.unwrap();
        }
        lab.add_group("qa").await.unwrap();
        lab.add_group("ops").await.unwrap();
        lab.add_group_member("qa", "gina").await.unwrap();
        lab.add_group_member("ops", "gina").await.unwrap();
        lab.add_group_member("qa", "hal").await.unwrap();
        let unknown = JOB.replace("visibility: public", "visibility:\n  group: [nobody-knows]");
        let err = lab.submit(&unknown, "bob").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "No known groups were found in the visibility list."
        );
        // An unknown group beside known ones is left out, as LAVA leaves it out.
        let grouped = JOB.replace(
            "visibility: public",
            "visibility:\n  group: [qa, ops, nobody-knows]",
        );
        let id = lab.submit(&grouped, "bob").await.unwrap().ids[0];
        let job = lab.job(id).await.unwrap();
        let sees = |name: &'static str| {
            let lab = &lab;
            let job = job.clone();
            async move { lab.may_view(&job, Some(&user(name, false))).await.unwrap() }
        };
        assert!(sees("bob").await, "the submitter");
        assert!(sees("gina").await, "in qa and ops");
        assert!(!sees("hal").await, "in qa only");
        assert!(!sees("ivy").await, "in no group");
        assert!(!lab.may_view(&job, None).await.unwrap());
        assert!(lab.may_view(&job, Some(&user("root", true))).await.unwrap());
        let listed = lab
            .jobs(&JobQuery {
                viewer: Some(user("gina", false)),
                ..JobQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
    }

    #[tokio::test]
    async fn submit_and_cancel_follow_device_and_device_type_permissions() {
        use lava_core::scheduler::ObjectPermission;
        use lava_store::GrantOn;
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        for name in ["alice", "bob", "carl", "dana"] {
            lab.add_user(name, false, "").await.unwrap();
        }
        lab.add_group("lab").await.unwrap();
        lab.add_group("keepers").await.unwrap();
        lab.add_group("type-keepers").await.unwrap();
        lab.add_group_member("lab", "alice").await.unwrap();
        lab.add_group_member("keepers", "carl").await.unwrap();
        lab.add_group_member("type-keepers", "dana").await.unwrap();
        lab.grant(GrantOn::Device, "shell01", "lab", ObjectPermission::Submit)
            .await
            .unwrap();
        // bob is in no group holding submit on the only device: refused in LAVA's words.
        let err = lab.submit(JOB, "bob").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "No devices from ['shell01'] pool are currently available to user bob"
        );
        let id = lab.submit(JOB, "alice").await.unwrap().ids[0];
        // Change on the type lets dana cancel a job that has no device yet; carl's change
        // on the device does not count before the job holds it.
        lab.grant(
            GrantOn::DeviceType,
            "shell",
            "type-keepers",
            ObjectPermission::Change,
        )
        .await
        .unwrap();
        lab.grant(
            GrantOn::Device,
            "shell01",
            "keepers",
            ObjectPermission::Change,
        )
        .await
        .unwrap();
        let err = lab.cancel(id, &user("carl", false)).await.unwrap_err();
        assert!(matches!(err, LabError::PermissionDenied(_)), "{err}");
        let err = lab.cancel(id, &user("bob", false)).await.unwrap_err();
        assert!(matches!(err, LabError::PermissionDenied(_)), "{err}");
        assert_eq!(
            lab.cancel(id, &user("dana", false)).await.unwrap(),
            Canceled::Now
        );
        // On a job holding shell01, carl (change on the device) may cancel and dana may not:
        // the device answers for itself once a group holds change on it.
        let mut job = lab
            .job(lab.submit(JOB, "alice").await.unwrap().ids[0])
            .await
            .unwrap();
        job.actual_device = Some("shell01".into());
        assert!(lab.may_cancel(&job, &user("carl", false)).await.unwrap());
        assert!(!lab.may_cancel(&job, &user("dana", false)).await.unwrap());
    }

    #[tokio::test]
    async fn legacy_jobs_are_stored_private_with_the_reason() {
        let (_dir, lab) = lab().await;
        let legacy = r#"{"job_name": "old", "device_type": "shell", "timeout": 900,
            "actions": [{"command": "deploy_linaro_image", "parameters": {}}]}"#;
        let done = lab.submit(legacy, "bob").await.unwrap();
        let job = lab.job(done.ids[0]).await.unwrap();
        assert!(!job.is_public);
        assert_eq!(
            job.failure_comment.as_deref(),
            Some(lava_core::job::LEGACY_REASON)
        );
        // Its device type must still be one the lab has.
        let err = lab
            .submit(&legacy.replace("\"shell\"", "\"nope\""), "bob")
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Device type 'nope' is unavailable.");
    }

    #[tokio::test]
    async fn only_the_submitter_or_an_admin_cancels_and_twice_is_fine() {
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        let id = lab.submit(JOB, "bob").await.unwrap().ids[0];
        let err = lab.cancel(id, &user("eve", false)).await.unwrap_err();
        assert!(matches!(err, LabError::PermissionDenied(_)), "{err}");
        assert_eq!(
            lab.cancel(id, &user("bob", false)).await.unwrap(),
            Canceled::Now
        );
        let job = lab.job(id).await.unwrap();
        assert_eq!(
            (job.state, job.health),
            (JobState::Finished, JobHealth::Canceled)
        );
        assert_eq!(
            lab.cancel(id, &user("root", true)).await.unwrap(),
            Canceled::Finished
        );
    }

    #[tokio::test]
    async fn private_jobs_are_seen_by_their_submitter_and_admins() {
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        let private = JOB.replace("visibility: public", "visibility: personal");
        let id = lab.submit(&private, "bob").await.unwrap().ids[0];
        let query = |viewer: Option<User>| JobQuery {
            viewer,
            ..JobQuery::default()
        };
        assert!(lab.jobs(&query(None)).await.unwrap().is_empty());
        assert!(lab
            .jobs(&query(Some(user("eve", false))))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            lab.jobs(&query(Some(user("bob", false))))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            lab.jobs(&query(Some(user("root", true))))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(matches!(
            lab.visible_job(id, None).await,
            Err(LabError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_page_of_public_jobs_behind_many_private_ones() {
        let (_dir, lab) = lab().await;
        device(&lab, "shell01", "worker01").await;
        let private = JOB.replace("visibility: public", "visibility: personal");
        let mut public = Vec::new();
        for _ in 0..3 {
            public.push(lab.submit(JOB, "bob").await.unwrap().ids[0]);
        }
        for _ in 0..100 {
            lab.submit(&private, "bob").await.unwrap();
        }
        let page = lab
            .jobs(&JobQuery {
                start: 1,
                limit: Some(2),
                ..JobQuery::default()
            })
            .await
            .unwrap();
        let ids: Vec<JobId> = page.iter().map(|j| j.id).collect();
        assert_eq!(ids, [public[1], public[0]]);
    }
}
