//! One scheduling pass over the lab: the store's snapshot in, the core scheduler's decisions
//! out, written in one transaction.
//!
//! The decisions are [`lava_core::scheduler`]'s; this module reads what it needs (which jobs
//! are legacy JSON, which VLANs jobs ask for; the pass asks about devices' dictionaries,
//! health checks and interfaces lazily through [`LabDictionaries`]), writes the decisions
//! with the preconditions they were computed on, and creates the health-check jobs.

use crate::dictionaries::LabDictionaries;
use crate::error::Result;
use crate::lab::Lab;
use crate::run::change_set;
use crate::why::Explanations;
use lava_core::model::{Device, Job, JobHealth, JobId, JobState, Priority};
use lava_core::scheduler::{
    self, vlan_request, Decisions, DeviceOrder, HealthCheck, LabSnapshot, LastHealthCheck,
    PassOptions, Vlan,
};
use lava_core::time::Timestamp;
use lava_store::Precondition;
use std::collections::{BTreeSet, HashMap};

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

    /// The snapshot a pass looks at: the store's rows, which jobs are legacy JSON, which
    /// VLANs the queued jobs ask for (devices' dictionaries are asked about lazily).
    pub(crate) async fn pass_snapshot(&self) -> Result<LabSnapshot> {
        let snapshot = self.store().scheduler_snapshot().await?;
        let legacy_jobs = snapshot
            .queued_jobs
            .iter()
            .filter(|j| lava_core::job::legacy_reason(&j.definition).is_some())
            .map(|j| j.id)
            .collect();
        let vlan_requests = vlan_requests(&snapshot.queued_jobs);
        Ok(LabSnapshot {
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
            legacy_jobs,
            vlan_requests,
            now: self.now(),
            permissions: self.permissions().await?,
            bound_waiting_groups: true,
            // Dictionaries, health checks and interfaces are asked lazily (LabDictionaries).
            ..LabSnapshot::default()
        })
    }

    /// The core scheduler's decisions over `lab`, with an explanation for every job left
    /// waiting; the pass asks the lab's files about devices ([`LabDictionaries`]).
    pub(crate) fn decide(&self, lab: &LabSnapshot, order: DeviceOrder) -> Decisions {
        let options = PassOptions::explained(order);
        let mut memo = self
            .health_check_memo
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        scheduler::schedule_with(lab, &options, &mut LabDictionaries::new(self, &mut memo))
    }

    async fn try_schedule(&self) -> Result<Vec<Job>> {
        let started = std::time::Instant::now();
        let result = self.schedule_once().await;
        self.metrics()
            .scheduling_pass(started.elapsed(), result.is_ok());
        result
    }

    async fn schedule_once(&self) -> Result<Vec<Job>> {
        let lab = self.pass_snapshot().await?;
        let order = DeviceOrder::Shuffled {
            seed: self.random().next_u64(),
        };
        let decisions = self.decide(&lab, order);
        // The pass explained every job it left waiting: keep that for "why is my job
        // still waiting?" until the next pass.
        self.publish_explanations(Explanations::from_pass(&lab, &decisions));
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

/// The VLANs each queued `lava-vland` job asks for. Only definitions that name the protocol
/// are read: reading every queued definition each pass would cost more than the pass.
fn vlan_requests(jobs: &[Job]) -> HashMap<JobId, Vec<Vlan>> {
    jobs.iter()
        .filter(|j| j.definition.contains("lava-vland"))
        .filter_map(|j| match vlan_request(&j.definition) {
            Ok(vlans) => vlans.map(|v| (j.id, v)),
            Err(e) => {
                // Checked at submission; a stored job that fails now asks for no VLAN.
                tracing::warn!(job = j.id, "cannot read the job's lava-vland request: {e}");
                None
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use crate::testing::{device, lab};
    use crate::DeviceUpdate;
    use lava_core::model::{DeviceHealth, JobState};

    const CHECK: &str = "device_type: shell\njob_name: health\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: check\n";

    /// A lab with one online device `d1` whose health is Unknown (a check is due), and the
    /// health-checks file `file` holding `check`.
    async fn due_for_a_check(file: &str, check: &str) -> (tempfile::TempDir, crate::Lab) {
        let (dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        lab.worker_online("w1").await.unwrap();
        let update = DeviceUpdate {
            health: Some(DeviceHealth::Unknown),
            ..DeviceUpdate::default()
        };
        lab.update_device("d1", &update).await.unwrap();
        let checks = lab.paths().health_checks_dir();
        std::fs::create_dir_all(&checks).unwrap();
        std::fs::write(checks.join(file), check).unwrap();
        (dir, lab)
    }

    #[tokio::test]
    async fn a_device_runs_the_health_check_named_after_the_template_it_extends() {
        let (_dir, lab) = due_for_a_check("shell.yaml", CHECK).await;
        let scheduled = lab.schedule().await.unwrap();
        assert_eq!(scheduled.len(), 1, "{scheduled:?}");
        assert!(scheduled[0].health_check);
        assert_eq!(scheduled[0].definition, CHECK);
        assert_eq!(scheduled[0].actual_device.as_deref(), Some("d1"));
    }

    #[tokio::test]
    async fn an_invalid_health_check_file_makes_the_device_bad() {
        let (_dir, lab) = due_for_a_check("shell.yml", "job_name: [unclosed\n").await;
        assert!(lab.schedule().await.unwrap().is_empty());
        let d1 = lab.device("d1").await.unwrap();
        assert_eq!(d1.health, DeviceHealth::Bad);
    }

    #[tokio::test]
    async fn a_dictionary_that_fails_the_device_schema_makes_the_device_bad() {
        let (_dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        device(&lab, "d2", "w1").await;
        lab.worker_online("w1").await.unwrap();
        // Written behind the lab's back (as an admin editing the file would): it renders,
        // but LAVA's device schema refuses a top-level `hostname`.
        let bad = "{% extends 'shell.jinja2' %}\n{% block extra %}hostname: d1\n{% endblock %}\n";
        std::fs::write(lab.paths().devices_dir().join("d1.jinja2"), bad).unwrap();
        let problem = lab.device_problem(&lab.device("d1").await.unwrap());
        assert!(
            problem
                .as_ref()
                .is_some_and(|p| p.to_string().contains("hostname")),
            "{problem:?}"
        );
        let job = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";
        let ids = lab.submit(job, "bob").await.unwrap().ids;
        lab.submit(job, "bob").await.unwrap();
        let scheduled = lab.schedule().await.unwrap();
        assert_eq!(scheduled.len(), 1);
        assert_eq!(scheduled[0].actual_device.as_deref(), Some("d2"));
        assert_eq!(lab.device("d1").await.unwrap().health, DeviceHealth::Bad);
        assert!(lab.job(ids[0]).await.is_ok());
        let queued = lab
            .store()
            .scheduler_snapshot()
            .await
            .unwrap()
            .queued_jobs
            .into_iter()
            .filter(|j| j.state == JobState::Submitted)
            .count();
        assert_eq!(queued, 1);
    }
}
