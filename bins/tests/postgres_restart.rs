//! A master on PostgreSQL survives what happens to PostgreSQL: restarts (every connection
//! cut, the server away for a moment) with jobs running, and a server that turns read-only
//! (as a failover to a standby does). No master restart: it reconnects, takes its lock
//! again, and the jobs end as they would have, once, their results stored once.
//!
//! The test runs its own throw-away cluster (`scripts/pg-test-cluster.sh`), since it
//! restarts it. Like the store's PostgreSQL tests it fails when PostgreSQL's server binaries
//! are missing, unless `LAVA_TEST_POSTGRES=skip` is set.

mod common;
mod faults;
mod slave_support;

use common::Lab;
use faults::{
    assert_alive, assert_complete_once, double_job, eventually, metrics, metrics_report_failing,
    reported, runs_exited, start_master, start_slave, wait_running,
};
use slave_support::lava_run_double;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const WORKER: &str = "pg-worker";

/// A cluster of this test's own, stopped and removed on drop.
struct Cluster {
    dir: String,
    url: String,
}

fn script() -> PathBuf {
    common::repo_root().join("scripts/pg-test-cluster.sh")
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let out = Command::new(script())
            .arg("start")
            .env("LAVA_PG_FSYNC", "off")
            .output()
            .expect("cannot run pg-test-cluster.sh");
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            if std::env::var("LAVA_TEST_POSTGRES").as_deref() == Ok("skip") {
                eprintln!("LAVA_TEST_POSTGRES=skip: no PostgreSQL restart test ({why})");
                return None;
            }
            panic!("cannot start a PostgreSQL cluster: {why} (LAVA_TEST_POSTGRES=skip skips this test knowingly)");
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}='")))
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or_else(|| panic!("pg-test-cluster.sh did not print {name}: {text}"))
                .to_owned()
        };
        Some(Cluster {
            dir: value("LAVA_TEST_PG_DIR"),
            url: value("LAVA_TEST_POSTGRES_URL"),
        })
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new(script())
            .args(args)
            .output()
            .expect("cannot run pg-test-cluster.sh");
        assert!(
            out.status.success(),
            "pg-test-cluster.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Restarts the server, down for `pause` seconds (0: as quick as it goes).
    fn restart(&self, pause: u64) {
        if pause == 0 {
            self.run(&["restart", &self.dir]);
        } else {
            self.run(&["restart", &self.dir, &pause.to_string()]);
        }
    }

    fn sql(&self, statements: &[&str]) {
        let mut args = vec!["psql", self.dir.as_str()];
        args.extend_from_slice(statements);
        self.run(&args);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let status = Command::new(script()).args(["stop", &self.dir]).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("cannot stop the test cluster in {}", self.dir);
        }
    }
}

#[test]
fn a_master_on_postgresql_survives_restarts_and_a_read_only_spell() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let mut lab = Lab::new();
    lab.store = Some(cluster.url.clone());
    lab.add_example_devices(WORKER);
    let trace = lab.data_dir().join("runs.trace");
    let mut master = start_master(&lab, &[]);
    let _slave = start_slave(&lab, WORKER, lava_run_double(), &trace);

    // Restarts while jobs run: early (its results, END and final result come after), late
    // (its END and final result come after), with nothing running, and one that keeps the
    // server down while the job's results, END and final result arrive.
    for (running, wait, down) in [(true, 0, 0), (true, 3, 0), (false, 0, 0), (true, 1, 6)] {
        let job = lab.submit(&double_job("pass:4"));
        if running {
            wait_running(&lab, &job);
            std::thread::sleep(Duration::from_secs(wait));
        }
        cluster.restart(down);
        assert_complete_once(&lab, &job, &trace);
        assert_alive(&mut master, &lab);
    }
    assert!(
        reported(&lab, "store"),
        "the server's absence is reported\n{}",
        lab.master_log()
    );
    // The master holds its lock again: a second master is refused, naming the first.
    let mut second = Command::new(env!("CARGO_BIN_EXE_lava-master"));
    let out = second
        .arg("--data-dir")
        .arg(lab.data_dir().join("second"))
        .args(["--store", &cluster.url, "--http", "127.0.0.1:0"])
        .args(["--master-socket", "tcp://127.0.0.1:0"])
        .args(["--log-socket", "tcp://127.0.0.1:0"])
        .output()
        .expect("cannot run a second lava-master");
    assert!(!out.status.success(), "a second master started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another master"), "{err}");

    // Read-only: writes fail, the job waits, and ends once writes are allowed again.
    let job = lab.submit(&double_job("pass:5"));
    wait_running(&lab, &job);
    cluster.sql(&[
        "ALTER SYSTEM SET default_transaction_read_only = on",
        "SELECT pg_reload_conf()",
    ]);
    assert!(
        eventually(Duration::from_secs(30), || reported(&lab, "store")),
        "the read-only store is reported\n{}",
        lab.logs()
    );
    assert!(
        eventually(Duration::from_secs(30), || runs_exited(&trace, &job)),
        "lava-run ended\n{}",
        lab.logs()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_alive(&mut master, &lab);
    assert_eq!(lab.job_status(&job).0, "Running", "{}", lab.logs());
    assert!(
        metrics_report_failing(&lab, "store"),
        "/metrics shows the read-only store and the work waiting for it:\n{}",
        metrics(&lab)
    );
    cluster.sql(&[
        "ALTER SYSTEM RESET default_transaction_read_only",
        "SELECT pg_reload_conf()",
    ]);
    assert_complete_once(&lab, &job, &trace);
    assert_alive(&mut master, &lab);
    assert!(
        lab.master_log()
            .contains("PostgreSQL connection re-established"),
        "{}",
        lab.master_log()
    );
}
