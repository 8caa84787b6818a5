//! Device types, their health checks and their templates.
//!
//! Templates stay files: `dispatcher-config/device-types/<name>.jinja2` is where they are
//! written, and every device-types directory of the lab is searched when they are read.

use crate::devices::check_configuration;
use crate::devices::check_file_name;
use crate::error::{LabError, Result};
use crate::files::{read_optional, write_atomically};
use crate::lab::Lab;
use crate::templates::{Overlay, SearchPath};
use lava_core::model::{DeviceType, HealthDenominator};
use lava_core::templates::{JobContext, Renderer};
use std::collections::BTreeSet;
use std::io;

/// A device type to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeviceType {
    /// Its name (the template is `device-types/<name>.jinja2`).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The health-check job definition, if the type has one.
    pub health_check: Option<String>,
    /// How often a health check is due, in `health_denominator` units.
    pub health_frequency: u32,
    /// Hours or jobs.
    pub health_denominator: HealthDenominator,
    /// Never run health checks on this type.
    pub disable_health_check: bool,
    /// Shown in lists (LAVA's `display`).
    pub display: bool,
}

impl NewDeviceType {
    /// A displayed type without health check, checked every 24 hours once it has one.
    pub fn named(name: &str) -> Self {
        NewDeviceType {
            name: name.to_owned(),
            description: String::new(),
            health_check: None,
            health_frequency: 24,
            health_denominator: HealthDenominator::Hours,
            disable_health_check: false,
            display: true,
        }
    }
}

/// Whether `name` can be a device type's: a Django slug (`[-a-zA-Z0-9_]+`), as LAVA's
/// `DeviceType.name` is.
pub fn check_device_type_name(name: &str) -> Result<()> {
    let slug = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if slug {
        Ok(())
    } else {
        Err(LabError::Invalid(format!(
            "invalid device-type name '{name}': only letters, digits, '-' and '_' are allowed"
        )))
    }
}

impl Lab {
    /// Adds a device type; its health check must be a valid job definition.
    pub async fn add_device_type(&self, new: &NewDeviceType) -> Result<DeviceType> {
        check_device_type_name(&new.name)?;
        if let Some(definition) = &new.health_check {
            self.validate(definition)?;
        }
        let device_type = DeviceType {
            name: new.name.clone(),
            health_check_definition: new.health_check.clone(),
            health_frequency: new.health_frequency,
            health_denominator: new.health_denominator,
            disable_health_check: new.disable_health_check,
            display: new.display,
            description: new.description.clone(),
        };
        self.store().add_device_type(&device_type).await?;
        tracing::info!(device_type = %new.name, "device type added");
        Ok(device_type)
    }

    /// Every device type, by name.
    pub async fn device_types(&self) -> Result<Vec<DeviceType>> {
        Ok(self.store().device_types().await?)
    }

    /// The names of the installed device-type templates, from every device-types directory.
    pub fn device_type_templates(&self) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        for dir in self.paths().device_types_dirs() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(LabError::io(&dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| LabError::io(&dir, e))?;
                let file_name = entry.file_name();
                let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".jinja2")) else {
                    continue;
                };
                if check_file_name("device type", name).is_ok() {
                    names.insert(name.to_owned());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// A device-type template, from the first device-types directory that has it.
    pub fn device_type_template(&self, name: &str) -> Result<Option<String>> {
        check_file_name("device type", name)?;
        let file = format!("{name}.jinja2");
        for dir in self.paths().device_types_dirs() {
            if let Some(text) = read_optional(&dir.join(&file))? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// Installs (replaces) a device-type template in the lab's own device-types directory,
    /// after checking what can be checked without a dictionary (its syntax and the
    /// templates it names) and that no device whose configuration is valid today gets an
    /// invalid one with it (LAVA stores any template; its scheduler then makes those
    /// devices Bad).
    pub async fn set_device_type_template(&self, name: &str, text: &str) -> Result<()> {
        check_file_name("device type", name)?;
        let file = format!("{name}.jinja2");
        self.renderer().check_template(&file, text)?;
        self.check_devices_with_template(&file, text).await?;
        let path = self.paths().device_types_dir().join(file);
        write_atomically(&path, text).map_err(|e| LabError::io(&path, e))?;
        tracing::info!(device_type = name, "device-type template installed");
        Ok(())
    }
}

impl Lab {
    /// Renders every device that has a dictionary as it would be with `file` replaced by
    /// `text`; a device that renders to a valid configuration now and would not then
    /// refuses the template, naming the device and what breaks.
    async fn check_devices_with_template(&self, file: &str, text: &str) -> Result<()> {
        let overlay = Renderer::new(Overlay::new(SearchPath::for_lab(self.paths()), file, text));
        for device in self.devices().await? {
            let Some(dictionary) = self.dictionary(&device.hostname).await? else {
                continue;
            };
            let render = |renderer: &Renderer| -> Result<()> {
                let yaml = renderer.render_source_for_job(
                    &device.hostname,
                    &device.device_type,
                    &dictionary,
                    &JobContext::empty(),
                )?;
                check_configuration(&device.hostname, &yaml)
            };
            if render(self.renderer()).is_err() {
                continue;
            }
            if let Err(e) = render(&overlay) {
                return Err(LabError::Invalid(format!(
                    "{file} would break device '{}': {e}",
                    device.hostname
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lab;

    #[tokio::test]
    async fn templates_must_compile_and_are_listed_from_every_directory() {
        let (_tmp, lab) = lab().await;
        let err = lab
            .set_device_type_template("t", "{% if %}")
            .await
            .unwrap_err();
        assert!(matches!(err, LabError::Template(_)), "{err}");
        lab.set_device_type_template("t", "a: 1\n").await.unwrap();
        // Needs a dictionary's variables: stored, as LAVA stores it.
        lab.set_device_type_template(
            "u",
            "{% for k, v in user_commands.items() %}{{ k }}{% endfor %}\n",
        )
        .await
        .unwrap();
        let err = lab
            .set_device_type_template("v", "{% extends 'missing.jinja2' %}\n")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("missing.jinja2"), "{err}");
        assert_eq!(
            lab.device_type_template("t").unwrap().as_deref(),
            Some("a: 1\n")
        );
        assert_eq!(lab.device_type_templates().unwrap(), ["shell", "t", "u"]);
        assert!(lab.set_device_type_template("../x", "").await.is_err());
    }

    #[tokio::test]
    async fn a_template_that_would_break_a_valid_device_is_refused() {
        let (_tmp, lab) = lab().await;
        crate::testing::device(&lab, "d1", "w1").await;
        let err = lab
            .set_device_type_template("shell", "hostname: x\ncommands: {}\n")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("device 'd1'") && text.contains("hostname"),
            "{text}"
        );
        // What breaks no device is installed.
        lab.set_device_type_template("shell", "{% block extra %}{% endblock %}commands: {}\nactions: {}\ntimeouts: {connections: {}}\n")
            .await
            .unwrap();
    }

    #[test]
    fn device_type_names_are_slugs() {
        assert!(check_device_type_name("qemu_x86-64").is_ok());
        assert!(check_device_type_name("qemu x86").is_err());
        assert!(check_device_type_name("").is_err());
    }

    #[tokio::test]
    async fn a_health_check_must_be_a_valid_job() {
        let (_tmp, lab) = lab().await;
        let mut new = NewDeviceType::named("qemu");
        new.health_check = Some("job_name: hc\n".into());
        assert!(matches!(
            lab.add_device_type(&new).await,
            Err(LabError::JobDefinition(_))
        ));
    }
}
