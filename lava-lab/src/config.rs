//! Where a lab keeps its files, and how it is configured.
//!
//! The layout is LAVA's, so that a lab can point lava-rs at an existing `/etc/lava-server`:
//!
//! | path | LAVA | what |
//! |---|---|---|
//! | `dispatcher-config/devices/<hostname>.jinja2` | `DEVICES_PATH` | device dictionaries |
//! | `dispatcher-config/device-types/<type>.jinja2` | `DEVICE_TYPES_PATHS[0]` | device-type templates (written here) |
//! | extra device-types dirs | `DEVICE_TYPES_PATHS[1:]` (`/usr/share/lava-server/device-types`) | read only, searched after |
//! | `dispatcher-config/health-checks/<name>.yaml` | `HEALTH_CHECKS_PATH` | health checks |
//! | `dispatcher.d/<worker>/{dispatcher,env,env-dut}.yaml` | `DISPATCHER_CONFIG_PATH` | per-worker files; lab-wide `env.yaml` / `env.dut.yaml` in its parent |
//! | `<slaves-certs>/<worker>.key` | `/etc/lava-dispatcher/certificates.d` | workers' public ZMQ certificates |
//! | `<job output>/job-output/YYYY/MM/DD/<id>/` | `MEDIA_ROOT` | job logs, description |

use std::path::{Path, PathBuf};

/// The lab's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPaths {
    /// The dispatcher-config tree: `devices/`, `device-types/`, `health-checks/`.
    pub dispatcher_config: PathBuf,
    /// Extra device-types directories, searched (read only) after the tree's own.
    pub extra_device_types: Vec<PathBuf>,
    /// Per-worker files: `<worker>/dispatcher.yaml`, `env.yaml`, `env-dut.yaml`.
    pub dispatcher_d: PathBuf,
    /// Workers' public certificates: `<worker>.key`.
    pub slaves_certs: PathBuf,
    /// The root of job output directories (`job-output/YYYY/MM/DD/<id>`).
    pub job_output: PathBuf,
}

impl LabPaths {
    /// The layout under one data directory, as `lava-master --data-dir DIR` uses it
    /// (certificates in LAVA's place, `/etc/lava-dispatcher/certificates.d`).
    pub fn under(data_dir: &Path) -> Self {
        LabPaths {
            dispatcher_config: data_dir.join("dispatcher-config"),
            extra_device_types: Vec::new(),
            dispatcher_d: data_dir.join("dispatcher.d"),
            slaves_certs: PathBuf::from("/etc/lava-dispatcher/certificates.d"),
            job_output: data_dir.to_path_buf(),
        }
    }

    /// `devices/`: one dictionary per device.
    pub fn devices_dir(&self) -> PathBuf {
        self.dispatcher_config.join("devices")
    }

    /// `device-types/` of the tree: where templates are written.
    pub fn device_types_dir(&self) -> PathBuf {
        self.dispatcher_config.join("device-types")
    }

    /// Every device-types directory, in search order: the tree's own first.
    pub fn device_types_dirs(&self) -> Vec<PathBuf> {
        std::iter::once(self.device_types_dir())
            .chain(self.extra_device_types.iter().cloned())
            .collect()
    }

    /// `health-checks/`: a health check per device-type template name.
    pub fn health_checks_dir(&self) -> PathBuf {
        self.dispatcher_config.join("health-checks")
    }

    /// Where the lab-wide fallbacks `env.yaml` and `env.dut.yaml` are (LAVA:
    /// `/etc/lava-server`, the parent of `dispatcher.d`).
    pub fn lab_env_dir(&self) -> PathBuf {
        self.dispatcher_d
            .parent()
            .map_or_else(|| self.dispatcher_d.clone(), Path::to_path_buf)
    }
}

/// How a [`Lab`](crate::Lab) is set up besides its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// The lab's directories.
    pub paths: LabPaths,
    /// The seed of the lab's one random source (scheduler order, multinode group ids,
    /// tokens). `None` seeds it from the operating system, as a production lab must: a
    /// fixed seed makes tokens predictable and is for tests and reproductions only.
    pub seed: Option<u64>,
}

impl LabConfig {
    /// A lab with `paths`, seeded from the operating system.
    pub fn new(paths: LabPaths) -> Self {
        LabConfig { paths, seed: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_under_a_data_dir() {
        let mut paths = LabPaths::under(Path::new("/d"));
        paths.extra_device_types = vec!["/usr/share/lava-server/device-types".into()];
        assert_eq!(
            paths.device_types_dirs(),
            [
                PathBuf::from("/d/dispatcher-config/device-types"),
                PathBuf::from("/usr/share/lava-server/device-types")
            ]
        );
        assert_eq!(
            paths.devices_dir(),
            Path::new("/d/dispatcher-config/devices")
        );
        assert_eq!(paths.lab_env_dir(), Path::new("/d"));
        assert_eq!(
            paths.health_checks_dir(),
            Path::new("/d/dispatcher-config/health-checks")
        );
    }
}
