//! Where device dictionaries and device-type templates are found: the one search rule.
//!
//! LAVA renders a device dictionary with Jinja2's `FileSystemLoader` over the devices
//! directory first, then every device-types directory in order
//! (`/etc/lava-server/dispatcher-config/device-types`, then
//! `/usr/share/lava-server/device-types`). [`SearchPath`] is that loader for lava-rs's
//! renderer: the master, the API and lava-admin all build it from [`LabPaths`], so a
//! template is found (or not) the same way everywhere.
//!
//! Files are read when a template is first needed and checked for changes (modification
//! time and size, stamped before the read) before a remembered render is reused, so an
//! admin's edit is picked up without a restart.

use crate::config::LabPaths;
use lava_core::templates::{LoadError, LoadedSource, TemplateLoader};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Directories searched in order, first match wins, as Jinja2's `FileSystemLoader` does.
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

    /// LAVA's search path for a lab: its devices directory, then its device-types
    /// directories in order.
    pub fn for_lab(paths: &LabPaths) -> Self {
        SearchPath::new(std::iter::once(paths.devices_dir()).chain(paths.device_types_dirs()))
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

/// A search path with some templates replaced by texts not yet on disk: how the lab renders
/// its devices as they would be once a new template is installed.
pub(crate) struct Overlay {
    replaced: std::collections::HashMap<String, String>,
    below: SearchPath,
}

impl Overlay {
    /// `below`, with `name` replaced by `text`.
    pub(crate) fn new(below: SearchPath, name: &str, text: &str) -> Self {
        Overlay {
            replaced: [(name.to_owned(), text.to_owned())].into(),
            below,
        }
    }
}

impl TemplateLoader for Overlay {
    fn load(&self, name: &str) -> Result<Option<LoadedSource>, LoadError> {
        match self.replaced.get(name) {
            Some(text) => Ok(Some(LoadedSource::fixed(text.clone()))),
            None => self.below.load(name),
        }
    }

    fn origin(&self, name: &str) -> String {
        if self.replaced.contains_key(name) {
            format!("{name} (new)")
        } else {
            self.below.origin(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lava_core::templates::{JobContext, Renderer};

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
    fn first_directory_wins_and_edits_are_picked_up() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("t.jinja2"), "from b").unwrap();
        fs::write(b.join("d.jinja2"), "{% extends 't.jinja2' %}").unwrap();
        let renderer = Renderer::new(SearchPath::new([&a, &b]));
        let render = || renderer.render("d.jinja2", &JobContext::empty()).unwrap();
        assert_eq!(render(), "from b");
        fs::write(b.join("t.jinja2"), "from b, edited").unwrap();
        assert_eq!(render(), "from b, edited");
        // Once the file it came from changes, the name is looked up again from the start
        // of the path.
        fs::write(a.join("t.jinja2"), "from a").unwrap();
        fs::write(b.join("t.jinja2"), "from b, edited twice").unwrap();
        assert_eq!(render(), "from a");
    }
}
