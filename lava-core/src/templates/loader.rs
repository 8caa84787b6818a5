//! Where template sources come from.
//!
//! The renderer asks a [`TemplateLoader`] for a template by the name Jinja2 would use
//! (`staging-qemu-01.jinja2`, `base-uboot.jinja2`). The core reads no files: the lab layer
//! implements the loader over LAVA's directories (`lava_lab::SearchPath`), with change
//! detection; [`Preloaded`] serves sources held in memory (a test, a tool).

use std::collections::HashMap;

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
    fn preloaded_serves_what_it_holds() {
        let loader = Preloaded::new().with("a.jinja2", "A");
        let found = loader.load("a.jinja2").ok().flatten().map(|s| s.text);
        assert_eq!(found.as_deref(), Some("A"));
        assert!(matches!(loader.load("b.jinja2"), Ok(None)));
    }
}
