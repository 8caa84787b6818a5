//! The little of RFC 6455 that lava-worker's event socket (`/ws/`, worker-http.md §2.6)
//! needs, sans-IO: the handshake's accept key, the server's unmasked frames, and reading
//! the client's masked frames (pings to answer, a close).
//!
//! lava-worker only listens: a text frame holding a `.testjob` event that names it and a
//! state of Scheduled or Canceling makes it poll at once, instead of at its next ping
//! interval (20 s). Without a socket, 2023.01 retries the handshake every second for ever
//! (trap 13). See [`job_event`].

use self::base64_engine::encode as base64;

/// The GUID RFC 6455 appends to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest client frame read (lava-worker sends only pings and a close).
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &str) -> String {
    let mut text = client_key.trim().as_bytes().to_vec();
    text.extend_from_slice(GUID.as_bytes());
    base64(&sha1(&text))
}

/// A frame's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A continuation of a fragmented message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
    /// The peer closes.
    Close,
    /// A ping to answer with a pong carrying the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn code(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
        }
    }

    fn from_code(code: u8) -> Option<Opcode> {
        Some(match code {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }
}

/// A whole frame from the client, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its kind.
    pub opcode: Opcode,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Why the client's bytes are not a frame this server takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// An opcode RFC 6455 reserves.
    #[error("reserved WebSocket opcode {0}")]
    Opcode(u8),
    /// Clients must mask their frames.
    #[error("unmasked frame from a client")]
    Unmasked,
    /// Larger than [`MAX_CLIENT_FRAME`].
    #[error("WebSocket frame of {0} bytes is too large")]
    TooLarge(u64),
}

/// Encodes a server frame (final, unmasked).
pub fn encode_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode.code());
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one client frame from the front of `buf`: `Ok(None)` when more bytes are needed,
/// else the frame and how many bytes it took.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let code = buf[0] & 0x0f;
    let opcode = Opcode::from_code(code).ok_or(FrameError::Opcode(code))?;
    if buf[1] & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let (len, mut at) = match buf[1] & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(b);
                (u64::from_be_bytes(bytes), 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_CLIENT_FRAME as u64 {
        return Err(FrameError::TooLarge(len));
    }
    let len = len as usize;
    let Some(mask) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    at += 4;
    let Some(masked) = buf.get(at..at + len) else {
        return Ok(None);
    };
    let payload = masked
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Some((Frame { opcode, payload }, at + len)))
}

/// The event lava-worker acts on: `[topic, uuid, datetime, username, "<JSON data>"]` with a
/// topic ending in `.testjob` and data naming the worker and the job's state.
pub fn job_event(job: crate::model::JobId, worker: &str, state: &str, datetime: &str) -> String {
    let data = serde_json::json!({ "job": job.to_string(), "worker": worker, "state": state });
    serde_json::json!([
        "org.lavasoftware.testjob",
        format!("lava-rs-{job}"),
        datetime,
        "lava-master",
        data.to_string(),
    ])
    .to_string()
}

/// SHA-1 (FIPS 180-4), for the handshake only: RFC 6455 fixes it, nothing secret rides on it.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with padding (RFC 4648), for the accept key.
mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6455_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn sha1_of_known_texts() {
        let hex = |b: [u8; 20]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(sha1(&[b'a'; 1000])),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }

    #[test]
    fn frames_round_trip_through_a_client_mask() {
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut frame = encode_frame(Opcode::Ping, &payload);
            // Mask it as a client would.
            let header = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            frame[1] |= 0x80;
            let mask = [1u8, 2, 3, 4];
            let mut masked = frame[..header].to_vec();
            masked.extend_from_slice(&mask);
            masked.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            if len > MAX_CLIENT_FRAME {
                assert_eq!(decode_frame(&masked), Err(FrameError::TooLarge(len as u64)));
                continue;
            }
            assert_eq!(decode_frame(&masked[..masked.len() - 1]), Ok(None));
            let (decoded, used) = decode_frame(&masked).unwrap().unwrap();
            assert_eq!(used, masked.len());
            assert_eq!(decoded.opcode, Opcode::Ping);
            assert_eq!(decoded.payload, payload);
        }
        assert_eq!(decode_frame(&[0x81, 0x00]), Err(FrameError::Unmasked));
        assert_eq!(decode_frame(&[0x83, 0x80]), Err(FrameError::Opcode(3)));
    }

    #[test]
    fn job_events_name_the_worker() {
        let text = job_event(7, "w1", "Scheduled", "2026-01-01T00:00:00");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(value[0].as_str().unwrap().ends_with(".testjob"));
        let data: serde_json::Value = serde_json::from_str(value[4].as_str().unwrap()).unwrap();
        assert_eq!(data["worker"], "w1");
        assert_eq!(data["state"], "Scheduled");
    }
}
