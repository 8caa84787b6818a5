//! Rendered dictionaries remembered per (dictionary, context), for as long as every template
//! they were rendered from is unchanged.
//!
//! A master renders the same dictionaries over and over: every device's dictionary is
//! checked before health checks, and most jobs of a device carry the same (often empty)
//! context. Rendering is a pure function of the templates and the context (no clock, no
//! randomness, no global state), so a remembered output is exact as long as its templates
//! are. Each template records the templates it names (`extends`, `include`, `import`,
//! `from`) when it is loaded, with the loader's up-to-date check; a remembered output is
//! served only after walking that chain and finding every template current. A template
//! whose references are computed (`{% extends parent %}`) or optional (`ignore missing`)
//! is never remembered.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The loader's check that a template's source is still what was compiled.
pub(crate) type UpToDate = Arc<dyn Fn() -> bool + Send + Sync>;

/// At most this many outputs, and this many bytes of them, are kept; past either the
/// whole memory is dropped (cheap, and a master's working set is far smaller).
const MAX_OUTPUTS: usize = 4096;
const MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

/// What a loaded template depends on.
struct TemplateInfo {
    /// Templates it names; `None` when they cannot be known from its text.
    references: Option<Vec<String>>,
    up_to_date: Option<UpToDate>,
    /// Increases with every load: an output remembers the newest generation in its chain,
    /// so a template reloaded since (by another render) makes it stale.
    generation: u64,
}

/// Identifies one render: the dictionary, its text when it was given as text, the context.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct RenderKey {
    name: String,
    source: Option<String>,
    context: String,
}

impl RenderKey {
    /// `context` must identify the variables exactly (their Python `repr`, in order).
    pub(crate) fn new(name: &str, source: Option<&str>, context: String) -> Self {
        RenderKey {
            name: name.to_owned(),
            source: source.map(str::to_owned),
            context,
        }
    }
}

#[derive(Default)]
struct Outputs {
    /// Each output with the newest template generation of its chain when it was rendered.
    entries: HashMap<RenderKey, (String, u64)>,
    bytes: usize,
}

#[derive(Default)]
struct Templates {
    loaded: HashMap<String, TemplateInfo>,
    generation: u64,
}

/// The templates a renderer has loaded and the outputs it remembers.
#[derive(Default)]
pub(crate) struct Memo {
    templates: Mutex<Templates>,
    outputs: Mutex<Outputs>,
}

/// A poisoned lock only means another render panicked mid-update of a cache; the maps are
/// still consistent enough to use or clear.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Memo {
    /// Records a template as the loader hands it to minijinja.
    pub(crate) fn loaded(&self, name: &str, source: &str, up_to_date: Option<UpToDate>) {
        let mut templates = lock(&self.templates);
        templates.generation += 1;
        let info = TemplateInfo {
            references: static_references(source),
            up_to_date,
            generation: templates.generation,
        };
        templates.loaded.insert(name.to_owned(), info);
    }

    /// Forgets everything (the renderer dropped its compiled templates).
    pub(crate) fn clear(&self) {
        lock(&self.templates).loaded.clear();
        *lock(&self.outputs) = Outputs::default();
    }

    /// Forgets the outputs only.
    pub(crate) fn clear_outputs(&self) {
        *lock(&self.outputs) = Outputs::default();
    }

    /// The remembered output for `key`, if every template it came from is current.
    pub(crate) fn get(&self, key: &RenderKey) -> Option<String> {
        let (output, generation) = lock(&self.outputs).entries.get(key).cloned()?;
        (self.current_generation(key) == Some(generation)).then_some(output)
    }

    /// Remembers `output` for `key` if its templates can be tracked.
    pub(crate) fn put(&self, key: RenderKey, output: &str) {
        let Some(generation) = self.current_generation(&key) else {
            return;
        };
        let mut outputs = lock(&self.outputs);
        if outputs.entries.len() >= MAX_OUTPUTS || outputs.bytes + output.len() > MAX_OUTPUT_BYTES {
            *outputs = Outputs::default();
        }
        outputs.bytes += output.len();
        if let Some((old, _)) = outputs.entries.insert(key, (output.to_owned(), generation)) {
            outputs.bytes -= old.len();
        }
    }

    /// Walks the templates the render used, from the dictionary up, running each one's
    /// up-to-date check; the newest generation among them, or `None` if any is unknown,
    /// computed or stale.
    fn current_generation(&self, key: &RenderKey) -> Option<u64> {
        let templates = lock(&self.templates);
        let mut pending: Vec<String> = match &key.source {
            Some(source) => static_references(source)?,
            None => vec![key.name.clone()],
        };
        let mut newest = 0;
        let mut seen = HashSet::new();
        while let Some(name) = pending.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let info = templates.loaded.get(&name)?;
            let references = info.references.as_ref()?;
            if let Some(up_to_date) = &info.up_to_date {
                if !up_to_date() {
                    return None;
                }
            }
            newest = newest.max(info.generation);
            pending.extend(references.iter().cloned());
        }
        Some(newest)
    }
}

/// The templates a source names with a string literal in `extends`, `include`, `import`
/// or `from` tags; `None` if any such tag names them otherwise (a variable, an
/// expression, a list, `ignore missing`). Text that only looks like a tag (in a comment or
/// a raw block) adds a name that is never loaded, which only makes the output
/// unrememberable: the scan errs on the safe side.
pub(crate) fn static_references(source: &str) -> Option<Vec<String>> {
    let mut references = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        let tag = &rest[start + 2..];
        let end = tag.find("%}").unwrap_or(tag.len());
        let body = tag[..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        rest = &tag[end..];
        let keyword_end = body
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(body.len());
        let (keyword, args) = body.split_at(keyword_end);
        if !matches!(keyword, "extends" | "include" | "import" | "from") {
            continue;
        }
        let args = args.trim_start();
        let quote = args.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let literal = &args[1..];
        let close = literal.find(quote)?;
        let name = &literal[..close];
        let after = &literal[close + 1..];
        let plain_words = after
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ',' || c.is_whitespace());
        if name.contains('\\') || !plain_words || after.contains("ignore") {
            return None;
        }
        references.push(name.to_owned());
    }
    Some(references)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_references_are_found_and_computed_ones_refused() {
        assert_eq!(
            static_references(
                "{% extends 'base.jinja2' %}\n{%- include \"x.jinja2\" with context -%}"
            ),
            Some(vec!["base.jinja2".to_owned(), "x.jinja2".to_owned()])
        );
        assert_eq!(
            static_references("{% from 'm.jinja2' import a, b as c %}{% set x = 1 %}"),
            Some(vec!["m.jinja2".to_owned()])
        );
        assert_eq!(static_references("no tags {{ x }}"), Some(vec![]));
        assert_eq!(static_references("{% extends parent %}"), None);
        assert_eq!(static_references("{% extends 'a' ~ suffix %}"), None);
        assert_eq!(static_references("{% include ['a', 'b'] %}"), None);
        assert_eq!(static_references("{% include 'a' ignore missing %}"), None);
        assert_eq!(static_references("{% extends 'unterminated"), None);
    }

    #[test]
    fn an_output_is_served_only_while_its_chain_is_current() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let memo = Memo::default();
        let fresh = Arc::new(AtomicBool::new(true));
        let check = Arc::clone(&fresh);
        memo.loaded("dev.jinja2", "{% extends 'type.jinja2' %}", None);
        let key = RenderKey::new("dev.jinja2", None, "{}".to_owned());
        // The parent is not known yet: nothing is remembered.
        memo.put(key.clone(), "out");
        assert_eq!(memo.get(&key), None);

        memo.loaded(
            "type.jinja2",
            "a: 1",
            Some(Arc::new(move || check.load(Ordering::SeqCst))),
        );
        memo.put(key.clone(), "out");
        assert_eq!(memo.get(&key).as_deref(), Some("out"));
        let other_context = RenderKey::new("dev.jinja2", None, "{'a': 1}".to_owned());
        assert_eq!(memo.get(&other_context), None);

        // Reloaded by another render: the remembered output predates it.
        memo.loaded("type.jinja2", "a: 2", None);
        assert_eq!(memo.get(&key), None);
        memo.put(key.clone(), "out 2");
        assert_eq!(memo.get(&key).as_deref(), Some("out 2"));
        let again = Arc::clone(&fresh);
        memo.loaded(
            "type.jinja2",
            "a: 2",
            Some(Arc::new(move || again.load(Ordering::SeqCst))),
        );
        memo.put(key.clone(), "out 2");
        fresh.store(false, Ordering::SeqCst);
        assert_eq!(memo.get(&key), None);
        memo.clear();
        fresh.store(true, Ordering::SeqCst);
        assert_eq!(memo.get(&key), None);
    }
}
