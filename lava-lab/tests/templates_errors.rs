//! What goes wrong is named: the file, the line and the Jinja2 construct at fault; and a
//! hostile dictionary cannot hang or flood the renderer.

use std::fs;

use lava_core::templates::{JobContext, Limits, Preloaded, Renderer, TemplateErrorKind};
use lava_lab::SearchPath;
use proptest::prelude::*;

fn render(loader: Preloaded, name: &str) -> Result<String, lava_core::templates::TemplateError> {
    Renderer::new(loader).render(name, &JobContext::empty())
}

#[test]
fn a_syntax_error_names_file_line_and_construct() {
    let loader = Preloaded::new().with("dev.jinja2", "a: 1\nb: 2\n{% if x %}\nc: 3\n");
    let err = render(loader, "dev.jinja2").unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Syntax);
    assert_eq!(err.file, "dev.jinja2");
    assert!(err.line >= 3, "{err}");
    assert!(err.message.contains("syntax error"), "{err}");
}

#[test]
fn a_render_error_in_a_parent_names_the_parent_file() {
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("device-types");
    fs::create_dir_all(&types).unwrap();
    fs::write(
        types.join("board.jinja2"),
        "device_type: board\nserial: {{ serial.port }}\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("dev.jinja2"),
        "{% extends 'board.jinja2' %}\n",
    )
    .unwrap();
    let renderer = Renderer::new(SearchPath::new([dir.path().to_path_buf(), types.clone()]));
    let err = renderer
        .render("dev.jinja2", &JobContext::empty())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Render);
    assert_eq!(err.file, types.join("board.jinja2").display().to_string());
    assert_eq!(err.line, 2);
    assert_eq!(err.construct.as_deref(), Some("serial.port"));
    let shown = err.to_string();
    assert!(shown.contains("board.jinja2:2:"), "{shown}");
    assert!(shown.contains("serial.port"), "{shown}");
}

#[test]
fn a_missing_parent_is_template_not_found() {
    let loader = Preloaded::new().with("dev.jinja2", "{% extends 'nosuch-type.jinja2' %}\n");
    let err = render(loader, "dev.jinja2").unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::NotFound);
    assert!(err.message.contains("nosuch-type.jinja2"), "{err}");
    assert_eq!(err.line, 1, "{err}");
}

#[test]
fn template_names_cannot_climb_out_of_the_search_path() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("devices");
    fs::create_dir_all(&inner).unwrap();
    fs::write(dir.path().join("secret.jinja2"), "secret: 1\n").unwrap();
    fs::write(
        inner.join("dev.jinja2"),
        "{% extends '../secret.jinja2' %}\n",
    )
    .unwrap();
    let renderer = Renderer::new(SearchPath::new([inner]));
    let err = renderer
        .render("dev.jinja2", &JobContext::empty())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::NotFound);
}

#[test]
fn a_template_that_is_not_utf8_is_unreadable_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("dev.jinja2"), b"a: \xff\xfe\n").unwrap();
    let renderer = Renderer::new(SearchPath::new([dir.path()]));
    let err = renderer
        .render("dev.jinja2", &JobContext::empty())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Unreadable);
    assert!(err.message.contains("not UTF-8"), "{err}");
}

#[test]
fn a_runaway_loop_runs_out_of_fuel() {
    let loader = Preloaded::new().with(
        "dev.jinja2",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    );
    let err = render(loader, "dev.jinja2").unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::OutOfFuel);
    assert!(err.message.contains("fuel"), "{err}");
}

#[test]
fn output_beyond_the_limit_stops_rendering() {
    let loader = Preloaded::new().with(
        "dev.jinja2",
        "{% for i in range(1000) %}line {{ i }} of padding text\n{% endfor %}",
    );
    let limits = Limits {
        max_output: 1000,
        ..Limits::default()
    };
    let err = Renderer::with_limits(loader.clone(), limits)
        .render("dev.jinja2", &JobContext::empty())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::OutputTooLarge);
    assert!(err.message.contains("1000 bytes"), "{err}");
    // The same template fits the default limit.
    assert!(render(loader, "dev.jinja2").is_ok());
}

#[test]
fn a_template_that_extends_itself_is_an_error() {
    let loader = Preloaded::new()
        .with("a.jinja2", "{% extends 'b.jinja2' %}")
        .with("b.jinja2", "{% extends 'a.jinja2' %}");
    assert!(render(loader, "a.jinja2").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any text as a dictionary gives text or an error, within the limits.
    #[test]
    fn any_dictionary_text_renders_or_fails_cleanly(source in "(\\{[{%#]-?|[-+]?[%}#]\\}|[a-z_]{1,8}|[ .|~()\\[\\],'\"0-9=+*/<>!-]|\n|extends|block|endblock|for|in|endfor|if|endif|set|raw|endraw|macro|endmacro|super|self|range|loop){0,60}") {
        let renderer = Renderer::with_limits(
            Preloaded::new().with("base.jinja2", "{% block body %}{% endblock %}"),
            Limits { fuel: 20_000, max_output: 64 * 1024 },
        );
        match renderer.render_source("fuzz.jinja2", &source, &JobContext::empty()) {
            Ok(text) => prop_assert!(text.len() <= 64 * 1024),
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }
}
