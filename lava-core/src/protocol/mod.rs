//! LAVA's ZeroMQ master/slave protocol, version 3: messages, frames, xz and log records.
//!
//! This is the codec only; [`crate::master`] and [`crate::slave`] decide what to do with
//! the messages. Everything here is pure: bytes in, values out, and the reverse.
//!
//! - [`message`]: the [`Message`] enum (one variant per action) and [`Action`].
//! - [`frames`]: [`Message::encode`] / [`Message::decode`], byte-exact multipart frames
//!   without the routing frame, and [`FrameError`] naming the frame at fault.
//! - [`routing`]: the routed form `[identity, action, args…]` that ROUTER sockets deliver,
//!   with identity validation ([`IdentityError`]) kept apart from message errors.
//! - [`xz`]: END descriptions, compressed like Python's `lzma.compress` and decompressed
//!   within limits.
//! - [`log`]: lava-run's log records `[job_id, line]`, where the line is a one-line YAML flow
//!   mapping, and the test results they carry.
//!
//! Wire rules worth knowing (protocol.md §3, §9): no empty delimiter frames; job ids are
//! decimal text; HELLO and HELLO_RETRY come with 2 frames (2018.x) or 3 (2020.04+); START is
//! exactly 7 frames; END is exactly 4 and its last frame is binary (xz or empty).

pub mod frames;
pub mod log;
pub mod message;
pub mod routing;
pub mod xz;

pub use frames::{FrameError, FrameFault};
pub use message::{Action, Message};
pub use routing::{IdentityError, PeerId, RoutedError, LAVA_LOGS_IDENTITY, MASTER_IDENTITY};

/// The protocol version lava-rs speaks (LAVA 2018.2 to 2020.05).
pub const PROTOCOL_VERSION: i64 = 3;

/// The ping interval, in seconds, that the master announces in PONG.
pub const PING_INTERVAL_SECS: i64 = 20;
