//! The routed form of a message, as a ROUTER socket delivers it: the peer's identity first.
//!
//! LAVA's master decoded the identity as UTF-8 and crashed on the binary ids that libzmq
//! invents for peers without one (a NUL byte then four bytes) until 2020.05 (protocol.md §9
//! #5). Here the identity is validated on its own, with its own error, before the message is
//! looked at, so a driver can drop the message with a reason that names the peer problem.

use std::fmt;

use super::frames::FrameError;
use super::message::Message;

/// The identity the master advertises and that slaves address (`CONNECT_RID`).
pub const MASTER_IDENTITY: &str = "master";

/// The identity reserved for LAVA's log daemon: the master only accepts PING from it.
pub const LAVA_LOGS_IDENTITY: &str = "lava-logs";

/// ZeroMQ routing ids are at most 255 bytes.
const MAX_IDENTITY_LEN: usize = 255;

/// A peer's routing identity, known to be non-empty UTF-8 without NUL (a slave's hostname).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(String);

/// Why a routing identity cannot name a worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The multipart message has no frame at all.
    #[error("no routing frame")]
    Missing,
    /// The identity frame is empty.
    #[error("empty identity")]
    Empty,
    /// The identity is longer than ZeroMQ allows.
    #[error("identity of {len} bytes (at most {MAX_IDENTITY_LEN})")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The identity is not UTF-8 (typically a libzmq-generated id of a peer that set none).
    #[error("identity {hex} is not UTF-8 (bad byte at offset {valid_up_to})")]
    NotUtf8 {
        /// The identity in hex, for the log.
        hex: String,
        /// Offset of the first byte that is not valid UTF-8.
        valid_up_to: usize,
    },
    /// The identity contains a NUL byte (libzmq-generated ids start with one).
    #[error("identity {hex} contains a NUL byte at offset {at}")]
    ContainsNul {
        /// The identity in hex, for the log.
        hex: String,
        /// Offset of the NUL byte.
        at: usize,
    },
}

impl Identity {
    /// Validates a routing frame.
    pub fn from_frame(frame: &[u8]) -> Result<Identity, IdentityError> {
        if frame.is_empty() {
            return Err(IdentityError::Empty);
        }
        if frame.len() > MAX_IDENTITY_LEN {
            return Err(IdentityError::TooLong { len: frame.len() });
        }
        if let Some(at) = frame.iter().position(|&b| b == 0) {
            return Err(IdentityError::ContainsNul {
                hex: hex(frame),
                at,
            });
        }
        match std::str::from_utf8(frame) {
            Ok(text) => Ok(Identity(text.to_owned())),
            Err(e) => Err(IdentityError::NotUtf8 {
                hex: hex(frame),
                valid_up_to: e.valid_up_to(),
            }),
        }
    }

    /// Validates an identity given as text (a configured hostname).
    pub fn new(name: &str) -> Result<Identity, IdentityError> {
        Identity::from_frame(name.as_bytes())
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is LAVA's reserved log-daemon identity.
    pub fn is_lava_logs(&self) -> bool {
        self.0 == LAVA_LOGS_IDENTITY
    }

    /// The identity of the master, as slaves address it.
    pub fn master() -> Identity {
        Identity(MASTER_IDENTITY.to_owned())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Identity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A routed multipart message that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutedError {
    /// The routing frame is not a usable identity; the rest was not looked at.
    #[error("invalid peer: {0}")]
    Identity(#[from] IdentityError),
    /// The peer is fine but its message is not.
    #[error("from {peer}: {error}")]
    Frame {
        /// Who sent it.
        peer: Identity,
        /// What is wrong.
        error: FrameError,
    },
}

impl Message {
    /// Decodes a message as a ROUTER socket delivers it: `[identity, action, args…]`.
    ///
    /// Frame indices in a [`FrameError`] do not count the routing frame.
    pub fn decode_routed<F: AsRef<[u8]>>(frames: &[F]) -> Result<(Identity, Message), RoutedError> {
        let (first, rest) = frames.split_first().ok_or(IdentityError::Missing)?;
        let peer = Identity::from_frame(first.as_ref())?;
        match Message::decode(rest) {
            Ok(message) => Ok((peer, message)),
            Err(error) => Err(RoutedError::Frame { peer, error }),
        }
    }

    /// The frames to hand a ROUTER socket to send this message to `peer`.
    pub fn encode_routed(&self, peer: &Identity) -> Vec<Vec<u8>> {
        let frames = self.encode();
        let mut routed = Vec::with_capacity(frames.len() + 1);
        routed.push(peer.as_str().as_bytes().to_vec());
        routed.extend(frames);
        routed
    }
}

fn hex(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(32)];
    let mut out: String = shown.iter().map(|b| format!("{b:02x}")).collect();
    if shown.len() < bytes.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libzmq_generated_ids_are_rejected_with_their_bytes() {
        let err = Identity::from_frame(&[0, 0x80, 0, 0x41, 0xa7]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "identity 00800041a7 contains a NUL byte at offset 0"
        );
    }

    #[test]
    fn identity_checks() {
        assert_eq!(Identity::from_frame(b""), Err(IdentityError::Empty));
        assert!(matches!(
            Identity::from_frame(b"w\xffx"),
            Err(IdentityError::NotUtf8 { valid_up_to: 1, .. })
        ));
        assert!(matches!(
            Identity::from_frame(&[b'a'; 256]),
            Err(IdentityError::TooLong { len: 256 })
        ));
        let ok = Identity::new("worker-test.example").unwrap();
        assert_eq!(ok.as_str(), "worker-test.example");
        assert!(!ok.is_lava_logs());
        assert!(Identity::new(LAVA_LOGS_IDENTITY).unwrap().is_lava_logs());
    }

    #[test]
    fn routed_decode_separates_peer_and_message_errors() {
        let none: [&[u8]; 0] = [];
        assert_eq!(
            Message::decode_routed(&none),
            Err(RoutedError::Identity(IdentityError::Missing))
        );
        let err = Message::decode_routed(&[&b"w1"[..], b"PONG", b"x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "from w1: frame 1: interval of PONG is not a decimal integer: \"x\""
        );
        let (peer, msg) = Message::decode_routed(&[&b"w1"[..], b"PING"]).unwrap();
        assert_eq!((peer.as_str(), msg), ("w1", Message::Ping));
    }

    #[test]
    fn routed_encode_puts_the_identity_first() {
        let peer = Identity::new("w1").unwrap();
        let frames = Message::EndOk { job_id: 12 }.encode_routed(&peer);
        assert_eq!(
            frames,
            vec![b"w1".to_vec(), b"END_OK".to_vec(), b"12".to_vec()]
        );
    }
}
