//! What a pass needs to know from device dictionaries, asked only for the devices it is
//! about to use, as LAVA asks `Device.is_valid()`, `Device.get_health_check()` and
//! `Device.load_configuration()` only then.
//!
//! A caller that renders dictionaries itself implements [`DeviceDictionaries`] (rendering
//! is I/O-free but costly, and most devices of a big lab are never asked about in a pass);
//! [`SnapshotDictionaries`] answers from the eager sets of the [`LabSnapshot`].

use super::health::health_check_problem;
use super::vland::VlanInterface;
use super::LabSnapshot;
use crate::model::{Device, DeviceType};
use std::collections::HashMap;

/// Answers about device dictionaries, asked lazily by a pass.
///
/// A pass asks about a device at most once per question. The answers must not change
/// during a pass.
pub trait DeviceDictionaries {
    /// Whether the device's dictionary exists, renders and describes a valid device
    /// (LAVA's `Device.is_valid()`). A device about to get work whose answer is `false`
    /// goes Bad ("Invalid device configuration").
    fn is_valid(&mut self, device: &Device) -> bool;

    /// The device's health-check definition (LAVA's `Device.get_health_check()`: the file of
    /// the health-checks directory named after the template its dictionary extends), or
    /// `None` when it has none. Asked only for a device whose health check is due.
    fn health_check(&mut self, device: &Device, device_type: &DeviceType) -> Option<String>;

    /// The device's network interfaces with their tags, from its rendered configuration
    /// (`parameters.interfaces`), or `None` when it has none. Asked only for a device
    /// offered to a job that uses `lava-vland`.
    fn vlan_interfaces(&mut self, device: &Device) -> Option<Vec<VlanInterface>>;

    /// Why LAVA could not create a health-check job from `definition`, if it could not
    /// (see [`health_check_problem`]). Asked once per distinct definition per pass. Reading
    /// a definition costs as much as scheduling a few hundred devices, and definitions
    /// rarely change: an implementation that lives across passes should remember the
    /// answers (see [`HealthCheckMemo`]).
    fn health_check_problem(&mut self, definition: &str) -> Option<String> {
        health_check_problem(definition)
    }
}

/// Remembers, across passes, which health-check definitions LAVA could turn into jobs.
#[derive(Debug, Clone, Default)]
pub struct HealthCheckMemo {
    known: HashMap<String, Option<String>>,
}

impl HealthCheckMemo {
    /// A lab has a few definitions per device type; past this many, the memo starts over
    /// (definitions that changed are never asked about again).
    const CAPACITY: usize = 4096;

    /// [`health_check_problem`] of `definition`, read once.
    pub fn problem(&mut self, definition: &str) -> Option<String> {
        if let Some(known) = self.known.get(definition) {
            return known.clone();
        }
        if self.known.len() >= Self::CAPACITY {
            self.known.clear();
        }
        let problem = health_check_problem(definition);
        self.known.insert(definition.to_owned(), problem.clone());
        problem
    }
}

/// The answers a [`LabSnapshot`] holds: [`LabSnapshot::valid_dictionaries`],
/// [`LabSnapshot::health_checks`] (falling back to the device type's definition) and
/// [`LabSnapshot::vlan_interfaces`]; health-check definitions are read each pass, or once
/// with a [`HealthCheckMemo`].
#[derive(Debug)]
pub struct SnapshotDictionaries<'a> {
    lab: &'a LabSnapshot,
    memo: Option<&'a mut HealthCheckMemo>,
}

impl<'a> SnapshotDictionaries<'a> {
    /// The answers of `lab`.
    pub fn new(lab: &'a LabSnapshot) -> Self {
        SnapshotDictionaries { lab, memo: None }
    }

    /// The answers of `lab`, remembering health-check definitions in `memo` (keep it
    /// from one pass to the next).
    pub fn with_memo(lab: &'a LabSnapshot, memo: &'a mut HealthCheckMemo) -> Self {
        SnapshotDictionaries {
            lab,
            memo: Some(memo),
        }
    }
}

impl DeviceDictionaries for SnapshotDictionaries<'_> {
    fn is_valid(&mut self, device: &Device) -> bool {
        self.lab.valid_dictionaries.contains(&device.hostname)
    }

    fn health_check(&mut self, device: &Device, device_type: &DeviceType) -> Option<String> {
        match self.lab.health_checks.get(&device.hostname) {
            Some(per_device) => per_device.clone(),
            None => device_type.health_check_definition.clone(),
        }
    }

    fn vlan_interfaces(&mut self, device: &Device) -> Option<Vec<VlanInterface>> {
        self.lab.vlan_interfaces.get(&device.hostname).cloned()
    }

    fn health_check_problem(&mut self, definition: &str) -> Option<String> {
        match &mut self.memo {
            Some(memo) => memo.problem(definition),
            None => health_check_problem(definition),
        }
    }
}
