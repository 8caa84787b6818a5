//! The lab's one error type: what went wrong, in words a lab admin understands.

use lava_core::job::JobDefinitionError;
use lava_core::model::{TransitionError, WorkerNameError};
use lava_core::templates::TemplateError;
use lava_store::StoreError;
use std::path::PathBuf;
use thiserror::Error;

/// Why a lab operation was refused or failed.
///
/// The drivers turn these into their own answers (an XML-RPC fault, an HTTP status, an exit
/// status); the text is written for the admin or user who asked.
#[derive(Debug, Error)]
pub enum LabError {
    /// The object does not exist, e.g. `device 'qemu01'` or `job 42`.
    #[error("{0} does not exist")]
    NotFound(String),
    /// An object with that name exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// An argument that cannot be accepted (the text names it and says why).
    #[error("{0}")]
    Invalid(String),
    /// A job definition that cannot be accepted (names the key path and the line).
    #[error(transparent)]
    JobDefinition(#[from] JobDefinitionError),
    /// A rendered device configuration that LAVA's device schema refuses (names the key
    /// path and the line of the rendered configuration).
    #[error("{device}: {error}")]
    DeviceConfiguration {
        /// The device whose configuration it is.
        device: String,
        /// What the schema refused.
        error: lava_core::device::DeviceConfigurationError,
    },
    /// A name that cannot be a worker's.
    #[error(transparent)]
    WorkerName(#[from] WorkerNameError),
    /// A device dictionary or device-type template that does not render (names the file
    /// and the line).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A state change that LAVA does not allow (names the object and both states).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// No device can take the submission (e.g. a multinode group asks for more devices
    /// than its type has).
    #[error("{0}")]
    DevicesUnavailable(String),
    /// Someone else kept changing the object while this change was being made.
    #[error("{what} kept changing while being updated ({why}); nothing was changed, try again")]
    Busy {
        /// The object.
        what: String,
        /// The last conflict seen.
        why: String,
    },
    /// The store failed.
    #[error("the lab's store failed: {0}")]
    Store(StoreError),
    /// A file of the lab cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The lab's random source cannot be seeded from the operating system.
    #[error("cannot seed the lab's random source from the operating system: {0}")]
    Random(String),
}

impl From<StoreError> for LabError {
    /// The store's "does not exist" and "already exists" are the lab's own answers; the rest
    /// says the store failed.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => LabError::NotFound(what),
            StoreError::AlreadyExists(what) => LabError::AlreadyExists(what),
            e @ (StoreError::Invalid { .. } | StoreError::InUse { .. }) => {
                LabError::Invalid(e.to_string())
            }
            e => LabError::Store(e),
        }
    }
}

impl From<lava_core::Error> for LabError {
    fn from(e: lava_core::Error) -> Self {
        match e {
            lava_core::Error::JobDefinition(e) => LabError::JobDefinition(e),
            lava_core::Error::Template(e) => LabError::Template(e),
            lava_core::Error::Transition(e) => LabError::Transition(e),
            other => LabError::Invalid(other.to_string()),
        }
    }
}

/// The parts of the lab a failure can come from, as the master reports its own health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabPart {
    /// The store (SQLite file, PostgreSQL server).
    Store,
    /// The lab's files (job output, dictionaries, templates): "disk" in reports.
    Files,
}

impl std::fmt::Display for LabPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabPart::Store => "store",
            LabPart::Files => "disk",
        })
    }
}

impl LabError {
    /// The part of the lab that failed, when the same operation may well work later (a
    /// full or read-only disk, a store that is down or busy); `None` for an answer that
    /// will not change (an unknown object, a refused change, a bad template).
    pub fn failing_part(&self) -> Option<LabPart> {
        match self {
            LabError::Io { .. } => Some(LabPart::Files),
            LabError::Busy { .. } => Some(LabPart::Store),
            LabError::Store(e) => match e {
                // A row this build cannot read does not get better by itself.
                StoreError::BadValue(_) => None,
                _ => Some(LabPart::Store),
            },
            _ => None,
        }
    }

    /// Whether the same operation may work later (see [`LabError::failing_part`]).
    pub fn is_transient(&self) -> bool {
        self.failing_part().is_some()
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with [`LabError`].
pub type Result<T, E = LabError> = std::result::Result<T, E>;
