//! `lava-slave`: the lava-rs worker daemon (see `lava_bins::slave::daemon`).

use std::process::ExitCode;

use clap::Parser;
use lava_bins::slave::daemon::{run, shutdown_signals, DaemonConfig};
use lava_bins::slave::host::init_logging;
use lava_bins::slave::options::SlaveOptions;

fn main() -> ExitCode {
    let options = SlaveOptions::parse();
    if let Err(e) = init_logging(&options.log_file, &options.level) {
        eprintln!("lava-slave: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lava-slave: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let config = DaemonConfig::from_options(&options)?;
        run(config, shutdown_signals()?).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("lava-slave: {e}");
            ExitCode::FAILURE
        }
    }
}
