//! The dispatcher contract with the real thing: LAVA 2020.05's own `lava-run` (from the
//! reference tree, in the virtualenv that `real-lava-slave-setup` makes) started by the
//! lava-rs slave for jobs of the lava-rs master. The job's command really runs, its log
//! reaches the master, and the END description is the real lava-run's.
//!
//! Like `real_lava_slave.rs`, this needs `shared/reference` beside the checkout (or
//! `LAVA_REFERENCE_DIR`), or `LAVA_REAL_SLAVE=skip` to skip knowingly. lava-run insists on
//! running as root; as another user the test says so and returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{shell_job, Lab, Proc};

const WORKER: &str = "rs-worker-real-lava-run";

/// Makes the real LAVA 2020.05 tree runnable (once per target dir, with the integrator's
/// `real-lava-slave-setup`) and returns (python, lava-slave script); `None` when skipped.
fn real_slave() -> Option<(PathBuf, PathBuf)> {
    // shared/ lies beside the checkout; LAVA_REFERENCE_DIR names it elsewhere.
    let setup = match std::env::var_os("LAVA_REFERENCE_DIR") {
        Some(dir) => PathBuf::from(dir).join("real-lava-slave-setup"),
        None => common::repo_root()
            .ancestors()
            .map(|dir| dir.join("shared/reference/real-lava-slave-setup"))
            .find(|path| path.exists())
            .unwrap_or_else(|| {
                common::repo_root().join("../shared/reference/real-lava-slave-setup")
            }),
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

/// The real lava-run, or `None` when it cannot be tested here (not root, or skipped).
fn real_lava_run() -> Option<PathBuf> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("lava-run must run as root: the real lava-run is not tested");
        return None;
    }
    let (_python, script) = real_slave()?;
    Some(script.with_file_name("lava-run"))
}

fn start_slave(lab: &Lab, lava_run: &Path) -> Proc {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lava-slave"));
    command
        .args(["--hostname", WORKER, "--master", &lab.master_url()])
        .args(["--socket-addr", &lab.log_url()])
        .arg("--slave-dir")
        .arg(lab.data_dir().join("slave"))
        .arg("--lava-run")
        .arg(lava_run)
        .args(["--log-file", "-", "--level", "DEBUG"]);
    Proc::start("lava-slave", command, &lab.data_dir().join("slave.log"))
}

fn logs(lab: &Lab) -> String {
    format!(
        "master log:\n{}\nslave log:\n{}",
        lab.master_log(),
        std::fs::read_to_string(lab.data_dir().join("slave.log")).unwrap_or_default()
    )
}

#[test]
fn the_real_lava_run_runs_jobs_under_the_lava_rs_slave() {
    let Some(lava_run) = real_lava_run() else {
        return;
    };
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let id = lab.submit(&shell_job("hello", None));
    let _master = lab.start_master();
    let _slave = start_slave(&lab, &lava_run);

    let code = lab.wait(&id, 180);
    assert_eq!(code, 0, "job {id}: jobs wait exit {code}\n{}", logs(&lab));
    assert_eq!(
        lab.job_status(&id),
        ("Finished".into(), "Complete".into()),
        "{}",
        logs(&lab)
    );
    let log = lab.admin_ok(&["jobs", "logs", &id]);
    assert!(
        log.contains("hello from lava-rs"),
        "the command's output is in the log:\n{log}"
    );
    assert!(
        log.contains(r#""case": "job", "definition": "lava", "result": "pass""#),
        "the final result is in the log:\n{log}"
    );
}

#[test]
fn the_real_lava_run_is_canceled_through_the_lava_rs_slave() {
    let Some(lava_run) = real_lava_run() else {
        return;
    };
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    // `slow` sleeps 5 s: the cancel arrives while it runs.
    let id = lab.submit(&shell_job("slow", None));
    let _master = lab.start_master();
    let _slave = start_slave(&lab, &lava_run);
    // Cancel once the command runs (earlier, TERM would end lava-run before it set up its
    // signal handlers, as with LAVA's slave, and the job would have no log to check).
    let working = (0..600).any(|_| {
        let log = lab.admin(&["jobs", "logs", &id]);
        let working = String::from_utf8_lossy(&log.stdout).contains("working");
        if !working {
            std::thread::sleep(Duration::from_millis(50));
        }
        working
    });
    assert!(working, "job {id} never ran its command\n{}", logs(&lab));
    lab.admin_ok(&["jobs", "cancel", &id]);

    let code = lab.wait(&id, 60);
    assert_eq!(code, 1, "job {id}: jobs wait exit {code}\n{}", logs(&lab));
    assert_eq!(
        lab.job_status(&id),
        ("Finished".into(), "Canceled".into()),
        "{}",
        logs(&lab)
    );
    let slave_log = std::fs::read_to_string(lab.data_dir().join("slave.log")).unwrap_or_default();
    assert!(slave_log.contains("Term sent to lava-run"), "{slave_log}");
    let log = lab.admin_ok(&["jobs", "logs", &id]);
    assert!(
        log.contains(r#""error_type": "Canceled""#),
        "lava-run reports the cancel:\n{log}"
    );
}
