//! One scheduling pass over the lab: the store's snapshot in, the core scheduler's decisions
//! out, written in one transaction.
//!
//! The decisions are [`lava_core::scheduler`]'s; this module reads what it needs (which
//! devices have a usable dictionary, which jobs are legacy JSON), writes the decisions with
//! the preconditions they were computed on, and creates the health-check jobs.

use crate::error::Result;
use crate::lab::Lab;
use crate::run::change_set;
use lava_core::model::{
    Device, DeviceHealth, DeviceState, Job, JobHealth, JobId, JobState, Priority, WorkerHealth,
    WorkerState,
};
use lava_core::scheduler::{self, DeviceOrder, HealthCheck, LabSnapshot, LastHealthCheck};
use lava_core::time::Timestamp;
use lava_store::Precondition;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The submitter recorded on health-check jobs (LAVA's user `lava-health`).
pub const HEALTH_CHECK_SUBMITTER: &str = "lava-health";

impl Lab {
    /// Runs one scheduling pass and returns the jobs it Scheduled (health checks included),
    /// whose START the master now sends. Devices are offered jobs in an order drawn from
    /// the lab's random source, as LAVA's random order shares the load.
    pub async fn schedule(&self) -> Result<Vec<Job>> {
        self.retrying("the scheduling pass", || self.try_schedule())
            .await
    }

    async fn try_schedule(&self) -> Result<Vec<Job>> {
        let snapshot = self.store().scheduler_snapshot().await?;
        let online: HashSet<&str> = snapshot
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Online && w.health == WorkerHealth::Active)
            .map(|w| w.hostname.as_str())
            .collect();
        // Only devices that may get work this pass need their dictionary checked.
        let valid_dictionaries = snapshot
            .devices
            .iter()
            .filter(|d| {
                d.state == DeviceState::Idle
                    && matches!(
                        d.health,
                        DeviceHealth::Good | DeviceHealth::Unknown | DeviceHealth::Looping
                    )
                    && d.worker.as_deref().is_some_and(|w| online.contains(w))
            })
            .filter(|d| {
                let check = self.check_device(d);
                if let Err(e) = &check.dictionary {
                    tracing::warn!(device = %d.hostname, "device dictionary is invalid: {e}");
                }
                check.is_valid()
            })
            .map(|d| d.hostname.clone())
            .collect();
        let legacy_jobs = snapshot
            .queued_jobs
            .iter()
            .filter(|j| lava_core::job::legacy_reason(&j.definition).is_some())
            .map(|j| j.id)
            .collect();
        let lab = LabSnapshot {
            device_types: snapshot.device_types,
            devices: snapshot.devices,
            workers: snapshot.workers,
            jobs: snapshot.queued_jobs,
            last_health_checks: snapshot
                .health_history
                .into_iter()
                .map(|(device, h)| {
                    let check = LastHealthCheck {
                        job: h.last_health_check,
                        submit_time: h.submit_time,
                        jobs_since: u32::try_from(h.jobs_since).unwrap_or(u32::MAX),
                    };
                    (device, check)
                })
                .collect(),
            valid_dictionaries,
            legacy_jobs,
            now: self.now(),
            permissions: self.permissions().await?,
            bound_waiting_groups: true,
            // Per-device health checks and VLANs: not read from the store yet.
            ..LabSnapshot::default()
        };
        let order = DeviceOrder::Shuffled {
            seed: self.random().next_u64(),
        };
        let decisions = scheduler::schedule(&lab, order);
        for change in &decisions.device_health {
            tracing::warn!(device = %change.device, from = %change.from, to = %change.to, "device health: {}", change.reason);
        }
        for group in &decisions.waiting_groups {
            tracing::info!(group = %group.group, reserved = group.reserved.len(), waiting = group.waiting.len(), "multinode group waits for devices");
        }
        for release in &decisions.released {
            tracing::warn!(job = release.job, device = %release.device, group = %release.group, "multinode group can never start, device given back: {}", release.reason);
        }
        if decisions.health_checks.is_empty()
            && decisions.assignments.is_empty()
            && decisions.device_health.is_empty()
            && decisions.released.is_empty()
        {
            return Ok(Vec::new());
        }
        let mut set = change_set(decisions.changes(&lab)?);
        // Written only if nobody changed what the pass read.
        let jobs_before: HashMap<JobId, JobState> =
            lab.jobs.iter().map(|j| (j.id, j.state)).collect();
        for job in &set.jobs {
            if let Some(state) = jobs_before.get(&job.id) {
                set.preconditions
                    .push(Precondition::JobState(job.id, *state));
            }
        }
        let devices_before: HashMap<&str, &Device> = lab
            .devices
            .iter()
            .map(|d| (d.hostname.as_str(), d))
            .collect();
        for device in &set.devices {
            if let Some(before) = devices_before.get(device.hostname.as_str()) {
                set.preconditions.push(Precondition::DeviceState(
                    device.hostname.clone(),
                    before.state,
                ));
            }
        }
        for check in &decisions.health_checks {
            set.new_jobs.push(health_check_job(check, lab.now));
        }
        let applied = self.store().apply(&set).await?;
        let mut scheduled: Vec<Job> = set
            .jobs
            .into_iter()
            .filter(|j| j.state == JobState::Scheduled)
            .collect();
        for id in applied.new_jobs {
            scheduled.push(self.job(id).await?);
        }
        for job in &scheduled {
            tracing::info!(
                job = job.id,
                device = job.actual_device.as_deref().unwrap_or("-"),
                health_check = job.health_check,
                "job scheduled"
            );
        }
        Ok(scheduled)
    }
}

/// The row of a health-check job, Scheduled on its device.
fn health_check_job(check: &HealthCheck, now: Timestamp) -> Job {
    Job {
        id: 0,
        submitter: HEALTH_CHECK_SUBMITTER.into(),
        definition: check.definition.clone(),
        state: JobState::Scheduled,
        health: JobHealth::Unknown,
        priority: Priority::default(),
        submit_time: now,
        start_time: None,
        end_time: None,
        requested_device_type: Some(check.device_type.clone()),
        tags: BTreeSet::new(),
        multinode: None,
        health_check: true,
        actual_device: Some(check.device.clone()),
        failure_comment: None,
        is_public: true,
    }
}
