//! `lava-slave`'s command line: LAVA 2020.05's options plus `--lava-run`.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// The lava-rs slave: connects out to a LAVA (or lava-rs) master and runs lava-run for its jobs.
#[derive(Debug, Clone, Parser)]
#[command(name = "lava-slave", version)]
pub struct SlaveOptions {
    /// Name of the worker (its ZeroMQ identity); default: this host's FQDN.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Run lava-run with --debug, inheriting stdout and stderr.
    #[arg(long)]
    pub debug: bool,
    /// Where the job table (db.sqlite3) and per-job directories live.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/lava/dispatcher/slave"
    )]
    pub slave_dir: PathBuf,
    /// The master's control socket.
    #[arg(long, value_name = "URL")]
    pub master: String,
    /// The master's log socket, handed to lava-run as --logging-url.
    #[arg(long, value_name = "URL")]
    pub socket_addr: String,
    /// A SOCKS proxy for the sockets, handed to lava-run.
    #[arg(long, value_name = "URL")]
    pub socks_proxy: Option<String>,
    /// Enable IPv6.
    #[arg(long)]
    pub ipv6: bool,
    /// Encrypt with CurveZMQ.
    #[arg(long)]
    pub encrypt: bool,
    /// The master's public certificate, with --encrypt.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/lava-dispatcher/certificates.d/master.key"
    )]
    pub master_cert: PathBuf,
    /// This slave's certificate (key pair), with --encrypt.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/lava-dispatcher/certificates.d/slave.key_secret"
    )]
    pub slave_cert: PathBuf,
    /// Log file; `-` for stdout.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/log/lava-dispatcher/lava-slave.log"
    )]
    pub log_file: String,
    /// Log level: DEBUG, ERROR, INFO or WARN.
    #[arg(short = 'l', long, value_name = "LEVEL", default_value = "INFO")]
    pub level: String,
    /// The lava-run program to start for each job.
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/lava-run")]
    pub lava_run: PathBuf,
    /// LAVA's download directory: `<prefix><id>` is removed there too once a job is over.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/lava/dispatcher/tmp",
        hide = true
    )]
    pub download_dir: PathBuf,
    /// Test knob (hidden): seconds between job checks and END re-sends (LAVA: 5).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds, hide = true)]
    pub job_check_interval: Duration,
    /// Test knob (hidden): seconds after CANCEL from which TERM is sent again (LAVA: 60).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds, hide = true)]
    pub cancel_term_again: Duration,
    /// Test knob (hidden): seconds after CANCEL from which KILL is sent (LAVA: 120).
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = seconds, hide = true)]
    pub cancel_kill: Duration,
}

/// A duration in seconds (fractions allowed), between 1 ms and one day.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&value) {
        return Err(format!("{text} s is out of range (0.001 to 86400 seconds)"));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lavas_options_parse() {
        let o = SlaveOptions::try_parse_from([
            "lava-slave",
            "--hostname",
            "worker01",
            "--master",
            "tcp://m:5556",
            "--socket-addr",
            "tcp://m:5555",
            "--slave-dir",
            "/tmp/s",
            "--encrypt",
            "--master-cert",
            "/c/master.key",
            "--slave-cert",
            "/c/w.key_secret",
            "--log-file",
            "-",
            "--level",
            "DEBUG",
            "--ipv6",
            "--lava-run",
            "/opt/lava-run",
        ])
        .unwrap();
        assert_eq!(o.hostname.as_deref(), Some("worker01"));
        assert!(o.encrypt && o.ipv6);
        assert!(SlaveOptions::try_parse_from(["lava-slave", "--master", "tcp://m:1"]).is_err());
        assert_eq!(o.cancel_kill, Duration::from_secs(120));
        assert_eq!(o.job_check_interval, Duration::from_secs(5));
    }

    #[test]
    fn hidden_timers_are_checked() {
        let parse = |value: &str| {
            SlaveOptions::try_parse_from([
                "lava-slave",
                "--master",
                "tcp://m:1",
                "--socket-addr",
                "tcp://m:2",
                "--cancel-kill",
                value,
            ])
        };
        assert_eq!(
            parse("0.5").unwrap().cancel_kill,
            Duration::from_millis(500)
        );
        for bad in ["0", "-1", "soon", "NaN", "1e9"] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }
}
