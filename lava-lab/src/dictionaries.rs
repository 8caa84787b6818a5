//! What a scheduling pass asks about devices, answered from the lab's files: is the device
//! valid, which health check does it run, which network interfaces does it have.
//!
//! The pass asks lazily (only about devices it may use), as LAVA's scheduler does, so a
//! lab with thousands of devices renders only the dictionaries that matter this pass.

use crate::devices::check_configuration;
use crate::error::{LabError, Result};
use crate::files::read_optional;
use crate::lab::Lab;
use lava_core::model::{Device, DeviceType};
use lava_core::scheduler::{vlan_interfaces, DeviceDictionaries, HealthCheckMemo, VlanInterface};
use lava_core::templates::{dictionary_extends, JobContext};

impl Lab {
    /// Why `device` cannot take a job, or `None` when it can (LAVA's `Device.is_valid()`):
    /// its type has a template, and its dictionary renders to a configuration that LAVA's
    /// device schema accepts.
    pub fn device_problem(&self, device: &Device) -> Option<LabError> {
        // One rendering: `check_configuration` also checks that it is a mapping.
        if !self.renderer().has_template(&device.device_type) {
            return Some(LabError::NotFound(format!(
                "the template {}.jinja2 of device type {} (needed by device {})",
                device.device_type, device.device_type, device.hostname
            )));
        }
        let rendered = self.renderer().render_for_job(
            &device.hostname,
            &device.device_type,
            &JobContext::empty(),
        );
        match rendered {
            Ok(yaml) => check_configuration(&device.hostname, &yaml).err(),
            Err(e) => Some(e.into()),
        }
    }

    /// The health-check definition of `device` (LAVA's `Device.get_health_check()`): the
    /// file `health-checks/<name>.yaml` (or `.yml`) named after the template its dictionary
    /// extends. Beyond LAVA, a device whose file does not exist runs its type's stored
    /// health check (`lava-admin device-types add --health-check`), if any.
    pub fn device_health_check(
        &self,
        device: &Device,
        device_type: &DeviceType,
    ) -> Result<Option<String>> {
        if let Some(name) = self.dictionary_extends(device)? {
            let dir = self.paths().health_checks_dir();
            for extension in ["yaml", "yml"] {
                if let Some(text) = read_optional(&dir.join(format!("{name}.{extension}")))? {
                    return Ok(Some(text));
                }
            }
        }
        Ok(device_type.health_check_definition.clone())
    }

    /// The name of the template `device`'s dictionary extends, without extension.
    fn dictionary_extends(&self, device: &Device) -> Result<Option<String>> {
        let path = self
            .paths()
            .devices_dir()
            .join(lava_core::templates::dictionary_name(&device.hostname));
        Ok(read_optional(&path)?.and_then(|text| dictionary_extends(&text)))
    }
}

/// The lab's answers to a pass's questions about devices, logging every problem once.
pub(crate) struct LabDictionaries<'a> {
    lab: &'a Lab,
    memo: &'a mut HealthCheckMemo,
}

impl<'a> LabDictionaries<'a> {
    /// Answers from `lab`, remembering health-check verdicts in `memo` across passes.
    pub(crate) fn new(lab: &'a Lab, memo: &'a mut HealthCheckMemo) -> Self {
        LabDictionaries { lab, memo }
    }
}

impl DeviceDictionaries for LabDictionaries<'_> {
    fn is_valid(&mut self, device: &Device) -> bool {
        match self.lab.device_problem(device) {
            None => true,
            Some(problem) => {
                tracing::warn!(device = %device.hostname, "invalid device configuration: {problem}");
                false
            }
        }
    }

    fn health_check(&mut self, device: &Device, device_type: &DeviceType) -> Option<String> {
        match self.lab.device_health_check(device, device_type) {
            Ok(definition) => definition,
            Err(e) => {
                // An unreadable health-checks file: no check this pass (LAVA treats an
                // unreadable file as none), and the admin is told which file.
                tracing::error!(device = %device.hostname, "cannot read the device's health check: {e}");
                None
            }
        }
    }

    fn vlan_interfaces(&mut self, device: &Device) -> Option<Vec<VlanInterface>> {
        let configuration = self
            .lab
            .renderer()
            .render_for_job(&device.hostname, &device.device_type, &JobContext::empty())
            .map_err(LabError::from)
            .and_then(|yaml| {
                vlan_interfaces(&yaml).map_err(|e| LabError::from(lava_core::Error::from(e)))
            });
        match configuration {
            Ok(interfaces) => interfaces,
            Err(e) => {
                tracing::warn!(device = %device.hostname, "cannot read the device's interfaces: {e}");
                None
            }
        }
    }

    fn health_check_problem(&mut self, definition: &str) -> Option<String> {
        self.memo.problem(definition)
    }
}
