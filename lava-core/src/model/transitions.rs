//! State transitions of jobs, devices and workers, with LAVA's side effects.
//!
//! Every transition is a pure function: it reads the rows it needs, checks that the change is
//! legal and returns the changed rows as a [`Changes`], which a store writes in one
//! transaction. Nothing is mutated in place, so a refused transition leaves no trace and a
//! store never sees half of a change (a job Finished but its device still Reserved).
//!
//! The rules are those of LAVA 2020.05 (`TestJob.go_state_*`, `Device.testjob_signal`,
//! `Device.worker_signal`, `Worker.go_health_*`). Where LAVA silently ignores a request that
//! makes no sense (e.g. scheduling a job that already runs), we refuse it with a
//! [`TransitionError`] so that the caller learns about its own bug.

use super::{
    Device, DeviceHealth, DeviceState, ErrorType, Job, JobHealth, JobState, TransitionError,
    Worker, WorkerHealth, WorkerState,
};
use crate::time::Timestamp;

/// The rows a transition changed, to be written atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Changed jobs, in their new state.
    pub jobs: Vec<Job>,
    /// Changed devices, in their new state.
    pub devices: Vec<Device>,
    /// Changed workers, in their new state.
    pub workers: Vec<Worker>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.devices.is_empty() && self.workers.is_empty()
    }
}

fn refuse(object: String, from: impl ToString, to: impl ToString) -> TransitionError {
    TransitionError {
        object,
        from: from.to_string(),
        to: to.to_string(),
    }
}

fn job_name(job: &Job) -> String {
    format!("job {}", job.id)
}

fn device_name(device: &Device) -> String {
    format!("device {}", device.hostname)
}

/// Checks that `device` is the one `job` holds.
fn check_own_device(job: &Job, device: &Device, to: JobState) -> Result<(), TransitionError> {
    if job.actual_device.as_deref() == Some(device.hostname.as_str()) {
        Ok(())
    } else {
        Err(refuse(
            format!(
                "job {} (on {}), given device {}",
                job.id,
                job.actual_device.as_deref().unwrap_or("no device"),
                device.hostname
            ),
            job.state,
            to,
        ))
    }
}

/// Checks that the caller passes a device exactly when the job needs one.
fn check_device_presence(
    job: &Job,
    device: Option<&Device>,
    to: JobState,
) -> Result<(), TransitionError> {
    match device {
        Some(device) => check_own_device(job, device, to),
        None if job.actual_device.is_none() => Ok(()),
        None => Err(refuse(
            format!(
                "job {} (its device {} was not given)",
                job.id,
                job.actual_device.as_deref().unwrap_or_default()
            ),
            job.state,
            to,
        )),
    }
}

fn check_idle(device: &Device, to: DeviceState) -> Result<(), TransitionError> {
    if device.state == DeviceState::Idle {
        Ok(())
    } else {
        Err(refuse(device_name(device), device.state, to))
    }
}

/// Submitted → Scheduling: a multinode sub-job gets `device` while the rest of its group
/// waits for theirs. The device is Reserved.
pub fn job_scheduling(job: &Job, device: &Device) -> Result<Changes, TransitionError> {
    if job.state != JobState::Submitted || job.multinode.is_none() {
        return Err(refuse(job_name(job), job.state, JobState::Scheduling));
    }
    check_idle(device, DeviceState::Reserved)?;
    let mut job = job.clone();
    job.state = JobState::Scheduling;
    job.actual_device = Some(device.hostname.clone());
    let mut device = device.clone();
    device.state = DeviceState::Reserved;
    Ok(Changes {
        jobs: vec![job],
        devices: vec![device],
        workers: Vec::new(),
    })
}

/// Scheduling → Submitted: a multinode sub-job whose group can never start gives its
/// Reserved `device` back (Idle). LAVA has no such step; lava-rs takes it so that a group
/// cannot hold devices it will never use.
pub fn job_released(job: &Job, device: &Device) -> Result<Changes, TransitionError> {
    if job.state != JobState::Scheduling {
        return Err(refuse(job_name(job), job.state, JobState::Submitted));
    }
    check_own_device(job, device, JobState::Submitted)?;
    if device.state != DeviceState::Reserved {
        return Err(refuse(device_name(device), device.state, DeviceState::Idle));
    }
    let mut job = job.clone();
    job.state = JobState::Submitted;
    job.actual_device = None;
    let mut device = device.clone();
    device.state = DeviceState::Idle;
    Ok(Changes {
        jobs: vec![job],
        devices: vec![device],
        workers: Vec::new(),
    })
}

/// Submitted or Scheduling → Scheduled: the master will send START to the device's worker.
///
/// A Submitted job needs an Idle `device`, which becomes Reserved. A Scheduling sub-job keeps
/// the device it already reserved (pass `None`). A dynamic connection has no device.
pub fn job_scheduled(job: &Job, device: Option<&Device>) -> Result<Changes, TransitionError> {
    let to = JobState::Scheduled;
    let mut changes = Changes::default();
    let mut new_job = job.clone();
    new_job.state = to;
    match (job.state, device) {
        (JobState::Submitted, Some(device)) => {
            check_idle(device, DeviceState::Reserved)?;
            new_job.actual_device = Some(device.hostname.clone());
            let mut device = device.clone();
            device.state = DeviceState::Reserved;
            changes.devices.push(device);
        }
        (JobState::Submitted, None) if job.is_dynamic_connection() => {}
        (JobState::Scheduling, None) if job.actual_device.is_some() => {}
        _ => return Err(refuse(job_name(job), job.state, to)),
    }
    changes.jobs.push(new_job);
    Ok(changes)
}

/// Scheduled → Running, when the worker answers START_OK: `start_time` is `now` and the
/// device (none for a dynamic connection) is Running.
pub fn job_running(
    job: &Job,
    device: Option<&Device>,
    now: Timestamp,
) -> Result<Changes, TransitionError> {
    let to = JobState::Running;
    if job.state != JobState::Scheduled {
        return Err(refuse(job_name(job), job.state, to));
    }
    check_device_presence(job, device, to)?;
    let mut changes = Changes::default();
    if let Some(device) = device {
        if device.state != DeviceState::Reserved {
            return Err(refuse(
                device_name(device),
                device.state,
                DeviceState::Running,
            ));
        }
        let mut device = device.clone();
        device.state = DeviceState::Running;
        changes.devices.push(device);
    }
    let mut job = job.clone();
    job.state = to;
    job.start_time = Some(now);
    changes.jobs.push(job);
    Ok(changes)
}

/// A user cancels the job. A Submitted job is Finished/Canceled at once; a job that holds a
/// device goes Canceling until the worker reports its end. Finished or already Canceling
/// jobs cannot be canceled. For a multinode job, use [`job_group_canceling`].
pub fn job_canceling(job: &Job, now: Timestamp) -> Result<Changes, TransitionError> {
    match job.state {
        JobState::Submitted => {
            let mut job = job.clone();
            job.state = JobState::Finished;
            job.health = JobHealth::Canceled;
            // LAVA fills start_time for jobs that never started, so durations are defined.
            job.start_time.get_or_insert(now);
            job.end_time = Some(now);
            Ok(Changes {
                jobs: vec![job],
                ..Changes::default()
            })
        }
        JobState::Scheduling | JobState::Scheduled | JobState::Running => {
            let mut job = job.clone();
            job.state = JobState::Canceling;
            Ok(Changes {
                jobs: vec![job],
                ..Changes::default()
            })
        }
        JobState::Canceling | JobState::Finished => {
            Err(refuse(job_name(job), job.state, JobState::Canceling))
        }
    }
}

/// A user cancels a multinode job: every sub-job of its group is canceled (Submitted ones
/// finish at once, the others go Canceling). Sub-jobs that already ended or are being
/// canceled are left as they are; the request is refused only when none is left to cancel.
pub fn job_group_canceling(group: &[Job], now: Timestamp) -> Result<Changes, TransitionError> {
    let mut changes = Changes::default();
    for job in group {
        if matches!(job.state, JobState::Canceling | JobState::Finished) {
            continue;
        }
        changes.jobs.append(&mut job_canceling(job, now)?.jobs);
    }
    if changes.jobs.is_empty() {
        let name = group
            .first()
            .and_then(|j| j.target_group().map(|g| format!("multinode group {g}")))
            .unwrap_or_else(|| "empty multinode group".to_owned());
        let from = group
            .first()
            .map_or_else(|| "nothing".to_owned(), |j| j.state.to_string());
        return Err(refuse(name, from, JobState::Canceling));
    }
    Ok(changes)
}

/// The job ended with `health` (the worker's END, or the master giving up on it).
///
/// A Canceling job always ends Canceled. Its device (pass it when the job holds one) goes
/// Idle, and its health follows LAVA's rules: a health check records itself as the device's
/// last report and sets Good on Complete, Bad on Incomplete or Canceled (a Looping device
/// stays Looping); a normal job whose error blames the device sends it to Unknown.
pub fn job_finished(
    job: &Job,
    device: Option<&Device>,
    health: JobHealth,
    error: &ErrorType,
    now: Timestamp,
) -> Result<Changes, TransitionError> {
    let to = JobState::Finished;
    if job.state == JobState::Finished || health == JobHealth::Unknown {
        return Err(refuse(
            job_name(job),
            format!("{}/{}", job.state, job.health),
            format!("{to}/{health}"),
        ));
    }
    check_device_presence(job, device, to)?;
    let mut new_job = job.clone();
    new_job.health = if job.state == JobState::Canceling {
        JobHealth::Canceled
    } else {
        health
    };
    new_job.state = to;
    new_job.start_time.get_or_insert(now);
    new_job.end_time = Some(now);

    let mut changes = Changes::default();
    if let Some(device) = device {
        let mut device = device.clone();
        device.state = DeviceState::Idle;
        if job.health_check {
            device.last_health_report_job = Some(job.id);
            if matches!(
                device.health,
                DeviceHealth::Good | DeviceHealth::Unknown | DeviceHealth::Bad
            ) {
                device.health = match new_job.health {
                    JobHealth::Complete => DeviceHealth::Good,
                    _ => DeviceHealth::Bad,
                };
            }
        } else if error.blames_device() {
            device.health = DeviceHealth::Unknown;
        }
        changes.devices.push(device);
    }
    changes.jobs.push(new_job);
    Ok(changes)
}

/// An admin sets a device's health (e.g. Maintenance, or Looping to run health checks in a
/// loop). LAVA's API lets admins pick any health, Good included; only a no-op is refused.
pub fn device_health(device: &Device, health: DeviceHealth) -> Result<Changes, TransitionError> {
    if health == device.health {
        return Err(refuse(device_name(device), device.health, health));
    }
    let mut device = device.clone();
    device.health = health;
    Ok(Changes {
        devices: vec![device],
        ..Changes::default()
    })
}

/// A worker comes online or goes offline (the master decides, from the protocol).
pub fn worker_state(worker: &Worker, state: WorkerState) -> Result<Changes, TransitionError> {
    if worker.state == state {
        return Err(refuse(
            format!("worker {}", worker.hostname),
            worker.state,
            state,
        ));
    }
    let mut worker = worker.clone();
    worker.state = state;
    Ok(Changes {
        workers: vec![worker],
        ..Changes::default()
    })
}

/// An admin changes a worker's health; its `devices` follow.
///
/// Maintenance: devices that are not Bad, Maintenance or Retired go Maintenance. Retired:
/// devices that are not Bad or Retired go Retired. Back to Active from Maintenance: devices
/// in Maintenance go Unknown, so that a health check runs before any job (coming back from
/// Retired changes no device: an admin revives them one by one).
pub fn worker_health(
    worker: &Worker,
    devices: &[Device],
    health: WorkerHealth,
) -> Result<Changes, TransitionError> {
    let object = format!("worker {}", worker.hostname);
    if worker.health == health {
        return Err(refuse(object, worker.health, health));
    }
    if let Some(stranger) = devices
        .iter()
        .find(|d| d.worker.as_deref() != Some(worker.hostname.as_str()))
    {
        return Err(refuse(
            format!("{object} (device {} is not on it)", stranger.hostname),
            worker.health,
            health,
        ));
    }
    let new_device_health = |device: &Device| -> Option<DeviceHealth> {
        use DeviceHealth as H;
        match health {
            WorkerHealth::Active => (worker.health == WorkerHealth::Maintenance
                && device.health == H::Maintenance)
                .then_some(H::Unknown),
            WorkerHealth::Maintenance => {
                (!matches!(device.health, H::Bad | H::Maintenance | H::Retired))
                    .then_some(H::Maintenance)
            }
            WorkerHealth::Retired => {
                (!matches!(device.health, H::Bad | H::Retired)).then_some(H::Retired)
            }
        }
    };
    let devices = devices
        .iter()
        .filter_map(|device| {
            new_device_health(device).map(|h| {
                let mut device = device.clone();
                device.health = h;
                device
            })
        })
        .collect();
    let mut worker = worker.clone();
    worker.health = health;
    Ok(Changes {
        jobs: Vec::new(),
        devices,
        workers: vec![worker],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MultinodeMembership, Priority};
    use std::collections::BTreeSet;

    fn job(id: i64) -> Job {
        Job {
            id,
            submitter: "alice".into(),
            definition: String::new(),
            state: JobState::Submitted,
            health: JobHealth::Unknown,
            priority: Priority::MEDIUM,
            submit_time: Timestamp::from_secs(1),
            start_time: None,
            end_time: None,
            requested_device_type: Some("qemu".into()),
            tags: BTreeSet::new(),
            multinode: None,
            health_check: false,
            actual_device: None,
            failure_comment: None,
            is_public: true,
        }
    }

    fn device(health: DeviceHealth) -> Device {
        Device {
            hostname: "qemu01".into(),
            device_type: "qemu".into(),
            state: DeviceState::Idle,
            health,
            worker: Some("w1".into()),
            tags: BTreeSet::new(),
            last_health_report_job: None,
            description: String::new(),
        }
    }

    fn worker(health: WorkerHealth) -> Worker {
        Worker {
            hostname: "w1".into(),
            state: WorkerState::Online,
            health,
            description: String::new(),
            job_limit: 0,
            last_ping: None,
            version: None,
        }
    }

    /// Runs a job through Scheduled and Running on a device, returning both.
    fn running(j: Job, d: Device) -> (Job, Device) {
        let c = job_scheduled(&j, Some(&d)).unwrap();
        let (j, d) = (c.jobs[0].clone(), c.devices[0].clone());
        let c = job_running(&j, Some(&d), Timestamp::from_secs(5)).unwrap();
        (c.jobs[0].clone(), c.devices[0].clone())
    }

    #[test]
    fn start_ok_sets_running_and_start_time() {
        let (j, d) = running(job(1), device(DeviceHealth::Good));
        assert_eq!(j.state, JobState::Running);
        assert_eq!(j.start_time, Some(Timestamp::from_secs(5)));
        assert_eq!(j.actual_device.as_deref(), Some("qemu01"));
        assert_eq!(d.state, DeviceState::Running);
    }

    #[test]
    fn scheduling_a_busy_device_is_refused_naming_it() {
        let mut d = device(DeviceHealth::Good);
        d.state = DeviceState::Running;
        let err = job_scheduled(&job(1), Some(&d)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "device qemu01: cannot go from Running to Reserved"
        );
    }

    #[test]
    fn running_twice_is_refused() {
        let (j, d) = running(job(1), device(DeviceHealth::Good));
        let err = job_running(&j, Some(&d), Timestamp::from_secs(6)).unwrap_err();
        assert_eq!(err.to_string(), "job 1: cannot go from Running to Running");
    }

    #[test]
    fn finished_frees_the_device() {
        let (j, d) = running(job(1), device(DeviceHealth::Good));
        let c = job_finished(
            &j,
            Some(&d),
            JobHealth::Complete,
            &ErrorType::None,
            Timestamp::from_secs(9),
        )
        .unwrap();
        assert_eq!(c.devices[0].state, DeviceState::Idle);
        assert_eq!(c.devices[0].health, DeviceHealth::Good);
        assert_eq!(c.jobs[0].state, JobState::Finished);
        assert_eq!(c.jobs[0].end_time, Some(Timestamp::from_secs(9)));
    }

    #[test]
    fn device_blaming_errors_send_device_to_unknown() {
        for (error, expected) in [
            (ErrorType::Infrastructure, DeviceHealth::Unknown),
            (ErrorType::Configuration, DeviceHealth::Unknown),
            (ErrorType::Bug, DeviceHealth::Unknown),
            (ErrorType::Test, DeviceHealth::Good),
            (ErrorType::Job, DeviceHealth::Good),
        ] {
            let (j, d) = running(job(1), device(DeviceHealth::Good));
            let c =
                job_finished(&j, Some(&d), JobHealth::Incomplete, &error, Timestamp(9)).unwrap();
            assert_eq!(c.devices[0].health, expected, "{error:?}");
        }
    }

    #[test]
    fn health_check_end_sets_device_health() {
        for (start, end, expected) in [
            (
                DeviceHealth::Unknown,
                JobHealth::Complete,
                DeviceHealth::Good,
            ),
            (DeviceHealth::Good, JobHealth::Incomplete, DeviceHealth::Bad),
            (DeviceHealth::Bad, JobHealth::Complete, DeviceHealth::Good),
            (
                DeviceHealth::Unknown,
                JobHealth::Canceled,
                DeviceHealth::Bad,
            ),
            (
                DeviceHealth::Looping,
                JobHealth::Incomplete,
                DeviceHealth::Looping,
            ),
            (
                DeviceHealth::Looping,
                JobHealth::Complete,
                DeviceHealth::Looping,
            ),
        ] {
            let mut hc = job(7);
            hc.health_check = true;
            let (j, d) = running(hc, device(start));
            let c = job_finished(&j, Some(&d), end, &ErrorType::None, Timestamp(9)).unwrap();
            assert_eq!(c.devices[0].health, expected, "{start} + {end}");
            assert_eq!(c.devices[0].last_health_report_job, Some(7));
        }
    }

    #[test]
    fn canceling_submitted_job_finishes_it_at_once() {
        let c = job_canceling(&job(1), Timestamp(3)).unwrap();
        assert_eq!(c.jobs[0].state, JobState::Finished);
        assert_eq!(c.jobs[0].health, JobHealth::Canceled);
        assert_eq!(c.jobs[0].end_time, Some(Timestamp(3)));
        let err = job_canceling(&c.jobs[0], Timestamp(4)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "job 1: cannot go from Finished to Canceling"
        );
    }

    #[test]
    fn canceling_job_always_ends_canceled() {
        let (j, d) = running(job(1), device(DeviceHealth::Good));
        let j = job_canceling(&j, Timestamp(3)).unwrap().jobs.remove(0);
        assert_eq!(j.state, JobState::Canceling);
        let c = job_finished(
            &j,
            Some(&d),
            JobHealth::Complete,
            &ErrorType::None,
            Timestamp(4),
        )
        .unwrap();
        assert_eq!(c.jobs[0].health, JobHealth::Canceled);
        assert_eq!(c.devices[0].state, DeviceState::Idle);
    }

    #[test]
    fn finishing_needs_the_jobs_own_device() {
        let (j, _) = running(job(1), device(DeviceHealth::Good));
        let mut other = device(DeviceHealth::Good);
        other.hostname = "qemu02".into();
        assert!(job_finished(
            &j,
            Some(&other),
            JobHealth::Complete,
            &ErrorType::None,
            Timestamp(1)
        )
        .is_err());
        assert!(job_finished(
            &j,
            None,
            JobHealth::Complete,
            &ErrorType::None,
            Timestamp(1)
        )
        .is_err());
        assert!(
            job_finished(&j, None, JobHealth::Unknown, &ErrorType::None, Timestamp(1)).is_err()
        );
    }

    #[test]
    fn canceling_a_group_cancels_every_live_sub_job() {
        let member = |id, state| {
            let mut j = job(id);
            j.multinode = Some(MultinodeMembership {
                group: "g".into(),
                role: "r".into(),
            });
            j.state = state;
            j
        };
        let group = [
            member(1, JobState::Submitted),
            member(2, JobState::Running),
            member(3, JobState::Finished),
        ];
        let c = job_group_canceling(&group, Timestamp(5)).unwrap();
        let states: Vec<_> = c.jobs.iter().map(|j| (j.id, j.state)).collect();
        assert_eq!(states, [(1, JobState::Finished), (2, JobState::Canceling)]);
        let ended = [
            member(3, JobState::Finished),
            member(4, JobState::Canceling),
        ];
        let err = job_group_canceling(&ended, Timestamp(5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "multinode group g: cannot go from Finished to Canceling"
        );
    }

    #[test]
    fn multinode_goes_through_scheduling() {
        let mut j = job(1);
        assert!(job_scheduling(&j, &device(DeviceHealth::Good)).is_err());
        j.multinode = Some(MultinodeMembership {
            group: "g".into(),
            role: "server".into(),
        });
        let c = job_scheduling(&j, &device(DeviceHealth::Good)).unwrap();
        assert_eq!(c.jobs[0].state, JobState::Scheduling);
        assert_eq!(c.devices[0].state, DeviceState::Reserved);
        let c = job_scheduled(&c.jobs[0], None).unwrap();
        assert_eq!(c.jobs[0].state, JobState::Scheduled);
        assert!(c.devices.is_empty());
    }

    #[test]
    fn dynamic_connection_is_scheduled_without_device() {
        let mut j = job(2);
        j.requested_device_type = None;
        assert!(job_scheduled(&j, None).is_err());
        j.multinode = Some(MultinodeMembership {
            group: "g".into(),
            role: "guest".into(),
        });
        let c = job_scheduled(&j, None).unwrap();
        let c = job_running(&c.jobs[0], None, Timestamp(2)).unwrap();
        assert_eq!(c.jobs[0].state, JobState::Running);
    }

    #[test]
    fn worker_health_cascades_to_devices() {
        let mut devices = Vec::new();
        for (name, health) in [
            ("a", DeviceHealth::Good),
            ("b", DeviceHealth::Bad),
            ("c", DeviceHealth::Retired),
            ("d", DeviceHealth::Looping),
        ] {
            let mut d = device(health);
            d.hostname = name.into();
            devices.push(d);
        }
        let w = worker(WorkerHealth::Active);
        let c = worker_health(&w, &devices, WorkerHealth::Maintenance).unwrap();
        let changed: Vec<_> = c
            .devices
            .iter()
            .map(|d| (d.hostname.as_str(), d.health))
            .collect();
        assert_eq!(
            changed,
            [
                ("a", DeviceHealth::Maintenance),
                ("d", DeviceHealth::Maintenance)
            ]
        );
        assert_eq!(c.workers[0].health, WorkerHealth::Maintenance);

        let mut after = devices.clone();
        for d in &mut after {
            if let Some(n) = c.devices.iter().find(|n| n.hostname == d.hostname) {
                *d = n.clone();
            }
        }
        let back = worker_health(&c.workers[0], &after, WorkerHealth::Active).unwrap();
        let changed: Vec<_> = back
            .devices
            .iter()
            .map(|d| (d.hostname.as_str(), d.health))
            .collect();
        assert_eq!(
            changed,
            [("a", DeviceHealth::Unknown), ("d", DeviceHealth::Unknown)]
        );

        let retired = worker_health(&w, &devices, WorkerHealth::Retired).unwrap();
        let changed: Vec<_> = retired
            .devices
            .iter()
            .map(|d| d.hostname.as_str())
            .collect();
        assert_eq!(changed, ["a", "d"]);
        assert!(worker_health(&w, &devices, WorkerHealth::Active).is_err());
    }

    #[test]
    fn admin_sets_device_health() {
        let d = device(DeviceHealth::Maintenance);
        assert!(device_health(&d, DeviceHealth::Maintenance).is_err());
        let c = device_health(&d, DeviceHealth::Unknown).unwrap();
        assert_eq!(c.devices[0].health, DeviceHealth::Unknown);
    }

    #[test]
    fn error_type_names() {
        assert!(ErrorType::from_name("Infrastructure").blames_device());
        assert!(!ErrorType::from_name("Test").blames_device());
        assert!(!ErrorType::from_name("whatever").blames_device());
    }
}
