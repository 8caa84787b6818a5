//! `lava-admin certificates create`: CurveZMQ certificates in the ZPL format that pyzmq's
//! `zmq.auth.create_certificates` (and LAVA's `create_certificate.py`) write, so that lava-rs
//! and LAVA masters and slaves can use each other's certificates.

use crate::admin::AdminError;
use clap::Subcommand;
use std::path::PathBuf;

/// `lava-admin certificates`.
#[derive(Debug, Subcommand)]
pub enum CertificatesCommand {
    /// Create NAME.key (public) and NAME.key_secret (key pair, mode 0600) in a directory.
    Create {
        /// The certificate's name: `master` for the master, the worker's hostname for a slave.
        name: String,
        /// Where to write them (LAVA's default directory).
        #[arg(
            long,
            value_name = "DIR",
            default_value = "/etc/lava-dispatcher/certificates.d"
        )]
        directory: PathBuf,
    },
}

/// Runs `lava-admin certificates …`.
pub fn run(command: CertificatesCommand) -> Result<(), AdminError> {
    match command {
        CertificatesCommand::Create { name, directory } => {
            std::fs::create_dir_all(&directory).map_err(|source| AdminError::Io {
                path: directory.display().to_string(),
                source,
            })?;
            let public = directory.join(format!("{name}.key"));
            if public.exists() {
                return Err(AdminError::Input(format!(
                    "{} already exists: remove it first to replace the certificate",
                    public.display()
                )));
            }
            let (public, secret) = lava_transport::curve::create_certificates(&directory, &name)
                .map_err(|e| AdminError::Input(e.to_string()))?;
            println!("public certificate: {}", public.display());
            println!("secret certificate: {}", secret.display());
            Ok(())
        }
    }
}
