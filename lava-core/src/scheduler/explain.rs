//! "Why is my job still waiting?": one reason per queued job a pass does not start, with the
//! numbers that make it concrete.
//!
//! No LAVA release answers that question; the reasons use LAVA's vocabulary (device types,
//! tags, health, workers, job limits, submit permissions, multinode roles) so that a LAVA
//! user reads them without learning new words. The reason is the first that applies, in
//! the order of [`WaitReason`]'s variants: a job for a device type that does not exist is
//! not also "waiting for a busy device". (A multinode sub-job that holds a device, or whose
//! group can never start, gives its group's reason; one still looking for a device gives
//! its own.)

use super::dictionaries::DeviceDictionaries;
use super::fxhash::FxHashMap;
use super::pass::{role_of, sorted, Pass};
use super::queue::{Queued, TagSet};
use super::vland::match_vlan_interface;
use crate::model::{DeviceHealth, DeviceState, Job, JobId, JobState};
use std::fmt;
use std::sync::Arc;

/// Why a queued job was not started by a pass. The set is closed: every queued job that a
/// pass does not start gets exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Submitted in the legacy JSON format of LAVA's old dispatcher: LAVA 2020.05 stores it
    /// but never schedules it; it stays Submitted until it is canceled.
    LegacyJson,
    /// No device of the requested type exists (or the job names no device type).
    NoDevice {
        /// The requested device type (empty when the job names none).
        device_type: Arc<str>,
    },
    /// The device type is hidden (`display` is off): LAVA gives its devices no work.
    DeviceTypeHidden {
        /// The requested device type.
        device_type: Arc<str>,
    },
    /// The job is a sub-job of a multinode group that cannot start yet: LAVA starts a group
    /// only when every sub-job holds a device.
    MultinodeGroupIncomplete {
        /// The group (`target_group`).
        group: Arc<str>,
        /// The roles with sub-jobs still waiting for a device, sorted.
        waiting_roles: Arc<[String]>,
        /// Sub-jobs that already left the queue (e.g. Finished): while there is one, LAVA
        /// never starts the group; cancel it.
        blocking: Arc<[(JobId, JobState)]>,
    },
    /// The job's multinode group needs more devices at once than its submitter may ever
    /// use (devices not Retired, tags, permissions): it gets no device, and gives back the
    /// ones it held, until devices are added or permissions change.
    MultinodeGroupCannotStart {
        /// The group (`target_group`).
        group: Arc<str>,
        /// Why, in the words of the submission check.
        why: Arc<str>,
    },
    /// No device of the type carries all the tags the job requires.
    NoDeviceWithTags {
        /// The requested device type.
        device_type: Arc<str>,
        /// The job's tags, sorted.
        tags: Arc<[String]>,
    },
    /// The submitter may not submit to any device of the type that carries the job's tags
    /// (LAVA's group permissions `submit_to_device` / `submit_to_devicetype`).
    NotAllowed {
        /// The requested device type.
        device_type: Arc<str>,
        /// The submitter.
        submitter: String,
        /// How many devices of the type carry the job's tags.
        devices: u32,
    },
    /// The job uses `lava-vland` and no device it may use has a free tagged interface for
    /// each of its VLANs.
    NoVlanInterfaces {
        /// The requested device type.
        device_type: Arc<str>,
        /// How many devices it may use (type, tags, permissions) lack the interfaces.
        devices: u32,
    },
    /// Devices that could run the job are free, but this pass did not offer them (a pass
    /// over given available devices, LAVA's `schedule_jobs(available_devices)`, left them
    /// out): the next full pass will.
    NotOffered {
        /// The requested device type.
        device_type: Arc<str>,
        /// How many free devices were not offered.
        free: u32,
    },
    /// Devices that could run the job are busy (Reserved or Running) and none is free: the
    /// job waits its turn. (Devices of the type in a health or on a worker that takes no
    /// job are not counted.)
    AllDevicesBusy {
        /// The requested device type.
        device_type: Arc<str>,
        /// How many devices that could run it are busy.
        busy: u32,
        /// The job's place among the type's jobs still queued after the pass, from 1, in
        /// LAVA's order (priority, submit time, multinode group, id).
        position: u32,
        /// How many of the jobs ahead of it have a higher priority.
        higher_priority_ahead: u32,
    },
    /// The devices that could run the job are idle and usable, but their workers are
    /// offline or already run as many jobs as their `job_limit` allows.
    WorkersUnavailable {
        /// The requested device type.
        device_type: Arc<str>,
        /// Devices whose worker is offline (or that have no worker).
        offline: u32,
        /// Devices whose worker is at its job limit.
        at_job_limit: u32,
    },
    /// None of the devices that could run the job has a health that takes jobs (Good or
    /// Unknown): counts by health (Looping devices run only health checks; Bad, Maintenance
    /// and Retired devices run nothing).
    DevicesNotGood {
        /// The requested device type.
        device_type: Arc<str>,
        /// How many devices of each health.
        health: HealthCounts,
    },
}

/// How many devices are in each health that takes no job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCounts {
    /// Looping: running health checks back to back.
    pub looping: u32,
    /// Bad: a health check failed or the dictionary is invalid.
    pub bad: u32,
    /// Maintenance: taken out by an admin.
    pub maintenance: u32,
    /// Retired: gone for good.
    pub retired: u32,
}

impl HealthCounts {
    /// The healths with at least one device, with their counts, in LAVA's code order.
    pub fn iter(&self) -> impl Iterator<Item = (DeviceHealth, u32)> {
        [
            (DeviceHealth::Looping, self.looping),
            (DeviceHealth::Bad, self.bad),
            (DeviceHealth::Maintenance, self.maintenance),
            (DeviceHealth::Retired, self.retired),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }

    fn add(&mut self, health: DeviceHealth) {
        match health {
            DeviceHealth::Looping => self.looping += 1,
            DeviceHealth::Bad => self.bad += 1,
            DeviceHealth::Maintenance => self.maintenance += 1,
            DeviceHealth::Retired => self.retired += 1,
            // Good and Unknown devices take jobs: they are never counted here.
            DeviceHealth::Good | DeviceHealth::Unknown => {}
        }
    }

    fn total(&self) -> u32 {
        self.looping + self.bad + self.maintenance + self.retired
    }
}

impl WaitReason {
    /// A stable identifier of the variant, for APIs and tools (`all_devices_busy`, …).
    pub const fn kind(&self) -> &'static str {
        match self {
            WaitReason::LegacyJson => "legacy_json",
            WaitReason::NoDevice { .. } => "no_device",
            WaitReason::DeviceTypeHidden { .. } => "device_type_hidden",
            WaitReason::NoDeviceWithTags { .. } => "no_device_with_tags",
            WaitReason::NotAllowed { .. } => "not_allowed",
            WaitReason::NoVlanInterfaces { .. } => "no_vlan_interfaces",
            WaitReason::AllDevicesBusy { .. } => "all_devices_busy",
            WaitReason::WorkersUnavailable { .. } => "workers_unavailable",
            WaitReason::DevicesNotGood { .. } => "devices_not_good",
            WaitReason::NotOffered { .. } => "not_offered",
            WaitReason::MultinodeGroupIncomplete { .. } => "multinode_group_incomplete",
            WaitReason::MultinodeGroupCannotStart { .. } => "multinode_group_cannot_start",
        }
    }
}

/// `1st`, `2nd`, `3rd`, `11th`, …
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::LegacyJson => f.write_str(
                "submitted in the legacy JSON format, which this LAVA never schedules: it \
                 stays Submitted until it is canceled",
            ),
            WaitReason::NoDevice { device_type } if device_type.is_empty() => {
                f.write_str("the job names no device type")
            }
            WaitReason::NoDevice { device_type } => {
                write!(f, "no device of type '{device_type}' exists")
            }
            WaitReason::DeviceTypeHidden { device_type } => write!(
                f,
                "device type '{device_type}' is hidden (display is off): its devices get no jobs"
            ),
            WaitReason::NoDeviceWithTags { device_type, tags } => write!(
                f,
                "no '{device_type}' device carries all the tags the job requires: {}",
                tags.join(", ")
            ),
            WaitReason::NotAllowed {
                device_type,
                submitter,
                devices,
            } => write!(
                f,
                "user '{submitter}' may not submit to any of the {} that carry the job's tags",
                plural(
                    *devices,
                    &format!("'{device_type}' device"),
                    &format!("'{device_type}' devices")
                )
            ),
            WaitReason::NoVlanInterfaces {
                device_type,
                devices,
            } => write!(
                f,
                "none of the {} the job may use has a tagged network interface for each of \
                 its VLANs (lava-vland)",
                plural(
                    *devices,
                    &format!("'{device_type}' device"),
                    &format!("'{device_type}' devices")
                )
            ),
            WaitReason::AllDevicesBusy {
                device_type,
                busy,
                position,
                higher_priority_ahead,
            } => {
                let devices = if *busy == 1 {
                    format!("the only '{device_type}' device that can run it is busy")
                } else {
                    format!("all {busy} '{device_type}' devices that can run it are busy")
                };
                write!(
                    f,
                    "{devices}; the job is {} in the '{device_type}' queue",
                    ordinal(*position)
                )?;
                if *higher_priority_ahead > 0 {
                    write!(
                        f,
                        ", behind {} of higher priority",
                        plural(*higher_priority_ahead, "job", "jobs")
                    )?;
                }
                Ok(())
            }
            WaitReason::WorkersUnavailable {
                device_type,
                offline,
                at_job_limit,
            } => {
                let mut parts = Vec::new();
                if *offline > 0 {
                    parts.push(format!(
                        "{} on an offline worker",
                        plural(*offline, "device", "devices")
                    ));
                }
                if *at_job_limit > 0 {
                    parts.push(format!(
                        "{} on a worker at its job limit",
                        plural(*at_job_limit, "device", "devices")
                    ));
                }
                write!(
                    f,
                    "the '{device_type}' devices that can run it are idle but their workers \
                     take no job: {}",
                    parts.join(", ")
                )
            }
            WaitReason::DevicesNotGood {
                device_type,
                health,
            } => {
                let counts: Vec<String> = health.iter().map(|(h, n)| format!("{n} {h}")).collect();
                write!(
                    f,
                    "no '{device_type}' device that can run it is in a health that takes jobs: {}",
                    counts.join(", ")
                )
            }
            WaitReason::NotOffered { device_type, free } => write!(
                f,
                "{} that can run it {} free but {} not offered to jobs in this pass",
                plural(
                    *free,
                    &format!("'{device_type}' device"),
                    &format!("'{device_type}' devices")
                ),
                if *free == 1 { "is" } else { "are" },
                if *free == 1 { "was" } else { "were" },
            ),
            WaitReason::MultinodeGroupIncomplete {
                group,
                waiting_roles,
                blocking,
            } => {
                write!(f, "multinode group {group} is incomplete")?;
                match &waiting_roles[..] {
                    [] => {}
                    [role] => write!(f, ": role {role} waits for a device")?,
                    roles => write!(f, ": roles {} wait for devices", roles.join(", "))?,
                }
                if !blocking.is_empty() {
                    let jobs: Vec<String> = blocking
                        .iter()
                        .map(|(id, state)| format!("{id} ({state})"))
                        .collect();
                    write!(
                        f,
                        "; sub-job {} left the queue, so the group can never start: cancel it",
                        jobs.join(", ")
                    )?;
                }
                Ok(())
            }
            WaitReason::MultinodeGroupCannotStart { group, why } => write!(
                f,
                "multinode group {group} can never start as the lab is ({why}): it holds no \
                 device until devices are added or permissions change; cancel it"
            ),
        }
    }
}

/// A queued job that a pass did not start, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingJob {
    /// The job.
    pub job: JobId,
    /// Why it waits.
    pub reason: WaitReason,
}

/// Where a device stands after the pass, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Reserved or Running.
    Busy,
    /// Idle, but its health takes no job.
    NotGood(DeviceHealth),
    /// Idle and healthy, on an offline worker (or none).
    WorkerOffline,
    /// Idle and healthy, on a worker at its job limit.
    WorkerAtLimit,
    /// Idle, healthy, on a worker that takes work.
    Free,
}

/// What the devices that could run a job are doing.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    matching: u32,
    busy: u32,
    offline: u32,
    at_limit: u32,
    free: u32,
    not_good: HealthCounts,
}

impl Counts {
    fn merge(&mut self, other: &Counts) {
        self.matching += other.matching;
        self.busy += other.busy;
        self.offline += other.offline;
        self.at_limit += other.at_limit;
        self.free += other.free;
        self.not_good.looping += other.not_good.looping;
        self.not_good.bad += other.not_good.bad;
        self.not_good.maintenance += other.not_good.maintenance;
        self.not_good.retired += other.not_good.retired;
    }

    fn add(&mut self, standing: Standing) {
        self.matching += 1;
        match standing {
            Standing::Busy => self.busy += 1,
            Standing::NotGood(h) => self.not_good.add(h),
            Standing::WorkerOffline => self.offline += 1,
            Standing::WorkerAtLimit => self.at_limit += 1,
            Standing::Free => self.free += 1,
        }
    }

    /// The reason these devices give, for a job at `position` (from 1) with
    /// `higher_priority_ahead` jobs of higher priority before it.
    fn reason(
        &self,
        device_type: &Arc<str>,
        position: u32,
        higher_priority_ahead: u32,
    ) -> WaitReason {
        let device_type = Arc::clone(device_type);
        if self.free > 0 {
            WaitReason::NotOffered {
                device_type,
                free: self.free,
            }
        } else if self.busy > 0 {
            WaitReason::AllDevicesBusy {
                device_type,
                busy: self.busy,
                position,
                higher_priority_ahead,
            }
        } else if self.offline + self.at_limit > 0 {
            WaitReason::WorkersUnavailable {
                device_type,
                offline: self.offline,
                at_job_limit: self.at_limit,
            }
        } else {
            debug_assert!(
                self.not_good.total() > 0,
                "a matching device is counted somewhere"
            );
            WaitReason::DevicesNotGood {
                device_type,
                health: self.not_good,
            }
        }
    }
}

/// A multinode group as the pass leaves it: the reason its sub-jobs share.
#[derive(Debug)]
struct GroupView {
    blocked: bool,
    reason: WaitReason,
}

impl<'a, D: DeviceDictionaries + ?Sized> Pass<'a, '_, D> {
    fn standing(&self, d: usize) -> Standing {
        if self.state[d] != DeviceState::Idle {
            Standing::Busy
        } else if !matches!(self.health[d], DeviceHealth::Good | DeviceHealth::Unknown) {
            Standing::NotGood(self.health[d])
        } else if !self.worker_online(d) {
            Standing::WorkerOffline
        } else if self.worker_at_limit(d) {
            Standing::WorkerAtLimit
        } else {
            Standing::Free
        }
    }

    /// Every multinode group, with the roles still waiting and the sub-jobs that left the
    /// queue, as the pass leaves them.
    fn group_views(&self) -> FxHashMap<&'a str, GroupView> {
        let lab: &'a super::LabSnapshot = self.lab;
        // Per group: the roles waiting, the sub-jobs gone.
        type Parts = (Vec<String>, Vec<(JobId, JobState)>);
        let mut views: FxHashMap<&str, Parts> = FxHashMap::default();
        for (i, job) in lab.jobs.iter().enumerate() {
            let Some(group) = job.target_group() else {
                continue;
            };
            let view = views.entry(group).or_default();
            if job.is_dynamic_connection() {
                continue;
            }
            match self.job_state[i] {
                JobState::Submitted => view.0.push(role_of(job).to_owned()),
                JobState::Scheduling | JobState::Scheduled => {}
                state => view.1.push((job.id, state)),
            }
        }
        views
            .into_iter()
            .map(|(group, (roles, blocking))| {
                let blocked = !blocking.is_empty() || self.hopeless.contains_key(group);
                let reason = match self.hopeless.get(group) {
                    Some(why) if blocking.is_empty() => WaitReason::MultinodeGroupCannotStart {
                        group: Arc::from(group),
                        why: Arc::from(why.as_str()),
                    },
                    _ => WaitReason::MultinodeGroupIncomplete {
                        group: Arc::from(group),
                        waiting_roles: sorted(roles).into(),
                        blocking: blocking.into(),
                    },
                };
                let view = GroupView { blocked, reason };
                (group, view)
            })
            .collect()
    }

    /// The devices of type `t` grouped by tag set (a type has few distinct sets), each
    /// group counted by standing.
    fn tag_classes(&self, t: usize, standing: &[Standing]) -> Vec<(TagSet, Counts)> {
        let mut classes: Vec<(TagSet, Counts)> = Vec::new();
        for &d in &self.devices_by_type[t] {
            let tags = &self.device_tags[d];
            match classes.iter_mut().find(|(t, _)| t == tags) {
                Some((_, counts)) => counts.add(standing[d]),
                None => {
                    let mut counts = Counts::default();
                    counts.add(standing[d]);
                    classes.push((tags.clone(), counts));
                }
            }
        }
        classes
    }

    /// The reason for one job whose submitter or VLANs narrow its devices further than its
    /// type and tags.
    #[allow(clippy::too_many_arguments)]
    fn narrowed_reason(
        &mut self,
        t: usize,
        device_type: &Arc<str>,
        tags: &TagSet,
        job: &Job,
        standing: &[Standing],
        position: u32,
        higher_priority_ahead: u32,
    ) -> WaitReason {
        let lab = self.lab;
        let mut tagged = 0;
        let mut allowed = Vec::new();
        for &d in &self.devices_by_type[t] {
            if !tags.is_subset(&self.device_tags[d]) {
                continue;
            }
            tagged += 1;
            let open = self.open.is_empty() || self.open[d];
            if open || lab.permissions.can_submit(&lab.devices[d], &job.submitter) {
                allowed.push(d);
            }
        }
        if tagged == 0 {
            return no_device_with_tags(device_type, job);
        }
        if allowed.is_empty() {
            return WaitReason::NotAllowed {
                device_type: Arc::clone(device_type),
                submitter: job.submitter.clone(),
                devices: tagged,
            };
        }
        let mut counts = Counts::default();
        let request = lab.vlan_requests.get(&job.id);
        for &d in &allowed {
            if let Some(request) = request {
                if !match_vlan_interface(request, self.vlan_interfaces(d)) {
                    continue;
                }
            }
            counts.add(standing[d]);
        }
        if counts.matching == 0 {
            return WaitReason::NoVlanInterfaces {
                device_type: Arc::clone(device_type),
                devices: u32::try_from(allowed.len()).unwrap_or(u32::MAX),
            };
        }
        counts.reason(device_type, position, higher_priority_ahead)
    }

    /// Phase 4: one reason for every queued job the pass did not start.
    pub(super) fn explain(&mut self) {
        let lab = self.lab;
        let standing: Vec<Standing> = (0..lab.devices.len()).map(|d| self.standing(d)).collect();
        let groups = self.group_views();
        let names: Vec<Arc<str>> = lab
            .device_types
            .iter()
            .map(|t| Arc::from(t.name.as_str()))
            .collect();
        let mut explained = vec![false; lab.jobs.len()];
        let mut waiting = Vec::with_capacity(lab.jobs.len());

        // Jobs still in their type's queue: by type, in LAVA's order, for their position.
        // The buffers serve every type in turn.
        let mut remaining: Vec<(Queued, usize)> = Vec::with_capacity(lab.jobs.len());
        let mut bucket_reasons: Vec<Option<(Counts, Option<WaitReason>)>> = Vec::new();
        for i in 0..self.types.len() {
            let t = self.types[i];
            let Some(queue) = self.queues[t].take() else {
                continue;
            };
            if !self.considers(&lab.device_types[t].name) {
                continue;
            }
            let name = &names[t];
            queue.remaining_in_order(&mut remaining);
            let bucket_tags: Vec<&TagSet> = queue.bucket_tags().collect();
            bucket_reasons.clear();
            bucket_reasons.resize(bucket_tags.len(), None);
            let classes = self.tag_classes(t, &standing);
            let hidden = !lab.device_types[t].display;
            let no_device = self.devices_by_type[t].is_empty();
            let narrowed_type =
                !self.open.is_empty() && self.devices_by_type[t].iter().any(|&d| !self.open[d]);
            let mut first_of_priority = 0;
            for (at, (job, bucket)) in remaining.iter().enumerate() {
                if at > 0 && remaining[at - 1].0.priority() != job.priority() {
                    first_of_priority = at;
                }
                let position = u32::try_from(at + 1).unwrap_or(u32::MAX);
                let higher = u32::try_from(first_of_priority).unwrap_or(u32::MAX);
                let row = &lab.jobs[job.index];
                let blocked = row
                    .target_group()
                    .and_then(|g| groups.get(g))
                    .filter(|v| v.blocked);
                let reason = if no_device {
                    WaitReason::NoDevice {
                        device_type: Arc::clone(name),
                    }
                } else if hidden {
                    WaitReason::DeviceTypeHidden {
                        device_type: Arc::clone(name),
                    }
                } else if let Some(view) = blocked {
                    view.reason.clone()
                } else if narrowed_type || lab.vlan_requests.contains_key(&row.id) {
                    let tags = bucket_tags[*bucket].clone();
                    self.narrowed_reason(t, name, &tags, row, &standing, position, higher)
                } else {
                    // One count per tag set; a reason without position is shared by the
                    // bucket's jobs.
                    let (counts, shared) = bucket_reasons[*bucket].get_or_insert_with(|| {
                        let mut counts = Counts::default();
                        for (tags, class) in &classes {
                            if bucket_tags[*bucket].is_subset(tags) {
                                counts.merge(class);
                            }
                        }
                        let shared = (counts.matching == 0).then(|| no_device_with_tags(name, row));
                        (counts, shared)
                    });
                    match shared {
                        Some(reason) => reason.clone(),
                        None => counts.reason(name, position, higher),
                    }
                };
                explained[job.index] = true;
                waiting.push(WaitingJob {
                    job: row.id,
                    reason,
                });
            }
        }

        // Everything else that is queued: legacy jobs, unknown types, multinode groups.
        for (i, job) in lab.jobs.iter().enumerate() {
            let state = self.job_state[i];
            if explained[i] || !matches!(state, JobState::Submitted | JobState::Scheduling) {
                continue;
            }
            let type_name = job.requested_device_type.as_deref();
            if type_name.is_some_and(|name| !self.considers(name)) {
                continue;
            }
            let reason = if lab.legacy_jobs.contains(&job.id) {
                WaitReason::LegacyJson
            } else if let Some(view) = job.target_group().and_then(|g| groups.get(g)) {
                view.reason.clone()
            } else if state == JobState::Submitted && job.actual_device.is_none() {
                match type_name.and_then(|name| self.type_index.get(name)) {
                    // Its type's queue was not built (a pass without jobs): nothing to say.
                    Some(_) => continue,
                    None => WaitReason::NoDevice {
                        device_type: Arc::from(type_name.unwrap_or_default()),
                    },
                }
            } else {
                continue;
            };
            waiting.push(WaitingJob {
                job: job.id,
                reason,
            });
        }
        self.decisions.waiting_jobs = waiting;
    }
}

fn no_device_with_tags(device_type: &Arc<str>, job: &Job) -> WaitReason {
    WaitReason::NoDeviceWithTags {
        device_type: Arc::clone(device_type),
        tags: job.tags.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_well() {
        let busy = WaitReason::AllDevicesBusy {
            device_type: "panda".into(),
            busy: 3,
            position: 2,
            higher_priority_ahead: 1,
        };
        assert_eq!(
            busy.to_string(),
            "all 3 'panda' devices that can run it are busy; the job is 2nd in the 'panda' \
             queue, behind 1 job of higher priority"
        );
        let one = WaitReason::AllDevicesBusy {
            device_type: "panda".into(),
            busy: 1,
            position: 11,
            higher_priority_ahead: 0,
        };
        assert_eq!(
            one.to_string(),
            "the only 'panda' device that can run it is busy; the job is 11th in the 'panda' queue"
        );
        let group = WaitReason::MultinodeGroupIncomplete {
            group: "g1".into(),
            waiting_roles: vec!["client".to_owned()].into(),
            blocking: vec![(7, JobState::Finished)].into(),
        };
        assert_eq!(
            group.to_string(),
            "multinode group g1 is incomplete: role client waits for a device; sub-job 7 \
             (Finished) left the queue, so the group can never start: cancel it"
        );
        let health = WaitReason::DevicesNotGood {
            device_type: "qemu".into(),
            health: HealthCounts {
                bad: 2,
                retired: 1,
                ..HealthCounts::default()
            },
        };
        assert_eq!(
            health.to_string(),
            "no 'qemu' device that can run it is in a health that takes jobs: 2 Bad, 1 Retired"
        );
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(22), "22nd");
        assert_eq!(ordinal(113), "113th");
        assert_eq!(WaitReason::LegacyJson.kind(), "legacy_json");
    }
}
