//! The long-lived renderer: LAVA's Jinja2 environment over a template loader, bounded.

use std::fmt;
use std::io;
use std::sync::Arc;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};

use super::context::{check_mapping, JobContext};
use super::error::{self, TemplateError, TemplateErrorKind};
use super::filters;
use super::loader::TemplateLoader;
use super::memo::{Memo, RenderKey, UpToDate};
use super::python;
use super::source::jinja2_source;
use super::yaml_quote;

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
/// parsed templates cached between renders (and reloaded when a file changes), and
/// rendered outputs remembered per dictionary and context while their templates are
/// unchanged.
pub struct Renderer {
    env: Environment<'static>,
    loader: Arc<dyn TemplateLoader>,
    limits: Limits,
    memo: Arc<Memo>,
    remember_outputs: bool,
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
        let memo = Arc::new(Memo::default());
        let source_loader = Arc::clone(&loader);
        let loaded = Arc::clone(&memo);
        env.set_loader(move |name| match source_loader.load(name) {
            Ok(None) => Ok(None),
            Ok(Some(source)) => {
                let text = jinja2_source(&source.text);
                let up_to_date: Option<UpToDate> = source.up_to_date.map(Arc::from);
                loaded.loaded(name, &text, up_to_date.clone());
                let mut source = minijinja::TemplateSource::new(text);
                if let Some(up_to_date) = up_to_date {
                    source = source.with_uptodate_check(move || up_to_date());
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
            memo,
            remember_outputs: true,
        }
    }

    /// Whether rendered outputs are remembered (on by default). Off, every render
    /// evaluates the templates (to measure evaluation, or to save the memory).
    pub fn set_remember_outputs(&mut self, yes: bool) {
        self.remember_outputs = yes;
        if !yes {
            self.memo.clear_outputs();
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
        self.memo.clear();
    }

    /// Renders the dictionary named `dictionary` (e.g. `staging-qemu-01.jinja2`) with the
    /// job context, exactly as Jinja2 would for that template alone.
    pub fn render(
        &self,
        dictionary: &str,
        job_context: &JobContext,
    ) -> Result<String, TemplateError> {
        let key = RenderKey::new(dictionary, None, context_key(job_context));
        if let Some(output) = self.remembered(&key) {
            return Ok(output);
        }
        let template = self
            .env
            .get_template(dictionary)
            .map_err(|err| self.error(err, dictionary))?;
        let output = self.run(&template, dictionary, job_context)?;
        self.remember(key, &output);
        Ok(output)
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
        let key = RenderKey::new(name, Some(&source), context_key(job_context));
        if let Some(output) = self.remembered(&key) {
            return Ok(output);
        }
        // A shorter-lived view of the environment lets it compile a borrowed source.
        let env: &Environment<'_> = &self.env;
        let template = env
            .template_from_named_str(name, &source)
            .map_err(|err| self.error(err, name))?;
        let output = self.run(&template, name, job_context)?;
        self.remember(key, &output);
        Ok(output)
    }

    /// Checks a template without rendering it: its syntax, and that every template it names
    /// literally (`extends`, `include`, `import`, `from`) can be loaded. What can only be
    /// known with a dictionary's variables (a `user_commands.items()` on an undefined
    /// value) is not checked: LAVA's device-type templates are written to be rendered
    /// through a dictionary.
    pub fn check_template(&self, name: &str, source: &str) -> Result<(), TemplateError> {
        let source = jinja2_source(source);
        let env: &Environment<'_> = &self.env;
        env.template_from_named_str(name, &source)
            .map_err(|err| self.error(err, name))?;
        for reference in super::memo::static_references(&source).unwrap_or_default() {
            if reference == name {
                continue;
            }
            match self.loader.load(&reference) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(TemplateError::new(
                        TemplateErrorKind::NotFound,
                        name.to_owned(),
                        format!("template {reference:?} does not exist"),
                    ))
                }
                Err(e) => {
                    return Err(TemplateError::new(
                        TemplateErrorKind::Unreadable,
                        e.path,
                        e.reason,
                    ))
                }
            }
        }
        Ok(())
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

    /// [`render_for_job`](Self::render_for_job) for a dictionary held as text (the master's
    /// store), its device-type templates coming from the loader.
    pub fn render_source_for_job(
        &self,
        hostname: &str,
        device_type: &str,
        dictionary: &str,
        job_context: &JobContext,
    ) -> Result<String, TemplateError> {
        let context = job_context.for_device(hostname, device_type);
        self.render_source(&dictionary_name(hostname), dictionary, &context)
    }

    /// Whether `<device_type>.jinja2` exists on the search path.
    pub fn has_template(&self, device_type: &str) -> bool {
        matches!(
            self.loader.load(&format!("{device_type}.jinja2")),
            Ok(Some(_))
        )
    }

    /// Whether `device_type` has a template and whether the device's dictionary renders to
    /// a YAML mapping (LAVA's check before health checks).
    pub fn check_device(&self, hostname: &str, device_type: &str) -> DeviceCheck {
        let has_template = self.has_template(device_type);
        let name = dictionary_name(hostname);
        let dictionary = self
            .render_for_job(hostname, device_type, &JobContext::empty())
            .and_then(|yaml| check_mapping(&self.loader.origin(&name), &yaml));
        DeviceCheck {
            has_template,
            dictionary,
        }
    }

    fn remembered(&self, key: &RenderKey) -> Option<String> {
        self.remember_outputs.then(|| self.memo.get(key)).flatten()
    }

    fn remember(&self, key: RenderKey, output: &str) {
        if self.remember_outputs {
            self.memo.put(key, output);
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
}

impl Renderer {
    fn error(&self, err: minijinja::Error, fallback_name: &str) -> TemplateError {
        error::from_minijinja(
            err,
            fallback_name,
            |name| self.loader.origin(name),
            self.limits.fuel,
        )
    }
}

/// Identifies a context exactly: Python's `repr` tells `1` from `'1'`, `1.0` and `True`,
/// and keeps the variables' order.
fn context_key(job_context: &JobContext) -> String {
    let mut key = String::new();
    python::write_repr(&mut key, &job_context.0);
    key
}

/// Whether `source`, as the template `name`, names itself literally in `extends`,
/// `include`, `import` or `from`: checked against the loader, such a template would be
/// rendered over the *old* file of that name and pass, then never render once saved.
pub fn references_itself(name: &str, source: &str) -> bool {
    super::memo::static_references(&jinja2_source(source))
        .is_some_and(|names| names.iter().any(|n| n == name))
}

/// The dictionary template of a device.
pub fn dictionary_name(hostname: &str) -> String {
    format!("{hostname}.jinja2")
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
        // Strings (most of what a template prints) go out as they are.
        if let Some(text) = value.as_str() {
            return out.write_str(text).map_err(minijinja::Error::from);
        }
        let mut text = String::new();
        python::write_str(&mut text, value);
        out.write_str(&text).map_err(minijinja::Error::from)
    });
    // Jinja2 has no `debug` global: a dictionary's `{{ debug }}` is an undefined variable.
    env.remove_global("debug");
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_filter("shlex_quote", filters::shlex_quote);
    env.add_filter("yaml_quote", yaml_quote::yaml_quote);
    env.add_filter("qemu_guest_fs_interface", filters::qemu_guest_fs_interface);
    env.add_filter("string", filters::string);
    env.add_filter("join", filters::join);
    env.add_filter("indent", filters::indent);
    env.add_filter("int", filters::int);
    env.add_filter("float", filters::float);
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
