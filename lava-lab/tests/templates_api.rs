//! The renderer's API as the master and lava-admin use it: search order, the START render
//! contract, device checks, and templates that change underneath a long-lived renderer.

use std::fs;
use std::path::{Path, PathBuf};

use lava_core::templates::{JobContext, Preloaded, Renderer, TemplateErrorKind};
use lava_lab::SearchPath;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lava-core/tests/data/templates")
}

fn yaml_context(text: &str) -> JobContext {
    JobContext::from_yaml(text, "context.yaml").unwrap()
}

#[test]
fn the_start_render_adds_the_scheduled_device_over_the_job_context() {
    let data = data();
    let renderer = Renderer::new(SearchPath::new([
        data.join("devices"),
        data.join("device-types"),
    ]));
    // The job context tries to set both names; LAVA's values win.
    let context = yaml_context(
        "scheduled_device_name: from-context\nscheduled_device_type: other\nbootloader_timeout: 9\n",
    );
    let yaml = renderer
        .render_for_job("lavars-board-02", "lavars-uboot-board", &context)
        .unwrap();
    assert!(yaml.contains("\nhostname: lavars-board-02\n"), "{yaml}");
    assert!(yaml.contains("minutes: 9\n"), "{yaml}");
    // The offline render adds nothing: the template's `is defined` check sees the context.
    let offline = renderer.render("lavars-board-02.jinja2", &context).unwrap();
    assert!(offline.contains("\nhostname: from-context\n"), "{offline}");
}

#[test]
fn the_first_directory_of_the_search_path_wins() {
    let first = Preloaded::new()
        .with("dev.jinja2", "{% extends 'type.jinja2' %}")
        .with("type.jinja2", "from: first");
    let renderer = Renderer::new(first);
    assert_eq!(
        renderer.render("dev.jinja2", &JobContext::empty()).unwrap(),
        "from: first"
    );

    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::write(a.join("type.jinja2"), "from: a\n").unwrap();
    fs::write(b.join("type.jinja2"), "from: b\n").unwrap();
    fs::write(b.join("only-b.jinja2"), "from: only b\n").unwrap();
    let renderer = Renderer::new(SearchPath::new([&a, &b]));
    let empty = JobContext::empty();
    assert_eq!(renderer.render("type.jinja2", &empty).unwrap(), "from: a");
    assert_eq!(
        renderer.render("only-b.jinja2", &empty).unwrap(),
        "from: only b"
    );
}

#[test]
fn a_changed_dictionary_file_is_picked_up_by_a_long_lived_renderer() {
    let dir = tempfile::tempdir().unwrap();
    let dict = dir.path().join("dev.jinja2");
    fs::write(&dict, "value: {{ 1 }}\n").unwrap();
    let renderer = Renderer::new(SearchPath::new([dir.path()]));
    let empty = JobContext::empty();
    assert_eq!(renderer.render("dev.jinja2", &empty).unwrap(), "value: 1");
    // A different length changes the file's stamp even within one mtime tick.
    fs::write(&dict, "value: {{ 1 + 1 }} changed\n").unwrap();
    assert_eq!(
        renderer.render("dev.jinja2", &empty).unwrap(),
        "value: 2 changed"
    );
}

#[test]
fn a_changed_device_type_template_changes_remembered_renders() {
    let dir = tempfile::tempdir().unwrap();
    let (devices, types) = (dir.path().join("devices"), dir.path().join("types"));
    fs::create_dir_all(&devices).unwrap();
    fs::create_dir_all(&types).unwrap();
    fs::write(devices.join("dev.jinja2"), "{% extends 'board.jinja2' %}\n").unwrap();
    fs::write(types.join("board.jinja2"), "{% include 'part.jinja2' %}\n").unwrap();
    fs::write(types.join("part.jinja2"), "console: ttyS0\n").unwrap();
    let renderer = Renderer::new(SearchPath::new([&devices, &types]));
    let empty = JobContext::empty();
    for _ in 0..3 {
        assert_eq!(
            renderer.render("dev.jinja2", &empty).unwrap(),
            "console: ttyS0"
        );
    }
    let source = "{% extends 'board.jinja2' %}";
    assert_eq!(
        renderer
            .render_source("text.jinja2", source, &empty)
            .unwrap(),
        "console: ttyS0"
    );
    // Two levels up from the dictionary; a different length changes the stamp.
    fs::write(types.join("part.jinja2"), "console: ttyAMA0\n").unwrap();
    assert_eq!(
        renderer.render("dev.jinja2", &empty).unwrap(),
        "console: ttyAMA0"
    );
    assert_eq!(
        renderer
            .render_source("text.jinja2", source, &empty)
            .unwrap(),
        "console: ttyAMA0"
    );
    // A different context is a different render.
    let other = yaml_context("x: 1\n");
    assert_eq!(
        renderer.render("dev.jinja2", &other).unwrap(),
        "console: ttyAMA0"
    );
}

#[test]
fn preloaded_templates_change_after_reload() {
    let mut renderer = Renderer::new(Preloaded::new().with("dev.jinja2", "a: 1"));
    let empty = JobContext::empty();
    assert_eq!(renderer.render("dev.jinja2", &empty).unwrap(), "a: 1");
    renderer.reload();
    assert_eq!(renderer.render("dev.jinja2", &empty).unwrap(), "a: 1");
}

#[test]
fn a_dictionary_held_as_text_renders_against_loaded_device_types() {
    let data = data();
    let renderer = Renderer::new(SearchPath::new([data.join("device-types")]));
    let source =
        "{% extends 'lavars-uboot-board.jinja2' %}\r\n{% set console_device = 'ttyAMA3' %}\r\n";
    let yaml = renderer
        .render_source("store:board-99.jinja2", source, &JobContext::empty())
        .unwrap();
    assert!(yaml.contains("- setenv console ttyAMA3,115200\n"), "{yaml}");

    let for_job = renderer
        .render_source_for_job(
            "board-99",
            "lavars-uboot-board",
            source,
            &JobContext::empty(),
        )
        .unwrap();
    assert!(for_job.contains("\nhostname: board-99\n"), "{for_job}");
}

#[test]
fn check_device_tells_template_and_dictionary_apart() {
    let loader = Preloaded::new()
        .with(
            "board.jinja2",
            "device_type: board\n{% block body %}{% endblock %}",
        )
        .with(
            "good-01.jinja2",
            "{% extends 'board.jinja2' %}{% block body %}\nok: true{% endblock %}",
        )
        .with("list-01.jinja2", "- not\n- a mapping")
        .with(
            "broken-01.jinja2",
            "{% extends 'board.jinja2' %}{% block body %}{{ x.y }}{% endblock %}",
        );
    let renderer = Renderer::new(loader);

    let good = renderer.check_device("good-01", "board");
    assert!(good.has_template && good.dictionary.is_ok() && good.is_valid());

    let no_type = renderer.check_device("good-01", "missing-type");
    assert!(!no_type.has_template && !no_type.is_valid());

    let list = renderer.check_device("list-01", "board");
    let err = list.dictionary.unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::NotAMapping);
    assert!(err.message.contains("not a mapping"), "{err}");

    let broken = renderer.check_device("broken-01", "board");
    assert_eq!(
        broken.dictionary.unwrap_err().kind,
        TemplateErrorKind::Render
    );

    let missing = renderer.check_device("absent-01", "board");
    let err = missing.dictionary.unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::NotFound);
    assert!(err.to_string().contains("absent-01.jinja2"), "{err}");
}

#[test]
fn job_contexts_must_be_mappings() {
    assert!(JobContext::from_yaml("", "empty.yaml").is_ok());
    assert!(JobContext::from_yaml("~\n", "null.yaml").is_ok());
    for bad in ["- a\n- b\n", "just text\n", "42\n"] {
        let err = JobContext::from_yaml(bad, "ctx.yaml").unwrap_err();
        assert_eq!(err.kind, TemplateErrorKind::BadContext);
        assert!(err.to_string().starts_with("ctx.yaml:"), "{err}");
    }
    let err = JobContext::from_yaml("a: [unclosed\n", "ctx.yaml").unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::BadContext);
    assert!(JobContext::from_serialize(&vec![1, 2]).is_err());
    let mut map = std::collections::BTreeMap::new();
    map.insert("arch", "arm64");
    assert!(JobContext::from_serialize(&map).is_ok());
}

#[test]
fn the_test_lab_devices_are_valid() {
    let data = data();
    let renderer = Renderer::new(SearchPath::new([
        data.join("devices"),
        data.join("device-types"),
    ]));
    for (hostname, device_type) in [
        ("lavars-board-01", "lavars-uboot-board"),
        ("lavars-board-02", "lavars-uboot-board"),
        ("lavars-macros-01", "lavars-macros"),
    ] {
        let check = renderer.check_device(hostname, device_type);
        assert!(check.is_valid(), "{hostname}: {check:?}");
    }
}
