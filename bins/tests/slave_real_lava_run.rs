//! The dispatcher contract with the real thing: LAVA 2020.05's own `lava-run` (from the
//! reference tree, in the virtualenv that `real-lava-slave-setup` makes) started by the
//! lava-rs slave for jobs of the lava-rs master. The job's command really runs, its log
//! reaches the master, and the END description is the real lava-run's.
//!
//! Like `real_lava_slave.rs`, this needs `shared/reference` beside the checkout (or
//! `LAVA_REFERENCE_DIR`), or `LAVA_REAL_SLAVE=skip` to skip knowingly. lava-run insists on
//! running as root; as another user the test says so and returns.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{shell_job, Lab};

const WORKER: &str = "rs-worker-real-lava-run";

/// The real lava-run, or `None` when it cannot be tested here (not root, or skipped).
fn real_lava_run() -> Option<PathBuf> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("lava-run must run as root: the real lava-run is not tested");
        return None;
    }
    let (_python, script) = common::real_lava_slave()?;
    Some(script.with_file_name("lava-run"))
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
    let _slave = lab.start_slave(WORKER, &lava_run, &[]);

    let code = lab.wait(&id, 180);
    assert_eq!(code, 0, "job {id}: jobs wait exit {code}\n{}", lab.logs());
    assert_eq!(
        lab.job_status(&id),
        ("Finished".into(), "Complete".into()),
        "{}",
        lab.logs()
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
    let _slave = lab.start_slave(WORKER, &lava_run, &[]);
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
    assert!(working, "job {id} never ran its command\n{}", lab.logs());
    lab.admin_ok(&["jobs", "cancel", &id]);

    let code = lab.wait(&id, 60);
    assert_eq!(code, 1, "job {id}: jobs wait exit {code}\n{}", lab.logs());
    assert_eq!(
        lab.job_status(&id),
        ("Finished".into(), "Canceled".into()),
        "{}",
        lab.logs()
    );
    let slave_log = std::fs::read_to_string(lab.data_dir().join("slave.log")).unwrap_or_default();
    assert!(slave_log.contains("Term sent to lava-run"), "{slave_log}");
    let log = lab.admin_ok(&["jobs", "logs", &id]);
    assert!(
        log.contains(r#""error_type": "Canceled""#),
        "lava-run reports the cancel:\n{log}"
    );
}
