//! Multipart frames ⇄ [`Message`]: the byte-exact codec of the control socket.
//!
//! Frames exclude the routing frame (see [`super::routing`] for the routed form). There are
//! no empty delimiter frames, job ids and integers are decimal ASCII, every frame is UTF-8
//! text except END's description, which is an xz stream or empty.
//!
//! The decoder is strict about frame counts: LAVA 2020.05 tolerated trailing frames on a few
//! actions (PING, START_OK) but never sent any, and a peer that sends them is not speaking
//! version 3. Integers are what Rust's `i64::from_str` accepts (optional sign, ASCII digits);
//! Python's `int()` also took surrounding blanks and `_` separators, which no LAVA peer sends.

use std::fmt;

use super::message::{Action, Message};
use crate::model::JobId;

/// The longest excerpt of a bad frame quoted in an error, in characters.
const QUOTE_LIMIT: usize = 64;

/// A multipart message that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame {frame}: {reason}")]
pub struct FrameError {
    /// Index of the frame at fault (0 is the action frame; the routing frame is not counted).
    /// For a wrong frame count it is the first missing or the first extra frame.
    pub frame: usize,
    /// Why it is wrong.
    pub reason: FrameFault,
}

/// What is wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameFault {
    /// The message has no frame at all (not even an action).
    Empty,
    /// The action frame is not UTF-8.
    ActionNotUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        valid_up_to: usize,
    },
    /// The action frame names no action of protocol version 3.
    UnknownAction {
        /// The action frame, as text (cut when long).
        action: String,
    },
    /// The action has the wrong number of frames.
    Count {
        /// The action.
        action: Action,
        /// The frame counts the action accepts (action frame included), e.g. `"7"` or `"2 or 3"`.
        expected: &'static str,
        /// The number of frames received (action frame included).
        got: usize,
    },
    /// A text frame is not UTF-8.
    NotUtf8 {
        /// The action.
        action: Action,
        /// What the frame holds (e.g. `"job id"`, `"errors"`).
        field: &'static str,
        /// Offset of the first byte that is not valid UTF-8.
        valid_up_to: usize,
    },
    /// An integer frame is not a decimal integer that fits 64 bits.
    BadInteger {
        /// The action.
        action: Action,
        /// What the frame holds (e.g. `"job id"`, `"version"`).
        field: &'static str,
        /// The frame, as text (cut when long).
        text: String,
    },
}

impl FrameFault {
    /// The action of the message, when the action frame could be read.
    pub fn action(&self) -> Option<Action> {
        match self {
            FrameFault::Empty
            | FrameFault::ActionNotUtf8 { .. }
            | FrameFault::UnknownAction { .. } => None,
            FrameFault::Count { action, .. }
            | FrameFault::NotUtf8 { action, .. }
            | FrameFault::BadInteger { action, .. } => Some(*action),
        }
    }
}

impl FrameError {
    /// The action of the message, when the action frame could be read.
    pub fn action(&self) -> Option<Action> {
        self.reason.action()
    }

    /// Whether this is a HELLO or HELLO_RETRY that LAVA's master calls "Invalid HELLO":
    /// a version that is missing or not an integer. Like any frame error, it gets no reply.
    pub fn is_invalid_hello(&self) -> bool {
        matches!(self.action(), Some(Action::Hello | Action::HelloRetry))
    }
}

impl fmt::Display for FrameFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameFault::Empty => f.write_str("empty message: no action frame"),
            FrameFault::ActionNotUtf8 { valid_up_to } => {
                write!(f, "action is not UTF-8 (bad byte at offset {valid_up_to})")
            }
            FrameFault::UnknownAction { action } => write!(f, "unknown action {action:?}"),
            FrameFault::Count {
                action,
                expected,
                got,
            } => write!(
                f,
                "{action} takes {expected} frames (action included), got {got}"
            ),
            FrameFault::NotUtf8 {
                action,
                field,
                valid_up_to,
            } => write!(
                f,
                "{field} of {action} is not UTF-8 (bad byte at offset {valid_up_to})"
            ),
            FrameFault::BadInteger {
                action,
                field,
                text,
            } => write!(f, "{field} of {action} is not a decimal integer: {text:?}"),
        }
    }
}

impl Message {
    /// The frames of this message, exactly as on the wire (without the routing frame).
    pub fn encode(&self) -> Vec<Vec<u8>> {
        let action = self.action().as_str().as_bytes().to_vec();
        let int = |n: i64| n.to_string().into_bytes();
        let text = |s: &str| s.as_bytes().to_vec();
        match self {
            Message::Hello {
                protocol_version,
                lava_version,
            }
            | Message::HelloRetry {
                protocol_version,
                lava_version,
            } => {
                let mut frames = vec![action, int(*protocol_version)];
                if let Some(version) = lava_version {
                    frames.push(text(version));
                }
                frames
            }
            Message::HelloOk | Message::Ping => vec![action],
            Message::Pong { interval } => vec![action, int(*interval)],
            Message::Start {
                job_id,
                job,
                device,
                dispatcher,
                env,
                env_dut,
            } => vec![
                action,
                int(*job_id),
                text(job),
                text(device),
                text(dispatcher),
                text(env),
                text(env_dut),
            ],
            Message::StartOk { job_id }
            | Message::Cancel { job_id }
            | Message::Status { job_id }
            | Message::EndOk { job_id } => vec![action, int(*job_id)],
            Message::End {
                job_id,
                errors,
                description,
            } => vec![action, int(*job_id), text(errors), description.clone()],
        }
    }

    /// Decodes the frames of one message (without the routing frame).
    ///
    /// Never panics: every departure from the protocol is a [`FrameError`] naming the frame.
    /// A HELLO whose version is an integer other than [`super::PROTOCOL_VERSION`] decodes
    /// fine (the master decides to stay silent); a version that is not an integer is an error
    /// (LAVA's master logs "Invalid HELLO" and does not reply either).
    pub fn decode<F: AsRef<[u8]>>(frames: &[F]) -> Result<Message, FrameError> {
        let Some(first) = frames.first() else {
            return Err(FrameError {
                frame: 0,
                reason: FrameFault::Empty,
            });
        };
        let action = parse_action(first.as_ref())?;
        let reader = Reader { action, frames };
        match action {
            Action::Hello | Action::HelloRetry => {
                reader.count(&[2, 3], "2 or 3")?;
                let protocol_version = reader.int(1, "version")?;
                let lava_version = match frames.len() {
                    3 => Some(reader.text(2, "LAVA version")?),
                    _ => None,
                };
                Ok(if action == Action::Hello {
                    Message::Hello {
                        protocol_version,
                        lava_version,
                    }
                } else {
                    Message::HelloRetry {
                        protocol_version,
                        lava_version,
                    }
                })
            }
            Action::HelloOk => reader.count(&[1], "1").map(|()| Message::HelloOk),
            Action::Ping => reader.count(&[1], "1").map(|()| Message::Ping),
            Action::Pong => {
                reader.count(&[2], "2")?;
                Ok(Message::Pong {
                    interval: reader.int(1, "interval")?,
                })
            }
            Action::Start => {
                reader.count(&[7], "7")?;
                Ok(Message::Start {
                    job_id: reader.job_id()?,
                    job: reader.text(2, "job definition")?,
                    device: reader.text(3, "device configuration")?,
                    dispatcher: reader.text(4, "dispatcher configuration")?,
                    env: reader.text(5, "env")?,
                    env_dut: reader.text(6, "env-dut")?,
                })
            }
            Action::StartOk | Action::Cancel | Action::Status | Action::EndOk => {
                reader.count(&[2], "2")?;
                let job_id = reader.job_id()?;
                Ok(match action {
                    Action::StartOk => Message::StartOk { job_id },
                    Action::Cancel => Message::Cancel { job_id },
                    Action::Status => Message::Status { job_id },
                    _ => Message::EndOk { job_id },
                })
            }
            Action::End => {
                reader.count(&[4], "4")?;
                Ok(Message::End {
                    job_id: reader.job_id()?,
                    errors: reader.text(2, "errors")?,
                    description: frames[3].as_ref().to_vec(),
                })
            }
        }
    }
}

fn parse_action(frame: &[u8]) -> Result<Action, FrameError> {
    if let Some(action) = Action::from_frame(frame) {
        return Ok(action);
    }
    let reason = match std::str::from_utf8(frame) {
        Ok(text) => FrameFault::UnknownAction {
            action: quote(text),
        },
        Err(e) => FrameFault::ActionNotUtf8 {
            valid_up_to: e.valid_up_to(),
        },
    };
    Err(FrameError { frame: 0, reason })
}

/// Typed access to the frames of one action, each failure naming its frame.
struct Reader<'a, F> {
    action: Action,
    frames: &'a [F],
}

impl<F: AsRef<[u8]>> Reader<'_, F> {
    fn count(&self, accepted: &[usize], expected: &'static str) -> Result<(), FrameError> {
        let got = self.frames.len();
        if accepted.contains(&got) {
            return Ok(());
        }
        let max = accepted.iter().copied().max().unwrap_or(0);
        let min = accepted.iter().copied().min().unwrap_or(0);
        Err(FrameError {
            frame: if got > max { max } else { got.min(min) },
            reason: FrameFault::Count {
                action: self.action,
                expected,
                got,
            },
        })
    }

    fn str(&self, index: usize, field: &'static str) -> Result<&str, FrameError> {
        let bytes = self
            .frames
            .get(index)
            .map(AsRef::as_ref)
            .unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|e| FrameError {
            frame: index,
            reason: FrameFault::NotUtf8 {
                action: self.action,
                field,
                valid_up_to: e.valid_up_to(),
            },
        })
    }

    fn text(&self, index: usize, field: &'static str) -> Result<String, FrameError> {
        self.str(index, field).map(str::to_owned)
    }

    fn int(&self, index: usize, field: &'static str) -> Result<i64, FrameError> {
        let text = self.str(index, field)?;
        text.parse::<i64>().map_err(|_| FrameError {
            frame: index,
            reason: FrameFault::BadInteger {
                action: self.action,
                field,
                text: quote(text),
            },
        })
    }

    fn job_id(&self) -> Result<JobId, FrameError> {
        self.int(1, "job id")
    }
}

/// Cuts untrusted text short enough to be quoted in a log line.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn empty_message_is_an_error_at_frame_0() {
        let none: [&[u8]; 0] = [];
        let err = Message::decode(&none).unwrap_err();
        assert_eq!(err.frame, 0);
        assert_eq!(err.reason, FrameFault::Empty);
    }

    #[test]
    fn unknown_and_undecodable_actions_are_named() {
        let err = Message::decode(&frames(&["FOO", "bar"])).unwrap_err();
        assert_eq!(err.to_string(), "frame 0: unknown action \"FOO\"");
        let err = Message::decode(&[b"PI\xffNG".to_vec()]).unwrap_err();
        assert_eq!(
            err.reason,
            FrameFault::ActionNotUtf8 { valid_up_to: 2 },
            "{err}"
        );
        // Actions are case-sensitive, as in LAVA.
        assert!(Message::decode(&frames(&["ping"])).is_err());
    }

    #[test]
    fn short_start_points_at_the_first_missing_frame() {
        let err = Message::decode(&frames(&["START", "4244", "only-four-frames"])).unwrap_err();
        assert_eq!(err.frame, 3);
        assert_eq!(
            err.to_string(),
            "frame 3: START takes 7 frames (action included), got 3"
        );
    }

    #[test]
    fn long_messages_point_at_the_first_extra_frame() {
        let err = Message::decode(&frames(&["PING", "x"])).unwrap_err();
        assert_eq!(err.frame, 1);
        let err = Message::decode(&frames(&["HELLO", "3", "2020.05", "x"])).unwrap_err();
        assert_eq!(err.frame, 3);
        let err = Message::decode(&frames(&["HELLO"])).unwrap_err();
        assert_eq!(err.frame, 1, "{err}");
    }

    #[test]
    fn hello_version_any_integer_decodes_but_text_does_not() {
        assert_eq!(
            Message::decode(&frames(&["HELLO", "2"])),
            Ok(Message::Hello {
                protocol_version: 2,
                lava_version: None
            })
        );
        let err = Message::decode(&frames(&["HELLO_RETRY", "three", "2020.05"])).unwrap_err();
        assert_eq!(err.frame, 1);
        assert!(err.is_invalid_hello());
        assert_eq!(err.action(), Some(Action::HelloRetry));
        assert!(!Message::decode(&frames(&["PONG", "x"]))
            .unwrap_err()
            .is_invalid_hello());
        assert!(!Message::decode(&frames(&["FOO"]))
            .unwrap_err()
            .is_invalid_hello());
        assert_eq!(
            err.to_string(),
            "frame 1: version of HELLO_RETRY is not a decimal integer: \"three\""
        );
    }

    #[test]
    fn job_ids_must_be_decimal_integers() {
        for bad in [
            "",
            " 12",
            "12 ",
            "0x10",
            "1_000",
            "99999999999999999999",
            "1.0",
        ] {
            let err = Message::decode(&frames(&["END_OK", bad])).unwrap_err();
            assert_eq!(err.frame, 1, "{bad:?}");
            assert!(matches!(
                err.reason,
                FrameFault::BadInteger {
                    field: "job id",
                    ..
                }
            ));
        }
    }

    #[test]
    fn end_description_is_binary_but_errors_must_be_utf8() {
        let ok = vec![
            b"END".to_vec(),
            b"7".to_vec(),
            b"".to_vec(),
            vec![0xfd, b'7', b'z', 0xff],
        ];
        assert!(matches!(
            Message::decode(&ok),
            Ok(Message::End { job_id: 7, .. })
        ));
        let bad = vec![b"END".to_vec(), b"7".to_vec(), vec![b'o', 0xc3], Vec::new()];
        let err = Message::decode(&bad).unwrap_err();
        assert_eq!(err.frame, 2);
        assert_eq!(
            err.to_string(),
            "frame 2: errors of END is not UTF-8 (bad byte at offset 1)"
        );
    }

    #[test]
    fn quoted_text_is_cut() {
        let long = "é".repeat(200);
        let err = Message::decode(&frames(&["PONG", &long])).unwrap_err();
        let FrameFault::BadInteger { text, .. } = err.reason else {
            panic!("unexpected {err}");
        };
        assert_eq!(text.chars().count(), QUOTE_LIMIT + 1);
    }
}
