//! Starting lava-run exactly as LAVA 2020.05's lava-slave does, and reading what it left.
//!
//! The command line, the files and the process group are part of the dispatcher contract
//! (a real lava-run must work under a lava-rs slave): see protocol.md §5.2. What they are is
//! decided by `lava_core::slave::lava_run` (pure functions) and the environment by the
//! machine's [`JobEnvironment`]; this module only writes, spawns and reads.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lava_core::master::StartPayload;
use lava_core::model::JobId;
use lava_core::slave::lava_run::{command_line, job_dir, job_files, LavaRunOptions};
use lava_core::slave::JobEnvironment;

/// Why a job's lava-run could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A work directory or file could not be written.
    #[error("job {job_id}: cannot write {path}: {source}")]
    Write {
        /// The job.
        job_id: JobId,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The process could not be started at all.
    #[error("job {job_id}: cannot start {program}: {source}")]
    Exec {
        /// The job.
        job_id: JobId,
        /// The program.
        program: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// The per-job work directory: `<slave-dir>/tmp/<prefix><job_id>`.
pub fn work_dir(slave_dir: &Path, prefix: &str, job_id: JobId) -> PathBuf {
    job_dir(slave_dir, prefix, job_id)
}

/// Writes the job's files and starts lava-run in its own process group, with the
/// environment the machine parsed from env.yaml applied to this process's own. stdout and
/// stderr go to `<dir>/stdout` and `<dir>/stderr` (inherited with `--debug`). The child is
/// not waited for here.
///
/// Variables of this process that are not UTF-8 are not passed on (env.yaml names and
/// values are text, and LAVA's environments are).
pub fn start_job(
    options: &LavaRunOptions,
    dir: &Path,
    job_id: JobId,
    files: &StartPayload,
    environment: &JobEnvironment,
) -> Result<Child, SpawnError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| SpawnError::Write {
            job_id,
            path,
            source,
        }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(write_err(dir))?;
    for (path, text) in job_files(dir, files) {
        fs::write(&path, text).map_err(write_err(&path))?;
    }
    let inherited = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
    let env = environment.apply(inherited);
    let args = command_line(options, dir, job_id, !files.env_dut.is_empty());
    let Some((program, rest)) = args.split_first() else {
        return Err(SpawnError::Exec {
            job_id,
            program: options.program.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty command line"),
        });
    };
    let mut command = Command::new(program);
    command
        .args(rest)
        .env_clear()
        .envs(env)
        .process_group(0)
        .stdin(Stdio::null());
    if options.debug {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        let open = |name: &str| {
            let path = dir.join(name);
            fs::File::create(&path).map_err(write_err(&path))
        };
        command.stdout(open("stdout")?).stderr(open("stderr")?);
    }
    command.spawn().map_err(|source| SpawnError::Exec {
        job_id,
        program: PathBuf::from(program),
        source,
    })
}

/// What the slave sends in END once lava-run has gone: its stderr and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// The whole stderr file as text (lossily decoded: LAVA would crash on non-UTF-8).
    pub errors: String,
    /// `description.yaml`, or `None` when it is missing (lava-run crashed or never ran).
    pub description: Option<String>,
}

/// Reads what lava-run left in its work directory.
pub fn outcome(base: &Path) -> JobOutcome {
    let errors = fs::read(base.join("stderr"))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let description = fs::read(base.join("description.yaml"))
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    JobOutcome {
        errors,
        description,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Waits (at most 10 s) until `/proc/<pid>/cmdline` is filled in: right after exec it is
    /// empty for a moment.
    pub(crate) fn wait_for_cmdline(pid: u32) {
        for _ in 0..1000 {
            if fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn options(program: PathBuf) -> LavaRunOptions {
        LavaRunOptions {
            program,
            nice: false,
            logging_url: "tcp://localhost:5555".into(),
            debug: false,
            socks_proxy: None,
            ipv6: false,
            master_cert: None,
            slave_cert: None,
        }
    }

    fn payload(job: &str, device: &str) -> StartPayload {
        StartPayload {
            job: job.into(),
            device: device.into(),
            dispatcher: String::new(),
            env: String::new(),
            env_dut: String::new(),
        }
    }

    fn script(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("lava-run");
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn files_environment_streams_and_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let base = work_dir(dir.path(), "pre-", 7);
        assert!(base.ends_with("tmp/pre-7"));
        let program = script(
            dir.path(),
            "echo out; echo err >&2; echo \"$LAVA_X\" > \"$(dirname \"$0\")/x\"; \
             ps -o pgid= -p $$ > \"$(dirname \"$0\")/pgid\"",
        );
        let files = payload("job", "dev");
        let environment = JobEnvironment::parse("overrides: {LAVA_X: from-env-yaml}").unwrap();
        let mut child = start_job(&options(program), &base, 7, &files, &environment).unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success());
        assert_eq!(fs::read_to_string(base.join("job.yaml")).unwrap(), "job");
        assert_eq!(
            fs::read_to_string(base.join("dispatcher.yaml")).unwrap(),
            ""
        );
        assert!(!base.join("env.dut.yaml").exists());
        assert_eq!(fs::read_to_string(base.join("stdout")).unwrap(), "out\n");
        assert_eq!(
            fs::read_to_string(dir.path().join("x")).unwrap(),
            "from-env-yaml\n"
        );
        let out = outcome(&base);
        assert_eq!(out.errors, "err\n");
        assert_eq!(out.description, None);
        let pgid: u32 = fs::read_to_string(dir.path().join("pgid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(pgid, pid, "lava-run must lead its own process group");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = start_job(
            &options(dir.path().join("nope")),
            &dir.path().join("b"),
            1,
            &payload("", ""),
            &JobEnvironment::default(),
        )
        .unwrap_err();
        assert!(matches!(err, SpawnError::Exec { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn an_unwritable_work_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = start_job(
            &options(dir.path().join("lava-run")),
            &file.join("sub"),
            2,
            &payload("", ""),
            &JobEnvironment::default(),
        )
        .unwrap_err();
        assert!(matches!(err, SpawnError::Write { .. }), "{err}");
        assert!(err.to_string().contains("job 2"), "{err}");
    }
}
