//! Job definitions: parsing and validating the YAML a user submits, and multinode splitting.

/// A job definition that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job definition: {path}: {message}")]
pub struct JobDefinitionError {
    /// The key path at fault, e.g. `timeouts.job`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The line in the submitted text, where the parser knows it.
    pub line: Option<usize>,
}
