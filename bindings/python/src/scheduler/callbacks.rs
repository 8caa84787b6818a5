//! Device dictionaries asked from Python, lazily, as LAVA asks `Device.is_valid()`,
//! `Device.get_health_check()` and `Device.load_configuration()` only for the devices a
//! pass uses.

use std::collections::HashMap;

use lava_core::model::{Device, DeviceType};
use lava_core::scheduler::{DeviceDictionaries, SnapshotDictionaries, VlanInterface};
use pyo3::prelude::*;

use super::read::{tagged_names, Item};
use crate::errors;

/// The Python callables given to a pass; each takes the device's item as the snapshot
/// gave it (a dict, or a Django `Device`).
#[derive(Default)]
pub struct Callbacks<'py> {
    pub is_valid: Option<Bound<'py, PyAny>>,
    pub health_check: Option<Bound<'py, PyAny>>,
    pub vlan_interfaces: Option<Bound<'py, PyAny>>,
}

impl Callbacks<'_> {
    pub fn any(&self) -> bool {
        self.is_valid.is_some() || self.health_check.is_some() || self.vlan_interfaces.is_some()
    }
}

/// Answers from the callbacks where given, else from the snapshot. The first exception a
/// callback raises (or a value it returns that cannot be used) is kept, and the pass's
/// caller raises it instead of returning decisions.
pub struct PyDictionaries<'a, 'py> {
    py: Python<'py>,
    eager: SnapshotDictionaries<'a>,
    callbacks: &'a Callbacks<'py>,
    objects: HashMap<&'a str, &'a Bound<'py, PyAny>>,
    pub error: Option<PyErr>,
}

impl<'a, 'py> PyDictionaries<'a, 'py> {
    pub fn new(
        py: Python<'py>,
        lab: &'a lava_core::scheduler::LabSnapshot,
        objects: &'a [Bound<'py, PyAny>],
        callbacks: &'a Callbacks<'py>,
    ) -> Self {
        PyDictionaries {
            py,
            eager: SnapshotDictionaries::new(lab),
            callbacks,
            objects: lab
                .devices
                .iter()
                .map(|d| d.hostname.as_str())
                .zip(objects)
                .collect(),
            error: None,
        }
    }

    /// Calls `callback` with the device's item; an exception is kept, and gives `None`.
    fn call(&mut self, callback: &Bound<'py, PyAny>, device: &Device) -> Option<Bound<'py, PyAny>> {
        if self.error.is_some() {
            return None;
        }
        let object = self.objects.get(device.hostname.as_str())?;
        match callback.call1((*object,)) {
            Ok(value) => Some(value),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    fn fail(&mut self, callback: &str, device: &Device, message: &str) {
        if self.error.is_none() {
            self.error = Some(errors::snapshot(
                self.py,
                &format!("{callback}({})", device.hostname),
                message,
            ));
        }
    }
}

impl DeviceDictionaries for PyDictionaries<'_, '_> {
    fn is_valid(&mut self, device: &Device) -> bool {
        let Some(callback) = self.callbacks.is_valid.clone() else {
            return self.eager.is_valid(device);
        };
        let Some(value) = self.call(&callback, device) else {
            return false;
        };
        match value.is_truthy() {
            Ok(valid) => valid,
            Err(e) => {
                self.error.get_or_insert(e);
                false
            }
        }
    }

    fn health_check(&mut self, device: &Device, device_type: &DeviceType) -> Option<String> {
        let Some(callback) = self.callbacks.health_check.clone() else {
            return self.eager.health_check(device, device_type);
        };
        let value = self.call(&callback, device)?;
        if value.is_none() {
            return None;
        }
        match value.extract::<String>() {
            Ok(definition) => Some(definition),
            Err(_) => {
                self.fail(
                    "health_check",
                    device,
                    "expected the definition (a str) or None",
                );
                None
            }
        }
    }

    fn vlan_interfaces(&mut self, device: &Device) -> Option<Vec<VlanInterface>> {
        let Some(callback) = self.callbacks.vlan_interfaces.clone() else {
            return self.eager.vlan_interfaces(device);
        };
        let value = self.call(&callback, device)?;
        if value.is_none() {
            return None;
        }
        let item = Item {
            obj: &value,
            path: String::new(),
        };
        let key = format!("vlan_interfaces({})", device.hostname);
        match tagged_names(&item, &key, &value) {
            Ok(pairs) => Some(
                pairs
                    .into_iter()
                    .map(|(name, tags)| VlanInterface { name, tags })
                    .collect(),
            ),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }
}
