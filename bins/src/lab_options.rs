//! Where the lab is: the options lava-master and lava-admin share, so that both see the same
//! store, templates and files. Each can also come from the environment
//! (`/etc/default/lava-master` sets them for both).

use clap::Args;
use lava_lab::{open_store, Lab, LabConfig, LabError, LabPaths};
use std::path::PathBuf;
use std::sync::Arc;

/// The lab's store and directories.
#[derive(Debug, Clone, Default, Args)]
pub struct LabOptions {
    /// The master's data dir: the SQLite store DIR/lava.sqlite3, DIR/dispatcher-config,
    /// DIR/dispatcher.d and job output.
    #[arg(long, value_name = "DIR", global = true, env = "LAVA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store: a SQLite file path (or sqlite://PATH) or postgres://…; default
    /// DATA_DIR/lava.sqlite3.
    #[arg(long, value_name = "URL", global = true, env = "LAVA_STORE")]
    pub store: Option<String>,
    /// The dispatcher-config tree (devices/, device-types/, health-checks/); default
    /// DATA_DIR/dispatcher-config.
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        env = "LAVA_DISPATCHER_CONFIG"
    )]
    pub dispatcher_config: Option<PathBuf>,
    /// Extra device-types directories searched after DISPATCHER_CONFIG/device-types (LAVA:
    /// /usr/share/lava-server/device-types). May be repeated; in the environment,
    /// separated by ':'.
    #[arg(
        long = "device-types",
        value_name = "DIR",
        global = true,
        env = "LAVA_DEVICE_TYPES",
        value_delimiter = ':'
    )]
    pub device_types: Vec<PathBuf>,
    /// Per-worker dispatcher.yaml, env.yaml and env-dut.yaml; default DATA_DIR/dispatcher.d.
    #[arg(long, value_name = "DIR", global = true, env = "LAVA_DISPATCHER_D")]
    pub dispatcher_d: Option<PathBuf>,
    /// The directory of workers' public certificates (*.key).
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        env = "LAVA_SLAVES_CERTS",
        default_value = "/etc/lava-dispatcher/certificates.d"
    )]
    pub slaves_certs: PathBuf,
    /// Seed the lab's random source (scheduling order, group ids, tokens) for a
    /// reproducible run. Tokens become predictable: for tests only.
    #[arg(long, value_name = "N", global = true, hide = true)]
    pub random_seed: Option<u64>,
}

impl LabOptions {
    /// The store URL the options name.
    pub fn store_url(&self) -> Result<String, LabError> {
        match (&self.store, &self.data_dir) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(dir)) => Ok(dir.join("lava.sqlite3").display().to_string()),
            (None, None) => Err(LabError::Invalid(
                "no store: give --data-dir DIR (as for lava-master) or --store URL".into(),
            )),
        }
    }

    /// The lab's directories, defaulted from the data dir.
    pub fn paths(&self) -> Result<LabPaths, LabError> {
        let mut paths = match &self.data_dir {
            Some(dir) => LabPaths::under(dir),
            None => {
                let config = self.dispatcher_config.clone().ok_or_else(|| {
                    LabError::Invalid(
                        "no dispatcher-config: give --data-dir DIR or --dispatcher-config DIR"
                            .into(),
                    )
                })?;
                let mut paths = LabPaths::under(&config);
                // Without a data dir, the master's job output is not known here: a job's
                // log is found where the store recorded it.
                paths.job_output = PathBuf::new();
                paths.dispatcher_d = config.join("..").join("dispatcher.d");
                paths
            }
        };
        if let Some(dir) = &self.dispatcher_config {
            paths.dispatcher_config = dir.clone();
        }
        if let Some(dir) = &self.dispatcher_d {
            paths.dispatcher_d = dir.clone();
        }
        paths.extra_device_types = self.device_types.clone();
        paths.slaves_certs = self.slaves_certs.clone();
        Ok(paths)
    }

    /// Opens the lab; `master` takes the store's single-master lock.
    pub async fn open(&self, master: bool) -> Result<Arc<Lab>, LabError> {
        let url = self.store_url()?;
        let store = open_store(&url, master).await?;
        let config = LabConfig {
            paths: self.paths()?,
            seed: self.random_seed,
        };
        Ok(Arc::new(Lab::new(store, config)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        lab: LabOptions,
    }

    #[test]
    fn defaults_come_from_the_data_dir() {
        let cli = Cli::try_parse_from(["x", "--data-dir", "/d", "--device-types", "/u"]).unwrap();
        assert_eq!(cli.lab.store_url().unwrap(), "/d/lava.sqlite3");
        let paths = cli.lab.paths().unwrap();
        assert_eq!(
            paths.dispatcher_config,
            PathBuf::from("/d/dispatcher-config")
        );
        assert_eq!(paths.dispatcher_d, PathBuf::from("/d/dispatcher.d"));
        assert_eq!(
            paths.device_types_dirs(),
            [
                PathBuf::from("/d/dispatcher-config/device-types"),
                PathBuf::from("/u")
            ]
        );
    }

    #[test]
    fn without_a_data_dir_the_store_and_tree_must_be_named() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert!(cli.lab.store_url().is_err());
        assert!(cli.lab.paths().is_err());
        let cli = Cli::try_parse_from([
            "x",
            "--store",
            "postgres://h/db",
            "--dispatcher-config",
            "/etc/lava-server/dispatcher-config",
        ])
        .unwrap();
        assert_eq!(cli.lab.store_url().unwrap(), "postgres://h/db");
        assert_eq!(
            cli.lab.paths().unwrap().dispatcher_d,
            PathBuf::from("/etc/lava-server/dispatcher-config/../dispatcher.d")
        );
    }
}
