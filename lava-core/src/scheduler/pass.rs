//! The mutable state of one pass over a snapshot, and its phases.

use super::availability::{Availability, Need};
use super::decisions::{
    Assignment, Decisions, DeviceHealthChange, HealthCheck, Phase, Released, SkippedDevice,
    StartedGroup, WaitingGroup,
};
use super::dictionaries::DeviceDictionaries;
use super::fxhash::FxHashMap;
use super::health::health_check_due;
use super::queue::{Queued, TagInterner, TagSet, TypeQueue};
use super::vland::{match_vlan_interface, VlanInterface};
use super::{DeviceOrder, LabSnapshot, PassOptions};
use crate::model::{DeviceHealth, DeviceState, Job, JobId, JobState, WorkerState};
use std::collections::{BTreeMap, BTreeSet};

/// A worker's view for the pass: whether it takes work and how much more it may take.
pub(super) struct WorkerSlot {
    pub(super) online: bool,
    pub(super) limit: u32,
    pub(super) busy: u32,
}

impl WorkerSlot {
    pub(super) fn at_limit(&self) -> bool {
        self.limit > 0 && self.busy >= self.limit
    }
}

/// One pass: the snapshot, the devices' state as the pass changes it, and the decisions.
pub(super) struct Pass<'a, 'd, D: ?Sized> {
    pub(super) lab: &'a LabSnapshot,
    pub(super) dictionaries: &'d mut D,
    pub(super) options: &'a PassOptions,
    /// Device types, in name order (indexes into the snapshot's types).
    pub(super) types: Vec<usize>,
    pub(super) type_index: FxHashMap<&'a str, usize>,
    /// Per type: its devices, in hostname order.
    pub(super) devices_by_type: Vec<Vec<usize>>,
    pub(super) workers: Vec<WorkerSlot>,
    /// Per device: its worker's index, if it has a known worker.
    pub(super) device_worker: Vec<Option<usize>>,
    pub(super) state: Vec<DeviceState>,
    pub(super) health: Vec<DeviceHealth>,
    /// Per device: left available for jobs by the health checks (or offered by the caller).
    pub(super) available: Vec<bool>,
    /// Per job of the snapshot: its state as the pass leaves it.
    pub(super) job_state: Vec<JobState>,
    /// Per device: open to every submitter. Empty when the lab restricts nobody.
    pub(super) open: Vec<bool>,
    /// Per device asked about: its VLAN interfaces.
    pub(super) interfaces: FxHashMap<usize, Option<Vec<VlanInterface>>>,
    /// Per health-check definition met: why LAVA could not create it, if it could not.
    health_check_problems: FxHashMap<String, Option<String>>,
    pub(super) tags: TagInterner<'a>,
    /// Per device: its tags.
    pub(super) device_tags: Vec<TagSet>,
    /// Per type: its queue, once the job phase built it.
    pub(super) queues: Vec<Option<TypeQueue>>,
    /// Multinode groups that can never start, with why: they get no device and give back
    /// the ones they hold.
    pub(super) hopeless: FxHashMap<&'a str, String>,
    pub(super) decisions: Decisions,
}

impl<'a, 'd, D: DeviceDictionaries + ?Sized> Pass<'a, 'd, D> {
    pub(super) fn new(
        lab: &'a LabSnapshot,
        dictionaries: &'d mut D,
        options: &'a PassOptions,
    ) -> Self {
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
        let open = if lab.permissions.is_open() {
            Vec::new()
        } else {
            lab.devices
                .iter()
                .map(|d| lab.permissions.device_is_open(d))
                .collect()
        };
        let mut tags = TagInterner::default();
        let device_tags = lab.devices.iter().map(|d| tags.set(&d.tags)).collect();
        Pass {
            lab,
            dictionaries,
            options,
            types,
            type_index,
            devices_by_type,
            workers,
            device_worker,
            state: lab.devices.iter().map(|d| d.state).collect(),
            health: lab.devices.iter().map(|d| d.health).collect(),
            available: vec![false; lab.devices.len()],
            job_state: lab.jobs.iter().map(|j| j.state).collect(),
            open,
            interfaces: FxHashMap::default(),
            health_check_problems: FxHashMap::default(),
            tags,
            device_tags,
            queues: (0..lab.device_types.len()).map(|_| None).collect(),
            hopeless: FxHashMap::default(),
            decisions: Decisions::default(),
        }
    }

    pub(super) fn finish(self) -> Decisions {
        self.decisions
    }

    /// Whether the pass looks at the device type `name` (LAVA's `available_dt`).
    pub(super) fn considers(&self, name: &str) -> bool {
        self.options
            .device_types
            .as_ref()
            .is_none_or(|only| only.contains(name))
    }

    /// Whether the device is Idle on an Online worker with one of `healths`.
    pub(super) fn free(&self, device: usize, healths: &[DeviceHealth]) -> bool {
        self.state[device] == DeviceState::Idle
            && self.worker_online(device)
            && healths.contains(&self.health[device])
    }

    pub(super) fn worker_online(&self, device: usize) -> bool {
        self.device_worker[device].is_some_and(|w| self.workers[w].online)
    }

    pub(super) fn worker_at_limit(&self, device: usize) -> bool {
        self.device_worker[device].is_some_and(|w| self.workers[w].at_limit())
    }

    /// Says whether the device's worker is at its job limit, reporting the skip if it is.
    fn skip_at_limit(&mut self, device: usize, phase: Phase) -> bool {
        let Some(w) = self.device_worker[device] else {
            return false;
        };
        let slot = &self.workers[w];
        if !slot.at_limit() {
            return false;
        }
        self.decisions.skipped_devices.push(SkippedDevice {
            device: self.lab.devices[device].hostname.clone(),
            worker: self.lab.workers[w].hostname.clone(),
            busy: slot.busy,
            job_limit: slot.limit,
            phase,
        });
        true
    }

    fn reserve(&mut self, device: usize) {
        self.state[device] = DeviceState::Reserved;
        if let Some(w) = self.device_worker[device] {
            self.workers[w].busy += 1;
        }
    }

    fn send_to_bad(&mut self, device: usize, reason: &'static str, detail: Option<String>) {
        self.decisions.device_health.push(DeviceHealthChange {
            device: self.lab.devices[device].hostname.clone(),
            from: self.health[device],
            to: DeviceHealth::Bad,
            reason,
            detail,
        });
        self.health[device] = DeviceHealth::Bad;
    }

    /// Sends the device to Bad if its dictionary is not valid; says whether it is valid.
    fn check_dictionary(&mut self, device: usize) -> bool {
        if self.dictionaries.is_valid(&self.lab.devices[device]) {
            return true;
        }
        self.send_to_bad(device, "Invalid device configuration", None);
        false
    }

    /// Why LAVA could not create a health check from `definition`, looked up once per
    /// distinct definition (a lab has one or a few per device type).
    fn health_check_problem(&mut self, definition: &str) -> Option<String> {
        if let Some(known) = self.health_check_problems.get(definition) {
            return known.clone();
        }
        let problem = self.dictionaries.health_check_problem(definition);
        self.health_check_problems
            .insert(definition.to_owned(), problem.clone());
        problem
    }

    /// Phase 1: health checks per displayed type, and the devices left available.
    pub(super) fn health_checks(&mut self) {
        let lab = self.lab;
        for i in 0..self.types.len() {
            let t = self.types[i];
            let device_type = &lab.device_types[t];
            // LAVA only looks after the types it displays; hidden types get no work at all.
            if !device_type.display || !self.considers(&device_type.name) {
                continue;
            }
            let devices = std::mem::take(&mut self.devices_by_type[t]);
            self.health_checks_of_type(t, &devices);
            let available: Vec<String> = devices
                .iter()
                .filter(|&&d| self.available[d])
                .map(|&d| lab.devices[d].hostname.clone())
                .collect();
            self.decisions
                .available_devices
                .insert(device_type.name.clone(), available);
            self.devices_by_type[t] = devices;
        }
    }

    fn health_checks_of_type(&mut self, t: usize, devices: &[usize]) {
        use DeviceHealth::{Good, Looping, Unknown};
        let lab = self.lab;
        let device_type = &lab.device_types[t];
        if device_type.disable_health_check {
            for &d in devices {
                self.available[d] = self.free(d, &[Good, Unknown]);
            }
            return;
        }
        for &d in devices {
            if !self.free(d, &[Good, Unknown, Looping])
                || self.skip_at_limit(d, Phase::HealthChecks)
            {
                continue;
            }
            let device = &lab.devices[d];
            let last = lab.last_health_checks.get(&device.hostname);
            let Some(reason) = health_check_due(device, device_type, last, lab.now) else {
                self.available[d] = true;
                continue;
            };
            let Some(definition) = self.dictionaries.health_check(device, device_type) else {
                self.available[d] = true;
                continue;
            };
            if !self.check_dictionary(d) {
                continue;
            }
            if let Some(problem) = self.health_check_problem(&definition) {
                self.send_to_bad(d, "Invalid health check", Some(problem));
                continue;
            }
            self.decisions.health_checks.push(HealthCheck {
                device: device.hostname.clone(),
                device_type: device_type.name.clone(),
                definition,
                reason,
            });
            self.reserve(d);
        }
    }

    /// Instead of phase 1: the caller says which devices are available, per type.
    pub(super) fn offer(&mut self, available_devices: &BTreeMap<String, Vec<String>>) {
        let lab = self.lab;
        let by_hostname: FxHashMap<&str, usize> = lab
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.hostname.as_str(), i))
            .collect();
        for (device_type, hostnames) in available_devices {
            for hostname in hostnames {
                if let Some(&d) = by_hostname.get(hostname.as_str()) {
                    // As LAVA, a type's list only offers that type's devices.
                    if lab.devices[d].device_type == *device_type {
                        self.available[d] = true;
                    }
                }
            }
        }
        self.decisions.available_devices = available_devices.clone();
    }

    /// Whether a device restricted by permissions, or a `lava-vland` job, makes device `d`
    /// of type `t` walk past queue heads.
    fn walks_queue(&self, d: usize, vland_type: bool) -> bool {
        vland_type || (!self.open.is_empty() && !self.open[d])
    }

    /// Whether the job at `job` in the snapshot may run on device `d`, beyond type and
    /// tags: its submitter may use the device, and the device serves its VLANs.
    fn fits(&mut self, d: usize, job: usize) -> bool {
        let lab = self.lab;
        let job = &lab.jobs[job];
        let device = &lab.devices[d];
        if !self.open.is_empty()
            && !self.open[d]
            && !lab.permissions.can_submit(device, &job.submitter)
        {
            return false;
        }
        if let Some(request) = lab.vlan_requests.get(&job.id) {
            return match_vlan_interface(request, self.vlan_interfaces(d));
        }
        true
    }

    /// The device's VLAN interfaces, asked of the dictionaries once per pass.
    pub(super) fn vlan_interfaces(&mut self, d: usize) -> Option<&[VlanInterface]> {
        let dictionaries = &mut *self.dictionaries;
        let device = &self.lab.devices[d];
        self.interfaces
            .entry(d)
            .or_insert_with(|| dictionaries.vlan_interfaces(device))
            .as_deref()
    }

    /// The multinode groups that can never start: a sub-job already left the queue (e.g.
    /// Finished), or the group needs more devices at once than its submitter may ever use
    /// ([`Availability`]: devices not Retired, permissions, tags).
    fn find_hopeless_groups(&mut self) {
        let lab = self.lab;
        if !lab.bound_waiting_groups {
            return;
        }
        let mut groups: BTreeMap<&str, Vec<&Job>> = BTreeMap::new();
        for job in &lab.jobs {
            if let Some(group) = job.target_group() {
                groups.entry(group).or_default().push(job);
            }
        }
        if groups.is_empty() {
            return;
        }
        let availability = Availability::new(&lab.devices, &lab.permissions);
        for (group, jobs) in groups {
            let gone = jobs.iter().find(|j| {
                !j.is_dynamic_connection()
                    && !matches!(
                        j.state,
                        JobState::Submitted | JobState::Scheduling | JobState::Scheduled
                    )
            });
            if let Some(gone) = gone {
                let why = format!("its sub-job {} is {}", gone.id, gone.state);
                self.hopeless.insert(group, why);
                continue;
            }
            // Only a group still waiting for a device can be kept from its devices.
            if !jobs.iter().any(|j| j.state == JobState::Submitted) {
                continue;
            }
            let mut counts: BTreeMap<(&str, &BTreeSet<String>), u32> = BTreeMap::new();
            for job in &jobs {
                if let Some(device_type) = job.requested_device_type.as_deref() {
                    *counts.entry((device_type, &job.tags)).or_default() += 1;
                }
            }
            let needs: Vec<Need<'_>> = counts
                .into_iter()
                .map(|((device_type, tags), count)| Need {
                    device_type,
                    count,
                    tags,
                })
                .collect();
            let submitter = jobs.first().map_or("", |j| j.submitter.as_str());
            if let Err(why) = availability.check(&needs, submitter) {
                self.hopeless.insert(group, why.to_string());
            }
        }
    }

    /// Gives back the devices held by the sub-jobs of groups that can never start: the
    /// sub-jobs go back to Submitted, their devices are free for other jobs in this pass.
    fn release_hopeless_groups(&mut self) {
        let lab = self.lab;
        for (index, job) in lab.jobs.iter().enumerate() {
            let Some(group) = job.target_group() else {
                continue;
            };
            let Some(why) = self.hopeless.get(group) else {
                continue;
            };
            let (JobState::Scheduling, Some(host)) = (job.state, job.actual_device.as_deref())
            else {
                continue;
            };
            self.decisions.released.push(Released {
                job: job.id,
                device: host.to_owned(),
                group: group.to_owned(),
                reason: why.clone(),
            });
            self.job_state[index] = JobState::Submitted;
            let Some(d) = lab.devices.iter().position(|d| d.hostname == host) else {
                continue;
            };
            if self.state[d] == DeviceState::Reserved {
                self.state[d] = DeviceState::Idle;
                if let Some(w) = self.device_worker[d] {
                    self.workers[w].busy = self.workers[w].busy.saturating_sub(1);
                }
                let device_type = &lab.devices[d].device_type;
                if self.considers(device_type) {
                    self.available[d] = self.free(d, &[DeviceHealth::Good, DeviceHealth::Unknown]);
                }
            }
        }
    }

    /// Phase 2: each type's available devices take the best jobs they can run.
    pub(super) fn jobs(&mut self) {
        let lab = self.lab;
        self.find_hopeless_groups();
        self.release_hopeless_groups();
        // Multinode groups sort by id within equal priority and submit time; rank them once.
        let mut groups: Vec<&str> = lab.jobs.iter().filter_map(Job::target_group).collect();
        groups.sort_unstable();
        groups.dedup();
        let group_rank: FxHashMap<&str, u32> = groups
            .iter()
            .enumerate()
            .map(|(rank, g)| (*g, u32::try_from(rank).unwrap_or(u32::MAX)))
            .collect();

        let mut queued: Vec<Vec<(Queued, TagSet)>> = vec![Vec::new(); lab.device_types.len()];
        let mut vland_types = vec![false; lab.device_types.len()];
        for (i, job) in lab.jobs.iter().enumerate() {
            if job.state != JobState::Submitted || job.actual_device.is_some() {
                continue;
            }
            let Some(&t) = job
                .requested_device_type
                .as_deref()
                .and_then(|name| self.type_index.get(name))
            else {
                continue;
            };
            if !lab.legacy_jobs.is_empty() && lab.legacy_jobs.contains(&job.id) {
                continue;
            }
            if job
                .target_group()
                .is_some_and(|g| self.hopeless.contains_key(g))
            {
                continue;
            }
            if !lab.vlan_requests.is_empty() && lab.vlan_requests.contains_key(&job.id) {
                vland_types[t] = true;
            }
            let rank = job
                .target_group()
                .and_then(|g| group_rank.get(g).copied())
                .unwrap_or(0);
            queued[t].push((Queued::new(job, i, rank), self.tags.set(&job.tags)));
        }
        for i in 0..self.types.len() {
            let t = self.types[i];
            let offered = self.devices_by_type[t].iter().any(|&d| self.available[d]);
            // Explanations need every type's queue; without them, only offered types sort theirs.
            if !offered && !self.options.explain {
                continue;
            }
            let mut queue = TypeQueue::new(std::mem::take(&mut queued[t]));
            if offered {
                let devices = std::mem::take(&mut self.devices_by_type[t]);
                self.jobs_of_type(&devices, &mut queue, vland_types[t]);
                self.devices_by_type[t] = devices;
            }
            self.queues[t] = Some(queue);
        }
    }

    fn jobs_of_type(&mut self, devices: &[usize], queue: &mut TypeQueue, vland_type: bool) {
        use DeviceHealth::{Good, Unknown};
        let lab = self.lab;
        let mut candidates: Vec<usize> = devices
            .iter()
            .copied()
            .filter(|&d| self.available[d] && self.free(d, &[Good, Unknown]))
            .collect();
        if let DeviceOrder::Shuffled { seed } = self.options.order {
            candidates.sort_by_cached_key(|&d| shuffle_key(seed, &lab.devices[d].hostname));
        }
        // Out of `self` for the loop, so that `fits` may borrow `self` mutably.
        let device_tags = std::mem::take(&mut self.device_tags);
        for d in candidates {
            if self.skip_at_limit(d, Phase::Jobs) || !self.check_dictionary(d) {
                continue;
            }
            let taken = if self.walks_queue(d, vland_type) {
                queue.take_for_where(&device_tags[d], |job| self.fits(d, job))
            } else {
                queue.take_for(&device_tags[d])
            };
            let Some(index) = taken else {
                continue;
            };
            let job = &lab.jobs[index];
            let state = if job.multinode.is_some() {
                JobState::Scheduling
            } else {
                JobState::Scheduled
            };
            self.job_state[index] = state;
            self.decisions.assignments.push(Assignment {
                job: job.id,
                device: Some(lab.devices[d].hostname.clone()),
                state,
            });
            self.reserve(d);
        }
        self.device_tags = device_tags;
    }

    /// Phase 3: multinode groups whose every sub-job holds a device start, with their roles.
    pub(super) fn multinode(&mut self) {
        let lab = self.lab;
        let mut groups: BTreeMap<&str, Vec<(usize, &Job)>> = BTreeMap::new();
        for (index, job) in lab.jobs.iter().enumerate() {
            if let Some(group) = job.target_group() {
                groups.entry(group).or_default().push((index, job));
            }
        }
        if groups.is_empty() {
            return;
        }
        let mut assigned: FxHashMap<JobId, usize> = self
            .decisions
            .assignments
            .iter()
            .enumerate()
            .map(|(i, a)| (a.job, i))
            .collect();
        for (group, mut members) in groups {
            if self.hopeless.contains_key(group) {
                continue;
            }
            members.sort_by_key(|(_, j)| j.id);
            let jobs: Vec<&Job> = members.iter().map(|(_, j)| *j).collect();
            let states: Vec<(JobState, Option<String>)> = jobs
                .iter()
                .map(|job| match assigned.get(&job.id) {
                    Some(&i) => {
                        let a = &self.decisions.assignments[i];
                        (a.state, a.device.clone())
                    }
                    None => (job.state, job.actual_device.clone()),
                })
                .collect();
            // LAVA looks only at groups with a sub-job in Scheduling.
            if !states.iter().any(|(s, _)| *s == JobState::Scheduling) {
                continue;
            }
            // A sub-job in any other state (Submitted, or Finished after a cancel) keeps the
            // group waiting; a dynamic connection needs no device of its own.
            let complete = jobs
                .iter()
                .zip(&states)
                .all(|(j, (s, _))| *s == JobState::Scheduling || j.is_dynamic_connection());
            if !complete {
                let mut waiting = WaitingGroup {
                    group: group.to_owned(),
                    reserved: Vec::new(),
                    waiting: Vec::new(),
                    blocking: Vec::new(),
                };
                for (job, (state, device)) in jobs.iter().zip(states) {
                    match (state, device) {
                        (JobState::Scheduling, Some(device)) => {
                            waiting.reserved.push((job.id, device))
                        }
                        _ if job.is_dynamic_connection() => {}
                        (JobState::Submitted, _) => {
                            waiting.waiting.push((job.id, role_of(job).to_owned()))
                        }
                        (state, _) => waiting.blocking.push((job.id, state)),
                    }
                }
                self.decisions.waiting_groups.push(waiting);
                continue;
            }
            let roles: BTreeMap<JobId, String> = jobs
                .iter()
                .filter(|j| !j.is_dynamic_connection())
                .map(|j| (j.id, role_of(j).to_owned()))
                .collect();
            self.decisions.started_groups.push(StartedGroup {
                group: group.to_owned(),
                roles,
            });
            for ((index, job), (state, device)) in members.iter().zip(states) {
                // A dynamic connection already past Scheduled stays where it is.
                if state != JobState::Scheduling && state != JobState::Submitted {
                    continue;
                }
                self.job_state[*index] = JobState::Scheduled;
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

/// A sub-job's role (empty for a job outside any group).
pub(super) fn role_of(job: &Job) -> &str {
    job.multinode.as_ref().map_or("", |m| m.role.as_str())
}

/// The sorted, distinct names of a set.
pub(super) fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
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
