//! Device dictionaries and device-type templates, rendered as LAVA's Jinja2 environment does.

/// A dictionary or template that does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TemplateError {
    /// The file at fault.
    pub file: String,
    /// The line in that file (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}
