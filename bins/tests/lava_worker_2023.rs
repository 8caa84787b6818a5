//! The modern other end: Debian bookworm's real `lava-worker` and `lava-run` 2023.01 (HTTP)
//! run jobs for lava-master, alone and beside a ZeroMQ slave of the older generation.
//!
//! The packages are unpacked by `scripts/debian-lava-worker.sh` (called by setup.sh; this
//! test calls it too, which is instant once the cache exists). When they cannot be unpacked
//! (no Debian apt, no network the first time) the tests say so and skip; set
//! `LAVA_WORKER_2023=skip` to skip them knowingly. lava-run must run as root.
//!
//! Every wait is bounded; no test asserts on time.

mod common;
mod slave_support;

use common::{free_port, repo_root, shell_job, worker_request as request, Lab, Proc};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Commands of the test device: a quick one and slow ones (long enough to restart
/// things while lava-run runs).
const DICTIONARY: &str = r#"{% extends 'shell.jinja2' %}
{% set user_commands = {
    'hello': "sh -c 'echo hello from lava-worker 2023'",
    'slow': "sh -c 'echo working; sleep 8; echo done sleeping'",
    'forever': "sh -c 'echo waiting; sleep 600'",
} %}
"#;

/// The lava-worker 2023.01 wrapper and the directory holding the lava-run wrapper.
fn debian_worker() -> Option<&'static (PathBuf, PathBuf)> {
    static FOUND: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if std::env::var("LAVA_WORKER_2023").as_deref() == Ok("skip") {
                eprintln!("LAVA_WORKER_2023=skip: Debian's lava-worker 2023.01 is not tested");
                return None;
            }
            let script = repo_root().join("scripts/debian-lava-worker.sh");
            let out = Command::new(&script)
                .output()
                .expect("cannot run scripts/debian-lava-worker.sh");
            if !out.status.success() {
                eprintln!(
                    "SKIPPED: Debian's lava-worker 2023.01 cannot be unpacked on this machine \
                     (scripts/debian-lava-worker.sh failed):\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let value = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                    .map(|v| PathBuf::from(v.trim_matches('\'')))
                    .unwrap_or_else(|| panic!("debian-lava-worker.sh did not print {name}"))
            };
            Some((value("LAVA_WORKER_2023"), value("LAVA_RUN_2023_DIR")))
        })
        .as_ref()
}

/// A lab with device `http-01` (type shell) on `worker`, its dispatcher config giving
/// lava-run's tmp dirs a prefix of their own (concurrent tests share the job ids).
fn http_lab(worker: &str) -> (Lab, String) {
    let lab = Lab::new();
    let out = lab.admin_ok(&["workers", "add", worker]);
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap_or_else(|| panic!("workers add printed no `Token: …` line:\n{out}"))
        .to_owned();
    assert_eq!(token.len(), 32);
    assert_eq!(lab.admin_ok(&["workers", "token", worker]).trim(), token);
    add_device(&lab, "http-01", worker);
    (lab, token)
}

fn add_device(lab: &Lab, device: &str, worker: &str) {
    let dictionary = lab.data_dir().join(format!("{device}.jinja2"));
    std::fs::write(&dictionary, DICTIONARY).expect("cannot write the dictionary");
    if lab.admin(&["device-types", "show", "shell"]).status.code() != Some(0) {
        lab.admin_ok(&["device-types", "add", "shell"]);
    }
    lab.admin_ok(&[
        "devices",
        "add",
        device,
        "--device-type",
        "shell",
        "--worker",
        worker,
        "--dictionary",
        dictionary.to_str().unwrap_or_default(),
    ]);
    let dir = lab.data_dir().join("dispatcher.d").join(worker);
    std::fs::create_dir_all(&dir).expect("cannot create dispatcher.d");
    std::fs::write(
        dir.join("dispatcher.yaml"),
        format!("prefix: lavars-{}-\n", free_port()),
    )
    .expect("cannot write dispatcher.yaml");
}

/// Starts Debian's lava-worker as `name` with `token`, its state in `dir`.
fn start_worker(lab: &Lab, name: &str, token: &str, dir: &Path) -> Proc {
    let (worker, run_dir) = debian_worker().expect("checked by the caller");
    let path = format!(
        "{}:{}",
        run_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(worker);
    command
        .env("PATH", path)
        .args(["--name", name])
        .args(["--url", &format!("http://{}/", lab.http_addr())])
        .args(["--token", token])
        .arg("--worker-dir")
        .arg(dir)
        .args(["--ping-interval", "2", "--job-log-interval", "1"])
        .args(["--log-file", "-", "--level", "DEBUG"]);
    Proc::start(
        "lava-worker 2023.01",
        command,
        &lab.data_dir().join(format!("{name}.log")),
    )
}

/// The lava-run processes lava-worker recorded in its state directory `dir`.
fn lava_run_pids(dir: &Path) -> Vec<i32> {
    let Ok(db) = rusqlite::Connection::open(dir.join("db.sqlite3")) else {
        return Vec::new();
    };
    let Ok(mut query) = db.prepare("SELECT pid FROM jobs") else {
        return Vec::new();
    };
    query
        .query_map([], |row| row.get::<_, i32>(0))
        .map(|rows| rows.flatten().filter(|pid| *pid > 0).collect())
        .unwrap_or_default()
}

/// Kills, when dropped, the process groups of the lava-run processes of the worker
/// directories (lava-run runs in its own group and survives lava-worker; 2023.01 retries its
/// last log upload for ever once the master is gone, trap 6) and of `pids`.
struct LavaRuns {
    dirs: Vec<PathBuf>,
    pids: Vec<i32>,
}

impl LavaRuns {
    fn of(dir: &Path) -> LavaRuns {
        LavaRuns {
            dirs: vec![dir.to_path_buf()],
            pids: Vec::new(),
        }
    }
}

impl Drop for LavaRuns {
    fn drop(&mut self) {
        let mut pids = self.pids.clone();
        for dir in &self.dirs {
            pids.extend(lava_run_pids(dir));
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn worker_log(lab: &Lab, name: &str) -> String {
    std::fs::read_to_string(lab.data_dir().join(format!("{name}.log"))).unwrap_or_default()
}

/// Polls `check` every 200 ms for at most `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    check()
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

fn wait_master(lab: &Lab) {
    assert!(
        eventually(Duration::from_secs(20), || TcpStream::connect(
            lab.http_addr()
        )
        .is_ok()),
        "the master does not serve HTTP:\n{}",
        lab.master_log()
    );
}

fn failure(lab: &Lab, worker: &str) -> String {
    format!(
        "master log:\n{}\nlava-worker log:\n{}",
        lab.master_log(),
        worker_log(lab, worker)
    )
}

fn wait_state(lab: &Lab, job: &str, state: &str, limit: Duration) -> bool {
    eventually(limit, || lab.job_status(job).0 == state)
}

#[test]
fn a_command_job_completes_with_its_output_in_the_log() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-01");
    let _master = lab.start_master();
    wait_master(&lab);
    let wdir = lab.data_dir().join("worker");
    let _runs = LavaRuns::of(&wdir);
    let _worker = start_worker(&lab, "modern-01", &token, &wdir);
    let job = lab.submit(&shell_job("hello", None));
    assert_eq!(lab.wait(&job, 120), 0, "{}", failure(&lab, "modern-01"));
    assert_eq!(lab.job_status(&job), ("Finished".into(), "Complete".into()));
    let log = lab.admin_ok(&["jobs", "logs", &job]);
    // The command's output, as lava-run 2023.01 uploaded it.
    assert_eq!(count(&log, ">> hello from lava-worker 2023"), 1, "{log}");
    assert!(log.contains(r#""case": "job", "definition": "lava", "result": "pass""#));
    let show: serde_json::Value =
        serde_json::from_str(&lab.admin_ok(&["workers", "show", "modern-01", "--json"]))
            .expect("workers show --json");
    assert_eq!(show["protocol"], "http");
    assert_eq!(show["version"], "2023.01");
    assert_eq!(show["state"], "Online");
    assert_eq!(show["refusal"], serde_json::Value::Null);
}

#[test]
fn wrong_tokens_get_lavas_answers_and_change_nothing() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-02");
    let _master = lab.start_master();
    wait_master(&lab);
    let ping = "/scheduler/internal/v1/workers/modern-02/?version=2023.01";
    assert_eq!(
        request(&lab, "GET", ping, Some("x".repeat(32).as_str()), ""),
        (400, r#"{"error":"Invalid 'token'"}"#.into())
    );
    assert_eq!(
        request(&lab, "GET", ping, None, ""),
        (400, r#"{"error":"Missing 'token'"}"#.into())
    );
    assert_eq!(
        request(
            &lab,
            "GET",
            "/scheduler/internal/v1/workers/nobody/?version=1",
            Some(&token),
            ""
        ),
        (404, r#"{"error":"Unknown worker 'nobody'"}"#.into())
    );
    assert_eq!(
        request(
            &lab,
            "GET",
            "/scheduler/internal/v1/jobs/77/",
            Some(&token),
            ""
        ),
        (404, r#"{"error":"Unknown job '77'"}"#.into())
    );
    // Registration is off by default.
    let (status, _) = request(
        &lab,
        "POST",
        "/scheduler/internal/v1/workers/",
        None,
        "name=intruder",
    );
    assert_eq!(status, 403);
    // The real worker with a wrong token never comes online.
    let wdir = lab.data_dir().join("worker");
    let _runs = LavaRuns::of(&wdir);
    let _worker = start_worker(&lab, "modern-02", &"y".repeat(32), &wdir);
    assert!(
        eventually(Duration::from_secs(30), || lab
            .master_log()
            .contains("Invalid 'token'")
            && count(&worker_log(&lab, "modern-02"), "PING => server") >= 2),
        "{}",
        failure(&lab, "modern-02")
    );
    let show = lab.admin_ok(&["workers", "show", "modern-02", "--json"]);
    assert!(
        show.contains(r#""state": "Offline""#) || show.contains(r#""state":"Offline""#),
        "{show}"
    );
}

#[test]
fn a_worker_restarted_mid_job_finishes_it_once() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-03");
    let _master = lab.start_master();
    wait_master(&lab);
    let wdir = lab.data_dir().join("worker");
    let _runs = LavaRuns::of(&wdir);
    let mut worker = start_worker(&lab, "modern-03", &token, &wdir);
    let job = lab.submit(&shell_job("slow", None));
    assert!(
        wait_state(&lab, &job, "Running", Duration::from_secs(60)),
        "{}",
        failure(&lab, "modern-03")
    );
    // lava-worker stops (SIGTERM, as systemd with KillMode=process): lava-run goes on.
    worker.stop(Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    let _worker = start_worker(&lab, "modern-03", &token, &wdir);
    assert_eq!(lab.wait(&job, 120), 0, "{}", failure(&lab, "modern-03"));
    let log = lab.admin_ok(&["jobs", "logs", &job]);
    assert_eq!(count(&log, ">> working"), 1, "run once:\n{log}");
    assert_eq!(count(&log, ">> done sleeping"), 1, "{log}");
}

#[test]
fn a_master_killed_mid_job_finishes_it_once_after_its_restart() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-04");
    let mut master = lab.start_master();
    wait_master(&lab);
    let wdir = lab.data_dir().join("worker");
    let _runs = LavaRuns::of(&wdir);
    let _worker = start_worker(&lab, "modern-04", &token, &wdir);
    let job = lab.submit(&shell_job("slow", None));
    assert!(
        wait_state(&lab, &job, "Running", Duration::from_secs(60)),
        "{}",
        failure(&lab, "modern-04")
    );
    master.kill9();
    // lava-run's logs and the worker's pings fail meanwhile; both retry.
    std::thread::sleep(Duration::from_secs(4));
    let _master = lab.start_master();
    assert_eq!(lab.wait(&job, 120), 0, "{}", failure(&lab, "modern-04"));
    let log = lab.admin_ok(&["jobs", "logs", &job]);
    assert_eq!(count(&log, ">> working"), 1, "no line twice:\n{log}");
    assert_eq!(count(&log, ">> done sleeping"), 1, "no line lost:\n{log}");
    assert_eq!(
        count(&log, r#""case": "job", "definition": "lava""#),
        1,
        "{log}"
    );
}

#[test]
fn cancel_reaches_lava_run_and_the_job_ends_canceled() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-05");
    let _master = lab.start_master();
    wait_master(&lab);
    let wdir = lab.data_dir().join("worker");
    let _runs = LavaRuns::of(&wdir);
    let _worker = start_worker(&lab, "modern-05", &token, &wdir);
    let job = lab.submit(&shell_job("forever", None));
    assert!(
        eventually(Duration::from_secs(60), || lab
            .admin_ok(&["jobs", "logs", &job])
            .contains(">> waiting")),
        "{}",
        failure(&lab, "modern-05")
    );
    lab.admin_ok(&["jobs", "cancel", &job]);
    assert!(
        wait_state(&lab, &job, "Finished", Duration::from_secs(60)),
        "{}",
        failure(&lab, "modern-05")
    );
    assert_eq!(lab.job_status(&job).1, "Canceled");
    let log = lab.admin_ok(&["jobs", "logs", &job]);
    assert!(
        log.contains("canceled"),
        "lava-run logged the cancel:\n{log}"
    );
    // The cancel reached lava-worker through its event socket (/ws/), not only its poll.
    assert!(
        worker_log(&lab, "modern-05").contains("[EVENT] Worker mentioned"),
        "{}",
        failure(&lab, "modern-05")
    );
}

#[test]
fn a_worker_that_lost_its_state_does_not_run_a_job_twice() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-06");
    let _master = lab.start_master();
    wait_master(&lab);
    let wdir = lab.data_dir().join("worker");
    let mut runs = LavaRuns::of(&wdir);
    let mut worker = start_worker(&lab, "modern-06", &token, &wdir);
    let job = lab.submit(&shell_job("slow", None));
    assert!(
        eventually(Duration::from_secs(60), || lab
            .admin_ok(&["jobs", "logs", &job])
            .contains(">> working")),
        "{}",
        failure(&lab, "modern-06")
    );
    worker.stop(Duration::from_secs(10));
    // The first lava-run goes on without its worker: killed at the end.
    runs.pids.extend(lava_run_pids(&wdir));
    std::fs::remove_dir_all(&wdir).expect("cannot remove the worker dir");
    let fresh = lab.data_dir().join("fresh");
    runs.dirs.push(fresh.clone());
    let _worker = start_worker(&lab, "modern-06", &token, &fresh);
    assert!(
        wait_state(&lab, &job, "Finished", Duration::from_secs(60)),
        "{}",
        failure(&lab, "modern-06")
    );
    let job_json: serde_json::Value =
        serde_json::from_str(&lab.admin_ok(&["jobs", "show", &job, "--json"]))
            .expect("jobs show --json");
    assert_eq!(job_json["health"], "Incomplete");
    assert!(job_json.to_string().contains("not run twice"), "{job_json}");
    // The orphaned lava-run of the first start keeps logging; no second one starts.
    std::thread::sleep(Duration::from_secs(3));
    let log = lab.admin_ok(&["jobs", "logs", &job]);
    assert_eq!(count(&log, ">> working"), 1, "{log}");
    let fresh = worker_log(&lab, "modern-06");
    assert_eq!(
        count(&fresh, "Starting job"),
        1,
        "only the first start:\n{fresh}"
    );
    assert!(
        lab.master_log().contains("the worker lost it"),
        "{}",
        lab.master_log()
    );
}

#[test]
fn both_generations_run_jobs_at_once() {
    if debian_worker().is_none() {
        return;
    }
    let (lab, token) = http_lab("modern-07");
    // The older generation: the project's lava-slave with the lava-run double.
    lab.admin_ok(&["workers", "add", "classic-07"]);
    add_device(&lab, "zmq-01", "classic-07");
    let _master = lab.start_master();
    wait_master(&lab);
    let _slave = lab.start_slave("classic-07", slave_support::lava_run_double(), &[]);
    let wdir = lab.data_dir().join("worker");
    let _runs = LavaRuns::of(&wdir);
    let _worker = start_worker(&lab, "modern-07", &token, &wdir);
    assert!(
        eventually(Duration::from_secs(30), || {
            let list = lab.admin_ok(&["workers", "list"]);
            count(&list, "Online") == 2
        }),
        "{}",
        lab.admin_ok(&["workers", "list"])
    );
    // The double takes 8 s too, as the slow command does under the real lava-run.
    let slow = format!(
        "{}metadata:\n  lava-run-double: \"pass:8\"\n",
        shell_job("slow", None)
    );
    let jobs: Vec<String> = (0..2).map(|_| lab.submit(&slow)).collect();
    for job in &jobs {
        assert_eq!(lab.wait(job, 180), 0, "{}", failure(&lab, "modern-07"));
    }
    let runs: Vec<(String, String, String)> = jobs
        .iter()
        .map(|job| {
            let json: serde_json::Value =
                serde_json::from_str(&lab.admin_ok(&["jobs", "show", job, "--json"]))
                    .expect("jobs show --json");
            let text = |key: &str| json[key].as_str().unwrap_or_default().to_owned();
            (text("actual_device"), text("start_time"), text("end_time"))
        })
        .collect();
    let on = |device: &str| {
        runs.iter()
            .find(|r| r.0 == device)
            .unwrap_or_else(|| panic!("no job ran on {device}: {runs:?}"))
    };
    let (http, zmq) = (on("http-01"), on("zmq-01"));
    // Both ran at the same time: each started before the other ended.
    assert!(http.1 < zmq.2 && zmq.1 < http.2, "{runs:?}");
    let list = lab.admin_ok(&["workers", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("modern-07") && l.contains("http") && l.contains("2023.01")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.contains("classic-07") && l.contains("zmq")),
        "{list}"
    );
}
