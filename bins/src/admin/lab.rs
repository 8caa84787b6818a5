//! Where lava-admin finds the lab: the same `--data-dir` / `--store` options as the master.

use crate::admin::AdminError;
use clap::Args;
use lava_store::Store;
use std::path::PathBuf;
use std::sync::Arc;

/// How to find the lab's store and files.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// The master's data dir (store DIR/lava.sqlite3, DIR/dispatcher-config, job output).
    #[arg(long, value_name = "DIR", global = true, env = "LAVA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store: a SQLite file or postgres://…; default DATA_DIR/lava.sqlite3.
    #[arg(long, value_name = "URL", global = true, env = "LAVA_STORE")]
    pub store: Option<String>,
    /// The dispatcher-config tree (devices/, device-types/); default DATA_DIR/dispatcher-config.
    #[arg(long, value_name = "DIR", global = true)]
    pub dispatcher_config: Option<PathBuf>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
}

impl LabArgs {
    /// The store URL the options name.
    pub fn store_url(&self) -> Result<String, AdminError> {
        match (&self.store, &self.data_dir) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(dir)) => Ok(dir.join("lava.sqlite3").display().to_string()),
            (None, None) => Err(AdminError::Input(
                "no store: give --data-dir DIR (as for lava-master) or --store URL".into(),
            )),
        }
    }

    /// Opens the store (without the master lock: the master may be running).
    pub async fn open(&self) -> Result<Arc<dyn Store>, AdminError> {
        let url = self.store_url()?;
        crate::lab::open_store(&url, false)
            .await
            .map_err(|e| AdminError::Input(format!("store {url}: {e}")))
    }

    /// The dispatcher-config tree.
    pub fn dispatcher_config(&self) -> Result<PathBuf, AdminError> {
        match (&self.dispatcher_config, &self.data_dir) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, Some(dir)) => Ok(dir.join("dispatcher-config")),
            (None, None) => Err(AdminError::Input(
                "no dispatcher-config: give --data-dir DIR or --dispatcher-config DIR".into(),
            )),
        }
    }

    /// Where job output lives, if known from the options.
    pub fn output_root(&self) -> Option<PathBuf> {
        self.data_dir.clone()
    }
}

/// Runs a store command on a fresh runtime (lava-admin is otherwise synchronous).
pub fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, AdminError>>,
) -> Result<T, AdminError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Input(format!("cannot start the runtime: {e}")))?
        .block_on(f)
}

/// Prints a JSON value on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
