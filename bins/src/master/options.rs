//! `lava-master`'s command line: LAVA's options plus the lab's store and directories.

use crate::lab_options::LabOptions;
use clap::Parser;
use lava_core::worker_http::Netmask;
use std::path::PathBuf;

/// The lava-rs master: scheduler, ZeroMQ control and log sockets, the XML-RPC API, the store.
#[derive(Debug, Clone, Parser)]
#[command(name = "lava-master", version, about)]
pub struct MasterOptions {
    /// Where the lab is (`--data-dir` is required: job output is written there).
    #[command(flatten)]
    pub lab: LabOptions,
    /// The control socket slaves connect to.
    #[arg(long, value_name = "URL", default_value = "tcp://*:5556")]
    pub master_socket: String,
    /// The log socket lava-run pushes to.
    #[arg(long, value_name = "URL", default_value = "tcp://*:5555")]
    pub log_socket: String,
    /// Encrypt the control and log sockets with CurveZMQ (slaves' certificates in
    /// --slaves-certs).
    #[arg(long)]
    pub encrypt: bool,
    /// The master's certificate (key pair), with --encrypt.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/lava-dispatcher/certificates.d/master.key_secret"
    )]
    pub master_cert: PathBuf,
    /// Enable IPv6 on the sockets.
    #[arg(long)]
    pub ipv6: bool,
    /// The XML-RPC API (/RPC2) address.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8000")]
    pub http: String,
    /// Log level: ERROR, WARN, INFO or DEBUG.
    #[arg(short = 'l', long, value_name = "LEVEL", default_value = "INFO")]
    pub level: String,
    /// Log file; `-` for stderr.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "-")]
    pub log_file: String,
    /// The PING interval announced in PONG (LAVA: 20 s; slaves ignore values under 5).
    /// Shorter intervals make slaves notice a restarted master sooner: for tests.
    #[arg(long, value_name = "SECONDS", default_value_t = 20, hide = true,
          value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub ping_interval: u64,
    /// Let lava-worker (HTTP) register itself with `POST /scheduler/internal/v1/workers/`
    /// (off by default, as in LAVA 2026.04), from --worker-auto-register-netmask only.
    #[arg(long)]
    pub worker_auto_register: bool,
    /// The networks workers may register from, comma-separated (default: loopback).
    #[arg(
        long,
        value_name = "NET[,NET…]",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub worker_auto_register_netmask: Vec<Netmask>,
    /// Refuse lava-worker versions other than VERSION, as LAVA does (a refused worker goes
    /// Offline and gets no jobs; the admin sees why). By default every version is accepted.
    #[arg(long, value_name = "VERSION")]
    pub strict_worker_version: Option<String>,
}

impl MasterOptions {
    /// The data dir, which the master needs (job output is written there).
    pub fn data_dir(&self) -> Result<&PathBuf, String> {
        self.lab
            .data_dir
            .as_ref()
            .ok_or_else(|| "--data-dir DIR is required (or LAVA_DATA_DIR)".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_lavas() {
        let o = MasterOptions::try_parse_from(["lava-master", "--data-dir", "/d"]).unwrap();
        assert_eq!(o.master_socket, "tcp://*:5556");
        assert_eq!(o.log_socket, "tcp://*:5555");
        assert_eq!(o.lab.store_url().unwrap(), "/d/lava.sqlite3");
        assert!(!o.encrypt && !o.ipv6);
        assert_eq!(o.http, "127.0.0.1:8000");
        assert_eq!(o.ping_interval, 20);
        assert!(o.data_dir().is_ok());
        assert!(!o.worker_auto_register);
        assert_eq!(o.worker_auto_register_netmask, Netmask::loopback());
        assert_eq!(o.strict_worker_version, None);
        assert!(
            MasterOptions::try_parse_from(["lava-master", "--ping-interval", "4"]).is_err(),
            "slaves ignore PONG intervals under 5 s"
        );
    }

    #[test]
    fn every_documented_option_exists() {
        let o = MasterOptions::try_parse_from([
            "lava-master",
            "--data-dir",
            "/d",
            "--master-socket",
            "tcp://127.0.0.1:1",
            "--log-socket",
            "tcp://127.0.0.1:2",
            "--store",
            "postgres://u@h/db",
            "--dispatcher-config",
            "/etc/lava-server/dispatcher-config",
            "--device-types",
            "/usr/share/lava-server/device-types",
            "--dispatcher-d",
            "/etc/lava-server/dispatcher.d",
            "--encrypt",
            "--master-cert",
            "/c/m.key_secret",
            "--slaves-certs",
            "/c",
            "--ipv6",
            "--worker-auto-register",
            "--worker-auto-register-netmask",
            "10.0.0.0/8,192.168.1.0/24",
            "--strict-worker-version",
            "2023.01",
        ])
        .unwrap();
        assert!(o.worker_auto_register);
        assert_eq!(o.worker_auto_register_netmask.len(), 2);
        assert_eq!(o.strict_worker_version.as_deref(), Some("2023.01"));
        assert!(MasterOptions::try_parse_from([
            "lava-master",
            "--worker-auto-register-netmask",
            "10.0.0.0/99"
        ])
        .is_err());
        assert_eq!(o.lab.store_url().unwrap(), "postgres://u@h/db");
        assert!(o.encrypt && o.ipv6);
        assert_eq!(o.lab.paths().unwrap().extra_device_types.len(), 1);
    }
}
