//! `lava-master`'s command line: LAVA's options plus the embedded store and the data dir.

use clap::Parser;
use std::path::PathBuf;

/// The lava-rs master: scheduler, ZeroMQ control and log sockets, and the job store.
#[derive(Debug, Clone, Parser)]
#[command(name = "lava-master", version, about)]
pub struct MasterOptions {
    /// Where the master keeps its state: the SQLite store, job output, dispatcher config.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The control socket slaves connect to.
    #[arg(long, value_name = "URL", default_value = "tcp://*:5556")]
    pub master_socket: String,
    /// The log socket lava-run pushes to.
    #[arg(long, value_name = "URL", default_value = "tcp://*:5555")]
    pub log_socket: String,
    /// The store: a SQLite file path (or sqlite://PATH) or postgres://…; default DIR/lava.sqlite3.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The dispatcher-config tree (devices/, device-types/); default DIR/dispatcher-config.
    #[arg(long, value_name = "DIR")]
    pub dispatcher_config: Option<PathBuf>,
    /// Extra device-types directories searched after DISPATCHER_CONFIG/device-types
    /// (LAVA: /usr/share/lava-server/device-types). May be repeated.
    #[arg(long = "device-types", value_name = "DIR")]
    pub device_types: Vec<PathBuf>,
    /// Per-worker dispatcher.yaml, env.yaml and env-dut.yaml; default DIR/dispatcher.d.
    #[arg(long, value_name = "DIR")]
    pub dispatcher_d: Option<PathBuf>,
    /// Encrypt the control and log sockets with CurveZMQ.
    #[arg(long)]
    pub encrypt: bool,
    /// The master's certificate (key pair), with --encrypt.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/lava-dispatcher/certificates.d/master.key_secret"
    )]
    pub master_cert: PathBuf,
    /// The directory of allowed slave public certificates (*.key), with --encrypt.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/lava-dispatcher/certificates.d"
    )]
    pub slaves_certs: PathBuf,
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
}

impl MasterOptions {
    /// The store URL, defaulted from the data dir.
    pub fn store_url(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| self.data_dir.join("lava.sqlite3").display().to_string())
    }

    /// The dispatcher-config tree, defaulted from the data dir.
    pub fn dispatcher_config_dir(&self) -> PathBuf {
        self.dispatcher_config
            .clone()
            .unwrap_or_else(|| self.data_dir.join("dispatcher-config"))
    }

    /// The per-worker files directory, defaulted from the data dir.
    pub fn dispatcher_d_dir(&self) -> PathBuf {
        self.dispatcher_d
            .clone()
            .unwrap_or_else(|| self.data_dir.join("dispatcher.d"))
    }

    /// Where job output (output.yaml, description.yaml, …) is written.
    pub fn job_output_root(&self) -> PathBuf {
        self.data_dir.clone()
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
        assert_eq!(o.store_url(), "/d/lava.sqlite3");
        assert_eq!(
            o.dispatcher_config_dir(),
            PathBuf::from("/d/dispatcher-config")
        );
        assert_eq!(o.dispatcher_d_dir(), PathBuf::from("/d/dispatcher.d"));
        assert!(!o.encrypt && !o.ipv6);
        assert_eq!(o.http, "127.0.0.1:8000");
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
            "--dispatcher-d",
            "/etc/lava-server/dispatcher.d",
            "--encrypt",
            "--master-cert",
            "/c/m.key_secret",
            "--slaves-certs",
            "/c",
            "--ipv6",
        ])
        .unwrap();
        assert_eq!(o.store_url(), "postgres://u@h/db");
        assert!(o.encrypt && o.ipv6);
        assert!(
            MasterOptions::try_parse_from(["lava-master"]).is_err(),
            "--data-dir is required"
        );
    }
}
