//! The double run as the slave runs lava-run: real process, real log socket on 127.0.0.1.
//! Waits are bounded by `within`; nothing asserts how long anything takes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use lava_transport::curve::create_certificates;
use lava_transport::zeromq::{SocketOptions, ZmqLogSink, ZmqServer};
use lava_transport::LogSink;
use serde_json::Value;
use tokio::process::{Child, Command};

const DOUBLE: &str = env!("CARGO_BIN_EXE_lava-run-double");

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A job's work directory as the slave prepares it.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new(mode: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let job = format!(
            "job_name: double test\nmetadata:\n  lava-run-double: \"{mode}\"\nactions: []\n"
        );
        std::fs::write(dir.path().join("job.yaml"), job).unwrap();
        std::fs::write(
            dir.path().join("device.yaml"),
            "hostname: qemu01\nactions: {}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("dispatcher.yaml"), "").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// lava-slave's command line (without `nice`).
    fn command(&self, program: &Path, logging_url: Option<&str>) -> Command {
        let mut command = Command::new(program);
        command
            .arg(format!("--device={}", self.path("device.yaml").display()))
            .arg(format!(
                "--dispatcher={}",
                self.path("dispatcher.yaml").display()
            ))
            .arg(format!("--output-dir={}", self.path("out").display()))
            .arg("--job-id=42");
        if let Some(url) = logging_url {
            command.arg(format!("--logging-url={url}"));
        }
        command
            .arg(self.path("job.yaml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn description(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.path("out/description.yaml")).ok()?;
        serde_saphyr::from_str(&text).ok()
    }
}

fn sink() -> (ZmqLogSink, String) {
    let server = ZmqServer::plain();
    let sink = server
        .bind_log_sink("tcp://127.0.0.1:0", &SocketOptions::default())
        .unwrap();
    let url = sink.endpoint().to_owned();
    (sink, url)
}

/// Receives records until one satisfies `last`; returns them all (as JSON values: the
/// double's lines are ASCII, where LAVA's YAML flow mappings are JSON).
async fn records_until(sink: &mut ZmqLogSink, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut records = Vec::new();
    loop {
        let frames = within("a log record", sink.recv()).await.unwrap();
        assert_eq!(frames.len(), 2, "a record is [job_id, line]");
        assert_eq!(frames[0], b"42");
        let record: Value = serde_json::from_slice(&frames[1]).unwrap();
        let done = last(&record);
        records.push(record);
        if done {
            return records;
        }
    }
}

fn is_job_result(record: &Value) -> bool {
    record["lvl"] == "results"
        && record["msg"]["definition"] == "lava"
        && record["msg"]["case"] == "job"
}

async fn exit_code(child: &mut Child) -> Option<i32> {
    within("lava-run-double to exit", child.wait())
        .await
        .unwrap()
        .code()
}

#[tokio::test]
async fn pass_pushes_logs_and_writes_the_description() {
    let (mut sink, url) = sink();
    let work = Work::new("pass");
    let mut child = work.command(Path::new(DOUBLE), Some(&url)).spawn().unwrap();
    let records = records_until(&mut sink, is_job_result).await;
    assert_eq!(exit_code(&mut child).await, Some(0));

    let info = records.iter().filter(|r| r["lvl"] == "info").count();
    assert!(info >= 2, "{records:?}");
    for record in &records {
        assert!(
            record["dt"].as_str().is_some_and(|dt| dt.contains('T')),
            "{record}"
        );
    }
    let last = records.last().unwrap();
    assert_eq!(last["msg"]["result"], "pass");
    let description = work.description().unwrap();
    for key in ["compatibility", "device", "job", "pipeline"] {
        assert!(description.get(key).is_some(), "{key}");
    }
    assert_eq!(description["device"]["hostname"], "qemu01");
}

#[tokio::test]
async fn fail_ends_with_a_failed_job_result() {
    let (mut sink, url) = sink();
    let work = Work::new("fail");
    let mut child = work.command(Path::new(DOUBLE), Some(&url)).spawn().unwrap();
    let records = records_until(&mut sink, is_job_result).await;
    assert_eq!(exit_code(&mut child).await, Some(1));
    let last = records.last().unwrap();
    assert_eq!(
        (&last["msg"]["result"], &last["msg"]["error_type"]),
        (&Value::from("fail"), &Value::from("Job"))
    );
    assert!(work.description().is_some());
}

#[tokio::test]
async fn crash_leaves_no_description() {
    let (mut sink, url) = sink();
    let work = Work::new("crash");
    let child = work.command(Path::new(DOUBLE), Some(&url)).spawn().unwrap();
    let output = within("crash", child.wait_with_output()).await.unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Traceback"));
    assert!(!work.path("out/description.yaml").exists());
    let records = records_until(&mut sink, |r| r["msg"] == "about to crash").await;
    assert!(!records.iter().any(is_job_result));
}

#[tokio::test]
async fn term_cancels_a_long_job_and_cmdline_says_lava_run() {
    let (mut sink, url) = sink();
    let work = Work::new("pass:600");
    // Under another name, the double re-executes itself as `lava-run`.
    let renamed = work.path("fake-dispatcher");
    std::os::unix::fs::symlink(DOUBLE, &renamed).unwrap();
    let mut child = work.command(&renamed, Some(&url)).spawn().unwrap();
    records_until(&mut sink, |r| r["msg"]["case"] == "validate").await;
    let pid = child.id().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("lava-run"),
        "{cmdline:?}"
    );

    kill("TERM", pid);
    let records = records_until(&mut sink, is_job_result).await;
    assert_eq!(exit_code(&mut child).await, Some(1));
    let last = records.last().unwrap();
    assert_eq!(last["msg"]["error_type"], "Canceled");
    assert!(records.iter().any(|r| r["lvl"] == "exception"));
    assert!(work.description().is_some());
}

#[tokio::test]
async fn ignore_term_needs_kill() {
    let (mut sink, url) = sink();
    let work = Work::new("ignore-term:600");
    let mut child = work.command(Path::new(DOUBLE), Some(&url)).spawn().unwrap();
    records_until(&mut sink, |r| r["msg"]["case"] == "validate").await;
    let pid = child.id().unwrap();
    kill("TERM", pid);
    records_until(&mut sink, |r| r["lvl"] == "warning").await;
    // The TERM was handled and ignored: the process is still there.
    assert!(child.try_wait().unwrap().is_none());
    kill("KILL", pid);
    assert_eq!(exit_code(&mut child).await, None);
    assert!(work.description().is_none());
}

#[tokio::test]
async fn curve_logging_with_lava_certificates() {
    let certs = tempfile::tempdir().unwrap();
    let (master_public, master_secret) = create_certificates(certs.path(), "master").unwrap();
    let slaves = certs.path().join("slaves");
    std::fs::create_dir(&slaves).unwrap();
    let (slave_public, slave_secret) = create_certificates(&slaves, "slave").unwrap();
    std::fs::copy(&slave_public, certs.path().join("slave.key")).unwrap();
    let server = ZmqServer::curve(&master_secret, certs.path()).unwrap();
    let mut sink = server
        .bind_log_sink("tcp://127.0.0.1:0", &SocketOptions::default())
        .unwrap();
    let url = sink.endpoint().to_owned();

    let work = Work::new("pass");
    let mut command = work.command(Path::new(DOUBLE), Some(&url));
    command
        .arg("--master-cert")
        .arg(&master_public)
        .arg("--slave-cert")
        .arg(&slave_secret);
    let mut child = command.spawn().unwrap();
    let records = records_until(&mut sink, is_job_result).await;
    assert_eq!(records.last().unwrap()["msg"]["result"], "pass");
    assert_eq!(exit_code(&mut child).await, Some(0));

    // A certificate that does not exist: lava-run refuses to start.
    let mut command = work.command(Path::new(DOUBLE), Some(&url));
    command
        .arg("--master-cert")
        .arg(certs.path().join("missing.key"))
        .arg("--slave-cert")
        .arg(&slave_secret);
    let output = within("refusal", command.spawn().unwrap().wait_with_output())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("failed to setup logging"));
}

#[tokio::test]
async fn without_a_logging_url_records_go_to_stderr() {
    let work = Work::new("pass");
    let child = work.command(Path::new(DOUBLE), None).spawn().unwrap();
    let output = within("exit", child.wait_with_output()).await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert!(is_job_result(&last), "{stderr}");
}

#[tokio::test]
async fn unreadable_files_are_a_usage_error() {
    let work = Work::new("pass");
    std::fs::remove_file(work.path("device.yaml")).unwrap();
    let child = work.command(Path::new(DOUBLE), None).spawn().unwrap();
    let output = within("exit", child.wait_with_output()).await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("device.yaml"));
}

fn kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn an_invalid_job_definition_fails_with_an_empty_description() {
    let (mut sink, url) = sink();
    let work = Work::new("pass");
    std::fs::write(work.path("job.yaml"), "actions: [unclosed\n").unwrap();
    let mut child = work.command(Path::new(DOUBLE), Some(&url)).spawn().unwrap();
    let records = records_until(&mut sink, is_job_result).await;
    assert_eq!(exit_code(&mut child).await, Some(1));
    let last = records.last().unwrap();
    assert_eq!(last["msg"]["error_type"], "Job");
    assert!(last["msg"]["error_msg"]
        .as_str()
        .unwrap()
        .contains("job.yaml"));
    // lava-run writes an empty description when the job could not be parsed.
    assert_eq!(
        std::fs::read_to_string(work.path("out/description.yaml")).unwrap(),
        ""
    );
}

#[tokio::test]
async fn with_the_log_endpoint_down_it_waits_to_deliver_before_describing_and_exiting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let work = Work::new("pass");
    let mut child = work.command(Path::new(DOUBLE), Some(&url)).spawn().unwrap();
    // Give it time to finish its work, then check it is still waiting for the sink.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with undelivered records"
    );
    assert!(
        work.description().is_none(),
        "described before its logs were delivered"
    );

    let server = ZmqServer::plain();
    let mut sink = server
        .bind_log_sink(&url, &SocketOptions::default())
        .unwrap();
    let records = records_until(&mut sink, is_job_result).await;
    assert!(records.len() >= 3, "{records:?}");
    assert_eq!(exit_code(&mut child).await, Some(0));
    assert!(work.description().is_some());
}

#[tokio::test]
async fn validate_describes_without_running() {
    let (mut sink, url) = sink();
    let work = Work::new("fail:600");
    let mut command = work.command(Path::new(DOUBLE), Some(&url));
    command.arg("--validate");
    let mut child = command.spawn().unwrap();
    let records = records_until(&mut sink, is_job_result).await;
    assert_eq!(exit_code(&mut child).await, Some(0));
    assert_eq!(records.last().unwrap()["msg"]["result"], "pass");
    assert!(!records.iter().any(|r| r["msg"]["case"] == "run"));
    assert!(work.description().is_some());
}
