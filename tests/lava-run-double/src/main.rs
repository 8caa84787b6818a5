//! `lava-run-double`: a stand-in for LAVA 2020.05's `lava-run`, for tests of the slave and
//! of the master's log sink. It honours lava-run's contract without running anything:
//!
//! * the command line, exactly (`--device=F --dispatcher=F --output-dir=D --job-id=N
//!   --logging-url=URL [--debug] JOB.yaml [--socks-proxy P] [--ipv6]
//!   [--master-cert M --slave-cert S] [--env-dut=F]`, plus `--validate`); files that cannot
//!   be opened are a usage error (exit 2), as argparse's `FileType` makes them;
//! * `/proc/<pid>/cmdline` contains `lava-run` (the slave's liveness check): the binary's
//!   name does, and under another name it re-executes itself with `argv[0] = lava-run`;
//! * log records `[job_id, line]` pushed to `--logging-url` (a CURVE client when both
//!   certificates are given; a missing certificate file fails as lava-run does), or written
//!   to stderr without a URL; the final record is
//!   `{"definition": "lava", "case": "job", "result": "pass"|"fail", ...}`;
//! * signals HUP, INT, QUIT, TERM, USR1, USR2 cancel the job (`error_type: Canceled`);
//! * after the log socket has delivered everything, `description.yaml` (a mapping with
//!   `compatibility`, `device`, `job`, `pipeline`) is written, and the exit code is 0 on
//!   success, 1 otherwise. Unlike lava-run it does not insist on running as root.
//!
//! The outcome comes from `metadata: {lava-run-double: MODE}` in the job definition, or
//! from the environment variable `LAVA_RUN_DOUBLE_MODE` (which wins). MODE is one of
//! `pass`, `fail`, `crash` (exits 1 without description.yaml, with a traceback-like
//! stderr), `ignore-term` (SIGTERM is logged and ignored: only SIGKILL or another signal
//! stops it), optionally followed by `:SECONDS` of run time (e.g. `pass:30` for a
//! long-running job; default 0). Without a mode the job passes at once.
//!
//! With `LAVA_RUN_DOUBLE_TRACE=FILE` in its environment, each run appends `start`, `final`
//! (just before the final result is sent) and `exit-<code>` lines, each followed by the job
//! id, the pid and the time in µs, to FILE (tests that kill processes count runs there, and
//! aim at those moments).

mod logline;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use lava_transport::zeromq::{connect_log_source, ClientCurve, SocketOptions, ZmqLogSource};
use lava_transport::LogSource;
use logline::Msg;
use serde_json::{json, Value};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// lava-run's command line (LAVA 2020.05).
#[derive(Debug, Parser)]
#[command(name = "lava-run", version, about = "Test double for LAVA's lava-run")]
struct Options {
    /// Job identifier.
    #[arg(long, value_name = "ID")]
    job_id: String,
    /// Directory for the job's files (created if needed).
    #[arg(long, value_name = "DIR")]
    output_dir: PathBuf,
    /// Validate only: describe the job and do not run it.
    #[arg(long)]
    validate: bool,
    /// ZeroMQ endpoint of the master's log socket; without it, logs go to stderr.
    #[arg(long, value_name = "URL")]
    logging_url: Option<String>,
    /// Master certificate (its public key is the CURVE server key).
    #[arg(long, value_name = "PATH")]
    master_cert: Option<PathBuf>,
    /// Slave certificate (the CURVE client key pair).
    #[arg(long, value_name = "PATH")]
    slave_cert: Option<PathBuf>,
    /// SOCKS5 proxy for the log connection.
    #[arg(long)]
    socks_proxy: Option<String>,
    /// Enable IPv6 on the log connection.
    #[arg(long)]
    ipv6: bool,
    /// Device configuration (YAML).
    #[arg(long, value_name = "PATH")]
    device: PathBuf,
    /// Dispatcher configuration (YAML).
    #[arg(long, value_name = "PATH")]
    dispatcher: Option<PathBuf>,
    /// DUT environment (YAML).
    #[arg(long, value_name = "PATH")]
    env_dut: Option<PathBuf>,
    /// Accepted for compatibility (lava-run starts remote pdb).
    #[arg(long)]
    debug: bool,
    /// The job definition (YAML).
    definition: PathBuf,
}

/// How the scripted job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Crash,
    IgnoreTerm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    outcome: Outcome,
    seconds: u64,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Crash => "crash",
            Outcome::IgnoreTerm => "ignore-term",
        };
        write!(f, "{name}:{}", self.seconds)
    }
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    let (name, seconds) = match text.trim().split_once(':') {
        Some((name, seconds)) => {
            let seconds = seconds.trim().parse().map_err(|_| {
                format!("invalid seconds {seconds:?} in lava-run-double mode {text:?}")
            })?;
            (name.trim(), seconds)
        }
        None => (text.trim(), 0),
    };
    let outcome = match name {
        "pass" => Outcome::Pass,
        "fail" => Outcome::Fail,
        "crash" => Outcome::Crash,
        "ignore-term" => Outcome::IgnoreTerm,
        _ => {
            return Err(format!(
                "unknown lava-run-double mode {text:?} (pass, fail, crash or ignore-term, optionally :SECONDS)"
            ))
        }
    };
    Ok(Mode { outcome, seconds })
}

/// An error that fails the job, with LAVA's error type.
#[derive(Debug)]
struct JobError {
    error_type: &'static str,
    message: String,
}

impl JobError {
    fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }
}

/// Where log records go.
struct Logger {
    job_id: String,
    socket: Option<ZmqLogSource>,
}

impl Logger {
    async fn log(&mut self, lvl: &str, msg: Msg) {
        let line = logline::encode(&logline::utc_isoformat(SystemTime::now()), lvl, &msg);
        match self.socket.as_mut() {
            Some(socket) => {
                let frames = vec![self.job_id.as_bytes().to_vec(), line.into_bytes()];
                if let Err(error) = socket.push(frames).await {
                    eprintln!("lava-run-double: log record lost: {error}");
                }
            }
            None => eprintln!("{line}"),
        }
    }

    async fn info(&mut self, text: impl Into<String>) {
        self.log("info", Msg::Text(text.into())).await;
    }

    async fn results(&mut self, entries: &[(&str, &str)]) {
        let map = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.log("results", Msg::Map(map)).await;
    }

    /// Blocks until every record is delivered (lava-run destroys its context with linger -1).
    async fn close(&mut self) {
        if let Some(socket) = self.socket.as_mut() {
            if let Err(error) = socket.close().await {
                eprintln!("lava-run-double: closing the log socket: {error}");
            }
        }
    }
}

/// The signals lava-run turns into a cancellation.
struct Signals {
    hup: Signal,
    int: Signal,
    quit: Signal,
    term: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            term: signal(SignalKind::terminate())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.hup.recv() => "SIGHUP",
            _ = self.int.recv() => "SIGINT",
            _ = self.quit.recv() => "SIGQUIT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.usr1.recv() => "SIGUSR1",
            _ = self.usr2.recv() => "SIGUSR2",
        }
    }
}

/// Makes sure `/proc/self/cmdline` contains `lava-run`, re-executing under that name if not.
fn ensure_process_name() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if argv0.to_string_lossy().contains("lava-run") {
        return;
    }
    use std::os::unix::process::CommandExt;
    let rest: Vec<OsString> = args.collect();
    let error = std::process::Command::new("/proc/self/exe")
        .arg0("lava-run")
        .args(rest)
        .exec();
    eprintln!(
        "lava-run-double: cannot re-execute as lava-run ({error}); the slave may think it died"
    );
}

fn main() -> ExitCode {
    ensure_process_name();
    let options = Options::parse();
    // argparse opens these files while parsing: failing to is a usage error, before logging.
    let mut readable = vec![&options.device, &options.definition];
    readable.extend(options.dispatcher.iter());
    readable.extend(options.env_dut.iter());
    for path in readable {
        if let Err(error) = std::fs::File::open(path) {
            eprintln!("lava-run: error: can't open '{}': {error}", path.display());
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lava-run-double: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    ExitCode::from(runtime.block_on(run(options)))
}

/// Appends `<event> <job id> <pid> <unix time in µs>` to the file named by
/// `LAVA_RUN_DOUBLE_TRACE`, if set:
/// tests that kill processes count runs there, where no lost log record can hide one.
fn trace(options: &Options, event: &str) {
    let Some(path) = std::env::var_os("LAVA_RUN_DOUBLE_TRACE") else {
        return;
    };
    let micros = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let line = format!(
        "{event} {} {} {micros}\n",
        options.job_id,
        std::process::id()
    );
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
    if let Err(error) = written {
        eprintln!("lava-run-double: cannot trace to {path:?}: {error}");
    }
}

async fn run(options: Options) -> u8 {
    if !options.validate {
        trace(&options, "start");
    }
    let code = run_job(&options).await;
    if !options.validate {
        trace(&options, &format!("exit-{code}"));
    }
    code
}

async fn run_job(options: &Options) -> u8 {
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("lava-run-double: cannot install signal handlers: {error}");
            return 1;
        }
    };
    let Some(mut logger) = setup_logger(options) else {
        println!("lava-run failed to setup logging");
        return 1;
    };

    let mut description = String::new();
    let result = job(options, &mut logger, &mut signals, &mut description).await;
    let success = match result {
        Ok(Finish::Done) => {
            logger.info("Job finished correctly").await;
            trace(options, "final");
            logger
                .results(&[("definition", "lava"), ("case", "job"), ("result", "pass")])
                .await;
            true
        }
        Ok(Finish::Crash) => {
            logger.close().await;
            eprintln!("Traceback (most recent call last):\nRuntimeError: lava-run-double: simulated crash");
            return 1;
        }
        Err(error) => {
            trace(options, "final");
            logger
                .log(
                    "error",
                    Msg::Text(format!("lava-run-double: {}", error.message)),
                )
                .await;
            logger
                .results(&[
                    ("definition", "lava"),
                    ("case", "job"),
                    ("result", "fail"),
                    ("error_msg", &error.message),
                    ("error_type", error.error_type),
                ])
                .await;
            false
        }
    };
    logger.close().await;

    let file = options.output_dir.join("description.yaml");
    if let Err(error) = std::fs::write(&file, description) {
        eprintln!("lava-run-double: cannot write {}: {error}", file.display());
        return 1;
    }
    if success {
        0
    } else {
        1
    }
}

fn setup_logger(options: &Options) -> Option<Logger> {
    let job_id = options.job_id.clone();
    let Some(url) = options.logging_url.as_deref() else {
        return Some(Logger {
            job_id,
            socket: None,
        });
    };
    let curve = match (&options.master_cert, &options.slave_cert) {
        (Some(master), Some(slave)) => {
            if !master.exists() || !slave.exists() {
                return None;
            }
            match ClientCurve::from_files(slave, master) {
                Ok(curve) => Some(curve),
                Err(error) => {
                    eprintln!("lava-run-double: {error}");
                    return None;
                }
            }
        }
        _ => None,
    };
    let socket_options = SocketOptions {
        ipv6: options.ipv6,
        socks_proxy: options.socks_proxy.clone(),
    };
    match connect_log_source(url, &socket_options, curve.as_ref()) {
        Ok(socket) => Some(Logger {
            job_id,
            socket: Some(socket),
        }),
        Err(error) => {
            eprintln!("lava-run-double: {error}");
            None
        }
    }
}

enum Finish {
    Done,
    Crash,
}

fn read_yaml(path: &Path, what: &str, error_type: &'static str) -> Result<Value, JobError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        JobError::new(
            "Infrastructure",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if text.trim().is_empty() {
        return Err(JobError::new(
            error_type,
            format!("{what} {} is empty", path.display()),
        ));
    }
    serde_saphyr::from_str::<Value>(&text).map_err(|e| {
        JobError::new(
            error_type,
            format!("invalid {what} {}: {e}", path.display()),
        )
    })
}

async fn job(
    options: &Options,
    logger: &mut Logger,
    signals: &mut Signals,
    description: &mut String,
) -> Result<Finish, JobError> {
    logger
        .info(format!(
            "lava-dispatcher, installed at version: lava-run-double {}",
            env!("CARGO_PKG_VERSION")
        ))
        .await;
    create_output_dir(&options.output_dir)?;

    let definition = read_yaml(&options.definition, "job definition", "Job")?;
    let device = read_yaml(&options.device, "device configuration", "Configuration")?;
    let mode_text = std::env::var("LAVA_RUN_DOUBLE_MODE").ok().or_else(|| {
        definition
            .pointer("/metadata/lava-run-double")
            .and_then(|v| v.as_str().map(str::to_owned))
    });
    let mode = match mode_text {
        Some(text) => parse_mode(&text).map_err(|e| JobError::new("Job", e))?,
        None => Mode {
            outcome: Outcome::Pass,
            seconds: 0,
        },
    };
    *description = describe(&definition, &device, mode)?;
    logger
        .info(format!("start: 1 lava-run-double (mode {mode})"))
        .await;
    logger
        .results(&[
            ("definition", "lava"),
            ("case", "validate"),
            ("result", "pass"),
        ])
        .await;
    if options.validate {
        return Ok(Finish::Done);
    }
    if mode.outcome == Outcome::Crash {
        logger.info("about to crash").await;
        return Ok(Finish::Crash);
    }

    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs(mode.seconds);
    let mut tick =
        tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            _ = tick.tick() => {
                let elapsed = started.elapsed().as_secs();
                logger.info(format!("running: {elapsed}/{} s", mode.seconds)).await;
            }
            name = signals.next() => {
                if name == "SIGTERM" && mode.outcome == Outcome::IgnoreTerm {
                    logger.log("warning", Msg::Text("SIGTERM ignored (mode ignore-term)".to_owned())).await;
                    continue;
                }
                logger.log("exception", Msg::Text("The job was canceled".to_owned())).await;
                logger.results(&[("definition", "0_lava-run-double"), ("case", "run"), ("result", "fail")]).await;
                return Err(JobError::new("Canceled", "The job was canceled"));
            }
        }
    }
    let passed = mode.outcome != Outcome::Fail;
    let result = if passed { "pass" } else { "fail" };
    logger
        .results(&[
            ("definition", "0_lava-run-double"),
            ("case", "run"),
            ("result", result),
        ])
        .await;
    if passed {
        Ok(Finish::Done)
    } else {
        Err(JobError::new(
            "Job",
            "job failed as its definition asked (mode fail)",
        ))
    }
}

fn create_output_dir(dir: &Path) -> Result<(), JobError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(JobError::new(
            "Infrastructure",
            format!("Unable to create {}: {e}", dir.display()),
        )),
    }
}

/// The description lava-run writes: what would run, on which device.
fn describe(definition: &Value, device: &Value, mode: Mode) -> Result<String, JobError> {
    let compatibility = definition.get("compatibility").cloned().unwrap_or(json!(0));
    let description = json!({
        "compatibility": compatibility,
        "device": device,
        "job": definition,
        "pipeline": [{
            "class": "LavaRunDouble",
            "description": "scripted stand-in for a job's actions",
            "level": "1",
            "name": "lava-run-double",
            "summary": format!("mode {mode}"),
            "timeout": mode.seconds,
        }],
    });
    serde_saphyr::to_string(&description)
        .map(|mut text| {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        })
        .map_err(|e| JobError::new("Bug", format!("cannot write the description: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(
            parse_mode("pass"),
            Ok(Mode {
                outcome: Outcome::Pass,
                seconds: 0
            })
        );
        assert_eq!(
            parse_mode(" ignore-term : 60 "),
            Ok(Mode {
                outcome: Outcome::IgnoreTerm,
                seconds: 60
            })
        );
        assert!(parse_mode("explode").is_err());
        assert!(parse_mode("pass:soon").is_err());
    }

    #[test]
    fn the_command_line_of_lava_slave_parses() {
        let options = Options::try_parse_from([
            "lava-run",
            "--device=/w/1/device.yaml",
            "--dispatcher=/w/1/dispatcher.yaml",
            "--output-dir=/w/1",
            "--job-id=1",
            "--logging-url=tcp://localhost:5555",
            "--debug",
            "/w/1/job.yaml",
            "--socks-proxy",
            "socks5://proxy:1080",
            "--ipv6",
            "--master-cert",
            "/etc/m.key",
            "--slave-cert",
            "/etc/s.key_secret",
            "--env-dut=/w/1/env.dut.yaml",
        ])
        .unwrap();
        assert_eq!(options.job_id, "1");
        assert_eq!(options.definition, PathBuf::from("/w/1/job.yaml"));
        assert_eq!(options.env_dut, Some(PathBuf::from("/w/1/env.dut.yaml")));
        assert!(options.ipv6 && options.debug && !options.validate);
        assert!(Options::try_parse_from(["lava-run", "--job-id=1", "/w/job.yaml"]).is_err());
    }

    #[test]
    fn descriptions_are_yaml_mappings_with_lavas_keys() {
        let text = describe(
            &json!({"job_name": "x", "compatibility": 5}),
            &json!({"hostname": "qemu01"}),
            Mode {
                outcome: Outcome::Pass,
                seconds: 0,
            },
        )
        .unwrap();
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        for key in ["compatibility", "device", "job", "pipeline"] {
            assert!(value.get(key).is_some(), "{key} missing in {text}");
        }
        assert_eq!(value["compatibility"], json!(5));
    }
}
