//! Faults the master must survive, made for real: small tmpfs mounts the test makes and
//! removes (a disk that fills up or turns read-only), immutable files (a store that turns
//! read-only under an open connection), and checks of what the master kept.
//!
//! Mounting needs root (CI runs as root). Where it is impossible the tests fail saying so,
//! unless `LAVA_DISK_TESTS=skip` is set, which skips them knowingly; where a read-only
//! directory can be had without mounting (`chmod`, which binds only non-root processes), the
//! tests use that instead and say so.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether the disk tests were knowingly turned off.
pub fn disk_tests_skipped(test: &str) -> bool {
    if std::env::var("LAVA_DISK_TESTS").as_deref() == Ok("skip") {
        eprintln!("LAVA_DISK_TESTS=skip: {test} is not run");
        return true;
    }
    false
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A tmpfs of a fixed size mounted by the test, unmounted on drop.
pub struct Tmpfs {
    /// Where it is mounted.
    pub dir: PathBuf,
    filler: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` KiB on `dir` (created if needed).
    pub fn mount(dir: &Path, size_kib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let target = dir.to_str().ok_or("a mount point that is not UTF-8")?;
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_kib}k,mode=0755"),
                "lava-rs-test",
                target,
            ],
        )?;
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
            filler: dir.join(".filler"),
        })
    }

    /// Mounts it, or panics saying why the test cannot run.
    pub fn mount_or_explain(dir: &Path, size_kib: u64) -> Tmpfs {
        Tmpfs::mount(dir, size_kib).unwrap_or_else(|e| {
            panic!(
                "this test mounts a small tmpfs to fill it or make it read-only, and cannot: {e}. \
                 Run it as root (as CI does), or set LAVA_DISK_TESTS=skip to skip it knowingly"
            )
        })
    }

    /// Fills it to the last byte with a file of its own.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .expect("cannot create the filler file");
        let block = vec![0u8; 4096];
        loop {
            if file.write_all(&block).is_err() {
                break;
            }
        }
        // The last partial block.
        while file.write_all(&[0]).is_ok() {}
        assert!(
            std::fs::write(self.dir.join(".probe"), b"x").is_err(),
            "the tmpfs is full"
        );
    }

    /// Frees what [`Tmpfs::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("cannot remove the filler file");
    }

    /// Remounts it read-only (no file may be open for writing on it).
    pub fn read_only(&self) -> Result<(), String> {
        run(
            "mount",
            &["-o", "remount,ro", self.dir.to_str().unwrap_or_default()],
        )
    }

    /// Remounts it writable.
    pub fn writable(&self) {
        run(
            "mount",
            &["-o", "remount,rw", self.dir.to_str().unwrap_or_default()],
        )
        .expect("cannot remount the tmpfs writable");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: processes killed a moment ago may still hold files on it.
        if let Err(e) = run("umount", &["-l", self.dir.to_str().unwrap_or_default()]) {
            eprintln!(
                "cannot unmount the test's tmpfs {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// Files made immutable (`chattr +i`: even a process holding them open for writing gets
/// EPERM, root included), made mutable again on drop.
pub struct Immutable {
    paths: Vec<PathBuf>,
}

impl Immutable {
    /// Makes `paths` immutable.
    pub fn set(paths: &[PathBuf]) -> Result<Immutable, String> {
        let mut done = Immutable { paths: Vec::new() };
        for path in paths {
            run("chattr", &["+i", path.to_str().unwrap_or_default()])?;
            done.paths.push(path.clone());
        }
        Ok(done)
    }

    /// Makes them mutable again.
    pub fn clear(&mut self) {
        for path in self.paths.drain(..) {
            if let Err(e) = run("chattr", &["-i", path.to_str().unwrap_or_default()]) {
                eprintln!("{e}");
            }
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Polls `check` every 100 ms for at most `limit`.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// What a job's log says about the lava-run-double run that wrote it: whether every record
/// is there (contiguous `running: i/N` lines, the closing records, the final result once).
pub fn log_is_complete(lines: &[String]) -> Result<(), String> {
    let running: Vec<u64> = lines
        .iter()
        .filter_map(|l| {
            let at = l.find("running: ")?;
            l[at + 9..].split('/').next()?.parse().ok()
        })
        .collect();
    let expected: Vec<u64> = (1..=running.len() as u64).collect();
    if running != expected {
        return Err(format!(
            "running lines {running:?}, not 1..={}",
            running.len()
        ));
    }
    for needle in [
        "start: 1 lava-run-double",
        r#""case": "validate""#,
        r#""case": "run""#,
        "Job finished correctly",
    ] {
        if !lines.iter().any(|l| l.contains(needle)) {
            return Err(format!("no line with {needle}"));
        }
    }
    let finals = lines
        .iter()
        .filter(|l| l.contains(r#""case": "job", "definition": "lava""#))
        .count();
    if finals != 1 {
        return Err(format!("{finals} final results"));
    }
    Ok(())
}

/// The lines of a job's log, from lava-admin.
pub fn job_log(lab: &crate::common::Lab, id: &str) -> Vec<String> {
    lab.admin_ok(&["jobs", "logs", id])
        .lines()
        .map(|l| l.trim_start_matches("- ").to_owned())
        .collect()
}

/// Starts lava-master on `lab` with `extra` options (the PONG interval is 5 s, so that
/// slaves notice a restarted master quickly).
pub fn start_master(lab: &crate::common::Lab, extra: &[&str]) -> crate::common::Proc {
    lab.start_master_with(&[&["--ping-interval", "5"], extra].concat())
}

/// Starts the lava-rs slave with the lava-run test double, which traces its runs to
/// `trace` (see [`runs`]).
pub fn start_slave(
    lab: &crate::common::Lab,
    worker: &str,
    lava_run: &Path,
    trace: &Path,
) -> crate::common::Proc {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lava-slave"));
    command
        .args(["--hostname", worker, "--master", &lab.master_url()])
        .args(["--socket-addr", &lab.log_url()])
        .arg("--slave-dir")
        .arg(lab.data_dir().join("slave"))
        .arg("--download-dir")
        .arg(lab.data_dir().join("download"))
        .arg("--lava-run")
        .arg(lava_run)
        .args(["--log-file", "-", "--level", "DEBUG"])
        .args(["--job-check-interval", "1"])
        .env("LAVA_RUN_DOUBLE_TRACE", trace);
    crate::common::Proc::start("lava-slave", command, &lab.data_dir().join("slave.log"))
}

/// How many times lava-run started each job, from the double's trace.
pub fn runs(trace: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut runs = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(trace).unwrap_or_default().lines() {
        let mut words = line.split(' ');
        if words.next() == Some("start") {
            if let Some(job) = words.next() {
                *runs.entry(job.to_owned()).or_insert(0) += 1;
            }
        }
    }
    runs
}

/// The job definition the tests run: lava-run-double in `mode` (e.g. `pass:4`).
pub fn double_job(mode: &str) -> String {
    format!(
        "{}metadata:\n  lava-run-double: \"{mode}\"\n",
        crate::common::shell_job("hello", None)
    )
}

/// Panics with the logs if the master process has exited.
pub fn assert_alive(master: &mut crate::common::Proc, lab: &crate::common::Lab) {
    if let Ok(Some(status)) = master.child.try_wait() {
        panic!("lava-master exited ({status})\n{}", lab.logs());
    }
}

/// How many final `lava`/`job` results the store at `store_url` holds for `job`.
pub fn final_results(store_url: &str, job: &str) -> usize {
    let id: i64 = job.parse().expect("a job id");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = lava_lab::open_store(store_url, false)
            .await
            .expect("cannot open the store");
        store
            .test_cases(id)
            .await
            .expect("cannot read the job's results")
            .iter()
            .filter(|c| c.suite == "lava" && c.name == "job")
            .count()
    })
}

/// The checks every test ends with: the job Complete, run once, its log whole, its final
/// result stored once, its END acknowledged (the slave forgot it).
pub fn assert_complete_once(lab: &crate::common::Lab, job: &str, trace: &Path) {
    assert_eq!(
        lab.wait(job, 90),
        0,
        "job {job} did not complete\n{}",
        lab.logs()
    );
    assert_eq!(runs(trace).get(job), Some(&1), "job {job} ran once");
    let lines = job_log(lab, job);
    if let Err(e) = log_is_complete(&lines) {
        panic!("job {job}'s log is not whole: {e}\n{}", lines.join("\n"));
    }
    let store = lab
        .store
        .clone()
        .unwrap_or_else(|| lab.data_dir().join("lava.sqlite3").display().to_string());
    assert_eq!(
        final_results(&store, job),
        1,
        "the final result is stored once"
    );
    let work = lab.data_dir().join("slave/tmp").join(job);
    assert!(
        eventually(Duration::from_secs(30), || !work.exists()),
        "END_OK reached the slave\n{}",
        lab.logs()
    );
    if std::env::var_os("LAVA_TEST_SHOW_LOGS").is_some() {
        eprintln!("{}", lab.logs());
    }
}

pub fn wait_running(lab: &crate::common::Lab, job: &str) {
    assert!(
        eventually(Duration::from_secs(60), || lab.job_status(job).0
            == "Running"),
        "job {job} never ran\n{}",
        lab.logs()
    );
}

/// The master said which part of the lab failed.
pub fn reported(lab: &crate::common::Lab, part: &str) -> bool {
    lab.master_log()
        .contains(&format!("the lab's {part} is failing"))
}

/// Whether lava-run exited for `job` (its trace says so).
pub fn runs_exited(trace: &Path, job: &str) -> bool {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("exit-") && l.split(' ').nth(1) == Some(job))
}

/// The master's `/metrics` text (HTTP GET on its API port); fails the test unless it
/// answers 200.
pub fn metrics(lab: &crate::common::Lab) -> String {
    let (status, body) = crate::common::http_request(&lab.http_addr(), "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "/metrics: {body}");
    body
}

/// Whether `/metrics` says the lab's `part` (`store`, `disk`) is failing and work waits.
pub fn metrics_report_failing(lab: &crate::common::Lab, part: &str) -> bool {
    let text = metrics(lab);
    let pending = text
        .lines()
        .find_map(|l| l.strip_prefix("lava_master_pending_operations "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    text.contains(&format!("lava_master_failing{{part=\"{part}\"}} 1")) && pending > 0
}
