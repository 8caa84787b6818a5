//! The `lava-slave` daemon loop: the slave machine (`lava_core::slave`) driven by the
//! ZeroMQ socket, the clock, SIGCHLD and the job table.
//!
//! One task does everything, in this order, forever:
//!
//! 1. carry out every event of the machine (table writes, spawns, signals, results,
//!    directory removals; see [`Executor`]), including the events their answers produce;
//! 2. only then send every queued message to the master;
//! 3. wait for the first of: a message from the master, SIGCHLD (a lava-run of ours exited),
//!    the machine's deadline, or the shutdown signal.
//!
//! Step 1 before step 2 is the machine's driver contract: a START_OK or END leaves only
//! after the row it relies on is on disk.
//!
//! On shutdown the socket is closed (linger 0) and lava-run processes are left running: they
//! lead their own process groups, so the signal that stops the slave does not reach them,
//! and the next slave finds them through the job table.

use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

use lava_core::protocol::Message;
use lava_core::protocol::PeerId;
use lava_core::slave::lava_run::LavaRunOptions;
use lava_core::slave::{Slave, SlaveConfig};
use lava_store::{SlaveJobTable, StoreError};
use lava_transport::zeromq::{connect_slave, ClientCurve, SocketOptions, ZmqSlave};
use lava_transport::{CertificateError, SlaveTransport, TransportError};
use tracing::{debug, info, warn};

use super::executor::{Executor, Places, TableError};
use super::host::default_hostname;
use super::options::SlaveOptions;
use lava_core::model::{check_worker_name, WorkerNameError};

/// The LAVA release whose protocol this slave speaks, announced in HELLO (the master stores
/// it as the worker's version).
pub const LAVA_VERSION: &str = "2020.05";

/// Why the daemon could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// No `--hostname` and this host's name could not be found.
    #[error("no --hostname given and this host's name cannot be read")]
    NoHostname,
    /// The worker name is not usable.
    #[error(transparent)]
    Hostname(#[from] WorkerNameError),
    /// `--encrypt` certificates could not be read.
    #[error("--encrypt: {0}")]
    Certificate(#[from] CertificateError),
    /// The slave directory cannot be created.
    #[error("cannot create the slave directory {path}: {source}")]
    SlaveDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The job table cannot be opened or read.
    #[error("job table: {0}")]
    Store(#[from] StoreError),
    /// A row could not be written (see [`TableError`]).
    #[error(transparent)]
    Table(#[from] TableError),
    /// The socket could not be set up or has failed.
    #[error("connection to the master: {0}")]
    Transport(#[from] TransportError),
    /// A signal handler could not be installed.
    #[error("cannot install the {what} handler: {source}")]
    Signal {
        /// Which signal.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// Everything the daemon needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The worker name and ZeroMQ identity.
    pub hostname: String,
    /// The master's control socket URL.
    pub master: String,
    /// IPv6 and SOCKS proxy.
    pub socket_options: SocketOptions,
    /// CURVE keys with `--encrypt`.
    pub curve: Option<ClientCurve>,
    /// The slave and download directories.
    pub places: Places,
    /// How to run lava-run.
    pub lava_run: LavaRunOptions,
    /// The machine's timers.
    pub machine: SlaveConfig,
}

impl DaemonConfig {
    /// Resolves the options: hostname (default: this host's FQDN), certificates, timers.
    pub fn from_options(options: &SlaveOptions) -> Result<Self, DaemonError> {
        let hostname = match &options.hostname {
            Some(name) => name.clone(),
            None => default_hostname().ok_or(DaemonError::NoHostname)?,
        };
        check_worker_name(&hostname)?;
        let curve = if options.encrypt {
            Some(ClientCurve::from_files(
                &options.slave_cert,
                &options.master_cert,
            )?)
        } else {
            None
        };
        let socket_options = SocketOptions {
            ipv6: options.ipv6,
            socks_proxy: options.socks_proxy.clone(),
        };
        let lava_run = LavaRunOptions {
            program: options.lava_run.clone(),
            nice: true,
            logging_url: options.socket_addr.clone(),
            debug: options.debug,
            socks_proxy: options.socks_proxy.clone(),
            ipv6: options.ipv6,
            master_cert: options.encrypt.then(|| options.master_cert.clone()),
            slave_cert: options.encrypt.then(|| options.slave_cert.clone()),
        };
        let machine = SlaveConfig {
            lava_version: Some(LAVA_VERSION.to_owned()),
            job_check_interval: options.job_check_interval,
            cancel_term_again: options.cancel_term_again,
            cancel_kill: options.cancel_kill.max(options.cancel_term_again),
            ..SlaveConfig::default()
        };
        Ok(DaemonConfig {
            hostname,
            master: options.master.clone(),
            socket_options,
            curve,
            places: Places {
                slave_dir: options.slave_dir.clone(),
                download_dir: options.download_dir.clone(),
            },
            lava_run,
            machine,
        })
    }
}

fn create_dir(path: PathBuf) -> Result<(), DaemonError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&path)
        .map_err(|source| DaemonError::SlaveDir { path, source })
}

/// Runs the slave until `shutdown` completes (then returns `Ok`) or a fatal error.
pub async fn run(
    config: DaemonConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    create_dir(config.places.tmp_dir())?;
    let table = SlaveJobTable::open(config.places.slave_dir.join("db.sqlite3"))?;
    let mut executor = Executor::new(table, config.lava_run.clone(), config.places.clone());
    let rows = executor.stored_rows()?;
    // Before any spawn, so that no exit goes unnoticed.
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .map_err(|source| DaemonError::Signal {
            what: "SIGCHLD",
            source,
        })?;
    let connect = || {
        connect_slave(
            &config.master,
            &config.hostname,
            &config.socket_options,
            config.curve.as_ref(),
        )
    };
    let mut transport = connect()?;
    info!(
        hostname = %config.hostname,
        master = %config.master,
        encrypted = config.curve.is_some(),
        jobs = rows.len(),
        "lava-slave started"
    );
    if !config.lava_run.program.is_file() {
        // Not fatal, as in LAVA: each START then ends at once with the reason in END.
        warn!(
            program = %config.lava_run.program.display(),
            "lava-run not found: jobs will fail until it is installed"
        );
    }
    for (row, _) in &rows {
        info!(job = row.id, pid = row.pid, status = %row.status, "job restored from the table");
    }
    let mut machine = Slave::restore(config.machine.clone(), rows, Instant::now());
    let outcome = serve(
        &mut machine,
        &mut executor,
        &mut transport,
        &connect,
        &mut sigchld,
        shutdown,
    )
    .await;
    if let Err(e) = transport.close().await {
        warn!("closing the socket: {e}");
    }
    info!("lava-slave stopped; running lava-run processes are left alone");
    outcome
}

async fn serve(
    machine: &mut Slave,
    executor: &mut Executor,
    transport: &mut ZmqSlave,
    connect: &dyn Fn() -> Result<ZmqSlave, TransportError>,
    sigchld: &mut tokio::signal::unix::Signal,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    tokio::pin!(shutdown);
    loop {
        executor.drain(machine).await?;
        if executor.take_reconnect() {
            // A new connection: messages still queued on the old one are dropped, and the
            // protocol re-sends what matters (PING, END).
            if let Err(e) = transport.close().await {
                warn!("closing the socket: {e}");
            }
            *transport = connect()?;
            info!("connected anew to the master");
        }
        while let Some(message) = machine.poll_transmit() {
            log_message("sending", &message);
            if let Err(e) = transport.send(message.encode()).await {
                // The protocol re-sends what matters (HELLO_RETRY, PING, END).
                warn!("cannot send {}: {e}", message.action().as_str());
            }
        }
        let deadline = machine.poll_timeout().map(tokio::time::Instant::from_std);
        let timer = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => {
                info!("signal received: stopping");
                return Ok(());
            }
            received = transport.recv() => {
                let frames = received?;
                match Message::decode(&frames) {
                    Ok(message) => {
                        log_message("received", &message);
                        machine.handle_message(&PeerId::master(), message, Instant::now());
                    }
                    Err(error) => machine.handle_malformed(error, Instant::now()),
                }
            }
            delivered = sigchld.recv() => match delivered {
                Some(()) => executor.reap(machine).await,
                // Cannot happen while the runtime lives; looping on it would spin.
                None => return Err(DaemonError::Signal {
                    what: "SIGCHLD",
                    source: std::io::Error::other("the signal stream ended"),
                }),
            },
            () = timer => machine.handle_timeout(Instant::now()),
        }
    }
}

fn log_message(direction: &str, message: &Message) {
    let action = message.action().as_str();
    match message {
        Message::Ping | Message::Pong { .. } => debug!("{direction} {action}"),
        Message::End {
            job_id,
            errors,
            description,
        } => info!(
            job = job_id,
            errors = errors.len(),
            description = description.len(),
            "{direction} {action}"
        ),
        _ => match message.job_id() {
            Some(job_id) => info!(job = job_id, "{direction} {action}"),
            None => info!("{direction} {action}"),
        },
    }
}

/// Completes on SIGTERM, SIGINT or SIGHUP (the signals that stop LAVA's slave).
pub fn shutdown_signals() -> Result<impl Future<Output = ()>, DaemonError> {
    crate::signals::on(crate::signals::SLAVE)
        .map_err(|(what, source)| DaemonError::Signal { what, source })
}
