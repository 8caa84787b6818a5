//! Issue 15, smaller items: `lava-admin … | head` does not panic when the reader goes away,
//! and `--log-file -` writes colour only to a terminal.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lava-core/tests/data/templates")
}

#[test]
fn a_reader_that_goes_away_ends_lava_admin_without_a_panic() {
    // The reader is closed before lava-admin writes: its first write meets a broken pipe.
    let data = data();
    let types = data.join("device-types");
    let dictionary = data.join("devices/lavars-board-01.jinja2");
    let context = data.join("devices/lavars-board-01.context.yaml");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_lava-admin"))
        .args(["templates", "render", "--device-types"])
        .arg(&types)
        .arg("--context")
        .arg(&context)
        .arg(&dictionary)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("lava-admin runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by SIGPIPE, as `cat`, `ls` and LAVA's Python tools are.
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

#[test]
fn log_lines_to_a_pipe_carry_no_colour() {
    // lava-slave logs its start to `--log-file -` (standard output, as LAVA's slave); here
    // that is a pipe, so the lines must be plain (tracing colours the level at a terminal).
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lava-slave"))
        .args(["--hostname", "w1", "--master", "tcp://127.0.0.1:9"])
        .args(["--socket-addr", "tcp://127.0.0.1:9"])
        .arg("--slave-dir")
        .arg(dir.path().join("slave"))
        .arg("--download-dir")
        .arg(dir.path().join("download"))
        .args(["--log-file", "-", "--level", "DEBUG"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lava-slave runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a log line").expect("text");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("INFO"), "{first:?}");
    assert!(!first.contains('\u{1b}'), "ANSI codes in {first:?}");
}

#[test]
fn master_log_lines_to_a_pipe_carry_no_colour() {
    // lava-master logs to standard error with `--log-file -`.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lava-master"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--master-socket", "tcp://127.0.0.1:0"])
        .args(["--log-socket", "tcp://127.0.0.1:0"])
        .args(["--http", "127.0.0.1:0"])
        .args(["--log-file", "-", "--level", "DEBUG"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lava-master runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().expect("a log line").expect("text");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        ["DEBUG", "INFO", "WARN", "ERROR"]
            .iter()
            .any(|l| first.contains(l)),
        "{first:?}"
    );
    assert!(!first.contains('\u{1b}'), "ANSI codes in {first:?}");
}
