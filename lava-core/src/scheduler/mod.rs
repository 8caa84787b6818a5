//! The scheduler: a pure function from a lab snapshot to assignments and device health
//! changes.
//!
//! One call of [`schedule`] is one pass of LAVA 2020.05's `lava_scheduler_app.scheduler`:
//!
//! 1. **Health checks**, per device type in name order (types with `display` only), over Idle
//!    devices on Online workers with health Good, Unknown or Looping, in hostname order. A
//!    device on a worker at its job limit is skipped; a type without a health-check
//!    definition, or a device whose check is not due, leaves the device available for jobs.
//!    A due check on a device whose dictionary is invalid sends the device to Bad.
//! 2. **Jobs**, per device type in name order, over available Idle devices on Online workers
//!    with health Good or Unknown, in [`DeviceOrder`]. Each device takes the best queued job
//!    (priority descending, submit time, group, id) whose tags it carries. Single-node jobs
//!    go Scheduled; multinode sub-jobs go Scheduling.
//! 3. **Multinode**: a group whose every sub-job is Scheduling (or is a dynamic connection)
//!    goes Scheduled at once. Groups still waiting keep their reserved devices, as in LAVA;
//!    they are reported in [`Decisions::waiting_groups`] so an admin can see why.
//!
//! The pass reads nothing but its [`LabSnapshot`] and writes nothing: the caller applies the
//! [`Decisions`] in one transaction (see [`Decisions::changes`]).
//!
//! LAVA walks free devices in random order so that idle devices share the load. We offer a
//! seeded shuffle or plain hostname order: each is one of the orders LAVA could have drawn,
//! so every decision is one LAVA could have taken.
//!
//! Cost: one pass is linear in devices + jobs (plus a sort of each type's queue). Jobs are
//! bucketed per device type and exact tag set, so a device looks at one head per bucket.
//!
//! Not modelled: per-user submit permissions on devices (every user may submit to every
//! device) and `lava-vland` interface matching.

mod fxhash;
mod health;
mod queue;

pub use health::{health_check_due, DueReason, LastHealthCheck};
pub use queue::queue_order;

use crate::model::transitions::{self, Changes};
use crate::model::{
    Device, DeviceHealth, DeviceState, DeviceType, Job, JobId, JobState, TransitionError, Worker,
    WorkerState,
};
use crate::time::Timestamp;
use fxhash::FxHashMap;
use queue::{TagInterner, TagSet, TypeQueue};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Everything one scheduling pass looks at.
#[derive(Debug, Clone, Default)]
pub struct LabSnapshot {
    /// Every device type.
    pub device_types: Vec<DeviceType>,
    /// Every device.
    pub devices: Vec<Device>,
    /// Every worker.
    pub workers: Vec<Worker>,
    /// Jobs waiting for a device: every Submitted and Scheduling job. For each multinode
    /// group, give every sub-job that is not Finished: the group is judged on them.
    pub jobs: Vec<Job>,
    /// The last health check of each device that has one, by hostname.
    pub last_health_checks: HashMap<String, LastHealthCheck>,
    /// Hostnames of the devices whose dictionary exists and renders; any other device that
    /// is about to get work goes Bad instead.
    pub valid_dictionaries: HashSet<String>,
    /// Jobs submitted in the legacy JSON format (the old dispatcher's):
    /// stored, but never matched to a pipeline device.
    pub legacy_jobs: HashSet<JobId>,
    /// The moment of the pass.
    pub now: Timestamp,
}

/// The order in which a device type's free devices are offered jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceOrder {
    /// Hostname order: reproducible, but the same devices always work first.
    #[default]
    Hostname,
    /// A shuffle drawn from `seed` (use a new seed per pass to spread the load, as LAVA's
    /// random order does).
    Shuffled {
        /// The seed of the shuffle.
        seed: u64,
    },
}

/// A health check to create: a new job, Scheduled on `device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The device to check (it becomes Reserved).
    pub device: String,
    /// Its type, whose health-check definition the job runs.
    pub device_type: String,
    /// The definition of the health-check job.
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
    /// Why, for the admin log.
    pub reason: &'static str,
}

/// A multinode group that holds devices but cannot start yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingGroup {
    /// The group id.
    pub group: String,
    /// Sub-jobs that hold a device (Scheduling), with their device.
    pub reserved: Vec<(JobId, String)>,
    /// Sub-jobs still waiting for a device, with their role.
    pub waiting: Vec<(JobId, String)>,
}

/// What one pass decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// Health-check jobs to create, Scheduled on their device.
    pub health_checks: Vec<HealthCheck>,
    /// Queued jobs that got a device or moved on (one entry per job, in decision order).
    pub assignments: Vec<Assignment>,
    /// Device health changes (invalid device dictionaries).
    pub device_health: Vec<DeviceHealthChange>,
    /// Multinode groups that hold devices but are still incomplete, by group id.
    pub waiting_groups: Vec<WaitingGroup>,
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
    /// not included: the store creates them, with the ids it allocates).
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
        out.devices = touched
            .iter()
            .filter_map(|h| devices.get(h).cloned())
            .collect();
        Ok(out)
    }
}

/// A worker's view for the pass: whether it takes work and how much more it may take.
struct WorkerSlot {
    online: bool,
    limit: u32,
    busy: u32,
}

impl WorkerSlot {
    fn at_limit(&self) -> bool {
        self.limit > 0 && self.busy >= self.limit
    }
}

/// The mutable state of a pass over the snapshot's devices.
struct Pass<'a> {
    lab: &'a LabSnapshot,
    workers: Vec<WorkerSlot>,
    /// Per device: its worker's index, if it has a known worker.
    device_worker: Vec<Option<usize>>,
    state: Vec<DeviceState>,
    health: Vec<DeviceHealth>,
    available: Vec<bool>,
    decisions: Decisions,
}

impl<'a> Pass<'a> {
    fn new(lab: &'a LabSnapshot) -> Self {
        let worker_index: FxHashMap<&str, usize> = lab
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| (w.hostname.as_str(), i))
            .collect();
        let mut workers: Vec<WorkerSlot> = lab
            .workers
            .iter()
            .map(|w| WorkerSlot {
                online: w.state == WorkerState::Online,
                limit: w.job_limit,
                busy: 0,
            })
            .collect();
        let device_worker: Vec<Option<usize>> = lab
            .devices
            .iter()
            .map(|d| {
                d.worker
                    .as_deref()
                    .and_then(|w| worker_index.get(w).copied())
            })
            .collect();
        for (device, worker) in lab.devices.iter().zip(&device_worker) {
            if let Some(w) = worker {
                if matches!(device.state, DeviceState::Reserved | DeviceState::Running) {
                    workers[*w].busy += 1;
                }
            }
        }
        Pass {
            lab,
            workers,
            device_worker,
            state: lab.devices.iter().map(|d| d.state).collect(),
            health: lab.devices.iter().map(|d| d.health).collect(),
            available: vec![false; lab.devices.len()],
            decisions: Decisions::default(),
        }
    }

    /// Whether the device is Idle on an Online worker with one of `healths`.
    fn free(&self, device: usize, healths: &[DeviceHealth]) -> bool {
        self.state[device] == DeviceState::Idle
            && self.device_worker[device].is_some_and(|w| self.workers[w].online)
            && healths.contains(&self.health[device])
    }

    fn worker_at_limit(&self, device: usize) -> bool {
        self.device_worker[device].is_some_and(|w| self.workers[w].at_limit())
    }

    fn reserve(&mut self, device: usize) {
        self.state[device] = DeviceState::Reserved;
        if let Some(w) = self.device_worker[device] {
            self.workers[w].busy += 1;
        }
    }

    /// Sends the device to Bad if its dictionary is not valid; says whether it is valid.
    fn check_dictionary(&mut self, device: usize) -> bool {
        let hostname = &self.lab.devices[device].hostname;
        if self.lab.valid_dictionaries.contains(hostname) {
            return true;
        }
        self.decisions.device_health.push(DeviceHealthChange {
            device: hostname.clone(),
            from: self.health[device],
            to: DeviceHealth::Bad,
            reason: "Invalid device configuration",
        });
        self.health[device] = DeviceHealth::Bad;
        false
    }

    fn health_checks(&mut self, device_type: &DeviceType, devices: &[usize]) {
        use DeviceHealth::{Good, Looping, Unknown};
        if device_type.disable_health_check {
            for &d in devices {
                self.available[d] = self.free(d, &[Good, Unknown]);
            }
            return;
        }
        for &d in devices {
            if !self.free(d, &[Good, Unknown, Looping]) || self.worker_at_limit(d) {
                continue;
            }
            let device = &self.lab.devices[d];
            let due = device_type
                .health_check_definition
                .as_ref()
                .and_then(|def| {
                    let last = self.lab.last_health_checks.get(&device.hostname);
                    health_check_due(device, device_type, last, self.lab.now).map(|r| (def, r))
                });
            let Some((definition, reason)) = due else {
                self.available[d] = true;
                continue;
            };
            if !self.check_dictionary(d) {
                continue;
            }
            self.decisions.health_checks.push(HealthCheck {
                device: device.hostname.clone(),
                device_type: device_type.name.clone(),
                definition: definition.clone(),
                reason,
            });
            self.reserve(d);
        }
    }

    fn jobs(
        &mut self,
        devices: &[usize],
        queue: &mut TypeQueue,
        device_tags: &[TagSet],
        order: DeviceOrder,
    ) {
        use DeviceHealth::{Good, Unknown};
        let mut candidates: Vec<usize> = devices
            .iter()
            .copied()
            .filter(|&d| self.available[d] && self.free(d, &[Good, Unknown]))
            .collect();
        if let DeviceOrder::Shuffled { seed } = order {
            candidates.sort_by_cached_key(|&d| shuffle_key(seed, &self.lab.devices[d].hostname));
        }
        for d in candidates {
            if self.worker_at_limit(d) || !self.check_dictionary(d) {
                continue;
            }
            let Some(job) = queue.take_for(&self.lab.jobs, &device_tags[d]) else {
                continue;
            };
            let job = &self.lab.jobs[job];
            self.decisions.assignments.push(Assignment {
                job: job.id,
                device: Some(self.lab.devices[d].hostname.clone()),
                state: if job.multinode.is_some() {
                    JobState::Scheduling
                } else {
                    JobState::Scheduled
                },
            });
            self.reserve(d);
        }
    }

    fn multinode(&mut self) {
        let mut groups: BTreeMap<&str, Vec<&Job>> = BTreeMap::new();
        for job in &self.lab.jobs {
            if let Some(group) = job.target_group() {
                groups.entry(group).or_default().push(job);
            }
        }
        let mut assigned: FxHashMap<JobId, usize> = self
            .decisions
            .assignments
            .iter()
            .enumerate()
            .map(|(i, a)| (a.job, i))
            .collect();
        for (group, mut jobs) in groups {
            jobs.sort_by_key(|j| j.id);
            let current = |job: &Job| -> (JobState, Option<String>) {
                match assigned.get(&job.id) {
                    Some(&i) => {
                        let a = &self.decisions.assignments[i];
                        (a.state, a.device.clone())
                    }
                    None => (job.state, job.actual_device.clone()),
                }
            };
            let states: Vec<(JobState, Option<String>)> = jobs.iter().map(|j| current(j)).collect();
            if !states.iter().any(|(s, _)| *s == JobState::Scheduling) {
                continue;
            }
            let complete = jobs
                .iter()
                .zip(&states)
                .all(|(j, (s, _))| *s == JobState::Scheduling || j.is_dynamic_connection());
            if !complete {
                let mut waiting = WaitingGroup {
                    group: group.to_owned(),
                    reserved: Vec::new(),
                    waiting: Vec::new(),
                };
                for (job, (state, device)) in jobs.iter().zip(states) {
                    match (state, device) {
                        (JobState::Scheduling, Some(device)) => {
                            waiting.reserved.push((job.id, device))
                        }
                        _ => waiting.waiting.push((
                            job.id,
                            job.multinode
                                .as_ref()
                                .map(|m| m.role.clone())
                                .unwrap_or_default(),
                        )),
                    }
                }
                self.decisions.waiting_groups.push(waiting);
                continue;
            }
            for (job, (state, device)) in jobs.iter().zip(states) {
                // A dynamic connection already past Scheduled stays where it is.
                if state != JobState::Scheduling && state != JobState::Submitted {
                    continue;
                }
                match assigned.get(&job.id) {
                    Some(&i) => self.decisions.assignments[i].state = JobState::Scheduled,
                    None => {
                        assigned.insert(job.id, self.decisions.assignments.len());
                        self.decisions.assignments.push(Assignment {
                            job: job.id,
                            device,
                            state: JobState::Scheduled,
                        });
                    }
                }
            }
        }
    }
}

/// A position in the seeded shuffle (splitmix64 of the seed and an FNV-1a hash of the
/// hostname), so that the shuffle needs no RNG state and no dependency.
fn shuffle_key(seed: u64, hostname: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in hostname.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs one scheduling pass over `lab`, offering each type's devices in `order`.
pub fn schedule(lab: &LabSnapshot, order: DeviceOrder) -> Decisions {
    let mut types: Vec<usize> = (0..lab.device_types.len()).collect();
    types.sort_by(|a, b| lab.device_types[*a].name.cmp(&lab.device_types[*b].name));
    let type_index: FxHashMap<&str, usize> = lab
        .device_types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();

    let mut devices_by_type: Vec<Vec<usize>> = vec![Vec::new(); lab.device_types.len()];
    for (i, device) in lab.devices.iter().enumerate() {
        if let Some(&t) = type_index.get(device.device_type.as_str()) {
            devices_by_type[t].push(i);
        }
    }
    for devices in &mut devices_by_type {
        devices.sort_by(|a, b| lab.devices[*a].hostname.cmp(&lab.devices[*b].hostname));
    }

    let mut pass = Pass::new(lab);
    for &t in &types {
        let device_type = &lab.device_types[t];
        // LAVA only looks after the types it displays; hidden types get no work at all.
        if device_type.display {
            pass.health_checks(device_type, &devices_by_type[t]);
        }
    }

    let mut tags = TagInterner::default();
    let device_tags: Vec<TagSet> = lab.devices.iter().map(|d| tags.set(&d.tags)).collect();
    let mut queued: Vec<Vec<(usize, TagSet)>> = vec![Vec::new(); lab.device_types.len()];
    for (i, job) in lab.jobs.iter().enumerate() {
        if job.state != JobState::Submitted || job.actual_device.is_some() {
            continue;
        }
        let Some(&t) = job
            .requested_device_type
            .as_deref()
            .and_then(|name| type_index.get(name))
        else {
            continue;
        };
        if !lab.legacy_jobs.is_empty() && lab.legacy_jobs.contains(&job.id) {
            continue;
        }
        queued[t].push((i, tags.set(&job.tags)));
    }
    for (t, jobs) in types.iter().map(|&t| (t, std::mem::take(&mut queued[t]))) {
        if !devices_by_type[t].iter().any(|&d| pass.available[d]) {
            continue;
        }
        let mut queue = TypeQueue::new(&lab.jobs, jobs);
        pass.jobs(&devices_by_type[t], &mut queue, &device_tags, order);
    }

    pass.multinode();
    pass.decisions
}
