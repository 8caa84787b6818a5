//! Device dictionaries and device-type templates, rendered as LAVA's Jinja2 environment does.
//!
//! A device dictionary (`<hostname>.jinja2`) is a small Jinja2 template that extends a
//! device-type template and sets variables; rendered with a job's `context:` it gives the
//! YAML device configuration that START carries. LAVA renders it with Python Jinja2; this
//! module renders it with minijinja configured to give the same text:
//!
//! - `trim_blocks`, no autoescape, Jinja2's default `Undefined` (prints empty, is falsy,
//!   iterates as empty; attribute access on it is an error);
//! - line breaks normalised and the final newline dropped as Jinja2's lexer does;
//! - `{{ value }}`, `|string` and `|join` print through Python's `str()` (`None`, `True`,
//!   `['a', 'b']`); `|indent`, `|int` and `|float` follow Jinja2's results;
//! - Python methods (`.get`, `.items`, `.split`, …) through minijinja-contrib's pycompat;
//! - LAVA's filters `shlex_quote`, `yaml_quote` and `qemu_guest_fs_interface`.
//!
//! Rendering is sandboxed by construction (templates reach no host object) and bounded:
//! every render has a fuel budget (instructions and allocations) and an output size limit,
//! so a hostile dictionary cannot hang or exhaust the master. Known divergences from
//! Jinja2 are listed in `docs/templates.md`.
//!
//! A [`Renderer`] keeps the parsed templates across renders, and remembers each output per
//! (dictionary, context) for as long as every template it came from is unchanged: a master
//! renders the same dictionaries over and over, and that is where the speed is.
//!
//! ```
//! use lava_core::templates::{JobContext, Preloaded, Renderer};
//!
//! let loader = Preloaded::new()
//!     .with("board.jinja2", "console: {{ console_device | default('ttyS0') }}\n")
//!     .with("board-01.jinja2", "{% extends 'board.jinja2' %}\n");
//! let renderer = Renderer::new(loader);
//! let context = JobContext::from_yaml("console_device: ttyAMA0\n", "job context").unwrap();
//! let yaml = renderer.render_for_job("board-01", "board", &context).unwrap();
//! assert_eq!(yaml, "console: ttyAMA0");
//! ```

mod context;
mod error;
mod extends;
mod filters;
mod loader;
mod memo;
mod python;
mod renderer;
mod source;
mod yaml_quote;

pub use context::{check_mapping, JobContext};
pub use error::{TemplateError, TemplateErrorKind};
pub use extends::dictionary_extends;
pub use loader::{LoadError, LoadedSource, Preloaded, TemplateLoader};
pub use renderer::{dictionary_name, references_itself, DeviceCheck, Limits, Renderer};

/// Renders `dictionary` with `job_context` in a one-off [`Renderer`] over `loader`
/// (convenient for tools; a long-lived process keeps a `Renderer`).
pub fn render(
    loader: impl TemplateLoader + 'static,
    dictionary: &str,
    job_context: &JobContext,
) -> Result<String, TemplateError> {
    Renderer::new(loader).render(dictionary, job_context)
}
