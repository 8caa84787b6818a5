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
//!   `['a', 'b']`), and `|indent` follows Jinja2's splitting quirks;
//! - Python methods (`.get`, `.items`, `.split`, …) through minijinja-contrib's pycompat;
//! - LAVA's filters `shlex_quote`, `yaml_quote` and `qemu_guest_fs_interface`.
//!
//! Rendering is sandboxed by construction (templates reach no host object) and bounded:
//! every render has a fuel budget (instructions and allocations) and an output size limit,
//! so a hostile dictionary cannot hang or exhaust the master. Known divergences from
//! Jinja2 are listed in `docs/templates.md`.
//!
//! A [`Renderer`] keeps the parsed templates across renders; that is where the speed is.

mod filters;
mod loader;
mod python;

use std::fmt;
use std::io;
use std::sync::Arc;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};

pub use loader::{LoadError, LoadedSource, Preloaded, SearchPath, TemplateLoader};

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
    fn new(kind: TemplateErrorKind, file: impl Into<String>, message: impl Into<String>) -> Self {
        TemplateError {
            file: file.into(),
            line: 0,
            message: message.into(),
            construct: None,
            kind,
        }
    }
}

/// Bounds on one render, so that a template cannot hang or exhaust the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// minijinja fuel: roughly one unit per instruction plus one per 64 bytes allocated.
    pub fuel: u64,
    /// Largest rendered text accepted, in bytes.
    pub max_output: usize,
}

impl Default for Limits {
    /// About a hundred times what LAVA's most demanding device-type template needs (under
    /// 5,000 units, measured over the 363 templates of lava-server 2023.01), and outputs far
    /// beyond any real device configuration (a few KiB): real dictionaries never meet these
    /// bounds, a runaway loop meets them within milliseconds.
    fn default() -> Self {
        Limits {
            fuel: 500_000,
            max_output: 4 * 1024 * 1024,
        }
    }
}

/// Variables a dictionary is rendered with: the job definition's `context:` mapping.
#[derive(Debug, Clone)]
pub struct JobContext(Value);

impl Default for JobContext {
    fn default() -> Self {
        JobContext::empty()
    }
}

impl JobContext {
    /// No variables (a job without `context:`, or an admin's check).
    pub fn empty() -> Self {
        JobContext(Value::from(
            std::collections::BTreeMap::<String, Value>::new(),
        ))
    }

    /// A context from any serializable mapping (e.g. the parsed job definition's `context`).
    pub fn from_serialize<T: serde::Serialize>(context: &T) -> Result<Self, TemplateError> {
        Self::from_value(Value::from(minijinja::value::Serde(context)), "job context")
    }

    /// A context from YAML text (the file given to `lava-admin templates render --context`).
    /// An empty document is an empty context; anything but a mapping is an error.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, TemplateError> {
        if text.trim().is_empty() {
            return Ok(JobContext::empty());
        }
        let value: Value =
            serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|err| {
                TemplateError::new(TemplateErrorKind::BadContext, origin, err.to_string())
            })?;
        if value.is_none() {
            return Ok(JobContext::empty());
        }
        Self::from_value(value, origin)
    }

    fn from_value(value: Value, origin: &str) -> Result<Self, TemplateError> {
        if value.kind() != ValueKind::Map {
            return Err(TemplateError::new(
                TemplateErrorKind::BadContext,
                origin,
                format!("the context must be a mapping, not a {}", value.kind()),
            ));
        }
        Ok(JobContext(value))
    }

    /// The same variables plus LAVA's `scheduled_device_name` and `scheduled_device_type`
    /// (which win over job variables of the same name, as in LAVA).
    pub fn for_device(&self, hostname: &str, device_type: &str) -> JobContext {
        let mut vars: Vec<(Value, Value)> = Vec::new();
        if let Ok(keys) = self.0.try_iter() {
            for key in keys {
                let is_scheduled = matches!(
                    key.as_str(),
                    Some("scheduled_device_name" | "scheduled_device_type")
                );
                if !is_scheduled {
                    let item = self.0.get_item(&key).unwrap_or_default();
                    vars.push((key, item));
                }
            }
        }
        vars.push((Value::from("scheduled_device_name"), Value::from(hostname)));
        vars.push((
            Value::from("scheduled_device_type"),
            Value::from(device_type),
        ));
        JobContext(Value::from_pairs(vars))
    }
}

/// PyYAML's `safe_load` as close as serde-saphyr gets: a repeated key keeps the last value,
/// `0755` is octal (YAML 1.1).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::LastWins,
        legacy_octal_numbers: true,
    }
}

/// What an admin wants to know about a device before a job uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCheck {
    /// `<device_type>.jinja2` exists on the search path.
    pub has_template: bool,
    /// The dictionary rendered (with an empty context) to a YAML mapping, or why not.
    pub dictionary: Result<(), TemplateError>,
}

impl DeviceCheck {
    /// LAVA's "valid device": a template for its type, and a dictionary that renders.
    pub fn is_valid(&self) -> bool {
        self.has_template && self.dictionary.is_ok()
    }
}

/// A long-lived rendering environment: LAVA's Jinja2 configuration over one loader, with
/// parsed templates cached between renders (and reloaded when a file changes).
pub struct Renderer {
    env: Environment<'static>,
    loader: Arc<dyn TemplateLoader>,
    limits: Limits,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer over `loader` with the default [`Limits`].
    pub fn new(loader: impl TemplateLoader + 'static) -> Self {
        Self::with_limits(loader, Limits::default())
    }

    /// A renderer over `loader` with explicit limits.
    pub fn with_limits(loader: impl TemplateLoader + 'static, limits: Limits) -> Self {
        let loader: Arc<dyn TemplateLoader> = Arc::new(loader);
        let mut env = Environment::new();
        configure(&mut env, limits);
        let source_loader = Arc::clone(&loader);
        env.set_loader(move |name| match source_loader.load(name) {
            Ok(None) => Ok(None),
            Ok(Some(loaded)) => {
                let mut source = minijinja::TemplateSource::new(jinja2_source(&loaded.text));
                if let Some(up_to_date) = loaded.up_to_date {
                    source = source.with_uptodate_check(up_to_date);
                }
                Ok(Some(source))
            }
            Err(err) => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                err.to_string(),
            )),
        });
        Renderer {
            env,
            loader,
            limits,
        }
    }

    /// The limits every render is held to.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Drops every compiled template, so that the next render loads them again (for loaders
    /// such as [`Preloaded`] that cannot tell when a source changed).
    pub fn reload(&mut self) {
        self.env.clear_templates();
    }

    /// Renders the dictionary named `dictionary` (e.g. `staging-qemu-01.jinja2`) with the
    /// job context, exactly as Jinja2 would for that template alone.
    pub fn render(
        &self,
        dictionary: &str,
        job_context: &JobContext,
    ) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(dictionary)
            .map_err(|err| self.error(err, dictionary))?;
        self.run(&template, dictionary, job_context)
    }

    /// Renders a dictionary given as text (one held in a store, or being checked before it
    /// is saved); `name` is what errors call it. Its parents come from the loader.
    pub fn render_source(
        &self,
        name: &str,
        source: &str,
        job_context: &JobContext,
    ) -> Result<String, TemplateError> {
        let source = jinja2_source(source);
        // A shorter-lived view of the environment lets it compile a borrowed source.
        let env: &Environment<'_> = &self.env;
        let template = env
            .template_from_named_str(name, &source)
            .map_err(|err| self.error(err, name))?;
        self.run(&template, name, job_context)
    }

    /// What the master sends in START: the device's dictionary (`<hostname>.jinja2`)
    /// rendered with the job's context plus `scheduled_device_name` and
    /// `scheduled_device_type`.
    pub fn render_for_job(
        &self,
        hostname: &str,
        device_type: &str,
        job_context: &JobContext,
    ) -> Result<String, TemplateError> {
        let context = job_context.for_device(hostname, device_type);
        self.render(&dictionary_name(hostname), &context)
    }

    /// Whether `device_type` has a template and whether the device's dictionary renders to
    /// a YAML mapping (LAVA's check before health checks).
    pub fn check_device(&self, hostname: &str, device_type: &str) -> DeviceCheck {
        let has_template = matches!(
            self.loader.load(&format!("{device_type}.jinja2")),
            Ok(Some(_))
        );
        let name = dictionary_name(hostname);
        let dictionary = self
            .render_for_job(hostname, device_type, &JobContext::empty())
            .and_then(|yaml| check_mapping(&self.loader.origin(&name), &yaml));
        DeviceCheck {
            has_template,
            dictionary,
        }
    }

    fn run(
        &self,
        template: &minijinja::Template<'_, '_>,
        name: &str,
        job_context: &JobContext,
    ) -> Result<String, TemplateError> {
        let mut out = BoundedOutput {
            bytes: Vec::new(),
            limit: self.limits.max_output,
            overflowed: false,
        };
        let result = template.render_captured_to(&job_context.0, &mut out);
        if out.overflowed {
            return Err(TemplateError::new(
                TemplateErrorKind::OutputTooLarge,
                self.loader.origin(name),
                format!("rendered output exceeds {} bytes", self.limits.max_output),
            ));
        }
        result.map_err(|err| self.error(err, name))?;
        String::from_utf8(out.bytes).map_err(|_| {
            TemplateError::new(
                TemplateErrorKind::Render,
                self.loader.origin(name),
                "rendered output is not UTF-8",
            )
        })
    }

    /// Turns a minijinja error into one naming the file, line and construct at fault.
    fn error(&self, err: minijinja::Error, fallback_name: &str) -> TemplateError {
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
                self.limits.fuel
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
            file: self.loader.origin(name),
            line: located.line().unwrap_or(0),
            message,
            construct,
            kind,
        }
    }
}

/// The dictionary template of a device.
pub fn dictionary_name(hostname: &str) -> String {
    format!("{hostname}.jinja2")
}

/// Renders `dictionary` with `job_context` in a one-off [`Renderer`] over `loader`
/// (convenient for tools; a long-lived process keeps a `Renderer`).
pub fn render(
    loader: impl TemplateLoader + 'static,
    dictionary: &str,
    job_context: &JobContext,
) -> Result<String, TemplateError> {
    Renderer::new(loader).render(dictionary, job_context)
}

/// Checks that `yaml` (a rendered dictionary from `file`) parses to a YAML mapping.
pub fn check_mapping(file: &str, yaml: &str) -> Result<(), TemplateError> {
    let value: Value =
        serde_saphyr::from_str_with_options(yaml, yaml_options()).map_err(|err| {
            TemplateError::new(
                TemplateErrorKind::NotAMapping,
                file,
                format!("rendered text is not valid YAML: {err}"),
            )
        })?;
    if value.kind() == ValueKind::Map {
        Ok(())
    } else {
        Err(TemplateError::new(
            TemplateErrorKind::NotAMapping,
            file,
            format!("rendered YAML is a {}, not a mapping", value.kind()),
        ))
    }
}

/// LAVA's environment: `trim_blocks`, no autoescape, lenient undefined, Python printing,
/// pycompat methods, LAVA's filters, fuel.
fn configure(env: &mut Environment<'static>, limits: Limits) {
    // Jinja2's lexer drops the final newline itself (see `jinja2_source`), so minijinja
    // must keep what it is given.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .keep_trailing_newline(true)
        .build();
    if let Ok(syntax) = syntax {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_debug(true);
    env.set_fuel(Some(limits.fuel));
    env.set_formatter(|out, _state, value| {
        let mut text = String::new();
        python::write_str(&mut text, value);
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    // Jinja2 has no `debug` global: a dictionary's `{{ debug }}` is an undefined variable.
    env.remove_global("debug");
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_filter("shlex_quote", filters::shlex_quote);
    env.add_filter("yaml_quote", filters::yaml_quote);
    env.add_filter("qemu_guest_fs_interface", filters::qemu_guest_fs_interface);
    env.add_filter("string", filters::string);
    env.add_filter("join", filters::join);
    env.add_filter("indent", filters::indent);
    env.add_filter("int", filters::int);
    env.add_filter("float", filters::float);
}

/// Jinja2's lexer view of a source: `\r\n` and `\r` become `\n`, one final line break is
/// dropped (`keep_trailing_newline=False`), and the newline after a `{% raw %}` tag is kept
/// (Jinja2's `trim_blocks` does not apply to that tag; minijinja's does, so the newline is
/// doubled for it to eat).
fn jinja2_source(text: &str) -> String {
    let mut source = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    };
    if source.ends_with('\n') {
        source.pop();
    }
    if source.contains("raw") {
        source = keep_newline_after_raw(&source);
    }
    source
}

/// Doubles the newline that follows each `{% raw %}` (or `{%- raw %}`) tag outside comments
/// and raw blocks.
fn keep_newline_after_raw(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 8);
    let mut rest = source;
    while let Some(start) = rest.find('{') {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let skip_to = |tail: &str, end: &str, from: usize| -> usize {
            tail[from..]
                .find(end)
                .map_or(tail.len(), |i| from + i + end.len())
        };
        let consumed = if tail.starts_with("{#") {
            skip_to(tail, "#}", 2)
        } else if tail.starts_with("{{") {
            skip_to(tail, "}}", 2)
        } else if tail.starts_with("{%") {
            match raw_begin_len(tail) {
                Some(len) => {
                    out.push_str(&tail[..len]);
                    if tail[len..].starts_with('\n') && !tail[..len].ends_with("-%}") {
                        out.push('\n');
                    }
                    // The raw body is text: skip to the end of `{% endraw %}`.
                    let body = &tail[len..];
                    let end = find_endraw(body).map_or(body.len(), |end| end);
                    out.push_str(&body[..end]);
                    rest = &body[end..];
                    continue;
                }
                None => skip_to(tail, "%}", 2),
            }
        } else {
            1
        };
        out.push_str(&tail[..consumed]);
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    out
}

/// The length of a raw-begin tag at the start of `tail` (`{%` `-`/`+`? ws `raw` ws `-`? `%}`).
fn raw_begin_len(tail: &str) -> Option<usize> {
    let mut pos = 2;
    if tail[pos..].starts_with(['-', '+']) {
        pos += 1;
    }
    pos += leading_whitespace(&tail[pos..]);
    if !tail[pos..].starts_with("raw") {
        return None;
    }
    pos += 3;
    pos += leading_whitespace(&tail[pos..]);
    if tail[pos..].starts_with("%}") {
        Some(pos + 2)
    } else if tail[pos..].starts_with("-%}") {
        Some(pos + 3)
    } else {
        None
    }
}

/// Where the `{% endraw %}` tag that closes a raw body ends.
fn find_endraw(body: &str) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = body[offset..].find("{%") {
        let start = offset + found;
        let mut pos = start + 2;
        if body[pos..].starts_with(['-', '+']) {
            pos += 1;
        }
        pos += leading_whitespace(&body[pos..]);
        if body[pos..].starts_with("endraw") {
            pos += "endraw".len();
            return body[pos..].find("%}").map(|end| pos + end + 2);
        }
        offset = start + 2;
    }
    None
}

fn leading_whitespace(text: &str) -> usize {
    text.len() - text.trim_start().len()
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

/// Collects rendered bytes and refuses to grow past the limit, which stops rendering there.
struct BoundedOutput {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl io::Write for BoundedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("rendered output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
