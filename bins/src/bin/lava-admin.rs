//! `lava-admin`: the admin workflow of the LAVA docs, against the master's store.
//!
//! Each command group lives in its own module under `bins/src/admin/`; this file only parses
//! the command line and reports the outcome.

use lava_bins::admin;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `lava-admin jobs list | head`: a reader that goes away ends lava-admin quietly, as
    // it ends any Unix tool, instead of a panic in the middle of a line. Rust ignores
    // SIGPIPE by default; every write to standard output would then have to handle EPIPE.
    // SAFETY: restoring the default action of a signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = admin::Cli::parse();
    match admin::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("lava-admin: {err}");
            ExitCode::FAILURE
        }
    }
}
