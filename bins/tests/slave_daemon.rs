//! The real `lava-slave` binary driven by a scripted master over ZeroMQ on 127.0.0.1, running
//! the lava-run test double (`tests/lava-run-double`) as its lava-run.
//!
//! The double is a binary of another package, so `CARGO_BIN_EXE_` does not name it: the
//! tests build it with `cargo build -p lava-run-double` (a no-op when it is fresh) and take it
//! from the profile directory this test executable runs from (`target/debug`).
//!
//! Every wait is bounded (a test fails after [`WAIT`] rather than hang); none measures
//! time. The slave's hidden timer options shorten the job check (END re-sends) and the cancel
//! escalation, so a KILL arrives within seconds instead of 120 s.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lava_core::protocol::{xz, Message};
use lava_transport::curve::cert::create_certificates;
use lava_transport::zeromq::{connect_slave, SocketOptions, ZmqLogSink, ZmqMaster, ZmqServer};
use lava_transport::{LogSink, MasterTransport, PeerId, SlaveTransport};
use rusqlite::Connection;
use slave_support::lava_run_double;

mod slave_support;

/// The longest any single expectation may take.
const WAIT: Duration = Duration::from_secs(20);

const HOSTNAME: &str = "worker-under-test";

/// A master's two sockets, scripted by the test.
struct FakeMaster {
    control: ZmqMaster,
    logs: ZmqLogSink,
    peer: PeerId,
}

impl FakeMaster {
    fn bind(server: ZmqServer) -> Self {
        let options = SocketOptions::default();
        FakeMaster {
            control: server
                .bind_master("tcp://127.0.0.1:0", &options)
                .expect("bind master"),
            logs: server
                .bind_log_sink("tcp://127.0.0.1:0", &options)
                .expect("bind log sink"),
            peer: PeerId::from(HOSTNAME),
        }
    }

    async fn send(&mut self, message: Message) {
        self.control
            .send(&self.peer, message.encode())
            .await
            .expect("send to the slave");
    }

    async fn send_frames(&mut self, frames: Vec<Vec<u8>>) {
        self.control
            .send(&self.peer, frames)
            .await
            .expect("send to the slave");
    }

    /// The next message from the slave that `wanted` accepts; PINGs are answered with PONG 20
    /// on the way, anything else is dropped. Panics after [`WAIT`].
    async fn expect(&mut self, what: &str, wanted: impl Fn(&Message) -> bool) -> Message {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let received = tokio::time::timeout_at(deadline, self.control.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} from the slave"))
                .expect("master socket");
            let (peer, frames) = received;
            assert_eq!(peer, self.peer, "message from an unexpected identity");
            let message = Message::decode(&frames).expect("the slave sends valid frames");
            if wanted(&message) {
                return message;
            }
            if message == Message::Ping {
                self.send(Message::Pong { interval: 20 }).await;
            }
        }
    }

    /// Waits for HELLO and answers HELLO_OK.
    async fn accept_hello(&mut self) {
        let hello = self
            .expect("HELLO", |m| matches!(m, Message::Hello { .. }))
            .await;
        assert_eq!(
            hello,
            Message::Hello {
                protocol_version: 3,
                lava_version: Some("2020.05".into())
            }
        );
        self.send(Message::HelloOk).await;
    }

    async fn expect_end(&mut self, job: i64) -> (String, Vec<u8>) {
        match self
            .expect(
                &format!("END {job}"),
                |m| matches!(m, Message::End { job_id, .. } if *job_id == job),
            )
            .await
        {
            Message::End {
                errors,
                description,
                ..
            } => (errors, description),
            _ => unreachable!("filtered above"),
        }
    }

    async fn expect_start_ok(&mut self, job: i64) {
        self.expect(&format!("START_OK {job}"), |m| {
            *m == Message::StartOk { job_id: job }
        })
        .await;
    }

    /// Log lines of `job` until its final `lava`/`job` result.
    async fn logs_until_job_result(&mut self, job: i64) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut lines = Vec::new();
        loop {
            let frames = tokio::time::timeout_at(deadline, self.logs.recv())
                .await
                .unwrap_or_else(|_| panic!("job {job}: no final result in the logs: {lines:?}"))
                .expect("log socket");
            assert_eq!(frames.len(), 2, "log records are [job id, line]");
            if frames[0] != job.to_string().as_bytes() {
                continue;
            }
            let line = String::from_utf8(frames[1].clone()).expect("UTF-8 log line");
            let last = line.contains(r#""case": "job""#);
            lines.push(line);
            if last {
                return lines;
            }
        }
    }
}

/// A `lava-slave` process and its directory.
struct SlaveProcess {
    child: Child,
}

/// Where one test's slave lives; kills every process of the test on drop.
struct Lab {
    dir: tempfile::TempDir,
    master: FakeMaster,
    extra: Vec<String>,
}

impl Lab {
    fn new(extra: &[&str]) -> Self {
        Self::with_server(ZmqServer::plain(), tempfile::tempdir().unwrap(), extra)
    }

    fn with_server(server: ZmqServer, dir: tempfile::TempDir, extra: &[&str]) -> Self {
        Lab {
            dir,
            master: FakeMaster::bind(server),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn slave_dir(&self) -> PathBuf {
        self.dir.path().join("slave")
    }

    fn download_dir(&self) -> PathBuf {
        self.dir.path().join("download")
    }

    fn work_dir(&self, name: &str) -> PathBuf {
        self.slave_dir().join("tmp").join(name)
    }

    fn start_slave(&self) -> SlaveProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lava-slave"));
        if !self.extra.iter().any(|arg| arg == "--lava-run") {
            command.arg("--lava-run").arg(lava_run_double());
        }
        let child = command
            .args(["--hostname", HOSTNAME, "--master"])
            .arg(self.master.control.endpoint())
            .arg("--socket-addr")
            .arg(self.master.logs.endpoint())
            .arg("--slave-dir")
            .arg(self.slave_dir())
            .arg("--download-dir")
            .arg(self.download_dir())
            .arg("--log-file")
            .arg(self.dir.path().join("slave.log"))
            .args(["--level", "DEBUG", "--job-check-interval", "0.5"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("start lava-slave");
        SlaveProcess { child }
    }

    fn table(&self) -> Connection {
        Connection::open(self.slave_dir().join("db.sqlite3")).expect("open the job table")
    }

    /// `(pid, status)` of the job's row, if any.
    fn row(&self, job: i64) -> Option<(i64, i64)> {
        self.table()
            .query_row("SELECT pid, status FROM jobs WHERE id = ?1", [job], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .ok()
    }

    /// Polls `condition` every 50 ms, at most [`WAIT`].
    async fn wait_for(&self, what: &str, condition: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !condition() {
            if tokio::time::Instant::now() > deadline {
                panic!("{what}: not within {WAIT:?}\n{}", self.slave_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn slave_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slave.log")).unwrap_or_default()
    }

    /// Pids of the lava-run doubles of this lab (their command line names its directory).
    fn lava_runs(&self) -> Vec<u32> {
        let marker = self.dir.path().to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("lava-run") && c.contains(&marker) && !c.contains("lava-slave")
                })
            })
            .collect()
    }

    /// A lava-run for `job` in `<slave-dir>/tmp/<job>` that no slave started (the test is
    /// its parent, so it stays a zombie after it exits until the test waits for it).
    fn orphan_lava_run(&self, job: i64, mode: &str) -> Child {
        let base = self.work_dir(&job.to_string());
        std::fs::create_dir_all(&base).unwrap();
        for (name, text) in [
            ("job.yaml", "job_name: orphan\n"),
            ("device.yaml", "hostname: qemu01\n"),
            ("dispatcher.yaml", ""),
        ] {
            std::fs::write(base.join(name), text).unwrap();
        }
        let at = |name: &str| base.join(name).display().to_string();
        let child = Command::new(lava_run_double())
            .arg(format!("--device={}", at("device.yaml")))
            .arg(format!("--dispatcher={}", at("dispatcher.yaml")))
            .arg(format!("--output-dir={}", base.display()))
            .arg(format!("--job-id={job}"))
            .arg(format!("--logging-url={}", self.master.logs.endpoint()))
            .arg(at("job.yaml"))
            .env("LAVA_RUN_DOUBLE_MODE", mode)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_cmdline(child.id());
        child
    }

    /// A row as LAVA's Python slave writes it: its CREATE, and INSERT of `str()` values.
    fn insert_row(&self, id: &str, pid: &str, status: &str, last_update: &str) {
        std::fs::create_dir_all(self.slave_dir()).unwrap();
        let conn = self.table();
        conn.execute(
            "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, pid INTEGER, \
             status INTEGER, last_update INTEGER, prefix VARCHAR(100) DEFAULT '')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO jobs VALUES(?, ?, ?, ?, '')",
            [id, pid, status, last_update],
        )
        .unwrap();
    }

    fn lava_run_of(&self, job: i64) -> Option<u32> {
        let argument = format!("--job-id={job}");
        self.lava_runs().into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == argument.as_bytes()))
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for pid in self.lava_runs() {
            // SAFETY: kill takes integers; a pid that has gone yields ESRCH.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

impl Drop for SlaveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SlaveProcess {
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the slave");
        let status = self.child.wait().expect("reap the slave");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    async fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill takes integers; the child has not been reaped yet.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the slave") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the slave ignored SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn start(job_id: i64, mode: &str, dispatcher: &str, env_dut: &str) -> Message {
    Message::Start {
        job_id,
        job: format!(
            "job_name: test {job_id}\nmetadata:\n  lava-run-double: \"{mode}\"\nactions: []\n"
        ),
        device: "hostname: qemu01\ndevice_type: qemu\n".into(),
        dispatcher: dispatcher.into(),
        env: "overrides:\n  LAVA_TEST_VAR: set-by-env-yaml\n".into(),
        env_dut: env_dut.into(),
    }
}

/// The description of an END, decompressed and parsed: it must be a YAML mapping.
fn description(compressed: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let text = xz::decompress(compressed, Default::default()).expect("an xz description");
    let text = String::from_utf8(text).expect("UTF-8 description");
    match serde_saphyr::from_str::<serde_json::Value>(&text).expect("YAML description") {
        serde_json::Value::Object(map) => map,
        other => panic!("description is not a mapping: {other}"),
    }
}

#[tokio::test]
async fn a_job_runs_ends_and_is_forgotten_after_end_ok() {
    let mut lab = Lab::new(&[]);
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;

    std::fs::create_dir_all(lab.download_dir().join("t-11")).unwrap();
    lab.master
        .send(start(11, "pass:2", "prefix: t-\n", "dut: {}\n"))
        .await;
    lab.master.expect_start_ok(11).await;
    let base = lab.work_dir("t-11");
    assert_eq!(
        std::fs::read_to_string(base.join("env.dut.yaml")).unwrap(),
        "dut: {}\n"
    );
    assert_eq!(
        std::fs::read_to_string(base.join("dispatcher.yaml")).unwrap(),
        "prefix: t-\n"
    );
    let (pid, status) = lab.row(11).expect("row of job 11");
    assert_eq!(status, 0, "RUNNING");
    let pid = u32::try_from(pid).unwrap();
    // /proc may show nothing while `nice` execs lava-run: look until it settles.
    lab.wait_for("lava-run of job 11 seen", || {
        lab.lava_run_of(11) == Some(pid)
    })
    .await;
    // Its environment is the slave's, changed as env.yaml says.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(environ
        .split(|b| *b == 0)
        .any(|var| var == b"LAVA_TEST_VAR=set-by-env-yaml"));
    // It inherits none of the slave's files (the job table, the slave's log).
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        if let Ok(target) = std::fs::read_link(fd.unwrap().path()) {
            let target = target.to_string_lossy().into_owned();
            assert!(
                !target.contains("db.sqlite3") && !target.ends_with("slave.log"),
                "lava-run inherited {target}"
            );
        }
    }
    assert!(base.join("stdout").exists() && base.join("stderr").exists());

    // START again while it runs: START_OK, and no second lava-run.
    lab.master
        .send(start(11, "pass:2", "prefix: t-\n", "dut: {}\n"))
        .await;
    lab.master.expect_start_ok(11).await;
    assert_eq!(lab.lava_runs().len(), 1);

    let lines = lab.master.logs_until_job_result(11).await;
    assert!(
        lines.iter().any(|l| l.contains("running: 1/2 s")),
        "{lines:?}"
    );

    let (errors, compressed) = lab.master.expect_end(11).await;
    assert_eq!(errors, "");
    let description = description(&compressed);
    for key in ["compatibility", "device", "job", "pipeline"] {
        assert!(description.contains_key(key), "{key} missing");
    }
    assert_eq!(lab.row(11).map(|r| r.1), Some(2), "FINISHED before END");

    // Not acknowledged: END comes again, with the same payload.
    let (errors_again, compressed_again) = lab.master.expect_end(11).await;
    assert_eq!((errors_again, compressed_again), (errors, compressed));

    lab.master.send(Message::EndOk { job_id: 11 }).await;
    lab.wait_for("row of job 11 deleted", || lab.row(11).is_none())
        .await;
    lab.wait_for("work dirs of job 11 removed", || {
        !base.exists() && !lab.download_dir().join("t-11").exists()
    })
    .await;
    assert!(lab.download_dir().exists(), "only the job's directory goes");
}

#[tokio::test]
async fn cancel_terminates_lava_run_and_kills_one_that_ignores_term() {
    let mut lab = Lab::new(&["--cancel-term-again", "1", "--cancel-kill", "2"]);
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;

    lab.master.send(start(21, "pass:60", "", "")).await;
    lab.master.send(start(22, "ignore-term:60", "", "")).await;
    lab.master.expect_start_ok(21).await;
    lab.master.expect_start_ok(22).await;
    // Cancel once both lava-runs have their signal handlers (they log after that).
    for job in [21, 22] {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frames = tokio::time::timeout_at(deadline, lab.master.logs.recv())
                .await
                .expect("log records")
                .unwrap();
            if frames[0] == job.to_string().as_bytes() {
                break;
            }
        }
    }
    lab.master.send(Message::Cancel { job_id: 21 }).await;
    lab.master.send(Message::Cancel { job_id: 22 }).await;

    // TERM: lava-run cancels the job and still describes it.
    let (_, compressed) = lab.master.expect_end(21).await;
    assert!(description(&compressed).contains_key("job"));
    // TERM ignored, TERM again, then KILL: no description.
    let (_, compressed) = lab.master.expect_end(22).await;
    assert!(
        compressed.is_empty(),
        "a killed lava-run leaves no description"
    );
    assert!(lab.slave_log().contains("Kill sent to lava-run"));
    assert_eq!(lab.lava_runs(), Vec::<u32>::new());

    // CANCEL after the end re-sends END rather than signal anything.
    lab.master.send(Message::Cancel { job_id: 22 }).await;
    lab.master.expect_end(22).await;
}

#[tokio::test]
async fn unknown_jobs_get_an_empty_end_and_garbage_is_survived() {
    let mut lab = Lab::new(&[]);
    let _slave = lab.start_slave();
    // Before HELLO_OK anything but HELLO_OK is dropped and answered by HELLO_RETRY.
    lab.master
        .expect("HELLO", |m| matches!(m, Message::Hello { .. }))
        .await;
    lab.master.send(Message::Status { job_id: 30 }).await;
    lab.master
        .expect("HELLO_RETRY", |m| matches!(m, Message::HelloRetry { .. }))
        .await;
    lab.master.send(Message::HelloOk).await;

    for garbage in [
        vec![b"START".to_vec(), b"x".to_vec()],
        vec![b"NOPE".to_vec()],
        vec![b"END_OK".to_vec(), b"\xff".to_vec()],
        vec![],
    ] {
        lab.master.send_frames(garbage).await;
    }
    lab.master.send(Message::Status { job_id: 31 }).await;
    lab.master.send(Message::Cancel { job_id: 32 }).await;
    for job in [31, 32] {
        assert_eq!(
            lab.master.expect_end(job).await,
            (String::new(), Vec::new())
        );
    }
    assert_eq!(lab.row(30), None, "the STATUS before HELLO_OK was dropped");
    for job in [31, 32] {
        assert_eq!(lab.row(job), Some((0, 2)));
        lab.master.send(Message::EndOk { job_id: job }).await;
    }
    lab.wait_for("stub rows deleted", || {
        lab.row(31).is_none() && lab.row(32).is_none()
    })
    .await;
}

#[tokio::test]
async fn a_slave_killed_mid_job_restarts_and_ends_the_job_it_left_running() {
    let mut lab = Lab::new(&[]);
    let mut slave = lab.start_slave();
    lab.master.accept_hello().await;
    lab.master.send(start(41, "pass:4", "", "")).await;
    lab.master.expect_start_ok(41).await;
    let pid = u32::try_from(lab.row(41).expect("row of job 41").0).unwrap();
    lab.wait_for("lava-run of job 41 seen", || {
        lab.lava_run_of(41) == Some(pid)
    })
    .await;

    slave.kill9();
    assert_eq!(
        lab.lava_run_of(41),
        Some(pid),
        "lava-run survives the slave"
    );

    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    let (_, compressed) = lab.master.expect_end(41).await;
    assert!(description(&compressed).contains_key("pipeline"));
    let log = lab.slave_log();
    assert!(log.contains("job restored from the table"), "{log}");
    assert_eq!(
        log.matches("lava-run started").count(),
        1,
        "the job ran once: {log}"
    );
    lab.master.send(Message::EndOk { job_id: 41 }).await;
    lab.wait_for("row of job 41 deleted", || lab.row(41).is_none())
        .await;
}

#[tokio::test]
async fn sigterm_stops_the_slave_but_not_lava_run() {
    let mut lab = Lab::new(&[]);
    let mut slave = lab.start_slave();
    lab.master.accept_hello().await;
    lab.master.send(start(51, "pass:4", "", "")).await;
    lab.master.expect_start_ok(51).await;
    let pid = u32::try_from(lab.row(51).expect("row of job 51").0).unwrap();
    lab.wait_for("lava-run of job 51 seen", || {
        lab.lava_run_of(51) == Some(pid)
    })
    .await;

    let status = slave.terminate().await;
    assert!(status.success(), "graceful stop: {status:?}");
    assert_eq!(lab.lava_run_of(51), Some(pid), "lava-run keeps running");
    assert_eq!(lab.row(51).map(|r| r.1), Some(0), "row kept RUNNING");

    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    // Running still (START_OK) or already over (END), never started again.
    lab.master.send(Message::Status { job_id: 51 }).await;
    lab.master
        .expect("START_OK or END 51", |m| {
            m.job_id() == Some(51) && matches!(m, Message::StartOk { .. } | Message::End { .. })
        })
        .await;
    let (_, compressed) = lab.master.expect_end(51).await;
    assert!(description(&compressed).contains_key("device"));
    assert_eq!(lab.slave_log().matches("lava-run started").count(), 1);
}

#[tokio::test]
async fn a_job_table_written_by_lavas_python_slave_is_read() {
    let mut lab = Lab::new(&[]);
    std::fs::create_dir_all(lab.work_dir("61")).unwrap();
    std::fs::write(lab.work_dir("61").join("description.yaml"), "job: {a: 1}\n").unwrap();
    std::fs::write(lab.work_dir("61").join("stderr"), "warning: x\n").unwrap();
    std::fs::create_dir_all(lab.work_dir("p-62")).unwrap();
    // A lava-run that has gone (its pid now names no lava-run of job 62).
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    {
        // What LAVA 2020.05's slave does: this CREATE, and INSERTs of str() values.
        let conn = lab.table();
        conn.execute(
            "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, pid INTEGER, \
             status INTEGER, last_update INTEGER, prefix VARCHAR(100) DEFAULT '')",
            [],
        )
        .unwrap();
        for (id, pid, status, prefix) in [
            ("61", "0".to_owned(), "2", ""),
            ("62", gone_pid.to_string(), "0", "p-"),
        ] {
            conn.execute(
                "INSERT INTO jobs VALUES(?, ?, ?, ?, ?)",
                [id, pid.as_str(), status, "1588334400", prefix],
            )
            .unwrap();
        }
    }
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    let (errors, compressed) = lab.master.expect_end(61).await;
    assert_eq!(errors, "warning: x\n");
    assert_eq!(
        xz::decompress(&compressed, Default::default()).unwrap(),
        b"job: {a: 1}\n"
    );
    assert_eq!(lab.master.expect_end(62).await, (String::new(), Vec::new()));
    assert_eq!(lab.row(62), Some((i64::from(gone_pid), 2)));
    for job in [61, 62] {
        lab.master.send(Message::EndOk { job_id: job }).await;
    }
    lab.wait_for("rows and dirs removed", || {
        lab.row(61).is_none()
            && lab.row(62).is_none()
            && !lab.work_dir("61").exists()
            && !lab.work_dir("p-62").exists()
    })
    .await;
}

#[tokio::test]
async fn with_curve_the_slave_and_its_lava_run_talk_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let slaves = certs.join("slaves");
    std::fs::create_dir_all(&slaves).unwrap();
    let (_, master_secret) = create_certificates(&certs, "master").unwrap();
    // Named after the worker: a certificate admits the worker it names only.
    let (slave_public, slave_secret) = create_certificates(&certs, HOSTNAME).unwrap();
    std::fs::copy(&slave_public, slaves.join(format!("{HOSTNAME}.key"))).unwrap();
    let server = ZmqServer::curve(&master_secret, &slaves).expect("CURVE server");
    let master_public = certs.join("master.key");
    let extra = [
        "--encrypt".to_owned(),
        "--master-cert".to_owned(),
        master_public.display().to_string(),
        "--slave-cert".to_owned(),
        slave_secret.display().to_string(),
    ];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut lab = Lab::with_server(server, dir, &extra);
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    lab.master.send(start(81, "pass", "", "")).await;
    lab.master.expect_start_ok(81).await;
    let lines = lab.master.logs_until_job_result(81).await;
    assert!(
        lines.last().unwrap().contains(r#""result": "pass""#),
        "{lines:?}"
    );
    let (_, compressed) = lab.master.expect_end(81).await;
    assert!(description(&compressed).contains_key("job"));
}

#[tokio::test]
async fn a_row_stored_before_its_pid_finds_lava_run_by_job_id() {
    let mut lab = Lab::new(&[]);
    // As if the slave died between writing the row (pid 0) and storing lava-run's pid.
    let mut orphan = lab.orphan_lava_run(71, "pass:4");
    lab.insert_row("71", "0", "0", "1588334400");

    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    let pid = i64::from(orphan.id());
    lab.wait_for("the pid of job 71 stored", || lab.row(71) == Some((pid, 0)))
        .await;
    let (_, compressed) = lab.master.expect_end(71).await;
    assert!(description(&compressed).contains_key("pipeline"));
    assert!(orphan.wait().unwrap().success());
    assert!(
        !lab.slave_log().contains("lava-run started"),
        "not run twice"
    );
}

#[tokio::test]
async fn jobs_that_cannot_run_end_with_the_reason() {
    let mut lab = Lab::new(&["--lava-run", "/nonexistent/lava-run"]);
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;

    // env.yaml must be a mapping: refused before anything is written.
    let mut bad_env = start(91, "pass", "", "");
    if let Message::Start { env, .. } = &mut bad_env {
        *env = "- not\n- a mapping\n".into();
    }
    lab.master.send(bad_env).await;
    lab.master.expect_start_ok(91).await;
    let (errors, compressed) = lab.master.expect_end(91).await;
    assert!(errors.contains("env.yaml is a sequence"), "{errors}");
    assert!(compressed.is_empty());
    assert!(!lab.work_dir("91").exists());

    // A missing lava-run: `nice` reports it on stderr, which END carries. The description
    // of an earlier run of this id is not taken for this one's.
    std::fs::create_dir_all(lab.work_dir("92")).unwrap();
    std::fs::write(lab.work_dir("92").join("description.yaml"), "stale: 1\n").unwrap();
    lab.master.send(start(92, "pass", "", "")).await;
    lab.master.expect_start_ok(92).await;
    let (errors, compressed) = lab.master.expect_end(92).await;
    assert!(errors.contains("/nonexistent/lava-run"), "{errors}");
    assert!(compressed.is_empty(), "no description without lava-run");

    // A prefix that would lead out of the slave's directory is refused.
    lab.master
        .send(start(93, "pass", "prefix: ../../x\n", ""))
        .await;
    lab.master.expect_start_ok(93).await;
    let (errors, _) = lab.master.expect_end(93).await;
    assert!(errors.contains("prefix"), "{errors}");
    assert!(!lab.slave_dir().join("x93").exists());
    assert!(!lab.dir.path().join("x93").exists());
}

#[test]
fn unusable_command_lines_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lava-slave"))
            .args([
                "--master",
                "tcp://127.0.0.1:1",
                "--socket-addr",
                "tcp://127.0.0.1:2",
            ])
            .arg("--slave-dir")
            .arg(dir.path())
            .args(["--log-file", "-"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["--hostname", "lava-logs"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("reserved"), "{stderr}");
    let (code, stderr) = run(&["--hostname", "bad name"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("invalid worker name"), "{stderr}");
    let (code, stderr) = run(&["--hostname", "w", "--level", "LOUD"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("LOUD"), "{stderr}");
    let (code, stderr) = run(&[
        "--hostname",
        "w",
        "--encrypt",
        "--slave-cert",
        "/nonexistent/s.key_secret",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("/nonexistent/s.key_secret"), "{stderr}");
}

#[tokio::test]
async fn a_restored_cancel_keeps_its_age_and_escalates_to_kill() {
    let mut lab = Lab::new(&[]);
    let mut orphan = lab.orphan_lava_run(72, "ignore-term:60");
    // CANCEL came 200 s ago (LAVA's KILL is due after 120 s), then the slave went away.
    let canceled = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 200;
    lab.insert_row("72", &orphan.id().to_string(), "1", &canceled.to_string());

    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    let (_, compressed) = lab.master.expect_end(72).await;
    assert!(compressed.is_empty(), "killed: no description");
    assert_eq!(orphan.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(lab.slave_log().contains("Kill sent to lava-run"));
}

/// Waits (at most 10 s) until `/proc/<pid>/cmdline` is filled in: right after exec it is
/// empty for a moment.
fn wait_for_cmdline(pid: u32) {
    for _ in 0..1000 {
        if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn a_job_that_ends_while_the_master_is_away_reaches_the_next_master() {
    let mut lab = Lab::new(&[]);
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    lab.master.send(start(101, "pass:2", "", "")).await;
    lab.master.expect_start_ok(101).await;

    // The master goes away (its control socket only: lava-run's logs still have a sink).
    let endpoint = lab.master.control.endpoint().to_owned();
    lab.master.control.close().await.unwrap();
    lab.master.logs_until_job_result(101).await;
    lab.wait_for("job 101 FINISHED", || lab.row(101).map(|r| r.1) == Some(2))
        .await;

    // A new master on the same address: no new HELLO, but PINGs and the pending END.
    lab.master.control = ZmqServer::plain()
        .bind_master(&endpoint, &SocketOptions::default())
        .expect("bind the master again");
    lab.master.expect("PING", |m| *m == Message::Ping).await;
    lab.master.send(Message::Pong { interval: 20 }).await;
    lab.master.send(Message::Status { job_id: 101 }).await;
    let (_, compressed) = lab.master.expect_end(101).await;
    assert!(description(&compressed).contains_key("job"));
    lab.master.send(Message::EndOk { job_id: 101 }).await;
    lab.wait_for("row of job 101 deleted", || lab.row(101).is_none())
        .await;
}

#[tokio::test]
async fn a_slave_whose_route_is_taken_over_notices_and_connects_anew() {
    let mut lab = Lab::new(&[]);
    let _slave = lab.start_slave();
    lab.master.accept_hello().await;
    // The shortest ping interval LAVA allows: the slave calls the master offline after four
    // silent intervals.
    lab.master.expect("PING", |m| *m == Message::Ping).await;
    lab.master.send(Message::Pong { interval: 5 }).await;

    // Someone sends one PING with the slave's identity, in clear text: libzmq's
    // ROUTER_HANDOVER gives them the route, and the master's answers go to them.
    let endpoint = lab.master.control.endpoint().to_owned();
    let mut impostor = connect_slave(&endpoint, HOSTNAME, &SocketOptions::default(), None).unwrap();
    impostor.send(Message::Ping.encode()).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (peer, frames) = tokio::time::timeout_at(deadline, lab.master.control.recv())
            .await
            .expect("the impostor's PING")
            .expect("master socket");
        if peer == lab.master.peer && Message::decode(&frames) == Ok(Message::Ping) {
            break;
        }
    }
    lab.master.send(Message::Pong { interval: 5 }).await;
    let got = tokio::time::timeout(WAIT, impostor.recv())
        .await
        .expect("the master's PONG reaches the impostor")
        .unwrap();
    assert_eq!(Message::decode(&got), Ok(Message::Pong { interval: 5 }));

    // The slave hears nothing more, calls the master offline and connects anew: its new
    // connection takes the route back, and the master's messages reach it again. (Its
    // PINGs over the old connection, if any arrive, come under another identity.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (peer, frames) = tokio::time::timeout_at(deadline, lab.master.control.recv())
            .await
            .expect("the slave never came back on its own identity")
            .expect("master socket");
        if peer == lab.master.peer && Message::decode(&frames) == Ok(Message::Ping) {
            break;
        }
    }
    lab.master.send(Message::Pong { interval: 5 }).await;
    lab.master.send(Message::Status { job_id: 404 }).await;
    let (errors, _) = lab.master.expect_end(404).await;
    assert_eq!(errors, "");
    drop(impostor);
}
