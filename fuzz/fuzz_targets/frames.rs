//! Frame decoding: routed and plain decoding must never panic, and whatever decodes must
//! survive a round trip. xz decompression of END descriptions is fuzzed on the same input.
#![no_main]

use lava_core::protocol::xz::{self, XzLimits};
use lava_core::protocol::Message;
use libfuzzer_sys::fuzz_target;

/// Splits the input into frames at 0xff 0x00 pairs (rare in text, easy for the fuzzer).
fn split_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        if data[i] == 0xff && data[i + 1] == 0x00 {
            frames.push(&data[start..i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    frames.push(&data[start..]);
    frames
}

fuzz_target!(|data: &[u8]| {
    let frames = split_frames(data);
    if let Ok(message) = Message::decode(&frames) {
        let again = Message::decode(&message.encode());
        assert_eq!(again.as_ref(), Ok(&message), "round trip");
        if let Message::End { description, .. } = &message {
            let limits = XzLimits {
                max_output: 1 << 20,
                memlimit: 16 << 20,
            };
            let _ = xz::decompress(description, limits);
        }
    }
    if let Ok((peer, message)) = Message::decode_routed(&frames) {
        assert_eq!(
            Message::decode_routed(&message.encode_routed(&peer)),
            Ok((peer, message))
        );
    }
});
