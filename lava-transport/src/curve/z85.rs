//! Z85 (ZeroMQ RFC 32), the text form of CURVE keys in certificate files and logs.
//!
//! libzmq has a Z85 codec, but its decoder does not report invalid characters, and key
//! files come from outside: this one rejects anything that is not exact Z85.

/// The 85 characters of Z85, in value order.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why a text is not Z85.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    /// Z85 encodes 4 bytes as 5 characters, so its length is a multiple of 5.
    #[error("Z85 text has {0} characters, not a multiple of 5")]
    Length(usize),
    /// A character outside the Z85 alphabet.
    #[error("character {character:?} at position {position} is not Z85")]
    Character {
        /// The offending character.
        character: char,
        /// Its character index in the text.
        position: usize,
    },
    /// Five characters whose value does not fit in 32 bits.
    #[error("Z85 group at position {0} overflows 32 bits")]
    Overflow(usize),
}

/// Encodes `bytes` as Z85; `None` if the length is not a multiple of 4.
pub fn encode(bytes: &[u8]) -> Option<String> {
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = String::with_capacity(bytes.len() / 4 * 5);
    for chunk in bytes.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            *slot = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    Some(out)
}

/// Decodes Z85 text.
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() % 5 != 0 {
        return Err(Z85Error::Length(chars.len()));
    }
    let mut out = Vec::with_capacity(chars.len() / 5 * 4);
    for (group_index, group) in chars.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (offset, &character) in group.iter().enumerate() {
            let digit = digit(character).ok_or(Z85Error::Character {
                character,
                position: group_index * 5 + offset,
            })?;
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow(group_index * 5))?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

fn digit(character: char) -> Option<u8> {
    let byte = u8::try_from(character).ok()?;
    ALPHABET
        .iter()
        .position(|&c| c == byte)
        .and_then(|p| u8::try_from(p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc32_test_vector() {
        let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&bytes).as_deref(), Some("HelloWorld"));
        assert_eq!(decode("HelloWorld"), Ok(bytes.to_vec()));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(decode("abcd"), Err(Z85Error::Length(4)));
        assert_eq!(
            decode("abc\"e"),
            Err(Z85Error::Character {
                character: '"',
                position: 3
            })
        );
        // "#####" is 85^5 - 1, more than u32::MAX.
        assert_eq!(decode("#####"), Err(Z85Error::Overflow(0)));
        assert_eq!(encode(&[1, 2, 3]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn round_trip(words in proptest::collection::vec(any::<[u8; 4]>(), 0..16)) {
            let bytes: Vec<u8> = words.concat();
            let text = encode(&bytes).unwrap_or_default();
            prop_assert_eq!(text.len(), bytes.len() / 4 * 5);
            prop_assert_eq!(decode(&text), Ok(bytes));
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,50}") {
            let _ = decode(&text);
        }
    }
}
