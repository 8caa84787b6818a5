//! `lava-admin templates render`: the exact command line of the render contract, its
//! output on stdout with exit 0, and errors on stderr with exit 1.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lava-core/tests/data/templates")
}

fn lava_admin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lava-admin"))
        .args(args)
        .output()
        .expect("lava-admin runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn render_prints_what_jinja2_prints_and_exits_0() {
    let data = data();
    let types = data.join("device-types");
    let dictionary = data.join("devices/lavars-board-01.jinja2");
    let context = data.join("devices/lavars-board-01.context.yaml");
    let out = lava_admin(&[
        "templates",
        "render",
        "--device-types",
        types.to_str().unwrap(),
        "--context",
        context.to_str().unwrap(),
        dictionary.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let expected =
        fs::read_to_string(data.join("expected/lavars-board-01--lavars-board-01.context.txt"))
            .unwrap();
    // The CLI ends its output with a newline if the rendered text has none.
    let expected = if expected.ends_with('\n') {
        expected
    } else {
        format!("{expected}\n")
    };
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn every_device_types_dir_is_searched_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    fs::create_dir_all(&first).unwrap();
    fs::create_dir_all(&second).unwrap();
    fs::write(
        first.join("base.jinja2"),
        "base: first\n{% block body %}{% endblock %}\n",
    )
    .unwrap();
    fs::write(second.join("base.jinja2"), "base: second\n").unwrap();
    fs::write(
        second.join("board.jinja2"),
        "{% extends 'base.jinja2' %}{% block body %}board: {{ name }}{% endblock %}",
    )
    .unwrap();
    let dictionary = dir.path().join("dev-01.jinja2");
    fs::write(
        &dictionary,
        "{% extends 'board.jinja2' %}\n{% set name = 'dev-01' %}\n",
    )
    .unwrap();
    let out = lava_admin(&[
        "templates",
        "render",
        "--device-types",
        first.to_str().unwrap(),
        "--device-types",
        second.to_str().unwrap(),
        dictionary.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "base: first\nboard: dev-01\n");
}

#[test]
fn errors_go_to_stderr_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let types = dir.path().join("types");
    fs::create_dir_all(&types).unwrap();
    let broken = dir.path().join("broken.jinja2");
    fs::write(&broken, "a: 1\nb: {{ serial.port }}\n").unwrap();
    let list_context = dir.path().join("list.yaml");
    fs::write(&list_context, "- not a mapping\n").unwrap();
    let good = dir.path().join("good.jinja2");
    fs::write(&good, "a: 1\n").unwrap();
    let types = types.to_str().unwrap();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--device-types", types, broken.to_str().unwrap()],
            "broken.jinja2:2:",
        ),
        (
            vec![
                "--device-types",
                types,
                "--context",
                list_context.to_str().unwrap(),
                good.to_str().unwrap(),
            ],
            "must be a mapping",
        ),
        (
            vec!["--device-types", types, "/nonexistent/dev.jinja2"],
            "/nonexistent/dev.jinja2",
        ),
        (
            vec![
                "--device-types",
                types,
                "--context",
                "/nonexistent/ctx.yaml",
                good.to_str().unwrap(),
            ],
            "/nonexistent/ctx.yaml",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["templates", "render"];
        full.extend(args);
        let out = lava_admin(&full);
        assert_eq!(out.status.code(), Some(1), "{full:?}");
        assert!(out.stdout.is_empty(), "{full:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{full:?}: {stderr}");
    }
}

/// The device commands search every device-types directory of the lab, as the master does:
/// an admin whose templates live in `/usr/share/lava-server/device-types` (LAVA's second
/// directory) can add and render devices with lava-admin.
#[test]
fn device_commands_search_the_extra_device_types_directories() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lab");
    let share = dir.path().join("usr-share-lava-server-device-types");
    fs::create_dir_all(&share).unwrap();
    fs::write(
        share.join("board.jinja2"),
        "commands:\n  connect: telnet {{ console|default('ttyS0') }}\nactions: {}\ntimeouts: {}\n",
    )
    .unwrap();
    let dictionary = dir.path().join("board-01.jinja2");
    fs::write(
        &dictionary,
        "{% extends 'board.jinja2' %}\n{% set console = 'ttyAMA0' %}\n",
    )
    .unwrap();
    let admin = |args: &[&str]| {
        let mut all = vec![
            "--data-dir",
            data.to_str().unwrap(),
            "--device-types",
            share.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = lava_admin(&all);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    admin(&["workers", "add", "w1"]);
    admin(&["device-types", "add", "board"]);
    admin(&[
        "devices",
        "add",
        "board-01",
        "--device-type",
        "board",
        "--worker",
        "w1",
        "--dictionary",
        dictionary.to_str().unwrap(),
    ]);
    assert_eq!(
        admin(&["devices", "dict", "render", "board-01"]),
        "commands:\n  connect: telnet ttyAMA0\nactions: {}\ntimeouts: {}\n"
    );
    admin(&[
        "devices",
        "dict",
        "set",
        "board-01",
        dictionary.to_str().unwrap(),
    ]);
    // The same lab without the directory: the template is not found, and the error says so.
    let out = lava_admin(&[
        "--data-dir",
        data.to_str().unwrap(),
        "devices",
        "dict",
        "set",
        "board-01",
        dictionary.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("board.jinja2"),
        "{}",
        text(&out.stderr)
    );
}

/// `lava-admin jobs validate` judges files offline, as a submission would: valid ones with
/// LAVA's dispatcher warnings, refused ones with the key path, the line and exit 1.
#[test]
fn jobs_validate_checks_files_offline() {
    let dir = tempfile::tempdir().unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lab/job.yaml");
    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, "job_name: x\ndevice_type: qemu\n").unwrap();
    let out = lava_admin(&["jobs", "validate", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("job.yaml: valid\n"),
        "{}",
        text(&out.stdout)
    );
    let out = lava_admin(&[
        "jobs",
        "validate",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("required key not provided"),
        "{err}"
    );
    assert!(err.contains("(line 1)"), "{err}");
}
