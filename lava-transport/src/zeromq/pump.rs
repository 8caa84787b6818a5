//! One thread per libzmq socket, bridging it to async code.
//!
//! libzmq sockets are not thread-safe, so each one lives on its own thread, which blocks in
//! `zmq::poll` on the socket and on a wake-up descriptor. Outgoing frames arrive through a
//! channel (and a wake-up); incoming messages leave through a bounded tokio channel, so a
//! slow reader applies back-pressure to the socket (whose own high-water mark then applies).

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;

use tokio::sync::{mpsc as async_mpsc, oneshot};

use super::wakeup::{self, WakeReceiver, Waker};
use crate::error::TransportError;
use crate::Frames;

/// Incoming messages buffered between the socket thread and the reader.
const INCOMING_CAPACITY: usize = 1024;

/// One incoming message with what libzmq says about its connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Received {
    /// The frames (a ROUTER's first one is the peer's routing id).
    pub(crate) frames: Frames,
    /// The ZAP handler's user id for the connection (CURVE: the worker names its
    /// certificate allows, space-separated); `None` without one.
    pub(crate) user_id: Option<String>,
    /// The peer's address as libzmq reports it (`Peer-Address`, an IP without port).
    pub(crate) peer_address: Option<String>,
}

/// What to do with queued outgoing messages when the pump is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnClose {
    /// Drop them (control sockets: the protocol re-sends what matters; linger 0).
    Discard,
    /// Deliver them first, however long that takes (log records: lava-run lingers forever).
    Deliver,
}

enum Command {
    Send(Frames),
    Close(oneshot::Sender<()>),
}

/// The async side of a socket thread.
#[derive(Debug)]
pub(crate) struct Pump {
    commands: mpsc::Sender<Command>,
    waker: Waker,
    incoming: Option<async_mpsc::Receiver<Received>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Send(frames) => write!(f, "Send({} frames)", frames.len()),
            Command::Close(_) => f.write_str("Close"),
        }
    }
}

impl Pump {
    /// Moves `socket` (already bound or connected) to a new thread named `name`.
    /// `receives` says whether the socket type can receive (PUSH cannot).
    pub(crate) fn start(
        name: &'static str,
        socket: zmq::Socket,
        receives: bool,
        on_close: OnClose,
    ) -> Result<Self, TransportError> {
        let (commands, command_rx) = mpsc::channel();
        let (waker, wake_rx) =
            wakeup::pair().map_err(|source| TransportError::Thread { what: name, source })?;
        let (incoming_tx, incoming) = async_mpsc::channel(INCOMING_CAPACITY);
        let worker = Worker {
            name,
            socket,
            receives,
            on_close,
            commands: command_rx,
            wake: wake_rx,
            incoming: incoming_tx,
            outgoing: VecDeque::new(),
        };
        let thread = thread::Builder::new()
            .name(format!("zmq-{name}"))
            .spawn(move || worker.run())
            .map_err(|source| TransportError::Thread { what: name, source })?;
        Ok(Self {
            commands,
            waker,
            incoming: receives.then_some(incoming),
            thread: Some(thread),
        })
    }

    /// Queues a message for sending; it never blocks.
    pub(crate) fn send(&self, frames: Frames) -> Result<(), TransportError> {
        self.commands
            .send(Command::Send(frames))
            .map_err(|_| TransportError::Closed)?;
        self.waker.wake();
        Ok(())
    }

    /// The next incoming message. Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn recv(&mut self) -> Result<Received, TransportError> {
        match self.incoming.as_mut() {
            Some(incoming) => incoming.recv().await.ok_or(TransportError::Closed),
            None => Err(TransportError::Closed),
        }
    }

    /// Stops the thread and waits until the socket is closed (for [`OnClose::Deliver`],
    /// until every queued message has been handed to libzmq and delivered).
    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_err() {
            return Ok(());
        }
        self.waker.wake();
        // An error means the thread ended without acknowledging: it is gone either way.
        let _ = finished.await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Ok(())
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        // Dropping the receiver unblocks a thread waiting to hand over a message, and the
        // closed command channel tells it to stop. It is not joined here: drop may run on
        // an async worker thread, and a delivering socket may take long.
        self.incoming = None;
        let (done, _) = oneshot::channel();
        let _ = self.commands.send(Command::Close(done));
        self.waker.wake();
    }
}

struct Worker {
    name: &'static str,
    socket: zmq::Socket,
    receives: bool,
    on_close: OnClose,
    commands: mpsc::Receiver<Command>,
    wake: WakeReceiver,
    incoming: async_mpsc::Sender<Received>,
    outgoing: VecDeque<Frames>,
}

impl Worker {
    fn run(mut self) {
        let mut closing: Option<oneshot::Sender<()>> = None;
        loop {
            let mut events = zmq::PollEvents::empty();
            if self.receives && closing.is_none() {
                events |= zmq::POLLIN;
            }
            if !self.outgoing.is_empty() {
                events |= zmq::POLLOUT;
            }
            let mut items = [
                self.socket.as_poll_item(events),
                zmq::PollItem::from_fd(self.wake.fd(), zmq::POLLIN),
            ];
            match zmq::poll(&mut items, -1) {
                Ok(_) | Err(zmq::Error::EINTR) => {}
                Err(error) => {
                    tracing::error!(socket = self.name, %error, "zmq poll failed, closing the socket");
                    break;
                }
            }
            if items[1].is_readable() {
                self.wake.drain();
                if let Some(done) = self.take_commands() {
                    closing.get_or_insert(done);
                }
            }
            if self.flush().is_err() {
                break;
            }
            if closing.is_none() && self.receives && !self.receive() {
                break;
            }
            if closing.is_some() && (self.on_close == OnClose::Discard || self.outgoing.is_empty())
            {
                break;
            }
        }
        if self.on_close == OnClose::Discard {
            let _ = self.socket.set_linger(0);
        }
        // Dropping the socket (and, with the last one, its context) waits for delivery
        // when the linger is infinite.
        let Worker { socket, .. } = self;
        drop(socket);
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    /// Moves queued commands into `outgoing`; returns the close request, if any. A closed
    /// command channel (the handle was dropped) counts as a close request.
    fn take_commands(&mut self) -> Option<oneshot::Sender<()>> {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Send(frames)) => self.outgoing.push_back(frames),
                Ok(Command::Close(done)) => return Some(done),
                Err(mpsc::TryRecvError::Empty) => return None,
                Err(mpsc::TryRecvError::Disconnected) => return Some(oneshot::channel().0),
            }
        }
    }

    /// Sends what the socket accepts now. ROUTER sockets never refuse (unroutable or
    /// over-the-high-water-mark messages are dropped by libzmq, as LAVA expects); PUSH
    /// refuses while no peer can take more, and the message waits here.
    fn flush(&mut self) -> Result<(), zmq::Error> {
        while let Some(frames) = self.outgoing.front() {
            match self.socket.send_multipart(frames.iter(), zmq::DONTWAIT) {
                Ok(()) => {
                    self.outgoing.pop_front();
                }
                Err(zmq::Error::EAGAIN) => return Ok(()),
                Err(zmq::Error::EINTR) => continue,
                Err(zmq::Error::ETERM) => return Err(zmq::Error::ETERM),
                Err(error) => {
                    tracing::warn!(socket = self.name, %error, frames = frames.len(), "message not sent");
                    self.outgoing.pop_front();
                }
            }
        }
        Ok(())
    }

    /// Hands every waiting message to the reader; false once the reader is gone.
    fn receive(&mut self) -> bool {
        loop {
            match self.socket.recv_msg(zmq::DONTWAIT) {
                Ok(first) => {
                    // A ROUTER makes the routing frame itself, without the connection's
                    // properties: they are read from the first frame that has them.
                    let mut user_id = None;
                    let mut peer_address = None;
                    let mut frames = Vec::new();
                    let mut part = Some(first);
                    while let Some(mut message) = part.take() {
                        if peer_address.is_none() {
                            peer_address = message.gets("Peer-Address").map(str::to_owned);
                            user_id = message
                                .gets("User-Id")
                                .filter(|id| !id.is_empty())
                                .map(str::to_owned);
                        }
                        frames.push(message.to_vec());
                        // The rest of a multipart message is already there (atomic delivery).
                        while part.is_none() && self.socket.get_rcvmore().unwrap_or(false) {
                            match self.socket.recv_msg(0) {
                                Ok(next) => part = Some(next),
                                Err(zmq::Error::EINTR) => continue,
                                Err(error) => {
                                    tracing::error!(socket = self.name, %error, "zmq receive failed, closing the socket");
                                    return false;
                                }
                            }
                        }
                    }
                    let received = Received {
                        frames,
                        user_id,
                        peer_address,
                    };
                    if self.incoming.blocking_send(received).is_err() {
                        return false;
                    }
                }
                Err(zmq::Error::EAGAIN) => return true,
                Err(zmq::Error::EINTR) => continue,
                Err(error) => {
                    tracing::error!(socket = self.name, %error, "zmq receive failed, closing the socket");
                    return false;
                }
            }
        }
    }
}
