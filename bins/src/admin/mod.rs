//! The `lava-admin` command tree: one clap subcommand per area, each in its own module.
//!
//! To add a command group: a module here with an `Args` type (clap `Subcommand` or
//! `Args`) and a `run(args) -> Result<(), AdminError>`, then one variant in [`Command`].

pub mod certificates;
pub mod devices;
pub mod groups;
pub mod jobs;
pub mod lab;
pub mod templates;
pub mod workers;

use clap::{Parser, Subcommand};

/// Administer a lava-rs lab.
#[derive(Debug, Parser)]
#[command(name = "lava-admin", version)]
pub struct Cli {
    /// Where the lab is (ignored by `templates`, which works offline).
    #[command(flatten)]
    pub lab: lab::LabArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Device-type templates and device dictionaries: render and check them offline.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// Workers: the slaves that connect to the master.
    Workers(workers::WorkersArgs),
    /// Device types, their health checks and templates.
    DeviceTypes(devices::DeviceTypesArgs),
    /// Devices and their dictionaries.
    Devices(devices::DevicesArgs),
    /// Jobs: submit, list, show, why, cancel, logs, wait.
    Jobs(jobs::JobsArgs),
    /// Users of the API.
    Users(jobs::UsersArgs),
    /// API tokens.
    Tokens(jobs::TokensArgs),
    /// Groups of users (permissions on devices and device types are granted to groups).
    Groups(groups::GroupsArgs),
    /// CurveZMQ certificates for --encrypt (pyzmq/LAVA format).
    #[command(subcommand)]
    Certificates(certificates::CertificatesCommand),
}

/// Why a command failed; printed on stderr, exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The lab refused or failed.
    #[error(transparent)]
    Lab(#[from] lava_lab::LabError),
    /// A dictionary or template that does not render.
    #[error(transparent)]
    Template(#[from] lava_core::templates::TemplateError),
    /// A file that cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Input that does not follow the expected format.
    #[error("{0}")]
    Input(String),
}

/// Runs the command the user asked for; the exit code is 0 unless a command says otherwise
/// (`jobs wait`).
pub fn run(cli: Cli) -> Result<std::process::ExitCode, AdminError> {
    let done = |r: Result<(), AdminError>| r.map(|()| std::process::ExitCode::SUCCESS);
    match cli.command {
        Command::Templates(command) => done(templates::run(command)),
        Command::Workers(args) => done(workers::run(args, cli.lab)),
        Command::DeviceTypes(args) => done(devices::run_device_types(args, cli.lab)),
        Command::Devices(args) => done(devices::run_devices(args, cli.lab)),
        Command::Jobs(args) => jobs::run(args, cli.lab),
        Command::Users(args) => done(jobs::run_users(args, cli.lab)),
        Command::Tokens(args) => done(jobs::run_tokens(args, cli.lab)),
        Command::Groups(args) => done(groups::run(args, cli.lab)),
        Command::Certificates(command) => done(certificates::run(command)),
    }
}
