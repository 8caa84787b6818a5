//! Template errors: what went wrong, in which file, on which line, in which construct.

use std::fmt;

use minijinja::ErrorKind;

/// What kind of failure a [`TemplateError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateErrorKind {
    /// A template (the dictionary, or one it extends or includes) does not exist.
    NotFound,
    /// A template exists but could not be read.
    Unreadable,
    /// A template is not valid Jinja2.
    Syntax,
    /// Rendering failed (undefined attribute, wrong type, unknown filter…).
    Render,
    /// Rendering ran out of its fuel budget (too many steps or too much memory).
    OutOfFuel,
    /// The rendered text grew past the output size limit.
    OutputTooLarge,
    /// The rendered text is not YAML, or not a YAML mapping.
    NotAMapping,
    /// The job context is not a mapping.
    BadContext,
}

/// A dictionary or template that does not render.
///
/// Displays as `file:line: message` (`file: message` when the line is unknown), followed by the Jinja2 construct at fault when known
/// (`in '{{ foo.bar }}'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    /// The file at fault.
    pub file: String,
    /// The line in that file (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The source text of the construct at fault (a tag or an expression), when known.
    pub construct: Option<String>,
    /// The kind of failure.
    pub kind: TemplateErrorKind,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(construct) = &self.construct {
            write!(f, " (in `{construct}`)")?;
        }
        Ok(())
    }
}

impl TemplateError {
    pub(crate) fn new(
        kind: TemplateErrorKind,
        file: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        TemplateError {
            file: file.into(),
            line: 0,
            message: message.into(),
            construct: None,
            kind,
        }
    }
}

/// Turns a minijinja error into one naming the file, line and construct at fault.
pub(crate) fn from_minijinja(
    err: minijinja::Error,
    fallback_name: &str,
    origin: impl Fn(&str) -> String,
    fuel: u64,
) -> TemplateError {
    // The innermost error with a location is where the template went wrong (an error in
    // an included template is wrapped by the include).
    let mut located: &minijinja::Error = &err;
    let mut cursor: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = cursor {
        if let Some(inner) = current.downcast_ref::<minijinja::Error>() {
            if inner.line().is_some() {
                located = inner;
            }
        }
        cursor = current.source();
    }
    let kind = match located.kind() {
        ErrorKind::TemplateNotFound => TemplateErrorKind::NotFound,
        ErrorKind::SyntaxError | ErrorKind::BadEscape | ErrorKind::InvalidDelimiter => {
            TemplateErrorKind::Syntax
        }
        ErrorKind::OutOfFuel => TemplateErrorKind::OutOfFuel,
        ErrorKind::InvalidOperation
            if located
                .detail()
                .is_some_and(|d| d.starts_with("cannot read template")) =>
        {
            TemplateErrorKind::Unreadable
        }
        _ => TemplateErrorKind::Render,
    };
    let name = located.name().unwrap_or(fallback_name);
    let message = match (kind, located.detail()) {
        (TemplateErrorKind::OutOfFuel, _) => format!(
            "rendering stopped: fuel budget of {} exhausted (a loop that does not end?)",
            fuel
        ),
        (TemplateErrorKind::NotFound, Some(detail)) => {
            format!("template not found: {detail}")
        }
        (_, Some(detail)) => format!("{}: {detail}", located.kind()),
        (_, None) => located.kind().to_string(),
    };
    // At the end of the input there is no construct to show, only what is missing.
    let at_end = located
        .detail()
        .is_some_and(|d| d.contains("unexpected end of input"));
    let construct = located
        .template_source()
        .filter(|_| !at_end)
        .and_then(|source| {
            let range = located.range()?;
            let text = source.get(range)?.trim();
            (!text.is_empty()).then(|| shorten(text))
        });
    TemplateError {
        file: origin(name),
        line: located.line().unwrap_or(0),
        message,
        construct,
        kind,
    }
}

/// Keeps an error's construct readable: one line, at most 120 characters.
fn shorten(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or_default();
    let mut short: String = first_line.chars().take(120).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}
