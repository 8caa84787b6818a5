//! Starting lava-run exactly as LAVA 2020.05's lava-slave does, and watching it.
//!
//! The command line, the files and the process group are part of the dispatcher contract
//! (a real lava-run must work under a lava-rs slave): see protocol.md §5.2.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lava_core::master::StartPayload;
use lava_core::slave::JobEnvironment;

/// The texts a START carries, which become lava-run's input files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFiles {
    /// `job.yaml`.
    pub job: String,
    /// `device.yaml`.
    pub device: String,
    /// `dispatcher.yaml` (always written, possibly empty).
    pub dispatcher: String,
    /// The environment description (`env.yaml` of the master), applied to lava-run's environment.
    pub env: String,
    /// `env.dut.yaml`, written only when non-empty.
    pub env_dut: String,
}

/// What lava-run needs beyond the job's own files: the slave's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LavaRunOptions {
    /// The lava-run program (LAVA: the `lava-run` beside the slave script).
    pub program: PathBuf,
    /// `--logging-url`: the slave's `--socket-addr`.
    pub logging_url: String,
    /// `--debug`: lava-run inherits stdout/stderr instead of writing files.
    pub debug: bool,
    /// `--ipv6`.
    pub ipv6: bool,
    /// `--socks-proxy`.
    pub socks_proxy: Option<String>,
    /// `--master-cert` and `--slave-cert`, when the slave encrypts.
    pub certificates: Option<(PathBuf, PathBuf)>,
    /// Run under `nice`, as LAVA 2020.01+ does.
    pub nice: bool,
}

/// Why a job's lava-run could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A work directory or file could not be written.
    #[error("job {job_id}: cannot write {path}: {source}")]
    Write {
        /// The job.
        job_id: i64,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The env text from the master is not what lava-run's environment needs.
    #[error("job {job_id}: env.yaml from the master is invalid: {reason}")]
    Env {
        /// The job.
        job_id: i64,
        /// Why.
        reason: String,
    },
    /// The process could not be started at all.
    #[error("job {job_id}: cannot start {program}: {source}")]
    Exec {
        /// The job.
        job_id: i64,
        /// The program.
        program: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// The per-job work directory: `<slave-dir>/tmp/<prefix><job_id>`.
pub fn work_dir(slave_dir: &Path, prefix: &str, job_id: i64) -> PathBuf {
    slave_dir.join("tmp").join(format!("{prefix}{job_id}"))
}

/// lava-run's arguments, in LAVA 2020.05's order (program first, without `nice`).
pub fn arguments(
    options: &LavaRunOptions,
    base: &Path,
    job_id: i64,
    env_dut: bool,
) -> Vec<OsString> {
    let at = |name: &str| base.join(name).into_os_string();
    let flag = |name: &str, value: OsString| {
        let mut s = OsString::from(name);
        s.push("=");
        s.push(value);
        s
    };
    let mut args = vec![
        options.program.clone().into_os_string(),
        flag("--device", at("device.yaml")),
        flag("--dispatcher", at("dispatcher.yaml")),
        flag("--output-dir", base.as_os_str().to_owned()),
        flag("--job-id", job_id.to_string().into()),
        flag("--logging-url", options.logging_url.clone().into()),
    ];
    if options.debug {
        args.push("--debug".into());
    }
    args.push(at("job.yaml"));
    if let Some(proxy) = &options.socks_proxy {
        args.push("--socks-proxy".into());
        args.push(proxy.into());
    }
    if options.ipv6 {
        args.push("--ipv6".into());
    }
    if let Some((master, slave)) = &options.certificates {
        args.push("--master-cert".into());
        args.push(master.clone().into_os_string());
        args.push("--slave-cert".into());
        args.push(slave.clone().into_os_string());
    }
    if env_dut {
        args.push(flag("--env-dut", at("env.dut.yaml")));
    }
    args
}

/// The environment lava-run gets: the slave's own, changed as the master's env.yaml says
/// (`purge`, `removes`, `overrides`).
pub fn environment(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    env_yaml: &str,
) -> Result<BTreeMap<OsString, OsString>, String> {
    let mut env: BTreeMap<OsString, OsString> = inherited.into_iter().collect();
    if env_yaml.trim().is_empty() {
        return Ok(env);
    }
    let value: serde_json::Value = serde_saphyr::from_str(env_yaml).map_err(|e| e.to_string())?;
    let map = match value {
        serde_json::Value::Null => return Ok(env),
        serde_json::Value::Object(map) => map,
        other => return Err(format!("expected a mapping, found {}", kind(&other))),
    };
    if map.get("purge").and_then(|v| v.as_bool()).unwrap_or(false) {
        env.clear();
    }
    match map.get("removes") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Array(names)) => {
            for name in names {
                if let Some(name) = name.as_str() {
                    env.remove(&OsString::from(name));
                }
            }
        }
        Some(other) => return Err(format!("`removes` must be a list, found {}", kind(other))),
    }
    match map.get("overrides") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(vars)) => {
            for (name, value) in vars {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                env.insert(name.into(), text.into());
            }
        }
        Some(other) => {
            return Err(format!(
                "`overrides` must be a mapping, found {}",
                kind(other)
            ))
        }
    }
    Ok(env)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// Writes the job's files into `base` (created with mode 0755).
pub fn write_files(base: &Path, job_id: i64, files: &JobFiles) -> Result<(), SpawnError> {
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
        .create(base)
        .map_err(write_err(base))?;
    let put = |name: &str, text: &str| {
        let path = base.join(name);
        fs::write(&path, text).map_err(write_err(&path))
    };
    put("job.yaml", &files.job)?;
    put("device.yaml", &files.device)?;
    put("dispatcher.yaml", &files.dispatcher)?;
    if !files.env_dut.is_empty() {
        put("env.dut.yaml", &files.env_dut)?;
    }
    Ok(())
}

/// Writes the files and starts lava-run in its own process group, stdout and stderr to
/// `<base>/stdout` and `<base>/stderr`. The child is not waited for here.
pub fn spawn(
    options: &LavaRunOptions,
    base: &Path,
    job_id: i64,
    files: &JobFiles,
) -> Result<Child, SpawnError> {
    let env = environment(std::env::vars_os(), &files.env)
        .map_err(|reason| SpawnError::Env { job_id, reason })?;
    write_files(base, job_id, files)?;
    let args = arguments(options, base, job_id, !files.env_dut.is_empty());
    let (program, rest) = if options.nice {
        (OsString::from("nice"), &args[..])
    } else {
        (args[0].clone(), &args[1..])
    };
    let mut command = Command::new(&program);
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
            let path = base.join(name);
            fs::File::create(&path).map_err(|source| SpawnError::Write {
                job_id,
                path,
                source,
            })
        };
        command.stdout(open("stdout")?).stderr(open("stderr")?);
    }
    command.spawn().map_err(|source| SpawnError::Exec {
        job_id,
        program: options.program.clone(),
        source,
    })
}

/// Writes the job's files and starts lava-run in its own process group, as
/// `lava_core::slave::lava_run` describes them, with the environment the slave machine
/// parsed from env.yaml applied to this process's own. stdout and stderr go to
/// `<dir>/stdout` and `<dir>/stderr` (inherited with `--debug`). The child is not waited for.
///
/// Variables of this process that are not UTF-8 are not passed on (env.yaml names and
/// values are text, and LAVA's environments are).
pub fn start_job(
    options: &lava_core::slave::lava_run::LavaRunOptions,
    dir: &Path,
    job_id: i64,
    files: &StartPayload,
    environment: &JobEnvironment,
) -> Result<Child, SpawnError> {
    use lava_core::slave::lava_run::{command_line, job_files};
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

/// Whether `pid` is a live lava-run: LAVA's test is that `/proc/<pid>/cmdline` mentions
/// `lava-run` (it works for processes a previous slave started, which cannot be waited for).
pub fn is_lava_run_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            // A zombie has an empty cmdline: it has exited.
            !cmdline.is_empty() && cmdline.windows(b"lava-run".len()).any(|w| w == b"lava-run")
        }
        Err(_) => false,
    }
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

    fn options() -> LavaRunOptions {
        LavaRunOptions {
            program: "/usr/bin/lava-run".into(),
            logging_url: "tcp://localhost:5555".into(),
            debug: false,
            ipv6: false,
            socks_proxy: None,
            certificates: None,
            nice: true,
        }
    }

    #[test]
    fn command_line_is_lava_2020_05s() {
        let args = arguments(&options(), Path::new("/s/tmp/12"), 12, false);
        let args: Vec<_> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "/usr/bin/lava-run",
                "--device=/s/tmp/12/device.yaml",
                "--dispatcher=/s/tmp/12/dispatcher.yaml",
                "--output-dir=/s/tmp/12",
                "--job-id=12",
                "--logging-url=tcp://localhost:5555",
                "/s/tmp/12/job.yaml",
            ]
        );
    }

    #[test]
    fn command_line_with_every_option() {
        let mut o = options();
        o.debug = true;
        o.ipv6 = true;
        o.socks_proxy = Some("socks5://p:1080".into());
        o.certificates = Some(("/c/master.key".into(), "/c/slave.key_secret".into()));
        let args = arguments(&o, Path::new("/b"), 3, true);
        let args: Vec<_> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args[6..],
            [
                "--debug",
                "/b/job.yaml",
                "--socks-proxy",
                "socks5://p:1080",
                "--ipv6",
                "--master-cert",
                "/c/master.key",
                "--slave-cert",
                "/c/slave.key_secret",
                "--env-dut=/b/env.dut.yaml",
            ]
        );
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn env_yaml_purge_removes_overrides() {
        let base = vars(&[("PATH", "/bin"), ("HOME", "/root"), ("LANG", "C")]);
        let env = environment(
            base.clone(),
            "removes: [HOME]\noverrides: {LANG: C.UTF-8, N: 3}\n",
        )
        .unwrap();
        assert_eq!(env.get(&OsString::from("HOME")), None);
        assert_eq!(env[&OsString::from("LANG")], OsString::from("C.UTF-8"));
        assert_eq!(env[&OsString::from("N")], OsString::from("3"));
        assert_eq!(env[&OsString::from("PATH")], OsString::from("/bin"));
        let env = environment(base.clone(), "purge: true\noverrides: {A: b}\n").unwrap();
        assert_eq!(env.len(), 1);
        assert_eq!(environment(base.clone(), "").unwrap().len(), 3);
    }

    #[test]
    fn env_yaml_that_is_not_a_mapping_is_an_error_not_a_crash() {
        let err = environment(vars(&[]), "- not\n- a mapping\n").unwrap_err();
        assert!(err.contains("mapping"), "{err}");
        assert!(environment(vars(&[]), "removes: HOME").is_err());
        assert!(environment(vars(&[]), "{{{").is_err());
    }

    #[test]
    fn files_and_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let base = work_dir(dir.path(), "pre-", 7);
        assert!(base.ends_with("tmp/pre-7"));
        let script = dir.path().join("lava-run");
        fs::write(
            &script,
            "#!/bin/sh\necho out; echo err >&2; ps -o pgid= -p $$ > \"$(dirname \"$0\")/pgid\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let mut o = options();
        o.program = script;
        o.nice = false;
        let files = JobFiles {
            job: "job".into(),
            device: "dev".into(),
            ..Default::default()
        };
        let mut child = spawn(&o, &base, 7, &files).unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success());
        assert_eq!(fs::read_to_string(base.join("job.yaml")).unwrap(), "job");
        assert_eq!(
            fs::read_to_string(base.join("dispatcher.yaml")).unwrap(),
            ""
        );
        assert!(!base.join("env.dut.yaml").exists());
        assert_eq!(fs::read_to_string(base.join("stdout")).unwrap(), "out\n");
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
        let mut o = options();
        o.program = dir.path().join("nope");
        o.nice = false;
        let err = spawn(&o, &dir.path().join("b"), 1, &JobFiles::default()).unwrap_err();
        assert!(matches!(err, SpawnError::Exec { .. }), "{err}");
    }

    /// Waits (at most 10 s) until `/proc/<pid>/cmdline` is filled in.
    pub(crate) fn wait_for_cmdline(pid: u32) {
        for _ in 0..1000 {
            if fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn liveness_needs_lava_run_in_cmdline() {
        assert!(!is_lava_run_alive(0));
        // Our own test binary is alive but is not a lava-run.
        assert!(!is_lava_run_alive(std::process::id()));
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30; true", "lava-run [job: 1]"])
            .spawn()
            .unwrap();
        // Between fork and exec the child still shows our own command line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !is_lava_run_alive(child.id()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(is_lava_run_alive(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_lava_run_alive(child.id()));
    }
}
