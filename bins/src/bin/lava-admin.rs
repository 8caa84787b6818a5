//! `lava-admin`: the admin workflow of the LAVA docs, against the master's store.

use clap::Parser;

/// Administer a lava-rs lab.
#[derive(Debug, Parser)]
#[command(name = "lava-admin", version)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
