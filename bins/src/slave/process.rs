//! Finding and signalling a job's lava-run through `/proc`, including lava-run processes
//! that a previous slave started (they are not our children and cannot be waited for).
//!
//! A pid alone is not trusted: after a reboot or a long outage it may belong to another
//! program, or to the lava-run of another job. A process is a job's lava-run when its
//! command line mentions `lava-run` and names the job, either as the title lava-run sets
//! (`lava-run [job: <id>]`) or through the `--job-id=<id>` argument the slave gave it
//! (before lava-run sets its title, or for a lava-run that does not set one). When the
//! command line also has `--output-dir=`, it must be the job's work directory: several
//! slaves may share a host (that is what the dispatcher `prefix` is for), and their masters
//! may use the same job ids.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use lava_core::model::JobId;
use lava_core::slave::Signal;

/// The command line of `pid` as `/proc` shows it (NUL-separated), `None` if there is no
/// such process or it has exited (a zombie's command line is empty).
fn cmdline(pid: u32) -> Option<Vec<u8>> {
    if pid == 0 {
        return None;
    }
    fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .filter(|c| !c.is_empty())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether a command line is that of the lava-run of `job_id` working in `work_dir`.
pub fn is_lava_run_of(cmdline: &[u8], job_id: JobId, work_dir: &Path) -> bool {
    if !contains(cmdline, b"lava-run") {
        return false;
    }
    let mut args = cmdline.split(|b| *b == 0);
    let elsewhere = args.clone().any(|arg| {
        arg.strip_prefix(b"--output-dir=")
            .is_some_and(|dir| !same_dir(Path::new(OsStr::from_bytes(dir)), work_dir))
    });
    if elsewhere {
        return false;
    }
    if contains(cmdline, format!("lava-run [job: {job_id}]").as_bytes()) {
        return true;
    }
    let job_argument = format!("--job-id={job_id}");
    args.any(|arg| arg == job_argument.as_bytes())
}

/// Whether two spellings name the same directory (`/a//b/` and `/a/b`, or a relative
/// `--slave-dir` given to an earlier slave).
fn same_dir(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether `pid` is alive and is the lava-run of `job_id` working in `work_dir`.
pub fn is_job_alive(pid: u32, job_id: JobId, work_dir: &Path) -> bool {
    cmdline(pid).is_some_and(|c| is_lava_run_of(&c, job_id, work_dir))
}

/// The pid of the lava-run of `job_id` working in `work_dir`, looked up in `/proc` (for a
/// row written just before a spawn whose pid was never stored).
pub fn find_job(job_id: JobId, work_dir: &Path) -> Option<u32> {
    let entries = fs::read_dir("/proc").ok()?;
    let mut found: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_job_alive(*pid, job_id, work_dir))
        .collect();
    // `nice` execs lava-run, so there is one process; should a wrapper have forked, the
    // oldest (smallest pid, barring wrap-around) is the group leader that the slave started.
    found.sort_unstable();
    found.first().copied()
}

/// Sends `signal` to the process group led by `pid` (lava-run runs in its own group, so its
/// children get it too), or to `pid` alone if it does not lead a group.
pub fn signal_group(pid: u32, signal: Signal) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid pid {pid}")))?;
    let signal = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: getpgid and kill only take integers; a stale pid yields ESRCH, not UB.
    let rc = unsafe {
        if libc::getpgid(pid) == pid {
            libc::kill(-pid, signal)
        } else {
            libc::kill(pid, signal)
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn command_lines_must_name_the_job() {
        let dir = Path::new("/s/tmp/12");
        assert!(is_lava_run_of(b"lava-run [job: 12]\0\0\0", 12, dir));
        assert!(!is_lava_run_of(b"lava-run [job: 123]", 12, dir));
        let python = b"/usr/bin/python3\0/usr/bin/lava-run\0--output-dir=/s/tmp/12\0--job-id=12\0";
        assert!(is_lava_run_of(python, 12, dir));
        // Another slave's job 12 on the same host (another prefix).
        assert!(!is_lava_run_of(python, 12, Path::new("/s/tmp/b-12")));
        assert!(!is_lava_run_of(
            b"/usr/bin/lava-run\0--job-id=120\0",
            12,
            dir
        ));
        assert!(!is_lava_run_of(b"/bin/sleep\0--job-id=12\0", 12, dir));
        assert!(!is_lava_run_of(b"", 12, dir));
    }

    #[test]
    fn output_dirs_compare_as_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("12");
        std::fs::create_dir(&dir).unwrap();
        let mut cmdline = b"lava-run\0--job-id=12\0--output-dir=".to_vec();
        cmdline.extend_from_slice(tmp.path().join(".//12/").as_os_str().as_bytes());
        assert!(is_lava_run_of(&cmdline, 12, &dir));
        assert!(!is_lava_run_of(&cmdline, 12, &tmp.path().join("13")));
    }

    #[test]
    fn live_processes_are_found_and_signalled() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30; true", "lava-run", "--job-id=987654"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        crate::slave::lava_run::tests::wait_for_cmdline(pid);
        let dir = Path::new("/nowhere");
        assert!(is_job_alive(pid, 987654, dir));
        assert!(!is_job_alive(pid, 98765, dir));
        assert_eq!(find_job(987654, dir), Some(pid));
        signal_group(pid, Signal::Term).unwrap();
        child.wait().unwrap();
        assert!(!is_job_alive(pid, 987654, dir));
        assert_eq!(find_job(987654, dir), None);
        assert!(signal_group(0, Signal::Term).is_err());
    }

    use std::os::unix::process::CommandExt;
}
