//! Where a job's files go and how lava-run is started (LAVA 2020.05, protocol.md §5.2): pure
//! path and argument building, so that the driver only writes, spawns and signals.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::master::StartPayload;
use crate::model::JobId;

/// How the slave runs lava-run (from its own command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LavaRunOptions {
    /// The lava-run program (LAVA: the `lava-run` beside the slave script).
    pub program: PathBuf,
    /// Run it under `nice`, as LAVA does since 2020.01.
    pub nice: bool,
    /// The log endpoint handed to lava-run (the slave's `--socket-addr`).
    pub logging_url: String,
    /// `--debug`: lava-run inherits stdout/stderr and starts a remote debugger.
    pub debug: bool,
    /// `--socks-proxy`.
    pub socks_proxy: Option<String>,
    /// `--ipv6`.
    pub ipv6: bool,
    /// `--master-cert` and `--slave-cert`, passed on only when both are set.
    pub master_cert: Option<PathBuf>,
    /// See `master_cert`.
    pub slave_cert: Option<PathBuf>,
}

/// The job's work directory: `<slave-dir>/tmp/<prefix><id>`.
pub fn job_dir(slave_dir: &Path, prefix: &str, job_id: JobId) -> PathBuf {
    slave_dir.join("tmp").join(format!("{prefix}{job_id}"))
}

/// The files to write in the work directory before spawning, with their contents:
/// `job.yaml`, `device.yaml`, `dispatcher.yaml` (always, possibly empty) and `env.dut.yaml`
/// (only when not empty).
pub fn job_files<'a>(dir: &Path, files: &'a StartPayload) -> Vec<(PathBuf, &'a str)> {
    let mut out = vec![
        (dir.join("job.yaml"), files.job.as_str()),
        (dir.join("device.yaml"), files.device.as_str()),
        (dir.join("dispatcher.yaml"), files.dispatcher.as_str()),
    ];
    if !files.env_dut.is_empty() {
        out.push((dir.join("env.dut.yaml"), files.env_dut.as_str()));
    }
    out
}

/// The command line, program first, in LAVA's order. stdout and stderr go to `<dir>/stdout`
/// and `<dir>/stderr` unless `debug`; the process must get its own process group.
pub fn command_line(
    options: &LavaRunOptions,
    dir: &Path,
    job_id: JobId,
    with_env_dut: bool,
) -> Vec<OsString> {
    let path_arg = |flag: &str, path: PathBuf| {
        let mut arg = OsString::from(flag);
        arg.push(path.as_os_str());
        arg
    };
    let mut args: Vec<OsString> = Vec::new();
    if options.nice {
        args.push("nice".into());
    }
    args.push(options.program.clone().into_os_string());
    args.push(path_arg("--device=", dir.join("device.yaml")));
    args.push(path_arg("--dispatcher=", dir.join("dispatcher.yaml")));
    args.push(path_arg("--output-dir=", dir.to_path_buf()));
    args.push(format!("--job-id={job_id}").into());
    args.push(format!("--logging-url={}", options.logging_url).into());
    if options.debug {
        args.push("--debug".into());
    }
    args.push(dir.join("job.yaml").into_os_string());
    if let Some(proxy) = &options.socks_proxy {
        args.push("--socks-proxy".into());
        args.push(proxy.into());
    }
    if options.ipv6 {
        args.push("--ipv6".into());
    }
    if let (Some(master), Some(slave)) = (&options.master_cert, &options.slave_cert) {
        args.push("--master-cert".into());
        args.push(master.clone().into_os_string());
        args.push("--slave-cert".into());
        args.push(slave.clone().into_os_string());
    }
    if with_env_dut {
        args.push(path_arg("--env-dut=", dir.join("env.dut.yaml")));
    }
    args
}

/// Whether a dispatcher `prefix` is safe to put in a directory name (no `/`, no NUL).
pub fn prefix_is_safe(prefix: &str) -> bool {
    !prefix.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LavaRunOptions {
        LavaRunOptions {
            program: "/usr/bin/lava-run".into(),
            nice: true,
            logging_url: "tcp://master:5555".into(),
            debug: false,
            socks_proxy: None,
            ipv6: false,
            master_cert: None,
            slave_cert: None,
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn lavas_command_line() {
        let dir = job_dir(Path::new("/var/lib/lava/dispatcher/slave"), "s1-", 42);
        assert_eq!(dir, Path::new("/var/lib/lava/dispatcher/slave/tmp/s1-42"));
        assert_eq!(
            strings(command_line(&options(), &dir, 42, false)),
            [
                "nice",
                "/usr/bin/lava-run",
                "--device=/var/lib/lava/dispatcher/slave/tmp/s1-42/device.yaml",
                "--dispatcher=/var/lib/lava/dispatcher/slave/tmp/s1-42/dispatcher.yaml",
                "--output-dir=/var/lib/lava/dispatcher/slave/tmp/s1-42",
                "--job-id=42",
                "--logging-url=tcp://master:5555",
                "/var/lib/lava/dispatcher/slave/tmp/s1-42/job.yaml",
            ]
        );
    }

    #[test]
    fn every_option_in_order() {
        let mut o = options();
        o.debug = true;
        o.socks_proxy = Some("socks5://p:1080".into());
        o.ipv6 = true;
        o.master_cert = Some("/c/master.key".into());
        o.slave_cert = Some("/c/slave.key_secret".into());
        let args = strings(command_line(&o, Path::new("/d/7"), 7, true));
        assert_eq!(
            args[7..],
            [
                "--debug",
                "/d/7/job.yaml",
                "--socks-proxy",
                "socks5://p:1080",
                "--ipv6",
                "--master-cert",
                "/c/master.key",
                "--slave-cert",
                "/c/slave.key_secret",
                "--env-dut=/d/7/env.dut.yaml",
            ]
        );
        // One certificate alone is not passed on.
        o.slave_cert = None;
        assert!(!strings(command_line(&o, Path::new("/d/7"), 7, false))
            .contains(&"--master-cert".to_owned()));
    }

    #[test]
    fn files_to_write() {
        let files = StartPayload {
            job: "j".into(),
            device: "d".into(),
            dispatcher: String::new(),
            env: "e".into(),
            env_dut: String::new(),
        };
        let names: Vec<_> = job_files(Path::new("/d"), &files)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            names,
            [
                Path::new("/d/job.yaml"),
                Path::new("/d/device.yaml"),
                Path::new("/d/dispatcher.yaml")
            ]
        );
        let mut with_dut = files.clone();
        with_dut.env_dut = "x: 1".into();
        assert_eq!(job_files(Path::new("/d"), &with_dut).len(), 4);
    }

    #[test]
    fn unsafe_prefixes() {
        assert!(prefix_is_safe("slave-1-"));
        assert!(prefix_is_safe(""));
        assert!(!prefix_is_safe("../../etc/"));
        assert!(!prefix_is_safe("a\0b"));
    }
}
