//! Opening the lab's store from the URL an admin gives.

use crate::error::{LabError, Result};
use lava_store::{PostgresStore, SqliteStore, Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Opens the store named by `url`: a `postgres://`/`postgresql://` URL, or a SQLite file
/// path (optionally `sqlite://PATH`), creating the SQLite file's directory. `master` takes
/// the single-master lock; readers and admin commands open without it.
pub async fn open_store(url: &str, master: bool) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = if master {
            PostgresStore::connect_master(url).await?
        } else {
            PostgresStore::connect(url).await?
        };
        return Ok(Arc::new(store));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url).to_owned();
    if let Some(dir) = Path::new(&path).parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
        }
    }
    let store = tokio::task::spawn_blocking(move || {
        if master {
            SqliteStore::open_master(&path)
        } else {
            SqliteStore::open(&path)
        }
    })
    .await
    .map_err(|e| LabError::Store(StoreError::Worker(e.to_string())))??;
    Ok(Arc::new(store))
}
