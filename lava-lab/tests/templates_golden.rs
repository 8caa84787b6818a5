//! lava-rs' own device dictionaries render to exactly the text Python Jinja2 gives with
//! LAVA's environment. The expected files were written by Jinja2 3.1 through
//! `scripts/templates_conformance.py --write-expected` (see docs/templates.md).

use std::fs;
use std::path::{Path, PathBuf};

use lava_core::templates::{JobContext, Renderer};
use lava_lab::SearchPath;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lava-core/tests/data/templates")
}

fn renderer() -> Renderer {
    let data = data();
    Renderer::new(SearchPath::new([
        data.join("devices"),
        data.join("device-types"),
    ]))
}

#[test]
fn every_golden_dictionary_renders_byte_for_byte_as_jinja2() {
    let data = data();
    let renderer = renderer();
    let mut checked = 0;
    let mut entries: Vec<_> = fs::read_dir(data.join("expected"))
        .expect("the expected dir is part of the repository")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for expected_path in entries {
        let file_name = expected_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let stem = file_name.trim_end_matches(".txt");
        let (dictionary, context) = stem
            .split_once("--")
            .expect("expected files are named DICTIONARY--CONTEXT.txt");
        let context = if context == "no-context" {
            JobContext::empty()
        } else {
            let path = data.join("devices").join(format!("{context}.yaml"));
            let text = fs::read_to_string(&path).unwrap();
            JobContext::from_yaml(&text, &path.display().to_string()).unwrap()
        };
        let expected = fs::read_to_string(&expected_path).unwrap();
        let rendered = renderer
            .render(&format!("{dictionary}.jinja2"), &context)
            .unwrap_or_else(|err| panic!("{file_name}: {err}"));
        assert_eq!(rendered, expected, "{file_name}");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} golden files found");
}

#[test]
fn a_warm_renderer_gives_the_same_text_as_a_cold_one() {
    let warm = renderer();
    let context = JobContext::empty();
    let first = warm.render("lavars-board-02.jinja2", &context).unwrap();
    let again = warm.render("lavars-board-02.jinja2", &context).unwrap();
    let cold = renderer()
        .render("lavars-board-02.jinja2", &context)
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first, cold);
}
