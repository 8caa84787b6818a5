//! Support for tests that run the real binaries: free ports, temp labs, child processes that
//! are killed when the test ends, and lava-admin calls.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A child process killed (and its process group, where it leads one) on drop.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// What it is, for messages.
    pub name: String,
}

impl Proc {
    /// Starts `command` with its output appended to `log`.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("cannot open the log file");
        let err = out.try_clone().expect("cannot clone the log file");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_owned(),
        }
    }

    /// SIGKILL, now.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `grace` before SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// A lab in a temp dir: data dir with the example dispatcher-config.
pub struct Lab {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The master's control port.
    pub control_port: u16,
    /// The master's log port.
    pub log_port: u16,
    /// The master's XML-RPC API port (`--http`), so that masters of parallel tests do not
    /// all want LAVA's default 127.0.0.1:8000.
    pub http_port: u16,
    /// The store, when it is not the data dir's SQLite file (`--store` for lava-admin and
    /// the masters the tests start).
    pub store: Option<String>,
}

impl Lab {
    /// A new lab holding `examples/lab`'s device types and devices.
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().expect("no temp dir");
        let config = dir.path().join("dispatcher-config");
        for sub in ["device-types", "devices"] {
            let from = repo_root().join("examples/lab").join(sub);
            let to = config.join(sub);
            std::fs::create_dir_all(&to).expect("cannot create the lab");
            for entry in std::fs::read_dir(&from).expect("examples/lab is missing") {
                let entry = entry.expect("cannot read examples/lab");
                std::fs::copy(entry.path(), to.join(entry.file_name()))
                    .expect("cannot copy the lab");
            }
        }
        Lab {
            dir,
            control_port: free_port(),
            log_port: free_port(),
            http_port: free_port(),
            store: None,
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `tcp://127.0.0.1:<control port>`.
    pub fn master_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.control_port)
    }

    /// `tcp://127.0.0.1:<log port>`.
    pub fn log_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.log_port)
    }

    /// `127.0.0.1:<http port>`: where the master serves /RPC2.
    pub fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    /// Runs lava-admin against this lab.
    pub fn admin(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lava-admin"));
        command.arg("--data-dir").arg(self.data_dir());
        if let Some(store) = &self.store {
            command.args(["--store", store]);
        }
        command.args(args).output().expect("cannot run lava-admin")
    }

    /// Runs lava-admin and insists that it succeeds; returns its stdout.
    pub fn admin_ok(&self, args: &[&str]) -> String {
        let out = self.admin(args);
        assert!(
            out.status.success(),
            "lava-admin {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The command that runs lava-master on this lab (its sockets, its HTTP address, its
    /// store if one is set, DEBUG logs), with `extra` options after those.
    pub fn master_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lava-master"));
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .args([
                "--master-socket",
                &self.master_url(),
                "--log-socket",
                &self.log_url(),
                "--http",
                &self.http_addr(),
            ])
            .args(["--level", "DEBUG"])
            .args(extra);
        if let Some(store) = &self.store {
            command.args(["--store", store]);
        }
        command
    }

    /// Starts lava-master on this lab.
    pub fn start_master(&self) -> Proc {
        self.start_master_with(&[])
    }

    /// Starts lava-master on this lab with `extra` options.
    pub fn start_master_with(&self, extra: &[&str]) -> Proc {
        let command = self.master_command(extra);
        Proc::start("lava-master", command, &self.data_dir().join("master.log"))
    }

    /// Starts `lava-slave` as `worker` on this lab with `lava_run` as its lava-run; `extra`
    /// options follow LAVA's.
    pub fn start_slave(&self, worker: &str, lava_run: &Path, extra: &[&str]) -> Proc {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lava-slave"));
        command
            .args(["--hostname", worker, "--master", &self.master_url()])
            .args(["--socket-addr", &self.log_url()])
            .arg("--slave-dir")
            .arg(self.data_dir().join("slave"))
            .arg("--download-dir")
            .arg(self.data_dir().join("download"))
            .arg("--lava-run")
            .arg(lava_run)
            .args(["--log-file", "-", "--level", "DEBUG"])
            .args(extra);
        Proc::start("lava-slave", command, &self.data_dir().join("slave.log"))
    }

    /// The master's and the slave's logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "master log:\n{}\nslave log:\n{}",
            self.master_log(),
            std::fs::read_to_string(self.data_dir().join("slave.log")).unwrap_or_default()
        )
    }

    /// The master's log so far, for failure messages.
    pub fn master_log(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("master.log")).unwrap_or_default()
    }

    /// A job's state and health from `jobs show --json`.
    pub fn job_status(&self, id: &str) -> (String, String) {
        let json: serde_json::Value =
            serde_json::from_str(&self.admin_ok(&["jobs", "show", id, "--json"]))
                .expect("jobs show --json is not JSON");
        (
            json["state"].as_str().unwrap_or_default().to_owned(),
            json["health"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Waits for a job to finish; returns the exit code of `jobs wait`.
    pub fn wait(&self, id: &str, timeout_secs: u32) -> i32 {
        self.admin(&["jobs", "wait", id, "--timeout", &timeout_secs.to_string()])
            .status
            .code()
            .unwrap_or(-1)
    }

    /// Adds worker, device type and device `shell-01` of the example lab.
    pub fn add_example_devices(&self, worker: &str) {
        self.admin_ok(&["workers", "add", worker, "--description", "test worker"]);
        self.admin_ok(&["device-types", "add", "shell"]);
        self.admin_ok(&[
            "devices",
            "add",
            "shell-01",
            "--device-type",
            "shell",
            "--worker",
            worker,
        ]);
    }

    /// Submits a job definition given as text; returns the new id.
    pub fn submit(&self, definition: &str) -> String {
        let file = self.data_dir().join(format!("job-{}.yaml", free_port()));
        std::fs::write(&file, definition).expect("cannot write the job");
        self.admin_ok(&["jobs", "submit", file.to_str().unwrap_or_default()])
            .trim()
            .to_owned()
    }
}

/// The example job, with `command` as the user command to run and an optional context.
pub fn shell_job(command: &str, context: Option<&str>) -> String {
    let mut job = format!(
        "device_type: shell\njob_name: test {command}\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\n  action:\n    minutes: 2\nactions:\n- command:\n    name: {command}\n"
    );
    if let Some(context) = context {
        job.push_str("context:\n");
        job.push_str(context);
    }
    job
}

/// Makes LAVA 2020.05's real slave runnable (once per target dir, with
/// `shared/reference/real-lava-slave-setup` beside the checkout, or `LAVA_REFERENCE_DIR`) and
/// returns (python, lava-slave script). `None` when `LAVA_REAL_SLAVE=skip`; a panic naming
/// what is missing otherwise.
pub fn real_lava_slave() -> Option<(PathBuf, PathBuf)> {
    // shared/ lies beside the checkout; LAVA_REFERENCE_DIR names it elsewhere.
    let setup = match std::env::var_os("LAVA_REFERENCE_DIR") {
        Some(dir) => PathBuf::from(dir).join("real-lava-slave-setup"),
        None => repo_root()
            .ancestors()
            .map(|dir| dir.join("shared/reference/real-lava-slave-setup"))
            .find(|path| path.exists())
            .unwrap_or_else(|| repo_root().join("../shared/reference/real-lava-slave-setup")),
    };
    if !setup.exists() {
        if std::env::var("LAVA_REAL_SLAVE").as_deref() == Ok("skip") {
            eprintln!("LAVA_REAL_SLAVE=skip: the real LAVA slave is not tested");
            return None;
        }
        panic!(
            "the real LAVA 2020.05 slave is missing ({} not found): run the tests from a checkout \
             beside shared/, or set LAVA_REAL_SLAVE=skip to skip this conformance test knowingly",
            setup.display()
        );
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("real-lava-slave");
    let out = Command::new(&setup)
        .arg(&dir)
        .output()
        .expect("cannot run real-lava-slave-setup");
    assert!(
        out.status.success(),
        "real-lava-slave-setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("real-lava-slave-setup did not print {name}"))
    };
    Some((value("LAVA_SLAVE_PYTHON"), value("LAVA_SLAVE_SCRIPT")))
}

/// One HTTP/1.1 request to `addr` (`Connection: close`), `headers` after `Host`,
/// `Connection` and `Content-Length`: the status and the body. Panics if nothing answers.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("nothing answers on {addr}: {e}"));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("cannot send");
    // The server may answer (and close) before reading a body it refuses.
    let _ = stream.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// A request to the lab's master as lava-worker and lava-run send them: a form body and,
/// when given, a `LAVA-Token`.
pub fn worker_request(
    lab: &Lab,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(token) = token {
        headers.push(("LAVA-Token", token));
    }
    http_request(&lab.http_addr(), method, path, &headers, body)
}
