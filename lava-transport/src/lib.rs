//! Transports for lava-rs: how the master, the slaves and lava-run exchange ZeroMQ
//! multipart messages, without knowing what the messages mean.
//!
//! Four roles, one trait each, all carrying raw frames ([`Frames`]); decoding them into
//! protocol messages is `lava_core::protocol`'s job:
//!
//! | role | trait | LAVA socket |
//! |---|---|---|
//! | master control | [`MasterTransport`] | ROUTER bound, identity `master`, handover |
//! | slave control | [`SlaveTransport`] | ROUTER connected, identity = hostname, peer named `master` |
//! | log sink (master) | [`LogSink`] | PULL bound |
//! | log source (lava-run) | [`LogSource`] | PUSH connected, delivers everything before closing |
//!
//! Implementations: [`zeromq`] (libzmq through the `zmq` crate, with CurveZMQ and a ZAP
//! allow-list, see [`curve`]) and [`memory`] (in-process, for tests, with fault injection).

#![deny(missing_docs)]

pub mod curve;
pub mod error;
pub mod memory;
pub mod zeromq;

use async_trait::async_trait;

pub use error::{CertificateError, TransportError};

/// One ZeroMQ multipart message: its frames, in order.
pub type Frames = Vec<Vec<u8>>;

pub use lava_core::protocol::PeerId;

/// The master's control socket: messages from any slave, replies to one slave.
///
/// `recv` is cancel-safe, so it can sit in a `tokio::select!` beside a timer.
#[async_trait]
pub trait MasterTransport: Send {
    /// The next message from a slave: who sent it and its frames (without the routing frame).
    async fn recv(&mut self) -> Result<(PeerId, Frames), TransportError>;

    /// Sends frames to a slave. A slave that is not connected is not an error: the message
    /// is dropped, as LAVA's ROUTER (without `ROUTER_MANDATORY`) drops it, and the protocol
    /// re-sends what matters.
    async fn send(&mut self, peer: &PeerId, frames: Frames) -> Result<(), TransportError>;
}

/// A slave's control socket, connected to the master.
///
/// Messages sent before the master is reachable are queued (at most 10, as LAVA's `SNDHWM`)
/// and delivered when it comes up; beyond that they are dropped. The same limit applies to
/// bursts while connected: send at most about 8 messages at once, as LAVA's slave does.
#[async_trait]
pub trait SlaveTransport: Send {
    /// Sends frames to the master (without a routing frame).
    async fn send(&mut self, frames: Frames) -> Result<(), TransportError>;

    /// The next message from the master, without the routing frame. Cancel-safe.
    async fn recv(&mut self) -> Result<Frames, TransportError>;
}

/// The master's log socket: records pushed by every lava-run, `[job_id, line]`.
#[async_trait]
pub trait LogSink: Send {
    /// The next record's frames, as sent (normally two: job id and YAML line). Cancel-safe.
    async fn recv(&mut self) -> Result<Frames, TransportError>;

    /// The next record's frames, with the worker names the sender's certificate allows
    /// when the transport can tell (CURVE); `None` when it cannot (clear text).
    /// Cancel-safe.
    async fn recv_from(&mut self) -> Result<(Option<Vec<String>>, Frames), TransportError> {
        Ok((None, self.recv().await?))
    }
}

/// lava-run's log socket: pushes records to the master's log sink.
#[async_trait]
pub trait LogSource: Send {
    /// Queues one record (normally `[job_id, line]`); never drops it.
    async fn push(&mut self, frames: Frames) -> Result<(), TransportError>;

    /// Waits until every queued record has been delivered, then closes. While the sink is
    /// unreachable this waits, as lava-run does; bound it with a timeout if needed.
    async fn close(&mut self) -> Result<(), TransportError>;
}

/// Whether the linked libzmq supports CurveZMQ (Debian's does; the vendored zmq-sys build does not).
pub fn has_curve() -> bool {
    zmq::has("curve").unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn linked_libzmq_has_curve() {
        assert!(
            super::has_curve(),
            "libzmq was linked without CURVE: install libzmq3-dev and keep .cargo/config.toml"
        );
    }
}
