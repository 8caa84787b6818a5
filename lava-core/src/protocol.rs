//! LAVA's ZeroMQ master/slave protocol, version 3: messages, frames and log records.

/// A multipart message that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame {frame}: {reason}")]
pub struct FrameError {
    /// Index of the frame at fault.
    pub frame: usize,
    /// Why it is wrong.
    pub reason: String,
}
