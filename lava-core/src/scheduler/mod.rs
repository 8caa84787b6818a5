//! The scheduler: a pure function from a lab snapshot to assignments and device health
//! changes.
//!
//! One call of [`schedule`] is one pass of LAVA 2020.05's `lava_scheduler_app.scheduler`:
//!
//! 1. **Health checks** ([`schedule_health_checks`] alone), per device type in name order
//!    (types with `display` only), over Idle devices on Online workers with health Good,
//!    Unknown or Looping, in hostname order. A device on a worker at its job limit is
//!    skipped (and reported in [`Decisions::skipped_devices`]); a device without a
//!    health-check definition, or whose check is not due, is *available* for jobs. A due
//!    check on a device whose dictionary is invalid, or whose health-check definition LAVA
//!    could not turn into a job, sends the device to Bad. The available devices are
//!    returned per type ([`Decisions::available_devices`]), as LAVA's
//!    `schedule_health_checks()` returns them.
//! 2. **Jobs** ([`schedule_jobs`] alone, given the available devices), per device type in
//!    name order, over available Idle devices on Online workers with health Good or Unknown,
//!    in [`DeviceOrder`]. Each device takes the best queued job (priority descending,
//!    submit time, group, id) whose tags it carries, whose submitter may use it
//!    ([`Permissions`]) and, for a `lava-vland` job, whose VLANs its interfaces serve.
//!    Single-node jobs go Scheduled; multinode sub-jobs go Scheduling.
//! 3. **Multinode**: a group whose every sub-job is Scheduling (or is a dynamic connection)
//!    goes Scheduled at once, and its roles are written into every sub-job
//!    ([`Decisions::started_groups`]). Groups still waiting keep their reserved devices, as
//!    in LAVA, and are reported in [`Decisions::waiting_groups`]; a group with a sub-job
//!    that already left the queue (e.g. Finished) never starts, as in LAVA. With
//!    [`LabSnapshot::bound_waiting_groups`] (lava-rs' master sets it), a group that can never start (a sub-job left the queue, or it needs more devices at
//!    once than its submitter may use: [`Availability`]) gets no device in the job phase and
//!    gives back those it holds ([`Decisions::released`]), so it cannot keep devices
//!    Reserved and other jobs waiting.
//! 4. **Explanations** (when asked): one [`WaitReason`] per queued job not started.
//!
//! The pass reads nothing but its [`LabSnapshot`] and the caller's [`DeviceDictionaries`]
//! and writes nothing: the caller applies the [`Decisions`] in one transaction (see
//! [`Decisions::changes`]).
//!
//! LAVA walks free devices in random order so that idle devices share the load. We offer a
//! seeded shuffle or plain hostname order: each is one of the orders LAVA could have drawn,
//! so every decision is one LAVA could have taken.
//!
//! Cost: one pass is linear in devices + jobs (plus a sort of each type's queue). Jobs are
//! bucketed per device type and exact tag set, so a device looks at one head per bucket;
//! only devices restricted by permissions, and types with `lava-vland` jobs, walk further.

mod availability;
mod decisions;
mod dictionaries;
mod explain;
mod fxhash;
mod health;
mod pass;
mod permissions;
mod queue;
mod vland;

pub use availability::{Availability, Need, Unavailable};
pub use decisions::{
    Assignment, Decisions, DeviceHealthChange, HealthCheck, Phase, Released, SkippedDevice,
    StartedGroup, WaitingGroup,
};
pub use dictionaries::{DeviceDictionaries, HealthCheckMemo, SnapshotDictionaries};
pub use explain::{HealthCounts, WaitReason, WaitingJob};
pub use health::{health_check_due, health_check_problem, DueReason, LastHealthCheck};
pub use permissions::{
    GroupPermission, ObjectPermission, Permissions, UserAccess, HEALTH_CHECK_USER,
};
pub use queue::queue_order;
pub use vland::{
    match_vlan_interface, vlan_interfaces, vlan_request, Vlan, VlanInterface, VlandError,
    VlandSource,
};

use crate::model::{Device, DeviceType, Job, JobId, Worker};
use crate::time::Timestamp;
use pass::Pass;
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
    /// group among them, give every sub-job whatever its state: a sub-job that already
    /// left the queue (Finished, Canceling) keeps the group from starting, as in LAVA.
    pub jobs: Vec<Job>,
    /// The last health check of each device that has one, by hostname.
    pub last_health_checks: HashMap<String, LastHealthCheck>,
    /// Hostnames of the devices whose dictionary exists and renders, for
    /// [`SnapshotDictionaries`]; any other device that is about to get work goes Bad
    /// instead. A caller that checks dictionaries lazily passes its own
    /// [`DeviceDictionaries`] to [`schedule_with`] and may leave this empty.
    pub valid_dictionaries: HashSet<String>,
    /// Jobs submitted in the legacy JSON format (the old dispatcher's):
    /// stored, but never matched to a pipeline device.
    pub legacy_jobs: HashSet<JobId>,
    /// The moment of the pass.
    pub now: Timestamp,
    /// Per-device health-check definitions, by hostname, for [`SnapshotDictionaries`]:
    /// LAVA 2020.05 takes a device's health check from the health-checks file named after
    /// the template its dictionary extends (`Device.get_health_check()`). `Some(text)` is
    /// the device's check, `None` says it has none; a device missing from the map uses its
    /// type's [`DeviceType::health_check_definition`].
    pub health_checks: HashMap<String, Option<String>>,
    /// Who may submit to which device (LAVA's group permissions). The default restricts
    /// nothing.
    pub permissions: Permissions,
    /// The VLANs each `lava-vland` job asks for, in definition order (see
    /// [`vlan_request`]); jobs missing from the map use no VLAN.
    pub vlan_requests: HashMap<JobId, Vec<Vlan>>,
    /// Each device's network interfaces, in dictionary order (see [`vlan_interfaces`]),
    /// for [`SnapshotDictionaries`]; a device missing from the map has none.
    pub vlan_interfaces: HashMap<String, Vec<VlanInterface>>,
    /// lava-rs' bound on waiting multinode groups: a group that can never start (a sub-job
    /// left the queue, or it needs more devices at once than its submitter may use) gets
    /// no device and gives back those it holds ([`Decisions::released`]). Off, the pass
    /// does as LAVA 2020.05 does: such a group keeps what it reserved.
    pub bound_waiting_groups: bool,
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

/// How to run a pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassOptions {
    /// The order in which free devices are offered jobs.
    pub order: DeviceOrder,
    /// Only these device types (LAVA's `available_dt`, the types of workers that just came
    /// online); `None` for all.
    pub device_types: Option<BTreeSet<String>>,
    /// Explain every queued job the pass does not start ([`Decisions::waiting_jobs`]).
    pub explain: bool,
}

impl PassOptions {
    /// Every device type, in `order`, with explanations.
    pub fn explained(order: DeviceOrder) -> Self {
        PassOptions {
            order,
            device_types: None,
            explain: true,
        }
    }
}

/// Runs one scheduling pass over `lab`, offering each type's devices in `order`, with
/// explanations, answering dictionary questions from the snapshot.
pub fn schedule(lab: &LabSnapshot, order: DeviceOrder) -> Decisions {
    schedule_with(
        lab,
        &PassOptions::explained(order),
        &mut SnapshotDictionaries::new(lab),
    )
}

/// Runs one scheduling pass (LAVA's `schedule()`): health checks, then jobs on the devices
/// left available, then multinode groups, then explanations if asked.
pub fn schedule_with<D: DeviceDictionaries + ?Sized>(
    lab: &LabSnapshot,
    options: &PassOptions,
    dictionaries: &mut D,
) -> Decisions {
    let mut pass = Pass::new(lab, dictionaries, options);
    pass.health_checks();
    pass.jobs();
    pass.multinode();
    if options.explain {
        pass.explain();
    }
    pass.finish()
}

/// Runs only the health-check part of a pass (LAVA's `schedule_health_checks()`): the
/// health checks to create, devices sent Bad, devices skipped, and the devices left
/// available for jobs per device type ([`Decisions::available_devices`]).
pub fn schedule_health_checks<D: DeviceDictionaries + ?Sized>(
    lab: &LabSnapshot,
    options: &PassOptions,
    dictionaries: &mut D,
) -> Decisions {
    let mut pass = Pass::new(lab, dictionaries, options);
    pass.health_checks();
    pass.finish()
}

/// Runs only the job part of a pass (LAVA's `schedule_jobs(available_devices)`) over the
/// given available devices (hostnames per device type, as [`schedule_health_checks`]
/// returns them), then multinode groups, then explanations if asked.
/// `options.device_types` is not used: the map says which types take part.
pub fn schedule_jobs<D: DeviceDictionaries + ?Sized>(
    lab: &LabSnapshot,
    available_devices: &BTreeMap<String, Vec<String>>,
    options: &PassOptions,
    dictionaries: &mut D,
) -> Decisions {
    let options = PassOptions {
        order: options.order,
        device_types: None,
        explain: options.explain,
    };
    let mut pass = Pass::new(lab, dictionaries, &options);
    pass.offer(available_devices);
    pass.jobs();
    pass.multinode();
    if options.explain {
        pass.explain();
    }
    pass.finish()
}
