//! A whole lab of real processes on 127.0.0.1: lava-master, lava-slave (with the lava-run test
//! double) and lava-admin. Restarts, cancels and encryption, end to end.
//!
//! Every wait is bounded (`jobs wait --timeout`, or a bounded poll); no test asserts on time.

mod common;
mod slave_support;

use common::{shell_job, Lab, Proc};
use slave_support::lava_run_double;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WORKER: &str = "e2e-worker";

fn start_slave(lab: &Lab, extra: &[&str]) -> Proc {
    lab.start_slave(WORKER, lava_run_double(), extra)
}

fn start_master(lab: &Lab, extra: &[&str]) -> Proc {
    lab.start_master_with(extra)
}

fn with_mode(definition: String, mode: &str) -> String {
    format!("{definition}metadata:\n  lava-run-double: \"{mode}\"\n")
}

/// Polls `check` every 100 ms for at most `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// How many times the double logged its start for this job (it logs one "start:" line per run).
fn runs(lab: &Lab, job: &str) -> usize {
    lab.admin_ok(&["jobs", "logs", job])
        .lines()
        .filter(|l| l.contains("start: 1 lava-run-double"))
        .count()
}

#[test]
fn master_killed_mid_job_restarts_and_the_job_completes_once() {
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let job = lab.submit(&with_mode(shell_job("hello", None), "pass:6"));
    let mut master = start_master(&lab, &[]);
    let _slave = start_slave(&lab, &["--job-check-interval", "1"]);
    assert!(
        eventually(Duration::from_secs(60), || lab.job_status(&job).0
            == "Running"),
        "the job never ran\n{}",
        lab.logs()
    );
    master.kill9();
    std::thread::sleep(Duration::from_secs(2));
    let _master = start_master(&lab, &[]);
    assert_eq!(
        lab.wait(&job, 90),
        0,
        "job {job} did not complete\n{}",
        lab.logs()
    );
    assert_eq!(runs(&lab, &job), 1, "the job ran once\n{}", lab.logs());
    // END was acknowledged: the slave forgot the job and removed its work dir.
    let work = lab.data_dir().join("slave/tmp").join(&job);
    assert!(
        eventually(Duration::from_secs(30), || !work.exists()),
        "END_OK reached the slave\n{}",
        lab.logs()
    );
}

#[test]
fn canceling_a_job_whose_lava_run_ignores_term_ends_canceled() {
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let job = lab.submit(&with_mode(shell_job("hello", None), "ignore-term:120"));
    let _master = start_master(&lab, &[]);
    let _slave = start_slave(
        &lab,
        &[
            "--job-check-interval",
            "1",
            "--cancel-term-again",
            "2",
            "--cancel-kill",
            "4",
        ],
    );
    assert!(
        eventually(Duration::from_secs(60), || lab.job_status(&job).0
            == "Running"),
        "the job never ran\n{}",
        lab.logs()
    );
    lab.admin_ok(&["jobs", "cancel", &job]);
    assert_eq!(
        lab.wait(&job, 90),
        1,
        "job {job} did not finish\n{}",
        lab.logs()
    );
    assert_eq!(
        lab.job_status(&job),
        ("Finished".into(), "Canceled".into()),
        "{}",
        lab.logs()
    );
    // The device is free again: the next job runs.
    let next = lab.submit(&shell_job("hello", None));
    assert_eq!(
        lab.wait(&next, 60),
        0,
        "job {next} did not complete\n{}",
        lab.logs()
    );
}

fn certificates(dir: &Path, name: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_lava-admin"))
        .args(["certificates", "create", name, "--directory"])
        .arg(dir)
        .output()
        .expect("lava-admin runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn curve_admits_only_slaves_whose_key_is_in_the_allow_list() {
    let lab = Lab::new();
    let master_dir = lab.data_dir().join("certs/master");
    let allowed = lab.data_dir().join("certs/slaves");
    let rogue_dir = lab.data_dir().join("certs/rogue");
    certificates(&master_dir, "master");
    certificates(&allowed, WORKER);
    certificates(&rogue_dir, WORKER);
    lab.add_example_devices(WORKER);
    let job = lab.submit(&shell_job("hello", None));
    let master_secret = master_dir.join("master.key_secret");
    let _master = start_master(
        &lab,
        &[
            "--encrypt",
            "--master-cert",
            master_secret.to_str().unwrap_or_default(),
            "--slaves-certs",
            allowed.to_str().unwrap_or_default(),
        ],
    );
    let master_public = master_dir.join("master.key");

    // A slave whose key is not in the directory never reaches the master.
    let rogue_secret = rogue_dir.join(format!("{WORKER}.key_secret"));
    let mut rogue = start_slave(
        &lab,
        &[
            "--encrypt",
            "--master-cert",
            master_public.to_str().unwrap_or_default(),
            "--slave-cert",
            rogue_secret.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(
        lab.wait(&job, 8),
        2,
        "no job may run on a rogue slave\n{}",
        lab.logs()
    );
    let worker: serde_json::Value =
        serde_json::from_str(&lab.admin_ok(&["workers", "show", WORKER, "--json"])).expect("JSON");
    assert_eq!(worker["state"], "Offline", "{}", lab.logs());
    rogue.stop(Duration::from_secs(5));

    // The allowed one runs the job, encrypted logs included.
    let secret = allowed.join(format!("{WORKER}.key_secret"));
    let _slave = start_slave(
        &lab,
        &[
            "--encrypt",
            "--master-cert",
            master_public.to_str().unwrap_or_default(),
            "--slave-cert",
            secret.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(
        lab.wait(&job, 60),
        0,
        "job {job} did not complete\n{}",
        lab.logs()
    );
    let log = lab.admin_ok(&["jobs", "logs", &job]);
    assert!(
        log.contains(r#""case": "job", "definition": "lava", "result": "pass""#),
        "{log}"
    );
}

fn worker_state(lab: &Lab) -> String {
    let out = lab.admin(&["workers", "show", WORKER, "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|w| w["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn signal(proc: &Proc, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(proc.child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {}", proc.child.id());
}

#[test]
fn a_silent_worker_goes_offline_after_60_s_and_comes_back() {
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let _master = start_master(&lab, &[]);
    let slave = start_slave(&lab, &[]);
    assert!(
        eventually(Duration::from_secs(30), || worker_state(&lab) == "Online"),
        "the worker never came online\n{}",
        lab.logs()
    );
    // Frozen: its connection stays up, but it says nothing.
    signal(&slave, "STOP");
    let frozen = Instant::now();
    assert!(
        eventually(Duration::from_secs(100), || worker_state(&lab) == "Offline"),
        "the silent worker stayed online\n{}",
        lab.logs()
    );
    assert!(
        frozen.elapsed() >= Duration::from_secs(55),
        "offline only after 60 s of silence (LAVA's rule), not after {:?}",
        frozen.elapsed()
    );
    signal(&slave, "CONT");
    assert!(
        eventually(Duration::from_secs(60), || worker_state(&lab) == "Online"),
        "the worker did not come back online\n{}",
        lab.logs()
    );
}
