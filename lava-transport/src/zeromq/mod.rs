//! The ZeroMQ transport: LAVA 2020.05's sockets through libzmq (the `zmq` crate).
//!
//! * [`ZmqServer`] owns the master's libzmq context and, with CURVE, the master key pair
//!   and the ZAP handler; it binds the control ROUTER ([`ZmqMaster`]) and the log PULL
//!   socket ([`ZmqLogSink`]), which then share that handler, as lava-master and lava-logs
//!   share one certificate directory.
//! * [`connect_slave`] and [`connect_log_source`] make the client sockets of lava-slave and
//!   lava-run, each in its own context, optionally as CURVE clients ([`ClientCurve`]).
//!
//! Each socket runs on its own thread (see `pump`), so the async side never touches libzmq.
//! Control sockets close with linger 0 (LAVA does so: the protocol re-sends what matters);
//! the log source lingers until every record is delivered, like lava-run.

mod pump;
pub(crate) mod wakeup;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::curve::zap::{AuthDecision, Authenticator};
use crate::curve::{read_key_pair, read_public_key, AllowList, KeyPair, PublicKey};
use crate::error::{CertificateError, TransportError};
use crate::{Frames, LogSink, LogSource, MasterTransport, PeerId, SlaveTransport};
use pump::{OnClose, Pump, Received};
use std::collections::HashMap;

/// The identity of LAVA's lava-logs daemon on the master's socket.
const LAVA_LOGS_IDENTITY: &str = "lava-logs";

/// The master's routing identity, which slaves address (`CONNECT_ROUTING_ID`).
pub const MASTER_IDENTITY: &str = "master";

/// A slave's send queue length while the master is unreachable (LAVA's `SNDHWM`).
pub const SLAVE_SEND_HWM: i32 = 10;

/// Socket options that LAVA exposes on its command lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// `--ipv6`: allow IPv6 addresses (libzmq's `ZMQ_IPV6`).
    pub ipv6: bool,
    /// `--socks-proxy`: a SOCKS5 proxy for client connections (ignored by bound sockets).
    pub socks_proxy: Option<String>,
}

/// A CURVE client's keys: its own pair and the server's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCurve {
    /// The client's key pair (the slave certificate).
    pub key_pair: KeyPair,
    /// The master's public key.
    pub server_key: PublicKey,
}

impl ClientCurve {
    /// Reads LAVA's `--slave-cert` (a `.key_secret` file) and `--master-cert` (a `.key`
    /// or `.key_secret` file; only its public key is used).
    pub fn from_files(slave_cert: &Path, master_cert: &Path) -> Result<Self, CertificateError> {
        Ok(Self {
            key_pair: read_key_pair(slave_cert)?,
            server_key: read_public_key(master_cert)?,
        })
    }
}

fn socket_error(action: &'static str, endpoint: &str) -> impl FnOnce(zmq::Error) -> TransportError {
    let endpoint = endpoint.to_owned();
    move |source| TransportError::Socket {
        action,
        endpoint,
        source,
    }
}

fn apply(
    socket: &zmq::Socket,
    endpoint: &str,
    options: &SocketOptions,
    client: bool,
) -> Result<(), TransportError> {
    if options.ipv6 {
        socket
            .set_ipv6(true)
            .map_err(socket_error("enable IPv6 for", endpoint))?;
    }
    if let (true, Some(proxy)) = (client, options.socks_proxy.as_deref()) {
        socket
            .set_socks_proxy(Some(proxy))
            .map_err(socket_error("set SOCKS proxy for", endpoint))?;
    }
    Ok(())
}

fn apply_client_curve(
    socket: &zmq::Socket,
    endpoint: &str,
    curve: Option<&ClientCurve>,
) -> Result<(), TransportError> {
    if let Some(curve) = curve {
        if !crate::has_curve() {
            return Err(TransportError::NoCurve);
        }
        socket
            .set_curve_serverkey(curve.server_key.as_bytes())
            .map_err(socket_error("set CURVE server key for", endpoint))?;
        socket
            .set_curve_publickey(curve.key_pair.public().as_bytes())
            .map_err(socket_error("set CURVE public key for", endpoint))?;
        socket
            .set_curve_secretkey(curve.key_pair.secret().as_bytes())
            .map_err(socket_error("set CURVE secret key for", endpoint))?;
    }
    Ok(())
}

fn last_endpoint(socket: &zmq::Socket, requested: &str) -> String {
    match socket.get_last_endpoint() {
        Ok(Ok(endpoint)) => endpoint,
        _ => requested.to_owned(),
    }
}

struct ServerInner {
    // Declared before `context`: the ZAP thread's socket closes before the context goes.
    authenticator: Option<Authenticator>,
    key_pair: Option<KeyPair>,
    context: zmq::Context,
}

/// The master side's libzmq context, with the CURVE server keys and ZAP handler if any.
///
/// Cheap to clone; the ZAP handler runs as long as the server or one of its sockets lives.
#[derive(Clone)]
pub struct ZmqServer {
    inner: Arc<ServerInner>,
}

impl std::fmt::Debug for ZmqServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqServer")
            .field("curve", &self.inner.key_pair.as_ref().map(KeyPair::public))
            .finish()
    }
}

impl ZmqServer {
    /// A server without encryption (LAVA's default).
    pub fn plain() -> Self {
        Self {
            inner: Arc::new(ServerInner {
                authenticator: None,
                key_pair: None,
                context: zmq::Context::new(),
            }),
        }
    }

    /// A CURVE server: the key pair of `master_cert` (a `.key_secret` file, LAVA's
    /// `--master-cert`), admitting the clients whose keys are in the `*.key` files of
    /// `slaves_certs` (LAVA's `--slaves-certs`), reloaded as that directory changes.
    pub fn curve(master_cert: &Path, slaves_certs: &Path) -> Result<Self, TransportError> {
        let key_pair = read_key_pair(master_cert)?;
        let allow = AllowList::load(slaves_certs)?;
        Self::curve_with(key_pair, allow)
    }

    /// A CURVE server from a key pair and an allow-list already loaded.
    pub fn curve_with(key_pair: KeyPair, allow: AllowList) -> Result<Self, TransportError> {
        if !crate::has_curve() {
            return Err(TransportError::NoCurve);
        }
        let context = zmq::Context::new();
        let authenticator = Authenticator::start(&context, allow)?;
        Ok(Self {
            inner: Arc::new(ServerInner {
                authenticator: Some(authenticator),
                key_pair: Some(key_pair),
                context,
            }),
        })
    }

    /// The ZAP handler's decisions from now on (`None` without CURVE): which client keys
    /// were admitted or refused, from which address.
    pub fn auth_decisions(&self) -> Option<tokio::sync::broadcast::Receiver<AuthDecision>> {
        self.inner
            .authenticator
            .as_ref()
            .map(Authenticator::subscribe)
    }

    /// Whether sockets of this server use CURVE.
    pub fn is_curve(&self) -> bool {
        self.inner.key_pair.is_some()
    }

    fn server_socket(
        &self,
        kind: zmq::SocketType,
        endpoint: &str,
        options: &SocketOptions,
    ) -> Result<zmq::Socket, TransportError> {
        let socket = self
            .inner
            .context
            .socket(kind)
            .map_err(socket_error("create a socket for", endpoint))?;
        apply(&socket, endpoint, options, false)?;
        if let Some(pair) = &self.inner.key_pair {
            socket
                .set_curve_server(true)
                .map_err(socket_error("set CURVE server on", endpoint))?;
            socket
                .set_curve_secretkey(pair.secret().as_bytes())
                .map_err(socket_error("set CURVE secret key on", endpoint))?;
        }
        Ok(socket)
    }

    /// Binds the master's control ROUTER (identity `master`, linger 0).
    /// `tcp://127.0.0.1:0` picks a free port: read it back with [`ZmqMaster::endpoint`].
    ///
    /// In clear text it sets `ROUTER_HANDOVER`, as LAVA: a new connection with a worker's
    /// identity takes its route over (a restarted slave gets its route back at once); a
    /// takeover from another address is logged. With CURVE it does not: a connection may
    /// only be a worker its certificate names (see [`ZmqMaster`]), and a second connection
    /// claiming a connected worker's identity is refused by libzmq rather than allowed to
    /// cut the first one off.
    pub fn bind_master(
        &self,
        endpoint: &str,
        options: &SocketOptions,
    ) -> Result<ZmqMaster, TransportError> {
        let socket = self.server_socket(zmq::ROUTER, endpoint, options)?;
        socket
            .set_identity(MASTER_IDENTITY.as_bytes())
            .map_err(socket_error("set identity on", endpoint))?;
        socket
            .set_router_handover(!self.is_curve())
            .map_err(socket_error("set ROUTER_HANDOVER on", endpoint))?;
        socket
            .set_linger(0)
            .map_err(socket_error("set linger on", endpoint))?;
        socket
            .bind(endpoint)
            .map_err(socket_error("bind", endpoint))?;
        let bound = last_endpoint(&socket, endpoint);
        let pump = Pump::start("master", socket, true, OnClose::Discard)?;
        Ok(ZmqMaster {
            pump,
            endpoint: bound,
            curve: self.is_curve(),
            addresses: HashMap::new(),
            refused: HashMap::new(),
            _server: self.clone(),
        })
    }

    /// Binds the log PULL socket that lava-run processes push their records to.
    pub fn bind_log_sink(
        &self,
        endpoint: &str,
        options: &SocketOptions,
    ) -> Result<ZmqLogSink, TransportError> {
        let socket = self.server_socket(zmq::PULL, endpoint, options)?;
        socket
            .set_linger(0)
            .map_err(socket_error("set linger on", endpoint))?;
        socket
            .bind(endpoint)
            .map_err(socket_error("bind", endpoint))?;
        let bound = last_endpoint(&socket, endpoint);
        let pump = Pump::start("log-sink", socket, true, OnClose::Discard)?;
        Ok(ZmqLogSink {
            pump,
            endpoint: bound,
            curve: self.is_curve(),
            _server: self.clone(),
        })
    }
}

/// The most peers whose last address is remembered (to log route takeovers); beyond it
/// the memory starts again, so that a flood of identities costs nothing lasting.
const REMEMBERED_PEERS: usize = 10_000;

/// The master's control ROUTER socket.
///
/// With CURVE, each message's connection carries the worker names its certificate allows
/// (the ZAP handler's user id, see [`crate::curve::AllowList`]); a message whose routing
/// identity is not one of them is dropped and logged: a certificate admits its own
/// workers only. In clear text nothing ties a connection to a worker; a worker whose
/// messages start coming from another address is logged as a route takeover.
#[derive(Debug)]
pub struct ZmqMaster {
    pump: Pump,
    endpoint: String,
    curve: bool,
    /// Each peer's last address.
    addresses: HashMap<PeerId, String>,
    /// Messages refused per (claimed identity, certificate names), for rate-limited logs.
    refused: HashMap<(String, String), u64>,
    _server: ZmqServer,
}

/// The worker names a CURVE certificate allows, from the ZAP user id.
pub fn certificate_names(user_id: &str) -> impl Iterator<Item = &str> {
    user_id.split(' ').filter(|n| !n.is_empty())
}

impl ZmqMaster {
    /// Whether a message from `peer` over a connection with `received`'s properties is
    /// accepted; logs refusals and takeovers.
    fn admit(&mut self, peer: &PeerId, received: &Received) -> bool {
        let name = String::from_utf8_lossy(peer.as_bytes()).into_owned();
        // LAVA's lava-logs connects with the master's own key pair as `lava-logs`; the
        // master takes nothing but PING from that identity, so any admitted key may use it.
        if self.curve && name != LAVA_LOGS_IDENTITY {
            let names = received.user_id.as_deref().unwrap_or_default();
            if !certificate_names(names).any(|n| n == name) {
                if self.refused.len() >= REMEMBERED_PEERS {
                    self.refused.clear();
                }
                let count = self
                    .refused
                    .entry((name.clone(), names.to_owned()))
                    .or_default();
                *count += 1;
                if *count % 1000 == 1 {
                    tracing::warn!(
                        claimed = %name,
                        certificate = %names,
                        address = received.peer_address.as_deref().unwrap_or("?"),
                        refused = *count,
                        "message refused: the connection claims to be worker '{name}' but its \
                         CURVE certificate is for {}",
                        if names.is_empty() { "no worker".to_owned() } else { format!("'{names}'") }
                    );
                }
                return false;
            }
        }
        if let Some(address) = &received.peer_address {
            if self.addresses.len() >= REMEMBERED_PEERS && !self.addresses.contains_key(peer) {
                self.addresses.clear();
            }
            match self.addresses.insert(peer.clone(), address.clone()) {
                Some(before) if before != *address => tracing::warn!(
                    worker = %name,
                    from = %before,
                    to = %address,
                    "worker '{name}' now talks from {address} (was {before}): a new connection \
                     took its route over — a slave restarted elsewhere, or someone posing as \
                     it (use CURVE on untrusted networks)"
                ),
                _ => {}
            }
        }
        true
    }
}

impl ZmqMaster {
    /// The endpoint actually bound (with the port libzmq chose for `:0` or `:*`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Closes the socket (pending messages are dropped) and waits for its thread.
    pub async fn close(&mut self) -> Result<(), TransportError> {
        self.pump.close().await
    }
}

#[async_trait]
impl MasterTransport for ZmqMaster {
    async fn recv(&mut self) -> Result<(PeerId, Frames), TransportError> {
        loop {
            let mut received = self.pump.recv().await?;
            if received.frames.is_empty() {
                continue;
            }
            let peer = PeerId::from(received.frames.remove(0));
            if !self.admit(&peer, &received) {
                continue;
            }
            return Ok((peer, received.frames));
        }
    }

    async fn send(&mut self, peer: &PeerId, frames: Frames) -> Result<(), TransportError> {
        let mut message = Vec::with_capacity(frames.len() + 1);
        message.push(peer.as_bytes().to_vec());
        message.extend(frames);
        self.pump.send(message)
    }
}

/// The master's log PULL socket.
#[derive(Debug)]
pub struct ZmqLogSink {
    pump: Pump,
    endpoint: String,
    curve: bool,
    _server: ZmqServer,
}

impl ZmqLogSink {
    /// The endpoint actually bound.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Closes the socket and waits for its thread.
    pub async fn close(&mut self) -> Result<(), TransportError> {
        self.pump.close().await
    }
}

#[async_trait]
impl LogSink for ZmqLogSink {
    async fn recv(&mut self) -> Result<Frames, TransportError> {
        Ok(self.pump.recv().await?.frames)
    }

    async fn recv_from(&mut self) -> Result<(Option<Vec<String>>, Frames), TransportError> {
        let received = self.pump.recv().await?;
        let names = self.curve.then(|| {
            certificate_names(received.user_id.as_deref().unwrap_or_default())
                .map(str::to_owned)
                .collect()
        });
        Ok((names, received.frames))
    }
}

/// Checks that `identity` can be a ZeroMQ routing identity.
pub fn check_identity(identity: &str) -> Result<(), TransportError> {
    let problem = if identity.is_empty() {
        Some("it is empty")
    } else if identity.len() > 255 {
        Some("it is longer than 255 bytes")
    } else if identity.starts_with('\0') {
        Some("it starts with a NUL byte, which libzmq reserves")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(TransportError::Identity {
            identity: identity.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Sets `ZMQ_CONNECT_ROUTING_ID`, which the `zmq` crate does not wrap: the name this
/// socket gives to the peer of its next `connect`, so that it can address it at once.
fn set_connect_routing_id(
    socket: &mut zmq::Socket,
    id: &[u8],
    endpoint: &str,
) -> Result<(), TransportError> {
    // SAFETY: the pointer comes from a live socket owned by `socket`; libzmq copies `id`
    // (pointer and length of a live slice) during the call.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_CONNECT_ROUTING_ID as i32,
            id.as_ptr().cast(),
            id.len(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: reads libzmq's thread-local errno; no arguments.
        let errno = unsafe { zmq_sys::zmq_errno() };
        Err(socket_error("set CONNECT_ROUTING_ID for", endpoint)(
            zmq::Error::from_raw(errno),
        ))
    }
}

/// Connects a slave's control ROUTER to the master: identity `hostname`, the peer named
/// `master` before any connection exists (so early messages queue), `SNDHWM` 10, linger 0.
pub fn connect_slave(
    endpoint: &str,
    hostname: &str,
    options: &SocketOptions,
    curve: Option<&ClientCurve>,
) -> Result<ZmqSlave, TransportError> {
    check_identity(hostname)?;
    let context = zmq::Context::new();
    let mut socket = context
        .socket(zmq::ROUTER)
        .map_err(socket_error("create a socket for", endpoint))?;
    apply(&socket, endpoint, options, true)?;
    apply_client_curve(&socket, endpoint, curve)?;
    socket
        .set_identity(hostname.as_bytes())
        .map_err(socket_error("set identity for", endpoint))?;
    socket
        .set_sndhwm(SLAVE_SEND_HWM)
        .map_err(socket_error("set SNDHWM for", endpoint))?;
    socket
        .set_linger(0)
        .map_err(socket_error("set linger for", endpoint))?;
    set_connect_routing_id(&mut socket, MASTER_IDENTITY.as_bytes(), endpoint)?;
    socket
        .connect(endpoint)
        .map_err(socket_error("connect to", endpoint))?;
    let pump = Pump::start("slave", socket, true, OnClose::Discard)?;
    Ok(ZmqSlave { pump })
}

/// A slave's control ROUTER socket.
#[derive(Debug)]
pub struct ZmqSlave {
    pump: Pump,
}

impl ZmqSlave {
    /// Closes the socket (pending messages are dropped) and waits for its thread.
    pub async fn close(&mut self) -> Result<(), TransportError> {
        self.pump.close().await
    }
}

#[async_trait]
impl SlaveTransport for ZmqSlave {
    async fn send(&mut self, frames: Frames) -> Result<(), TransportError> {
        let mut message = Vec::with_capacity(frames.len() + 1);
        message.push(MASTER_IDENTITY.as_bytes().to_vec());
        message.extend(frames);
        self.pump.send(message)
    }

    async fn recv(&mut self) -> Result<Frames, TransportError> {
        loop {
            let mut frames = self.pump.recv().await?.frames;
            // The only peer is named `master` locally, whatever it advertises; anything
            // else cannot come from it.
            if frames.first().map(Vec::as_slice) != Some(MASTER_IDENTITY.as_bytes()) {
                tracing::debug!(frames = frames.len(), "message not from the master dropped");
                continue;
            }
            frames.remove(0);
            return Ok(frames);
        }
    }
}

/// Connects lava-run's log PUSH socket to the master's log sink. It lingers: [`LogSource::close`]
/// returns only once every record is delivered.
pub fn connect_log_source(
    endpoint: &str,
    options: &SocketOptions,
    curve: Option<&ClientCurve>,
) -> Result<ZmqLogSource, TransportError> {
    let context = zmq::Context::new();
    let socket = context
        .socket(zmq::PUSH)
        .map_err(socket_error("create a socket for", endpoint))?;
    apply(&socket, endpoint, options, true)?;
    apply_client_curve(&socket, endpoint, curve)?;
    socket
        .set_linger(-1)
        .map_err(socket_error("set linger for", endpoint))?;
    socket
        .connect(endpoint)
        .map_err(socket_error("connect to", endpoint))?;
    // The context is moved into the thread with the socket (a socket keeps its context
    // alive): when the thread drops the socket, terminating the context waits for delivery.
    drop(context);
    let pump = Pump::start("log-source", socket, false, OnClose::Deliver)?;
    Ok(ZmqLogSource { pump })
}

/// lava-run's log PUSH socket.
#[derive(Debug)]
pub struct ZmqLogSource {
    pump: Pump,
}

#[async_trait]
impl LogSource for ZmqLogSource {
    async fn push(&mut self, frames: Frames) -> Result<(), TransportError> {
        self.pump.send(frames)
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        self.pump.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_checked() {
        assert!(check_identity("worker-1.example").is_ok());
        assert!(check_identity("").is_err());
        assert!(check_identity("\0abc").is_err());
        assert!(check_identity(&"x".repeat(256)).is_err());
    }

    #[test]
    fn bind_errors_name_the_endpoint() {
        let server = ZmqServer::plain();
        let err = server
            .bind_master("tcp://256.0.0.1:1", &SocketOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("tcp://256.0.0.1:1"), "{err}");
    }
}
