//! A lab for the unit tests: an in-memory store and a temporary directory.

use crate::{Lab, LabConfig, LabPaths, NewDevice, NewDeviceType, NewWorker};
use lava_core::model::DeviceHealth;
use lava_store::{MemoryStore, User};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A lab under `root`, with a `shell` device type whose template is a plain mapping.
pub async fn lab_with(root: &Path, extra_device_types: Vec<PathBuf>) -> Lab {
    let mut paths = LabPaths::under(&root.join("data"));
    paths.extra_device_types = extra_device_types;
    paths.slaves_certs = root.join("certs");
    let lab = Lab::new(
        Arc::new(MemoryStore::new()),
        LabConfig {
            paths,
            seed: Some(1),
        },
    )
    .unwrap();
    device_type(&lab, "shell").await;
    lab.set_device_type_template(
        "shell",
        "{% block extra %}{% endblock %}commands: {}\nactions: {}\ntimeouts: {}\n",
    )
    .await
    .unwrap();
    lab
}

/// A fresh lab and the directory that holds it.
pub async fn lab() -> (tempfile::TempDir, Lab) {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab_with(dir.path(), Vec::new()).await;
    (dir, lab)
}

/// Adds a device type named `name`.
pub async fn device_type(lab: &Lab, name: &str) {
    lab.add_device_type(&NewDeviceType::named(name))
        .await
        .unwrap();
}

/// Adds a `shell` device on `worker` (added too if needed), with a dictionary.
pub async fn device(lab: &Lab, hostname: &str, worker: &str) {
    if lab.store().worker(worker).await.unwrap().is_none() {
        lab.add_worker(&NewWorker::named(worker)).await.unwrap();
    }
    let new = NewDevice {
        hostname: hostname.into(),
        device_type: "shell".into(),
        worker: Some(worker.into()),
        health: DeviceHealth::Good,
        tags: Default::default(),
        description: String::new(),
    };
    lab.add_device(&new, Some("{% extends 'shell.jinja2' %}\n"))
        .await
        .unwrap();
}

/// A user.
pub fn user(name: &str, is_admin: bool) -> User {
    User {
        username: name.into(),
        is_admin,
        email: String::new(),
    }
}
