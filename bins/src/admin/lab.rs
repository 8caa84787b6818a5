//! Where lava-admin finds the lab (the same options as lava-master), and its output helpers.

use crate::admin::AdminError;
use crate::lab_options::LabOptions;
use clap::Args;
use lava_lab::{Lab, User};
use std::sync::Arc;

/// How to find the lab's store and files, and how to print.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// The lab's store and directories.
    #[command(flatten)]
    pub lab: LabOptions,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
}

impl LabArgs {
    /// Opens the lab (without the master lock: the master may be running).
    pub async fn open(&self) -> Result<Arc<Lab>, AdminError> {
        Ok(self.lab.open(false).await?)
    }
}

/// Who lava-admin acts as: the lab's admin (it runs with access to the store itself).
pub fn admin_user() -> User {
    User {
        username: "lava-admin".to_owned(),
        is_admin: true,
        email: String::new(),
    }
}

/// Runs a lab command on a fresh runtime (lava-admin is otherwise synchronous).
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

/// Reads a file the user named.
pub fn read_file(path: &std::path::Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|source| AdminError::Io {
        path: path.display().to_string(),
        source,
    })
}
