//! The other end of the wire that users have: LAVA 2020.05's own lava-slave and lava-run
//! (from `../shared/reference`, made runnable by its setup script) serve lava-master.
//!
//! lava-run must run as root and writes under /var/lib/lava/dispatcher/tmp; CI runs as root.
//! Outside this workplace the reference copy is missing: the test then fails saying so,
//! unless `LAVA_REAL_SLAVE=skip` is set explicitly.

mod common;

use common::{shell_job, Lab, Proc};
use std::path::PathBuf;
use std::process::Command;

fn start_real_slave(lab: &Lab, hostname: &str, python: &PathBuf, script: &PathBuf) -> Proc {
    let slave_dir = lab.data_dir().join("slave");
    std::fs::create_dir_all(&slave_dir).expect("cannot create the slave dir");
    let mut command = Command::new(python);
    command
        .args(["-W", "ignore"])
        .arg(script)
        .args([
            "--hostname",
            hostname,
            "--master",
            &lab.master_url(),
            "--socket-addr",
            &lab.log_url(),
        ])
        .arg("--slave-dir")
        .arg(&slave_dir)
        .args(["--log-file", "-", "--level", "DEBUG"]);
    Proc::start(
        "real lava-slave",
        command,
        &lab.data_dir().join("slave.log"),
    )
}

#[test]
fn real_lava_2020_05_slave_runs_jobs_for_lava_master() {
    let Some((python, script)) = common::real_lava_slave() else {
        return;
    };
    let lab = Lab::new();
    lab.add_example_devices("real-worker");
    let good = lab.submit(&shell_job("hello", None));
    // This context makes the rendered device configuration invalid YAML: START cannot be
    // built, the job fails with an Infrastructure error, and the master goes on.
    let broken = lab.submit(&shell_job(
        "hello",
        Some("  extra_kernel_args: '[unbalanced'\n"),
    ));
    let after = lab.submit(&shell_job("hello", None));
    let _master = lab.start_master();
    let _slave = start_real_slave(&lab, "real-worker", &python, &script);

    for id in [&good, &broken, &after] {
        let code = lab.wait(id, 180);
        assert!(
            code == 0 || code == 1,
            "job {id} did not finish (jobs wait exit {code}).\nmaster log:\n{}\nslave log:\n{}",
            lab.master_log(),
            std::fs::read_to_string(lab.data_dir().join("slave.log")).unwrap_or_default()
        );
    }
    assert_eq!(
        lab.job_status(&good),
        ("Finished".into(), "Complete".into()),
        "{}",
        lab.master_log()
    );
    assert_eq!(
        lab.job_status(&after),
        ("Finished".into(), "Complete".into()),
        "{}",
        lab.master_log()
    );
    let logs = lab.admin_ok(&["jobs", "logs", &good]);
    assert!(
        logs.contains("hello from lava-rs"),
        "the command's output is in the log:\n{logs}"
    );
    assert!(
        logs.contains(r#""case": "job", "definition": "lava", "result": "pass""#),
        "the final result is in the log:\n{logs}"
    );

    let (state, health) = lab.job_status(&broken);
    assert_eq!(
        (state.as_str(), health.as_str()),
        ("Finished", "Incomplete")
    );
    let shown: serde_json::Value =
        serde_json::from_str(&lab.admin_ok(&["jobs", "show", &broken, "--json"])).expect("JSON");
    let comment = shown["failure_comment"].as_str().unwrap_or_default();
    assert!(
        comment.contains("device"),
        "the failure names the device configuration: {comment:?}"
    );
}
