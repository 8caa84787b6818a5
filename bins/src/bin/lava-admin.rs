//! `lava-admin`: the admin workflow of the LAVA docs, against the master's store.
//!
//! Each command group lives in its own module under `bins/src/admin/`; this file only parses
//! the command line and reports the outcome.

use lava_bins::admin;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = admin::Cli::parse();
    match admin::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("lava-admin: {err}");
            ExitCode::FAILURE
        }
    }
}
