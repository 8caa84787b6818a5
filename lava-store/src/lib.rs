//! Stores for lava-rs: everything that must survive a restart.
//!
//! - [`Store`]: the master's persistent state behind one async trait — device types, devices,
//!   workers, tags, users and tokens, jobs, test results, log metadata and END bookkeeping.
//!   State changes go through [`Store::apply`]: a [`ChangeSet`] of whole rows computed by the
//!   core, written in one transaction after checking its [`Precondition`]s, or not at all
//!   ([`StoreError::Conflict`]).
//! - [`SqliteStore`] (the embedded default: one file, WAL, synchronous commits),
//!   [`PostgresStore`] (production) and [`MemoryStore`] (unit tests). The two SQL stores
//!   share one code path and one schema with numbered migrations.
//! - A single master per store: [`SqliteStore::open_master`] takes a `flock` on
//!   `<file>.lock`; [`PostgresStore::connect_master`] takes an advisory lock. A second master
//!   gets [`StoreError::Locked`] naming the holder. Readers and admin commands open without
//!   the lock and run beside the master.
//! - [`SlaveJobTable`]: the slave's `db.sqlite3`, compatible with LAVA's lava-slave.
//!
//! Device dictionaries, device-type templates and per-worker dispatcher files are **not**
//! in the store: they stay files in a LAVA `dispatcher-config` tree, as LAVA keeps them, so
//! an existing `/etc/lava-server` works unchanged and admins can edit them with their tools.
//! See `docs/store.md`.

#![warn(missing_docs)]

mod error;
mod lock;
mod memory;
mod postgres;
mod slave;
mod sql;
mod sqlite;
mod store;
mod token;
mod types;

pub use error::{Result, StoreError};
pub use lock::MasterLock;
pub use memory::MemoryStore;
pub use postgres::{PostgresBackend, PostgresStore};
pub use slave::{SlaveJobTable, StoredJob};
pub use sql::{Backend, SqlStore};
pub use sqlite::{sqlite_schema_version, SqliteBackend, SqliteStore};
pub use store::Store;
pub use token::{digest as token_digest, generate_token};
pub use types::{
    Applied, ChangeSet, Grant, GrantOn, HealthHistory, JobEnd, JobFilter, JobLog, Precondition,
    ProcessedEnd, SchedulerSnapshot, TestCase, TokenInfo, User, WorkerAccess,
};

/// The schema version this build writes (and the newest it can open).
pub const SCHEMA_VERSION: i64 = sql::schema::LATEST;

/// Re-exported so callers can build a [`PostgresStore`] from a ready configuration.
pub use ::postgres::Config as PostgresConfig;
