//! A master whose disks fill up or turn read-only goes on: it reports the failure, keeps
//! what it received, retries, and once the disk is back the job ends as it would have, its
//! log whole and its result stored once. Real processes (the slave with the lava-run test
//! double) against a master on a small tmpfs or on files made immutable by the test.
//!
//! Every wait is bounded; no test asserts on time. Mounting needs root (see `faults`).

mod common;
mod faults;
mod slave_support;

use common::Lab;
use faults::{
    assert_alive, assert_complete_once, disk_tests_skipped, double_job, eventually, metrics,
    metrics_report_failing, reported, runs_exited, start_master, start_slave, wait_running,
    Immutable, Tmpfs,
};
use slave_support::lava_run_double;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WORKER: &str = "disk-worker";

#[test]
fn a_full_job_output_disk_holds_the_job_until_it_is_freed_and_loses_nothing() {
    if disk_tests_skipped(
        "a_full_job_output_disk_holds_the_job_until_it_is_freed_and_loses_nothing",
    ) {
        return;
    }
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let output = Tmpfs::mount_or_explain(&lab.data_dir().join("job-output"), 256);
    output.fill();
    let trace = lab.data_dir().join("runs.trace");
    let job = lab.submit(&double_job("pass:4"));
    let mut master = start_master(&lab, &[]);
    let _slave = start_slave(&lab, WORKER, lava_run_double(), &trace);
    wait_running(&lab, &job);
    assert!(
        eventually(Duration::from_secs(30), || reported(&lab, "disk")),
        "the full disk is reported\n{}",
        lab.logs()
    );
    // lava-run is done after 4 s: its records and its END wait for the disk.
    assert!(
        eventually(Duration::from_secs(30), || runs_exited(&trace, &job)),
        "lava-run ended\n{}",
        lab.logs()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_alive(&mut master, &lab);
    assert_eq!(lab.job_status(&job).0, "Running", "{}", lab.logs());
    // The API still answers while the disk is full, and the metrics say what is wrong.
    assert!(lab.admin(&["workers", "show", WORKER]).status.success());
    assert!(
        metrics_report_failing(&lab, "disk"),
        "/metrics shows the full disk and the work waiting for it:\n{}",
        metrics(&lab)
    );

    output.free();
    assert_complete_once(&lab, &job, &trace);
    assert_alive(&mut master, &lab);
    assert!(
        lab.master_log().contains("the lab's disk works again"),
        "{}",
        lab.master_log()
    );
    // And the next job runs as usual.
    let next = lab.submit(&double_job("pass:1"));
    assert_complete_once(&lab, &next, &trace);
}

/// A read-only job-output directory: a tmpfs remounted read-only, or (when mounting is
/// impossible and this process is not root) a directory without write permission.
enum ReadOnlyDir {
    Mounted(Tmpfs),
    Chmod(PathBuf),
}

impl ReadOnlyDir {
    fn make(dir: &Path) -> ReadOnlyDir {
        match Tmpfs::mount(dir, 1024) {
            Ok(tmpfs) => {
                tmpfs.read_only().expect("cannot remount the tmpfs read-only");
                ReadOnlyDir::Mounted(tmpfs)
            }
            Err(e) if !is_root() => {
                eprintln!("cannot mount a tmpfs ({e}): making {} read-only with chmod instead", dir.display());
                set_mode(dir, 0o555);
                ReadOnlyDir::Chmod(dir.to_path_buf())
            }
            Err(e) => panic!(
                "this test mounts a tmpfs and remounts it read-only, and cannot: {e}; as root, chmod \
                 cannot make a directory read-only either. Set LAVA_DISK_TESTS=skip to skip it knowingly"
            ),
        }
    }

    fn writable(&self) {
        match self {
            ReadOnlyDir::Mounted(tmpfs) => tmpfs.writable(),
            ReadOnlyDir::Chmod(dir) => set_mode(dir, 0o755),
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn set_mode(dir: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("cannot create the directory");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .expect("cannot change the directory's mode");
}

#[test]
fn a_read_only_job_output_disk_holds_the_job_until_it_is_writable() {
    if disk_tests_skipped("a_read_only_job_output_disk_holds_the_job_until_it_is_writable") {
        return;
    }
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let output = ReadOnlyDir::make(&lab.data_dir().join("job-output"));
    let trace = lab.data_dir().join("runs.trace");
    let job = lab.submit(&double_job("pass:3"));
    let mut master = start_master(&lab, &[]);
    let _slave = start_slave(&lab, WORKER, lava_run_double(), &trace);
    wait_running(&lab, &job);
    assert!(
        eventually(Duration::from_secs(30), || reported(&lab, "disk")),
        "the read-only disk is reported\n{}",
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

    output.writable();
    assert_complete_once(&lab, &job, &trace);
    assert_alive(&mut master, &lab);
}

/// A lab whose SQLite store lives on its own tmpfs (`data/lava.sqlite3` is a symlink to
/// it: SQLite keeps its WAL beside the real file).
fn lab_with_store_on(size_kib: u64) -> (Lab, Tmpfs, PathBuf) {
    let lab = Lab::new();
    let tmpfs = Tmpfs::mount_or_explain(&lab.data_dir().join("store"), size_kib);
    let db = tmpfs.dir.join("lava.sqlite3");
    std::os::unix::fs::symlink(&db, lab.data_dir().join("lava.sqlite3"))
        .expect("cannot link the store");
    lab.add_example_devices(WORKER);
    (lab, tmpfs, db)
}

/// Empties the store's WAL (so that the next write must grow it) while the master runs.
fn truncate_wal(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("cannot open the store");
    let ok = eventually(Duration::from_secs(10), || {
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .unwrap_or(1);
        let wal = std::fs::metadata(db.with_extension("sqlite3-wal")).map_or(0, |m| m.len());
        busy == 0 && wal == 0
    });
    assert!(ok, "the WAL could not be emptied");
}

#[test]
fn a_full_store_disk_holds_results_and_end_until_it_is_freed() {
    if disk_tests_skipped("a_full_store_disk_holds_results_and_end_until_it_is_freed") {
        return;
    }
    let (lab, store, db) = lab_with_store_on(4096);
    let trace = lab.data_dir().join("runs.trace");
    let job = lab.submit(&double_job("pass:6"));
    let mut master = start_master(&lab, &[]);
    let _slave = start_slave(&lab, WORKER, lava_run_double(), &trace);
    wait_running(&lab, &job);
    truncate_wal(&db);
    store.fill();
    assert!(
        eventually(Duration::from_secs(30), || reported(&lab, "store")),
        "the full store is reported\n{}",
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

    store.free();
    assert_complete_once(&lab, &job, &trace);
    assert_alive(&mut master, &lab);
    assert!(
        lab.master_log().contains("the lab's store works again"),
        "{}",
        lab.master_log()
    );
}

#[test]
fn a_store_that_turns_read_only_holds_results_and_end_until_it_is_writable() {
    if disk_tests_skipped("a_store_that_turns_read_only_holds_results_and_end_until_it_is_writable")
    {
        return;
    }
    let lab = Lab::new();
    lab.add_example_devices(WORKER);
    let trace = lab.data_dir().join("runs.trace");
    let job = lab.submit(&double_job("pass:6"));
    let mut master = start_master(&lab, &[]);
    let _slave = start_slave(&lab, WORKER, lava_run_double(), &trace);
    wait_running(&lab, &job);
    let db = lab.data_dir().join("lava.sqlite3");
    let files = [db.clone(), db.with_extension("sqlite3-wal")];
    let mut frozen = Immutable::set(&files).unwrap_or_else(|e| {
        panic!(
            "this test makes the store's files immutable (chattr +i, root on a file system \
             that supports it), and cannot: {e}. Set LAVA_DISK_TESTS=skip to skip it knowingly"
        )
    });
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

    frozen.clear();
    assert_complete_once(&lab, &job, &trace);
    assert_alive(&mut master, &lab);
}

#[test]
fn a_master_started_on_a_read_only_store_waits_until_it_is_writable() {
    if disk_tests_skipped("a_master_started_on_a_read_only_store_waits_until_it_is_writable") {
        return;
    }
    let lab = Lab::new();
    let store = Tmpfs::mount_or_explain(&lab.data_dir().join("store"), 4096);
    std::os::unix::fs::symlink(
        store.dir.join("lava.sqlite3"),
        lab.data_dir().join("lava.sqlite3"),
    )
    .expect("cannot link the store");
    store
        .read_only()
        .expect("cannot remount the tmpfs read-only");
    let mut master = start_master(&lab, &[]);
    assert!(
        eventually(Duration::from_secs(30), || lab
            .master_log()
            .contains("cannot open the lab")),
        "the master says why it waits\n{}",
        lab.master_log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_alive(&mut master, &lab);
    store.writable();
    assert!(
        eventually(Duration::from_secs(60), || lab
            .master_log()
            .contains("lava-master started")),
        "the master starts once the store is writable\n{}",
        lab.master_log()
    );
    lab.add_example_devices(WORKER);
    let trace = lab.data_dir().join("runs.trace");
    let _slave = start_slave(&lab, WORKER, lava_run_double(), &trace);
    let job = lab.submit(&double_job("pass:1"));
    assert_complete_once(&lab, &job, &trace);
}
