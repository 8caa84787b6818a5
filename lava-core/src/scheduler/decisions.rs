//! What a pass decided, and the rows that writing it changes.

use super::explain::WaitingJob;
use super::health::DueReason;
use super::LabSnapshot;
use crate::job::set_multinode_roles;
use crate::model::transitions::{self, Changes};
use crate::model::{Device, DeviceHealth, DeviceState, Job, JobId, JobState, TransitionError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A health check to create: a new job, Scheduled on `device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The device to check (it becomes Reserved).
    pub device: String,
    /// Its type.
    pub device_type: String,
    /// The definition of the health-check job (the device's own, see
    /// [`super::DeviceDictionaries::health_check`]).
    pub definition: String,
    /// Why it is due.
    pub reason: DueReason,
}

/// A queued job that changes state in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The job.
    pub job: JobId,
    /// The device it holds (`None` for a multinode dynamic connection).
    pub device: Option<String>,
    /// Its new state: Scheduled, or Scheduling for a sub-job whose group is incomplete.
    pub state: JobState,
}

/// A device health the pass changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceHealthChange {
    /// The device.
    pub device: String,
    /// Its health before the pass.
    pub from: DeviceHealth,
    /// Its new health.
    pub to: DeviceHealth,
    /// Why, in LAVA's words for the admin log: `Invalid device configuration` or
    /// `Invalid health check`.
    pub reason: &'static str,
    /// What exactly is wrong, when known (e.g. why the health-check definition cannot
    /// become a job).
    pub detail: Option<String>,
}

/// A multinode group that holds devices but cannot start yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingGroup {
    /// The group id.
    pub group: String,
    /// Sub-jobs that hold a device (Scheduling), with their device.
    pub reserved: Vec<(JobId, String)>,
    /// Sub-jobs still waiting for a device (Submitted), with their role.
    pub waiting: Vec<(JobId, String)>,
    /// Sub-jobs that already left the queue (e.g. Finished), with their state: while there
    /// is one, LAVA never starts the group.
    pub blocking: Vec<(JobId, JobState)>,
}

/// A sub-job of a multinode group that can never start, giving its device back: the job
/// goes back to Submitted and the device to Idle (lava-rs' bound on what a waiting group
/// may hold; LAVA keeps such devices Reserved forever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The sub-job.
    pub job: JobId,
    /// The device it held.
    pub device: String,
    /// Its group.
    pub group: String,
    /// Why the group cannot start, for the admin log.
    pub reason: String,
}

/// A multinode group the pass starts: every sub-job goes Scheduled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedGroup {
    /// The group id.
    pub group: String,
    /// The role of every sub-job that holds a device, by job id: LAVA writes this map
    /// (with the ids as strings) into `protocols.lava-multinode.roles` of every sub-job of
    /// the group, dynamic connections included, for the dispatcher.
    pub roles: BTreeMap<JobId, String>,
}

/// When a device was skipped because its worker is at its job limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// While looking for due health checks.
    HealthChecks,
    /// While offering jobs.
    Jobs,
}

/// A free device the pass skipped because its worker already runs as many jobs as its
/// `job_limit` allows (LAVA logs "SKIP … due to … having n jobs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDevice {
    /// The device.
    pub device: String,
    /// Its worker.
    pub worker: String,
    /// Devices Reserved or Running on the worker at that moment of the pass.
    pub busy: u32,
    /// The worker's job limit.
    pub job_limit: u32,
    /// Which part of the pass skipped it.
    pub phase: Phase,
}

/// What one pass decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// Health-check jobs to create, Scheduled on their device.
    pub health_checks: Vec<HealthCheck>,
    /// Queued jobs that got a device or moved on (one entry per job, in decision order).
    pub assignments: Vec<Assignment>,
    /// Device health changes (invalid device dictionaries or health checks).
    pub device_health: Vec<DeviceHealthChange>,
    /// Multinode groups that hold devices but are still incomplete, by group id.
    pub waiting_groups: Vec<WaitingGroup>,
    /// Multinode groups the pass starts, with their roles, by group id.
    pub started_groups: Vec<StartedGroup>,
    /// Sub-jobs of groups that can never start, giving their device back.
    pub released: Vec<Released>,
    /// The devices left available for jobs after the health checks, per device type, in
    /// hostname order (LAVA's `available_devices` of `schedule_health_checks()`); for a
    /// pass over given available devices, those.
    pub available_devices: BTreeMap<String, Vec<String>>,
    /// Free devices skipped because their worker is at its job limit, in pass order.
    pub skipped_devices: Vec<SkippedDevice>,
    /// Why each queued job that the pass does not start waits (only when the pass was
    /// asked to explain): first the jobs still queued, per device type by name, in queue
    /// order; then the others (multinode sub-jobs holding devices, legacy jobs, unknown
    /// device types) in snapshot order.
    pub waiting_jobs: Vec<WaitingJob>,
}

impl Decisions {
    /// The jobs that leave the Submitted state, health checks included: the figure LAVA's
    /// `schedule()` is measured by.
    pub fn started_jobs(&self, lab: &LabSnapshot) -> usize {
        let submitted: HashSet<JobId> = lab
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Submitted)
            .map(|j| j.id)
            .collect();
        self.health_checks.len()
            + self
                .assignments
                .iter()
                .filter(|a| submitted.contains(&a.job))
                .count()
    }

    /// The rows to write, built with the [`transitions`] functions (health-check jobs are
    /// not included: the store creates them, with the ids it allocates). Every sub-job of
    /// a started group comes with its roles written into its definition.
    ///
    /// A sub-job whose definition cannot take the roles (not YAML, or no `lava-multinode`
    /// protocol: a row the store should never have accepted) is refused as a transition
    /// error naming the job.
    pub fn changes(&self, lab: &LabSnapshot) -> Result<Changes, TransitionError> {
        let mut devices: BTreeMap<String, Device> = lab
            .devices
            .iter()
            .map(|d| (d.hostname.clone(), d.clone()))
            .collect();
        let jobs: HashMap<JobId, &Job> = lab.jobs.iter().map(|j| (j.id, j)).collect();
        let mut touched = BTreeSet::new();
        let mut out = Changes::default();
        let absent = |object: String| TransitionError {
            object,
            from: "absent from the snapshot".into(),
            to: "changed".into(),
        };
        for change in &self.device_health {
            let device = devices
                .get_mut(&change.device)
                .ok_or_else(|| absent(format!("device {}", change.device)))?;
            device.health = change.to;
            touched.insert(change.device.clone());
        }
        for release in &self.released {
            let job = *jobs
                .get(&release.job)
                .ok_or_else(|| absent(format!("job {}", release.job)))?;
            let device = devices
                .get(&release.device)
                .ok_or_else(|| absent(format!("device {}", release.device)))?;
            let step = transitions::job_released(job, device)?;
            for device in step.devices {
                touched.insert(device.hostname.clone());
                devices.insert(device.hostname.clone(), device);
            }
            out.jobs.extend(step.jobs);
        }
        for check in &self.health_checks {
            let device = devices
                .get_mut(&check.device)
                .ok_or_else(|| absent(format!("device {}", check.device)))?;
            if device.state != DeviceState::Idle {
                return Err(TransitionError {
                    object: format!("device {}", device.hostname),
                    from: device.state.to_string(),
                    to: DeviceState::Reserved.to_string(),
                });
            }
            device.state = DeviceState::Reserved;
            touched.insert(check.device.clone());
        }
        for assignment in &self.assignments {
            let job = *jobs
                .get(&assignment.job)
                .ok_or_else(|| absent(format!("job {}", assignment.job)))?;
            // A device the job does not hold yet is reserved now.
            let fresh = match (&job.actual_device, &assignment.device) {
                (None, Some(host)) => Some(
                    devices
                        .get(host)
                        .ok_or_else(|| absent(format!("device {host}")))?
                        .clone(),
                ),
                _ => None,
            };
            let step = match (assignment.state, fresh) {
                (JobState::Scheduling, Some(device)) => transitions::job_scheduling(job, &device)?,
                (JobState::Scheduled, Some(device)) if job.multinode.is_some() => {
                    let first = transitions::job_scheduling(job, &device)?;
                    let mut then = transitions::job_scheduled(&first.jobs[0], None)?;
                    then.devices = first.devices;
                    then
                }
                (JobState::Scheduled, device) => transitions::job_scheduled(job, device.as_ref())?,
                (state, _) => {
                    return Err(TransitionError {
                        object: format!("job {}", job.id),
                        from: job.state.to_string(),
                        to: state.to_string(),
                    })
                }
            };
            for device in step.devices {
                touched.insert(device.hostname.clone());
                devices.insert(device.hostname.clone(), device);
            }
            out.jobs.extend(step.jobs);
        }
        self.write_roles(lab, &mut out.jobs)?;
        out.devices = touched
            .iter()
            .filter_map(|h| devices.get(h).cloned())
            .collect();
        Ok(out)
    }

    /// Writes each started group's roles into the definition of every one of its
    /// sub-jobs, adding the rows of sub-jobs that do not change state.
    fn write_roles(&self, lab: &LabSnapshot, rows: &mut Vec<Job>) -> Result<(), TransitionError> {
        if self.started_groups.is_empty() {
            return Ok(());
        }
        let roles: HashMap<&str, &BTreeMap<JobId, String>> = self
            .started_groups
            .iter()
            .map(|g| (g.group.as_str(), &g.roles))
            .collect();
        let changed: HashSet<JobId> = rows.iter().map(|j| j.id).collect();
        rows.extend(
            lab.jobs
                .iter()
                .filter(|j| j.target_group().is_some_and(|g| roles.contains_key(g)))
                .filter(|j| !changed.contains(&j.id))
                .cloned(),
        );
        for row in rows.iter_mut() {
            let Some(group_roles) = row.target_group().and_then(|g| roles.get(g)) else {
                continue;
            };
            row.definition =
                set_multinode_roles(&row.definition, group_roles).map_err(|e| TransitionError {
                    object: format!("job {}", row.id),
                    from: format!("a definition that cannot take its group's roles ({e})"),
                    to: JobState::Scheduled.to_string(),
                })?;
        }
        Ok(())
    }
}
