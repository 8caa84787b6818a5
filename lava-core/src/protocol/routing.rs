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

/// A peer's routing identity as a ROUTER socket gives it: raw bytes. A slave sets its
/// hostname as its identity; a peer that sets none gets one that libzmq makes up (a NUL byte
/// and four bytes), which [`PeerId::hostname`] refuses.
///
/// This is the one identity type of lava-rs: the codec, the master machine and the
/// transports all pass it along unchanged.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(Vec<u8>);

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

impl PeerId {
    /// The identity of a worker named `hostname` (no check: see [`PeerId::hostname`]).
    pub fn from_hostname(hostname: &str) -> PeerId {
        PeerId(hostname.as_bytes().to_vec())
    }

    /// The identity of the master, as slaves address it.
    pub fn master() -> PeerId {
        PeerId::from_hostname(MASTER_IDENTITY)
    }

    /// The identity's bytes, as on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The identity's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The identity as a hostname: non-empty UTF-8 without NUL, at most 255 bytes. Whether
    /// that hostname may be a worker's is [`crate::model::check_worker_name`]'s decision.
    pub fn hostname(&self) -> Result<&str, IdentityError> {
        let frame = self.0.as_slice();
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
        std::str::from_utf8(frame).map_err(|e| IdentityError::NotUtf8 {
            hex: hex(frame),
            valid_up_to: e.valid_up_to(),
        })
    }

    /// Whether this is LAVA's reserved log-daemon identity.
    pub fn is_lava_logs(&self) -> bool {
        self.0 == LAVA_LOGS_IDENTITY.as_bytes()
    }
}

impl From<Vec<u8>> for PeerId {
    fn from(bytes: Vec<u8>) -> Self {
        PeerId(bytes)
    }
}

impl From<&str> for PeerId {
    fn from(text: &str) -> Self {
        PeerId::from_hostname(text)
    }
}

impl fmt::Display for PeerId {
    /// The identity as text, with bytes that are not printable ASCII escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
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
        /// Who sent it (its identity is a valid hostname).
        peer: PeerId,
        /// What is wrong.
        error: FrameError,
    },
}

impl Message {
    /// Decodes a message as a ROUTER socket delivers it: `[identity, action, args…]`.
    ///
    /// Frame indices in a [`FrameError`] do not count the routing frame.
    pub fn decode_routed<F: AsRef<[u8]>>(frames: &[F]) -> Result<(PeerId, Message), RoutedError> {
        let (first, rest) = frames.split_first().ok_or(IdentityError::Missing)?;
        let peer = PeerId::from(first.as_ref().to_vec());
        peer.hostname()?;
        match Message::decode(rest) {
            Ok(message) => Ok((peer, message)),
            Err(error) => Err(RoutedError::Frame { peer, error }),
        }
    }

    /// The frames to hand a ROUTER socket to send this message to `peer`.
    pub fn encode_routed(&self, peer: &PeerId) -> Vec<Vec<u8>> {
        let frames = self.encode();
        let mut routed = Vec::with_capacity(frames.len() + 1);
        routed.push(peer.as_bytes().to_vec());
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
        let err = PeerId::from(vec![0, 0x80, 0, 0x41, 0xa7])
            .hostname()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "identity 00800041a7 contains a NUL byte at offset 0"
        );
    }

    #[test]
    fn identity_checks() {
        let check = |bytes: &[u8]| PeerId::from(bytes.to_vec()).hostname().map(str::to_owned);
        assert_eq!(check(b""), Err(IdentityError::Empty));
        assert!(matches!(
            check(b"w\xffx"),
            Err(IdentityError::NotUtf8 { valid_up_to: 1, .. })
        ));
        assert!(matches!(
            check(&[b'a'; 256]),
            Err(IdentityError::TooLong { len: 256 })
        ));
        let ok = PeerId::from("worker-test.example");
        assert_eq!(ok.hostname(), Ok("worker-test.example"));
        assert!(!ok.is_lava_logs());
        assert!(PeerId::from(LAVA_LOGS_IDENTITY).is_lava_logs());
        assert_eq!(PeerId::from(vec![0, 1, b'a']).to_string(), "\\x00\\x01a");
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
        assert_eq!((peer.hostname(), msg), (Ok("w1"), Message::Ping));
    }

    #[test]
    fn routed_encode_puts_the_identity_first() {
        let peer = PeerId::from("w1");
        let frames = Message::EndOk { job_id: 12 }.encode_routed(&peer);
        assert_eq!(
            frames,
            vec![b"w1".to_vec(), b"END_OK".to_vec(), b"12".to_vec()]
        );
    }
}
