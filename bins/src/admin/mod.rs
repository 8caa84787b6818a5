//! The `lava-admin` command tree: one clap subcommand per area, each in its own module.
//!
//! To add a command group: a module here with an `Args` type (clap `Subcommand` or
//! `Args`) and a `run(args) -> Result<(), AdminError>`, then one variant in [`Command`].

pub mod templates;

use clap::{Parser, Subcommand};

/// Administer a lava-rs lab.
#[derive(Debug, Parser)]
#[command(name = "lava-admin", version)]
pub struct Cli {
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
}

/// Why a command failed; printed on stderr, exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
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

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<(), AdminError> {
    match cli.command {
        Command::Templates(command) => templates::run(command),
    }
}
