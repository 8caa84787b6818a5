//! `lava-master`: the scheduler, the ZeroMQ control and log sockets and the store.

use clap::Parser;
use lava_bins::lab;
use lava_bins::master::daemon::{bind, MasterDaemon};
use lava_bins::master::options::MasterOptions;
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
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("lava-master: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: MasterOptions) -> Result<(), String> {
    std::fs::create_dir_all(&options.data_dir).map_err(|e| {
        format!(
            "cannot create the data dir {}: {e}",
            options.data_dir.display()
        )
    })?;
    let store = lab::open_store(&options.store_url(), true)
        .await
        .map_err(|e| format!("store {}: {e}", options.store_url()))?;
    let sockets = bind(&options).map_err(|e| e.to_string())?;
    let daemon = MasterDaemon::new(&options, store)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(data_dir = %options.data_dir.display(), "lava-master started");
    daemon.run(sockets).await.map_err(|e| e.to_string())
}
