//! What one client may cost the API: connections per address, request bodies (size, time,
//! how many large ones at once), so that a cheap call such as `system.version` is answered
//! promptly whatever one client sends.
//!
//! - **Connections per client address** ([`Limits::connections_per_client`]): a connection
//!   beyond the limit is closed at once, before any byte is read, and logged (once per
//!   burst). One client cannot exhaust the master's file descriptors or tasks.
//! - **Body time** ([`Limits::body_timeout`]): a body that has not fully arrived in time is
//!   answered with a fault and the connection dropped (slow senders hold nothing for long).
//! - **Large bodies** (over [`Limits::small_body`]): at most [`Limits::large_requests`]
//!   are read and handled at once; each runs on a blocking thread, off the threads that
//!   answer everything else. One waiting longer than [`Limits::large_request_wait`] is
//!   refused with a fault saying the server is busy. Small bodies (every call lavacli makes
//!   but submissions and file uploads) never wait for a large one.
//! - **Size** ([`Limits::body`]): the largest body read at all.
//!
//! Every parser behind the API is linear in its input (XML, YAML, base64), so the cost of a
//! request is bounded by its size.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The API's limits on what one request and one client may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body read, in bytes.
    pub body: usize,
    /// Bodies up to this size are handled at once, beside everything else.
    pub small_body: usize,
    /// How many larger bodies are read and handled at once.
    pub large_requests: usize,
    /// How long a large body may wait for its turn before it is refused.
    pub large_request_wait: Duration,
    /// How long a whole body may take to arrive.
    pub body_timeout: Duration,
    /// Open connections per client address (0: no limit).
    pub connections_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body: crate::server::DEFAULT_BODY_LIMIT,
            small_body: 64 * 1024,
            large_requests: 2,
            large_request_wait: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            connections_per_client: 64,
        }
    }
}

/// Open connections per client address, shared by the listener and its connections.
#[derive(Debug, Default)]
struct Counts {
    open: HashMap<IpAddr, usize>,
    /// Connections refused since the last log line.
    refused: u64,
}

/// A TCP listener that refuses connections beyond [`Limits::connections_per_client`] per
/// client address (axum's [`axum::serve::Listener`]).
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    per_client: usize,
    counts: Arc<Mutex<Counts>>,
}

impl LimitedListener {
    /// Wraps `inner`, allowing `per_client` open connections per client address (0: any).
    pub fn new(inner: TcpListener, per_client: usize) -> Self {
        LimitedListener {
            inner,
            per_client,
            counts: Arc::default(),
        }
    }

    fn admit(&self, peer: IpAddr) -> bool {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let open = counts.open.entry(peer).or_default();
        if self.per_client > 0 && *open >= self.per_client {
            counts.refused += 1;
            // One line per 1,000 refusals: a flood does not flood the log.
            if counts.refused % 1000 == 1 {
                tracing::warn!(
                    client = %peer,
                    limit = self.per_client,
                    refused = counts.refused,
                    "API connection refused: the client has too many open connections"
                );
            }
            return false;
        }
        *open += 1;
        true
    }
}

/// The address of the client that opened a connection, as the handlers see it
/// (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, LimitedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, LimitedListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    if !self.admit(peer.ip()) {
                        drop(stream);
                        continue;
                    }
                    let stream = CountedStream {
                        stream,
                        peer: peer.ip(),
                        counts: Arc::clone(&self.counts),
                    };
                    return (stream, peer);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("API cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection, counted against its client until it is dropped.
#[derive(Debug)]
pub struct CountedStream {
    stream: TcpStream,
    peer: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = counts.open.get_mut(&self.peer) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.open.remove(&self.peer);
            }
        }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
