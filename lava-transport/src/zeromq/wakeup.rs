//! A socket pair that wakes a thread blocked in `zmq::poll` from any other thread.
//!
//! libzmq sockets must stay on one thread, and `zmq::poll` can also wait on a plain file
//! descriptor: writing one byte here makes the poll return, with no busy loop and no
//! polling interval.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

/// The writing half, held by the async side (cheap to share: writes are atomic).
#[derive(Debug)]
pub(crate) struct Waker(UnixStream);

/// The reading half, polled by the socket thread.
#[derive(Debug)]
pub(crate) struct WakeReceiver(UnixStream);

/// A connected waker and receiver, both non-blocking.
pub(crate) fn pair() -> io::Result<(Waker, WakeReceiver)> {
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    Ok((Waker(tx), WakeReceiver(rx)))
}

impl Waker {
    /// Makes the receiver readable. A full buffer means a wake-up is already pending,
    /// which is as good as another one.
    pub(crate) fn wake(&self) {
        let _ = (&self.0).write(&[1]);
    }
}

impl WakeReceiver {
    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Consumes pending wake-ups so that the next poll blocks again.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.0).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
    }
}
