//! `lava-master`: the scheduler, the ZeroMQ control and log sockets, the store, and LAVA's
//! XML-RPC API on `--http`, until SIGTERM or SIGINT.

use clap::Parser;
use lava_bins::master::{MasterDaemon, MasterOptions};
use std::process::ExitCode;

fn main() -> ExitCode {
    let options = MasterOptions::parse();
    if let Err(e) = lava_bins::logging::init(&options.level, &options.log_file) {
        eprintln!("lava-master: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lava-master: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let stop = lava_bins::signals::on(lava_bins::signals::MASTER).map_err(|(what, e)| {
            lava_bins::master::MasterDaemonError::Other(format!("cannot handle {what}: {e}"))
        })?;
        tokio::pin!(stop);
        match MasterDaemon::start_waiting(&options, stop.as_mut()).await? {
            Some(daemon) => daemon.run(stop).await,
            None => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("lava-master: {e}");
            ExitCode::FAILURE
        }
    }
}
