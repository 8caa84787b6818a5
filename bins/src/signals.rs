//! Stopping a daemon on a signal.

use std::future::Future;
use tokio::signal::unix::{signal, SignalKind};

/// Completes when one of `signals` arrives. `Err` names the signal whose handler could not be
/// installed.
pub fn on(
    signals: &[(SignalKind, &'static str)],
) -> Result<impl Future<Output = ()> + Send + 'static, (&'static str, std::io::Error)> {
    let mut streams = Vec::with_capacity(signals.len());
    for (kind, name) in signals {
        streams.push(signal(*kind).map_err(|e| (*name, e))?);
    }
    Ok(async move {
        let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
        futures::future::select_all(waits).await;
    })
}

/// SIGTERM and SIGINT, which stop lava-master.
pub const MASTER: &[(SignalKind, &str)] = &[
    (SignalKind::terminate(), "SIGTERM"),
    (SignalKind::interrupt(), "SIGINT"),
];

/// SIGTERM, SIGINT and SIGHUP, which stop LAVA's slave.
pub const SLAVE: &[(SignalKind, &str)] = &[
    (SignalKind::terminate(), "SIGTERM"),
    (SignalKind::interrupt(), "SIGINT"),
    (SignalKind::hangup(), "SIGHUP"),
];
