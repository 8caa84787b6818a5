//! A small lab builder for scheduler tests, and a way to apply a pass's decisions.

#![allow(dead_code)]

use lava_core::model::transitions;
use lava_core::model::ErrorType;
use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobId,
    JobState, MultinodeMembership, Priority, Worker, WorkerHealth, WorkerState,
};
use lava_core::scheduler::{
    schedule, schedule_health_checks, schedule_jobs, Decisions, DeviceOrder, LabSnapshot,
    LastHealthCheck, PassOptions, SnapshotDictionaries,
};
use lava_core::time::Timestamp;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

pub const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);
pub const HOUR: i64 = 3600;

pub fn device_type(name: &str, health_check: bool) -> DeviceType {
    DeviceType {
        name: name.into(),
        health_check_definition: health_check
            .then(|| format!("job_name: {name} health check\nvisibility: public\n")),
        health_frequency: 24,
        health_denominator: HealthDenominator::Hours,
        disable_health_check: false,
        display: true,
        description: String::new(),
    }
}

pub fn worker(hostname: &str) -> Worker {
    Worker {
        hostname: hostname.into(),
        state: WorkerState::Online,
        health: WorkerHealth::Active,
        description: String::new(),
        job_limit: 0,
        last_ping: None,
        version: None,
    }
}

pub fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub fn job(id: JobId, device_type: &str, priority: u8) -> Job {
    Job {
        id,
        submitter: "user-01".into(),
        definition: format!("job_name: job {id}\n"),
        state: JobState::Submitted,
        health: JobHealth::Unknown,
        priority: Priority::new(i64::from(priority)).unwrap_or_default(),
        submit_time: NOW.add_secs(-1000 + id),
        start_time: None,
        end_time: None,
        requested_device_type: Some(device_type.into()),
        tags: BTreeSet::new(),
        multinode: None,
        health_check: false,
        actual_device: None,
        failure_comment: None,
        is_public: true,
    }
}

pub fn sub_job(id: JobId, device_type: Option<&str>, group: &str, role: &str) -> Job {
    let mut j = job(id, device_type.unwrap_or(""), 50);
    j.requested_device_type = device_type.map(str::to_owned);
    j.definition = format!(
        "job_name: job {id}\nvisibility: public\nprotocols:\n  lava-multinode:\n    \
         target_group: {group}\n    role: {role}\n"
    );
    j.multinode = Some(MultinodeMembership {
        group: group.into(),
        role: role.into(),
    });
    j
}

/// A lab under construction.
#[derive(Default)]
pub struct Lab {
    pub snapshot: LabSnapshot,
}

impl Lab {
    pub fn new() -> Self {
        let mut lab = Lab::default();
        lab.snapshot.now = NOW;
        lab.snapshot.workers.push(worker("worker-01"));
        lab
    }

    pub fn with_type(mut self, t: DeviceType) -> Self {
        self.snapshot.device_types.push(t);
        self
    }

    /// A Good, Idle device with a recent health check, on worker-01, valid dictionary.
    pub fn with_device(mut self, hostname: &str, device_type: &str) -> Self {
        self.add_device(hostname, device_type, DeviceHealth::Good, &[]);
        self
    }

    pub fn add_device(
        &mut self,
        hostname: &str,
        device_type: &str,
        health: DeviceHealth,
        device_tags: &[&str],
    ) -> &mut Device {
        let last = 100_000 + self.snapshot.devices.len() as i64;
        self.snapshot.devices.push(Device {
            hostname: hostname.into(),
            device_type: device_type.into(),
            state: DeviceState::Idle,
            health,
            worker: Some("worker-01".into()),
            tags: tags(device_tags),
            last_health_report_job: Some(last),
            description: String::new(),
        });
        self.snapshot.last_health_checks.insert(
            hostname.into(),
            LastHealthCheck {
                job: last,
                submit_time: NOW.add_secs(-HOUR),
                jobs_since: 0,
            },
        );
        self.snapshot.valid_dictionaries.insert(hostname.into());
        self.snapshot.devices.last_mut().unwrap()
    }

    pub fn with_job(mut self, job: Job) -> Self {
        self.snapshot.jobs.push(job);
        self
    }

    pub fn device(&mut self, hostname: &str) -> &mut Device {
        self.snapshot
            .devices
            .iter_mut()
            .find(|d| d.hostname == hostname)
            .unwrap()
    }

    pub fn pass(&self) -> Decisions {
        schedule(&self.snapshot, DeviceOrder::Hostname)
    }

    /// LAVA's `schedule_health_checks()`: only the health-check part.
    pub fn health_checks_only(&self) -> Decisions {
        schedule_health_checks(
            &self.snapshot,
            &PassOptions::default(),
            &mut SnapshotDictionaries::new(&self.snapshot),
        )
    }

    /// LAVA's `schedule_jobs(available_devices)`, with explanations.
    pub fn jobs_only(&self, available: &BTreeMap<String, Vec<String>>) -> Decisions {
        schedule_jobs(
            &self.snapshot,
            available,
            &PassOptions::explained(DeviceOrder::Hostname),
            &mut SnapshotDictionaries::new(&self.snapshot),
        )
    }

    /// The reason given for a job left waiting.
    pub fn why(&self, decisions: &Decisions, job: JobId) -> lava_core::scheduler::WaitReason {
        decisions
            .waiting_jobs
            .iter()
            .find(|w| w.job == job)
            .map(|w| w.reason.clone())
            .unwrap_or_else(|| panic!("no reason for job {job}: {:?}", decisions.waiting_jobs))
    }

    /// Runs a pass and writes its decisions into the snapshot (health checks become jobs
    /// with fresh ids), as a store would.
    pub fn pass_and_apply(&mut self) -> Decisions {
        let decisions = self.pass();
        let changes = decisions.changes(&self.snapshot).unwrap();
        for device in changes.devices {
            let hostname = device.hostname.clone();
            *self.device(&hostname) = device;
        }
        for job in changes.jobs {
            let slot = self
                .snapshot
                .jobs
                .iter_mut()
                .find(|j| j.id == job.id)
                .unwrap();
            *slot = job;
        }
        for check in &decisions.health_checks {
            let id = 900_000 + self.snapshot.jobs.len() as i64;
            let mut hc = job(id, &check.device_type, 100);
            hc.health_check = true;
            hc.state = JobState::Scheduled;
            hc.actual_device = Some(check.device.clone());
            hc.submit_time = self.snapshot.now;
            self.snapshot.jobs.push(hc);
        }
        decisions
    }

    /// Ends the job that holds `hostname` with `health`, freeing the device.
    pub fn finish_job_on(&mut self, hostname: &str, health: JobHealth) -> JobId {
        let job = self
            .snapshot
            .jobs
            .iter()
            .find(|j| j.actual_device.as_deref() == Some(hostname) && j.state != JobState::Finished)
            .cloned()
            .unwrap();
        let device = self.device(hostname).clone();
        let now = self.snapshot.now;
        let changes =
            transitions::job_finished(&job, Some(&device), health, &ErrorType::None, now).unwrap();
        *self.device(hostname) = changes.devices[0].clone();
        let finished = changes.jobs[0].clone();
        if finished.health_check {
            self.snapshot.last_health_checks.insert(
                hostname.into(),
                LastHealthCheck {
                    job: finished.id,
                    submit_time: finished.submit_time,
                    jobs_since: 0,
                },
            );
        }
        let slot = self
            .snapshot
            .jobs
            .iter_mut()
            .find(|j| j.id == job.id)
            .unwrap();
        *slot = finished;
        job.id
    }

    pub fn state_of(&self, id: JobId) -> (JobState, Option<String>) {
        let j = self.snapshot.jobs.iter().find(|j| j.id == id).unwrap();
        (j.state, j.actual_device.clone())
    }
}

/// The (job, device) pairs of a pass.
pub fn pairs(decisions: &Decisions) -> Vec<(JobId, Option<String>, JobState)> {
    decisions
        .assignments
        .iter()
        .map(|a| (a.job, a.device.clone(), a.state))
        .collect()
}

pub fn checked(decisions: &Decisions) -> Vec<&str> {
    decisions
        .health_checks
        .iter()
        .map(|h| h.device.as_str())
        .collect()
}
