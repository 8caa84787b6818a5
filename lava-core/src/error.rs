//! The crate's error type: one enum, one variant per area, each carrying the area's details.

use thiserror::Error;

/// Everything that can go wrong in the core, in terms a lab admin understands.
#[derive(Debug, Error)]
pub enum Error {
    /// A state change that LAVA does not allow (names the object and both states).
    #[error(transparent)]
    Transition(#[from] crate::model::TransitionError),
    /// A job definition that cannot be accepted (names the field and, where known, the line).
    #[error(transparent)]
    JobDefinition(#[from] crate::job::JobDefinitionError),
    /// A `lava-vland` request or a device's interface list that cannot be read (names the
    /// key path).
    #[error(transparent)]
    Vland(#[from] crate::scheduler::VlandError),
    /// A rendered device configuration that LAVA's scheduler would refuse (names the key
    /// and the line).
    #[error(transparent)]
    DeviceConfiguration(#[from] crate::device::DeviceConfigurationError),
    /// A ZeroMQ message that does not follow the protocol (names the frame and why).
    #[error(transparent)]
    Frame(#[from] crate::protocol::FrameError),
    /// A device dictionary or template that does not render (names the file and line).
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
    /// A peer identity that cannot be used (not UTF-8, NUL, empty, too long).
    #[error(transparent)]
    Identity(#[from] crate::protocol::IdentityError),
    /// A log record that cannot be used (names the frame or the field).
    #[error(transparent)]
    LogRecord(#[from] crate::protocol::log::LogLineError),
    /// An xz stream that cannot be compressed or decompressed within its limits.
    #[error(transparent)]
    Xz(#[from] crate::protocol::xz::XzError),
    /// A START payload that must not be sent (names the file and why).
    #[error(transparent)]
    Payload(#[from] crate::master::PayloadError),
    /// A driver call the master state machine refuses (names the job or worker).
    #[error(transparent)]
    Master(#[from] crate::master::MasterError),
    /// An env.yaml that cannot describe lava-run's environment.
    #[error(transparent)]
    Env(#[from] crate::slave::EnvError),
    /// A slave job-table row with a status LAVA does not define.
    #[error(transparent)]
    JobStatus(#[from] crate::slave::UnknownStatus),
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
