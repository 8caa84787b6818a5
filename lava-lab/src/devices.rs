//! Devices and their dictionaries.
//!
//! Dictionaries stay files where LAVA keeps them (`dispatcher-config/devices/<hostname>.jinja2`)
//! so that an existing `/etc/lava-server` works unchanged. A dictionary is rendered (with the
//! lab's whole template search path) before it replaces the one on disk: one that does not
//! render to a YAML mapping never overwrites a good one.

use crate::error::{LabError, Result};
use crate::files::{read_optional, remove_if_present, write_atomically};
use crate::lab::Lab;
use lava_core::model::{transitions, Device, DeviceHealth, DeviceState, Tag};
use lava_core::templates::{check_mapping, dictionary_name, DeviceCheck, JobContext};
use lava_store::{ChangeSet, Precondition};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A device to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Its hostname (its dictionary is `devices/<hostname>.jinja2`).
    pub hostname: String,
    /// Its device type, which must exist.
    pub device_type: String,
    /// The worker it is attached to, which must exist.
    pub worker: Option<String>,
    /// Its initial health.
    pub health: DeviceHealth,
    /// Tags it carries.
    pub tags: BTreeSet<String>,
    /// Free text.
    pub description: String,
}

/// An admin's change to a device; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceUpdate {
    /// Move it to this worker (which must exist).
    pub worker: Option<String>,
    /// Set the health.
    pub health: Option<DeviceHealth>,
    /// Replace its tags.
    pub tags: Option<BTreeSet<String>>,
    /// Replace the description.
    pub description: Option<String>,
}

/// Whether a rendered configuration of `hostname` is a YAML mapping that LAVA's device
/// schema accepts.
pub(crate) fn check_configuration(hostname: &str, yaml: &str) -> Result<()> {
    check_mapping(&dictionary_name(hostname), yaml)?;
    match lava_core::device::validate_configuration(yaml) {
        Ok(_warnings) => Ok(()),
        Err(lava_core::Error::DeviceConfiguration(error)) => Err(LabError::DeviceConfiguration {
            device: hostname.to_owned(),
            error,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Whether `name` stays one file name inside its directory: device hostnames and
/// device-type names become `<name>.jinja2`.
pub fn check_file_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(LabError::Invalid(format!(
            "{kind} '{name}' cannot name a file"
        )))
    }
}

impl Lab {
    /// Adds a device. With `dictionary`, the dictionary is checked and put in place first,
    /// so that no scheduling pass ever sees the device without one (LAVA's scheduler makes
    /// such a device Bad).
    pub async fn add_device(&self, new: &NewDevice, dictionary: Option<&str>) -> Result<Device> {
        check_file_name("device", &new.hostname)?;
        if self.store().device(&new.hostname).await?.is_some() {
            return Err(LabError::AlreadyExists(format!(
                "device '{}'",
                new.hostname
            )));
        }
        self.device_type(&new.device_type).await?;
        if let Some(worker) = &new.worker {
            self.worker(worker).await?;
        }
        let device = Device {
            hostname: new.hostname.clone(),
            device_type: new.device_type.clone(),
            state: DeviceState::Idle,
            health: new.health,
            worker: new.worker.clone(),
            tags: new.tags.iter().filter(|t| !t.is_empty()).cloned().collect(),
            last_health_report_job: None,
            description: new.description.clone(),
        };
        if let Some(text) = dictionary {
            self.write_dictionary(&device, text)?;
        }
        self.store().add_device(&device).await?;
        tracing::info!(device = %device.hostname, device_type = %device.device_type, "device added");
        Ok(device)
    }

    /// Every device, by hostname.
    pub async fn devices(&self) -> Result<Vec<Device>> {
        Ok(self.store().devices().await?)
    }

    /// Adds a tag that devices can carry and jobs ask for.
    pub async fn add_tag(&self, name: &str, description: &str) -> Result<Tag> {
        if name.trim().is_empty() {
            return Err(LabError::Invalid("a tag name cannot be empty".to_owned()));
        }
        let tag = Tag {
            name: name.to_owned(),
            description: description.to_owned(),
        };
        self.store().add_tag(&tag).await?;
        Ok(tag)
    }

    /// Every tag, by name.
    pub async fn tags(&self) -> Result<Vec<Tag>> {
        Ok(self.store().tags().await?)
    }

    /// An admin changes a device; it is written only if the master has not moved the device
    /// meanwhile (and retried otherwise).
    pub async fn update_device(&self, hostname: &str, update: &DeviceUpdate) -> Result<()> {
        if let Some(worker) = &update.worker {
            self.worker(worker).await?;
        }
        self.retrying(&format!("device '{hostname}'"), || {
            self.try_update_device(hostname, update)
        })
        .await?;
        if let Some(health) = update.health {
            tracing::info!(device = hostname, %health, "device health set");
        }
        Ok(())
    }

    async fn try_update_device(&self, hostname: &str, update: &DeviceUpdate) -> Result<()> {
        let current = self.device(hostname).await?;
        let mut device = current.clone();
        if let Some(health) = update.health.filter(|h| *h != current.health) {
            if let Some(changed) = transitions::device_health(&current, health)?
                .devices
                .into_iter()
                .next()
            {
                device = changed;
            }
        }
        if let Some(worker) = &update.worker {
            device.worker = Some(worker.clone());
        }
        if let Some(tags) = &update.tags {
            device.tags = tags.iter().filter(|t| !t.is_empty()).cloned().collect();
        }
        if let Some(description) = &update.description {
            device.description = description.clone();
        }
        if device == current {
            return Ok(());
        }
        let changes = ChangeSet::new()
            .require(Precondition::DeviceState(
                hostname.to_owned(),
                current.state,
            ))
            .require(Precondition::DeviceHealth(
                hostname.to_owned(),
                current.health,
            ))
            .device(device);
        self.store().apply(&changes).await?;
        Ok(())
    }

    /// The file of a device's dictionary.
    fn dictionary_path(&self, hostname: &str) -> Result<PathBuf> {
        check_file_name("device", hostname)?;
        Ok(self.paths().devices_dir().join(dictionary_name(hostname)))
    }

    /// A device's dictionary as stored (Jinja2 text), if it has one.
    pub async fn dictionary(&self, hostname: &str) -> Result<Option<String>> {
        self.device(hostname).await?;
        read_optional(&self.dictionary_path(hostname)?)
    }

    /// Replaces a device's dictionary after checking that it renders, for this device, to a
    /// YAML mapping; an empty text removes it.
    pub async fn set_dictionary(&self, hostname: &str, text: &str) -> Result<()> {
        let device = self.device(hostname).await?;
        if text.is_empty() {
            remove_if_present(&self.dictionary_path(hostname)?)?;
            tracing::info!(device = hostname, "device dictionary removed");
            return Ok(());
        }
        self.write_dictionary(&device, text)?;
        tracing::info!(device = hostname, "device dictionary replaced");
        Ok(())
    }

    /// Checks `text` as `device`'s dictionary, then writes it.
    fn write_dictionary(&self, device: &Device, text: &str) -> Result<()> {
        self.check_dictionary(device, text)?;
        let path = self.dictionary_path(&device.hostname)?;
        write_atomically(&path, text).map_err(|e| LabError::io(&path, e))
    }

    /// Whether `text` renders, as `device`'s dictionary for a job without context, to a
    /// configuration that LAVA's device schema accepts (before the harm: LAVA stores such
    /// a dictionary and makes the device Bad at the next scheduling pass).
    fn check_dictionary(&self, device: &Device, text: &str) -> Result<()> {
        let name = lava_core::templates::dictionary_name(&device.hostname);
        if lava_core::templates::references_itself(&name, text) {
            return Err(LabError::Invalid(format!(
                "device dictionary {name}: it extends or includes itself, so it would never \
                 render (extend the device type's template, e.g. {{% extends '{}.jinja2' %}})",
                device.device_type
            )));
        }
        let yaml = self.renderer().render_source_for_job(
            &device.hostname,
            &device.device_type,
            text,
            &JobContext::empty(),
        )?;
        check_configuration(&device.hostname, &yaml)
    }

    /// A device's configuration as the master would send it for a job with `context`;
    /// `None` when the device has no dictionary.
    pub async fn device_configuration(
        &self,
        hostname: &str,
        context: &JobContext,
    ) -> Result<Option<String>> {
        let device = self.device(hostname).await?;
        let Some(dictionary) = read_optional(&self.dictionary_path(hostname)?)? else {
            return Ok(None);
        };
        Ok(Some(self.renderer().render_source_for_job(
            hostname,
            &device.device_type,
            &dictionary,
            context,
        )?))
    }

    /// Whether a device can take a job: its type has a template and its dictionary renders
    /// to a mapping (LAVA's `Device.is_valid`).
    pub fn check_device(&self, device: &Device) -> DeviceCheck {
        self.renderer()
            .check_device(&device.hostname, &device.device_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab};

    #[tokio::test]
    async fn a_dictionary_that_extends_itself_is_refused_and_the_old_one_kept() {
        let (_dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        let before = lab.dictionary("d1").await.unwrap();
        for text in [
            "{% extends 'd1.jinja2' %}\n",
            "{% extends \"d1.jinja2\" %}\n{% set x = 1 %}\n",
            "{% extends 'shell.jinja2' %}\n{% include 'd1.jinja2' %}\n",
        ] {
            let err = lab.set_dictionary("d1", text).await.unwrap_err();
            assert!(
                err.to_string().contains("extends or includes itself"),
                "{err}"
            );
        }
        assert_eq!(lab.dictionary("d1").await.unwrap(), before);
    }

    #[tokio::test]
    async fn a_dictionary_that_does_not_render_never_replaces_one() {
        let (_tmp, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        let good = "{% extends 'shell.jinja2' %}\n{% set x = 1 %}\n";
        lab.set_dictionary("d1", good).await.unwrap();
        let err = lab
            .set_dictionary("d1", "{% extends 'shell.jinja2' %}\n{% if %}\n")
            .await
            .unwrap_err();
        assert!(matches!(err, LabError::Template(_)), "{err}");
        assert_eq!(lab.dictionary("d1").await.unwrap().as_deref(), Some(good));
        let err = lab.set_dictionary("d1", "- a list\n").await.unwrap_err();
        assert!(err.to_string().contains("mapping"), "{err}");
        // Renders, but LAVA's device schema refuses a top-level `hostname`.
        let err = lab
            .set_dictionary(
                "d1",
                "{% extends 'shell.jinja2' %}\n{% block extra %}hostname: d1\n{% endblock %}\n",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, LabError::DeviceConfiguration { .. }), "{err}");
        assert!(err.to_string().contains("hostname"), "{err}");
        lab.set_dictionary("d1", "").await.unwrap();
        assert_eq!(lab.dictionary("d1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn templates_are_found_in_every_device_types_directory() {
        // The bug this layer fixed: lava-admin's device commands did not search the extra
        // device-types directories (LAVA's /usr/share/lava-server/device-types).
        let tmp = tempfile::tempdir().unwrap();
        let extra = tmp.path().join("usr-share-device-types");
        std::fs::create_dir_all(&extra).unwrap();
        std::fs::write(
            extra.join("board.jinja2"),
            "commands: {connect: telnet ttyS{{ n }}}\nactions: {}\ntimeouts: {}\n",
        )
        .unwrap();
        let lab = crate::testing::lab_with(tmp.path(), vec![extra]).await;
        crate::testing::device_type(&lab, "board").await;
        lab.add_worker(&crate::NewWorker::named("w1"))
            .await
            .unwrap();
        let new = NewDevice {
            hostname: "b1".into(),
            device_type: "board".into(),
            worker: Some("w1".into()),
            health: DeviceHealth::Unknown,
            tags: BTreeSet::new(),
            description: String::new(),
        };
        lab.add_device(
            &new,
            Some("{% extends 'board.jinja2' %}\n{% set n = 2 %}\n"),
        )
        .await
        .unwrap();
        let yaml = lab
            .device_configuration("b1", &JobContext::empty())
            .await
            .unwrap();
        assert_eq!(
            yaml.as_deref(),
            Some("commands: {connect: telnet ttyS2}\nactions: {}\ntimeouts: {}")
        );
        assert!(lab
            .check_device(&lab.device("b1").await.unwrap())
            .is_valid());
    }

    #[tokio::test]
    async fn updates_check_the_worker_and_keep_what_is_not_named() {
        let (_tmp, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        let err = lab
            .update_device(
                "d1",
                &DeviceUpdate {
                    worker: Some("nobody".into()),
                    ..DeviceUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, LabError::NotFound(_)), "{err}");
        let usb = lava_core::model::Tag {
            name: "usb".into(),
            description: String::new(),
        };
        lab.store().add_tag(&usb).await.unwrap();
        lab.update_device(
            "d1",
            &DeviceUpdate {
                health: Some(DeviceHealth::Maintenance),
                tags: Some(["usb".to_owned(), String::new()].into()),
                ..DeviceUpdate::default()
            },
        )
        .await
        .unwrap();
        let d = lab.device("d1").await.unwrap();
        assert_eq!(d.health, DeviceHealth::Maintenance);
        assert_eq!(d.tags, BTreeSet::from(["usb".to_owned()]));
        assert_eq!(d.worker.as_deref(), Some("w1"));
    }

    #[test]
    fn names_must_stay_file_names() {
        assert!(check_file_name("device", "../etc").is_err());
        assert!(check_file_name("device", ".hidden").is_err());
        assert!(check_file_name("device", "qemu01").is_ok());
    }
}
