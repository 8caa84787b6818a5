//! Where template sources come from.
//!
//! The renderer asks a [`TemplateLoader`] for a template by the name Jinja2 would use
//! (`staging-qemu-01.jinja2`, `base-uboot.jinja2`). Two loaders are provided:
//! [`SearchPath`] reads directories in order, like Jinja2's `FileSystemLoader` over LAVA's
//! devices dir and device-types dirs; [`Preloaded`] serves sources held in memory (a store,
//! a test). Reading a template file is the only I/O in this module; callers that want the
//! core free of it hand templates over through [`Preloaded`].

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A source of template text, looked up by template name.
pub trait TemplateLoader: Send + Sync {
    /// The source of `name`, `Ok(None)` if there is no such template.
    fn load(&self, name: &str) -> Result<Option<LoadedSource>, LoadError>;

    /// Where `name` comes from, for error messages (a file path); the name itself by
    /// default.
    fn origin(&self, name: &str) -> String {
        name.to_owned()
    }
}

/// A template's text and, when it can change underneath a long-lived renderer, how to tell
/// that it has.
pub struct LoadedSource {
    /// The template text, as read.
    pub text: String,
    /// Returns false once the text is stale; the renderer then loads it again.
    pub up_to_date: Option<Box<dyn Fn() -> bool + Send + Sync>>,
}

impl LoadedSource {
    /// A source that never goes stale.
    pub fn fixed(text: impl Into<String>) -> Self {
        LoadedSource {
            text: text.into(),
            up_to_date: None,
        }
    }
}

/// A template that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read template {path}: {reason}")]
pub struct LoadError {
    /// The file (or name) that could not be read.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Directories searched in order, as Jinja2's `FileSystemLoader` does: LAVA passes the
/// devices dir first, then `/etc/lava-server/dispatcher-config/device-types`, then
/// `/usr/share/lava-server/device-types`.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// A search path over `dirs`, first match wins.
    pub fn new<I, P>(dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        SearchPath {
            dirs: dirs.into_iter().map(Into::into).collect(),
        }
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The file `name` resolves to, if any directory has it.
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        let parts = split_template_path(name)?;
        self.dirs.iter().find_map(|dir| {
            let mut path = dir.clone();
            path.extend(&parts);
            path.is_file().then_some(path)
        })
    }
}

/// Jinja2's `split_template_path`: `/`-separated parts, empty and `.` parts dropped, and no
/// `..` (a template name must not escape its directory).
fn split_template_path(name: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for part in name.split('/') {
        if part == ".." || part.contains('\\') || part.contains('\0') {
            return None;
        }
        if !part.is_empty() && part != "." {
            parts.push(part);
        }
    }
    (!parts.is_empty()).then_some(parts)
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let metadata = fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

impl TemplateLoader for SearchPath {
    fn load(&self, name: &str) -> Result<Option<LoadedSource>, LoadError> {
        let Some(path) = self.resolve(name) else {
            return Ok(None);
        };
        // Stamp before reading, so that a write racing with the read marks it stale.
        let stamp = file_stamp(&path);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(LoadError {
                    path: path.display().to_string(),
                    reason: err.to_string(),
                })
            }
        };
        let text = String::from_utf8(bytes).map_err(|err| LoadError {
            path: path.display().to_string(),
            reason: format!(
                "not UTF-8 (invalid byte at offset {})",
                err.utf8_error().valid_up_to()
            ),
        })?;
        let up_to_date: Option<Box<dyn Fn() -> bool + Send + Sync>> = stamp.map(|stamp| {
            let check: Box<dyn Fn() -> bool + Send + Sync> =
                Box::new(move || file_stamp(&path) == Some(stamp));
            check
        });
        Ok(Some(LoadedSource { text, up_to_date }))
    }

    fn origin(&self, name: &str) -> String {
        match self.resolve(name) {
            Some(path) => path.display().to_string(),
            None => name.to_owned(),
        }
    }
}

/// Templates held in memory, by name (device-type templates and dictionaries from a store,
/// or a test's fixtures).
#[derive(Debug, Clone, Default)]
pub struct Preloaded {
    sources: HashMap<String, String>,
}

impl Preloaded {
    /// An empty set.
    pub fn new() -> Self {
        Preloaded::default()
    }

    /// Adds or replaces the template `name`. A renderer that already compiled it keeps its
    /// compiled copy until [`Renderer::reload`](super::Renderer::reload).
    pub fn insert(&mut self, name: impl Into<String>, source: impl Into<String>) -> &mut Self {
        self.sources.insert(name.into(), source.into());
        self
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, name: impl Into<String>, source: impl Into<String>) -> Self {
        self.insert(name, source);
        self
    }
}

impl TemplateLoader for Preloaded {
    fn load(&self, name: &str) -> Result<Option<LoadedSource>, LoadError> {
        Ok(self.sources.get(name).cloned().map(LoadedSource::fixed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_cannot_escape_their_directory() {
        assert_eq!(
            split_template_path("base.jinja2"),
            Some(vec!["base.jinja2"])
        );
        assert_eq!(
            split_template_path("./a//b.jinja2"),
            Some(vec!["a", "b.jinja2"])
        );
        assert_eq!(split_template_path("../etc/passwd"), None);
        assert_eq!(split_template_path("a/../../b"), None);
        assert_eq!(split_template_path(""), None);
    }

    #[test]
    fn preloaded_serves_what_it_holds() {
        let loader = Preloaded::new().with("a.jinja2", "A");
        let found = loader.load("a.jinja2").ok().flatten().map(|s| s.text);
        assert_eq!(found.as_deref(), Some("A"));
        assert!(matches!(loader.load("b.jinja2"), Ok(None)));
    }
}
