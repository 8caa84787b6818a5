//! `lava-master`: the scheduler, the ZeroMQ control and log sockets, the store, and LAVA's
//! XML-RPC API on `--http` (served beside the daemon loop, stopped with it).

use clap::Parser;
use lava_bins::api::Api;
use lava_bins::lab;
use lava_bins::master::api_backend::{LabPaths, StoreBackend};
use lava_bins::master::daemon::{bind, MasterDaemon};
use lava_bins::master::options::MasterOptions;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long requests in flight may take to finish once the master stops.
const HTTP_GRACE: Duration = Duration::from_secs(5);

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
    let http = TcpListener::bind(&options.http).await.map_err(|e| {
        format!(
            "cannot serve the XML-RPC API on --http {}: {e}",
            options.http
        )
    })?;
    let daemon = MasterDaemon::new(&options, Arc::clone(&store))
        .await
        .map_err(|e| e.to_string())?;
    let backend = StoreBackend::new(store, LabPaths::from_options(&options));
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Api::new(Arc::new(backend)).serve_until(http, async {
        let _ = stopped.await;
    }));
    tracing::info!(
        data_dir = %options.data_dir.display(),
        http = %options.http,
        "lava-master started, XML-RPC API on /RPC2"
    );
    let result = daemon.run(sockets).await.map_err(|e| e.to_string());
    let _ = stop_http.send(());
    match tokio::time::timeout(HTTP_GRACE, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!("the XML-RPC API failed: {e}"),
        Ok(Err(e)) => tracing::error!("the XML-RPC API task failed: {e}"),
        Err(_) => tracing::warn!("XML-RPC requests still in flight after {HTTP_GRACE:?}: dropped"),
    }
    result
}
