//! A socket pair that wakes a thread blocked in `zmq::poll` from any other thread.
//!
//! libzmq sockets must stay on one thread, and `zmq::poll` can also wait on a plain file
//! descriptor: writing one byte here makes the poll return, with no busy loop and no
//! polling interval.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The writing half, held by the async side.
#[derive(Debug)]
pub(crate) struct Waker {
    stream: UnixStream,
    /// Set while a wake-up is written and not yet drained: a burst of messages costs one
    /// write, not one per message.
    pending: Arc<AtomicBool>,
}

/// The reading half, polled by the socket thread.
#[derive(Debug)]
pub(crate) struct WakeReceiver {
    stream: UnixStream,
    pending: Arc<AtomicBool>,
}

/// A connected waker and receiver, both non-blocking.
pub(crate) fn pair() -> io::Result<(Waker, WakeReceiver)> {
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    let pending = Arc::new(AtomicBool::new(false));
    Ok((
        Waker {
            stream: tx,
            pending: Arc::clone(&pending),
        },
        WakeReceiver {
            stream: rx,
            pending,
        },
    ))
}

impl Waker {
    /// Makes the receiver readable, unless a wake-up is already pending. Call it after
    /// queueing the work it announces. A full buffer also means one is pending.
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            let _ = (&self.stream).write(&[1]);
        }
    }
}

impl WakeReceiver {
    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Consumes pending wake-ups so that the next poll blocks again. Call it before
    /// looking for the work.
    ///
    /// The bytes are read before the flag is cleared: a wake-up written after the clear
    /// stays in the socket for the next poll, so work queued meanwhile is never missed.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.stream).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
        self.pending.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer queues work and wakes; the consumer polls, drains, then takes the work.
    /// With a lost wake-up the consumer's poll returns empty-handed (after its 20 s guard).
    #[test]
    fn no_wake_up_is_lost() {
        const WORK: u32 = 20_000;
        let (waker, receiver) = pair().unwrap();
        let (work, queue) = std::sync::mpsc::channel::<u32>();
        let consumer = std::thread::spawn(move || {
            let mut seen = 0;
            while seen < WORK {
                let mut items = [zmq::PollItem::from_fd(receiver.fd(), zmq::POLLIN)];
                zmq::poll(&mut items, 20_000).unwrap();
                if !items[0].is_readable() {
                    return seen;
                }
                receiver.drain();
                while queue.try_recv().is_ok() {
                    seen += 1;
                }
            }
            seen
        });
        for i in 0..WORK {
            work.send(i).unwrap();
            waker.wake();
            // Interleave with the consumer as much as possible.
            std::thread::yield_now();
        }
        assert_eq!(consumer.join().unwrap(), WORK);
    }
}
