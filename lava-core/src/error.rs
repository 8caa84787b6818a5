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
    /// A ZeroMQ message that does not follow the protocol (names the frame and why).
    #[error(transparent)]
    Frame(#[from] crate::protocol::FrameError),
    /// A device dictionary or template that does not render (names the file and line).
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
